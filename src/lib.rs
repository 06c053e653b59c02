//! git-oc: plan a goal, route it, gate it with a policy, run a coding agent on its own linked
//! worktree and branch, and keep the evidence in files and in git.

pub mod contracts;
pub mod planning;
pub mod policy;
