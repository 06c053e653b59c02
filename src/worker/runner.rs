//! What a worker does with a task it holds: the [`TaskRunner`] seam. The worker only claims,
//! renews and publishes; the runner runs the task in the worker's clone and moves it on the local
//! board (to Done or Blocked, with a comment), which the worker then publishes.
//!
//! [`LanesRunner`] runs it as the lanes do (`lanes::execute::execute_task`).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::board::git::GitBoard;
use crate::board::{States, Task};
use crate::error::Result;
use crate::session::Session;

/// What running a task left behind in the worker's clone, for the worker to publish.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RunDone {
    /// The state the runner moved the task to.
    pub state: String,
    pub run_id: Option<String>,
    /// The run's branch, when it has one to publish.
    pub branch: Option<String>,
    /// The run's evidence ref.
    pub evidence_ref: Option<String>,
    /// Tasks the run created on the board (a failed test's follow-up, an improve task's
    /// suggestions, a split's children): published with it.
    pub follow_ups: Vec<String>,
}

/// Runs a claimed task in the repository at `repo_dir` and moves it on that repository's board.
/// `interrupt` becomes true when the worker lost the task (or the user pressed Ctrl-C): the run
/// should stop soon; its result will not be published.
pub trait TaskRunner: Sync {
    fn run(&self, repo_dir: &Path, task: &Task, interrupt: &AtomicBool) -> Result<RunDone>;
}

/// The lanes' execution: the task's spec from its kind and description, the pipeline, and the
/// original's outcome table on the clone's git board (comments, labels, state, follow-up tasks),
/// exactly as `git oc watch` runs a task it claimed.
pub struct LanesRunner;

impl TaskRunner for LanesRunner {
    fn run(&self, repo_dir: &Path, task: &Task, interrupt: &AtomicBool) -> Result<RunDone> {
        let session = Session::open(repo_dir)?;
        let states = States::from_config(&session.config.board).map_err(crate::error::Error::input)?;
        let board = GitBoard::new(session.repo.repo.clone(), states);
        let cx = crate::pipeline::RunContext {
            clock: &crate::pipeline::SystemClock,
            ids: &crate::pipeline::RandomIds,
            interrupt,
            redactor: crate::execution::secrets::Redactor::from_env(),
            observer: &crate::pipeline::Quiet,
            // The worker's clone is its own, and it changes its board only between runs.
            sole_board_writer: true,
        };
        let outcome = crate::lanes::execute::execute_task(&session, &board, task, &cx)?;
        Ok(RunDone {
            state: outcome.state,
            run_id: outcome.run_id,
            // Only a change that succeeded is published on a branch.
            branch: outcome.branch.filter(|_| outcome.success),
            evidence_ref: outcome.evidence_ref,
            follow_ups: outcome.follow_ups,
        })
    }
}
