//! Configuration checks (the reference's `validate_config`).
//!
//! The engine silently ignores values it does not know (an access mode of `blok` simply never
//! blocks), so a configuration must pass these checks before it is trusted to gate a run.

use std::collections::HashSet;

use super::model::{PolicyConfig, RepoPolicy};
use super::repr::py_repr_str;

const ACCESS_MODES: &[&str] = &["allow", "read_only", "block", "review_required"];
const NETWORK_MODES: &[&str] = &["allowed", "local_only", "blocked"];
const DEFAULT_MODES: &[&str] = &["allow", "block", "review_required"];
const RISK_LEVELS: &[&str] = &["low", "medium", "high"];
const RISK_PROFILES: &[&str] = &["standard", "elevated", "critical"];

/// Every problem in `config`, in the reference's order; empty when the configuration is valid.
/// Each message starts with the policy it concerns (`default_policy` or
/// `repo_policies[i] (repo_key='…')`).
pub fn validate_config(config: &PolicyConfig) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(policy) = &config.default_policy {
        check_policy(&mut errors, "default_policy", policy);
    }
    for (i, policy) in config.repo_policies.iter().enumerate() {
        let context = format!("repo_policies[{i}] (repo_key={})", py_repr_str(&policy.repo_key));
        check_policy(&mut errors, &context, policy);
    }
    let mut seen = HashSet::new();
    for policy in &config.repo_policies {
        if !seen.insert(policy.repo_key.as_str()) {
            errors.push(format!(
                "Duplicate repo_key {} in repo_policies — only the first match is used",
                py_repr_str(&policy.repo_key)
            ));
        }
    }
    errors
}

fn check_policy(errors: &mut Vec<String>, context: &str, policy: &RepoPolicy) {
    let mut err = |message: String| errors.push(format!("{context}: {message}"));

    if policy.repo_key.is_empty() {
        err("repo_key must not be empty".into());
    }
    if let Some(message) = check_value("risk_profile", &policy.risk_profile, RISK_PROFILES) {
        err(message);
    }

    let path_policy = &policy.path_policy;
    if let Some(message) = check_value("path_policy.default_mode", &path_policy.default_mode, DEFAULT_MODES) {
        err(message);
    }
    for (j, rule) in path_policy.rules.iter().enumerate() {
        let field = format!("path_policy.rules[{j}].access_mode");
        if let Some(message) = check_value(&field, &rule.access_mode, ACCESS_MODES) {
            err(message);
        }
        if rule.path_pattern.trim().is_empty() {
            err(format!("path_policy.rules[{j}].path_pattern must not be empty"));
        } else if let Some(problem) = pattern_problem(&rule.path_pattern) {
            err(format!(
                "path_policy.rules[{j}].path_pattern {} {problem}",
                py_repr_str(&rule.path_pattern)
            ));
        }
    }

    if let Some(message) = check_value(
        "tool_guardrail.network_mode",
        &policy.tool_guardrail.network_mode,
        NETWORK_MODES,
    ) {
        err(message);
    }

    for (j, req) in policy.validation_requirements.iter().enumerate() {
        let field = format!("validation_requirements[{j}].applies_to_risk_levels");
        for level in &req.applies_to_risk_levels {
            if let Some(message) = check_value(&field, level, RISK_LEVELS) {
                err(message);
            }
        }
        if req.required_profile.is_empty() {
            err(format!(
                "validation_requirements[{j}].required_profile must not be empty"
            ));
        }
    }
    for level in &policy.review_requirement.require_review_for_risk_levels {
        if let Some(message) = check_value("review_requirement.require_review_for_risk_levels", level, RISK_LEVELS) {
            err(message);
        }
    }

    if policy.branch_guardrail.allow_direct_commit && policy.branch_guardrail.require_branch {
        err(
            "branch_guardrail.allow_direct_commit and branch_guardrail.require_branch are both \
             true (contradiction: a direct commit is not made on a task branch)"
                .into(),
        );
    }
    if policy.review_requirement.blocked_without_human && policy.review_requirement.autonomous_allowed {
        err(
            "review_requirement.blocked_without_human and review_requirement.autonomous_allowed \
             are both true (contradiction: autonomous execution cannot be allowed and blocked)"
                .into(),
        );
    }
    if !policy.enabled && !policy.allowed_task_types.is_empty() {
        err(
            "enabled is false but allowed_task_types is set (a disabled repo allows no task \
             type)"
                .into(),
        );
    }

    // Beyond the reference: values the engine compares exactly and would silently never match.
    let task_type_lists = [
        ("allowed_task_types".to_owned(), &policy.allowed_task_types),
        ("blocked_task_types".to_owned(), &policy.blocked_task_types),
        (
            "review_requirement.require_review_for_task_types".to_owned(),
            &policy.review_requirement.require_review_for_task_types,
        ),
    ];
    let rule_lists = path_policy.rules.iter().enumerate().map(|(j, r)| {
        (
            format!("path_policy.rules[{j}].applies_to_task_types"),
            &r.applies_to_task_types,
        )
    });
    let requirement_lists = policy.validation_requirements.iter().enumerate().map(|(j, r)| {
        (
            format!("validation_requirements[{j}].applies_to_task_types"),
            &r.applies_to_task_types,
        )
    });
    for (field, list) in task_type_lists.into_iter().chain(rule_lists).chain(requirement_lists) {
        for task_type in list {
            if let Some(message) = check_value(&field, task_type, &task_types()) {
                err(message);
            }
        }
    }
    for branch in &policy.branch_guardrail.allowed_base_branches {
        if let Some(problem) = base_branch_problem(branch) {
            err(format!(
                "branch_guardrail.allowed_base_branches entry {} can never match a base branch: {problem}",
                py_repr_str(branch)
            ));
        }
    }
}

