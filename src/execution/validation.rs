//! Validation: the commands from `--validate` or configuration, run in the worktree after the
//! agent, each with its exit code, duration and output tail.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::Serialize;

use super::process::{ProcessSpec, run};
use super::secrets::Redactor;
use crate::contracts::{ValidationStatus, ValidationSummary, prefix_chars};

/// Bytes of each stream kept per validation command.
const TAIL_BYTES: usize = 16 * 1024;

#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct CommandReport {
    pub command: String,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub timed_out: bool,
    pub duration_ms: u64,
    pub stdout_tail: String,
    pub stderr_tail: String,
}

/// `validation.json`.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ValidationReport {
    pub status: ValidationStatus,
    /// Whether a failure fails the run (the policy's effective validation requirement).
    pub must_pass: bool,
    pub profile: String,
    pub timeout_seconds: u64,
    pub commands: Vec<CommandReport>,
}

impl ValidationReport {
    pub fn skipped(profile: &str, must_pass: bool, timeout_seconds: u64) -> Self {
        ValidationReport {
            status: ValidationStatus::Skipped,
            must_pass,
            profile: profile.to_owned(),
            timeout_seconds,
            commands: Vec::new(),
        }
    }

    pub fn summary(&self) -> ValidationSummary {
        let passed = self
            .commands
            .iter()
            .filter(|c| c.exit_code == Some(0) && !c.timed_out)
            .count() as u64;
        let run = self.commands.len() as u64;
        let failure_excerpt = self
            .commands
            .iter()
            .find(|c| c.exit_code != Some(0) || c.timed_out)
            .map(|c| {
                if c.timed_out {
                    format!("timeout after {}s: {}", self.timeout_seconds, c.command)
                } else {
                    let text = if c.stderr_tail.trim().is_empty() {
                        &c.stdout_tail
                    } else {
                        &c.stderr_tail
                    };
                    let code = c
                        .exit_code
                        .map_or_else(|| c.signal.clone().unwrap_or_default(), |c| c.to_string());
                    format!("exit={code}: {}", prefix_chars(text, 1000))
                }
            });
        ValidationSummary {
            status: self.status,
            commands_run: run,
            commands_passed: passed,
            commands_failed: run - passed,
            failure_excerpt,
            duration_ms: if self.commands.is_empty() {
                None
            } else {
                Some(self.commands.iter().map(|c| c.duration_ms).sum())
            },
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.status, ValidationStatus::Failed | ValidationStatus::Error)
    }
}

/// What a validation run reports as it goes.
pub enum Progress<'a> {
    /// A command starts (redacted).
    Started(&'a str),
    /// Output lines of the running command, redacted (only when streaming was asked for).
    Output(&'a [u8]),
}

/// Where progress goes.
pub type ProgressSink<'a> = dyn FnMut(Progress<'_>) + 'a;

/// The validation of one run: its commands and how they are judged.
pub struct Validation<'a> {
    pub commands: &'a [String],
    pub cwd: &'a Path,
    pub profile: &'a str,
    /// Whether a failure fails the run.
    pub must_pass: bool,
    pub timeout_seconds: u64,
}

/// Run every command with `sh -c` in `cwd`: validation commands are lines the user wrote for a
/// shell (`cargo test && cargo clippy`), unlike agent invocations, which never use one. Each
/// command's start goes to `progress`, and with `stream` its output lines as they arrive.
pub fn run_validation(
    v: &Validation,
    redactor: &Redactor,
    interrupt: &AtomicBool,
    stream: bool,
    progress: &mut ProgressSink<'_>,
) -> ValidationReport {
    let (commands, cwd, timeout_seconds) = (v.commands, v.cwd, v.timeout_seconds);
    let mut report = ValidationReport::skipped(v.profile, v.must_pass, timeout_seconds);
    if commands.is_empty() {
        return report;
    }
    let mut any_error = false;
    let mut any_failed = false;
    for command in commands {
        let spec = ProcessSpec {
            program: "sh".into(),
            args: vec!["-c".into(), command.into()],
            cwd: cwd.to_owned(),
            env: Vec::new(),
            timeout: Duration::from_secs(timeout_seconds),
            stream: stream.then(|| redactor.clone()),
            capture_limit: TAIL_BYTES,
        };
        progress(Progress::Started(&redactor.redact(command)));
        let outcome = run(&spec, interrupt, &mut |line| progress(Progress::Output(line)));
        let text = |bytes: &[u8], truncated: bool| {
            String::from_utf8_lossy(&redactor.redact_tail(bytes, truncated)).into_owned()
        };
        if outcome.timed_out || outcome.cancelled || outcome.spawn_error.is_some() {
            any_error = true;
        } else if outcome.exit_code != Some(0) {
            any_failed = true;
        }
        report.commands.push(CommandReport {
            command: redactor.redact(command),
            exit_code: outcome.exit_code,
            signal: outcome.signal.clone(),
            timed_out: outcome.timed_out,
            duration_ms: outcome.duration.as_millis() as u64,
            stdout_tail: text(&outcome.stdout.tail, outcome.stdout.truncated()),
            stderr_tail: match &outcome.spawn_error {
                Some(e) => format!("could not start sh: {e}"),
                None => text(&outcome.stderr.tail, outcome.stderr.truncated()),
            },
        });
        if outcome.cancelled {
            break;
        }
    }
    report.status = if any_error {
        ValidationStatus::Error
    } else if any_failed {
        ValidationStatus::Failed
    } else {
        ValidationStatus::Passed
    };
    report
}
