//! `git oc run`: a goal becomes a committed, validated, gated change on its own branch, made by a
//! real coding agent in its own worktree, with complete evidence.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::ui::Ui;
use crate::contracts::{BackendName, LaneName, Priority, ProposalDecisionBundle, RiskLevel, TaskType, prefix_chars};
use crate::error::{Error, Result};
use crate::execution::RuntimeContext;
use crate::execution::agents::{AgentAdapter, AgentKind};
use crate::execution::coordinator::{self, RunOutcome, RunPlan};
use crate::git::{self, Repo};
use crate::planning::{PlanningContext, build_proposal};
use crate::policy::{PolicyEngine, default_policy_config};

/// Run a coding agent on a goal, in its own worktree and branch, and record the evidence
///
/// git oc run plans the goal, routes it (from --backend/--lane), gates it with the policy,
/// creates a linked worktree on a new branch from --base, runs the agent there (no shell, its own
/// process group, a timeout), validates the result with the --validate commands, computes the diff
/// from git objects, commits it with an Oc-Run trailer, gates the real changed paths again, and
/// records the evidence under <worktree>/.operations_center/runs/<run_id>/, at
/// refs/oc/runs/<run_id> and in a note in refs/notes/oc. Your checkout is never touched.
///
/// Exit status: 0 when the run succeeded (or the agent changed nothing), 1 when it did not
/// (blocked or sent to review by policy, agent failed or timed out, validation failed), 2 on bad
/// input, 130 when interrupted.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  git oc run --goal \"Fix the lint errors in src/\" --backend claude --validate \"cargo clippy -- -D warnings\"\n  git oc run --goal \"Add a test for parse()\" --backend command -- ./my-agent {goal_file}"
)]
pub struct RunArgs {
    /// What the agent should do
    #[arg(long)]
    pub goal: String,
    /// Task type
    #[arg(long, default_value = "simple_edit", value_parser = task_types())]
    pub task_type: String,
    /// Risk level
    #[arg(long, default_value = "low", value_parser = ["low", "medium", "high"])]
    pub risk: String,
    /// Priority
    #[arg(long, default_value = "normal", value_parser = ["low", "normal", "high", "critical"])]
    pub priority: String,
    /// A label for the proposal (repeatable), e.g. local_only
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// A path pattern the change is declared to stay within (repeatable)
    #[arg(long = "path", value_name = "PATTERN")]
    pub paths: Vec<String>,
    /// The agent backend
    #[arg(long, value_enum)]
    pub backend: Option<AgentKind>,
    /// The lane (the executor family) recorded in the routing decision
    #[arg(long, value_parser = ["claude_cli", "codex_cli", "aider_local"])]
    pub lane: Option<String>,
    /// The commit to branch from
    #[arg(long, default_value = "HEAD", value_name = "REV")]
    pub base: String,
    /// The run branch; {task_id} and {run} (8 random hex) are replaced [default: oc/{task_id}]
    #[arg(long, value_name = "TEMPLATE")]
    pub branch: Option<String>,
    /// A validation command run in the worktree after the agent, with sh -c (repeatable)
    #[arg(long = "validate", value_name = "CMD")]
    pub validate: Vec<String>,
    /// Seconds the agent may run before its process group is killed
    #[arg(long, default_value_t = 1800, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub timeout: u64,
    /// Seconds each validation command may run
    #[arg(long, default_value_t = 600, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub validation_timeout: u64,
    /// Repository key used as the policy key [default: the repository's name]
    #[arg(long)]
    pub repo_key: Option<String>,
    /// Where to create the run's worktree [default: <git-dir>/oc/worktrees/<branch>-<8 hex>]
    #[arg(long, value_name = "PATH")]
    pub workspace_path: Option<PathBuf>,
    /// Print one JSON document instead of the report
    #[arg(long)]
    pub json: bool,
    /// For --backend command: the program and its arguments
    #[arg(last = true, value_name = "ARGV")]
    pub command: Vec<String>,
}

fn task_types() -> Vec<&'static str> {
    TaskType::ALL.iter().map(|t| t.as_str()).collect()
}

/// The lane a backend runs in when --lane is not given.
fn default_lane(kind: AgentKind) -> LaneName {
    match kind {
        AgentKind::Claude | AgentKind::Kodo => LaneName::ClaudeCli,
        AgentKind::Codex => LaneName::CodexCli,
        // `aider` and any local command run on this machine: the local lane.
        AgentKind::Aider | AgentKind::Command => LaneName::AiderLocal,
    }
}

fn default_backend(lane: LaneName) -> AgentKind {
    match lane {
        LaneName::ClaudeCli => AgentKind::Claude,
        LaneName::CodexCli => AgentKind::Codex,
        LaneName::AiderLocal => AgentKind::Aider,
    }
}

