//! Notes in `refs/notes/oc`, updated by compare-and-swap: concurrent writers retry, nothing is
//! lost. What a note says is the evidence format's business (`evidence::note`).

use std::time::Duration;

use gix::note::plumbing::State;
use gix::refs::transaction::PreviousValue;

use crate::error::{Error, Result};

const MAX_ATTEMPTS: u32 = 50;

/// Replace the note on `object` in `refs/notes/oc` with `update(existing text)`, by
/// compare-and-swap, retrying when another writer got there first. `update` returns `None` when
/// nothing needs to change. Returns the notes commit the note is in. The note's objects go to
/// disk before the ref names them, from a run's handle too (which keeps them in memory).
pub fn update_note(
    repo: &gix::Repository,
    notes_ref: &str,
    object: gix::ObjectId,
    update: impl Fn(&str) -> Option<String>,
) -> Result<gix::ObjectId> {
    update_note_then(repo, notes_ref, object, update, &mut || {
        super::pack::flush(repo).map(drop)
    })
}

/// [`update_note`], calling `before_ref` after the note's objects are written and before each
/// attempt to move the notes ref to them (a repository handle that keeps objects in memory
/// writes them out there). An error from it ends the update.
#[tracing::instrument(level = "debug", skip(repo, update, before_ref), fields(object = %object))]
pub fn update_note_then(
    repo: &gix::Repository,
    notes_ref: &str,
    object: gix::ObjectId,
    update: impl Fn(&str) -> Option<String>,
    before_ref: &mut dyn FnMut() -> Result<()>,
) -> Result<gix::ObjectId> {
    // git-oc's note writers take turns; then a lock file on the notes ref that stays is either
    // a plain git command's, held for milliseconds, or one a killed git-oc left behind.
    let state_dir = repo.common_dir().join("oc");
    let mutex = super::worktree::StateMutex::lock_named(&state_dir, "notes.mutex")?;
    let lock_file = repo.common_dir().join(format!("{notes_ref}.lock"));
    // The notes ref a git-oc process is updating is marked in the mutex while it does: a mark
    // found on taking the mutex means the last writer died in the middle, and the ref lock it
    // may have left is its own.
    let dead_writer_ref = mutex.mark_left();
    let dead_writer_ref = dead_writer_ref.trim();
    if dead_writer_ref.starts_with("refs/notes/") && !dead_writer_ref.contains("..") {
        let left = repo.common_dir().join(format!("{dead_writer_ref}.lock"));
        tracing::warn!(lock = %left.display(), "a git-oc process died writing notes; removing its lock");
        let _ = std::fs::remove_file(&left);
    }
    mutex.mark(notes_ref);
    let result = update_locked(repo, notes_ref, object, update, &lock_file, before_ref);
    mutex.mark("");
    result
}

