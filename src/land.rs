//! After a run: land its commit on the current branch (`git oc apply`), or throw its worktree
//! and branch away (`git oc discard`). Both read the run from its evidence and record what they
//! did by appending to it; neither rewrites anything recorded.

use std::path::PathBuf;

use serde::Serialize;

use crate::contracts::Timestamp;
use crate::error::{Error, Result};
use crate::evidence::files::{self, Summary};
use crate::evidence::message::EvidenceMessage;
use crate::evidence::store::{self, RunEvidence};
use crate::git::{Repo, git_command, refs};

/// A recorded run, as the tools after a run need it.
pub struct RecordedRun {
    pub run_id: String,
    /// The evidence ref and the commit it points at now.
    pub evidence_ref: String,
    pub evidence_commit: gix::ObjectId,
    pub message: EvidenceMessage,
    /// `summary.json`; absent for demo runs, which keep only the seed's files.
    pub summary: Option<Summary>,
    pub commit: Option<gix::ObjectId>,
    pub base: Option<gix::ObjectId>,
}

impl RecordedRun {
    /// The run named by `query` (a run id or a unique prefix of one).
    pub fn load(repo: &Repo, query: &str) -> Result<RecordedRun> {
        let run_id = store::resolve_run(&repo.repo, query).map_err(|e| {
            // A run in progress has no evidence yet: say so rather than "no run".
            let running = crate::execution::inflight::list(&repo.state_dir())
                .into_iter()
                .find(|(path, run)| run.run_id.starts_with(query.trim()) && crate::execution::inflight::is_live(path));
            match running {
                Some((_, run)) => Error::input(format!("run {} is still in progress", run.run_id))
                    .hint("wait for it to finish, or stop it (Ctrl-C in its terminal)"),
                None => e,
            }
        })?;
        let evidence = RunEvidence::open(&repo.repo, &run_id)?;
        let Some(entry) = evidence.entry.clone() else {
            return Err(Error::run(format!("{} is not a git-oc evidence commit", evidence.name))
                .hint("git-oc did not write it; inspect it with git log -1"));
        };
        let summary: Option<Summary> = evidence
            .read(files::SUMMARY)?
            .and_then(|b| serde_json::from_slice(&b).ok());
        let oid = |s: Option<&str>| s.and_then(|s| gix::ObjectId::from_hex(s.as_bytes()).ok());
        let commit = oid(entry.commit.as_deref());
        let base = match &summary {
            Some(s) => oid(s.base.as_deref()),
            // The demo keeps no summary: its evidence hangs on its commit, whose parent is the base.
            None => commit
                .and_then(|c| repo.repo.find_commit(c).ok())
                .and_then(|c| c.parent_ids().next().map(|p| p.detach())),
        };
        Ok(RecordedRun {
            run_id,
            evidence_ref: evidence.name.clone(),
            evidence_commit: evidence.commit,
            message: entry.message,
            summary,
            commit,
            base,
        })
    }

    /// Whether the run's process is still going.
    pub fn in_progress(&self, repo: &Repo) -> bool {
        crate::execution::inflight::list(&repo.state_dir())
            .into_iter()
            .any(|(path, run)| run.run_id == self.run_id && crate::execution::inflight::is_live(&path))
    }

    /// Record an event: `file` added to the evidence, the message gaining what `update` sets.
    pub(crate) fn append(
        &self,
        repo: &Repo,
        file: &str,
        bytes: Vec<u8>,
        update: impl FnOnce(&mut EvidenceMessage),
    ) -> Result<()> {
        self.append_files(repo, &[(file.to_owned(), bytes)], update)
    }

    /// Record an event that adds (or supersedes, in the new commit only) several files.
    pub(crate) fn append_files(
        &self,
        repo: &Repo,
        files: &[(String, Vec<u8>)],
        update: impl FnOnce(&mut EvidenceMessage),
    ) -> Result<()> {
        let mut message = self.message.clone();
        update(&mut message);
        crate::git::evidence::append_evidence_commit(
            &repo.repo,
            &self.evidence_ref,
            self.evidence_commit,
            files,
            &message.render(),
        )?;
        Ok(())
    }
}

/// How `git oc apply` lands a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LandMode {
    /// The run's commits replayed on the current branch, messages kept (`git cherry-pick`).
    CherryPick,
    /// One new commit with the run's change and message (`git merge --squash`).
    Squash,
    /// A merge commit joining the run branch (`git merge --no-ff`).
    Merge,
}

