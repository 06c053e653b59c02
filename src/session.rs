//! The library entry: a [`Session`] is opened once per repository (configuration, checked
//! policy, routing policy); a plain [`TaskSpec`] is planned, routed and prepared into a
//! [`PreparedRun`], whose stages then run. The CLI goes through here, and so will board lanes,
//! the review loop, the autonomy cycle and remote workers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Config, Source};
use crate::contracts::{LaneDecision, LaneName, Priority, ProposalDecisionBundle, RiskLevel, TaskType};
use crate::error::{Error, Result};
use crate::execution::Adapter;
use crate::execution::agents::{AgentAdapter, AgentKind};
use crate::execution::secrets::Redactor;
use crate::git::{self, Repo};
use crate::pipeline::{Env, Pipeline, RunContext, RunOutcome, RunPlan};
use crate::planning::{PlanningContext, build_proposal};
use crate::policy::PolicyEngine;
use crate::routing::{LoadedPolicy, Router};

/// What to publish after a run passes both gates: its branch, evidence and notes (`push`), and
/// a pull request (`pull_request`, which implies `push`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishOptions {
    pub push: bool,
    pub pull_request: bool,
}

/// A task as any caller states it: no command-line types, every choice explicit or `None` for
/// the configured default.
#[derive(Clone, Debug)]
pub struct TaskSpec {
    pub goal: String,
    pub task_type: TaskType,
    pub risk: RiskLevel,
    pub priority: Priority,
    pub labels: Vec<String>,
    /// Path patterns the change is declared to stay within.
    pub paths: Vec<String>,
    /// The agent backend; skips the router.
    pub backend: Option<AgentKind>,
    /// The lane; skips the router (the backend defaults from it).
    pub lane: Option<LaneName>,
    /// The router when neither backend nor lane is given [default: configuration].
    pub router: Option<Router>,
    /// The revision to branch from.
    pub base: String,
    /// The policy key [default: configuration, else the repository's name].
    pub repo_key: Option<String>,
    /// Branch template with `{task_id}` and `{run}` [default: configuration].
    pub branch: Option<String>,
    /// Validation commands; empty means the configured ones.
    pub validate: Vec<String>,
    /// Seconds the agent may run [default: configuration].
    pub timeout: Option<u64>,
    /// Seconds each validation command may run [default: configuration].
    pub validation_timeout: Option<u64>,
    /// For the command backend: the program and its arguments.
    pub command: Vec<String>,
    /// Where the worktree goes [default: `<git-dir>/oc/worktrees/<branch>-<8 hex>`].
    pub workspace: Option<PathBuf>,
    pub publish: PublishOptions,
    /// The task the run carries out (a board task's id) [default: derived from the goal].
    pub task_id: Option<String>,
}

impl TaskSpec {
    pub fn new(goal: impl Into<String>) -> Self {
        TaskSpec {
            goal: goal.into(),
            task_type: TaskType::SimpleEdit,
            risk: RiskLevel::Low,
            priority: Priority::Normal,
            labels: Vec::new(),
            paths: Vec::new(),
            backend: None,
            lane: None,
            router: None,
            base: "HEAD".into(),
            repo_key: None,
            branch: None,
            validate: Vec::new(),
            timeout: None,
            validation_timeout: None,
            command: Vec::new(),
            workspace: None,
            publish: PublishOptions::default(),
            task_id: None,
        }
    }

    /// Problems a spec can have before any repository is read.
    fn check(&self) -> Result<()> {
        if self.goal.trim().is_empty() {
            return Err(Error::input("the goal is empty").hint("pass --goal with a description of the change"));
        }
        if let Some(p) = self.paths.iter().find(|p| p.trim().is_empty()) {
            return Err(
                Error::input(format!("empty --path pattern {p:?}")).hint("pass --path a pattern such as src/**")
            );
        }
        if let Some(v) = self.validate.iter().find(|v| v.trim().is_empty()) {
            return Err(Error::input(format!("empty --validate command {v:?}"))
                .hint("pass --validate a command such as \"cargo test\""));
        }
        if self.backend.is_some_and(|k| k != AgentKind::Command) && !self.command.is_empty() {
            return Err(Error::input("arguments after `--` are only for --backend command")
                .hint("drop the arguments after `--`, or use --backend command"));
        }
        Ok(())
    }
}

/// How the lane and backend were chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum RoutedBy {
    /// `--backend` and/or `--lane`.
    Flags {
        backend: Option<AgentKind>,
        lane: Option<LaneName>,
    },
    /// `run.backend` from the configuration.
    Configured(Source),
    Router(Router),
}

