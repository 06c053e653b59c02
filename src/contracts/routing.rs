use serde::{Deserialize, Serialize};

use super::{BackendName, LaneName, TaskProposal, Timestamp};

/// The reference's `OcRoutingDecision`: which lane and backend run a proposal, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaneDecision {
    pub decision_id: String,
    pub proposal_id: String,
    pub selected_lane: LaneName,
    pub selected_backend: BackendName,
    pub confidence: f64,
    pub policy_rule_matched: Option<String>,
    pub rationale: Option<String>,
    pub alternatives_considered: Vec<LaneName>,
    pub decided_at: Timestamp,
    pub switchboard_version: Option<String>,
}

/// A proposal with its routing decision, handed to the coordinator.
#[derive(Clone, Debug)]
pub struct ProposalDecisionBundle {
    pub proposal: TaskProposal,
    pub decision: LaneDecision,
    pub bundled_at: Timestamp,
    pub trace_notes: String,
}

impl ProposalDecisionBundle {
    pub fn new(proposal: TaskProposal, decision: LaneDecision, trace_notes: &str) -> Self {
        ProposalDecisionBundle {
            proposal,
            decision,
            bundled_at: Timestamp::now(),
            trace_notes: trace_notes.to_owned(),
        }
    }

    /// One line naming what was bundled, as the reference's `run_summary`.
    pub fn run_summary(&self) -> String {
        format!(
            "proposal={} task={} lane={} backend={} rule={}",
            super::prefix_chars(&self.proposal.proposal_id, 8),
            self.proposal.task_id,
            self.decision.selected_lane,
            self.decision.selected_backend,
            self.decision.policy_rule_matched.as_deref().unwrap_or("fallback")
        )
    }
}
