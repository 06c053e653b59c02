//! The record stage: the run's evidence (the seed's seven files, plus the golden-path files for
//! real backends) built from typed values with secrets redacted, written to the workspace, to
//! `refs/oc/runs/<run_id>` and as a note block on the run's commit.

use std::path::Path;

use serde_json::{Map, Value};

use crate::contracts::{
    ArtifactType, ExecutionArtifact, ExecutionRecord, PolicyDecision, ProposalDecisionBundle, RunMetadata,
};
use crate::error::{Error, Result};
use crate::evidence::EvidenceSet;
use crate::evidence::files::{self, PolicyRecord, Summary};
use crate::evidence::message::{EvidenceMessage, subject_from_goal};
use crate::evidence::note::RunNote;
use crate::execution::validation::ValidationReport;
use crate::pipeline::{Env, Flow, Outcome, Recorded, RunOutcome, RunState, Stage, StageName};

pub struct Record {
    /// Write the files of a run with a real backend: both policy decisions, the command and its
    /// output, validation, the diff and its stat, the summary and the goal file.
    pub golden_files: bool,
}

impl Stage for Record {
    fn name(&self) -> StageName {
        StageName::Record
    }

    fn always_runs(&self) -> bool {
        true
    }

    fn run(&self, state: &mut RunState, env: &Env) -> Result<Flow> {
        let cx = env.cx;
        let redactor = &cx.redactor;
        // The run is over: `git oc gc` may have the worktree once the evidence is in.
        state.lock = None;
        land(state, env);
        let Some(policy_decision) = state.policy_decision.clone() else {
            return Err(Error::internal("the record stage ran before the pre-run gate"));
        };
        if state.result.completed_at < state.started_at {
            state.result.completed_at = cx.clock.now();
        }
        if let Some(branch) = state.git.branch.clone().filter(|_| state.worktree.is_some()) {
            state.result.branch_name = Some(branch);
            state.result.recovery = Some(crate::execution::single_attempt_recovery(&state.result));
        }
        if state.rejected {
            // The run log excerpt may quote the rejected content: it stays on this machine too.
            for artifact in state.result.artifacts.iter_mut().filter(|a| a.content.is_some()) {
                artifact.content = Some("withheld: the run's change was rejected".to_owned());
            }
        }
        if self.golden_files && !state.git.diff.is_empty() {
            state.result.artifacts.push(ExecutionArtifact {
                artifact_id: cx.ids.new_id(),
                artifact_type: ArtifactType::Patch,
                label: "diff against the base".into(),
                content: None,
                uri: Some(files::DIFF_PATCH.into()),
                size_bytes: None,
                produced_at: cx.clock.now(),
            });
        }
        let patch = if !self.golden_files {
            Vec::new()
        } else if state.rejected {
            // The offending content stays local; the evidence says where it is.
            let kept = state
                .git
                .rejected_ref
                .as_deref()
                .unwrap_or("nowhere: it could not be kept");
            format!(
                "git-oc: the patch of a rejected run is withheld from the evidence. It is kept in this \
                 repository only, at {kept}:\n  git diff {} {kept}\n",
                state.plan.base.map_or_else(|| "--root".to_owned(), |b| b.to_string())
            )
            .into_bytes()
        } else {
            state.patch(env).to_vec()
        };
        let bundle = &state.plan.bundle;
        let record = observe(&state.result, &policy_decision, bundle);
        let trace = crate::observability::build_trace(&record);
        let run_metadata = RunMetadata {
            run_id: state.request.run_id.clone(),
            proposal_id: bundle.proposal.proposal_id.clone(),
            decision_id: bundle.decision.decision_id.clone(),
            selected_lane: bundle.decision.selected_lane.as_str().to_owned(),
            selected_backend: bundle.decision.selected_backend.as_str().to_owned(),
            policy_status: policy_decision.status.as_str().to_owned(),
            result_status: state.result.status.as_str().to_owned(),
            success: state.result.success,
            executed: state.executed,
        };
        let summary = summarize(state, &policy_decision, env);

        let mut set = EvidenceSet::default();
        set.push_json(files::PROPOSAL, &bundle.proposal, redactor);
        set.push_json(files::DECISION, &bundle.decision, redactor);
        set.push_json(files::EXECUTION_REQUEST, &state.request, redactor);
        set.push_json(files::RESULT, &state.result, redactor);
        set.push_json(files::EXECUTION_RECORD, &record, redactor);
        set.push_json(files::EXECUTION_TRACE, &trace, redactor);
        set.push_json(files::RUN_METADATA, &run_metadata, redactor);
        if self.golden_files {
            let policy_record = PolicyRecord {
                policy_digest: env.policy.digest(),
                pre_run: policy_decision.clone(),
                pre_run_explanation: crate::policy::explain(&policy_decision),
                post_run: state.post_policy.clone(),
            };
            set.push_json(files::POLICY_DECISION, &policy_record, redactor);
            set.push_json(files::COMMAND, &state.capture.as_ref().map(|c| &c.command), redactor);
            let (stdout, stderr) = match &mut state.capture {
                // A rejected change's content may be in what the agent printed too: the output
                // stays in the run's directory on this machine.
                Some(_) if state.rejected => {
                    let here = crate::evidence::run_dir(&state.plan.workspace, &state.request.run_id);
                    let note = |name: &str| {
                        format!(
                            "git-oc: the output of a rejected run is withheld from the evidence; it is kept on the \
                             machine that ran it, at {}\n",
                            here.join(name).display()
                        )
                        .into_bytes()
                    };
                    (note(files::STDOUT), note(files::STDERR))
                }
                // The outcome keeps only the command record: the output moves into the evidence.
                Some(c) => (std::mem::take(&mut c.stdout), std::mem::take(&mut c.stderr)),
                None => (Vec::new(), Vec::new()),
            };
            set.push_text(files::STDOUT, &stdout, redactor);
            set.push_text(files::STDERR, &stderr, redactor);
            let validation = state.validation.clone().unwrap_or_else(|| {
                ValidationReport::skipped(
                    &policy_decision.effective_validation_profile,
                    false,
                    state.plan.validation_timeout,
                )
            });
            set.push_json(files::VALIDATION, &validation, redactor);
            let mut stat = state.git.diff.numstat();
            if let Some(short) = state.git.diff.shortstat() {
                stat.extend_from_slice(format!("\n {short}\n").as_bytes());
            }
            set.push_text(files::DIFF_STAT, &stat, redactor);
            set.push_text(files::DIFF_PATCH, &patch, redactor);
            set.push_json(files::SUMMARY, &summary, redactor);
            if let Some(goal) = &state.goal_file {
                set.push_text(files::GOAL, goal, redactor);
            }
        }

        // Disk first (what the seed shows), then git, which holds the same bytes even when the
        // workspace could not be written.
        let run_id = state.request.run_id.clone();
        let written = if state.workspace_gone {
            Err(Error::run(format!(
                "the workspace {} disappeared; the evidence is only in git",
                state.plan.workspace.display()
            )))
        } else {
            // The output withheld from git for a rejected run stays on disk as the agent stage
            // wrote it.
            let mut on_disk = set.clone();
            if state.rejected && state.capture.is_some() {
                on_disk
                    .files
                    .retain(|(name, _)| name != files::STDOUT && name != files::STDERR);
            }
            crate::evidence::write_to_disk(&state.plan.workspace, &run_id, &on_disk)
        };
        let (evidence_files, disk_error) = match written {
            Ok(_) => {
                let dir = crate::evidence::run_dir(Path::new(&state.request.workspace_path), &run_id);
                (set.files.iter().map(|(name, _)| dir.join(name)).collect(), None)
            }
            Err(e) => (Vec::new(), Some(e)),
        };

        // A rejected commit stays out of everything git-oc publishes: the evidence and the note
        // hang on the base instead.
        let anchor = state.git.commit.filter(|_| !state.rejected).or(state.plan.base);
        let message = EvidenceMessage {
            headline: trace.headline.clone(),
            goal: subject_from_goal(&redactor.redact(&bundle.proposal.goal_text)).unwrap_or_default(),
            run_id: run_id.clone(),
            task_id: Some(bundle.proposal.task_id.clone()),
            status: state.result.status.as_str().to_owned(),
            outcome: summary.outcome_status.as_str().to_owned(),
            policy: Some(summary.policy_status.clone()),
            lane: summary.lane.clone(),
            backend: summary.backend.clone(),
            branch: state.git.branch.as_deref().map(|b| redactor.redact(b)),
            commit: state.git.commit.map(|c| c.to_string()),
            diff: state.git.diff.shortstat(),
            recorded: Some(summary.finished_at),
            rejected: summary.rejected,
            landed: None,
            pushed: None,
            pr: None,
        };
        let repo = &env.repo.repo;
        let prefix = state.plan.namespace.ref_prefix();
        let evidence_commit = crate::git::evidence::write_evidence_commit(repo, &set.files, anchor, &message.render())?;
        let mut evidence_ref = None;
        // The evidence and the note are written out together (one pack), then the evidence ref
        // is created, before the note that names it.
        let mut publish = || -> Result<()> {
            crate::git::pack::flush(repo)?;
            if evidence_ref.is_none() {
                evidence_ref = Some(crate::git::evidence::create_evidence_ref(
                    repo,
                    prefix,
                    &run_id,
                    evidence_commit,
                )?);
            }
            Ok(())
        };
        let evidence_ref_name = format!("{prefix}{run_id}");
        if let Some(target) = anchor {
            let diff = state.git.diff.shortstat();
            let outcome = summary.outcome_status;
            let note = RunNote {
                headline: &trace.headline,
                run_id: &run_id,
                status: state.result.status.as_str(),
                outcome: (outcome != Outcome::Executed || summary.needs_review).then_some(outcome.as_str()),
                policy: policy_decision.status.as_str(),
                diff: diff.as_deref(),
                evidence_ref: &evidence_ref_name,
                rejected: summary.rejected,
            };
            let notes_ref = state.plan.namespace.notes_ref();
            crate::git::notes::update_note_then(
                repo,
                notes_ref,
                target,
                |existing| crate::evidence::note::append_block(existing, &note.block().render()),
                &mut publish,
            )?;
            state.git.notes_ref = notes_ref;
            state.git.note_target = Some(target);
        }
        publish()?;
        state.git.evidence_ref = evidence_ref.unwrap_or(evidence_ref_name);
        state.git.evidence_commit = Some(evidence_commit);
        state.recorded = Some(Recorded {
            record,
            trace,
            run_metadata,
            summary,
            evidence_files,
            disk_error,
        });
        Ok(Flow::Continue)
    }
}