fn task_types() -> Vec<&'static str> {
    crate::contracts::TaskType::ALL.iter().map(|t| t.as_str()).collect()
}

/// Why a path pattern would never match what its author meant, if it would not.
fn pattern_problem(pattern: &str) -> Option<String> {
    if pattern.split('/').any(|c| c == "..") {
        return Some("contains '..'; write the repository path it means (paths never leave the repository)".into());
    }
    if pattern.starts_with('!') {
        return Some(
            "starts with '!': negation is not supported; put an allow rule before the broader rule instead".into(),
        );
    }
    match super::pattern::normalize_pattern(pattern) {
        Some(p) if p.trim_matches('/').trim().is_empty() => Some("names no path and matches nothing".into()),
        _ => None,
    }
}

/// Why `branch` can never equal a proposal's base branch (a short branch name such as `main`).
fn base_branch_problem(branch: &str) -> Option<&'static str> {
    if branch.trim().is_empty() {
        return Some("it is empty");
    }
    if branch.starts_with("refs/") {
        return Some("base branches are short names (main), not full ref names (refs/heads/main)");
    }
    if branch.contains(['*', '?', '[']) {
        return Some("entries are exact branch names, not patterns");
    }
    if gix::refs::FullName::try_from(format!("refs/heads/{branch}")).is_err() || branch.starts_with('-') {
        return Some("it is not a valid branch name");
    }
    None
}

