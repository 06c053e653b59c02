//! `git oc gc`: removing what finished runs leave behind — worktrees past their retention, the
//! administrative entries of worktrees deleted by hand, and run branches that are merged or
//! disposable. Evidence refs are removed only when asked explicitly.

use std::path::{Path, PathBuf};
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
    /// Autonomy observation snapshots and cycle reports kept, each: the newest this many.
    pub autonomy_keep: usize,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct GcReport {
    pub removed_worktrees: Vec<String>,
    pub kept_worktrees: Vec<(String, String)>,
    pub pruned_admin_entries: Vec<String>,
    pub removed_branches: Vec<String>,
    pub removed_evidence: Vec<String>,
    /// Directories git-oc made under `<git-dir>/oc/worktrees/` for runs that never got a worktree
    /// (stopped by the pre-run gate): they hold only evidence files, which are also in git.
    pub removed_evidence_dirs: Vec<String>,
    /// Interrupted runs cleaned up after (their process is gone).
    pub interrupted_runs: Vec<String>,
    /// Interrupted runs whose branch held commits no gate passed (the agent's own, say, when it
    /// killed git-oc): the branch went back to its base, the commits to
    /// `refs/oc/rejected/<run_id>.agent`. Each `<run_id> <branch>`.
    pub taken_back_branches: Vec<String>,
    /// Lock files left by a killed git-oc process.
    pub removed_stale_locks: Vec<String>,
    /// Run registrations nobody holds that cannot be read (left by a git-oc killed mid-write).
    pub removed_stale_registrations: Vec<String>,
    /// Autonomy observations and cycle reports beyond the newest `[autonomy] keep_records`.
    pub removed_autonomy_records: Vec<String>,
    /// The small packs runs wrote, merged once there were `gc.autoPackLimit` of them.
    pub packs: Option<PackConsolidation>,
}

/// Packs before and after `git repack --geometric` (`after` is `None` in a dry run, or with
/// `error` when git failed).
#[derive(Debug, serde::Serialize)]
pub struct PackConsolidation {
    pub before: usize,
    pub after: Option<usize>,
    pub error: Option<String>,
}

/// One thing gc removes. Everything is decided first and then removed in this order, so that a
/// dry run reports exactly what a real one removes.
enum Removal {
    /// What an interrupted run left: its worktree (registered, or a directory of git-oc's own
    /// that was never registered) and its registration.
    Interrupted {
        run_id: String,
        registration: PathBuf,
        workspace: PathBuf,
        registered: bool,
        own_dir: bool,
    },
    /// The branch of an interrupted run, moved past its base by commits no gate passed: back to
    /// the base, the tip kept where nothing publishes it.
    TakeBack {
        run_id: String,
        branch: String,
        tip: gix::ObjectId,
        base: gix::ObjectId,
    },
    StaleRegistration(PathBuf),
    StaleLock(PathBuf),
    /// The administrative entry of a worktree whose directory is gone (or was never written).
    AdminEntry {
        admin: PathBuf,
        shown: String,
    },
    Worktree {
        base: PathBuf,
        shown: String,
    },
    EvidenceDir(PathBuf),
    Branch {
        name: String,
        short: String,
        tip: gix::ObjectId,
    },
    Evidence {
        reference: String,
        id: gix::ObjectId,
    },
    AutonomyRecord {
        reference: String,
        id: gix::ObjectId,
    },
}