/// Put the run's commit where it belongs, by compare-and-swap on exactly one ref: the run branch
/// when the gates passed, `refs/oc/rejected/<run_id>` when the post-run gate rejected it (the
/// branch then goes back to the base, so it never holds ungated work). A failure here fails the
/// run; the branch is then left where it was.
fn land(state: &mut RunState, env: &Env) {
    let Some(commit) = state.git.commit else {
        take_back_ungated(state, env);
        return;
    };
    let repo = &env.repo.repo;
    // The commit and its trees and blobs go to disk (one pack) before a ref names them.
    if let Err(e) = crate::git::pack::flush(repo) {
        state.fail(&e);
        state.git.commit = None;
        return;
    }
    let branch_ref = state.branch_ref();
    let base = state.plan.base;
    let tip = state.snapshot.as_ref().and_then(|s| s.head);
    // The run's commit sits on the base; what the agent committed on the way was never gated
    // commit by commit, so it is kept where nothing publishes it (and nothing published may
    // reach it, see `publish::refuse_rejected_content`).
    if let Some(tip) = tip.filter(|t| Some(*t) != base) {
        let kept = format!("refs/oc/rejected/{}.agent", state.request.run_id);
        if let Err(e) = crate::git::refs::create(repo, &kept, tip, "git-oc: the agent's own commits") {
            state.fail(&Error::run("the agent's own commits could not be kept aside").caused_by(e.summary_line()));
            state.git.commit = None;
            return;
        }
    }
    let landed = if state.rejected {
        let kept = format!("refs/oc/rejected/{}", state.request.run_id);
        let result = crate::git::refs::create(repo, &kept, commit, "git-oc: rejected by the post-run gate").and_then(
            |_| match (tip, base) {
                // The agent committed on the branch itself: take it back to the base.
                (Some(tip), Some(base)) if tip != base => {
                    crate::git::refs::compare_and_swap(repo, &branch_ref, Some(tip), base, "git-oc: rejected run")
                }
                (Some(tip), None) => crate::git::refs::delete(repo, &branch_ref, tip),
                _ => Ok(()),
            },
        );
        if result.is_ok() {
            state.git.rejected_ref = Some(kept);
        }
        result
    } else {
        let message = format!("commit: {}", state.request.run_id);
        crate::git::refs::compare_and_swap(repo, &branch_ref, tip, commit, &message).map(|_| {
            if let (Some(wt), Some(snapshot)) = (&state.worktree, &state.snapshot) {
                if let Err(e) = crate::git::snapshot::refresh_index(&wt.repo, snapshot.tree) {
                    state.warnings.push(e.summary_line());
                }
                let validated = state.validation.as_ref().is_some_and(|v| !v.commands.is_empty());
                if validated && let Err(e) = crate::git::worktree::restore_committed(&wt.path) {
                    state.warnings.push(e.summary_line());
                }
            }
        })
    };
    if let Err(e) = landed {
        let e = Error::run("the run branch could not be moved to the run's commit").caused_by(e.summary_line());
        state.fail(&e);
        state.git.commit = None;
    }
}

