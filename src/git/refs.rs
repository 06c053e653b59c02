//! Ref updates by compare-and-swap: git-oc names the ref it moves and the value it expects there,
//! and never moves a ref through a worktree's HEAD (which an agent can point anywhere).

use gix::bstr::ByteSlice;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};

use crate::error::{Error, Result};

/// Where git-oc's ref edits take turns (see [`guarded`]), under `.git/oc/`.
const REF_EDIT_MUTEX: &str = "refs.mutex";

/// `repo.edit_reference(edit)`, taking turns with git-oc's other ref edits (see [`guarded`]).
/// Every ref git-oc moves goes through here or [`set`].
pub fn edit(repo: &gix::Repository, edit: RefEdit) -> gix::Result<Vec<RefEdit>> {
    let name = edit.name.as_bstr().to_str_lossy().into_owned();
    guarded(repo, &name, || repo.edit_reference(edit.clone()))
}

/// `repo.reference(name, target, expected, log_message)`, taking turns as [`edit`] does.
pub fn set<'r>(
    repo: &'r gix::Repository,
    name: &str,
    target: gix::ObjectId,
    expected: PreviousValue,
    log_message: &str,
) -> gix::Result<gix::Reference<'r>> {
    guarded(repo, name, || {
        repo.reference(name, target, expected.clone(), log_message)
    })
}

/// The edit that points `name` at `new` if it holds `expected`, with a reflog where git keeps
/// one: under heads, remotes and notes, elsewhere only with `core.logAllRefUpdates=always`.
pub fn update(name: gix::refs::FullName, expected: PreviousValue, new: gix::ObjectId, log_message: &str) -> RefEdit {
    RefEdit {
        change: Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: log_message.into(),
            },
            expected,
            new: gix::refs::Target::Object(new),
        },
        name,
        deref: false,
    }
}

/// The edit that deletes `name` if it holds `expected`.
pub fn deletion(name: gix::refs::FullName, expected: gix::ObjectId) -> RefEdit {
    RefEdit {
        change: Change::Delete {
            expected: PreviousValue::MustExistAndMatch(gix::refs::Target::Object(expected)),
            log: RefLog::AndReference,
        },
        name,
        deref: false,
    }
}

/// Run `edit`, which changes the ref `name` (a full name), with git-oc's other ref edits
/// waiting their turn. gix takes a lock file for each ref it edits and, while `packed-refs`
/// exists (as in every clone), `packed-refs.lock` too: a git-oc killed in between leaves them,
/// and from then on every ref edit in the repository fails (git's own, `git branch -d`, as
/// well). The holder of the turn marks in the mutex file what it is editing; a mark found on
/// taking the turn means the last holder died in the middle, and the lock files it names are
/// its own: they are removed. A lock file no git-oc marked (a plain git's) is never touched.
fn guarded<T, E: std::error::Error + 'static>(
    repo: &gix::Repository,
    name: &str,
    mut edit: impl FnMut() -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let common = repo.common_dir();
    for each in name.lines().filter(|n| is_shared_ref(n)) {
        set_aside_planted_reflog(common, each);
    }
    // Without packed refs gix takes no lock beside the ref's own (nothing is left in every
    // edit's way), and a fresh repository's runs create no mutex file.
    if !common.join("packed-refs").exists() && !common.join("packed-refs.lock").exists() {
        return raceproof(&mut edit);
    }
    // Without a state directory to keep the mutex in, the edit goes ahead as gix does it.
    let Ok(mutex) = super::worktree::StateMutex::lock_named(&common.join("oc"), REF_EDIT_MUTEX) else {
        return raceproof(&mut edit);
    };
    remove_dead_holders_locks(common, &mutex);
    mutex.mark(&format!("packed-refs\n{name}"));
    let result = raceproof(&mut edit);
    mutex.mark("");
    result
}

/// The lock files named by the mark a dead holder of the ref edits' turn left (see
/// [`guarded`]) are its own: they are removed.
fn remove_dead_holders_locks(common: &std::path::Path, mutex: &super::worktree::StateMutex) {
    let left = mutex.mark_left();
    for left_name in left.lines().filter(|n| *n == "packed-refs" || is_shared_ref(n)) {
        let lock = common.join(format!("{left_name}.lock"));
        if lock.exists() {
            tracing::warn!(lock = %lock.display(), "a git-oc process died editing refs; removing its lock");
            let _ = std::fs::remove_file(&lock);
        }
    }
}

