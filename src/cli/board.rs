//! `git oc board doctor` and `git oc board smoke`: is the board usable, and does a real task
//! survive a read, a comment and a round trip through another state.

use clap::{Args, Subcommand};

use super::ui::Ui;
use crate::board::check::{SmokeOptions, Status};
use crate::error::Result;

/// Check the task board and try it on a task
#[derive(Debug, Args)]
pub struct BoardArgs {
    #[command(subcommand)]
    pub command: BoardCommand,
}

#[derive(Debug, Subcommand)]
pub enum BoardCommand {
    Doctor(DoctorArgs),
    Smoke(SmokeArgs),
}

/// Check that the board answers and has the states and labels the lanes need
///
/// Exits 1 when a check fails.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Also read this task
    #[arg(long, value_name = "TASK")]
    pub task_id: Option<String>,
}

/// Read a task, parse it, comment on it, and optionally move it and back
///
/// What it did is kept in .operations_center/smoke/<run_id>/ (request_context.json,
/// board_task.json, smoke_result.json, or failure.json).
#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// The task to try
    #[arg(long, value_name = "TASK")]
    pub task_id: String,
    /// Only comment; move nothing
    #[arg(long, conflicts_with_all = ["transition_to", "restore_state"])]
    pub comment_only: bool,
    /// The comment's text [default: "Operations Center smoke test comment"]
    #[arg(long, value_name = "TEXT")]
    pub comment_text: Option<String>,
    /// Move the task to this state (only if it has not moved since it was read)
    #[arg(long, value_name = "STATE")]
    pub transition_to: Option<String>,
    /// Then move it to this state
    #[arg(long, value_name = "STATE", requires = "transition_to")]
    pub restore_state: Option<String>,
}

pub fn cmd_board(ui: &mut Ui, args: &BoardArgs) -> Result<i32> {
    let (repo, board) = crate::board::open_in(&super::current_dir()?)?;
    match &args.command {
        BoardCommand::Doctor(a) => {
            let report = crate::board::check::doctor(board.as_ref(), a.task_id.as_deref());
            ui.emit(&report, || {
                let mut out = format!("board: {}\n", report.kind);
                for c in &report.checks {
                    let mark = match c.status {
                        Status::Ok => "ok  ",
                        Status::Warn => "warn",
                        Status::Fail => "FAIL",
                    };
                    out.push_str(&format!(
                        "  [{mark}] {:<12} {}\n",
                        c.name,
                        crate::text::escape_controls(&c.detail)
                    ));
                }
                out
            });
            Ok(if report.ok { 0 } else { 1 })
        }
        BoardCommand::Smoke(a) => {
            let report = crate::board::check::smoke(
                board.as_ref(),
                repo.workdir(),
                &SmokeOptions {
                    task_id: a.task_id.clone(),
                    comment_only: a.comment_only,
                    comment_text: a.comment_text.clone(),
                    transition_to: a.transition_to.clone(),
                    restore_state: a.restore_state.clone(),
                },
            )?;
            ui.emit(&report, || {
                let mut out = format!("smoke test of task {} passed (run {})\n", report.task_id, report.run_id);
                super::field(&mut out, "goal", report.parsed_task.goal.lines().next().unwrap_or(""));
                super::field(&mut out, "repo", &report.parsed_task.execution.repo);
                super::field(&mut out, "commented", "yes");
                if let Some(s) = &report.result.transition_state {
                    super::field(&mut out, "moved to", s);
                }
                if let Some(s) = &report.result.restore_state {
                    super::field(&mut out, "restored to", s);
                }
                for a in &report.artifacts {
                    super::field(&mut out, "artifact", &a.display().to_string());
                }
                out
            });
            Ok(0)
        }
    }
}
