//! A readable account of a policy decision (the reference's `explain()`).

use crate::contracts::{PolicyDecision, PolicyExplanation, PolicyStatus};

use super::repr::{py_repr_list, py_repr_str};

/// What the person running git-oc can add to satisfy the rules that fired, where a flag does it:
/// `branch.pr_required` is satisfied by a run with `--pr`. The rule messages stay the reference's.
pub fn remedies(decision: &PolicyDecision) -> Vec<String> {
    let mut out = Vec::new();
    for v in &decision.violations {
        let remedy = match v.rule_id.as_str() {
            "branch.pr_required" => "add --pr: the policy requires a pull request (branch_guardrail.require_pr)",
            _ => continue,
        };
        if !out.iter().any(|r| r == remedy) {
            out.push(remedy.to_owned());
        }
    }
    out
}

/// Summarise `decision` for a person: the headline reason, the rules that fired and the
/// reasoning per area (review, validation, scope, routing).
pub fn explain(decision: &PolicyDecision) -> PolicyExplanation {
    let violations = &decision.violations;
    let warnings = &decision.warnings;

    let summary = match decision.status {
        PolicyStatus::Block => match violations.iter().find(|v| v.blocking) {
            Some(v) => format!("BLOCKED: {}", v.message),
            None => "BLOCKED by policy".to_owned(),
        },
        PolicyStatus::RequireReview => {
            let review = violations
                .iter()
                .find(|v| !v.blocking && v.category == "review")
                .or_else(|| violations.iter().find(|v| !v.blocking));
            match review {
                Some(v) => format!("REVIEW REQUIRED: {}", v.message),
                None => "REVIEW REQUIRED by policy".to_owned(),
            }
        }
        PolicyStatus::AllowWithWarnings => match warnings.first() {
            Some(w) => format!("ALLOWED WITH WARNINGS: {}", w.message),
            None => "ALLOWED WITH WARNINGS".to_owned(),
        },
        PolicyStatus::Allow => "ALLOWED: no policy restrictions apply".to_owned(),
    };

    let mut key_rules_applied: Vec<String> = violations.iter().map(|v| v.rule_id.clone()).collect();
    for w in warnings {
        if !key_rules_applied.contains(&w.rule_id) {
            key_rules_applied.push(w.rule_id.clone());
        }
    }

    let review_messages: Vec<&str> = violations
        .iter()
        .filter(|v| v.category == "review")
        .map(|v| v.message.as_str())
        .collect();
    let review_reasoning = if !review_messages.is_empty() {
        review_messages.join("; ")
    } else if decision.effective_review_requirement == "autonomous" {
        "Autonomous execution permitted by policy".to_owned()
    } else {
        "Review required".to_owned()
    };

    let validation_messages: Vec<&str> = violations
        .iter()
        .filter(|v| v.category == "validation")
        .map(|v| v.message.as_str())
        .chain(
            warnings
                .iter()
                .filter(|w| w.category == "validation")
                .map(|w| w.message.as_str()),
        )
        .collect();
    let validation_reasoning = if validation_messages.is_empty() {
        format!(
            "Validation profile {}",
            py_repr_str(&decision.effective_validation_profile)
        )
    } else {
        validation_messages.join("; ")
    };

    let mut scope_reasoning = if decision.effective_scope.is_empty() {
        "No path restriction declared (applies to all paths)".to_owned()
    } else {
        format!("Effective scope: {}", py_repr_list(&decision.effective_scope))
    };
    for v in violations.iter().filter(|v| v.category == "path") {
        scope_reasoning.push_str("; ");
        scope_reasoning.push_str(&v.message);
    }

    let routing_messages: Vec<&str> = violations
        .iter()
        .filter(|v| v.category == "routing" || (v.category == "tool" && v.rule_id.contains("network")))
        .map(|v| v.message.as_str())
        .collect();
    let routing_reasoning = if routing_messages.is_empty() {
        "Routing selection is compatible with policy".to_owned()
    } else {
        routing_messages.join("; ")
    };

    PolicyExplanation {
        summary,
        key_rules_applied,
        review_reasoning,
        validation_reasoning,
        scope_reasoning,
        routing_reasoning,
    }
}
