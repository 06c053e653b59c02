//! Publishing evidence: `git oc push` and `git oc fetch` move the evidence refs, the notes and
//! the git board's tasks between repositories. gix cannot push, so the git binary does the
//! transfer (an argv, no shell); notes are fetched into a remote-tracking ref and merged block by
//! block, and tasks into `refs/oc/remotes/<remote>/tasks/` and merged task by task
//! (`board::git`), so that the changes of both sides survive; both are pushed without force.

use std::path::Path;

use gix::bstr::ByteSlice;
use gix::refs::transaction::PreviousValue;

use crate::board::git::{TASKS_REF_PREFIX, TasksMerge, merge_fetched, tracking_prefix};
use crate::error::{Error, Result};
use crate::git::{NOTES_REF, RUNS_REF_PREFIX, WORKER_NOTES_PREFIX, git_command};

/// The commits of the rejected runs (`refs/oc/rejected/<run id>` and `<run id>.agent`) beyond
/// the base each run started from, as its evidence records it.
fn kept_local(repo: &gix::Repository, workdir: &Path) -> Result<std::collections::HashSet<String>> {
    let kept = crate::git::refs::ids_under(repo, "refs/oc/rejected/")?;
    let mut bases = Vec::new();
    for name in kept.keys() {
        let run_id = name.trim_end_matches(".agent");
        let base = crate::evidence::store::RunEvidence::open(repo, run_id)
            .ok()
            .and_then(|e| e.summary())
            .and_then(|s| s.base)
            .and_then(|b| gix::ObjectId::from_hex(b.as_bytes()).ok());
        bases.extend(base);
    }
    crate::git::reach::beyond(repo, workdir, &["refs/oc/rejected/*"], &bases)
}

/// Whether a rejected run is kept here (`refs/oc/rejected/`), whose commits a push must not carry.
pub fn has_rejected_runs(repo: &gix::Repository) -> Result<bool> {
    let ctx = |e| Error::git("could not list the rejected runs", e);
    Ok(repo
        .references()
        .map_err(ctx)?
        .prefixed("refs/oc/rejected/")
        .map_err(ctx)?
        .next()
        .is_some())
}

/// Refuse to publish refs from which a commit git-oc keeps local can be reached: a rejected run's
/// commit, or one an agent made on the run branch (never gated by itself). git-oc never makes
/// such a ref, but an agent runs with the user's rights and could forge one, e.g. an evidence
/// ref whose parent is the rejected commit.
pub fn refuse_rejected_content(
    repo: &gix::Repository,
    workdir: &Path,
    published: &[&str],
    known: Option<&[gix::ObjectId]>,
) -> Result<()> {
    // No rejected run: nothing to look for, and no `git rev-list` to start (a worker publishes
    // once per task).
    if !has_rejected_runs(repo)? {
        return Ok(());
    }
    // With the remote's tips, what git-oc keeps local is each rejected run's commits beyond the
    // base its evidence records, and what the push sends is what the remote's tips do not
    // reach: no branch or remote-tracking ref an agent creates hides anything. Without them (a
    // worker's clone, where every ref the agent moved is put back), beyond every branch.
    let rejected = match known {
        Some(_) => kept_local(repo, workdir)?,
        None => crate::git::reach::beyond_branches(workdir, &["refs/oc/rejected/*"])?,
    };
    if rejected.is_empty() {
        return Ok(());
    }
    for reference in published {
        let reached = match known {
            Some(known) => crate::git::reach::beyond(repo, workdir, &[reference], known)?,
            None => crate::git::reach::beyond_branches(workdir, &[reference])?,
        };
        if let Some(object) = reached.intersection(&rejected).next() {
            // A pattern names the ref that reaches it.
            let culprit = if reference.contains('*') {
                let prefix = reference.trim_end_matches('*');
                run_git(
                    workdir,
                    &["for-each-ref", "--format=%(refname)", "--contains", object, prefix],
                )?
                .stdout
                .lines()
                .next()
                .map_or_else(|| (*reference).to_owned(), str::to_owned)
            } else {
                (*reference).to_owned()
            };
            return Err(Error::run(format!(
                "refusing to publish {culprit}: it reaches commit {object}, which git-oc keeps local (a change the post-run gate rejected, or a commit the agent made on the way)"
            ))
            .hint(
                "git-oc never writes such a ref (an agent may have): find it with git for-each-ref and delete it, \
                 or git oc discard the rejected run",
            ));
        }
    }
    Ok(())
}

/// Refuse notes whose ref names no commit (a blob, a tree): git-oc never writes one, and
/// neither merging nor publishing can read it.
fn refuse_broken_notes(repo: &gix::Repository) -> Result<()> {
    let Some(notes) = crate::git::refs::target(repo, NOTES_REF)? else {
        return Ok(());
    };
    let kind = repo
        .find_header(notes)
        .map_err(|e| Error::git("could not read the notes", e))?
        .kind();
    if kind == gix::object::Kind::Commit {
        return Ok(());
    }
    Err(Error::run(format!("{NOTES_REF} points at a {kind}, not a notes commit")).hint(format!(
        "git-oc never writes one (an agent may have): 'git reflog {NOTES_REF}' lists where it was; put it back with 'git update-ref {NOTES_REF} <commit>'"
    )))
}

