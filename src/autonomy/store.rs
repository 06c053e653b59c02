//! The cycle's records in git: one ref per observation snapshot,
//! `refs/oc/observations/<obs_id>` (a commit whose tree holds `snapshot.json`), and one per cycle,
//! `refs/oc/cycles/<cyc_id>` (a commit whose tree holds `cycle.json` and `cycle.md`, its parent the
//! cycle's observation). Ids start with their UTC time, so their names sort oldest first; refs
//! are never rewritten, so `git oc push` and `fetch` move them without merging.

use gix::bstr::ByteSlice;

use crate::error::{Error, Result};

pub const OBSERVATIONS_REF_PREFIX: &str = "refs/oc/observations/";
pub const CYCLES_REF_PREFIX: &str = "refs/oc/cycles/";
/// What `git oc push` and `fetch` carry besides runs, notes and tasks.
pub const PREFIXES: [&str; 2] = [OBSERVATIONS_REF_PREFIX, CYCLES_REF_PREFIX];
pub const SNAPSHOT_FILE: &str = "snapshot.json";
pub const CYCLE_FILE: &str = "cycle.json";
pub const CYCLE_MARKDOWN: &str = "cycle.md";

/// An id for a record made at `now`: `<prefix>_<YYYYMMDDTHHMMSS><µs>Z_<4 hex>`, sortable by time.
pub fn new_id(prefix: &str, now: crate::contracts::Timestamp) -> String {
    let micros = now.as_micros();
    let ts = jiff::Timestamp::from_microsecond(micros).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{prefix}_{}{:06}Z_{}",
        ts.strftime("%Y%m%dT%H%M%S"),
        micros.rem_euclid(1_000_000),
        &random[..4]
    )
}

/// The records this process wrote: a cycle that writes one while an agent runs (the autonomy
/// cycle's own runs) is vouched for by memory the agent cannot write.
static WRITTEN_HERE: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Whether this process wrote the record ref `name`.
pub fn written_here(name: &str) -> bool {
    WRITTEN_HERE.lock().is_ok_and(|names| names.contains(name))
}

/// The ids under `prefix`, oldest first, without those held (`board::held`: written while an
/// agent ran by no cycle the run knew of): what later cycles may learn from.
pub fn trusted_ids(repo: &gix::Repository, prefix: &str) -> Vec<String> {
    let held = crate::board::held::held(repo, crate::board::held::Kind::Record).unwrap_or_default();
    let family = prefix.trim_start_matches("refs/oc/");
    ids(repo, prefix)
        .into_iter()
        .filter(|id| !held.contains_key(&format!("{family}{id}")))
        .collect()
}

/// Write `files` as a tree, commit it with `parent`, and create `<prefix><id>`.
pub fn write(
    repo: &gix::Repository,
    prefix: &str,
    id: &str,
    files: &[(String, Vec<u8>)],
    parent: Option<gix::ObjectId>,
    message: &str,
) -> Result<gix::ObjectId> {
    let ctx = |e| Error::git("could not record the autonomy cycle in git", e);
    let tree = crate::git::evidence::files_tree(repo, files, "could not record the autonomy cycle in git")?;
    let commit = repo.new_commit(message, tree, parent).map_err(ctx)?.id;
    let name = format!("{prefix}{id}");
    if let Ok(mut names) = WRITTEN_HERE.lock() {
        names.insert(name.clone());
    }
    crate::git::refs::create(repo, &name, commit, "git-oc: record an autonomy cycle")?;
    Ok(commit)
}

/// The ids under `prefix`, oldest first.
pub fn ids(repo: &gix::Repository, prefix: &str) -> Vec<String> {
    let mut ids: Vec<String> = crate::git::ref_names(repo, prefix)
        .into_iter()
        .filter_map(|n| n.strip_prefix(prefix).map(str::to_owned))
        .filter(|id| !id.contains('/'))
        .collect();
    ids.sort();
    ids
}

/// The bytes of `file` in the commit `<prefix><id>` points at, with that commit.
pub fn read(repo: &gix::Repository, prefix: &str, id: &str, file: &str) -> Result<(gix::ObjectId, Vec<u8>)> {
    let name = format!("{prefix}{id}");
    let ctx = |e| Error::git(format!("could not read {name}"), e);
    let commit_id = crate::git::refs::target(repo, &name)?
        .ok_or_else(|| Error::input(format!("no {name}")).hint("list them with git for-each-ref refs/oc/"))?;
    let commit = repo.find_commit(commit_id).map_err(ctx)?;
    let tree = commit.tree().map_err(ctx)?;
    let entry = tree.find_entry(file).ok_or_else(|| {
        Error::run(format!("{name} holds no {file}")).hint("it was not written by git oc autonomy-cycle")
    })?;
    let blob = entry.object().map_err(ctx)?;
    Ok((commit_id, blob.data.to_vec()))
}

/// The JSON document of `file` at `<prefix><id>`, `None` when it cannot be read or parsed (a
/// foreign or damaged record is skipped, never fatal).
pub fn read_json<T: serde::de::DeserializeOwned>(
    repo: &gix::Repository,
    prefix: &str,
    id: &str,
    file: &str,
) -> Option<T> {
    let (_, bytes) = read(repo, prefix, id, file).ok()?;
    serde_json::from_slice(bytes.as_bstr()).ok()
}

/// The one id `typed` names: an exact id, or a unique prefix (with or without the kind prefix).
pub fn resolve(repo: &gix::Repository, prefix: &str, typed: &str) -> Result<String> {
    let all = ids(repo, prefix);
    if all.iter().any(|i| i == typed) {
        return Ok(typed.to_owned());
    }
    let matches: Vec<&String> = all.iter().filter(|i| i.starts_with(typed)).collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::input(format!("no autonomy cycle {typed:?}"))
            .hint("list the cycles with git for-each-ref refs/oc/cycles/, or omit the id for the newest")),
        many => {
            Err(Error::input(format!("{typed:?} names {} autonomy cycles", many.len())).hint("type more of the id"))
        }
    }
}
