//! git-oc: plan a goal, route it, gate it with a policy, run a coding agent on its own linked
//! worktree and branch, and keep the evidence in files and in git.

pub mod cli;
pub mod config;
pub mod contracts;
pub mod error;
pub mod evidence;
pub mod execution;
pub mod git;
pub mod observability;
pub mod planning;
pub mod policy;
pub mod publish;
pub mod routing;
pub mod text;
