//! The git board: each task is a ref `refs/oc/tasks/<id>` pointing at a chain of commits, one per
//! event (created, moved, commented, labels, edited), whose tree holds the task as it is after
//! the event (`task.json`) and whose message summarises it, so that a listing reads commit
//! messages only. Every change is a new commit and a compare-and-swap of the ref: two writers
//! never lose each other's change, and a failed change leaves the task as it was.
//!
//! Clones exchange tasks through `git oc push` / `git oc fetch`: the remote's tasks are fetched to
//! `refs/oc/remotes/<remote>/tasks/` and merged here. Two chains that diverged are joined by a
//! merge commit whose task is a deterministic function of the common ancestor and both sides
//! ([`merge_tasks`]), the same whichever clone merges.

use gix::bstr::ByteSlice;

use super::task::{self, Comment, Event, Task, TaskSummary};
use super::{Board, BoardKind, Filter, HistoryEntry, NewTask, StateKind, States, Transition, check::Check};
use crate::contracts::Timestamp;
use crate::error::{Error, Result};

/// Tasks live here, one ref per task.
pub const TASKS_REF_PREFIX: &str = "refs/oc/tasks/";
/// Characters of a task id: hexadecimal, from a random UUID.
pub const ID_LEN: usize = 12;
/// Author of the comments a merge adds.
const MERGE_AUTHOR: &str = "git-oc";

/// Where the tasks of `remote` are fetched to before merging.
pub fn tracking_prefix(remote: &str) -> String {
    format!("refs/oc/remotes/{remote}/tasks/")
}

pub struct GitBoard {
    repo: gix::Repository,
    states: States,
}

impl GitBoard {
    pub fn new(repo: gix::Repository, states: States) -> Self {
        GitBoard { repo, states }
    }

    pub fn repo(&self) -> &gix::Repository {
        &self.repo
    }

    /// The full id of the task `query` names: a full id or a unique prefix of one.
    pub fn resolve_id(&self, query: &str) -> Result<String> {
        resolve_id(&self.repo, query)
    }

    /// The task `id` (a full id) and the commit it is at.
    pub fn read(&self, id: &str) -> Result<(gix::ObjectId, Task)> {
        let name = format!("{TASKS_REF_PREFIX}{id}");
        let tip = crate::git::refs::target(&self.repo, &name)?.ok_or_else(|| unknown_task(id))?;
        Ok((tip, read_task_at(&self.repo, tip)?))
    }

    /// The events of a task, oldest first: every commit of its chain, merges included.
    pub fn chain(&self, id: &str) -> Result<Vec<HistoryEntry>> {
        let (tip, _) = self.read(id)?;
        let ctx = |e| Error::git(format!("could not read the history of task {id}"), e);
        let walk = self.repo.rev_walk([tip]).all().map_err(ctx)?;
        let mut pending = Vec::new();
        for info in walk {
            let info = info.map_err(ctx)?;
            let commit = self.repo.find_commit(info.id).map_err(ctx)?;
            let message = commit.message_raw_sloppy().to_str_lossy().into_owned();
            let seconds = commit.time().map(|t| t.seconds).unwrap_or(0);
            let event = message
                .lines()
                .find_map(|l| l.strip_prefix("Oc-Event: "))
                .unwrap_or("unknown")
                .to_owned();
            let subject = message.lines().next().unwrap_or("").to_owned();
            let author = commit
                .author()
                .map(|a| format!("{} <{}>", a.name, a.email))
                .unwrap_or_default();
            let parents: Vec<gix::ObjectId> = info.parent_ids.to_vec();
            pending.push((
                info.id,
                parents,
                HistoryEntry {
                    commit: Some(info.id.to_string()),
                    time: Timestamp::from_micros(seconds * 1_000_000),
                    event,
                    subject,
                    author,
                },
            ));
        }
        // Parents before children (commit times can tie, or lie), then oldest first.
        let mut done = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(pending.len());
        while !pending.is_empty() {
            let next = pending
                .iter()
                .enumerate()
                .filter(|(_, (_, parents, _))| parents.iter().all(|p| done.contains(p)))
                .min_by(|(_, a), (_, b)| a.2.time.cmp(&b.2.time).then_with(|| a.0.cmp(&b.0)))
                .map(|(i, _)| i)
                .unwrap_or(0);
            let (id, _, entry) = pending.swap_remove(next);
            done.insert(id);
            out.push(entry);
        }
        Ok(out)
    }

    /// The time and the person of a change: the committer git would record.
    fn stamp(&self) -> Result<(Timestamp, String)> {
        let sig = self
            .repo
            .committer()
            .ok_or_else(|| Error::run("no committer identity"))?
            .map_err(|e| Error::run("could not read the committer identity").caused_by(e.to_string()))?;
        let seconds = sig.seconds();
        Ok((
            Timestamp::from_micros(seconds * 1_000_000),
            format!("{} <{}>", sig.name, sig.email),
        ))
    }

