//! What a worker does with a task it holds: the [`TaskRunner`] seam. The worker only claims,
//! renews and publishes; the runner runs the task in the worker's clone and moves it on the local
//! board (to Done or Blocked, with a comment), which the worker then publishes.
//!
//! [`PipelineRunner`] is a minimal runner (the task's goal and `## Execution` paths through the
//! pipeline); the lanes' `execute_task`, with the original's outcome rules, replaces it.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::board::git::GitBoard;
use crate::board::{Board, StateKind, States, Task};
use crate::error::Result;
use crate::session::{Session, TaskSpec};

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
}

/// Runs a claimed task in the repository at `repo_dir` and moves it on that repository's board.
/// `interrupt` becomes true when the worker lost the task (or the user pressed Ctrl-C): the run
/// should stop soon; its result will not be published.
pub trait TaskRunner: Sync {
    fn run(&self, repo_dir: &Path, task: &Task, interrupt: &AtomicBool) -> Result<RunDone>;
}

/// The task's goal through the pipeline; Done when the run succeeded, Blocked otherwise, with a
/// comment naming the run.
pub struct PipelineRunner;

impl TaskRunner for PipelineRunner {
    fn run(&self, repo_dir: &Path, task: &Task, interrupt: &AtomicBool) -> Result<RunDone> {
        let session = Session::open(repo_dir)?;
        let states = States::from_config(&session.config.board).map_err(crate::error::Error::input)?;
        let board = GitBoard::new(session.repo.repo.clone(), states.clone());
        let running = states.name(StateKind::Running).to_owned();
        let finish = |kind: StateKind, comment: String, done: RunDone| -> Result<RunDone> {
            board.comment(&task.id, &comment)?;
            let to = states.name(kind).to_owned();
            board.transition(&task.id, &to, Some(&running))?;
            Ok(RunDone { state: to, ..done })
        };
        let outcome = crate::board::task::parse(task).and_then(|parsed| {
            let mut spec = TaskSpec::new(parsed.goal.clone());
            spec.paths = parsed.execution.allowed_paths.clone();
            spec.repo_key = Some(parsed.execution.repo.clone());
            if let Some(base) = &parsed.execution.base_branch {
                spec.base = base.clone();
            }
            // Branch names must not collide across machines: the template gets the run's
            // random part when it has none.
            let template = session.config.run.branch();
            if !template.contains("{run}") {
                spec.branch = Some(format!("{template}-{{run}}"));
            }
            let prepared = session.prepare(&spec)?;
            let cx = crate::pipeline::RunContext {
                clock: &crate::pipeline::SystemClock,
                ids: &crate::pipeline::RandomIds,
                interrupt,
                redactor: crate::execution::secrets::Redactor::from_env(),
                observer: &crate::pipeline::Quiet,
            };
            prepared.execute(&cx)
        });
        match outcome {
            Ok(outcome) => {
                let run_id = outcome.run_metadata.run_id.clone();
                let ok = outcome.succeeded();
                let done = RunDone {
                    state: String::new(),
                    run_id: Some(run_id.clone()),
                    branch: outcome
                        .git
                        .branch
                        .clone()
                        .filter(|_| ok && outcome.git.commit.is_some()),
                    evidence_ref: Some(outcome.git.evidence_ref.clone()),
                };
                if ok {
                    finish(
                        StateKind::Done,
                        format!("Run {run_id} succeeded (git oc worker)."),
                        done,
                    )
                } else {
                    finish(
                        StateKind::Blocked,
                        format!(
                            "Run {run_id} did not succeed (git oc worker): {}. See 'git oc show {run_id}'.",
                            outcome.summary.reason.as_deref().unwrap_or("it failed")
                        ),
                        done,
                    )
                }
            }
            Err(e) => finish(
                StateKind::Blocked,
                format!("The task could not be run (git oc worker): {}", e.summary_line()),
                RunDone::default(),
            ),
        }
    }
}
