//! `git oc runs` and `git oc show`: reviewing recorded runs, read from the evidence refs.

use clap::Args;

use super::table::{self, Column};
use super::ui::Ui;
use crate::contracts::{Timestamp, prefix_chars};
use crate::error::{Error, Result};
use crate::evidence::store;
use crate::text::escape_controls;

/// List recorded runs, newest first
///
/// A table with one line per run: short run id, local time (TZ is honoured), outcome,
/// backend@lane, branch, diff stat and goal. On a terminal the columns are fitted to its width.
/// Read from refs/oc/runs/* and refs/oc/demo/*, so it works on any clone that has fetched the
/// evidence.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs with this outcome or result status, running, interrupted or rejected runs
    #[arg(long, value_parser = statuses())]
    pub status: Option<String>,
    /// Only runs routed to this backend
    #[arg(long, value_name = "BACKEND")]
    pub backend: Option<String>,
    /// Only runs in this lane
    #[arg(long, value_name = "LANE")]
    pub lane: Option<String>,
    /// Only runs at or after this time: an RFC 3339 date or time, or an age like 2h, 3d, 1w
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only runs before this time (same forms as --since)
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// At most this many runs
    #[arg(short = 'n', long = "max-count", value_name = "N")]
    pub max_count: Option<usize>,
}

/// Show a run's summary, or one of its evidence files
///
/// RUN is a full run id or a unique prefix. Without FILE: the trace's headline, summary and
/// warnings, the policy decision, the commit, the branch and the worktree. With FILE: that
/// evidence file's exact bytes. Works after the worktree is gone and on another clone after
/// `git oc fetch`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Run id or unique prefix
    #[arg(value_name = "RUN")]
    pub run: String,
    /// An evidence file, e.g. result.json or diff.patch
    #[arg(value_name = "FILE")]
    pub file: Option<String>,
}

/// The `--status` values, with what each selects (in `--help` and completions).
fn statuses() -> Vec<clap::builder::PossibleValue> {
    crate::runs::known_statuses()
        .into_iter()
        .map(|(name, help)| clap::builder::PossibleValue::new(name).help(help))
        .collect()
}

/// A time as the local clock shows it (`TZ` is honoured), to the minute.
fn local_time(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    match jiff::Timestamp::from_microsecond(t.as_micros()) {
        Ok(ts) => ts.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string(),
        Err(_) => t.to_string(),
    }
}

/// The columns of `git oc runs`; on a narrow terminal the routing is cut first, then the
/// branch, the goal, the diff stat and the outcome.
const RUN_COLUMNS: [Column; 7] = [
    Column::fixed("RUN"),
    Column::fixed("TIME"),
    Column::shrinks("OUTCOME", 4, 8),
    Column::shrinks("BACKEND@LANE", 0, 8),
    Column::shrinks("BRANCH", 1, 10),
    Column::shrinks("CHANGES", 3, 6),
    Column::shrinks("GOAL", 2, 10),
];

/// A diff stat as the table shows it: `1 file changed, 6 insertions(+), 2 deletions(-)` becomes
/// `1 file +6 -2`; anything else is shown as it is.
fn compact_diff(stat: &str) -> String {
    let mut files = None;
    let mut parts = Vec::new();
    for part in stat.split(", ") {
        let Some((n, what)) = part.split_once(' ') else {
            return stat.to_owned();
        };
        if n.parse::<u64>().is_err() {
            return stat.to_owned();
        }
        if what.starts_with("file") {
            files = Some(format!("{n} {}", if n == "1" { "file" } else { "files" }));
        } else if what.starts_with("insertion") {
            parts.push(format!("+{n}"));
        } else if what.starts_with("deletion") {
            parts.push(format!("-{n}"));
        } else {
            return stat.to_owned();
        }
    }
    match files {
        Some(f) => std::iter::once(f).chain(parts).collect::<Vec<_>>().join(" "),
        None => stat.to_owned(),
    }
}