impl std::fmt::Display for RoutedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoutedBy::Flags { backend, lane } => {
                let parts: Vec<String> = backend
                    .map(|b| format!("--backend {}", b.name()))
                    .into_iter()
                    .chain(lane.map(|l| format!("--lane {l}")))
                    .collect();
                f.write_str(&parts.join(" "))
            }
            RoutedBy::Configured(source) => write!(f, "run.backend from {source}"),
            RoutedBy::Router(router) => write!(f, "the {router} router"),
        }
    }
}

/// A task planned and routed: what `git oc plan` shows and a run starts from.
pub struct Planned {
    pub bundle: ProposalDecisionBundle,
    pub adapter: AgentKind,
    pub routed_by: RoutedBy,
    /// The validation commands the run will use.
    pub validate: Vec<String>,
    /// The revision the run branches from; `None` in a repository without commits.
    pub base: Option<gix::ObjectId>,
}

/// A repository opened for runs: its configuration, its checked policy and routing policy. An
/// invalid policy or routing policy stops everything, even planning (fail closed).
pub struct Session {
    pub repo: Repo,
    pub config: Config,
    pub policy: PolicyEngine,
    pub routing: LoadedPolicy,
}

impl Session {
    /// The repository containing `dir`, as git finds it.
    #[tracing::instrument(level = "debug")]
    pub fn open(dir: &Path) -> Result<Session> {
        let repo = Repo::discover(dir)?;
        let config = Config::load(repo.workdir())?;
        let policy = PolicyEngine::new(config.checked_policy()?).ignore_case(repo.ignore_case());
        let routing = config.routing_policy()?;
        Ok(Session {
            repo,
            config,
            policy,
            routing,
        })
    }

    /// Plan and route a task without running anything.
    pub fn plan(&self, spec: &TaskSpec) -> Result<Planned> {
        spec.check()?;
        let repo = &self.repo;
        let config = &self.config;
        let base = repo.resolve_base(&spec.base)?;
        let repo_key = spec
            .repo_key
            .clone()
            .or_else(|| config.run.repo_key.clone())
            .unwrap_or_else(|| repo.name());
        if repo_key.is_empty() {
            return Err(Error::input("the repository key is empty").hint("pass --repo-key a name for this repository"));
        }
        let validate = if spec.validate.is_empty() {
            config.run.validate().to_vec()
        } else {
            spec.validate.clone()
        };

        let mut ctx = PlanningContext::new(spec.goal.clone(), spec.task_type.as_str());
        ctx.repo_key = repo_key;
        // Credentials in a remote URL never travel into proposals and evidence.
        ctx.clone_url = crate::execution::secrets::redact_url(&repo.clone_url()).into_owned();
        ctx.base_branch = repo.base_branch(&spec.base, base);
        ctx.risk_level = spec.risk.as_str().to_owned();
        ctx.priority = spec.priority.as_str().to_owned();
        ctx.labels = spec.labels.clone();
        if let Some(id) = &spec.task_id {
            ctx.task_id = id.clone();
        }
        ctx.allowed_paths = spec.paths.clone();
        ctx.validation_commands = validate.clone();
        ctx.proposer = "git-oc".into();
        ctx.push_on_success = spec.publish.push || spec.publish.pull_request;
        ctx.open_pr = spec.publish.pull_request;
        let proposal = build_proposal(&ctx).map_err(|e| Error::input(e.to_string()))?;

        let (decision, adapter, routed_by) = self.route(spec, &proposal)?;
        Ok(Planned {
            bundle: ProposalDecisionBundle::new(proposal, decision, "git oc run"),
            adapter,
            routed_by,
            validate,
            base,
        })
    }

