//! `git oc autonomy-cycle`: observe the repository, derive insights, decide candidates, and with
//! --execute file them on the board. The cycle itself is `crate::autonomy`.

use clap::Args;

use super::ui::Ui;
use crate::autonomy::{self, CycleOptions, CycleReport};
use crate::error::Result;

/// Observe the repository and propose improvement tasks
///
/// Collects signals (recent commits, file hotspots, TODO/FIXME markers, a dirty tree, tests,
/// linters, dependency drift, git-oc's own run evidence, CI check runs when a GitHub token is
/// set), keeps the snapshot in git (refs/oc/observations/), derives insights over this and the
/// earlier snapshots, and decides candidate tasks by family, with a reason for each suppressed
/// one. A dry run by default; --execute files the candidates on the configured board. The report
/// is kept at refs/oc/cycles/<id>; --show reads one back.
#[derive(Debug, Args)]
pub struct AutonomyArgs {
    /// File the emitted candidates as tasks on the board (default: a dry run)
    #[arg(long, conflicts_with = "show")]
    pub execute: bool,
    /// At most this many candidates per cycle [default: 3, or [autonomy] max_candidates]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100))]
    pub max_candidates: Option<u64>,
    /// Do not propose a candidate emitted by an executed cycle this recently [default: 120]
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(u64).range(0..=525_600))]
    pub cooldown_minutes: Option<u64>,
    /// At most this many tasks created per cycle [default: 2]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100))]
    pub max_create: Option<u64>,
    /// Allow the gated families too (ci_pattern, hotspot_concentration, todo_accumulation,
    /// backlog_promotion, arch_promotion, coverage_gap, lint_cluster)
    #[arg(long)]
    pub all_families: bool,
    /// Print a retained cycle report (the newest, or the one ID names) instead of running one
    #[arg(long, value_name = "ID", num_args = 0..=1, default_missing_value = "", conflicts_with_all = ["max_candidates", "cooldown_minutes", "max_create", "all_families"])]
    pub show: Option<String>,
}

pub fn cmd_autonomy_cycle(ui: &mut Ui, args: &AutonomyArgs) -> Result<i32> {
    let dir = super::current_dir()?;
    if let Some(id) = &args.show {
        let id = Some(id.as_str()).filter(|i| !i.trim().is_empty());
        let stored = autonomy::show_cycle(&dir, id)?;
        if ui.is_json() {
            ui.json(&stored.report);
        } else {
            ui.data(&crate::text::escape_controls_keep_lines(&stored.markdown));
        }
        return Ok(0);
    }
    let options = CycleOptions {
        execute: args.execute,
        max_candidates: args.max_candidates.map(|n| n as usize),
        cooldown_minutes: args.cooldown_minutes,
        max_create: args.max_create.map(|n| n as usize),
        all_families: args.all_families,
        now: None,
    };
    ui.status("autonomy cycle: observing (tests and linters may take a while)…");
    let report = autonomy::run_cycle(&dir, &options)?;
    ui.emit(&report, || render(&report));
    for w in &report.warnings {
        ui.warning(w);
    }
    // A candidate that could not be filed is a failure of the command.
    Ok(if report.stages.propose.failed.is_empty() { 0 } else { 1 })
}

/// The original's stage lines, the candidates, and a reason for every suppressed one.
pub fn render(r: &CycleReport) -> String {
    let o = &r.stages.observe;
    let mut out = format!(
        "[1/4] observe   → {}  ({} signals, {} unavailable)\n",
        r.observation_ref,
        o.signals_collected.len(),
        o.signals_unavailable.len()
    );
    for (name, why) in &o.collector_errors {
        out.push_str(&format!("  collector {name} failed: {why}\n"));
    }
    out.push_str(&format!(
        "[2/4] insights  → {} insights (over {} earlier snapshot(s))\n",
        r.stages.insights.count,
        o.history.len()
    ));
    let d = &r.stages.decide;
    out.push_str(&format!(
        "[3/4] decide    → {}  ({} emitted, {} suppressed)\n",
        d.id,
        d.emitted.len(),
        d.suppressed.len()
    ));
    if d.emitted.is_empty() {
        out.push_str("  No candidates emitted.\n");
    } else {
        out.push_str("  Candidates:\n");
        for c in &d.emitted {
            out.push_str(&format!(
                "    • [{}] {} ({} confidence)\n",
                c.family.as_str(),
                c.title,
                c.confidence
            ));
        }
    }
    if !d.suppressed.is_empty() {
        out.push_str("  Suppressed:\n");
        for s in &d.suppressed {
            out.push_str(&format!(
                "    • [{}] {} — {}: {}\n",
                s.family.as_str(),
                s.title,
                s.reason,
                s.detail
            ));
        }
    }
    let p = &r.stages.propose;
    if r.dry_run {
        out.push_str("Dry-run mode: proposer stage skipped. Use --execute to file the tasks on the board.\n");
    } else if p.created.is_empty() && p.skipped.is_empty() && p.failed.is_empty() {
        out.push_str(&format!("[4/4] propose   → {}\n", p.status));
    } else {
        out.push_str(&format!(
            "[4/4] propose   → created={}, skipped={}, failed={}\n",
            p.created.len(),
            p.skipped.len(),
            p.failed.len()
        ));
        if !p.created.is_empty() {
            out.push_str("  Created tasks:\n");
            for c in &p.created {
                out.push_str(&format!(
                    "    • {} [{}] {} ({})\n",
                    c.task_id, c.family, c.title, c.state
                ));
            }
        }
        for s in &p.skipped {
            out.push_str(&format!("  skipped [{}]: {}\n", s.family, s.reason));
        }
        for f in &p.failed {
            out.push_str(&format!("  failed [{}]: {}\n", f.family, f.error));
        }
    }
    out.push_str(&format!(
        "Cycle report: {} (git oc autonomy-cycle --show {})\n",
        r.cycle_ref, r.id
    ));
    crate::text::escape_controls_keep_lines(&out).into_owned()
}