/// Refuse to publish an evidence ref git-oc did not record: a name that is not a run id, or a
/// commit that is not an evidence commit for that run. git-oc writes nothing else under
/// `refs/oc/runs/`; an agent could (a made-up run, say, to pass for reviewed work).
pub fn refuse_foreign_evidence(repo: &gix::Repository) -> Result<()> {
    let (runs, skipped) = crate::evidence::store::list_runs(repo)?;
    // An event appended to a run's evidence that changes what the run recorded.
    for run in &runs {
        let Ok(tip) = gix::ObjectId::from_hex(run.evidence_commit.as_bytes()) else {
            continue;
        };
        if let Some(why) = crate::evidence::verify::check_chain(repo, tip, &run.run_id) {
            return Err(Error::run(format!("refusing to publish {}: {why}", run.evidence_ref)).hint(format!(
                "git-oc never writes such a commit (an agent may have): see the history with 'git log --format=%H%n%B {0}', then move the ref back to the last commit before it with 'git update-ref {0} <commit>'",
                run.evidence_ref
            )));
        }
    }
    if let Some(foreign) = skipped.iter().find(|s| s.reference.starts_with(RUNS_REF_PREFIX)) {
        return Err(Error::run(format!(
            "refusing to publish {}: {}",
            foreign.reference, foreign.why
        ))
        .hint(format!(
            "git-oc never writes such a ref (an agent may have): look at it with 'git show {0}', then delete it with 'git update-ref -d {0}'",
            foreign.reference
        )));
    }
    Ok(())
}

/// Refuse to publish a task or notes history that holds a commit of another kind: the new
/// commits (those the remote's tips `known` do not reach) of the tasks must each hold just
/// `task.json`, those of the notes just notes. An agent that adds its own commit as a parent of
/// a task or notes commit (a file it copied, a commit the gate rejected) would otherwise have
/// `git oc push` carry it to the remote.
pub fn refuse_foreign_history(
    repo: &gix::Repository,
    tasks: &[&str],
    notes: Option<gix::ObjectId>,
    known: &[gix::ObjectId],
) -> Result<()> {
    let ctx = |e: Box<dyn std::error::Error + Send + Sync>| {
        Error::run("could not walk the history to publish").caused_by(e.to_string())
    };
    // In process (a worker publishes once per task): a walk from the refs to publish that
    // stops at what the remote has.
    let hidden: Vec<gix::ObjectId> = known
        .iter()
        .copied()
        .filter(|id| repo.find_commit(*id).is_ok())
        .collect();
    type Valid = fn(&gix::Repository, gix::ObjectId) -> bool;
    let mut families: Vec<(String, Vec<gix::ObjectId>, &str, Valid)> = Vec::new();
    for t in tasks {
        let tips = match t.strip_suffix('*') {
            Some(prefix) => crate::git::refs::ids_under(repo, prefix)?.into_values().collect(),
            None => crate::git::refs::target(repo, t)?.into_iter().collect(),
        };
        families.push(((*t).to_owned(), tips, "task", holds_a_task));
    }
    if let Some(notes) = notes {
        families.push((NOTES_REF.to_owned(), vec![notes], "notes", holds_notes));
    }
    for (named, tips, what, valid) in families {
        if tips.is_empty() {
            continue;
        }
        let walk = repo
            .rev_walk(tips)
            .with_hidden(hidden.iter().copied())
            .all()
            .map_err(|e| ctx(e.into()))?;
        for info in walk {
            let id = info.map_err(|e| ctx(e.into()))?.id;
            if !valid(repo, id) {
                return Err(Error::run(format!(
                    "refusing to publish {named}: its history holds commit {id}, which is not a {what} commit"
                ))
                .hint(format!(
                    "git-oc never writes such a commit (an agent may have): see it with 'git show --stat {id}' and find the ref that reaches it with 'git for-each-ref --contains {id} {}'",
                    named.trim_end_matches('*')
                )));
            }
        }
    }
    Ok(())
}

/// Whether commit `id`'s tree is a task's: `task.json` and nothing else.
fn holds_a_task(repo: &gix::Repository, id: gix::ObjectId) -> bool {
    let Some(tree) = repo.find_commit(id).ok().and_then(|c| c.tree().ok()) else {
        return false;
    };
    let entries: Vec<_> = tree.iter().filter_map(|e| e.ok()).collect();
    entries.len() == 1 && entries[0].filename() == "task.json" && entries[0].mode().is_blob()
}

/// Whether commit `id`'s tree is a notes tree: blobs named by the object they annotate, in
/// fan-out directories or not.
fn holds_notes(repo: &gix::Repository, id: gix::ObjectId) -> bool {
    fn notes_tree(tree: &gix::Tree<'_>, prefix: usize) -> bool {
        tree.iter().all(|entry| {
            let Ok(entry) = entry else { return false };
            let name = entry.filename();
            let hex = name.iter().all(u8::is_ascii_hexdigit);
            if entry.mode().is_blob() {
                return hex && prefix + name.len() == 40;
            }
            if entry.mode().is_tree() && hex && name.len() == 2 && prefix + 2 < 40 {
                return entry
                    .object()
                    .ok()
                    .map(|o| o.into_tree())
                    .is_some_and(|sub| notes_tree(&sub, prefix + 2));
            }
            false
        })
    }
    repo.find_commit(id)
        .ok()
        .and_then(|c| c.tree().ok())
        .is_some_and(|tree| notes_tree(&tree, 0))
}

