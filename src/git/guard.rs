//! What an agent must not leave changed in the repository it works on: the configuration git
//! reads and the hooks git runs. Every worktree shares them, and either runs a command of the
//! agent's later, with your rights and outside any run: in git-oc's own git commands
//! (`remote.origin.receivepack` runs on `git oc push`) or in yours (`hooks/pre-push`,
//! `core.fsmonitor`). The same goes for your global configuration (`~/.gitconfig`, git's XDG
//! file), the files any of them include, and a `core.hooksPath` directory they name, and for
//! git-oc's own configuration (the user's and the checkout's `.oc/config.toml`), whose policy
//! gates every later run. They are read before the agent runs and put back after it.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::board::git::TASKS_REF_PREFIX;

/// A path as it was.
#[derive(PartialEq, Eq)]
enum Kept {
    File(Vec<u8>, u32),
    Link(PathBuf),
    /// A directory or a special file: looked at no further (a FIFO is never opened).
    Other,
    Absent,
}

fn read(path: &Path) -> Kept {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => match std::fs::read(path) {
            Ok(bytes) => Kept::File(bytes, meta.permissions().mode() & 0o7777),
            Err(_) => Kept::Other,
        },
        Ok(meta) if meta.file_type().is_symlink() => std::fs::read_link(path).map_or(Kept::Other, Kept::Link),
        Ok(_) => Kept::Other,
        Err(_) => Kept::Absent,
    }
}

/// The configuration files and hooks as they were before the agent ran.
pub struct Guarded {
    files: BTreeMap<PathBuf, Kept>,
    /// Hook directories: a file added to one is removed.
    hook_dirs: Vec<PathBuf>,
    /// The registrations of runs (`.git/oc/inflight/`), which `git oc gc` acts on.
    registrations: BTreeMap<PathBuf, Kept>,
    /// git-oc's caches, by what stamps each file's last change.
    caches: Vec<(PathBuf, Option<Stamp>)>,
    common_dir: PathBuf,
}

/// What changes with every write to a file, and which no one but the kernel sets: its inode and
/// the time of its last change (`ctime`, unlike `mtime`, cannot be set back by `touch`).
#[derive(PartialEq, Eq)]
struct Stamp(u64, u64, u64, i64, i64);

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).ok()?;
    Some(Stamp(m.dev(), m.ino(), m.size(), m.ctime(), m.ctime_nsec()))
}

/// The files of a flat directory, as they are.
fn entries(dir: &Path) -> BTreeMap<PathBuf, Kept> {
    dir_entries(dir)
        .into_iter()
        .map(|p| {
            let kept = read(&p);
            (p, kept)
        })
        .collect()
}

