//! What a run gets from outside: the clock, the id source, the interrupt flag, the redactor and
//! an observer of its events. Injected, so that stages can be driven in-process with a fixed
//! clock and ids, and so that the CLI, lanes and workers each watch runs their own way.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::contracts::Timestamp;
use crate::execution::secrets::Redactor;

pub trait Clock {
    fn now(&self) -> Timestamp;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

pub trait IdSource {
    /// A fresh UUID v4 in its hyphenated form.
    fn new_id(&self) -> String;
}

/// Random UUID v4 ids.
pub struct RandomIds;

impl IdSource for RandomIds {
    fn new_id(&self) -> String {
        crate::contracts::new_id()
    }
}

/// The named stages of a run, in the order a full run passes through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageName {
    PreRunGate,
    Workspace,
    Agent,
    Snapshot,
    Validation,
    Commit,
    PostRunGate,
    Record,
    Publish,
}

impl StageName {
    pub fn as_str(self) -> &'static str {
        match self {
            StageName::PreRunGate => "pre-run gate",
            StageName::Workspace => "workspace",
            StageName::Agent => "agent",
            StageName::Snapshot => "snapshot",
            StageName::Validation => "validation",
            StageName::Commit => "commit",
            StageName::PostRunGate => "post-run gate",
            StageName::Record => "record",
            StageName::Publish => "publish",
        }
    }
}

/// Which process printed an output line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputSource {
    Agent,
    Validation,
}

/// What a run reports while it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// The run has an id and a branch; nothing is written yet.
    Started {
        run_id: &'a str,
        branch: &'a str,
        backend: &'a str,
    },
    StageStarted(StageName),
    StageFinished {
        stage: StageName,
        elapsed: Duration,
    },
    /// A process starts: the agent (its program) or a validation command (its line).
    Running {
        source: OutputSource,
        what: &'a str,
    },
    /// Output of the agent or a validation command, already redacted, whole lines.
    Output {
        source: OutputSource,
        bytes: &'a [u8],
    },
    Warning(&'a str),
}

/// Watches a run. Called on the thread that drives the run.
pub trait Observer {
    fn event(&self, event: &Event);

    /// Whether output lines are wanted; capturing them for nobody costs a copy per line.
    fn wants_output(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _: &Event) {}
}

/// Everything a run takes from its caller.
pub struct RunContext<'a> {
    pub clock: &'a dyn Clock,
    pub ids: &'a dyn IdSource,
    /// Becomes true when the user asks to stop (Ctrl-C); the agent is stopped and the run recorded.
    pub interrupt: &'a AtomicBool,
    pub redactor: Redactor,
    pub observer: &'a dyn Observer,
    /// No other git-oc writes this repository's board while the agent runs (a worker in its own
    /// clone): every task ref the agent changed, created or deleted goes back as it was, not only
    /// the ones it deleted or rewrote (see [`crate::git::guard::put_back_tasks`]).
    pub sole_board_writer: bool,
}

impl<'a> RunContext<'a> {
    /// The system clock, random ids, the process-wide interrupt flag and secrets from the
    /// environment.
    pub fn system(observer: &'a dyn Observer) -> Self {
        RunContext {
            clock: &SystemClock,
            ids: &RandomIds,
            interrupt: &gix::interrupt::IS_INTERRUPTED,
            redactor: Redactor::from_env(),
            observer,
            sole_board_writer: false,
        }
    }

    pub fn warn(&self, text: &str) {
        self.observer.event(&Event::Warning(text));
    }
}
