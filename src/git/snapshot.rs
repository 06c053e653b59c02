//! Snapshots of a worktree as `git add -A` would stage them, written as a tree without touching
//! the index, and the commit of such a snapshot with an index that leaves `git status` clean.

use gix::bstr::{BString, ByteSlice};
use gix::status::index_worktree::Item as WorktreeItem;
use gix::status::plumbing::index_as_worktree::{Change as WtChange, EntryStatus};

use crate::error::{Error, Result};

fn status_error(e: impl Into<gix::Error>) -> Error {
    Error::git("could not read the worktree status", e)
}

/// The status of the worktree. With `index_matches_head` the HEAD-tree-to-index comparison is
/// skipped: the caller knows the index has not changed since it was written from HEAD (a run's
/// worktree whose agent never staged anything), and that comparison is a fifth of the work.
fn status_items(repo: &gix::Repository, index_matches_head: bool) -> Result<Vec<gix::status::Item>> {
    if index_matches_head {
        return index_worktree_items(repo);
    }
    let platform = repo
        .status(gix::progress::Discard)
        .map_err(status_error)?
        .untracked_files(gix::status::UntrackedFiles::Files)
        .index_worktree_rewrites(None)
        .tree_index_track_renames(gix::status::tree_index::TrackRenames::Disabled)
        .index_worktree_submodules(None);
    let mut items = Vec::new();
    for item in platform.into_iter(None::<BString>).map_err(status_error)? {
        items.push(item.map_err(status_error)?);
    }
    Ok(items)
}

/// Nothing a status reads may block it. The index, if there is one, must be a file, and no named
/// pipe may sit where git reads (see [`super::fifo`]): the agent, running with your rights, can
/// make one, and a read of it waits for a writer for good, deaf to SIGTERM and Ctrl-C.
fn ensure_nothing_blocks(repo: &gix::Repository) -> Result<()> {
    let path = repo.index_path();
    if let Ok(meta) = std::fs::metadata(&path)
        && !meta.is_file()
    {
        return Err(
            Error::run(format!("git's index at {} is not a regular file", path.display())).hint(
                "something replaced it (an agent?); remove it, then run `git reset` there to rebuild it from HEAD",
            ),
        );
    }
    if let Some(fifo) = super::fifo::find(repo).first() {
        return Err(Error::run(format!(
            "a named pipe (FIFO) at {} would block git reading it",
            fifo.display()
        ))
        .hint("something made it (an agent?); git cannot record a FIFO: remove it (`rm` it, or `find . -type p`)"));
    }
    Ok(())
}

/// Indexes with fewer entries than this get their status on the calling thread, one part after
/// the other; larger ones keep gix's status, which walks the directories on one thread while
/// another compares the tracked files (spread over the cores).
const SERIAL_STATUS_MAX_ENTRIES: usize = 5_000;

/// The index-to-worktree part of the status, as `status()` computes it with untracked files
/// listed one by one and submodules not looked into. gix's status starts two threads (the
/// directory walk and the modification check) and sends each item over a channel: for a small
/// worktree (a demo's has two files) starting them cost more than the whole status, so a small
/// index is compared, then walked, on this thread.
fn index_worktree_items(repo: &gix::Repository) -> Result<Vec<gix::status::Item>> {
    let index = repo.index_or_empty().map_err(status_error)?;
    if index.entries().len() < SERIAL_STATUS_MAX_ENTRIES {
        serial_status(repo, &index)
    } else {
        threaded_status(repo, &index)
    }
}

/// Untracked files listed one by one, ignored ones left out.
fn status_dirwalk_options(repo: &gix::Repository) -> Result<gix::dirwalk::Options> {
    Ok(repo
        .dirwalk_options()
        .map_err(status_error)?
        .emit_untracked(gix::dir::walk::EmissionMode::Matching))
}

