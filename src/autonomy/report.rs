//! The cycle report as Markdown (`cycle.md` next to `cycle.json` in the cycle's commit).

use super::CycleReport;

pub fn markdown(r: &CycleReport) -> String {
    let mut out = format!("# Autonomy cycle {}\n\n", r.id);
    out.push_str(&format!(
        "- generated at: {}\n- mode: {}\n- repository: {} ({}, branch {})\n- observation: `{}`\n- health: {}\n\n",
        r.generated_at,
        if r.dry_run { "dry run" } else { "execute" },
        r.repo_key,
        r.repo.path,
        r.repo.current_branch.as_deref().unwrap_or("(detached)"),
        r.observation_ref,
        r.guard_rails.cycle_health,
    ));
    let o = &r.stages.observe;
    out.push_str("## Observe\n\n");
    out.push_str(&format!("- signals collected: {}\n", o.signals_collected.join(", ")));
    out.push_str(&format!(
        "- signals unavailable: {}\n",
        or_none(&o.signals_unavailable.join(", "))
    ));
    for (name, why) in &o.collector_errors {
        out.push_str(&format!("- collector error, {name}: {why}\n"));
    }
    let s = &r.signals;
    out.push_str(&format!(
        "- tests: {}{}\n- lint: {} ({} findings)\n- types: {} ({} errors)\n- dependency drift: {}\n- CI: {}\n- runs: {} (no-op {}, validation failed {}, failed {})\n- TODO/FIXME: {}/{}\n- coverage: {}{}\n- backlog: {} ({} open items)\n\n",
        s.test.status,
        s.test.command.as_deref().map(|c| format!(" (`{c}`)")).unwrap_or_default(),
        s.lint.status,
        s.lint.count,
        s.types.status,
        s.types.count,
        s.dependency_drift.status,
        s.ci.status,
        s.execution_health.total_runs,
        s.execution_health.no_op,
        s.execution_health.validation_failed,
        s.execution_health.failed,
        s.todo.todo_count,
        s.todo.fixme_count,
        s.coverage.status,
        s.coverage.percent.map(|p| format!(" ({p}% of lines)")).unwrap_or_default(),
        s.backlog.status,
        s.backlog.items.len(),
    ));
    out.push_str(&format!("## Insights ({})\n\n", r.stages.insights.count));
    for i in &r.stages.insights.insights {
        out.push_str(&format!("- `{}` ({} in a row)\n", i.dedup_key, i.consecutive));
    }
    let d = &r.stages.decide;
    out.push_str(&format!(
        "\n## Decide ({} emitted, {} suppressed)\n\n",
        d.emitted.len(),
        d.suppressed.len()
    ));
    for c in &d.emitted {
        out.push_str(&format!(
            "- [{}] {} — confidence {}, `{}`\n",
            c.family.as_str(),
            c.title,
            c.confidence,
            c.dedup_key
        ));
    }
    for s in &d.suppressed {
        out.push_str(&format!(
            "- suppressed [{}] {} — {}: {}\n",
            s.family.as_str(),
            s.title,
            s.reason,
            s.detail
        ));
    }
    let p = &r.stages.propose;
    out.push_str(&format!("\n## Propose ({})\n\n", p.status));
    for c in &p.created {
        out.push_str(&format!(
            "- created {} [{}] {} ({})\n",
            c.task_id, c.family, c.title, c.state
        ));
    }
    for s in &p.skipped {
        out.push_str(&format!("- skipped [{}] {}: {}\n", s.family, s.dedup_key, s.reason));
    }
    for f in &p.failed {
        out.push_str(&format!("- failed [{}] {}: {}\n", f.family, f.dedup_key, f.error));
    }
    for w in &r.warnings {
        out.push_str(&format!("\nwarning: {w}\n"));
    }
    out
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "none" } else { s }
}
