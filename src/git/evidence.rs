//! Evidence in git: a commit per run whose tree holds the evidence files, at
//! `refs/oc/runs/<run_id>` (the demo's at `refs/oc/demo/<run_id>`), its parent the run's commit
//! (or the base when there is none).

use gix::refs::transaction::PreviousValue;

use crate::error::{Error, Result};

/// Record a later event of a run: a commit on top of the evidence ref's `tip`, whose tree is
/// the tip's with `files` added, and the ref moved to it only if it still points at `tip`
/// (fast-forward only: nothing recorded is rewritten).
#[tracing::instrument(level = "debug", skip(repo, files, message), fields(tip = %tip))]
pub fn append_evidence_commit(
    repo: &gix::Repository,
    name: &str,
    tip: gix::ObjectId,
    files: &[(String, Vec<u8>)],
    message: &str,
) -> Result<gix::ObjectId> {
    let ctx = |e| Error::git("could not record the event in git", e);
    let tree = repo.find_commit(tip).map_err(ctx)?.tree_id().map_err(ctx)?.detach();
    let mut editor = repo.edit_tree(tree).map_err(ctx)?;
    for (file, bytes) in files {
        let blob = repo.write_blob(bytes).map_err(ctx)?;
        editor
            .upsert(file.as_str(), gix::object::tree::EntryKind::Blob, blob)
            .map_err(ctx)?;
    }
    let tree = editor.write().map_err(ctx)?.detach();
    let commit = repo.new_commit(message, tree, Some(tip)).map_err(ctx)?.id;
    super::refs::compare_and_swap(repo, name, Some(tip), commit, "git-oc: record an event of the run")?;
    Ok(commit)
}

/// Write `files` (paths and their bytes) as blobs and one tree of them; `what` names the failure.
pub fn files_tree(repo: &gix::Repository, files: &[(String, Vec<u8>)], what: &str) -> Result<gix::ObjectId> {
    let ctx = |e| Error::git(what, e);
    let mut editor = repo
        .edit_tree(gix::ObjectId::empty_tree(repo.object_hash()))
        .map_err(ctx)?;
    for (file, bytes) in files {
        let blob = repo.write_blob(bytes).map_err(ctx)?;
        editor
            .upsert(file.as_str(), gix::object::tree::EntryKind::Blob, blob)
            .map_err(ctx)?;
    }
    let tree = editor.write().map_err(ctx)?.detach();
    Ok(tree)
}

/// Write the evidence files as a tree and commit it under `<prefix><run_id>`.
/// The ref must not exist yet: a run id names exactly one run.
pub fn write_evidence_ref(
    repo: &gix::Repository,
    prefix: &str,
    run_id: &str,
    files: &[(String, Vec<u8>)],
    parent: Option<gix::ObjectId>,
    message: &str,
) -> Result<(String, gix::ObjectId)> {
    let commit = write_evidence_commit(repo, files, parent, message)?;
    let name = create_evidence_ref(repo, prefix, run_id, commit)?;
    Ok((name, commit))
}

/// The evidence files as a tree, committed on `parent`; no ref names it yet.
#[tracing::instrument(level = "debug", skip(repo, files, message), fields(files = files.len()))]
pub fn write_evidence_commit(
    repo: &gix::Repository,
    files: &[(String, Vec<u8>)],
    parent: Option<gix::ObjectId>,
    message: &str,
) -> Result<gix::ObjectId> {
    let tree = files_tree(repo, files, "could not record the evidence in git")?;
    Ok(repo
        .new_commit(message, tree, parent)
        .map_err(|e| Error::git("could not record the evidence in git", e))?
        .id)
}

/// Create `<prefix><run_id>` at the evidence commit `commit`, and return its name. The ref
/// must not exist yet: a run id names exactly one run.
pub fn create_evidence_ref(
    repo: &gix::Repository,
    prefix: &str,
    run_id: &str,
    commit: gix::ObjectId,
) -> Result<String> {
    let name = format!("{prefix}{run_id}");
    let full = gix::refs::FullName::try_from(name.as_str())
        .map_err(|e| Error::run(format!("invalid evidence ref {name}")).caused_by(e.to_string()))?;
    // No reflog, as git keeps none outside heads, remotes and notes: an evidence ref never
    // moves, and its commit says when it was made.
    let edit = super::refs::update(
        full,
        PreviousValue::MustNotExist,
        commit,
        &format!("git-oc: record run {run_id}"),
    );
    super::refs::edit(repo, edit).map_err(|e| Error::git("could not record the evidence in git", e))?;
    Ok(name)
}