/// Submodules are not looked into (their checked-out commits are read by `moved_submodules`).
fn status_submodules(repo: &gix::Repository) -> Result<gix::status::index_worktree::BuiltinSubmoduleStatus> {
    gix::status::index_worktree::BuiltinSubmoduleStatus::new(
        repo.clone().into_sync(),
        gix::status::Submodule::Given {
            ignore: gix::submodule::config::Ignore::All,
            check_dirty: false,
        },
    )
    .map_err(status_error)
}

/// The tracked files compared, then the directories walked, on this thread.
fn serial_status(repo: &gix::Repository, index: &gix::index::State) -> Result<Vec<gix::status::Item>> {
    let interrupt = std::sync::atomic::AtomicBool::new(false);
    let mut items = tracked_changes(repo, index, status_submodules(repo)?, &interrupt)?;
    repo.dirwalk(
        index,
        None::<&gix::bstr::BStr>,
        &interrupt,
        status_dirwalk_options(repo)?,
        &mut Untracked(&mut items),
    )
    .map_err(status_error)?;
    Ok(items)
}

/// gix's status: the walk and the comparison at the same time, on threads of their own.
fn threaded_status(repo: &gix::Repository, index: &gix::index::State) -> Result<Vec<gix::status::Item>> {
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

    let options = gix::status::index_worktree::Options {
        sorting: None,
        dirwalk_options: Some(status_dirwalk_options(repo)?),
        rewrites: None,
        thread_limit: None,
    };
    let mut collect = Collect(Vec::new());
    repo.index_worktree_status(
        index,
        None::<&gix::bstr::BStr>,
        &mut collect,
        FastEq,
        status_submodules(repo)?,
        &mut gix::progress::Discard,
        &std::sync::atomic::AtomicBool::new(false),
        options,
    )
    .map_err(status_error)?;
    Ok(collect.0)
}

/// The tracked files that differ from the index, compared as gix's status compares them.
fn tracked_changes(
    repo: &gix::Repository,
    index: &gix::index::State,
    submodules: gix::status::index_worktree::BuiltinSubmoduleStatus,
    interrupt: &std::sync::atomic::AtomicBool,
) -> Result<Vec<gix::status::Item>> {
    use gix::status::plumbing::index_as_worktree::{Context, EntryStatus, Options, VisitEntry, traits::FastEq};
    use gix::worktree::stack::state::attributes::Source;

    struct Collect(Vec<gix::status::Item>);
    impl<'index> VisitEntry<'index> for Collect {
        type ContentChange = ();
        type SubmoduleStatus = gix::submodule::Status;
        fn visit_entry(
            &mut self,
            _entries: &'index [gix::index::Entry],
            entry: &'index gix::index::Entry,
            entry_index: usize,
            rela_path: &'index gix::bstr::BStr,
            status: EntryStatus<(), gix::submodule::Status>,
        ) {
            self.0
                .push(gix::status::Item::IndexWorktree(WorktreeItem::Modification {
                    entry: entry.clone(),
                    entry_index,
                    rela_path: rela_path.to_owned(),
                    status,
                }));
        }
    }

    let Some(workdir) = repo.workdir() else {
        return Ok(Vec::new());
    };
    let pathspec = repo
        .pathspec(
            false,
            None::<&gix::bstr::BStr>,
            true,
            index,
            Source::WorktreeThenIdMapping,
        )
        .map_err(status_error)?;
    let stack = repo
        .attributes_only(index, Source::WorktreeThenIdMapping)
        .map_err(status_error)?
        .detach();
    let (filter, stack) = gix::filter::Pipeline::new(repo, stack)
        .map_err(status_error)?
        .into_parts();
    let objects = repo
        .objects
        .clone()
        .into_arc()
        .map_err(|e| Error::io("could not open the object store", &e))?;
    let mut collect = Collect(Vec::new());
    gix::status::plumbing::index_as_worktree(
        index,
        workdir,
        &mut collect,
        FastEq,
        submodules,
        objects,
        &mut gix::progress::Discard,
        Context {
            pathspec: pathspec.into_parts().0,
            stack,
            filter,
            should_interrupt: interrupt,
        },
        Options {
            fs: repo.filesystem_options().map_err(status_error)?,
            thread_limit: None,
            stat: repo.stat_options().map_err(status_error)?,
            fscache: false,
        },
    )
    .map_err(status_error)?;
    Ok(collect.0)
}

