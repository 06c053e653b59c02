//! Snapshots of a worktree as `git add -A` would stage them, written as a tree without touching
//! the index, and the commit of such a snapshot with an index that leaves `git status` clean.

use gix::bstr::{BString, ByteSlice};
use gix::status::index_worktree::Item as WorktreeItem;
use gix::status::plumbing::index_as_worktree::{Change as WtChange, EntryStatus};

use crate::error::{Error, Result};

/// The status of the worktree. With `index_matches_head` the HEAD-tree-to-index comparison is
/// skipped: the caller knows the index has not changed since it was written from HEAD (a run's
/// worktree whose agent never staged anything), and that comparison is a fifth of the work.
fn status_items(repo: &gix::Repository, index_matches_head: bool) -> Result<Vec<gix::status::Item>> {
    if index_matches_head {
        return index_worktree_items(repo);
    }
    let ctx = |e| Error::git("could not read the worktree status", e);
    let platform = repo
        .status(gix::progress::Discard)
        .map_err(ctx)?
        .untracked_files(gix::status::UntrackedFiles::Files)
        .index_worktree_rewrites(None)
        .tree_index_track_renames(gix::status::tree_index::TrackRenames::Disabled)
        .index_worktree_submodules(None);
    let mut items = Vec::new();
    for item in platform.into_iter(None::<BString>).map_err(ctx)? {
        items.push(item.map_err(ctx)?);
    }
    Ok(items)
}

/// The index-to-worktree part of the status, computed on this thread. gix's status iterator
/// runs it on a thread of its own and sends each item over a channel: starting that thread cost
/// more than a small worktree's whole status (a demo's compares two files). The
/// modification check still spreads a large index over the cores, inside gix.
fn index_worktree_items(repo: &gix::Repository) -> Result<Vec<gix::status::Item>> {
    use gix::status::index_worktree::BuiltinSubmoduleStatus;
    use gix::status::plumbing::index_as_worktree::traits::{FastEq, SubmoduleStatus};
    use gix::status::plumbing::index_as_worktree_with_renames::{Entry, VisitEntry};

    struct Collect(Vec<gix::status::Item>);
    impl<'index> VisitEntry<'index> for Collect {
        type ContentChange = ();
        type SubmoduleStatus = <BuiltinSubmoduleStatus as SubmoduleStatus>::Output;
        fn visit_entry(&mut self, entry: Entry<'index, (), Self::SubmoduleStatus>) {
            self.0.push(gix::status::Item::IndexWorktree(entry.into()));
        }
    }

    let ctx = |e| Error::git("could not read the worktree status", e);
    let index = repo.index_or_empty().map_err(ctx)?;
    // As `status()` with untracked files listed one by one and submodules not looked into.
    let options = gix::status::index_worktree::Options {
        sorting: None,
        dirwalk_options: Some(
            repo.dirwalk_options()
                .map_err(ctx)?
                .emit_untracked(gix::dir::walk::EmissionMode::Matching),
        ),
        rewrites: None,
        thread_limit: None,
    };
    let submodules = BuiltinSubmoduleStatus::new(
        repo.clone().into_sync(),
        gix::status::Submodule::Given {
            ignore: gix::submodule::config::Ignore::All,
            check_dirty: false,
        },
    )
    .map_err(ctx)?;
    let mut collect = Collect(Vec::new());
    repo.index_worktree_status(
        &index,
        None::<&gix::bstr::BStr>,
        &mut collect,
        FastEq,
        submodules,
        &mut gix::progress::Discard,
        &std::sync::atomic::AtomicBool::new(false),
        options,
    )
    .map_err(ctx)?;
    Ok(collect.0)
}

/// What the index file and HEAD look like, to tell later whether anything staged or committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexFingerprint {
    modified: Option<std::time::SystemTime>,
    len: u64,
    head: Option<gix::ObjectId>,
}

pub fn index_fingerprint(repo: &gix::Repository) -> IndexFingerprint {
    let meta = std::fs::metadata(repo.index_path()).ok();
    IndexFingerprint {
        modified: meta.as_ref().and_then(|m| m.modified().ok()),
        len: meta.map_or(0, |m| m.len()),
        head: repo.head_id().ok().map(|id| id.detach()),
    }
}

