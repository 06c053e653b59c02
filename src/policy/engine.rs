//! The policy engine: the reference's rule set, in the reference's order, with its messages.
//!
//! Messages, rule ids and categories are kept verbatim because they are what a reviewer reads in
//! the evidence and what the reference's behaviour is checked against.

use crate::contracts::{
    ExecutionRequest, LaneDecision, LaneName, PolicyDecision, PolicyStatus, PolicyViolation, PolicyWarning,
    TaskProposal, Timestamp, new_id,
};

use super::model::{PolicyConfig, RepoPolicy, ReviewRequirement, ValidationRequirement, default_policy_config};
use super::pattern::path_matches_case;
use super::repr::{py_repr_list, py_repr_str};

/// Lanes that run on this machine; every other lane counts as remote.
const LOCAL_LANES: &[LaneName] = &[LaneName::AiderLocal];
/// Labels that demand a local lane (matched exactly).
const LOCAL_ONLY_LABELS: &[&str] = &["local_only", "no_remote"];
/// Labels (compared lower-cased) that mark a task as potentially destructive.
const DESTRUCTIVE_INDICATORS: &[&str] = &["drop_table", "rm_rf", "force_push", "destructive"];
/// Labels (matched exactly) of task sources trusted to skip risk- and type-based review.
const TRUSTED_SOURCE_LABELS: &[&str] = &["source: autonomy", "source: spec-campaign", "source: board_worker"];

/// Evaluates proposals against a [`PolicyConfig`].
///
/// A repository policy may inherit from another ([`RepoPolicy::inherits`], linked when the
/// configuration is loaded): the path rules of every layer apply and the stricter decision wins,
/// review requirements add up, and validation requirements are tried own first, then inherited.
/// Everything else (enabled, task types, guardrails) is the repository policy's own.
#[derive(Clone, Debug)]
pub struct PolicyEngine {
    config: PolicyConfig,
    /// Match paths case-insensitively (`core.ignorecase`).
    ignore_case: bool,
}

/// Violations and warnings as they accumulate, in check order.
#[derive(Default)]
struct Findings {
    violations: Vec<PolicyViolation>,
    warnings: Vec<PolicyWarning>,
}

impl Findings {
    fn violation(&mut self, rule_id: &str, category: &str, message: String, blocking: bool) {
        self.violations.push(PolicyViolation {
            rule_id: rule_id.to_owned(),
            category: category.to_owned(),
            message,
            blocking,
            related_path: None,
            related_repo: None,
        });
    }

    fn path_violation(&mut self, rule_id: &str, message: String, blocking: bool, path: &str) {
        self.violation(rule_id, "path", message, blocking);
        if let Some(v) = self.violations.last_mut() {
            v.related_path = Some(path.to_owned());
        }
    }

    fn warning(&mut self, rule_id: &str, category: &str, message: String) {
        self.warnings.push(PolicyWarning {
            rule_id: rule_id.to_owned(),
            category: category.to_owned(),
            message,
            related_path: None,
        });
    }
}

impl PolicyEngine {
    pub fn new(config: PolicyConfig) -> Self {
        PolicyEngine {
            config,
            ignore_case: false,
        }
    }

    /// Match path patterns case-insensitively, as a repository with `core.ignorecase = true`
    /// needs (`.SSH/id_rsa` is `.ssh/id_rsa` on its file system).
    pub fn ignore_case(mut self, ignore_case: bool) -> Self {
        self.ignore_case = ignore_case;
        self
    }

    /// Whether path patterns are matched case-insensitively.
    pub fn is_ignore_case(&self) -> bool {
        self.ignore_case
    }

    /// Whether `path` is covered by `pattern`, in this engine's case mode (for scope checks).
    pub fn path_matches(&self, pattern: &str, path: &str) -> bool {
        path_matches_case(pattern, path, self.ignore_case)
    }

