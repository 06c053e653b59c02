//! Tasks held back for a person to read: a run that saw a task become Ready (created, reopened or
//! edited) while its agent ran cannot tell the agent's change from yours in another terminal, so
//! it holds the task. `git oc push` refuses to publish a held task and the lanes do not run one,
//! until `git oc task release` says it was read.
//!
//! Each such run writes one ref, `refs/oc/held/<run id>`, at a blob of lines
//! `<task id> <commit>`: the task's commit as the agent left it. A mark holds while that commit
//! is in the task's history (a merge with a remote's version does not lift it). Runs write their
//! own refs, so concurrent runs never write the same one; an agent that deletes or rewrites one
//! has it put back by the guard (`git::guard`, these are records).

use std::collections::BTreeMap;

use gix::bstr::ByteSlice;

use super::git::TASKS_REF_PREFIX;
use crate::error::{Error, Result};

/// Where the marks live, one ref per run that held tasks.
pub const HELD_REF_PREFIX: &str = "refs/oc/held/";

/// Hold `tasks` (task id, its commit as the agent left it) for the run `run_id`.
pub fn record(repo: &gix::Repository, run_id: &str, tasks: &[(String, gix::ObjectId)]) -> Result<()> {
    if tasks.is_empty() {
        return Ok(());
    }
    let blob = write_marks(repo, tasks)?;
    crate::git::refs::create(
        repo,
        &format!("{HELD_REF_PREFIX}{run_id}"),
        blob,
        "git-oc: tasks changed while the agent ran",
    )
}

/// The tasks held now, each with the commit that holds it.
pub fn held(repo: &gix::Repository) -> Result<BTreeMap<String, gix::ObjectId>> {
    let tips = crate::git::refs::ids_under(repo, TASKS_REF_PREFIX)?;
    let mut out = BTreeMap::new();
    for (_, blob) in crate::git::refs::ids_under(repo, HELD_REF_PREFIX)? {
        for (task, commit) in read_marks(repo, blob) {
            if out.contains_key(&task) {
                continue;
            }
            if let Some(&tip) = tips.get(&task)
                && contains(repo, tip, commit)
            {
                out.insert(task, commit);
            }
        }
    }
    Ok(out)
}

/// Lift every mark on `task_id`; how many there were.
pub fn release(repo: &gix::Repository, task_id: &str) -> Result<usize> {
    let mut lifted = 0;
    for (run, blob) in crate::git::refs::ids_under(repo, HELD_REF_PREFIX)? {
        let marks = read_marks(repo, blob);
        let kept: Vec<_> = marks.iter().filter(|(t, _)| t != task_id).cloned().collect();
        if kept.len() == marks.len() {
            continue;
        }
        lifted += marks.len() - kept.len();
        let name = format!("{HELD_REF_PREFIX}{run}");
        if kept.is_empty() {
            crate::git::refs::delete(repo, &name, blob)?;
        } else {
            let new = write_marks(repo, &kept)?;
            crate::git::refs::compare_and_swap(repo, &name, Some(blob), new, "git-oc: task released")?;
        }
    }
    Ok(lifted)
}

/// Whether `commit` is `tip` or one of its ancestors.
fn contains(repo: &gix::Repository, tip: gix::ObjectId, commit: gix::ObjectId) -> bool {
    tip == commit || matches!(repo.merge_base(commit, tip), Ok(Some(base)) if base.detach() == commit)
}

fn write_marks(repo: &gix::Repository, tasks: &[(String, gix::ObjectId)]) -> Result<gix::ObjectId> {
    let text: String = tasks
        .iter()
        .map(|(task, commit)| format!("{task} {commit}\n"))
        .collect();
    repo.write_blob(text.as_bytes())
        .map(|id| id.detach())
        .map_err(|e| Error::git("could not record the held tasks", e))
}

/// The marks of one ref; lines that are not a mark (a ref someone else wrote) are skipped.
fn read_marks(repo: &gix::Repository, blob: gix::ObjectId) -> Vec<(String, gix::ObjectId)> {
    let Ok(object) = repo.find_object(blob) else {
        return Vec::new();
    };
    if object.kind != gix::object::Kind::Blob {
        return Vec::new();
    }
    object
        .data
        .lines()
        .filter_map(|line| {
            let (task, commit) = line.to_str().ok()?.split_once(' ')?;
            let valid = task.len() == super::git::ID_LEN && task.bytes().all(|b| b.is_ascii_hexdigit());
            valid.then_some(())?;
            Some((task.to_owned(), gix::ObjectId::from_hex(commit.as_bytes()).ok()?))
        })
        .collect()
}
