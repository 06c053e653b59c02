//! The snapshot stage: the worktree as `git add -A` would stage it, written as a tree, and its
//! diff against the base computed from git objects.

use crate::error::{Error, Result};
use crate::git::worktree::{EVIDENCE_DIR, RunWorktree};
use crate::pipeline::{Env, Flow, RunState, Snapshot, Stage, StageName};

pub struct SnapshotStage;

impl Stage for SnapshotStage {
    fn name(&self) -> StageName {
        StageName::Snapshot
    }

    fn runs_after_failure(&self) -> bool {
        true
    }

    fn run(&self, state: &mut RunState, env: &Env) -> Result<Flow> {
        let Some(wt) = &state.worktree else {
            return Err(Error::internal("the snapshot stage ran without a worktree"));
        };
        if let Some(w) = crate::git::worktree::repair_git_link(env.repo, wt) {
            state.warnings.push(w);
        }
        // A run that finds too many packs merges them (`git repack -d`) while others take their
        // snapshots, and a handle opened before may then miss an object it looks for; `take`
        // opens the worktree afresh, so a second attempt sees the packs as they are. It writes
        // only into memory: trying again changes nothing.
        match take(wt, &env.repo.repo).or_else(|first| {
            tracing::debug!(error = %first.summary_line(), "snapshot taken again");
            take(wt, &env.repo.repo)
        }) {
            Ok(snapshot) => {
                // What changed, also for a run that failed: its report tells the truth. The
                // result keeps the reference's contract (a failed backend's changes are unknown).
                let diff = &snapshot.diff;
                if !state.failed {
                    state.result.changed_files = diff.changed_files();
                    state.result.changed_files_source = Some("git_diff".to_owned());
                    state.result.changed_files_confidence = Some(1.0);
                    state.result.diff_stat_excerpt = diff.shortstat();
                }
                state.git.diff = diff.clone();
                state.snapshot = Some(snapshot);
                Ok(Flow::Continue)
            }
            Err(e) => {
                state.fail(&e);
                Ok(Flow::Stop)
            }
        }
    }
}

/// `objects`: the run's handle, which receives the objects the snapshot writes (in its memory,
/// when it keeps them there).
fn take(wt: &RunWorktree, objects: &gix::Repository) -> Result<Snapshot> {
    // Reopen: the agent may have changed refs or the index behind our back.
    let mut repo = gix::open_opts(&wt.path, crate::git::pack::open_options(Default::default()))
        .map_err(|e| Error::git("could not reopen the run worktree", e))?
        .with_object_memory();
    crate::git::tune(&mut repo)?;
    // An unborn HEAD has no tree to compare the index with: always take the full path then.
    let index_untouched = wt.base.is_some() && crate::git::snapshot::index_fingerprint(&repo) == wt.fingerprint;
    let base_tree = match wt.base {
        Some(base) => Some(
            repo.find_commit(base)
                .and_then(|c| c.tree_id())
                .map_err(|e| Error::git("could not read the base tree", e))?
                .detach(),
        ),
        None => None,
    };
    // What the agent committed is what the snapshot edits: a tree git would refuse stops here.
    let head_tree = repo
        .head_tree_id_or_empty()
        .map_err(|e| Error::git("could not read the worktree HEAD", e))?
        .detach();
    crate::git::snapshot::check_tree(&repo, head_tree, base_tree)?;
    let tree = crate::git::snapshot::snapshot_tree(&repo, index_untouched)?;
    // The evidence directory is git-oc's: it stays as the base has it, whatever the agent did.
    let tree = crate::git::snapshot::with_entry_from(&repo, tree, EVIDENCE_DIR, base_tree)?;
    let tree = crate::git::snapshot::canonical_tree(&repo, tree, base_tree)?;
    let diff = crate::git::diff::diff_trees(&repo, base_tree, tree)?;
    let head = repo.head_id().ok().map(|id| id.detach());
    let head_ref = repo
        .head_name()
        .map_err(|e| Error::git("could not read the worktree HEAD", e))?
        .map(|name| name.as_bstr().to_string());
    crate::git::pack::adopt(objects, repo.objects.take_object_memory())?;
    Ok(Snapshot {
        tree,
        diff,
        head_tree,
        head,
        head_ref,
        base_tree: base_tree.unwrap_or_else(|| gix::ObjectId::empty_tree(repo.object_hash())),
    })
}
