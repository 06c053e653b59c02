//! The pull-request review loop (`git oc review`): git-oc's own open pull requests (its marker
//! in the body, or its run branch prefix; never anyone else's, never a fork's) go through a
//! self-review by the agent, then a human phase, and are merged through GitHub's API when the
//! rules say so. Every review and revision pass is a run with its own evidence; a revision is
//! committed on the pull request's branch and pushed (never forced). The state of each pull
//! request lives in git ([`state`]), so a restart resumes and two reviewers never act twice.
//!
//! [`review_pass`] is one pass over the eligible pull requests; `--watch` and the lanes loop
//! around it.

pub mod state;
pub mod text;

use std::path::Path;

use serde::Serialize;

use crate::config::review::{AfterMaxLoops, ReviewSection};
use crate::contracts::prefix_chars;
use crate::error::{Error, Result};
use crate::github::review::{IssueComment, ReviewPull};
use crate::github::{self, ApiError};
use crate::pipeline::RunContext;
use crate::session::{Session, TaskSpec};
use state::{Phase, ReviewState, Updated};
use text::{COMMENT_MARKER, VERDICT_FILE, Verdict};

/// The file each pass appends to its run's evidence, and the merge to the original run's.
pub const REVIEW_FILE: &str = "review.json";
pub const MERGE_FILE: &str = "merge.json";

/// What a pass is asked to do.
#[derive(Clone, Debug, Default)]
pub struct ReviewOptions {
    /// Only this pull request (it must be one git-oc opened).
    pub pr: Option<u64>,
}

/// What happened to one pull request in a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Merged through the API.
    Merged,
    /// The self-review found concerns and said so on the pull request.
    Concerns,
    /// The self-review passes are used up: people review it now.
    Escalated,
    /// The self-review agent left no usable verdict; retried next pass.
    NoVerdict,
    /// A revision for people's comments was committed to the branch and pushed.
    Revised,
    /// A revision pass changed nothing.
    Unchanged,
    /// Nothing to do until someone reacts, comments or approves.
    Waiting,
    /// GitHub would not merge it yet (405, 409); retried next pass.
    MergeRefused,
    /// Another reviewer is working on it.
    Busy,
    /// This pass failed for it (the error says why); the state is unchanged.
    Failed,
}

/// One pull request in a [`ReviewReport`].
#[derive(Clone, Debug, Serialize)]
pub struct PrReport {
    pub number: u64,
    pub url: String,
    pub title: String,
    /// The phase after the pass.
    pub phase: Phase,
    pub action: Action,
    /// Why: a merge's reason (`self_review_lgtm`, `thumbs_up_reaction`, …) or what it waits for.
    pub reason: Option<String>,
    /// The review and revision runs of this pass.
    pub runs: Vec<String>,
    /// The commit pushed to the branch by a revision, or the merge commit.
    pub commit: Option<String>,
    pub self_review_loops: u32,
    pub human_review_loops: u32,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

/// A pull request left alone, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub number: u64,
    pub reason: String,
}

/// What one pass did.
#[derive(Clone, Debug, Serialize)]
pub struct ReviewReport {
    pub repository: String,
    pub pull_requests: Vec<PrReport>,
    pub skipped: Vec<Skipped>,
}

impl ReviewReport {
    /// Whether any pull request's pass failed.
    pub fn failed(&self) -> bool {
        self.pull_requests.iter().any(|p| p.action == Action::Failed)
    }
}

