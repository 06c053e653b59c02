//! Publishing a run: its branch (at the commit both gates passed), its evidence ref and the
//! notes in one atomic `git push`; a pull request opened, or updated when one is already open
//! for the branch; and the publication appended to the run's evidence (`publish.json`, the
//! `Oc-Pushed` and `Oc-PR` trailers, an `Oc-PR` line in its note), nothing recorded rewritten.
//! The run's publish stage and `git oc pr RUN` both go through [`publish`], reading the run
//! from its evidence the same way.

mod body;

use serde::{Deserialize, Serialize};

use crate::config::{DraftRule, GithubSection};
use crate::contracts::{Timestamp, prefix_chars};
use crate::error::{Error, Result};
use crate::evidence::files;
use crate::execution::secrets::Redactor;
use crate::git::{NOTES_REF, Repo};
use crate::github::{self, ApiError, ApiErrorKind, NewPullRequest, PullRequest, Token};
use crate::land::RecordedRun;
use crate::publish::PushedRef;

pub use body::{MARKER_PREFIX, pull_request_body};

/// Where a run is published.
#[derive(Clone, Debug)]
pub struct Target {
    pub remote: String,
    /// The remote's push URL, credentials replaced.
    pub remote_url: String,
    /// Set when a pull request is asked for.
    pub github: Option<GithubTarget>,
}

/// The repository on GitHub and the pull request's base.
#[derive(Clone, Debug)]
pub struct GithubTarget {
    pub api_url: String,
    pub owner: String,
    pub name: String,
    /// The host the token is for (`github.com`, `ghe.example.com`).
    pub host: String,
    /// The pull request's base branch.
    pub base: String,
    pub token: Token,
}

impl GithubTarget {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// Everything a run needs to be published once it has passed its gates, fixed before it starts.
#[derive(Clone, Debug)]
pub struct PublishPlan {
    pub pull_request: bool,
    pub target: Target,
    pub settings: GithubSection,
}

/// `publish.json`, appended to the run's evidence: what was pushed where, and the pull request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Publication {
    pub run_id: String,
    pub remote: String,
    pub remote_url: String,
    pub branch: String,
    /// The commit the run branch was pushed at: the one both gates passed.
    pub commit: String,
    pub evidence_ref: String,
    pub pushed_at: Timestamp,
    pub pull_request: Option<PullRequestRecord>,
    /// Why the pull request could not be opened, when it could not (the push stands).
    pub error: Option<String>,
    /// What did not work out around the pull request (a reviewer GitHub refused, say).
    pub warnings: Vec<String>,
}

/// The run's pull request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PullRequestRecord {
    pub number: u64,
    pub url: String,
    pub repository: String,
    pub api_url: String,
    pub base: String,
    pub draft: bool,
    /// `created`, or `updated` when one was already open for the branch.
    pub action: String,
}

/// Why a run is not published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub reason: String,
    pub hint: String,
}

/// What publishing did, for the run's report.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Report {
    Published(Box<Publication>),
    /// Publishing was asked for, and the run may not or need not be published.
    Skipped(Refusal),
    /// Publishing failed; the error is the run's.
    Failed {
        error: String,
    },
}

/// How long to wait for GitHub, and what to wait with.
#[derive(Clone)]
pub struct Options {
    pub rate_limits: github::RateLimits,
}

impl Options {
    pub fn system(settings: &GithubSection) -> Self {
        Options {
            rate_limits: github::RateLimits::system(std::time::Duration::from_secs(settings.rate_limit_wait())),
        }
    }
}