/// `landing.json`, appended to the run's evidence.
#[derive(Clone, Debug, Serialize)]
pub struct Landing {
    pub run_id: String,
    pub mode: LandMode,
    /// The branch it landed on (`HEAD` when detached).
    pub branch: String,
    /// The commit the branch was at before, and after.
    pub onto: String,
    pub commit: Option<String>,
    pub dry_run: bool,
    pub landed_at: Timestamp,
}

/// Land a run's change on the current branch of `repo`'s work tree.
pub fn apply(repo: &Repo, run: &RecordedRun, mode: LandMode, reviewed: bool, dry_run: bool) -> Result<Landing> {
    let hint_show = format!("see why with: git oc show {}", run.run_id);
    if run.message.rejected {
        return Err(
            Error::input(format!("run {} was rejected by the post-run gate", run.run_id))
                .hint("a rejected change is never landed; its commit is kept only under refs/oc/rejected/")
                .hint(hint_show),
        );
    }
    let outcome = run.message.outcome.as_str();
    let Some(commit) = run.commit.filter(|_| outcome == "executed") else {
        return Err(
            Error::input(format!("run {} has no change to land (outcome {outcome})", run.run_id)).hint(hint_show),
        );
    };
    if run.summary.as_ref().is_some_and(|s| s.needs_review) && !reviewed {
        return Err(
            Error::input(format!("run {} needs review before it lands", run.run_id)).hint(format!(
                "review it (git oc show {0}, git diff {0}), then pass --reviewed",
                run.run_id
            )),
        );
    }
    if repo.repo.find_commit(commit).is_err() {
        return Err(
            Error::input(format!("the commit of run {} is not in this repository", run.run_id))
                .hint("fetch it with git oc fetch"),
        );
    }
    let dirty = crate::git::snapshot::worktree_changes(&repo.repo)?;
    if !dirty.is_empty() {
        return Err(Error::input(format!(
            "your checkout has {} uncommitted change(s); git oc apply lands runs only on a clean checkout",
            dirty.len()
        ))
        .hint("commit or stash them first (git stash -u)"));
    }
    let branch = repo.current_branch().unwrap_or_else(|| "HEAD".to_owned());
    let onto = repo
        .resolve_base("HEAD")?
        .ok_or_else(|| Error::input("the current branch has no commit yet").hint("commit something first"))?;
    let workdir = repo.workdir().to_owned();
    let git = |args: &[&str]| -> Result<std::process::Output> {
        git_command(&workdir)
            .args(args)
            .output()
            .map_err(|e| Error::io("could not run git", &e))
    };
    let base = run.base.map(|b| b.to_string());
    // Would it apply? The same three-way merge, written nowhere.
    let mut check = vec![
        "merge-tree".to_owned(),
        "--write-tree".to_owned(),
        "--name-only".to_owned(),
    ];
    if mode != LandMode::Merge
        && let Some(base) = &base
    {
        check.push(format!("--merge-base={base}"));
    }
    check.push(onto.to_string());
    check.push(commit.to_string());
    let out = git(&check.iter().map(String::as_str).collect::<Vec<_>>())?;
    if !out.status.success() {
        let listing = String::from_utf8_lossy(&out.stdout);
        let conflicts: Vec<&str> = listing.lines().skip(1).take_while(|l| !l.is_empty()).collect();
        return Err(Error::run(format!(
            "run {} does not apply cleanly on {branch}: {} conflicting file(s)",
            run.run_id,
            conflicts.len().max(1)
        ))
        .caused_by(conflicts.join(", "))
        .hint("retry the run on the current branch (git oc retry), or land it by hand with git"));
    }
    let mut landing = Landing {
        run_id: run.run_id.clone(),
        mode,
        branch: branch.clone(),
        onto: onto.to_string(),
        commit: None,
        dry_run,
        landed_at: Timestamp::now(),
    };
    if dry_run {
        return Ok(landing);
    }
    let message = crate::git::commit_message(&repo.repo, commit)?;
    let ran = match mode {
        LandMode::CherryPick => {
            let range = match &base {
                Some(base) => format!("{base}..{commit}"),
                None => commit.to_string(),
            };
            git(&["cherry-pick", "--allow-empty", &range])
        }
        LandMode::Squash => git(&["merge", "--squash", &commit.to_string()]).and_then(|o| {
            if o.status.success() {
                git(&["commit", "-q", "-m", &message])
            } else {
                Ok(o)
            }
        }),
        LandMode::Merge => {
            let subject = message.lines().next().unwrap_or_default();
            let merge_message = format!(
                "Merge git-oc run {}: {subject}\n\n{}: {}\n",
                crate::contracts::prefix_chars(&run.run_id, 8),
                crate::evidence::message::trailer::RUN,
                run.run_id
            );
            git(&["merge", "--no-ff", "-m", &merge_message, &commit.to_string()])
        }
    }?;
    if !ran.status.success() {
        // Leave the checkout as it was.
        let _ = match mode {
            LandMode::CherryPick => git(&["cherry-pick", "--abort"]),
            LandMode::Squash | LandMode::Merge => git(&["reset", "-q", "--merge"]),
        };
        return Err(Error::run(format!("git could not land run {} on {branch}", run.run_id))
            .caused_by(String::from_utf8_lossy(&ran.stderr).trim().to_owned())
            .hint("your checkout is as it was; land the run by hand with git"));
    }
    let landed = repo.resolve_base("HEAD")?.map(|c| c.to_string());
    landing.commit = landed.clone();
    let bytes = crate::contracts::to_evidence_json(&landing);
    let note = format!("{} on {branch}", landed.unwrap_or_default());
    run.append(repo, files::LANDING, bytes, |m| m.landed = Some(note))?;
    Ok(landing)
}

