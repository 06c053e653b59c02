//! A run's change as people read it: the files it changed (git's numbers, from `git::diff`) and,
//! for text files, line hunks with the words that changed inside changed lines, computed with
//! `similar` from the blobs in git. Read from git objects only, so it works on any clone that
//! fetched the run's evidence (its commit comes with it).

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use crate::error::{Error, Result};

/// Context lines around each hunk, as git shows them.
const CONTEXT: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Context,
    Removed,
    Added,
}

/// One line of a hunk: its parts, each marked when it is a word that changed.
#[derive(Clone, Debug, Serialize)]
pub struct Line {
    pub kind: LineKind,
    pub parts: Vec<(bool, String)>,
    /// The line is the file's last and has no line break.
    pub no_newline: bool,
}

impl Line {
    pub fn text(&self) -> String {
        self.parts.iter().map(|(_, s)| s.as_str()).collect()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Hunk {
    pub old_start: usize,
    pub old_lines: usize,
    pub new_start: usize,
    pub new_lines: usize,
    pub lines: Vec<Line>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FileChange {
    pub path: String,
    pub old_path: Option<String>,
    pub change_type: String,
    pub lines_added: Option<u64>,
    pub lines_removed: Option<u64>,
    pub binary: bool,
    pub hunks: Vec<Hunk>,
}

/// The change from `old` to `new` (trees; `None` is the empty tree): git's statistics, and each
/// file with its hunks.
pub fn between(
    repo: &gix::Repository,
    old: Option<gix::ObjectId>,
    new: gix::ObjectId,
) -> Result<(crate::git::diff::DiffStat, Vec<FileChange>)> {
    let stat = crate::git::diff::diff_trees(repo, old, new)?;
    let ctx = |e| Error::git("could not read a tree for the diff", e);
    let empty = gix::ObjectId::empty_tree(repo.object_hash());
    let old_tree = repo.find_tree(old.unwrap_or(empty)).map_err(ctx)?;
    let new_tree = repo.find_tree(new).map_err(ctx)?;
    let blob = |tree: &gix::Tree, path: &str| -> Vec<u8> {
        tree.lookup_entry_by_path(path)
            .ok()
            .flatten()
            .filter(|e| e.mode().is_blob() || e.mode().is_link())
            .and_then(|e| e.object().ok())
            .map(|o| o.data.clone())
            .unwrap_or_default()
    };
    let mut out = Vec::with_capacity(stat.files.len());
    for f in &stat.files {
        let before = blob(&old_tree, f.old_path.as_deref().unwrap_or(&f.path));
        let after = blob(&new_tree, &f.path);
        let binary = f.added.is_none() || is_binary(&before) || is_binary(&after);
        out.push(FileChange {
            path: f.path.clone(),
            old_path: f.old_path.clone(),
            change_type: f.change_type.to_string(),
            lines_added: f.added,
            lines_removed: f.removed,
            binary,
            hunks: if binary { Vec::new() } else { hunks(&before, &after) },
        });
    }
    Ok((stat, out))
}

/// git's test: a NUL byte in the first 8000 bytes.
fn is_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8000).any(|&b| b == 0)
}

fn hunks(before: &[u8], after: &[u8]) -> Vec<Hunk> {
    let old = String::from_utf8_lossy(before);
    let new = String::from_utf8_lossy(after);
    let diff = TextDiff::from_lines(old.as_ref(), new.as_ref());
    let mut out = Vec::new();
    for group in diff.grouped_ops(CONTEXT) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        let mut lines = Vec::new();
        for op in &group {
            for change in diff.iter_inline_changes(op) {
                let kind = match change.tag() {
                    ChangeTag::Equal => LineKind::Context,
                    ChangeTag::Delete => LineKind::Removed,
                    ChangeTag::Insert => LineKind::Added,
                };
                let parts = change
                    .iter_strings_lossy()
                    .map(|(emphasized, s)| (emphasized, s.trim_end_matches(['\n', '\r']).to_owned()))
                    .filter(|(_, s)| !s.is_empty())
                    .collect();
                lines.push(Line {
                    kind,
                    parts,
                    no_newline: change.missing_newline(),
                });
            }
        }
        out.push(Hunk {
            old_start: old_range.start + usize::from(!old_range.is_empty()),
            old_lines: old_range.len(),
            new_start: new_range.start + usize::from(!new_range.is_empty()),
            new_lines: new_range.len(),
            lines,
        });
    }
    out
}

/// The tree of commit `id`.
pub fn tree_of(repo: &gix::Repository, id: gix::ObjectId) -> Result<gix::ObjectId> {
    let ctx = |e| Error::git(format!("could not read commit {}", crate::git::short(&id)), e);
    Ok(repo.find_commit(id).map_err(ctx)?.tree_id().map_err(ctx)?.detach())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_number_lines_as_git_does_and_mark_changed_words() {
        let old = b"one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\n";
        let new = b"one\ntwo\nthree\nfour\nfive\nsix\nseven and more\neight\nnine\n";
        let h = hunks(old, new);
        assert_eq!(h.len(), 1);
        assert_eq!(
            (h[0].old_start, h[0].old_lines, h[0].new_start, h[0].new_lines),
            (4, 5, 4, 6)
        );
        let removed: Vec<&Line> = h[0].lines.iter().filter(|l| l.kind == LineKind::Removed).collect();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].text(), "seven");
        let added = h[0].lines.iter().find(|l| l.kind == LineKind::Added).unwrap();
        assert!(added.parts.iter().any(|(emph, s)| *emph && s.contains("more")));
        assert!(added.parts.iter().any(|(emph, s)| !*emph && s.contains("seven")));
        assert!(hunks(b"", b"").is_empty());
        let created = hunks(b"", b"a\n");
        assert_eq!(
            (created[0].old_start, created[0].old_lines, created[0].new_start),
            (0, 0, 1)
        );
    }
}