/// Whether gc keeps a worktree, and whether it says why.
#[derive(Clone, Copy)]
enum Keep {
    No,
    Because(&'static str),
    /// Not a run's worktree.
    Silently,
}

/// Branch prefixes git-oc creates.
pub const RUN_BRANCH_PREFIXES: [&str; 2] = ["refs/heads/oc/", "refs/heads/demo/"];

fn age_of(path: &Path) -> Option<Duration> {
    let meta = std::fs::metadata(path).ok()?;
    SystemTime::now().duration_since(meta.modified().ok()?).ok()
}

/// How long ago the worktree's newest run finished (the newest run directory), else its admin
/// directory's age.
fn worktree_age(base: &Path, admin: &Path) -> Option<Duration> {
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

/// Whether the linked worktree at `base`, on `head` (its HEAD's ref), is one a run made: it
/// holds git-oc's evidence directory and is either where git-oc puts run worktrees (a direct
/// child of `root`) or the workspace of a recorded run on that branch (`--workspace-path`).
/// The evidence directory alone could be made by anyone (an agent writing into your other
/// worktree), and gc removes what it judges a run's.
fn is_run_worktree(main: &gix::Repository, base: &Path, head: Option<&str>, root: &Path) -> bool {
    let evidence = base.join(crate::git::worktree::EVIDENCE_DIR);
    if !evidence.is_dir() {
        return false;
    }
    if canonical(base).parent() == Some(canonical(root).as_path()) {
        return true;
    }
    let Some(branch) = head.and_then(|h| h.strip_prefix("refs/heads/")) else {
        return false;
    };
    // The run's branch is not enough: an agent can point your worktree's HEAD at its own run
    // branch. The run's evidence must also name this very directory as its worktree.
    let here = canonical(base);
    names_in(&evidence.join("runs"))
        .unwrap_or_default()
        .iter()
        .any(|run_id| {
            if !crate::evidence::store::is_run_id(run_id) {
                return false;
            }
            let Ok(run) = crate::evidence::store::RunEvidence::open(main, run_id) else {
                return false;
            };
            let on_branch = run
                .entry
                .as_ref()
                .is_some_and(|e| e.message.branch.as_deref() == Some(branch));
            let worktree = run.summary().and_then(|s| s.worktree);
            on_branch && worktree.is_some_and(|w| canonical(Path::new(&w)) == here)
        })
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned())
}

fn names_in(dir: &Path) -> Option<Vec<String>> {
    let entries = std::fs::read_dir(dir).ok()?;
    Some(
        entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
    )
}

/// Whether `dir` holds nothing but the evidence of runs whose evidence refs exist: the files of
/// a run that never got a worktree, safe to remove because git has the same bytes.
fn holds_only_recorded_evidence(repo: &gix::Repository, dir: &Path) -> bool {
    let evidence = crate::git::worktree::EVIDENCE_DIR;
    if names_in(dir).is_none_or(|names| names != [evidence]) {
        return false;
    }
    let Some(names) = names_in(&dir.join(evidence)) else {
        return false;
    };
    if names.iter().any(|n| n != ".gitignore" && n != "runs") {
        return false;
    }
    let Some(runs) = names_in(&dir.join(evidence).join("runs")) else {
        return names.iter().all(|n| n == ".gitignore");
    };
    runs.iter().all(|run_id| {
        crate::evidence::store::is_run_id(run_id)
            && crate::evidence::Namespace::ALL.into_iter().any(|n| {
                repo.try_find_reference(format!("{}{run_id}", n.ref_prefix()).as_str())
                    .ok()
                    .flatten()
                    .is_some()
            })
    })
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn gc(repo: &Repo, opts: &GcOptions) -> Result<GcReport> {
    let ctx = |e| Error::git("could not inspect the worktrees", e);
    let main = repo.repo.main_repo().map_err(ctx)?;
    // A starting run creates its branch and worktree under this mutex, after registering
    // itself: holding it, gc either sees the run registered (and spares it) or runs before the
    // branch exists. It is held while deciding and while removing.
    let state_dir = repo.state_dir();
    let _mutex = crate::git::worktree::StateMutex::lock(&state_dir)?;
    let (removals, kept) = plan(&main, &state_dir, opts)?;
    if !opts.dry_run {
        let mut refs = Vec::new();
        for removal in &removals {
            remove(&main, removal, &mut refs)?;
        }
        delete_refs(&main, &refs)?;
    }
    // Runs write their objects as packs until the repository holds gc.autoPackLimit of them;
    // merging them lets later runs write packs again (cheaply: see `git::pack::consolidate`).
    let packs = crate::git::pack::packs_at_limit(&main).map(|before| {
        if opts.dry_run {
            return PackConsolidation {
                before,
                after: None,
                error: None,
            };
        }
        match crate::git::pack::consolidate(&main) {
            Ok(after) => PackConsolidation {
                before,
                after: Some(after),
                error: None,
            },
            Err(e) => PackConsolidation {
                before,
                after: None,
                error: Some(e.summary_with_hints()),
            },
        }
    });
    let mut report = GcReport {
        kept_worktrees: kept,
        packs,
        ..GcReport::default()
    };
    for removal in removals {
        match removal {
            Removal::Interrupted { run_id, .. } => report.interrupted_runs.push(run_id),
            Removal::TakeBack { run_id, branch, .. } => report.taken_back_branches.push(format!("{run_id} {branch}")),
            Removal::StaleRegistration(p) => report.removed_stale_registrations.push(p.display().to_string()),
            Removal::StaleLock(p) => report.removed_stale_locks.push(p.display().to_string()),
            Removal::AdminEntry { shown, .. } => report.pruned_admin_entries.push(shown),
            Removal::Worktree { shown, .. } => report.removed_worktrees.push(shown),
            Removal::EvidenceDir(p) => report.removed_evidence_dirs.push(p.display().to_string()),
            Removal::Branch { short, .. } => report.removed_branches.push(short),
            Removal::Evidence { reference, .. } => report.removed_evidence.push(reference),
            Removal::AutonomyRecord { reference, .. } => report.removed_autonomy_records.push(reference),
        }
    }
    Ok(report)
}

/// A worktree gc keeps: its path and the reason.
type Kept = (String, String);

/// Everything gc would remove, in order, and the worktrees it keeps.
fn plan(main: &gix::Repository, state_dir: &Path, opts: &GcOptions) -> Result<(Vec<Removal>, Vec<Kept>)> {
    let ctx = |e| Error::git("could not inspect the worktrees", e);
    let mut removals = Vec::new();
    let mut kept: Vec<Kept> = Vec::new();
    let mut checked_out: Vec<String> = Vec::new();
    if let Ok(Some(head)) = main.head_name() {
        checked_out.push(head.as_bstr().to_str_lossy().into_owned());
    }
    let worktrees = main.worktrees().map_err(ctx)?;

    // Runs in progress are judged by their lock; interrupted runs' registrations outlived them.
    let inflight: Vec<_> = crate::execution::inflight::list(state_dir)
        .into_iter()
        .map(|(path, run)| {
            let live = crate::execution::inflight::is_live(&path);
            (path, run, live)
        })
        .collect();
    let any_alive = inflight.iter().any(|(_, _, live)| *live);
    let live_workspaces: Vec<PathBuf> = inflight
        .iter()
        .filter(|(_, _, live)| *live)
        .map(|(_, run, _)| canonical(&run.workspace))
        .collect();
    for (_, run, _) in inflight.iter().filter(|(_, _, live)| *live) {
        checked_out.push(format!("refs/heads/{}", run.branch));
    }
    let worktree_root = state_dir.join("worktrees");
    let mut interrupted_workspaces = Vec::new();
    for (path, run, _) in inflight.iter().filter(|(_, _, live)| !*live) {
        // A registration is only what a file says (an agent can write one): git-oc acts on an
        // interrupted run's checkout and branch only when the checkout is where git-oc makes
        // them, a direct child of its worktrees directory (`..` resolved). One elsewhere
        // (`--workspace-path`) is left to you, with its branch.
        let runs_own = canonical(&run.workspace).parent() == Some(canonical(&worktree_root).as_path());
        if runs_own {
            interrupted_workspaces.push(canonical(&run.workspace));
        }
        let registered = runs_own && worktrees.iter().any(|p| p.base().is_ok_and(|b| b == run.workspace));
        let own_dir = !registered && runs_own && run.workspace.exists();
        let branch_ref = format!("refs/heads/{}", run.branch);
        let base = run
            .base
            .as_deref()
            .and_then(|b| gix::ObjectId::from_hex(b.as_bytes()).ok());
        // A run that recorded its evidence got past its gates; one that just finished can look
        // interrupted here (its registration was read, then it let go): its branch is its own.
        let recorded = crate::evidence::Namespace::recorded(main, &run.run_id);
        // Nor is a branch checked out anywhere but in the run's own worktree (your main
        // checkout's, say).
        let elsewhere = checked_out.contains(&branch_ref)
            || worktrees.iter().any(|w| {
                w.base().is_ok_and(|b| canonical(&b) != canonical(&run.workspace))
                    && crate::config::read::read_plain_text(&w.git_dir().join("HEAD"), 64 << 10)
                        .is_some_and(|h| h.strip_prefix("ref: ").map(str::trim) == Some(branch_ref.as_str()))
            });
        if let (Some(base), Ok(Some(tip)), false) = (
            base,
            crate::git::refs::target(main, &branch_ref),
            recorded || elsewhere || !runs_own,
        ) && tip != base
        {
            removals.push(Removal::TakeBack {
                run_id: run.run_id.clone(),
                branch: run.branch.clone(),
                tip,
                base,
            });
        }
        removals.push(Removal::Interrupted {
            run_id: run.run_id.clone(),
            registration: path.clone(),
            workspace: run.workspace.clone(),
            registered,
            own_dir,
        });
    }
    for path in crate::execution::inflight::stale_unreadable(state_dir) {
        removals.push(Removal::StaleRegistration(path));
    }
    if !any_alive {
        removals.extend(stale_locks(main).into_iter().map(Removal::StaleLock));
    }

    let mut registered_bases = Vec::new();
    for proxy in &worktrees {
        let Ok(base) = proxy.base() else {
            // An entry without a readable gitdir file: cut short while being created.
            removals.push(Removal::AdminEntry {
                admin: proxy.git_dir().to_owned(),
                shown: proxy.git_dir().display().to_string(),
            });
            continue;
        };
        registered_bases.push(canonical(&base));
        let shown = base.display().to_string();
        let admin = proxy.git_dir().to_owned();
        let branch = crate::config::read::read_plain_text(&admin.join("HEAD"), 64 << 10)
            .and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_owned()));
        if interrupted_workspaces.contains(&canonical(&base)) {
            // Removed with its interrupted run, above.
            continue;
        }
        if !base.exists() {
            // Deleted by hand: only the administrative entry is left.
            removals.push(Removal::AdminEntry { admin, shown });
            continue;
        }
        let decision = if live_workspaces.contains(&canonical(&base)) {
            Keep::Because("a run is in progress there")
        } else if !is_run_worktree(main, &base, branch.as_deref(), &worktree_root) {
            // Not a run's worktree: never touched, and its branch counts as checked out.
            Keep::Silently
        } else if proxy.is_locked() {
            Keep::Because("locked: a run may be in progress")
        } else if worktree_age(&base, &admin).is_some_and(|age| age < opts.retention) {
            Keep::Because("younger than the retention")
        } else {
            let dirty = match gix::open(&base) {
                Ok(wt) => crate::git::snapshot::worktree_changes(&wt)
                    .map(|c| !c.is_empty())
                    .unwrap_or(true),
                Err(_) => true,
            };
            if dirty {
                Keep::Because("has uncommitted changes")
            } else {
                Keep::No
            }
        };
        if let Keep::Because(why) = decision {
            kept.push((shown.clone(), why.to_owned()));
        }
        match decision {
            Keep::No => removals.push(Removal::Worktree { base, shown }),
            Keep::Because(_) | Keep::Silently => checked_out.extend(branch),
        }
    }

