//! `git oc watch`: one process, one thread per lane. Each lane loops: a cycle, then a pause of
//! its interval (or longer, when it backs off). A cycle that fails, or panics, is logged in the
//! lane's status and the lane starts again after a backoff that doubles with each failure in a
//! row. The first Ctrl-C or SIGTERM sets the process-wide interrupt flag: a run in progress is
//! cancelled and recorded (its task goes back to Ready for AI), sleeping lanes wake, and every
//! lane ends.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::status::{LaneState, LaneStatus, StatusWriter};
use super::{LaneContext, LaneKind};
use crate::contracts::Timestamp;
use crate::error::Result;

/// The longest pause before a failed lane starts again (unless its interval is longer).
pub const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Clone, Debug)]
pub struct WatchOptions {
    pub lanes: Vec<LaneKind>,
    /// One cycle per lane, then stop.
    pub once: bool,
    /// Instead of each lane's own interval.
    pub interval: Option<Duration>,
}

/// A line for the person watching.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub lane: LaneKind,
    pub text: String,
    pub failed: bool,
}

/// The pause before restart `failures` (1, 2, …) of a lane whose interval is `interval`.
pub fn restart_backoff(interval: Duration, failures: u32) -> Duration {
    let doubled = interval.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubled.min(MAX_RESTART_BACKOFF.max(interval))
}

/// Sleep `d`, waking early when interrupted.
fn sleep(d: Duration, interrupt: &AtomicBool) {
    let until = std::time::Instant::now() + d;
    while !interrupt.load(Ordering::SeqCst) {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Run the lanes until interrupted (or for one cycle each with `once`); the lanes' last
/// statuses. `log` gets a line for each cycle, on the calling thread.
pub fn watch(
    dir: &Path,
    options: &WatchOptions,
    interrupt: &AtomicBool,
    mut log: impl FnMut(&LogLine),
) -> Result<Vec<LaneStatus>> {
    let repo = crate::git::Repo::discover(dir)?;
    // Fail here, once, rather than in every lane: a broken configuration is the user's to fix.
    let session = crate::session::Session::open(dir)?;
    if options
        .lanes
        .iter()
        .any(|l| matches!(l, LaneKind::Goal | LaneKind::Test | LaneKind::Improve))
    {
        // A board that cannot be opened (a Plane board without its token, say) is the same.
        crate::board::open(&session.repo, &session.config)?;
    }
    drop(session);
    let state_dir = repo.state_dir();
    let (tx, rx) = mpsc::channel::<LogLine>();
    let statuses = std::thread::scope(|scope| {
        let handles: Vec<_> = options
            .lanes
            .iter()
            .map(|&kind| {
                let tx = tx.clone();
                let state_dir = state_dir.clone();
                let interval = options.interval.unwrap_or_else(|| kind.default_interval());
                let once = options.once;
                scope.spawn(move || lane_loop(dir, &state_dir, kind, interval, once, interrupt, &tx))
            })
            .collect();
        drop(tx);
        for line in rx {
            log(&line);
        }
        handles.into_iter().filter_map(|h| h.join().ok()).collect::<Vec<_>>()
    });
    Ok(statuses)
}

fn lane_loop(
    dir: &Path,
    state_dir: &Path,
    kind: LaneKind,
    interval: Duration,
    once: bool,
    interrupt: &AtomicBool,
    tx: &mpsc::Sender<LogLine>,
) -> LaneStatus {
    let writer = StatusWriter::new(state_dir, kind, interval);
    let say = |text: String, failed: bool| {
        let _ = tx.send(LogLine {
            lane: kind,
            text,
            failed,
        });
    };
    let mut lane = super::open(kind);
    let mut failures = 0u32;
    say(format!("{kind}: watching ({})", kind.about()), false);
    while !interrupt.load(Ordering::SeqCst) {
        writer.update(|s| {
            s.cycle += 1;
            s.state = LaneState::Polling;
            s.last_action = "cycle_start".into();
            s.next_cycle_at = None;
        });
        let cx = LaneContext {
            dir,
            interrupt,
            status: &writer,
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lane.cycle(&cx)));
        let wait = match result {
            Ok(Ok(report)) => {
                failures = 0;
                writer.update(|s| {
                    s.state = if report.backoff.is_some() {
                        LaneState::Backoff
                    } else {
                        LaneState::Idle
                    };
                    s.last_action = report.action.clone();
                    s.note = report.note.clone();
                    if report.task_id.is_some() {
                        s.task_id = report.task_id.clone();
                        s.task_kind = report.task_kind.clone();
                        s.run_id = report.run_id.clone();
                    }
                    if report.action == "task_skipped" {
                        s.counters.tasks_refused += 1;
                    }
                    if report.executed && report.action != "interrupted" && report.action != "rate_limited" {
                        if report.succeeded {
                            s.counters.tasks_succeeded += 1;
                        } else {
                            s.counters.tasks_failed += 1;
                        }
                    }
                    s.follow_up_task_ids = report.follow_ups.clone();
                    s.counters.follow_up_tasks_created += report.follow_ups.len() as u64;
                });
                let mut line = format!("{kind}: {}", report.action);
                if let Some(t) = &report.task_id {
                    line.push_str(&format!(" task={t}"));
                }
                if let Some(r) = &report.run_id {
                    line.push_str(&format!(" run={r}"));
                }
                if let Some(n) = &report.note {
                    line.push_str(&format!(" ({n})"));
                }
                say(line, false);
                report.backoff.unwrap_or(interval)
            }
            failed => {
                failures += 1;
                let why = match failed {
                    Ok(Err(e)) => e.summary_line(),
                    Err(_) => {
                        // A panic leaves the lane in an unknown state: start it afresh.
                        lane = super::open(kind);
                        "the lane panicked".to_owned()
                    }
                    Ok(Ok(_)) => String::new(),
                };
                let wait = restart_backoff(interval, failures);
                writer.update(|s| {
                    s.state = if once { LaneState::Error } else { LaneState::Backoff };
                    s.last_action = "watch_error".into();
                    s.note = Some(why.clone());
                    s.counters.cycles_failed += 1;
                    if !once {
                        s.counters.restarts += 1;
                    }
                });
                let when = if once {
                    String::new()
                } else {
                    format!("; restarting in {:.1} s", wait.as_secs_f64())
                };
                say(format!("{kind}: cycle failed: {why}{when}"), true);
                wait
            }
        };
        if once || interrupt.load(Ordering::SeqCst) {
            break;
        }
        writer.update(|s| {
            s.next_cycle_at = Some(Timestamp::from_micros(
                Timestamp::now().as_micros() + wait.as_micros().min(i64::MAX as u128) as i64,
            ));
        });
        sleep(wait, interrupt);
    }
    writer.update(|s| {
        if !(once && s.state == LaneState::Error) {
            s.state = LaneState::Stopped;
        }
        s.next_cycle_at = None;
    });
    say(format!("{kind}: stopped"), false);
    writer.snapshot()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_backoff_doubles_up_to_a_bound() {
        let s = Duration::from_secs;
        assert_eq!(restart_backoff(s(30), 1), s(30));
        assert_eq!(restart_backoff(s(30), 2), s(60));
        assert_eq!(restart_backoff(s(30), 5), s(300));
        assert_eq!(restart_backoff(s(600), 3), s(600));
        assert_eq!(restart_backoff(s(30), 100), s(300));
    }
}
