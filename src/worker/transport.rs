//! The worker's conversations with the remote: one `git fetch` of the board and the notes, and
//! atomic `git push`es whose outcome is sorted into what the protocol needs to know (won, lost a
//! race, refused for good, or not reached). Every conversation is counted: the round trips per
//! task are a figure the README reports.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::board::git::{TASKS_REF_PREFIX, tracking_prefix};
use crate::error::{Error, Result};
use crate::git::{WORKER_NOTES_PREFIX, git_command};

use super::claim::{CLAIMS_REF_PREFIX, claims_tracking_prefix};

/// Round trips to the remote, by kind.
#[derive(Debug, Default)]
pub struct Counters {
    pub fetches: AtomicU64,
    pub pushes: AtomicU64,
}

impl Counters {
    pub fn total(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed) + self.pushes.load(Ordering::Relaxed)
    }
}

/// How an atomic push ended.
#[derive(Debug)]
pub enum Pushed {
    /// Every ref was updated.
    Done,
    /// Someone else moved one of the refs first (a stale lease, a non-fast-forward, a ref that
    /// already exists, a lock the remote could not take): nothing was changed.
    Lost(String),
    /// The remote refused for a reason that will not go away by trying again (a hook, no push
    /// rights): nothing was changed.
    Refused(String),
    /// The remote could not be reached or the connection broke.
    Unreachable(String),
}

pub struct Transport {
    workdir: PathBuf,
    remote: String,
    /// The worker's own notes ref on the remote, `refs/notes/oc-worker/<name>`.
    notes_ref: String,
    /// Whether the notes ref was fetched once: after that only this worker moves it (another
    /// worker of the same name makes the publication lose a race, and its retry fetches them).
    notes_fetched: AtomicBool,
    pub counters: Counters,
}

impl Transport {
    pub fn new(workdir: &Path, remote: &str, notes_ref: &str) -> Transport {
        Transport {
            workdir: workdir.to_owned(),
            remote: remote.to_owned(),
            notes_ref: notes_ref.to_owned(),
            notes_fetched: AtomicBool::new(false),
            counters: Counters::default(),
        }
    }

    /// Where the worker's notes ref is fetched to.
    pub fn notes_tracking_ref(&self) -> String {
        let name = self.notes_ref.trim_start_matches(WORKER_NOTES_PREFIX);
        format!("{}{name}", crate::publish::worker_notes_tracking_prefix(&self.remote))
    }

    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// Fetch the remote's tasks and claims into remote-tracking refs (one round trip), pruning
    /// the claims that were released, and the first time this worker's notes. `Err` only when
    /// git cannot run; `Ok(Err(why))` when the remote was not reached.
    pub fn fetch_board(&self) -> Result<std::result::Result<(), String>> {
        let remote = &self.remote;
        let specs = [
            format!("+{TASKS_REF_PREFIX}*:{}*", tracking_prefix(remote)),
            format!("+{CLAIMS_REF_PREFIX}*:{}*", claims_tracking_prefix(remote)),
        ];
        if self.notes_fetched.load(Ordering::Relaxed) {
            return self.fetch(&specs, false);
        }
        let fetched = self.fetch(&specs, true)?;
        self.notes_fetched.store(fetched.is_ok(), Ordering::Relaxed);
        Ok(fetched)
    }

    /// Fetch the notes and one task and its claim (a publication's retry: smaller than the whole
    /// board, so that the window before the push is short).
    pub fn fetch_task(&self, task_id: &str) -> Result<std::result::Result<(), String>> {
        let remote = &self.remote;
        let specs = [
            format!("+{TASKS_REF_PREFIX}{task_id}:{}{task_id}", tracking_prefix(remote)),
            format!(
                "+{CLAIMS_REF_PREFIX}{task_id}*:{}{task_id}*",
                claims_tracking_prefix(remote)
            ),
        ];
        self.fetch(&specs, true)
    }

