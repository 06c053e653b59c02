//! Runs in progress, registered under `<git-dir>/oc/inflight/<run_id>.json` from before the run
//! branch exists until its evidence is in git. A registration whose process is gone is a run that
//! was interrupted (killed, crashed, power lost): `git oc runs` shows it, `git oc gc` cleans up
//! after it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::contracts::Timestamp;
use crate::error::Result;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Inflight {
    pub run_id: String,
    pub pid: u32,
    pub started_at: Timestamp,
    pub workspace: PathBuf,
    pub branch: String,
    pub goal: String,
    pub lane: String,
    pub backend: String,
}

pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("inflight")
}

/// Whether process `pid` still exists.
pub fn alive(pid: u32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for the process; no memory is touched.
    let r = unsafe { libc::kill(pid as i32, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

impl Inflight {
    pub fn is_alive(&self) -> bool {
        alive(self.pid)
    }
}

/// Register a run; the returned guard removes the registration when dropped.
pub fn register(state_dir: &Path, entry: &Inflight) -> Result<Guard> {
    let dir = dir(state_dir);
    let hint = "git-oc writes its state under the repository's .git directory; it must be writable";
    std::fs::create_dir_all(&dir).map_err(|e| crate::error::Error::io("could not register the run", &e).hint(hint))?;
    let path = dir.join(format!("{}.json", entry.run_id));
    // Written aside and renamed: a registration that exists is complete, so a run killed right
    // after registering still shows as interrupted.
    let bytes = serde_json::to_vec(entry)
        .map_err(|e| crate::error::Error::run("could not register the run").caused_by(e.to_string()))?;
    let tmp = dir.join(format!(".{}.tmp", entry.run_id));
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| crate::error::Error::io("could not register the run", &e).hint(hint))?;
    Ok(Guard { path })
}

pub struct Guard {
    path: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Every registration, live or not. Unreadable ones (a crash while writing) are skipped; they
/// hold nothing a cleanup needs.
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
            let run = std::fs::read(&path)
                .ok()
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

/// Unreadable registrations and half-written ones older than a few seconds: left by a process
/// killed mid-write.
pub fn stale_unreadable(state_dir: &Path) -> Vec<PathBuf> {
    let old = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() >= 5))
    };
    let half_written = std::fs::read_dir(dir(state_dir))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"));
    list_all(state_dir)
        .into_iter()
        .filter(|(_, r)| r.is_none())
        .map(|(p, _)| p)
        .chain(half_written)
        .filter(|p| old(p))
        .collect()
}
