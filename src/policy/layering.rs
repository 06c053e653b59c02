//! How policies from configuration files combine.
//!
//! The reference replaces the whole policy list with whatever a file says, so a repository policy
//! written to block one task type silently dropped every built-in protection (`.ssh/` became
//! writable). Here a policy from a file adds to the policy below it instead: a repository policy
//! inherits the configured `default_policy`, and a configured `default_policy` inherits the
//! built-in default, unless it says `replace_defaults = true`. What is inherited, and how the
//! engine combines it, is described on [`super::PolicyEngine`].
//!
//! Path patterns are also brought into canonical form here (`./x`, `x//y`, `x/./y` → `x`, `x/y`),
//! so that what the engine matches, the digest names and `policy show` prints is one spelling.

use super::model::{PolicyConfig, RepoPolicy, default_repo_policy};
use super::pattern::normalize_pattern;

/// Apply one configuration file's `[policy]` section on top of `config`.
///
/// - `default_policy`, when given, inherits the built-in default (unless it replaces it); the
///   file-configured repository policies already present are re-linked to it.
/// - `repo_policies`, when given, replace the list (as in the reference), each entry inheriting
///   the effective default policy (unless it replaces it).
/// - A configured `default_policy` with the built-in `*` entry still first in `repo_policies`
///   would never be consulted (the `*` entry matches every key first); that built-in entry is
///   dropped, the configured default inheriting it anyway.
pub fn apply_layer(config: &mut PolicyConfig, repo_policies: Option<Vec<RepoPolicy>>, default: Option<RepoPolicy>) {
    let builtin = default_repo_policy();
    if let Some(mut default) = default {
        normalize_patterns(&mut default);
        if !default.replace_defaults {
            default.inherits = Some(Box::new(builtin.clone()));
        }
        for policy in &mut config.repo_policies {
            if policy.inherits.is_some() {
                policy.inherits = Some(Box::new(default.clone()));
            }
        }
        if config.repo_policies.iter().all(|p| *p == builtin) {
            config.repo_policies.clear();
        }
        config.default_policy = Some(default);
    }
    if let Some(mut list) = repo_policies {
        let base = config.default_policy.clone().unwrap_or_else(|| builtin.clone());
        for policy in &mut list {
            normalize_patterns(policy);
            if !policy.replace_defaults {
                policy.inherits = Some(Box::new(base.clone()));
            }
        }
        config.repo_policies = list;
    }
}

/// Rewrite the path patterns of `policy` in canonical form. Patterns with a `..` component are
/// left as written: [`super::validate_config`] rejects them, since what they were meant to name
/// is a guess.
fn normalize_patterns(policy: &mut RepoPolicy) {
    for rule in &mut policy.path_policy.rules {
        if rule.path_pattern.split('/').any(|c| c == "..") {
            continue;
        }
        // A pattern that normalises to nothing is kept as written, for the error to quote it.
        if let Some(p) = normalize_pattern(&rule.path_pattern)
            && p != rule.path_pattern.as_str()
            && !p.trim_matches('/').is_empty()
        {
            rule.path_pattern = p.into_owned();
        }
    }
}

/// Where the policy that applies to a repository key was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selected {
    /// `repo_policies[i]`.
    RepoPolicies(usize),
    /// `default_policy`.
    DefaultPolicy,
    /// The built-in default (nothing configured applies).
    Builtin,
}

/// The policy for `repo_key` and where it was found, by the lookup order of
/// [`PolicyConfig::get_repo_policy`].
pub fn select(config: &PolicyConfig, repo_key: &str) -> Selected {
    let index = config
        .repo_policies
        .iter()
        .position(|p| p.repo_key == repo_key)
        .or_else(|| config.repo_policies.iter().position(|p| p.repo_key == "*"));
    match (index, &config.default_policy) {
        (Some(i), _) => Selected::RepoPolicies(i),
        (None, Some(_)) => Selected::DefaultPolicy,
        (None, None) => Selected::Builtin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::model::PathScopeRule;

    fn blocks_docs(key: &str) -> RepoPolicy {
        let mut p = RepoPolicy::new(key);
        p.blocked_task_types = vec!["documentation".into()];
        p
    }

    #[test]
    fn a_repository_policy_inherits_the_builtin_default() {
        let mut config = crate::policy::default_policy_config();
        apply_layer(&mut config, Some(vec![blocks_docs("r")]), None);
        let policy = config.get_repo_policy("r");
        assert_eq!(policy.inherits.as_deref(), Some(&default_repo_policy()));
        assert_eq!(policy.layers().count(), 2);
    }

    #[test]
    fn replace_defaults_drops_the_inheritance() {
        let mut config = crate::policy::default_policy_config();
        let mut own = blocks_docs("r");
        own.replace_defaults = true;
        apply_layer(&mut config, Some(vec![own]), None);
        assert!(config.get_repo_policy("r").inherits.is_none());
    }

    #[test]
    fn a_configured_default_sits_between_builtin_and_repository_policies() {
        let mut config = crate::policy::default_policy_config();
        let mut default = RepoPolicy::new("fallback");
        default.path_policy.rules = vec![PathScopeRule::new("vendor/**", "block", "")];
        apply_layer(&mut config, None, Some(default));
        // The built-in `*` entry would hide the configured default; it is dropped.
        assert!(config.repo_policies.is_empty());
        assert_eq!(select(&config, "any"), Selected::DefaultPolicy);
        apply_layer(&mut config, Some(vec![blocks_docs("r")]), None);
        let layers: Vec<&str> = config
            .get_repo_policy("r")
            .layers()
            .map(|p| p.repo_key.as_str())
            .collect();
        assert_eq!(layers, ["r", "fallback", "*"]);
        // A later default re-links the repository policies already configured.
        apply_layer(&mut config, None, Some(RepoPolicy::new("later")));
        let layers: Vec<&str> = config
            .get_repo_policy("r")
            .layers()
            .map(|p| p.repo_key.as_str())
            .collect();
        assert_eq!(layers, ["r", "later", "*"]);
    }

    #[test]
    fn patterns_are_stored_in_canonical_form() {
        let mut config = PolicyConfig::default();
        let mut p = RepoPolicy::new("r");
        p.path_policy.rules = ["./secret/**", "secret//**", "secret/./**", "x/../secret/**", "/top"]
            .iter()
            .map(|pat| PathScopeRule::new(pat, "block", ""))
            .collect();
        apply_layer(&mut config, Some(vec![p]), None);
        let patterns: Vec<&str> = config.repo_policies[0]
            .path_policy
            .rules
            .iter()
            .map(|r| r.path_pattern.as_str())
            .collect();
        assert_eq!(
            patterns,
            ["secret/**", "secret/**", "secret/**", "x/../secret/**", "/top"]
        );
    }
}