    /// An engine with the reference's `DEFAULT_POLICY_CONFIG`.
    pub fn from_defaults() -> Self {
        Self::new(default_policy_config())
    }

    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The pre-run gate: every check of the reference, in its order, on the declared scope.
    pub fn evaluate(
        &self,
        proposal: &TaskProposal,
        decision: &LaneDecision,
        request: Option<&ExecutionRequest>,
    ) -> PolicyDecision {
        let policy = self.config.get_repo_policy(&proposal.target.repo_key);
        let scope = candidate_paths(proposal, request);
        let mut found = Findings::default();

        // 1. A disabled repository stops evaluation; no requirement was consulted, so the
        //    validation profile stays at its default.
        if !policy.enabled {
            found.violation(
                "repo.disabled",
                "repo",
                format!(
                    "Repo {} is disabled in policy configuration",
                    py_repr_str(&policy.repo_key)
                ),
                true,
            );
            return finish(found, policy, "standard".into(), scope);
        }

        let task_type = proposal.task_type.as_str();
        let risk = proposal.risk_level.as_str();
        let lane = decision.selected_lane;
        let lane_is_local = LOCAL_LANES.contains(&lane);

        // 2. Task type.
        if contains(&policy.blocked_task_types, task_type) {
            found.violation(
                "task_type.blocked",
                "repo",
                format!(
                    "Task type {} is blocked for repo {}",
                    py_repr_str(task_type),
                    py_repr_str(&policy.repo_key)
                ),
                true,
            );
            set_related_repo(&mut found, proposal);
        }
        if !policy.allowed_task_types.is_empty() && !contains(&policy.allowed_task_types, task_type) {
            found.violation(
                "task_type.not_in_allowlist",
                "repo",
                format!(
                    "Task type {} is not in the allowed task type list for repo {}",
                    py_repr_str(task_type),
                    py_repr_str(&policy.repo_key)
                ),
                true,
            );
            set_related_repo(&mut found, proposal);
        }

        // 3. Local-only labels against the routed lane.
        let mut triggering: Vec<String> = proposal
            .labels
            .iter()
            .filter(|l| LOCAL_ONLY_LABELS.contains(&l.as_str()))
            .cloned()
            .collect();
        triggering.sort();
        triggering.dedup();
        if !triggering.is_empty() && !lane_is_local {
            found.violation(
                "routing.local_only_violated",
                "routing",
                format!(
                    "Proposal labels {} require local execution, but routing selected remote \
                     lane {}",
                    py_repr_list(&triggering),
                    py_repr_str(lane.as_str())
                ),
                true,
            );
        }

        // 4. Paths.
        if scope.is_empty() {
            match strictest_default_mode(policy) {
                "block" => found.violation(
                    "path.unrestricted_writes_blocked",
                    "path",
                    "No path restriction declared on this task, but default path mode is 'block'. \
                     Explicit allowed_paths must be set."
                        .into(),
                    true,
                ),
                "review_required" => found.warning(
                    "path.unrestricted_writes_review",
                    "path",
                    "No path restriction declared on this task, but default path mode is \
                     'review_required'. This task needs human review."
                        .into(),
                ),
                _ => {}
            }
        } else {
            check_paths(&mut found, policy, task_type, &scope, self.ignore_case);
        }

        // 5. Branch.
        let guard = &policy.branch_guardrail;
        if !guard.allow_direct_commit && proposal.branch_policy.branch_prefix.is_empty() {
            found.warning(
                "branch.no_prefix_set",
                "branch",
                "branch_prefix is empty; ensure a task branch is used rather than direct commit".into(),
            );
        }
        if !guard.allowed_base_branches.is_empty()
            && !contains(&guard.allowed_base_branches, &proposal.target.base_branch)
        {
            found.violation(
                "branch.base_branch_not_allowed",
                "branch",
                format!(
                    "Base branch {} is not in the allowed base branches list: {}",
                    py_repr_str(&proposal.target.base_branch),
                    py_repr_list(&guard.allowed_base_branches)
                ),
                true,
            );
        }
        if guard.require_pr && !proposal.branch_policy.open_pr {
            found.violation(
                "branch.pr_required",
                "branch",
                "Policy requires a PR, but proposal branch_policy.open_pr is false".into(),
                false,
            );
        }

        // 6. Tools.
        let tools = &policy.tool_guardrail;
        if tools.network_mode == "local_only" && !lane_is_local {
            found.violation(
                "tool.network_local_only",
                "tool",
                format!(
                    "Tool policy requires local-only execution, but routing selected remote \
                     lane {}",
                    py_repr_str(lane.as_str())
                ),
                true,
            );
        }
        if tools.network_mode == "blocked" {
            found.violation(
                "tool.network_blocked",
                "tool",
                "All network execution is blocked by tool policy for this repo".into(),
                true,
            );
        }
        let destructive = proposal
            .labels
            .iter()
            .any(|l| DESTRUCTIVE_INDICATORS.contains(&l.to_lowercase().as_str()));
        if !tools.allow_destructive_actions && destructive {
            found.violation(
                "tool.destructive_blocked",
                "tool",
                "Destructive actions are blocked by policy, but proposal labels indicate a \
                 potentially destructive operation"
                    .into(),
                true,
            );
        }

        // 7. Validation: only the first applicable requirement counts.
        let requirement = first_applicable_requirement(policy, proposal);
        if let Some(req) = requirement {
            let available = request.is_some_and(|r| !r.validation_commands.is_empty())
                || !proposal.validation_profile.commands.is_empty();
            if !available {
                let profile = py_repr_str(&req.required_profile);
                let risk_repr = py_repr_str(risk);
                if req.block_if_unavailable {
                    found.violation(
                        "validation.required_unavailable",
                        "validation",
                        format!(
                            "Validation profile {profile} is required for risk={risk_repr} but no \
                             validation commands are configured"
                        ),
                        true,
                    );
                } else {
                    found.warning(
                        "validation.recommended_unavailable",
                        "validation",
                        format!(
                            "Validation profile {profile} is recommended for risk={risk_repr} but \
                             no validation commands are configured"
                        ),
                    );
                }
            }
        }

        // 8. Review.
        let review = &combined_review(policy);
        if review.blocked_without_human {
            found.violation(
                "review.blocked_without_human",
                "review",
                "Policy requires explicit human approval for this repo; autonomous execution is \
                 blocked"
                    .into(),
                true,
            );
        } else {
            let trusted = proposal
                .labels
                .iter()
                .any(|l| TRUSTED_SOURCE_LABELS.contains(&l.as_str()));
            let needs_review = !review.autonomous_allowed
                || proposal.labels.iter().any(|l| l == "review_required")
                || (!trusted
                    && (contains(&review.require_review_for_risk_levels, risk)
                        || contains(&review.require_review_for_task_types, task_type)));
            if needs_review {
                found.violation(
                    "review.required",
                    "review",
                    format!(
                        "Human review required: risk={}, task_type={}",
                        py_repr_str(risk),
                        py_repr_str(task_type)
                    ),
                    false,
                );
            }
        }

        let profile = requirement.map_or_else(|| "standard".into(), |r| r.required_profile.clone());
        finish(found, policy, profile, scope)
    }

