//! The coordinator: request → policy gate → worktree → adapter → snapshot and diff → validation →
//! commit → post-run gate on the real changed paths → result → record and trace → evidence on
//! disk, in `refs/oc/runs/<id>` and in the note.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::Serialize;
use serde_json::{Map, Value};

use super::secrets::Redactor;
use super::validation::{ValidationReport, run_validation};
use super::{Adapter, AdapterContext, Capture, RuntimeContext, build_request, single_attempt_recovery};
use crate::contracts::{
    ArtifactType, ExecutionArtifact, ExecutionRecord, ExecutionRequest, ExecutionResult, ExecutionStatus,
    ExecutionTrace, FailureReasonCategory, LaneDecision, PolicyDecision, PolicyStatus, PolicyViolation,
    ProposalDecisionBundle, RunMetadata, RuntimeInvocationRef, TaskProposal, Timestamp, new_id, prefix_chars,
};
use crate::error::{Error, ErrorKind, Result};
use crate::evidence::{EvidenceSet, note::NoteBlock};
use crate::git::{self, Repo, diff::DiffStat, worktree::RunWorktree};
use crate::policy::PolicyEngine;

/// Everything the coordinator needs to carry out one run.
pub struct RunPlan {
    pub bundle: ProposalDecisionBundle,
    pub runtime: RuntimeContext,
    /// Absolute path of the workspace (the run's linked worktree).
    pub workspace: PathBuf,
    /// The commit the run branch starts from; `None` in a repository without commits.
    pub base: Option<gix::ObjectId>,
    /// How the base was named, for the branch reflog (`HEAD`, `main`, …).
    pub base_label: String,
    /// The command that made the run, named in the commit body.
    pub command: &'static str,
    /// Golden-path evidence (policy decision, command, output, validation, diff, summary) and the
    /// post-run gate, for real backends.
    pub golden: bool,
    pub validation_commands: Vec<String>,
    pub validation_timeout: u64,
    /// Copy agent and validation output to stderr as it arrives.
    pub stream: bool,
}

/// `summary.json`: how the run ended, in one place.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// `executed`, `no_op`, `validation_failed`, `blocked`, `failed`, `timed_out` or `cancelled`.
    pub outcome_status: &'static str,
    pub success: bool,
    pub reason: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub pr_url: Option<String>,
    pub run_id: String,
    pub task_id: String,
    pub base: Option<String>,
    pub lane: String,
    pub backend: String,
    pub adapter: String,
    pub policy_status: String,
    pub post_run_policy_status: Option<String>,
    pub needs_review: bool,
    /// The post-run gate rejected the changes: the commit stays on the local branch and git-oc
    /// never pushes it.
    pub rejected: bool,
    pub validation_status: String,
    pub validation_passed: Option<bool>,
    pub diff_stat: Option<String>,
    pub changed_files: usize,
    pub worktree: Option<String>,
    pub warnings: Vec<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
}

/// `policy_decision.json`: both gates and the policy they used.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyRecord {
    pub policy_digest: String,
    pub pre_run: PolicyDecision,
    pub pre_run_explanation: crate::contracts::PolicyExplanation,
    pub post_run: Option<PolicyDecision>,
}

/// What git holds for a run.
#[derive(Clone, Debug, Default)]
pub struct GitRecord {
    pub branch: Option<String>,
    pub worktree: Option<PathBuf>,
    pub recycled: bool,
    pub base: Option<gix::ObjectId>,
    pub commit: Option<gix::ObjectId>,
    pub diff: DiffStat,
    pub evidence_ref: String,
    pub evidence_commit: Option<gix::ObjectId>,
    /// The commit carrying the note; `None` when there is no commit at all yet.
    pub note_target: Option<gix::ObjectId>,
}

impl GitRecord {
    /// The `git` part of `--json` output.
    pub fn to_json(&self) -> Value {
        let files: Vec<Value> = self
            .diff
            .files
            .iter()
            .map(|f| {
                serde_json::json!({
                    "path": f.path,
                    "old_path": f.old_path,
                    "change_type": f.change_type,
                    "lines_added": f.added,
                    "lines_removed": f.removed,
                })
            })
            .collect();
        serde_json::json!({
            "branch": self.branch,
            "worktree": self.worktree.as_ref().map(|p| p.display().to_string()),
            "base": self.base.map(|b| b.to_string()),
            "commit": self.commit.map(|c| c.to_string()),
            "diff": { "shortstat": self.diff.shortstat(), "files": files },
            "evidence_ref": self.evidence_ref,
            "evidence_commit": self.evidence_commit.map(|c| c.to_string()),
            "notes_ref": git::NOTES_REF,
            "note_target": self.note_target.map(|c| c.to_string()),
        })
    }
}

