//! Execution: the request an adapter receives, the adapters that run agents (and the demo's
//! stub), the process runner, validation and secret redaction. The stages that drive them are in
//! `pipeline`.

pub mod agents;
pub mod credentials;
pub mod inflight;
pub mod process;
pub mod secrets;
pub mod stub;
pub mod validation;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::contracts::{
    BoundExecutionTargetMirror, ExecutionFailureKind, ExecutionRequest, ExecutionResult, ExecutionStatus,
    FailureReasonCategory, ProposalDecisionBundle, RecoveryActionSummary, RecoveryDecision, RecoveryMetadataSummary,
    Timestamp,
};

/// Where output lines go as they arrive (redacted, whole lines).
pub type OutputSink<'a> = dyn Fn(&[u8]) + 'a;

/// What an adapter gets to work with.
pub struct AdapterContext<'a> {
    pub request: &'a ExecutionRequest,
    pub task_id: String,
    /// The run's worktree: the agent's working directory.
    pub workspace: &'a Path,
    /// The goal, as a file the agent can read.
    pub goal_file: &'a Path,
    /// The goal file's text, for CLIs that take the prompt as an argument.
    pub prompt: String,
    /// Where the agent's output goes as it arrives (redacted, whole lines), if anyone watches.
    pub output: Option<&'a OutputSink<'a>>,
    pub redactor: &'a secrets::Redactor,
    pub interrupt: &'a AtomicBool,
}

/// What a process-based adapter ran and printed, for `command.json`, `stdout.txt` and
/// `stderr.txt` (already redacted).
pub struct Capture {
    pub command: agents::CommandRecord,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub cancelled: bool,
}

pub struct AdapterRun {
    pub result: ExecutionResult,
    pub capture: Option<Capture>,
}

/// A coding-agent backend: given a request and the workspace to work in, it changes files and
/// reports what happened. It never commits; the coordinator computes the diff from git.
pub trait Adapter {
    /// The name printed in reports, e.g. `DemoStubBackendAdapter`.
    fn display_name(&self) -> &str;
    fn execute(&self, ctx: &AdapterContext) -> AdapterRun;
}

/// The request for a bundle, with its run id. The reference builds a second request (and run id)
/// after the gate; git-oc gates and executes the same request, so one run has one id.
pub fn build_request(
    bundle: &ProposalDecisionBundle,
    workspace_path: &str,
    task_branch: &str,
    run_id: String,
    requested_at: Timestamp,
) -> ExecutionRequest {
    let proposal = &bundle.proposal;
    let allowed_paths = if !proposal.constraints.allowed_paths.is_empty() {
        proposal.constraints.allowed_paths.clone()
    } else {
        proposal.target.allowed_paths.clone()
    };
    ExecutionRequest {
        run_id,
        proposal_id: proposal.proposal_id.clone(),
        decision_id: bundle.decision.decision_id.clone(),
        goal_text: proposal.goal_text.clone(),
        constraints_text: proposal.constraints_text.clone(),
        repo_key: proposal.target.repo_key.clone(),
        clone_url: proposal.target.clone_url.clone(),
        base_branch: proposal.target.base_branch.clone(),
        task_branch: task_branch.to_owned(),
        workspace_path: workspace_path.to_owned(),
        goal_file_path: None,
        allowed_paths,
        max_changed_files: proposal.constraints.max_changed_files,
        timeout_seconds: proposal.constraints.timeout_seconds,
        require_clean_validation: proposal.constraints.require_clean_validation,
        validation_commands: proposal.validation_profile.commands.clone(),
        idempotent: false,
        runtime_binding: None,
        bound_target: Some(BoundExecutionTargetMirror {
            lane: bundle.decision.selected_lane.as_str().to_owned(),
            backend: bundle.decision.selected_backend.as_str().to_owned(),
            executor: Some(bundle.decision.selected_lane.as_str().to_owned()),
            runtime_binding: None,
            provenance: None,
        }),
        lifecycle: None,
        requested_at,
    }
}

/// How the reference's recovery engine classifies a failed result.
pub fn classify_failure(result: &ExecutionResult) -> ExecutionFailureKind {
    if result.success {
        return ExecutionFailureKind::None;
    }
    if result.status == ExecutionStatus::TimedOut || result.failure_category == Some(FailureReasonCategory::Timeout) {
        return ExecutionFailureKind::Timeout;
    }
    match result.failure_category {
        Some(FailureReasonCategory::PolicyBlocked | FailureReasonCategory::RoutingError) => {
            ExecutionFailureKind::Configuration
        }
        Some(FailureReasonCategory::ValidationFailed) => ExecutionFailureKind::ContractViolation,
        _ => ExecutionFailureKind::Unknown,
    }
}

/// The recovery record of a single attempt (git-oc retries nothing: agents are not idempotent).
pub fn single_attempt_recovery(result: &ExecutionResult) -> RecoveryMetadataSummary {
    let kind = classify_failure(result);
    let (decision, reason, refused) = if result.success {
        (RecoveryDecision::Accept, "result.success is True", None)
    } else if kind == ExecutionFailureKind::Unknown {
        (
            RecoveryDecision::RejectUnrecoverable,
            "UNKNOWN failure with retry_unknowns disabled",
            Some("non-retryable failure"),
        )
    } else {
        (
            RecoveryDecision::StopAttemptBudgetExhausted,
            "attempt 1 of 1: no attempts left",
            Some("attempt budget exhausted"),
        )
    };
    RecoveryMetadataSummary {
        attempts: 1,
        actions: vec![RecoveryActionSummary {
            attempt: 1,
            failure_kind: kind,
            decision,
            reason: reason.to_owned(),
            handler_name: None,
            modified_fields: Vec::new(),
            delay_seconds: None,
            executor_exit_code: result.executor_exit_code,
            executor_signal: result.executor_signal.clone(),
            retry_strategy_used: None,
            retry_strategy_changed: None,
            remediation_attempt_number: None,
            remediation_lineage_id: None,
            prior_failure_signature: None,
        }],
        final_decision: decision,
        retry_refused_reason: refused.map(str::to_owned),
    }
}