/// `None` when `value` is one of `allowed`, else the error naming the field and the value.
fn check_value(field: &str, value: &str, allowed: &[&str]) -> Option<String> {
    if allowed.contains(&value) {
        None
    } else {
        Some(format!(
            "invalid {field} {} (expected one of: {})",
            py_repr_str(value),
            allowed.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::model::{PathScopeRule, ValidationRequirement, default_policy_config, default_repo_policy};

    fn config_of(policy: RepoPolicy) -> PolicyConfig {
        PolicyConfig {
            repo_policies: vec![policy],
            default_policy: None,
        }
    }

    #[test]
    fn the_default_config_is_valid() {
        assert_eq!(validate_config(&default_policy_config()), Vec::<String>::new());
        assert_eq!(validate_config(&PolicyConfig::default()), Vec::<String>::new());
    }

    #[test]
    fn the_reference_demo_policy_fails_with_two_errors() {
        let mut demo = RepoPolicy::new("demo");
        demo.risk_profile = "demo".into();
        demo.branch_guardrail.allow_direct_commit = true;
        demo.branch_guardrail.require_branch = true;
        demo.branch_guardrail.branch_name_pattern = String::new();
        let config = PolicyConfig {
            repo_policies: vec![demo],
            default_policy: Some(default_repo_policy()),
        };
        let errors = validate_config(&config);
        assert_eq!(
            errors,
            [
                "repo_policies[0] (repo_key='demo'): invalid risk_profile 'demo' (expected one \
                 of: standard, elevated, critical)",
                "repo_policies[0] (repo_key='demo'): branch_guardrail.allow_direct_commit and \
                 branch_guardrail.require_branch are both true (contradiction: a direct commit \
                 is not made on a task branch)",
            ]
        );
    }

    #[test]
    fn empty_repo_key() {
        let errors = validate_config(&config_of(RepoPolicy::new("")));
        assert_eq!(errors, ["repo_policies[0] (repo_key=''): repo_key must not be empty"]);
    }

    #[test]
    fn invalid_path_modes_and_empty_pattern() {
        let mut policy = RepoPolicy::new("r");
        policy.path_policy.default_mode = "read_only".into();
        policy.path_policy.rules = vec![PathScopeRule::new("a", "allow", ""), PathScopeRule::new("", "blok", "")];
        assert_eq!(
            validate_config(&config_of(policy)),
            [
                "repo_policies[0] (repo_key='r'): invalid path_policy.default_mode 'read_only' \
                 (expected one of: allow, block, review_required)",
                "repo_policies[0] (repo_key='r'): invalid path_policy.rules[1].access_mode 'blok' \
                 (expected one of: allow, read_only, block, review_required)",
                "repo_policies[0] (repo_key='r'): path_policy.rules[1].path_pattern must not be \
                 empty",
            ]
        );
    }

    #[test]
    fn invalid_network_mode() {
        let mut policy = RepoPolicy::new("r");
        policy.tool_guardrail.network_mode = "offline".into();
        assert_eq!(
            validate_config(&config_of(policy)),
            [
                "repo_policies[0] (repo_key='r'): invalid tool_guardrail.network_mode 'offline' \
                 (expected one of: allowed, local_only, blocked)"
            ]
        );
    }

    #[test]
    fn invalid_risk_levels_and_empty_profile() {
        let mut policy = RepoPolicy::new("r");
        policy.validation_requirements = vec![ValidationRequirement {
            applies_to_risk_levels: vec!["low".into(), "HIGH".into()],
            required_profile: String::new(),
            ..ValidationRequirement::default()
        }];
        policy.review_requirement.require_review_for_risk_levels = vec!["critical".into()];
        assert_eq!(
            validate_config(&config_of(policy)),
            [
                "repo_policies[0] (repo_key='r'): invalid \
                 validation_requirements[0].applies_to_risk_levels 'HIGH' (expected one of: low, \
                 medium, high)",
                "repo_policies[0] (repo_key='r'): validation_requirements[0].required_profile \
                 must not be empty",
                "repo_policies[0] (repo_key='r'): invalid \
                 review_requirement.require_review_for_risk_levels 'critical' (expected one of: \
                 low, medium, high)",
            ]
        );
    }

    #[test]
    fn review_contradiction() {
        let mut policy = RepoPolicy::new("r");
        policy.review_requirement.blocked_without_human = true;
        let errors = validate_config(&config_of(policy.clone()));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with(
                "repo_policies[0] (repo_key='r'): review_requirement.blocked_without_human and \
                 review_requirement.autonomous_allowed are both true"
            ),
            "{errors:?}"
        );
        policy.review_requirement.autonomous_allowed = false;
        assert!(validate_config(&config_of(policy)).is_empty());
    }

    #[test]
    fn disabled_with_allowlist() {
        let mut policy = RepoPolicy::new("r");
        policy.enabled = false;
        assert!(validate_config(&config_of(policy.clone())).is_empty());
        policy.allowed_task_types = vec!["bug_fix".into()];
        let errors = validate_config(&config_of(policy));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("repo_policies[0] (repo_key='r'): enabled is false but allowed_task_types is set"),
            "{errors:?}"
        );
    }

    #[test]
    fn duplicate_keys_are_reported_after_the_per_policy_errors() {
        let mut bad_default = RepoPolicy::new("*");
        bad_default.risk_profile = "x".into();
        let config = PolicyConfig {
            repo_policies: vec![
                RepoPolicy::new("r"),
                RepoPolicy::new("it's"),
                RepoPolicy::new("r"),
                RepoPolicy::new("it's"),
            ],
            default_policy: Some(bad_default),
        };
        assert_eq!(
            validate_config(&config),
            [
                "default_policy: invalid risk_profile 'x' (expected one of: standard, elevated, \
                 critical)",
                "Duplicate repo_key 'r' in repo_policies — only the first match is used",
                "Duplicate repo_key \"it's\" in repo_policies — only the first match is used",
            ]
        );
    }

    #[test]
    fn errors_keep_the_reference_order_within_a_policy() {
        let mut policy = RepoPolicy::new("");
        policy.enabled = false;
        policy.allowed_task_types = vec!["bug_fix".into()];
        policy.review_requirement.blocked_without_human = true;
        policy.branch_guardrail.allow_direct_commit = true;
        policy.validation_requirements = vec![ValidationRequirement {
            required_profile: String::new(),
            ..ValidationRequirement::default()
        }];
        policy.tool_guardrail.network_mode = "x".into();
        policy.path_policy.default_mode = "x".into();
        policy.risk_profile = "x".into();
        let errors = validate_config(&config_of(policy));
        let kinds: Vec<&str> = errors
            .iter()
            .map(|e| {
                let rest = e.split_once(": ").map_or(e.as_str(), |(_, rest)| rest);
                rest.split(' ').next().unwrap_or("")
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "repo_key",
                "invalid",
                "invalid",
                "invalid",
                "validation_requirements[0].required_profile",
                "branch_guardrail.allow_direct_commit",
                "review_requirement.blocked_without_human",
                "enabled",
            ]
        );
        assert!(errors[1].contains("risk_profile"));
        assert!(errors[2].contains("default_mode"));
        assert!(errors[3].contains("network_mode"));
    }

    #[test]
    fn unknown_task_types_are_errors() {
        let mut policy = RepoPolicy::new("r");
        policy.blocked_task_types = vec!["dependency_updat".into()];
        policy.allowed_task_types = vec!["bug_fix".into(), "featur".into()];
        policy.review_requirement.require_review_for_task_types = vec!["Feature".into()];
        policy.path_policy.rules = vec![PathScopeRule {
            applies_to_task_types: vec!["lint".into()],
            ..PathScopeRule::new("a", "allow", "")
        }];
        policy.validation_requirements = vec![ValidationRequirement {
            applies_to_task_types: vec!["tests".into()],
            ..ValidationRequirement::default()
        }];
        let errors = validate_config(&config_of(policy));
        let fields: Vec<&str> = errors.iter().map(|e| e.split(' ').nth(3).unwrap_or("")).collect();
        assert_eq!(
            fields,
            [
                "allowed_task_types",
                "blocked_task_types",
                "review_requirement.require_review_for_task_types",
                "path_policy.rules[0].applies_to_task_types",
                "validation_requirements[0].applies_to_task_types",
            ],
            "{errors:#?}"
        );
        assert!(
            errors[1].contains("'dependency_updat' (expected one of: lint_fix, bug_fix,"),
            "{}",
            errors[1]
        );
    }

    #[test]
    fn patterns_that_would_never_match_are_errors() {
        let mut policy = RepoPolicy::new("r");
        policy.path_policy.rules = ["x/../secret/**", "../x", "!keep/**", "   ", "./", "./secret/**"]
            .iter()
            .map(|p| PathScopeRule::new(p, "block", ""))
            .collect();
        let errors = validate_config(&config_of(policy));
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(errors[0].contains("rules[0].path_pattern 'x/../secret/**' contains '..'"));
        assert!(errors[1].contains("rules[1].path_pattern '../x' contains '..'"));
        assert!(errors[2].contains("rules[2].path_pattern '!keep/**' starts with '!'"));
        assert!(errors[3].contains("rules[3].path_pattern must not be empty"));
        assert!(errors[4].contains("rules[4].path_pattern './' names no path"));
    }

    #[test]
    fn base_branches_that_can_never_match_are_errors() {
        let mut policy = RepoPolicy::new("r");
        policy.branch_guardrail.allowed_base_branches =
            ["main", "refs/heads/main", "release/*", "", "bad..name", "feature/x"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let errors = validate_config(&config_of(policy));
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert!(errors[0].contains("'refs/heads/main' can never match a base branch: base branches are short"));
        assert!(errors[1].contains("'release/*' can never match a base branch: entries are exact"));
        assert!(errors[2].contains("'' can never match a base branch: it is empty"));
        assert!(errors[3].contains("'bad..name' can never match a base branch: it is not a valid"));
    }
}