/// A run that ends without a commit of its own (the agent failed, the snapshot could not be
/// taken) may still find commits the agent made on the run branch itself: ungated work. The
/// branch goes back to the base and the agent's tip is kept at `refs/oc/rejected/<run_id>`,
/// which is never published; the changes show as uncommitted in the worktree.
fn take_back_ungated(state: &mut RunState, env: &Env) {
    let repo = &env.repo.repo;
    let branch_ref = state.branch_ref();
    let base = state.plan.base;
    let Ok(Some(tip)) = crate::git::refs::target(repo, &branch_ref) else {
        return;
    };
    if Some(tip) == base {
        return;
    }
    let kept = format!("refs/oc/rejected/{}", state.request.run_id);
    let result =
        crate::git::refs::create(repo, &kept, tip, "git-oc: the agent's ungated commit").and_then(|_| match base {
            Some(base) => {
                crate::git::refs::compare_and_swap(repo, &branch_ref, Some(tip), base, "git-oc: ungated commit")
            }
            None => crate::git::refs::delete(repo, &branch_ref, tip),
        });
    match result {
        Ok(_) => {
            state.warnings.push(format!(
                "the agent committed on the run branch, but the run made no commit of its own: the agent's commit is kept at {kept} (never published) and the branch is back at its base"
            ));
            state.git.rejected_ref = Some(kept);
        }
        Err(e) => state.warnings.push(format!(
            "the agent committed on the run branch and it could not be taken back to its base: {}",
            e.summary_line()
        )),
    }
}