    /// One counted fetch of `specs`, and of the worker's own notes ref with `notes`, pruning what
    /// the remote no longer has. Only its own notes: the other workers' are no concern of this one.
    fn fetch(&self, specs: &[String], notes: bool) -> Result<std::result::Result<(), String>> {
        self.counters.fetches.fetch_add(1, Ordering::Relaxed);
        let remote = &self.remote;
        // The board's refs have short histories: sending them whole costs less than finding
        // common ground. Offering the tracking refs as haves took an exchange per batch of
        // them (a pause on the connection each) and had the remote read every one: at 8
        // workers a board fetch took 383 ms (median), 150 ms without. The notes' history is
        // long, so a fetch that brings them offers what the remote is known to have (without
        // negotiation tips, git would offer every run commit as common ground). The notes ref
        // is a pattern, so that a remote without this worker's notes yet is no error (it may
        // also bring a worker whose name extends this one's; only the exact ref is merged).
        let (config, tips, notes_spec) = if notes {
            let tips = vec![
                format!("--negotiation-tip={}*", tracking_prefix(remote)),
                format!("--negotiation-tip={}*", claims_tracking_prefix(remote)),
                format!("--negotiation-tip={}*", self.notes_tracking_ref()),
            ];
            let spec = format!("+{}*:{}*", self.notes_ref, self.notes_tracking_ref());
            (None, tips, Some(spec))
        } else {
            (Some(["-c", "fetch.negotiationAlgorithm=noop"]), Vec::new(), None)
        };
        let mut args: Vec<&str> = config.into_iter().flatten().collect();
        // No `git maintenance run --auto` after each fetch (a process per task): the objects
        // fetched are packed with the runs' own when the run's packs are merged.
        args.extend([
            "fetch",
            "--prune",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-auto-maintenance",
            "--quiet",
        ]);
        args.extend(tips.iter().map(String::as_str));
        args.extend(["--end-of-options", remote]);
        args.extend(specs.iter().map(String::as_str));
        args.extend(notes_spec.as_deref());
        let out = self.git(&args)?;
        if out.status.success() {
            return Ok(Ok(()));
        }
        let why = stderr_text(&out);
        // A lock file in this clone's way is no fault of the remote, and waiting does not
        // remove one that a killed git left.
        if why.contains("cannot lock ref") {
            return Err(Error::run("could not update the board's refs in this clone")
                .caused_by(why)
                .hint("a git process holds the lock file named above; if none is running (one was killed), remove that file and start the worker again"));
        }
        Ok(Err(why))
    }

    /// The tips of every ref the remote has, as it advertises them (one counted round trip):
    /// what a push to it will not send. `Ok(Err(why))` when the remote was not reached.
    pub fn advertised_tips(&self) -> Result<std::result::Result<Vec<gix::ObjectId>, String>> {
        self.counters.fetches.fetch_add(1, Ordering::Relaxed);
        let out = self.git(&["ls-remote", "--refs", "--end-of-options", &self.remote])?;
        if !out.status.success() {
            return Ok(Err(stderr_text(&out)));
        }
        Ok(Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| gix::ObjectId::from_hex(l.split('\t').next()?.as_bytes()).ok())
            .collect()))
    }

    /// One atomic push of `refspecs`, each ref guarded by a lease where `leases` names one
    /// (`ref:expected`, an empty expected value meaning the ref must not exist).
    pub fn push(&self, leases: &[String], refspecs: &[String]) -> Result<Pushed> {
        self.counters.pushes.fetch_add(1, Ordering::Relaxed);
        let lease_args: Vec<String> = leases.iter().map(|l| format!("--force-with-lease={l}")).collect();
        let mut args = vec!["push", "--porcelain", "--atomic"];
        args.extend(lease_args.iter().map(String::as_str));
        args.push("--end-of-options");
        args.push(&self.remote);
        args.extend(refspecs.iter().map(String::as_str));
        let out = self.git(&args)?;
        if out.status.success() {
            return Ok(Pushed::Done);
        }
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = stderr_text(&out);
        Ok(classify(&stdout, &stderr))
    }

    fn git(&self, args: &[&str]) -> Result<std::process::Output> {
        git_command(&self.workdir)
            .args(args)
            .output()
            .map_err(|e| Error::io("could not run git (is it installed?)", &e))
    }
}

