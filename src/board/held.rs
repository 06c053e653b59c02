//! Records held back for a person to read, because an agent may have written them:
//! - a task that became Ready (created, reopened or edited) while an agent ran: the run cannot
//!   tell the agent's change from yours in another terminal;
//! - a run's evidence recorded while an agent ran by a run this one cannot vouch for (it was
//!   neither registered when the agent started nor started by this process): the agent may have
//!   made it up, or you ran it in another terminal meanwhile.
//!
//! `git oc push` refuses to publish while anything is held, and the lanes do not run a held task,
//! until `git oc release ID` says it was read.
//!
//! Each run that held something writes one ref, `refs/oc/held/<run id>`, at a blob of lines
//! `<task id> <commit>` and `run <run id> <commit>`: the commit as the run saw it. A mark holds
//! while that commit is in the record's history (a merge with a remote's version, an event
//! appended to evidence, does not lift it). Runs write their own refs, so concurrent runs never
//! write the same one; an agent that deletes or rewrites one has it put back by the guard
//! (`git::guard`: these are records).

use std::collections::BTreeMap;

use gix::bstr::ByteSlice;

use super::git::TASKS_REF_PREFIX;
use crate::error::{Error, Result};

/// Where the marks live, one ref per run that held something.
pub const HELD_REF_PREFIX: &str = "refs/oc/held/";
/// The word that starts a run's mark.
const RUN: &str = "run";

/// The word that starts an autonomy record's mark.
const RECORD: &str = "record";

/// What a mark holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Task,
    Run,
    /// An autonomy cycle's record, named by its ref under `refs/oc/` (`observations/<id>`,
    /// `cycles/<id>`): later cycles read them, and `git oc push` publishes them.
    Record,
}

impl Kind {
    pub fn ref_prefix(self) -> &'static str {
        match self {
            Kind::Task => TASKS_REF_PREFIX,
            Kind::Run => crate::git::RUNS_REF_PREFIX,
            Kind::Record => "refs/oc/",
        }
    }
}

/// Whether `id` names an autonomy record under `refs/oc/`.
fn is_record_id(id: &str) -> bool {
    crate::autonomy::store::PREFIXES.iter().any(|prefix| {
        let family = prefix.trim_start_matches("refs/oc/");
        id.strip_prefix(family).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
    })
}

/// What is held, its id, and its commit as the run saw it.
pub type Mark = (Kind, String, gix::ObjectId);

/// Hold `marks` (what, its id, its commit as seen) for the run `run_id`.
pub fn record(repo: &gix::Repository, run_id: &str, marks: &[Mark]) -> Result<()> {
    if marks.is_empty() {
        return Ok(());
    }
    let blob = write_marks(repo, marks)?;
    crate::git::refs::create(
        repo,
        &format!("{HELD_REF_PREFIX}{run_id}"),
        blob,
        "git-oc: records written while the agent ran",
    )
}

/// Everything held now, each once with the commit that holds it: the marks whose commit is
/// still in its record's history (each record looked up by name: marks are few, records many).
pub fn held_all(repo: &gix::Repository) -> Result<Vec<Mark>> {
    let mut out: Vec<Mark> = Vec::new();
    for (_, blob) in crate::git::refs::ids_under(repo, HELD_REF_PREFIX)? {
        for (kind, id, commit) in read_marks(repo, blob) {
            if out.iter().any(|(k, i, _)| *k == kind && *i == id) {
                continue;
            }
            let tip = crate::git::refs::target(repo, &format!("{}{id}", kind.ref_prefix()))?;
            if tip.is_some_and(|tip| contains(repo, tip, commit)) {
                out.push((kind, id, commit));
            }
        }
    }
    Ok(out)
}

/// What of `kind` is held now, each id with the commit that holds it.
pub fn held(repo: &gix::Repository, kind: Kind) -> Result<BTreeMap<String, gix::ObjectId>> {
    Ok(held_all(repo)?
        .into_iter()
        .filter(|(of, _, _)| *of == kind)
        .map(|(_, id, commit)| (id, commit))
        .collect())
}

/// Lift every mark on the task, run or record `id`; how many there were.
pub fn release(repo: &gix::Repository, id: &str) -> Result<usize> {
    let mut lifted = 0;
    for (run, blob) in crate::git::refs::ids_under(repo, HELD_REF_PREFIX)? {
        let marks = read_marks(repo, blob);
        let kept: Vec<_> = marks.iter().filter(|(_, of, _)| of != id).cloned().collect();
        if kept.len() == marks.len() {
            continue;
        }
        lifted += marks.len() - kept.len();
        let name = format!("{HELD_REF_PREFIX}{run}");
        if kept.is_empty() {
            crate::git::refs::delete(repo, &name, blob)?;
        } else {
            let new = write_marks(repo, &kept)?;
            crate::git::refs::compare_and_swap(repo, &name, Some(blob), new, "git-oc: released")?;
        }
    }
    Ok(lifted)
}

/// Whether `commit` is `tip` or one of its ancestors.
pub fn contains(repo: &gix::Repository, tip: gix::ObjectId, commit: gix::ObjectId) -> bool {
    tip == commit || matches!(repo.merge_base(commit, tip), Ok(Some(base)) if base.detach() == commit)
}

fn write_marks(repo: &gix::Repository, marks: &[Mark]) -> Result<gix::ObjectId> {
    let text: String = marks
        .iter()
        .map(|(kind, id, commit)| match kind {
            Kind::Task => format!("{id} {commit}\n"),
            Kind::Run => format!("{RUN} {id} {commit}\n"),
            Kind::Record => format!("{RECORD} {id} {commit}\n"),
        })
        .collect();
    repo.write_blob(text.as_bytes())
        .map(|id| id.detach())
        .map_err(|e| Error::git("could not record what the run held", e))
}

/// The marks of one ref; lines that are not a mark (a ref someone else wrote) are skipped.
fn read_marks(repo: &gix::Repository, blob: gix::ObjectId) -> Vec<Mark> {
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
            let fields: Vec<&str> = line.to_str().ok()?.split(' ').collect();
            let (kind, id, commit) = match fields[..] {
                [RUN, id, commit] if crate::evidence::store::is_run_id(id) => (Kind::Run, id, commit),
                [RECORD, id, commit] if is_record_id(id) => (Kind::Record, id, commit),
                [id, commit] if is_task_id(id) => (Kind::Task, id, commit),
                _ => return None,
            };
            Some((kind, id.to_owned(), gix::ObjectId::from_hex(commit.as_bytes()).ok()?))
        })
        .collect()
}

fn is_task_id(id: &str) -> bool {
    id.len() == super::git::ID_LEN && id.bytes().all(|b| b.is_ascii_hexdigit())
}
