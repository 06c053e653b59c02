//! `git oc apply`, `git oc discard` and `git oc retry`: what to do with a run once it is done
//! (the work is in `crate::land` and `crate::session`).

use clap::Args;

use super::field;
use super::ui::Ui;
use crate::error::Result;
use crate::land::{LandMode, RecordedRun};

/// Land a run's change on the current branch
///
/// Replays the run's commits on the current branch (--cherry-pick, the default), or adds them as
/// one commit (--squash) or a merge commit (--merge); the messages keep the Oc-Run trailer. A
/// rejected run never lands; a run that needs review lands only with --reviewed; the checkout
/// must be clean. The landing is appended to the run's evidence (landing.json, an Oc-Landed
/// trailer); nothing recorded is rewritten. --dry-run says whether it would apply cleanly.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Run id or unique prefix
    pub run: String,
    /// One new commit with the run's change and message
    #[arg(long, conflicts_with_all = ["merge", "cherry_pick"])]
    pub squash: bool,
    /// A merge commit joining the run's branch
    #[arg(long, conflicts_with = "cherry_pick")]
    pub merge: bool,
    /// The run's commits replayed on the current branch [default]
    #[arg(long)]
    pub cherry_pick: bool,
    /// Land a run the policy sent to review, after reviewing it
    #[arg(long)]
    pub reviewed: bool,
    /// Check that it would apply cleanly; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Remove a run's worktree and branch now
///
/// The run's evidence is kept (pass --evidence to delete it too, with the run's note block). A
/// run in progress is refused,
/// and so is a branch that moved since the run (it holds work that is not the run's).
#[derive(Debug, Args)]
pub struct DiscardArgs {
    /// Run id or unique prefix
    pub run: String,
    /// Also delete the run's evidence ref
    #[arg(long)]
    pub evidence: bool,
}

/// Run a run's task again, as a new run on a new branch
///
/// The same goal, task type, risk, priority, labels, paths, repository key, lane and backend
/// (the same program for --backend command), validation commands, timeouts and base commit.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// Run id or unique prefix
    pub run: String,
}

pub fn cmd_apply(ui: &mut Ui, args: &ApplyArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let run = RecordedRun::load(&repo, &args.run)?;
    let mode = if args.squash {
        LandMode::Squash
    } else if args.merge {
        LandMode::Merge
    } else {
        LandMode::CherryPick
    };
    let landing = crate::land::apply(&repo, &run, mode, args.reviewed, args.dry_run)?;
    ui.emit(&landing, || {
        let mut out = String::new();
        let verb = if landing.dry_run { "would land" } else { "landed" };
        field(&mut out, "run", &landing.run_id);
        field(&mut out, verb, &format!("on {} ({:?})", landing.branch, landing.mode));
        if let Some(c) = &landing.commit {
            field(&mut out, "commit", c);
        }
        out
    });
    Ok(0)
}

pub fn cmd_discard(ui: &mut Ui, args: &DiscardArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let run = RecordedRun::load(&repo, &args.run)?;
    let done = crate::land::discard(&repo, &run, args.evidence)?;
    ui.emit(&done, || {
        let mut out = String::new();
        field(&mut out, "run", &done.run_id);
        let removed = |what: Option<String>| what.unwrap_or_else(|| "none".to_owned());
        field(
            &mut out,
            "worktree",
            &removed(done.worktree.as_ref().map(|p| p.display().to_string())),
        );
        field(&mut out, "branch", &removed(done.branch.clone()));
        if let Some(r) = &done.rejected_ref {
            field(&mut out, "rejected", r);
        }
        field(
            &mut out,
            "evidence",
            done.evidence_ref.as_deref().map_or("kept", |_| "deleted"),
        );
        out
    });
    Ok(0)
}

pub fn cmd_retry(ui: &mut Ui, args: &RetryArgs) -> Result<i32> {
    let session = super::open_session()?;
    let run = RecordedRun::load(&session.repo, &args.run)?;
    let spec = crate::session::retry_spec(&session.repo, &run)?;
    let prepared = session.prepare(&spec)?;
    super::run_and_print(ui, prepared, super::run::json_document, super::run::report)
}
