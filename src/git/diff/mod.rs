//! Per-file line counts between two trees, byte for byte what `git diff --numstat <old> <new>`
//! prints, and the summary in git's `--shortstat` wording.
//!
//! gix walks the trees and counts lines; renames and copies are git's own algorithm
//! ([`rename`]), paths are quoted as git quotes them ([`quote`]), and submodule commits
//! (gitlinks) count as git counts them: one `Subproject commit <id>` line per side.

pub mod delta;
mod patch;
pub mod quote;
pub mod rename;

use gix::bstr::{BStr, BString, ByteSlice};
use gix::diff::blob::ResourceKind;
use gix::diff::blob::platform::prepare_diff::Operation;
use gix::diff::blob::platform::resource::Data;
use gix::object::tree::EntryKind;

pub use patch::binary_patch;

use crate::contracts::ChangedFileRef;
use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStat {
    /// Destination path (the new path of a rename), lossily made UTF-8 for JSON and the policy.
    pub path: String,
    /// Source path of a rename or copy.
    pub old_path: Option<String>,
    /// `added`, `modified`, `deleted`, `renamed` or `copied`.
    pub change_type: &'static str,
    /// `None` for binary files (git prints `-`).
    pub added: Option<u64>,
    pub removed: Option<u64>,
    /// [`path`](Self::path) as git stores it: any bytes but NUL.
    pub raw_path: BString,
    pub raw_old_path: Option<BString>,
    /// A submodule commit rather than a file.
    pub is_gitlink: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffStat {
    pub files: Vec<FileStat>,
    /// `core.quotepath`: bytes of 0x80 and above are printed as octal escapes (git's default).
    pub quote_fully: bool,
}

impl Default for DiffStat {
    fn default() -> Self {
        DiffStat {
            files: Vec::new(),
            quote_fully: true,
        }
    }
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

    /// The lines `git diff --numstat` prints, byte for byte: renames as `a/{b => c}`, names
    /// quoted as `core.quotepath` says, gitlinks included.
    pub fn numstat(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in &self.files {
            match (f.added, f.removed) {
                (Some(a), Some(r)) => out.extend_from_slice(format!("{a}\t{r}\t").as_bytes()),
                _ => out.extend_from_slice(b"-\t-\t"),
            }
            match &f.raw_old_path {
                Some(old) => out.extend_from_slice(&quote::rename_display(old, &f.raw_path, self.quote_fully)),
                None => quote::push_quoted(&mut out, &f.raw_path, self.quote_fully),
            }
            out.push(b'\n');
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

/// git's rename display with its default quoting: `src/{a.rs => b.rs}`, `old => new`, or
/// `"old" => "new"` when a name needs quoting.
pub fn rename_display(old: &str, new: &str) -> String {
    String::from_utf8_lossy(&quote::rename_display(old.as_bytes(), new.as_bytes(), true)).into_owned()
}

/// One side of a change: a blob, a symlink or a submodule commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Side {
    id: gix::ObjectId,
    kind: EntryKind,
}

/// One entry of git's diff queue before rename detection.
struct Pair {
    path: BString,
    old: Option<Side>,
    new: Option<Side>,
}

/// The settings `git diff` reads for its numbers.
#[derive(Clone, Copy, Debug)]
struct Settings {
    quote_fully: bool,
    renames: rename::Options,
}

impl Settings {
    fn read(repo: &gix::Repository) -> Settings {
        let config = repo.config_snapshot();
        let detect = match config.string("diff.renames") {
            Some(v) if v.eq_ignore_ascii_case(b"copies") || v.eq_ignore_ascii_case(b"copy") => rename::Detect::Copies,
            // A value git would refuse leaves git's default.
            _ => match config.boolean("diff.renames") {
                Some(false) => rename::Detect::Off,
                _ => rename::Detect::Renames,
            },
        };
        Settings {
            quote_fully: config.boolean("core.quotePath").unwrap_or(true),
            renames: rename::Options {
                detect,
                limit: config.integer("diff.renameLimit").unwrap_or(1000),
            },
        }
    }
}

/// Compare two trees (`None` is the empty tree) as `git diff --numstat` does, with the
/// repository's `diff.renames`, `diff.renameLimit`, `diff.algorithm` and `core.quotepath`.
pub fn diff_trees(repo: &gix::Repository, old: Option<gix::ObjectId>, new: gix::ObjectId) -> Result<DiffStat> {
    let ctx = |e| Error::git("could not compute the diff", e);
    let settings = Settings::read(repo);
    let pairs = tree_changes(repo, old, new)?;
    let mut cache = repo.diff_resource_cache_for_tree_diff().map_err(ctx)?;

    // Rename sources: deletions, and with copies the old side of modifications.
    let mut sources = Vec::new();
    let mut source_pairs = Vec::new();
    let mut dests = Vec::new();
    let mut dest_pairs = Vec::new();
    let copies = settings.renames.detect == rename::Detect::Copies;
    for (i, p) in pairs.iter().enumerate() {
        match (p.old, p.new) {
            (Some(old), new) if new.is_none() || copies => {
                sources.push(rename::Source {
                    entry: rename::Entry {
                        path: p.path.as_slice(),
                        id: old.id,
                        kind: old.kind,
                    },
                    stays: new.is_some(),
                });
                source_pairs.push(i);
            }
            (None, Some(new)) => {
                dests.push(rename::Entry {
                    path: p.path.as_slice(),
                    id: new.id,
                    kind: new.kind,
                });
                dest_pairs.push(i);
            }
            _ => {}
        }
    }
    // The new side's blobs are the ones a run has just written: loose.
    let fresh = crate::git::loose::LooseFirst::new(repo);
    let outcome = {
        let mut content = BlobContent {
            repo,
            fresh: &fresh,
            destinations: dests.iter().map(|d| d.id).collect(),
            cache: &mut cache,
        };
        rename::detect(&sources, &dests, settings.renames, &mut content)?
    };
    let mut gone = vec![false; pairs.len()];
    for (s, &is_gone) in outcome.src_gone.iter().enumerate() {
        gone[source_pairs[s]] = is_gone;
    }
    let mut paired = vec![None; pairs.len()];
    for (d, pairing) in outcome.dst.iter().enumerate() {
        paired[dest_pairs[d]] = *pairing;
    }

    let mut files = Vec::new();
    for (i, p) in pairs.iter().enumerate() {
        if gone[i] {
            continue;
        }
        let (old_path, old, change_type) = match (paired[i], p.old, p.new) {
            (Some(pairing), _, _) => {
                let src = &pairs[source_pairs[pairing.src]];
                (
                    Some(src.path.clone()),
                    src.old,
                    if pairing.copy { "copied" } else { "renamed" },
                )
            }
            (None, None, _) => (None, None, "added"),
            (None, _, None) => (None, p.old, "deleted"),
            (None, _, _) => (None, p.old, "modified"),
        };
        let (added, removed) = count_lines(
            repo,
            &fresh,
            &mut cache,
            (old_path.as_ref().unwrap_or(&p.path).as_bstr(), old),
            (p.path.as_bstr(), p.new),
        )?;
        cache.clear_resource_cache_keep_allocation();
        files.push(FileStat {
            path: p.path.to_str_lossy().into_owned(),
            old_path: old_path.as_ref().map(|o| o.to_str_lossy().into_owned()),
            change_type,
            added,
            removed,
            is_gitlink: [old, p.new].iter().flatten().any(|s| s.kind == EntryKind::Commit),
            raw_path: p.path.clone(),
            raw_old_path: old_path,
        });
    }
    Ok(DiffStat {
        files,
        quote_fully: settings.quote_fully,
    })
}

/// An entry other than a tree that differs between two trees: its path, its old id and its new
/// (`None`: no such entry on that side).
pub struct ChangedEntry {
    pub path: BString,
    pub old: Option<gix::ObjectId>,
    pub new: Option<gix::ObjectId>,
}

/// The entries other than trees that differ between two trees, as `git diff-tree -r
/// --no-renames` lists them.
pub fn changed_entries(
    repo: &gix::Repository,
    old: Option<gix::ObjectId>,
    new: gix::ObjectId,
) -> Result<Vec<ChangedEntry>> {
    Ok(tree_changes(repo, old, new)?
        .into_iter()
        .map(|p| ChangedEntry {
            path: p.path,
            old: p.old.map(|s| s.id),
            new: p.new.map(|s| s.id),
        })
        .collect())
}

/// Changed non-tree entries between two trees, in git's output order (by path). A file that
/// became a directory, or the reverse, is a deletion and additions, as in git.
fn tree_changes(repo: &gix::Repository, old: Option<gix::ObjectId>, new: gix::ObjectId) -> Result<Vec<Pair>> {
    use gix::diff::tree::recorder::Change;
    let ctx = |e| Error::git("could not compute the diff", e);
    let empty = gix::ObjectId::empty_tree(repo.object_hash());
    let old_tree = repo.find_tree(old.unwrap_or(empty)).map_err(ctx)?;
    let new_tree = repo.find_tree(new).map_err(ctx)?;
    let mut recorder = gix::diff::tree::Recorder::default();
    gix::diff::tree(
        gix::objs::TreeRefIter::from_bytes(&old_tree.data, repo.object_hash()),
        gix::objs::TreeRefIter::from_bytes(&new_tree.data, repo.object_hash()),
        &mut gix::diff::tree::State::default(),
        &repo.objects,
        &mut recorder,
    )
    .map_err(|e| Error::run("could not compute the diff").caused_by(e.to_string()))?;
    let side = |id: gix::ObjectId, mode: gix::object::tree::EntryMode| {
        (!mode.is_tree()).then(|| Side { id, kind: mode.kind() })
    };
    let mut pairs = Vec::with_capacity(recorder.records.len());
    for change in recorder.records {
        let (path, old, new) = match change {
            Change::Addition {
                entry_mode, oid, path, ..
            } => (path, None, side(oid, entry_mode)),
            Change::Deletion {
                entry_mode, oid, path, ..
            } => (path, side(oid, entry_mode), None),
            Change::Modification {
                previous_entry_mode,
                previous_oid,
                entry_mode,
                oid,
                path,
            } => (path, side(previous_oid, previous_entry_mode), side(oid, entry_mode)),
        };
        // Modes are compared as git compares them, canonical: `100664` and `100644` are one
        // mode (old tools wrote the first), so only the mode's spelling changed.
        if (old.is_some() || new.is_some()) && old != new {
            pairs.push(Pair { path, old, new });
        }
    }
    pairs.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(pairs)
}

/// Blob sizes and chunk hashes for rename detection; gix's diff cache says whether a blob is
/// binary (attributes, NUL bytes, size), as git's `diff_filespec_is_binary`.
struct BlobContent<'a> {
    repo: &'a gix::Repository,
    fresh: &'a crate::git::loose::LooseFirst<'a>,
    destinations: std::collections::HashSet<gix::ObjectId>,
    cache: &'a mut gix::diff::blob::Platform,
}

impl BlobContent<'_> {
    /// Where to read `id` from: the new side's blobs are likely loose.
    fn objects(&self, id: &gix::ObjectId) -> &dyn gix::objs::FindObjectOrHeader {
        if self.destinations.contains(id) {
            self.fresh
        } else {
            &self.repo.objects
        }
    }
}

impl rename::Content for BlobContent<'_> {
    fn size(&mut self, entry: &rename::Entry<'_>) -> Result<u64> {
        let ctx = |e| Error::git("could not read a blob for rename detection", e);
        Ok(self
            .objects(&entry.id)
            .try_header(&entry.id)
            .map_err(ctx)?
            .ok_or_else(|| Error::run(format!("blob {} is missing", entry.id)))?
            .size)
    }

    fn spans(&mut self, entry: &rename::Entry<'_>) -> Result<delta::SpanHash> {
        let ctx = |e| Error::git("could not read a blob for rename detection", e);
        let mut data = Vec::new();
        self.objects(&entry.id)
            .try_find(&entry.id, &mut data)
            .map_err(ctx)?
            .ok_or_else(|| Error::run(format!("blob {} is missing", entry.id)))?;
        // Only a CR before an LF hashes differently in text and binary content: ask the diff
        // cache (attributes, NUL bytes, size) only then.
        if !data.windows(2).any(|w| w == b"\r\n") {
            return Ok(delta::SpanHash::new(&data, true));
        }
        self.cache
            .set_resource(
                entry.id,
                entry.kind,
                entry.path.as_bstr(),
                ResourceKind::OldOrSource,
                &self.repo.objects,
            )
            .map_err(|e| Error::run("could not read a blob for rename detection").caused_by(e.to_string()))?;
        let is_text = !matches!(
            self.cache.resource(ResourceKind::OldOrSource).map(|r| r.data),
            Some(Data::Binary { .. })
        );
        self.cache.clear_resource_cache_keep_allocation();
        Ok(delta::SpanHash::new(&data, is_text))
    }
}

