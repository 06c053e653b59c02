//! Linked worktrees for runs: created with gix on a new branch, or a finished run's worktree
//! switched to a new branch when the same workspace path is used again.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::bstr::ByteSlice;
use gix::refs::transaction::PreviousValue;

use super::Repo;
use crate::error::{Error, Result};

/// The directory under a workspace that holds evidence; it ignores itself.
pub const EVIDENCE_DIR: &str = ".operations_center";

/// A linked worktree checked out on a run branch.
pub struct RunWorktree {
    /// Absolute path of the worktree's root.
    pub path: PathBuf,
    /// Short branch name, e.g. `demo/run-1a2b3c4d`.
    pub branch: String,
    /// The commit the branch starts from; `None` in a repository without commits.
    pub base: Option<gix::ObjectId>,
    /// The repository opened on the worktree.
    pub repo: gix::Repository,
    /// True when an existing, clean run worktree was switched to the new branch.
    pub recycled: bool,
    /// The index and HEAD as git-oc left them, before the agent ran.
    pub fingerprint: super::snapshot::IndexFingerprint,
}

impl RunWorktree {
    fn new(path: PathBuf, branch: String, base: Option<gix::ObjectId>, repo: gix::Repository, recycled: bool) -> Self {
        let fingerprint = super::snapshot::index_fingerprint(&repo);
        RunWorktree {
            path,
            branch,
            base,
            repo,
            recycled,
            fingerprint,
        }
    }
}

/// Check that `branch` is a valid new local branch name.
pub fn validate_branch_name(repo: &Repo, branch: &str) -> Result<gix::refs::FullName> {
    let full = branch_ref_name(branch)?;
    if let Some(why) = branch_taken(repo, &full) {
        return Err(Error::input(format!("branch {branch:?} {why}"))
            .hint("git-oc never reuses a branch: pass another --branch, or put {run} in it for a unique name"));
    }
    Ok(full)
}

/// `refs/heads/<branch>`, if git accepts `branch` as a branch name.
pub fn branch_ref_name(branch: &str) -> Result<gix::refs::FullName> {
    let hint = "branch names follow git's rules (see 'git check-ref-format --branch'), e.g. oc/fix-lint";
    // git refuses these as branch names even though they are valid ref components.
    if branch.is_empty() || branch.starts_with('-') || branch == "HEAD" || branch == "@" || branch.contains("@{") {
        return Err(Error::input(format!("invalid branch name {branch:?}")).hint(hint));
    }
    gix::refs::FullName::try_from(format!("refs/heads/{branch}")).map_err(|e| {
        Error::input(format!("invalid branch name {branch:?}"))
            .caused_by(e.to_string())
            .hint(hint)
    })
}

/// Why a branch name cannot be used for a new run: it exists, or a worktree has it checked out
/// (in a repository without commits a branch lives only in a worktree's HEAD until its first
/// commit).
pub fn branch_taken(repo: &Repo, full: &gix::refs::FullName) -> Option<String> {
    let name = full.as_bstr().to_str_lossy();
    if repo.find_reference_target(&name).ok().flatten().is_some() {
        return Some("already exists".to_owned());
    }
    let head = format!("ref: {name}");
    let admin = repo.common_dir().join("worktrees");
    for entry in std::fs::read_dir(admin).into_iter().flatten().flatten() {
        // Read without blocking: an agent can write in `.git/worktrees/` too.
        let read = |name: &str| crate::config::read::read_plain_text(&entry.path().join(name), 64 << 10);
        if read("HEAD").is_some_and(|h| h.trim() == head) {
            let at = read("gitdir").unwrap_or_default();
            let at = at.trim().trim_end_matches("/.git");
            return Some(format!("is checked out in the worktree {at}"));
        }
    }
    None
}