fn backend_name(kind: AgentKind) -> BackendName {
    match kind {
        AgentKind::Command => BackendName::Command,
        AgentKind::Kodo => BackendName::Kodo,
        AgentKind::Claude => BackendName::Claude,
        AgentKind::Codex => BackendName::Codex,
        AgentKind::Aider => BackendName::Aider,
    }
}

/// The repository's name: `origin`'s last path segment, else the work tree's directory name.
pub fn repo_name(repo: &Repo) -> String {
    let url = super::demo::clone_url(repo);
    let trimmed = url.trim_end_matches('/').trim_end_matches(".git");
    let name = trimmed.rsplit(['/', ':']).next().unwrap_or("").to_owned();
    if name.is_empty() { "repo".to_owned() } else { name }
}

fn expand_branch(template: &str, task_id: &str, suffix: &str) -> String {
    template.replace("{task_id}", task_id).replace("{run}", suffix)
}

pub fn cmd_run(ui: &mut Ui, args: &RunArgs) -> Result<i32> {
    if args.goal.trim().is_empty() {
        return Err(Error::input("the goal is empty").hint("pass --goal with a description of the change"));
    }
    let (kind, lane) = match (args.backend, args.lane.as_deref()) {
        (Some(kind), Some(lane)) => (kind, lane.parse::<LaneName>().map_err(Error::input)?),
        (Some(kind), None) => (kind, default_lane(kind)),
        (None, Some(lane)) => {
            let lane = lane.parse::<LaneName>().map_err(Error::input)?;
            (default_backend(lane), lane)
        }
        (None, None) => {
            return Err(Error::input("no backend chosen")
                .hint("pass --backend command|kodo|claude|codex|aider (or --lane claude_cli|codex_cli|aider_local)"));
        }
    };
    if kind == AgentKind::Command && args.command.is_empty() {
        return Err(Error::input("--backend command needs the program to run after `--`")
            .hint("e.g. git oc run --goal \"…\" --backend command -- ./my-agent {goal_file}"));
    }
    if kind != AgentKind::Command && !args.command.is_empty() {
        return Err(Error::input(format!(
            "arguments after `--` are only for --backend command, not {}",
            kind.name()
        ))
        .hint("drop the arguments after `--`, or use --backend command"));
    }
    if let Some(p) = args.paths.iter().find(|p| p.trim().is_empty()) {
        return Err(Error::input(format!("empty --path pattern {p:?}")).hint("pass --path a pattern such as src/**"));
    }
    if let Some(v) = args.validate.iter().find(|v| v.trim().is_empty()) {
        return Err(Error::input(format!("empty --validate command {v:?}"))
            .hint("pass --validate a command such as \"cargo test\""));
    }

    let cwd = std::env::current_dir()
        .map_err(|e| Error::input("cannot read the current directory").caused_by(e.to_string()))?;
    let repo = Repo::discover(&cwd)?;
    let base = repo.resolve_base(&args.base)?;
    let base_branch = if args.base == "HEAD" {
        repo.current_branch()
            .unwrap_or_else(|| base.map(|b| git::short(&b)).unwrap_or_else(|| "HEAD".to_owned()))
    } else {
        args.base.clone()
    };
    let repo_key = args.repo_key.clone().unwrap_or_else(|| repo_name(&repo));
    if repo_key.is_empty() {
        return Err(Error::input("the repository key is empty").hint("pass --repo-key a name for this repository"));
    }

    let mut ctx = PlanningContext::new(args.goal.clone(), args.task_type.clone());
    ctx.repo_key = repo_key;
    ctx.clone_url = super::demo::clone_url(&repo);
    ctx.base_branch = base_branch;
    ctx.risk_level = args
        .risk
        .parse::<RiskLevel>()
        .map_err(Error::input)?
        .as_str()
        .to_owned();
    ctx.priority = args
        .priority
        .parse::<Priority>()
        .map_err(Error::input)?
        .as_str()
        .to_owned();
    ctx.labels = args.labels.clone();
    ctx.allowed_paths = args.paths.clone();
    ctx.validation_commands = args.validate.clone();
    ctx.timeout_seconds = args.timeout;
    ctx.proposer = "git-oc".into();
    ctx.push_on_success = false;
    let proposal = build_proposal(&ctx).map_err(|e| Error::input(e.to_string()))?;

    let how = match (args.backend, &args.lane) {
        (Some(b), Some(l)) => format!("--backend {} --lane {l}", b.name()),
        (Some(b), None) => format!("--backend {}", b.name()),
        (None, Some(l)) => format!("--lane {l}"),
        (None, None) => String::new(),
    };
    let decision = crate::routing::explicit_decision(&proposal, lane, backend_name(kind), &how);
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let branch = expand_branch(
        args.branch.as_deref().unwrap_or("oc/{task_id}"),
        &proposal.task_id,
        &suffix,
    );
    let (workspace, workspace_display) = match &args.workspace_path {
        Some(p) => (git::absolute(p), p.display().to_string()),
        None => {
            let leaf = format!("{}-{suffix}", branch.replace('/', "-"));
            let p = repo.state_dir().join("worktrees").join(leaf);
            (p.clone(), p.display().to_string())
        }
    };
    let bundle = ProposalDecisionBundle::new(proposal, decision, "git oc run");

    let mut adapter = AgentAdapter::new(kind, Duration::from_secs(args.timeout));
    if kind == AgentKind::Command {
        adapter.program = args.command[0].clone();
        adapter.command_args = args.command[1..].to_vec();
    }
    let policy = PolicyEngine::new(default_policy_config());
    let plan = RunPlan {
        bundle,
        runtime: RuntimeContext {
            workspace_path: workspace_display,
            task_branch: branch,
            goal_file_path: None,
        },
        workspace,
        base,
        base_label: args.base.clone(),
        command: "git oc run",
        golden: true,
        validation_commands: args.validate.clone(),
        validation_timeout: args.validation_timeout,
        stream: ui.verbose > 0 && !args.json,
    };
    git::worktree::check_destination(&repo, &plan.workspace)?;
    git::worktree::validate_branch_name(&repo, &plan.runtime.task_branch)?;
    ui.status(&format!(
        "git-oc: running {} on {}",
        kind.name(),
        plan.runtime.task_branch
    ));
    let outcome = coordinator::execute(&repo, plan, &policy, &adapter)?;
    let redactor = crate::execution::secrets::Redactor::from_env();
    if args.json {
        let doc = serde_json::to_string_pretty(&json_document(&outcome)).unwrap_or_default();
        ui.data(&redactor.redact(&format!("{doc}\n")));
    } else {
        ui.data(&redactor.redact(&report(&outcome)));
    }
    if let Some(e) = &outcome.disk_error {
        eprint!(
            "{}",
            e.clone()
                .hint(format!(
                    "the evidence is kept in git: git show {}",
                    outcome.git.evidence_ref
                ))
                .render()
        );
    }
    Ok(outcome.exit_code())
}