/// git's numstat counts for one pair: `None` when either side is binary, `0 0` for the same
/// blob (a pure rename or mode change), otherwise lines added and removed. A gitlink reads as
/// the one line `Subproject commit <id>`.
fn count_lines(
    repo: &gix::Repository,
    fresh: &crate::git::loose::LooseFirst<'_>,
    cache: &mut gix::diff::blob::Platform,
    old: (&BStr, Option<Side>),
    new: (&BStr, Option<Side>),
) -> Result<(Option<u64>, Option<u64>)> {
    let null = gix::ObjectId::null(repo.object_hash());
    for ((path, side), kind) in [(old, ResourceKind::OldOrSource), (new, ResourceKind::NewOrDestination)] {
        // Gitlinks and missing sides are set as missing; gitlink text is made below.
        let (id, mode) = match side {
            Some(s) if s.kind != EntryKind::Commit => (s.id, s.kind),
            _ => (null, EntryKind::Blob),
        };
        let set = match kind {
            ResourceKind::NewOrDestination => cache.set_resource(id, mode, path, kind, fresh),
            ResourceKind::OldOrSource => cache.set_resource(id, mode, path, kind, &repo.objects),
        };
        set.map_err(|e| Error::run("could not read a blob for the diff").caused_by(e.to_string()))?;
    }
    let same_blob = matches!((old.1, new.1), (Some(a), Some(b)) if a.id == b.id);
    let gitlink = |side: Option<Side>| side.filter(|s| s.kind == EntryKind::Commit);
    let (old_link, new_link) = (gitlink(old.1), gitlink(new.1));
    let (resource_old, resource_new) = cache
        .resources()
        .ok_or_else(|| Error::run("could not prepare a blob diff"))?;
    if matches!(resource_old.data, Data::Binary { .. }) || matches!(resource_new.data, Data::Binary { .. }) {
        return Ok((None, None));
    }
    if same_blob {
        return Ok((Some(0), Some(0)));
    }
    let algorithm = if old_link.is_none() && new_link.is_none() {
        let prepared = cache
            .prepare_diff()
            .map_err(|e| Error::run("could not prepare a blob diff").caused_by(e.to_string()))?;
        match prepared.operation {
            Operation::InternalDiff { algorithm } => algorithm,
            Operation::SourceOrDestinationIsBinary | Operation::ExternalCommand { .. } => return Ok((None, None)),
        }
    } else {
        cache.options.algorithm.unwrap_or_default()
    };
    let (resource_old, resource_new) = cache
        .resources()
        .ok_or_else(|| Error::run("could not prepare a blob diff"))?;
    let (old_text, new_text) = (
        side_text(old_link, resource_old.data),
        side_text(new_link, resource_new.data),
    );
    // Lines keep their terminators: git counts "x" -> "x\n" as -1/+1.
    let input = gix::diff::blob::InternedInput::new(
        gix::diff::blob::sources::byte_lines(&old_text),
        gix::diff::blob::sources::byte_lines(&new_text),
    );
    let diff = gix::diff::blob::Diff::compute(algorithm, &input);
    Ok((
        Some(u64::from(diff.count_additions())),
        Some(u64::from(diff.count_removals())),
    ))
}

