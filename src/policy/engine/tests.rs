use super::*;
use crate::contracts::{BackendName, PolicyStatus};
use crate::planning::{PlanningContext, build_proposal};
use crate::policy::explain;
use crate::policy::model::{PathScopeRule, ReviewRequirement, ValidationRequirement};

fn context(task_type: &str, risk: &str, labels: &[&str], paths: &[&str]) -> PlanningContext {
    let mut ctx = PlanningContext::new("x", task_type);
    ctx.repo_key = "demo".into();
    ctx.clone_url = "demo://local".into();
    ctx.risk_level = risk.into();
    ctx.labels = labels.iter().map(|s| s.to_string()).collect();
    ctx.allowed_paths = paths.iter().map(|s| s.to_string()).collect();
    ctx
}

fn proposal(task_type: &str, risk: &str, labels: &[&str], paths: &[&str]) -> TaskProposal {
    build_proposal(&context(task_type, risk, labels, paths)).unwrap()
}

/// A plain low-risk bug fix with no paths, labels or validation.
fn plain() -> TaskProposal {
    proposal("bug_fix", "low", &[], &[])
}

fn lane(selected: LaneName) -> LaneDecision {
    LaneDecision {
        decision_id: new_id(),
        proposal_id: new_id(),
        selected_lane: selected,
        selected_backend: BackendName::DemoStub,
        confidence: 1.0,
        policy_rule_matched: Some("test".into()),
        rationale: None,
        alternatives_considered: Vec::new(),
        decided_at: Timestamp::now(),
        switchboard_version: None,
    }
}

fn local() -> LaneDecision {
    lane(LaneName::AiderLocal)
}

fn request(allowed_paths: &[&str], validation_commands: &[&str]) -> ExecutionRequest {
    ExecutionRequest {
        run_id: new_id(),
        proposal_id: new_id(),
        decision_id: new_id(),
        goal_text: "x".into(),
        constraints_text: None,
        repo_key: "demo".into(),
        clone_url: "demo://local".into(),
        base_branch: "main".into(),
        task_branch: "auto/x".into(),
        workspace_path: "/tmp/ws".into(),
        goal_file_path: None,
        allowed_paths: allowed_paths.iter().map(|s| s.to_string()).collect(),
        max_changed_files: None,
        timeout_seconds: 300,
        require_clean_validation: true,
        validation_commands: validation_commands.iter().map(|s| s.to_string()).collect(),
        idempotent: false,
        runtime_binding: None,
        bound_target: None,
        lifecycle: None,
        requested_at: Timestamp::now(),
    }
}

/// An engine whose only policy is `policy` (a catch-all by key `"*"` so any repo gets it).
fn engine_with(edit: impl FnOnce(&mut RepoPolicy)) -> PolicyEngine {
    let mut policy = RepoPolicy::new("*");
    edit(&mut policy);
    PolicyEngine::new(PolicyConfig {
        repo_policies: vec![policy],
        default_policy: None,
    })
}

fn rule_ids(decision: &PolicyDecision) -> Vec<&str> {
    decision.violations.iter().map(|v| v.rule_id.as_str()).collect()
}

fn warning_ids(decision: &PolicyDecision) -> Vec<&str> {
    decision.warnings.iter().map(|w| w.rule_id.as_str()).collect()
}

#[track_caller]
fn only_violation(decision: &PolicyDecision) -> &PolicyViolation {
    assert_eq!(decision.violations.len(), 1, "{decision:#?}");
    assert!(decision.warnings.is_empty(), "{decision:#?}");
    &decision.violations[0]
}

#[track_caller]
fn only_warning(decision: &PolicyDecision) -> &PolicyWarning {
    assert!(decision.violations.is_empty(), "{decision:#?}");
    assert_eq!(decision.warnings.len(), 1, "{decision:#?}");
    assert_eq!(decision.status, PolicyStatus::AllowWithWarnings);
    &decision.warnings[0]
}

#[track_caller]
fn assert_violation(v: &PolicyViolation, rule_id: &str, category: &str, blocking: bool, message: &str) {
    assert_eq!(v.rule_id, rule_id);
    assert_eq!(v.category, category);
    assert_eq!(v.blocking, blocking, "{v:?}");
    assert_eq!(v.message, message);
}

// ---------------------------------------------------------------------------------------------
// Worked examples of reference-core.md §5.4

#[test]
fn example_1_demo_proposal_under_the_default_policy() {
    let engine = PolicyEngine::from_defaults();
    let p = proposal("simple_edit", "low", &[], &[]);
    let d = engine.evaluate(&p, &local(), None);
    assert_eq!(d.status, PolicyStatus::AllowWithWarnings);
    assert!(d.violations.is_empty());
    let w = only_warning(&d);
    assert_eq!(w.rule_id, "validation.recommended_unavailable");
    assert_eq!(w.category, "validation");
    assert_eq!(
        w.message,
        "Validation profile 'standard' is recommended for risk='low' but no validation commands \
         are configured"
    );
    assert_eq!(w.related_path, None);
    assert_eq!(d.notes, "warnings: validation.recommended_unavailable");
    assert_eq!(d.effective_validation_profile, "standard");
    assert_eq!(d.effective_review_requirement, "autonomous");
    assert!(d.effective_scope.is_empty());
}