/// One pass over the open pull requests git-oc opened in the repository at `dir` (or only
/// `options.pr`).
pub fn review_pass(dir: &Path, options: &ReviewOptions, cx: &RunContext) -> Result<ReviewReport> {
    let session = Session::open(dir)?;
    let settings = session.config.review.clone();
    if !settings.await_review() {
        return Err(Error::input("pull-request review is off for this repository")
            .hint("set [review] await_review = true in .oc/config.toml to let git-oc review and merge the pull requests it opened"));
    }
    // The pull request's base plays no part here; resolve needs one to be satisfied.
    let mut gh_settings = session.config.github.clone();
    gh_settings.base.get_or_insert_with(|| "main".to_owned());
    let target = crate::publication::resolve(&session.repo, &gh_settings, "HEAD", true)
        .map_err(|e| e.hint("git oc review needs the same [github] settings and token as git oc pr"))?;
    let Some(gh) = target.github.clone() else {
        return Err(Error::internal("a GitHub target without its repository"));
    };
    let client = github::Client::new(
        &gh.api_url,
        &gh.owner,
        &gh.name,
        Some(&gh.token),
        github::Options {
            timeout: std::time::Duration::from_secs(session.config.github.timeout()),
            rate_limits: crate::publication::Options::system(&session.config.github).rate_limits,
        },
    )
    .map_err(|e| api(e, &gh.full_name()))?;
    let reviewer = Reviewer {
        session: &session,
        settings: &settings,
        client: &client,
        remote: target.remote.clone(),
        repository: gh.full_name(),
        cx,
    };
    let mut report = ReviewReport {
        repository: reviewer.repository.clone(),
        pull_requests: Vec::new(),
        skipped: Vec::new(),
    };
    let pulls = match options.pr {
        Some(n) => {
            let pr = client.pull(n).map_err(|e| {
                if e.kind == github::ApiErrorKind::NotFound {
                    Error::input(format!("there is no pull request #{n} in {}", reviewer.repository))
                        .hint("run git oc review without --pr to review every pull request git-oc opened")
                } else {
                    api(e, &reviewer.repository)
                }
            })?;
            if let Some(why) = reviewer.ineligible(&pr) {
                return Err(Error::input(format!("pull request #{n} is not reviewed: {why}")).hint(
                    "git oc review reviews and merges only the open, ready pull requests git-oc opened; run it without --pr to see them",
                ));
            }
            vec![pr]
        }
        None => {
            let mut eligible = Vec::new();
            for pr in client.open_pulls().map_err(|e| api(e, &reviewer.repository))? {
                match reviewer.ineligible(&pr) {
                    Some(reason) => report.skipped.push(Skipped {
                        number: pr.number,
                        reason,
                    }),
                    None => eligible.push(pr),
                }
            }
            eligible.sort_by_key(|p| p.number);
            eligible
        }
    };
    for pr in pulls {
        // Ctrl-C: the pass in progress was stopped and recorded; leave the rest for next time.
        if cx.interrupt.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        report.pull_requests.push(reviewer.review(&pr));
    }
    Ok(report)
}

fn api(e: ApiError, repository: &str) -> Error {
    let hint = e.hint();
    let mut err = Error::run(format!("could not {} on GitHub ({repository})", e.action));
    if let Some(h) = hint {
        err = err.hint(h);
    }
    err.with_source(e)
}

struct Reviewer<'a> {
    session: &'a Session,
    settings: &'a ReviewSection,
    client: &'a github::Client,
    remote: String,
    repository: String,
    cx: &'a RunContext<'a>,
}

/// A pass's result before it is recorded: the state to keep and the report.
struct Step {
    action: Action,
    reason: Option<String>,
    runs: Vec<String>,
    commit: Option<String>,
    warnings: Vec<String>,
    /// Why the pass failed when it still counts (a revision run that did not pass).
    error: Option<String>,
}

impl Step {
    fn new(action: Action) -> Step {
        Step {
            action,
            reason: None,
            runs: Vec::new(),
            commit: None,
            warnings: Vec::new(),
            error: None,
        }
    }
    fn because(mut self, reason: impl Into<String>) -> Step {
        self.reason = Some(reason.into());
        self
    }
}

/// A pass run by the pipeline, and what its agent concluded.
struct PassRun {
    run_id: String,
    outcome: crate::pipeline::RunOutcome,
    verdict: std::result::Result<Verdict, String>,
}

