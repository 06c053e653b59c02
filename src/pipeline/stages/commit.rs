//! The commit stage: the snapshot becomes one commit object on the base with an `Oc-Run`
//! trailer, whatever the agent committed on the way. No ref moves here: the record stage moves the run
//! branch by compare-and-swap once the post-run gate has judged the commit. An agent that
//! switched the worktree to another branch or detached it fails the run, so that git-oc never
//! commits anywhere but the run branch.

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
        let branch_ref = state.branch_ref();
        if snapshot.head_ref.as_deref() != Some(branch_ref.as_str()) {
            let now = snapshot
                .head_ref
                .clone()
                .unwrap_or_else(|| "a detached commit".to_owned());
            let e = Error::run(format!(
                "the agent switched the worktree's HEAD from {branch_ref} to {now}; git-oc commits only to the \
                 run branch, so nothing was committed"
            ));
            state.fail(&e);
            return Ok(Flow::Stop);
        }
        // One commit of git-oc's on the base, whatever the agent committed on the way: the
        // agent's own commits were never gated one by one (one may add a token that the next
        // removes), so they never reach the branch; without a net change there is no commit.
        let commit = if snapshot.tree != snapshot.base_tree {
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
            // Written as the worktree's handle writes it, kept with the run's other objects.
            let mut repo = wt.repo.clone().with_object_memory();
            let written = crate::git::snapshot::write_commit(&repo, &message, snapshot.tree, wt.base)
                .and_then(|c| crate::git::pack::adopt(&env.repo.repo, repo.objects.take_object_memory()).map(|()| c));
            match written {
                Ok(c) => Some(c),
                Err(e) => {
                    state.fail(&e);
                    return Ok(Flow::Stop);
                }
            }
        } else {
            None
        };
        state.git.commit = commit;
        if state.git.diff.is_empty() && state.outcome.is_none() {
            state.outcome = Some(Outcome::NoOp);
            state.reason = Some("the agent changed nothing".into());
        }
        Ok(Flow::Continue)
    }
}