#[test]
fn example_2_high_risk_feature_on_a_remote_lane() {
    let engine = PolicyEngine::from_defaults();
    let paths = ["db/migrations/0010.py", "src/x.py", "home/u/.ssh/id_rsa", ".ssh/id_rsa"];
    let p = proposal("feature", "high", &["local_only", "RM_RF"], &paths);
    let d = engine.evaluate(&p, &lane(LaneName::ClaudeCli), None);
    assert_eq!(d.status, PolicyStatus::Block);
    assert_eq!(
        rule_ids(&d),
        [
            "routing.local_only_violated",
            "path.review_required",
            "path.blocked",
            // Differs from the reference: wildmatch's `**/` also matches at the root.
            "path.blocked",
            "tool.destructive_blocked",
            "validation.required_unavailable",
            "review.required",
        ]
    );
    let blocking: Vec<bool> = d.violations.iter().map(|v| v.blocking).collect();
    assert_eq!(blocking, [true, false, true, true, true, true, false]);
    assert!(d.warnings.is_empty());
    let v = &d.violations;
    assert_violation(
        &v[0],
        "routing.local_only_violated",
        "routing",
        true,
        "Proposal labels ['local_only'] require local execution, but routing selected remote \
         lane 'claude_cli'",
    );
    assert_violation(
        &v[1],
        "path.review_required",
        "path",
        false,
        "Path 'db/migrations/0010.py' requires human review (pattern: '**/migrations/**'; mode: \
         'review_required')",
    );
    assert_eq!(v[1].related_path.as_deref(), Some("db/migrations/0010.py"));
    assert_violation(
        &v[2],
        "path.blocked",
        "path",
        true,
        "Path 'home/u/.ssh/id_rsa' is blocked by policy rule (pattern: '**/.ssh/**')",
    );
    assert_eq!(v[2].related_path.as_deref(), Some("home/u/.ssh/id_rsa"));
    assert_violation(
        &v[3],
        "path.blocked",
        "path",
        true,
        "Path '.ssh/id_rsa' is blocked by policy rule (pattern: '**/.ssh/**')",
    );
    assert_eq!(v[3].related_path.as_deref(), Some(".ssh/id_rsa"));
    assert_violation(
        &v[4],
        "tool.destructive_blocked",
        "tool",
        true,
        "Destructive actions are blocked by policy, but proposal labels indicate a potentially \
         destructive operation",
    );
    assert_violation(
        &v[5],
        "validation.required_unavailable",
        "validation",
        true,
        "Validation profile 'strict' is required for risk='high' but no validation commands are \
         configured",
    );
    assert_violation(
        &v[6],
        "review.required",
        "review",
        false,
        "Human review required: risk='high', task_type='feature'",
    );
    assert_eq!(d.effective_validation_profile, "strict");
    assert_eq!(d.effective_review_requirement, "required");
    assert_eq!(d.effective_scope, paths);
    assert_eq!(
        d.notes,
        "violations: routing.local_only_violated, path.review_required, path.blocked, \
         path.blocked, tool.destructive_blocked, validation.required_unavailable, review.required"
    );
}

#[test]
fn example_3_trusted_unknown_task_type_with_review_paths() {
    let engine = PolicyEngine::from_defaults();
    let paths = [".env.prod", "a/b.env", "docker-compose.override.yml"];
    let p = proposal("weird_Type_name_that_is_long", "medium", &["source: autonomy"], &paths);
    assert_eq!(p.task_id, "auto-weird-Type-name-that-11f6ad8e");
    assert_eq!(p.task_type.as_str(), "unknown");
    let d = engine.evaluate(&p, &local(), None);
    assert_eq!(d.status, PolicyStatus::RequireReview);
    assert_eq!(
        rule_ids(&d),
        ["path.review_required", "path.review_required", "path.review_required"]
    );
    let messages: Vec<&str> = d.violations.iter().map(|v| v.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "Path '.env.prod' requires human review (pattern: '.env*'; mode: 'review_required')",
            "Path 'a/b.env' requires human review (pattern: '*.env'; mode: 'review_required')",
            "Path 'docker-compose.override.yml' requires human review (pattern: \
             'docker-compose*.yml'; mode: 'review_required')",
        ]
    );
    assert!(d.violations.iter().all(|v| !v.blocking));
    assert_eq!(warning_ids(&d), ["validation.recommended_unavailable"]);
    assert_eq!(
        d.warnings[0].message,
        "Validation profile 'standard' is recommended for risk='medium' but no validation \
         commands are configured"
    );
    assert_eq!(d.effective_review_requirement, "autonomous");
    assert_eq!(d.effective_validation_profile, "standard");
    assert_eq!(
        d.notes,
        "violations: path.review_required, path.review_required, path.review_required; \
         warnings: validation.recommended_unavailable"
    );
}

// ---------------------------------------------------------------------------------------------
// One test per rule id

#[test]
fn rule_repo_disabled_short_circuits() {
    let engine = engine_with(|p| {
        p.repo_key = "demo".into();
        p.enabled = false;
        p.blocked_task_types = vec!["bug_fix".into()];
        p.tool_guardrail.network_mode = "blocked".into();
    });
    let d = engine.evaluate(&plain(), &local(), None);
    let v = only_violation(&d);
    assert_violation(
        v,
        "repo.disabled",
        "repo",
        true,
        "Repo 'demo' is disabled in policy configuration",
    );
    assert_eq!(v.related_repo, None);
    assert_eq!(d.status, PolicyStatus::Block);
    assert_eq!(d.notes, "violations: repo.disabled");
    assert_eq!(d.effective_validation_profile, "standard");
}

#[test]
fn rule_repo_disabled_names_the_policy_key() {
    // The catch-all policy applies to repo "demo"; the message names the policy's key.
    let engine = engine_with(|p| p.enabled = false);
    let d = engine.evaluate(&plain(), &local(), None);
    assert_eq!(
        only_violation(&d).message,
        "Repo '*' is disabled in policy configuration"
    );
}

#[test]
fn rule_task_type_blocked() {
    let engine = engine_with(|p| p.blocked_task_types = vec!["bug_fix".into()]);
    let d = engine.evaluate(&plain(), &local(), None);
    let v = only_violation(&d);
    assert_violation(
        v,
        "task_type.blocked",
        "repo",
        true,
        "Task type 'bug_fix' is blocked for repo '*'",
    );
    assert_eq!(v.related_repo.as_deref(), Some("demo"));
    assert_eq!(d.status, PolicyStatus::Block);
}

