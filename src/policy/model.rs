//! Policy configuration: the reference's dataclasses as serde types.
//!
//! Mode and risk fields stay plain strings, as in the reference, so that a configuration with
//! a bad value still loads and `validate_config` can name the field and the value.
//! Unknown fields are rejected so that a misspelt key in a policy file is an error rather than
//! a silently ignored restriction.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// One path rule. The first rule that matches a path decides its access mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathScopeRule {
    /// A gitignore-style pattern (see [`super::path_matches`]).
    pub path_pattern: String,
    /// `allow`, `read_only`, `block` or `review_required`.
    pub access_mode: String,
    #[serde(default)]
    pub notes: String,
    /// Empty means the rule applies to every task type.
    #[serde(default)]
    pub applies_to_task_types: Vec<String>,
}

impl PathScopeRule {
    /// A rule for all task types.
    pub fn new(path_pattern: &str, access_mode: &str, notes: &str) -> Self {
        PathScopeRule {
            path_pattern: path_pattern.to_owned(),
            access_mode: access_mode.to_owned(),
            notes: notes.to_owned(),
            applies_to_task_types: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathPolicy {
    /// Tried in order; the first match wins.
    pub rules: Vec<PathScopeRule>,
    /// For paths no rule matches: `allow`, `block` or `review_required`.
    pub default_mode: String,
}

impl Default for PathPolicy {
    fn default() -> Self {
        PathPolicy {
            rules: Vec::new(),
            default_mode: "allow".into(),
        }
    }
}

/// Branch rules. `require_branch` and `branch_name_pattern` only carry data (the reference never
/// evaluates them); `validate_config` checks `require_branch` against `allow_direct_commit`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BranchGuardrail {
    pub allow_direct_commit: bool,
    pub require_branch: bool,
    pub branch_name_pattern: String,
    pub require_pr: bool,
    /// Empty means any base branch.
    pub allowed_base_branches: Vec<String>,
    pub notes: String,
}

impl Default for BranchGuardrail {
    fn default() -> Self {
        BranchGuardrail {
            allow_direct_commit: false,
            require_branch: true,
            branch_name_pattern: "auto/*".into(),
            require_pr: false,
            allowed_base_branches: Vec::new(),
            notes: String::new(),
        }
    }
}

/// Tool rules. `blocked_tool_classes` only carries data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolGuardrail {
    /// `allowed`, `local_only` or `blocked`.
    pub network_mode: String,
    pub blocked_tool_classes: Vec<String>,
    pub allow_destructive_actions: bool,
    pub notes: String,
}

impl Default for ToolGuardrail {
    fn default() -> Self {
        ToolGuardrail {
            network_mode: "allowed".into(),
            blocked_tool_classes: Vec::new(),
            allow_destructive_actions: false,
            notes: String::new(),
        }
    }
}

/// Which validation profile a task needs. Only the first requirement that applies is used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationRequirement {
    /// Empty means every risk level.
    pub applies_to_risk_levels: Vec<String>,
    /// Empty means every task type.
    pub applies_to_task_types: Vec<String>,
    pub required_profile: String,
    /// Only carries data; the engine never evaluates it.
    pub must_pass: bool,
    pub block_if_unavailable: bool,
}

