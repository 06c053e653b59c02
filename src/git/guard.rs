//! What an agent must not leave changed in the repository it works on: the configuration git
//! reads and the hooks git runs. Every worktree shares them, and either runs a command of the
//! agent's later, with your rights and outside any run: in git-oc's own git commands
//! (`remote.origin.receivepack` runs on `git oc push`) or in yours (`hooks/pre-push`,
//! `core.fsmonitor`). They are read before the agent runs and put back after it.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

/// The repository's configuration files and hooks as they were before the agent ran.
pub struct Guarded {
    files: BTreeMap<PathBuf, Kept>,
    common_dir: PathBuf,
}

/// The hooks directory's entries (a flat directory).
fn hooks(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

impl Guarded {
    /// Take the configuration (`config`, `config.worktree` of the repository and of the run's
    /// worktree) and the hooks of the repository at `common_dir`.
    pub fn take(common_dir: &Path, worktree_git_dir: &Path) -> Guarded {
        let hooks_dir = common_dir.join("hooks");
        let mut files = BTreeMap::new();
        for path in [
            common_dir.join("config"),
            common_dir.join("config.worktree"),
            worktree_git_dir.join("config.worktree"),
        ]
        .into_iter()
        .chain(hooks(&hooks_dir))
        {
            let kept = read(&path);
            files.insert(path, kept);
        }
        Guarded {
            files,
            common_dir: common_dir.to_owned(),
        }
    }

    /// Put back every file that changed, remove hooks that were added; the names of what
    /// changed (relative to the repository's git directory), empty when nothing did.
    pub fn restore(&self) -> Vec<String> {
        let mut changed = Vec::new();
        let mut paths: Vec<PathBuf> = self.files.keys().cloned().collect();
        paths.extend(
            hooks(&self.common_dir.join("hooks"))
                .into_iter()
                .filter(|p| !self.files.contains_key(p)),
        );
        for path in paths {
            let before = self.files.get(&path).unwrap_or(&Kept::Absent);
            let now = read(&path);
            if now == *before {
                continue;
            }
            let name = path
                .strip_prefix(&self.common_dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            let put_back = match before {
                Kept::File(bytes, mode) => put_back(&path, bytes, *mode),
                Kept::Link(target) => remove(&path).and_then(|()| std::os::unix::fs::symlink(target, &path)),
                Kept::Other | Kept::Absent => remove(&path),
            };
            changed.push(match put_back {
                Ok(()) => name,
                Err(e) => format!("{name} (could not be put back: {e})"),
            });
        }
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

/// Whether `name` is one of git-oc's records: evidence (kept, rejected, demo), tasks, notes.
/// Remote-tracking copies are caches a fetch may force, not records.
fn is_record(name: &str) -> bool {
    ["refs/oc/runs/", "refs/oc/rejected/", "refs/oc/demo/", "refs/oc/tasks/"]
        .iter()
        .any(|p| name.starts_with(p))
        || (name.starts_with("refs/notes/") && !name.starts_with("refs/notes/remotes/"))
}

/// Put back git-oc's records that the agent deleted or rewrote while it ran: every change git-oc
/// (or another run) makes to them builds on what was there, so a record now missing, or whose
/// history no longer holds what it held, was deleted or rewritten by the agent. A missing one
/// is created again; the shared notes get the old notes merged back (block by block, nothing
/// added since is lost); any other goes back to what it held. The names of what was put back.
pub fn restore_records(
    repo: &gix::Repository,
    workdir: &Path,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut put_back = Vec::new();
    for (name, old) in before.iter().filter(|(name, _)| is_record(name)) {
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
                if is_ancestor(workdir, old, now) {
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

/// Whether commit `old` is an ancestor of (or is) `new`.
fn is_ancestor(workdir: &Path, old: &str, new: &str) -> bool {
    super::git_command(workdir)
        .args(["merge-base", "--is-ancestor", old, new])
        .output()
        .is_ok_and(|o| o.status.success())
}
