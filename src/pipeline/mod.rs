//! A run as named stages over one run state: pre-run gate, workspace, agent, snapshot,
//! validation, commit, post-run gate, record, publish. `git oc run` passes through all of them;
//! the demo is a shorter list of the same stages. A new stage is a new module in `stages/` plus
//! one line in a list below.

mod context;
pub mod stages;
mod state;

use std::time::Instant;

pub use context::{
    Clock, Event, IdSource, Observer, OutputSource, Quiet, RandomIds, RunContext, StageName, SystemClock,
};
pub use state::{GitRecord, Outcome, Recorded, RunOutcome, RunPlan, RunState, Snapshot};

use crate::contracts::ExecutionResult;
use crate::error::Result;
use crate::execution::Adapter;
use crate::git::Repo;
use crate::policy::PolicyEngine;

/// What every stage may use besides the run state.
pub struct Env<'a> {
    pub repo: &'a Repo,
    pub policy: &'a PolicyEngine,
    pub adapter: &'a dyn Adapter,
    pub cx: &'a RunContext<'a>,
}

/// Whether the run goes on after a stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The run failed; the stages that look at a failed run (the snapshot, so that its report
    /// says what the agent left) and those that always run still run.
    Failed,
    /// The run is decided; only the stages that always run (the record) still run.
    Stop,
}

pub trait Stage {
    fn name(&self) -> StageName;

    /// Stages that run even after an earlier stage stopped the run.
    fn always_runs(&self) -> bool {
        false
    }

    /// Stages that still run after an earlier stage reported a failure.
    fn runs_after_failure(&self) -> bool {
        self.always_runs()
    }

    /// Do the stage's work. An error aborts the run without evidence (nothing was recorded yet);
    /// failures the evidence should show are put in the state instead, with [`Flow::Stop`].
    fn run(&self, state: &mut RunState, env: &Env) -> Result<Flow>;
}

/// An ordered list of stages.
pub struct Pipeline {
    stages: Vec<Box<dyn Stage>>,
}

impl Pipeline {
    pub fn new(stages: Vec<Box<dyn Stage>>) -> Self {
        Pipeline { stages }
    }

    /// `git oc run`: a real agent, validated, gated twice, with the full evidence.
    pub fn run() -> Self {
        use stages::*;
        Pipeline::new(vec![
            Box::new(PreRunGate),
            Box::new(Workspace { guard_from_gc: true }),
            Box::new(Agent {
                goal_file: true,
                watch_outside: true,
            }),
            Box::new(SnapshotStage),
            Box::new(Validation),
            Box::new(Commit),
            Box::new(PostRunGate),
            Box::new(Record { golden_files: true }),
            Box::new(Publish),
        ])
    }

    /// `git oc demo`: the stub backend and the seed's seven evidence files.
    pub fn demo() -> Self {
        use stages::*;
        Pipeline::new(vec![
            Box::new(PreRunGate),
            Box::new(Workspace { guard_from_gc: false }),
            Box::new(Agent {
                goal_file: false,
                watch_outside: false,
            }),
            Box::new(SnapshotStage),
            Box::new(Commit),
            Box::new(Record { golden_files: false }),
        ])
    }

    pub fn names(&self) -> Vec<StageName> {
        self.stages.iter().map(|s| s.name()).collect()
    }

    /// Carry out a planned run. While it is in progress it is registered as such, so that a run
    /// whose process dies shows as interrupted and is cleaned up by `git oc gc`.
    pub fn execute(&self, plan: RunPlan, env: &Env) -> Result<RunOutcome> {
        let cx = env.cx;
        crate::git::worktree::check_destination(env.repo, &plan.workspace)?;
        if plan.branch_exact {
            crate::git::worktree::validate_branch_name(env.repo, &plan.branch)?;
        } else {
            crate::git::worktree::branch_ref_name(&plan.branch)?;
        }
        let started_at = cx.clock.now();
        let request = crate::execution::build_request(
            &plan.bundle,
            &plan.workspace_display,
            &plan.branch,
            cx.ids.new_id(),
            started_at,
        );
        let decision = &plan.bundle.decision;
        let registration = crate::execution::inflight::Inflight {
            run_id: request.run_id.clone(),
            pid: std::process::id(),
            started_at,
            workspace: plan.workspace.clone(),
            branch: plan.branch.clone(),
            base: plan.base.map(|b| b.to_string()),
            goal: crate::contracts::prefix_chars(&cx.redactor.redact(&request.goal_text), 200).to_owned(),
            lane: decision.selected_lane.as_str().to_owned(),
            backend: decision.selected_backend.as_str().to_owned(),
        };
        let guard = crate::execution::inflight::register(&env.repo.state_dir(), &registration)?;
        cx.observer.event(&Event::Started {
            run_id: &request.run_id,
            branch: &plan.branch,
            backend: env.adapter.display_name(),
        });
        let result = ExecutionResult::new(&request, crate::contracts::ExecutionStatus::Pending, false);
        let mut state = RunState {
            git: GitRecord {
                base: plan.base,
                notes_ref: plan.namespace.notes_ref(),
                ..GitRecord::default()
            },
            plan,
            request,
            started_at,
            policy_decision: None,
            result,
            executed: false,
            worktree: None,
            registration: Some((registration, guard)),
            lock: None,
            workspace_gone: false,
            capture: None,
            goal_file: None,
            snapshot: None,
            validation: None,
            post_policy: None,
            outcome: None,
            reason: None,
            needs_review: false,
            rejected: false,
            warnings: Vec::new(),
            patch: None,
            refs_before: None,
            recorded: None,
            publication: None,
            publish_error: None,
            failed: false,
            stopped: false,
        };
        // The run's new objects stay in memory until the record stage writes them out as one
        // pack right before a ref names them (`git::pack`); later stages (publishing) write
        // straight to disk again.
        let mut objects = env.repo.with_object_memory();
        for stage in &self.stages {
            if (state.stopped && !stage.always_runs()) || (state.failed && !stage.runs_after_failure()) {
                continue;
            }
            let name = stage.name();
            let span = tracing::debug_span!("stage", name = name.as_str());
            let _entered = span.enter();
            cx.observer.event(&Event::StageStarted(name));
            let began = Instant::now();
            let stage_env = Env {
                repo: &objects,
                policy: env.policy,
                adapter: env.adapter,
                cx: env.cx,
            };
            let flow = stage.run(&mut state, &stage_env)?;
            if name == StageName::Record {
                crate::git::pack::flush(&objects.repo)?;
                objects.repo.objects.take_object_memory();
            }
            cx.observer.event(&Event::StageFinished {
                stage: name,
                elapsed: began.elapsed(),
            });
            tracing::debug!(?flow, "stage finished");
            match flow {
                Flow::Continue => {}
                Flow::Failed => state.failed = true,
                Flow::Stop => state.stopped = true,
            }
        }
        crate::git::pack::flush(&objects.repo)?;
        crate::git::pack::keep_few_packs(&objects.repo);
        stages::record::into_outcome(state, env)
    }
}

#[cfg(test)]
pub(crate) mod tests;
