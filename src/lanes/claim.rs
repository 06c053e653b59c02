//! Claiming a task, as the original's board worker does (reference-fullstack §3.1): the per-day
//! count of the repository's runs, the candidates (`Ready for AI`, one of the role's kinds, this
//! repository's `repo:` label), their order, the thin-goal guard, and the claim itself: a
//! compare-and-swap move to `Running`, so that two watchers never run one task. (On Plane the move
//! reads then patches: Plane has no compare-and-swap, see `board/plane.rs`.)

use super::board::Role;
use crate::board::{Board, Filter, StateKind, Task, TaskSummary};
use crate::contracts::Timestamp;
use crate::error::Result;

/// The shortest goal text a lane accepts.
pub const MIN_GOAL_CHARS: usize = 40;

#[derive(Clone, Debug)]
pub struct ClaimOptions {
    pub role: Role,
    /// The key `repo:` labels name this repository by.
    pub repo_key: String,
    /// Tasks claimed per 24 hours for this repository (`None`: no cap).
    pub max_daily: Option<u32>,
}

#[derive(Debug)]
pub enum Claim {
    /// The task, now `Running` and ours.
    Claimed(Task),
    /// The first candidate's goal was too thin: it was moved to `Blocked`; nothing was claimed.
    Refused {
        task_id: String,
        chars: usize,
    },
    DailyCap {
        count: usize,
        cap: u32,
    },
    Nothing,
}

/// Priority rank (`urgent` first, none last).
fn priority_rank(priority: Option<&str>) -> usize {
    const ORDER: [&str; 5] = ["urgent", "high", "medium", "low", "none"];
    priority
        .and_then(|p| ORDER.iter().position(|o| o.eq_ignore_ascii_case(p)))
        .unwrap_or(ORDER.len() - 1)
}

fn in_states(board: &dyn Board, t: &TaskSummary, kinds: &[StateKind]) -> bool {
    board.states().kind_of(&t.state).is_some_and(|k| kinds.contains(&k))
}

fn is_repo(t: &TaskSummary, key: &str) -> bool {
    crate::board::task::label_value(&t.labels, "repo").is_some_and(|r| r.eq_ignore_ascii_case(key))
}

/// Runs of this repository in the last 24 hours, as the original counts them: its tasks in
/// Running, In Review, Done or Blocked updated within the day.
pub fn daily_count(board: &dyn Board, tasks: &[TaskSummary], repo_key: &str, now: Timestamp) -> usize {
    let day_ago = Timestamp::from_micros(now.as_micros() - 24 * 3600 * 1_000_000);
    let worked = [
        StateKind::Running,
        StateKind::InReview,
        StateKind::Done,
        StateKind::Blocked,
    ];
    tasks
        .iter()
        .filter(|t| is_repo(t, repo_key) && in_states(board, t, &worked) && t.updated_at >= day_ago)
        .count()
}

/// The candidates for `options`, in the order they are taken: `source: improve-suggestion`
/// first, then by priority, then oldest first. A held task is none (`board::held`).
pub fn candidates(board: &dyn Board, tasks: &[TaskSummary], options: &ClaimOptions) -> Result<Vec<Task>> {
    let mut out = Vec::new();
    let held = board.held()?;
    for t in tasks.iter().filter(|t| !held.contains(&t.id)) {
        let kind_ok = crate::board::task::label_value(&t.labels, "task-kind")
            .is_some_and(|k| options.role.kinds().iter().any(|r| r.eq_ignore_ascii_case(k)));
        if kind_ok && is_repo(t, &options.repo_key) && in_states(board, t, &[StateKind::Ready]) {
            // The summary has no creation time; the candidates are few.
            out.push(board.get(&t.id)?);
        }
    }
    let mut keyed: Vec<_> = out
        .into_iter()
        .map(|t| {
            let key = (
                !t.has_label("source: improve-suggestion"),
                priority_rank(board.priority(&t).as_deref()),
                t.created_at,
                t.id.clone(),
            );
            (key, t)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(keyed.into_iter().map(|(_, t)| t).collect())
}

/// Claim the next task for `options`, or say why none was.
pub fn claim_next(board: &dyn Board, options: &ClaimOptions, now: Timestamp) -> Result<Claim> {
    let tasks = board.list(&Filter::default())?;
    if let Some(cap) = options.max_daily {
        let count = daily_count(board, &tasks, &options.repo_key, now);
        if count >= cap as usize {
            return Ok(Claim::DailyCap { count, cap });
        }
    }
    let ready = board.states().name(StateKind::Ready).to_owned();
    let running = board.states().name(StateKind::Running).to_owned();
    for task in candidates(board, &tasks, options)? {
        let goal = crate::board::task::worker_goal(&task.title, &task.description);
        let chars = goal.trim().chars().count();
        if chars < MIN_GOAL_CHARS {
            // Only when it is still ours to refuse.
            if board
                .transition(&task.id, board.states().name(StateKind::Blocked), Some(&ready))
                .is_err()
            {
                continue;
            }
            board.comment(
                &task.id,
                &format!(
                    "board_worker[{}] refused to claim — goal text too thin ({chars} chars; minimum {MIN_GOAL_CHARS}). Add concrete description and re-promote to {ready}.",
                    options.role.as_str()
                ),
            )?;
            return Ok(Claim::Refused {
                task_id: task.id,
                chars,
            });
        }
        match board.transition(&task.id, &running, Some(&ready)) {
            Ok(_) => return Ok(Claim::Claimed(board.get(&task.id)?)),
            // Someone else claimed (or moved) it first: the next one.
            Err(e) => {
                let now_state = board.get(&task.id).map(|t| t.state).unwrap_or_default();
                if now_state.eq_ignore_ascii_case(&ready) {
                    return Err(e);
                }
                tracing::info!(task = %task.id, state = %now_state, "lost the claim to another watcher");
            }
        }
    }
    Ok(Claim::Nothing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_rank_urgent_first_and_unlabelled_last() {
        assert!(priority_rank(Some("urgent")) < priority_rank(Some("High")));
        assert!(priority_rank(Some("low")) < priority_rank(None));
        assert_eq!(priority_rank(Some("bogus")), priority_rank(Some("none")));
    }
}
