//! The budgets users ask for: runs at once per repository (`lanes.max_concurrent_runs`), runs a
//! day (`lanes.max_daily_executions`, counted on the board in `claim.rs`), and a pause when an
//! agent reports an exhausted quota (`lanes.quota_backoff`).
//!
//! An agent reports an exhausted quota through its output or its failure: a run whose failure
//! reason carries one of the capacity patterns of `execution::agents` ("usage limit reached",
//! "quota exceeded", "you've hit your limit", …, which also fail a run that exited 0), or "rate
//! limit" / "429", is a quota exhaustion. Its task goes back to Ready for AI (it did not fail)
//! and the lane waits `quota_backoff` seconds.

use crate::contracts::{ExecutionResult, FailureReasonCategory};
use crate::session::Session;

/// A place for one run among the `lanes.max_concurrent_runs` of the repository, shared by every
/// lane and watcher process, released when dropped (or when the process dies): an exclusive
/// lock on `<git-dir>/oc/lanes/slots/<n>.lock` and, on Linux, a name in the abstract socket
/// namespace bound by this process. An agent runs with the user's rights and can delete the
/// lock file, but cannot take the name away from the process holding it (it can only hold one
/// itself, which keeps runs from starting, never lets one more start). The file still counts
/// where the name does not reach (processes in another network namespace).
pub struct Slot {
    _file: std::fs::File,
    #[cfg(target_os = "linux")]
    _name: std::os::unix::net::UnixListener,
}

/// A free slot, or why there is none.
pub fn take_slot(session: &Session) -> Result<Slot, String> {
    let max = session.config.lanes.max_concurrent_runs();
    let dir = super::status::lanes_dir(&session.repo.state_dir()).join("slots");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    #[cfg(target_os = "linux")]
    let key = slots_key(session)?;
    for n in 0..max {
        #[cfg(target_os = "linux")]
        let Some(name) = slot_name(&key, n)? else {
            continue;
        };
        if let Some(file) = slot_file(&dir, n)? {
            return Ok(Slot {
                _file: file,
                #[cfg(target_os = "linux")]
                _name: name,
            });
        }
    }
    Err(format!("{max} run(s) in progress; lanes.max_concurrent_runs = {max}"))
}

/// What names the repository's slots: its common directory's path, and its device and inode,
/// which tell apart two directories of one path in different containers on one network
/// (hashed: a name holds 107 bytes).
#[cfg(target_os = "linux")]
fn slots_key(session: &Session) -> Result<gix::ObjectId, String> {
    use std::os::unix::fs::MetadataExt;
    let dir = session.repo.common_dir();
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let mut identity = dir.as_os_str().as_encoded_bytes().to_vec();
    if let Ok(meta) = std::fs::metadata(&dir) {
        identity.extend(format!("\0{}:{}", meta.dev(), meta.ino()).bytes());
    }
    gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::object::Kind::Blob, &identity)
        .map_err(|e| format!("cannot name the run slots: {e}"))
}

/// The name of slot `n` of the repository named by `key`, bound, when no process holds it.
#[cfg(target_os = "linux")]
fn slot_name(key: &gix::ObjectId, n: u32) -> Result<Option<std::os::unix::net::UnixListener>, String> {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("git-oc/lanes/{key}/{n}");
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
        .map_err(|e| format!("cannot name run slot {n}: {e}"))?;
    match std::os::unix::net::UnixListener::bind_addr(&addr) {
        Ok(listener) => Ok(Some(listener)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Ok(None),
        Err(e) => Err(format!("cannot take run slot {n}: {e}")),
    }
}

/// The lock file of slot `n`, locked, when no process holds it.
fn slot_file(dir: &std::path::Path, n: u32) -> Result<Option<std::fs::File>, String> {
    use std::os::fd::AsRawFd;
    let path = dir.join(format!("{n}.lock"));
    // Agents can write under `.git/oc/`.
    let (file, _) = crate::config::read::open_regular_file(
        std::fs::OpenOptions::new().create(true).truncate(false).write(true),
        &path,
        false,
    )
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => format!("{} is not a regular file; remove it", path.display()),
        _ => format!("cannot open {}: {e}", path.display()),
    })?;
    // SAFETY: flock(2) on a descriptor we own; the lock goes with the descriptor.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    Ok(locked.then_some(file))
}

/// Whether a failed result says the agent's quota is exhausted.
pub fn quota_exhausted(result: &ExecutionResult) -> bool {
    if result.success || result.failure_category != Some(FailureReasonCategory::BackendError) {
        return false;
    }
    let reason = result.failure_reason.as_deref().unwrap_or("").to_lowercase();
    reason.starts_with("capacity exhaustion detected")
        || crate::execution::agents::is_capacity_exhaustion(&reason)
        || reason.contains("rate limit")
        || reason.contains("429 too many requests")
}
