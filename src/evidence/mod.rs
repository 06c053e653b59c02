//! Evidence: the files of a run, written atomically under
//! `<workspace>/.operations_center/runs/<run_id>/`, and the same bytes recorded in git.

pub mod files;
pub mod message;
pub mod note;
pub mod store;
pub mod verify;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::execution::secrets::Redactor;
use crate::git::worktree::EVIDENCE_DIR;

/// Where a run's evidence and note go. Demo runs are kept apart from real runs, so that
/// `git oc push` never publishes them; plain git reads both the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    /// `refs/oc/runs/<run_id>` and `refs/notes/oc`.
    Runs,
    /// `refs/oc/demo/<run_id>` and `refs/notes/oc-demo`.
    Demo,
}

impl Namespace {
    pub const ALL: [Namespace; 2] = [Namespace::Runs, Namespace::Demo];

    pub fn ref_prefix(self) -> &'static str {
        match self {
            Namespace::Runs => crate::git::RUNS_REF_PREFIX,
            Namespace::Demo => crate::git::DEMO_REF_PREFIX,
        }
    }

    pub fn notes_ref(self) -> &'static str {
        match self {
            Namespace::Runs => crate::git::NOTES_REF,
            Namespace::Demo => crate::git::DEMO_NOTES_REF,
        }
    }

    /// The namespace an evidence ref belongs to.
    pub fn of_ref(name: &str) -> Option<Namespace> {
        Self::ALL.into_iter().find(|n| name.starts_with(n.ref_prefix()))
    }

    /// The namespace of an evidence ref and the run id it names.
    pub fn split_ref(name: &str) -> Option<(Namespace, &str)> {
        Self::ALL
            .into_iter()
            .find_map(|n| Some((n, name.strip_prefix(n.ref_prefix())?)))
    }

    /// Whether run `run_id` has an evidence ref here, in either namespace.
    pub fn recorded(repo: &gix::Repository, run_id: &str) -> bool {
        Self::ALL.into_iter().any(|n| {
            matches!(
                crate::git::refs::target(repo, &format!("{}{run_id}", n.ref_prefix())),
                Ok(Some(_))
            )
        })
    }
}

/// The evidence of one run: file names and their exact bytes, in write order.
#[derive(Clone, Debug, Default)]
pub struct EvidenceSet {
    pub files: Vec<(String, Vec<u8>)>,
}

impl EvidenceSet {
    pub fn push(&mut self, name: &str, bytes: Vec<u8>) {
        self.files.push((name.to_owned(), bytes));
    }

    /// A JSON file from a typed value. Secrets are replaced in the values before serialization,
    /// so that JSON escaping cannot hide one and a replacement cannot break the JSON.
    pub fn push_json<T: serde::Serialize>(&mut self, name: &str, value: &T, redactor: &Redactor) {
        let mut value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        redactor.redact_value(&mut value);
        self.push(name, crate::contracts::to_evidence_json(&value));
    }

    /// A text file, secrets replaced.
    pub fn push_text(&mut self, name: &str, bytes: &[u8], redactor: &Redactor) {
        self.push(name, redactor.redact_bytes(bytes));
    }
}

/// `<workspace>/.operations_center/runs/<run_id>`.
pub fn run_dir(workspace: &Path, run_id: &str) -> PathBuf {
    workspace.join(EVIDENCE_DIR).join("runs").join(run_id)
}

/// `base/parts…` as real directories, made where missing. The agent works in the workspace: a
/// symlink it left at `.operations_center` (or below) would have git-oc write the evidence, and
/// replace a `.gitignore`, wherever it points. Whatever is there that is not a directory is
/// removed first (a symlink itself, never what it points at).
fn real_dir(base: &Path, parts: &[&str]) -> Result<PathBuf> {
    let fail = |path: &Path, e: &std::io::Error| Error::io(format!("could not create {}", path.display()), e);
    let mut dir = base.to_owned();
    for part in parts {
        dir.push(part);
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => std::fs::remove_file(&dir).map_err(|e| fail(&dir, &e))?,
            Err(_) => {}
        }
        std::fs::create_dir(&dir).map_err(|e| fail(&dir, &e))?;
    }
    Ok(dir)
}

/// [`run_dir`], made as real directories (see [`real_dir`]), the evidence directory ignoring
/// itself.
pub fn make_run_dir(workspace: &Path, run_id: &str) -> Result<PathBuf> {
    let evidence = ensure_self_ignored(workspace)?;
    real_dir(&evidence, &["runs", run_id])
}

/// Make `<workspace>/.operations_center/` (returned) ignore itself, so evidence never shows in
/// `git status` or enters a snapshot.
pub fn ensure_self_ignored(workspace: &Path) -> Result<PathBuf> {
    // The workspace itself is the user's choice (a symlinked path is theirs to give); a run
    // stopped before its worktree was made has none yet.
    std::fs::create_dir_all(workspace)
        .map_err(|e| Error::io(format!("could not create {}", workspace.display()), &e))?;
    let dir = real_dir(workspace, &[EVIDENCE_DIR])?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        write_atomic(
            &ignore,
            b"# Written by git-oc: run evidence is kept in refs/oc/runs, not in commits.\n*\n",
        )?;
    }
    Ok(dir)
}

/// Write every file of `set` under the run directory; each file appears whole or not at all.
/// Returns the paths written, in order.
pub fn write_to_disk(workspace: &Path, run_id: &str, set: &EvidenceSet) -> Result<Vec<PathBuf>> {
    let dir = make_run_dir(workspace, run_id)?;
    let mut written = Vec::new();
    for (name, bytes) in &set.files {
        let path = dir.join(name);
        write_atomic(&path, bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// Temp file in the same directory, then rename: readers never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let fail = |e: &std::io::Error| Error::io(format!("could not write {}", path.display()), e);
    let mut tmp = tempfile::Builder::new()
        .prefix(".oc-tmp-")
        .tempfile_in(dir)
        .map_err(|e| fail(&e))?;
    tmp.write_all(bytes).map_err(|e| fail(&e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile creates 0600; evidence is as readable as any file git would write.
        let _ = tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path).map_err(|e| fail(&e.error))?;
    Ok(())
}
