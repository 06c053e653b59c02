//! Per-file line counts between two trees, equal to `git diff --numstat <old> <new>`, and the
//! summary in git's `--shortstat` wording.

use gix::bstr::ByteSlice;
use gix::diff::blob::ResourceKind;
use gix::diff::blob::platform::prepare_diff::Operation;
use gix::object::tree::diff::ChangeDetached;

use crate::contracts::ChangedFileRef;
use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStat {
    /// Destination path (the new path of a rename).
    pub path: String,
    /// Source path of a rename.
    pub old_path: Option<String>,
    /// `added`, `modified`, `deleted` or `renamed`.
    pub change_type: &'static str,
    /// `None` for binary files (git prints `-`).
    pub added: Option<u64>,
    pub removed: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiffStat {
    pub files: Vec<FileStat>,
}

impl DiffStat {
    pub fn insertions(&self) -> u64 {
        self.files.iter().filter_map(|f| f.added).sum()
    }

    pub fn deletions(&self) -> u64 {
        self.files.iter().filter_map(|f| f.removed).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        for f in &self.files {
            if let Some(old) = &f.old_path {
                out.push(old.clone());
            }
            out.push(f.path.clone());
        }
        out
    }

    /// git's `--shortstat` line without its leading space, or `None` when nothing changed
    /// (git prints nothing then).
    pub fn shortstat(&self) -> Option<String> {
        let files = self.files.len();
        if files == 0 {
            return None;
        }
        let (ins, del) = (self.insertions(), self.deletions());
        let mut s = format!("{files} {} changed", if files == 1 { "file" } else { "files" });
        // git keeps "0 insertions(+), 0 deletions(-)" when nothing was inserted or deleted.
        if ins > 0 || del == 0 {
            s.push_str(&format!(
                ", {ins} {}(+)",
                if ins == 1 { "insertion" } else { "insertions" }
            ));
        }
        if del > 0 || ins == 0 {
            s.push_str(&format!(
                ", {del} {}(-)",
                if del == 1 { "deletion" } else { "deletions" }
            ));
        }
        Some(s)
    }

    /// The lines `git diff --numstat` prints, renames in git's `a/{b => c}` form.
    pub fn numstat(&self) -> String {
        let mut out = String::new();
        for f in &self.files {
            let count = |n: Option<u64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
            let name = match &f.old_path {
                Some(old) => rename_display(old, &f.path),
                None => f.path.clone(),
            };
            out.push_str(&format!("{}\t{}\t{}\n", count(f.added), count(f.removed), name));
        }
        out
    }

    pub fn changed_files(&self) -> Vec<ChangedFileRef> {
        self.files
            .iter()
            .map(|f| ChangedFileRef {
                path: f.path.clone(),
                change_type: f.change_type.to_owned(),
                lines_added: f.added,
                lines_removed: f.removed,
            })
            .collect()
    }
}

/// git's rename display: the common directory prefix and suffix factored out, as in
/// `src/{a.rs => b.rs}`, or `old => new` when nothing is shared.
pub fn rename_display(old: &str, new: &str) -> String {
    // A port of git's pprint_rename (diff.c).
    let (a, b) = (old.as_bytes(), new.as_bytes());
    let mut pfx = 0;
    let mut i = 0;
    while i < a.len() && i < b.len() && a[i] == b[i] {
        if a[i] == b'/' {
            pfx = i + 1;
        }
        i += 1;
    }
    // Walk back from the ends (the terminators compare equal); with a common prefix the walk
    // may step one into it to see its closing slash.
    let adjust = usize::from(pfx > 0);
    let mut sfx = 0;
    let (mut oa, mut ob) = (a.len() as isize, b.len() as isize);
    let at = |s: &[u8], i: isize| if i as usize == s.len() { 0 } else { s[i as usize] };
    while (pfx as isize - adjust as isize) <= oa
        && (pfx as isize - adjust as isize) <= ob
        && oa >= 0
        && ob >= 0
        && at(a, oa) == at(b, ob)
    {
        if at(a, oa) == b'/' {
            sfx = a.len() - oa as usize;
        }
        oa -= 1;
        ob -= 1;
    }
    if pfx + sfx == 0 {
        return format!("{old} => {new}");
    }
    let a_mid = a.len().saturating_sub(pfx + sfx);
    let b_mid = b.len().saturating_sub(pfx + sfx);
    format!(
        "{}{{{} => {}}}{}",
        &old[..pfx],
        &old[pfx..pfx + a_mid],
        &new[pfx..pfx + b_mid],
        &old[a.len() - sfx..]
    )
}

/// Compare two trees (`None` is the empty tree) with git's default rename detection, counting
/// lines with the repository's diff algorithm.
pub fn diff_trees(repo: &gix::Repository, old: Option<gix::ObjectId>, new: gix::ObjectId) -> Result<DiffStat> {
    let ctx = |e| Error::git("could not compute the diff", e);
    let empty = gix::ObjectId::empty_tree(repo.object_hash());
    let old_tree = repo.find_tree(old.unwrap_or(empty)).map_err(ctx)?;
    let new_tree = repo.find_tree(new).map_err(ctx)?;
    let changes = repo.diff_tree_to_tree(&old_tree, &new_tree, None).map_err(ctx)?;
    let mut cache = repo.diff_resource_cache_for_tree_diff().map_err(ctx)?;
    let null = gix::ObjectId::null(repo.object_hash());

    let mut files = Vec::new();
    for change in changes {
        let (path, old_path, change_type, old_side, new_side) = match &change {
            ChangeDetached::Addition {
                location,
                entry_mode,
                id,
                ..
            } => (location, None, "added", (null, *entry_mode), (*id, *entry_mode)),
            ChangeDetached::Deletion {
                location,
                entry_mode,
                id,
                ..
            } => (location, None, "deleted", (*id, *entry_mode), (null, *entry_mode)),
            ChangeDetached::Modification {
                location,
                previous_entry_mode,
                previous_id,
                entry_mode,
                id,
            } => (
                location,
                None,
                "modified",
                (*previous_id, *previous_entry_mode),
                (*id, *entry_mode),
            ),
            ChangeDetached::Rewrite {
                source_location,
                source_entry_mode,
                source_id,
                entry_mode,
                id,
                location,
                copy,
                ..
            } => (
                location,
                Some(source_location.to_str_lossy().into_owned()),
                if *copy { "copied" } else { "renamed" },
                (*source_id, *source_entry_mode),
                (*id, *entry_mode),
            ),
        };
        // Trees and submodules are not files; git lists the files inside trees on their own.
        let is_file = |mode: gix::object::tree::EntryMode| !mode.is_tree() && !mode.is_commit();
        if !is_file(old_side.1) && !is_file(new_side.1) {
            continue;
        }
        let (old_side, new_side) = (
            if is_file(old_side.1) {
                old_side
            } else {
                (null, new_side.1)
            },
            if is_file(new_side.1) {
                new_side
            } else {
                (null, old_side.1)
            },
        );
        let change_type = if old_side.0.is_null() && !new_side.0.is_null() {
            "added"
        } else if new_side.0.is_null() && !old_side.0.is_null() {
            "deleted"
        } else {
            change_type
        };
        cache
            .set_resource(
                old_side.0,
                old_side.1.kind(),
                path.as_bstr(),
                ResourceKind::OldOrSource,
                &repo.objects,
            )
            .map_err(|e| Error::run("could not read a blob for the diff").caused_by(e.to_string()))?;
        cache
            .set_resource(
                new_side.0,
                new_side.1.kind(),
                path.as_bstr(),
                ResourceKind::NewOrDestination,
                &repo.objects,
            )
            .map_err(|e| Error::run("could not read a blob for the diff").caused_by(e.to_string()))?;
        let prepared = cache
            .prepare_diff()
            .map_err(|e| Error::run("could not prepare a blob diff").caused_by(e.to_string()))?;
        let (added, removed) = match prepared.operation {
            Operation::InternalDiff { algorithm } => {
                // Interned with line terminators kept: git counts "x" -> "x\n" as -1/+1.
                let input =
                    gix::diff::blob::InternedInput::new(prepared.old.intern_source(), prepared.new.intern_source());
                let diff = gix::diff::blob::Diff::compute(algorithm, &input);
                (
                    Some(u64::from(diff.count_additions())),
                    Some(u64::from(diff.count_removals())),
                )
            }
            Operation::SourceOrDestinationIsBinary | Operation::ExternalCommand { .. } => (None, None),
        };
        files.push(FileStat {
            path: path.to_str_lossy().into_owned(),
            old_path,
            change_type,
            added,
            removed,
        });
    }
    files.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(DiffStat { files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_display_matches_git() {
        assert_eq!(rename_display("a.txt", "b.txt"), "a.txt => b.txt");
        assert_eq!(rename_display("src/a.rs", "src/b.rs"), "src/{a.rs => b.rs}");
        assert_eq!(rename_display("a/x/f", "b/x/f"), "{a => b}/x/f");
        assert_eq!(rename_display("d/f", "d/e/f"), "d/{ => e}/f");
    }

    #[test]
    fn shortstat_wording() {
        let file = |added, removed| FileStat {
            path: "f".into(),
            old_path: None,
            change_type: "modified",
            added,
            removed,
        };
        let stat = |files| DiffStat { files };
        assert_eq!(stat(vec![]).shortstat(), None);
        assert_eq!(
            stat(vec![file(Some(6), Some(0))]).shortstat().unwrap(),
            "1 file changed, 6 insertions(+)"
        );
        assert_eq!(
            stat(vec![file(Some(1), Some(1))]).shortstat().unwrap(),
            "1 file changed, 1 insertion(+), 1 deletion(-)"
        );
        assert_eq!(
            stat(vec![file(None, None), file(Some(0), Some(0))])
                .shortstat()
                .unwrap(),
            "2 files changed, 0 insertions(+), 0 deletions(-)"
        );
        assert_eq!(
            stat(vec![file(Some(0), Some(3))]).shortstat().unwrap(),
            "1 file changed, 3 deletions(-)"
        );
    }
}
