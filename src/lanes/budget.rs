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

/// A place for one run among the `lanes.max_concurrent_runs` of the repository: an exclusive
/// lock on `<git-dir>/oc/lanes/slots/<n>.lock`, shared by every lane and watcher process, and
/// released when dropped (or when the process dies).
pub struct Slot {
    _file: std::fs::File,
}

/// A free slot, or why there is none.
pub fn take_slot(session: &Session) -> Result<Slot, String> {
    use std::os::fd::AsRawFd;
    let max = session.config.lanes.max_concurrent_runs();
    let dir = super::status::lanes_dir(&session.repo.state_dir()).join("slots");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for n in 0..max {
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
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Slot { _file: file });
        }
    }
    Err(format!("{max} run(s) in progress; lanes.max_concurrent_runs = {max}"))
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
