//! A split task's parent is closed once all its scope-split children are Done. On one machine
//! the lanes close it after the last child's run; across workers the last two children may finish
//! side by side, each seeing the other still running, so a worker also looks at the board as
//! fetched from the remote and closes any parent whose children are all Done there, with one push
//! guarded by the parent's tip (of two workers that see it at once, one closes it).

use crate::board::git::{GitBoard, TASKS_REF_PREFIX, read_task_at, tracking_prefix};
use crate::board::task::{Comment, label_value};
use crate::board::{StateKind, States, TaskSummary};
use crate::error::Result;

use super::claim::set_ref;
use super::transport::{Pushed, Transport};

const SPLIT_LABEL: &str = "source: scope-split";

/// Close, on the remote, every Blocked parent whose scope-split children are all Done there.
/// Returns the parents closed. A lost race is no error: the next fetch shows the parent closed.
/// `tasks` is the board as listed after the fetch.
pub fn close_finished_parents(
    transport: &Transport,
    board: &GitBoard,
    states: &States,
    tasks: &[TaskSummary],
) -> Result<Vec<String>> {
    let repo = board.repo();
    let tracking = tracking_prefix(transport.remote());
    let mut children: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for t in tasks {
        if t.labels.iter().any(|l| l == SPLIT_LABEL)
            && let Some(parent) = label_value(&t.labels, "original-task-id")
        {
            children.entry(parent.to_owned()).or_default().push(t.id.clone());
        }
    }
    // The remote's state of a task, as last fetched.
    let remote_state = |id: &str| -> Result<Option<(gix::ObjectId, String)>> {
        let Some(tip) = crate::git::refs::target(repo, &format!("{tracking}{id}"))? else {
            return Ok(None);
        };
        Ok(Some((tip, read_task_at(repo, tip)?.state)))
    };
    let mut closed = Vec::new();
    for (parent, kids) in children {
        let Some((tip, state)) = remote_state(&parent)? else {
            continue;
        };
        if states.kind_of(&state) != Some(StateKind::Blocked) {
            continue;
        }
        let mut all_done = true;
        for kid in &kids {
            let done = remote_state(kid)?.is_some_and(|(_, s)| states.kind_of(&s) == Some(StateKind::Done));
            if !done {
                all_done = false;
                break;
            }
        }
        if !all_done {
            continue;
        }
        let done = states.name(StateKind::Done).to_owned();
        let (commit, _) = board.commit_change(tip, |t, now, who| {
            t.comments.push(Comment::new(
                crate::contracts::new_id(),
                who,
                now,
                format!(
                    "Auto-closed: all {} scope-split children completed ({}).",
                    kids.len(),
                    kids.join(", ")
                ),
            ));
            t.move_to(&done, now)
        })?;
        let task_ref = format!("{TASKS_REF_PREFIX}{parent}");
        if let Pushed::Done = transport.push(&[format!("{task_ref}:{tip}")], &[format!("{commit}:{task_ref}")])? {
            // The remote's close replaces any made here (the lanes' own, after the last child).
            set_ref(repo, &format!("{tracking}{parent}"), commit)?;
            set_ref(repo, &task_ref, commit)?;
            closed.push(parent);
        }
    }
    Ok(closed)
}
