//! Named pipes (FIFOs) where git reads. Opening a FIFO for reading blocks until something opens
//! it for writing, and a process blocked in that `open` ignores SIGTERM and Ctrl-C: an agent
//! (running with your rights) that leaves one at `.gitignore`, `.gitattributes`, `.gitmodules`,
//! inside a nested repository's `.git`, or among the repository's own files (its config, HEAD,
//! refs, index) would hang every status of that worktree, git's and gix's alike. FIFOs elsewhere
//! are harmless: git cannot record one, and the status passes them by.
//!
//! [`find`] looks before a status reads, from the directory entries' types alone (no `stat` per
//! file): the worktree's files, and the git directories' files outside the object store and
//! git-oc's own state.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// File names that git reads in any directory of a worktree it walks.
const READ_IN_WORKTREE: &[&str] = &[".gitignore", ".gitattributes", ".gitmodules", ".git"];

/// Directories of a git directory left out: the object store (git-oc reads objects only after
/// this check, and a loose object's name is its content's hash), git-oc's own state (evidence
/// of every run) and the other worktrees' administrative directories.
const SKIPPED_IN_GIT_DIR: &[&str] = &["objects", "oc", "worktrees"];

/// The FIFOs a status of `repo`'s worktree would open: in the worktree, in its git directory and
/// in the repository's common directory.
pub fn find(repo: &gix::Repository) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Some(workdir) = repo.workdir() {
        walk_worktree(workdir, true, &mut found);
    }
    let git_dir = repo.git_dir();
    walk_git_dir(git_dir, &mut found);
    // A linked worktree's path to it runs through its own git directory (`worktrees/<name>/../..`).
    let common = std::fs::canonicalize(repo.common_dir()).unwrap_or_else(|_| repo.common_dir().to_owned());
    if std::fs::canonicalize(git_dir).ok().as_deref() != Some(common.as_path()) {
        walk_git_dir(&common, &mut found);
    }
    found.sort();
    found.dedup();
    found
}

fn walk_worktree(dir: &Path, top: bool, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        let name = entry.file_name();
        if kind.is_fifo() {
            if READ_IN_WORKTREE.iter().any(|n| name == *n) {
                found.push(entry.path());
            }
        } else if kind.is_dir() && name == ".git" {
            // The checkout's own `.git` is a git directory, looked at by `walk_git_dir`; a nested
            // one (another repository inside the worktree) is read whole when git meets it.
            if !top {
                walk_all(&entry.path(), &[], found);
            }
        } else if kind.is_dir() {
            walk_worktree(&entry.path(), false, found);
        }
    }
}

/// Every FIFO under a git directory, but for the directories [`SKIPPED_IN_GIT_DIR`] at its top,
/// of which only the object store's small files are looked at: where else objects are
/// (alternates) and the packs.
fn walk_git_dir(dir: &Path, found: &mut Vec<PathBuf>) {
    walk_all(dir, SKIPPED_IN_GIT_DIR, found);
    for sub in ["objects/info", "objects/pack"] {
        walk_all(&dir.join(sub), &[], found);
    }
}

/// Every FIFO under `dir`, but in the directories named in `skipped` at its top.
fn walk_all(dir: &Path, skipped: &[&str], found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_fifo() {
            found.push(entry.path());
        } else if kind.is_dir() && !skipped.iter().any(|n| entry.file_name() == *n) {
            walk_all(&entry.path(), &[], found);
        }
    }
}