/// The entries of a flat directory (hooks, registrations).
fn dir_entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// The global configuration files git reads: `$GIT_CONFIG_GLOBAL`, or `~/.gitconfig` and the
/// XDG one (`$XDG_CONFIG_HOME/git/config`, `~/.config/git/config`).
fn global_configs() -> Vec<PathBuf> {
    if let Some(path) = std::env::var_os("GIT_CONFIG_GLOBAL") {
        return vec![PathBuf::from(path)];
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    home.map(|h| h.join(".gitconfig"))
        .into_iter()
        .chain(xdg.map(|x| x.join("git").join("config")))
        .collect()
}

/// A path as git resolves it in a configuration file at `config`: `~/` is the home directory,
/// a relative path is relative to the file's directory.
fn resolve(config: &Path, value: &str) -> Option<PathBuf> {
    if let Some(rest) = value.strip_prefix("~/") {
        return std::env::var_os("HOME").map(|h| PathBuf::from(h).join(rest));
    }
    let path = PathBuf::from(value);
    if path.is_absolute() {
        Some(path)
    } else {
        config.parent().map(|dir| dir.join(path))
    }
}

/// What a configuration file names that git reads or runs from: the files it includes
/// (`include.path`, `includeIf.*.path`, whatever the condition) and its `core.hooksPath`.
fn named_by(config: &Path, bytes: &[u8]) -> (Vec<PathBuf>, Option<PathBuf>) {
    let text = String::from_utf8_lossy(bytes);
    let Ok(file) = gix::config::File::try_from(text.as_ref()) else {
        return (Vec::new(), None);
    };
    let mut includes = Vec::new();
    for name in ["include", "includeIf"] {
        for section in file.sections_by_name(name).into_iter().flatten() {
            for value in section.values("path") {
                includes.extend(resolve(config, &value.to_string()));
            }
        }
    }
    let hooks_path = file
        .string("core.hooksPath")
        .and_then(|p| resolve(config, &p.to_string()))
        .filter(|p| p.is_absolute());
    (includes, hooks_path)
}

/// Included files are followed this deep (git stops at 10).
const MAX_INCLUDE_DEPTH: usize = 10;

impl Guarded {
    /// Take the configuration (`config`, `config.worktree` of the repository and of the run's
    /// worktree, the global files, and what they include) and the hooks (of the repository at
    /// `common_dir`, and of any `core.hooksPath`).
    /// `oc_configs`: git-oc's own configuration files (the user's and the checkout's
    /// `.oc/config.toml`), which set the gate's policy for every later run.
    pub fn take(common_dir: &Path, worktree_git_dir: &Path, oc_configs: &[PathBuf]) -> Guarded {
        let mut files = BTreeMap::new();
        for path in oc_configs {
            let kept = read(path);
            files.insert(path.clone(), kept);
        }
        let mut hook_dirs = vec![common_dir.join("hooks")];
        // What rewrites history as git reads it is kept like configuration: grafts and the
        // shallow list (either can hide a commit's parents from `git log` and `git rev-list`).
        // And what `git oc init --undo` reads to know which settings it added.
        // And what decides which files a run records and how it diffs them: `info/exclude`
        // (a file it ignores is left out of the commit) and `info/attributes` (`-diff` makes
        // every change a binary patch, with no lines to read).
        for path in [
            common_dir.join("info").join("grafts"),
            common_dir.join("shallow"),
            common_dir.join("oc").join("init.json"),
            common_dir.join("info").join("exclude"),
            common_dir.join("info").join("attributes"),
        ] {
            let kept = read(&path);
            files.insert(path, kept);
        }
        // Which repository the run's worktree belongs to (its `commondir`, its `gitdir`, and the
        // `.git` file in the worktree that `gitdir` names): pointed elsewhere, the kept worktree
        // would have plain git obey a configuration of the agent's (a `core.fsmonitor` program).
        let gitdir = worktree_git_dir.join("gitdir");
        let mut links = vec![worktree_git_dir.join("commondir"), gitdir.clone()];
        if let Ok(text) = std::fs::read_to_string(&gitdir) {
            links.push(PathBuf::from(text.trim_end_matches(['\n', '\r'])));
        }
        for path in links {
            let kept = read(&path);
            if !matches!(kept, Kept::Absent) {
                files.insert(path, kept);
            }
        }
        let mut configs: Vec<PathBuf> = vec![
            common_dir.join("config"),
            common_dir.join("config.worktree"),
            worktree_git_dir.join("config.worktree"),
        ];
        configs.extend(global_configs());
        for _ in 0..MAX_INCLUDE_DEPTH {
            let mut named = Vec::new();
            for path in configs.drain(..) {
                if files.contains_key(&path) {
                    continue;
                }
                let kept = read(&path);
                match &kept {
                    Kept::File(bytes, _) => {
                        let (includes, hooks_path) = named_by(&path, bytes);
                        named.extend(includes);
                        hook_dirs.extend(hooks_path);
                    }
                    // A configuration kept in a dotfiles repository: the file it points to.
                    Kept::Link(target) => named.extend(path.parent().map(|dir| dir.join(target))),
                    Kept::Other | Kept::Absent => {}
                }
                files.insert(path, kept);
            }
            if named.is_empty() {
                break;
            }
            configs = named;
        }
        hook_dirs.sort();
        hook_dirs.dedup();
        for hook in hook_dirs.iter().flat_map(|d| dir_entries(d)) {
            let kept = read(&hook);
            files.insert(hook, kept);
        }
        let caches = [crate::board::git::summary_cache(common_dir)]
            .into_iter()
            .map(|path| {
                let stamp = stamp(&path);
                (path, stamp)
            })
            .collect();
        Guarded {
            files,
            hook_dirs,
            registrations: entries(&crate::execution::inflight::dir(&common_dir.join("oc"))),
            caches,
            common_dir: common_dir.to_owned(),
        }
    }

    /// The runs registered when the agent started: the agent cannot have started them.
    pub fn registered_at_start(&self) -> std::collections::BTreeSet<String> {
        self.registrations
            .keys()
            .filter_map(|path| path.file_name()?.to_str()?.strip_suffix(".json").map(str::to_owned))
            .collect()
    }

    /// git-oc's caches that changed while the agent ran, deleted: what they hold is computed
    /// from objects, so one the agent wrote could say anything (every Done task Ready), and a
    /// cache is only ever rebuilt. Deleting one git-oc rewrote meanwhile costs that rebuild.
    /// The names of what was deleted.
    pub fn drop_changed_caches(&self) -> Vec<String> {
        let mut dropped = Vec::new();
        for (path, before) in &self.caches {
            if stamp(path) == *before {
                continue;
            }
            let name = path
                .strip_prefix(&self.common_dir)
                .unwrap_or(path)
                .display()
                .to_string();
            dropped.push(match remove(path) {
                Ok(()) => name,
                Err(e) => format!("{name} (could not be deleted: {e})"),
            });
        }
        dropped
    }

    /// Registrations of runs that the agent planted or edited: `git oc gc` removes what an
    /// interrupted run left (its worktree) and takes ungated commits off its branch, so a
    /// made-up registration must not outlive the agent. A registration whose lock is held
    /// belongs to a run in progress (another run, started meanwhile) and is left alone; one
    /// that appeared unlocked is removed, one that changed unlocked is put back. Those are
    /// named in what [`Guarded::restore`] returns.
    fn restore_registrations(&self, changed: &mut Vec<String>) {
        let dir = crate::execution::inflight::dir(&self.common_dir.join("oc"));
        for (path, now) in entries(&dir) {
            // Only `<run id>.json` is a registration. A `.tmp` file is one being written: another
            // run registering right now, before it could lock it (removing it failed that run);
            // `git oc gc` removes one that stays unlocked.
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let before = self.registrations.get(&path).unwrap_or(&Kept::Absent);
            if now == *before || crate::execution::inflight::is_live(&path) {
                continue;
            }
            changed.push(self.restore_one(&path, before));
        }
    }

    /// Put `path` back as it was (`before`); its name relative to the git directory, with why
    /// it could not be put back if so.
    fn restore_one(&self, path: &Path, before: &Kept) -> String {
        let name = path
            .strip_prefix(&self.common_dir)
            .unwrap_or(path)
            .display()
            .to_string();
        let put_back = match before {
            Kept::File(bytes, mode) => put_back(path, bytes, *mode),
            Kept::Link(target) => remove(path).and_then(|()| std::os::unix::fs::symlink(target, path)),
            Kept::Other | Kept::Absent => remove(path),
        };
        match put_back {
            Ok(()) => name,
            Err(e) => format!("{name} (could not be put back: {e})"),
        }
    }

    /// Put back every file that changed, remove hooks that were added; the names of what
    /// changed (relative to the repository's git directory), empty when nothing did.
    pub fn restore(&self) -> Vec<String> {
        let mut changed = Vec::new();
        let mut paths: Vec<PathBuf> = self.files.keys().cloned().collect();
        paths.extend(
            self.hook_dirs
                .iter()
                .flat_map(|d| dir_entries(d))
                .filter(|p| !self.files.contains_key(p)),
        );
        for path in paths {
            let before = self.files.get(&path).unwrap_or(&Kept::Absent);
            let now = read(&path);
            if now == *before {
                continue;
            }
            changed.push(self.restore_one(&path, before));
        }
        self.restore_registrations(&mut changed);
        changed
    }
}

fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    }
}