/// Paths that `git status --porcelain` would list (ignored files excluded).
pub fn worktree_changes(repo: &gix::Repository) -> Result<Vec<String>> {
    let mut paths = Vec::new();
    for item in status_items(repo, cache_tree_matches_head(repo))? {
        match item {
            gix::status::Item::TreeIndex(change) => paths.push(change.location().to_str_lossy().into_owned()),
            gix::status::Item::IndexWorktree(WorktreeItem::Modification { rela_path, status, .. }) => {
                if !matches!(status, EntryStatus::NeedsUpdate(_)) {
                    paths.push(rela_path.to_str_lossy().into_owned());
                }
            }
            gix::status::Item::IndexWorktree(WorktreeItem::DirectoryContents { entry, .. }) => {
                if entry.status == gix::dir::entry::Status::Untracked {
                    paths.push(entry.rela_path.to_str_lossy().into_owned());
                }
            }
            gix::status::Item::IndexWorktree(WorktreeItem::Rewrite { dirwalk_entry, .. }) => {
                paths.push(dirwalk_entry.rela_path.to_str_lossy().into_owned())
            }
        }
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// Whether the index's cache tree, which git keeps up to date on every commit, says the index
/// holds exactly HEAD's tree: then nothing is staged, and comparing HEAD's tree with the index
/// (a second copy of every entry in memory: 10 MiB at 100,000 files) can be skipped.
fn cache_tree_matches_head(repo: &gix::Repository) -> bool {
    let (Ok(index), Ok(head_tree)) = (repo.index_or_empty(), repo.head_tree_id_or_empty()) else {
        return false;
    };
    let Some(root) = index.tree() else {
        return false;
    };
    let entries = index.entries();
    root.id == head_tree
        && root.num_entries == u32::try_from(entries.len()).ok()
        && entries
            .iter()
            .all(|e| e.stage_raw() == 0 && !e.flags.contains(gix::index::entry::Flags::INTENT_TO_ADD))
}

/// Write the worktree's current state as a tree, the tree `git add -A && git write-tree` would
/// produce, honouring `.gitignore`, attributes filters, the executable bit and symlinks.
/// Embedded repositories and checked-out submodules enter as gitlinks to their HEAD commit.
/// `index_matches_head`: see [`status_items`]; pass `false` when unsure.
pub fn snapshot_tree(repo: &gix::Repository, index_matches_head: bool) -> Result<gix::ObjectId> {
    let ctx = |e| Error::git("could not snapshot the worktree", e);
    let items = status_items(repo, index_matches_head)?;
    let head_tree = repo.head_tree_id_or_empty().map_err(ctx)?.detach();
    let mut editor = repo.edit_tree(head_tree).map_err(ctx)?;
    let (mut pipeline, index) = repo.filter_pipeline(None).map_err(ctx)?;

    let mut removals: Vec<BString> = Vec::new();
    let mut from_disk: Vec<BString> = Vec::new();
    // Staged work first (an agent may `git add` or `git mv` by itself).
    for item in &items {
        if let gix::status::Item::TreeIndex(change) = item {
            use gix::diff::index::ChangeRef;
            match change {
                ChangeRef::Addition {
                    location,
                    entry_mode,
                    id,
                    ..
                }
                | ChangeRef::Modification {
                    location,
                    entry_mode,
                    id,
                    ..
                }
                | ChangeRef::Rewrite {
                    location,
                    entry_mode,
                    id,
                    ..
                } => {
                    if let Some(kind) = entry_mode.to_tree_entry_mode().map(|m| m.kind()) {
                        editor
                            .upsert(location.as_ref(), kind, id.as_ref().to_owned())
                            .map_err(ctx)?;
                    }
                    if let ChangeRef::Rewrite { source_location, .. } = change {
                        editor.remove(source_location.as_ref()).map_err(ctx)?;
                    }
                }
                ChangeRef::Deletion { location, .. } => {
                    editor.remove(location.as_ref()).map_err(ctx)?;
                }
            }
        }
    }
    for item in items {
        match item {
            gix::status::Item::TreeIndex(_) => {}
            gix::status::Item::IndexWorktree(WorktreeItem::Modification { rela_path, status, .. }) => match status {
                EntryStatus::Change(WtChange::Removed) => removals.push(rela_path),
                EntryStatus::Change(WtChange::SubmoduleModification(_)) | EntryStatus::NeedsUpdate(_) => {}
                _ => from_disk.push(rela_path),
            },
            gix::status::Item::IndexWorktree(WorktreeItem::DirectoryContents { entry, .. }) => {
                if entry.status == gix::dir::entry::Status::Untracked {
                    from_disk.push(entry.rela_path);
                }
            }
            gix::status::Item::IndexWorktree(WorktreeItem::Rewrite { dirwalk_entry, .. }) => {
                from_disk.push(dirwalk_entry.rela_path)
            }
        }
    }
    // Removals before additions: a file replaced by a directory is reported both ways.
    for path in &removals {
        editor.remove(path.as_bstr()).map_err(ctx)?;
    }
    // An untracked directory holding a repository with a commit checked out becomes a gitlink
    // to that commit, as `git add -A` stages it; one without a commit is left out (git refuses).
    for path in &from_disk {
        if let Some((id, kind, _)) = pipeline.worktree_file_to_object(path.as_bstr(), &index).map_err(ctx)? {
            editor.upsert(path.as_bstr(), kind, id).map_err(ctx)?;
        }
    }
    for (path, id) in moved_submodules(repo, &index, &removals) {
        editor
            .upsert(path.as_bstr(), gix::object::tree::EntryKind::Commit, id)
            .map_err(ctx)?;
    }
    Ok(editor.write().map_err(ctx)?.detach())
}

/// Tracked submodules whose checkout is at another commit than the index records: `git add -A`
/// stages the commit checked out. Status does not look into submodules (that would cost a
/// status of each), so their HEADs are read here; an empty directory (a submodule that was
/// never checked out) stays as it is.
fn moved_submodules(
    repo: &gix::Repository,
    index: &gix::index::State,
    removed: &[BString],
) -> Vec<(BString, gix::ObjectId)> {
    let Some(workdir) = repo.workdir() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in index.entries() {
        if entry.mode != gix::index::entry::Mode::COMMIT || entry.stage_raw() != 0 {
            continue;
        }
        let path = entry.path(index);
        if removed.iter().any(|r| r.as_bstr() == path) {
            continue;
        }
        let Ok(rela) = gix::path::from_bstr(path) else { continue };
        let Ok(sub) = gix::open_opts(workdir.join(rela), repo.open_options().clone()) else {
            continue;
        };
        if let Ok(head) = sub.head_id()
            && head.detach() != entry.id
        {
            out.push((path.to_owned(), head.detach()));
        }
    }
    out
}

/// `tree` with the entry at `path` (a top-level name) made what it is in `source`, or removed
/// when `source` has none: git-oc's own directories never enter a run's change, whatever the
/// agent did to them (deleted their `.gitignore`, staged or committed files there).
pub fn with_entry_from(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    path: &str,
    source: Option<gix::ObjectId>,
) -> Result<gix::ObjectId> {
    let ctx = |e| Error::git("could not write the snapshot tree", e);
    let from_source = match source {
        Some(id) => repo
            .find_tree(id)
            .map_err(ctx)?
            .find_entry(path)
            .map(|e| (e.mode().kind(), e.object_id())),
        None => None,
    };
    let current = repo
        .find_tree(tree)
        .map_err(ctx)?
        .find_entry(path)
        .map(|e| (e.mode().kind(), e.object_id()));
    if current == from_source {
        return Ok(tree);
    }
    let mut editor = repo.edit_tree(tree).map_err(ctx)?;
    editor.remove(path).map_err(ctx)?;
    if let Some((kind, id)) = from_source {
        editor.upsert(path, kind, id).map_err(ctx)?;
    }
    Ok(editor.write().map_err(ctx)?.detach())
}

/// Write a commit of `tree` on `parent`; no ref moves (the caller moves the branch it means).
pub fn write_commit(
    repo: &gix::Repository,
    message: &str,
    tree: gix::ObjectId,
    parent: Option<gix::ObjectId>,
) -> Result<gix::ObjectId> {
    let ctx = |e| Error::git("could not commit the run's changes", e);
    Ok(repo.new_commit(message, tree, parent).map_err(ctx)?.id)
}

/// Replace the worktree index with `tree`, stat data taken from the files on disk.
pub fn refresh_index(repo: &gix::Repository, tree: gix::ObjectId) -> Result<()> {
    let ctx = |e| Error::git("could not update the worktree index", e);
    let workdir = repo
        .workdir()
        .ok_or_else(|| Error::run("the run worktree has no work tree"))?
        .to_owned();
    let mut index = repo.index_from_tree(&tree).map_err(ctx)?;
    let (entries, paths) = index.entries_mut_and_pathbacking();
    for entry in entries.iter_mut() {
        let Ok(rela) = gix::path::from_bstr(entry.path_in(paths)) else {
            continue;
        };
        let abs = workdir.join(rela);
        if let Ok(meta) = gix::index::fs::Metadata::from_path_no_follow(&abs)
            && let Ok(stat) = gix::index::entry::Stat::from_fs(&meta)
        {
            entry.stat = stat;
        }
    }
    index
        .write(Default::default())
        .map_err(|e| Error::run("could not write the worktree index").caused_by(e.to_string()))?;
    Ok(())
}