/// Remove the lock files a git-oc killed in the middle of a ref edit left, before a git fetch
/// or push edits refs: a worker restarted in the clone of one killed while packing its board
/// fetches first, and git cannot move a ref whose lock file is in the way.
pub fn clear_dead_edits(repo: &gix::Repository) {
    let common = repo.common_dir();
    // Without the mutex file no git-oc ever marked an edit here.
    if !common.join("oc").join(REF_EDIT_MUTEX).exists() {
        return;
    }
    if let Ok(mutex) = super::worktree::StateMutex::lock_named(&common.join("oc"), REF_EDIT_MUTEX) {
        remove_dead_holders_locks(common, &mutex);
        mutex.mark("");
    }
}

/// Run a ref edit again when a directory on the way to its lock file vanished under it: another
/// process (`git pack-refs --prune`, a deleted ref's cleanup, git's or git-oc's) removes the
/// directories a ref leaves empty, such as `refs/oc/runs/`, between gix making them and making
/// the lock. Such an edit changed nothing; git retries it too (`raceproof_create_file`).
/// Found with twelve runs at once, one of which merges the packs and packs the refs.
fn raceproof<T, E: std::error::Error + 'static>(
    edit: &mut impl FnMut() -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let mut attempts = 1;
    loop {
        match edit() {
            Err(e) if attempts < 5 && lost_its_directory(&e) => attempts += 1,
            result => return result,
        }
    }
}

