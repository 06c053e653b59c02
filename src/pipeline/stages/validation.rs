//! The validation stage: the configured commands run in the worktree on what is about to be
//! committed. A failure fails the run when the policy's validation requirement says it must pass
//! (or when no requirement applies).

use crate::contracts::{ArtifactType, ExecutionArtifact, ExecutionStatus, FailureReasonCategory, prefix_chars};
use crate::error::{Error, Result};
use crate::evidence::files;
use crate::execution::validation::{Progress, Validation as Commands, run_validation};
use crate::pipeline::{Env, Event, Flow, Outcome, OutputSource, RunState, Stage, StageName};

pub struct Validation;

impl Stage for Validation {
    fn name(&self) -> StageName {
        StageName::Validation
    }

    fn run(&self, state: &mut RunState, env: &Env) -> Result<Flow> {
        let Some(wt) = &state.worktree else {
            return Err(Error::internal("the validation stage ran without a worktree"));
        };
        let requirement = env.policy.validation_requirement(&state.plan.bundle.proposal);
        let must_pass = requirement.is_none_or(|r| r.must_pass);
        let profile = requirement.map_or("standard", |r| r.required_profile.as_str());
        let observer = env.cx.observer;
        let mut forward = |progress: Progress| match progress {
            Progress::Started(command) => observer.event(&Event::Running {
                source: OutputSource::Validation,
                what: command,
            }),
            Progress::Output(bytes) => observer.event(&Event::Output {
                source: OutputSource::Validation,
                bytes,
            }),
        };
        let report = run_validation(
            &Commands {
                commands: &state.plan.validation_commands,
                cwd: &wt.path,
                profile,
                must_pass,
                timeout_seconds: state.plan.validation_timeout,
            },
            &env.cx.redactor,
            env.cx.interrupt,
            observer.wants_output(),
            &mut forward,
        );
        let result = &mut state.result;
        result.validation = report.summary();
        if !report.commands.is_empty() {
            result.artifacts.push(ExecutionArtifact {
                artifact_id: env.cx.ids.new_id(),
                artifact_type: ArtifactType::ValidationReport,
                label: "validation report".into(),
                content: None,
                uri: Some(files::VALIDATION.into()),
                size_bytes: None,
                produced_at: env.cx.clock.now(),
            });
        }
        if report.failed() {
            let excerpt = result.validation.failure_excerpt.clone().unwrap_or_default();
            if must_pass {
                result.success = false;
                result.status = ExecutionStatus::Failed;
                result.failure_category = Some(FailureReasonCategory::ValidationFailed);
                result.failure_reason = Some(format!("validation failed: {}", prefix_chars(&excerpt, 300)));
                state.outcome = Some(Outcome::ValidationFailed);
                state.reason = result.failure_reason.clone();
            } else {
                state.warnings.push(format!(
                    "validation failed but the policy's {:?} profile does not require it to pass",
                    report.profile
                ));
            }
        }
        state.validation = Some(report);
        // The change is committed either way, for inspection.
        Ok(Flow::Continue)
    }
}
