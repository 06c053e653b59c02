//! `git oc gc`: cleanup of what finished runs leave behind.

use std::time::Duration;

use clap::Args;

use super::ui::Ui;
use crate::config::Config;
use crate::error::Result;
use crate::gc::{GcOptions, gc};

/// Remove finished runs' worktrees and stale run branches
///
/// Removes the worktrees of finished runs older than the retention (gc.retention_days, default
/// 7), prunes the administrative entries of worktrees deleted by hand, and deletes run branches
/// (oc/*, demo/*) that are merged into another branch, or disposable (gc.disposable_branches,
/// default demo/*) and older than the retention. Never removes a locked worktree (a run in
/// progress) or one with uncommitted changes. Evidence refs are kept unless --evidence is given
/// together with --older-than.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Retention in days [default: gc.retention_days, else 7]
    #[arg(long, value_name = "DAYS")]
    pub older_than: Option<u64>,
    /// Say what would be removed, remove nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete evidence refs older than --older-than (which must then be given)
    #[arg(long, requires = "older_than")]
    pub evidence: bool,
}

pub fn cmd_gc(ui: &mut Ui, args: &GcArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let config = Config::load(repo.workdir())?;
    let days = args.older_than.unwrap_or_else(|| config.gc.retention_days());
    let opts = GcOptions {
        retention: Duration::from_secs(days * 86_400),
        dry_run: args.dry_run,
        evidence: args.evidence,
        disposable: config.gc.disposable_branches(),
    };
    let report = gc(&repo, &opts)?;
    if ui.is_json() {
        ui.json(&report);
        return Ok(0);
    }
    let verb = if args.dry_run { "would remove" } else { "removed" };
    let mut out = String::new();
    for w in &report.removed_worktrees {
        out.push_str(&format!("{verb} worktree {w}\n"));
    }
    for w in &report.pruned_admin_entries {
        out.push_str(&format!("{verb} the entry of deleted worktree {w}\n"));
    }
    for b in &report.removed_branches {
        out.push_str(&format!("{verb} branch {b}\n"));
    }
    for e in &report.removed_evidence {
        out.push_str(&format!("{verb} evidence {e}\n"));
    }
    for r in &report.interrupted_runs {
        out.push_str(&format!("{verb} what interrupted run {r} left\n"));
    }
    for l in &report.removed_stale_locks {
        out.push_str(&format!("{verb} stale lock {l}\n"));
    }
    for (w, why) in &report.kept_worktrees {
        out.push_str(&format!("kept worktree {w}: {why}\n"));
    }
    if out.is_empty() {
        out.push_str("nothing to remove\n");
    }
    ui.data(&out);
    Ok(0)
}
