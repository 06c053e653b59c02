//! `git oc runs` and `git oc show`: reviewing recorded runs, read from the evidence refs.

use clap::Args;

use super::ui::Ui;
use crate::contracts::{Timestamp, prefix_chars};
use crate::error::{Error, Result};
use crate::evidence::store;
use crate::text::escape_controls;

/// List recorded runs, newest first
///
/// One line per run: short run id, time, outcome, backend@lane, branch, diff stat and goal.
/// Read from refs/oc/runs/*, so it works on any clone that has fetched the evidence.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs with this outcome or result status (executed, no_op, blocked, failed, succeeded, …)
    #[arg(long)]
    pub status: Option<String>,
    /// Only runs routed to this backend
    #[arg(long)]
    pub backend: Option<String>,
    /// Only runs in this lane
    #[arg(long)]
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
/// warnings, the policy decision, the commit and the branch. With FILE: that evidence file's exact
/// bytes. Works after the worktree is gone and on another clone after `git oc fetch`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Run id or unique prefix
    pub run: String,
    /// An evidence file, e.g. result.json or diff.patch
    pub file: Option<String>,
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
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        "w" => n * 7 * 86_400,
        _ => return Err(bad()),
    };
    Ok(Timestamp::from_micros(now.as_micros() - seconds * 1_000_000))
}

pub fn cmd_runs(ui: &mut Ui, args: &RunsArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let now = Timestamp::now();
    let since = args.since.as_deref().map(|s| parse_when(s, now)).transpose()?;
    let until = args.until.as_deref().map(|s| parse_when(s, now)).transpose()?;
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
    let mut out = String::new();
    // Everything here may come from a fetched evidence ref: escape control characters.
    let esc = |s: &str| escape_controls(s).into_owned();
    for r in selected {
        let time = r.time.to_string();
        let time = time.get(..16).unwrap_or(&time).replace('T', " ");
        out.push_str(&format!(
            "{}  {}  {:<17} {:<24} {:<34} {:<40} {}\n",
            esc(prefix_chars(&r.run_id, 8)),
            time,
            esc(&if r.rejected {
                format!("{} (rejected)", r.outcome)
            } else if let Some(pr) = &r.pr {
                format!("{} (PR #{})", r.outcome, pr.rsplit('/').next().unwrap_or(pr))
            } else {
                r.outcome.clone()
            }),
            esc(&format!("{}@{}", r.backend, r.lane)),
            esc(r.branch.as_deref().unwrap_or("-")),
            esc(r.diff.as_deref().unwrap_or("-")),
            esc(prefix_chars(&r.goal, 60))
        ));
    }
    ui.data(&out);
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
    if let Some(reason) = summary.as_ref().and_then(|s| s["reason"].as_str()) {
        line("reason", reason);
    }
    line("files", &files.join(", "));
    ui.data(&out);
    Ok(0)
}