pub struct RunOutcome {
    pub proposal: TaskProposal,
    pub decision: LaneDecision,
    pub request: ExecutionRequest,
    pub policy_decision: PolicyDecision,
    pub post_policy: Option<PolicyDecision>,
    pub result: ExecutionResult,
    pub record: ExecutionRecord,
    pub trace: ExecutionTrace,
    pub run_metadata: RunMetadata,
    /// True when the adapter was dispatched (not necessarily successfully).
    pub executed: bool,
    pub summary: Summary,
    pub validation: Option<ValidationReport>,
    pub command: Option<super::agents::CommandRecord>,
    pub evidence_files: Vec<PathBuf>,
    pub git: GitRecord,
    /// Evidence that could not be written to the workspace (it is still in git).
    pub disk_error: Option<Error>,
}

impl RunOutcome {
    pub fn succeeded(&self) -> bool {
        self.summary.success && self.disk_error.is_none()
    }

    /// The process exit code for this outcome (DESIGN §3).
    pub fn exit_code(&self) -> i32 {
        if self.summary.outcome_status == "cancelled" {
            ErrorKind::Interrupted.exit_code()
        } else if self.succeeded() {
            0
        } else {
            ErrorKind::Run.exit_code()
        }
    }
}

/// Per-run state gathered on the executed path.
#[derive(Default)]
struct Executed {
    capture: Option<Capture>,
    validation: Option<ValidationReport>,
    post_policy: Option<PolicyDecision>,
    outcome: Option<&'static str>,
    reason: Option<String>,
    needs_review: bool,
    rejected: bool,
    warnings: Vec<String>,
    patch: Vec<u8>,
    /// `goal.md` as the agent was given it.
    goal: Option<Vec<u8>>,
}

