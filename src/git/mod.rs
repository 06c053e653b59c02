//! The git layer: repository discovery, linked worktrees, snapshots and diffs, commits, refs and
//! notes. Everything goes through gix except `push`, which gix cannot do. Nothing here knows what
//! a run or its evidence means: that is `pipeline` and `evidence`, above.

pub mod diff;
pub mod evidence;
pub mod fifo;
pub mod guard;
pub mod index_stats;
pub mod loose;
pub mod notes;
pub mod pack;
pub mod reach;
pub mod refs;
pub mod snapshot;
pub mod worktree;

use std::path::{Path, PathBuf};

use gix::bstr::ByteSlice;

use crate::error::{Error, Result};

/// Identity used for commits when the repository configures none; git itself would guess one
/// from the host name, gix refuses, and a run should not fail for want of a name.
pub const FALLBACK_NAME: &str = "git-oc";
pub const FALLBACK_EMAIL: &str = "git-oc@localhost";

/// Evidence refs live here, one per run.
pub const RUNS_REF_PREFIX: &str = "refs/oc/runs/";
/// The notes ref holding one block per run on the run's commit.
pub const NOTES_REF: &str = "refs/notes/oc";
/// Where `git oc worker` publishes its notes: one ref per worker, so that workers never race each
/// other for `refs/notes/oc`; `git oc fetch` merges them into it.
pub const WORKER_NOTES_PREFIX: &str = "refs/notes/oc-worker/";
/// The demo's evidence refs: apart from real runs, so that `git oc push` never publishes them.
pub const DEMO_REF_PREFIX: &str = "refs/oc/demo/";
/// The demo's notes, apart from real runs' for the same reason.
pub const DEMO_NOTES_REF: &str = "refs/notes/oc-demo";

/// The repository git-oc was started in.
pub struct Repo {
    pub repo: gix::Repository,
}

impl Repo {
    /// Find the repository containing `dir` the way git does, honouring `GIT_DIR` and friends
    /// (git exports them to external subcommands). Bare repositories are refused: runs need a
    /// work tree to branch from. As git does, a repository owned by someone else is refused
    /// unless `safe.directory` (in the global or system configuration) trusts it.
    pub fn discover(dir: &Path) -> Result<Repo> {
        Self::discover_optional(dir)?.ok_or_else(|| {
            Error::input(format!("not inside a git repository: {}", dir.display()))
                .caused_by(format!("no git repository in {} or any of its parents", dir.display()))
                .hint("run git oc inside a git work tree, or create one with 'git init'")
        })
    }

    /// Like [`Repo::discover`], but `None` when `dir` is in no repository at all (for commands
    /// that also work outside one); a repository that cannot be used is still an error.
    pub fn discover_optional(dir: &Path) -> Result<Option<Repo>> {
        let mut trust = gix::sec::trust::Mapping::<gix::open::Options>::default();
        trust.full = pack::open_options(trust.full);
        trust.reduced = pack::open_options(trust.reduced).bail_if_untrusted(true);
        let found = gix::ThreadSafeRepository::discover_with_environment_overrides_opts(dir, Default::default(), trust);
        let mut repo: gix::Repository = match found {
            Ok(repo) => repo.into(),
            Err(e) => return discovery_error(dir, &e).map(|()| None),
        };
        if repo.workdir().is_none() {
            return Err(Error::input(format!(
                "git-oc needs a work tree, but {} is a bare repository",
                repo.git_dir().display()
            ))
            .hint("clone the repository with a work tree, or run git oc inside a linked worktree of it"));
        }
        tune(&mut repo)?;
        Ok(Some(Repo { repo }))
    }

    /// Whether the repository's file system ignores case (`core.ignorecase`), so that path
    /// rules must match case-insensitively.
    pub fn ignore_case(&self) -> bool {
        self.repo.config_snapshot().boolean("core.ignorecase").unwrap_or(false)
    }

    pub fn workdir(&self) -> &Path {
        self.repo.workdir().expect("checked at discovery")
    }

    pub fn common_dir(&self) -> &Path {
        self.repo.common_dir()
    }

    /// Where git-oc keeps per-repository state that should never be committed.
    pub fn state_dir(&self) -> PathBuf {
        let common = absolute(self.common_dir());
        std::fs::canonicalize(&common).unwrap_or(common).join("oc")
    }

    /// The name of the current branch (`main`), if HEAD is attached.
    pub fn current_branch(&self) -> Option<String> {
        let head = self.repo.head_name().ok().flatten()?;
        Some(head.shorten().to_str_lossy().into_owned())
    }

