//! The state one run carries through its stages, and what it leaves behind.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::contracts::{
    ExecutionRecord, ExecutionRequest, ExecutionResult, ExecutionStatus, ExecutionTrace, FailureReasonCategory,
    LaneDecision, PolicyDecision, ProposalDecisionBundle, RunMetadata, TaskProposal, Timestamp,
};
use crate::error::{Error, ErrorKind};
use crate::evidence::files::Summary;
use crate::execution::Capture;
use crate::execution::agents::CommandRecord;
use crate::execution::validation::ValidationReport;
use crate::git::diff::DiffStat;
use crate::git::worktree::RunWorktree;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The agent's change is committed and passed the gates.
    Executed,
    /// The agent changed nothing.
    NoOp,
    ValidationFailed,
    /// A policy gate stopped the run, before or after the agent.
    Blocked,
    Failed,
    TimedOut,
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Executed => "executed",
            Outcome::NoOp => "no_op",
            Outcome::ValidationFailed => "validation_failed",
            Outcome::Blocked => "blocked",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed_out",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// The outcome a result status implies when no stage decided otherwise.
    pub fn from_status(status: ExecutionStatus) -> Self {
        match status {
            ExecutionStatus::TimedOut => Outcome::TimedOut,
            ExecutionStatus::Cancelled => Outcome::Cancelled,
            ExecutionStatus::Succeeded => Outcome::Executed,
            _ => Outcome::Failed,
        }
    }

    /// Outcomes that count as success when nothing needs review.
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Executed | Outcome::NoOp)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a run happens and what it starts from: fixed before the first stage.
#[derive(Clone, Debug)]
pub struct RunPlan {
    pub bundle: ProposalDecisionBundle,
    /// Absolute path of the workspace (the run's linked worktree).
    pub workspace: PathBuf,
    /// The workspace path as the user gave it (or git-oc chose it), written into the request.
    pub workspace_display: String,
    pub branch: String,
    /// The branch was named exactly by the user: it is used as it is or the run is refused. A
    /// templated name that is taken gets a suffix (`-2`, `-3`, …) instead.
    pub branch_exact: bool,
    /// The commit the run branch starts from; `None` in a repository without commits.
    pub base: Option<gix::ObjectId>,
    /// How the base was named, for the branch reflog (`HEAD`, `main`, …).
    pub base_label: String,
    /// The command that made the run, named in the commit body.
    pub command: &'static str,
    /// Where the evidence and the note go.
    pub namespace: crate::evidence::Namespace,
    pub validation_commands: Vec<String>,
    pub validation_timeout: u64,
    /// Push the run and open its pull request once it has passed its gates (`--push`, `--pr`).
    pub publish: Option<crate::publication::PublishPlan>,
}

/// The tree the agent left and how it differs from the base.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub tree: gix::ObjectId,
    pub diff: DiffStat,
    /// The worktree HEAD's tree and commit after the agent (it may have committed by itself).
    pub head_tree: gix::ObjectId,
    pub head: Option<gix::ObjectId>,
    /// The ref the worktree's HEAD names after the agent: the run branch, unless the agent
    /// switched it (`None` when detached).
    pub head_ref: Option<String>,
    /// The base's tree (the empty tree for a run on an unborn branch).
    pub base_tree: gix::ObjectId,
}

/// What git holds for a run.
#[derive(Clone, Debug, Default)]
pub struct GitRecord {
    pub branch: Option<String>,
    pub worktree: Option<PathBuf>,
    pub recycled: bool,
    pub base: Option<gix::ObjectId>,
    pub commit: Option<gix::ObjectId>,
    pub diff: DiffStat,
    pub evidence_ref: String,
    pub evidence_commit: Option<gix::ObjectId>,
    /// The commit carrying the note; `None` when there is no commit at all yet.
    pub note_target: Option<gix::ObjectId>,
    /// The notes ref the note is in.
    pub notes_ref: &'static str,
    /// Where a commit the post-run gate rejected is kept: a local-only ref that no push sends.
    pub rejected_ref: Option<String>,
}

impl GitRecord {
    /// The `git` part of `--json` output.
    pub fn to_json(&self) -> serde_json::Value {
        let files: Vec<serde_json::Value> = self
            .diff
            .files
            .iter()
            .map(|f| {
                serde_json::json!({
                    "path": f.path,
                    "old_path": f.old_path,
                    "change_type": f.change_type,
                    "lines_added": f.added,
                    "lines_removed": f.removed,
                })
            })
            .collect();
        serde_json::json!({
            "branch": self.branch,
            "worktree": self.worktree.as_ref().map(|p| p.display().to_string()),
            "base": self.base.map(|b| b.to_string()),
            "commit": self.commit.map(|c| c.to_string()),
            "diff": { "shortstat": self.diff.shortstat(), "files": files },
            "evidence_ref": self.evidence_ref,
            "evidence_commit": self.evidence_commit.map(|c| c.to_string()),
            "notes_ref": self.notes_ref,
            "note_target": self.note_target.map(|c| c.to_string()),
            "rejected_ref": self.rejected_ref,
        })
    }
}