impl Reviewer<'_> {
    /// Why `pr` is not git-oc's to review, or `None` when it is.
    fn ineligible(&self, pr: &ReviewPull) -> Option<String> {
        if pr.state != "open" {
            return Some(format!("it is {}", if pr.merged { "merged" } else { "closed" }));
        }
        if !pr.head_repository.eq_ignore_ascii_case(&self.repository) {
            return Some("its branch is in another repository (a fork)".into());
        }
        let prefix = self
            .session
            .config
            .run
            .branch()
            .split('{')
            .next()
            .unwrap_or("")
            .to_owned();
        let marked = pr.body.contains(crate::publication::MARKER_PREFIX);
        let by_branch = !prefix.is_empty() && pr.head.starts_with(&prefix);
        if !marked && !by_branch {
            return Some("git-oc did not open it".into());
        }
        if pr.draft {
            return Some("it is a draft".into());
        }
        None
    }

    fn repo(&self) -> &crate::git::Repo {
        &self.session.repo
    }

    /// One pull request: take the lease, act, record.
    fn review(&self, pr: &ReviewPull) -> PrReport {
        let repo = &self.repo().repo;
        let mut report = PrReport {
            number: pr.number,
            url: pr.url.clone(),
            title: pr.title.clone(),
            phase: Phase::SelfReview,
            action: Action::Failed,
            reason: None,
            runs: Vec::new(),
            commit: None,
            self_review_loops: 0,
            human_review_loops: 0,
            warnings: Vec::new(),
            error: None,
        };
        let claimed = state::update(repo, &self.repository, pr.number, "claim", |s| {
            if s.lease.as_ref().is_some_and(state::lease_live) {
                return None;
            }
            s.lease = Some(state::my_lease("review"));
            Some(())
        });
        let start = match claimed {
            Ok(Updated::Done(s, ())) => s,
            Ok(Updated::Declined(s)) => {
                report.phase = s.phase;
                report.action = Action::Busy;
                report.reason = s
                    .lease
                    .as_ref()
                    .map(|l| format!("another reviewer (pid {} on {}) is working on it", l.pid, l.host));
                report.self_review_loops = s.self_review_loops;
                report.human_review_loops = s.human_review_loops;
                return report;
            }
            Err(e) => {
                report.error = Some(e.summary_with_hints());
                return report;
            }
        };
        let mut next = start.clone();
        let result = self.act(pr, &mut next);
        let (step, failed) = match result {
            Ok(step) => (step, None),
            Err(e) => (Step::new(Action::Failed), Some(e.summary_with_hints())),
        };
        let mut step = step;
        if failed.is_some() {
            // Nothing of a failed pass counts except its runs and what went wrong.
            let runs = next.runs.clone();
            step.runs = runs.iter().filter(|r| !start.runs.contains(r)).cloned().collect();
            next = start.clone();
            next.runs = runs;
            next.last_error = failed.clone();
        }
        let recorded = if next == start && state::release_unchanged(repo, &self.repository, pr.number).unwrap_or(false)
        {
            Ok(())
        } else {
            state::update(repo, &self.repository, pr.number, step_name(step.action), |s| {
                merge_state(s, &next);
                s.lease = None;
                Some(())
            })
            .map(drop)
        };
        report.phase = next.phase;
        report.self_review_loops = next.self_review_loops;
        report.human_review_loops = next.human_review_loops;
        report.action = step.action;
        report.reason = step.reason;
        report.runs = step.runs;
        report.commit = step.commit;
        report.warnings = step.warnings;
        report.error = failed.or(step.error);
        if let Err(e) = recorded {
            report
                .warnings
                .push(format!("the review state could not be recorded: {}", e.summary_line()));
        }
        report
    }

    fn act(&self, pr: &ReviewPull, next: &mut ReviewState) -> Result<Step> {
        if let Some(pending) = next.pending_merge.clone() {
            if pending.sha == pr.head_sha {
                return self.merge(pr, &pending.reason, next, Step::new(Action::Merged));
            }
            // The branch moved since the approval: it no longer holds.
            next.pending_merge = None;
        }
        match next.phase {
            Phase::SelfReview => self.self_review(pr, next),
            Phase::HumanReview => self.human_review(pr, next),
            Phase::Merged => Ok(Step::new(Action::Waiting).because("git-oc merged it already")),
        }
    }

    fn self_review(&self, pr: &ReviewPull, next: &mut ReviewState) -> Result<Step> {
        self.fetch(pr)?;
        let diff = self.diff(pr)?;
        next.self_review_loops += 1;
        let pass = next.self_review_loops;
        let goal = text::self_review_goal(pr.number, &pr.title, &diff, self.settings.max_diff_bytes());
        let run = self.run_pass(
            pr,
            goal,
            &format!("oc/review/pr-{}-{{run}}", pr.number),
            &["LGTM", "CONCERNS"],
        )?;
        next.runs.push(run.run_id.clone());
        let mut step = Step::new(Action::Concerns);
        step.runs.push(run.run_id.clone());
        self.record_pass(&run, pr, "self_review", pass, &mut step);
        let max = self.settings.max_self_review_loops();
        let summary = match &run.verdict {
            Ok(v) if v.result == "LGTM" => {
                next.last_error = None;
                return self.merge(pr, "self_review_lgtm", next, step);
            }
            Ok(v) => {
                next.last_error = None;
                self.client
                    .comment(pr.number, &text::concerns_comment(pass, &v.summary, &run.run_id))
                    .map_err(|e| api(e, &self.repository))?;
                v.summary.clone()
            }
            Err(why) => {
                next.last_error = Some(format!("self-review pass {pass} (run {}): {why}", run.run_id));
                step.action = Action::NoVerdict;
                step.reason = Some(why.clone());
                format!("the self-review left no verdict: {why}")
            }
        };
        if pass >= max {
            next.phase = Phase::HumanReview;
            next.human_review_since = Some(self.cx.clock.now());
            self.client
                .comment(pr.number, &text::escalation_comment(pass, &summary, &run.run_id))
                .map_err(|e| api(e, &self.repository))?;
            step.action = Action::Escalated;
        }
        Ok(step)
    }

    fn human_review(&self, pr: &ReviewPull, next: &mut ReviewState) -> Result<Step> {
        let s = self.settings;
        let require = s.require_explicit_approval();
        let gh = |e| api(e, &self.repository);
        let allowed = |login: &str| {
            !self.is_bot(login)
                && (s.allowed_reviewers().is_empty()
                    || s.allowed_reviewers().iter().any(|a| a.eq_ignore_ascii_case(login)))
        };
        // 1. The timeout.
        let since = *next.human_review_since.get_or_insert_with(|| self.cx.clock.now());
        let elapsed = self.cx.clock.now().as_seconds() - since.as_seconds();
        let timed_out = elapsed >= 0 && elapsed as u64 >= s.human_review_timeout_seconds();
        if timed_out && !require {
            let hours = s.human_review_timeout_seconds() / 3600;
            self.client
                .comment(
                    pr.number,
                    &text::auto_merge_comment(&format!("human review timed out after {hours}h")),
                )
                .map_err(gh)?;
            return self.merge(pr, "human_review_timeout", next, Step::new(Action::Merged));
        }
        // 2. Green checks.
        if s.auto_merge_on_ci_green() && !require {
            let checks = self.client.commit_check_runs(&pr.head_sha).map_err(gh)?;
            let counted: Vec<_> = checks
                .iter()
                .filter(|c| !s.ignored_checks().iter().any(|i| c.name.contains(i.as_str())))
                .collect();
            let failed = counted
                .iter()
                .any(|c| matches!(c.conclusion.as_deref(), Some("failure" | "timed_out" | "cancelled")));
            let done = counted.iter().all(|c| c.status == "completed");
            if !counted.is_empty() && done && !failed {
                return self.merge(pr, "auto_merge_on_ci_green", next, Step::new(Action::Merged));
            }
        }
        // 3. A 👍 from a person allowed to approve; an approving review of this head.
        let reactions = self.client.reactions(pr.number).map_err(gh)?;
        if reactions.iter().any(|r| r.content == "+1" && allowed(&r.login)) {
            return self.merge(pr, "thumbs_up_reaction", next, Step::new(Action::Merged));
        }
        let reviews = self.client.reviews(pr.number).map_err(gh)?;
        if reviews
            .iter()
            .any(|r| r.state == "APPROVED" && r.commit_id == pr.head_sha && allowed(&r.login))
        {
            return self.merge(pr, "approved_review", next, Step::new(Action::Merged));
        }
        // 4. Comments: git-oc's own and bots' are handled by being seen; `/lgtm` approves.
        let comments = self.client.issue_comments(pr.number).map_err(gh)?;
        let mut fresh: Vec<&IssueComment> = Vec::new();
        for c in &comments {
            if next.processed_comment_ids.contains(&c.id) {
                continue;
            }
            if self.is_bot(&c.login) || c.body.contains(COMMENT_MARKER) || c.body.contains("<!-- git-oc:") {
                next.processed_comment_ids.insert(c.id);
            } else if allowed(&c.login) {
                fresh.push(c);
            }
        }
        if let Some(c) = fresh.iter().find(|c| text::is_lgtm(&c.body)) {
            next.processed_comment_ids.insert(c.id);
            return self.merge(pr, "lgtm_comment", next, Step::new(Action::Merged));
        }
        if fresh.is_empty() {
            let why = if timed_out {
                "human review timed out; an explicit approval is required"
            } else if next.waiting_for_approval {
                "revisions are used up; an explicit approval is required"
            } else {
                "a comment, a 👍 or /lgtm"
            };
            return Ok(Step::new(Action::Waiting).because(why));
        }
        let max = s.max_human_review_loops();
        if next.human_review_loops >= max {
            next.processed_comment_ids.extend(fresh.iter().map(|c| c.id));
            if s.after_max_human_loops() == AfterMaxLoops::Merge && !require {
                self.client
                    .comment(
                        pr.number,
                        &text::auto_merge_comment(&format!("reached max human review loops ({max})")),
                    )
                    .map_err(gh)?;
                return self.merge(pr, "max_human_loops", next, Step::new(Action::Merged));
            }
            if !next.waiting_for_approval {
                self.client
                    .comment(pr.number, &text::waiting_comment(next.human_review_loops))
                    .map_err(gh)?;
                next.waiting_for_approval = true;
            }
            return Ok(Step::new(Action::Waiting).because("revisions are used up; an explicit approval is required"));
        }
        self.revise(pr, next, &fresh)
    }

    /// A revision pass for `comments`: the agent works on the pull request's head, its change
    /// (without the verdict) is committed on the head and pushed to the branch, never forced.
    fn revise(&self, pr: &ReviewPull, next: &mut ReviewState, comments: &[&IssueComment]) -> Result<Step> {
        self.fetch(pr)?;
        let pass = next.human_review_loops + 1;
        let goal = text::revision_goal(pr.number, &pr.title, comments);
        let run = self.run_pass(
            pr,
            goal,
            &format!("oc/review/pr-{}-h{pass}-{{run}}", pr.number),
            &["CONCERNS_ADDRESSED"],
        )?;
        next.runs.push(run.run_id.clone());
        let mut step = Step::new(Action::Revised);
        step.runs.push(run.run_id.clone());
        let summary = run.verdict.as_ref().map(|v| v.summary.clone()).unwrap_or_default();
        if let Err(why) = &run.verdict {
            step.warnings.push(format!("revision run {}: {why}", run.run_id));
        }
        let repo = &self.repo().repo;
        let o = &run.outcome;
        let rejected = o.git.rejected_ref.is_some();
        if !o.summary.success || rejected {
            // It counts as a revision (the loop ends as configured), and the comments stay
            // unhandled: nothing reached the branch.
            self.record_pass(&run, pr, "revision", pass, &mut step);
            next.human_review_loops = pass;
            step.action = Action::Failed;
            let why = o
                .summary
                .reason
                .clone()
                .unwrap_or_else(|| o.summary.outcome_status.to_string());
            step.error = Some(format!(
                "revision run {} did not pass ({why}); nothing was pushed: see why with git oc show {}",
                run.run_id,
                prefix_chars(&run.run_id, 8)
            ));
            next.last_error = step.error.clone();
            return Ok(step);
        }
        let head = oid(&pr.head_sha)?;
        let pushed = match o.git.commit {
            Some(commit) => self.commit_for_branch(repo, commit, head, pr, &run.run_id, &summary)?,
            None => None,
        };
        next.human_review_loops = pass;
        next.processed_comment_ids.extend(comments.iter().map(|c| c.id));
        let files = match pushed {
            Some(c) => {
                let tree = |id: gix::ObjectId| -> Result<gix::ObjectId> {
                    let ctx = |e| Error::git("could not read the revision", e);
                    Ok(repo.find_commit(id).map_err(ctx)?.tree_id().map_err(ctx)?.detach())
                };
                crate::git::diff::diff_trees(repo, Some(tree(head)?), tree(c)?)?
                    .files
                    .iter()
                    .map(|f| f.path.clone())
                    .collect()
            }
            None => Vec::new(),
        };
        if let Some(c) = pushed {
            let branch_ref = format!("refs/heads/{}", pr.head);
            let evidence = o.git.evidence_ref.clone();
            let remote = self.remote.clone();
            let head_name = pr.head.clone();
            crate::publish::push_with_notes(
                repo,
                self.repo().workdir(),
                &self.remote,
                &[format!("{c}:{branch_ref}"), format!("{evidence}:{evidence}")],
                &move |_| {
                    format!("{remote} has other commits on {head_name}; git-oc never force-pushes: the next pass reviews them")
                },
            )
            .map_err(|e| e.hint("the revision is recorded locally; the comments are handled again next pass"))?;
            step.commit = Some(c.to_string());
        } else {
            step.action = Action::Unchanged;
        }
        let pushed_commit = step.commit.clone();
        self.record_pass_with(&run, pr, "revision", pass, pushed_commit.as_deref(), &mut step);
        let short = step.commit.as_deref().map(|c| format!("`{}`", prefix_chars(c, 12)));
        // The revision is on the branch: a reply GitHub refuses is a warning, not a reason to
        // handle the comments again.
        if let Err(e) = self.client.comment(
            pr.number,
            &text::revision_comment(short.as_deref(), &files, &summary, &run.run_id),
        ) {
            step.warnings.push(format!("could not reply on #{}: {e}", pr.number));
        }
        Ok(step)
    }

    /// The commit to push for a revision: the run's tree without the verdict, on the head. `None`
    /// when that tree is the head's (nothing changed).
    fn commit_for_branch(
        &self,
        repo: &gix::Repository,
        run_commit: gix::ObjectId,
        head: gix::ObjectId,
        pr: &ReviewPull,
        run_id: &str,
        summary: &str,
    ) -> Result<Option<gix::ObjectId>> {
        let ctx = |e| Error::git("could not write the revision commit", e);
        let tree = repo
            .find_commit(run_commit)
            .map_err(ctx)?
            .tree_id()
            .map_err(ctx)?
            .detach();
        let mut editor = repo.edit_tree(tree).map_err(ctx)?;
        editor.remove(VERDICT_FILE).map_err(ctx)?;
        let tree = editor.write().map_err(ctx)?.detach();
        let head_tree = repo.find_commit(head).map_err(ctx)?.tree_id().map_err(ctx)?.detach();
        if tree == head_tree {
            return Ok(None);
        }
        let mut message = format!("Address review comments on #{}\n\n", pr.number);
        if !summary.trim().is_empty() {
            message.push_str(summary.trim());
            message.push_str("\n\n");
        }
        message.push_str(&format!("Oc-Run: {run_id}\n"));
        let message = self.cx.redactor.redact(&message);
        Ok(Some(repo.new_commit(message, tree, Some(head)).map_err(ctx)?.id))
    }

    /// Merge through the API at the head that was reviewed; a refusal is kept for the next pass.
    fn merge(&self, pr: &ReviewPull, reason: &str, next: &mut ReviewState, mut step: Step) -> Result<Step> {
        step.reason = Some(reason.to_owned());
        let method = self.settings.merge_method();
        match self.client.merge(pr.number, &pr.head_sha, method.as_str(), &pr.title) {
            Ok(merged) => {
                next.phase = Phase::Merged;
                next.pending_merge = None;
                next.last_error = None;
                step.action = Action::Merged;
                step.commit = Some(merged.sha.clone()).filter(|s| !s.is_empty());
                if self.settings.delete_branch()
                    && let Err(e) = self.client.delete_branch(&pr.head)
                {
                    step.warnings.push(format!("could not delete branch {}: {e}", pr.head));
                }
                self.after_merge(pr, reason, &merged, method.as_str(), &mut step);
                Ok(step)
            }
            Err(e) if github::review::merge_refused(&e) => {
                next.pending_merge = Some(state::PendingMerge {
                    reason: reason.to_owned(),
                    sha: pr.head_sha.clone(),
                });
                next.last_error = Some(format!("GitHub would not merge #{}: {e}", pr.number));
                step.action = Action::MergeRefused;
                step.reason = Some(format!("{reason}; GitHub said: {e}"));
                Ok(step)
            }
            Err(e) => Err(api(e, &self.repository)),
        }
    }

    /// The merge appended to the evidence of the run that opened the pull request, and its board
    /// task moved to Done.
    fn after_merge(
        &self,
        pr: &ReviewPull,
        reason: &str,
        merged: &github::review::Merged,
        method: &str,
        step: &mut Step,
    ) {
        let Some(run_id) = marker_run_id(&pr.body) else {
            return;
        };
        let repo = self.repo();
        let run = match crate::land::RecordedRun::load(repo, &run_id) {
            Ok(r) => r,
            Err(_) => {
                step.warnings.push(format!(
                    "run {run_id} is not in this clone; its evidence does not record the merge"
                ));
                return;
            }
        };
        let record = serde_json::json!({
            "run_id": run.run_id,
            "repository": self.repository,
            "pull_request": pr.number,
            "url": pr.url,
            "head": pr.head,
            "head_sha": pr.head_sha,
            "merge_commit": merged.sha,
            "method": method,
            "reason": reason,
            "review_runs": step.runs,
            "merged_at": self.cx.clock.now(),
        });
        if let Err(e) = run.append(repo, MERGE_FILE, crate::contracts::to_evidence_json(&record), |_| {}) {
            step.warnings.push(format!(
                "the merge could not be recorded in run {run_id}: {}",
                e.summary_line()
            ));
        } else {
            let spec = [format!("{0}:{0}", run.evidence_ref)];
            if let Err(e) =
                crate::publish::push_with_notes(&repo.repo, repo.workdir(), &self.remote, &spec, &|_| String::new())
            {
                step.warnings.push(format!(
                    "the merge is recorded here but not yet on {} ({}); git oc push sends it",
                    self.remote,
                    e.summary_line()
                ));
            }
        }
        if let Some(task) = run.message.task_id.as_deref().filter(|t| !t.is_empty())
            && let Ok(board) = crate::board::open(repo, &self.session.config)
            && let Some(w) = close_task(board.as_ref(), task)
        {
            step.warnings.push(w);
        }
    }

    /// Run a pass through the pipeline, on the pull request's head.
    fn run_pass(&self, pr: &ReviewPull, goal: String, branch: &str, allowed: &[&str]) -> Result<PassRun> {
        let mut spec = TaskSpec::new(goal);
        spec.base = pr.head_sha.clone();
        spec.branch = Some(branch.to_owned());
        let prepared = self.session.prepare(&spec)?;
        let outcome = prepared.execute(self.cx)?;
        let run_id = outcome.summary.run_id.clone();
        let bytes = read_verdict(&self.repo().repo, &outcome);
        let verdict = if !outcome.executed {
            Err(format!(
                "the run never reached the agent ({}{})",
                outcome.summary.outcome_status,
                outcome
                    .summary
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ))
        } else {
            text::parse_verdict(bytes.as_deref(), allowed).map(|mut v| {
                v.summary = self.cx.redactor.redact(&v.summary);
                v
            })
        };
        Ok(PassRun {
            run_id,
            outcome,
            verdict,
        })
    }

    fn record_pass(&self, run: &PassRun, pr: &ReviewPull, kind: &str, pass: u32, step: &mut Step) {
        self.record_pass_with(run, pr, kind, pass, None, step);
    }

    /// `review.json` appended to the pass's evidence: which pull request, which pass, the verdict.
    fn record_pass_with(
        &self,
        run: &PassRun,
        pr: &ReviewPull,
        kind: &str,
        pass: u32,
        pushed: Option<&str>,
        step: &mut Step,
    ) {
        let repo = self.repo();
        let record = serde_json::json!({
            "run_id": run.run_id,
            "repository": self.repository,
            "pull_request": pr.number,
            "head_sha": pr.head_sha,
            "kind": kind,
            "pass": pass,
            "verdict": run.verdict.as_ref().ok(),
            "verdict_error": run.verdict.as_ref().err(),
            "pushed": pushed,
        });
        let result = crate::land::RecordedRun::load(repo, &run.run_id)
            .and_then(|r| r.append(repo, REVIEW_FILE, crate::contracts::to_evidence_json(&record), |_| {}));
        if let Err(e) = result {
            step.warnings.push(format!(
                "run {} could not record the review: {}",
                run.run_id,
                e.summary_line()
            ));
        }
    }

    fn is_bot(&self, login: &str) -> bool {
        login.ends_with("[bot]") || self.settings.bot_logins().iter().any(|b| b.eq_ignore_ascii_case(login))
    }

    /// The pull request's head and base, fetched into the remote-tracking branches.
    fn fetch(&self, pr: &ReviewPull) -> Result<()> {
        let remote = &self.remote;
        let out = crate::git::git_command(self.repo().workdir())
            .args(["fetch", "--quiet", "--no-tags", remote])
            .arg(format!("+refs/heads/{0}:refs/remotes/{remote}/{0}", pr.head))
            .arg(format!("+refs/heads/{0}:refs/remotes/{remote}/{0}", pr.base))
            .output()
            .map_err(|e| Error::run(format!("could not run git fetch {remote}")).caused_by(e.to_string()))?;
        if !out.status.success() {
            return Err(
                Error::run(format!("could not fetch #{}'s branches from {remote}", pr.number))
                    .caused_by(String::from_utf8_lossy(&out.stderr).trim().to_owned())
                    .hint("check that the remote is reachable (git fetch)"),
            );
        }
        let repo = &self.repo().repo;
        let fetched = crate::git::refs::target(repo, &format!("refs/remotes/{remote}/{}", pr.head))?;
        if fetched.map(|f| f.to_string()) != Some(pr.head_sha.clone()) {
            return Err(Error::run(format!(
                "#{}'s branch {} on {remote} is not at the head GitHub reports ({})",
                pr.number,
                pr.head,
                prefix_chars(&pr.head_sha, 12)
            ))
            .hint("the branch moved while git-oc read it, or [github] remote is not the repository's remote; the next pass tries again"));
        }
        Ok(())
    }

    /// The pull request's change: its base's merge base to its head.
    fn diff(&self, pr: &ReviewPull) -> Result<String> {
        let out = crate::git::git_command(self.repo().workdir())
            .args(["diff", "--no-color", "--no-ext-diff"])
            .arg(format!("refs/remotes/{}/{}...{}", self.remote, pr.base, pr.head_sha))
            .output()
            .map_err(|e| Error::run("could not run git diff").caused_by(e.to_string()))?;
        if !out.status.success() {
            return Err(Error::run(format!("could not diff #{}", pr.number))
                .caused_by(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
        }
        Ok(self.cx.redactor.redact(&String::from_utf8_lossy(&out.stdout)))
    }
}

/// The verdict the pass's agent wrote: in its worktree, else in the run's commit.
fn read_verdict(repo: &gix::Repository, outcome: &crate::pipeline::RunOutcome) -> Option<Vec<u8>> {
    if let Some(wt) = &outcome.git.worktree
        && let Some(bytes) = crate::config::read::read_plain_file(&wt.join(VERDICT_FILE), 1 << 20)
    {
        return Some(bytes);
    }
    let commit = outcome.git.commit?;
    let tree = repo.find_commit(commit).ok()?.tree().ok()?;
    let entry = tree.find_entry(VERDICT_FILE)?;
    Some(entry.object().ok()?.data.clone())
}

/// Move the board task a merged pull request's run names to Done; a warning when it is on the
/// board and cannot be moved. A run whose task id is not a board task is left alone.
fn close_task(board: &dyn crate::board::Board, task: &str) -> Option<String> {
    board.get(task).ok()?;
    let done = board.states().name(crate::board::StateKind::Done).to_owned();
    board
        .transition(task, &done, None)
        .err()
        .map(|e| format!("task {task} could not be moved to {done}: {}", e.summary_line()))
}

/// The run id in git-oc's pull-request marker.
pub fn marker_run_id(body: &str) -> Option<String> {
    let rest = &body[body.find(crate::publication::MARKER_PREFIX)? + crate::publication::MARKER_PREFIX.len()..];
    let id = rest.split(" -->").next()?.trim();
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')).then(|| id.to_owned())
}

fn oid(hex: &str) -> Result<gix::ObjectId> {
    gix::ObjectId::from_hex(hex.as_bytes())
        .map_err(|_| Error::run(format!("GitHub reported a head {hex:?} that is not a commit id")))
}

fn step_name(action: Action) -> &'static str {
    match action {
        Action::Merged => "merged",
        Action::Concerns => "concerns",
        Action::Escalated => "escalated",
        Action::NoVerdict => "no verdict",
        Action::Revised => "revised",
        Action::Unchanged => "unchanged",
        Action::Waiting => "waiting",
        Action::MergeRefused => "merge refused",
        Action::Busy => "busy",
        Action::Failed => "failed",
    }
}