#[test]
fn rule_task_type_not_in_allowlist() {
    let engine = engine_with(|p| p.allowed_task_types = vec!["lint_fix".into()]);
    let d = engine.evaluate(&plain(), &local(), None);
    let v = only_violation(&d);
    assert_violation(
        v,
        "task_type.not_in_allowlist",
        "repo",
        true,
        "Task type 'bug_fix' is not in the allowed task type list for repo '*'",
    );
    assert_eq!(v.related_repo.as_deref(), Some("demo"));
    let allowed = engine_with(|p| p.allowed_task_types = vec!["bug_fix".into()]);
    assert_eq!(allowed.evaluate(&plain(), &local(), None).status, PolicyStatus::Allow);
}

#[test]
fn rule_routing_local_only_violated() {
    let engine = engine_with(|_| {});
    let p = proposal(
        "bug_fix",
        "low",
        &["no_remote", "local_only", "no_remote", "LOCAL_ONLY"],
        &[],
    );
    let d = engine.evaluate(&p, &lane(LaneName::CodexCli), None);
    assert_violation(
        only_violation(&d),
        "routing.local_only_violated",
        "routing",
        true,
        "Proposal labels ['local_only', 'no_remote'] require local execution, but routing \
         selected remote lane 'codex_cli'",
    );
    // A local lane satisfies the labels.
    assert_eq!(engine.evaluate(&p, &local(), None).status, PolicyStatus::Allow);
    // Matched exactly: an upper-case label does not count.
    let upper = proposal("bug_fix", "low", &["LOCAL_ONLY"], &[]);
    assert_eq!(
        engine.evaluate(&upper, &lane(LaneName::CodexCli), None).status,
        PolicyStatus::Allow
    );
}

#[test]
fn rule_path_unrestricted_writes_blocked() {
    let engine = engine_with(|p| p.path_policy.default_mode = "block".into());
    let d = engine.evaluate(&plain(), &local(), None);
    let v = only_violation(&d);
    assert_violation(
        v,
        "path.unrestricted_writes_blocked",
        "path",
        true,
        "No path restriction declared on this task, but default path mode is 'block'. Explicit \
         allowed_paths must be set.",
    );
    assert_eq!(v.related_path, None);
}

#[test]
fn rule_path_unrestricted_writes_review_is_only_a_warning() {
    let engine = engine_with(|p| p.path_policy.default_mode = "review_required".into());
    let d = engine.evaluate(&plain(), &local(), None);
    let w = only_warning(&d);
    assert_eq!(w.rule_id, "path.unrestricted_writes_review");
    assert_eq!(w.category, "path");
    assert_eq!(
        w.message,
        "No path restriction declared on this task, but default path mode is 'review_required'. \
         This task needs human review."
    );
    assert_eq!(d.effective_review_requirement, "autonomous");
}

#[test]
fn rule_path_default_blocked() {
    let engine = engine_with(|p| {
        p.path_policy.default_mode = "block".into();
        p.path_policy.rules = vec![PathScopeRule::new("src/**", "allow", "")];
    });
    let p = proposal("bug_fix", "low", &[], &["src/a.rs", "README.md"]);
    let d = engine.evaluate(&p, &local(), None);
    let v = only_violation(&d);
    assert_violation(
        v,
        "path.default_blocked",
        "path",
        true,
        "Path 'README.md' is not covered by any allow rule and default mode is 'block'",
    );
    assert_eq!(v.related_path.as_deref(), Some("README.md"));
}

#[test]
fn rule_path_default_review_required() {
    let engine = engine_with(|p| p.path_policy.default_mode = "review_required".into());
    let p = proposal("bug_fix", "low", &[], &["docs/a.md"]);
    let d = engine.evaluate(&p, &local(), None);
    let v = only_violation(&d);
    assert_violation(
        v,
        "path.default_review_required",
        "path",
        false,
        "Path 'docs/a.md' requires review (default path mode)",
    );
    assert_eq!(v.related_path.as_deref(), Some("docs/a.md"));
    assert_eq!(d.status, PolicyStatus::RequireReview);
}

#[test]
fn rule_path_blocked() {
    let engine = engine_with(|p| {
        p.path_policy.rules = vec![
            PathScopeRule::new("vendor/", "block", "vendored code is synced, not edited"),
            PathScopeRule::new("vendor/**", "allow", ""),
        ]
    });
    let p = proposal("bug_fix", "low", &[], &["vendor/lib/a.c"]);
    let d = engine.evaluate(&p, &local(), None);
    let v = only_violation(&d);
    assert_violation(
        v,
        "path.blocked",
        "path",
        true,
        "Path 'vendor/lib/a.c' is blocked by policy rule (pattern: 'vendor/')",
    );
    assert_eq!(v.related_path.as_deref(), Some("vendor/lib/a.c"));
}

#[test]
fn rule_path_review_required_for_read_only_and_review_required() {
    let engine = engine_with(|p| {
        p.path_policy.rules = vec![
            PathScopeRule::new("LICENSE", "read_only", ""),
            PathScopeRule::new("*.lock", "review_required", ""),
        ]
    });
    let p = proposal("bug_fix", "low", &[], &["LICENSE"]);
    let d = engine.evaluate(&p, &local(), None);
    assert_violation(
        only_violation(&d),
        "path.review_required",
        "path",
        false,
        "Path 'LICENSE' requires human review (pattern: 'LICENSE'; mode: 'read_only')",
    );
    let p = proposal("bug_fix", "low", &[], &["Cargo.lock"]);
    let d = engine.evaluate(&p, &local(), None);
    assert_violation(
        only_violation(&d),
        "path.review_required",
        "path",
        false,
        "Path 'Cargo.lock' requires human review (pattern: '*.lock'; mode: 'review_required')",
    );
}

