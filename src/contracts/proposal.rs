use serde::{Deserialize, Serialize};

use super::{
    BranchPolicy, ExecutionConstraints, ExecutionMode, Priority, RiskLevel, TaskTarget, TaskType, Timestamp,
    ValidationProfile,
};

/// The reference's `OcPlanningProposal`: what planning hands to routing and the policy gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskProposal {
    pub proposal_id: String,
    pub task_id: String,
    pub project_id: String,
    pub task_type: TaskType,
    pub execution_mode: ExecutionMode,
    pub goal_text: String,
    pub constraints_text: Option<String>,
    pub target: TaskTarget,
    pub priority: Priority,
    pub risk_level: RiskLevel,
    pub constraints: ExecutionConstraints,
    pub validation_profile: ValidationProfile,
    pub branch_policy: BranchPolicy,
    pub proposed_at: Timestamp,
    pub proposer: Option<String>,
    pub labels: Vec<String>,
}