    /// Resolve a revision to a commit; `None` when it is `HEAD` of a repository without commits.
    pub fn resolve_base(&self, spec: &str) -> Result<Option<gix::ObjectId>> {
        if spec == "HEAD" {
            let head = self.repo.head().map_err(|e| Error::git("could not read HEAD", e))?;
            let Some(id) = head.id() else { return Ok(None) };
            return self.peel_to_commit(id.detach(), spec).map(Some);
        }
        let id = self.repo.rev_parse_single(spec).map_err(|e| {
            Error::input(format!("unknown base revision {spec:?}"))
                .caused_by(crate::error::error_chain(&e).join(": "))
                .hint("pass --base a branch, tag or commit that exists, e.g. --base HEAD")
        })?;
        self.peel_to_commit(id.detach(), spec).map(Some)
    }

    fn peel_to_commit(&self, id: gix::ObjectId, spec: &str) -> Result<gix::ObjectId> {
        let object = self
            .repo
            .find_object(id)
            .map_err(|e| Error::git(format!("could not read {spec}"), e))?;
        let commit = object.peel_to_commit().map_err(|e| {
            Error::input(format!("base revision {spec:?} does not name a commit"))
                .caused_by(crate::error::error_chain(&e).join(": "))
                .hint("pass --base a branch, tag or commit, e.g. --base main")
        })?;
        Ok(commit.id)
    }

    /// The URL a clone would use: `origin`'s if configured, else the repository's own path.
    pub fn clone_url(&self) -> String {
        if let Ok(remote) = self.repo.find_remote("origin")
            && let Some(url) = remote.url(gix::remote::Direction::Fetch)
        {
            return url.to_bstring().to_string();
        }
        self.workdir().display().to_string()
    }

    /// The repository's name: `origin`'s last path segment, else the work tree's directory name.
    pub fn name(&self) -> String {
        let url = self.clone_url();
        let trimmed = url.trim_end_matches('/').trim_end_matches(".git");
        let name = trimmed.rsplit(['/', ':']).next().unwrap_or("").to_owned();
        if name.is_empty() { "repo".to_owned() } else { name }
    }

    /// The branch `base` names for a proposal: the current branch for `HEAD`, else as given.
    pub fn base_branch(&self, spec: &str, base: Option<gix::ObjectId>) -> String {
        if spec == "HEAD" {
            self.current_branch()
                .unwrap_or_else(|| base.map(|b| short(&b)).unwrap_or_else(|| "HEAD".to_owned()))
        } else {
            spec.to_owned()
        }
    }

    /// Another handle on the repository that keeps the objects it writes in memory, to be
    /// written out as one pack by [`pack::flush`] before anything refers to them.
    pub fn with_object_memory(&self) -> Repo {
        Repo {
            repo: self.repo.clone().with_object_memory(),
        }
    }

    pub fn find_reference_target(&self, name: &str) -> Result<Option<gix::ObjectId>> {
        refs::target(&self.repo, name)
    }
}

/// The names of the refs under `prefix` (e.g. `refs/oc/runs/`), loose and packed, sorted,
/// without reading what each points at: with 10,000 loose refs that is one directory read
/// instead of 10,000 file reads, fast enough for completion. Lock files are not refs; a loose
/// file that does not hold a valid ref is listed by name all the same.
pub fn ref_names(repo: &gix::Repository, prefix: &str) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut stack = vec![repo.common_dir().join(prefix)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(repo.common_dir())
                && let Some(name) = rel.to_str()
                && !name.ends_with(".lock")
            {
                names.insert(name.replace(std::path::MAIN_SEPARATOR, "/"));
            }
        }
    }
    if let Ok(Some(packed)) = repo.refs.cached_packed_buffer()
        && let Ok(iter) = packed.iter_prefixed(prefix.into())
    {
        names.extend(iter.flatten().map(|r| r.name.as_bstr().to_str_lossy().into_owned()));
    }
    names.into_iter().collect()
}

/// Why discovery failed, in git's terms: `Ok(())` when there is no repository at all, else a
/// repository git would refuse for its ownership, a SHA-256 repository (gix is built for SHA-1
/// only here), or another reason not to use it.
fn discovery_error(dir: &Path, err: &gix::Error) -> Result<()> {
    use gix::discover::upwards::Error as Upwards;
    if let Some(
        Upwards::NoGitRepository { .. }
        | Upwards::NoGitRepositoryWithinCeiling { .. }
        | Upwards::NoGitRepositoryWithinFs { .. },
    ) = err.downcast_any_ref::<Upwards>()
    {
        return Ok(());
    }
    let chain = crate::error::error_chain(err).join(": ");
    if chain.contains("considered unsafe") || chain.contains("not owned by the current user") {
        // Find where the repository is to name it the way git does.
        let at = gix::discover(dir)
            .ok()
            .and_then(|r| r.workdir().map(Path::to_owned).or_else(|| Some(r.git_dir().to_owned())))
            .unwrap_or_else(|| dir.to_owned());
        let at = std::fs::canonicalize(&at).unwrap_or(at);
        return Err(Error::input(format!(
            "detected dubious ownership in repository at '{}'",
            at.display()
        ))
        .caused_by("it is owned by another user and not listed in safe.directory")
        .hint(format!(
            "if you trust it, allow it as git does: git config --global --add safe.directory {}",
            at.display()
        )));
    }
    if chain.contains("extensions.objectFormat") || chain.contains("Object format") {
        return Err(Error::input(format!(
            "the repository at {} uses an object format git-oc does not support (SHA-256)",
            dir.display()
        ))
        .caused_by(chain)
        .hint(
            "git-oc works with SHA-1 repositories only; use it in a repository made with the default object format",
        ));
    }
    Err(Error::input(format!("not inside a git repository: {}", dir.display()))
        .caused_by(chain)
        .hint("run git oc inside a git work tree, or create one with 'git init'"))
}

