//! Stage 1, observe: the snapshot of a repository's signals, and the collectors that read the
//! repository itself (context, recent commits, file hotspots, TODO/FIXME concentration, a dirty
//! tree, dependency drift). The command-running collectors are in `checks.rs`, the evidence ones
//! in `history.rs`, CI in `ci.rs`. A collector that fails leaves its signal `unavailable` and its
//! message in `collector_errors`; the cycle goes on.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::contracts::Timestamp;

pub const OBSERVER_VERSION: u32 = 1;
const COMMIT_LIMIT: usize = 10;
const HOTSPOT_WINDOW: usize = 25;
const TOP: usize = 5;
/// Files listed per cluster of findings.
const CLUSTER_FILES: usize = 10;
/// Bounds of the TODO scan: tracked files only, each read up to this size.
const TODO_MAX_FILES: usize = 20_000;
const TODO_MAX_BYTES: u64 = 1 << 20;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Snapshot {
    pub id: String,
    pub observed_at: Option<Timestamp>,
    pub observer_version: u32,
    pub repo: RepoContext,
    pub signals: Signals,
    /// Collector name → why it failed.
    pub collector_errors: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RepoContext {
    pub name: String,
    pub path: String,
    pub current_branch: Option<String>,
    pub head: Option<String>,
    pub is_dirty: bool,
    pub dirty_paths: usize,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Signals {
    pub recent_commits: Vec<CommitInfo>,
    pub file_hotspots: Vec<Counted>,
    pub todo: TodoSignal,
    pub test: TestSignal,
    pub dependency_drift: DriftSignal,
    pub lint: CountSignal,
    #[serde(rename = "type")]
    pub types: CountSignal,
    pub execution_health: super::history::ExecutionHealth,
    pub validation_history: super::history::ValidationHistory,
    pub ci: super::ci::CiSignal,
    pub backlog: super::backlog::BacklogSignal,
    pub coverage: super::coverage::CoverageSignal,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CommitInfo {
    pub sha: String,
    pub author: String,
    pub date: String,
    pub subject: String,
}

/// A path and how often it occurs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counted {
    pub path: String,
    pub count: usize,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TodoSignal {
    pub todo_count: usize,
    pub fixme_count: usize,
    pub files_scanned: usize,
    pub top_files: Vec<Counted>,
}

/// `passed`, `failed`, `unknown` (it ran but gave no verdict: timed out, killed) or
/// `unavailable` (no test command, or its program is missing).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TestSignal {
    pub status: String,
    /// `configured`, `run.validate`, `cargo`, `pytest`, `npm`, `go`, or none.
    pub source: Option<String>,
    pub command: Option<String>,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub detail: Option<String>,
}

/// `present` (a manifest changed after its lockfile), `absent`, or `not_available` (no manifest
/// with a lockfile).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DriftSignal {
    pub status: String,
    pub stale: Vec<StaleLock>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StaleLock {
    pub manifest: String,
    pub lockfile: String,
}

/// Lint or type findings: `clean`, `violations`/`errors`, or `unavailable`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CountSignal {
    pub status: String,
    pub tool: Option<String>,
    pub count: usize,
    pub distinct_files: usize,
    pub top_codes: Vec<Counted>,
    pub top_files: Vec<Counted>,
    /// The most frequent codes with at least two findings, and their files.
    pub clusters: Vec<Cluster>,
    pub detail: Option<String>,
}

/// The findings of one code (rule) and the files they are in.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Cluster {
    pub code: String,
    pub count: usize,
    pub files: Vec<String>,
}

impl CountSignal {
    pub fn unavailable(detail: impl Into<String>) -> Self {
        CountSignal {
            status: "unavailable".into(),
            detail: Some(detail.into()),
            ..CountSignal::default()
        }
    }

    /// From `(code, file)` findings.
    pub fn from_findings(tool: &str, found: &str, findings: &[(String, String)]) -> Self {
        CountSignal {
            status: if findings.is_empty() {
                "clean".into()
            } else {
                found.into()
            },
            tool: Some(tool.into()),
            count: findings.len(),
            distinct_files: findings
                .iter()
                .map(|(_, f)| f.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            top_codes: top(findings.iter().map(|(c, _)| c.clone()), TOP),
            top_files: top(findings.iter().map(|(_, f)| f.clone()), TOP),
            clusters: top(findings.iter().map(|(c, _)| c.clone()), TOP)
                .into_iter()
                .filter(|c| c.count >= 2)
                .map(|c| {
                    let files = findings
                        .iter()
                        .filter(|(code, _)| *code == c.path)
                        .map(|(_, f)| f.clone());
                    Cluster {
                        files: top(files, CLUSTER_FILES).into_iter().map(|f| f.path).collect(),
                        code: c.path,
                        count: c.count,
                    }
                })
                .collect(),
            detail: None,
        }
    }
}

/// The `n` most frequent values, most frequent first, then by name.
pub fn top(values: impl Iterator<Item = String>, n: usize) -> Vec<Counted> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let mut out: Vec<Counted> = counts
        .into_iter()
        .map(|(path, count)| Counted { path, count })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.path.cmp(&b.path)));
    out.truncate(n);
    out
}

