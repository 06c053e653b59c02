//! `git oc worker`: one of many workers on many machines, coordinating through the shared git
//! remote alone (DESIGN §9): no scheduler, no server of our own. Each worker loops:
//!
//! 1. fetch the board (tasks, claims, and the worker's own notes ref) from the remote; a view
//!    younger than the poll interval serves the next claim too (a claim on a stale view is
//!    refused by the remote's leases, and the board is fetched again);
//! 2. claim a Ready task (or reclaim one whose lease expired) with one atomic push
//!    ([`claim`]); a lost race costs one push and the worker tries the next task;
//! 3. run it with the [`runner::TaskRunner`] while a thread renews the lease and, unless the
//!    view of the last claim is still young, another fetches the board again;
//! 4. publish the run's branch, evidence ref and notes, the task's new state and the claim's
//!    release in one atomic push ([`publish`]), or nothing at all if the lease was lost. The
//!    notes go to the worker's own `refs/notes/oc-worker/<name>`, so that publications of
//!    different workers touch no common ref and never race; `git oc fetch` merges them. The
//!    same push claims the next task from that view (at most one fetch and one push per
//!    task); when another worker took that task first, the push is refused whole and the
//!    publication goes alone. A worker stopped before it starts a task so claimed gives the
//!    claim back.
//!
//! Time is injected (a [`Clock`] for lease expiry, the lease length as an option), so tests use
//! short leases and wait on what they can observe.

pub mod ci;
pub mod claim;
pub mod runner;
pub mod split;
pub mod transport;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::board::git::{GitBoard, TASKS_REF_PREFIX, tracking_prefix};
use crate::board::task::Comment;
use crate::board::{StateKind, States, TaskSummary};
use crate::error::{Error, Result};
use crate::git::{NOTES_REF, RUNS_REF_PREFIX, WORKER_NOTES_PREFIX};
use crate::pipeline::Clock;
use claim::{CLAIMS_REF_PREFIX, Claim, Claimed, Held, Renewed, Seen, claims_tracking_prefix};
use runner::{RunDone, TaskRunner};
use transport::{Pushed, Transport};

/// Lanes a worker takes by default.
pub const DEFAULT_LANES: &[&str] = &["goal"];
/// Consecutive failures to reach the remote before the worker gives up.
const MAX_UNREACHABLE: u32 = 6;
/// Attempts at one publication (each after a fresh fetch and merge).
const MAX_PUBLISH_ATTEMPTS: u32 = 400;

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct Options {
    pub remote: String,
    pub name: String,
    /// Task kinds taken (`task-kind:` label; a task without one is a goal).
    pub lanes: Vec<String>,
    pub max_tasks: Option<usize>,
    /// Stop after this long with no work on the board.
    pub idle_exit: Option<Duration>,
    /// How long a claim lasts unless renewed; renewed every third of it.
    pub lease: Duration,
}

impl Options {
    fn renew_every(&self) -> Duration {
        self.lease / 3
    }

    /// How long to wait before looking at the board again, and the first backoff step.
    fn poll(&self) -> Duration {
        (self.lease / 10).clamp(Duration::from_millis(50), Duration::from_secs(10))
    }

    fn backoff(&self, failures: u32) -> Duration {
        let cap = (self.lease / 2).clamp(self.poll(), Duration::from_secs(60));
        let step = self.poll().saturating_mul(1 << failures.min(10));
        jitter(step.min(cap))
    }
}

/// Between half and all of `d`, so that workers that collided do not collide again in step.
fn jitter(d: Duration) -> Duration {
    let r = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
    d / 2 + d * r / 2000
}

/// What a worker reports while it goes.
#[derive(Debug)]
pub enum Event<'a> {
    Claimed {
        task_id: &'a str,
        title: &'a str,
        reclaimed_from: Option<&'a Claim>,
    },
    Finished {
        task_id: &'a str,
        done: &'a RunDone,
    },
    /// The lease was lost: someone else carries the task now, and this run is not published.
    LostLease {
        task_id: &'a str,
    },
    Backoff {
        why: &'a str,
        wait: Duration,
    },
    /// A split task closed: all its children are done on the remote.
    ClosedParent {
        task_id: &'a str,
    },
    Warning(&'a str),
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TaskReport {
    pub task_id: String,
    pub title: String,
    /// The state published, or `None` when the lease was lost and nothing was published.
    pub state: Option<String>,
    pub run_id: Option<String>,
    /// The worker whose attempt this one took over.
    pub reclaimed_from: Option<String>,
    /// From the first claim push of the round to the won one.
    pub claim_ms: f64,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub worker: String,
    pub session: String,
    pub remote: String,
    pub tasks: Vec<TaskReport>,
    /// Claims another worker pushed first.
    pub claims_lost: u64,
    /// Tasks taken over by another worker while this one ran them.
    pub leases_lost: u64,
    pub fetches: u64,
    pub pushes: u64,
    /// Fetches that found nothing to claim (polling an idle board): not part of any task.
    pub idle_fetches: u64,
    /// Fetches and pushes per published task, idle polling left out.
    pub round_trips_per_task: Option<f64>,
    /// `max-tasks`, `idle` or `interrupted`.
    pub stopped: String,
}

/// A worker attached to the clone at `workdir`.
pub struct Worker<'a> {
    workdir: PathBuf,
    board: GitBoard,
    states: States,
    transport: Transport,
    opts: Options,
    clock: &'a (dyn Clock + Sync),
    runner: &'a dyn TaskRunner,
    session: String,
    warned_same_name: std::cell::Cell<bool>,
    /// The notes commit whose blocks went out already (checked and with their evidence): the
    /// remote's copy of this worker's notes at its first publication, then each one it
    /// published. `None` until the first publication.
    notes_published: std::cell::Cell<Option<Option<gix::ObjectId>>>,
    /// How long the last runs and look-ahead fetch took: when the look-ahead fetch starts.
    pace: std::cell::Cell<Pace>,
    /// The secrets of the environment, whose values a publication never carries.
    redactor: crate::execution::secrets::Redactor,
}

fn interrupted() -> bool {
    gix::interrupt::is_triggered()
}