fn summarize(state: &RunState, policy: &PolicyDecision, env: &Env) -> Summary {
    let result = &state.result;
    let outcome = state.current_outcome();
    let success = outcome.is_success() && result.success && !state.needs_review;
    let validation_passed = state
        .validation
        .as_ref()
        .filter(|v| !v.commands.is_empty())
        .map(|v| !v.failed());
    let decision = &state.plan.bundle.decision;
    Summary {
        outcome_status: outcome,
        success,
        reason: state.reason.clone().or_else(|| result.failure_reason.clone()),
        branch: state.git.branch.clone(),
        commit: state.git.commit.map(|c| c.to_string()),
        pr_url: None,
        run_id: result.run_id.clone(),
        task_id: state.plan.bundle.proposal.task_id.clone(),
        base: state.plan.base.map(|b| b.to_string()),
        lane: decision.selected_lane.as_str().to_owned(),
        backend: decision.selected_backend.as_str().to_owned(),
        adapter: if state.executed {
            env.adapter.display_name().to_owned()
        } else {
            String::new()
        },
        policy_status: policy.status.as_str().to_owned(),
        post_run_policy_status: state.post_policy.as_ref().map(|p| p.status.as_str().to_owned()),
        needs_review: state.needs_review,
        rejected: state.rejected,
        validation_status: result.validation.status.as_str().to_owned(),
        validation_passed,
        diff_stat: state.git.diff.shortstat(),
        changed_files: state.git.diff.files.len(),
        worktree: state.git.worktree.as_ref().map(|p| p.display().to_string()),
        warnings: state.warnings.clone(),
        started_at: state.started_at,
        finished_at: env.cx.clock.now(),
    }
}

fn observe(
    result: &crate::contracts::ExecutionResult,
    policy: &PolicyDecision,
    bundle: &ProposalDecisionBundle,
) -> ExecutionRecord {
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

/// The finished run, every value with secrets redacted, for the caller to render.
pub fn into_outcome(state: RunState, env: &Env) -> Result<RunOutcome> {
    let redactor = &env.cx.redactor;
    let Some(recorded) = state.recorded else {
        return Err(Error::internal("the run finished without recording its evidence"));
    };
    let Some(policy_decision) = state.policy_decision else {
        return Err(Error::internal("the run finished without a pre-run gate"));
    };
    let bundle = &state.plan.bundle;
    Ok(RunOutcome {
        proposal: redactor.scrubbed(&bundle.proposal),
        decision: redactor.scrubbed(&bundle.decision),
        request: redactor.scrubbed(&state.request),
        policy_decision: redactor.scrubbed(&policy_decision),
        post_policy: redactor.scrubbed(&state.post_policy),
        result: redactor.scrubbed(&state.result),
        record: redactor.scrubbed(&recorded.record),
        trace: redactor.scrubbed(&recorded.trace),
        run_metadata: redactor.scrubbed(&recorded.run_metadata),
        executed: state.executed,
        summary: redactor.scrubbed(&recorded.summary),
        validation: redactor.scrubbed(&state.validation),
        command: state.capture.map(|c| redactor.scrubbed(&c.command)),
        evidence_files: recorded.evidence_files,
        git: state.git,
        disk_error: recorded.disk_error,
        publication: state.publication,
        publish_error: state.publish_error,
    })
}