    /// The post-run gate: only the per-path rules (`path.default_blocked`,
    /// `path.default_review_required`, `path.blocked`, `path.review_required`), applied to the
    /// paths the agent really changed. The other checks depend on the proposal and routing only
    /// and were settled by the pre-run gate. No changed paths means nothing to object to: ALLOW.
    pub fn evaluate_changed_paths(&self, proposal: &TaskProposal, changed_paths: &[String]) -> PolicyDecision {
        let policy = self.config.get_repo_policy(&proposal.target.repo_key);
        let mut found = Findings::default();
        check_paths(
            &mut found,
            policy,
            proposal.task_type.as_str(),
            changed_paths,
            self.ignore_case,
        );
        let profile = first_applicable_requirement(policy, proposal)
            .map_or_else(|| "standard".into(), |r| r.required_profile.clone());
        finish(found, policy, profile, changed_paths.to_vec())
    }

    /// The validation requirement that applies to the proposal: the first whose risk and
    /// task-type lists (empty = all) include it.
    pub fn validation_requirement(&self, proposal: &TaskProposal) -> Option<&ValidationRequirement> {
        first_applicable_requirement(self.config.get_repo_policy(&proposal.target.repo_key), proposal)
    }

    /// A stable hex digest (SHA-1 of the configuration's JSON) naming the effective policy, so
    /// each decision can record which policy produced it.
    pub fn digest(&self) -> String {
        let bytes = match serde_json::to_vec(&self.config) {
            // The case mode changes decisions, so it is part of what the digest names.
            Ok(mut bytes) if self.ignore_case => {
                bytes.extend_from_slice(b"\nignore_case");
                bytes
            }
            Ok(bytes) => bytes,
            // Plain structs of strings, bools and vectors always serialize; keep the digest
            // distinct from any real one if that ever changes.
            Err(err) => return format!("unserializable-policy: {err}"),
        };
        let mut hasher = gix::hash::hasher(gix::hash::Kind::Sha1);
        hasher.update(&bytes);
        match hasher.try_finalize() {
            Ok(id) => id.to_hex().to_string(),
            Err(err) => format!("undigestable-policy: {err}"),
        }
    }
}