impl<'a> Worker<'a> {
    pub fn open(
        workdir: &Path,
        opts: Options,
        runner: &'a dyn TaskRunner,
        clock: &'a (dyn Clock + Sync),
    ) -> Result<Worker<'a>> {
        let repo = crate::git::Repo::discover(workdir)?;
        crate::publish::validate_remote(&repo.repo, &opts.remote)?;
        if opts.lease < Duration::from_millis(100) {
            return Err(Error::input("the lease is shorter than 100 ms").hint("give --lease a duration such as 5m"));
        }
        let name = opts.name.trim();
        if name.is_empty() || name.chars().any(|c| c.is_control()) {
            return Err(Error::input(format!("invalid worker name {:?}", opts.name))
                .hint("give --name a one-line name, e.g. ci-worker-1"));
        }
        let config = crate::config::Config::load(repo.workdir())?;
        if config.board.kind.as_deref().and_then(crate::board::BoardKind::parse) == Some(crate::board::BoardKind::Plane)
        {
            // Claims and leases are refs on the git remote; a Plane board has neither.
            return Err(Error::input(
                "git oc worker takes its tasks from the git board, and this repository's board is Plane",
            )
            .hint("run the lanes against Plane with 'git oc watch' on one machine, or set [board] kind = \"git\" to share the board through the remote"));
        }
        let states = States::from_config(&config.board).map_err(Error::input)?;
        let workdir = repo.workdir().to_owned();
        Ok(Worker {
            transport: Transport::new(&workdir, &opts.remote, &notes_ref(name)),
            board: GitBoard::new(repo.repo.clone(), states.clone()),
            workdir,
            states,
            opts,
            clock,
            runner,
            session: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            warned_same_name: std::cell::Cell::new(false),
            notes_published: std::cell::Cell::new(None),
            pace: std::cell::Cell::new(Pace::default()),
            redactor: crate::execution::secrets::Redactor::from_env(),
        })
    }

    fn repo(&self) -> &gix::Repository {
        self.board.repo()
    }

    /// Work until `max_tasks` are done, the board has had no work for `idle_exit`, or Ctrl-C.
    pub fn run(&mut self, on: &mut dyn FnMut(&Event)) -> Result<Report> {
        let mut report = Report {
            worker: self.opts.name.clone(),
            session: self.session.clone(),
            remote: self.opts.remote.clone(),
            ..Report::default()
        };
        crate::git::refs::clear_dead_edits(self.repo());
        let mut look = Looking::default();
        // The next task, claimed in the push that published the last one.
        let mut ahead: Option<(Held, f64)> = None;
        report.stopped = loop {
            if interrupted() {
                if let Some((held, _)) = ahead.take() {
                    self.release(&held, on);
                }
                break "interrupted".to_owned();
            }
            if self.opts.max_tasks.is_some_and(|m| report.tasks.len() >= m) {
                break "max-tasks".to_owned();
            }
            let (held, claim_ms) = match ahead.take() {
                Some(next) => next,
                None => match self.claim_next(&mut look, &mut report, on)? {
                    Round::Won(held, ms) => (*held, ms),
                    Round::Again => continue,
                    Round::Stop(why) => break why.to_owned(),
                },
            };
            let (_, task) = self.board.read(&held.claim.task_id)?;
            on(&Event::Claimed {
                task_id: &task.id,
                title: &task.title,
                reclaimed_from: held.reclaimed.as_ref(),
            });
            // The next task is claimed in the push that publishes this one; not past `max_tasks`.
            // From the view of the last claim while that is young (the others claim from their
            // own shares of the board, so a claim on it is seldom lost, and a fetch spared is
            // one conversation fewer for the remote, whose CPU decides how many workers it
            // carries), otherwise from a view fetched while this task runs.
            let look_ahead = self.opts.max_tasks.is_none_or(|m| report.tasks.len() + 1 < m).then(|| {
                match look
                    .view
                    .filter(|at| look.reusable && at.elapsed() < self.opts.poll() / 2)
                {
                    Some(at) => View::Reuse(at, look.skip.clone()),
                    None => View::Fetch,
                }
            });
            let carried = self.carry(&task, held.clone(), look_ahead, on)?;
            let outcome = carried.done;
            look.polled = false;
            look.reusable = carried.reusable;
            if let Some(at) = carried.fetched_at {
                look.view = Some(at);
                look.skip.clear();
                // A look that found nothing to claim was a poll.
                look.polled = carried.ahead.is_none();
            }
            match carried.ahead {
                Some(Ahead::Won(next, ms)) => ahead = Some((*next, ms)),
                Some(Ahead::Lost(id)) => {
                    report.claims_lost += 1;
                    look.skip.insert(id);
                }
                None => {}
            }
            // Otherwise the next claim reuses this view while it is younger than the poll
            // interval: a claim on a stale view is refused by the remote's leases, costing one
            // push, and the board is fetched again.
            if look.view.is_some_and(|at| at.elapsed() >= self.opts.poll()) {
                look.view = None;
            }
            if interrupted() {
                if let Some((held, _)) = ahead.take() {
                    self.release(&held, on);
                }
                break "interrupted".to_owned();
            }
            match &outcome {
                Some(done) => on(&Event::Finished {
                    task_id: &task.id,
                    done,
                }),
                None => {
                    report.leases_lost += 1;
                    on(&Event::LostLease { task_id: &task.id });
                }
            }
            report.tasks.push(TaskReport {
                task_id: task.id.clone(),
                title: task.title.clone(),
                state: outcome.as_ref().map(|d| d.state.clone()),
                run_id: outcome.and_then(|d| d.run_id),
                reclaimed_from: held.reclaimed.map(|c| c.worker),
                claim_ms,
            });
        };
        report.fetches = self.transport.counters.fetches.load(Ordering::Relaxed);
        report.pushes = self.transport.counters.pushes.load(Ordering::Relaxed);
        let published = report.tasks.iter().filter(|t| t.state.is_some()).count();
        if published > 0 {
            let trips = self.transport.counters.total().saturating_sub(report.idle_fetches);
            report.round_trips_per_task = Some(trips as f64 / published as f64);
        }
        Ok(report)
    }

    /// One round of looking for a task and claiming it: fetch the board when the view is stale,
    /// pick a candidate, push the claim. `Again` after a lost race, a backoff or an idle poll.
    fn claim_next(&self, look: &mut Looking, report: &mut Report, on: &mut dyn FnMut(&Event)) -> Result<Round> {
        let mut fresh = false;
        if look.view.is_none() {
            if let Err(why) = self.fetch()? {
                self.back_off(&mut look.failures, &why, on)?;
                return Ok(Round::Again);
            }
            look.failures = 0;
            look.view = Some(Instant::now());
            look.reusable = false;
            look.polled = true;
            look.skip.clear();
            fresh = true;
        }
        let (tasks, _) = self.remote_board()?;
        if fresh {
            self.close_split_parents(&tasks, on);
        }
        let found = self.candidates(tasks, &look.skip, on)?;
        let open_work = found.working > 0;
        // A thin view already used for a claim: looking again costs no more than the push a
        // claim on it would likely lose.
        if !look.polled && look.view.is_some() && found.thin() {
            look.view = None;
            return Ok(Round::Again);
        }
        let Some(seen) = found.pick(&self.session) else {
            look.view = None;
            if !look.skip.is_empty() {
                // Every task seen was taken by someone else: look again at once.
                return Ok(Round::Again);
            }
            if look.polled {
                report.idle_fetches += 1;
            }
            look.polled = false;
            if open_work {
                look.idle_since = None;
            } else {
                let since = *look.idle_since.get_or_insert_with(Instant::now);
                if self.opts.idle_exit.is_some_and(|d| since.elapsed() >= d) {
                    return Ok(Round::Stop("idle"));
                }
            }
            std::thread::sleep(jitter(self.opts.poll()));
            return Ok(Round::Again);
        };
        look.idle_since = None;
        let started = *look.round_started.get_or_insert_with(Instant::now);
        let mine = self.new_claim(&seen.task_id);
        let held = match claim::claim(&self.transport, &self.board, &self.states, &seen, &mine)? {
            Claimed::Won(held) => held,
            Claimed::Lost => {
                // Another worker was faster: try another task of this view (most are still
                // free), and look at the board again after a second loss on it.
                report.claims_lost += 1;
                look.skip.insert(seen.task_id);
                if look.skip.len() >= 2 {
                    look.view = None;
                }
                return Ok(Round::Again);
            }
            Claimed::Unreachable(why) => {
                self.back_off(&mut look.failures, &why, on)?;
                look.view = None;
                return Ok(Round::Again);
            }
        };
        look.failures = 0;
        look.round_started = None;
        Ok(Round::Won(held, started.elapsed().as_secs_f64() * 1000.0))
    }

    /// One more failure to reach the remote in a row: an error at the last allowed, otherwise a
    /// backoff (reported) before trying again.
    fn back_off(&self, failures: &mut u32, why: &str, on: &mut dyn FnMut(&Event)) -> Result<()> {
        *failures += 1;
        if *failures >= MAX_UNREACHABLE {
            return Err(claim::unreachable(&self.opts.remote, why));
        }
        let wait = self.opts.backoff(*failures);
        on(&Event::Backoff { why, wait });
        std::thread::sleep(wait);
        Ok(())
    }

    /// Fetch the board and merge it into the local one.
    fn fetch(&self) -> Result<std::result::Result<(), String>> {
        if let Err(why) = self.transport.fetch_board()? {
            return Ok(Err(why));
        }
        self.merge_fetched()?;
        Ok(Ok(()))
    }

    /// Merge the fetched tasks, and this worker's notes ref when someone else moved it (a worker
    /// of the same name, now or before), so that the next publication is a fast-forward.
    fn merge_fetched(&self) -> Result<()> {
        let repo = self.repo();
        crate::board::git::merge_fetched(repo, &tracking_prefix(&self.opts.remote), &self.states)?;
        if let Some(notes) = crate::git::refs::target(repo, &self.transport.notes_tracking_ref())? {
            crate::publish::merge_notes(repo, notes)?;
        }
        // The task refs the fetches and merges leave loose go into packed-refs, or each of the
        // listings a task takes would open them one by one (best effort: a ref moving meanwhile
        // waits for the next round). Claims come and go, and are left loose.
        let tracking = tracking_prefix(&self.opts.remote);
        if let Err(e) = crate::git::refs::pack_loose(repo, &[TASKS_REF_PREFIX, &tracking]) {
            tracing::debug!(error = %e.summary_line(), "board refs not packed");
        }
        Ok(())
    }

    /// What a publication's notes add to what went out before must be git-oc's, and name
    /// evidence that goes with it: a block git-oc did not write (an agent's, written into this
    /// worker's notes while it ran) is refused; the evidence refs of the others (runs recorded
    /// in this clone before the worker started, say) are returned, to be pushed along. Blocks
    /// that came from the remote (a worker of the same name's) are the remote's already.
    fn notes_to_publish(&self) -> Result<Vec<String>> {
        let repo = self.repo();
        let Some(notes) = crate::git::refs::target(repo, NOTES_REF)? else {
            return Ok(Vec::new());
        };
        let theirs = crate::git::refs::target(repo, &self.transport.notes_tracking_ref())?;
        let since = self.notes_published.get().unwrap_or(theirs);
        if since == Some(notes) {
            return Ok(Vec::new());
        }
        let mut fresh = crate::evidence::verify::new_blocks(repo, since, notes)?;
        if !fresh.is_empty() && theirs.is_some() && theirs != since {
            let unknown = crate::evidence::verify::new_blocks(repo, theirs, notes)?;
            fresh.retain(|b| unknown.contains(b));
        }
        let mut evidence = Vec::new();
        for (commit, block) in fresh {
            if let Some(why) = crate::evidence::verify::why_foreign(repo, commit, &block) {
                let foreign = crate::evidence::verify::Foreign { commit, block, why };
                return Err(crate::publish::foreign_note_error(&self.opts.remote, &foreign));
            }
            if let Some(reference) = block.trailer(crate::evidence::message::trailer::EVIDENCE)
                && reference.starts_with(RUNS_REF_PREFIX)
                && !evidence.iter().any(|r| r == reference)
            {
                evidence.push(reference.to_owned());
            }
        }
        Ok(evidence)
    }

    /// Fetch the notes and one task, and merge them.
    fn fetch_task(&self, task_id: &str) -> Result<std::result::Result<(), String>> {
        if let Err(why) = self.transport.fetch_task(task_id)? {
            return Ok(Err(why));
        }
        self.merge_fetched()?;
        Ok(Ok(()))
    }

    /// Tasks this worker may claim now, oldest first (expired claims before Ready tasks), and
    /// how many tasks other workers hold (claims whose lease runs, or ran out and await a
    /// takeover).
    fn candidates(
        &self,
        mut tasks: Vec<TaskSummary>,
        skip: &HashSet<String>,
        on: &mut dyn FnMut(&Event),
    ) -> Result<Candidates> {
        let repo = self.repo();
        let remote = &self.opts.remote;
        tasks.sort_by(|a, b| a.updated_at.cmp(&b.updated_at).then_with(|| a.id.cmp(&b.id)));
        let claims = claim::fetched_claims(repo, remote);
        let remote_tips = crate::git::refs::ids_under(repo, &tracking_prefix(remote))?;
        let now = self.clock.now();
        let mut working = 0;
        let mut peers = BTreeSet::new();
        let mut reclaims = Vec::new();
        let mut ready = Vec::new();
        let mut same_name = None;
        for t in tasks {
            let kind = self.states.kind_of(&t.state);
            let held = claims.get(&t.id);
            if let Some((_, Some(c))) = held
                && !c.expired(now)
            {
                if c.session != self.session {
                    working += 1;
                    peers.insert(c.session.clone());
                }
                if c.worker == self.opts.name && c.session != self.session {
                    same_name = Some(c.session.clone());
                }
                continue;
            }
            if skip.contains(&t.id) || !self.in_lanes(&t.labels) {
                continue;
            }
            let Some(&remote_tip) = remote_tips.get(&t.id) else {
                continue;
            };
            match held {
                Some((id, Some(c))) if matches!(kind, Some(StateKind::Running | StateKind::Ready)) => {
                    // Work nobody does any more, until taken over: the board is not idle.
                    working += 1;
                    reclaims.push(Seen {
                        task_id: t.id.clone(),
                        remote_tip,
                        claim: Some((*id, c.clone())),
                    })
                }
                None if kind == Some(StateKind::Ready) => ready.push(Seen {
                    task_id: t.id.clone(),
                    remote_tip,
                    claim: None,
                }),
                _ => {}
            }
        }
        if let Some(other) = same_name
            && !self.warned_same_name.get()
        {
            self.warned_same_name.set(true);
            on(&Event::Warning(&format!(
                "another worker named {:?} is running (session {other}; this one is {}): claims tell them apart, \
                 but give each worker its own --name so that the board says who did what",
                self.opts.name, self.session
            )));
        }
        reclaims.extend(ready);
        Ok(Candidates {
            seen: reclaims,
            working,
            peers,
        })
    }

    /// The tasks as the remote has them, as last fetched: what a claim is leased on. The local
    /// board is not looked at: the agent could write it (and the fetched copy too, but a claim
    /// on a copy the remote does not have is refused by the claim's lease).
    fn remote_board(&self) -> Result<(Vec<TaskSummary>, Vec<crate::board::git::Skipped>)> {
        crate::board::git::list_summaries_under(self.repo(), &tracking_prefix(&self.opts.remote))
    }

    fn in_lanes(&self, labels: &[String]) -> bool {
        let kind = crate::board::task::label_value(labels, "task-kind").unwrap_or("goal");
        let kind = match kind {
            "test_campaign" => "test",
            "improve_campaign" => "improve",
            k => k,
        };
        self.opts.lanes.iter().any(|l| l.eq_ignore_ascii_case(kind))
    }

    /// Run a held task while a thread renews its lease, then publish it (still renewing: a slow
    /// publication must not let the lease run out). With `look_ahead`, the board is fetched
    /// while the task runs and the next task is claimed in the publication's push.
    fn carry(
        &self,
        task: &crate::board::Task,
        held: Held,
        look_ahead: Option<View>,
        on: &mut dyn FnMut(&Event),
    ) -> Result<Carried> {
        let lease = Lease {
            lost: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            current: Mutex::new((held.claim_commit, held.claim.clone())),
        };
        let stop = AtomicBool::new(false);
        let shared = self.repo().clone().into_sync();
        std::thread::scope(|scope| {
            let (done_tx, done_rx) = mpsc::channel::<()>();
            let (transport, opts, clock) = (&self.transport, &self.opts, self.clock);
            let (lease_ref, stop_ref, shared) = (&lease, &stop, &shared);
            scope.spawn(move || {
                let repo = shared.to_thread_local();
                let tick = opts.renew_every().min(Duration::from_millis(200));
                let mut next = Instant::now() + opts.renew_every();
                while let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(tick) {
                    if interrupted() {
                        stop_ref.store(true, Ordering::Relaxed);
                    }
                    if Instant::now() < next {
                        continue;
                    }
                    // Holding the claim while renewing: a publication never races its renewal.
                    let Ok(mut current) = lease_ref.current.lock() else {
                        break;
                    };
                    if lease_ref.finished.load(Ordering::Relaxed) {
                        break;
                    }
                    let (id, claim) = current.clone();
                    match claim::renew(transport, &repo, (id, &claim), clock.now(), opts.lease) {
                        Ok(Renewed::Yes(id, claim)) => {
                            *current = (id, claim);
                            next = Instant::now() + opts.renew_every();
                        }
                        // Tried again at the next tick; the publication's lease decides.
                        Ok(Renewed::Unreachable(_)) => {}
                        Ok(Renewed::Lost) | Err(_) => {
                            lease_ref.lost.store(true, Ordering::Relaxed);
                            stop_ref.store(true, Ordering::Relaxed);
                            break;
                        }
                    }
                }
            });
            let (run_over, wait_for_run) = mpsc::channel::<()>();
            let wait = self.pace.get().look_ahead_wait();
            let fetch = matches!(look_ahead, Some(View::Fetch)).then(|| {
                scope.spawn(move || {
                    // Until the run is about to end, or ended.
                    let _ = wait_for_run.recv_timeout(wait);
                    let started = Instant::now();
                    let result = transport.fetch_board();
                    (result, Instant::now(), started.elapsed())
                })
            });
            let started = Instant::now();
            let result = self.runner.run(&self.workdir, task, &stop);
            let ran = started.elapsed();
            drop(run_over);
            let mut carried = Carried {
                done: None,
                fetched_at: None,
                next: None,
                ahead: None,
                reusable: false,
            };
            let mut pace = self.pace.get();
            pace.ran(ran);
            if let Some(fetch) = fetch {
                let (fetched, at, took) = fetch.join().map_err(|_| Error::internal("the board fetch panicked"))?;
                pace.fetch = Some(took);
                if !lease.lost.load(Ordering::Relaxed) && !interrupted() {
                    carried.next = self.next_claim(&task.id, fetched, at, &mut carried, on)?;
                }
            } else if let Some(View::Reuse(at, skip)) = look_ahead
                && !lease.lost.load(Ordering::Relaxed)
                && !interrupted()
            {
                carried.next = self.next_claim_on_view(&task.id, at, skip, &mut carried, on)?;
            }
            self.pace.set(pace);
            let outcome = self.finish(task, &held, result, &lease, &mut carried, on);
            lease.finished.store(true, Ordering::Relaxed);
            drop(done_tx);
            carried.done = outcome?;
            Ok(carried)
        })
    }

    /// The claim to push with the publication of `current`: the board as fetched during the run
    /// (fetched again when that is older than the poll interval: a long run's view is stale),
    /// merged, and one of its candidates. `None` when there is nothing to claim or the board
    /// could not be fetched (the loop looks again).
    fn next_claim(
        &self,
        current: &str,
        fetched: Result<std::result::Result<(), String>>,
        mut at: Instant,
        carried: &mut Carried,
        on: &mut dyn FnMut(&Event),
    ) -> Result<Option<claim::Prepared>> {
        // A fetch that failed for good is the next round's to report, after this publication.
        let Ok(mut fetched) = fetched else {
            return Ok(None);
        };
        if fetched.is_ok() && at.elapsed() >= self.opts.poll() {
            let Ok(again) = self.transport.fetch_board() else {
                return Ok(None);
            };
            (fetched, at) = (again, Instant::now());
        }
        if fetched.is_err() {
            return Ok(None);
        }
        self.merge_fetched()?;
        let (tasks, _) = self.remote_board()?;
        self.close_split_parents(&tasks, on);
        carried.fetched_at = Some(at);
        // Fetched while this worker held a claim: the view saw what the others had claimed by
        // then, and may serve the next claim too unless what it offers is thin.
        self.prepare_next(tasks, HashSet::from([current.to_owned()]), true, carried, on)
    }

    /// The claim to push with the publication of `current` from the view of the last claim,
    /// unless that view has grown older than the poll interval meanwhile or what it offers is
    /// little beside what the others claimed since (then the loop fetches and claims apart).
    fn next_claim_on_view(
        &self,
        current: &str,
        at: Instant,
        mut skip: HashSet<String>,
        carried: &mut Carried,
        on: &mut dyn FnMut(&Event),
    ) -> Result<Option<claim::Prepared>> {
        if at.elapsed() >= self.opts.poll() {
            return Ok(None);
        }
        let (tasks, _) = self.remote_board()?;
        skip.insert(current.to_owned());
        self.prepare_next(tasks, skip, false, carried, on)
    }

    /// The claim on one of `tasks` (but `skip`) that rides on the publication, noting whether
    /// the view may serve the one after it; none from a thin view unless it was just fetched.
    fn prepare_next(
        &self,
        tasks: Vec<TaskSummary>,
        skip: HashSet<String>,
        fresh: bool,
        carried: &mut Carried,
        on: &mut dyn FnMut(&Event),
    ) -> Result<Option<claim::Prepared>> {
        let found = self.candidates(tasks, &skip, on)?;
        carried.reusable = !found.thin();
        if !fresh && found.thin() {
            return Ok(None);
        }
        let Some(seen) = found.pick(&self.session) else {
            return Ok(None);
        };
        let mine = self.new_claim(&seen.task_id);
        Ok(Some(claim::prepare(&self.board, &self.states, &seen, &mine)?))
    }

    fn new_claim(&self, task_id: &str) -> Claim {
        Claim {
            task_id: task_id.to_owned(),
            worker: self.opts.name.clone(),
            session: self.session.clone(),
            attempt: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            expires: claim::expiry(self.clock.now(), self.opts.lease),
            renewals: 0,
        }
    }

    /// After the run: publish its outcome, unless the lease was lost.
    fn finish(
        &self,
        task: &crate::board::Task,
        held: &Held,
        result: Result<RunDone>,
        lease: &Lease,
        carried: &mut Carried,
        on: &mut dyn FnMut(&Event),
    ) -> Result<Option<RunDone>> {
        let task_ref = format!("{TASKS_REF_PREFIX}{}", task.id);
        if lease.lost.load(Ordering::Relaxed) || interrupted() {
            // The local task goes back to what was pushed: another worker carries it now.
            claim::set_ref(self.repo(), &task_ref, held.task_commit)?;
            if let Ok(done) = &result {
                self.withdraw_note(done, on);
            }
            return Ok(None);
        }
        let done = match result {
            Ok(done) => done,
            Err(e) => {
                // The runner failed before it could move the task: it is blocked, and says why.
                let blocked = self.states.name(StateKind::Blocked).to_owned();
                let (commit, _) = self.board.commit_change(held.task_commit, |t, now, who| {
                    t.comments.push(Comment::new(
                        crate::contracts::new_id(),
                        who,
                        now,
                        format!("The worker could not run the task: {}", e.summary_line()),
                    ));
                    t.move_to(&blocked, now)
                })?;
                claim::set_ref(self.repo(), &task_ref, commit)?;
                on(&Event::Warning(&format!("task {}: {}", task.id, e.summary_line())));
                RunDone {
                    state: blocked,
                    ..RunDone::default()
                }
            }
        };
        if !self.publish(&task.id, held.task_commit, lease, &done, carried, on)? {
            claim::set_ref(self.repo(), &task_ref, held.task_commit)?;
            self.withdraw_note(&done, on);
            return Ok(None);
        }
        if let Some(run_id) = &done.run_id {
            self.drop_worktree(run_id, on);
        }
        Ok(Some(done))
    }

    /// Take the note of a run this worker will not publish (its lease was lost) out of the local
    /// notes, which go out whole with the next publication: a note block on the remote always
    /// names evidence that is there. The run's evidence stays here, for `git oc runs`.
    fn withdraw_note(&self, done: &RunDone, on: &mut dyn FnMut(&Event)) {
        let Some(run_id) = &done.run_id else { return };
        let repo = crate::git::Repo {
            repo: self.repo().clone(),
        };
        let withdrawn = crate::land::RecordedRun::load(&repo, run_id)
            .and_then(|run| crate::git::notes::remove_run_note(&repo.repo, &run.evidence_ref, run.evidence_commit));
        if let Err(e) = withdrawn {
            on(&Event::Warning(&format!(
                "run {run_id} was not published, and its note here could not be taken back: {}",
                e.summary_line()
            )));
        }
    }

    /// Give back a claim taken for a task this worker will not run now (best effort: if it
    /// fails, the task is taken over when the lease runs out).
    fn release(&self, held: &Held, on: &mut dyn FnMut(&Event)) {
        let task_id = &held.claim.task_id;
        match claim::release(&self.transport, &self.board, &self.states, held) {
            Ok(Pushed::Done) => {}
            Ok(Pushed::Lost(why) | Pushed::Refused(why) | Pushed::Unreachable(why)) => on(&Event::Warning(&format!(
                "task {task_id} was claimed but not started, and its claim could not be given back ({why}): \
                 another worker takes it over when the lease runs out"
            ))),
            Err(e) => on(&Event::Warning(&format!(
                "task {task_id} was claimed but not started, and its claim could not be given back: {}",
                e.summary_line()
            ))),
        }
    }

    /// Close the split tasks whose children are all done on the remote (best effort: the next
    /// fetch looks again).
    fn close_split_parents(&self, tasks: &[TaskSummary], on: &mut dyn FnMut(&Event)) {
        match split::close_finished_parents(&self.transport, &self.board, &self.states, tasks) {
            Ok(closed) => {
                for task_id in &closed {
                    on(&Event::ClosedParent { task_id });
                }
            }
            Err(e) => on(&Event::Warning(&format!(
                "could not close a finished split task: {}",
                e.summary_line()
            ))),
        }
    }

    /// A published run's worktree and local branch serve nobody here (the branch, evidence and
    /// notes are on the remote), and a worker keeping one checkout per task fills its disk. The
    /// evidence stays; a run that was not published keeps everything, for `git oc runs`.
    fn drop_worktree(&self, run_id: &str, on: &mut dyn FnMut(&Event)) {
        let repo = crate::git::Repo {
            repo: self.repo().clone(),
        };
        let dropped =
            crate::land::RecordedRun::load(&repo, run_id).and_then(|run| crate::land::discard(&repo, &run, false));
        if let Err(e) = dropped {
            on(&Event::Warning(&format!(
                "run {run_id} is published, but its worktree here could not be removed: {} (git oc gc removes it later)",
                e.summary_line()
            )));
        }
    }

    /// Publish a finished task in one atomic push: the run's branch and evidence ref, the notes,
    /// the task, and the claim's release (only if the claim is still the lease's). After a lost
    /// race (the task changed on the remote), the task is fetched and merged so that the next
    /// attempt is a fast-forward. `false`: the lease was lost, nothing was published.
    /// The claim on the next task prepared during the run goes in the same push; when that push
    /// is refused it is dropped (another worker took the task) and the publication is pushed alone.
    fn publish(
        &self,
        task_id: &str,
        task_commit: gix::ObjectId,
        lease: &Lease,
        done: &RunDone,
        carried: &mut Carried,
        on: &mut dyn FnMut(&Event),
    ) -> Result<bool> {
        let repo = self.repo();
        let remote = &self.opts.remote;
        let claim_ref = format!("{CLAIMS_REF_PREFIX}{task_id}");
        let task_ref = format!("{TASKS_REF_PREFIX}{task_id}");
        let mut failures = 0;
        let mut races = 0u32;
        let mut last = String::new();
        let mut checked = false;
        // Whether the publication itself lost a race: fetch and merge the task before pushing again.
        let mut refetch = false;
        let mut next = carried.next.take();
        // Checked once: what the notes add since the last publication, and the evidence of
        // runs recorded here before that goes along.
        let earlier_evidence = self.notes_to_publish()?;
        for _ in 0..MAX_PUBLISH_ATTEMPTS {
            if lease.lost.load(Ordering::Relaxed) {
                return Ok(false);
            }
            let current = lease
                .current
                .lock()
                .map_err(|_| Error::internal("the lease's lock was poisoned"))?;
            let claim = current.0;
            // The first attempt pushes on what the claim left (its lease and the task's tip are
            // checked by the remote); only after a lost race is the task fetched and merged.
            if refetch {
                if let Err(why) = self.fetch_task(task_id)? {
                    drop(current);
                    self.back_off(&mut failures, &why, on)?;
                    continue;
                }
                let tracked_claim =
                    crate::git::refs::target(repo, &format!("{}{task_id}", claims_tracking_prefix(remote)))?;
                if tracked_claim != Some(claim) {
                    return Ok(false);
                }
            }
            let mut refspecs = Vec::new();
            let mut sources = Vec::new();
            let exists = |name: &str| crate::git::refs::target(repo, name).map(|t| t.is_some());
            if let Some(evidence) = done.evidence_ref.as_deref().filter(|r| r.starts_with(RUNS_REF_PREFIX))
                && exists(evidence)?
            {
                refspecs.push(format!("{evidence}:{evidence}"));
                sources.push(evidence.to_owned());
            }
            for evidence in &earlier_evidence {
                if done.evidence_ref.as_deref() != Some(evidence.as_str()) && exists(evidence)? {
                    refspecs.push(format!("{evidence}:{evidence}"));
                    sources.push(evidence.clone());
                }
            }
            if let Some(branch) = &done.branch {
                let name = format!("refs/heads/{branch}");
                if exists(&name)? {
                    refspecs.push(format!("{name}:{name}"));
                    sources.push(name);
                }
            }
            let notes = crate::git::refs::target(repo, NOTES_REF)?;
            if notes.is_some() {
                // Its own notes ref: publications of different workers never race for notes.
                refspecs.push(format!("{NOTES_REF}:{}", notes_ref(&self.opts.name)));
            }
            refspecs.push(format!("{task_ref}:{task_ref}"));
            sources.push(task_ref.clone());
            for follow_up in &done.follow_ups {
                let name = format!("{TASKS_REF_PREFIX}{follow_up}");
                if exists(&name)? {
                    refspecs.push(format!("{name}:{name}"));
                    sources.push(name);
                }
            }
            refspecs.push(format!(":{claim_ref}"));
            if !checked {
                let source_refs: Vec<&str> = sources.iter().map(String::as_str).collect();
                // What the remote is known to have, by this worker's own memory (the agent could
                // write the clone's remote-tracking refs): the task as claimed, the notes as last
                // published.
                let mut known = vec![task_commit];
                known.extend(self.notes_published.get().flatten());
                let tasks: Vec<&str> = source_refs
                    .iter()
                    .copied()
                    .filter(|r| r.starts_with(TASKS_REF_PREFIX))
                    .collect();
                crate::publish::refuse_foreign_history(repo, &tasks, notes, &known)?;
                // What the push will carry is what the remote's own tips do not reach: the
                // clone's remote-tracking refs are the agent's to write, and a blob it parked
                // there would be skipped. Asked only when there is something to look for.
                let theirs = if self.redactor.is_empty() && !crate::publish::has_rejected_runs(repo)? {
                    None
                } else {
                    match self.transport.advertised_tips()? {
                        Ok(tips) => Some(tips),
                        Err(why) => {
                            drop(current);
                            self.back_off(&mut failures, &why, on)?;
                            last = why;
                            continue;
                        }
                    }
                };
                crate::publish::refuse_rejected_content(repo, &self.workdir, &source_refs, theirs.as_deref())?;
                let mut scanned = source_refs;
                if notes.is_some() {
                    scanned.push(NOTES_REF);
                }
                crate::publish::refuse_secrets(
                    repo,
                    &self.workdir,
                    remote,
                    &scanned,
                    theirs.as_deref(),
                    crate::publish::Forms::Allowed,
                    &self.redactor,
                )?;
                checked = true;
            }
            let mut leases = vec![format!("{claim_ref}:{claim}")];
            if let Some(n) = &next {
                leases.extend(n.leases.iter().cloned());
                refspecs.extend(n.refspecs.iter().cloned());
            }
            let pushed_at = Instant::now();
            let pushed = self.transport.push(&leases, &refspecs)?;
            drop(current);
            if let Some(n) = next.take() {
                match pushed {
                    Pushed::Done => {
                        let ms = pushed_at.elapsed().as_secs_f64() * 1000.0;
                        let held = claim::won(repo, remote, n)?;
                        carried.ahead = Some(Ahead::Won(Box::new(held), ms));
                    }
                    // Most likely the claim (another worker took that task): publish alone, at once.
                    Pushed::Lost(why) => {
                        tracing::debug!(task = %n.task_id, %why, "claim with the publication lost");
                        carried.ahead = Some(Ahead::Lost(n.task_id));
                        continue;
                    }
                    _ => {}
                }
            }
            match pushed {
                Pushed::Done => {
                    self.notes_published
                        .set(Some(crate::git::refs::target(repo, NOTES_REF)?));
                    // The tracking refs follow, so that the next claim's view is current.
                    let tracked = format!("{}{task_id}", claims_tracking_prefix(remote));
                    let _ = crate::git::refs::delete(repo, &tracked, claim);
                    if let Some(tip) = crate::git::refs::target(repo, &task_ref)? {
                        claim::set_ref(repo, &format!("{}{task_id}", tracking_prefix(remote)), tip)?;
                    }
                    return Ok(true);
                }
                Pushed::Lost(why) => {
                    // Someone changed the task (a comment, a move) or pushed this worker's notes
                    // ref (a worker of the same name) in between: fetch, merge, again.
                    tracing::debug!(%why, "publication raced");
                    refetch = true;
                    races += 1;
                    last = why;
                    std::thread::sleep(jitter(self.opts.poll().saturating_mul(races.min(4)) / 4));
                }
                Pushed::Refused(why) => return Err(claim::refused(remote, &format!("publish task {task_id}"), &why)),
                Pushed::Unreachable(why) => {
                    self.back_off(&mut failures, &why, on)?;
                    last = why;
                }
            }
        }
        Err(
            Error::run(format!("could not publish task {task_id}: the remote kept changing"))
                .caused_by(last)
                .hint("the run is kept in this clone (git oc runs); the task is taken over when its lease expires"),
        )
    }
}