/// Refuse to publish while a task or a run is held (`board::held`) that `remote` does not have
/// already (one fetched while an agent ran is the remote's): published, a task an agent made
/// Ready would be run by every worker of the board, and a run it made up would be read as
/// evidence.
pub fn refuse_held(repo: &gix::Repository, workdir: &Path, remote: &str) -> Result<()> {
    use crate::board::held::{Kind, contains, held_all};
    let held = held_all(repo)?;
    if held.is_empty() {
        return Ok(());
    }
    let theirs = remote_refs(workdir, remote, &["refs/oc/*"])?;
    let published = |kind: Kind, id: &str, commit: gix::ObjectId| {
        let name = format!("{}{id}", kind.ref_prefix());
        theirs.iter().any(|(n, tip)| {
            *n == name && gix::ObjectId::from_hex(tip.as_bytes()).is_ok_and(|tip| contains(repo, tip, commit))
        })
    };
    for (kind, what, read, otherwise) in [
        (
            Kind::Task,
            "tasks",
            "git oc task show ",
            "if not, change or close it first",
        ),
        (
            Kind::Run,
            "runs",
            "git oc show ",
            "if you did not run it, delete it with 'git update-ref -d refs/oc/runs/<id>'",
        ),
        (
            Kind::Record,
            "autonomy records",
            "git show refs/oc/",
            "if no cycle of yours wrote it, delete it with 'git update-ref -d refs/oc/<id>'",
        ),
    ] {
        let unpublished: Vec<&str> = held
            .iter()
            .filter(|(of, id, commit)| *of == kind && !published(kind, id, *commit))
            .map(|(_, id, _)| id.as_str())
            .collect();
        let Some(first) = unpublished.first() else {
            continue;
        };
        return Err(Error::run(format!(
            "refusing to publish: {what} {} written while an agent ran and held",
            unpublished.join(", ")
        ))
        .hint(format!(
            "read each with '{read}{first}'; if it is what you want, 'git oc release {first}' lets it go out; {otherwise}"
        )));
    }
    Ok(())
}

/// Refuse to publish a note block git-oc did not write (`evidence::verify`): a block in the
/// notes commit `notes` that `published` (what the remote has, if anything) lacks, and that
/// names no run recorded here or says other than the run's evidence. Reviewers read the notes
/// with plain git as evidence; an agent can write them.
pub fn refuse_foreign_notes(
    repo: &gix::Repository,
    remote: &str,
    notes: gix::ObjectId,
    published: Option<gix::ObjectId>,
) -> Result<()> {
    if Some(notes) == published {
        return Ok(());
    }
    let foreign = crate::evidence::verify::foreign_blocks(repo, published, notes)?;
    match foreign.first() {
        None => Ok(()),
        Some(f) => Err(foreign_note_error(remote, f)),
    }
}

pub fn foreign_note_error(remote: &str, f: &crate::evidence::verify::Foreign) -> Error {
    Error::run(format!(
        "refusing to push to {remote:?}: the note on {} holds a block git-oc did not write ({:?}): {}",
        f.commit, f.block.headline, f.why
    ))
    .hint(format!(
        "git-oc never writes such a block (an agent may have): read it with 'git notes --ref=oc show {0}', take it out with 'git notes --ref=oc edit {0}', then push again",
        f.commit
    ))
}

/// Refuse to publish the value of a secret. Every object the push adds to the remote's copy of
/// git-oc's refs (what `published` reaches and the remote's `known` tips, or without them its
/// remote-tracking refs, do not: notes, evidence, tasks) is searched for the value of each secret
/// in `redactor`. git-oc redacts what it writes, so such a value was put there by someone
/// else, such as an agent that wrote the token it was given into a note or a task.
pub fn refuse_secrets(
    repo: &gix::Repository,
    workdir: &Path,
    remote: &str,
    published: &[&str],
    known: Option<&[gix::ObjectId]>,
    forms: Forms,
    redactor: &crate::execution::secrets::Redactor,
) -> Result<()> {
    let forms = forms == Forms::Refused;
    if redactor.is_empty() && !forms {
        return Ok(());
    }
    let mut args = vec![
        "rev-list".to_owned(),
        "--objects".to_owned(),
        "--no-object-names".to_owned(),
        "--ignore-missing".to_owned(),
        "--stdin".to_owned(),
    ];
    args.extend(published.iter().map(|p| crate::git::reach::rev_arg(p)));
    // Without the remote's tips, the remote-tracking refs stand for them (a clone no agent ran
    // in). With an agent about, only the tips the remote advertised will do: an agent can write
    // remote-tracking refs, and one that parked a blob there would have it skipped.
    let known = match known {
        Some(known) => known,
        None => {
            args.extend([
                "--not".to_owned(),
                format!("--remotes={remote}"),
                format!("--glob=refs/notes/remotes/{remote}/*"),
                format!("--glob=refs/oc/remotes/{remote}/*"),
            ]);
            &[]
        }
    };
    let negatives = crate::git::reach::negatives(repo, known);
    let out = crate::git::run_with_input(workdir, &args, negatives.as_bytes())?;
    let mut buf = Vec::new();
    for line in out.lines() {
        let Ok(id) = gix::ObjectId::from_hex(line.trim().as_bytes()) else {
            continue;
        };
        let Ok(Some(object)) = gix::objs::Find::try_find(&repo.objects, &id, &mut buf) else {
            continue;
        };
        if forms && let Some(found) = crate::execution::credentials::find(object.data).first() {
            return Err(Error::run(format!(
                "refusing to push to {remote:?}: {id} holds a credential ({})",
                found.kind
            ))
            .hint(format!(
                "git-oc redacts credentials in what it writes, so someone else put it there (an agent may have): find where with 'git log --all --find-object={id}', take it out of that history, then push again"
            )));
        }
        let names = redactor.names_in(object.data);
        if !names.is_empty() {
            let names = names.join(", ");
            return Err(Error::run(format!(
                "refusing to push to {remote:?}: {id} holds the value of {names}"
            ))
            .hint(format!(
                "git-oc redacts what it writes, so someone else put it there (an agent may have): find where with 'git log --all --find-object={id}' and remove it from that history (from the notes: 'git notes --ref=oc remove <commit>'), then push again"
            )));
        }
    }
    Ok(())
}

/// Whether [`refuse_secrets`] refuses a credential recognised by its form, whoever's it is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Forms {
    /// `git oc push`, which publishes git-oc's records only, all written with credentials
    /// redacted: a private key or a token there was copied in by an agent.
    Refused,
    /// A run's branch: the agent's change, which may hold a test's fake key; the values of the
    /// environment's secrets are refused all the same.
    Allowed,
}

