//! The board lanes, goal, test and improve: each cycle claims one task of the lane's kinds and
//! runs it. They differ only in their [`Role`]: the kinds they claim, the task type a run gets,
//! and the outcome the board is told (`execute.rs`).

use super::{CycleReport, Lane, LaneContext, LaneKind};
use crate::board::Task;
use crate::contracts::TaskType;
use crate::error::Result;
use crate::session::Session;

/// The original's board-worker roles (reference-fullstack §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Goal,
    Test,
    Improve,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Goal => "goal",
            Role::Test => "test",
            Role::Improve => "improve",
        }
    }

    /// The `task-kind:` values the role claims.
    pub fn kinds(self) -> &'static [&'static str] {
        match self {
            Role::Goal => &["goal"],
            Role::Test => &["test", "test_campaign"],
            Role::Improve => &["improve", "improve_campaign"],
        }
    }

    /// The task type a run of the role gets. The original mapped `test` to a type that does not
    /// exist, which became `unknown`; a test task writes tests.
    pub fn task_type(self) -> TaskType {
        match self {
            Role::Goal => TaskType::Feature,
            Role::Test => TaskType::TestWrite,
            Role::Improve => TaskType::Refactor,
        }
    }

    /// The role a task's `task-kind:` label names (a task without one is a goal).
    pub fn of_task(task: &Task) -> Role {
        let kind = task.label_value("task-kind").unwrap_or("goal");
        [Role::Test, Role::Improve]
            .into_iter()
            .find(|r| r.kinds().iter().any(|k| k.eq_ignore_ascii_case(kind)))
            .unwrap_or(Role::Goal)
    }

    pub fn lane(self) -> LaneKind {
        match self {
            Role::Goal => LaneKind::Goal,
            Role::Test => LaneKind::Test,
            Role::Improve => LaneKind::Improve,
        }
    }
}

/// The key `repo:` labels name this repository by: `run.repo_key`, else the repository's name.
pub fn repo_key(session: &Session) -> String {
    session
        .config
        .run
        .repo_key
        .clone()
        .filter(|k| !k.trim().is_empty())
        .unwrap_or_else(|| session.repo.name())
}

pub struct BoardLane {
    role: Role,
}

impl BoardLane {
    pub fn new(role: Role) -> Self {
        BoardLane { role }
    }
}

impl Lane for BoardLane {
    fn kind(&self) -> LaneKind {
        self.role.lane()
    }

    fn cycle(&mut self, cx: &LaneContext) -> Result<CycleReport> {
        // Settings are read again every cycle, as the original does: edits apply without a restart.
        let session = Session::open(cx.dir)?;
        let board = crate::board::open(&session.repo, &session.config)?;
        // Held until the task's run has ended.
        let _slot = match super::budget::take_slot(&session) {
            Ok(slot) => slot,
            Err(full) => {
                let mut r = CycleReport::action("concurrency_cap");
                r.note = Some(full);
                return Ok(r);
            }
        };
        let options = super::claim::ClaimOptions {
            role: self.role,
            repo_key: repo_key(&session),
            max_daily: session.config.lanes.max_daily_executions,
        };
        let task = match super::claim::claim_next(board.as_ref(), &options, crate::contracts::Timestamp::now())? {
            super::claim::Claim::Nothing => return Ok(CycleReport::action("no_task")),
            super::claim::Claim::DailyCap { count, cap } => {
                let mut r = CycleReport::action("daily_cap_reached");
                r.note = Some(format!("daily cap reached: {count} of {cap} runs in 24 h"));
                return Ok(r);
            }
            super::claim::Claim::Refused { task_id, .. } => {
                let mut r = CycleReport::action("task_skipped");
                r.task_id = Some(task_id);
                return Ok(r);
            }
            super::claim::Claim::Claimed(task) => task,
        };
        let kind = task.label_value("task-kind").unwrap_or("goal").to_owned();
        cx.status.active(&task.id, &kind);
        let quiet = crate::pipeline::Quiet;
        let mut rcx = crate::pipeline::RunContext::system(&quiet);
        rcx.interrupt = cx.interrupt;
        let outcome = super::execute::execute_task(&session, board.as_ref(), &task, &rcx)?;
        let mut r = CycleReport::action(match self.role {
            Role::Improve => "improve_complete",
            _ => "execute_complete",
        });
        r.task_id = Some(task.id.clone());
        r.task_kind = Some(kind);
        r.run_id = outcome.run_id.clone();
        r.follow_ups = outcome.follow_ups.clone();
        r.executed = outcome.run_id.is_some();
        r.succeeded = outcome.success;
        if outcome.quota_exhausted {
            r.action = "rate_limited".into();
            r.backoff = Some(std::time::Duration::from_secs(session.config.lanes.quota_backoff()));
            r.note = Some("the agent reported an exhausted quota".into());
        }
        if outcome.interrupted {
            r.action = "interrupted".into();
        }
        Ok(r)
    }
}