/// How long this worker's last runs and its last look-ahead fetch took. The look-ahead fetch
/// starts so that it ends about when the run does: a view fetched as the run starts is as old
/// as the run when the claim it serves is pushed, and near the end of a board, where every
/// task left is wanted by several workers, claims made on old views collide.
#[derive(Clone, Copy, Default)]
struct Pace {
    runs: [Option<Duration>; 3],
    fetch: Option<Duration>,
}

impl Pace {
    fn ran(&mut self, took: Duration) {
        self.runs.rotate_right(1);
        self.runs[0] = Some(took);
    }

    /// How long after the run starts to fetch: the shortest of the last three runs less the last
    /// fetch and half of it again (runs differ; a run that ends first waits for the fetch).
    /// At once until there are three runs to go by.
    fn look_ahead_wait(&self) -> Duration {
        let (Some(fetch), [Some(a), Some(b), Some(c)]) = (self.fetch, self.runs) else {
            return Duration::ZERO;
        };
        a.min(b).min(c).saturating_sub(fetch + fetch / 2)
    }
}

/// The worker's view of the board between claims.
#[derive(Default)]
struct Looking {
    /// When the board was last fetched (`None`: fetch before the next claim).
    view: Option<Instant>,
    /// Whether the view was fetched for this round (a poll that finds nothing is idle).
    polled: bool,
    /// Tasks of this view another worker claimed first.
    skip: HashSet<String>,
    /// Whether the view may serve the claim that rides on the next publication: fetched while
    /// this worker ran a task (a view fetched before its first claim saw none of the claims the
    /// others were about to make), and not thin.
    reusable: bool,
    idle_since: Option<Instant>,
    /// Failures to reach the remote in a row.
    failures: u32,
    /// When the current round of claim attempts began.
    round_started: Option<Instant>,
}