/// The untracked files of a directory walk, as status lists them (not the ones git cannot track).
struct Untracked<'a>(&'a mut Vec<gix::status::Item>);
impl gix::dir::walk::Delegate for Untracked<'_> {
    fn emit(
        &mut self,
        entry: gix::dir::EntryRef<'_>,
        collapsed_directory_status: Option<gix::dir::entry::Status>,
    ) -> gix::dir::walk::Action {
        if entry.disk_kind != Some(gix::dir::entry::Kind::Untrackable) {
            self.0
                .push(gix::status::Item::IndexWorktree(WorktreeItem::DirectoryContents {
                    entry: entry.to_owned(),
                    collapsed_directory_status,
                }));
        }
        std::ops::ControlFlow::Continue(())
    }
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
    ensure_nothing_blocks(repo)?;
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
    ensure_nothing_blocks(repo)?;
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

/// `tree` as git would write it from an index, checked: each tree that differs from `base`'s at
/// the same path (all the run changes, the agent's own commits included) lists its entries in
/// git's canonical modes (old tools wrote `040000` and `100664`, which gix keeps as read), and
/// is refused when git would refuse it (entries out of order or twice, names such as `.git`,
/// `..` or `a/b`): an agent can commit such a tree with `git hash-object --literally`, and the
/// snapshot builds on what the agent committed. Trees as the base has them keep their ids, as
/// git's cache of trees keeps them.
pub fn canonical_tree(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    base: Option<gix::ObjectId>,
) -> Result<gix::ObjectId> {
    walk_changed_trees(repo, tree, base, "", true)
}

/// Refuse `tree` when a tree of it that differs from `base`'s is one git would refuse (see
/// [`canonical_tree`]): the agent's commit is checked before the snapshot edits on top of it.
pub fn check_tree(repo: &gix::Repository, tree: gix::ObjectId, base: Option<gix::ObjectId>) -> Result<()> {
    walk_changed_trees(repo, tree, base, "", false).map(drop)
}

/// The trees of `tree` that differ from `base`'s at the same path, each checked, and with
/// `rewrite` written again in canonical modes where they are not.
fn walk_changed_trees(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    base: Option<gix::ObjectId>,
    path: &str,
    rewrite: bool,
) -> Result<gix::ObjectId> {
    if Some(tree) == base {
        return Ok(tree);
    }
    let ctx = |e| Error::git("could not write the snapshot tree", e);
    let mut written: gix::objs::Tree = repo.find_tree(tree).map_err(ctx)?.decode().map_err(ctx)?.into();
    if let Some(why) = malformed(&written.entries) {
        let at = if path.is_empty() { "the top directory" } else { path };
        return Err(Error::run(format!("the run's tree is malformed: {at} {why}"))
            .hint("git refuses such a tree (git fsck); the agent wrote it itself (git hash-object --literally, say), and nothing of it is committed"));
    }
    let base: Option<gix::objs::Tree> = match base {
        Some(id) => Some(repo.find_tree(id).map_err(ctx)?.decode().map_err(ctx)?.into()),
        None => None,
    };
    let mut changed = false;
    for entry in &mut written.entries {
        let canonical = gix::objs::tree::EntryMode::from(entry.mode.kind());
        if entry.mode.is_tree() {
            let before = base.as_ref().and_then(|b| {
                b.entries
                    .iter()
                    .find(|e| e.filename == entry.filename && e.mode.is_tree())
                    .map(|e| e.oid)
            });
            let sub = format!("{path}{}/", entry.filename);
            let oid = walk_changed_trees(repo, entry.oid, before, &sub, rewrite)?;
            changed |= oid != entry.oid;
            entry.oid = oid;
        }
        changed |= entry.mode != canonical;
        entry.mode = canonical;
    }
    if !changed || !rewrite {
        return Ok(tree);
    }
    Ok(repo.write_object(&written).map_err(ctx)?.detach())
}

