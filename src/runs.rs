//! The runs of a repository: those recorded in evidence refs, and those without evidence yet
//! (in progress, or interrupted when nothing holds their lock any more), filtered and newest
//! first.

use crate::contracts::{Timestamp, prefix_chars};
use crate::error::Result;
use crate::evidence::message::EvidenceMessage;
use crate::evidence::store::{self, RunEntry, Skipped};
use crate::git::Repo;
use crate::pipeline::Outcome;

/// Every outcome a recorded run can have, in the order `--status` lists them.
const OUTCOMES: [Outcome; 7] = [
    Outcome::Executed,
    Outcome::NoOp,
    Outcome::ValidationFailed,
    Outcome::Blocked,
    Outcome::Failed,
    Outcome::TimedOut,
    Outcome::Cancelled,
];

/// What an outcome means, for `--status` help and completion. The match is exhaustive, so a new
/// outcome cannot be left out of [`OUTCOMES`] without this failing to compile first.
fn outcome_help(o: Outcome) -> &'static str {
    match o {
        Outcome::Executed => "outcome: the change is committed",
        Outcome::NoOp => "outcome: the agent changed nothing",
        Outcome::ValidationFailed => "outcome: a required validation failed",
        Outcome::Blocked => "outcome: a policy gate stopped the run",
        Outcome::Failed => "outcome: the agent failed",
        Outcome::TimedOut => "outcome: the agent ran past its timeout",
        Outcome::Cancelled => "outcome: stopped by Ctrl-C or SIGTERM",
    }
}

/// A run in progress: its lock is held.
pub const RUNNING: &str = "running";
/// A run without evidence whose git-oc process is gone.
pub const INTERRUPTED: &str = "interrupted";
/// A run whose change the post-run gate rejected (its outcome is `blocked`).
pub const REJECTED: &str = "rejected";

/// Every value `--status` accepts, with what it selects: the outcomes, the result statuses
/// not already among them, then `running`, `interrupted` and `rejected`.
pub fn known_statuses() -> Vec<(&'static str, &'static str)> {
    let mut known: Vec<(&'static str, &'static str)> =
        OUTCOMES.iter().map(|o| (o.as_str(), outcome_help(*o))).collect();
    for status in crate::contracts::ExecutionStatus::ALL {
        let name = status.as_str();
        if name != RUNNING && !known.iter().any(|(k, _)| *k == name) {
            known.push((name, "result status of the backend"));
        }
    }
    known.push((RUNNING, "in progress now"));
    known.push((INTERRUPTED, "its git-oc process ended before recording evidence"));
    known.push((REJECTED, "the post-run gate rejected its change"));
    known
}

/// Which runs to list; `None` means any.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// One of [`known_statuses`]: an outcome (`executed`, `blocked`, …), a result status
    /// (`succeeded`, `failed`, …), `running`, `interrupted` or `rejected`.
    pub status: Option<String>,
    pub backend: Option<String>,
    pub lane: Option<String>,
    /// At or after this time.
    pub since: Option<Timestamp>,
    /// Before this time.
    pub until: Option<Timestamp>,
    pub max_count: Option<usize>,
}

impl RunFilter {
    fn keeps(&self, r: &RunEntry) -> bool {
        self.status.as_deref().is_none_or(|s| {
            if s == REJECTED {
                r.rejected
            } else {
                r.outcome == s || r.status == s
            }
        }) && self.backend.as_deref().is_none_or(|b| r.backend == b)
            && self.lane.as_deref().is_none_or(|l| r.lane == l)
            && self.since.is_none_or(|t| r.time >= t)
            && self.until.is_none_or(|t| r.time < t)
    }
}

/// The runs `filter` keeps, newest first, and the refs under `refs/oc/` that are not runs.
pub fn list(repo: &Repo, filter: &RunFilter) -> Result<(Vec<RunEntry>, Vec<Skipped>)> {
    let (mut runs, skipped) = store::list_runs(&repo.repo)?;
    for (path, run) in crate::execution::inflight::list(&repo.state_dir()) {
        let outcome = if crate::execution::inflight::is_live(&path) {
            RUNNING
        } else {
            INTERRUPTED
        };
        runs.push(RunEntry {
            time: run.started_at,
            message: EvidenceMessage {
                headline: format!(
                    "{} | {} @ {} | run={}",
                    outcome.to_uppercase(),
                    run.backend,
                    run.lane,
                    prefix_chars(&run.run_id, 8)
                ),
                run_id: run.run_id,
                goal: run.goal,
                task_id: None,
                status: outcome.to_owned(),
                outcome: outcome.to_owned(),
                policy: None,
                lane: run.lane,
                backend: run.backend,
                branch: Some(run.branch),
                commit: None,
                diff: None,
                recorded: None,
                rejected: false,
                landed: None,
                pushed: None,
                pr: None,
            },
            evidence_ref: String::new(),
            evidence_commit: String::new(),
        });
    }
    runs.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.run_id.cmp(&a.run_id)));
    runs.retain(|r| filter.keeps(r));
    runs.truncate(filter.max_count.unwrap_or(usize::MAX));
    Ok((runs, skipped))
}