/// The URL `git push` uses for `remote` (its push URL, else its URL); empty when it has none.
pub fn push_url(repo: &gix::Repository, remote: &str) -> String {
    repo.find_remote(remote)
        .ok()
        .and_then(|r| r.url(gix::remote::Direction::Push).map(|u| u.to_bstring().to_string()))
        .unwrap_or_default()
}

/// `refs/notes/remotes/<remote>/oc`: where a remote's notes are fetched to before merging.
pub fn notes_tracking_ref(remote: &str) -> String {
    format!("refs/notes/remotes/{remote}/oc")
}

/// `refs/notes/remotes/<remote>/oc-worker/`: where the workers' notes refs are fetched to.
pub fn worker_notes_tracking_prefix(remote: &str) -> String {
    format!("refs/notes/remotes/{remote}/oc-worker/")
}

/// The notes commit last fetched from `remote`.
fn tracked_notes(repo: &gix::Repository, remote: &str) -> Result<gix::ObjectId> {
    let ctx = |e| Error::git("could not read the fetched notes", e);
    Ok(repo
        .find_reference(notes_tracking_ref(remote).as_str())
        .map_err(ctx)?
        .peel_to_id()
        .map_err(ctx)?
        .detach())
}

/// Check that `remote` is a configured remote with a usable name.
pub fn validate_remote(repo: &gix::Repository, remote: &str) -> Result<()> {
    let hint = "list remotes with 'git remote -v', or add one with 'git remote add <name> <url>'";
    if remote.is_empty() || remote.starts_with('-') || remote.contains(char::is_whitespace) {
        return Err(Error::input(format!("invalid remote name {remote:?}")).hint(hint));
    }
    if gix::refs::FullName::try_from(notes_tracking_ref(remote)).is_err() {
        return Err(Error::input(format!("invalid remote name {remote:?}")).hint(hint));
    }
    if repo.find_remote(remote).is_err() {
        return Err(Error::input(format!("no remote named {remote:?}")).hint(hint));
    }
    Ok(())
}

/// The remote to use when none is given: `origin`, or the only remote there is.
pub fn default_remote(repo: &gix::Repository) -> Result<String> {
    let names: Vec<String> = repo
        .remote_names()
        .into_iter()
        .map(|n| n.to_str_lossy().into_owned())
        .collect();
    if names.iter().any(|n| n == "origin") {
        return Ok("origin".into());
    }
    match names.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(Error::input("this repository has no remote").hint("add one with 'git remote add origin <url>'")),
        _ => Err(
            Error::input(format!("several remotes and none named origin: {}", names.join(", ")))
                .hint("name the remote, e.g. git oc push upstream"),
        ),
    }
}

struct GitOutput {
    success: bool,
    stdout: String,
    stderr: String,
}

fn run_git(workdir: &Path, args: &[&str]) -> Result<GitOutput> {
    let out = git_command(workdir)
        .args(args)
        .output()
        .map_err(|e| Error::io("could not run git (is it installed?)", &e))?;
    Ok(GitOutput {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        // git's messages quote remote URLs; credentials in them are never shown.
        stderr: crate::execution::secrets::redact_urls(&String::from_utf8_lossy(&out.stderr)).into_owned(),
    })
}

/// The refs the remote has matching `patterns` (one network round trip).
fn remote_refs(workdir: &Path, remote: &str, patterns: &[&str]) -> Result<Vec<(String, String)>> {
    let mut args = vec!["ls-remote", "--refs", "--end-of-options", remote];
    args.extend_from_slice(patterns);
    let out = run_git(workdir, &args)?;
    if !out.success {
        return Err(Error::run(format!("could not reach remote {remote:?}"))
            .caused_by(out.stderr.trim().to_owned())
            .hint("check the remote's URL and your access with 'git ls-remote'"));
    }
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('\t').map(|(id, name)| (name.to_owned(), id.to_owned())))
        .collect())
}

#[derive(Debug, Default, serde::Serialize)]
pub struct NotesMerge {
    /// `created`, `up_to_date`, `fast_forward` or `merged`.
    pub how: &'static str,
    /// Notes that existed on both sides with different blocks and were combined.
    pub combined: usize,
    /// Notes only the other side had.
    pub added: usize,
}

impl NotesMerge {
    /// Add another merge into this one: the counts add up, and `how` says the most that happened.
    fn absorb(&mut self, other: NotesMerge) {
        let rank = |how: &str| {
            ["", "up_to_date", "created", "fast_forward", "merged"]
                .iter()
                .position(|h| *h == how)
        };
        if rank(other.how) > rank(self.how) {
            self.how = other.how;
        }
        self.added += other.added;
        self.combined += other.combined;
    }
}

