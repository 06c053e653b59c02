//! `git oc run`: a goal becomes a committed, validated, gated change on its own branch, made by a
//! real coding agent in its own worktree, with complete evidence.

use std::path::PathBuf;

use clap::Args;
use clap::builder::PossibleValue;
use serde_json::json;

use super::field;
use super::ui::Ui;
use crate::contracts::{LaneName, Priority, RiskLevel, TaskType, prefix_chars};
use crate::error::Result;
use crate::execution::agents::AgentKind;
use crate::git;
use crate::pipeline::RunOutcome;
use crate::routing::Router;
use crate::session::TaskSpec;

/// What a task is: the goal and its planning settings, shared by `run`, `plan` and
/// `policy check`.
#[derive(Debug, Args, Clone)]
pub struct TaskArgs {
    /// What the agent should do
    #[arg(long)]
    pub goal: String,
    /// Task type
    #[arg(long, default_value = "simple_edit", value_parser = TaskType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>())]
    pub task_type: String,
    /// Risk level
    #[arg(long, default_value = "low", value_parser = RiskLevel::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>())]
    pub risk: String,
    /// Priority
    #[arg(long, default_value = "normal", value_parser = Priority::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>())]
    pub priority: String,
    /// A label for the proposal (repeatable), e.g. local_only
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// A path pattern the change is declared to stay within (repeatable)
    #[arg(long = "path", value_name = "PATTERN")]
    pub paths: Vec<String>,
    /// The agent backend (skips the router)
    #[arg(long, value_parser = backends())]
    pub backend: Option<String>,
    /// The lane (skips the router; the backend defaults from it)
    #[arg(long, value_parser = LaneName::ALL.iter().map(|l| l.as_str()).collect::<Vec<_>>())]
    pub lane: Option<String>,
    /// The router when neither --backend nor --lane is given [default: from configuration, else rules]
    #[arg(long, value_parser = Router::ALL.map(Router::as_str))]
    pub routing: Option<String>,
    /// The commit to branch from
    #[arg(long, default_value = "HEAD", value_name = "REV")]
    pub base: String,
    /// Repository key used as the policy key [default: from configuration, else the repository's name]
    #[arg(long)]
    pub repo_key: Option<String>,
    /// A validation command run in the worktree after the agent, with sh -c (repeatable)
    /// [default: run.validate from configuration]
    #[arg(long = "validate", value_name = "CMD")]
    pub validate: Vec<String>,
    /// Push the run branch, its evidence and the notes to the remote once the run passes its gates
    #[arg(long)]
    pub push: bool,
    /// Open (or update) the run's pull request on GitHub; implies --push and satisfies a
    /// policy's branch_guardrail.require_pr
    #[arg(long)]
    pub pr: bool,
}

/// The backends, with the help each gives in completions and `--help`.
fn backends() -> Vec<PossibleValue> {
    AgentKind::ALL
        .iter()
        .map(|k| PossibleValue::new(k.name()).help(k.description()))
        .collect()
}

impl TaskArgs {
    /// The task as the library takes it. clap has checked every value against the same lists.
    pub fn spec(&self) -> TaskSpec {
        let mut spec = TaskSpec::new(self.goal.clone());
        spec.task_type = self.task_type.parse().unwrap_or(TaskType::SimpleEdit);
        spec.risk = self.risk.parse().unwrap_or(RiskLevel::Low);
        spec.priority = self.priority.parse().unwrap_or(Priority::Normal);
        spec.labels = self.labels.clone();
        spec.paths = self.paths.clone();
        spec.backend = self.backend.as_deref().and_then(AgentKind::parse);
        spec.lane = self.lane.as_deref().and_then(|l| l.parse().ok());
        spec.router = self.routing.as_deref().and_then(Router::parse);
        spec.base = self.base.clone();
        spec.repo_key = self.repo_key.clone();
        spec.validate = self.validate.clone();
        spec.publish = crate::session::PublishOptions {
            push: self.push || self.pr,
            pull_request: self.pr,
        };
        spec
    }
}

