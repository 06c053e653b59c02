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
/// progress) or one with uncommitted changes. Also removes what interrupted runs left (and takes
/// off an interrupted run's branch the commits no gate passed, keeping them at
/// refs/oc/rejected/<run_id>.agent, which nothing publishes), and the
/// directories of runs that never got a worktree (stopped by the policy), which hold only
/// evidence files that git has too. Evidence refs are kept unless --evidence is given together
/// with --older-than. Of the autonomy cycle's records (refs/oc/observations/*, refs/oc/cycles/*)
/// it keeps the newest autonomy.keep_records of each (default 50) and removes the older ones.
/// Once runs' objects fill gc.autoPackLimit packs (default 50), it merges the small packs (git
/// repack -d --geometric=2), so that later runs write packs again instead of loose objects, and
/// packs the refs (git pack-refs --all) that runs and tasks add one file each.
///
/// What is removed is printed on stdout (--dry-run prints the same lines, with "would remove");
/// what is kept, and why, on stderr.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Retention in days [default: gc.retention_days, else 7]
    #[arg(long, value_name = "DAYS")]
    pub older_than: Option<u64>,
    /// Say what would be removed, remove nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete evidence refs older than --older-than (which must then be given), and their
    /// runs' note blocks
    #[arg(long, requires = "older_than")]
    pub evidence: bool,
}

pub fn cmd_gc(ui: &mut Ui, args: &GcArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let config = Config::load(repo.workdir())?;
    let days = args.older_than.unwrap_or_else(|| config.gc.retention_days());
    // A number of days too large for a duration is no retention at all, never a wrapped one.
    let seconds = days.checked_mul(86_400).ok_or_else(|| {
        crate::error::Error::input(format!("a retention of {days} days is out of range"))
            .hint("give --older-than (or gc.retention_days) as a number of days, such as 30")
    })?;
    let opts = GcOptions {
        retention: Duration::from_secs(seconds),
        dry_run: args.dry_run,
        evidence: args.evidence,
        disposable: config.gc.disposable_branches(),
        autonomy_keep: crate::autonomy::keep_records(&config)?,
    };
    let report = gc(&repo, &opts)?;
    if ui.is_json() {
        ui.json(&report);
        return Ok(0);
    }
    // What is (or would be) removed is the data, one line each, the same words with and
    // without --dry-run; what is kept, and why, is a diagnostic.
    let verb = if args.dry_run { "would remove" } else { "removed" };
    let mut out = String::new();
    let mut line = |what: &str, item: &str| out.push_str(&format!("{verb} {what}{item}\n"));
    for r in &report.interrupted_runs {
        line("what interrupted run ", &format!("{r} left"));
    }
    for taken in &report.taken_back_branches {
        let (run, branch) = taken.split_once(' ').unwrap_or((taken, ""));
        line(
            "from branch ",
            &format!(
                "{branch} the commits no gate passed (interrupted run {run}; kept at refs/oc/rejected/{run}.agent)"
            ),
        );
    }
    for r in &report.removed_stale_registrations {
        line("stale run registration ", r);
    }
    for l in &report.removed_stale_locks {
        line("stale lock ", l);
    }
    for w in &report.pruned_admin_entries {
        line("the entry of deleted worktree ", w);
    }
    for w in &report.removed_worktrees {
        line("worktree ", w);
    }
    for d in &report.removed_evidence_dirs {
        line("evidence-only directory ", d);
    }
    for b in &report.removed_branches {
        line("branch ", b);
    }
    for e in &report.removed_evidence {
        line("evidence ", e);
    }
    for r in &report.removed_autonomy_records {
        line("autonomy record ", r);
    }
    if let Some(p) = &report.packs {
        match (p.after, &p.error) {
            (Some(after), _) => out.push_str(&format!(
                "merged {} packs into {after} (git repack -d --geometric=2)\n",
                p.before
            )),
            (None, None) => out.push_str(&format!(
                "would merge {} packs (git repack -d --geometric=2)\n",
                p.before
            )),
            (None, Some(_)) => {}
        }
    }
    let removed_nothing = out.is_empty();
    ui.data(&crate::text::escape_controls_keep_lines(&out));
    if let Some(e) = report.packs.as_ref().and_then(|p| p.error.as_ref()) {
        ui.warning(&format!("the packs were not merged: {e}"));
    }
    for (w, why) in &report.kept_worktrees {
        ui.note(&format!("kept worktree {w}: {why}"));
    }
    if removed_nothing {
        ui.note(if args.dry_run {
            "nothing would be removed"
        } else {
            "nothing to remove"
        });
    }
    Ok(0)
}
