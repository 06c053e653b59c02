//! Lanes: loops that take work off the board and run it unattended (`git oc watch`), each
//! keeping a status file that `git oc status` reads. One supervising process runs one loop per
//! lane (see [`watch`]); a lane is a module implementing [`Lane`] plus one line in [`open`].
//!
//! The board lanes (goal, test, improve: [`board`]) claim a task ([`claim::claim_next`]) and run
//! it through the same pipeline as `git oc run` ([`execute::execute_task`]), which applies the
//! original's outcome table (reference-fullstack §3.4) back on the board. `propose` runs the
//! autonomy cycle when the repository changes and `review` the review loop.

pub mod board;
pub mod budget;
pub mod claim;
pub mod execute;
pub mod followup;
pub mod overview;
pub mod propose;
pub mod review;
pub mod status;
pub mod watch;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::error::Result;

/// The lanes `git oc watch` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LaneKind {
    Goal,
    Test,
    Improve,
    Propose,
    Review,
}

impl LaneKind {
    pub const ALL: [LaneKind; 5] = [
        LaneKind::Goal,
        LaneKind::Test,
        LaneKind::Improve,
        LaneKind::Propose,
        LaneKind::Review,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LaneKind::Goal => "goal",
            LaneKind::Test => "test",
            LaneKind::Improve => "improve",
            LaneKind::Propose => "propose",
            LaneKind::Review => "review",
        }
    }

    pub fn parse(s: &str) -> Option<LaneKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The pause between cycles, as the original's watchers poll.
    pub fn default_interval(self) -> Duration {
        match self {
            LaneKind::Goal => Duration::from_secs(30),
            _ => Duration::from_secs(60),
        }
    }

    /// What the lane does, for help and status.
    pub fn about(self) -> &'static str {
        match self {
            LaneKind::Goal => "claims task-kind: goal tasks and implements them",
            LaneKind::Test => "claims task-kind: test tasks; a failure becomes a follow-up goal task",
            LaneKind::Improve => "claims task-kind: improve tasks; their suggestions become goal tasks",
            LaneKind::Propose => "runs the autonomy cycle when the repository changes",
            LaneKind::Review => "runs the review loop on the pull requests of runs",
        }
    }
}

impl std::fmt::Display for LaneKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a lane's cycle gets: the repository directory and the stop flag.
pub struct LaneContext<'a> {
    pub dir: &'a Path,
    pub interrupt: &'a AtomicBool,
    /// Where the lane's status goes while it works (a cycle reports its progress through it).
    pub status: &'a status::StatusWriter,
}

/// What one cycle did, for the lane's status.
#[derive(Clone, Debug, Default)]
pub struct CycleReport {
    /// The original's `last_action` vocabulary: `no_task`, `execute_complete`, …
    pub action: String,
    pub task_id: Option<String>,
    pub task_kind: Option<String>,
    pub run_id: Option<String>,
    /// Tasks the cycle created (follow-ups, splits, suggestions).
    pub follow_ups: Vec<String>,
    /// A task was run to its end (any outcome).
    pub executed: bool,
    pub succeeded: bool,
    /// Wait this long before the next cycle (an exhausted quota), instead of the interval.
    pub backoff: Option<Duration>,
    /// Why the lane waits, for status (`quota exhausted`, `daily cap reached`, …).
    pub note: Option<String>,
}

impl CycleReport {
    pub fn action(action: &str) -> Self {
        CycleReport {
            action: action.to_owned(),
            ..Default::default()
        }
    }
}

/// One lane's loop body: look for work and do it, once.
pub trait Lane: Send {
    fn kind(&self) -> LaneKind;
    fn cycle(&mut self, cx: &LaneContext) -> Result<CycleReport>;
}

/// The lane of each kind: the one list of lanes.
pub fn open(kind: LaneKind) -> Box<dyn Lane> {
    match kind {
        LaneKind::Goal => Box::new(board::BoardLane::new(board::Role::Goal)),
        LaneKind::Test => Box::new(board::BoardLane::new(board::Role::Test)),
        LaneKind::Improve => Box::new(board::BoardLane::new(board::Role::Improve)),
        LaneKind::Propose => Box::new(propose::ProposeLane::default()),
        LaneKind::Review => Box::new(review::ReviewLane),
    }
}