    // Directories of runs that never got a worktree, holding only evidence that git has too.
    let mut own_dirs: Vec<PathBuf> = std::fs::read_dir(&worktree_root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    own_dirs.sort();
    for dir in own_dirs {
        let c = canonical(&dir);
        if registered_bases.contains(&c) || live_workspaces.contains(&c) || interrupted_workspaces.contains(&c) {
            continue;
        }
        if worktree_age(&dir, &dir).is_some_and(|age| age < opts.retention) {
            continue;
        }
        if holds_only_recorded_evidence(main, &dir) {
            removals.push(Removal::EvidenceDir(dir));
        }
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
        let old = commit_age(main, tip).is_some_and(|age| age >= opts.retention);
        let disposable = old && opts.disposable.iter().any(|p| crate::policy::path_matches(p, &short));
        if merged || disposable {
            removals.push(Removal::Branch { name, short, tip });
        }
    }

    if opts.evidence {
        let (runs, _) = crate::evidence::store::list_runs(main)?;
        for run in runs {
            let Ok(id) = gix::ObjectId::from_hex(run.evidence_commit.as_bytes()) else {
                continue;
            };
            if commit_age(main, id).is_some_and(|age| age >= opts.retention) {
                removals.push(Removal::Evidence {
                    reference: run.evidence_ref,
                    id,
                });
            }
        }
    }
    // The autonomy cycle's records: ids sort by time, so the oldest are first. The newest are
    // what the persistence rules and `autonomy-cycle --show` read. Held ones (an agent's, maybe,
    // named to sort last) neither count nor go: they wait for a person.
    for prefix in crate::autonomy::store::PREFIXES {
        let ids = crate::autonomy::store::trusted_ids(main, prefix);
        let excess = ids.len().saturating_sub(opts.autonomy_keep);
        for id in ids.into_iter().take(excess) {
            let reference = format!("{prefix}{id}");
            if let Some(target) = crate::git::refs::target(main, &reference)? {
                removals.push(Removal::AutonomyRecord { reference, id: target });
            }
        }
    }
    Ok((removals, kept))
}

fn delete_ref(main: &gix::Repository, name: &str, expected: gix::ObjectId, what: &str) -> Result<()> {
    let name = name
        .try_into()
        .map_err(|e: gix::refs::name::Error| Error::run(e.to_string()))?;
    crate::git::refs::edit(main, crate::git::refs::deletion(name, expected))
        .map_err(|e| Error::git(format!("could not delete {what}"), e))?;
    Ok(())
}

/// Remove a directory; one that is already gone is fine.
fn remove_dir(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io(format!("could not remove {}", path.display()), &e))
        }
        _ => Ok(()),
    }
}

