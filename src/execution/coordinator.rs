//! The coordinator: request → policy gate → worktree → adapter → snapshot, diff and commit →
//! result → record and trace → evidence on disk, in `refs/oc/runs/<id>` and in the note.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::{Adapter, RuntimeContext, build_request, single_attempt_recovery};
use crate::contracts::{
    ExecutionRecord, ExecutionRequest, ExecutionResult, ExecutionStatus, ExecutionTrace, FailureReasonCategory,
    LaneDecision, PolicyDecision, PolicyStatus, ProposalDecisionBundle, RunMetadata, TaskProposal, prefix_chars,
};
use crate::error::{Error, Result};
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

pub struct RunOutcome {
    pub proposal: TaskProposal,
    pub decision: LaneDecision,
    pub request: ExecutionRequest,
    pub policy_decision: PolicyDecision,
    pub result: ExecutionResult,
    pub record: ExecutionRecord,
    pub trace: ExecutionTrace,
    pub run_metadata: RunMetadata,
    /// True when the adapter was dispatched (not necessarily successfully).
    pub executed: bool,
    pub evidence_files: Vec<PathBuf>,
    pub git: GitRecord,
    /// Evidence that could not be written to the workspace (it is still in git).
    pub disk_error: Option<Error>,
}

impl RunOutcome {
    pub fn succeeded(&self) -> bool {
        self.executed && self.result.success && self.disk_error.is_none()
    }
}