impl Default for ValidationRequirement {
    fn default() -> Self {
        ValidationRequirement {
            applies_to_risk_levels: Vec::new(),
            applies_to_task_types: Vec::new(),
            required_profile: "standard".into(),
            must_pass: true,
            block_if_unavailable: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewRequirement {
    pub autonomous_allowed: bool,
    pub require_review_for_risk_levels: Vec<String>,
    pub require_review_for_task_types: Vec<String>,
    pub blocked_without_human: bool,
    pub notes: String,
}

impl Default for ReviewRequirement {
    fn default() -> Self {
        ReviewRequirement {
            autonomous_allowed: true,
            require_review_for_risk_levels: Vec::new(),
            require_review_for_task_types: Vec::new(),
            blocked_without_human: false,
            notes: String::new(),
        }
    }
}

/// The policy for one repository (`repo_key` `"*"` is the catch-all).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoPolicy {
    pub repo_key: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// `standard`, `elevated` or `critical`. Only carries data.
    #[serde(default = "default_risk_profile")]
    pub risk_profile: String,
    #[serde(default)]
    pub path_policy: PathPolicy,
    #[serde(default)]
    pub branch_guardrail: BranchGuardrail,
    #[serde(default)]
    pub tool_guardrail: ToolGuardrail,
    #[serde(default)]
    pub validation_requirements: Vec<ValidationRequirement>,
    #[serde(default)]
    pub review_requirement: ReviewRequirement,
    /// Empty means every task type is allowed.
    #[serde(default)]
    pub allowed_task_types: Vec<String>,
    #[serde(default)]
    pub blocked_task_types: Vec<String>,
    /// A repository policy from a configuration file adds to the policy below it (the configured
    /// `default_policy`, else the built-in default): its path rules, review and validation
    /// requirements keep applying. `true` drops them, and must be written explicitly.
    #[serde(default, skip_serializing_if = "is_false")]
    pub replace_defaults: bool,
    /// The policy this one adds to, linked when the configuration is loaded (see
    /// [`super::layering`]); never read from a file.
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub inherits: Option<Box<RepoPolicy>>,
}

fn default_true() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn default_risk_profile() -> String {
    "standard".into()
}

impl RepoPolicy {
    /// A policy for `repo_key` with every other field at the reference's default.
    pub fn new(repo_key: &str) -> Self {
        RepoPolicy {
            repo_key: repo_key.to_owned(),
            enabled: true,
            risk_profile: default_risk_profile(),
            path_policy: PathPolicy::default(),
            branch_guardrail: BranchGuardrail::default(),
            tool_guardrail: ToolGuardrail::default(),
            validation_requirements: Vec::new(),
            review_requirement: ReviewRequirement::default(),
            allowed_task_types: Vec::new(),
            blocked_task_types: Vec::new(),
            replace_defaults: false,
            inherits: None,
        }
    }

    /// This policy and the policies it inherits from, nearest first.
    pub fn layers(&self) -> impl Iterator<Item = &RepoPolicy> {
        std::iter::successors(Some(self), |p| p.inherits.as_deref())
    }
}

/// All repository policies, plus an optional fallback.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    pub repo_policies: Vec<RepoPolicy>,
    pub default_policy: Option<RepoPolicy>,
}

static BUILTIN_DEFAULT_REPO_POLICY: LazyLock<RepoPolicy> = LazyLock::new(default_repo_policy);

impl PolicyConfig {
    /// The policy for `repo_key`: the first exact match, else the first `"*"` policy, else
    /// `default_policy`, else the built-in default. Some policy always applies, so an
    /// unconfigured repository is never left ungated.
    pub fn get_repo_policy(&self, repo_key: &str) -> &RepoPolicy {
        self.repo_policies
            .iter()
            .find(|p| p.repo_key == repo_key)
            .or_else(|| self.repo_policies.iter().find(|p| p.repo_key == "*"))
            .or(self.default_policy.as_ref())
            .unwrap_or(&BUILTIN_DEFAULT_REPO_POLICY)
    }
}

/// The reference's `DEFAULT_REPO_POLICY`: credentials blocked; secrets, CI, container and
/// migration files need review; validation scaled by risk; review for high risk, features and
/// refactors.
pub fn default_repo_policy() -> RepoPolicy {
    let rule = PathScopeRule::new;
    let rules = vec![
        rule("**/.ssh/**", "block", "SSH keys must never be written by automation"),
        rule(
            "**/.gnupg/**",
            "block",
            "GPG keyrings must never be written by automation",
        ),
        rule("*.env", "review_required", "Environment files may hold secrets"),
        rule(".env*", "review_required", "Environment files may hold secrets"),
        rule(
            "config/secrets*",
            "review_required",
            "Secret configuration needs a human reviewer",
        ),
        rule(
            "**/secrets/**",
            "review_required",
            "Secret material needs a human reviewer",
        ),
        rule(
            "docker-compose.yml",
            "review_required",
            "Container orchestration changes affect deployments",
        ),
        rule(
            "docker-compose*.yml",
            "review_required",
            "Container orchestration changes affect deployments",
        ),
        rule(
            ".github/workflows/**",
            "review_required",
            "CI workflows run with repository credentials",
        ),
        rule(
            "Dockerfile*",
            "review_required",
            "Container image changes affect builds and deployments",
        ),
        rule(
            "**/migrations/**",
            "review_required",
            "Database migrations change persistent data",
        ),
        // Not in the reference: what decides the commands later runs execute. A change here
        // by an agent would run its commands in every run (and every worker) after it lands.
        rule(
            ".oc/**",
            "review_required",
            "git-oc's configuration chooses the agents, validation commands and policy of later runs",
        ),
        rule(
            ".gitlab-ci.yml",
            "review_required",
            "CI pipelines run with repository credentials",
        ),
    ];
    let requirement = |risk: &str, profile: &str, must_pass: bool, block: bool| ValidationRequirement {
        applies_to_risk_levels: vec![risk.to_owned()],
        applies_to_task_types: Vec::new(),
        required_profile: profile.to_owned(),
        must_pass,
        block_if_unavailable: block,
    };
    RepoPolicy {
        path_policy: PathPolicy {
            rules,
            default_mode: "allow".into(),
        },
        validation_requirements: vec![
            requirement("high", "strict", true, true),
            requirement("medium", "standard", true, false),
            requirement("low", "standard", false, false),
        ],
        review_requirement: ReviewRequirement {
            autonomous_allowed: true,
            require_review_for_risk_levels: vec!["high".into()],
            require_review_for_task_types: vec!["feature".into(), "refactor".into()],
            blocked_without_human: false,
            notes: String::new(),
        },
        ..RepoPolicy::new("*")
    }
}

/// The reference's `DEFAULT_POLICY_CONFIG`: the default policy as the only repo policy and as
/// the fallback.
pub fn default_policy_config() -> PolicyConfig {
    PolicyConfig {
        repo_policies: vec![default_repo_policy()],
        default_policy: Some(default_repo_policy()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_policy_round_trips_through_json() {
        let policy = default_repo_policy();
        let json = serde_json::to_string(&policy).unwrap();
        let back: RepoPolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back, policy);
    }

    #[test]
    fn policy_config_round_trips_through_json() {
        let config = default_policy_config();
        let json = serde_json::to_string(&config).unwrap();
        let back: PolicyConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn missing_fields_take_the_reference_defaults() {
        let policy: RepoPolicy = serde_json::from_str(r#"{"repo_key": "r"}"#).unwrap();
        assert_eq!(policy, RepoPolicy::new("r"));
        assert!(policy.enabled);
        assert_eq!(policy.risk_profile, "standard");
        assert_eq!(policy.path_policy.default_mode, "allow");
        assert_eq!(policy.branch_guardrail.branch_name_pattern, "auto/*");
        assert!(policy.branch_guardrail.require_branch);
        assert_eq!(policy.tool_guardrail.network_mode, "allowed");
        assert!(policy.review_requirement.autonomous_allowed);
        let req: ValidationRequirement = serde_json::from_str("{}").unwrap();
        assert_eq!(req.required_profile, "standard");
        assert!(req.must_pass);
        assert!(!req.block_if_unavailable);
    }

    #[test]
    fn repo_key_is_required() {
        let err = serde_json::from_str::<RepoPolicy>("{}").unwrap_err();
        assert!(err.to_string().contains("repo_key"), "{err}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<RepoPolicy>(r#"{"repo_key": "r", "enabeld": false}"#).unwrap_err();
        assert!(err.to_string().contains("enabeld"), "{err}");
        let nested = r#"{"repo_key": "r", "tool_guardrail": {"network": "blocked"}}"#;
        assert!(serde_json::from_str::<RepoPolicy>(nested).is_err());
        let rule = r#"{"path_pattern": "a", "access_mode": "block", "mode": "x"}"#;
        assert!(serde_json::from_str::<PathScopeRule>(rule).is_err());
        assert!(serde_json::from_str::<PolicyConfig>(r#"{"policies": []}"#).is_err());
        // The inheritance link is made by git-oc, never read from a file.
        let inherits = r#"{"repo_key": "r", "inherits": {"repo_key": "x"}}"#;
        assert!(serde_json::from_str::<RepoPolicy>(inherits).is_err());
        let replace: RepoPolicy = serde_json::from_str(r#"{"repo_key": "r", "replace_defaults": true}"#).unwrap();
        assert!(replace.replace_defaults);
    }

    #[test]
    fn default_repo_policy_has_the_reference_rules_in_order() {
        let policy = default_repo_policy();
        let rules: Vec<(&str, &str)> = policy
            .path_policy
            .rules
            .iter()
            .map(|r| (r.path_pattern.as_str(), r.access_mode.as_str()))
            .collect();
        assert_eq!(
            rules,
            [
                ("**/.ssh/**", "block"),
                ("**/.gnupg/**", "block"),
                ("*.env", "review_required"),
                (".env*", "review_required"),
                ("config/secrets*", "review_required"),
                ("**/secrets/**", "review_required"),
                ("docker-compose.yml", "review_required"),
                ("docker-compose*.yml", "review_required"),
                (".github/workflows/**", "review_required"),
                ("Dockerfile*", "review_required"),
                ("**/migrations/**", "review_required"),
                (".oc/**", "review_required"),
                (".gitlab-ci.yml", "review_required"),
            ]
        );
        assert!(policy.path_policy.rules.iter().all(|r| !r.notes.is_empty()));
        assert!(
            policy
                .path_policy
                .rules
                .iter()
                .all(|r| r.applies_to_task_types.is_empty())
        );
        assert_eq!(policy.repo_key, "*");
        let profiles: Vec<(&str, bool, bool)> = policy
            .validation_requirements
            .iter()
            .map(|r| (r.required_profile.as_str(), r.must_pass, r.block_if_unavailable))
            .collect();
        assert_eq!(
            profiles,
            [
                ("strict", true, true),
                ("standard", true, false),
                ("standard", false, false)
            ]
        );
    }

    #[test]
    fn lookup_order_is_exact_then_star_then_default_then_builtin() {
        let mut exact = RepoPolicy::new("repo");
        exact.risk_profile = "critical".into();
        let mut star = RepoPolicy::new("*");
        star.risk_profile = "elevated".into();
        let mut fallback = RepoPolicy::new("fallback");
        fallback.enabled = false;

        let config = PolicyConfig {
            repo_policies: vec![star.clone(), exact.clone()],
            default_policy: Some(fallback.clone()),
        };
        assert_eq!(config.get_repo_policy("repo"), &exact);
        assert_eq!(config.get_repo_policy("other"), &star);

        let config = PolicyConfig {
            repo_policies: vec![exact.clone()],
            default_policy: Some(fallback.clone()),
        };
        assert_eq!(config.get_repo_policy("other"), &fallback);

        let config = PolicyConfig {
            repo_policies: vec![exact],
            default_policy: None,
        };
        assert_eq!(config.get_repo_policy("other"), &default_repo_policy());
    }

    #[test]
    fn the_first_of_duplicate_keys_wins() {
        let first = RepoPolicy::new("r");
        let mut second = RepoPolicy::new("r");
        second.enabled = false;
        let config = PolicyConfig {
            repo_policies: vec![first.clone(), second],
            default_policy: None,
        };
        assert_eq!(config.get_repo_policy("r"), &first);
    }
}