fn line(out: &mut String, label: &str, value: &str) {
    out.push_str(&format!("  {label:<12}: {value}\n"));
}

/// The run report: what happened, where the change is, where the evidence is.
pub fn report(o: &RunOutcome) -> String {
    let s = &o.summary;
    let mut out = format!("run {}\n", o.result.run_id);
    line(&mut out, "headline", &o.trace.headline);
    line(
        &mut out,
        "task",
        &format!(
            "{} ({}, risk {}, priority {})",
            o.proposal.task_id, o.proposal.task_type, o.proposal.risk_level, o.proposal.priority
        ),
    );
    line(
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
    line(
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
        line(&mut out, "violation", &format!("{tag} {}: {}", v.rule_id, v.message));
    }
    for w in &o.policy_decision.warnings {
        line(&mut out, "warning", &format!("{}: {}", w.rule_id, w.message));
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
        line(
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
        line(
            &mut out,
            "validation",
            &format!("{} ({passed} of {} commands passed)", v.status, v.commands.len()),
        );
    }
    line(&mut out, "changes", s.diff_stat.as_deref().unwrap_or("none"));
    match (&o.git.commit, &o.git.branch) {
        (Some(c), Some(b)) => line(
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
        (None, Some(b)) => line(&mut out, "branch", &format!("{b} (no commit)")),
        _ => line(&mut out, "branch", "none (the run never started)"),
    }
    if let Some(wt) = &o.git.worktree {
        line(&mut out, "worktree", &wt.display().to_string());
    }
    line(&mut out, "evidence", &o.git.evidence_ref);
    for w in &s.warnings {
        line(&mut out, "warning", w);
    }
    let outcome = match &s.reason {
        Some(r) if !s.success => format!("{}: {}", s.outcome_status, prefix_chars(r, 300)),
        _ if s.needs_review => format!("{} (needs review)", s.outcome_status),
        _ => s.outcome_status.to_owned(),
    };
    line(&mut out, "outcome", &outcome.replace(['\n', '\r'], " "));
    out
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
        "git": {
            "branch": o.git.branch,
            "worktree": o.git.worktree.as_ref().map(|p| p.display().to_string()),
            "base": o.git.base.map(|b| b.to_string()),
            "commit": o.git.commit.map(|c| c.to_string()),
            "diff": {
                "shortstat": o.git.diff.shortstat(),
                "files": o.git.diff.files.iter().map(|f| json!({
                    "path": f.path, "old_path": f.old_path, "change_type": f.change_type,
                    "lines_added": f.added, "lines_removed": f.removed,
                })).collect::<Vec<_>>(),
            },
            "evidence_ref": o.git.evidence_ref,
            "evidence_commit": o.git.evidence_commit.map(|c| c.to_string()),
            "notes_ref": git::NOTES_REF,
            "note_target": o.git.note_target.map(|c| c.to_string()),
        },
        "evidence_files": o.evidence_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    })
}