    /// Apply `change` to the task and record it as one commit, retrying when someone else
    /// changed the task in between (the change is then applied to their version, and may refuse
    /// it). `change` returns `None` when there is nothing to record.
    fn update(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Task, Timestamp, &str) -> Result<Option<Event>>,
    ) -> Result<Task> {
        let name = format!("{TASKS_REF_PREFIX}{id}");
        for _attempt in 0..10 {
            let (tip, mut task) = self.read(id)?;
            let (now, who) = self.stamp()?;
            let Some(event) = change(&mut task, now, &who)? else {
                return Ok(task);
            };
            task.updated_at = task.updated_at.max(now);
            task.normalize();
            let commit = write_commit(&self.repo, &task, &event, &[tip])?;
            match crate::git::refs::compare_and_swap(
                &self.repo,
                &name,
                Some(tip),
                commit,
                &format!("git-oc: task {}", event.name()),
            ) {
                Ok(()) => return Ok(task),
                Err(e) => {
                    if crate::git::refs::target(&self.repo, &name)? == Some(tip) {
                        return Err(e);
                    }
                    // Someone else's change came first: apply ours to theirs.
                }
            }
        }
        Err(Error::run(format!("task {id} kept changing while it was being updated")).hint("run the command again"))
    }

    /// Record `change` as a commit on top of the task commit `parent` without moving any ref,
    /// for callers whose compare-and-swap is elsewhere (a remote worker's atomic push).
    pub fn commit_change(
        &self,
        parent: gix::ObjectId,
        change: impl FnOnce(&mut Task, Timestamp, &str) -> Event,
    ) -> Result<(gix::ObjectId, Task)> {
        let mut task = read_task_at(&self.repo, parent)?;
        let (now, who) = self.stamp()?;
        let event = change(&mut task, now, &who);
        task.updated_at = task.updated_at.max(now);
        task.normalize();
        Ok((write_commit(&self.repo, &task, &event, &[parent])?, task))
    }
}

fn not_moved(id: &str, state: &str, expected: &str) -> Error {
    Error::run(format!(
        "task {id} is in state {state:?}, not {expected:?}: it was not moved"
    ))
    .hint(format!(
        "someone else moved it; see its history with 'git oc task show {id}'"
    ))
}

fn comment_body(body: &str) -> Result<&str> {
    let body = body.trim_end();
    if body.trim().is_empty() {
        return Err(Error::input("the comment is empty").hint("write the comment's text"));
    }
    Ok(body)
}

fn unknown_task(id: &str) -> Error {
    Error::input(format!("no task {id}"))
        .hint("list tasks with 'git oc task list'; tasks made on another clone arrive with 'git oc fetch'")
}

/// The task in a task commit's tree.
pub fn read_task_at(repo: &gix::Repository, commit: gix::ObjectId) -> Result<Task> {
    let ctx = |e| Error::git(format!("could not read task commit {}", crate::git::short(&commit)), e);
    let commit_obj = repo.find_commit(commit).map_err(ctx)?;
    let tree = commit_obj.tree().map_err(ctx)?;
    let entry = tree.find_entry(task::TASK_FILE).ok_or_else(|| {
        Error::run(format!(
            "commit {} is not a task commit: it has no {}",
            crate::git::short(&commit),
            task::TASK_FILE
        ))
        .hint("git-oc did not write this ref; inspect it with 'git show' and delete it with 'git update-ref -d'")
    })?;
    let blob = entry.object().map_err(ctx)?;
    Task::from_file(&blob.data).map_err(|why| {
        Error::run(format!("commit {} holds a broken task", crate::git::short(&commit)))
            .caused_by(why)
            .hint("git-oc did not write this file; inspect it with 'git show'")
    })
}

/// Write the objects of a task commit (nothing is referenced yet).
fn write_commit(
    repo: &gix::Repository,
    task: &Task,
    event: &Event,
    parents: &[gix::ObjectId],
) -> Result<gix::ObjectId> {
    let ctx = |e| Error::git(format!("could not record task {}", task.id), e);
    let tree = crate::git::evidence::files_tree(
        repo,
        &[(task::TASK_FILE.to_owned(), task.to_file())],
        &format!("could not record task {}", task.id),
    )?;
    Ok(repo
        .new_commit(task::event_message(task, event), tree, parents.iter().copied())
        .map_err(ctx)?
        .id)
}

/// Whether `s` could be a task id (or a prefix of one).
fn is_id_like(s: &str) -> bool {
    !s.is_empty() && s.len() <= ID_LEN && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// Every task id, from the ref names alone.
pub fn task_ids(repo: &gix::Repository) -> Vec<String> {
    crate::git::ref_names(repo, TASKS_REF_PREFIX)
        .into_iter()
        .filter_map(|n| n.strip_prefix(TASKS_REF_PREFIX).map(str::to_owned))
        .collect()
}

/// The full id for `query`: a full id or a unique prefix.
pub fn resolve_id(repo: &gix::Repository, query: &str) -> Result<String> {
    let q = query.trim().to_ascii_lowercase();
    if !is_id_like(&q) {
        return Err(Error::input(format!("{:?} is not a task id", query.trim()))
            .hint(format!("task ids are {ID_LEN} hexadecimal characters (a unique prefix will do); list them with 'git oc task list'")));
    }
    let ids = task_ids(repo);
    let matches: Vec<&String> = ids.iter().filter(|id| id.starts_with(&q)).collect();
    match matches.as_slice() {
        [] => Err(unknown_task(&q)),
        [one] => Ok((*one).clone()),
        many => Err(
            Error::input(format!("task id prefix {q} is ambiguous: {} tasks match", many.len()))
                .caused_by(format!(
                    "candidates: {}",
                    many.iter().take(10).map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ))
                .hint("give more characters of the task id"),
        ),
    }
}

/// A ref under `refs/oc/tasks/` that is not a task git-oc recorded.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Skipped {
    pub reference: String,
    pub why: String,
}