/// `request.allowed_paths` when a request with a non-empty list is given, else the proposal's.
fn candidate_paths(proposal: &TaskProposal, request: Option<&ExecutionRequest>) -> Vec<String> {
    match request {
        Some(r) if !r.allowed_paths.is_empty() => r.allowed_paths.clone(),
        _ => proposal.target.allowed_paths.clone(),
    }
}

fn contains(list: &[String], value: &str) -> bool {
    list.iter().any(|item| item == value)
}

fn set_related_repo(found: &mut Findings, proposal: &TaskProposal) {
    if let Some(v) = found.violations.last_mut() {
        v.related_repo = Some(proposal.target.repo_key.clone());
    }
}

/// How strict an access mode is: a path's decision across layers is the strictest one.
fn strictness(mode: &str) -> u8 {
    match mode {
        "block" => 3,
        "review_required" | "read_only" => 2,
        _ => 1,
    }
}

/// The strictest `default_mode` of the policy and the policies it inherits.
fn strictest_default_mode(policy: &RepoPolicy) -> &str {
    policy
        .layers()
        .map(|p| p.path_policy.default_mode.as_str())
        .fold("allow", |a, b| if strictness(b) > strictness(a) { b } else { a })
}

/// The review requirement of a policy and the policies it inherits, added up: review is needed
/// when any layer asks for it, autonomy only when every layer allows it.
fn combined_review(policy: &RepoPolicy) -> ReviewRequirement {
    let mut review = policy.review_requirement.clone();
    for inherited in policy.layers().skip(1) {
        let r = &inherited.review_requirement;
        review.autonomous_allowed &= r.autonomous_allowed;
        review.blocked_without_human |= r.blocked_without_human;
        for level in &r.require_review_for_risk_levels {
            if !contains(&review.require_review_for_risk_levels, level) {
                review.require_review_for_risk_levels.push(level.clone());
            }
        }
        for task_type in &r.require_review_for_task_types {
            if !contains(&review.require_review_for_task_types, task_type) {
                review.require_review_for_task_types.push(task_type.clone());
            }
        }
    }
    review
}

