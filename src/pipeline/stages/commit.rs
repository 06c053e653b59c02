//! The commit stage: the snapshot becomes a commit on the run branch with an `Oc-Run` trailer
//! (or the agent's own commit is taken as it is), and the result learns what changed.

use crate::error::{Error, Result};
use crate::evidence::message::run_commit_message;
use crate::pipeline::{Env, Flow, Outcome, RunState, Stage, StageName};

pub struct Commit;

impl Stage for Commit {
    fn name(&self) -> StageName {
        StageName::Commit
    }

    fn run(&self, state: &mut RunState, env: &Env) -> Result<Flow> {
        let (Some(wt), Some(snapshot)) = (&state.worktree, &state.snapshot) else {
            return Err(Error::internal(
                "the commit stage ran without a worktree and a snapshot",
            ));
        };
        let commit = if snapshot.tree != snapshot.head_tree {
            let bundle = &state.plan.bundle;
            let made_by = format!(
                "Made by {}: task {}, lane {}, backend {}.",
                state.plan.command,
                bundle.proposal.task_id,
                bundle.decision.selected_lane,
                bundle.decision.selected_backend
            );
            let goal = env.cx.redactor.redact(&state.request.goal_text);
            let message = run_commit_message(&goal, &state.request.run_id, &made_by);
            match crate::git::snapshot::commit_snapshot(&wt.repo, &message, snapshot.tree, snapshot.head) {
                Ok(c) => Some(c),
                Err(e) => {
                    state.fail(&e);
                    return Ok(Flow::Stop);
                }
            }
        } else if snapshot.head.is_some() && snapshot.head != wt.base {
            // The agent committed by itself and left nothing else.
            snapshot.head
        } else {
            None
        };
        let diff = &snapshot.diff;
        state.git.commit = commit;
        state.result.changed_files = diff.changed_files();
        state.result.changed_files_source = Some("git_diff".to_owned());
        state.result.changed_files_confidence = Some(1.0);
        state.result.diff_stat_excerpt = diff.shortstat();
        if diff.is_empty() && state.outcome.is_none() {
            state.outcome = Some(Outcome::NoOp);
            state.reason = Some("the agent changed nothing".into());
        }
        state.git.diff = diff.clone();
        Ok(Flow::Continue)
    }
}