/// Where runs from `base_branch` are published: the remote (`[github] remote`, else the base
/// branch's push remote, else `origin`), and for a pull request the GitHub repository, its API,
/// the pull request's base and the token. Checked before a run starts: a bad setting stops it
/// (exit 2) before anything is created.
pub fn resolve(repo: &Repo, settings: &GithubSection, base_branch: &str, pull_request: bool) -> Result<Target> {
    let remote = match &settings.remote {
        Some(r) => r.clone(),
        None => upstream_remote(repo, base_branch).unwrap_or_else(|| "origin".to_owned()),
    };
    crate::publish::validate_remote(&repo.repo, &remote)
        .map_err(|e| e.hint("name the remote to publish to with [github] remote"))?;
    let url = crate::publish::push_url(&repo.repo, &remote);
    let shown = crate::execution::secrets::redact_url(&url).into_owned();
    let mut target = Target {
        remote: remote.clone(),
        remote_url: shown.clone(),
        github: None,
    };
    if !pull_request {
        return Ok(target);
    }
    let parsed = github::parse_remote_url(&url);
    let (owner, name) = match crate::github::remote::repository(settings.repository.as_deref(), parsed.as_ref()) {
        Some(repository) => repository,
        None => {
            return Err(Error::input(format!(
                "cannot tell which GitHub repository remote {remote:?} is: its URL {shown} names no host and repository"
            ))
            .hint("set [github] repository = \"owner/name\" (and api_url for GitHub Enterprise) in .oc/config.toml"));
        }
    };
    let api_url = match (&settings.api_url, &parsed) {
        (Some(u), _) => u.trim_end_matches('/').to_owned(),
        (None, Some(p)) => p.api_url(),
        (None, None) => {
            return Err(Error::input(format!(
                "no GitHub API URL for {owner}/{name}: remote {remote:?} ({shown}) names no GitHub host"
            ))
            .hint("set [github] api_url, e.g. https://api.github.com or https://github.example.com/api/v3"));
        }
    };
    let host = crate::github::remote::host(parsed.as_ref(), &api_url);
    let base = match &settings.base {
        Some(b) => b.clone(),
        None => branch_named(repo, base_branch, &remote).ok_or_else(|| {
            Error::input(format!(
                "the run's base {base_branch:?} is not a branch, so its pull request would have no base"
            ))
            .hint("pass --base with a branch (e.g. --base main), or set [github] base")
        })?,
    };
    // GITHUB_TOKEN and GH_TOKEN go to api.github.com or to an API someone configured, never to
    // a host merely read from a remote URL (that may not be GitHub at all); there only the
    // token `gh` keeps for that very host is used.
    let guessed = settings.api_url.is_none() && api_url != github::remote::GITHUB_API;
    let token = if guessed {
        github::token::from_gh_cli(&host).ok_or_else(|| {
            Error::input(format!("--pr needs a GitHub token for {host}, and none was found")).hint(format!(
                "git-oc sends GITHUB_TOKEN or GH_TOKEN only to {} or to a configured API: if {host} is a GitHub Enterprise Server, set [github] api_url = \"{api_url}\", or log in with 'gh auth login --hostname {host}'",
                github::remote::GITHUB_API
            ))
        })?
    } else {
        github::token::find(&host).ok_or_else(|| {
            Error::input(format!("--pr needs a GitHub token for {host}, and none was found"))
                .hint("set GITHUB_TOKEN or GH_TOKEN, or log in with 'gh auth login'; git oc doctor checks it")
        })?
    };
    target.github = Some(GithubTarget {
        api_url,
        owner,
        name,
        host,
        base,
        token,
    });
    Ok(target)
}

/// The remote `git push` would use for `branch` (`branch.<name>.pushRemote`, `remote.pushDefault`,
/// `branch.<name>.remote`), when it names one.
fn upstream_remote(repo: &Repo, branch: &str) -> Option<String> {
    use gix::bstr::ByteSlice;
    let name = repo
        .repo
        .branch_remote_name(branch.as_bytes().as_bstr(), gix::remote::Direction::Push)?;
    match name {
        gix::remote::Name::Symbol(s) if s != "." => Some(s.to_string()),
        _ => None,
    }
}

/// The branch `base` names: a local branch, or a remote-tracking one of `remote` (with or
/// without the `<remote>/` prefix). `None` for a commit, a tag or a detached `HEAD`.
fn branch_named(repo: &Repo, base: &str, remote: &str) -> Option<String> {
    let exists = |name: &str| {
        gix::refs::FullName::try_from(name).is_ok() && repo.repo.try_find_reference(name).ok().flatten().is_some()
    };
    if exists(&format!("refs/heads/{base}")) {
        return Some(base.to_owned());
    }
    if let Some(short) = base.strip_prefix(&format!("{remote}/"))
        && exists(&format!("refs/remotes/{base}"))
    {
        return Some(short.to_owned());
    }
    exists(&format!("refs/remotes/{remote}/{base}")).then(|| base.to_owned())
}