#[test]
fn path_rules_for_other_task_types_are_skipped_and_first_match_wins() {
    let engine = engine_with(|p| {
        let mut docs_only = PathScopeRule::new("*.md", "allow", "");
        docs_only.applies_to_task_types = vec!["documentation".into()];
        p.path_policy.rules = vec![docs_only, PathScopeRule::new("*.md", "block", "")];
    });
    let docs = proposal("documentation", "low", &[], &["README.md"]);
    assert_eq!(engine.evaluate(&docs, &local(), None).status, PolicyStatus::Allow);
    let fix = proposal("bug_fix", "low", &[], &["README.md"]);
    assert_eq!(rule_ids(&engine.evaluate(&fix, &local(), None)), ["path.blocked"]);
}

#[test]
fn rule_branch_no_prefix_set() {
    let engine = engine_with(|_| {});
    let mut p = plain();
    p.branch_policy.branch_prefix = String::new();
    let d = engine.evaluate(&p, &local(), None);
    let w = only_warning(&d);
    assert_eq!(w.rule_id, "branch.no_prefix_set");
    assert_eq!(w.category, "branch");
    assert_eq!(
        w.message,
        "branch_prefix is empty; ensure a task branch is used rather than direct commit"
    );
    let direct = engine_with(|p| p.branch_guardrail.allow_direct_commit = true);
    assert_eq!(direct.evaluate(&p, &local(), None).status, PolicyStatus::Allow);
}

#[test]
fn rule_branch_base_branch_not_allowed() {
    let engine = engine_with(|p| p.branch_guardrail.allowed_base_branches = vec!["develop".into(), "release".into()]);
    let d = engine.evaluate(&plain(), &local(), None);
    assert_violation(
        only_violation(&d),
        "branch.base_branch_not_allowed",
        "branch",
        true,
        "Base branch 'main' is not in the allowed base branches list: ['develop', 'release']",
    );
}

#[test]
fn rule_branch_pr_required() {
    let engine = engine_with(|p| p.branch_guardrail.require_pr = true);
    let d = engine.evaluate(&plain(), &local(), None);
    assert_violation(
        only_violation(&d),
        "branch.pr_required",
        "branch",
        false,
        "Policy requires a PR, but proposal branch_policy.open_pr is false",
    );
    assert_eq!(d.status, PolicyStatus::RequireReview);
    let mut with_pr = plain();
    with_pr.branch_policy.open_pr = true;
    assert_eq!(engine.evaluate(&with_pr, &local(), None).status, PolicyStatus::Allow);
}

#[test]
fn rule_tool_network_local_only() {
    let engine = engine_with(|p| p.tool_guardrail.network_mode = "local_only".into());
    let d = engine.evaluate(&plain(), &lane(LaneName::ClaudeCli), None);
    assert_violation(
        only_violation(&d),
        "tool.network_local_only",
        "tool",
        true,
        "Tool policy requires local-only execution, but routing selected remote lane 'claude_cli'",
    );
    assert_eq!(engine.evaluate(&plain(), &local(), None).status, PolicyStatus::Allow);
}

#[test]
fn rule_tool_network_blocked_whatever_the_lane() {
    let engine = engine_with(|p| p.tool_guardrail.network_mode = "blocked".into());
    let d = engine.evaluate(&plain(), &local(), None);
    assert_violation(
        only_violation(&d),
        "tool.network_blocked",
        "tool",
        true,
        "All network execution is blocked by tool policy for this repo",
    );
}

#[test]
fn rule_tool_destructive_blocked_compares_lower_cased_labels() {
    let engine = engine_with(|_| {});
    let p = proposal("bug_fix", "low", &["Force_Push"], &[]);
    let d = engine.evaluate(&p, &local(), None);
    assert_violation(
        only_violation(&d),
        "tool.destructive_blocked",
        "tool",
        true,
        "Destructive actions are blocked by policy, but proposal labels indicate a potentially \
         destructive operation",
    );
    let permissive = engine_with(|p| p.tool_guardrail.allow_destructive_actions = true);
    assert_eq!(permissive.evaluate(&p, &local(), None).status, PolicyStatus::Allow);
}

#[test]
fn rule_validation_required_unavailable() {
    let engine = engine_with(|p| {
        p.validation_requirements = vec![ValidationRequirement {
            required_profile: "full".into(),
            block_if_unavailable: true,
            ..ValidationRequirement::default()
        }]
    });
    let d = engine.evaluate(&plain(), &local(), None);
    assert_violation(
        only_violation(&d),
        "validation.required_unavailable",
        "validation",
        true,
        "Validation profile 'full' is required for risk='low' but no validation commands are \
         configured",
    );
    assert_eq!(d.effective_validation_profile, "full");
}

#[test]
fn rule_validation_recommended_unavailable() {
    let engine = engine_with(|p| p.validation_requirements = vec![ValidationRequirement::default()]);
    let d = engine.evaluate(&plain(), &local(), None);
    let w = only_warning(&d);
    assert_eq!(w.rule_id, "validation.recommended_unavailable");
    assert_eq!(w.category, "validation");
    assert_eq!(
        w.message,
        "Validation profile 'standard' is recommended for risk='low' but no validation commands \
         are configured"
    );
}

#[test]
fn rule_review_blocked_without_human_stops_the_review_check() {
    let engine = engine_with(|p| {
        p.review_requirement = ReviewRequirement {
            autonomous_allowed: false,
            blocked_without_human: true,
            ..ReviewRequirement::default()
        }
    });
    let d = engine.evaluate(&plain(), &local(), None);
    let v = only_violation(&d);
    assert_violation(
        v,
        "review.blocked_without_human",
        "review",
        true,
        "Policy requires explicit human approval for this repo; autonomous execution is blocked",
    );
    assert_eq!(d.status, PolicyStatus::Block);
    assert_eq!(d.notes, "violations: review.blocked_without_human");
    assert_eq!(d.effective_review_requirement, "required");
}

#[test]
fn rule_review_required() {
    let engine = engine_with(|p| p.review_requirement.autonomous_allowed = false);
    let d = engine.evaluate(&plain(), &local(), None);
    assert_violation(
        only_violation(&d),
        "review.required",
        "review",
        false,
        "Human review required: risk='low', task_type='bug_fix'",
    );
    assert_eq!(d.status, PolicyStatus::RequireReview);
    assert_eq!(d.effective_review_requirement, "required");
}