/// Run a coding agent on a goal, in its own worktree and branch, and record the evidence
///
/// git oc run plans the goal, routes it (the rules router by default, or --backend/--lane), gates
/// it with the policy, creates a linked worktree on a new branch from --base, runs the agent there
/// (no shell, its own process group, a timeout), validates the result with the --validate
/// commands, computes the diff from git objects, commits it with an Oc-Run trailer, gates the real
/// changed paths again, and records the evidence under <worktree>/.operations_center/runs/<run_id>/,
/// at refs/oc/runs/<run_id> and in a note in refs/notes/oc. Your checkout is never touched.
///
/// Exit status: 0 when the run succeeded (or the agent changed nothing), 1 when it did not
/// (blocked or sent to review by policy, agent failed or timed out, validation failed), 2 on bad
/// input, 130 when interrupted.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  git oc run --goal \"Fix the lint errors in src/\" --backend claude --validate \"cargo clippy -- -D warnings\"\n  git oc run --goal \"Add a test for parse()\" --backend command -- ./my-agent {goal_file}"
)]
pub struct RunArgs {
    #[command(flatten)]
    pub task: TaskArgs,
    /// The run branch; {task_id} and {run} (8 random hex) are replaced [default: run.branch, else oc/{task_id}]
    #[arg(long, value_name = "TEMPLATE")]
    pub branch: Option<String>,
    /// Seconds the agent may run before its process group is killed [default: run.timeout, else 1800]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub timeout: Option<u64>,
    /// Seconds each validation command may run [default: run.validation_timeout, else 600]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub validation_timeout: Option<u64>,
    /// Where to create the run's worktree [default: <git-dir>/oc/worktrees/<branch>-<8 hex>]
    #[arg(long, value_name = "PATH")]
    pub workspace_path: Option<PathBuf>,
    /// For --backend command: the program and its arguments
    #[arg(last = true, value_name = "ARGV")]
    pub command: Vec<String>,
}

pub fn cmd_run(ui: &mut Ui, args: &RunArgs) -> Result<i32> {
    let mut spec = args.task.spec();
    spec.branch = args.branch.clone();
    spec.timeout = args.timeout;
    spec.validation_timeout = args.validation_timeout;
    spec.workspace = args.workspace_path.clone();
    spec.command = args.command.clone();
    let session = super::open_session()?;
    let prepared = session.prepare(&spec)?;
    super::run_and_print(ui, prepared, json_document, report)
}