fn update_locked(
    repo: &gix::Repository,
    notes_ref: &str,
    object: gix::ObjectId,
    update: impl Fn(&str) -> Option<String>,
    lock_file: &std::path::Path,
    before_ref: &mut dyn FnMut() -> Result<()>,
) -> Result<gix::ObjectId> {
    let ctx = |e| Error::git("could not write the run note", e);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = repo
            .try_find_reference(notes_ref)
            .map_err(ctx)?
            .map(|mut r| r.peel_to_id())
            .transpose()
            .map_err(ctx)?
            .map(|id| id.detach());
        let (root_tree, parent) = match current {
            Some(commit) => (
                repo.find_commit(commit).map_err(ctx)?.tree_id().map_err(ctx)?.detach(),
                Some(commit),
            ),
            None => (gix::ObjectId::empty_tree(repo.object_hash()), None),
        };
        let mut state = State::new(root_tree, &repo.objects)
            .map_err(|e| Error::run("could not read the notes tree").caused_by(e.to_string()))?;
        let existing = match state
            .get(&object, &repo.objects)
            .map_err(|e| Error::run("could not read the note").caused_by(e.to_string()))?
        {
            Some(blob) => repo.find_blob(blob).map_err(ctx)?.data.clone(),
            None => Vec::new(),
        };
        let text = String::from_utf8_lossy(&existing);
        let Some(merged) = update(&text) else {
            return parent.ok_or_else(|| Error::run("note block present without a notes ref"));
        };
        // A note left empty is removed rather than kept as an empty one.
        let edit = if merged.trim().is_empty() {
            state.remove(object, &repo.objects)
        } else {
            let blob = repo.write_blob(merged.as_bytes()).map_err(ctx)?.detach();
            state.replace(object, blob, &repo.objects)
        }
        .map_err(|e| Error::run("could not update the notes tree").caused_by(e.to_string()))?;
        let commit = repo
            .new_commit("Notes added by 'git oc'", edit.tree, parent)
            .map_err(ctx)?
            .id;
        let expected = match parent {
            Some(p) => PreviousValue::MustExistAndMatch(gix::refs::Target::Object(p)),
            None => PreviousValue::MustNotExist,
        };
        before_ref()?;
        match super::refs::set(repo, notes_ref, commit, expected, "notes: Notes added by 'git oc'") {
            Ok(_) => return Ok(commit),
            Err(e) => {
                // A lost compare-and-swap is retried at length; a lock someone holds is waited for
                // about two seconds.
                let lock_held = lock_file.exists();
                if lock_held && left_behind(lock_file) {
                    tracing::warn!(lock = %lock_file.display(), "removing a notes lock a killed process left behind");
                    let _ = std::fs::remove_file(lock_file);
                    continue;
                }
                if attempt >= if lock_held { 8 } else { MAX_ATTEMPTS } {
                    let err = ctx(e);
                    return Err(if lock_held {
                        err
                    } else {
                        err.hint("another process kept updating refs/notes/oc; run again")
                    });
                }
                tracing::debug!(attempt, error = %e, "notes ref moved; retrying");
                std::thread::sleep(backoff(attempt));
            }
        }
    }
}

/// Make the notes ref's tip a commit of the same tree on top of `onto` (the tip before an agent
/// ran; `None`: no notes then), so that the commits written in between leave its history: an
/// agent's notes commits would carry whatever it put in them (and took out again) to every
/// remote the notes go to. Taken in turn with git-oc's note writers, by compare-and-swap.
pub fn cut_history_back_to(repo: &gix::Repository, notes_ref: &str, onto: Option<gix::ObjectId>) -> Result<()> {
    let ctx = |e| Error::git("could not rewrite the notes' history", e);
    let state_dir = repo.common_dir().join("oc");
    let _mutex = super::worktree::StateMutex::lock_named(&state_dir, "notes.mutex")?;
    let Some(tip) = super::refs::target(repo, notes_ref)? else {
        return Ok(());
    };
    if Some(tip) == onto {
        return Ok(());
    }
    let commit = commit_tree(repo, crate::changes::tree_of(repo, tip)?, onto)?;
    let expected = PreviousValue::MustExistAndMatch(gix::refs::Target::Object(tip));
    super::refs::set(repo, notes_ref, commit, expected, "notes: without the agent's commits").map_err(ctx)?;
    Ok(())
}

/// A notes commit of `tree` on top of `parent`, on disk when this returns (a run's handle
/// keeps what it writes in memory; other processes read what a notes ref names as soon as it
/// moves).
pub fn commit_tree(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    parent: Option<gix::ObjectId>,
) -> Result<gix::ObjectId> {
    let commit = repo
        .new_commit("Notes added by 'git oc'", tree, parent)
        .map_err(|e| Error::git("could not write a notes commit", e))?
        .id;
    super::pack::flush(repo)?;
    Ok(commit)
}

/// A lock file untouched for this long, while no git-oc process writes notes, was left by a
/// process that died holding it.
const LEFT_BEHIND_AFTER: Duration = Duration::from_secs(5);

fn left_behind(lock: &std::path::Path) -> bool {
    std::fs::metadata(lock)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= LEFT_BEHIND_AFTER))
}

