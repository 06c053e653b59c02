//! What the lanes leave for `git oc status`: one status file per lane and watcher process
//! (`<git-dir>/oc/lanes/<lane>-<pid>.json`, the original's `<role>.status.json`) and one file per run
//! in progress (`<git-dir>/oc/running/<run>.json`, its stage and since when, removed when the
//! run ends). Files are replaced atomically (written aside, then renamed); a lane whose process
//! is gone is `stopped`, one whose process lives but has not written for a long while `stale`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::contracts::Timestamp;
use crate::pipeline::{Event, Observer};

pub fn lanes_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("lanes")
}

pub fn running_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("running")
}

/// Write `value` as JSON to `path` atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    use std::io::Write;
    let text = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    // The name is predictable (the run id and git-oc's pid are the agent's to read): created
    // anew, never opened through whatever the agent may have put there (a symlink to one of
    // your files would have been written over).
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    file.write_all(&text)?;
    std::fs::rename(&tmp, path)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    serde_json::from_slice(&crate::config::read::read_plain_file(path, 1 << 20)?).ok()
}

/// Whether the process `pid` is alive (and not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        // No /proc: ask the kernel. SAFETY: kill with signal 0 only checks the pid.
        Err(_) => unsafe { libc::kill(pid as i32, 0) == 0 },
    }
}

/// The original's lane states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaneState {
    /// A cycle is looking for work.
    Polling,
    /// A task is being run.
    Active,
    /// Waiting for the next cycle.
    Idle,
    /// Waiting longer: an exhausted quota, or a restart after a failed cycle.
    Backoff,
    /// The last cycle failed.
    Error,
    /// The lane ended (Ctrl-C, SIGTERM or `--once`).
    Stopped,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub cycles_failed: u64,
    pub restarts: u64,
    pub tasks_claimed: u64,
    pub tasks_succeeded: u64,
    pub tasks_failed: u64,
    pub follow_up_tasks_created: u64,
    pub tasks_refused: u64,
}

/// `<git-dir>/oc/lanes/<lane>-<pid>.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaneStatus {
    pub lane: String,
    pub pid: u32,
    pub cycle: u64,
    pub state: LaneState,
    pub last_action: String,
    pub task_id: Option<String>,
    pub task_kind: Option<String>,
    pub run_id: Option<String>,
    pub follow_up_task_ids: Vec<String>,
    /// Why the lane waits or failed last.
    pub note: Option<String>,
    /// Seconds between cycles.
    pub interval_seconds: f64,
    /// When the next cycle starts, while idle or backing off.
    pub next_cycle_at: Option<Timestamp>,
    pub counters: Counters,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A lane's view as `git oc status` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct LaneView {
    /// `running`, `stopped` or `stale`.
    pub process: &'static str,
    #[serde(flatten)]
    pub status: LaneStatus,
}

/// How long a live lane may go without writing before it is called stale: a few intervals,
/// and never less than ten minutes (a run may take long, but its lane writes when it ends).
fn stale_after(s: &LaneStatus) -> i64 {
    let interval = s.interval_seconds.max(1.0) as i64;
    (interval * 4).max(600)
}

/// Every lane status file: one per lane and watcher process (`<lane>-<pid>.json`), by lane, then
/// by process.
pub fn read_lanes(state_dir: &Path, now: Timestamp) -> Vec<LaneView> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(lanes_dir(state_dir)).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Some(status) = read_json::<LaneStatus>(&path) else {
            continue;
        };
        let alive = status.state != LaneState::Stopped && pid_alive(status.pid);
        let quiet_for = now.as_seconds() - status.updated_at.as_seconds();
        let waiting_long = status.next_cycle_at.is_some_and(|t| t.as_seconds() > now.as_seconds());
        let process = if !alive {
            "stopped"
        } else if status.state != LaneState::Active && !waiting_long && quiet_for > stale_after(&status) {
            "stale"
        } else {
            "running"
        };
        out.push(LaneView { process, status });
    }
    let rank = |l: &LaneView| super::LaneKind::parse(&l.status.lane).map_or(usize::MAX, |k| k as usize);
    out.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.status.pid.cmp(&b.status.pid)));
    out
}

/// The status file of one lane, written as the lane goes.
pub struct StatusWriter {
    path: PathBuf,
    status: Mutex<LaneStatus>,
}

impl StatusWriter {
    pub fn new(state_dir: &Path, lane: super::LaneKind, interval: std::time::Duration) -> StatusWriter {
        let now = Timestamp::now();
        // The files this lane left in processes that are gone make way for this one.
        for entry in std::fs::read_dir(lanes_dir(state_dir)).into_iter().flatten().flatten() {
            let path = entry.path();
            if let Some(old) = read_json::<LaneStatus>(&path)
                && old.lane == lane.as_str()
                && !pid_alive(old.pid)
            {
                let _ = std::fs::remove_file(&path);
            }
        }
        StatusWriter {
            path: lanes_dir(state_dir).join(format!("{lane}-{}.json", std::process::id())),
            status: Mutex::new(LaneStatus {
                lane: lane.as_str().to_owned(),
                pid: std::process::id(),
                cycle: 0,
                state: LaneState::Polling,
                last_action: "started".into(),
                task_id: None,
                task_kind: None,
                run_id: None,
                follow_up_task_ids: Vec::new(),
                note: None,
                interval_seconds: interval.as_secs_f64(),
                next_cycle_at: None,
                counters: Counters::default(),
                started_at: now,
                updated_at: now,
            }),
        }
    }