/// Whether taking a lock failed because a directory on its path was missing: not found, or
/// there when created ("File exists") and gone when looked at a moment later (gix then reports
/// the path as not a directory).
fn lost_its_directory(error: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind::{NotADirectory, NotFound};
    let mut at_lock = false;
    let mut cause = Some(error);
    while let Some(e) = cause {
        let text = e.to_string();
        at_lock |= text.contains("lock");
        let io_kind = e.downcast_ref::<std::io::Error>().map(std::io::Error::kind);
        if at_lock && (matches!(io_kind, Some(NotFound | NotADirectory)) || text.contains("(os error 2)")) {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The edit appends to the ref's reflog, `logs/<name>`, opened for appending as it is found: a
/// symlink the agent put there (it can write in `.git`) would have the line appended to the file
/// it points at, one of yours, and a FIFO would block the open. Anything there that is not a
/// regular file is removed (a link itself, never its target); the edit then starts a new log.
fn set_aside_planted_reflog(common: &std::path::Path, name: &str) {
    let log = common.join("logs").join(name);
    if let Ok(meta) = std::fs::symlink_metadata(&log)
        && !meta.is_file()
        && !meta.is_dir()
    {
        tracing::warn!(log = %log.display(), "a reflog that is not a file was removed before the ref edit");
        let _ = std::fs::remove_file(&log);
    }
}

/// A valid full ref name under `refs/` (so its lock file stays inside the refs directory).
fn is_shared_ref(name: &str) -> bool {
    name.starts_with("refs/") && gix::refs::FullName::try_from(name).is_ok()
}

/// Point `name` at `new`, if it holds `expected` now (`None`: it must not exist).
#[tracing::instrument(level = "debug", skip(repo, log_message), fields(expected = ?expected.map(|e| e.to_string()), new = %new))]
pub fn compare_and_swap(
    repo: &gix::Repository,
    name: &str,
    expected: Option<gix::ObjectId>,
    new: gix::ObjectId,
    log_message: &str,
) -> Result<()> {
    edit(repo, update(full_name(name)?, must_hold(expected), new, log_message))
        .map_err(|e| Error::git(format!("could not update {name}"), e))?;
    Ok(())
}

/// What a ref must hold for a compare-and-swap: `expected`, or nothing at all.
fn must_hold(expected: Option<gix::ObjectId>) -> PreviousValue {
    match expected {
        Some(id) => PreviousValue::MustExistAndMatch(gix::refs::Target::Object(id)),
        None => PreviousValue::MustNotExist,
    }
}

/// [`compare_and_swap`] for several refs in one transaction: all of them move, or none (when
/// one of them no longer holds what was expected). Each is `(name, expected, new, log message)`.
pub fn compare_and_swap_all(
    repo: &gix::Repository,
    moves: &[(String, Option<gix::ObjectId>, gix::ObjectId, &str)],
) -> Result<()> {
    let mut edits = Vec::with_capacity(moves.len());
    for (name, expected, new, log_message) in moves {
        edits.push(update(full_name(name)?, must_hold(*expected), *new, log_message));
    }
    edit_all(repo, edits, &format!("could not update {} refs", moves.len()))
}

/// `edits` in one transaction, taking turns as [`edit`] does: all of them apply, or none.
fn edit_all(repo: &gix::Repository, edits: Vec<RefEdit>, context: &str) -> Result<()> {
    if edits.is_empty() {
        return Ok(());
    }
    guarded(repo, &names_of(&edits), || repo.edit_references(edits.clone())).map_err(|e| Error::git(context, e))?;
    Ok(())
}

/// The refs `edits` take a lock file for, one per line: the mutex's mark (see [`guarded`]).
fn names_of(edits: &[RefEdit]) -> String {
    edits
        .iter()
        .map(|e| e.name.as_bstr().to_str_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Delete every `(name, expected)` in one transaction: all of them go, or none (when one of
/// them no longer holds what was expected). gix rewrites `packed-refs` whole, line by line, for
/// each transaction that deletes a packed ref: one at a time, deleting a few hundred refs of a
/// packed repository took as many rewrites (300 of 600: 731,000 writes, 8.5 s).
pub fn delete_all(repo: &gix::Repository, refs: &[(String, gix::ObjectId)]) -> Result<()> {
    let mut edits = Vec::with_capacity(refs.len());
    for (name, expected) in refs {
        edits.push(deletion(full_name(name)?, *expected));
    }
    edit_all(repo, edits, &format!("could not delete {} refs", refs.len()))
}

/// Create `name` at `target`; it must not exist yet.
pub fn create(repo: &gix::Repository, name: &str, target: gix::ObjectId, log_message: &str) -> Result<()> {
    compare_and_swap(repo, name, None, target, log_message)
}

/// Delete `name` if it holds `expected`.
#[tracing::instrument(level = "debug", skip(repo))]
pub fn delete(repo: &gix::Repository, name: &str, expected: gix::ObjectId) -> Result<()> {
    edit(repo, deletion(full_name(name)?, expected)).map_err(|e| Error::git(format!("could not delete {name}"), e))?;
    Ok(())
}

/// The commit `name` points at, if it exists.
pub fn target(repo: &gix::Repository, name: &str) -> Result<Option<gix::ObjectId>> {
    match repo.try_find_reference(name) {
        Ok(Some(mut r)) => Ok(r.peel_to_id().ok().map(|id| id.detach())),
        Ok(None) => Ok(None),
        Err(e) => Err(Error::git(format!("could not read {name}"), e)),
    }
}

/// The refs under `prefix` (a full ref name prefix such as `refs/oc/tasks/`) and the objects
/// they point at, in one pass over the refs and without reading any object (a symbolic ref is
/// peeled): keyed by the name after the prefix. One directory walk instead of a lookup per ref,
/// each of which stats `packed-refs` and opens the ref's file.
pub fn ids_under(repo: &gix::Repository, prefix: &str) -> Result<std::collections::BTreeMap<String, gix::ObjectId>> {
    let ctx = |e| Error::git(format!("could not list the refs under {prefix}"), e);
    let platform = repo.references().map_err(ctx)?;
    let mut out = std::collections::BTreeMap::new();
    for reference in platform.prefixed(prefix).map_err(ctx)? {
        // A ref that cannot be read is left out, as a ref that does not exist.
        let Ok(mut reference) = reference else { continue };
        let name = reference.name().as_bstr().to_str_lossy().into_owned();
        if let (Some(rest), Ok(id)) = (name.strip_prefix(prefix), target_id(&mut reference)) {
            out.insert(rest.to_owned(), id);
        }
    }
    Ok(out)
}

/// Every ref and what it points at, for noticing refs that changed during a run.
pub fn all(repo: &gix::Repository) -> Result<std::collections::BTreeMap<String, String>> {
    let ctx = |e| Error::git("could not list the refs", e);
    let platform = repo.references().map_err(ctx)?;
    let mut out = std::collections::BTreeMap::new();
    for r in platform.all().map_err(ctx)?.flatten() {
        let target = match r.target() {
            gix::refs::TargetRef::Object(id) => id.to_string(),
            gix::refs::TargetRef::Symbolic(name) => format!("ref: {}", name.as_bstr()),
        };
        out.insert(r.name().as_bstr().to_string(), target);
    }
    Ok(out)
}

/// Move the loose refs under `prefixes` into `packed-refs`, their values unchanged, as `git
/// pack-refs` does, once that costs less than leaving them: every listing of refs opens one
/// file per loose ref, and a worker's fetches and merges leave board refs loose by the dozen,
/// but gix writes every line of `packed-refs` anew (unbuffered) for each transaction that
/// touches it. With reads growing as the loose refs pile up and the rewrite costing as many
/// lines as there are packed refs, packing pays when the loose count squared passes four times
/// the packed count, and there are 16 at least (about every fourth round of 8 workers on a
/// board of 200 tasks). Returns how many were packed; a ref another process moves meanwhile
/// fails the transaction, which changes nothing.
pub fn pack_loose(repo: &gix::Repository, prefixes: &[&str]) -> Result<usize> {
    use gix::refs::file::transaction::PackedRefs;
    let mut edits = Vec::new();
    for prefix in prefixes {
        let relative = <&gix::path::RelativePath>::try_from(*prefix)
            .map_err(|e| Error::internal(format!("invalid ref prefix {prefix}")).caused_by(e.to_string()))?;
        let loose = repo
            .refs
            .loose_iter_prefixed(relative)
            .map_err(|e| Error::io(format!("could not list the refs under {prefix}"), &e))?;
        for reference in loose.flatten() {
            if let gix::refs::Target::Object(id) = reference.target {
                let expected = PreviousValue::MustExistAndMatch(gix::refs::Target::Object(id));
                edits.push(update(reference.name, expected, id, "pack"));
            }
        }
    }
    let packed = repo
        .refs
        .cached_packed_buffer()
        .ok()
        .flatten()
        .and_then(|buffer| buffer.iter().ok().map(Iterator::count))
        .unwrap_or(0);
    if edits.len() < 16 || edits.len() * edits.len() < 4 * packed {
        return Ok(0);
    }
    let names = names_of(&edits);
    let wait = gix::lock::acquire::Fail::AfterDurationWithBackoff(std::time::Duration::from_millis(100));
    let count = edits.len();
    guarded(repo, &names, || {
        repo.refs
            .transaction()
            .packed_refs(PackedRefs::DeletionsAndNonSymbolicUpdatesRemoveLooseSourceReference(
                Box::new(repo.objects.clone()),
            ))
            .prepare(edits.clone(), wait, wait)
            .and_then(|t| t.commit(None))
    })
    .map_err(|e| Error::git("could not pack the board's refs", e))?;
    Ok(count)
}

fn full_name(name: &str) -> Result<gix::refs::FullName> {
    gix::refs::FullName::try_from(name)
        .map_err(|e| Error::internal(format!("invalid ref name {name}")).caused_by(e.to_string()))
}

/// The object `reference` points at: a direct ref as it is (no object read), a symbolic one
/// peeled. Listing thousands of evidence refs or tasks reads no object for this.
pub fn target_id(reference: &mut gix::Reference<'_>) -> std::result::Result<gix::ObjectId, String> {
    match reference.target().try_id() {
        Some(id) => Ok(id.to_owned()),
        None => reference.peel_to_id().map(|id| id.detach()).map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::{REF_EDIT_MUTEX, compare_and_swap, compare_and_swap_all, delete_all, pack_loose, raceproof};
    use crate::git::worktree::StateMutex;
    use crate::pipeline::tests::git;

    /// A repository whose refs are packed, as a clone's are; gix then locks `packed-refs` for
    /// every ref edit.
    fn packed_repo(dir: &std::path::Path) -> (gix::Repository, gix::ObjectId) {
        git(dir, &["init", "-q", "-b", "main"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", "base"]);
        git(dir, &["pack-refs", "--all"]);
        let repo = gix::open(dir).expect("open");
        let head = repo.head_id().expect("head").detach();
        (repo, head)
    }

    #[test]
    fn locks_a_killed_git_oc_left_mid_edit_are_removed_by_the_next_edit() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (repo, head) = packed_repo(tmp.path());
        let git_dir = tmp.path().join(".git");
        // What a git-oc killed in the middle of creating refs/heads/a leaves: its mark in the
        // mutex and both lock files.
        let mutex = StateMutex::lock_named(&git_dir.join("oc"), REF_EDIT_MUTEX).expect("mutex");
        mutex.mark("packed-refs\nrefs/heads/a");
        std::fs::write(git_dir.join("packed-refs.lock"), "").expect("lock");
        std::fs::write(git_dir.join("refs/heads/a.lock"), "").expect("lock");
        drop(mutex);

        compare_and_swap(&repo, "refs/heads/b", None, head, "test").expect("the stale locks are cleared");
        assert!(!git_dir.join("packed-refs.lock").exists());
        assert!(!git_dir.join("refs/heads/a.lock").exists());
        compare_and_swap(&repo, "refs/heads/a", None, head, "test").expect("a is free again");
        assert_eq!(git(tmp.path(), &["rev-parse", "a", "b"]), format!("{head}\n{head}"));
    }

    #[test]
    fn refs_moved_together_all_move_or_none_does() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (repo, head) = packed_repo(tmp.path());
        git(tmp.path(), &["commit", "-q", "--allow-empty", "-m", "next"]);
        let next = repo.rev_parse_single("HEAD").expect("next").detach();
        compare_and_swap(&repo, "refs/heads/a", None, head, "test").expect("a");
        let moves = |a_expected| {
            vec![
                ("refs/heads/a".to_owned(), Some(a_expected), next, "test"),
                ("refs/heads/b".to_owned(), None, next, "test"),
            ]
        };
        // a no longer holds what the caller read: b is not created either.
        compare_and_swap_all(&repo, &moves(next)).expect_err("a holds head, not next");
        assert_eq!(git(tmp.path(), &["rev-parse", "a"]), head.to_string());
        assert_eq!(git(tmp.path(), &["for-each-ref", "refs/heads/b"]), "");
        compare_and_swap_all(&repo, &moves(head)).expect("both as read");
        assert_eq!(git(tmp.path(), &["rev-parse", "a", "b"]), format!("{next}\n{next}"));
        assert!(!tmp.path().join(".git/packed-refs.lock").exists());
    }

    #[test]
    fn loose_board_refs_are_packed_once_reading_them_costs_more_than_rewriting_packed_refs() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (repo, head) = packed_repo(tmp.path());
        let git_dir = tmp.path().join(".git");
        let loose = |n: usize| {
            for i in 0..n {
                compare_and_swap(&repo, &format!("refs/oc/tasks/t{i}"), None, head, "test").expect("task");
            }
        };
        // 101 refs packed; 15 loose tasks (under 16), then 20 (20 x 20 is under 4 x 101).
        let mut packed: Vec<String> = (0..100).map(|i| format!("{head} refs/oc/other/o{i:03}\n")).collect();
        packed.insert(
            0,
            format!("# pack-refs with: peeled fully-peeled sorted \n{head} refs/heads/main\n"),
        );
        std::fs::write(git_dir.join("packed-refs"), packed.concat()).expect("packed");
        loose(15);
        assert_eq!(pack_loose(&repo, &["refs/oc/tasks/"]).expect("pack"), 0);
        std::fs::remove_dir_all(git_dir.join("refs/oc/tasks")).expect("reset");
        loose(20);
        assert_eq!(pack_loose(&repo, &["refs/oc/tasks/"]).expect("pack"), 0);
        // 21 loose: packed, every value as it was, and the refs outside the prefix untouched.
        compare_and_swap(&repo, "refs/oc/tasks/t20", None, head, "test").expect("task");
        compare_and_swap(&repo, "refs/oc/claims/c", None, head, "test").expect("claim");
        assert_eq!(pack_loose(&repo, &["refs/oc/tasks/"]).expect("pack"), 21);
        assert!(!git_dir.join("refs/oc/tasks").exists(), "no loose task ref is left");
        assert!(
            git_dir.join("refs/oc/claims/c").is_file(),
            "a ref outside the prefix stays loose"
        );
        let tasks = git(
            tmp.path(),
            &["for-each-ref", "--format=%(objectname)", "refs/oc/tasks/"],
        );
        let head = head.to_string();
        assert_eq!(tasks.lines().filter(|id| *id == head).count(), 21);
        assert_eq!(
            git(tmp.path(), &["for-each-ref", "refs/oc/other/"]).lines().count(),
            100
        );
        assert!(!git_dir.join("packed-refs.lock").exists());
    }

    #[test]
    fn refs_deleted_together_all_go_or_none_does() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (repo, head) = packed_repo(tmp.path());
        for name in ["a", "b", "c"] {
            compare_and_swap(&repo, &format!("refs/oc/runs/{name}"), None, head, "test").expect("ref");
        }
        git(tmp.path(), &["pack-refs", "--all"]);
        git(tmp.path(), &["commit", "-q", "--allow-empty", "-m", "next"]);
        let next = repo.rev_parse_single("HEAD").expect("next").detach();
        let gone = |names: &[&str], expected| {
            names
                .iter()
                .map(|n| (format!("refs/oc/runs/{n}"), expected))
                .collect::<Vec<_>>()
        };
        // b does not hold what the caller read: a is not deleted either.
        delete_all(&repo, &gone(&["a", "b"], next)).expect_err("they hold head");
        assert_eq!(
            git(tmp.path(), &["for-each-ref", "--format=%(refname)", "refs/oc/runs/"])
                .lines()
                .count(),
            3
        );
        delete_all(&repo, &gone(&["a", "b"], head)).expect("both as read");
        assert_eq!(
            git(tmp.path(), &["for-each-ref", "--format=%(refname)", "refs/oc/runs/"]),
            "refs/oc/runs/c"
        );
        assert!(!tmp.path().join(".git/packed-refs.lock").exists());
    }

    #[test]
    fn a_lock_no_git_oc_marked_is_left_to_its_owner() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (repo, head) = packed_repo(tmp.path());
        let lock = tmp.path().join(".git/packed-refs.lock");
        // A plain git command holding packed-refs: git-oc waits as gix does, then gives up.
        std::fs::write(&lock, "").expect("lock");
        let err = compare_and_swap(&repo, "refs/heads/b", None, head, "test").expect_err("packed-refs is locked");
        assert!(format!("{err:?}").contains("packed-refs"), "{err:?}");
        assert!(lock.exists());
        std::fs::remove_file(&lock).expect("unlock");
        compare_and_swap(&repo, "refs/heads/b", None, head, "test").expect("free again");
    }

    /// The lock's directory vanished (another process removed it, left empty): the edit is
    /// tried again; any other failure, and the same one past a few attempts, is the caller's.
    #[test]
    fn an_edit_whose_lock_directory_vanished_is_tried_again() {
        #[derive(Debug)]
        struct Locking(std::io::Error);
        impl std::fmt::Display for Locking {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("Another IO error occurred while obtaining the lock")
            }
        }
        impl std::error::Error for Locking {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let vanished = || Locking(std::io::Error::from(std::io::ErrorKind::NotFound));
        let mut calls = 0;
        let result = raceproof(&mut || {
            calls += 1;
            if calls < 3 { Err(vanished()) } else { Ok(calls) }
        });
        assert_eq!(result.expect("third time"), 3);
        let mut calls = 0;
        let result: std::result::Result<(), Locking> = raceproof(&mut || {
            calls += 1;
            Err(vanished())
        });
        assert!(result.is_err());
        assert_eq!(calls, 5);
        let mut calls = 0;
        let result: std::result::Result<(), Locking> = raceproof(&mut || {
            calls += 1;
            Err(Locking(std::io::Error::from(std::io::ErrorKind::PermissionDenied)))
        });
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }

    /// gix's own error when the directory it just made is gone as it looks (here: a file in its
    /// place, which is what gix then sees) is one an edit is tried again for, a few times.
    #[test]
    fn a_lock_whose_directory_was_not_there_when_looked_at_is_tried_again() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (repo, head) = packed_repo(tmp.path());
        std::fs::create_dir_all(tmp.path().join(".git/refs/oc")).expect("mkdir");
        std::fs::write(tmp.path().join(".git/refs/oc/runs"), "").expect("a file in the way");
        let mut calls = 0;
        let result = raceproof(&mut || {
            calls += 1;
            repo.reference(
                "refs/oc/runs/r",
                head,
                gix::refs::transaction::PreviousValue::MustNotExist,
                "test",
            )
        });
        assert!(result.is_err());
        assert_eq!(calls, 5);
    }
}
