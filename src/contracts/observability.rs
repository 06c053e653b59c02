use serde::{Deserialize, Serialize};

use super::{
    ChangedFileRef, ChangedFilesStatus, ExecutionArtifact, ExecutionResult, ExecutionStatus, RuntimeInvocationRef,
    Timestamp, ValidationStatus,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArtifactIndex {
    pub primary_artifacts: Vec<ExecutionArtifact>,
    pub supplemental_artifacts: Vec<ExecutionArtifact>,
    /// Type value to count, in first-seen order.
    pub artifact_counts: serde_json::Map<String, serde_json::Value>,
    pub artifact_types_present: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangedFilesEvidence {
    pub status: ChangedFilesStatus,
    pub files: Vec<ChangedFileRef>,
    pub source: String,
    pub confidence: f64,
    pub notes: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationEvidence {
    pub status: ValidationStatus,
    pub checks_run: u64,
    pub checks_passed: u64,
    pub checks_failed: u64,
    pub summary: Option<String>,
    pub artifact_refs: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendDetailRef {
    pub ref_id: String,
    pub detail_type: String,
    pub path: Option<String>,
    pub uri: Option<String>,
    pub description: Option<String>,
    pub is_required_for_debug: bool,
}

/// The normalized record of one run (the reference's `ExecutionRecord`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    pub record_id: String,
    pub run_id: String,
    pub proposal_id: String,
    pub decision_id: String,
    pub result: ExecutionResult,
    pub recorded_at: Timestamp,
    pub backend: Option<String>,
    pub lane: Option<String>,
    pub artifact_index: ArtifactIndex,
    pub changed_files_evidence: ChangedFilesEvidence,
    pub validation_evidence: ValidationEvidence,
    pub backend_detail_refs: Vec<BackendDetailRef>,
    pub notes: String,
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// The inspectable report built from a record (the reference's `ExecutionTrace`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionTrace {
    pub trace_id: String,
    pub record_id: String,
    pub headline: String,
    pub status: ExecutionStatus,
    pub summary: String,
    pub key_artifacts: Vec<ExecutionArtifact>,
    pub changed_files_summary: String,
    pub validation_summary: ValidationEvidence,
    pub warnings: Vec<String>,
    pub backend_detail_refs: Vec<BackendDetailRef>,
    pub runtime_invocation_ref: Option<RuntimeInvocationRef>,
    pub routing: serde_json::Map<String, serde_json::Value>,
    pub provenance: serde_json::Map<String, serde_json::Value>,
    pub generated_at: Timestamp,
}

/// `run_metadata.json`: the run at a glance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMetadata {
    pub run_id: String,
    pub proposal_id: String,
    pub decision_id: String,
    pub selected_lane: String,
    pub selected_backend: String,
    pub policy_status: String,
    pub result_status: String,
    pub success: bool,
    pub executed: bool,
}
