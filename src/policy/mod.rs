//! The policy gate: decides whether a proposal may run, needs review or is blocked.
//!
//! It reproduces the reference's rule set (rule ids, order, messages, statuses, defaults) so
//! that decisions read the same, with one deliberate change: path patterns follow git's
//! gitignore rules instead of Python's `fnmatch`. The same engine gates twice: before the run on
//! the declared scope ([`PolicyEngine::evaluate`]) and after it on the paths really changed
//! ([`PolicyEngine::evaluate_changed_paths`]).

mod engine;
mod explain;
pub mod layering;
mod model;
mod pattern;
mod repr;
mod validate;

pub use engine::{PolicyEngine, decision_notes};
pub use explain::{explain, remedies};
pub use layering::apply_layer;
pub use model::{
    BranchGuardrail, PathPolicy, PathScopeRule, PolicyConfig, RepoPolicy, ReviewRequirement, ToolGuardrail,
    ValidationRequirement, default_policy_config, default_repo_policy,
};
pub use pattern::{normalize_path, normalize_pattern, path_matches, path_matches_case};
pub use repr::{py_repr_list, py_repr_str};
pub use validate::validate_config;