/// Write `bytes` at `path` with `mode`, replacing whatever is there (a symlink, a FIFO).
fn put_back(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".oc-tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
    remove(path)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Whether `name` is one of git-oc's records: evidence (kept, rejected, demo), tasks, held
/// tasks, notes. Remote-tracking copies are caches a fetch may force, not records.
fn is_record(name: &str) -> bool {
    [
        crate::git::RUNS_REF_PREFIX,
        "refs/oc/rejected/",
        crate::git::DEMO_REF_PREFIX,
        TASKS_REF_PREFIX,
        crate::board::held::HELD_REF_PREFIX,
    ]
    .iter()
    .any(|p| name.starts_with(p))
        || (name.starts_with("refs/notes/") && !name.starts_with("refs/notes/remotes/"))
}

/// Put back git-oc's records that the agent deleted or rewrote while it ran: every change git-oc
/// (or another run) makes to them builds on what was there, so a record now missing, or whose
/// history no longer holds what it held, was deleted or rewritten by the agent. A missing one
/// is created again; the shared notes get the old notes merged back (block by block, nothing
/// added since is lost); any other goes back to what it held. The names of what was put back.
/// With `tasks` false, task refs are left to [`put_back_tasks`].
pub fn restore_records(
    repo: &gix::Repository,
    workdir: &Path,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    tasks: bool,
) -> Vec<String> {
    let mut put_back = Vec::new();
    let considered = |name: &str| is_record(name) && (tasks || !name.starts_with(TASKS_REF_PREFIX));
    for (name, old) in before.iter().filter(|(name, _)| considered(name)) {
        let Ok(old_id) = gix::ObjectId::from_hex(old.as_bytes()) else {
            continue;
        };
        let restored = match after.get(name) {
            Some(now) if now == old => continue,
            None => super::refs::create(repo, name, old_id, "git-oc: put back after the agent deleted it"),
            Some(now) => {
                let Ok(now_id) = gix::ObjectId::from_hex(now.as_bytes()) else {
                    continue;
                };
                // Built on what was there, as git-oc's events are: unless it is an evidence ref
                // whose new commits change what the run recorded (an agent's "event").
                let forged = crate::evidence::Namespace::split_ref(name)
                    .and_then(|(_, id)| crate::evidence::verify::check_chain(repo, now_id, id));
                if forged.is_none() && is_ancestor(workdir, old, now) {
                    continue;
                }
                if name == super::NOTES_REF {
                    crate::publish::merge_notes(repo, old_id).map(drop)
                } else {
                    super::refs::compare_and_swap(
                        repo,
                        name,
                        Some(now_id),
                        old_id,
                        "git-oc: put back after the agent rewrote it",
                    )
                }
            }
        };
        put_back.push(match restored {
            Ok(()) => name.clone(),
            Err(e) => format!("{name} (could not be put back: {})", e.summary_line()),
        });
    }
    put_back
}

/// Where no other git-oc writes the board while the agent runs (a worker's own clone), a task
/// ref that changed in that time was written by the agent, even one built on what was there (a
/// move back to Ready, a comment): each goes back as it was, and one the agent created is
/// deleted. Otherwise the worker would run again a task the agent reopened, and publish what
/// the agent wrote on its own task. The names of what was put back.
pub fn put_back_tasks(
    repo: &gix::Repository,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    put_back_refs(repo, before, after, |name| name.starts_with(TASKS_REF_PREFIX))
}

/// The refs `which` names that differ between `before` and `after`, put back as they were
/// `before` (created ones deleted, deleted ones created); the names of what was put back.
pub fn put_back_refs(
    repo: &gix::Repository,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    which: impl Fn(&str) -> bool,
) -> Vec<String> {
    let id = |hex: &String| gix::ObjectId::from_hex(hex.as_bytes()).ok();
    let names: std::collections::BTreeSet<&String> =
        before.keys().chain(after.keys()).filter(|name| which(name)).collect();
    let mut put_back = Vec::new();
    for name in names {
        let (old, now) = (before.get(name), after.get(name));
        if old == now {
            continue;
        }
        let done = match (old.and_then(id), now.and_then(id)) {
            (Some(old), now) => {
                super::refs::compare_and_swap(repo, name, now, old, "git-oc: put back after the agent changed it")
            }
            (None, Some(now)) => super::refs::delete(repo, name, now),
            (None, None) => continue,
        };
        put_back.push(match done {
            Ok(()) if old.is_none() => format!("{name} (created by the agent: deleted)"),
            Ok(()) => name.clone(),
            Err(e) => format!("{name} (could not be put back: {})", e.summary_line()),
        });
    }
    put_back
}

/// Take out of git-oc's notes the blocks added while the agent ran that git-oc did not write
/// (`evidence::verify`): a concurrent run's block names its recorded run and stays; one the
/// agent wrote (`git notes --ref=oc append -m 'SUCCEEDED …'`) goes. With `sole_writer` (a
/// worker's clone, where no other git-oc writes notes meanwhile) so do the commits made to the
/// notes while the agent ran (their tree stays). What was taken out.
pub fn drop_foreign_notes(repo: &gix::Repository, before: &BTreeMap<String, String>, sole_writer: bool) -> Vec<String> {
    let mut dropped = Vec::new();
    for notes_ref in [super::NOTES_REF, super::DEMO_NOTES_REF] {
        let Ok(Some(now)) = super::refs::target(repo, notes_ref) else {
            continue;
        };
        let old = before
            .get(notes_ref)
            .and_then(|id| gix::ObjectId::from_hex(id.as_bytes()).ok());
        if old == Some(now) {
            continue;
        }
        let foreign = match crate::evidence::verify::foreign_blocks(repo, old, now) {
            Ok(foreign) => foreign,
            Err(e) => {
                dropped.push(format!("{notes_ref} (could not be checked: {})", e.summary_line()));
                continue;
            }
        };
        for f in foreign.iter().filter(|f| !f.commit.is_null()) {
            let removed = super::notes::update_note(repo, notes_ref, f.commit, |text| {
                crate::evidence::note::remove_block(text, &f.block)
            });
            dropped.push(match removed {
                Ok(_) => format!("a block on {} in {notes_ref} ({})", f.commit, f.why),
                Err(e) => format!(
                    "a block on {} in {notes_ref} ({}; could not be taken out: {})",
                    f.commit,
                    f.why,
                    e.summary_line()
                ),
            });
        }
        if let Some(f) = foreign.iter().find(|f| f.commit.is_null()) {
            dropped.push(format!("{notes_ref}: {} (left: remove it by hand)", f.why));
        }
        // The notes stay as they are now; the commits made meanwhile leave the history.
        if !sole_writer {
            continue;
        }
        if let Err(e) = super::notes::cut_history_back_to(repo, notes_ref, old) {
            dropped.push(format!(
                "the commits made to {notes_ref} while the agent ran (could not be taken out of its history: {})",
                e.summary_line()
            ));
        }
    }
    dropped
}

/// Put back `refs/replace/`, where a ref makes git show one object in place of another
/// (`git replace`): an agent could make the base look as if it already held what the run adds,
/// and your `git diff` of the run would not show it. git-oc itself ignores replacements; after
/// the agent, one it created is deleted, one it changed or deleted is put back. What was put
/// back.
pub fn restore_replacements(
    repo: &gix::Repository,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    const PREFIX: &str = "refs/replace/";
    let names: std::collections::BTreeSet<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|n| n.starts_with(PREFIX))
        .collect();
    let mut put_back = Vec::new();
    for name in names {
        let id = |m: &BTreeMap<String, String>| m.get(name).and_then(|v| gix::ObjectId::from_hex(v.as_bytes()).ok());
        let (old, now) = (id(before), id(after));
        if old == now {
            continue;
        }
        let restored = match (old, now) {
            (Some(old), None) => super::refs::create(repo, name, old, "git-oc: put back after the agent deleted it"),
            (Some(old), Some(now)) => super::refs::compare_and_swap(
                repo,
                name,
                Some(now),
                old,
                "git-oc: put back after the agent changed it",
            ),
            (None, Some(now)) => super::refs::delete(repo, name, now),
            (None, None) => continue,
        };
        put_back.push(match restored {
            Ok(()) => name.clone(),
            Err(e) => format!("{name} (could not be put back: {})", e.summary_line()),
        });
    }
    put_back
}

/// Whether commit `old` is an ancestor of (or is) `new`.
fn is_ancestor(workdir: &Path, old: &str, new: &str) -> bool {
    super::git_command(workdir)
        .args(["merge-base", "--is-ancestor", old, new])
        .output()
        .is_ok_and(|o| o.status.success())
}