/// Fold a pass's state into the state now recorded: nothing processed is forgotten, no count
/// goes back, and a merge stays a merge.
fn merge_state(current: &mut ReviewState, ours: &ReviewState) {
    current
        .processed_comment_ids
        .extend(ours.processed_comment_ids.iter().copied());
    current.self_review_loops = current.self_review_loops.max(ours.self_review_loops);
    current.human_review_loops = current.human_review_loops.max(ours.human_review_loops);
    if current.phase != Phase::Merged {
        current.phase = ours.phase;
    }
    for r in &ours.runs {
        if !current.runs.contains(r) {
            current.runs.push(r.clone());
        }
    }
    current.human_review_since = current.human_review_since.or(ours.human_review_since);
    current.pending_merge = ours.pending_merge.clone();
    current.waiting_for_approval = current.waiting_for_approval || ours.waiting_for_approval;
    current.last_error = ours.last_error.clone();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_moves_the_runs_board_task_to_done_and_leaves_other_ids_alone() {
        use crate::board::{Board, NewTask, States, git::GitBoard};
        let dir = tempfile::tempdir().unwrap();
        crate::pipeline::tests::git(dir.path(), &["init", "-q"]);
        let repo = crate::git::Repo::discover(dir.path()).unwrap();
        let board = GitBoard::new(repo.repo.clone(), States::default());
        let t = board
            .create(&NewTask {
                title: "Ship it".into(),
                state: Some("In Review".into()),
                ..NewTask::default()
            })
            .unwrap();
        assert_eq!(close_task(&board, &t.id), None);
        assert_eq!(board.get(&t.id).unwrap().state, "Done");
        assert_eq!(close_task(&board, "auto-simple-edit-0123abcd"), None);
    }

    #[test]
    fn the_marker_names_the_run() {
        assert_eq!(
            marker_run_id("<!-- git-oc:run=abc-123 -->\nOpened").as_deref(),
            Some("abc-123")
        );
        assert_eq!(marker_run_id("no marker"), None);
        assert_eq!(marker_run_id("<!-- git-oc:run=a b -->"), None);
    }
}