/// Why `run` must not be published, or `None` when it may be. Never a rejected run, a blocked
/// one, a demo run, a run without a change, or (unless `push_on_validation_failure`) one whose
/// validation failed.
pub fn refusal(run: &RecordedRun, settings: &GithubSection) -> Option<Refusal> {
    let show = format!("see why with: git oc show {}", prefix_chars(&run.run_id, 8));
    let refuse = |reason: String, hint: String| Some(Refusal { reason, hint });
    if run.evidence_ref.starts_with(crate::git::DEMO_REF_PREFIX) {
        return refuse(
            "demo runs stay local".into(),
            "run the task with git oc run to publish it".into(),
        );
    }
    if run.message.rejected {
        return refuse(
            "the post-run gate rejected its change; rejected work is never pushed".into(),
            show,
        );
    }
    match run.message.outcome.as_str() {
        "executed" => {}
        "validation_failed" if settings.push_on_validation_failure() => {}
        "validation_failed" => {
            return refuse(
                "its validation failed".into(),
                "fix it and run again, or set [github] push_on_validation_failure = true to publish such runs as drafts"
                    .into(),
            );
        }
        "blocked" => return refuse("the policy stopped it before it ran".into(), show),
        "no_op" => {
            return refuse("the agent changed nothing, so there is nothing to publish".into(), show);
        }
        other => return refuse(format!("it did not finish (outcome {other})"), show),
    }
    if run.commit.is_none() || run.message.branch.is_none() {
        return refuse("it has no commit on a branch".into(), show);
    }
    None
}

/// Whether the pull request is a draft: by `[github] draft`; `auto` drafts a run whose
/// validation failed or whose change needs review.
pub fn wants_draft(run: &RecordedRun, rule: DraftRule) -> bool {
    match rule {
        DraftRule::Always => true,
        DraftRule::Never => false,
        DraftRule::Auto => {
            run.message.outcome == "validation_failed"
                || run
                    .summary
                    .as_ref()
                    .is_some_and(|s| s.needs_review || s.validation_passed == Some(false))
        }
    }
}

/// Publish a recorded run: push, open or update its pull request (when `plan.pull_request`),
/// record it. An error after the push leaves the branch pushed and the evidence intact, and says
/// how to finish (`git oc pr RUN`).
pub fn publish(repo: &Repo, run: &RecordedRun, plan: &PublishPlan, options: &Options) -> Result<Publication> {
    if let Some(r) = refusal(run, &plan.settings) {
        return Err(Error::input(format!("run {} is not published: {}", run.run_id, r.reason)).hint(r.hint));
    }
    let (Some(commit), Some(branch)) = (run.commit, run.message.branch.clone()) else {
        return Err(Error::internal("a publishable run without a commit"));
    };
    if repo.repo.find_commit(commit).is_err() {
        return Err(Error::input(format!(
            "the commit of run {} ({}) is not in this repository",
            run.run_id,
            crate::git::short(&commit)
        ))
        .hint("publish it from the clone that made the run, or fetch its branch first"));
    }
    let target = &plan.target;
    let remote = &target.remote;
    let finish = format!("finish later with: git oc pr {}", prefix_chars(&run.run_id, 8));

    // 1. One atomic push: the branch at the gated commit, the evidence, the notes.
    let branch_ref = format!("refs/heads/{branch}");
    let refspecs = [format!("{commit}:{branch_ref}"), format!("{0}:{0}", run.evidence_ref)];
    let branch_for_hint = branch_ref.clone();
    let remote_for_hint = remote.clone();
    crate::publish::push_with_notes(&repo.repo, repo.workdir(), remote, &refspecs, &move |lines: &[PushedRef]| {
        let moved = lines
            .iter()
            .any(|l| l.flag == "!" && l.dst == branch_for_hint && !l.summary.contains("atomic"));
        if moved {
            format!(
                "{remote_for_hint} has other commits on {}; git-oc never force-pushes: look at them with 'git fetch {remote_for_hint} {}', or run the task again (git oc retry)",
                branch_for_hint.trim_start_matches("refs/heads/"),
                branch_for_hint.trim_start_matches("refs/heads/")
            )
        } else {
            format!(
                "check the remote's permissions and hooks for {branch_for_hint}, refs/oc/* and refs/notes/oc"
            )
        }
    })
    .map_err(|e| e.hint(format!("nothing was published; the run's evidence is intact: {finish}")))?;
    let mut publication = Publication {
        run_id: run.run_id.clone(),
        remote: remote.clone(),
        remote_url: target.remote_url.clone(),
        branch: branch.clone(),
        commit: commit.to_string(),
        evidence_ref: run.evidence_ref.clone(),
        pushed_at: Timestamp::now(),
        pull_request: None,
        error: None,
        warnings: Vec::new(),
    };

    // 2. The pull request.
    let mut failure = None;
    if plan.pull_request {
        let Some(gh) = &target.github else {
            return Err(Error::internal("a pull request without a GitHub target"));
        };
        match open_or_update(repo, run, gh, &branch, &plan.settings, options) {
            Ok((record, warnings)) => {
                publication.pull_request = Some(record);
                publication.warnings.extend(warnings);
            }
            Err(e) => {
                let err = api_error(e, gh, &branch, remote).hint(format!(
                    "{branch} is pushed to {remote} and the evidence is intact; {finish}"
                ));
                publication.error = Some(err.summary_line());
                failure = Some(err);
            }
        }
    }

    // 3. Recorded in the evidence, 4. which follows the run to the remote.
    let recorded = record(repo, run, &publication);
    if let Some(err) = failure {
        return Err(match recorded {
            Ok(()) => err,
            Err(e) => err.caused_by(format!("the push could not be recorded either: {}", e.summary_line())),
        });
    }
    recorded?;
    let spec = [format!("{0}:{0}", run.evidence_ref)];
    if let Err(e) = crate::publish::push_with_notes(&repo.repo, repo.workdir(), remote, &spec, &|_| String::new()) {
        publication.warnings.push(format!(
            "the publication is recorded here but not yet on {remote} ({}); git oc push {remote} sends it",
            e.summary_line()
        ));
    }
    Ok(publication)
}