#[derive(Debug, Default, serde::Serialize)]
pub struct FetchReport {
    pub remote: String,
    pub new_runs: usize,
    pub notes: Option<NotesMerge>,
    /// The board's tasks, when the remote has any.
    pub tasks: Option<TasksMerge>,
    pub rejected: Vec<String>,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct PushReport {
    pub remote: String,
    pub new_runs: usize,
    pub up_to_date_runs: usize,
    pub notes: &'static str,
    pub notes_merge: Option<NotesMerge>,
    /// Tasks the remote did not have, and tasks it had older versions of.
    pub new_tasks: usize,
    pub updated_tasks: usize,
    /// The remote's tasks merged here before pushing, when it has any.
    pub tasks_merge: Option<TasksMerge>,
}

/// Fetch the remote's evidence refs (never overwriting a local one) and merge its notes.
#[tracing::instrument(level = "debug", skip(repo, workdir))]
pub fn fetch(repo: &gix::Repository, workdir: &Path, remote: &str) -> Result<FetchReport> {
    validate_remote(repo, remote)?;
    refuse_broken_notes(repo)?;
    crate::git::refs::clear_dead_edits(repo);
    let before = count_runs(repo)?;
    let worker_notes_pattern = format!("{WORKER_NOTES_PREFIX}*");
    let theirs = remote_refs(workdir, remote, &["refs/oc/*", NOTES_REF, &worker_notes_pattern])?;
    let notes: Vec<_> = theirs.iter().filter(|(n, _)| n == NOTES_REF).collect();
    let worker_notes = theirs.iter().any(|(n, _)| n.starts_with(WORKER_NOTES_PREFIX));
    let has_tasks = theirs.iter().any(|(n, _)| n.starts_with(TASKS_REF_PREFIX));
    let mut refspecs = Vec::new();
    if theirs.iter().any(|(n, _)| n.starts_with(RUNS_REF_PREFIX)) {
        refspecs.push(format!("{RUNS_REF_PREFIX}*:{RUNS_REF_PREFIX}*"));
    }
    if has_tasks {
        // Forced, but into remote-tracking refs: local tasks are merged, never replaced.
        refspecs.push(format!("+{TASKS_REF_PREFIX}*:{}*", tracking_prefix(remote)));
    }
    // Autonomy snapshots and cycle reports: one immutable ref each, fetched like runs.
    for prefix in crate::autonomy::store::PREFIXES {
        if theirs.iter().any(|(n, _)| n.starts_with(prefix)) {
            refspecs.push(format!("{prefix}*:{prefix}*"));
        }
    }
    if !notes.is_empty() {
        // Forced, but into a remote-tracking ref: the local notes are merged, never replaced.
        refspecs.push(format!("+{NOTES_REF}:{}", notes_tracking_ref(remote)));
    }
    if worker_notes {
        refspecs.push(format!(
            "+{WORKER_NOTES_PREFIX}*:{}*",
            worker_notes_tracking_prefix(remote)
        ));
    }
    let mut report = FetchReport {
        remote: remote.to_owned(),
        ..FetchReport::default()
    };
    if !refspecs.is_empty() {
        let mut args = vec![
            "fetch",
            "--porcelain",
            "--no-tags",
            "--no-write-fetch-head",
            "--end-of-options",
            remote,
        ];
        args.extend(refspecs.iter().map(String::as_str));
        let out = run_git(workdir, &args)?;
        for line in out.stdout.lines() {
            if line.starts_with('!') {
                report
                    .rejected
                    .push(line.split_whitespace().last().unwrap_or(line).to_owned());
            }
        }
        if !out.success && report.rejected.is_empty() {
            return Err(Error::run(format!("git fetch from {remote:?} failed")).caused_by(out.stderr.trim().to_owned()));
        }
    }
    if !notes.is_empty() {
        let tracking = tracked_notes(repo, remote)?;
        report.notes = Some(merge_notes(repo, tracking)?);
    }
    if worker_notes {
        // Each worker's notes ref is folded into refs/notes/oc, which `git oc push` publishes.
        let ctx = |e| Error::git("could not read the workers' fetched notes", e);
        let tracking = worker_notes_tracking_prefix(remote);
        let refs = repo.references().map_err(ctx)?;
        let mut tips = Vec::new();
        for r in refs.prefixed(tracking.as_str()).map_err(ctx)?.flatten() {
            let mut r = r;
            tips.push(r.peel_to_id().map_err(ctx)?.detach());
        }
        for tip in tips {
            let merged = merge_notes(repo, tip)?;
            report.notes.get_or_insert_with(NotesMerge::default).absorb(merged);
        }
    }
    if has_tasks {
        report.tasks = Some(merge_fetched(repo, &tracking_prefix(remote), &board_states(workdir))?);
    }
    report.new_runs = count_runs(repo)?.saturating_sub(before);
    Ok(report)
}

/// Push every evidence ref and the notes, after merging the remote's notes so that the notes
/// push is a fast-forward. The push is atomic: all refs or none.
#[tracing::instrument(level = "debug", skip(repo, workdir))]
pub fn push(repo: &gix::Repository, workdir: &Path, remote: &str) -> Result<PushReport> {
    validate_remote(repo, remote)?;
    crate::git::refs::clear_dead_edits(repo);
    refuse_foreign_evidence(repo)?;
    refuse_held(repo, workdir, remote)?;
    let mut refspecs = vec![format!("{RUNS_REF_PREFIX}*:{RUNS_REF_PREFIX}*")];
    if !crate::board::git::task_ids(repo).is_empty() {
        refspecs.push(format!("{TASKS_REF_PREFIX}*:{TASKS_REF_PREFIX}*"));
    }
    for prefix in crate::autonomy::store::PREFIXES {
        if !crate::autonomy::store::ids(repo, prefix).is_empty() {
            refspecs.push(format!("{prefix}*:{prefix}*"));
        }
    }
    let pushed = push_with_notes(repo, workdir, remote, &refspecs, &|_| {
        "check the remote's permissions and hooks for refs/oc/* and refs/notes/oc".to_owned()
    })?;
    let mut report = PushReport {
        remote: remote.to_owned(),
        notes_merge: pushed.notes_merge,
        tasks_merge: pushed.tasks_merge,
        ..PushReport::default()
    };
    for line in &pushed.lines {
        match line.flag.as_str() {
            "*" if line.dst.starts_with(RUNS_REF_PREFIX) => report.new_runs += 1,
            "=" if line.dst.starts_with(RUNS_REF_PREFIX) => report.up_to_date_runs += 1,
            "*" if line.dst.starts_with(TASKS_REF_PREFIX) => report.new_tasks += 1,
            " " if line.dst.starts_with(TASKS_REF_PREFIX) => report.updated_tasks += 1,
            _ => {}
        }
    }
    report.notes = pushed.notes;
    Ok(report)
}

/// The notes commit a push gives the remote: the local notes' tree on top of the remote's tip
/// (`theirs`, already merged into `local`); `None` when the remote's notes
/// already hold that tree. The local history stays home: the commits an agent made in the
/// notes (and whatever it put in them and took out again) are never published, and neither
/// is the order in which runs wrote their notes.
fn notes_to_publish(
    repo: &gix::Repository,
    local: gix::ObjectId,
    theirs: Option<gix::ObjectId>,
) -> Result<Option<gix::ObjectId>> {
    use crate::changes::tree_of;
    let tree = tree_of(repo, local)?;
    if let Some(theirs) = theirs
        && tree_of(repo, theirs)? == tree
    {
        return Ok(None);
    }
    crate::git::notes::commit_tree(repo, tree, theirs).map(Some)
}

/// One ref as `git push --porcelain` reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PushedRef {
    /// `*` new, ` ` fast-forward, `+` forced, `-` deleted, `=` up to date, `!` rejected.
    pub flag: String,
    pub dst: String,
    pub summary: String,
}

