//! The coding-agent backends: each turns a request into an argv (never a shell line), runs it in
//! the worktree, and judges the outcome with the rules of the reference where it has them and of
//! the CLI's documented non-interactive mode where it does not.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::process::{GIT_LOCATION_VARS, ProcessOutcome, ProcessSpec, run};
use super::{Adapter, AdapterContext, AdapterRun, Capture};
use crate::config::{AdapterMap, BackendSettings};
use crate::contracts::{
    ArtifactType, BackendName, ExecutionArtifact, ExecutionResult, ExecutionStatus, FailureReasonCategory, LaneName,
    Timestamp, new_id, prefix_chars,
};

/// The adapters git-oc can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AgentKind {
    Command,
    Kodo,
    Claude,
    Codex,
    Aider,
}

impl AgentKind {
    /// Every adapter, in the order help and errors list them.
    pub const ALL: [AgentKind; 5] = [
        AgentKind::Command,
        AgentKind::Kodo,
        AgentKind::Claude,
        AgentKind::Codex,
        AgentKind::Aider,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AgentKind::Command => "command",
            AgentKind::Kodo => "kodo",
            AgentKind::Claude => "claude",
            AgentKind::Codex => "codex",
            AgentKind::Aider => "aider",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// All names, comma separated, for errors and hints.
    pub fn names() -> String {
        Self::ALL.map(AgentKind::name).join(", ")
    }

    /// One line for help and completions.
    pub fn description(self) -> &'static str {
        match self {
            AgentKind::Command => {
                "Any program: the argv after `--`, with {goal_file}, {worktree}, {run_id}, {task_id} and {goal} \
                 placeholders; the goal is also in GIT_OC_GOAL"
            }
            AgentKind::Kodo => "kodo --goal-file … --project … --yes",
            AgentKind::Claude => "Claude Code: claude -p <prompt> --permission-mode acceptEdits",
            AgentKind::Codex => "OpenAI Codex CLI: codex exec --sandbox workspace-write <prompt>",
            AgentKind::Aider => "aider --message-file … --yes-always --no-auto-commits",
        }
    }

    /// The lane a backend runs in when no lane is named.
    pub fn default_lane(self) -> LaneName {
        match self {
            AgentKind::Claude | AgentKind::Kodo => LaneName::ClaudeCli,
            AgentKind::Codex => LaneName::CodexCli,
            // `aider` and any local command run on this machine: the local lane.
            AgentKind::Aider | AgentKind::Command => LaneName::AiderLocal,
        }
    }

    /// The backend that runs a lane when only the lane is named.
    pub fn for_lane(lane: LaneName) -> Self {
        match lane {
            LaneName::ClaudeCli => AgentKind::Claude,
            LaneName::CodexCli => AgentKind::Codex,
            LaneName::AiderLocal => AgentKind::Aider,
        }
    }

    /// The routing backend name recorded for this adapter.
    pub fn backend(self) -> BackendName {
        match self {
            AgentKind::Command => BackendName::Command,
            AgentKind::Kodo => BackendName::Kodo,
            AgentKind::Claude => BackendName::Claude,
            AgentKind::Codex => BackendName::Codex,
            AgentKind::Aider => BackendName::Aider,
        }
    }
}

/// kodo's settings; the defaults are the reference's.
#[derive(Clone, Debug)]
pub struct KodoSettings {
    pub team: String,
    pub cycles: u32,
    pub exchanges: u32,
    pub orchestrator: String,
    pub effort: String,
}