/// One run on its way through the stages.
pub struct RunState {
    pub plan: RunPlan,
    pub request: ExecutionRequest,
    pub started_at: Timestamp,
    /// The pre-run gate's decision (set by the first stage).
    pub policy_decision: Option<PolicyDecision>,
    pub result: ExecutionResult,
    /// True once the adapter was dispatched (not necessarily successfully).
    pub executed: bool,
    pub worktree: Option<RunWorktree>,
    /// The run's in-flight registration and its lock, held until the evidence is in git.
    pub registration: Option<(crate::execution::inflight::Inflight, crate::execution::inflight::Guard)>,
    /// Keeps `git oc gc` away from the worktree until the run is recorded.
    pub lock: Option<super::stages::workspace::WorktreeLock>,
    /// An agent (or someone) deleted the whole worktree during the run.
    pub workspace_gone: bool,
    pub capture: Option<Capture>,
    /// `goal.md` as the agent was given it.
    pub goal_file: Option<Vec<u8>>,
    pub snapshot: Option<Snapshot>,
    pub validation: Option<ValidationReport>,
    pub post_policy: Option<PolicyDecision>,
    /// Set by the stage that decided how the run ends; otherwise derived from the result.
    pub outcome: Option<Outcome>,
    pub reason: Option<String>,
    pub needs_review: bool,
    /// The post-run gate rejected the changes.
    pub rejected: bool,
    pub warnings: Vec<String>,
    /// `git diff --binary` of the run, made once when first needed.
    pub patch: Option<Vec<u8>>,
    /// Every ref before the agent ran, to notice the refs it changed.
    pub refs_before: Option<std::collections::BTreeMap<String, String>>,
    pub git: GitRecord,
    /// What the record stage wrote.
    pub recorded: Option<Recorded>,
    /// What the publish stage did, when publishing was asked for.
    pub publication: Option<crate::publication::Report>,
    /// Why publishing failed: the run's evidence is intact, and its exit code is 1.
    pub publish_error: Option<Error>,
    /// The run failed: only the stages that look at a failed run still run.
    pub failed: bool,
    /// A later stage must not run: the run is decided (the record stage still runs).
    pub stopped: bool,
}

/// The evidence the record stage produced, secrets redacted.
pub struct Recorded {
    pub record: ExecutionRecord,
    pub trace: ExecutionTrace,
    pub run_metadata: RunMetadata,
    pub summary: Summary,
    pub evidence_files: Vec<PathBuf>,
    pub disk_error: Option<Error>,
}

impl RunState {
    /// End the run as failed with `e` as the reason; the remaining stages but the record are
    /// skipped.
    pub fn fail(&mut self, e: &Error) {
        let reason = e.summary_line();
        self.result.status = ExecutionStatus::Failed;
        self.result.success = false;
        self.result.failure_category = Some(FailureReasonCategory::BackendError);
        self.result.failure_reason = Some(reason.clone());
        self.outcome = Some(Outcome::Failed);
        self.reason = Some(reason);
        self.stopped = true;
    }

    /// `git diff --binary` from the base to the run commit, made once: the exact patch
    /// `git apply` takes. A failure to make it is a warning; the patch is then empty.
    pub fn patch(&mut self, env: &super::Env) -> &[u8] {
        if self.patch.is_none() {
            // `git diff` reads the run's objects from disk.
            let flushed = crate::git::pack::flush(&env.repo.repo);
            let patch = match self.git.commit {
                Some(_) if let Err(e) = flushed => {
                    self.warnings.push(e.summary_line());
                    Vec::new()
                }
                Some(commit) => match crate::git::diff::binary_patch(
                    env.repo.workdir(),
                    self.git.base,
                    commit,
                    env.repo.repo.object_hash(),
                ) {
                    Ok(p) => p,
                    Err(e) => {
                        self.warnings.push(e.summary_line());
                        Vec::new()
                    }
                },
                None => Vec::new(),
            };
            self.patch = Some(patch);
        }
        self.patch.as_deref().unwrap_or_default()
    }

    /// The names the run branch may take, in order of preference.
    pub fn branch_candidates(&self) -> Vec<String> {
        let name = &self.plan.branch;
        if self.plan.branch_exact {
            return vec![name.clone()];
        }
        std::iter::once(name.clone())
            .chain((2..=100).map(|n| format!("{name}-{n}")))
            .collect()
    }

    /// The run branch as a full ref name.
    pub fn branch_ref(&self) -> String {
        format!("refs/heads/{}", self.plan.branch)
    }

    /// The outcome as it stands.
    pub fn current_outcome(&self) -> Outcome {
        self.outcome.unwrap_or_else(|| Outcome::from_status(self.result.status))
    }
}

/// A finished run: everything recorded, as the caller renders it. Secrets are already redacted
/// from every value.
pub struct RunOutcome {
    pub proposal: TaskProposal,
    pub decision: LaneDecision,
    pub request: ExecutionRequest,
    pub policy_decision: PolicyDecision,
    pub post_policy: Option<PolicyDecision>,
    pub result: ExecutionResult,
    pub record: ExecutionRecord,
    pub trace: ExecutionTrace,
    pub run_metadata: RunMetadata,
    /// True when the adapter was dispatched (not necessarily successfully).
    pub executed: bool,
    pub summary: Summary,
    pub validation: Option<ValidationReport>,
    pub command: Option<CommandRecord>,
    pub evidence_files: Vec<PathBuf>,
    pub git: GitRecord,
    /// Evidence that could not be written to the workspace (it is still in git).
    pub disk_error: Option<Error>,
    /// What publishing did, when it was asked for.
    pub publication: Option<crate::publication::Report>,
    /// Why publishing failed (the run itself is recorded).
    pub publish_error: Option<Error>,
}

impl RunOutcome {
    pub fn succeeded(&self) -> bool {
        self.summary.success && self.disk_error.is_none() && self.publish_error.is_none()
    }

    /// The process exit code for this outcome (DESIGN §3).
    pub fn exit_code(&self) -> i32 {
        if self.summary.outcome_status == Outcome::Cancelled {
            ErrorKind::Interrupted.exit_code()
        } else if self.succeeded() {
            0
        } else {
            ErrorKind::Run.exit_code()
        }
    }
}