/// What one atomic push did.
#[derive(Debug, Default)]
pub struct Pushed {
    pub lines: Vec<PushedRef>,
    /// `updated`, `up to date` or `none` (no notes to push).
    pub notes: &'static str,
    pub notes_merge: Option<NotesMerge>,
    /// The remote's tasks merged here first, when tasks are pushed and the remote has some.
    pub tasks_merge: Option<TasksMerge>,
}

/// Push `refspecs` (each a fully qualified `src:dst`) and `refs/notes/oc` in one atomic push,
/// without force, after fetching the remote's notes (and tasks, when `refspecs` push tasks) and
/// merging them into the local ones, so that no note block or task event is lost on either
/// side. When someone pushes notes or tasks in between, the merge and the push are tried again.
/// `hint` says what to check when the remote refuses.
pub fn push_with_notes(
    repo: &gix::Repository,
    workdir: &Path,
    remote: &str,
    refspecs: &[String],
    hint: &dyn Fn(&[PushedRef]) -> String,
) -> Result<Pushed> {
    validate_remote(repo, remote)?;
    refuse_broken_notes(repo)?;
    let mut published: Vec<&str> = refspecs.iter().map(|r| r.split(':').next().unwrap_or(r)).collect();
    published.push(NOTES_REF);
    let with_tasks = refspecs.iter().any(|r| r.starts_with(TASKS_REF_PREFIX));
    let with_runs = refspecs.iter().any(|r| r.starts_with(RUNS_REF_PREFIX));
    let runs_pattern = format!("{RUNS_REF_PREFIX}*");
    let redactor = crate::execution::secrets::Redactor::from_env();
    let tasks_pattern = format!("{TASKS_REF_PREFIX}*");
    let notes_fetch = format!("+{NOTES_REF}:{}", notes_tracking_ref(remote));
    let tasks_fetch = format!("+{TASKS_REF_PREFIX}*:{}*", tracking_prefix(remote));
    let mut last_error = None;
    for _attempt in 0..3 {
        let mut pushed = Pushed::default();
        let mut patterns = vec![NOTES_REF];
        if with_tasks {
            patterns.push(&tasks_pattern);
        }
        // The remote's evidence refs too, when secrets are to be looked for: what it has is
        // not searched again.
        if with_runs && !redactor.is_empty() {
            patterns.push(&runs_pattern);
        }
        // And its branches: what the remote has is what a push of these refs does not send.
        patterns.push("refs/heads/*");
        let theirs = remote_refs(workdir, remote, &patterns)?;
        let their_notes = theirs.iter().any(|(n, _)| n == NOTES_REF);
        let their_tasks = with_tasks && theirs.iter().any(|(n, _)| n.starts_with(TASKS_REF_PREFIX));
        if their_notes || their_tasks {
            let mut args = vec![
                "fetch",
                "--no-tags",
                "--no-write-fetch-head",
                "--end-of-options",
                remote,
            ];
            if their_notes {
                args.push(&notes_fetch);
            }
            if their_tasks {
                args.push(&tasks_fetch);
            }
            let out = run_git(workdir, &args)?;
            if !out.success {
                return Err(Error::run(format!("could not fetch the notes and tasks of {remote:?}"))
                    .caused_by(out.stderr.trim().to_owned()));
            }
        }
        if their_notes {
            let tracking = tracked_notes(repo, remote)?;
            pushed.notes_merge = Some(merge_notes(repo, tracking)?);
        }
        if their_tasks {
            pushed.tasks_merge = Some(merge_fetched(repo, &tracking_prefix(remote), &board_states(workdir))?);
        }
        let local_notes = crate::git::refs::target(repo, NOTES_REF)?;
        let known: Vec<gix::ObjectId> = theirs
            .iter()
            .filter_map(|(_, id)| gix::ObjectId::from_hex(id.as_bytes()).ok())
            .collect();
        let their_notes = theirs
            .iter()
            .find(|(n, _)| n == NOTES_REF)
            .and_then(|(_, id)| gix::ObjectId::from_hex(id.as_bytes()).ok());
        let notes = match local_notes {
            Some(local) => notes_to_publish(repo, local, their_notes)?,
            None => None,
        };
        if let Some(notes) = notes {
            refuse_foreign_notes(repo, remote, notes, their_notes)?;
        }
        let notes_hex = notes.map(|n| n.to_string());
        let scanned: Vec<&str> = published
            .iter()
            .copied()
            .filter(|r| *r != NOTES_REF)
            .chain(notes_hex.as_deref())
            .collect();
        refuse_rejected_content(repo, workdir, &scanned, Some(&known))?;
        let tasks: &[&str] = if with_tasks { &[&tasks_pattern] } else { &[] };
        refuse_foreign_history(repo, tasks, notes, &known)?;
        refuse_secrets(repo, workdir, remote, &scanned, Some(&known), Forms::Refused, &redactor)?;
        let mut args = vec!["push", "--porcelain", "--atomic", "--end-of-options", remote];
        let notes_spec = notes_hex.as_ref().map(|n| format!("{n}:{NOTES_REF}"));
        args.extend(refspecs.iter().map(String::as_str));
        args.extend(notes_spec.as_deref());
        let out = run_git(workdir, &args)?;
        let mut raced = false;
        let mut refused_for_itself = false;
        let mut rejected = Vec::new();
        for line in out.stdout.lines() {
            // `<flag>\t<src>:<dst>\t<summary>`, where the flag of a fast-forward is a space: it
            // must not be trimmed away.
            let mut fields = line.split('\t');
            let (Some(flag), Some(refs)) = (fields.next(), fields.next()) else {
                continue;
            };
            let summary = fields.next().unwrap_or("");
            let dst = refs.split(':').next_back().unwrap_or(refs);
            match flag {
                "*" | " " | "+" if dst == NOTES_REF => pushed.notes = "updated",
                "=" if dst == NOTES_REF => pushed.notes = "up to date",
                "!" => {
                    // Only a non-fast-forward of the notes or a task means someone pushed in
                    // between; a hook declining ("[remote rejected]") would decline again, and
                    // so would any other ref refused for itself. The refs an atomic push drops
                    // because another was refused say nothing either way.
                    if !summary.contains("atomic push failed") {
                        let shared = dst == NOTES_REF || dst.starts_with(TASKS_REF_PREFIX);
                        if shared && summary.starts_with("[rejected]") {
                            raced = true;
                        } else {
                            refused_for_itself = true;
                        }
                    }
                    rejected.push(format!("{dst} ({summary})"));
                }
                _ => {}
            }
            pushed.lines.push(PushedRef {
                flag: flag.to_owned(),
                dst: dst.to_owned(),
                summary: summary.to_owned(),
            });
        }
        if out.success {
            if pushed.notes.is_empty() {
                pushed.notes = if local_notes.is_some() { "up to date" } else { "none" };
            }
            return Ok(pushed);
        }
        let err = Error::run(format!(
            "the remote {remote:?} refused the push; nothing was changed there"
        ))
        .caused_by(if rejected.is_empty() {
            out.stderr.trim().to_owned()
        } else {
            rejected.join(", ")
        });
        if !raced || refused_for_itself {
            let hook = out.stderr.lines().find(|l| l.contains("remote:")).map(str::to_owned);
            return Err(match hook {
                Some(h) => err.caused_by(h),
                None => err,
            }
            .hint(hint(&pushed.lines)));
        }
        // Someone pushed notes or tasks in between: fetch, merge and try again.
        last_error = Some(err);
    }
    Err(last_error
        .unwrap_or_else(|| Error::run("the push did not succeed"))
        .hint("run the command again"))
}