/// What git's fsck would refuse in a tree's entries, if anything.
fn malformed(entries: &[gix::objs::tree::Entry]) -> Option<String> {
    let mut names = std::collections::HashSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let name = entry.filename.as_bstr();
        if name.is_empty() || name.contains(&b'/') || name == "." || name == ".." || name.eq_ignore_ascii_case(b".git")
        {
            return Some(format!("holds an entry named {name:?}"));
        }
        if !names.insert(name) {
            return Some(format!("holds {name:?} twice"));
        }
        if i > 0 && entries[i - 1] >= *entry {
            return Some(format!("lists {name:?} out of order"));
        }
    }
    None
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

/// Replace the worktree index with `tree`, stat data taken from the files on disk. An entry the
/// index on disk already holds with the same id and mode keeps the stat data recorded there (the
/// checkout's): only the files the run changed are looked at again, not every file of the tree
/// (100,000 `lstat`s in a large repository). The old index is read entry by entry beside the new
/// one, never held whole. A stat that no longer matches its file (one rewritten with the same
/// content) only makes git compare that file's content, as for any touched file.
pub fn refresh_index(repo: &gix::Repository, tree: gix::ObjectId) -> Result<()> {
    let ctx = |e| Error::git("could not update the worktree index", e);
    let workdir = repo
        .workdir()
        .ok_or_else(|| Error::run("the run worktree has no work tree"))?
        .to_owned();
    let mut known = super::index_stats::IndexStats::open(&repo.index_path(), repo.object_hash());
    let mut index = repo.index_from_tree(&tree).map_err(ctx)?;
    let (entries, paths) = index.entries_mut_and_pathbacking();
    // Both are sorted by path.
    for entry in entries.iter_mut() {
        let path = entry.path_in(paths);
        if let Some(stat) = known
            .as_mut()
            .and_then(|k| k.stat_of(path, entry.id, entry.mode.bits()))
        {
            entry.stat = stat;
            continue;
        }
        let Ok(rela) = gix::path::from_bstr(path) else {
            continue;
        };
        if let Ok(meta) = gix::index::fs::Metadata::from_path_no_follow(&workdir.join(rela))
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

#[cfg(test)]
mod tests {
    use super::{refresh_index, serial_status, snapshot_tree, threaded_status, worktree_changes};
    use crate::pipeline::tests::git;

    /// A small index gets its status on the calling thread, a large one from gix's threaded
    /// status: both must see the same changes, and the paths `git status` lists.
    #[test]
    fn the_serial_and_the_threaded_status_see_the_same_changes_as_git() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        let write = |path: &str, text: &str| {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        for path in [
            "kept",
            "edited",
            "deleted",
            "src/a.rs",
            "src/b.rs",
            "script.sh",
            "dir/into_file/x",
        ] {
            write(path, &format!("{path}\n"));
        }
        write(".gitignore", "*.log\nbuild/\n");
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", "base"]);

        write("edited", "changed\n");
        std::fs::remove_file(dir.join("deleted")).expect("rm");
        std::fs::remove_file(dir.join("src/b.rs")).expect("rm");
        std::fs::remove_dir_all(dir.join("dir/into_file")).expect("rm");
        write("dir/into_file", "now a file\n");
        write("new.txt", "new\n");
        write("fresh/deep/one.rs", "one\n");
        write("fresh/two.rs", "two\n");
        write("noise.log", "ignored\n");
        write("build/out.bin", "ignored\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.join("script.sh"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
            std::os::unix::fs::symlink("kept", dir.join("link")).expect("symlink");
        }

        let repo = gix::open(dir).expect("open");
        let index = repo.index_or_empty().expect("index");
        let described = |items: Vec<gix::status::Item>| {
            let mut v: Vec<String> = items.iter().map(|item| format!("{item:?}")).collect();
            v.sort();
            v
        };
        let serial = described(serial_status(&repo, &index).expect("serial status"));
        let threaded = described(threaded_status(&repo, &index).expect("threaded status"));
        assert_eq!(serial, threaded);
        assert!(serial.len() >= 8, "every kind of change is seen: {serial:#?}");

        let mut from_git: Vec<String> = git(dir, &["status", "--porcelain", "--untracked-files=all"])
            .lines()
            .map(|line| line[3..].to_owned())
            .collect();
        from_git.sort();
        assert_eq!(worktree_changes(&repo).expect("changes"), from_git);
    }

    /// After a run the worktree's index is the run's tree with stat data that matches the files,
    /// so `git status` is clean without git reading any file again, whether the stat data came
    /// from the index on disk or from the files (an index this reader does not read: version 4,
    /// or none); a file touched but left as it was still shows clean (git compares its content).
    #[test]
    fn the_refreshed_index_leaves_git_status_clean_and_needs_no_refresh() {
        for known in ["version 2", "version 4", "none"] {
            let tmp = tempfile::tempdir().expect("tempdir");
            let dir = tmp.path();
            git(dir, &["init", "-q", "-b", "main"]);
            for i in 0..20 {
                std::fs::create_dir_all(dir.join(format!("d{}", i % 4))).expect("mkdir");
                std::fs::write(dir.join(format!("d{}/f{i}.txt", i % 4)), format!("{i}\n")).expect("write");
            }
            std::fs::write(dir.join("becomes_a_dir"), "file\n").expect("write");
            git(dir, &["add", "-A"]);
            git(dir, &["commit", "-q", "-m", "base"]);

            std::fs::write(dir.join("d1/f5.txt"), "changed\n").expect("edit");
            std::fs::remove_file(dir.join("d2/f6.txt")).expect("rm");
            std::fs::write(dir.join("d3/new.txt"), "new\n").expect("add");
            std::fs::create_dir_all(dir.join("e/f")).expect("mkdir");
            std::fs::write(dir.join("e/f/deeper.txt"), "new\n").expect("add");
            std::fs::remove_file(dir.join("becomes_a_dir")).expect("rm");
            std::fs::create_dir_all(dir.join("becomes_a_dir")).expect("mkdir");
            std::fs::write(dir.join("becomes_a_dir/inside"), "inside\n").expect("add");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::Permissions::from_mode(0o755);
                std::fs::set_permissions(dir.join("d0/f4.txt"), mode).expect("chmod");
                std::os::unix::fs::symlink("d0/f0.txt", dir.join("link")).expect("symlink");
            }
            let repo = gix::open(dir).expect("open");
            let tree = snapshot_tree(&repo, false).expect("snapshot");
            // As a run lands: the branch moves to a commit of the snapshot, then the index follows.
            let commit = git(dir, &["commit-tree", &tree.to_string(), "-p", "HEAD", "-m", "run"]);
            git(dir, &["update-ref", "HEAD", &commit]);
            match known {
                "version 4" => drop(git(dir, &["update-index", "--index-version", "4"])),
                "none" => std::fs::remove_file(dir.join(".git/index")).expect("rm index"),
                _ => {}
            }
            refresh_index(&repo, tree).expect("refresh");

            assert_eq!(
                git(dir, &["status", "--porcelain", "--untracked-files=all"]),
                "",
                "known: {known}"
            );
            // No entry's stat data is stale: git would list it here without comparing contents.
            assert_eq!(git(dir, &["diff-files", "--name-only"]), "", "known: {known}");
            assert_eq!(git(dir, &["write-tree"]), tree.to_string());

            std::fs::write(dir.join("d0/f0.txt"), "0\n").expect("rewrite the same content");
            let repo = gix::open(dir).expect("open");
            let again = snapshot_tree(&repo, true).expect("snapshot");
            assert_eq!(again, tree, "nothing changed");
            refresh_index(&repo, again).expect("refresh");
            assert_eq!(
                git(dir, &["status", "--porcelain", "--untracked-files=all"]),
                "",
                "known: {known}"
            );
        }
    }
}