/// Where the claim that rides on a publication comes from.
enum View {
    /// The board fetched while the task runs.
    Fetch,
    /// The view of the last claim, fetched then, without the tasks lost on it.
    Reuse(Instant, HashSet<String>),
}

/// How a round of claiming ended.
enum Round {
    /// Claimed, in this many milliseconds from the round's first claim push.
    Won(Box<Held>, f64),
    /// Look again.
    Again,
    /// Stop the worker, for this reason.
    Stop(&'static str),
}

/// What carrying a task came to.
struct Carried {
    /// What was published; `None` when the lease was lost and nothing was.
    done: Option<RunDone>,
    /// When the board was fetched during the run, if it was.
    fetched_at: Option<Instant>,
    /// The claim on the next task, prepared for the publication's push (which takes it).
    next: Option<claim::Prepared>,
    /// The claim on the next task pushed with the publication, if one was tried.
    ahead: Option<Ahead>,
    /// Whether the view the next claim came from may serve the one after it.
    reusable: bool,
}

enum Ahead {
    /// Held, and how long the push took.
    Won(Box<Held>, f64),
    /// Another worker was first on this task.
    Lost(String),
}

/// A held claim while its task runs: the claim as last renewed, and whether it was lost.
struct Lease {
    lost: AtomicBool,
    /// The task was published or given up: no more renewals.
    finished: AtomicBool,
    current: Mutex<(gix::ObjectId, Claim)>,
}

/// What a view of the board offers: the tasks this worker may claim (oldest first), how many
/// tasks other workers hold, and those workers' sessions (their live claims).
struct Candidates {
    seen: Vec<Seen>,
    working: usize,
    peers: BTreeSet<String>,
}

impl Candidates {
    /// A view already used for a claim is stale by what the others claimed since (about one
    /// task each): when that is a large part of what is left, a claim on it is likely lost.
    fn thin(&self) -> bool {
        self.seen.len() < 4 * self.working
    }

