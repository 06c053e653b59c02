//! `git oc worker`: take tasks from the board on a shared remote, one at a time, alongside any
//! number of other workers on other machines.

use std::time::Duration;

use clap::Args;

use super::ui::Ui;
use crate::error::{Error, Result};
use crate::worker::{Event, Options, Worker};

/// Take tasks from the git board on a remote and run them, with other workers
///
/// Fetches the board from the remote, claims a Ready task with one atomic push (the first
/// worker to push wins; the others move on), runs it while renewing the claim's lease, and
/// publishes the run's branch, evidence ref, notes and the task's new state in one atomic push,
/// which also claims the next task (from the view of the last claim while that is young, else
/// from the board fetched while the run went on; refused whole if another worker took that
/// task first, and the publication then goes alone). The notes go to
/// the worker's own refs/notes/oc-worker/<name> (git oc fetch merges them into refs/notes/oc),
/// so that workers never race for one notes ref. A task whose worker died is taken over once its
/// lease expires, and the attempt is recorded on the task as interrupted. Exits 0 when
/// --max-tasks are done or the board has had no work for --idle-exit seconds; 130 on Ctrl-C.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The remote holding the board [default: origin, or the only remote]
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
    /// The kinds of task to take ('task-kind:' label; a task without one is a goal)
    #[arg(long, value_name = "LANES", value_delimiter = ',', default_value = "goal")]
    pub lanes: Vec<String>,
    /// Stop after this many tasks
    #[arg(long, value_name = "N")]
    pub max_tasks: Option<usize>,
    /// Stop once the board has had no work for this many seconds
    #[arg(long, value_name = "SECONDS")]
    pub idle_exit: Option<f64>,
    /// The worker's name on the board [default: <host>-<pid>]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// How long a claim lasts unless renewed (renewed every third of it), e.g. 90s, 5m
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::worker::parse_duration)]
    pub lease: Duration,
}

pub fn cmd_worker(ui: &mut Ui, args: &WorkerArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let remote = match &args.remote {
        Some(r) => r.clone(),
        None => crate::publish::default_remote(&repo.repo)?,
    };
    let idle_exit = args
        .idle_exit
        .map(|s| {
            if s.is_finite() && s >= 0.0 {
                Ok(Duration::from_secs_f64(s))
            } else {
                Err(Error::input(format!("--idle-exit {s} is not a number of seconds")).hint("e.g. --idle-exit 300"))
            }
        })
        .transpose()?;
    if args.max_tasks == Some(0) {
        return Err(Error::input("--max-tasks 0 would take no task").hint("give --max-tasks 1 or more"));
    }
    let opts = Options {
        remote,
        name: args.name.clone().unwrap_or_else(crate::worker::default_name),
        lanes: args
            .lanes
            .iter()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect(),
        max_tasks: args.max_tasks,
        idle_exit,
        lease: args.lease,
    };
    let runner = crate::worker::runner::LanesRunner;
    let clock = crate::pipeline::SystemClock;
    let mut worker = Worker::open(repo.workdir(), opts, &runner, &clock)?;
    let report = worker.run(&mut |event| match event {
        Event::Claimed {
            task_id,
            title,
            reclaimed_from,
        } => ui.status(&match reclaimed_from {
            Some(c) => format!(
                "claimed {task_id} {title:?} (taken over from {}, whose lease expired)",
                c.worker
            ),
            None => format!("claimed {task_id} {title:?}"),
        }),
        Event::Finished { task_id, done } => ui.status(&format!(
            "published {task_id}: {}{}",
            done.state,
            done.run_id
                .as_deref()
                .map(|r| format!(" (run {r})"))
                .unwrap_or_default()
        )),
        Event::LostLease { task_id } => ui.warning(&format!(
            "lost the lease on task {task_id}: another worker took it over; this run is not published"
        )),
        Event::Backoff { why, wait } => ui.warning(&format!(
            "the remote did not answer ({why}); trying again in {:.1}s",
            wait.as_secs_f64()
        )),
        Event::ClosedParent { task_id } => {
            ui.status(&format!("closed {task_id}: all its scope-split children are done"))
        }
        Event::Warning(text) => ui.warning(text),
    })?;
    let code = if report.stopped == "interrupted" { 130 } else { 0 };
    ui.emit(&report, || {
        let published = report.tasks.iter().filter(|t| t.state.is_some()).count();
        let mut out = format!(
            "worker {}: {published} task(s) published, {} lease(s) lost, {} claim race(s) lost; stopped: {}\n",
            report.worker, report.leases_lost, report.claims_lost, report.stopped
        );
        for t in &report.tasks {
            out.push_str(&format!(
                "  {}  {:<10} {}\n",
                t.task_id,
                t.state.as_deref().unwrap_or("(lost)"),
                t.run_id.as_deref().unwrap_or("-")
            ));
        }
        out
    });
    Ok(code)
}
