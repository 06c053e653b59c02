//! `git oc gc`: removing what finished runs leave behind — worktrees past their retention, the
//! administrative entries of worktrees deleted by hand, and run branches that are merged or
//! disposable. Evidence refs are removed only when asked explicitly.

use std::time::{Duration, SystemTime};

use gix::bstr::ByteSlice;

use crate::error::{Error, Result};
use crate::git::Repo;

pub struct GcOptions {
    /// Worktrees and branches younger than this are kept.
    pub retention: Duration,
    pub dry_run: bool,
    /// Also remove evidence refs older than `retention`.
    pub evidence: bool,
    /// Branch patterns removed once older than the retention, merged or not.
    pub disposable: Vec<String>,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct GcReport {
    pub removed_worktrees: Vec<String>,
    pub kept_worktrees: Vec<(String, String)>,
    pub pruned_admin_entries: Vec<String>,
    pub removed_branches: Vec<String>,
    pub removed_evidence: Vec<String>,
    /// Interrupted runs cleaned up after (their process is gone).
    pub interrupted_runs: Vec<String>,
    /// Lock files left by a killed git-oc process.
    pub removed_stale_locks: Vec<String>,
}

/// Branch prefixes git-oc creates.
pub const RUN_BRANCH_PREFIXES: [&str; 2] = ["refs/heads/oc/", "refs/heads/demo/"];

fn age_of(path: &std::path::Path) -> Option<Duration> {
    let meta = std::fs::metadata(path).ok()?;
    SystemTime::now().duration_since(meta.modified().ok()?).ok()
}

/// How long ago the worktree's newest run finished (the newest run directory), else its admin
/// directory's age.
fn worktree_age(base: &std::path::Path, admin: &std::path::Path) -> Option<Duration> {
    let runs = base.join(crate::git::worktree::EVIDENCE_DIR).join("runs");
    let newest = std::fs::read_dir(&runs)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| age_of(&e.path()))
        .min();
    newest.or_else(|| age_of(admin))
}