/// Parse `--since`/`--until`: an RFC 3339 time, a date, or an age (`90m`, `2h`, `3d`, `1w`).
pub fn parse_when(text: &str, now: Timestamp) -> Result<Timestamp> {
    let bad = || {
        Error::input(format!("cannot read the time {text:?}"))
            .hint("use a date (2026-11-24), an RFC 3339 time (2026-11-24T10:00:00Z) or an age (30m, 2h, 3d, 1w)")
    };
    let t = text.trim();
    if let Some(ts) = Timestamp::parse(t) {
        return Ok(ts);
    }
    if let Ok(date) = t.parse::<jiff::civil::Date>() {
        let ts = date.to_zoned(jiff::tz::TimeZone::UTC).map_err(|_| bad())?.timestamp();
        return Ok(Timestamp::from_micros(ts.as_microsecond()));
    }
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    // Too far back for a time is bad input, never a wrapped time.
    let micros = n
        .checked_mul(per)
        .and_then(|s| s.checked_mul(1_000_000))
        .and_then(|m| now.as_micros().checked_sub(m))
        .ok_or_else(bad)?;
    Ok(Timestamp::from_micros(micros))
}

pub fn cmd_runs(ui: &mut Ui, args: &RunsArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let now = Timestamp::now();
    let since = args.since.as_deref().map(|s| parse_when(s, now)).transpose()?;
    let until = args.until.as_deref().map(|s| parse_when(s, now)).transpose()?;
    let filtered =
        args.status.is_some() || args.backend.is_some() || args.lane.is_some() || since.is_some() || until.is_some();
    let filter = crate::runs::RunFilter {
        status: args.status.clone(),
        backend: args.backend.clone(),
        lane: args.lane.clone(),
        since,
        until,
        max_count: args.max_count,
    };
    let (selected, skipped) = crate::runs::list(&repo, &filter)?;
    for s in &skipped {
        ui.warning(&escape_controls(&format!("skipped {}: {}", s.reference, s.why)));
    }
    if ui.is_json() {
        ui.json(&selected);
        return Ok(0);
    }
    // Everything here may come from a fetched evidence ref: escape control characters.
    let esc = |s: &str| escape_controls(s).into_owned();
    let tz = jiff::tz::TimeZone::system();
    let rows: Vec<Vec<String>> = selected
        .iter()
        .map(|r| {
            vec![
                esc(prefix_chars(&r.run_id, 8)),
                local_time(r.time, &tz),
                esc(&if r.rejected {
                    format!("{} ({})", r.outcome, crate::runs::REJECTED)
                } else if let Some(pr) = &r.pr {
                    format!("{} (PR #{})", r.outcome, pr.rsplit('/').next().unwrap_or(pr))
                } else {
                    r.outcome.clone()
                }),
                esc(&format!("{}@{}", r.backend, r.lane)),
                esc(r.branch.as_deref().unwrap_or("-")),
                esc(&r.diff.as_deref().map_or_else(|| "-".to_owned(), compact_diff)),
                esc(&r.goal),
            ]
        })
        .collect();
    if rows.is_empty() {
        ui.note(if filtered {
            "no run matches"
        } else {
            "no runs recorded yet"
        });
        return Ok(0);
    }
    ui.data(&table::render(&RUN_COLUMNS, &rows, ui.terminal_width()));
    Ok(0)
}