    /// Change the status and write it.
    pub fn update(&self, change: impl FnOnce(&mut LaneStatus)) {
        let mut s = match self.status.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        change(&mut s);
        s.updated_at = Timestamp::now();
        if let Err(e) = write_json(&self.path, &*s) {
            tracing::warn!(path = %self.path.display(), error = %e, "could not write the lane status");
        }
    }

    pub fn snapshot(&self) -> LaneStatus {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A task was claimed and is being run.
    pub fn active(&self, task_id: &str, kind: &str) {
        self.update(|s| {
            s.state = LaneState::Active;
            s.last_action = "task_claimed".into();
            s.task_id = Some(task_id.to_owned());
            s.task_kind = Some(kind.to_owned());
            s.run_id = None;
            s.counters.tasks_claimed += 1;
        });
    }
}

/// `<git-dir>/oc/running/<run>.json`: a run in progress.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunningRun {
    pub run_id: String,
    pub pid: u32,
    pub lane: Option<String>,
    pub task_id: Option<String>,
    pub branch: String,
    pub backend: String,
    /// The stage running now (`agent`, `validation`, …).
    pub stage: Option<String>,
    pub started_at: Timestamp,
    pub stage_started_at: Timestamp,
}

/// The runs in progress (their process alive), oldest first; files of dead processes are
/// removed.
pub fn read_running(state_dir: &Path) -> Vec<RunningRun> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(running_dir(state_dir))
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        match read_json::<RunningRun>(&path) {
            Some(r) if pid_alive(r.pid) => out.push(r),
            Some(_) => {
                let _ = std::fs::remove_file(&path);
            }
            None => {}
        }
    }
    out.sort_by(|a, b| a.started_at.cmp(&b.started_at).then_with(|| a.run_id.cmp(&b.run_id)));
    out
}

/// An observer that keeps a run's running file up to date and passes every event on; the file
/// is removed when the observer is dropped.
pub struct RunningObserver<'a> {
    dir: PathBuf,
    lane: Option<String>,
    task_id: Option<String>,
    inner: &'a dyn Observer,
    current: Mutex<Option<(PathBuf, RunningRun)>>,
}

impl<'a> RunningObserver<'a> {
    pub fn new(state_dir: &Path, lane: Option<&str>, task_id: Option<&str>, inner: &'a dyn Observer) -> Self {
        RunningObserver {
            dir: running_dir(state_dir),
            lane: lane.map(str::to_owned),
            task_id: task_id.map(str::to_owned),
            inner,
            current: Mutex::new(None),
        }
    }

    /// The run ended: its file goes.
    pub fn finish(&self) {
        if let Ok(mut current) = self.current.lock()
            && let Some((path, _)) = current.take()
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for RunningObserver<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Observer for RunningObserver<'_> {
    fn event(&self, event: &Event) {
        if let Ok(mut current) = self.current.lock() {
            match event {
                Event::Started {
                    run_id,
                    branch,
                    backend,
                } => {
                    // A second run (a retry) replaces the first's file.
                    if let Some((path, _)) = current.take() {
                        let _ = std::fs::remove_file(path);
                    }
                    let now = Timestamp::now();
                    let run = RunningRun {
                        run_id: (*run_id).to_owned(),
                        pid: std::process::id(),
                        lane: self.lane.clone(),
                        task_id: self.task_id.clone(),
                        branch: (*branch).to_owned(),
                        backend: (*backend).to_owned(),
                        stage: None,
                        started_at: now,
                        stage_started_at: now,
                    };
                    let path = self.dir.join(format!("{run_id}.json"));
                    let _ = write_json(&path, &run);
                    *current = Some((path, run));
                }
                Event::StageStarted(stage) => {
                    if let Some((path, run)) = current.as_mut() {
                        run.stage = Some(stage.as_str().to_owned());
                        run.stage_started_at = Timestamp::now();
                        let _ = write_json(path, run);
                    }
                }
                _ => {}
            }
        }
        self.inner.event(event);
    }

    fn wants_output(&self) -> bool {
        self.inner.wants_output()
    }
}

#[cfg(test)]
mod tests {
    use super::write_json;

    /// The temporary name is predictable (the run id and git-oc's pid): a symlink the agent put
    /// there is replaced, and the file it points at is left as it was.
    #[test]
    fn a_symlink_at_the_temporary_name_is_never_written_through() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let victim = tmp.path().join("precious.txt");
        std::fs::write(&victim, "precious\n").expect("victim");
        let path = tmp.path().join("running/run.json");
        std::fs::create_dir_all(path.parent().unwrap()).expect("dir");
        let planted = path.with_extension(format!("tmp.{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).expect("symlink");
        write_json(&path, &serde_json::json!({"stage": "snapshot"})).expect("written");
        assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "precious\n");
        assert!(std::fs::read_to_string(&path).expect("status").contains("snapshot"));
        assert!(!planted.exists());
    }
}
