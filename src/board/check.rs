//! `git oc board doctor` and `git oc board smoke` (reference-fullstack §9.6), for any board:
//! the doctor checks that the board answers and has the states and labels the lanes need; the
//! smoke test reads one task, parses it, comments on it and optionally moves it and back,
//! keeping what it did as files, as the original's smoke entry point does.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Board, StateKind, Task, task};
use crate::contracts::Timestamp;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

/// One check of `git oc board doctor`.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    fn new(name: &str, status: Status, detail: String) -> Check {
        Check {
            name: name.to_owned(),
            status,
            ok: status != Status::Fail,
            detail,
        }
    }
    pub fn ok(name: &str, detail: String) -> Check {
        Self::new(name, Status::Ok, detail)
    }
    pub fn warn(name: &str, detail: String) -> Check {
        Self::new(name, Status::Warn, detail)
    }
    pub fn fail(name: &str, detail: String) -> Check {
        Self::new(name, Status::Fail, detail)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct StateName {
    pub key: &'static str,
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct DoctorReport {
    pub kind: &'static str,
    pub states: Vec<StateName>,
    pub checks: Vec<Check>,
    pub ok: bool,
}

/// The states the lanes move tasks through (goal, test, improve, review).
const LANE_STATES: [StateKind; 5] = [
    StateKind::Ready,
    StateKind::Running,
    StateKind::InReview,
    StateKind::Blocked,
    StateKind::Done,
];

/// Check `board`, and the task `task_id` when given.
pub fn doctor(board: &dyn Board, task_id: Option<&str>) -> DoctorReport {
    let states = board.states();
    let mut checks = vec![Check::ok(
        "states",
        format!(
            "the lanes' states are named: {}",
            LANE_STATES
                .iter()
                .map(|k| format!("{}={:?}", k.key(), states.name(*k)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )];
    checks.extend(board.checks());
    if let Some(id) = task_id {
        checks.push(match board.get(id) {
            Ok(t) => Check::ok("task", format!("{} {:?} is in {:?}", t.id, t.title, t.state)),
            Err(e) => Check::fail("task", e.summary_line()),
        });
    }
    DoctorReport {
        kind: board.kind().as_str(),
        states: StateKind::ALL
            .iter()
            .map(|k| StateName {
                key: k.key(),
                name: states.name(*k).to_owned(),
            })
            .collect(),
        ok: checks.iter().all(|c| c.ok),
        checks,
    }
}

/// What `git oc board smoke` is asked to do.
#[derive(Clone, Debug, Default)]
pub struct SmokeOptions {
    pub task_id: String,
    pub comment_only: bool,
    pub comment_text: Option<String>,
    pub transition_to: Option<String>,
    pub restore_state: Option<String>,
}

/// The original's default comment.
pub const SMOKE_COMMENT: &str = "Operations Center smoke test comment";

/// `smoke_result.json`.
#[derive(Clone, Debug, Serialize)]
pub struct SmokeResult {
    pub task_id: String,
    pub fetched: bool,
    pub parsed: bool,
    pub comment_posted: bool,
    pub transition_state: Option<String>,
    pub restore_state: Option<String>,
    pub timestamp: Timestamp,
}

/// What `git oc board smoke` prints.
#[derive(Clone, Debug, Serialize)]
pub struct SmokeReport {
    pub run_id: String,
    pub task_id: String,
    pub parsed_task: task::ParsedTask,
    pub result: SmokeResult,
    pub artifacts: Vec<PathBuf>,
}

/// The smoke test's files: `<workdir>/.operations_center/smoke/<run_id>/`.
pub fn smoke_dir(workdir: &Path, run_id: &str) -> PathBuf {
    workdir
        .join(crate::git::worktree::EVIDENCE_DIR)
        .join("smoke")
        .join(run_id)
}

fn write_json(dir: &Path, name: &str, value: &impl Serialize, artifacts: &mut Vec<PathBuf>) -> Result<()> {
    let path = dir.join(name);
    crate::evidence::write_atomic(&path, &crate::contracts::to_evidence_json(value))?;
    artifacts.push(path);
    Ok(())
}

/// Run the smoke test on one task; on failure `failure.json` says where it stopped.
pub fn smoke(board: &dyn Board, workdir: &Path, options: &SmokeOptions) -> Result<SmokeReport> {
    let run_id = crate::contracts::new_id();
    crate::evidence::ensure_self_ignored(workdir)?;
    let dir = smoke_dir(workdir, &run_id);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("could not create {}", dir.display()), &e))?;
    let mut artifacts = Vec::new();
    let context = serde_json::json!({
        "run_id": run_id,
        "phase": "smoke_initialized",
        "board": board.kind().as_str(),
        "task_id": options.task_id,
        "timestamp": Timestamp::now(),
    });
    write_json(&dir, "request_context.json", &context, &mut artifacts)?;
    match smoke_steps(board, &dir, options, &mut artifacts) {
        Ok((task, parsed, result)) => {
            write_json(&dir, "smoke_result.json", &result, &mut artifacts)?;
            tracing::info!(event = "board_smoke_complete", task_id = %task.id, "smoke test complete");
            Ok(SmokeReport {
                run_id,
                task_id: task.id,
                parsed_task: parsed,
                result,
                artifacts,
            })
        }
        Err(e) => {
            let failure = serde_json::json!({
                "phase": "smoke",
                "task_id": options.task_id,
                "error": e.summary_line(),
                "timestamp": Timestamp::now(),
            });
            let _ = write_json(&dir, "failure.json", &failure, &mut artifacts);
            Err(e.hint(format!(
                "failure.json in {} says where the smoke test stopped",
                dir.display()
            )))
        }
    }
}

fn smoke_steps(
    board: &dyn Board,
    dir: &Path,
    options: &SmokeOptions,
    artifacts: &mut Vec<PathBuf>,
) -> Result<(Task, task::ParsedTask, SmokeResult)> {
    let task = board.get(&options.task_id)?;
    write_json(dir, "board_task.json", &task, artifacts)?;
    let parsed = task::parse(&task)?;
    let text = options.comment_text.as_deref().unwrap_or(SMOKE_COMMENT);
    board.comment(&task.id, text)?;
    let mut result = SmokeResult {
        task_id: task.id.clone(),
        fetched: true,
        parsed: true,
        comment_posted: true,
        transition_state: None,
        restore_state: None,
        timestamp: Timestamp::now(),
    };
    if !options.comment_only
        && let Some(to) = &options.transition_to
    {
        // Each move expects the state it was seen in: a task someone else moves meanwhile is
        // left alone.
        let moved = board.transition(&task.id, to, Some(&task.state))?;
        result.transition_state = Some(moved.to.clone());
        if let Some(back) = &options.restore_state {
            let restored = board.transition(&task.id, back, Some(&moved.to))?;
            result.restore_state = Some(restored.to);
        }
    }
    Ok((task, parsed, result))
}
