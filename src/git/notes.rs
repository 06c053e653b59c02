//! Notes in `refs/notes/oc`, updated by compare-and-swap: concurrent writers retry, nothing is
//! lost. What a note says is the evidence format's business (`evidence::note`).

use std::time::Duration;

use gix::note::plumbing::State;
use gix::refs::transaction::PreviousValue;

use crate::error::{Error, Result};

const MAX_ATTEMPTS: u32 = 50;

/// Replace the note on `object` in `refs/notes/oc` with `update(existing text)`, by
/// compare-and-swap, retrying when another writer got there first. `update` returns `None` when
/// nothing needs to change. Returns the notes commit the note is in.
pub fn update_note(
    repo: &gix::Repository,
    object: gix::ObjectId,
    update: impl Fn(&str) -> Option<String>,
) -> Result<gix::ObjectId> {
    let ctx = |e| Error::git("could not write the run note", e);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = repo
            .try_find_reference(super::NOTES_REF)
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
        let blob = repo.write_blob(merged.as_bytes()).map_err(ctx)?.detach();
        let edit = state
            .replace(object, blob, &repo.objects)
            .map_err(|e| Error::run("could not update the notes tree").caused_by(e.to_string()))?;
        let commit = repo
            .new_commit("Notes added by 'git oc'", edit.tree, parent)
            .map_err(ctx)?
            .id;
        let expected = match parent {
            Some(p) => PreviousValue::MustExistAndMatch(gix::refs::Target::Object(p)),
            None => PreviousValue::MustNotExist,
        };
        match repo.reference(super::NOTES_REF, commit, expected, "notes: Notes added by 'git oc'") {
            Ok(_) => return Ok(commit),
            Err(e) => {
                // A lost compare-and-swap is retried at length; a lock someone holds is waited for
                // about two seconds.
                let lock_held = repo.common_dir().join(format!("{}.lock", super::NOTES_REF)).exists();
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
pub fn read_note(repo: &gix::Repository, object: gix::ObjectId) -> Result<Option<String>> {
    let ctx = |e| Error::git("could not read the run note", e);
    let Some(mut reference) = repo.try_find_reference(super::NOTES_REF).map_err(ctx)? else {
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