    /// A task to claim from the first of the candidates: the window widens with the workers at
    /// work (at least 32 tasks, 8 per worker), as the chance grows that another worker took one
    /// since the fetch. In it, each task belongs to the worker at work that wants it most by
    /// rendezvous hashing (task id with session), and each worker is given the task of its own
    /// share it wants most; a worker whose share is empty (near the end of a board), the oldest
    /// task left among those for which it ranks best of the workers given none. Every worker
    /// computes the same division from the same view, so workers that looked at the same board
    /// claim different tasks without talking to each other, a view that missed a claim or two
    /// moves only the tasks those touch, and workers that see no other yet (all starting at
    /// once) spread over the window as their sessions differ.
    fn pick(mut self, me: &str) -> Option<Seen> {
        let window = self.seen.len().min((8 * (self.working + 1)).max(32));
        let workers: Vec<&str> = std::iter::once(me)
            .chain(self.peers.iter().map(String::as_str))
            .collect();
        let weights: Vec<Vec<u64>> = self.seen[..window]
            .iter()
            .map(|seen| workers.iter().map(|w| rendezvous_weight(&seen.task_id, w)).collect())
            .collect();
        let best_of = |task: usize, free: &dyn Fn(usize) -> bool| {
            (0..workers.len())
                .filter(|&w| free(w))
                .max_by_key(|&w| weights[task][w])
        };
        let mut given: Vec<Option<usize>> = vec![None; workers.len()];
        for task in 0..window {
            if let Some(owner) = best_of(task, &|_| true)
                && given[owner].is_none_or(|had| weights[task][owner] > weights[had][owner])
            {
                given[owner] = Some(task);
            }
        }
        for task in 0..window {
            if given.contains(&Some(task)) {
                continue;
            }
            if let Some(w) = best_of(task, &|w| given[w].is_none()) {
                given[w] = Some(task);
            }
        }
        // More workers than tasks: the task where this worker ranks best.
        let chosen = given[0].or_else(|| {
            let rank = |task: usize| weights[task].iter().filter(|w| **w > weights[task][0]).count();
            (0..window).min_by_key(|&task| (rank(task), task))
        })?;
        tracing::debug!(
            window,
            seen = self.seen.len(),
            workers = workers.len(),
            own_share = best_of(chosen, &|_| true) == Some(0),
            task = %self.seen[chosen].task_id,
            "picked"
        );
        Some(self.seen.swap_remove(chosen))
    }
}

/// How much a worker's session wants a task: FNV-1a of both, mixed (splitmix64's finalizer)
/// so that nearby ids spread over the whole range.
fn rendezvous_weight(task_id: &str, session: &str) -> u64 {
    let mut h = crate::board::git::fnv1a(format!("{task_id}\0{session}").as_bytes());
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// `refs/notes/oc-worker/<name>`: where a worker publishes its notes (its name with anything a
/// ref name cannot hold replaced by `-`).
pub fn notes_ref(name: &str) -> String {
    let slug: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let slug = slug.trim_matches('-');
    format!("{WORKER_NOTES_PREFIX}{}", if slug.is_empty() { "worker" } else { slug })
}

/// The worker's name when none is given: the host and the process.
pub fn default_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned());
    format!("{host}-{}", std::process::id())
}