fn git(workdir: &Path, args: &[&str]) -> Result<String, String> {
    let out = crate::git::git_command(workdir)
        .args(args)
        .output()
        .map_err(|e| format!("could not run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.first().copied().unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Branch, HEAD and whether the work tree has changes (untracked files included).
pub fn repo_context(repo: &crate::git::Repo, key: &str) -> Result<RepoContext, String> {
    let workdir = repo.workdir();
    let status = git(workdir, &["status", "--porcelain=v1", "-z", "--untracked-files=normal"])?;
    let dirty_paths = status.split('\0').filter(|e| e.len() > 3).count();
    Ok(RepoContext {
        name: key.to_owned(),
        path: workdir.display().to_string(),
        current_branch: repo.current_branch(),
        head: git(workdir, &["rev-parse", "--verify", "--quiet", "HEAD"])
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
        is_dirty: dirty_paths > 0,
        dirty_paths,
    })
}

/// The last commits and the paths most often touched by the last `HOTSPOT_WINDOW` of them, from
/// one bounded `git log`.
pub fn commits_and_hotspots(workdir: &Path) -> Result<(Vec<CommitInfo>, Vec<Counted>), String> {
    // A repository without commits has no history yet, which is not a failure.
    if git(workdir, &["rev-parse", "--verify", "--quiet", "HEAD"]).is_err() {
        return Ok((Vec::new(), Vec::new()));
    }
    let n = format!("-n{HOTSPOT_WINDOW}");
    let log = git(
        workdir,
        &[
            "log",
            &n,
            "--no-renames",
            "--name-only",
            "--format=%x1e%h%x1f%an%x1f%aI%x1f%s",
            "--end-of-options",
            "HEAD",
            "--",
        ],
    )?;
    let mut commits = Vec::new();
    let mut paths = Vec::new();
    for record in log.split('\x1e').filter(|r| !r.trim().is_empty()) {
        let mut lines = record.lines();
        let header = lines.next().unwrap_or_default();
        let f: Vec<&str> = header.split('\x1f').collect();
        if commits.len() < COMMIT_LIMIT {
            commits.push(CommitInfo {
                sha: f.first().copied().unwrap_or_default().to_owned(),
                author: f.get(1).copied().unwrap_or_default().to_owned(),
                date: f.get(2).copied().unwrap_or_default().to_owned(),
                subject: f.get(3).copied().unwrap_or_default().to_owned(),
            });
        }
        paths.extend(lines.map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned));
    }
    Ok((commits, top(paths.into_iter(), TOP)))
}

/// TODO and FIXME markers in the tracked text files.
pub fn todo_signal(workdir: &Path) -> Result<TodoSignal, String> {
    let files = git(workdir, &["ls-files", "-z"])?;
    let mut signal = TodoSignal::default();
    let mut per_file = Vec::new();
    for rel in files.split('\0').filter(|f| !f.is_empty()).take(TODO_MAX_FILES) {
        let path = workdir.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() || meta.len() > TODO_MAX_BYTES {
            continue;
        }
        let Some(bytes) = crate::config::read::read_plain_file(&path, TODO_MAX_BYTES) else {
            continue;
        };
        if bytes.contains(&0) {
            continue;
        }
        signal.files_scanned += 1;
        let text = String::from_utf8_lossy(&bytes);
        let (mut todo, mut fixme) = (0, 0);
        for line in text.lines() {
            todo += usize::from(line.contains("TODO"));
            fixme += usize::from(line.contains("FIXME"));
        }
        signal.todo_count += todo;
        signal.fixme_count += fixme;
        if todo + fixme > 0 {
            per_file.push(Counted {
                path: rel.to_owned(),
                count: todo + fixme,
            });
        }
    }
    per_file.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.path.cmp(&b.path)));
    per_file.truncate(TOP);
    signal.top_files = per_file;
    Ok(signal)
}

/// Manifests and the lockfiles that pin them.
const LOCKS: [(&str, &[&str]); 6] = [
    ("Cargo.toml", &["Cargo.lock"]),
    ("package.json", &["package-lock.json", "yarn.lock", "pnpm-lock.yaml"]),
    ("pyproject.toml", &["poetry.lock", "uv.lock", "pdm.lock"]),
    ("go.mod", &["go.sum"]),
    ("Gemfile", &["Gemfile.lock"]),
    ("composer.json", &["composer.lock"]),
];

/// Dependency drift from history: a manifest committed after its lockfile last was (its
/// dependencies changed and the lock was not refreshed).
pub fn dependency_drift(workdir: &Path) -> Result<DriftSignal, String> {
    let last = |file: &str| -> Result<Option<String>, String> {
        let out = git(workdir, &["rev-list", "-n1", "HEAD", "--", file])?;
        Ok(Some(out.trim().to_owned()).filter(|s| !s.is_empty()))
    };
    let mut signal = DriftSignal {
        status: "not_available".into(),
        stale: Vec::new(),
    };
    for (manifest, locks) in LOCKS {
        for lock in locks.iter().copied() {
            if !workdir.join(manifest).is_file() || !workdir.join(lock).is_file() {
                continue;
            }
            if signal.status == "not_available" {
                signal.status = "absent".into();
            }
            let (Some(m), Some(l)) = (last(manifest)?, last(lock)?) else {
                continue;
            };
            let older = crate::git::git_command(workdir)
                .args(["merge-base", "--is-ancestor", &l, &m])
                .status()
                .map_err(|e| format!("could not run git: {e}"))?
                .success();
            if m != l && older {
                signal.stale.push(StaleLock {
                    manifest: manifest.to_owned(),
                    lockfile: lock.to_owned(),
                });
            }
        }
    }
    if !signal.stale.is_empty() {
        signal.status = "present".into();
    }
    Ok(signal)
}