/// Every task's summary, from the task commits' messages (decoded on all cores), and the refs
/// that are not tasks.
pub fn list_summaries(repo: &gix::Repository) -> Result<(Vec<TaskSummary>, Vec<Skipped>)> {
    list_summaries_under(repo, TASKS_REF_PREFIX)
}

/// [`list_summaries`] of the tasks named `<prefix><id>`: the board as fetched from a remote with
/// [`tracking_prefix`].
pub fn list_summaries_under(repo: &gix::Repository, prefix: &str) -> Result<(Vec<TaskSummary>, Vec<Skipped>)> {
    let ctx = |e| Error::git("could not list the tasks", e);
    let platform = repo.references().map_err(ctx)?;
    let mut skipped = Vec::new();
    let mut targets = Vec::new();
    for reference in platform.prefixed(prefix).map_err(ctx)? {
        let mut reference = match reference {
            Ok(r) => r,
            Err(e) => {
                skipped.push(Skipped {
                    reference: "(unreadable)".into(),
                    why: e.to_string(),
                });
                continue;
            }
        };
        let name = reference.name().as_bstr().to_str_lossy().into_owned();
        let id = match crate::git::refs::target_id(&mut reference) {
            Ok(id) => id,
            Err(e) => {
                skipped.push(Skipped {
                    reference: name,
                    why: format!("it cannot be resolved: {e}"),
                });
                continue;
            }
        };
        targets.push((name, id));
    }
    // Task commits never change: their summaries are kept by commit id, and only the commits
    // not seen before are read (after a fetch, say).
    let cache_path = summary_cache(repo.common_dir());
    let cache = load_summaries(&cache_path);
    let mut found: Vec<(gix::ObjectId, TaskSummary)> = Vec::with_capacity(targets.len());
    let mut misses = Vec::new();
    for (name, id) in targets {
        match cache.get(&id) {
            Some(summary) if name.strip_prefix(prefix) == Some(summary.id.as_str()) => {
                found.push((id, summary.clone()));
            }
            _ => misses.push((name, id)),
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let chunk = misses.len().div_ceil(threads.max(1)).max(1);
    let shared = repo.clone().into_sync();
    let decoded: Vec<Vec<(gix::ObjectId, Result<TaskSummary, Skipped>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = misses
            .chunks(chunk)
            .map(|part| {
                let shared = shared.clone();
                scope.spawn(move || {
                    let mut repo = shared.to_thread_local();
                    // The refs name existing objects: a miss in the packs (every loose object)
                    // need not look for new packs on disk each time.
                    repo.objects.refresh_never();
                    let objects = crate::git::loose::LooseFirst::new(&repo);
                    let mut buf = Vec::new();
                    part.iter()
                        .map(|(name, id)| (*id, decode_summary(&objects, &mut buf, prefix, name, *id)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let fresh = !misses.is_empty();
    for (id, result) in decoded.into_iter().flatten() {
        match result {
            Ok(t) => found.push((id, t)),
            Err(s) => skipped.push(s),
        }
    }
    if prefix == TASKS_REF_PREFIX {
        // The board's own tasks decide what the cache keeps.
        if fresh || cache.len() != found.len() {
            save_summaries(&cache_path, &found);
        }
    } else if fresh {
        // These and the board's own tasks, so that neither listing evicts the other's.
        let listed: std::collections::HashSet<gix::ObjectId> = found.iter().map(|(id, _)| *id).collect();
        let own: std::collections::HashSet<gix::ObjectId> = crate::git::refs::ids_under(repo, TASKS_REF_PREFIX)?
            .into_values()
            .collect();
        let mut all: Vec<(gix::ObjectId, TaskSummary)> = cache
            .into_iter()
            .filter(|(id, _)| own.contains(id) && !listed.contains(id))
            .collect();
        all.extend(found.iter().cloned());
        save_summaries(&cache_path, &all);
    }
    Ok((found.into_iter().map(|(_, t)| t).collect(), skipped))
}

/// `<git-dir>/oc/task-summaries`: `<commit id> <summary as JSON>` per line. An agent can write
/// it too: the agent stage drops it when it changed while the agent ran
/// ([`crate::git::guard::Guarded::drop_changed_caches`]).
pub fn summary_cache(common_dir: &std::path::Path) -> std::path::PathBuf {
    common_dir.join("oc").join("task-summaries")
}

/// The cached summaries; an unreadable or damaged file is as good as none.
fn load_summaries(path: &std::path::Path) -> std::collections::HashMap<gix::ObjectId, TaskSummary> {
    // git-oc's own cache, where an agent can write: never a FIFO's blocking read, at most 64 MiB.
    let Some(text) = crate::config::read::read_plain_text(path, 64 << 20) else {
        return Default::default();
    };
    text.lines()
        .filter_map(|line| {
            let (id, json) = line.split_once(' ')?;
            let id = gix::ObjectId::from_hex(id.as_bytes()).ok()?;
            Some((id, serde_json::from_str(json).ok()?))
        })
        .collect()
}

/// Rewrite the cache with the summaries of the current tasks; best effort (a read-only
/// repository still lists).
fn save_summaries(path: &std::path::Path, entries: &[(gix::ObjectId, TaskSummary)]) {
    let mut text = String::with_capacity(entries.len() * 200);
    for (id, summary) in entries {
        if let Ok(json) = serde_json::to_string(summary) {
            text.push_str(&format!("{id} {json}\n"));
        }
    }
    if let Some(dir) = path.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        let _ = crate::evidence::write_atomic(path, text.as_bytes());
    }
}

fn decode_summary(
    objects: &crate::git::loose::LooseFirst<'_>,
    buf: &mut Vec<u8>,
    prefix: &str,
    name: &str,
    id: gix::ObjectId,
) -> Result<TaskSummary, Skipped> {
    let skip = |why: String| Skipped {
        reference: name.to_owned(),
        why,
    };
    let data = match gix::objs::Find::try_find(objects, &id, buf) {
        Ok(Some(data)) if data.kind == gix::object::Kind::Commit => data.data,
        Ok(Some(_)) => return Err(skip(format!("it does not point at a commit ({id})"))),
        Ok(None) => return Err(skip(format!("its commit {id} is missing"))),
        Err(e) => return Err(skip(format!("its commit cannot be read: {e}"))),
    };
    // The message follows the first empty line, as gix's `message_raw_sloppy` finds it.
    let message = data.find(b"\n\n").map_or(&b""[..], |at| &data[at + 2..]).to_str_lossy();
    let summary =
        task::parse_message(&message).map_err(|why| skip(format!("it is not a git-oc task commit: {why}")))?;
    if name.strip_prefix(prefix) != Some(summary.id.as_str()) {
        return Err(skip(format!("its commit is for task {}", summary.id)));
    }
    Ok(summary)
}

impl Board for GitBoard {
    fn kind(&self) -> BoardKind {
        BoardKind::Git
    }

    fn held(&self) -> Result<std::collections::BTreeSet<String>> {
        Ok(super::held::held(&self.repo, super::held::Kind::Task)?
            .into_keys()
            .collect())
    }

    fn states(&self) -> &States {
        &self.states
    }

    fn list(&self, filter: &Filter) -> Result<Vec<TaskSummary>> {
        let (mut tasks, skipped) = list_summaries(&self.repo)?;
        for s in &skipped {
            tracing::warn!(reference = %s.reference, why = %s.why, "skipped a ref that is not a task");
        }
        tasks.retain(|t| filter.matches(t));
        self.states.sort_for_listing(&mut tasks);
        Ok(tasks)
    }

    fn get(&self, id: &str) -> Result<Task> {
        let id = self.resolve_id(id)?;
        Ok(self.read(&id)?.1)
    }

    fn create(&self, new: &NewTask) -> Result<Task> {
        let (title, labels, state) = new.checked(&self.states)?;
        let (now, who) = self.stamp()?;
        for _attempt in 0..5 {
            let id: String = uuid::Uuid::new_v4().simple().to_string()[..ID_LEN].to_owned();
            let mut t = Task {
                id: id.clone(),
                title: title.clone(),
                state: state.clone(),
                labels: labels.clone(),
                description: new.description.trim_end().to_owned(),
                created_at: now,
                created_by: who.clone(),
                updated_at: now,
                edited_at: now,
                state_changed_at: now,
                comments: Vec::new(),
            };
            t.normalize();
            task::check_text(&t)?;
            let name = format!("{TASKS_REF_PREFIX}{id}");
            if crate::git::refs::target(&self.repo, &name)?.is_some() {
                continue;
            }
            let commit = write_commit(&self.repo, &t, &Event::Created, &[])?;
            crate::git::refs::create(&self.repo, &name, commit, "git-oc: task created")?;
            return Ok(t);
        }
        Err(Error::internal("could not find a free task id"))
    }

    fn transition(&self, id: &str, to: &str, expected: Option<&str>) -> Result<Transition> {
        let to = self.states.resolve(to)?;
        let expected = expected.map(|e| self.states.resolve(e)).transpose()?;
        let id = self.resolve_id(id)?;
        let mut from = String::new();
        self.update(&id, |t, now, _| {
            if let Some(exp) = &expected
                && !t.state.eq_ignore_ascii_case(exp)
            {
                return Err(not_moved(&id, &t.state, exp));
            }
            from = t.state.clone();
            if t.state == to {
                return Ok(None);
            }
            Ok(Some(t.move_to(&to, now)))
        })?;
        Ok(Transition { task_id: id, from, to })
    }

    fn comment(&self, id: &str, body: &str) -> Result<Comment> {
        let body = comment_body(body)?;
        let id = self.resolve_id(id)?;
        let comment_id = crate::contracts::new_id();
        let task = self.update(&id, |t, now, who| {
            t.comments.push(Comment::new(comment_id.as_str(), who, now, body));
            Ok(Some(Event::Commented))
        })?;
        task.comments
            .into_iter()
            .find(|c| c.id == comment_id)
            .ok_or_else(|| Error::internal("the comment written is not in the task"))
    }

    /// One commit for both: every other clone and worker fetches one commit instead of two.
    fn comment_and_move(
        &self,
        id: &str,
        body: &str,
        to: &str,
        expected: &str,
    ) -> Result<std::result::Result<Transition, Error>> {
        let body = comment_body(body)?;
        let to = self.states.resolve(to)?;
        let expected = self.states.resolve(expected)?;
        let id = self.resolve_id(id)?;
        let comment_id = crate::contracts::new_id();
        let mut moved = Err(Error::internal("the task was not read"));
        self.update(&id, |t, now, who| {
            t.comments.push(Comment::new(comment_id.as_str(), who, now, body));
            if !t.state.eq_ignore_ascii_case(&expected) {
                moved = Err(not_moved(&id, &t.state, &expected));
                return Ok(Some(Event::Commented));
            }
            moved = Ok(Transition {
                task_id: id.clone(),
                from: t.state.clone(),
                to: to.clone(),
            });
            if t.state == to {
                return Ok(Some(Event::Commented));
            }
            Ok(Some(t.move_to(&to, now)))
        })?;
        Ok(moved)
    }

    fn edit(&self, id: &str, title: Option<&str>, description: Option<&str>) -> Result<Task> {
        let title = title.map(task::check_title).transpose()?;
        if title.is_none() && description.is_none() {
            return Err(Error::input("nothing to edit").hint("give --title, --body, --body-file or --edit"));
        }
        let id = self.resolve_id(id)?;
        self.update(&id, |t, now, _| {
            let mut changed = t.clone();
            if let Some(title) = &title {
                changed.title = title.clone();
            }
            if let Some(d) = description {
                changed.description = d.trim_end().to_owned();
            }
            task::check_text(&changed)?;
            if changed.title == t.title && changed.description == t.description {
                return Ok(None);
            }
            *t = changed;
            t.edited_at = now;
            Ok(Some(Event::Edited))
        })
    }

    fn set_labels(&self, id: &str, add: &[String], remove: &[String]) -> Result<Task> {
        let add = add.iter().map(|l| task::check_label(l)).collect::<Result<Vec<_>>>()?;
        let remove = remove
            .iter()
            .map(|l| task::check_label(l))
            .collect::<Result<Vec<_>>>()?;
        if add.is_empty() && remove.is_empty() {
            return Err(Error::input("no label to add or remove").hint("give --add LABEL or --remove LABEL"));
        }
        let id = self.resolve_id(id)?;
        self.update(&id, |t, _, _| {
            let mut added = Vec::new();
            let mut removed = Vec::new();
            for l in &remove {
                let before = t.labels.len();
                t.labels.retain(|have| !have.eq_ignore_ascii_case(l));
                if t.labels.len() != before {
                    removed.push(l.clone());
                }
            }
            for l in &add {
                if !t.has_label(l) {
                    t.labels.push(l.clone());
                    added.push(l.clone());
                }
            }
            if added.is_empty() && removed.is_empty() {
                return Ok(None);
            }
            Ok(Some(Event::Labels { added, removed }))
        })
    }

    fn history(&self, id: &str) -> Result<Vec<HistoryEntry>> {
        let id = self.resolve_id(id)?;
        self.chain(&id)
    }

    fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        match list_summaries(&self.repo) {
            Ok((tasks, skipped)) => {
                checks.push(if skipped.is_empty() {
                    Check::ok("tasks", format!("{} task(s) under {TASKS_REF_PREFIX}", tasks.len()))
                } else {
                    Check::fail(
                        "tasks",
                        format!(
                            "{} ref(s) under {TASKS_REF_PREFIX} are not tasks: {}",
                            skipped.len(),
                            skipped
                                .iter()
                                .take(5)
                                .map(|s| format!("{} ({})", s.reference, s.why))
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                    )
                });
                let unknown: Vec<String> = tasks
                    .iter()
                    .filter(|t| self.states.kind_of(&t.state).is_none())
                    .map(|t| format!("{} ({})", t.id, t.state))
                    .collect();
                checks.push(if unknown.is_empty() {
                    Check::ok("task states", "every task is in a configured state".to_owned())
                } else {
                    Check::warn(
                        "task states",
                        format!(
                            "{} task(s) in a state the configuration does not name: {}",
                            unknown.len(),
                            unknown.into_iter().take(5).collect::<Vec<_>>().join(", ")
                        ),
                    )
                });
                let ready = self.states.name(StateKind::Ready);
                let unrouted: Vec<&str> = tasks
                    .iter()
                    .filter(|t| t.state == ready && task::label_value(&t.labels, "repo").is_none())
                    .map(|t| t.id.as_str())
                    .collect();
                checks.push(if unrouted.is_empty() {
                    Check::ok(
                        "labels",
                        "git board labels need no setup; every ready task has a 'repo:' label".to_owned(),
                    )
                } else {
                    Check::warn(
                        "labels",
                        format!(
                            "{} task(s) in {ready:?} have no 'repo: <key>' label (fine if their '## Execution' names the repo): {}",
                            unrouted.len(),
                            unrouted.into_iter().take(5).collect::<Vec<_>>().join(", ")
                        ),
                    )
                });
            }
            Err(e) => checks.push(Check::fail("tasks", e.summary_line())),
        }
        checks
    }
}

// ---------------------------------------------------------------------------------------------
// Merging the tasks of another clone

/// What merging a remote's tasks did.
#[derive(Debug, Default, serde::Serialize)]
pub struct TasksMerge {
    /// Tasks only the remote had.
    pub created: usize,
    /// Tasks the remote had moved on, and this clone had not.
    pub fast_forward: usize,
    /// Tasks both had changed, joined by a merge commit.
    pub merged: usize,
    pub up_to_date: usize,
    /// Tasks that could not be merged, with the reason (unrelated chains under one id, say).
    pub conflicts: Vec<String>,
}

/// Merge every task fetched under `prefix` (see [`tracking_prefix`]) into `refs/oc/tasks/`.
pub fn merge_fetched(repo: &gix::Repository, prefix: &str, states: &States) -> Result<TasksMerge> {
    // Both sides in one pass each, and a task looked at only where they differ: a worker merges
    // after every fetch, and the board keeps every task it ever had.
    let theirs = crate::git::refs::ids_under(repo, prefix)?;
    let ours = crate::git::refs::ids_under(repo, TASKS_REF_PREFIX)?;
    let mut report = TasksMerge::default();
    let mut planned = Vec::new();
    for (task_id, their_tip) in theirs {
        let our_tip = ours.get(&task_id).copied();
        if our_tip == Some(their_tip) {
            report.up_to_date += 1;
            continue;
        }
        match plan_merge(repo, &task_id, our_tip, their_tip, states) {
            Ok(Planned::UpToDate) => report.up_to_date += 1,
            Ok(Planned::Move { outcome, new, .. }) => planned.push((task_id, our_tip, new, outcome, their_tip)),
            Err(e) => report.conflicts.push(format!("{task_id}: {}", e.summary_line())),
        }
    }
    // The moves in one ref transaction (each ref guarded by what was read): a fetch that brought
    // other workers' changes to a dozen tasks costs one lock of `packed-refs`, not a dozen.
    let moves: Vec<_> = planned
        .iter()
        .map(|(id, ours, new, outcome, _)| (format!("{TASKS_REF_PREFIX}{id}"), *ours, *new, outcome.log_message()))
        .collect();
    if crate::git::refs::compare_and_swap_all(repo, &moves).is_ok() {
        for (_, _, _, outcome, _) in &planned {
            report.count(*outcome);
        }
        return Ok(report);
    }
    // Another git-oc moved one of them meanwhile: one task at a time, each merged again.
    for (task_id, _, _, _, their_tip) in planned {
        match merge_one(repo, &task_id, their_tip, states) {
            Ok(outcome) => report.count(outcome),
            Err(e) => report.conflicts.push(format!("{task_id}: {}", e.summary_line())),
        }
    }
    Ok(report)
}

impl TasksMerge {
    fn count(&mut self, outcome: MergeOutcome) {
        match outcome {
            MergeOutcome::Created => self.created += 1,
            MergeOutcome::FastForward => self.fast_forward += 1,
            MergeOutcome::Merged => self.merged += 1,
            MergeOutcome::UpToDate => self.up_to_date += 1,
        }
    }
}

#[derive(Clone, Copy)]
enum MergeOutcome {
    Created,
    FastForward,
    Merged,
    UpToDate,
}

impl MergeOutcome {
    fn log_message(self) -> &'static str {
        match self {
            MergeOutcome::Created => "git-oc: task fetched",
            MergeOutcome::FastForward => "git-oc: task fast-forward",
            MergeOutcome::Merged => "git-oc: task merged",
            MergeOutcome::UpToDate => "git-oc: task up to date",
        }
    }
}

/// Where a task's ref goes when `theirs` is merged into `ours` (read just before).
enum Planned {
    UpToDate,
    Move { outcome: MergeOutcome, new: gix::ObjectId },
}

fn plan_merge(
    repo: &gix::Repository,
    task_id: &str,
    ours: Option<gix::ObjectId>,
    theirs: gix::ObjectId,
    states: &States,
) -> Result<Planned> {
    let name = format!("{TASKS_REF_PREFIX}{task_id}");
    if !is_id_like(task_id) || gix::refs::FullName::try_from(name.as_str()).is_err() {
        return Err(Error::run("not a task id"));
    }
    let Some(ours) = ours else {
        // Check it is a task before taking it in.
        read_task_at(repo, theirs)?;
        return Ok(Planned::Move {
            outcome: MergeOutcome::Created,
            new: theirs,
        });
    };
    if ours == theirs {
        return Ok(Planned::UpToDate);
    }
    let base = repo.merge_base(ours, theirs).ok().flatten().map(|b| b.detach());
    let Some(base) = base else {
        return Err(Error::run(
            "the two clones hold unrelated tasks under this id; the local one was kept",
        ));
    };
    if base == theirs {
        return Ok(Planned::UpToDate);
    }
    if base == ours {
        return Ok(Planned::Move {
            outcome: MergeOutcome::FastForward,
            new: theirs,
        });
    }
    let merged = merge_tasks_with(
        &read_task_at(repo, base)?,
        &read_task_at(repo, ours)?,
        &read_task_at(repo, theirs)?,
        states,
    );
    // Parents in a fixed order, so that both clones could write the very same commit.
    let parents = if ours < theirs { [ours, theirs] } else { [theirs, ours] };
    let commit = write_commit(repo, &merged, &Event::Merged, &parents)?;
    Ok(Planned::Move {
        outcome: MergeOutcome::Merged,
        new: commit,
    })
}

fn merge_one(repo: &gix::Repository, task_id: &str, theirs: gix::ObjectId, states: &States) -> Result<MergeOutcome> {
    let name = format!("{TASKS_REF_PREFIX}{task_id}");
    for _attempt in 0..10 {
        let ours = crate::git::refs::target(repo, &name)?;
        match plan_merge(repo, task_id, ours, theirs, states)? {
            Planned::UpToDate => return Ok(MergeOutcome::UpToDate),
            Planned::Move { outcome, new } => {
                if crate::git::refs::compare_and_swap(repo, &name, ours, new, outcome.log_message()).is_ok() {
                    return Ok(outcome);
                }
            }
        }
    }
    Err(Error::run("the task kept changing while it was being merged"))
}

/// The task after two sets of changes to `base` (the common ancestor), `ours` and `theirs`;
/// symmetric in `ours` and `theirs`, so every clone computes the same task:
/// - comments: all of both sides (by id), oldest first;
/// - labels: the base's, plus those either side added, minus those either side removed;
/// - state: the side that changed it; when both changed it differently, the state with the
///   higher [`StateKind::precedence`] (then the later change, then the name), and a comment
///   records the state that lost;
/// - title and description: the side that changed them; when both did, the later edit (then
///   the text), and a comment keeps the version that lost.
pub fn merge_tasks(base: &Task, ours: &Task, theirs: &Task) -> Task {
    merge_tasks_with(base, ours, theirs, &States::default())
}

pub fn merge_tasks_with(base: &Task, ours: &Task, theirs: &Task, states: &States) -> Task {
    let mut out = base.clone();
    let mut notes = Vec::new();
    // Comments and labels.
    out.comments = ours.comments.iter().chain(&theirs.comments).cloned().collect();
    let added = |side: &Task| -> Vec<String> {
        side.labels
            .iter()
            .filter(|l| !base.labels.contains(l))
            .cloned()
            .collect()
    };
    let removed = |side: &Task| -> Vec<String> {
        base.labels
            .iter()
            .filter(|l| !side.labels.contains(l))
            .cloned()
            .collect()
    };
    let (gone_o, gone_t) = (removed(ours), removed(theirs));
    out.labels.retain(|l| !gone_o.contains(l) && !gone_t.contains(l));
    out.labels.extend(added(ours));
    out.labels.extend(added(theirs));
    // State.
    let (state, changed_at) = match (ours.state == base.state, theirs.state == base.state) {
        (true, _) => (theirs.state.clone(), theirs.state_changed_at),
        (_, true) => (ours.state.clone(), ours.state_changed_at),
        _ if ours.state == theirs.state => (ours.state.clone(), ours.state_changed_at.max(theirs.state_changed_at)),
        _ => {
            let key = |t: &Task| {
                (
                    states.kind_of(&t.state).map_or(0, StateKind::precedence),
                    t.state_changed_at,
                    t.state.clone(),
                )
            };
            let (win, lose) = if key(ours) >= key(theirs) {
                (ours, theirs)
            } else {
                (theirs, ours)
            };
            notes.push((
                win.state_changed_at.max(lose.state_changed_at),
                format!(
                    "Concurrent state changes: {:?} and {:?}. Kept {:?} (the state further along wins).",
                    win.state, lose.state, win.state
                ),
            ));
            (win.state.clone(), win.state_changed_at)
        }
    };
    out.state = state;
    out.state_changed_at = changed_at;
    // Title and description.
    let text = |t: &Task| (t.title.clone(), t.description.clone());
    let (win, lose) = match (text(ours) == text(base), text(theirs) == text(base)) {
        (true, _) => (theirs, None),
        (_, true) => (ours, None),
        _ if text(ours) == text(theirs) => (
            if ours.edited_at >= theirs.edited_at {
                ours
            } else {
                theirs
            },
            None,
        ),
        _ => {
            let key = |t: &Task| (t.edited_at, t.title.clone(), t.description.clone());
            if key(ours) >= key(theirs) {
                (ours, Some(theirs))
            } else {
                (theirs, Some(ours))
            }
        }
    };
    out.title = win.title.clone();
    out.description = win.description.clone();
    out.edited_at = win.edited_at;
    if let Some(lose) = lose {
        notes.push((
            win.edited_at.max(lose.edited_at),
            format!(
                "Concurrent edits: kept the later one. The other version was:\n\nTitle: {}\n\n{}",
                lose.title, lose.description
            ),
        ));
    }
    out.updated_at = ours.updated_at.max(theirs.updated_at);
    for (at, body) in notes {
        out.comments.push(Comment {
            // Derived from the content, so that merging again adds nothing new.
            id: format!("merge-{:016x}", fnv1a(body.as_bytes())),
            author: MERGE_AUTHOR.to_owned(),
            created_at: at,
            body,
        });
    }
    out.normalize();
    out
}

/// A small stable hash (FNV-1a, 64 bits) for ids derived from content.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(state: &str, labels: &[&str], comments: &[&str], title: &str, at: i64) -> Task {
        let ts = Timestamp::from_micros(at * 1_000_000);
        let mut task = Task {
            id: "0123456789ab".into(),
            title: title.into(),
            state: state.into(),
            labels: labels.iter().map(|l| (*l).into()).collect(),
            description: String::new(),
            created_at: Timestamp::from_micros(0),
            created_by: "x".into(),
            updated_at: ts,
            edited_at: if title == "T" { Timestamp::from_micros(0) } else { ts },
            state_changed_at: if state == "Backlog" {
                Timestamp::from_micros(0)
            } else {
                ts
            },
            comments: comments
                .iter()
                .map(|c| Comment {
                    id: (*c).into(),
                    author: "a".into(),
                    created_at: ts,
                    body: (*c).into(),
                })
                .collect(),
        };
        task.normalize();
        task
    }

    fn board_in(dir: &std::path::Path) -> (crate::git::Repo, GitBoard) {
        let status = crate::git::git_command(dir).args(["init", "-q"]).status().unwrap();
        assert!(status.success());
        let repo = crate::git::Repo::discover(dir).unwrap();
        let board = GitBoard::new(repo.repo.clone(), States::default());
        (repo, board)
    }

    #[test]
    fn a_write_based_on_a_stale_read_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (repo, board) = board_in(dir.path());
        let t = board
            .create(&NewTask {
                title: "Claim me".into(),
                state: Some("ready".into()),
                ..NewTask::default()
            })
            .unwrap();
        let name = format!("{TASKS_REF_PREFIX}{}", t.id);
        let (seen, _) = board.read(&t.id).unwrap();
        // Someone else moves the task after our read.
        board.transition(&t.id, "running", Some("ready")).unwrap();
        let (now, _) = board.read(&t.id).unwrap();
        // Our commit, built on what we read, cannot replace theirs: the ref transaction's
        // compare-and-swap refuses it.
        let mut ours = read_task_at(&repo.repo, seen).unwrap();
        ours.state = "Done".into();
        let commit = write_commit(&repo.repo, &ours, &Event::Created, &[seen]).unwrap();
        assert!(crate::git::refs::compare_and_swap(&repo.repo, &name, Some(seen), commit, "x").is_err());
        assert_eq!(crate::git::refs::target(&repo.repo, &name).unwrap(), Some(now));
        // The board's transition re-reads, and refuses a move from a state the task left.
        let e = board.transition(&t.id, "done", Some("ready")).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert_eq!(board.read(&t.id).unwrap().1.state, "Running");
    }

    #[test]
    fn a_run_ends_with_one_commit_whose_comment_stands_even_when_the_move_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_repo, board) = board_in(dir.path());
        let new = |title: &str| {
            board
                .create(&NewTask {
                    title: title.into(),
                    state: Some("running".into()),
                    ..NewTask::default()
                })
                .unwrap()
        };
        let ran = new("Ran");
        let moved = board.comment_and_move(&ran.id, "all good", "done", "running").unwrap();
        assert_eq!(moved.unwrap().to, "Done");
        let (_, task) = board.read(&ran.id).unwrap();
        assert_eq!(
            (task.state.as_str(), task.comments[0].body.as_str()),
            ("Done", "all good")
        );
        let events: Vec<String> = board.chain(&ran.id).unwrap().into_iter().map(|h| h.event).collect();
        assert_eq!(events, ["created", "moved"]);

        // A person cancelled the task while it ran: their move stands, the run's comment is kept.
        let cancelled = new("Cancelled");
        board.transition(&cancelled.id, "cancelled", Some("running")).unwrap();
        let refused = board
            .comment_and_move(&cancelled.id, "ran anyway", "done", "running")
            .unwrap()
            .unwrap_err();
        assert!(
            refused.summary_line().contains("not moved"),
            "{}",
            refused.summary_line()
        );
        let (_, task) = board.read(&cancelled.id).unwrap();
        assert_eq!((task.state.as_str(), task.comments.len()), ("Cancelled", 1));
    }

    #[test]
    fn merging_is_symmetric_and_loses_nothing() {
        let base = t("Backlog", &["a", "b"], &["c0"], "T", 0);
        let ours = t("Running", &["a", "x"], &["c0", "c1"], "T1", 5);
        let theirs = t("Done", &["a", "b", "y"], &["c0", "c2"], "T2", 4);
        let m1 = merge_tasks(&base, &ours, &theirs);
        let m2 = merge_tasks(&base, &theirs, &ours);
        assert_eq!(m1, m2);
        assert_eq!(m1.state, "Done");
        assert_eq!(m1.labels, ["a", "x", "y"]);
        assert_eq!(m1.title, "T1");
        let ids: Vec<&str> = m1.comments.iter().map(|c| c.id.as_str()).collect();
        assert!(ids.starts_with(&["c0"]) && ids.contains(&"c1") && ids.contains(&"c2"));
        assert_eq!(m1.comments.iter().filter(|c| c.author == MERGE_AUTHOR).count(), 2);
        // Merging the merge with either side again changes nothing.
        assert_eq!(merge_tasks(&ours, &m1, &ours), m1);
        // One side only: its change, no note.
        let m = merge_tasks(&base, &base, &ours);
        assert_eq!((m.state.as_str(), m.title.as_str()), ("Running", "T1"));
        assert_eq!(m.comments.len(), 2);
    }
}