    fn route(
        &self,
        spec: &TaskSpec,
        proposal: &crate::contracts::TaskProposal,
    ) -> Result<(LaneDecision, AgentKind, RoutedBy)> {
        let config = &self.config;
        if spec.backend.is_some() || spec.lane.is_some() {
            let kind = spec
                .backend
                .unwrap_or_else(|| AgentKind::for_lane(spec.lane.unwrap_or(LaneName::AiderLocal)));
            let lane = spec.lane.unwrap_or_else(|| kind.default_lane());
            let how = RoutedBy::Flags {
                backend: spec.backend,
                lane: spec.lane,
            };
            let decision = crate::routing::explicit_decision(proposal, lane, kind.backend(), &how.to_string());
            return Ok((decision, kind, how));
        }
        if let (Some(kind), None) = (config.run.backend(), spec.router) {
            let how = RoutedBy::Configured(config.source("run.backend"));
            let decision =
                crate::routing::explicit_decision(proposal, kind.default_lane(), kind.backend(), &how.to_string());
            return Ok((decision, kind, how));
        }
        let router = spec.router.unwrap_or_else(|| config.routing.router());
        let decision = crate::routing::route_configured(&config.routing, &self.routing.policy, router, proposal)?;
        let kind = crate::execution::agents::adapter_for(
            decision.selected_lane,
            decision.selected_backend,
            &config.adapter_map(),
        )?;
        Ok((decision, kind, RoutedBy::Router(router)))
    }

    /// Plan a task and make everything ready to run it: the adapter found, the branch named, the
    /// workspace chosen. Nothing is written yet.
    #[tracing::instrument(level = "debug", skip_all)]
    pub fn prepare(&self, spec: &TaskSpec) -> Result<PreparedRun<'_>> {
        let planned = self.plan(spec)?;
        let config = &self.config;
        let kind = planned.adapter;
        let settings = config.backend_settings(kind);
        if kind == AgentKind::Command && spec.command.is_empty() && settings.argv.is_none() {
            return Err(Error::input("the command backend needs the program to run")
                .hint("put it after `--` (git oc run --goal \"…\" --backend command -- ./my-agent {goal_file}) or set backends.command.argv"));
        }
        let timeout = spec.timeout.unwrap_or_else(|| config.run.timeout());
        let adapter = AgentAdapter::configured(kind, &settings, Duration::from_secs(timeout), &spec.command);
        if crate::execution::agents::find_program(&adapter.program).is_none() {
            let setting = if kind == AgentKind::Command {
                "the argv after `--` or backends.command.argv".to_owned()
            } else {
                format!("backends.{}.program", kind.name())
            };
            return Err(Error::input(format!(
                "the {} agent program {:?} was not found",
                kind.name(),
                adapter.program
            ))
            .hint(format!("install it or put it on PATH, or name it with {setting}")));
        }

        let suffix = crate::contracts::prefix_chars(&uuid::Uuid::new_v4().simple().to_string(), 8).to_owned();
        let template = spec.branch.as_deref().unwrap_or_else(|| config.run.branch());
        let branch = template
            .replace("{task_id}", &planned.bundle.proposal.task_id)
            .replace("{run}", &suffix);
        let redactor = Redactor::from_env();
        if redactor.contains_secret(branch.as_bytes()) {
            return Err(
                Error::input("the branch name contains the value of a secret environment variable")
                    .hint("choose a branch name without it (--branch or run.branch)"),
            );
        }
        let (workspace, workspace_display) = match &spec.workspace {
            Some(p) => (git::absolute(p), p.display().to_string()),
            None => {
                let leaf = format!("{}-{suffix}", branch.replace('/', "-"));
                let p = self.repo.state_dir().join("worktrees").join(leaf);
                (p.clone(), p.display().to_string())
            }
        };
        git::worktree::check_destination(&self.repo, &workspace)?;
        // A name the user wrote out is used as it is; a template's result gets a suffix if taken.
        let branch_exact = spec.branch.as_deref().is_some_and(|b| !b.contains('{'));
        if branch_exact {
            git::worktree::validate_branch_name(&self.repo, &branch)?;
        } else {
            git::worktree::branch_ref_name(&branch)?;
        }
        // Where the run will be published is settled now: a missing remote, repository or
        // token stops the run before anything is created.
        let publish = if spec.publish.push || spec.publish.pull_request {
            let base_branch = &planned.bundle.proposal.target.base_branch;
            Some(crate::publication::PublishPlan {
                pull_request: spec.publish.pull_request,
                target: crate::publication::resolve(
                    &self.repo,
                    &config.github,
                    base_branch,
                    spec.publish.pull_request,
                )?,
                settings: config.github.clone(),
            })
        } else {
            None
        };
        Ok(PreparedRun {
            repo: &self.repo,
            policy: self.policy.clone(),
            adapter: Box::new(adapter),
            plan: RunPlan {
                bundle: planned.bundle,
                workspace,
                workspace_display,
                branch,
                branch_exact,
                base: planned.base,
                base_label: spec.base.clone(),
                command: "git oc run",
                namespace: crate::evidence::Namespace::Runs,
                validation_commands: planned.validate,
                validation_timeout: spec
                    .validation_timeout
                    .unwrap_or_else(|| config.run.validation_timeout()),
                publish,
            },
            pipeline: Pipeline::run(),
        })
    }
}