/// Drop `GIT_INDEX_FILE` from git-oc's own environment. gix honours it for every repository it
/// opens (the user's and each run worktree alike), so an index file exported by a hook or a
/// script would receive git-oc's own index writes. Agents and `git` children never got it
/// either. Must be called before any other thread starts (it changes the process environment).
pub fn scrub_environment() {
    if std::env::var_os("GIT_INDEX_FILE").is_some() {
        // SAFETY: called first thing in `main`, while the process has a single thread.
        unsafe { std::env::remove_var("GIT_INDEX_FILE") };
    }
}

/// Adjust a repository handle's configuration in memory only (nothing is written):
/// - a fallback identity, where configuration and `GIT_AUTHOR_*` / `GIT_COMMITTER_*` set none;
/// - nanosecond file times in status, as git compiled with USE_NSEC: a worktree git-oc just
///   checked out is then not "racily clean", and a snapshot hashes only the files that changed.
pub fn tune(repo: &mut gix::Repository) -> Result<()> {
    let needs_fallback = repo.committer().is_none() || repo.author().is_none();
    let mut values = vec![("gitoxide.core.useNsec", "true")];
    if needs_fallback {
        values.extend([
            ("gitoxide.committer.nameFallback", FALLBACK_NAME),
            ("gitoxide.committer.emailFallback", FALLBACK_EMAIL),
            ("gitoxide.author.nameFallback", FALLBACK_NAME),
            ("gitoxide.author.emailFallback", FALLBACK_EMAIL),
        ]);
    }
    let mut snapshot = repo.config_snapshot_mut();
    for (key, value) in values {
        snapshot
            .set_raw_value(key, value)
            .map_err(|e| Error::run("could not configure the repository handle").caused_by(e.to_string()))?;
    }
    snapshot
        .commit()
        .map_err(|e| Error::run("could not configure the repository handle").caused_by(e.to_string()))?;
    Ok(())
}

/// `path` made absolute against the current directory, without resolving symlinks.
/// `path` made absolute against the current directory, with `.` and `..` resolved lexically
/// (symlinks are not followed, so the path still reads as the user typed it).
pub fn absolute(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut out = PathBuf::new();
    for component in abs.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A `git` child process for the few things gix cannot do. The inherited repository variables
/// are removed so that the explicit `-C` wins; prompts are disabled; replacement objects are
/// ignored, as git-oc's own reads ignore them.
pub fn git_command(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_NAMESPACE")
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C");
    cmd
}

/// Run `git args` in `dir` with `input` on its standard input; its standard output, or an
/// error with its standard error when it fails.
pub fn run_with_input(dir: &Path, args: &[String], input: &[u8]) -> Result<String> {
    use std::io::Write;
    let what = args.first().map_or("git", String::as_str);
    let mut child = git_command(dir)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("could not run git (is it installed?)", &e))?;
    let mut stdin = child.stdin.take();
    // Written from another thread: git may fill its output pipe before it has read everything.
    let written = std::thread::scope(|scope| {
        let writer = scope.spawn(move || stdin.as_mut().map_or(Ok(()), |s| s.write_all(input)));
        let out = child.wait_with_output();
        (writer.join(), out)
    });
    let out = written
        .1
        .map_err(|e| Error::io(format!("could not run git {what}"), &e))?;
    if !out.status.success() {
        return Err(
            Error::run(format!("git {what} failed")).caused_by(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A commit's message, as text.
pub fn commit_message(repo: &gix::Repository, id: gix::ObjectId) -> Result<String> {
    let commit = repo
        .find_commit(id)
        .map_err(|e| Error::git(format!("could not read commit {}", short(&id)), e))?;
    Ok(commit.message_raw_sloppy().to_str_lossy().into_owned())
}

/// Short hex form of an object id, as `git log --oneline` shows it.
pub fn short(id: &gix::oid) -> String {
    id.to_hex_with_len(7).to_string()
}