impl Default for KodoSettings {
    fn default() -> Self {
        KodoSettings {
            team: "full".into(),
            cycles: 3,
            exchanges: 20,
            orchestrator: "claude-code:opus".into(),
            effort: "standard".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AgentAdapter {
    pub kind: AgentKind,
    /// The program to run (a name on PATH or a path).
    pub program: String,
    /// For `command`: the arguments after the program, with placeholders.
    pub command_args: Vec<String>,
    pub kodo: KodoSettings,
    /// aider's `--model`, when set.
    pub model: Option<String>,
    /// Appended to the argv of the built-in backends.
    pub extra_args: Vec<String>,
    pub timeout: Duration,
    /// Bytes of stdout and of stderr kept in the evidence.
    pub capture_limit: usize,
}

impl AgentAdapter {
    pub fn new(kind: AgentKind, timeout: Duration) -> Self {
        AgentAdapter {
            kind,
            program: kind.name().to_owned(),
            command_args: Vec::new(),
            kodo: KodoSettings::default(),
            model: None,
            extra_args: Vec::new(),
            timeout,
            capture_limit: 1024 * 1024,
        }
    }

    /// The adapter with its program and settings from the configuration; `command_argv` (the
    /// argv after `--`) wins over `backends.command.argv`.
    pub fn configured(kind: AgentKind, settings: &BackendSettings, timeout: Duration, command_argv: &[String]) -> Self {
        let mut adapter = AgentAdapter::new(kind, timeout);
        if let Some(p) = &settings.program {
            adapter.program = p.clone();
        }
        if let Some(extra) = &settings.extra_args {
            adapter.extra_args = extra.clone();
        }
        adapter.model = settings.model.clone();
        let k = &mut adapter.kodo;
        if let Some(v) = &settings.team {
            k.team = v.clone();
        }
        if let Some(v) = settings.cycles {
            k.cycles = v;
        }
        if let Some(v) = settings.exchanges {
            k.exchanges = v;
        }
        if let Some(v) = &settings.orchestrator {
            k.orchestrator = v.clone();
        }
        if let Some(v) = &settings.effort {
            k.effort = v.clone();
        }
        if kind == AgentKind::Command {
            let argv = if command_argv.is_empty() {
                settings.argv.clone().unwrap_or_default()
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

    fn label(&self) -> &'static str {
        self.kind.name()
    }

    /// The argv after the program.
    pub fn args(&self, ctx: &AdapterContext) -> Vec<String> {
        let goal_file = ctx.goal_file.display().to_string();
        let worktree = ctx.workspace.display().to_string();
        let mut args: Vec<String> = match self.kind {
            AgentKind::Command => self
                .command_args
                .iter()
                .map(|a| {
                    a.replace("{goal_file}", &goal_file)
                        .replace("{worktree}", &worktree)
                        .replace("{run_id}", &ctx.request.run_id)
                        .replace("{task_id}", &ctx.task_id)
                        .replace("{goal}", &ctx.request.goal_text)
                })
                .collect(),
            AgentKind::Kodo => vec![
                "--goal-file".into(),
                goal_file,
                "--project".into(),
                worktree,
                "--team".into(),
                self.kodo.team.clone(),
                "--cycles".into(),
                self.kodo.cycles.to_string(),
                "--exchanges".into(),
                self.kodo.exchanges.to_string(),
                "--orchestrator".into(),
                self.kodo.orchestrator.clone(),
                "--effort".into(),
                self.kodo.effort.clone(),
                "--yes".into(),
            ],
            AgentKind::Claude => vec![
                "-p".into(),
                ctx.prompt.clone(),
                "--permission-mode".into(),
                "acceptEdits".into(),
                "--output-format".into(),
                "text".into(),
            ],
            AgentKind::Codex => vec![
                "exec".into(),
                "--sandbox".into(),
                "workspace-write".into(),
                ctx.prompt.clone(),
            ],
            AgentKind::Aider => {
                let mut a = vec![
                    "--message-file".into(),
                    goal_file,
                    "--yes-always".into(),
                    "--no-auto-commits".into(),
                    "--no-dirty-commits".into(),
                    "--no-gitignore".into(),
                    "--no-check-update".into(),
                    "--no-pretty".into(),
                    "--no-stream".into(),
                ];
                if let Some(model) = &self.model {
                    a.push("--model".into());
                    a.push(model.clone());
                }
                a
            }
        };
        if self.kind != AgentKind::Command {
            args.extend(self.extra_args.iter().cloned());
        }
        args
    }

    /// Judge a finished process: (status, success, failure category, reason).
    fn judge(&self, outcome: &ProcessOutcome, stdout: &str, stderr: &str) -> Judgement {
        let name = self.label();
        if let Some(e) = &outcome.spawn_error {
            let reason = if e.kind() == std::io::ErrorKind::NotFound {
                format!("[{name}] binary not found: {}", self.program)
            } else {
                format!("[{name}] could not start {}: {e}", self.program)
            };
            return Judgement::fail(ExecutionStatus::Failed, FailureReasonCategory::BackendError, reason);
        }
        if outcome.cancelled {
            return Judgement::fail(
                ExecutionStatus::Cancelled,
                FailureReasonCategory::Unknown,
                format!("[{name}] cancelled by the user; process group stopped"),
            );
        }
        if outcome.timed_out {
            return Judgement::fail(
                ExecutionStatus::TimedOut,
                FailureReasonCategory::Timeout,
                format!(
                    "[{name}] timed out after {}s; process group killed",
                    self.timeout.as_secs()
                ),
            );
        }
        let combined = format!("{stdout}\n{stderr}").to_lowercase();
        if outcome.exit_code == Some(0) {
            if self.kind == AgentKind::Kodo
                && let Some(line) = stdout.lines().find(|l| is_kodo_internal_failure(l))
            {
                return Judgement::fail(
                    ExecutionStatus::Failed,
                    FailureReasonCategory::Unknown,
                    format!("internal stage failure: {}", prefix_chars(line.trim(), 160)),
                );
            }
            if let Some(line) = format!("{stdout}\n{stderr}")
                .lines()
                .find(|l| is_capacity_exhaustion(l))
            {
                return Judgement::fail(
                    ExecutionStatus::Failed,
                    FailureReasonCategory::BackendError,
                    format!("capacity exhaustion detected: {}", prefix_chars(line.trim(), 160)),
                );
            }
            return Judgement {
                status: ExecutionStatus::Succeeded,
                success: true,
                category: None,
                reason: None,
            };
        }
        let what = match (outcome.exit_code, &outcome.signal) {
            (Some(code), _) => format!("exited {code}"),
            (None, Some(sig)) => format!("was killed by {sig}"),
            (None, None) => "ended without an exit status".to_owned(),
        };
        let text = if stderr.trim().is_empty() { stdout } else { stderr };
        let excerpt = prefix_chars(text.trim(), 300).replace(['\n', '\r'], " ");
        let category = if self.kind == AgentKind::Kodo {
            kodo_failure_category(&combined)
        } else {
            FailureReasonCategory::BackendError
        };
        Judgement::fail(ExecutionStatus::Failed, category, format!("{name} {what}: {excerpt}"))
    }
}

struct Judgement {
    status: ExecutionStatus,
    success: bool,
    category: Option<FailureReasonCategory>,
    reason: Option<String>,
}

impl Judgement {
    fn fail(status: ExecutionStatus, category: FailureReasonCategory, reason: String) -> Self {
        Judgement {
            status,
            success: false,
            category: Some(category),
            reason: Some(reason),
        }
    }
}

fn is_kodo_internal_failure(line: &str) -> bool {
    let l = line.to_lowercase();
    (l.contains("done: 0/") && l.contains("stage"))
        || (l.contains("stage ") && l.contains(") crashed"))
        || l.contains("crashed: ")
        || l.contains("stopping run")
}

const CAPACITY_PATTERNS: [&str; 13] = [
    "out of usage",
    "out of extra usage",
    "usage limit reached",
    "usage limit hit",
    "you've hit your limit",
    "you have hit your limit",
    "you've reached your limit",
    "you have reached your limit",
    "quota exceeded",
    "quota exhausted",
    "insufficient quota",
    "run out of credits",
    "payment required",
];

/// Whether an output line says the agent's quota or credits are exhausted.
pub fn is_capacity_exhaustion(line: &str) -> bool {
    let l = line.to_lowercase();
    CAPACITY_PATTERNS.iter().any(|p| l.contains(p))
}

/// The reference's classification of a failed kodo run, first match wins.
fn kodo_failure_category(combined_lower: &str) -> FailureReasonCategory {
    let any = |patterns: &[&str]| patterns.iter().any(|p| combined_lower.contains(p));
    if any(&["[timeout:", "timeout expired", "process group killed"]) {
        FailureReasonCategory::Timeout
    } else if any(&[
        "429",
        "quota exceeded",
        "insufficient_quota",
        "rate limit exceeded",
        "too many requests",
        "you've hit your limit",
        "usage limit reached",
        "you have run out of credits",
        "payment required",
    ]) {
        FailureReasonCategory::BackendError
    } else if any(&[
        "no changes",
        "nothing to commit",
        "nothing changed",
        "no diff",
        "working tree clean",
    ]) {
        FailureReasonCategory::NoChanges
    } else if any(&["conflict"]) {
        FailureReasonCategory::Conflict
    } else {
        FailureReasonCategory::BackendError
    }
}

/// `command.json`: what was run, where, for how long, and how it ended. Environment variables are
/// listed by name only.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct CommandRecord {
    pub backend: String,
    pub argv: Vec<String>,
    pub cwd: String,
    pub timeout_seconds: u64,
    pub env_set: Vec<String>,
    pub env_inherited: Vec<String>,
    pub env_removed: Vec<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub duration_ms: u64,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub timed_out: bool,
    pub cancelled: bool,
    pub spawn_error: Option<String>,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub output_incomplete: bool,
    /// For the command backend: the argv as given, placeholders unexpanded (`git oc retry`
    /// runs it again).
    pub argv_template: Option<Vec<String>>,
}

/// The first and last halves of `text` when it is longer than `limit` characters.
fn excerpt(text: &str, limit: usize) -> String {
    let n = text.chars().count();
    if n <= limit {
        return text.to_owned();
    }
    let head: String = text.chars().take(limit / 2).collect();
    let tail: String = text.chars().skip(n - limit / 2).collect();
    format!("{head}\n...[truncated]...\n{tail}")
}

impl Adapter for AgentAdapter {
    fn display_name(&self) -> &str {
        self.label()
    }

    fn execute(&self, ctx: &AdapterContext) -> AdapterRun {
        let args = self.args(ctx);
        let env = vec![
            ("GIT_OC_GOAL".to_owned(), ctx.request.goal_text.clone()),
            ("GIT_OC_GOAL_FILE".to_owned(), ctx.goal_file.display().to_string()),
            ("GIT_OC_RUN_ID".to_owned(), ctx.request.run_id.clone()),
            ("GIT_OC_TASK_ID".to_owned(), ctx.task_id.clone()),
            ("GIT_OC_WORKTREE".to_owned(), ctx.workspace.display().to_string()),
        ];
        let spec = ProcessSpec {
            program: self.program.clone().into(),
            args: args.iter().map(Into::into).collect(),
            cwd: ctx.workspace.to_owned(),
            env: env.clone(),
            timeout: self.timeout,
            stream: ctx.output.is_some().then(|| ctx.redactor.clone()),
            capture_limit: self.capture_limit,
        };
        let started_at = Timestamp::now();
        let outcome = run(&spec, ctx.interrupt, &mut |line| {
            if let Some(output) = ctx.output {
                output(line)
            }
        });
        let finished_at = Timestamp::now();
        let redactor = ctx.redactor;
        let stdout = redactor.redact_tail(&outcome.stdout.tail, outcome.stdout.truncated());
        let stderr = redactor.redact_tail(&outcome.stderr.tail, outcome.stderr.truncated());
        let (out_text, err_text) = (String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
        let judgement = self.judge(&outcome, &out_text, &err_text);

        let mut result = ExecutionResult::new(ctx.request, judgement.status, judgement.success);
        result.failure_category = judgement.category;
        result.failure_reason = judgement.reason.map(|r| redactor.redact(&r));
        if !judgement.success {
            result.executor_exit_code = outcome.exit_code;
            result.executor_signal = outcome.signal.clone();
        }
        let log = format!(
            "{out_text}{}{err_text}",
            if out_text.is_empty() || err_text.is_empty() {
                ""
            } else {
                "\n"
            }
        );
        if outcome.spawn_error.is_none() {
            result.artifacts.push(ExecutionArtifact {
                artifact_id: new_id(),
                artifact_type: ArtifactType::LogExcerpt,
                label: format!("{} run log", self.label()),
                content: Some(excerpt(&log, 4000)),
                uri: None,
                size_bytes: Some(outcome.stdout.total_bytes + outcome.stderr.total_bytes),
                produced_at: finished_at,
            });
        }
        result.completed_at = Timestamp::now();

        let mut env_inherited: Vec<String> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| !GIT_LOCATION_VARS.contains(&k.as_str()) && !env.iter().any(|(n, _)| n == k))
            .collect();
        env_inherited.sort();
        let mut argv = vec![self.program.clone()];
        argv.extend(args.iter().map(|a| redactor.redact(a)));
        let command = CommandRecord {
            backend: self.label().to_owned(),
            argv,
            cwd: ctx.workspace.display().to_string(),
            timeout_seconds: self.timeout.as_secs(),
            env_set: env.iter().map(|(k, _)| k.clone()).collect(),
            env_inherited,
            env_removed: GIT_LOCATION_VARS.iter().map(|s| s.to_string()).collect(),
            started_at,
            finished_at,
            duration_ms: outcome.duration.as_millis() as u64,
            exit_code: outcome.exit_code,
            signal: outcome.signal.clone(),
            timed_out: outcome.timed_out,
            cancelled: outcome.cancelled,
            spawn_error: outcome.spawn_error.as_ref().map(|e| e.to_string()),
            stdout_bytes: outcome.stdout.total_bytes,
            stderr_bytes: outcome.stderr.total_bytes,
            stdout_truncated: outcome.stdout.truncated(),
            stderr_truncated: outcome.stderr.truncated(),
            output_incomplete: outcome.output_incomplete,
            argv_template: (self.kind == AgentKind::Command).then(|| {
                std::iter::once(self.program.clone())
                    .chain(self.command_args.iter().cloned())
                    .map(|a| redactor.redact(&a))
                    .collect()
            }),
        };
        AdapterRun {
            result,
            capture: Some(Capture {
                command,
                stdout: with_truncation_note(stdout, &outcome.stdout),
                stderr: with_truncation_note(stderr, &outcome.stderr),
                cancelled: outcome.cancelled,
            }),
        }
    }
}

fn with_truncation_note(kept: Vec<u8>, captured: &super::process::Captured) -> Vec<u8> {
    if !captured.truncated() {
        return kept;
    }
    let mut out = format!(
        "[git-oc: output was {} bytes; only the last {} are kept]\n",
        captured.total_bytes,
        kept.len()
    )
    .into_bytes();
    out.extend_from_slice(&kept);
    out
}

/// The goal file handed to agents.
pub fn goal_file_text(goal: &str, allowed_paths: &[String]) -> String {
    let mut text = format!("## Goal\n{}\n", goal.trim_end());
    if !allowed_paths.is_empty() {
        text.push_str("\n## Constraints\nOnly change files matching these paths:\n");
        for p in allowed_paths {
            text.push_str(&format!("- {p}\n"));
        }
    }
    text.push_str(
        "\n## Version control\nDo not commit, push or switch branches: git-oc reviews, validates and commits your \
         changes on this run's branch.\n",
    );
    text
}

/// Whether `program` can be found (on PATH or as a path).
pub fn find_program(program: &str) -> Option<std::path::PathBuf> {
    let p = Path::new(program);
    if p.components().count() > 1 {
        return p.is_file().then(|| p.to_owned());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

/// The adapter that runs a routing decision's backend when the configuration says nothing:
/// SwitchBoard's backends map onto the agents git-oc can run. `archon_then_kodo` (and its newer
/// name `dag_executor`) wrap kodo in an Archon workflow git-oc does not have, so kodo runs alone.
pub fn default_adapter(backend: BackendName) -> Option<AgentKind> {
    use BackendName as B;
    Some(match backend {
        B::Kodo | B::TeamExecutor | B::ArchonThenKodo | B::DagExecutor => AgentKind::Kodo,
        B::AiderLocal | B::DirectLocal | B::Aider => AgentKind::Aider,
        B::Claude => AgentKind::Claude,
        B::Codex => AgentKind::Codex,
        B::Command => AgentKind::Command,
        B::Archon | B::Openclaw | B::CritiqueExecutor | B::DemoStub => return None,
    })
}

/// The adapter for `lane`/`backend`: the configuration's `[adapters]` entry for `"lane/backend"`,
/// then for `"backend"`, then the default mapping.
pub fn adapter_for(lane: LaneName, backend: BackendName, adapters: &AdapterMap) -> crate::error::Result<AgentKind> {
    use crate::error::Error;
    for key in [format!("{lane}/{backend}"), backend.to_string()] {
        if let Some(entry) = adapters.get(&key) {
            return AgentKind::parse(&entry.value).ok_or_else(|| {
                Error::input(format!(
                    "adapters.\"{key}\" names unknown adapter {:?} (from {})",
                    entry.value, entry.source
                ))
            });
        }
    }
    default_adapter(backend).ok_or_else(|| {
        Error::input(format!("no adapter runs backend {backend:?} (lane {lane})")).hint(format!(
            "map it in .oc/config.toml, e.g. [adapters] \"{lane}/{backend}\" = \"kodo\""
        ))
    })
}