/// Open the pull request, or update the one already open from `branch` to the base.
fn open_or_update(
    repo: &Repo,
    run: &RecordedRun,
    gh: &GithubTarget,
    branch: &str,
    settings: &GithubSection,
    options: &Options,
) -> std::result::Result<(PullRequestRecord, Vec<String>), ApiError> {
    let client = github::Client::new(
        &gh.api_url,
        &gh.owner,
        &gh.name,
        Some(&gh.token),
        github::Options {
            timeout: std::time::Duration::from_secs(settings.timeout()),
            rate_limits: options.rate_limits.clone(),
        },
    )?;
    let redactor = Redactor::from_env().with_secret(gh.token.redaction_name(), gh.token.expose());
    let title = run
        .commit
        .and_then(|c| crate::git::commit_message(&repo.repo, c).ok())
        .and_then(|m| m.lines().next().map(str::to_owned))
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| format!("git-oc run {}", prefix_chars(&run.run_id, 8)));
    let draft = wants_draft(run, settings.draft());
    let new = NewPullRequest {
        title: redactor.redact(&title),
        head: branch.to_owned(),
        base: gh.base.clone(),
        body: redactor.redact(&pull_request_body(repo, run, draft)),
        draft,
    };
    let find = || -> std::result::Result<Option<PullRequest>, ApiError> {
        Ok(client
            .open_pull_requests(branch)?
            .into_iter()
            .find(|p| p.base == gh.base && p.head == branch))
    };
    let mut warnings = Vec::new();
    let (pr, action) = match find()? {
        Some(open) => {
            if open.draft != draft {
                warnings.push(format!(
                    "pull request #{} stays {}: GitHub's REST API cannot change that (use its page, or gh pr ready)",
                    open.number,
                    if open.draft { "a draft" } else { "ready for review" }
                ));
            }
            (
                client.update_pull_request(open.number, &new.title, &new.body)?,
                "updated",
            )
        }
        None => match client.create_pull_request(&new) {
            Ok(pr) => (pr, "created"),
            // Opened by someone else in between: update that one.
            Err(e) if e.kind == ApiErrorKind::Validation && e.mentions("already exists") => match find()? {
                Some(open) => (
                    client.update_pull_request(open.number, &new.title, &new.body)?,
                    "updated",
                ),
                None => return Err(e),
            },
            Err(e) => return Err(e),
        },
    };
    let mut extra = |what: &str, result: std::result::Result<(), ApiError>| {
        if let Err(e) = result {
            warnings.push(format!("could not {what} on pull request #{}: {e}", pr.number));
        }
    };
    if !settings.labels().is_empty() {
        extra("add the labels", client.add_labels(pr.number, settings.labels()));
    }
    if !settings.reviewers().is_empty() {
        extra(
            "request the reviewers",
            client.request_reviewers(pr.number, settings.reviewers()),
        );
    }
    if !settings.assignees().is_empty() {
        extra(
            "add the assignees",
            client.add_assignees(pr.number, settings.assignees()),
        );
    }
    Ok((
        PullRequestRecord {
            number: pr.number,
            url: pr.url.clone(),
            repository: gh.full_name(),
            api_url: gh.api_url.clone(),
            base: pr.base.clone(),
            draft: pr.draft,
            action: action.to_owned(),
        },
        warnings,
    ))
}