pub fn execute(repo: &Repo, plan: RunPlan, policy: &PolicyEngine, adapter: &dyn Adapter) -> Result<RunOutcome> {
    // Refuse bad destinations and branch names before anything is written.
    git::worktree::check_destination(repo, &plan.workspace)?;
    git::worktree::validate_branch_name(repo, &plan.runtime.task_branch)?;

    let bundle = &plan.bundle;
    let request = build_request(bundle, &plan.runtime);
    let policy_decision = policy.evaluate(&bundle.proposal, &bundle.decision, Some(&request));
    let mut git_record = GitRecord {
        base: plan.base,
        ..GitRecord::default()
    };

    let (result, executed) = if policy_decision.is_allowed() {
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
        let mut result = adapter.execute(&request, &wt.path);
        if result.success {
            match commit_changes(&wt, &request, bundle, plan.command) {
                Ok((commit, diff)) => {
                    result.changed_files = diff.changed_files();
                    result.changed_files_source = Some("git_diff".to_owned());
                    result.changed_files_confidence = Some(1.0);
                    result.diff_stat_excerpt = diff.shortstat();
                    git_record.commit = commit;
                    git_record.diff = diff;
                }
                Err(e) => {
                    result = ExecutionResult::failed(
                        &request,
                        ExecutionStatus::Failed,
                        FailureReasonCategory::BackendError,
                        format!("{}: {}", e.message, e.causes.join(": ")),
                    );
                }
            }
        }
        result.branch_name = Some(wt.branch.clone());
        result.recovery = Some(single_attempt_recovery(&result));
        (result, true)
    } else {
        let reason = if policy_decision.status == PolicyStatus::Block {
            "execution blocked by policy"
        } else {
            "execution requires review before autonomous execution"
        };
        let result = ExecutionResult::failed(
            &request,
            ExecutionStatus::Skipped,
            FailureReasonCategory::PolicyBlocked,
            format!("{reason}: {}", policy_decision.notes),
        );
        (result, false)
    };

    let record = observe(&result, &policy_decision, bundle);
    let trace = crate::observability::build_trace(&record);
    let run_metadata = RunMetadata {
        run_id: result.run_id.clone(),
        proposal_id: bundle.proposal.proposal_id.clone(),
        decision_id: bundle.decision.decision_id.clone(),
        selected_lane: bundle.decision.selected_lane.as_str().to_owned(),
        selected_backend: bundle.decision.selected_backend.as_str().to_owned(),
        policy_status: policy_decision.status.as_str().to_owned(),
        result_status: result.status.as_str().to_owned(),
        success: result.success,
        executed,
    };

    let mut set = EvidenceSet::default();
    set.push_json("proposal.json", &bundle.proposal);
    set.push_json("decision.json", &bundle.decision);
    set.push_json("execution_request.json", &request);
    set.push_json("result.json", &result);
    set.push_json("execution_record.json", &record);
    set.push_json("execution_trace.json", &trace);
    set.push_json("run_metadata.json", &run_metadata);

    // Disk first (what the seed shows), then git, which holds the same bytes even when the
    // workspace could not be written.
    let (evidence_files, disk_error) = match crate::evidence::write_to_disk(&plan.workspace, &result.run_id, &set) {
        Ok(_) => {
            let dir = crate::evidence::run_dir(std::path::Path::new(&request.workspace_path), &result.run_id);
            (set.files.iter().map(|(name, _)| dir.join(name)).collect(), None)
        }
        Err(e) => (Vec::new(), Some(e)),
    };

    let anchor = git_record.commit.or(plan.base);
    let message = evidence_commit_message(&trace, &result, &policy_decision, &bundle.proposal, &git_record);
    let (evidence_ref, evidence_commit) =
        git::evidence::write_evidence_ref(&repo.repo, &result.run_id, &set.files, anchor, &message)?;
    git_record.evidence_ref = evidence_ref.clone();
    git_record.evidence_commit = Some(evidence_commit);

    if let Some(target) = anchor {
        let block = note_block(&trace, &result, &policy_decision, &git_record.diff, &evidence_ref);
        git::notes::append_note_block(&repo.repo, target, &block.render())?;
        git_record.note_target = Some(target);
    }

    Ok(RunOutcome {
        proposal: bundle.proposal.clone(),
        decision: bundle.decision.clone(),
        request,
        policy_decision,
        result,
        record,
        trace,
        run_metadata,
        executed,
        evidence_files,
        git: git_record,
        disk_error,
    })
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

/// Snapshot the worktree, diff it against the base and commit it when anything changed.
fn commit_changes(
    wt: &RunWorktree,
    request: &ExecutionRequest,
    bundle: &ProposalDecisionBundle,
    command: &str,
) -> Result<(Option<gix::ObjectId>, DiffStat)> {
    // Reopen: the adapter may have changed refs or the index behind our back.
    let mut repo = gix::open(&wt.path).map_err(|e| Error::git("could not reopen the run worktree", e))?;
    git::set_identity_fallback(&mut repo)?;
    let snapshot = git::snapshot::snapshot_tree(&repo)?;
    let base_tree = match wt.base {
        Some(base) => Some(
            repo.find_commit(base)
                .and_then(|c| c.tree_id())
                .map_err(|e| Error::git("could not read the base tree", e))?
                .detach(),
        ),
        None => None,
    };
    let diff = git::diff::diff_trees(&repo, base_tree, snapshot)?;
    let head_tree = repo
        .head_tree_id_or_empty()
        .map_err(|e| Error::git("could not read the worktree HEAD", e))?
        .detach();
    if head_tree == snapshot {
        return Ok((None, diff));
    }
    let parent = repo.head_id().ok().map(|id| id.detach());
    let message = run_commit_message(request, bundle, command);
    let commit = git::snapshot::commit_snapshot(&repo, &message, snapshot, parent)?;
    Ok((Some(commit), diff))
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

fn run_commit_message(request: &ExecutionRequest, bundle: &ProposalDecisionBundle, command: &str) -> String {
    let subject = subject_from_goal(&request.goal_text)
        .unwrap_or_else(|| format!("git-oc run {}", prefix_chars(&request.run_id, 8)));
    let mut message = format!(
        "{subject}\n\nMade by {command}: task {}, lane {}, backend {}.\n",
        bundle.proposal.task_id, bundle.decision.selected_lane, bundle.decision.selected_backend
    );
    if request.goal_text.trim() != subject {
        message.push_str(&format!("\nGoal:\n{}\n", request.goal_text.trim_end()));
    }
    message.push_str(&format!("\nOc-Run: {}\n", request.run_id));
    message
}

fn evidence_commit_message(
    trace: &ExecutionTrace,
    result: &ExecutionResult,
    policy: &PolicyDecision,
    proposal: &TaskProposal,
    git: &GitRecord,
) -> String {
    let goal = subject_from_goal(&proposal.goal_text).unwrap_or_default();
    let none = || "none".to_owned();
    let lines = [
        ("Oc-Run", result.run_id.clone()),
        ("Oc-Task", proposal.task_id.clone()),
        ("Oc-Status", result.status.as_str().to_owned()),
        ("Oc-Policy", policy.status.as_str().to_owned()),
        (
            "Oc-Lane",
            trace
                .routing
                .get("selected_lane")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned(),
        ),
        (
            "Oc-Backend",
            trace
                .routing
                .get("selected_backend")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned(),
        ),
        ("Oc-Branch", git.branch.clone().unwrap_or_else(none)),
        ("Oc-Commit", git.commit.map(|c| c.to_string()).unwrap_or_else(none)),
        ("Oc-Diff", git.diff.shortstat().unwrap_or_else(none)),
    ];
    let mut message = format!(
        "{}\n\n{}\n\n",
        trace.headline,
        if goal.is_empty() { "(no goal)" } else { &goal }
    );
    for (k, v) in lines {
        message.push_str(&format!("{k}: {v}\n"));
    }
    message
}

fn note_block(
    trace: &ExecutionTrace,
    result: &ExecutionResult,
    policy: &PolicyDecision,
    diff: &DiffStat,
    evidence_ref: &str,
) -> NoteBlock {
    NoteBlock {
        headline: trace.headline.clone(),
        trailers: vec![
            ("Oc-Run".into(), result.run_id.clone()),
            ("Oc-Status".into(), result.status.as_str().to_owned()),
            ("Oc-Policy".into(), policy.status.as_str().to_owned()),
            ("Oc-Diff".into(), diff.shortstat().unwrap_or_else(|| "none".to_owned())),
            ("Oc-Evidence".into(), evidence_ref.to_owned()),
        ],
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