fn stderr_text(out: &std::process::Output) -> String {
    // git's messages quote remote URLs; credentials in them are never shown.
    let text = crate::execution::secrets::redact_urls(&String::from_utf8_lossy(&out.stderr)).into_owned();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("To ") && !l.starts_with("hint:"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Sort a failed push's porcelain report into lost, refused or unreachable.
pub fn classify(stdout: &str, stderr: &str) -> Pushed {
    let mut lost = None;
    let mut refused = None;
    let mut failed = None;
    let mut any = false;
    for line in stdout.lines() {
        let mut fields = line.split('\t');
        let (Some(flag), Some(refs)) = (fields.next(), fields.next()) else {
            continue;
        };
        any = true;
        if flag != "!" {
            continue;
        }
        let summary = fields.next().unwrap_or("");
        let dst = refs.split(':').next_back().unwrap_or(refs);
        let what = format!("{dst} {summary}");
        if summary.contains("atomic push failed") || summary.contains("atomic transaction failed") {
            continue;
        }
        if summary.starts_with("[rejected]") || is_remote_race(summary) {
            match &mut lost {
                None => lost = Some(what),
                Some(all) => {
                    all.push_str(", ");
                    all.push_str(&what);
                }
            }
        } else if is_remote_failure(summary) {
            failed.get_or_insert(what);
        } else {
            refused.get_or_insert(what);
        }
    }
    if let Some(why) = refused {
        let hook = stderr
            .split("; ")
            .filter(|l| l.starts_with("remote:"))
            .collect::<Vec<_>>()
            .join("; ");
        return Pushed::Refused(if hook.is_empty() { why } else { format!("{why}; {hook}") });
    }
    // The remote could not store what was pushed (its own gc or disk): later may work.
    if let Some(why) = failed {
        return Pushed::Unreachable(why);
    }
    if let Some(why) = lost {
        return Pushed::Lost(why);
    }
    if !any && is_no_rights(stderr) {
        return Pushed::Refused(stderr.to_owned());
    }
    // A local remote reports a lost ref-lock race on stderr only.
    if RACES.iter().any(|r| stderr.contains(r)) {
        return Pushed::Lost(stderr.to_owned());
    }
    Pushed::Unreachable(stderr.to_owned())
}

/// A remote-side refusal that is a lost race: the ref moved between the advertisement and the
/// update.
fn is_remote_race(summary: &str) -> bool {
    remote_rejected_for(summary, &RACES)
}

/// Whether the remote rejected a ref for one of `reasons`.
fn remote_rejected_for(summary: &str, reasons: &[&str]) -> bool {
    summary.starts_with("[remote rejected]") && reasons.iter().any(|r| summary.contains(r))
}

/// What git says when a ref moved between the advertisement and the update.
const RACES: [&str; 4] = [
    "cannot lock ref",
    "failed to update ref",
    "but expected",
    "reference already exists",
];

/// A remote-side failure to take the pushed objects in, not a refusal: nothing was changed, and
/// no hook or permission said no (a concurrent `gc --auto` on the remote can cause it).
fn is_remote_failure(summary: &str) -> bool {
    remote_rejected_for(
        summary,
        &[
            "unable to migrate objects",
            "unpacker error",
            "unpack-objects abnormal exit",
            "index-pack abnormal exit",
        ],
    )
}

/// A refusal before any ref was looked at: the worker may read but not write.
fn is_no_rights(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    [
        "service not enabled",
        "access denied",
        "permission denied",
        "permission to",
        "403",
        "not authorized",
        "read-only",
        "write access",
    ]
    .iter()
    .any(|p| s.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_push_is_sorted_by_what_trying_again_can_change() {
        let stale = "To r\n!\tabc:refs/oc/claims/x\t[rejected] (stale info)\nDone\n";
        assert!(matches!(classify(stale, ""), Pushed::Lost(_)));
        let hook = "To r\n!\tabc:refs/oc/claims/x\t[remote rejected] (pre-receive hook declined)\n";
        assert!(matches!(
            classify(hook, "remote: no pushes here"),
            Pushed::Refused(w) if w.contains("hook declined")
        ));
        let lock = "!\tabc:refs/oc/claims/x\t[remote rejected] (cannot lock ref 'refs/oc/claims/x': is at 1 but expected 2)\n!\tdef:refs/oc/tasks/y\t[remote rejected] (atomic transaction failed)\n";
        assert!(matches!(classify(lock, ""), Pushed::Lost(_)));
        assert!(matches!(
            classify("", "fatal: remote error: service not enabled: /r.git"),
            Pushed::Refused(_)
        ));
        assert!(matches!(
            classify(
                "",
                "remote: error: cannot lock ref 'refs/notes/oc': is at 1 but expected 2"
            ),
            Pushed::Lost(_)
        ));
        assert!(matches!(
            classify("", "fatal: unable to connect to 127.0.0.1"),
            Pushed::Unreachable(_)
        ));
        // The remote failed to store the objects (its own gc ran meanwhile): back off, retry.
        let storage = "!\tabc:refs/notes/oc-worker/w1\t[remote rejected] (unable to migrate objects to permanent storage)\n!\tdef:refs/oc/tasks/y\t[remote rejected] (unable to migrate objects to permanent storage)\n";
        assert!(matches!(classify(storage, ""), Pushed::Unreachable(_)));
        let unpacker = "!\tabc:refs/oc/tasks/y\t[remote rejected] (unpacker error)\n";
        assert!(matches!(classify(unpacker, ""), Pushed::Unreachable(_)));
    }
}