/// A duration as people write it: `90s`, `500ms`, `5m`, `1h`, or plain seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, ""), |at| s.split_at(at));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 30s, 500ms, 5m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        u => return Err(format!("unknown unit {u:?} in {s:?} (use ms, s, m or h)")),
    };
    if !seconds.is_finite() || !(0.0..=1e9).contains(&seconds) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_look_ahead_fetch_is_timed_to_end_with_the_shortest_recent_run() {
        let ms = Duration::from_millis;
        let mut pace = Pace::default();
        pace.ran(ms(900));
        pace.ran(ms(900));
        assert_eq!(pace.look_ahead_wait(), Duration::ZERO, "no fetch measured yet: at once");
        pace.fetch = Some(ms(100));
        assert_eq!(pace.look_ahead_wait(), Duration::ZERO, "two runs are too few to go by");
        pace.ran(ms(600));
        assert_eq!(
            pace.look_ahead_wait(),
            ms(450),
            "the shortest run less one and a half fetches"
        );
        pace.ran(ms(120));
        assert_eq!(
            pace.look_ahead_wait(),
            Duration::ZERO,
            "a run shorter than the fetch: at once"
        );
        for _ in 0..3 {
            pace.ran(ms(2000));
        }
        assert_eq!(pace.look_ahead_wait(), ms(1850), "only the last three runs count");
    }

    fn board_view(tasks: usize, working: &[&str], me: &str) -> Candidates {
        let seen = (0..tasks)
            .map(|i| Seen {
                task_id: format!("{:012x}", 0x51_0000 + i * 7919),
                remote_tip: gix::ObjectId::null(gix::hash::Kind::Sha1),
                claim: None,
            })
            .collect();
        let peers: BTreeSet<String> = working.iter().filter(|s| **s != me).map(|s| s.to_string()).collect();
        Candidates {
            seen,
            working: peers.len(),
            peers,
        }
    }

    #[test]
    fn workers_looking_at_the_same_board_pick_different_tasks() {
        let sessions = [
            "a1b2c3d4e5f6",
            "0f9e8d7c6b5a",
            "5e5e5e5e5e5e",
            "feedbeef0001",
            "w5",
            "w6",
            "w7",
            "w8",
        ];
        for tasks in [200, 40, 12] {
            let picks: Vec<String> = sessions
                .iter()
                .map(|me| board_view(tasks, &sessions, me).pick(me).unwrap().task_id)
                .collect();
            let distinct: BTreeSet<&String> = picks.iter().collect();
            assert_eq!(distinct.len(), sessions.len(), "{tasks} tasks: {picks:?}");
        }
        // Nothing to pick is nothing picked.
        assert!(board_view(0, &sessions, "w5").pick("w5").is_none());
    }

    #[test]
    fn workers_starting_together_spread_over_the_board() {
        // No claim seen yet: each worker thinks itself alone, and still they choose apart.
        let sessions: Vec<String> = (0..8)
            .map(|i| format!("{:012x}", 0xabc0_0000_u64 + i * 104_729))
            .collect();
        let picks: BTreeSet<String> = sessions
            .iter()
            .map(|me| board_view(200, &[], me).pick(me).unwrap().task_id)
            .collect();
        assert!(picks.len() >= 6, "8 lone workers picked {picks:?}");
    }

    #[test]
    fn a_worker_notes_ref_is_a_valid_ref_whatever_the_name() {
        assert_eq!(notes_ref("ci-worker-1"), "refs/notes/oc-worker/ci-worker-1");
        for name in ["host.example.com 42", "../../HEAD", "é/ü:~^?*[", "", "--"] {
            let r = notes_ref(name);
            assert!(gix::refs::FullName::try_from(r.as_str()).is_ok(), "{name:?} → {r}");
            assert!(r.starts_with(WORKER_NOTES_PREFIX) && !r[WORKER_NOTES_PREFIX.len()..].contains('/'));
        }
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}
