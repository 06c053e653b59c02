//! Reading evidence back from git: the runs under `refs/oc/runs/`, found by id or unique
//! prefix, and the files of one run. Listing reads only the evidence commits' messages (their
//! `Oc-*` trailers), never the evidence trees.

use gix::bstr::ByteSlice;

use crate::error::{Error, Result};

/// One run as listed from its evidence commit: what its message says, when, and where.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunEntry {
    pub time: crate::contracts::Timestamp,
    #[serde(flatten)]
    pub message: super::message::EvidenceMessage,
    pub evidence_ref: String,
    pub evidence_commit: String,
}

impl std::ops::Deref for RunEntry {
    type Target = super::message::EvidenceMessage;
    fn deref(&self) -> &Self::Target {
        &self.message
    }
}

/// A ref under `refs/oc/runs/` that is not a run git-oc recorded.
#[derive(Clone, Debug)]
pub struct Skipped {
    pub reference: String,
    pub why: String,
}

/// Parse an evidence commit message into the run it lists.
pub fn parse_entry(
    run_id: &str,
    message: &str,
    time: crate::contracts::Timestamp,
    reference: &str,
    commit: &str,
) -> Result<RunEntry, String> {
    let m = super::message::EvidenceMessage::parse(message)?;
    if m.run_id != run_id {
        return Err(format!("its Oc-Run trailer names run {}", m.run_id));
    }
    Ok(RunEntry {
        time: m.recorded.unwrap_or(time),
        message: m,
        evidence_ref: reference.to_owned(),
        evidence_commit: commit.to_owned(),
    })
}

/// Run ids are UUIDs; anything else under `refs/oc/runs/` is foreign.
pub fn is_run_id(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

/// Every run, newest first, and the refs that were skipped. With thousands of runs, reading
/// the loose refs and decompressing the evidence commits' messages is the cost: the refs are
/// read on this thread while the other cores decode the commits of the refs read so far.
pub fn list_runs(repo: &gix::Repository) -> Result<(Vec<RunEntry>, Vec<Skipped>)> {
    type Target = (String, String, gix::ObjectId);
    const BATCH: usize = 256;
    let ctx = |e| Error::git("could not list the evidence refs", e);
    let platform = repo.references().map_err(ctx)?;
    let mut skipped = Vec::new();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let shared = repo.clone().into_sync();
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<Target>>(threads * 4);
    let receiver = std::sync::Mutex::new(receiver);
    let decoded: Result<Vec<Vec<Result<RunEntry, Skipped>>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (shared, receiver) = (shared.clone(), &receiver);
                scope.spawn(move || {
                    let repo = shared.to_thread_local();
                    let objects = crate::git::loose::LooseFirst::new(&repo);
                    let mut buf = Vec::new();
                    let mut out = Vec::new();
                    loop {
                        // The lock is held only to take the next batch.
                        let batch = match receiver.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        let Ok(batch) = batch else { break };
                        out.extend(batch.iter().map(|t| decode_entry(&objects, &mut buf, t)));
                    }
                    out
                })
            })
            .collect();
        let mut batch = Vec::with_capacity(BATCH);
        let mut read_refs = || -> Result<()> {
            for namespace in super::Namespace::ALL {
                for reference in platform.prefixed(namespace.ref_prefix()).map_err(ctx)? {
                    if let Some(target) = target_of(reference, namespace, &mut skipped) {
                        batch.push(target);
                        if batch.len() == BATCH
                            && sender
                                .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                                .is_err()
                        {
                            return Ok(());
                        }
                    }
                }
            }
            if !batch.is_empty() {
                let _ = sender.send(std::mem::take(&mut batch));
            }
            Ok(())
        };
        let listed = read_refs();
        drop(sender);
        let decoded = workers.into_iter().map(|h| h.join().unwrap_or_default()).collect();
        listed.map(|()| decoded)
    });
    let mut runs = Vec::new();
    for result in decoded?.into_iter().flatten() {
        match result {
            Ok(entry) => runs.push(entry),
            Err(s) => skipped.push(s),
        }
    }
    runs.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.run_id.cmp(&a.run_id)));
    Ok((runs, skipped))
}

/// The name, run id and commit of one evidence ref, or why it is skipped.
fn target_of(
    reference: std::result::Result<gix::Reference<'_>, gix::error::Error>,
    namespace: super::Namespace,
    skipped: &mut Vec<Skipped>,
) -> Option<(String, String, gix::ObjectId)> {
    let mut reference = match reference {
        Ok(r) => r,
        Err(e) => {
            skipped.push(Skipped {
                reference: "(unreadable)".into(),
                why: e.to_string(),
            });
            return None;
        }
    };
    let name = reference.name().as_bstr().to_str_lossy().into_owned();
    let run_id = name.trim_start_matches(namespace.ref_prefix()).to_owned();
    if !is_run_id(&run_id) {
        skipped.push(Skipped {
            reference: name,
            why: "its name is not a run id".into(),
        });
        return None;
    }
    let id = match crate::git::refs::target_id(&mut reference) {
        Ok(id) => id,
        Err(e) => {
            skipped.push(Skipped {
                reference: name,
                why: format!("it cannot be resolved: {e}"),
            });
            return None;
        }
    };
    Some((name, run_id, id))
}