fn commit_age(repo: &gix::Repository, id: gix::ObjectId) -> Option<Duration> {
    let seconds = repo.find_commit(id).ok()?.time().ok()?.seconds;
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(Duration::from_secs((now - seconds).max(0) as u64))
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn gc(repo: &Repo, opts: &GcOptions) -> Result<GcReport> {
    let ctx = |e| Error::git("could not inspect the worktrees", e);
    let main = repo.repo.main_repo().map_err(ctx)?;
    let mut report = GcReport::default();
    let mut checked_out: Vec<String> = Vec::new();
    if let Ok(Some(head)) = main.head_name() {
        checked_out.push(head.as_bstr().to_str_lossy().into_owned());
    }

    // A starting run creates its branch and worktree under this mutex, after registering
    // itself: holding it, gc either sees the run registered (and spares it) or runs before the
    // branch exists.
    let state_dir = repo.state_dir();
    let _mutex = crate::git::worktree::StateMutex::lock(&state_dir)?;

    // Runs in progress are judged by their lock; interrupted runs' registrations outlived them.
    let canonical = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let inflight: Vec<_> = crate::execution::inflight::list(&state_dir)
        .into_iter()
        .map(|(path, run)| {
            let live = crate::execution::inflight::is_live(&path);
            (path, run, live)
        })
        .collect();
    let any_alive = inflight.iter().any(|(_, _, live)| *live);
    let live_workspaces: Vec<std::path::PathBuf> = inflight
        .iter()
        .filter(|(_, _, live)| *live)
        .map(|(_, run, _)| canonical(&run.workspace))
        .collect();
    for (_, run, _) in inflight.iter().filter(|(_, _, live)| *live) {
        checked_out.push(format!("refs/heads/{}", run.branch));
    }
    let worktree_root = state_dir.join("worktrees");
    for (path, run, _) in inflight.iter().filter(|(_, _, live)| !*live) {
        if !opts.dry_run {
            let registered = main
                .worktrees()
                .map_err(ctx)?
                .into_iter()
                .any(|p| p.base().is_ok_and(|b| b == run.workspace));
            if registered {
                main.remove_worktree(
                    &run.workspace,
                    gix::worktree::remove::Force::OverrideLock,
                    gix::progress::Discard,
                )
                .map_err(|e| Error::git(format!("could not remove worktree {}", run.workspace.display()), e))?;
            } else if run.workspace.starts_with(&worktree_root) && run.workspace.exists() {
                // A checkout cut short before it was registered; the directory is git-oc's own.
                std::fs::remove_dir_all(&run.workspace)
                    .map_err(|e| Error::io(format!("could not remove {}", run.workspace.display()), &e))?;
            }
            let _ = std::fs::remove_file(path);
        }
        report.interrupted_runs.push(run.run_id.clone());
    }
    for path in crate::execution::inflight::stale_unreadable(&state_dir) {
        if !opts.dry_run {
            let _ = std::fs::remove_file(&path);
        }
    }
    if !any_alive {
        report.removed_stale_locks = remove_stale_locks(&main, opts.dry_run);
    }

    for proxy in main.worktrees().map_err(ctx)? {
        let Ok(base) = proxy.base() else {
            // An entry without a readable gitdir file: cut short while being created.
            if !opts.dry_run {
                let _ = std::fs::remove_dir_all(proxy.git_dir());
            }
            report.pruned_admin_entries.push(proxy.git_dir().display().to_string());
            continue;
        };
        let shown = base.display().to_string();
        let admin = proxy.git_dir().to_owned();
        let branch = std::fs::read_to_string(admin.join("HEAD"))
            .ok()
            .and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_owned()));
        if !base.exists() {
            // Deleted by hand: only the administrative entry is left.
            if !opts.dry_run {
                std::fs::remove_dir_all(&admin)
                    .map_err(|e| Error::io(format!("could not prune {}", admin.display()), &e))?;
            }
            report.pruned_admin_entries.push(shown);
            continue;
        }
        if live_workspaces.contains(&canonical(&base)) {
            report
                .kept_worktrees
                .push((shown.clone(), "a run is in progress there".to_owned()));
            if let Some(b) = branch {
                checked_out.push(b);
            }
            continue;
        }
        let is_run = base.join(crate::git::worktree::EVIDENCE_DIR).is_dir();
        if !is_run {
            if let Some(b) = branch {
                checked_out.push(b);
            }
            continue;
        }
        let keep = |report: &mut GcReport, why: &str| report.kept_worktrees.push((shown.clone(), why.to_owned()));
        if proxy.is_locked() {
            keep(&mut report, "locked: a run may be in progress");
            if let Some(b) = branch {
                checked_out.push(b);
            }
            continue;
        }
        if worktree_age(&base, &admin).is_some_and(|age| age < opts.retention) {
            keep(&mut report, "younger than the retention");
            if let Some(b) = branch {
                checked_out.push(b);
            }
            continue;
        }
        let dirty = match gix::open(&base) {
            Ok(wt) => crate::git::snapshot::worktree_changes(&wt)
                .map(|c| !c.is_empty())
                .unwrap_or(true),
            Err(_) => true,
        };
        if dirty {
            keep(&mut report, "has uncommitted changes");
            if let Some(b) = branch {
                checked_out.push(b);
            }
            continue;
        }
        if !opts.dry_run {
            main.remove_worktree(
                &base,
                gix::worktree::remove::Force::DiscardChanges,
                gix::progress::Discard,
            )
            .map_err(|e| Error::git(format!("could not remove worktree {shown}"), e))?;
        }
        report.removed_worktrees.push(shown);
    }

    // Run branches: merged into a branch that is not a run branch, or disposable and old.
    let refs = main.references().map_err(ctx)?;
    let mut run_branches = Vec::new();
    let mut other_tips = Vec::new();
    for r in refs.local_branches().map_err(ctx)?.flatten() {
        let name = r.name().as_bstr().to_str_lossy().into_owned();
        let Some(tip) = r.try_id().map(|id| id.detach()) else {
            continue;
        };
        if RUN_BRANCH_PREFIXES.iter().any(|p| name.starts_with(p)) {
            run_branches.push((name, tip));
        } else {
            other_tips.push(tip);
        }
    }
    for (name, tip) in run_branches {
        if checked_out.contains(&name) {
            continue;
        }
        let short = name.trim_start_matches("refs/heads/").to_owned();
        let merged = other_tips.iter().any(|other| {
            main.merge_base(tip, *other)
                .ok()
                .flatten()
                .is_some_and(|b| b.detach() == tip)
        });
        let old = commit_age(&main, tip).is_some_and(|age| age >= opts.retention);
        let disposable = old && opts.disposable.iter().any(|p| crate::policy::path_matches(p, &short));
        if !(merged || disposable) {
            continue;
        }
        if !opts.dry_run {
            main.edit_reference(gix::refs::transaction::RefEdit {
                change: gix::refs::transaction::Change::Delete {
                    expected: gix::refs::transaction::PreviousValue::MustExistAndMatch(gix::refs::Target::Object(tip)),
                    log: gix::refs::transaction::RefLog::AndReference,
                },
                name: name
                    .as_str()
                    .try_into()
                    .map_err(|e: gix::refs::name::Error| Error::run(e.to_string()))?,
                deref: false,
            })
            .map_err(|e| Error::git(format!("could not delete branch {short}"), e))?;
        }
        report.removed_branches.push(short);
    }

    if opts.evidence {
        let (runs, _) = crate::evidence::store::list_runs(&main)?;
        for run in runs {
            let Ok(id) = gix::ObjectId::from_hex(run.evidence_commit.as_bytes()) else {
                continue;
            };
            if commit_age(&main, id).is_some_and(|age| age >= opts.retention) {
                if !opts.dry_run {
                    main.edit_reference(gix::refs::transaction::RefEdit {
                        change: gix::refs::transaction::Change::Delete {
                            expected: gix::refs::transaction::PreviousValue::MustExistAndMatch(
                                gix::refs::Target::Object(id),
                            ),
                            log: gix::refs::transaction::RefLog::AndReference,
                        },
                        name: run
                            .evidence_ref
                            .as_str()
                            .try_into()
                            .map_err(|e: gix::refs::name::Error| Error::run(e.to_string()))?,
                        deref: false,
                    })
                    .map_err(|e| Error::git(format!("could not delete {}", run.evidence_ref), e))?;
                }
                report.removed_evidence.push(run.evidence_ref);
            }
        }
    }
    Ok(report)
}