/// The configured state names, for the merge rule; the original's when the configuration
/// cannot be read (fetching evidence does not depend on it).
pub(crate) fn board_states(workdir: &Path) -> crate::board::States {
    crate::config::Config::load(workdir)
        .ok()
        .and_then(|c| crate::board::States::from_config(&c.board).ok())
        .unwrap_or_default()
}

fn count_runs(repo: &gix::Repository) -> Result<usize> {
    let platform = repo
        .references()
        .map_err(|e| Error::git("could not list the evidence refs", e))?;
    Ok(platform
        .prefixed(RUNS_REF_PREFIX)
        .map_err(|e| Error::git("could not list the evidence refs", e))?
        .count())
}

/// Every note in a notes tree: (annotated object, note blob), whatever the fan-out.
fn notes_in_tree(repo: &gix::Repository, tree: gix::ObjectId) -> Result<Vec<(gix::ObjectId, gix::ObjectId)>> {
    let mut out = Vec::new();
    let mut stack = vec![(tree, String::new())];
    while let Some((tree_id, prefix)) = stack.pop() {
        let tree = repo
            .find_tree(tree_id)
            .map_err(|e| Error::git("could not read a notes tree", e))?;
        for entry in tree.iter() {
            let entry = entry.map_err(|e| Error::run("could not read a notes tree").caused_by(e.to_string()))?;
            let name = format!("{prefix}{}", entry.filename().to_str_lossy());
            let id = entry.object_id();
            if entry.mode().is_tree() {
                stack.push((id, name));
            } else if let Ok(object) = gix::ObjectId::from_hex(name.as_bytes()) {
                out.push((object, id));
            }
        }
    }
    Ok(out)
}

/// How far back [`held_before`] looks: the remote's notes gain one commit per push.
const PUBLISHED_NOTES_LOOKED_AT: usize = 1000;