/// The first of `candidates` no branch or worktree uses; called under the worktree mutex, so
/// that concurrent runs never pick the same one.
fn pick_branch(repo: &Repo, candidates: &[String]) -> Result<gix::refs::FullName> {
    let mut last = None;
    for candidate in candidates {
        let full = branch_ref_name(candidate)?;
        match branch_taken(repo, &full) {
            None => return Ok(full),
            Some(why) => last = Some((candidate, why)),
        }
    }
    let (name, why) = last.ok_or_else(|| Error::internal("no branch name to choose from"))?;
    Err(Error::input(format!("branch {name:?} {why}"))
        .hint("git-oc never reuses a branch: pass another --branch, or put {run} in it for a unique name"))
}

enum Destination {
    /// Absent or an empty directory.
    Fresh,
    /// A linked worktree of this repository, to be switched to the new branch.
    Recycle,
    /// A directory holding only evidence from a run that never got a worktree (a blocked run).
    EvidenceOnly,
}

fn inspect_destination(repo: &Repo, dest: &Path) -> Result<Destination> {
    let meta = match std::fs::symlink_metadata(dest) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Destination::Fresh),
        Err(e) => {
            return Err(Error::input(format!("cannot use workspace path {}", dest.display()))
                .caused_by(e.to_string())
                .hint("pass --workspace-path a location you can write to"));
        }
    };
    if !meta.is_dir() {
        return Err(Error::input(format!(
            "workspace path {} exists and is not a directory",
            dest.display()
        ))
        .hint("pass --workspace-path a directory that does not exist yet, or omit it"));
    }
    if is_registered_worktree(repo, dest)? {
        return Ok(Destination::Recycle);
    }
    let entries: Vec<_> = std::fs::read_dir(dest)
        .map_err(|e| Error::input(format!("cannot read workspace path {}", dest.display())).caused_by(e.to_string()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    match entries.as_slice() {
        [] => Ok(Destination::Fresh),
        [only] if only == EVIDENCE_DIR => Ok(Destination::EvidenceOnly),
        _ => Err(Error::input(format!(
            "workspace path {} is not empty and is not a worktree of this repository",
            dest.display()
        ))
        .hint("pass --workspace-path a new or empty directory, or omit it to let git-oc choose one")),
    }
}

fn is_registered_worktree(repo: &Repo, dest: &Path) -> Result<bool> {
    let Ok(canonical) = std::fs::canonicalize(dest) else {
        return Ok(false);
    };
    if std::fs::canonicalize(repo.workdir()).is_ok_and(|w| w == canonical) {
        return Err(Error::input(format!(
            "workspace path {} is the repository's own work tree",
            dest.display()
        ))
        .hint("runs never touch your checkout: pass --workspace-path a new directory, or omit it"));
    }
    let main = repo
        .repo
        .main_repo()
        .map_err(|e| Error::git("could not open the main repository", e))?;
    if main
        .workdir()
        .and_then(|w| std::fs::canonicalize(w).ok())
        .is_some_and(|w| w == canonical)
    {
        return Err(Error::input(format!(
            "workspace path {} is the repository's main work tree",
            dest.display()
        ))
        .hint("runs never touch your checkout: pass --workspace-path a new directory, or omit it"));
    }
    for proxy in main
        .worktrees()
        .map_err(|e| Error::git("could not list worktrees", e))?
    {
        if let Ok(base) = proxy.base()
            && std::fs::canonicalize(&base).is_ok_and(|b| b == canonical)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Directories created on the way to a destination, removed again if the run cannot start.
struct CreatedDirs(Vec<PathBuf>);

impl CreatedDirs {
    fn create(dir: &Path) -> Result<CreatedDirs> {
        let mut missing = Vec::new();
        let mut cur = Some(dir);
        while let Some(d) = cur {
            if d.as_os_str().is_empty() || d.exists() {
                break;
            }
            missing.push(d.to_owned());
            cur = d.parent();
        }
        let mut created = CreatedDirs(Vec::new());
        for d in missing.into_iter().rev() {
            match std::fs::create_dir(&d) {
                Ok(()) => {}
                // Another run made it first (two runs in a fresh repository): it is not ours
                // to remove again.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && d.is_dir() => continue,
                Err(e) => {
                    created.undo();
                    return Err(
                        Error::input(format!("cannot create workspace directory {}", d.display()))
                            .caused_by(e.to_string())
                            .hint("pass --workspace-path a location you can write to"),
                    );
                }
            }
            created.0.push(d);
        }
        Ok(created)
    }

    fn undo(&mut self) {
        for d in self.0.drain(..).rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn delete_branch(repo: &gix::Repository, full: &gix::refs::FullName, expected: gix::ObjectId) {
    let _ = super::refs::edit(repo, super::refs::deletion(full.clone(), expected));
}

fn create_branch(repo: &Repo, full: &gix::refs::FullName, base: gix::ObjectId, base_label: &str) -> Result<()> {
    let message = format!("branch: Created from {base_label}");
    let edit = super::refs::update(full.clone(), PreviousValue::MustNotExist, base, &message);
    super::refs::edit(&repo.repo, edit)
        .map_err(|e| Error::git(format!("could not create branch {}", full.shorten()), e))?;
    Ok(())
}

/// Point a worktree's HEAD at `full` (possibly an unborn branch), as `git switch --orphan` does.
fn attach_head(wt_git_dir: &Path, full: &gix::refs::FullName) -> Result<()> {
    let content = format!("ref: {}\n", full.as_bstr());
    let tmp = wt_git_dir.join("HEAD.lock");
    std::fs::write(&tmp, content)
        .and_then(|_| std::fs::rename(&tmp, wt_git_dir.join("HEAD")))
        .map_err(|e| Error::io("could not attach the worktree HEAD", &e))
}

fn open_worktree(path: &Path) -> Result<gix::Repository> {
    let mut repo = gix::open_opts(path, super::pack::open_options(Default::default()))
        .map_err(|e| Error::git(format!("could not open worktree {}", path.display()), e))?;
    super::tune(&mut repo)?;
    Ok(repo)
}

/// Create (or recycle) the linked worktree at `dest` on the new branch `branch` from `base`.
/// On failure nothing is left behind: no branch, no registration, no directories it created.
/// The branch is the first of `branches` that no branch or worktree uses, chosen under the
/// worktree mutex.
#[tracing::instrument(level = "debug", skip(repo, branches), fields(branch = ?branches.first(), base = ?base.map(|b| b.to_string())))]
pub fn create_run_worktree(
    repo: &Repo,
    base: Option<gix::ObjectId>,
    base_label: &str,
    branches: &[String],
    dest: &Path,
) -> Result<RunWorktree> {
    for b in branches {
        branch_ref_name(b)?;
    }
    let dest = super::absolute(dest);
    check_placement(repo, &dest)?;
    match inspect_destination(repo, &dest)? {
        Destination::Fresh => add_fresh(repo, base, base_label, branches, &dest),
        Destination::Recycle => recycle(repo, base, base_label, branches, &dest),
        Destination::EvidenceOnly => {
            // Park the evidence beside the destination while gix fills the empty directory.
            let parked = dest.with_file_name(format!(
                ".{}.oc-evidence-{}",
                dest.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ));
            let evidence = dest.join(EVIDENCE_DIR);
            std::fs::rename(&evidence, &parked).map_err(|e| Error::io("could not set aside earlier evidence", &e))?;
            let outcome = add_fresh(repo, base, base_label, branches, &dest);
            let _ = std::fs::create_dir_all(&dest);
            std::fs::rename(&parked, &evidence).map_err(|e| {
                Error::io(
                    format!("could not restore earlier evidence from {}", parked.display()),
                    &e,
                )
            })?;
            outcome
        }
    }
}

fn add_fresh(
    repo: &Repo,
    base: Option<gix::ObjectId>,
    base_label: &str,
    branches: &[String],
    dest: &Path,
) -> Result<RunWorktree> {
    let mut chosen: Option<gix::refs::FullName> = None;
    let mut created = CreatedDirs(Vec::new());
    let mut dest_existed = false;
    let mut branch_made = false;
    let mut admin: Option<PathBuf> = None;
    let outcome = (|| -> Result<RunWorktree> {
        {
            // The branch and the worktree that checks it out appear together under git-oc's
            // worktree mutex, which `git oc gc` also holds: gc never sees the fresh branch
            // without its worktree (and so never deletes it as merged).
            let _mutex = StateMutex::lock(&repo.state_dir())?;
            let full = chosen.insert(pick_branch(repo, branches)?);
            if let Some(parent) = dest.parent() {
                created = CreatedDirs::create(parent)?;
            }
            dest_existed = dest.exists();
            if let Some(base) = base {
                create_branch(repo, full, base, base_label)?;
                branch_made = true;
            }
            admin = Some(register_worktree(repo, full, dest)?);
        }
        let full = chosen.as_ref().ok_or_else(|| Error::internal("no branch was chosen"))?;
        let wt = open_worktree(dest)?;
        // In a repository without commits the branch is unborn: there is nothing to check out,
        // and the run's first commit creates the branch.
        if base.is_some() {
            let worktree = wt
                .worktree()
                .ok_or_else(|| Error::run("the new worktree is not a linked worktree"))?;
            worktree
                .checkout(gix::progress::Discard, &gix::interrupt::IS_INTERRUPTED)
                .map_err(|e| worktree_error(dest, e))?;
        }
        Ok(RunWorktree::new(
            dest.to_owned(),
            full.shorten().to_str_lossy().into_owned(),
            base,
            open_worktree(dest)?,
            false,
        ))
    })();
    if outcome.is_err() {
        let _mutex = StateMutex::lock(&repo.state_dir());
        if let Some(admin) = admin {
            let _ = std::fs::remove_dir_all(admin);
        }
        if dest_existed {
            if let Ok(entries) = std::fs::read_dir(dest) {
                for e in entries.flatten() {
                    let _ = if e.path().is_dir() {
                        std::fs::remove_dir_all(e.path())
                    } else {
                        std::fs::remove_file(e.path())
                    };
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(dest);
        }
        // Only a branch this run created: a name taken by someone else stays theirs.
        if let (Some(base), true, Some(full)) = (base, branch_made, &chosen) {
            delete_branch(&repo.repo, full, base);
        }
        created.undo();
    }
    outcome
}

/// Serializes worktree registration among git-oc processes: an advisory `flock` on a file in
/// git-oc's state directory, released when the holder exits, however it exits.
pub(crate) struct StateMutex {
    // Held for its lifetime: closing the file releases the lock.
    file: std::fs::File,
}

impl StateMutex {
    /// Wait for and take the mutex (git-oc's worktree creation and `git oc gc` hold it).
    pub(crate) fn lock(state_dir: &Path) -> Result<StateMutex> {
        Self::lock_named(state_dir, "worktrees.mutex")
    }

    /// Take the mutex kept in `state_dir/name` if no one holds it.
    pub(crate) fn try_lock_named(state_dir: &Path, name: &str) -> Option<StateMutex> {
        Self::take(state_dir, name, libc::LOCK_EX | libc::LOCK_NB).ok()
    }

    /// Wait for and take the mutex kept in `state_dir/name`.
    pub(crate) fn lock_named(state_dir: &Path, name: &str) -> Result<StateMutex> {
        Self::take(state_dir, name, libc::LOCK_EX)
    }

    fn take(state_dir: &Path, name: &str, operation: libc::c_int) -> Result<StateMutex> {
        use std::os::fd::AsRawFd;
        std::fs::create_dir_all(state_dir).map_err(|e| Error::io("could not create git-oc's state directory", &e))?;
        let path = state_dir.join(name);
        // The agent can write here: a mutex that pointed at one of your files would have its
        // marks written over that file, a FIFO would block the read of the mark for good.
        let (file, _) = crate::config::read::open_regular_file(
            std::fs::OpenOptions::new().create(true).read(true).append(true),
            &path,
            false,
        )
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => {
                Error::run(format!("git-oc's mutex at {} is not a regular file", path.display()))
                    .hint("something replaced it (an agent?); remove it, git-oc makes a new one")
            }
            _ => Error::io("could not open git-oc's mutex", &e),
        })?;
        // SAFETY: flock(2) on a file descriptor we own; without LOCK_NB it blocks until no other
        // holder remains.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } != 0 {
            return Err(Error::io(
                format!("could not lock git-oc's {name}"),
                &std::io::Error::last_os_error(),
            ));
        }
        Ok(StateMutex { file })
    }

    /// What a holder wrote with [`StateMutex::mark`] and did not clear: a holder that died
    /// in the middle of its work leaves its mark behind.
    pub(crate) fn mark_left(&self) -> String {
        use std::io::{Read, Seek};
        let mut text = String::new();
        let mut file = &self.file;
        let _ = file.rewind().and_then(|_| file.read_to_string(&mut text));
        text
    }

    /// Replace the mark (an empty one clears it). In the mutex file itself, so marking costs no
    /// file creation.
    pub(crate) fn mark(&self, text: &str) {
        use std::io::Write;
        let _ = self
            .file
            .set_len(0)
            .and_then(|_| (&self.file).write_all(text.as_bytes()));
    }
}

/// Register a linked worktree for `full` at `dest` the way git lays it out, atomically: the
/// administrative directory is prepared aside and renamed into `.git/worktrees/` whole, so a
/// crash never leaves a half-written entry that `git fsck` or `git worktree list` would trip on.
fn register_worktree(repo: &Repo, full: &gix::refs::FullName, dest: &Path) -> Result<PathBuf> {
    let fail = |what: &str, e: &std::io::Error| {
        Error::io(format!("could not create a worktree at {}: {what}", dest.display()), e)
            .hint("pass --workspace-path a location you can write to")
    };
    let state = repo.state_dir();
    let common = state.parent().unwrap_or(&state).to_owned();
    let worktrees = common.join("worktrees");
    let staging = state.join("tmp");
    std::fs::create_dir_all(&worktrees).map_err(|e| fail("cannot create .git/worktrees", &e))?;
    std::fs::create_dir_all(&staging).map_err(|e| fail("cannot create git-oc's staging directory", &e))?;
    std::fs::create_dir_all(dest).map_err(|e| fail("cannot create the directory", &e))?;
    let dest = std::fs::canonicalize(dest).map_err(|e| fail("cannot resolve the directory", &e))?;

    // The caller holds the worktree mutex.
    let stem: String = dest
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .collect()
        })
        .filter(|s: &String| !s.is_empty() && !s.starts_with('.'))
        .unwrap_or_else(|| "worktree".to_owned());
    let mut id = stem.clone();
    let mut n = 1;
    while worktrees.join(&id).exists() {
        id = format!("{stem}{n}");
        n += 1;
    }
    let admin = worktrees.join(&id);
    let tmp = staging.join(format!("{id}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
    let write = |name: &str, content: String| std::fs::write(tmp.join(name), content);
    std::fs::create_dir_all(&tmp)
        .and_then(|_| write("HEAD", format!("ref: {}\n", full.as_bstr())))
        .and_then(|_| write("commondir", "../..\n".to_owned()))
        .and_then(|_| write("gitdir", format!("{}\n", dest.join(".git").display())))
        .map_err(|e| fail("cannot write its administrative files", &e))?;
    std::fs::write(dest.join(".git"), format!("gitdir: {}\n", admin.display()))
        .map_err(|e| fail("cannot write its .git file", &e))?;
    std::fs::rename(&tmp, &admin).map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        fail("cannot register it in .git/worktrees", &e)
    })?;
    Ok(admin)
}

fn worktree_error(dest: &Path, e: gix::Error) -> Error {
    Error::git(format!("could not create a worktree at {}", dest.display()), e)
        .hint("pass --workspace-path a location you can write to")
}

/// Switch a clean, finished run worktree to a new branch from `base`, like
/// `git switch -c <branch> <base>`. Ignored files (the evidence of earlier runs) stay.
fn recycle(
    repo: &Repo,
    base: Option<gix::ObjectId>,
    base_label: &str,
    branches: &[String],
    dest: &Path,
) -> Result<RunWorktree> {
    let wt = open_worktree(dest)?;
    if wt.head_name().ok().flatten().is_none() {
        return Err(Error::input(format!(
            "workspace {} has a detached HEAD and was not made by git-oc",
            dest.display()
        ))
        .hint("pass --workspace-path a new directory, or omit it"));
    }
    if wt.worktree().is_some_and(|w| w.is_locked()) {
        return Err(Error::input(format!(
            "workspace {} is locked (a run may be in progress)",
            dest.display()
        ))
        .hint("wait for the other run, or pass --workspace-path a new directory"));
    }
    let changes = super::snapshot::worktree_changes(&wt)?;
    if !changes.is_empty() {
        return Err(Error::input(format!(
            "workspace {} has {} uncommitted change(s); git-oc only reuses clean run worktrees",
            dest.display(),
            changes.len()
        ))
        .hint("commit or discard them there, or pass --workspace-path a new directory"));
    }
    // Under the mutex gc holds; gc also spares the branch of a run in progress.
    let mutex = StateMutex::lock(&repo.state_dir())?;
    let full = &pick_branch(repo, branches)?;
    if let Some(base) = base {
        create_branch(repo, full, base, base_label)?;
    }
    let switched = switch_tree(&wt, base, dest).and_then(|_| attach_head(wt.git_dir(), full));
    drop(mutex);
    if let Err(e) = switched {
        if let Some(base) = base {
            delete_branch(&repo.repo, full, base);
        }
        return Err(e);
    }
    Ok(RunWorktree::new(
        dest.to_owned(),
        full.shorten().to_str_lossy().into_owned(),
        base,
        open_worktree(dest)?,
        true,
    ))
}

fn switch_tree(wt: &gix::Repository, base: Option<gix::ObjectId>, dest: &Path) -> Result<()> {
    let ctx = |e| Error::git(format!("could not switch workspace {}", dest.display()), e);
    let old_tree = wt.head_tree_id_or_empty().map_err(ctx)?.detach();
    let new_tree = match base {
        Some(commit) => wt.find_commit(commit).map_err(ctx)?.tree_id().map_err(ctx)?.detach(),
        None => gix::ObjectId::empty_tree(wt.object_hash()),
    };
    // Remove what the old tree tracks and the new one does not; checkout writes the rest.
    let old_index = wt.index_from_tree(&old_tree).map_err(ctx)?;
    let mut new_index = wt.index_from_tree(&new_tree).map_err(ctx)?;
    for entry in old_index.entries() {
        let path = entry.path(&old_index);
        if new_index.entry_by_path(path).is_none()
            && let Ok(rela) = gix::path::from_bstr(path)
        {
            let abs = dest.join(rela);
            let _ = std::fs::remove_file(&abs);
            let mut dir = abs.parent();
            while let Some(d) = dir {
                if d == dest || std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
    }
    let mut opts = wt
        .checkout_options(gix::worktree::stack::state::attributes::Source::IdMapping)
        .map_err(ctx)?;
    opts.destination_is_initially_empty = false;
    opts.overwrite_existing = true;
    let objects = wt
        .objects
        .clone()
        .into_arc()
        .map_err(|e| Error::run("could not open the object database").caused_by(e.to_string()))?;
    gix::worktree::state::checkout(
        &mut new_index,
        dest,
        objects,
        &gix::progress::Discard,
        &gix::progress::Discard,
        &AtomicBool::new(false),
        opts,
    )
    .map_err(|e| {
        Error::run(format!("could not check out the base into {}", dest.display())).caused_by(e.to_string())
    })?;
    new_index
        .write(Default::default())
        .map_err(|e| Error::run("could not write the worktree index").caused_by(e.to_string()))?;
    Ok(())
}

/// Refuse a destination that git-oc could not use, before the run writes anything.
pub fn check_destination(repo: &Repo, dest: &Path) -> Result<()> {
    let dest = super::absolute(dest);
    check_placement(repo, &dest)?;
    inspect_destination(repo, &dest).map(|_| ())
}

/// `path` with symlinks resolved as far as it exists, the rest appended as written.
fn resolve(path: &Path) -> PathBuf {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return path.to_owned(),
        }
    }
}

/// A run's worktree may be neither inside a work tree of the repository (a worktree in
/// `src/ws` shows up in `git status` and can be committed) nor inside its git directory (a
/// worktree in `.git/refs/heads/x` or `.git/objects/zz` breaks `git fsck`). The one exception is
/// git-oc's own location for worktrees, `<git-dir>/oc/worktrees/<name>`.
fn check_placement(repo: &Repo, dest: &Path) -> Result<()> {
    let real = resolve(dest);
    let own_root = repo.state_dir().join("worktrees");
    if real.parent() == Some(own_root.as_path()) {
        return Ok(());
    }
    let git_dirs = [repo.common_dir().to_owned(), repo.repo.git_dir().to_owned()];
    for git_dir in git_dirs {
        let git_dir = resolve(&super::absolute(&git_dir));
        if real.starts_with(&git_dir) {
            return Err(Error::input(format!(
                "workspace path {} is inside the repository's git directory {}",
                dest.display(),
                git_dir.display()
            ))
            .hint(format!(
                "pass --workspace-path a directory outside it, or omit it (git-oc's own worktrees go under {})",
                own_root.display()
            )));
        }
    }
    let main = repo
        .repo
        .main_repo()
        .map_err(|e| Error::git("could not open the main repository", e))?;
    let mut work_trees: Vec<PathBuf> = main.workdir().into_iter().map(Path::to_owned).collect();
    work_trees.extend(repo.repo.workdir().map(Path::to_owned));
    for proxy in main
        .worktrees()
        .map_err(|e| Error::git("could not list worktrees", e))?
    {
        if let Ok(base) = proxy.base() {
            work_trees.push(base);
        }
    }
    for tree in work_trees {
        let tree = resolve(&super::absolute(&tree));
        if real != tree && real.starts_with(&tree) {
            return Err(Error::input(format!(
                "workspace path {} is inside the work tree {}",
                dest.display(),
                tree.display()
            ))
            .hint("runs never write into a checkout: pass --workspace-path a directory outside it, or omit it"));
        }
    }
    Ok(())
}

/// If the agent deleted the worktree's `.git` link while its administrative directory is still
/// there, write the link again (as `git worktree repair` would) and say so.
pub fn repair_git_link(_repo: &Repo, wt: &RunWorktree) -> Option<String> {
    let link = wt.path.join(".git");
    if link.exists() || !wt.path.is_dir() {
        return None;
    }
    let admin = super::absolute(wt.repo.git_dir());
    if !admin.join("HEAD").is_file() {
        return None;
    }
    std::fs::write(&link, format!("gitdir: {}\n", admin.display())).ok()?;
    Some("the agent removed the worktree's .git link; git-oc restored it".to_owned())
}

/// Make a run worktree match its HEAD commit again after validation commands wrote into it:
/// tracked files restored, untracked files removed. Ignored files and git-oc's evidence
/// directory stay.
#[tracing::instrument(level = "debug")]
pub fn restore_committed(path: &Path) -> Result<()> {
    let clean_pattern = format!("/{EVIDENCE_DIR}/");
    for args in [
        &["reset", "-q", "--hard", "HEAD"][..],
        &["clean", "-q", "-f", "-d", "-e", &clean_pattern][..],
    ] {
        let out = super::git_command(path)
            .args(args)
            .output()
            .map_err(|e| Error::io("could not run git to tidy the worktree", &e))?;
        if !out.status.success() {
            return Err(
                Error::run("could not restore the worktree to the run's commit after validation")
                    .caused_by(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
            );
        }
    }
    Ok(())
}
