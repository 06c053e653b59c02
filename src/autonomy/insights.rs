//! Stage 2, insights: what the current snapshot and the older ones (read back from git, newest
//! first) say together. Each insight has a dedup key `<kind>|<parts…>` (its id is the key with
//! `|` turned into `:`) and counts the consecutive snapshots it held in, which the rules compare
//! with their persistence thresholds.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::observe::Snapshot;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Insight {
    pub id: String,
    pub dedup_key: String,
    pub kind: String,
    pub subject: String,
    pub status: String,
    /// Snapshots in a row, this one included, in which it held.
    pub consecutive: usize,
    pub evidence: serde_json::Value,
    /// The runs behind it (execution and validation insights).
    pub run_ids: Vec<String>,
    /// The snapshots it spans, newest first.
    pub observation_ids: Vec<String>,
}

fn insight(kind: &str, parts: &[&str], subject: &str, status: &str, evidence: serde_json::Value) -> Insight {
    let mut key = kind.to_owned();
    for p in parts {
        key.push('|');
        key.push_str(p);
    }
    Insight {
        id: key.replace('|', ":"),
        dedup_key: key,
        kind: kind.into(),
        subject: subject.into(),
        status: status.into(),
        consecutive: 1,
        evidence,
        run_ids: Vec::new(),
        observation_ids: Vec::new(),
    }
}

/// 1 + the number of older snapshots, newest first, for which `holds` is true without a gap,
/// and their ids.
fn streak(current: &Snapshot, older: &[Snapshot], holds: impl Fn(&Snapshot) -> bool) -> (usize, Vec<String>) {
    let mut ids = vec![current.id.clone()];
    for s in older {
        if !holds(s) {
            break;
        }
        ids.push(s.id.clone());
    }
    (ids.len(), ids)
}

fn with_streak(mut i: Insight, (n, ids): (usize, Vec<String>)) -> Insight {
    i.consecutive = n;
    i.observation_ids = ids;
    i
}