/// Jittered, growing pause between attempts (the jitter comes from the clock, not a crate).
fn backoff(attempt: u32) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let base = 5u64 * u64::from(attempt.min(10));
    Duration::from_millis(base + u64::from(nanos % 20))
}

/// The note text on `object`, if any.
pub fn read_note(repo: &gix::Repository, notes_ref: &str, object: gix::ObjectId) -> Result<Option<String>> {
    let ctx = |e| Error::git("could not read the run note", e);
    let Some(mut reference) = repo.try_find_reference(notes_ref).map_err(ctx)? else {
        return Ok(None);
    };
    let commit = reference.peel_to_id().map_err(ctx)?.detach();
    let tree = repo.find_commit(commit).map_err(ctx)?.tree_id().map_err(ctx)?.detach();
    let mut state = State::new(tree, &repo.objects)
        .map_err(|e| Error::run("could not read the notes tree").caused_by(e.to_string()))?;
    match state
        .get(&object, &repo.objects)
        .map_err(|e| Error::run("could not read the note").caused_by(e.to_string()))?
    {
        Some(blob) => Ok(Some(
            String::from_utf8_lossy(&repo.find_blob(blob).map_err(ctx)?.data).into_owned(),
        )),
        None => Ok(None),
    }
}

/// Take run `<run_id>`'s block out of its note, the run named by its evidence ref and that
/// ref's commit: for a run whose evidence goes (`gc --evidence`, `discard --evidence`) or is not
/// published (a worker's lost lease), so that every note block names evidence that is there
/// (`git oc push` refuses one that does not). Nothing to take out is not an error.
pub fn remove_run_note(repo: &gix::Repository, evidence_ref: &str, evidence_tip: gix::ObjectId) -> Result<()> {
    let Some((namespace, run_id)) = crate::evidence::Namespace::split_ref(evidence_ref) else {
        return Ok(());
    };
    let Some((_, Some(anchor))) = crate::evidence::verify::evidence_and_anchor(repo, evidence_tip, run_id) else {
        return Ok(());
    };
    let notes_ref = namespace.notes_ref();
    let holds = read_note(repo, notes_ref, anchor)?
        .is_some_and(|text| crate::evidence::note::remove_run(&text, run_id).is_some());
    if holds {
        update_note(repo, notes_ref, anchor, |text| {
            crate::evidence::note::remove_run(text, run_id)
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::pipeline::tests::git;

    /// A run's handle keeps what it writes in memory; the guard edits and merges the notes with
    /// it while the run goes on. Whatever the notes ref names must be on disk at once: other
    /// runs and plain git read it meanwhile.
    #[test]
    fn notes_written_from_a_handle_that_keeps_objects_in_memory_are_on_disk_when_the_ref_moves() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", "base"]);
        // Another clone's notes: a history of their own.
        git(dir, &["notes", "--ref=theirs", "add", "-m", "theirs", "HEAD"]);
        let theirs = git(dir, &["rev-parse", "refs/notes/theirs"]);
        let mut repo = gix::open(dir).expect("open");
        crate::git::tune(&mut repo).expect("tune");
        let repo = repo.with_object_memory();
        let head = repo.head_id().expect("head").detach();
        let on_disk = |what: &str| {
            let tip = git(dir, &["rev-parse", "refs/notes/oc"]);
            let out = std::process::Command::new("git")
                .current_dir(dir)
                .args(["cat-file", "-e", &format!("{tip}^{{tree}}")])
                .status()
                .expect("git");
            assert!(
                out.success(),
                "{what}: refs/notes/oc names {tip}, which git cannot read"
            );
        };

        super::update_note(&repo, crate::git::NOTES_REF, head, |_| Some("ours\n".into())).expect("update");
        on_disk("an updated note");
        let theirs = gix::ObjectId::from_hex(theirs.as_bytes()).expect("id");
        crate::publish::merge_notes(&repo, theirs).expect("merge");
        on_disk("merged notes");
    }
}