/// Lock files in git-oc's own namespaces (`refs/oc/`, `refs/notes/oc`, run branches, run
/// worktrees' admin entries) left by a git-oc process that was killed. Only called when no
/// git-oc run is alive; other git programs' locks elsewhere are never touched.
fn remove_stale_locks(repo: &gix::Repository, dry_run: bool) -> Vec<String> {
    let common = repo.common_dir().to_owned();
    let mut roots = vec![
        common.join("refs/oc"),
        common.join("refs/heads/oc"),
        common.join("refs/heads/demo"),
        common.join("logs/refs/oc"),
        common.join("logs/refs/heads/oc"),
        common.join("logs/refs/heads/demo"),
    ];
    for name in ["refs/notes/oc.lock", "logs/refs/notes/oc.lock"] {
        roots.push(common.join(name));
    }
    if let Ok(entries) = std::fs::read_dir(common.join("worktrees")) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("oc-") || name.starts_with("demo-run-") {
                roots.push(e.path());
            }
        }
    }
    let mut removed = Vec::new();
    let mut stack: Vec<std::path::PathBuf> = roots;
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&p).into_iter().flatten().flatten().map(|e| e.path()));
        } else if p.extension().is_some_and(|e| e == "lock") && (dry_run || std::fs::remove_file(&p).is_ok()) {
            removed.push(p.display().to_string());
        }
    }
    removed.sort();
    removed
}