/// Checks 4c-4f: for each path, the first rule for this task type that matches decides, within
/// each layer; across layers the strictest decision wins (the nearest layer on a tie).
fn check_paths(found: &mut Findings, policy: &RepoPolicy, task_type: &str, paths: &[String], ignore_case: bool) {
    for path in paths {
        // (mode, matching rule) per layer; `None` rule means the layer's default mode.
        let mut verdict: Option<(&str, Option<&super::model::PathScopeRule>)> = None;
        for layer in policy.layers() {
            let path_policy = &layer.path_policy;
            let rule = path_policy.rules.iter().find(|rule| {
                (rule.applies_to_task_types.is_empty() || contains(&rule.applies_to_task_types, task_type))
                    && path_matches_case(&rule.path_pattern, path, ignore_case)
            });
            let mode = rule.map_or(path_policy.default_mode.as_str(), |r| r.access_mode.as_str());
            if verdict.is_none_or(|(m, _)| strictness(mode) > strictness(m)) {
                verdict = Some((mode, rule));
            }
        }
        let Some((mode, rule)) = verdict else { continue };
        let p = py_repr_str(path);
        match rule {
            None => match mode {
                "block" => found.path_violation(
                    "path.default_blocked",
                    format!("Path {p} is not covered by any allow rule and default mode is 'block'"),
                    true,
                    path,
                ),
                "review_required" => found.path_violation(
                    "path.default_review_required",
                    format!("Path {p} requires review (default path mode)"),
                    false,
                    path,
                ),
                _ => {}
            },
            Some(rule) => match rule.access_mode.as_str() {
                "block" => found.path_violation(
                    "path.blocked",
                    format!(
                        "Path {p} is blocked by policy rule (pattern: {})",
                        py_repr_str(&rule.path_pattern)
                    ),
                    true,
                    path,
                ),
                "read_only" | "review_required" => found.path_violation(
                    "path.review_required",
                    format!(
                        "Path {p} requires human review (pattern: {}; mode: {})",
                        py_repr_str(&rule.path_pattern),
                        py_repr_str(&rule.access_mode)
                    ),
                    false,
                    path,
                ),
                _ => {}
            },
        }
    }
}

/// The first requirement whose risk and task-type lists (empty = all) include the proposal's,
/// looking at the policy's own requirements before the inherited ones.
fn first_applicable_requirement<'p>(
    policy: &'p RepoPolicy,
    proposal: &TaskProposal,
) -> Option<&'p ValidationRequirement> {
    let risk = proposal.risk_level.as_str();
    let task_type = proposal.task_type.as_str();
    // Own requirements first, then the inherited ones: a layer's list only fills the cases the
    // nearer layers leave open.
    policy
        .layers()
        .flat_map(|layer| layer.validation_requirements.iter())
        .find(|req| {
            (req.applies_to_risk_levels.is_empty() || contains(&req.applies_to_risk_levels, risk))
                && (req.applies_to_task_types.is_empty() || contains(&req.applies_to_task_types, task_type))
        })
}

/// Status aggregation, effective fields and notes, shared by both gates.
fn finish(
    found: Findings,
    policy: &RepoPolicy,
    effective_validation_profile: String,
    effective_scope: Vec<String>,
) -> PolicyDecision {
    let Findings { violations, warnings } = found;
    let status = if violations.iter().any(|v| v.blocking) {
        PolicyStatus::Block
    } else if !violations.is_empty() {
        PolicyStatus::RequireReview
    } else if !warnings.is_empty() {
        PolicyStatus::AllowWithWarnings
    } else {
        PolicyStatus::Allow
    };
    let review_violation = violations.iter().any(|v| v.category == "review" && !v.blocking);
    let autonomous_allowed = policy.layers().all(|p| p.review_requirement.autonomous_allowed);
    let effective_review_requirement = if review_violation || !autonomous_allowed {
        "required"
    } else {
        "autonomous"
    };
    let notes = decision_notes(&violations, &warnings);
    PolicyDecision {
        decision_id: new_id(),
        status,
        violations,
        warnings,
        effective_validation_profile,
        effective_review_requirement: effective_review_requirement.into(),
        effective_scope,
        notes,
        evaluated_at: Timestamp::now(),
    }
}

/// A decision's `notes`: `violations: id, id; warnings: id`, either part only when non-empty.
pub fn decision_notes(violations: &[PolicyViolation], warnings: &[PolicyWarning]) -> String {
    let mut parts = Vec::new();
    if !violations.is_empty() {
        let ids: Vec<&str> = violations.iter().map(|v| v.rule_id.as_str()).collect();
        parts.push(format!("violations: {}", ids.join(", ")));
    }
    if !warnings.is_empty() {
        let ids: Vec<&str> = warnings.iter().map(|w| w.rule_id.as_str()).collect();
        parts.push(format!("warnings: {}", ids.join(", ")));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests;