/// What git diffs for one side: the blob, or `Subproject commit <id>` for a gitlink.
fn side_text(gitlink: Option<Side>, data: Data<'_>) -> std::borrow::Cow<'_, [u8]> {
    match gitlink {
        Some(l) => std::borrow::Cow::Owned(format!("Subproject commit {}\n", l.id).into_bytes()),
        None => std::borrow::Cow::Borrowed(data.as_slice().unwrap_or_default()),
    }
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
        assert_eq!(rename_display("d/a\"b", "d/c"), r#""d/a\"b" => d/c"#);
    }

    #[test]
    fn numstat_bytes() {
        let file = |path: &[u8], old: Option<&[u8]>, counts: Option<(u64, u64)>| FileStat {
            path: path.to_str_lossy().into_owned(),
            old_path: old.map(|o| o.to_str_lossy().into_owned()),
            change_type: if old.is_some() { "renamed" } else { "modified" },
            added: counts.map(|c| c.0),
            removed: counts.map(|c| c.1),
            raw_path: path.into(),
            raw_old_path: old.map(Into::into),
            is_gitlink: false,
        };
        let mut stat = DiffStat {
            files: vec![
                file(b"a/new", Some(b"b/new"), Some((0, 0))),
                file(b"bin\xff", None, None),
                file(b"tab\tname", None, Some((1, 2))),
            ],
            quote_fully: true,
        };
        assert_eq!(
            stat.numstat(),
            b"0\t0\t{b => a}/new\n-\t-\t\"bin\\377\"\n1\t2\t\"tab\\tname\"\n".to_vec()
        );
        stat.quote_fully = false;
        assert!(stat.numstat().starts_with(b"0\t0\t{b => a}/new\n-\t-\tbin\xff\n"));
    }

    #[test]
    fn shortstat_wording() {
        let file = |added, removed| FileStat {
            path: "f".into(),
            old_path: None,
            change_type: "modified",
            added,
            removed,
            raw_path: "f".into(),
            raw_old_path: None,
            is_gitlink: false,
        };
        let stat = |files| DiffStat {
            files,
            quote_fully: true,
        };
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