/// A run ready to start: its plan, the adapter that will do the work, the policy that gates it
/// and the stages it will pass through.
pub struct PreparedRun<'a> {
    pub repo: &'a Repo,
    pub policy: PolicyEngine,
    pub adapter: Box<dyn Adapter + 'a>,
    pub plan: RunPlan,
    pub pipeline: Pipeline,
}

impl PreparedRun<'_> {
    /// Carry out the run through its stages.
    pub fn execute(self, cx: &RunContext) -> Result<RunOutcome> {
        let env = Env {
            repo: self.repo,
            policy: &self.policy,
            adapter: self.adapter.as_ref(),
            cx,
        };
        self.pipeline.execute(self.plan, &env)
    }
}

/// The specification of a recorded run, to run its task again (`git oc retry`): the same goal,
/// task type, risk, priority, labels, declared paths, repository key, lane and backend (with the
/// same program for the command backend), validation commands, timeouts and base commit. The
/// new run gets a new branch.
pub fn retry_spec(repo: &Repo, run: &crate::land::RecordedRun) -> Result<TaskSpec> {
    use crate::evidence::files;
    if run.summary.is_none() {
        return Err(
            Error::input(format!("run {} is a demo run", run.run_id)).hint("run the demo again with git oc demo")
        );
    }
    let evidence = crate::evidence::store::RunEvidence::open(&repo.repo, &run.run_id)?;
    let json = |name: &str| -> Result<serde_json::Value> {
        evidence
            .read(name)?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| Error::run(format!("run {} has no readable {name}", run.run_id)))
    };
    let proposal: crate::contracts::TaskProposal = serde_json::from_value(json(files::PROPOSAL)?).map_err(|e| {
        Error::run(format!("run {}'s proposal.json cannot be read", run.run_id)).caused_by(e.to_string())
    })?;
    if proposal.goal_text.contains("[REDACTED:") {
        return Err(
            Error::input(format!("run {}'s goal held a secret, recorded redacted", run.run_id))
                .hint("run it again with git oc run and the goal written out"),
        );
    }
    let decision: crate::contracts::LaneDecision = serde_json::from_value(json(files::DECISION)?).map_err(|e| {
        Error::run(format!("run {}'s decision.json cannot be read", run.run_id)).caused_by(e.to_string())
    })?;
    let command = json(files::COMMAND)?;
    let validation = json(files::VALIDATION)?;
    let summary = run
        .summary
        .as_ref()
        .ok_or_else(|| Error::internal("a run without its summary"))?;
    let mut spec = TaskSpec::new(proposal.goal_text.clone());
    spec.task_type = proposal.task_type;
    spec.risk = proposal.risk_level;
    spec.priority = proposal.priority;
    spec.labels = proposal.labels.clone();
    spec.paths = proposal.constraints.allowed_paths.clone();
    spec.repo_key = Some(proposal.target.repo_key.clone());
    spec.lane = Some(decision.selected_lane);
    spec.backend = AgentKind::parse(&summary.adapter);
    if spec.backend.is_none() {
        return Err(Error::input(format!(
            "run {} never ran an agent, so there is no backend to retry",
            run.run_id
        ))
        .hint("run the task again with git oc run and a --backend"));
    }
    spec.base = summary.base.clone().unwrap_or_else(|| "HEAD".to_owned());
    spec.validate = proposal.validation_profile.commands.clone();
    // The same publishing: a run made with --pr is retried with --pr.
    spec.publish = PublishOptions {
        push: proposal.branch_policy.push_on_success,
        pull_request: proposal.branch_policy.open_pr,
    };
    spec.timeout = command["timeout_seconds"].as_u64();
    spec.validation_timeout = validation["timeout_seconds"].as_u64();
    if spec.backend == Some(AgentKind::Command) {
        let recorded = if command["argv_template"].is_array() {
            &command["argv_template"]
        } else {
            &command["argv"]
        };
        let argv: Vec<String> = recorded
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        if argv.iter().any(|a| a.contains("[REDACTED:")) {
            return Err(
                Error::input(format!("run {}'s command held a secret, recorded redacted", run.run_id))
                    .hint("run it again with git oc run and the command written out"),
            );
        }
        spec.command = argv;
    }
    Ok(spec)
}