#[test]
fn review_triggers_and_the_trusted_source_exemption() {
    let engine = engine_with(|p| {
        p.review_requirement.require_review_for_risk_levels = vec!["high".into()];
        p.review_requirement.require_review_for_task_types = vec!["refactor".into()];
    });
    let ids = |task_type: &str, risk: &str, labels: &[&str]| {
        let d = engine.evaluate(&proposal(task_type, risk, labels, &[]), &local(), None);
        rule_ids(&d).iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(ids("bug_fix", "high", &[]), ["review.required"]);
    assert_eq!(ids("refactor", "low", &[]), ["review.required"]);
    assert!(ids("bug_fix", "low", &[]).is_empty());
    // A trusted source skips risk- and type-based review, but not the explicit label.
    assert!(ids("refactor", "high", &["source: board_worker"]).is_empty());
    assert!(ids("refactor", "high", &["source: spec-campaign"]).is_empty());
    assert_eq!(ids("refactor", "high", &["source: Autonomy"]), ["review.required"]);
    assert_eq!(
        ids("bug_fix", "low", &["source: autonomy", "review_required"]),
        ["review.required"]
    );
}

// ---------------------------------------------------------------------------------------------
// Inputs, aggregation and effective fields

#[test]
fn request_paths_and_commands_take_precedence() {
    let engine = PolicyEngine::from_defaults();
    let p = proposal("bug_fix", "high", &[], &["src/a.rs"]);
    // The request's non-empty allowed_paths replace the proposal's.
    let d = engine.evaluate(&p, &local(), Some(&request(&[".ssh/config"], &["cargo test"])));
    assert_eq!(rule_ids(&d), ["path.blocked", "review.required"]);
    assert_eq!(d.effective_scope, [".ssh/config"]);
    // An empty request list falls back to the proposal's; no commands anywhere blocks high risk.
    let d = engine.evaluate(&p, &local(), Some(&request(&[], &[])));
    assert_eq!(rule_ids(&d), ["validation.required_unavailable", "review.required"]);
    assert_eq!(d.effective_scope, ["src/a.rs"]);
    // The proposal's own validation commands count as available.
    let mut with_commands = context("bug_fix", "high", &[], &[]);
    with_commands.validation_commands = vec!["make check".into()];
    let p = build_proposal(&with_commands).unwrap();
    assert_eq!(rule_ids(&engine.evaluate(&p, &local(), None)), ["review.required"]);
}

#[test]
fn only_the_first_applicable_validation_requirement_counts() {
    let engine = engine_with(|p| {
        p.validation_requirements = vec![
            ValidationRequirement {
                applies_to_task_types: vec!["feature".into()],
                required_profile: "feature-suite".into(),
                block_if_unavailable: true,
                ..ValidationRequirement::default()
            },
            ValidationRequirement {
                applies_to_risk_levels: vec!["low".into()],
                required_profile: "quick".into(),
                ..ValidationRequirement::default()
            },
            ValidationRequirement {
                required_profile: "never-reached".into(),
                block_if_unavailable: true,
                ..ValidationRequirement::default()
            },
        ]
    });
    let d = engine.evaluate(&plain(), &local(), None);
    assert_eq!(warning_ids(&d), ["validation.recommended_unavailable"]);
    assert_eq!(d.effective_validation_profile, "quick");
    // Satisfied: the first applicable requirement produces nothing and still stops the search.
    let d = engine.evaluate(&plain(), &local(), Some(&request(&[], &["make test"])));
    assert_eq!(d.status, PolicyStatus::Allow);
    assert_eq!(d.effective_validation_profile, "quick");
    // No requirement applies: the profile is "standard".
    let none = engine_with(|p| {
        p.validation_requirements = vec![ValidationRequirement {
            applies_to_risk_levels: vec!["high".into()],
            required_profile: "strict".into(),
            ..ValidationRequirement::default()
        }]
    });
    let d = none.evaluate(&plain(), &local(), None);
    assert_eq!(d.status, PolicyStatus::Allow);
    assert_eq!(d.effective_validation_profile, "standard");
}

#[test]
fn status_aggregation_order() {
    // Nothing: ALLOW with empty notes.
    let engine = engine_with(|_| {});
    let d = engine.evaluate(&plain(), &local(), None);
    assert_eq!(d.status, PolicyStatus::Allow);
    assert_eq!(d.notes, "");
    assert!(d.is_allowed());

    // Warnings only: ALLOW_WITH_WARNINGS.
    let mut no_prefix = plain();
    no_prefix.branch_policy.branch_prefix = String::new();
    let d = engine.evaluate(&no_prefix, &local(), None);
    assert_eq!(d.status, PolicyStatus::AllowWithWarnings);
    assert!(d.is_allowed());

    // A non-blocking violation outranks warnings: REQUIRE_REVIEW.
    let review = engine_with(|p| p.branch_guardrail.require_pr = true);
    let d = review.evaluate(&no_prefix, &local(), None);
    assert_eq!(d.status, PolicyStatus::RequireReview);
    assert!(d.requires_review());
    assert_eq!(
        d.notes,
        "violations: branch.pr_required; warnings: branch.no_prefix_set"
    );

    // A blocking violation outranks everything: BLOCK.
    let block = engine_with(|p| {
        p.branch_guardrail.require_pr = true;
        p.tool_guardrail.network_mode = "blocked".into();
    });
    let d = block.evaluate(&no_prefix, &local(), None);
    assert_eq!(d.status, PolicyStatus::Block);
    assert!(d.is_blocked());
    assert_eq!(
        d.notes,
        "violations: branch.pr_required, tool.network_blocked; warnings: branch.no_prefix_set"
    );
}

#[test]
fn notes_repeat_duplicate_ids() {
    let engine = engine_with(|p| p.path_policy.default_mode = "review_required".into());
    let p = proposal("bug_fix", "low", &[], &["a", "b"]);
    let d = engine.evaluate(&p, &local(), None);
    assert_eq!(
        d.notes,
        "violations: path.default_review_required, path.default_review_required"
    );
}

#[test]
fn path_review_keeps_review_requirement_autonomous() {
    let engine = PolicyEngine::from_defaults();
    let p = proposal("bug_fix", "low", &[], &["Dockerfile"]);
    let d = engine.evaluate(&p, &local(), None);
    assert_eq!(d.status, PolicyStatus::RequireReview);
    assert_eq!(d.effective_review_requirement, "autonomous");
}

#[test]
fn decisions_get_fresh_ids() {
    let engine = PolicyEngine::from_defaults();
    let a = engine.evaluate(&plain(), &local(), None);
    let b = engine.evaluate(&plain(), &local(), None);
    assert_ne!(a.decision_id, b.decision_id);
    assert_eq!(a.decision_id.len(), 36);
}

// ---------------------------------------------------------------------------------------------
// Post-run gate

#[test]
fn changed_paths_blocked_path_blocks() {
    let engine = PolicyEngine::from_defaults();
    // Pre-run checks that would fire (high risk, no validation, local_only on a remote lane) are
    // not part of the post-run gate.
    let p = proposal("feature", "high", &["local_only"], &[]);
    let changed = vec!["src/lib.rs".to_owned(), ".ssh/authorized_keys".to_owned()];
    let d = engine.evaluate_changed_paths(&p, &changed);
    assert_eq!(d.status, PolicyStatus::Block);
    let v = only_violation(&d);
    assert_violation(
        v,
        "path.blocked",
        "path",
        true,
        "Path '.ssh/authorized_keys' is blocked by policy rule (pattern: '**/.ssh/**')",
    );
    assert_eq!(v.related_path.as_deref(), Some(".ssh/authorized_keys"));
    assert_eq!(d.effective_scope, changed);
    assert_eq!(d.effective_validation_profile, "strict");
    assert_eq!(d.notes, "violations: path.blocked");
}

#[test]
fn changed_paths_review_path_requires_review() {
    let engine = PolicyEngine::from_defaults();
    let changed = vec![".github/workflows/ci.yml".to_owned()];
    let d = engine.evaluate_changed_paths(&plain(), &changed);
    assert_eq!(d.status, PolicyStatus::RequireReview);
    assert_eq!(rule_ids(&d), ["path.review_required"]);
    assert_eq!(d.effective_review_requirement, "autonomous");
}

#[test]
fn changed_paths_default_modes_apply() {
    let engine = engine_with(|p| {
        p.path_policy.default_mode = "block".into();
        p.path_policy.rules = vec![PathScopeRule::new("src/", "allow", "")];
    });
    let changed = vec!["src/a.rs".to_owned(), "build.rs".to_owned()];
    let d = engine.evaluate_changed_paths(&plain(), &changed);
    assert_eq!(rule_ids(&d), ["path.default_blocked"]);
    assert_eq!(d.violations[0].related_path.as_deref(), Some("build.rs"));
}

#[test]
fn no_changed_paths_allow() {
    // Even with default mode "block", which would object to an undeclared scope before the run.
    let engine = engine_with(|p| p.path_policy.default_mode = "block".into());
    let d = engine.evaluate_changed_paths(&plain(), &[]);
    assert_eq!(d.status, PolicyStatus::Allow);
    assert!(d.violations.is_empty() && d.warnings.is_empty());
    assert_eq!(d.notes, "");
    assert!(d.effective_scope.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Digest

#[test]
fn digest_is_stable_and_tracks_the_config() {
    let a = PolicyEngine::from_defaults();
    let b = PolicyEngine::from_defaults();
    assert_eq!(a.digest(), b.digest());
    assert_eq!(a.digest().len(), 40);
    assert!(a.digest().bytes().all(|c| c.is_ascii_hexdigit()));
    let changed = engine_with(|_| {});
    assert_ne!(a.digest(), changed.digest());
    let mut config = default_policy_config();
    config.repo_policies[0].path_policy.rules[0].notes = "different".into();
    assert_ne!(a.digest(), PolicyEngine::new(config).digest());
    assert_eq!(a.config(), &default_policy_config());
}

// ---------------------------------------------------------------------------------------------
// explain()

#[test]
fn explain_block() {
    let engine = PolicyEngine::from_defaults();
    let p = proposal("feature", "high", &["local_only", "RM_RF"], &["home/u/.ssh/id_rsa"]);
    let d = engine.evaluate(&p, &lane(LaneName::ClaudeCli), None);
    let e = explain(&d);
    assert_eq!(
        e.summary,
        "BLOCKED: Proposal labels ['local_only'] require local execution, but routing selected \
         remote lane 'claude_cli'"
    );
    assert_eq!(
        e.key_rules_applied,
        [
            "routing.local_only_violated",
            "path.blocked",
            "tool.destructive_blocked",
            "validation.required_unavailable",
            "review.required",
        ]
    );
    assert_eq!(
        e.review_reasoning,
        "Human review required: risk='high', task_type='feature'"
    );
    assert_eq!(
        e.validation_reasoning,
        "Validation profile 'strict' is required for risk='high' but no validation commands are \
         configured"
    );
    assert_eq!(
        e.scope_reasoning,
        "Effective scope: ['home/u/.ssh/id_rsa']; Path 'home/u/.ssh/id_rsa' is blocked by policy \
         rule (pattern: '**/.ssh/**')"
    );
    assert_eq!(
        e.routing_reasoning,
        "Proposal labels ['local_only'] require local execution, but routing selected remote lane \
         'claude_cli'"
    );
}

#[test]
fn explain_block_includes_network_tool_rules_in_routing() {
    let engine = engine_with(|p| {
        p.tool_guardrail.network_mode = "local_only".into();
        p.review_requirement.autonomous_allowed = false;
    });
    let d = engine.evaluate(&plain(), &lane(LaneName::CodexCli), None);
    let e = explain(&d);
    assert_eq!(
        e.routing_reasoning,
        "Tool policy requires local-only execution, but routing selected remote lane 'codex_cli'"
    );
    assert_eq!(e.scope_reasoning, "No path restriction declared (applies to all paths)");
    assert_eq!(e.validation_reasoning, "Validation profile 'standard'");
}

#[test]
fn explain_require_review_prefers_the_review_violation() {
    let engine = engine_with(|p| {
        p.branch_guardrail.require_pr = true;
        p.review_requirement.autonomous_allowed = false;
    });
    let d = engine.evaluate(&plain(), &local(), None);
    assert_eq!(d.status, PolicyStatus::RequireReview);
    let e = explain(&d);
    assert_eq!(
        e.summary,
        "REVIEW REQUIRED: Human review required: risk='low', task_type='bug_fix'"
    );
    assert_eq!(e.key_rules_applied, ["branch.pr_required", "review.required"]);
    assert_eq!(
        e.review_reasoning,
        "Human review required: risk='low', task_type='bug_fix'"
    );
}

#[test]
fn explain_require_review_falls_back_to_the_first_non_blocking_violation() {
    let engine = PolicyEngine::from_defaults();
    let p = proposal(
        "weird_Type_name_that_is_long",
        "medium",
        &["source: autonomy"],
        &[".env.prod", "a/b.env"],
    );
    let d = engine.evaluate(&p, &local(), None);
    let e = explain(&d);
    assert_eq!(
        e.summary,
        "REVIEW REQUIRED: Path '.env.prod' requires human review (pattern: '.env*'; mode: \
         'review_required')"
    );
    assert_eq!(
        e.key_rules_applied,
        [
            "path.review_required",
            "path.review_required",
            "validation.recommended_unavailable"
        ]
    );
    assert_eq!(e.review_reasoning, "Autonomous execution permitted by policy");
    assert_eq!(
        e.validation_reasoning,
        "Validation profile 'standard' is recommended for risk='medium' but no validation \
         commands are configured"
    );
    assert_eq!(
        e.scope_reasoning,
        "Effective scope: ['.env.prod', 'a/b.env']; Path '.env.prod' requires human review \
         (pattern: '.env*'; mode: 'review_required'); Path 'a/b.env' requires human review \
         (pattern: '*.env'; mode: 'review_required')"
    );
    assert_eq!(e.routing_reasoning, "Routing selection is compatible with policy");
}

#[test]
fn explain_allow_with_warnings_dedups_warning_ids() {
    let engine = engine_with(|p| {
        p.path_policy.default_mode = "review_required".into();
        p.validation_requirements = vec![ValidationRequirement::default()];
    });
    let mut p = plain();
    p.branch_policy.branch_prefix = String::new();
    let mut d = engine.evaluate(&p, &local(), None);
    d.warnings.push(d.warnings[0].clone());
    let e = explain(&d);
    assert_eq!(
        e.summary,
        "ALLOWED WITH WARNINGS: No path restriction declared on this task, but default path mode \
         is 'review_required'. This task needs human review."
    );
    assert_eq!(
        e.key_rules_applied,
        [
            "path.unrestricted_writes_review",
            "branch.no_prefix_set",
            "validation.recommended_unavailable"
        ]
    );
    assert_eq!(e.review_reasoning, "Autonomous execution permitted by policy");
}

#[test]
fn explain_allow() {
    let engine = engine_with(|_| {});
    let p = proposal("bug_fix", "low", &[], &["src/a.rs"]);
    let d = engine.evaluate(&p, &local(), None);
    let e = explain(&d);
    assert_eq!(e.summary, "ALLOWED: no policy restrictions apply");
    assert!(e.key_rules_applied.is_empty());
    assert_eq!(e.review_reasoning, "Autonomous execution permitted by policy");
    assert_eq!(e.validation_reasoning, "Validation profile 'standard'");
    assert_eq!(e.scope_reasoning, "Effective scope: ['src/a.rs']");
    assert_eq!(e.routing_reasoning, "Routing selection is compatible with policy");
}

#[test]
fn explain_fallbacks_without_matching_findings() {
    let engine = engine_with(|p| p.review_requirement.autonomous_allowed = false);
    let mut d = engine.evaluate(&plain(), &local(), None);
    d.violations.clear();
    d.status = PolicyStatus::Block;
    assert_eq!(explain(&d).summary, "BLOCKED by policy");
    assert_eq!(explain(&d).review_reasoning, "Review required");
    d.status = PolicyStatus::RequireReview;
    assert_eq!(explain(&d).summary, "REVIEW REQUIRED by policy");
    d.status = PolicyStatus::AllowWithWarnings;
    assert_eq!(explain(&d).summary, "ALLOWED WITH WARNINGS");
}

/// An engine loaded the way a configuration file is: `policy` layered over the defaults.
fn layered(edit: impl FnOnce(&mut RepoPolicy)) -> PolicyEngine {
    let mut policy = RepoPolicy::new("demo");
    edit(&mut policy);
    let mut config = default_policy_config();
    crate::policy::apply_layer(&mut config, Some(vec![policy]), None);
    PolicyEngine::new(config)
}

fn changed(engine: &PolicyEngine, task_type: &str, paths: &[&str]) -> PolicyDecision {
    let paths: Vec<String> = paths.iter().map(|s| s.to_string()).collect();
    engine.evaluate_changed_paths(&proposal(task_type, "low", &[], &[]), &paths)
}

#[test]
fn a_small_repository_policy_keeps_the_default_protections() {
    // The reproduction: one `[[policy.repo_policies]]` entry with only
    // blocked_task_types made .ssh/id_rsa ALLOW.
    let engine = layered(|p| p.blocked_task_types = vec!["documentation".into()]);
    let d = changed(&engine, "bug_fix", &[".ssh/id_rsa"]);
    assert_eq!(d.status, PolicyStatus::Block);
    assert_eq!(d.violations[0].rule_id, "path.blocked");
    let d = changed(&engine, "bug_fix", &[".github/workflows/ci.yml"]);
    assert_eq!(d.status, PolicyStatus::RequireReview);
    // Review and validation requirements are inherited too.
    let d = engine.evaluate(&proposal("feature", "low", &[], &[]), &local(), None);
    assert!(d.violations.iter().any(|v| v.rule_id == "review.required"), "{d:?}");
    let high = engine.evaluate(&proposal("bug_fix", "high", &[], &[]), &local(), None);
    assert!(
        high.violations
            .iter()
            .any(|v| v.rule_id == "validation.required_unavailable"),
        "{high:?}"
    );
    assert_eq!(high.effective_validation_profile, "strict");
    // The repository's own settings still apply.
    let docs = engine.evaluate(&proposal("documentation", "low", &[], &[]), &local(), None);
    assert_eq!(docs.violations[0].rule_id, "task_type.blocked");
}

#[test]
fn an_own_allow_rule_cannot_open_an_inherited_block() {
    let engine = layered(|p| p.path_policy.rules = vec![PathScopeRule::new("**", "allow", "")]);
    assert_eq!(
        changed(&engine, "bug_fix", &["home/.ssh/id_rsa"]).status,
        PolicyStatus::Block
    );
    assert_eq!(
        changed(&engine, "bug_fix", &["src/main.rs"]).status,
        PolicyStatus::Allow
    );
    // The stricter own rule wins over a milder inherited one.
    let engine = layered(|p| p.path_policy.rules = vec![PathScopeRule::new("**/migrations/**", "block", "")]);
    let d = changed(&engine, "bug_fix", &["db/migrations/1.sql"]);
    assert_eq!(d.status, PolicyStatus::Block);
    assert!(d.violations[0].message.contains("'**/migrations/**'"));
}

#[test]
fn replacing_the_defaults_is_explicit() {
    let engine = layered(|p| {
        p.replace_defaults = true;
        p.blocked_task_types = vec!["documentation".into()];
    });
    assert_eq!(
        changed(&engine, "bug_fix", &[".ssh/id_rsa"]).status,
        PolicyStatus::Allow
    );
    let d = engine.evaluate(&proposal("feature", "low", &[], &[]), &local(), None);
    assert_eq!(d.status, PolicyStatus::Allow, "{d:?}");
}

#[test]
fn own_validation_requirements_come_before_inherited_ones() {
    let engine = layered(|p| {
        p.validation_requirements = vec![ValidationRequirement {
            applies_to_task_types: vec!["documentation".into()],
            required_profile: "docs".into(),
            ..ValidationRequirement::default()
        }]
    });
    let docs = engine.evaluate(&proposal("documentation", "high", &[], &[]), &local(), None);
    assert_eq!(docs.effective_validation_profile, "docs");
    let fix = engine.evaluate(&proposal("bug_fix", "high", &[], &[]), &local(), None);
    assert_eq!(fix.effective_validation_profile, "strict");
}

#[test]
fn inherited_review_requirements_add_up() {
    let engine = layered(|p| {
        p.review_requirement = ReviewRequirement {
            require_review_for_task_types: vec!["dependency_update".into()],
            ..ReviewRequirement::default()
        }
    });
    for task_type in ["dependency_update", "feature", "refactor"] {
        let d = engine.evaluate(&proposal(task_type, "low", &[], &[]), &local(), None);
        assert_eq!(d.status, PolicyStatus::RequireReview, "{task_type}");
    }
    let engine = layered(|p| p.review_requirement.autonomous_allowed = false);
    let d = engine.evaluate(&plain(), &local(), None);
    assert_eq!(d.effective_review_requirement, "required");
}

#[test]
fn ignore_case_matches_paths_as_a_case_insensitive_file_system_would() {
    let sensitive = PolicyEngine::from_defaults();
    let folded = PolicyEngine::from_defaults().ignore_case(true);
    assert_eq!(
        changed(&sensitive, "bug_fix", &[".SSH/id_rsa"]).status,
        PolicyStatus::Allow
    );
    let d = changed(&folded, "bug_fix", &[".SSH/id_rsa"]);
    assert_eq!(d.status, PolicyStatus::Block);
    assert_eq!(d.violations[0].related_path.as_deref(), Some(".SSH/id_rsa"));
    assert_eq!(
        changed(&folded, "bug_fix", &[".GitHub/Workflows/x.yml"]).status,
        PolicyStatus::RequireReview
    );
    assert!(folded.path_matches("SRC/**", "src/a.rs"));
    assert!(!sensitive.path_matches("SRC/**", "src/a.rs"));
    assert_ne!(
        sensitive.digest(),
        folded.digest(),
        "the case mode is part of the digest"
    );
}

#[test]
fn spelled_differently_block_patterns_still_block() {
    for pattern in ["./secret/**", "secret//**", "secret/./**"] {
        let engine = layered(|p| p.path_policy.rules = vec![PathScopeRule::new(pattern, "block", "")]);
        let d = changed(&engine, "bug_fix", &["secret/key.pem"]);
        assert_eq!(d.status, PolicyStatus::Block, "{pattern}");
        assert!(d.violations[0].message.contains("'secret/**'"), "{pattern}: {d:?}");
    }
}

#[test]
fn no_message_speaks_python() {
    let engine = engine_with(|p| p.branch_guardrail.require_pr = true);
    let d = engine.evaluate(&plain(), &local(), None);
    for text in d
        .violations
        .iter()
        .map(|v| &v.message)
        .chain(d.warnings.iter().map(|w| &w.message))
    {
        assert!(
            !text.contains("False") && !text.contains("True") && !text.contains("None"),
            "{text}"
        );
    }
    assert!(d.violations.iter().any(|v| v.rule_id == "branch.pr_required"));
}
