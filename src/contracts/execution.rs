use serde::{Deserialize, Serialize};

use super::{
    ArtifactType, ChangedFileRef, ExecutionFailureKind, ExecutionStatus, FailureReasonCategory, RecoveryDecision,
    Timestamp, ValidationSummary,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendProvenanceMirror {
    pub source: String,
    pub repo: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub patches: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoundExecutionTargetMirror {
    pub lane: String,
    pub backend: String,
    pub executor: Option<String>,
    pub runtime_binding: Option<serde_json::Value>,
    pub provenance: Option<BackendProvenanceMirror>,
}

/// The reference's `OcExecutionRequest`: everything an adapter needs for one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRequest {
    pub run_id: String,
    pub proposal_id: String,
    pub decision_id: String,
    pub goal_text: String,
    pub constraints_text: Option<String>,
    pub repo_key: String,
    pub clone_url: String,
    pub base_branch: String,
    pub task_branch: String,
    pub workspace_path: String,
    pub goal_file_path: Option<String>,
    pub allowed_paths: Vec<String>,
    pub max_changed_files: Option<u64>,
    pub timeout_seconds: u64,
    pub require_clean_validation: bool,
    pub validation_commands: Vec<String>,
    pub idempotent: bool,
    pub runtime_binding: Option<serde_json::Value>,
    pub bound_target: Option<BoundExecutionTargetMirror>,
    pub lifecycle: Option<serde_json::Value>,
    pub requested_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionArtifact {
    pub artifact_id: String,
    pub artifact_type: ArtifactType,
    pub label: String,
    pub content: Option<String>,
    pub uri: Option<String>,
    pub size_bytes: Option<u64>,
    pub produced_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecoveryActionSummary {
    pub attempt: u32,
    pub failure_kind: ExecutionFailureKind,
    pub decision: RecoveryDecision,
    pub reason: String,
    pub handler_name: Option<String>,
    pub modified_fields: Vec<String>,
    pub delay_seconds: Option<f64>,
    pub executor_exit_code: Option<i32>,
    pub executor_signal: Option<String>,
    pub retry_strategy_used: Option<String>,
    pub retry_strategy_changed: Option<bool>,
    pub remediation_attempt_number: Option<u32>,
    pub remediation_lineage_id: Option<String>,
    pub prior_failure_signature: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecoveryMetadataSummary {
    pub attempts: u32,
    pub actions: Vec<RecoveryActionSummary>,
    pub final_decision: RecoveryDecision,
    pub retry_refused_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuntimeInvocationRef {
    pub invocation_id: String,
    pub runtime_name: String,
    pub runtime_kind: String,
    pub stdout_path: Option<String>,
    pub stderr_path: Option<String>,
    pub artifact_directory: Option<String>,
}

/// The reference's `OcExecutionResult`: what a run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionResult {
    pub run_id: String,
    pub proposal_id: String,
    pub decision_id: String,
    pub status: ExecutionStatus,
    pub success: bool,
    pub changed_files: Vec<ChangedFileRef>,
    pub changed_files_source: Option<String>,
    pub changed_files_confidence: Option<f64>,
    pub diff_stat_excerpt: Option<String>,
    pub validation: ValidationSummary,
    pub branch_pushed: bool,
    pub branch_name: Option<String>,
    pub pull_request_url: Option<String>,
    pub failure_category: Option<FailureReasonCategory>,
    pub failure_reason: Option<String>,
    pub executor_exit_code: Option<i32>,
    pub executor_signal: Option<String>,
    pub artifacts: Vec<ExecutionArtifact>,
    pub recovery: Option<RecoveryMetadataSummary>,
    pub runtime_invocation_ref: Option<RuntimeInvocationRef>,
    pub bound_target: Option<BoundExecutionTargetMirror>,
    pub lifecycle_outcome: Option<serde_json::Value>,
    pub completed_at: Timestamp,
}

impl ExecutionResult {
    /// A result with every optional field at its default, for the given request ids.
    pub fn new(request: &super::ExecutionRequest, status: ExecutionStatus, success: bool) -> Self {
        ExecutionResult {
            run_id: request.run_id.clone(),
            proposal_id: request.proposal_id.clone(),
            decision_id: request.decision_id.clone(),
            status,
            success,
            changed_files: Vec::new(),
            changed_files_source: None,
            changed_files_confidence: None,
            diff_stat_excerpt: None,
            validation: ValidationSummary::skipped(),
            branch_pushed: false,
            branch_name: None,
            pull_request_url: None,
            failure_category: None,
            failure_reason: None,
            executor_exit_code: None,
            executor_signal: None,
            artifacts: Vec::new(),
            recovery: None,
            runtime_invocation_ref: None,
            bound_target: None,
            lifecycle_outcome: None,
            completed_at: Timestamp::now(),
        }
    }

    pub fn failed(
        request: &super::ExecutionRequest,
        status: ExecutionStatus,
        category: FailureReasonCategory,
        reason: impl Into<String>,
    ) -> Self {
        let mut result = Self::new(request, status, false);
        result.failure_category = Some(category);
        result.failure_reason = Some(reason.into());
        result
    }
}