pub fn execute(repo: &Repo, plan: RunPlan, policy: &PolicyEngine, adapter: &dyn Adapter) -> Result<RunOutcome> {
    // Refuse bad destinations and branch names before anything is written.
    git::worktree::check_destination(repo, &plan.workspace)?;
    git::worktree::validate_branch_name(repo, &plan.runtime.task_branch)?;

    let started_at = Timestamp::now();
    let redactor = Redactor::from_env();
    let interrupt: &AtomicBool = &gix::interrupt::IS_INTERRUPTED;
    let bundle = &plan.bundle;
    let request = build_request(bundle, &plan.runtime);
    let run_id = request.run_id.clone();
    let run_dir = crate::evidence::run_dir(&plan.workspace, &run_id);
    // From here until the evidence is in git, the run is registered as in progress: if this
    // process dies, `git oc runs` shows the run as interrupted and `git oc gc` cleans up after it.
    let _inflight = super::inflight::register(
        &repo.state_dir(),
        &super::inflight::Inflight {
            run_id: run_id.clone(),
            pid: std::process::id(),
            started_at,
            workspace: plan.workspace.clone(),
            branch: plan.runtime.task_branch.clone(),
            goal: crate::contracts::prefix_chars(&redactor.redact(&request.goal_text), 200).to_owned(),
            lane: bundle.decision.selected_lane.as_str().to_owned(),
            backend: bundle.decision.selected_backend.as_str().to_owned(),
        },
    )?;
    let policy_decision = policy.evaluate(&bundle.proposal, &bundle.decision, Some(&request));
    let mut git_record = GitRecord {
        base: plan.base,
        ..GitRecord::default()
    };
    let mut ex = Executed::default();
    let mut workspace_gone = false;

    let (mut result, executed) = if policy_decision.is_allowed() {
        let wt = git::worktree::create_run_worktree(
            repo,
            plan.base,
            &plan.base_label,
            &plan.runtime.task_branch,
            &plan.workspace,
        )?;
        git_record.branch = Some(wt.branch.clone());
        git_record.worktree = Some(wt.path.clone());
        git_record.recycled = wt.recycled;
        // Agent runs take minutes and must be safe from `git oc gc`; the demo's stub takes a
        // millisecond and skips the two extra file writes.
        let lock = plan.golden.then(|| WorktreeLock::acquire(&wt, &run_id));

        let goal_file = run_dir.join("goal.md");
        let prompt = super::agents::goal_file_text(&request.goal_text, &request.allowed_paths);
        if plan.golden {
            crate::evidence::ensure_self_ignored(&plan.workspace)
                .and_then(|_| {
                    std::fs::create_dir_all(&run_dir).map_err(|e| Error::io("could not create the run directory", &e))
                })
                .and_then(|_| crate::evidence::write_atomic(&goal_file, prompt.as_bytes()))?;
            ex.goal = Some(prompt.clone().into_bytes());
        }
        let ctx = AdapterContext {
            request: &request,
            task_id: bundle.proposal.task_id.clone(),
            workspace: &wt.path,
            goal_file: &goal_file,
            prompt,
            stream: plan.stream,
            redactor: &redactor,
            interrupt,
        };
        // What the user's own checkout looks like before the agent runs, to notice an agent that
        // writes outside its worktree.
        let checkout_before = if plan.golden {
            git::snapshot::worktree_changes(&repo.repo).ok()
        } else {
            None
        };
        let run = adapter.execute(&ctx);
        // An agent (or someone) may have deleted the whole worktree: then nothing may be written
        // there (it would come back as an empty directory and look like "every file deleted").
        workspace_gone = !wt.path.is_dir();
        if let Some(before) = checkout_before
            && let Ok(after) = git::snapshot::worktree_changes(&repo.repo)
        {
            let new: Vec<&String> = after.iter().filter(|p| !before.contains(p)).collect();
            if !new.is_empty() {
                ex.warnings.push(format!(
                    "the agent changed files in your checkout, outside its worktree: {}",
                    new.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        let mut result = run.result;
        ex.capture = run.capture;
        if let Some(capture) = &ex.capture
            && !workspace_gone
        {
            // A full disk must not lose the run: the same bytes still go into git.
            match write_capture(&run_dir, capture, adapter.display_name()) {
                Ok(r) => result.runtime_invocation_ref = Some(r),
                Err(e) => ex.warnings.push(e.summary_line()),
            }
        }

        if workspace_gone {
            let reason = format!("the worktree {} disappeared during the run", wt.path.display());
            result = ExecutionResult::failed(
                &request,
                ExecutionStatus::Failed,
                FailureReasonCategory::BackendError,
                reason.clone(),
            );
            ex.outcome = Some("failed");
            ex.reason = Some(reason);
        } else if result.status == ExecutionStatus::Cancelled {
            ex.outcome = Some("cancelled");
            ex.reason = result.failure_reason.clone();
        } else if result.success {
            finish_success(
                repo,
                &wt,
                &request,
                bundle,
                policy,
                &plan,
                &redactor,
                interrupt,
                &mut result,
                &mut ex,
                &mut git_record,
            );
        }
        result.branch_name = Some(wt.branch.clone());
        result.recovery = Some(single_attempt_recovery(&result));
        drop(lock);
        (result, true)
    } else {
        let reason = if policy_decision.status == PolicyStatus::Block {
            "execution blocked by policy"
        } else {
            "execution requires review before autonomous execution"
        };
        ex.outcome = Some("blocked");
        ex.needs_review = policy_decision.status == PolicyStatus::RequireReview;
        let result = ExecutionResult::failed(
            &request,
            ExecutionStatus::Skipped,
            FailureReasonCategory::PolicyBlocked,
            format!("{reason}: {}", policy_decision.notes),
        );
        (result, false)
    };
    if result.completed_at < started_at {
        result.completed_at = Timestamp::now();
    }

    let record = observe(&result, &policy_decision, bundle);
    let trace = crate::observability::build_trace(&record);
    let run_metadata = RunMetadata {
        run_id: run_id.clone(),
        proposal_id: bundle.proposal.proposal_id.clone(),
        decision_id: bundle.decision.decision_id.clone(),
        selected_lane: bundle.decision.selected_lane.as_str().to_owned(),
        selected_backend: bundle.decision.selected_backend.as_str().to_owned(),
        policy_status: policy_decision.status.as_str().to_owned(),
        result_status: result.status.as_str().to_owned(),
        success: result.success,
        executed,
    };
    let summary = summarize(
        &plan,
        &result,
        &policy_decision,
        &ex,
        &git_record,
        adapter,
        started_at,
        executed,
    );

    let mut set = EvidenceSet::default();
    set.push_json("proposal.json", &bundle.proposal);
    set.push_json("decision.json", &bundle.decision);
    set.push_json("execution_request.json", &request);
    set.push_json("result.json", &result);
    set.push_json("execution_record.json", &record);
    set.push_json("execution_trace.json", &trace);
    set.push_json("run_metadata.json", &run_metadata);
    if plan.golden {
        let policy_record = PolicyRecord {
            policy_digest: policy.digest(),
            pre_run: policy_decision.clone(),
            pre_run_explanation: crate::policy::explain(&policy_decision),
            post_run: ex.post_policy.clone(),
        };
        set.push_json("policy_decision.json", &policy_record);
        // The outcome keeps only the command record: the output moves into the evidence.
        match &mut ex.capture {
            Some(c) => {
                set.push_json("command.json", &c.command);
                set.push("stdout.txt", std::mem::take(&mut c.stdout));
                set.push("stderr.txt", std::mem::take(&mut c.stderr));
            }
            None => {
                set.push_json("command.json", &Value::Null);
                set.push("stdout.txt", Vec::new());
                set.push("stderr.txt", Vec::new());
            }
        }
        let validation = ex.validation.clone().unwrap_or_else(|| {
            ValidationReport::skipped(
                &policy_decision.effective_validation_profile,
                false,
                plan.validation_timeout,
            )
        });
        set.push_json("validation.json", &validation);
        let mut stat = git_record.diff.numstat();
        if let Some(short) = git_record.diff.shortstat() {
            stat.extend_from_slice(format!("\n {short}\n").as_bytes());
        }
        set.push("diff_stat.txt", stat);
        set.push("diff.patch", std::mem::take(&mut ex.patch));
        set.push_json("summary.json", &summary);
        if let Some(goal) = ex.goal.take() {
            set.push("goal.md", goal);
        }
    }

    // No secret value leaves the process, whatever field it hides in (a goal that quotes a token,
    // say).
    for (_, bytes) in &mut set.files {
        *bytes = redactor.redact_bytes(bytes);
    }

    // Disk first (what the seed shows), then git, which holds the same bytes even when the
    // workspace could not be written.
    let written = if workspace_gone {
        Err(Error::run(format!(
            "the workspace {} disappeared; the evidence is only in git",
            plan.workspace.display()
        )))
    } else {
        crate::evidence::write_to_disk(&plan.workspace, &run_id, &set)
    };
    let (evidence_files, disk_error) = match written {
        Ok(_) => {
            let dir = crate::evidence::run_dir(Path::new(&request.workspace_path), &run_id);
            (set.files.iter().map(|(name, _)| dir.join(name)).collect(), None)
        }
        Err(e) => (Vec::new(), Some(e)),
    };

    let anchor = git_record.commit.or(plan.base);
    let message = evidence_commit_message(&trace, &result, &summary, &bundle.proposal, &git_record, &redactor);
    let (evidence_ref, evidence_commit) =
        git::evidence::write_evidence_ref(&repo.repo, &run_id, &set.files, anchor, &message)?;
    git_record.evidence_ref = evidence_ref.clone();
    git_record.evidence_commit = Some(evidence_commit);

    if let Some(target) = anchor {
        let block = note_block(
            &trace,
            &result,
            &summary,
            &policy_decision,
            &git_record.diff,
            &evidence_ref,
        );
        git::notes::append_note_block(&repo.repo, target, &block.render())?;
        git_record.note_target = Some(target);
    }

    Ok(RunOutcome {
        proposal: bundle.proposal.clone(),
        decision: bundle.decision.clone(),
        request,
        policy_decision,
        post_policy: ex.post_policy,
        result,
        record,
        trace,
        run_metadata,
        executed,
        summary,
        validation: ex.validation,
        command: ex.capture.map(|c| c.command),
        evidence_files,
        git: git_record,
        disk_error,
    })
}

/// Locks the run's worktree while the run is in progress, so that cleanup leaves it alone.
struct WorktreeLock {
    repo: Option<gix::Repository>,
}

impl WorktreeLock {
    fn acquire(wt: &RunWorktree, run_id: &str) -> Self {
        let reason = format!("git-oc run {run_id} in progress");
        let ok = wt
            .repo
            .worktree()
            .is_some_and(|w| w.set_lock(Some(reason.as_str().into())).is_ok());
        WorktreeLock {
            repo: ok.then(|| wt.repo.clone()),
        }
    }
}

impl Drop for WorktreeLock {
    fn drop(&mut self) {
        if let Some(repo) = &self.repo
            && let Some(w) = repo.worktree()
        {
            let _ = w.set_lock(None);
        }
    }
}

fn write_capture(run_dir: &Path, capture: &Capture, runtime: &str) -> Result<RuntimeInvocationRef> {
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io("could not create the run directory", &e))?;
    let stdout = run_dir.join("stdout.txt");
    let stderr = run_dir.join("stderr.txt");
    crate::evidence::write_atomic(&stdout, &capture.stdout)?;
    crate::evidence::write_atomic(&stderr, &capture.stderr)?;
    Ok(RuntimeInvocationRef {
        invocation_id: new_id(),
        runtime_name: runtime.to_owned(),
        runtime_kind: "subprocess".to_owned(),
        stdout_path: Some(stdout.display().to_string()),
        stderr_path: Some(stderr.display().to_string()),
        artifact_directory: Some(run_dir.display().to_string()),
    })
}

/// After a successful agent: snapshot, diff, validate, commit, and gate the real changes.
#[allow(clippy::too_many_arguments)]
fn finish_success(
    repo: &Repo,
    wt: &RunWorktree,
    request: &ExecutionRequest,
    bundle: &ProposalDecisionBundle,
    policy: &PolicyEngine,
    plan: &RunPlan,
    redactor: &Redactor,
    interrupt: &AtomicBool,
    result: &mut ExecutionResult,
    ex: &mut Executed,
    git_record: &mut GitRecord,
) {
    let fail = |result: &mut ExecutionResult, ex: &mut Executed, e: Error| {
        let reason = e.summary_line();
        result.status = ExecutionStatus::Failed;
        result.success = false;
        result.failure_category = Some(FailureReasonCategory::BackendError);
        result.failure_reason = Some(reason.clone());
        ex.outcome = Some("failed");
        ex.reason = Some(reason);
    };
    if let Some(w) = git::worktree::repair_git_link(repo, wt) {
        ex.warnings.push(w);
    }
    let snapshot = match snapshot_and_diff(wt) {
        Ok(s) => s,
        Err(e) => return fail(result, ex, e),
    };
    let (tree, diff, head_tree, head) = snapshot;

    // Validate what is about to be committed (the worktree as snapshotted).
    if plan.golden {
        // With no requirement that applies, a failure fails the run.
        let requirement = policy.validation_requirement(&bundle.proposal);
        let must_pass = requirement.is_none_or(|r| r.must_pass);
        let profile = requirement.map_or("standard", |r| r.required_profile.as_str());
        let report = run_validation(
            &plan.validation_commands,
            &wt.path,
            profile,
            must_pass,
            plan.validation_timeout,
            plan.stream,
            redactor,
            interrupt,
        );
        result.validation = report.summary();
        if !report.commands.is_empty() {
            result.artifacts.push(ExecutionArtifact {
                artifact_id: new_id(),
                artifact_type: ArtifactType::ValidationReport,
                label: "validation report".into(),
                content: None,
                uri: Some("validation.json".into()),
                size_bytes: None,
                produced_at: Timestamp::now(),
            });
        }
        if report.failed() {
            let excerpt = result.validation.failure_excerpt.clone().unwrap_or_default();
            if must_pass {
                result.success = false;
                result.status = ExecutionStatus::Failed;
                result.failure_category = Some(FailureReasonCategory::ValidationFailed);
                result.failure_reason = Some(format!("validation failed: {}", prefix_chars(&excerpt, 300)));
                ex.outcome = Some("validation_failed");
                ex.reason = result.failure_reason.clone();
            } else {
                ex.warnings.push(format!(
                    "validation failed but the policy's {:?} profile does not require it to pass",
                    report.profile
                ));
            }
        }
        ex.validation = Some(report);
    }

    // Commit whatever is not committed yet; an agent may also have committed by itself.
    let commit = if tree != head_tree {
        let message = run_commit_message(request, bundle, plan.command, redactor);
        match git::snapshot::commit_snapshot(&wt.repo, &message, tree, head) {
            Ok(c) => Some(c),
            Err(e) => return fail(result, ex, e),
        }
    } else if head.is_some() && head != wt.base {
        head
    } else {
        None
    };
    git_record.commit = commit;
    result.changed_files = diff.changed_files();
    result.changed_files_source = Some("git_diff".to_owned());
    result.changed_files_confidence = Some(1.0);
    result.diff_stat_excerpt = diff.shortstat();
    if plan.golden && !diff.is_empty() {
        result.artifacts.push(ExecutionArtifact {
            artifact_id: new_id(),
            artifact_type: ArtifactType::Patch,
            label: "diff against the base".into(),
            content: None,
            uri: Some("diff.patch".into()),
            size_bytes: None,
            produced_at: Timestamp::now(),
        });
    }

    if plan.golden {
        match patch(repo, wt.base, commit) {
            Ok(p) => ex.patch = p,
            Err(e) => ex.warnings.push(e.summary_line()),
        }
        if diff.is_empty() && ex.outcome.is_none() {
            ex.outcome = Some("no_op");
            ex.reason = Some("the agent changed nothing".into());
        }
        let mut post = policy.evaluate_changed_paths(&bundle.proposal, &diff.paths());
        scope_check(&mut post, &request.allowed_paths, &diff.paths());
        let redacted = redactor.redact_bytes(&ex.patch);
        if redacted != ex.patch {
            // An agent wrote the value of a secret into the repository: never let it travel.
            ex.patch = redacted;
            add_blocking(
                &mut post,
                PolicyViolation {
                    rule_id: "secret.value_in_diff".into(),
                    category: "path".into(),
                    message: "The changes contain the value of a secret environment variable".into(),
                    blocking: true,
                    related_path: None,
                    related_repo: None,
                },
            );
        }
        if post.status == PolicyStatus::Block {
            ex.rejected = true;
            ex.outcome = Some("blocked");
            ex.reason = Some(format!("the changes touch paths the policy blocks: {}", post.notes));
            result.success = false;
            result.status = ExecutionStatus::Failed;
            result.failure_category = Some(FailureReasonCategory::PolicyBlocked);
            result.failure_reason = ex.reason.clone();
        } else if post.status == PolicyStatus::RequireReview {
            ex.needs_review = true;
            if ex.reason.is_none() {
                ex.reason = Some(format!("the changes need human review: {}", post.notes));
            }
        }
        ex.post_policy = Some(post);
    }
    git_record.diff = diff;
}

type SnapshotOutcome = (gix::ObjectId, DiffStat, gix::ObjectId, Option<gix::ObjectId>);

fn snapshot_and_diff(wt: &RunWorktree) -> Result<SnapshotOutcome> {
    // Reopen: the agent may have changed refs or the index behind our back.
    let mut repo = gix::open(&wt.path).map_err(|e| Error::git("could not reopen the run worktree", e))?;
    git::tune(&mut repo)?;
    // An unborn HEAD has no tree to compare the index with: always take the full path then.
    let index_untouched = wt.base.is_some() && git::snapshot::index_fingerprint(&repo) == wt.fingerprint;
    let tree = git::snapshot::snapshot_tree(&repo, index_untouched)?;
    let base_tree = match wt.base {
        Some(base) => Some(
            repo.find_commit(base)
                .and_then(|c| c.tree_id())
                .map_err(|e| Error::git("could not read the base tree", e))?
                .detach(),
        ),
        None => None,
    };
    let diff = git::diff::diff_trees(&repo, base_tree, tree)?;
    let head_tree = repo
        .head_tree_id_or_empty()
        .map_err(|e| Error::git("could not read the worktree HEAD", e))?
        .detach();
    let head = repo.head_id().ok().map(|id| id.detach());
    Ok((tree, diff, head_tree, head))
}

/// Changed paths outside the declared scope (`--path`) fail the post-run gate.
fn scope_check(post: &mut PolicyDecision, allowed: &[String], changed: &[String]) {
    if allowed.is_empty() {
        return;
    }
    for path in changed
        .iter()
        .filter(|p| !allowed.iter().any(|pattern| crate::policy::path_matches(pattern, p)))
    {
        add_blocking(
            post,
            PolicyViolation {
                rule_id: "scope.outside_allowed_paths".into(),
                category: "path".into(),
                message: format!(
                    "Path {} is outside the declared scope {}",
                    crate::policy::py_repr_str(path),
                    crate::policy::py_repr_list(allowed)
                ),
                blocking: true,
                related_path: Some(path.clone()),
                related_repo: None,
            },
        );
    }
}

/// Add a blocking violation found by git-oc's own post-run checks, keeping status and notes as
/// the policy engine would have written them.
fn add_blocking(post: &mut PolicyDecision, violation: PolicyViolation) {
    post.violations.push(violation);
    post.status = PolicyStatus::Block;
    post.notes = crate::policy::decision_notes(&post.violations, &post.warnings);
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    plan: &RunPlan,
    result: &ExecutionResult,
    policy: &PolicyDecision,
    ex: &Executed,
    git_record: &GitRecord,
    adapter: &dyn Adapter,
    started_at: Timestamp,
    executed: bool,
) -> Summary {
    let outcome_status = ex.outcome.unwrap_or(match result.status {
        ExecutionStatus::TimedOut => "timed_out",
        ExecutionStatus::Cancelled => "cancelled",
        ExecutionStatus::Succeeded => "executed",
        _ => "failed",
    });
    let success = matches!(outcome_status, "executed" | "no_op") && result.success && !ex.needs_review;
    let reason = ex.reason.clone().or_else(|| result.failure_reason.clone());
    let validation_passed = ex
        .validation
        .as_ref()
        .filter(|v| !v.commands.is_empty())
        .map(|v| !v.failed());
    Summary {
        outcome_status,
        success,
        reason,
        branch: git_record.branch.clone(),
        commit: git_record.commit.map(|c| c.to_string()),
        pr_url: None,
        run_id: result.run_id.clone(),
        task_id: plan.bundle.proposal.task_id.clone(),
        base: plan.base.map(|b| b.to_string()),
        lane: plan.bundle.decision.selected_lane.as_str().to_owned(),
        backend: plan.bundle.decision.selected_backend.as_str().to_owned(),
        adapter: if executed {
            adapter.display_name().to_owned()
        } else {
            String::new()
        },
        policy_status: policy.status.as_str().to_owned(),
        post_run_policy_status: ex.post_policy.as_ref().map(|p| p.status.as_str().to_owned()),
        needs_review: ex.needs_review,
        rejected: ex.rejected,
        validation_status: result.validation.status.as_str().to_owned(),
        validation_passed,
        diff_stat: git_record.diff.shortstat(),
        changed_files: git_record.diff.files.len(),
        worktree: git_record.worktree.as_ref().map(|p| p.display().to_string()),
        warnings: ex.warnings.clone(),
        started_at,
        finished_at: Timestamp::now(),
    }
}

/// `git diff --binary` from the base to the run commit: the exact patch `git apply` takes.
fn patch(repo: &Repo, base: Option<gix::ObjectId>, commit: Option<gix::ObjectId>) -> Result<Vec<u8>> {
    let Some(commit) = commit else { return Ok(Vec::new()) };
    let base = base.map_or_else(
        || gix::ObjectId::empty_tree(repo.repo.object_hash()).to_string(),
        |b| b.to_string(),
    );
    let out = git::git_command(repo.workdir())
        .args([
            "-c",
            "core.quotepath=off",
            "diff",
            "--binary",
            "--full-index",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
        ])
        .arg(&base)
        .arg(commit.to_string())
        .arg("--")
        .output()
        .map_err(|e| Error::io("could not run git diff for diff.patch", &e))?;
    if !out.status.success() {
        return Err(Error::run("git diff failed while writing diff.patch")
            .caused_by(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    Ok(out.stdout)
}

fn observe(result: &ExecutionResult, policy: &PolicyDecision, bundle: &ProposalDecisionBundle) -> ExecutionRecord {
    let d = &bundle.decision;
    let mut routing = Map::new();
    routing.insert("decision_id".into(), Value::from(d.decision_id.clone()));
    routing.insert("selected_lane".into(), Value::from(d.selected_lane.as_str()));
    routing.insert("selected_backend".into(), Value::from(d.selected_backend.as_str()));
    routing.insert("policy_rule_matched".into(), d.policy_rule_matched.clone().into());
    routing.insert("rationale".into(), d.rationale.clone().into());
    routing.insert("switchboard_version".into(), d.switchboard_version.clone().into());
    routing.insert("confidence".into(), Value::from(d.confidence));
    routing.insert(
        "alternatives_considered".into(),
        Value::from(d.alternatives_considered.iter().map(|l| l.as_str()).collect::<Vec<_>>()),
    );
    let mut metadata = Map::new();
    metadata.insert("policy".into(), serde_json::to_value(policy).unwrap_or(Value::Null));
    metadata.insert("task_type".into(), Value::from(bundle.proposal.task_type.as_str()));
    metadata.insert("risk_level".into(), Value::from(bundle.proposal.risk_level.as_str()));
    metadata.insert("routing".into(), Value::Object(routing));
    crate::observability::record(
        result,
        d.selected_backend.as_str(),
        d.selected_lane.as_str(),
        Vec::new(),
        &policy.notes,
        metadata,
    )
}

/// A commit subject from the goal's first line: tags, bold and backticks stripped, at most 72
/// characters.
pub fn subject_from_goal(goal: &str) -> Option<String> {
    let first = goal.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut s = first.to_owned();
    if s.starts_with('[')
        && let Some(end) = s.find("] ")
    {
        s = s[end + 2..].to_owned();
    }
    let s = s.replace("**", "").replace('`', "");
    let s = s.trim_end_matches([' ', '.', '—', '-']).trim();
    if s.is_empty() {
        return None;
    }
    let cut = prefix_chars(s, 72);
    Some(if cut.len() < s.len() {
        format!("{}…", prefix_chars(s, 71))
    } else {
        cut.to_owned()
    })
}

fn run_commit_message(
    request: &ExecutionRequest,
    bundle: &ProposalDecisionBundle,
    command: &str,
    redactor: &Redactor,
) -> String {
    let subject = subject_from_goal(&redactor.redact(&request.goal_text))
        .unwrap_or_else(|| format!("git-oc run {}", prefix_chars(&request.run_id, 8)));
    let mut message = format!(
        "{subject}\n\nMade by {command}: task {}, lane {}, backend {}.\n",
        bundle.proposal.task_id, bundle.decision.selected_lane, bundle.decision.selected_backend
    );
    if request.goal_text.trim() != subject {
        message.push_str(&format!("\nGoal:\n{}\n", redactor.redact(request.goal_text.trim_end())));
    }
    message.push_str(&format!("\nOc-Run: {}\n", request.run_id));
    message
}

fn evidence_commit_message(
    trace: &ExecutionTrace,
    result: &ExecutionResult,
    summary: &Summary,
    proposal: &TaskProposal,
    git: &GitRecord,
    redactor: &Redactor,
) -> String {
    let goal = subject_from_goal(&redactor.redact(&proposal.goal_text)).unwrap_or_default();
    let none = || "none".to_owned();
    let lines = [
        ("Oc-Run", result.run_id.clone()),
        ("Oc-Task", proposal.task_id.clone()),
        ("Oc-Status", result.status.as_str().to_owned()),
        ("Oc-Outcome", summary.outcome_status.to_owned()),
        ("Oc-Policy", summary.policy_status.clone()),
        ("Oc-Lane", summary.lane.clone()),
        ("Oc-Backend", summary.backend.clone()),
        ("Oc-Branch", git.branch.clone().unwrap_or_else(none)),
        ("Oc-Commit", git.commit.map(|c| c.to_string()).unwrap_or_else(none)),
        ("Oc-Diff", git.diff.shortstat().unwrap_or_else(none)),
        // Microseconds, unlike the commit's own date: runs in the same second still sort.
        ("Oc-Recorded", summary.finished_at.to_string()),
    ];
    let mut message = format!(
        "{}\n\n{}\n\n",
        trace.headline,
        if goal.is_empty() { "(no goal)" } else { &goal }
    );
    for (k, v) in lines {
        message.push_str(&format!("{k}: {v}\n"));
    }
    if summary.rejected {
        message.push_str("Oc-Rejected: post-run policy gate\n");
    }
    message
}

fn note_block(
    trace: &ExecutionTrace,
    result: &ExecutionResult,
    summary: &Summary,
    policy: &PolicyDecision,
    diff: &DiffStat,
    evidence_ref: &str,
) -> NoteBlock {
    let mut trailers = vec![
        ("Oc-Run".into(), result.run_id.clone()),
        ("Oc-Status".into(), result.status.as_str().to_owned()),
        ("Oc-Policy".into(), policy.status.as_str().to_owned()),
        ("Oc-Diff".into(), diff.shortstat().unwrap_or_else(|| "none".to_owned())),
        ("Oc-Evidence".into(), evidence_ref.to_owned()),
    ];
    if summary.outcome_status != "executed" || summary.needs_review {
        trailers.insert(2, ("Oc-Outcome".into(), summary.outcome_status.to_owned()));
    }
    if summary.rejected {
        trailers.push(("Oc-Rejected".into(), "post-run policy gate".to_owned()));
    }
    NoteBlock {
        headline: trace.headline.clone(),
        trailers,
    }
}

#[cfg(test)]
mod tests {
    use super::subject_from_goal;

    #[test]
    fn subjects_are_cleaned_and_cut() {
        assert_eq!(
            subject_from_goal("[Lint] Fix **all** the `clippy` warnings.").unwrap(),
            "Fix all the clippy warnings"
        );
        assert_eq!(
            subject_from_goal("\n\n  second line first\nmore").unwrap(),
            "second line first"
        );
        assert_eq!(subject_from_goal("   "), None);
        let long = "x".repeat(100);
        let s = subject_from_goal(&long).unwrap();
        assert_eq!(s.chars().count(), 72);
        assert!(s.ends_with('…'));
    }
}
