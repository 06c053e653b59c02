use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Declares a string enum whose JSON form is its value, with `as_str`, `ALL`, `Display` and
/// `FromStr` (exact, case-sensitive match).
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $value)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $value),+ }
            }

            /// All values, comma separated, for error messages.
            pub fn known_values() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($value => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} {:?} (known: {})",
                        stringify!($name),
                        other,
                        Self::known_values()
                    )),
                }
            }
        }
    };
}

string_enum!(TaskType {
    LintFix => "lint_fix",
    BugFix => "bug_fix",
    SimpleEdit => "simple_edit",
    TestWrite => "test_write",
    Documentation => "documentation",
    Refactor => "refactor",
    Feature => "feature",
    DependencyUpdate => "dependency_update",
    Unknown => "unknown",
});

string_enum!(LaneName {
    ClaudeCli => "claude_cli",
    CodexCli => "codex_cli",
    AiderLocal => "aider_local",
});

string_enum!(BackendName {
    DirectLocal => "direct_local",
    AiderLocal => "aider_local",
    Kodo => "kodo",
    Archon => "archon",
    ArchonThenKodo => "archon_then_kodo",
    Openclaw => "openclaw",
    DemoStub => "demo_stub",
    // The newer SwitchBoard vocabulary (ProtocolWarden), so that its policy files route too.
    TeamExecutor => "team_executor",
    DagExecutor => "dag_executor",
    CritiqueExecutor => "critique_executor",
    // git-oc's own backends, beside the reference's.
    Command => "command",
    Claude => "claude",
    Codex => "codex",
    Aider => "aider",
});

string_enum!(ExecutionMode {
    Goal => "goal",
    FixPr => "fix_pr",
    TestCampaign => "test_campaign",
    ImproveCampaign => "improve_campaign",
});

string_enum!(ExecutionStatus {
    Pending => "pending",
    Running => "running",
    Succeeded => "succeeded",
    Failed => "failed",
    Skipped => "skipped",
    TimedOut => "timed_out",
    Cancelled => "cancelled",
});

string_enum!(ArtifactType {
    Diff => "diff",
    Patch => "patch",
    ValidationReport => "validation_report",
    LogExcerpt => "log_excerpt",
    GoalFile => "goal_file",
    PrUrl => "pr_url",
    BranchRef => "branch_ref",
});

string_enum!(ValidationStatus {
    Passed => "passed",
    Failed => "failed",
    Skipped => "skipped",
    Error => "error",
});

string_enum!(RiskLevel {
    Low => "low",
    Medium => "medium",
    High => "high",
});

string_enum!(Priority {
    Low => "low",
    Normal => "normal",
    High => "high",
    Critical => "critical",
});

string_enum!(FailureReasonCategory {
    ValidationFailed => "validation_failed",
    BackendError => "backend_error",
    UnsupportedRequest => "unsupported_request",
    Timeout => "timeout",
    NoChanges => "no_changes",
    Conflict => "conflict",
    PolicyBlocked => "policy_blocked",
    BudgetExhausted => "budget_exhausted",
    RoutingError => "routing_error",
    Unknown => "unknown",
});

string_enum!(PolicyStatus {
    Allow => "allow",
    AllowWithWarnings => "allow_with_warnings",
    RequireReview => "require_review",
    Block => "block",
});

string_enum!(ChangedFilesStatus {
    Known => "known",
    Inferred => "inferred",
    None => "none",
    Unknown => "unknown",
    NotApplicable => "not_applicable",
});

string_enum!(ExecutionFailureKind {
    None => "none",
    Transient => "transient",
    Timeout => "timeout",
    RateLimit => "rate_limit",
    Auth => "auth",
    Configuration => "configuration",
    ContractViolation => "contract_violation",
    BackendUnavailable => "backend_unavailable",
    Unknown => "unknown",
});

string_enum!(RecoveryDecision {
    Accept => "accept",
    RetrySameRequest => "retry_same_request",
    RetryModifiedRequest => "retry_modified_request",
    RejectUnrecoverable => "reject_unrecoverable",
    StopAttemptBudgetExhausted => "stop_attempt_budget_exhausted",
    StopCostBudgetExhausted => "stop_cost_budget_exhausted",
    StopIdempotencyRequired => "stop_idempotency_required",
    StopBackoffRequired => "stop_backoff_required",
    StopCooldownRequired => "stop_cooldown_required",
});

impl ExecutionStatus {
    /// The status as the trace headline writes it: `SUCCEEDED`, `TIMED_OUT`, …
    pub fn headline_form(self) -> String {
        self.as_str().to_uppercase()
    }
}

impl TaskType {
    /// The reference maps an unknown raw task type to `unknown` instead of failing.
    pub fn from_raw(raw: &str) -> Self {
        raw.parse().unwrap_or(TaskType::Unknown)
    }
}
