use serde::{Deserialize, Serialize};

use super::{PolicyStatus, Timestamp};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyViolation {
    pub rule_id: String,
    /// `path`, `repo`, `branch`, `tool`, `validation`, `review` or `routing`.
    pub category: String,
    pub message: String,
    pub blocking: bool,
    pub related_path: Option<String>,
    pub related_repo: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyWarning {
    pub rule_id: String,
    pub category: String,
    pub message: String,
    pub related_path: Option<String>,
}

/// The gate's verdict on one proposal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyDecision {
    pub decision_id: String,
    pub status: PolicyStatus,
    pub violations: Vec<PolicyViolation>,
    pub warnings: Vec<PolicyWarning>,
    pub effective_validation_profile: String,
    pub effective_review_requirement: String,
    pub effective_scope: Vec<String>,
    pub notes: String,
    pub evaluated_at: Timestamp,
}

impl PolicyDecision {
    pub fn is_allowed(&self) -> bool {
        matches!(self.status, PolicyStatus::Allow | PolicyStatus::AllowWithWarnings)
    }

    pub fn is_blocked(&self) -> bool {
        self.status == PolicyStatus::Block
    }

    pub fn requires_review(&self) -> bool {
        self.status == PolicyStatus::RequireReview
    }
}

/// A readable account of a decision (the reference's `explain()`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyExplanation {
    pub summary: String,
    pub key_rules_applied: Vec<String>,
    pub review_reasoning: String,
    pub validation_reasoning: String,
    pub scope_reasoning: String,
    pub routing_reasoning: String,
}