fn decode_entry(
    objects: &crate::git::loose::LooseFirst<'_>,
    buf: &mut Vec<u8>,
    (name, run_id, id): &(String, String, gix::ObjectId),
) -> Result<RunEntry, Skipped> {
    let skip = |why: String| Skipped {
        reference: name.to_owned(),
        why,
    };
    let data = match gix::objs::Find::try_find(objects, id, buf) {
        Ok(Some(data)) if data.kind == gix::object::Kind::Commit => data.data,
        _ => return Err(skip(format!("it does not point at a commit ({id})"))),
    };
    let commit = gix::objs::CommitRefIter::from_bytes(data, id.kind());
    let time = commit
        .committer()
        .ok()
        .and_then(|c| c.time().ok())
        .map(|t| crate::contracts::Timestamp::from_micros(t.seconds * 1_000_000))
        .unwrap_or(crate::contracts::Timestamp::from_micros(0));
    // The message follows the first empty line, as gix's `message_raw_sloppy` finds it.
    let message = data.find(b"\n\n").map_or(&b""[..], |at| &data[at + 2..]).to_str_lossy();
    parse_entry(run_id, &message, time, name, &id.to_string())
        .map_err(|why| skip(format!("it is not a git-oc evidence commit: {why}")))
}

/// The full run id for `query`: a full id or a unique prefix of one.
pub fn resolve_run(repo: &gix::Repository, query: &str) -> Result<String> {
    let query = query.trim();
    let hint = "list runs with 'git oc runs'; on another clone, fetch them first with 'git oc fetch'";
    if query.is_empty() || query.starts_with('-') || !query.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(Error::input(format!("{query:?} is not a run id")).hint(hint));
    }
    let ctx = |e| Error::git("could not list the evidence refs", e);
    let platform = repo.references().map_err(ctx)?;
    let mut references = Vec::new();
    for namespace in super::Namespace::ALL {
        references.extend(
            platform
                .prefixed(namespace.ref_prefix())
                .map_err(ctx)?
                .filter_map(|r| r.ok()),
        );
    }
    let mut matches: Vec<String> = references
        .into_iter()
        .map(|r| {
            let name = r.name().as_bstr().to_str_lossy().into_owned();
            let prefix = super::Namespace::of_ref(&name).map_or("", |n| n.ref_prefix());
            name.trim_start_matches(prefix).to_owned()
        })
        .filter(|id| id.starts_with(&query.to_ascii_lowercase()))
        .collect();
    matches.sort();
    matches.dedup();
    match matches.len() {
        0 => Err(Error::input(format!("no run {query}")).hint(hint)),
        1 => Ok(matches.remove(0)),
        n => {
            let shown: Vec<&str> = matches.iter().take(10).map(String::as_str).collect();
            Err(
                Error::input(format!("run id prefix {query} is ambiguous: {n} runs match"))
                    .caused_by(format!(
                        "candidates: {}{}",
                        shown.join(", "),
                        if n > 10 { ", …" } else { "" }
                    ))
                    .hint("give more characters of the run id"),
            )
        }
    }
}

/// One run's evidence commit, opened once to list, describe and read its files.
pub struct RunEvidence<'repo> {
    /// The evidence ref, e.g. `refs/oc/runs/<run_id>`.
    pub name: String,
    pub commit: gix::ObjectId,
    tree: gix::Tree<'repo>,
    /// The run as `git oc runs` lists it; `None` when the commit message is not git-oc's.
    pub entry: Option<RunEntry>,
}

impl<'repo> RunEvidence<'repo> {
    pub fn open(repo: &'repo gix::Repository, run_id: &str) -> Result<Self> {
        // A demo run's evidence is apart from real runs'; a run id names one run either way.
        let name = super::Namespace::ALL
            .into_iter()
            .map(|n| format!("{}{run_id}", n.ref_prefix()))
            .find(|name| repo.try_find_reference(name.as_str()).ok().flatten().is_some())
            .unwrap_or_else(|| format!("{}{run_id}", super::Namespace::Runs.ref_prefix()));
        let ctx = |e| Error::git(format!("could not read {name}"), e);
        let mut reference = repo.find_reference(name.as_str()).map_err(ctx)?;
        let id = reference.peel_to_id().map_err(ctx)?.detach();
        let commit = repo.find_commit(id).map_err(|e| {
            Error::run(format!("{name} does not point at an evidence commit"))
                .caused_by(e.to_string())
                .hint("git-oc did not write this ref; inspect it with 'git cat-file -t' and delete it with 'git update-ref -d'")
        })?;
        let tree = commit.tree().map_err(ctx)?;
        Ok(RunEvidence {
            name: name.clone(),
            commit: id,
            tree,
            entry: decode_entry(
                &crate::git::loose::LooseFirst::new(repo),
                &mut Vec::new(),
                &(name.clone(), run_id.to_owned(), id),
            )
            .ok(),
        })
    }

    /// The names of the run's evidence files.
    pub fn files(&self) -> Result<Vec<String>> {
        self.tree
            .iter()
            .map(|entry| {
                entry
                    .map(|e| e.filename().to_str_lossy().into_owned())
                    .map_err(|e| Error::run("could not read an evidence tree").caused_by(e.to_string()))
            })
            .collect()
    }

    /// One evidence file's exact bytes, or `None` when the run has no such file.
    pub fn read(&self, file: &str) -> Result<Option<Vec<u8>>> {
        let Some(entry) = self.tree.find_entry(file) else {
            return Ok(None);
        };
        let object = entry
            .object()
            .map_err(|e| Error::git(format!("could not read evidence file {file}"), e))?;
        Ok(Some(object.data.clone()))
    }

    /// The run's `summary.json`, when it has one that reads (a demo's evidence has none).
    pub fn summary(&self) -> Option<super::files::Summary> {
        let bytes = self.read(super::files::SUMMARY).ok()??;
        serde_json::from_slice(&bytes).ok()
    }
}
