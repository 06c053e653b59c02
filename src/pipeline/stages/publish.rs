//! The publish stage: with `--push`, the run branch (at the commit both gates passed), the run's
//! evidence and the notes go to the remote in one atomic push; with `--pr`, its pull request is
//! opened or updated; the publication is appended to the evidence. It runs after the record
//! stage, whatever happened before, so that a run that may not be published (rejected, blocked,
//! failed, or validation failed without `push_on_validation_failure`) says why it was not. A
//! failure to publish leaves the run's evidence intact and makes its exit code 1.

use crate::error::Result;
use crate::land::RecordedRun;
use crate::pipeline::{Env, Flow, RunState, Stage, StageName};
use crate::publication::{self, Report};

pub struct Publish;

impl Stage for Publish {
    fn name(&self) -> StageName {
        StageName::Publish
    }

    fn always_runs(&self) -> bool {
        true
    }

    fn run(&self, state: &mut RunState, env: &Env) -> Result<Flow> {
        let Some(plan) = state.plan.publish.clone() else {
            return Ok(Flow::Continue);
        };
        // The run as its evidence records it: the same reading `git oc pr` makes later.
        let outcome = RecordedRun::load(env.repo, &state.request.run_id).and_then(|run| {
            if let Some(refusal) = publication::refusal(&run, &plan.settings) {
                return Ok(Report::Skipped(refusal));
            }
            publication::publish(env.repo, &run, &plan, &publication::Options::system(&plan.settings))
                .map(|p| Report::Published(Box::new(p)))
        });
        match outcome {
            Ok(report) => {
                if let (Report::Published(p), Some(recorded)) = (&report, &mut state.recorded)
                    && let Some(pr) = &p.pull_request
                {
                    recorded.summary.pr_url = Some(pr.url.clone());
                }
                state.publication = Some(report);
            }
            Err(e) => {
                state.publication = Some(Report::Failed {
                    error: e.summary_line(),
                });
                state.publish_error = Some(e);
            }
        }
        Ok(Flow::Continue)
    }
}
