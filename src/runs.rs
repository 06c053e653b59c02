//! The runs of a repository: those recorded in evidence refs, and those without evidence yet
//! (in progress, or interrupted when nothing holds their lock any more), filtered and newest
//! first.

use crate::contracts::{Timestamp, prefix_chars};
use crate::error::Result;
use crate::evidence::message::EvidenceMessage;
use crate::evidence::store::{self, RunEntry, Skipped};
use crate::git::Repo;

/// Which runs to list; `None` means any.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// An outcome (`executed`, `blocked`, …) or a result status (`succeeded`, `failed`, …).
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
        self.status.as_deref().is_none_or(|s| r.outcome == s || r.status == s)
            && self.backend.as_deref().is_none_or(|b| r.backend == b)
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
            "running"
        } else {
            "interrupted"
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
