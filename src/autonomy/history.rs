//! Execution health and validation history, from git-oc's own evidence (`refs/oc/runs/*`, read
//! through `evidence::store`), not from report directories: the outcomes of the latest runs, and
//! the tasks (or goals, for runs without a task) whose validation keeps failing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::evidence::store::RunEntry;

/// Runs looked at, newest first (the original: the last 60 report directories).
pub const RUN_WINDOW: usize = 60;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecutionHealth {
    pub total_runs: usize,
    pub executed: usize,
    pub no_op: usize,
    pub validation_failed: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub blocked: usize,
    pub cancelled: usize,
    /// The ids of the runs counted, newest first.
    pub run_ids: Vec<String>,
    /// Per outcome, the ids of its runs (newest first, at most 10).
    pub runs_by_outcome: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ValidationHistory {
    /// `repeated_failures`, `nominal` or `no_runs`.
    pub status: String,
    pub tasks_analyzed: usize,
    pub overall_failure_rate: f64,
    pub tasks_with_repeated_failures: Vec<RepeatedFailure>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RepeatedFailure {
    /// `task <id>` or `goal <subject>`.
    pub key: String,
    pub runs: usize,
    pub failures: usize,
    pub run_ids: Vec<String>,
}

pub fn execution_health(runs: &[RunEntry]) -> ExecutionHealth {
    let mut h = ExecutionHealth::default();
    for r in runs.iter().take(RUN_WINDOW) {
        h.total_runs += 1;
        h.run_ids.push(r.run_id.clone());
        let counter = match r.outcome.as_str() {
            "executed" => &mut h.executed,
            "no_op" => &mut h.no_op,
            "validation_failed" => &mut h.validation_failed,
            "failed" => &mut h.failed,
            "timed_out" => &mut h.timed_out,
            "blocked" => &mut h.blocked,
            "cancelled" => &mut h.cancelled,
            _ => continue,
        };
        *counter += 1;
        let ids = h.runs_by_outcome.entry(r.outcome.clone()).or_default();
        if ids.len() < 10 {
            ids.push(r.run_id.clone());
        }
    }
    h
}

/// Tasks with at least two runs that reached validation, two validation failures among them
/// and a failure rate of at least one half.
pub fn validation_history(runs: &[RunEntry]) -> ValidationHistory {
    let mut by_task: BTreeMap<String, (usize, usize, Vec<String>)> = BTreeMap::new();
    let mut validated = 0;
    let mut failed = 0;
    for r in runs.iter().take(RUN_WINDOW) {
        // Only runs whose change reached validation say anything about it.
        if !matches!(r.outcome.as_str(), "executed" | "validation_failed") {
            continue;
        }
        let key = match &r.task_id {
            Some(t) if !t.is_empty() => format!("task {t}"),
            _ => format!("goal {}", r.goal),
        };
        let entry = by_task.entry(key).or_default();
        entry.0 += 1;
        validated += 1;
        if r.outcome == "validation_failed" {
            entry.1 += 1;
            entry.2.push(r.run_id.clone());
            failed += 1;
        }
    }
    let tasks = by_task.len();
    let repeated: Vec<RepeatedFailure> = by_task
        .into_iter()
        .filter(|(_, (runs, failures, _))| *runs >= 2 && *failures >= 2 && *failures * 2 >= *runs)
        .map(|(key, (runs, failures, run_ids))| RepeatedFailure {
            key,
            runs,
            failures,
            run_ids,
        })
        .collect();
    ValidationHistory {
        status: if validated == 0 {
            "no_runs".into()
        } else if repeated.is_empty() {
            "nominal".into()
        } else {
            "repeated_failures".into()
        },
        tasks_analyzed: tasks,
        overall_failure_rate: if validated == 0 {
            0.0
        } else {
            failed as f64 / validated as f64
        },
        tasks_with_repeated_failures: repeated,
    }
}
