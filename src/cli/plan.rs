//! `git oc plan`: what a run would do — the proposal, the routing decision with its alternatives,
//! and the policy decision with its reasoning. It executes nothing and writes nothing.

use clap::Args;
use serde_json::json;

use super::run::TaskArgs;
use super::ui::Ui;
use crate::contracts::prefix_chars;
use crate::error::Result;
use crate::routing::Router;
use crate::session::{Planned, RoutedBy};

/// Show the proposal, routing decision and policy decision for a goal, without running anything
///
/// Nothing is executed and nothing is written: no branch, no worktree, no ref, no file.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub task: TaskArgs,
}

pub fn cmd_plan(ui: &mut Ui, args: &PlanArgs) -> Result<i32> {
    let session = super::open_session()?;
    let Planned {
        bundle,
        adapter,
        routed_by,
        ..
    } = session.plan(&args.task.spec())?;
    let policy = &session.policy;
    let decision = policy.evaluate(&bundle.proposal, &bundle.decision, None);
    let explanation = crate::policy::explain(&decision);
    let route_plan = (routed_by == RoutedBy::Router(Router::Rules)).then(|| {
        crate::routing::rules::route_plan(
            &session.routing.policy,
            &crate::routing::rules::RoutingAttrs::from_proposal(&bundle.proposal),
        )
    });
    let digest = policy.digest();
    let routed_by = routed_by.to_string();
    if ui.is_json() {
        let doc = json!({
            "proposal": bundle.proposal,
            "decision": bundle.decision,
            "routed_by": routed_by,
            "adapter": adapter.name(),
            "route_plan": route_plan,
            "policy_decision": decision,
            "explanation": explanation,
            "hints": crate::policy::remedies(&decision),
            "policy_digest": digest,
        });
        ui.json(&doc);
        return Ok(0);
    }
    let p = &bundle.proposal;
    let d = &bundle.decision;
    let mut out = String::from("[PLANNING — TaskProposal]\n");
    super::field(&mut out, "task_id", &p.task_id);
    super::field(&mut out, "task_type", p.task_type.as_str());
    super::field(&mut out, "risk_level", p.risk_level.as_str());
    super::field(&mut out, "repo_key", &p.target.repo_key);
    super::field(&mut out, "goal", prefix_chars(&p.goal_text, 500));
    out.push_str("\n[ROUTING — LaneDecision]\n");
    super::field(&mut out, "routed by", &routed_by);
    super::field(&mut out, "lane", d.selected_lane.as_str());
    super::field(&mut out, "backend", d.selected_backend.as_str());
    super::field(&mut out, "adapter", adapter.name());
    super::field(
        &mut out,
        "rule",
        d.policy_rule_matched.as_deref().unwrap_or("(fallback)"),
    );
    super::field(&mut out, "confidence", &d.confidence.to_string());
    super::field(&mut out, "rationale", d.rationale.as_deref().unwrap_or(""));
    for alt in &d.alternatives_considered {
        super::field(&mut out, "alternative", alt.as_str());
    }
    if let Some(plan) = &route_plan {
        for c in &plan.fallbacks.candidates {
            super::field(
                &mut out,
                "fallback",
                &format!("{}/{} ({})", c.lane, c.backend, c.reason),
            );
        }
        for c in &plan.escalations.candidates {
            super::field(
                &mut out,
                "escalation",
                &format!("{}/{} ({})", c.lane, c.backend, c.reason),
            );
        }
        for c in &plan.blocked_candidates {
            super::field(&mut out, "blocked", &format!("{}/{} ({})", c.lane, c.backend, c.reason));
        }
    }
    out.push_str("\n[POLICY — gate result]\n");
    super::policy_fields(&mut out, &decision, &explanation);
    super::field(&mut out, "policy", &format!("digest {digest}"));
    ui.data(&out);
    Ok(0)
}