/// What `git oc discard` removed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Discarded {
    pub run_id: String,
    pub worktree: Option<PathBuf>,
    pub branch: Option<String>,
    pub rejected_ref: Option<String>,
    pub evidence_ref: Option<String>,
}

/// Remove a finished run's worktree and branch now; with `evidence`, its evidence ref too.
pub fn discard(repo: &Repo, run: &RecordedRun, evidence: bool) -> Result<Discarded> {
    if run.in_progress(repo) {
        return Err(Error::input(format!("run {} is still in progress", run.run_id))
            .hint("wait for it to finish, or stop it (Ctrl-C in its terminal)"));
    }
    let main = repo
        .repo
        .main_repo()
        .map_err(|e| Error::git("could not open the main repository", e))?;
    // Under the mutex run creation and gc take, so nothing starts on this branch meanwhile.
    let _mutex = crate::git::worktree::StateMutex::lock(&repo.state_dir())?;
    let mut done = Discarded {
        run_id: run.run_id.clone(),
        ..Discarded::default()
    };
    let branch_ref = run.message.branch.as_ref().map(|b| format!("refs/heads/{b}"));
    if let Some(branch_ref) = &branch_ref {
        let head = format!("ref: {branch_ref}");
        for proxy in main
            .worktrees()
            .map_err(|e| Error::git("could not list the worktrees", e))?
        {
            let on_branch = crate::config::read::read_plain_text(&proxy.git_dir().join("HEAD"), 64 << 10)
                .is_some_and(|h| h.trim() == head);
            let Ok(path) = proxy.base() else { continue };
            if !on_branch {
                continue;
            }
            if Some(path.as_path()) == repo.repo.workdir() {
                return Err(Error::input("the run's worktree is the one you are in")
                    .hint("run git oc discard from another checkout"));
            }
            if path.exists() {
                main.remove_worktree(
                    &path,
                    gix::worktree::remove::Force::OverrideLock,
                    gix::progress::Discard,
                )
                .map_err(|e| Error::git(format!("could not remove worktree {}", path.display()), e))?;
            } else {
                let _ = std::fs::remove_dir_all(proxy.git_dir());
            }
            done.worktree = Some(path);
        }
        if let Some(tip) = refs::target(&main, branch_ref)? {
            // Only the branch as the run left it: work added since is not the run's to drop.
            let as_left = [run.commit, run.base].contains(&Some(tip));
            if !as_left {
                return Err(Error::input(format!(
                    "branch {} has moved since the run (it is at {})",
                    run.message.branch.as_deref().unwrap_or_default(),
                    crate::git::short(&tip)
                ))
                .hint("it holds work that is not the run's: delete it yourself with git branch -D if you mean to"));
            }
            refs::delete(&main, branch_ref, tip)?;
            done.branch = run.message.branch.clone();
        }
    }
    let rejected = format!("refs/oc/rejected/{}", run.run_id);
    if let Some(tip) = refs::target(&main, &rejected)? {
        refs::delete(&main, &rejected, tip)?;
        done.rejected_ref = Some(rejected.clone());
    }
    let agent = format!("{rejected}.agent");
    if let Some(tip) = refs::target(&main, &agent)? {
        refs::delete(&main, &agent, tip)?;
    }
    if evidence {
        crate::git::notes::remove_run_note(&main, &run.evidence_ref, run.evidence_commit)?;
        refs::delete(&main, &run.evidence_ref, run.evidence_commit)?;
        done.evidence_ref = Some(run.evidence_ref.clone());
    }
    Ok(done)
}