/// A GitHub failure as git-oc's error, with the hint its kind calls for and, for a 422, the
/// hint that fits what GitHub refused.
fn api_error(e: ApiError, gh: &GithubTarget, branch: &str, remote: &str) -> Error {
    let repository = gh.full_name();
    let mut err = Error::run(format!("could not {} on GitHub ({repository})", e.action));
    if e.kind == ApiErrorKind::Validation {
        let hint = if e.mentions("head.invalid") || e.mentions("head.missing") {
            Some(format!(
                "GitHub does not see branch {branch} in {repository}, yet it was pushed to {remote}: check that [github] repository names the repository {remote} pushes to"
            ))
        } else if e.mentions("base.invalid") || e.mentions("base.missing") {
            Some(format!(
                "{repository} has no branch {}: set [github] base to one it has",
                gh.base
            ))
        } else if e.mentions("no commits between") {
            Some(format!(
                "the run's commit is already in {}: there is nothing to review",
                gh.base
            ))
        } else if e.mentions("draft pull requests are not supported") {
            Some("this repository does not take draft pull requests: set [github] draft = \"never\"".to_owned())
        } else {
            None
        };
        if let Some(h) = hint {
            err = err.hint(h);
        }
    }
    err.with_source(e)
}

/// Append the publication to the run's evidence and its note.
fn record(repo: &Repo, run: &RecordedRun, publication: &Publication) -> Result<()> {
    let bytes = crate::contracts::to_evidence_json(publication);
    let pushed = format!("{} {} {}", publication.remote, publication.branch, publication.commit);
    let pr = publication.pull_request.as_ref().map(|p| p.url.clone());
    let mut added = vec![(files::PUBLISH.to_owned(), bytes)];
    // summary.json's pr_url: the new commit carries the summary with only that field set; the
    // summary as the run recorded it stays in the commit before.
    if let Some(url) = &pr
        && let Some(summary) = summary_with_pr(repo, run, url)?
    {
        added.push((files::SUMMARY.to_owned(), summary));
    }
    run.append_files(repo, &added, |m| {
        m.pushed = Some(pushed);
        if pr.is_some() {
            m.pr = pr.clone();
        }
    })?;
    if let (Some(url), Some(target)) = (&pr, run.commit) {
        crate::git::notes::update_note(&repo.repo, NOTES_REF, target, |existing| {
            crate::evidence::note::set_trailer(existing, &run.run_id, crate::evidence::message::trailer::PR, url)
        })?;
    }
    Ok(())
}

/// The run's summary.json with `pr_url` set, its other bytes' meaning untouched (the JSON is
/// edited as a value, keys in their order); `None` when there is none or it already says so.
fn summary_with_pr(repo: &Repo, run: &RecordedRun, url: &str) -> Result<Option<Vec<u8>>> {
    let evidence = crate::evidence::store::RunEvidence::open(&repo.repo, &run.run_id)?;
    let Some(bytes) = evidence.read(files::SUMMARY)? else {
        return Ok(None);
    };
    let Ok(mut summary) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Ok(None);
    };
    let Some(fields) = summary.as_object_mut() else {
        return Ok(None);
    };
    if fields.get("pr_url").and_then(|v| v.as_str()) == Some(url) {
        return Ok(None);
    }
    fields.insert("pr_url".to_owned(), serde_json::Value::String(url.to_owned()));
    Ok(Some(crate::contracts::to_evidence_json(&summary)))
}

/// `git oc pr RUN`: open or update the pull request of an earlier run, pushing it first.
pub fn pull_request_for(repo: &Repo, config: &crate::config::Config, query: &str) -> Result<Publication> {
    let run = RecordedRun::load(repo, query)?;
    if let Some(r) = refusal(&run, &config.github) {
        return Err(Error::input(format!("run {} is not published: {}", run.run_id, r.reason)).hint(r.hint));
    }
    let evidence = crate::evidence::store::RunEvidence::open(&repo.repo, &run.run_id)?;
    let proposal: crate::contracts::TaskProposal = evidence
        .read(files::PROPOSAL)?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| Error::run(format!("run {} has no readable proposal.json", run.run_id)))?;
    let target = resolve(repo, &config.github, &proposal.target.base_branch, true)?;
    let plan = PublishPlan {
        pull_request: true,
        target,
        settings: config.github.clone(),
    };
    publish(repo, &run, &plan, &Options::system(&config.github))
}
