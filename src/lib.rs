//! git-oc: plan a goal, route it, gate it with a policy, run a coding agent on its own linked
//! worktree and branch, and keep the evidence in files and in git.
//!
//! Layers, each using only those below it: `cli` (arguments and rendering) → `lanes` (unattended
//! loops over the board) → `session`, `demo`
//! (the library entry) → `pipeline` (a run as named stages) → `execution` (agents, processes,
//! validation, redaction), `evidence` (the evidence formats), `policy`, `routing`, `planning`,
//! `config` → `git` (repositories, worktrees, snapshots, diffs, refs, notes) → `contracts`.

pub mod autonomy;
pub mod board;
pub mod changes;
pub mod cli;
pub mod completion;
pub mod config;
pub mod contracts;
pub mod demo;
pub mod doctor;
pub mod error;
pub mod evidence;
pub mod execution;
pub mod gc;
pub mod git;
pub mod github;
pub mod land;
pub mod lanes;
pub mod observability;
pub mod pipeline;
pub mod planning;
pub mod policy;
pub mod publication;
pub mod publish;
pub mod review;
pub mod routing;
pub mod runs;
pub mod session;
pub mod setup;
pub mod text;
pub mod worker;