/// The run report: what happened, where the change is, where the evidence is.
pub fn report(o: &RunOutcome) -> String {
    let s = &o.summary;
    let mut out = format!("run {}\n", o.result.run_id);
    field(&mut out, "headline", &o.trace.headline);
    field(
        &mut out,
        "task",
        &format!(
            "{} ({}, risk {}, priority {})",
            o.proposal.task_id, o.proposal.task_type, o.proposal.risk_level, o.proposal.priority
        ),
    );
    field(
        &mut out,
        "routing",
        &format!(
            "{} / {} ({})",
            s.lane,
            s.backend,
            o.decision.policy_rule_matched.as_deref().unwrap_or("fallback")
        ),
    );
    let post = s
        .post_run_policy_status
        .as_deref()
        .map(|p| format!(", after the run {}", p.to_uppercase()))
        .unwrap_or_default();
    field(
        &mut out,
        "policy",
        &format!("{}{post}", o.policy_decision.status.as_str().to_uppercase()),
    );
    for v in o
        .policy_decision
        .violations
        .iter()
        .chain(o.post_policy.iter().flat_map(|p| p.violations.iter()))
    {
        let tag = if v.blocking { "[BLOCK]" } else { "[review]" };
        field(&mut out, "violation", &format!("{tag} {}: {}", v.rule_id, v.message));
    }
    for w in &o.policy_decision.warnings {
        field(&mut out, "warning", &format!("{}: {}", w.rule_id, w.message));
    }
    for remedy in crate::policy::remedies(&o.policy_decision) {
        field(&mut out, "hint", &remedy);
    }
    if let Some(c) = &o.command {
        let how = match (&c.spawn_error, c.timed_out, c.cancelled, c.exit_code, &c.signal) {
            (Some(e), ..) => format!("could not start: {e}"),
            (_, true, ..) => format!("timed out after {} s", c.timeout_seconds),
            (_, _, true, ..) => "cancelled".to_owned(),
            (_, _, _, Some(code), _) => format!("exited {code}"),
            (_, _, _, None, Some(sig)) => format!("killed by {sig}"),
            _ => "ended".to_owned(),
        };
        field(
            &mut out,
            "agent",
            &format!("{} {how} in {:.1} s", c.argv[0], c.duration_ms as f64 / 1000.0),
        );
    }
    if let Some(v) = &o.validation
        && !v.commands.is_empty()
    {
        let passed = v
            .commands
            .iter()
            .filter(|c| c.exit_code == Some(0) && !c.timed_out)
            .count();
        field(
            &mut out,
            "validation",
            &format!("{} ({passed} of {} commands passed)", v.status, v.commands.len()),
        );
    }
    let uncommitted = if o.git.commit.is_none() && s.diff_stat.is_some() {
        " (left uncommitted in the worktree)"
    } else {
        ""
    };
    field(
        &mut out,
        "changes",
        &format!("{}{uncommitted}", s.diff_stat.as_deref().unwrap_or("none")),
    );
    match (&o.git.commit, &o.git.branch) {
        (Some(c), Some(b)) if o.git.rejected_ref.is_some() => field(
            &mut out,
            "commit",
            &format!(
                "{} rejected: kept only here, at {}; {b} stays at the base",
                git::short(c),
                o.git.rejected_ref.as_deref().unwrap_or_default()
            ),
        ),
        (Some(c), Some(b)) => field(
            &mut out,
            "commit",
            &format!(
                "{} on {b}{}",
                git::short(c),
                o.git
                    .base
                    .map(|b| format!(" (from {})", git::short(&b)))
                    .unwrap_or_default()
            ),
        ),
        (None, Some(b)) => field(&mut out, "branch", &format!("{b} (no commit)")),
        _ => field(&mut out, "branch", "none (the run never started)"),
    }
    if let Some(wt) = &o.git.worktree {
        field(&mut out, "worktree", &wt.display().to_string());
    }
    field(&mut out, "evidence", &o.git.evidence_ref);
    publication_fields(&mut out, o.publication.as_ref());
    for w in &s.warnings {
        field(&mut out, "warning", w);
    }
    let outcome = match &s.reason {
        Some(r) if !s.success => format!("{}: {}", s.outcome_status, prefix_chars(r, 300)),
        _ if s.needs_review => format!("{} (needs review)", s.outcome_status),
        _ => s.outcome_status.to_string(),
    };
    field(&mut out, "outcome", &outcome);
    out
}

/// What publishing did: the push and the pull request, or why the run was not published.
pub fn publication_fields(out: &mut String, report: Option<&crate::publication::Report>) {
    use crate::publication::Report;
    match report {
        Some(Report::Published(p)) => {
            field(
                out,
                "pushed",
                &format!("{} to {} at {}", p.branch, p.remote, prefix_chars(&p.commit, 7)),
            );
            if let Some(pr) = &p.pull_request {
                field(
                    out,
                    "pull request",
                    &format!("{} ({}{})", pr.url, pr.action, if pr.draft { ", draft" } else { "" }),
                );
            }
        }
        Some(Report::Skipped(r)) => field(out, "published", &format!("no: {}; {}", r.reason, r.hint)),
        Some(Report::Failed { error }) => field(out, "published", &format!("failed: {error}")),
        None => {}
    }
}

pub fn json_document(o: &RunOutcome) -> serde_json::Value {
    json!({
        "summary": o.summary,
        "proposal": o.proposal,
        "decision": o.decision,
        "policy_decision": o.policy_decision,
        "post_run_policy_decision": o.post_policy,
        "execution_request": o.request,
        "result": o.result,
        "execution_record": o.record,
        "execution_trace": o.trace,
        "run_metadata": o.run_metadata,
        "validation": o.validation,
        "command": o.command,
        "git": o.git.to_json(),
        "publication": o.publication,
        "evidence_files": o.evidence_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    })
}
