//! `git oc run`: a goal becomes a committed, validated, gated change on its own branch, made by a
//! real coding agent in its own worktree, with complete evidence.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::field;
use super::ui::Ui;
use crate::config::Config;
use crate::contracts::{BackendName, LaneName, Priority, ProposalDecisionBundle, RiskLevel, TaskType, prefix_chars};
use crate::error::{Error, Result};
use crate::execution::RuntimeContext;
use crate::execution::agents::{AgentAdapter, AgentKind};
use crate::execution::coordinator::{self, RunOutcome, RunPlan};
use crate::git::{self, Repo};
use crate::planning::{PlanningContext, build_proposal};
use crate::policy::PolicyEngine;

/// What a task is: the goal and its planning settings, shared by `run`, `plan` and
/// `policy check`.
#[derive(Debug, Args, Clone)]
pub struct TaskArgs {
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
    /// The agent backend (skips the router)
    #[arg(long, value_enum)]
    pub backend: Option<AgentKind>,
    /// The lane (skips the router; the backend defaults from it)
    #[arg(long, value_parser = ["claude_cli", "codex_cli", "aider_local"])]
    pub lane: Option<String>,
    /// The router when neither --backend nor --lane is given [default: from configuration, else rules]
    #[arg(long, value_parser = ["rules", "switchboard"])]
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

/// A task planned and routed, ready to gate and run.
pub struct Prepared {
    pub repo: Repo,
    pub config: Config,
    /// The checked policy the gates use.
    pub policy: PolicyEngine,
    /// The checked routing policy, for the rules router.
    pub routing: crate::routing::LoadedPolicy,
    pub base: Option<gix::ObjectId>,
    pub bundle: ProposalDecisionBundle,
    pub adapter: AgentKind,
    /// How the routing decision was made, for the report.
    pub routed_by: String,
    pub validate: Vec<String>,
}

/// Discover the repository, load the configuration, plan the task and route it.
pub fn prepare(task: &TaskArgs, command_argv: &[String], for_run: bool) -> Result<Prepared> {
    if task.goal.trim().is_empty() {
        return Err(Error::input("the goal is empty").hint("pass --goal with a description of the change"));
    }
    if let Some(p) = task.paths.iter().find(|p| p.trim().is_empty()) {
        return Err(Error::input(format!("empty --path pattern {p:?}")).hint("pass --path a pattern such as src/**"));
    }
    if let Some(v) = task.validate.iter().find(|v| v.trim().is_empty()) {
        return Err(Error::input(format!("empty --validate command {v:?}"))
            .hint("pass --validate a command such as \"cargo test\""));
    }
    if task.backend.is_some_and(|k| k != AgentKind::Command) && !command_argv.is_empty() {
        return Err(Error::input("arguments after `--` are only for --backend command")
            .hint("drop the arguments after `--`, or use --backend command"));
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::input("cannot read the current directory").caused_by(e.to_string()))?;
    let repo = Repo::discover(&cwd)?;
    let config = Config::load(repo.workdir())?;
    // Fail closed: an invalid policy or routing policy stops everything, even planning.
    let policy = PolicyEngine::new(config.checked_policy()?);
    let routing = crate::routing::load_policy(&config)?;

    let base = repo.resolve_base(&task.base)?;
    let base_branch = if task.base == "HEAD" {
        repo.current_branch()
            .unwrap_or_else(|| base.map(|b| git::short(&b)).unwrap_or_else(|| "HEAD".to_owned()))
    } else {
        task.base.clone()
    };
    let repo_key = match (&task.repo_key, &config.repo_key) {
        (Some(k), _) => k.clone(),
        (None, Some(k)) => k.value.clone(),
        (None, None) => repo_name(&repo),
    };
    if repo_key.is_empty() {
        return Err(Error::input("the repository key is empty").hint("pass --repo-key a name for this repository"));
    }
    let validate = if task.validate.is_empty() {
        config.validate.value.clone()
    } else {
        task.validate.clone()
    };

    let mut ctx = PlanningContext::new(task.goal.clone(), task.task_type.clone());
    ctx.repo_key = repo_key;
    ctx.clone_url = super::demo::clone_url(&repo);
    ctx.base_branch = base_branch;
    ctx.risk_level = task
        .risk
        .parse::<RiskLevel>()
        .map_err(Error::input)?
        .as_str()
        .to_owned();
    ctx.priority = task
        .priority
        .parse::<Priority>()
        .map_err(Error::input)?
        .as_str()
        .to_owned();
    ctx.labels = task.labels.clone();
    ctx.allowed_paths = task.paths.clone();
    ctx.validation_commands = validate.clone();
    ctx.proposer = "git-oc".into();
    ctx.push_on_success = false;
    let proposal = build_proposal(&ctx).map_err(|e| Error::input(e.to_string()))?;

    let configured_backend = config
        .backend
        .as_ref()
        .map(|b| crate::execution::agents::parse_adapter(&b.value).map(|k| (k, b.source.clone())))
        .unwrap_or(None);
    let (decision, adapter, routed_by) = match (task.backend, task.lane.as_deref(), &configured_backend) {
        (Some(kind), lane, _) => {
            let lane = match lane {
                Some(l) => l.parse::<LaneName>().map_err(Error::input)?,
                None => default_lane(kind),
            };
            let how = format!(
                "--backend {}{}",
                kind.name(),
                task.lane.as_ref().map(|l| format!(" --lane {l}")).unwrap_or_default()
            );
            (
                crate::routing::explicit_decision(&proposal, lane, backend_name(kind), &how),
                kind,
                how,
            )
        }
        (None, Some(lane), _) => {
            let lane = lane.parse::<LaneName>().map_err(Error::input)?;
            let kind = default_backend(lane);
            let how = format!("--lane {lane}");
            (
                crate::routing::explicit_decision(&proposal, lane, backend_name(kind), &how),
                kind,
                how,
            )
        }
        (None, None, Some((kind, source))) if task.routing.is_none() => {
            let how = format!("run.backend from {source}");
            (
                crate::routing::explicit_decision(&proposal, default_lane(*kind), backend_name(*kind), &how),
                *kind,
                how,
            )
        }
        (None, None, _) => {
            let router = task.routing.clone().unwrap_or_else(|| config.router.value.clone());
            let decision = crate::routing::route_configured(&config, &routing.policy, &router, &proposal)?;
            let kind =
                crate::execution::agents::adapter_for(decision.selected_lane, decision.selected_backend, &config)?;
            (decision, kind, format!("the {router} router"))
        }
    };
    if for_run
        && adapter == AgentKind::Command
        && command_argv.is_empty()
        && config.backend_settings("command").argv.is_none()
    {
        return Err(Error::input("the command backend needs the program to run")
            .hint("put it after `--` (git oc run --goal \"…\" --backend command -- ./my-agent {goal_file}) or set backends.command.argv"));
    }
    Ok(Prepared {
        repo,
        config,
        policy,
        routing,
        base,
        bundle: ProposalDecisionBundle::new(proposal, decision, "git oc run"),
        adapter,
        routed_by,
        validate,
    })
}

/// The adapter with its program and settings from the configuration.
pub fn build_adapter(kind: AgentKind, config: &Config, timeout: u64, command_argv: &[String]) -> AgentAdapter {
    let mut adapter = AgentAdapter::new(kind, Duration::from_secs(timeout));
    let settings = config.backend_settings(kind.name());
    if let Some(p) = settings.program {
        adapter.program = p;
    }
    if let Some(extra) = settings.extra_args {
        adapter.extra_args = extra;
    }
    adapter.model = settings.model;
    let k = &mut adapter.kodo;
    if let Some(v) = settings.team {
        k.team = v;
    }
    if let Some(v) = settings.cycles {
        k.cycles = v;
    }
    if let Some(v) = settings.exchanges {
        k.exchanges = v;
    }
    if let Some(v) = settings.orchestrator {
        k.orchestrator = v;
    }
    if let Some(v) = settings.effort {
        k.effort = v;
    }
    if kind == AgentKind::Command {
        let argv = if command_argv.is_empty() {
            settings.argv.unwrap_or_default()
        } else {
            command_argv.to_vec()
        };
        if let Some((program, args)) = argv.split_first() {
            adapter.program = program.clone();
            adapter.command_args = args.to_vec();
        }
    }
    adapter
}

pub fn cmd_run(ui: &mut Ui, args: &RunArgs) -> Result<i32> {
    let prepared = prepare(&args.task, &args.command, true)?;
    let Prepared {
        repo,
        config,
        policy,
        base,
        bundle,
        adapter: kind,
        validate,
        ..
    } = prepared;
    let timeout = args.timeout.unwrap_or(config.timeout.value);
    let validation_timeout = args.validation_timeout.unwrap_or(config.validation_timeout.value);
    let adapter = build_adapter(kind, &config, timeout, &args.command);

    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let template = args.branch.clone().unwrap_or_else(|| config.branch.value.clone());
    let branch = expand_branch(&template, &bundle.proposal.task_id, &suffix);
    let (workspace, workspace_display) = match &args.workspace_path {
        Some(p) => (git::absolute(p), p.display().to_string()),
        None => {
            let leaf = format!("{}-{suffix}", branch.replace('/', "-"));
            let p = repo.state_dir().join("worktrees").join(leaf);
            (p.clone(), p.display().to_string())
        }
    };
    git::worktree::check_destination(&repo, &workspace)?;
    git::worktree::validate_branch_name(&repo, &branch)?;
    let plan = RunPlan {
        bundle,
        runtime: RuntimeContext {
            workspace_path: workspace_display,
            task_branch: branch,
            goal_file_path: None,
        },
        workspace,
        base,
        base_label: args.task.base.clone(),
        command: "git oc run",
        golden: true,
        validation_commands: validate,
        validation_timeout,
        stream: ui.verbose > 0 && !args.json,
    };
    ui.status(&format!(
        "git-oc: running {} on {}",
        kind.name(),
        plan.runtime.task_branch
    ));
    let outcome = coordinator::execute(&repo, plan, &policy, &adapter)?;
    Ok(super::print_outcome(ui, &outcome, args.json, json_document, report))
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
    field(&mut out, "changes", s.diff_stat.as_deref().unwrap_or("none"));
    match (&o.git.commit, &o.git.branch) {
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
    for w in &s.warnings {
        field(&mut out, "warning", w);
    }
    let outcome = match &s.reason {
        Some(r) if !s.success => format!("{}: {}", s.outcome_status, prefix_chars(r, 300)),
        _ if s.needs_review => format!("{} (needs review)", s.outcome_status),
        _ => s.outcome_status.to_owned(),
    };
    field(&mut out, "outcome", &outcome);
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
        "git": o.git.to_json(),
        "evidence_files": o.evidence_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    })
}
