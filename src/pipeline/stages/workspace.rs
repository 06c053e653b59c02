//! The workspace stage: the run's linked worktree on its new branch from the base. Nothing
//! outside the new branch, the worktree and its registration is written.

use crate::error::Result;
use crate::git::worktree::RunWorktree;
use crate::pipeline::{Env, Flow, RunState, Stage, StageName};

pub struct Workspace {
    /// Lock the worktree for the run's life so that `git oc gc` leaves it alone. Agent runs take
    /// minutes; the demo's stub takes a millisecond and skips the two extra writes.
    pub guard_from_gc: bool,
}

impl Stage for Workspace {
    fn name(&self) -> StageName {
        StageName::Workspace
    }

    fn run(&self, state: &mut RunState, env: &Env) -> Result<Flow> {
        let plan = &state.plan;
        let wt = crate::git::worktree::create_run_worktree(
            env.repo,
            plan.base,
            &plan.base_label,
            &state.branch_candidates(),
            &plan.workspace,
        )?;
        if wt.branch != state.plan.branch {
            // The name was taken (an earlier run of the same task): the run goes by the one it got.
            state.plan.branch = wt.branch.clone();
            state.request.task_branch = wt.branch.clone();
            if let Some((entry, guard)) = &mut state.registration {
                entry.branch = wt.branch.clone();
                guard.update(entry)?;
            }
        }
        state.git.branch = Some(wt.branch.clone());
        state.git.worktree = Some(wt.path.clone());
        state.git.recycled = wt.recycled;
        if self.guard_from_gc {
            state.lock = Some(WorktreeLock::acquire(&wt, &state.request.run_id));
        }
        state.worktree = Some(wt);
        Ok(Flow::Continue)
    }
}

/// The worktree marked locked while the run is in progress, as `git worktree lock` does; the
/// mark goes when the guard is dropped, however the run ends.
pub struct WorktreeLock {
    repo: Option<gix::Repository>,
}

impl WorktreeLock {
    fn acquire(wt: &RunWorktree, run_id: &str) -> Self {
        let reason = format!("git-oc run {run_id} in progress");
        let ok = wt
            .repo
            .worktree()
            .is_some_and(|w| w.set_lock(Some(reason.as_str().into())).is_ok());
        WorktreeLock {
            repo: ok.then(|| wt.repo.clone()),
        }
    }
}

impl Drop for WorktreeLock {
    fn drop(&mut self) {
        if let Some(repo) = &self.repo
            && let Some(w) = repo.worktree()
        {
            let _ = w.set_lock(None);
        }
    }
}
