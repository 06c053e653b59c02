//! `[review]`: the pull-request review loop (`git oc review`), per repository.

use serde::{Deserialize, Serialize};

/// How a pull request is merged through GitHub's API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeMethod {
    Squash,
    Merge,
    Rebase,
}

impl MergeMethod {
    pub const NAMES: [&str; 3] = ["squash", "merge", "rebase"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "squash" => Some(MergeMethod::Squash),
            "merge" => Some(MergeMethod::Merge),
            "rebase" => Some(MergeMethod::Rebase),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MergeMethod::Squash => "squash",
            MergeMethod::Merge => "merge",
            MergeMethod::Rebase => "rebase",
        }
    }
}

/// What happens once `max_human_review_loops` revisions were made and people still comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterMaxLoops {
    /// Merge, as the original does (never when `require_explicit_approval` is set).
    Merge,
    /// Stop revising and wait for an explicit approval.
    Wait,
}

impl AfterMaxLoops {
    pub const NAMES: [&str; 2] = ["merge", "wait"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "merge" => Some(AfterMaxLoops::Merge),
            "wait" => Some(AfterMaxLoops::Wait),
            _ => None,
        }
    }
}

/// `[review]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReviewSection {
    /// Whether git-oc reviews (and merges) the pull requests it opened here [default: false].
    pub await_review: Option<bool>,
    /// Self-review passes before a pull request goes to people [default: 2].
    pub max_self_review_loops: Option<u32>,
    /// Revision passes for people's comments [default: 3].
    pub max_human_review_loops: Option<u32>,
    /// Seconds in human review after which git-oc merges, unless approval is required [default: 86400].
    pub human_review_timeout_seconds: Option<u64>,
    /// Merge in human review once every check run succeeded, unless approval is required.
    pub auto_merge_on_ci_green: Option<bool>,
    /// Logins whose comments and reactions are a bot's, never a person's.
    pub bot_logins: Option<Vec<String>>,
    /// Logins whose approval, reactions and comments count [default: anyone but the bots].
    pub allowed_reviewers: Option<Vec<String>>,
    /// Merge only on an explicit approval (a 👍, `/lgtm`, an approving review) [default: false].
    pub require_explicit_approval: Option<bool>,
    /// `squash`, `merge` or `rebase` [default: squash].
    pub merge_method: Option<String>,
    /// Delete the head branch once merged [default: true].
    pub delete_branch: Option<bool>,
    /// Check runs whose name contains one of these are not counted.
    pub ignored_checks: Option<Vec<String>>,
    /// `merge` or `wait` once the revision passes are used up [default: merge].
    pub after_max_human_loops: Option<String>,
    /// Bytes of the pull request's diff put in the self-review goal [default: 8000].
    pub max_diff_bytes: Option<usize>,
}

impl ReviewSection {
    pub fn await_review(&self) -> bool {
        self.await_review.unwrap_or(false)
    }
    pub fn max_self_review_loops(&self) -> u32 {
        self.max_self_review_loops.unwrap_or(2)
    }
    pub fn max_human_review_loops(&self) -> u32 {
        self.max_human_review_loops.unwrap_or(3)
    }
    pub fn human_review_timeout_seconds(&self) -> u64 {
        self.human_review_timeout_seconds.unwrap_or(86_400)
    }
    pub fn auto_merge_on_ci_green(&self) -> bool {
        self.auto_merge_on_ci_green.unwrap_or(false)
    }
    pub fn bot_logins(&self) -> &[String] {
        self.bot_logins.as_deref().unwrap_or_default()
    }
    pub fn allowed_reviewers(&self) -> &[String] {
        self.allowed_reviewers.as_deref().unwrap_or_default()
    }
    pub fn require_explicit_approval(&self) -> bool {
        self.require_explicit_approval.unwrap_or(false)
    }
    pub fn merge_method(&self) -> MergeMethod {
        self.merge_method
            .as_deref()
            .and_then(MergeMethod::parse)
            .unwrap_or(MergeMethod::Squash)
    }
    pub fn delete_branch(&self) -> bool {
        self.delete_branch.unwrap_or(true)
    }
    pub fn ignored_checks(&self) -> &[String] {
        self.ignored_checks.as_deref().unwrap_or_default()
    }
    pub fn after_max_human_loops(&self) -> AfterMaxLoops {
        self.after_max_human_loops
            .as_deref()
            .and_then(AfterMaxLoops::parse)
            .unwrap_or(AfterMaxLoops::Merge)
    }
    pub fn max_diff_bytes(&self) -> usize {
        self.max_diff_bytes.unwrap_or(8000)
    }

    /// Values that parse but could never work: `(message, key, hint)`.
    pub fn problem(&self) -> Option<(String, &'static str, String)> {
        if let Some(m) = &self.merge_method
            && MergeMethod::parse(m).is_none()
        {
            return Some((
                format!(
                    "review.merge_method {m:?} is not one of {}",
                    MergeMethod::NAMES.join(", ")
                ),
                "review.merge_method",
                "set review.merge_method to squash, merge or rebase".into(),
            ));
        }
        if let Some(m) = &self.after_max_human_loops
            && AfterMaxLoops::parse(m).is_none()
        {
            return Some((
                format!(
                    "review.after_max_human_loops {m:?} is not one of {}",
                    AfterMaxLoops::NAMES.join(", ")
                ),
                "review.after_max_human_loops",
                "set it to merge or wait".into(),
            ));
        }
        if self.max_self_review_loops == Some(0) {
            return Some((
                "review.max_self_review_loops must be at least 1".into(),
                "review.max_self_review_loops",
                "set it to e.g. 2".into(),
            ));
        }
        if self.max_diff_bytes == Some(0) {
            return Some((
                "review.max_diff_bytes must be at least 1".into(),
                "review.max_diff_bytes",
                "set it to e.g. 8000".into(),
            ));
        }
        for (key, values) in [
            ("review.bot_logins", self.bot_logins()),
            ("review.allowed_reviewers", self.allowed_reviewers()),
        ] {
            if let Some(v) = values.iter().find(|v| !super::is_login(v, false)) {
                return Some((
                    format!(
                        "{key} entry {:?} is not a GitHub login",
                        crate::text::escape_controls(v)
                    ),
                    key,
                    "logins are letters, digits and hyphens".into(),
                ));
            }
        }
        if let Some(v) = self.ignored_checks().iter().find(|v| v.trim().is_empty()) {
            return Some((
                format!("review.ignored_checks has an empty entry {v:?}"),
                "review.ignored_checks",
                "remove it".into(),
            ));
        }
        None
    }
}
