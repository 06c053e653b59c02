//! Runs in progress, registered under `<git-dir>/oc/inflight/<run_id>.json` from before the run
//! branch exists until its evidence is in git. A registration whose run is gone is a run that
//! was interrupted (killed, crashed, power lost): `git oc runs` shows it, `git oc gc` cleans up
//! after it.
//!
//! Liveness is an OS lock, not a PID: the registering process holds an exclusive `flock` on the
//! registration file for the run's whole life (and hands it to the agent's supervisor, so the
//! run stays alive while anything it started runs). The kernel drops the lock when the last
//! holder exits, however it exits, so a PID seen from another PID namespace, a zombie or a
//! reused PID cannot make a dead run look alive, nor a live one dead.

use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

use serde::{Deserialize, Serialize};

use crate::contracts::Timestamp;
use crate::error::{Error, Result};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Inflight {
    pub run_id: String,
    /// The registering process, for people; liveness is judged by the lock ([`is_live`]).
    pub pid: u32,
    pub started_at: Timestamp,
    pub workspace: PathBuf,
    pub branch: String,
    /// The commit the run branch starts at: an interrupted run's branch that moved past it
    /// holds commits no gate passed (`git oc gc` takes them off). Absent in older registrations.
    #[serde(default)]
    pub base: Option<String>,
    pub goal: String,
    pub lane: String,
    pub backend: String,
}

pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("inflight")
}

/// The descriptor holding the lock of this process's run in progress, if any: processes started
/// for the run inherit it (see `process::run`).
static LOCK_FD: AtomicI32 = AtomicI32::new(-1);

pub fn lock_fd() -> Option<RawFd> {
    Some(LOCK_FD.load(Ordering::SeqCst)).filter(|fd| *fd >= 0)
}

fn try_lock(file: &std::fs::File) -> std::io::Result<bool> {
    // SAFETY: flock(2) on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Whether the run registered at `path` is alive: someone holds its lock. A registration that
/// vanished (the run finished) is not alive.
pub fn is_live(path: &Path) -> bool {
    // An agent can write in `.git/oc/`: a FIFO there would block a plain open for good.
    let Ok((file, _)) = crate::config::read::open_regular_file(std::fs::OpenOptions::new().read(true), path, false)
    else {
        return false;
    };
    match try_lock(&file) {
        // We got the lock: nobody holds it. Closing the file releases it again.
        Ok(true) => false,
        Ok(false) => true,
        // No locking on this file system: fall back to the recorded process.
        Err(_) => crate::config::read::read_plain_file(path, 1 << 20)
            .and_then(|b| serde_json::from_slice::<Inflight>(&b).ok())
            .is_some_and(|r| pid_exists(r.pid)),
    }
}

fn pid_exists(pid: u32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for the process; no memory is touched.
    let r = unsafe { libc::kill(pid as i32, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The runs this process registered: another run of the same process (a lane of `git oc watch`)
/// records its evidence while an agent runs, and only memory the agent cannot write says so.
static REGISTERED_HERE: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Whether this process registered the run `run_id`.
pub fn registered_here(run_id: &str) -> bool {
    REGISTERED_HERE.lock().is_ok_and(|runs| runs.contains(run_id))
}

/// Register a run; the returned guard removes the registration when dropped. The registration
/// appears whole and already locked: it is written and locked under a temporary name, then
/// renamed into place.
pub fn register(state_dir: &Path, entry: &Inflight) -> Result<Guard> {
    let dir = dir(state_dir);
    let hint = "git-oc writes its state under the repository's .git directory; it must be writable";
    let fail = |e: &std::io::Error| Error::io("could not register the run", e).hint(hint);
    std::fs::create_dir_all(&dir).map_err(|e| fail(&e))?;
    let path = dir.join(format!("{}.json", entry.run_id));
    let tmp = dir.join(format!("{}.json.tmp", entry.run_id));
    let bytes =
        serde_json::to_vec(entry).map_err(|e| Error::run("could not register the run").caused_by(e.to_string()))?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&tmp)
        .map_err(|e| fail(&e))?;
    let registered = (|| {
        // Waits only while someone probes the fresh file (gc checking liveness) and lets go.
        // SAFETY: flock(2) on a descriptor we own.
        let _ = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        file.write_all(&bytes)?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = registered {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(&e));
    }
    LOCK_FD.store(file.as_raw_fd(), Ordering::SeqCst);
    if let Ok(mut runs) = REGISTERED_HERE.lock() {
        runs.insert(entry.run_id.clone());
    }
    Ok(Guard { path, file })
}

pub struct Guard {
    path: PathBuf,
    file: std::fs::File,
}

impl Guard {
    /// Say more about the run (its final branch name, say), in place: the file stays the one
    /// whose lock says the run is alive.
    pub fn update(&mut self, entry: &Inflight) -> Result<()> {
        use std::io::{Seek, SeekFrom};
        let bytes = serde_json::to_vec(entry)
            .map_err(|e| Error::run("could not update the run's registration").caused_by(e.to_string()))?;
        self.file
            .set_len(0)
            .and_then(|_| self.file.seek(SeekFrom::Start(0)))
            .and_then(|_| self.file.write_all(&bytes))
            .map_err(|e| Error::io("could not update the run's registration", &e))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Remove first, then unlock (when the file closes): nobody sees an unlocked registration.
        let _ = std::fs::remove_file(&self.path);
        let _ = LOCK_FD.compare_exchange(self.file.as_raw_fd(), -1, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// Every registration, live or not. Unreadable ones are skipped; they hold nothing a cleanup
/// needs.
pub fn list(state_dir: &Path) -> Vec<(PathBuf, Inflight)> {
    list_all(state_dir)
        .into_iter()
        .filter_map(|(p, r)| r.map(|r| (p, r)))
        .collect()
}

/// Every registration file, with its contents when readable.
pub fn list_all(state_dir: &Path) -> Vec<(PathBuf, Option<Inflight>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir(state_dir)).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            let run = crate::config::read::read_plain_file(&path, 1 << 20)
                .and_then(|b| serde_json::from_slice::<Inflight>(&b).ok());
            out.push((path, run));
        }
    }
    out.sort_by(|a, b| {
        let t = |r: &Option<Inflight>| r.as_ref().map(|r| r.started_at);
        t(&b.1).cmp(&t(&a.1))
    });
    out
}

/// Registration files nobody holds that cannot be used: unreadable ones (written by an older
/// git-oc killed mid-write) and temporary ones left by a process killed while registering.
pub fn stale_unreadable(state_dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = list_all(state_dir)
        .into_iter()
        .filter(|(p, r)| r.is_none() && !is_live(p))
        .map(|(p, _)| p)
        .collect();
    for entry in std::fs::read_dir(dir(state_dir)).into_iter().flatten().flatten() {
        let path = entry.path();
        // A run that is registering right now has a fresh temporary file it has yet to lock.
        let old = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() >= 10));
        if path.extension().is_some_and(|e| e == "tmp") && old && !is_live(&path) {
            out.push(path);
        }
    }
    out
}
