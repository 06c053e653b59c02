//! The pre-run gate: the policy decides on the proposal and its declared scope before anything
//! is created. A blocked run stops here with all its evidence still recorded.

use crate::contracts::{ExecutionResult, ExecutionStatus, FailureReasonCategory, PolicyStatus};
use crate::error::Result;
use crate::pipeline::{Env, Flow, Outcome, RunState, Stage, StageName};

pub struct PreRunGate;

impl Stage for PreRunGate {
    fn name(&self) -> StageName {
        StageName::PreRunGate
    }

    fn run(&self, state: &mut RunState, env: &Env) -> Result<Flow> {
        let bundle = &state.plan.bundle;
        let decision = env
            .policy
            .evaluate(&bundle.proposal, &bundle.decision, Some(&state.request));
        let allowed = decision.is_allowed();
        if !allowed {
            let why = if decision.status == PolicyStatus::Block {
                "execution blocked by policy"
            } else {
                "execution requires review before autonomous execution"
            };
            state.outcome = Some(Outcome::Blocked);
            state.needs_review = decision.status == PolicyStatus::RequireReview;
            state.result = ExecutionResult::failed(
                &state.request,
                ExecutionStatus::Skipped,
                FailureReasonCategory::PolicyBlocked,
                format!("{why}: {}", decision.notes),
            );
        }
        state.policy_decision = Some(decision);
        Ok(if allowed { Flow::Continue } else { Flow::Stop })
    }
}