pub fn cmd_show(ui: &mut Ui, args: &ShowArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let run_id = store::resolve_run(&repo.repo, &args.run)?;
    let evidence = store::RunEvidence::open(&repo.repo, &run_id)?;
    let files = evidence.files()?;
    if let Some(file) = &args.file {
        let Some(bytes) = evidence.read(file)? else {
            return Err(Error::input(format!("run {run_id} has no evidence file {file:?}"))
                .hint(format!("its files: {}", files.join(", "))));
        };
        ui.file(&bytes);
        return Ok(0);
    }
    let json = |name: &str| -> Result<Option<serde_json::Value>> {
        match evidence.read(name)? {
            Some(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            None => Ok(None),
        }
    };
    let trace = json("execution_trace.json")?.unwrap_or_default();
    let summary = json("summary.json")?;
    let record = json("execution_record.json")?.unwrap_or_default();
    let policy_file = json("policy_decision.json")?;
    let publication = json(crate::evidence::files::PUBLISH)?;
    let policy = policy_file
        .as_ref()
        .map(|p| p["pre_run"].clone())
        .unwrap_or_else(|| record["metadata"]["policy"].clone());
    // Where the run's worktree is (or was): summary.json says for real runs; a demo that ran has
    // its worktree at the request's workspace path.
    let worktree = match &summary {
        Some(s) => s["worktree"].as_str().map(str::to_owned),
        None => {
            let ran = json("run_metadata.json")?.is_some_and(|m| m["executed"].as_bool() == Some(true));
            match ran {
                true => json("execution_request.json")?.and_then(|r| r["workspace_path"].as_str().map(str::to_owned)),
                false => None,
            }
        }
    };
    let worktree_exists = worktree.as_deref().is_some_and(|w| std::path::Path::new(w).is_dir());
    let entry = evidence.entry;
    if ui.is_json() {
        let doc = serde_json::json!({
            "run_id": run_id,
            "run": entry,
            "headline": trace["headline"],
            "summary": trace["summary"],
            "warnings": trace["warnings"],
            "policy_decision": policy,
            "post_run_policy_decision": policy_file.as_ref().map(|p| p["post_run"].clone()),
            "outcome": summary,
            "publication": publication,
            "worktree": worktree,
            "worktree_exists": worktree_exists,
            "files": files,
        });
        ui.json(&doc);
        return Ok(0);
    }
    let mut out = format!("run {}\n", escape_controls(&run_id));
    // Evidence may have been fetched from anyone: escape control characters in every value.
    let mut line = |label: &str, value: &str| super::field(&mut out, label, value);
    line("headline", trace["headline"].as_str().unwrap_or(""));
    line("summary", trace["summary"].as_str().unwrap_or(""));
    for w in trace["warnings"].as_array().into_iter().flatten() {
        line("trace warn", w.as_str().unwrap_or(""));
    }
    if let Some(e) = &entry {
        line("time", &e.time.to_string());
        if !e.goal.is_empty() {
            line("goal", &e.goal);
        }
        line("routing", &format!("{} / {}", e.lane, e.backend));
        line(
            "outcome",
            &format!(
                "{}{}",
                e.outcome,
                if e.rejected {
                    " (rejected by the post-run gate)"
                } else {
                    ""
                }
            ),
        );
    }
    line("policy", &policy["status"].as_str().unwrap_or("unknown").to_uppercase());
    for v in policy["violations"].as_array().into_iter().flatten() {
        let tag = if v["blocking"].as_bool().unwrap_or(true) {
            "[BLOCK]"
        } else {
            "[review]"
        };
        line(
            "violation",
            &format!(
                "{tag} {}: {}",
                v["rule_id"].as_str().unwrap_or(""),
                v["message"].as_str().unwrap_or("")
            ),
        );
    }
    for w in policy["warnings"].as_array().into_iter().flatten() {
        line(
            "warning",
            &format!(
                "{}: {}",
                w["rule_id"].as_str().unwrap_or(""),
                w["message"].as_str().unwrap_or("")
            ),
        );
    }
    if let Some(post) = policy_file.as_ref().map(|p| &p["post_run"]).filter(|p| !p.is_null()) {
        line(
            "after run",
            &post["status"].as_str().unwrap_or("unknown").to_uppercase(),
        );
    }
    if let Some(e) = &entry {
        line("branch", e.branch.as_deref().unwrap_or("none"));
        line("commit", e.commit.as_deref().unwrap_or("none"));
        line("changes", e.diff.as_deref().unwrap_or("none"));
        line("evidence", &e.evidence_ref);
        if let Some(pushed) = &e.pushed {
            line("pushed", pushed);
        }
        if let Some(pr) = &e.pr {
            line("pull request", pr);
        }
        if let Some(landed) = &e.landed {
            line("landed", landed);
        }
    }
    match &worktree {
        Some(w) if worktree_exists => line("worktree", w),
        Some(w) => line("worktree", &format!("{w} (no longer there)")),
        None => line("worktree", "none (the run stopped before it had one)"),
    }
    if let Some(reason) = summary.as_ref().and_then(|s| s["reason"].as_str()) {
        line("reason", reason);
    }
    line("files", &files.join(", "));
    ui.data(&out);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::compact_diff;

    #[test]
    fn diff_stats_are_compacted_for_the_table() {
        assert_eq!(compact_diff("1 file changed, 6 insertions(+)"), "1 file +6");
        assert_eq!(
            compact_diff("3 files changed, 1 insertion(+), 2 deletions(-)"),
            "3 files +1 -2"
        );
        assert_eq!(compact_diff("2 files changed, 5 deletions(-)"), "2 files -5");
        assert_eq!(compact_diff("something else"), "something else");
    }
}
