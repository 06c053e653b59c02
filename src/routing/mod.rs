//! Routing: which lane and backend run a proposal. The demo's stub router is labelled as such;
//! the rules router and the SwitchBoard client come with the configuration work.

pub mod rules;

use crate::contracts::{BackendName, LaneDecision, LaneName, TaskProposal, Timestamp, new_id};

pub const STUB_RULE: &str = "demo.stub_routing";
pub const STUB_RATIONALE: &str = "Offline stub routing for demo mode — deterministic, no external services required";

/// The demo's offline decision: always `aider_local` with the `demo_stub` backend.
pub fn stub_decision(proposal: &TaskProposal) -> LaneDecision {
    LaneDecision {
        decision_id: new_id(),
        proposal_id: proposal.proposal_id.clone(),
        selected_lane: LaneName::AiderLocal,
        selected_backend: BackendName::DemoStub,
        confidence: 1.0,
        policy_rule_matched: Some(STUB_RULE.to_owned()),
        rationale: Some(STUB_RATIONALE.to_owned()),
        alternatives_considered: Vec::new(),
        decided_at: Timestamp::now(),
        switchboard_version: None,
    }
}

/// The rule id recorded when the lane and backend came from the command line.
pub const EXPLICIT_RULE: &str = "cli.explicit";

/// A decision taken from `--lane` / `--backend` rather than by a router.
pub fn explicit_decision(proposal: &TaskProposal, lane: LaneName, backend: BackendName, how: &str) -> LaneDecision {
    LaneDecision {
        decision_id: new_id(),
        proposal_id: proposal.proposal_id.clone(),
        selected_lane: lane,
        selected_backend: backend,
        confidence: 1.0,
        policy_rule_matched: Some(EXPLICIT_RULE.to_owned()),
        rationale: Some(format!("Lane and backend chosen on the command line ({how})")),
        alternatives_considered: Vec::new(),
        decided_at: Timestamp::now(),
        switchboard_version: None,
    }
}
