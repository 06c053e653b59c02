use serde::{Deserialize, Serialize};

use super::ValidationStatus;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskTarget {
    pub repo_key: String,
    pub clone_url: String,
    pub base_branch: String,
    /// Empty means no restriction.
    #[serde(default)]
    pub allowed_paths: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionConstraints {
    pub max_changed_files: Option<u64>,
    pub timeout_seconds: u64,
    pub allowed_paths: Vec<String>,
    pub require_clean_validation: bool,
    pub skip_baseline_validation: bool,
}

impl Default for ExecutionConstraints {
    fn default() -> Self {
        ExecutionConstraints {
            max_changed_files: None,
            timeout_seconds: 300,
            allowed_paths: Vec::new(),
            require_clean_validation: true,
            skip_baseline_validation: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationProfile {
    pub profile_name: String,
    pub commands: Vec<String>,
    pub timeout_seconds: u64,
    pub fail_fast: bool,
}

impl ValidationProfile {
    pub fn named(profile_name: &str, commands: Vec<String>) -> Self {
        ValidationProfile {
            profile_name: profile_name.to_owned(),
            commands,
            timeout_seconds: 300,
            fail_fast: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BranchPolicy {
    pub branch_prefix: String,
    pub push_on_success: bool,
    pub open_pr: bool,
    pub allowed_base_branches: Vec<String>,
}

impl Default for BranchPolicy {
    fn default() -> Self {
        BranchPolicy {
            branch_prefix: "auto/".into(),
            push_on_success: true,
            open_pr: false,
            allowed_base_branches: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangedFileRef {
    /// Repository-relative path (the destination path for renames).
    pub path: String,
    /// `added`, `modified`, `deleted` or `renamed`.
    pub change_type: String,
    /// `None` for binary files, where git prints `-`.
    pub lines_added: Option<u64>,
    pub lines_removed: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationSummary {
    pub status: ValidationStatus,
    pub commands_run: u64,
    pub commands_passed: u64,
    pub commands_failed: u64,
    pub failure_excerpt: Option<String>,
    pub duration_ms: Option<u64>,
}

impl ValidationSummary {
    pub fn skipped() -> Self {
        ValidationSummary {
            status: ValidationStatus::Skipped,
            commands_run: 0,
            commands_passed: 0,
            commands_failed: 0,
            failure_excerpt: None,
            duration_ms: None,
        }
    }
}
