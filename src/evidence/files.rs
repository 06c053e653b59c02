//! The evidence files of a run: their names, and the typed contents of the files git-oc adds to
//! the seed's seven.

use serde::{Deserialize, Serialize};

use crate::contracts::{PolicyDecision, PolicyExplanation, Timestamp};
use crate::pipeline::Outcome;

pub const PROPOSAL: &str = "proposal.json";
pub const DECISION: &str = "decision.json";
pub const EXECUTION_REQUEST: &str = "execution_request.json";
pub const RESULT: &str = "result.json";
pub const EXECUTION_RECORD: &str = "execution_record.json";
pub const EXECUTION_TRACE: &str = "execution_trace.json";
pub const RUN_METADATA: &str = "run_metadata.json";
pub const POLICY_DECISION: &str = "policy_decision.json";
pub const COMMAND: &str = "command.json";
pub const STDOUT: &str = "stdout.txt";
pub const STDERR: &str = "stderr.txt";
pub const VALIDATION: &str = "validation.json";
pub const DIFF_STAT: &str = "diff_stat.txt";
pub const DIFF_PATCH: &str = "diff.patch";
pub const SUMMARY: &str = "summary.json";
pub const GOAL: &str = "goal.md";
/// Appended when `git oc apply` lands the run.
pub const LANDING: &str = "landing.json";
/// Appended when the run is pushed, and its pull request opened (`--push`, `--pr`, `git oc pr`).
pub const PUBLISH: &str = "publish.json";

/// The seven files every run keeps, in the order they are written.
pub const SEED_FILES: [&str; 7] = [
    PROPOSAL,
    DECISION,
    EXECUTION_REQUEST,
    RESULT,
    EXECUTION_RECORD,
    EXECUTION_TRACE,
    RUN_METADATA,
];

/// The files a run with a real backend adds, in the order they are written (`goal.md` only when
/// the agent was given one).
pub const GOLDEN_FILES: [&str; 9] = [
    POLICY_DECISION,
    COMMAND,
    STDOUT,
    STDERR,
    VALIDATION,
    DIFF_STAT,
    DIFF_PATCH,
    SUMMARY,
    GOAL,
];

/// `summary.json`: how the run ended, in one place.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub outcome_status: Outcome,
    pub success: bool,
    pub reason: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub pr_url: Option<String>,
    pub run_id: String,
    pub task_id: String,
    pub base: Option<String>,
    pub lane: String,
    pub backend: String,
    pub adapter: String,
    pub policy_status: String,
    pub post_run_policy_status: Option<String>,
    pub needs_review: bool,
    /// The post-run gate rejected the changes: the commit stays local and git-oc never pushes it.
    pub rejected: bool,
    pub validation_status: String,
    pub validation_passed: Option<bool>,
    pub diff_stat: Option<String>,
    pub changed_files: usize,
    pub worktree: Option<String>,
    pub warnings: Vec<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
}

/// `policy_decision.json`: both gates and the policy they used.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub policy_digest: String,
    pub pre_run: PolicyDecision,
    pub pre_run_explanation: PolicyExplanation,
    pub post_run: Option<PolicyDecision>,
}