/// Every insight, in the derivers' order.
pub fn derive(cur: &Snapshot, older: &[Snapshot], t: &super::decide::Tuning) -> Vec<Insight> {
    let validation_failure_threshold = t.validation_failure_threshold;
    let mut out = Vec::new();
    let repo = cur.repo.name.as_str();
    let s = &cur.signals;
    let prev = older.first();

    if cur.repo.is_dirty {
        let i = insight(
            "dirty_tree",
            &[repo],
            repo,
            "dirty",
            json!({ "dirty_paths": cur.repo.dirty_paths }),
        );
        out.push(with_streak(i, streak(cur, older, |o| o.repo.is_dirty)));
    }

    let activity = if s.recent_commits.is_empty() { "quiet" } else { "active" };
    out.push(insight(
        "commit_activity",
        &[repo, activity],
        repo,
        activity,
        json!({ "recent_commits": s.recent_commits.len() }),
    ));

    for h in &s.file_hotspots {
        let held = streak(cur, older, |o| o.signals.file_hotspots.iter().any(|x| x.path == h.path));
        let status = if held.0 >= 2 { "persistent" } else { "current" };
        let i = insight(
            "file_hotspot",
            &[&h.path],
            &h.path,
            status,
            json!({ "touches": h.count }),
        );
        out.push(with_streak(i, held));
    }

    let test = s.test.status.as_str();
    if !test.is_empty() {
        let held = streak(cur, older, |o| o.signals.test.status == test);
        let tail = if held.0 >= 2 { "persistent" } else { "current" };
        let i = insight(
            "test_status_continuity",
            &[test, tail],
            "tests",
            test,
            json!({ "status": test, "command": s.test.command, "detail": s.test.detail, "exit_code": s.test.exit_code }),
        );
        out.push(with_streak(i, held));
        if let Some(p) = prev
            .map(|p| p.signals.test.status.as_str())
            .filter(|p| !p.is_empty() && *p != test)
        {
            let i = insight(
                "test_status_continuity",
                &["transition", p, test],
                "tests",
                &format!("{p}_to_{test}"),
                json!({ "from": p, "to": test, "command": s.test.command, "detail": s.test.detail }),
            );
            out.push(with_streak(i, (2, vec![cur.id.clone(), older[0].id.clone()])));
        }
    }

    if s.dependency_drift.status == "present" {
        let held = streak(cur, older, |o| o.signals.dependency_drift.status == "present");
        let stale: Vec<String> = s
            .dependency_drift
            .stale
            .iter()
            .map(|l| format!("{} changed after {}", l.manifest, l.lockfile))
            .collect();
        let i = insight(
            "dependency_drift_continuity",
            &["present"],
            "dependencies",
            "present",
            json!({ "stale": stale }),
        );
        out.push(with_streak(i, held));
    }

    let todo = &s.todo;
    let increased = prev.is_some_and(|p| todo.todo_count > p.signals.todo.todo_count);
    if increased || todo.fixme_count > 0 {
        let status = if increased { "increased" } else { "fixme_present" };
        out.push(insight(
            "todo_concentration",
            &[status],
            "todo",
            status,
            json!({
                "todo_count": todo.todo_count,
                "fixme_count": todo.fixme_count,
                "previous_todo_count": prev.map(|p| p.signals.todo.todo_count),
                "top_files": todo.top_files,
            }),
        ));
    }

    // Signals the cycle could not see: a failed collector, or tests without a verdict.
    let mut blind: Vec<(String, String)> = cur
        .collector_errors
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if matches!(test, "unavailable" | "unknown") {
        blind.push((
            "test_signal".into(),
            s.test.detail.clone().unwrap_or_else(|| test.to_owned()),
        ));
    }
    for (signal, why) in blind {
        let is_blind = |o: &Snapshot| {
            o.collector_errors.contains_key(&signal)
                || (signal == "test_signal" && matches!(o.signals.test.status.as_str(), "unavailable" | "unknown"))
        };
        let held = streak(cur, older, is_blind);
        let status = if held.0 >= 2 {
            "persistent_unavailable"
        } else {
            "unavailable"
        };
        let i = insight(
            "observation_coverage",
            &[&signal, status],
            &signal,
            status,
            json!({ "signal": signal, "reason": why }),
        );
        out.push(with_streak(i, held));
    }

    let h = &s.execution_health;
    let mut health = |pattern: &str, evidence: serde_json::Value, outcomes: &[&str]| {
        let mut i = insight("execution_health", &[pattern], "execution", pattern, evidence);
        i.observation_ids = vec![cur.id.clone()];
        i.run_ids = outcomes
            .iter()
            .flat_map(|o| h.runs_by_outcome.get(*o).cloned().unwrap_or_default())
            .collect();
        out.push(i);
    };
    if h.total_runs >= 5 && h.no_op * 2 >= h.total_runs {
        health(
            "high_no_op_rate",
            json!({ "total_runs": h.total_runs, "no_op_count": h.no_op, "no_op_rate": h.no_op as f64 / h.total_runs as f64 }),
            &["no_op"],
        );
    }
    if h.failed + h.timed_out >= 2 {
        health(
            "repeated_unknown_failures",
            json!({ "total_runs": h.total_runs, "failed": h.failed, "timed_out": h.timed_out }),
            &["failed", "timed_out"],
        );
    }
    if h.validation_failed >= validation_failure_threshold.max(1) {
        health(
            "persistent_validation_failures",
            json!({ "total_runs": h.total_runs, "validation_failed": h.validation_failed }),
            &["validation_failed"],
        );
    }

    for (kind, sig, prev_sig) in [
        ("lint_drift", &s.lint, prev.map(|p| &p.signals.lint)),
        ("type_health", &s.types, prev.map(|p| &p.signals.types)),
    ] {
        if sig.status == "unavailable" || sig.count == 0 {
            continue;
        }
        let before = prev_sig.filter(|p| p.status != "unavailable" && !p.status.is_empty());
        let worsened = before.is_some_and(|p| sig.count > p.count);
        let status = if worsened { "worsened" } else { "present" };
        let held = streak(cur, older, |o| {
            let x = if kind == "lint_drift" {
                &o.signals.lint
            } else {
                &o.signals.types
            };
            x.count > 0
        });
        let overlap: Vec<&str> = sig
            .top_files
            .iter()
            .filter(|f| s.file_hotspots.iter().any(|h| h.path == f.path))
            .map(|f| f.path.as_str())
            .collect();
        let i = insight(
            kind,
            &[status],
            sig.tool.as_deref().unwrap_or(kind),
            status,
            json!({
                "tool": sig.tool,
                "count": sig.count,
                "previous_count": before.map(|p| p.count),
                "distinct_files": sig.distinct_files,
                "top_codes": sig.top_codes,
                "top_files": sig.top_files,
                "hotspot_overlap": overlap,
            }),
        );
        out.push(with_streak(i, held));
    }

    if matches!(s.ci.status.as_str(), "failing" | "flaky") {
        out.push(insight(
            "ci_pattern",
            &[&s.ci.status],
            "ci",
            &s.ci.status,
            json!({ "failing_checks": s.ci.failing_checks, "flaky_checks": s.ci.flaky_checks, "failure_rate": s.ci.failure_rate }),
        ));
    }

    let v = &s.validation_history;
    if v.status == "repeated_failures" {
        let mut i = insight(
            "validation_pattern",
            &["repeated_failures"],
            "validation",
            "repeated_failures",
            json!({
                "tasks_analyzed": v.tasks_analyzed,
                "overall_failure_rate": v.overall_failure_rate,
                "tasks": v.tasks_with_repeated_failures.iter().map(|t| json!({"key": t.key, "runs": t.runs, "failures": t.failures})).collect::<Vec<_>>(),
            }),
        );
        i.observation_ids = vec![cur.id.clone()];
        i.run_ids = v
            .tasks_with_repeated_failures
            .iter()
            .flat_map(|t| t.run_ids.clone())
            .collect();
        out.push(i);
    }
    // The backlog's `## Next` items, in the file's order (its first is its most wanted).
    let b = &s.backlog;
    for item in &b.items {
        let kind = if item.is_arch() {
            "arch_backlog_item"
        } else {
            "backlog_item"
        };
        let mut slug = super::backlog::slug(&item.title);
        if slug.is_empty() {
            slug = format!("line-{}", item.line);
        }
        let held = streak(cur, older, |o| {
            o.signals.backlog.items.iter().any(|x| x.title == item.title)
        });
        let i = insight(
            kind,
            &[&slug],
            &slug,
            "open",
            json!({ "title": item.title, "type": item.item_type, "file": b.file, "line": item.line }),
        );
        out.push(with_streak(i, held));
    }

    let c = &s.coverage;
    if c.status == "available" {
        let evidence = || {
            json!({
                "report": c.report,
                "format": c.format,
                "percent": c.percent,
                "lines_total": c.lines_total,
                "lines_covered": c.lines_covered,
                "files": c.files,
                "files_below_threshold": c.files_below_threshold,
                "file_threshold": c.file_threshold,
                "uncovered_files": c.uncovered_files.iter().map(|f| format!("{} ({}%)", f.path, f.percent)).collect::<Vec<_>>(),
            })
        };
        let is_low = |o: &Snapshot| o.signals.coverage.percent.is_some_and(|p| p < t.coverage_min_percent);
        if is_low(cur) {
            let i = insight("coverage_gap", &["low_overall"], "coverage", "low_overall", evidence());
            out.push(with_streak(i, streak(cur, older, is_low)));
        } else if c.files_below_threshold >= t.coverage_min_uncovered_files {
            let i = insight(
                "coverage_gap",
                &["uncovered_files"],
                "coverage",
                "uncovered_files",
                evidence(),
            );
            let many = |o: &Snapshot| o.signals.coverage.files_below_threshold >= t.coverage_min_uncovered_files;
            out.push(with_streak(i, streak(cur, older, many)));
        }
    }

    // Themes: a lint or type code among the most frequent in several snapshots in a row is a
    // cluster, fixed best as one change across its files (at most three per signal).
    for (status, sig, pick) in [
        (
            "lint_cluster",
            &s.lint,
            (|o: &Snapshot| &o.signals.lint) as fn(&Snapshot) -> &super::observe::CountSignal,
        ),
        ("type_cluster", &s.types, |o: &Snapshot| &o.signals.types),
    ] {
        for cl in sig.clusters.iter().take(3) {
            let held = streak(cur, older, |o| pick(o).clusters.iter().any(|x| x.code == cl.code));
            if held.0 < t.lint_cluster_min_runs {
                continue;
            }
            let i = insight(
                "theme",
                &[status, &cl.code],
                &cl.code,
                status,
                json!({ "tool": sig.tool, "code": cl.code, "count": cl.count, "files": cl.files }),
            );
            out.push(with_streak(i, held));
        }
    }

    for i in &mut out {
        if i.observation_ids.is_empty() {
            i.observation_ids = vec![cur.id.clone()];
        }
    }
    out
}