/// Whether `tree` is the notes tree of `tip` or of one of its recent ancestors: the notes a
/// push published from here, which the remote went on from.
fn held_before(repo: &gix::Repository, tip: gix::ObjectId, tree: gix::ObjectId) -> Result<bool> {
    let ctx = |e: Box<dyn std::error::Error + Send + Sync>| {
        Error::run("could not read the remote's notes history").caused_by(e.to_string())
    };
    let walk = repo.rev_walk([tip]).all().map_err(|e| ctx(e.into()))?;
    for info in walk.take(PUBLISHED_NOTES_LOOKED_AT) {
        let id = info.map_err(|e| ctx(e.into()))?.id;
        let commit = repo.find_commit(id).map_err(|e| ctx(e.into()))?;
        if commit.tree_id().map_err(|e| ctx(e.into()))? == tree {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What moving the notes from `ours` (none: no notes yet) to `theirs` brings: notes on objects
/// that had none, and notes that gained blocks.
fn new_notes(repo: &gix::Repository, ours: Option<gix::ObjectId>, theirs: gix::ObjectId) -> Result<(usize, usize)> {
    let ctx = |e| Error::git("could not read the notes", e);
    let tree_of = |commit: gix::ObjectId| -> Result<gix::ObjectId> {
        Ok(repo.find_commit(commit).map_err(ctx)?.tree_id().map_err(ctx)?.detach())
    };
    let before: std::collections::HashMap<gix::ObjectId, gix::ObjectId> = match ours {
        Some(c) => notes_in_tree(repo, tree_of(c)?)?.into_iter().collect(),
        None => Default::default(),
    };
    let (mut added, mut changed) = (0, 0);
    for (object, blob) in notes_in_tree(repo, tree_of(theirs)?)? {
        match before.get(&object) {
            None => added += 1,
            Some(b) if *b != blob => changed += 1,
            Some(_) => {}
        }
    }
    Ok((added, changed))
}

/// Merge the notes commit `theirs` into `refs/notes/oc`: a fast-forward when one side contains
/// the other, else a merge commit in which every note holds the blocks of both sides.
pub fn merge_notes(repo: &gix::Repository, theirs: gix::ObjectId) -> Result<NotesMerge> {
    let ctx = |e| Error::git("could not merge the notes", e);
    for _attempt in 0..10 {
        let local = repo
            .try_find_reference(NOTES_REF)
            .map_err(ctx)?
            .map(|mut r| r.peel_to_id().map(|id| id.detach()))
            .transpose()
            .map_err(ctx)?;
        let Some(local) = local else {
            match crate::git::refs::set(
                repo,
                NOTES_REF,
                theirs,
                PreviousValue::MustNotExist,
                "notes: fetched by 'git oc'",
            ) {
                Ok(_) => {
                    let (added, combined) = new_notes(repo, None, theirs)?;
                    return Ok(NotesMerge {
                        how: "created",
                        added,
                        combined,
                    });
                }
                Err(_) => continue,
            }
        };
        let up_to_date = NotesMerge {
            how: "up_to_date",
            ..NotesMerge::default()
        };
        if local == theirs {
            return Ok(up_to_date);
        }
        // A push publishes the notes' tree on the remote's tip, not the local history
        // (`notes_to_publish`): the notes are compared by what they hold.
        let local_tree = crate::changes::tree_of(repo, local)?;
        let their_tree = crate::changes::tree_of(repo, theirs)?;
        if their_tree == local_tree {
            return Ok(up_to_date);
        }
        let base = repo.merge_base(local, theirs).ok().flatten().map(|b| b.detach());
        if base == Some(theirs) {
            return Ok(up_to_date);
        }
        let expected = PreviousValue::MustExistAndMatch(gix::refs::Target::Object(local));
        // A fast-forward: by history, or by content when theirs went on from the tree held
        // here (what a push published from here, see `notes_to_publish`), then as a merge
        // commit of their tree, so that no local commit leaves the history.
        let forward = if base == Some(local) {
            Some((theirs, "notes: fast-forward by 'git oc'"))
        } else if held_before(repo, theirs, local_tree)? {
            let merge = repo
                .new_commit("Notes merged by 'git oc'", their_tree, [local, theirs])
                .map_err(ctx)?
                .id;
            Some((merge, "notes: merged by 'git oc'"))
        } else {
            None
        };
        if let Some((to, message)) = forward {
            // A run's handle keeps what it writes in memory (the guard merges with one): on
            // disk before a ref names it.
            crate::git::pack::flush(repo)?;
            match crate::git::refs::set(repo, NOTES_REF, to, expected.clone(), message) {
                Ok(_) => {
                    let (added, combined) = new_notes(repo, Some(local), theirs)?;
                    return Ok(NotesMerge {
                        how: "fast_forward",
                        added,
                        combined,
                    });
                }
                Err(_) => continue,
            }
        }
        let mut state = gix::note::plumbing::State::new(local_tree, &repo.objects)
            .map_err(|e| Error::run("could not read the notes tree").caused_by(e.to_string()))?;
        let mut report = NotesMerge {
            how: "merged",
            ..NotesMerge::default()
        };
        let mut tree = local_tree;
        for (object, their_blob) in notes_in_tree(repo, their_tree)? {
            let ours = state
                .get(&object, &repo.objects)
                .map_err(|e| Error::run("could not read a note").caused_by(e.to_string()))?;
            let blob = match ours {
                None => {
                    report.added += 1;
                    their_blob
                }
                Some(b) if b == their_blob => continue,
                Some(b) => {
                    let ours_text = repo.find_blob(b).map_err(ctx)?.data.to_str_lossy().into_owned();
                    let their_text = repo
                        .find_blob(their_blob)
                        .map_err(ctx)?
                        .data
                        .to_str_lossy()
                        .into_owned();
                    let merged = crate::evidence::note::merge_notes(&ours_text, &their_text);
                    if merged == ours_text {
                        continue;
                    }
                    report.combined += 1;
                    repo.write_blob(merged.as_bytes()).map_err(ctx)?.detach()
                }
            };
            let edit = state
                .replace(object, blob, &repo.objects)
                .map_err(|e| Error::run("could not update the notes tree").caused_by(e.to_string()))?;
            tree = edit.tree;
        }
        if tree == local_tree {
            // Theirs holds nothing the notes here lack.
            return Ok(up_to_date);
        }
        let commit = repo
            .new_commit("Notes merged by 'git oc'", tree, [local, theirs])
            .map_err(ctx)?
            .id;
        crate::git::pack::flush(repo)?;
        match crate::git::refs::set(repo, NOTES_REF, commit, expected, "notes: merged by 'git oc'") {
            Ok(_) => return Ok(report),
            Err(_) => continue,
        }
    }
    Err(Error::run("refs/notes/oc kept changing while merging").hint("run the command again"))
}