/// Delete the refs gc removes together (see [`crate::git::refs::delete_all`]); if one of them
/// moved meanwhile, one at a time, so that the error names it. Each is `(name, expected, what)`.
fn delete_refs(main: &gix::Repository, refs: &[(String, gix::ObjectId, String)]) -> Result<()> {
    let together: Vec<_> = refs.iter().map(|(name, id, _)| (name.clone(), *id)).collect();
    if crate::git::refs::delete_all(main, &together).is_ok() {
        return Ok(());
    }
    for (name, expected, what) in refs {
        delete_ref(main, name, *expected, what)?;
    }
    Ok(())
}

/// Remove what `removal` names; the refs to delete are added to `refs`, for [`delete_refs`].
fn remove(main: &gix::Repository, removal: &Removal, refs: &mut Vec<(String, gix::ObjectId, String)>) -> Result<()> {
    match removal {
        Removal::Interrupted {
            registration,
            workspace,
            registered,
            own_dir,
            ..
        } => {
            if *registered {
                main.remove_worktree(
                    workspace,
                    gix::worktree::remove::Force::OverrideLock,
                    gix::progress::Discard,
                )
                .map_err(|e| Error::git(format!("could not remove worktree {}", workspace.display()), e))?;
            } else if *own_dir {
                // A checkout cut short before it was registered; the directory is git-oc's own.
                remove_dir(workspace)?;
            }
            let _ = std::fs::remove_file(registration);
        }
        Removal::TakeBack {
            run_id,
            branch,
            tip,
            base,
        } => {
            let kept = format!("refs/oc/rejected/{run_id}.agent");
            if crate::git::refs::target(main, &kept)? != Some(*tip) {
                crate::git::refs::create(main, &kept, *tip, "git-oc gc: an interrupted run's ungated commits")?;
            }
            crate::git::refs::compare_and_swap(
                main,
                &format!("refs/heads/{branch}"),
                Some(*tip),
                *base,
                "git-oc gc: back to the base of an interrupted run",
            )?;
        }
        Removal::StaleRegistration(path) | Removal::StaleLock(path) => {
            if let Err(e) = std::fs::remove_file(path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(Error::io(format!("could not remove {}", path.display()), &e));
            }
        }
        Removal::AdminEntry { admin, .. } => remove_dir(admin)?,
        Removal::Worktree { base, shown } => {
            main.remove_worktree(
                base,
                gix::worktree::remove::Force::DiscardChanges,
                gix::progress::Discard,
            )
            .map_err(|e| Error::git(format!("could not remove worktree {shown}"), e))?;
        }
        Removal::EvidenceDir(dir) => remove_dir(dir)?,
        Removal::Branch { name, short, tip } => refs.push((name.clone(), *tip, format!("branch {short}"))),
        // The note goes first: a note never names evidence that is gone.
        Removal::Evidence { reference, id } => {
            crate::git::notes::remove_run_note(main, reference, *id)?;
            refs.push((reference.clone(), *id, reference.clone()));
        }
        Removal::AutonomyRecord { reference, id } => refs.push((reference.clone(), *id, reference.clone())),
    }
    Ok(())
}

/// Lock files in git-oc's own namespaces (`refs/oc/`, `refs/notes/oc`, run branches, run
/// worktrees' admin entries) left by a git-oc process that was killed. Only removed when no
/// git-oc run is alive; other git programs' locks elsewhere are never touched.
fn stale_locks(repo: &gix::Repository) -> Vec<PathBuf> {
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
        } else if p.extension().is_some_and(|e| e == "lock") {
            removed.push(p);
        }
    }
    removed.sort();
    removed
}
