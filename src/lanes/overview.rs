//! What `git oc status` shows: the lanes (running, stopped, stale), the board's tasks counted by
//! state and repository, the runs in progress with their stage, the last runs, and the budgets.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::status::{LaneView, RunningRun};
use crate::contracts::Timestamp;
use crate::error::Result;

#[derive(Clone, Debug, Serialize)]
pub struct BoardCounts {
    pub kind: Option<String>,
    pub total: usize,
    pub by_state: BTreeMap<String, usize>,
    /// `repo:` label value (`-` for none) → state → tasks.
    pub by_repo: BTreeMap<String, BTreeMap<String, usize>>,
    /// Why the board could not be read.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunningView {
    #[serde(flatten)]
    pub run: RunningRun,
    pub elapsed_seconds: i64,
    pub stage_elapsed_seconds: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct LastRun {
    pub run_id: String,
    pub time: Timestamp,
    pub outcome: String,
    pub lane: String,
    pub backend: String,
    pub goal: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Budgets {
    pub repo_key: String,
    pub max_concurrent_runs: u32,
    pub runs_in_progress: usize,
    pub max_daily_executions: Option<u32>,
    /// This repository's runs in the last 24 hours, counted on the board as claiming does.
    pub daily_count: Option<usize>,
    pub quota_backoff_seconds: u64,
    /// Lanes waiting out an exhausted quota now.
    pub backing_off: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Overview {
    pub lanes: Vec<LaneView>,
    pub board: BoardCounts,
    pub running: Vec<RunningView>,
    pub last_runs: Vec<LastRun>,
    pub budgets: Budgets,
    pub at: Timestamp,
}

pub fn overview(dir: &Path, last: usize) -> Result<Overview> {
    let session = crate::session::Session::open(dir)?;
    let state_dir = session.repo.state_dir();
    let now = Timestamp::now();
    let key = super::board::repo_key(&session);
    let lanes = super::status::read_lanes(&state_dir, now);
    let mut counts = BoardCounts {
        kind: None,
        total: 0,
        by_state: BTreeMap::new(),
        by_repo: BTreeMap::new(),
        error: None,
    };
    let mut daily = None;
    match crate::board::open(&session.repo, &session.config)
        .and_then(|b| b.list(&crate::board::Filter::default()).map(|t| (b, t)))
    {
        Ok((board, tasks)) => {
            counts.kind = Some(board.kind().as_str().to_owned());
            counts.total = tasks.len();
            for t in &tasks {
                *counts.by_state.entry(t.state.clone()).or_default() += 1;
                let repo = crate::board::task::label_value(&t.labels, "repo").unwrap_or("-");
                *counts
                    .by_repo
                    .entry(repo.to_owned())
                    .or_default()
                    .entry(t.state.clone())
                    .or_default() += 1;
            }
            daily = Some(super::claim::daily_count(board.as_ref(), &tasks, &key, now));
        }
        Err(e) => counts.error = Some(e.summary_line()),
    }
    let running = super::status::read_running(&state_dir)
        .into_iter()
        .map(|run| RunningView {
            elapsed_seconds: now.as_seconds() - run.started_at.as_seconds(),
            stage_elapsed_seconds: now.as_seconds() - run.stage_started_at.as_seconds(),
            run,
        })
        .collect::<Vec<_>>();
    let filter = crate::runs::RunFilter {
        max_count: Some(last),
        ..Default::default()
    };
    let last_runs = crate::runs::list(&session.repo, &filter)?
        .0
        .into_iter()
        .map(|r| LastRun {
            run_id: r.run_id.clone(),
            time: r.time,
            outcome: r.outcome.clone(),
            lane: r.lane.clone(),
            backend: r.backend.clone(),
            goal: r.goal.clone(),
        })
        .collect();
    let backing_off = lanes
        .iter()
        .filter(|l| l.process == "running" && l.status.last_action == "rate_limited")
        .map(|l| l.status.lane.clone())
        .collect();
    Ok(Overview {
        budgets: Budgets {
            repo_key: key,
            max_concurrent_runs: session.config.lanes.max_concurrent_runs(),
            runs_in_progress: running.len(),
            max_daily_executions: session.config.lanes.max_daily_executions,
            daily_count: daily,
            quota_backoff_seconds: session.config.lanes.quota_backoff(),
            backing_off,
        },
        lanes,
        board: counts,
        running,
        last_runs,
        at: now,
    })
}

fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// The report `git oc status` prints.
pub fn render(o: &Overview) -> String {
    let mut out = String::from("Lanes\n");
    if o.lanes.is_empty() {
        out.push_str("  (none has run here; start them with git oc watch --all)\n");
    }
    for l in &o.lanes {
        let s = &l.status;
        let state = serde_json::to_value(s.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {:<8} {:<8} pid={} cycle={} state={} last_action={}",
            s.lane, l.process, s.pid, s.cycle, state, s.last_action
        ));
        if let Some(t) = &s.task_id {
            out.push_str(&format!(" task_id={t}"));
        }
        if let Some(k) = &s.task_kind {
            out.push_str(&format!(" task_kind={k}"));
        }
        out.push_str(&format!(
            " claimed={} succeeded={} failed={} followups={} restarts={} updated_at={}\n",
            s.counters.tasks_claimed,
            s.counters.tasks_succeeded,
            s.counters.tasks_failed,
            s.counters.follow_up_tasks_created,
            s.counters.restarts,
            s.updated_at
        ));
        if let Some(n) = &s.note {
            out.push_str(&format!("           note: {}\n", n.replace(['\n', '\r'], " ")));
        }
    }
    out.push_str("\nBoard");
    match (&o.board.error, &o.board.kind) {
        (Some(e), _) => out.push_str(&format!(" (unreadable: {e})\n")),
        (None, kind) => {
            out.push_str(&format!(
                " ({}, {} task(s))\n",
                kind.as_deref().unwrap_or("?"),
                o.board.total
            ));
            for (state, n) in &o.board.by_state {
                out.push_str(&format!("  {state:<14} {n}\n"));
            }
            for (repo, states) in &o.board.by_repo {
                let parts: Vec<String> = states.iter().map(|(s, n)| format!("{s}={n}")).collect();
                out.push_str(&format!("  repo {repo}: {}\n", parts.join(" ")));
            }
        }
    }
    out.push_str("\nRuns in progress\n");
    if o.running.is_empty() {
        out.push_str("  (none)\n");
    }
    for r in &o.running {
        let stage = r.run.stage.as_deref().unwrap_or("starting");
        out.push_str(&format!(
            "  {} lane={} task={} stage={stage} ({}) elapsed={} branch={}\n",
            r.run.run_id,
            r.run.lane.as_deref().unwrap_or("-"),
            r.run.task_id.as_deref().unwrap_or("-"),
            duration(r.stage_elapsed_seconds),
            duration(r.elapsed_seconds),
            r.run.branch
        ));
    }
    out.push_str("\nLast runs\n");
    if o.last_runs.is_empty() {
        out.push_str("  (none)\n");
    }
    for r in &o.last_runs {
        out.push_str(&format!(
            "  {} {:<18} {} {} {}\n",
            crate::contracts::prefix_chars(&r.run_id, 8),
            r.outcome,
            r.time,
            r.backend,
            r.goal.replace(['\n', '\r'], " ")
        ));
    }
    let b = &o.budgets;
    out.push_str(&format!(
        "\nBudgets (repo {})\n  concurrent runs: {} of {}\n  daily runs: {} of {}\n  quota backoff: {} s{}\n",
        b.repo_key,
        b.runs_in_progress,
        b.max_concurrent_runs,
        b.daily_count.map_or("?".to_owned(), |n| n.to_string()),
        b.max_daily_executions.map_or("no cap".to_owned(), |n| n.to_string()),
        b.quota_backoff_seconds,
        if b.backing_off.is_empty() {
            String::new()
        } else {
            format!(" (backing off now: {})", b.backing_off.join(", "))
        }
    ));
    out
}
