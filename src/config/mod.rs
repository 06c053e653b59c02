//! Layered configuration: built-in defaults < user file (`$XDG_CONFIG_HOME/git-oc/config.toml`)
//! < repository file (`.oc/config.toml`, committed and shared by the team) < environment
//! (`GIT_OC_*`) < command-line flags. Unknown keys are errors, not silently ignored, and every
//! error names the file, line and column.
//!
//! Each `[section]` is one typed struct whose fields are all optional; its methods give the
//! effective value with its default. Layers are merged key by key (`section.key`), and the layer
//! each key came from is kept, so a new section or key is one struct field in one place.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::execution::agents::AgentKind;
use crate::policy::{PolicyConfig, RepoPolicy, default_policy_config};
use crate::routing::Router;

pub mod read;
pub mod review;

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "snake_case")]
pub enum Source {
    Default,
    User(PathBuf),
    Repository(PathBuf),
    Environment(String),
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("built-in default"),
            Source::User(p) => write!(f, "user file {}", p.display()),
            Source::Repository(p) => write!(f, "repository file {}", p.display()),
            Source::Environment(v) => write!(f, "environment variable {v}"),
            Source::Flag(flag) => write!(f, "command-line flag {flag}"),
        }
    }
}

/// A value with the layer it came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

/// `[run]`: defaults for `git oc run`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Backend when neither --backend nor a router decides (`command`, `kodo`, `claude`, `codex`, `aider`).
    pub backend: Option<String>,
    pub timeout: Option<u64>,
    pub validation_timeout: Option<u64>,
    /// Branch template, with `{task_id}` and `{run}`.
    pub branch: Option<String>,
    /// Validation commands run after every agent.
    pub validate: Option<Vec<String>>,
    /// The policy key of this repository.
    pub repo_key: Option<String>,
}

impl RunSection {
    /// The configured backend (checked when the configuration loads).
    pub fn backend(&self) -> Option<AgentKind> {
        self.backend.as_deref().and_then(AgentKind::parse)
    }

    pub fn timeout(&self) -> u64 {
        self.timeout.unwrap_or(1800)
    }

    pub fn validation_timeout(&self) -> u64 {
        self.validation_timeout.unwrap_or(600)
    }

    pub fn branch(&self) -> &str {
        self.branch.as_deref().unwrap_or("oc/{task_id}")
    }

    pub fn validate(&self) -> &[String] {
        self.validate.as_deref().unwrap_or_default()
    }
}

/// `[routing]`: which router decides lane and backend, and with which policy.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoutingSection {
    /// `rules` (local, the default) or `switchboard` (HTTP).
    pub router: Option<String>,
    /// A SwitchBoard policy file (YAML, as SwitchBoard reads it, or TOML), relative to the file
    /// that names it; absolute once loaded.
    pub policy_file: Option<PathBuf>,
    /// The same policy model inline, as TOML.
    pub policy: Option<toml::Value>,
    pub switchboard_url: Option<String>,
    /// Seconds for the whole SwitchBoard request.
    pub timeout: Option<u64>,
    /// Route locally with the rules router when SwitchBoard cannot be reached.
    pub fallback_to_rules: Option<bool>,
}

pub const DEFAULT_SWITCHBOARD_URL: &str = "http://localhost:20401";

impl RoutingSection {
    pub fn router(&self) -> Router {
        self.router.as_deref().and_then(Router::parse).unwrap_or(Router::Rules)
    }

    pub fn switchboard_url(&self) -> &str {
        self.switchboard_url.as_deref().unwrap_or(DEFAULT_SWITCHBOARD_URL)
    }

    pub fn timeout(&self) -> u64 {
        self.timeout.unwrap_or(10)
    }

    pub fn fallback_to_rules(&self) -> bool {
        self.fallback_to_rules.unwrap_or(false)
    }
}

/// `[backends.<name>]`: how each agent is invoked.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BackendSettings {
    /// The program to run (a name on PATH or a path).
    pub program: Option<String>,
    /// Appended to the built-in argv.
    pub extra_args: Option<Vec<String>>,
    /// aider's `--model`.
    pub model: Option<String>,
    /// kodo settings.
    pub team: Option<String>,
    pub cycles: Option<u32>,
    pub exchanges: Option<u32>,
    pub orchestrator: Option<String>,
    pub effort: Option<String>,
    /// For `command`: the argv, program first, with placeholders.
    pub argv: Option<Vec<String>>,
}

/// `[policy]`: the reference's policy model (repository policies keyed by repo key, `*`, then
/// the default policy).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    pub repo_policies: Option<Vec<RepoPolicy>>,
    pub default_policy: Option<RepoPolicy>,
}

/// `[gc]`: what `git oc gc` may remove.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GcSection {
    /// Days a finished run's worktree is kept.
    pub retention_days: Option<u64>,
    /// Run branches removed once older than the retention even if not merged (glob patterns).
    pub disposable_branches: Option<Vec<String>>,
}

impl GcSection {
    pub fn retention_days(&self) -> u64 {
        self.retention_days.unwrap_or(7)
    }

    pub fn disposable_branches(&self) -> Vec<String> {
        self.disposable_branches
            .clone()
            .unwrap_or_else(|| vec!["demo/*".into()])
    }
}

/// `[github]`: publishing runs (`git oc run --push --pr`, `git oc pr RUN`). Tokens never come
/// from here: `GITHUB_TOKEN`, `GH_TOKEN` or `gh auth token`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GithubSection {
    /// The remote to push to [default: the base branch's upstream remote, else `origin`].
    pub remote: Option<String>,
    /// `owner/name` on GitHub [default: from the remote's URL].
    pub repository: Option<String>,
    /// The REST API base [default: `https://api.github.com` for github.com, else
    /// `https://<host>/api/v3` (GitHub Enterprise Server)].
    pub api_url: Option<String>,
    /// The pull request's base branch [default: the run's base branch].
    pub base: Option<String>,
    pub labels: Option<Vec<String>>,
    /// Users, or teams as `org/team`, asked to review.
    pub reviewers: Option<Vec<String>>,
    pub assignees: Option<Vec<String>>,
    /// `auto` (a draft when validation failed or review is required), `always` or `never`.
    pub draft: Option<String>,
    /// Push (and open a draft for) a run whose validation failed, for inspection.
    pub push_on_validation_failure: Option<bool>,
    /// Seconds for each API request.
    pub timeout: Option<u64>,
    /// Seconds git-oc waits in all for GitHub's rate limits before giving up.
    pub rate_limit_wait: Option<u64>,
}

/// When a pull request is opened as a draft.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftRule {
    /// A draft when validation failed or the policy requires review.
    Auto,
    Always,
    Never,
}

impl DraftRule {
    pub const NAMES: [&str; 3] = ["auto", "always", "never"];

    pub fn as_str(self) -> &'static str {
        match self {
            DraftRule::Auto => "auto",
            DraftRule::Always => "always",
            DraftRule::Never => "never",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(DraftRule::Auto),
            "always" => Some(DraftRule::Always),
            "never" => Some(DraftRule::Never),
            _ => None,
        }
    }
}

impl GithubSection {
    pub fn draft(&self) -> DraftRule {
        self.draft
            .as_deref()
            .and_then(DraftRule::parse)
            .unwrap_or(DraftRule::Auto)
    }

    pub fn push_on_validation_failure(&self) -> bool {
        self.push_on_validation_failure.unwrap_or(false)
    }

    pub fn labels(&self) -> &[String] {
        self.labels.as_deref().unwrap_or_default()
    }

    pub fn reviewers(&self) -> &[String] {
        self.reviewers.as_deref().unwrap_or_default()
    }

    pub fn assignees(&self) -> &[String] {
        self.assignees.as_deref().unwrap_or_default()
    }

    pub fn timeout(&self) -> u64 {
        self.timeout.unwrap_or(30)
    }

    pub fn rate_limit_wait(&self) -> u64 {
        self.rate_limit_wait.unwrap_or(60)
    }
}

/// `[board]`: where tasks live: `git` (the default, refs under `refs/oc/tasks/`) or `plane`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BoardSection {
    pub kind: Option<String>,
    /// The names of the states, where they differ from the original's.
    pub states: Option<StatesSection>,
}

/// `[board.states]`: the name each state of the original has on this board.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StatesSection {
    pub backlog: Option<String>,
    pub ready: Option<String>,
    pub running: Option<String>,
    pub in_review: Option<String>,
    pub blocked: Option<String>,
    pub done: Option<String>,
    pub cancelled: Option<String>,
}

/// `[plane]`: the Plane project a `plane` board uses (the token comes from `PLANE_API_TOKEN`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlaneSection {
    pub url: Option<String>,
    pub workspace: Option<String>,
    pub project_id: Option<String>,
    /// The pause before the n-th retry of a request is n times this many milliseconds
    /// (default 2000, as the original).
    pub retry_unit_ms: Option<u64>,
}

/// `[autonomy]`: `git oc autonomy-cycle` (what it runs, which families it may propose, its
/// thresholds); every key is optional and the defaults are the original's.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AutonomySection {
    /// The test command, run with `sh -c` [default: `run.validate`, else one detected from the
    /// repository: cargo, pytest, npm, go].
    pub test_command: Option<String>,
    pub test_timeout: Option<u64>,
    /// Run the linters present (cargo clippy, ruff, mypy) [default: true].
    pub lint: Option<bool>,
    pub lint_timeout: Option<u64>,
    /// Replaces the default allowed families.
    pub families: Option<Vec<String>>,
    /// Families never proposed, even with --all-families.
    pub disabled_families: Option<Vec<String>>,
    pub max_candidates: Option<usize>,
    pub cooldown_minutes: Option<u64>,
    pub max_create: Option<usize>,
    /// Open autonomy tasks (backlog and ready) at which the board counts as saturated.
    pub max_queued: Option<usize>,
    pub observation_coverage_min_runs: Option<usize>,
    pub test_visibility_min_runs: Option<usize>,
    pub dependency_drift_min_runs: Option<usize>,
    pub lint_min_violations: Option<usize>,
    pub type_min_errors: Option<usize>,
    pub validation_failure_threshold: Option<usize>,
    /// The backlog file whose `## Next` items backlog_promotion proposes [default: the first of
    /// .console/backlog.md, BACKLOG.md, docs/backlog.md, backlog.md].
    pub backlog_file: Option<String>,
    /// The coverage report read (lcov, Cobertura XML, coverage.py or Istanbul JSON) [default:
    /// the first of lcov.info, coverage.xml, coverage.json and their coverage/ variants].
    pub coverage_report: Option<String>,
    /// Overall line coverage below which coverage_gap proposes [default: 60].
    pub coverage_min_percent: Option<f64>,
    /// A file below this line coverage counts as uncovered [default: 80].
    pub coverage_file_min_percent: Option<f64>,
    /// Uncovered files from which coverage_gap proposes [default: 3].
    pub coverage_min_uncovered_files: Option<usize>,
    /// Snapshots in a row a lint or type code must stay among the most frequent to be a cluster
    /// [default: 3].
    pub lint_cluster_min_runs: Option<usize>,
    /// Observation snapshots and cycle reports `git oc gc` keeps, each [default: 50].
    pub keep_records: Option<usize>,
}

/// `[lanes]`: how `git oc watch` runs board tasks unattended (README "Running unattended").
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LanesSection {
    /// Tasks of this repository claimed per 24 hours, counted on the board (unset: no cap).
    pub max_daily_executions: Option<u32>,
    /// Runs at once in this repository, all lanes and watchers together (default 1).
    pub max_concurrent_runs: Option<u32>,
    /// Seconds a lane waits after an agent reports an exhausted quota (default 900).
    pub quota_backoff: Option<u64>,
}

impl LanesSection {
    pub fn max_concurrent_runs(&self) -> u32 {
        self.max_concurrent_runs.unwrap_or(1).max(1)
    }

    pub fn quota_backoff(&self) -> u64 {
        self.quota_backoff.unwrap_or(900)
    }
}

/// A configuration file as written, and the effective configuration once the layers are merged.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub run: RunSection,
    #[serde(default)]
    pub routing: RoutingSection,
    #[serde(default)]
    pub backends: BTreeMap<String, BackendSettings>,
    /// Routing backend (or `lane/backend`) → adapter.
    #[serde(default)]
    pub adapters: BTreeMap<String, String>,
    pub policy: Option<PolicySection>,
    #[serde(default)]
    pub gc: GcSection,
    #[serde(default)]
    pub github: GithubSection,
    #[serde(default)]
    pub board: BoardSection,
    #[serde(default)]
    pub plane: PlaneSection,
    #[serde(default)]
    pub autonomy: AutonomySection,
    #[serde(default)]
    pub lanes: LanesSection,
    #[serde(default)]
    pub review: review::ReviewSection,
}

/// `[adapters]` with the layer each entry came from.
pub type AdapterMap = BTreeMap<String, Sourced<String>>;

/// The effective configuration after layering: the merged file (through `Deref`) and where each
/// `section.key` came from.
#[derive(Clone, Debug)]
pub struct Config {
    /// Files read, in layer order.
    pub files: Vec<(Source, PathBuf)>,
    merged: ConfigFile,
    sources: BTreeMap<String, Source>,
}

impl std::ops::Deref for Config {
    type Target = ConfigFile;
    fn deref(&self) -> &ConfigFile {
        &self.merged
    }
}

/// Parse one file, turning TOML and schema errors into `file:line:column` errors.
pub fn parse_file(path: &Path, text: &str) -> Result<ConfigFile> {
    toml::from_str::<ConfigFile>(text).map_err(|e| {
        let at = e.span().map(|span| line_col(text, span.start));
        let location = match at {
            Some((line, col)) => format!("{}:{line}:{col}", path.display()),
            None => path.display().to_string(),
        };
        Error::input(format!("invalid configuration at {location}: {}", e.message().trim()))
            .hint("fix the file; the keys and their meaning are in the README's configuration section")
    })
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn read_layer(path: &Path) -> Result<Option<ConfigFile>> {
    // Committed files are untrusted: regular files only, bounded in size and nesting.
    match read::read_config_file(path, "configuration file", read::Syntax::Toml)? {
        Some(text) => parse_file(path, &text).map(Some),
        None => Ok(None),
    }
}

/// `$XDG_CONFIG_HOME/git-oc/config.toml`, or `~/.config/git-oc/config.toml`.
pub fn user_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("git-oc").join("config.toml"))
}

/// `<work tree>/.oc/config.toml`.
pub fn repo_config_path(workdir: &Path) -> PathBuf {
    workdir.join(".oc").join("config.toml")
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The environment variables that set configuration keys, and the keys they set.
const ENVIRONMENT: [(&str, &str); 5] = [
    ("GIT_OC_SWITCHBOARD_URL", "routing.switchboard_url"),
    ("GIT_OC_GITHUB_API_URL", "github.api_url"),
    ("GIT_OC_ROUTER", "routing.router"),
    ("GIT_OC_BACKEND", "run.backend"),
    ("GIT_OC_TIMEOUT", "run.timeout"),
];

impl Config {
    /// Load the layers for a repository whose work tree is `workdir`.
    pub fn load(workdir: &Path) -> Result<Config> {
        let mut layers = Vec::new();
        if let Some(path) = user_config_path()
            && let Some(file) = read_layer(&path)?
        {
            layers.push((Source::User(path.clone()), path, file));
        }
        let repo_path = repo_config_path(workdir);
        if let Some(file) = read_layer(&repo_path)? {
            layers.push((Source::Repository(repo_path.clone()), repo_path, file));
        }
        Self::from_layers(layers)
    }

    /// The configuration outside any repository: built-in defaults, the user file and the
    /// environment.
    pub fn load_user() -> Result<Config> {
        let mut layers = Vec::new();
        if let Some(path) = user_config_path()
            && let Some(file) = read_layer(&path)?
        {
            layers.push((Source::User(path.clone()), path, file));
        }
        Self::from_layers(layers)
    }

    pub fn from_layers(layers: Vec<(Source, PathBuf, ConfigFile)>) -> Result<Config> {
        let mut merged = toml::Table::new();
        let mut sources = BTreeMap::new();
        let files = layers.iter().map(|(s, p, _)| (s.clone(), p.clone())).collect();
        for (source, path, mut file) in layers {
            // A policy file is relative to the file that names it.
            if let Some(p) = &file.routing.policy_file {
                file.routing.policy_file = Some(path.parent().unwrap_or(Path::new(".")).join(p));
            }
            let table = toml::Table::try_from(&file)
                .map_err(|e| Error::internal("could not merge the configuration").caused_by(e.to_string()))?;
            merge_layer(&mut merged, &mut sources, table, &source);
        }
        for (var, key) in ENVIRONMENT {
            if let Some(v) = env_var(var) {
                let value = if key == "run.timeout" {
                    let n = v.trim().parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        Error::input(format!(
                            "environment variable {var}={v:?} is not a positive whole number of seconds"
                        ))
                        .hint(format!("unset {var} or set it to e.g. 600"))
                    })?;
                    toml::Value::Integer(n.min(i64::MAX as u64) as i64)
                } else {
                    toml::Value::String(v)
                };
                let (section, name) = key.split_once('.').unwrap_or((key, ""));
                let mut layer = toml::Table::new();
                layer.insert(
                    section.to_owned(),
                    toml::Value::Table([(name.to_owned(), value)].into_iter().collect()),
                );
                merge_layer(&mut merged, &mut sources, layer, &Source::Environment(var.to_owned()));
            }
        }
        let merged: ConfigFile = toml::Value::Table(merged).try_into().map_err(|e: toml::de::Error| {
            Error::internal("could not merge the configuration").caused_by(e.to_string())
        })?;
        let config = Config { files, merged, sources };
        config.validate_values()?;
        Ok(config)
    }

    /// Where `section.key` (or `section.key.sub`) came from.
    pub fn source(&self, key: &str) -> Source {
        let mut key = key;
        loop {
            if let Some(s) = self.sources.get(key) {
                return s.clone();
            }
            match key.rsplit_once('.') {
                Some((parent, _)) => key = parent,
                None => return Source::Default,
            }
        }
    }

    /// A value with where it came from.
    pub fn sourced<T>(&self, key: &str, value: T) -> Sourced<T> {
        Sourced {
            value,
            source: self.source(key),
        }
    }

    /// Where the routing policy (a file or inline) was set.
    pub fn routing_policy_source(&self) -> Source {
        self.source(if self.routing.policy_file.is_some() {
            "routing.policy_file"
        } else {
            "routing.policy"
        })
    }

    /// The routing policy the configuration names, loaded and checked.
    pub fn routing_policy(&self) -> Result<crate::routing::LoadedPolicy> {
        crate::routing::load_policy(&self.routing, &self.routing_policy_source())
    }

    /// `[adapters]` with the layer of each entry.
    pub fn adapter_map(&self) -> AdapterMap {
        self.adapters
            .iter()
            .map(|(k, v)| (k.clone(), self.sourced(&format!("adapters.{k}"), v.clone())))
            .collect()
    }

    pub fn backend_settings(&self, kind: AgentKind) -> BackendSettings {
        self.backends.get(kind.name()).cloned().unwrap_or_default()
    }

    /// The policy the configuration gives, unchecked: the built-in one, with the configured
    /// policies layered on it (they inherit its protections unless they say `replace_defaults`).
    pub fn policy(&self) -> PolicyConfig {
        let mut policy = default_policy_config();
        if let Some(section) = &self.merged.policy {
            crate::policy::apply_layer(
                &mut policy,
                section.repo_policies.clone(),
                section.default_policy.clone(),
            );
        }
        policy
    }

    /// Values that parse but make no sense, named with their source.
    fn validate_values(&self) -> Result<()> {
        let bad = |what: String, key: &str, hint: String| {
            Err(Error::input(format!("{what} (from {})", self.source(key))).hint(hint))
        };
        if let Some(r) = &self.routing.router
            && Router::parse(r).is_none()
        {
            return bad(
                format!("unknown router {r:?}"),
                "routing.router",
                format!("known routers: {}", Router::names()),
            );
        }
        if let Some(b) = &self.run.backend
            && AgentKind::parse(b).is_none()
        {
            return bad(
                format!("unknown backend {b:?}"),
                "run.backend",
                format!("known backends: {}", AgentKind::names()),
            );
        }
        for (value, key) in [
            (self.run.timeout, "run.timeout"),
            (self.run.validation_timeout, "run.validation_timeout"),
            (self.routing.timeout, "routing.timeout"),
            (self.github.timeout, "github.timeout"),
        ] {
            if value == Some(0) {
                return bad(
                    format!("{key} must be at least 1 second"),
                    key,
                    "set it to e.g. 600".into(),
                );
            }
        }
        for (key, adapter) in &self.adapters {
            let at = format!("adapters.{key}");
            let (lane, backend) = match key.split_once('/') {
                Some((l, b)) => (Some(l), b),
                None => (None, key.as_str()),
            };
            if let Some(l) = lane
                && l.parse::<crate::contracts::LaneName>().is_err()
            {
                return bad(
                    format!("adapters.\"{key}\": unknown lane {l:?}"),
                    &at,
                    format!("known lanes: {}", crate::contracts::LaneName::known_values()),
                );
            }
            if backend.parse::<crate::contracts::BackendName>().is_err() {
                return bad(
                    format!("adapters.\"{key}\": unknown backend {backend:?}"),
                    &at,
                    format!("known backends: {}", crate::contracts::BackendName::known_values()),
                );
            }
            if AgentKind::parse(adapter).is_none() {
                return bad(
                    format!("adapters.{key} names unknown adapter {adapter:?}"),
                    &at,
                    format!("known adapters: {}", AgentKind::names()),
                );
            }
        }
        for (name, v) in &self.backends {
            let at = format!("backends.{name}");
            if AgentKind::parse(name).is_none() {
                return Err(
                    Error::input(format!("unknown backend [backends.{name}] in {}", self.source(&at)))
                        .hint(format!("known backends: {}", AgentKind::names())),
                );
            }
            let kodo_only = v.team.is_some()
                || v.cycles.is_some()
                || v.exchanges.is_some()
                || v.orchestrator.is_some()
                || v.effort.is_some();
            if kodo_only && name != "kodo" {
                return bad(
                    format!("backends.{name} sets kodo-only keys (team, cycles, exchanges, orchestrator, effort)"),
                    &at,
                    "move them to [backends.kodo]".into(),
                );
            }
            if v.argv.is_some() && name != "command" {
                return bad(
                    format!("backends.{name}.argv is only for the command backend"),
                    &at,
                    "use program and extra_args".into(),
                );
            }
            if v.argv.as_ref().is_some_and(|a| a.is_empty()) {
                return bad(
                    "backends.command.argv is empty".into(),
                    &at,
                    "give the program and its arguments".into(),
                );
            }
        }
        self.validate_github()?;
        if let Some((what, key, hint)) = self.review.problem() {
            return bad(what, key, hint);
        }
        if let Some(kind) = &self.board.kind
            && crate::board::BoardKind::parse(kind).is_none()
        {
            return bad(
                format!("unknown board kind {kind:?}"),
                "board.kind",
                format!("known kinds: {}", crate::board::BoardKind::names()),
            );
        }
        if let Err(why) = crate::board::States::from_config(&self.board) {
            return bad(
                why,
                "board.states",
                "give each state its own non-empty one-line name".into(),
            );
        }
        if self.run.validate().iter().any(|c| c.trim().is_empty()) {
            return bad(
                "run.validate has an empty command".into(),
                "run.validate",
                "remove it".into(),
            );
        }
        Ok(())
    }

    /// `[github]` values that parse but could never work.
    fn validate_github(&self) -> Result<()> {
        let g = &self.github;
        let bad = |what: String, key: &str, hint: &str| {
            Err(Error::input(format!("{what} (from {})", self.source(key))).hint(hint.to_owned()))
        };
        if let Some(d) = &g.draft
            && DraftRule::parse(d).is_none()
        {
            return bad(
                format!("github.draft {d:?} is not one of {}", DraftRule::NAMES.join(", ")),
                "github.draft",
                "set github.draft to auto, always or never",
            );
        }
        if let Some(r) = &g.repository
            && !is_repository_name(r)
        {
            return bad(
                format!(
                    "github.repository {:?} is not owner/name",
                    crate::text::escape_controls(r)
                ),
                "github.repository",
                "write it as on GitHub, e.g. repository = \"octo-org/widgets\"",
            );
        }
        if let Some(url) = &g.api_url {
            let shown = crate::execution::secrets::redact_url(url).into_owned();
            let parsed = url.parse::<http::Uri>().ok().filter(|u| {
                matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some_and(|h| !h.is_empty())
            });
            let Some(parsed) = parsed else {
                return bad(
                    format!("github.api_url {shown:?} is not an http(s) URL"),
                    "github.api_url",
                    "e.g. https://api.github.com, or https://github.example.com/api/v3 for GitHub Enterprise",
                );
            };
            if parsed.authority().is_some_and(|a| a.as_str().contains('@')) {
                return bad(
                    format!("github.api_url {shown:?} holds credentials"),
                    "github.api_url",
                    "remove them: the token comes from GITHUB_TOKEN, GH_TOKEN or gh auth token",
                );
            }
            if parsed.query().is_some() {
                return bad(
                    format!("github.api_url {shown:?} has a query"),
                    "github.api_url",
                    "give the API base only, e.g. https://github.example.com/api/v3",
                );
            }
        }
        if let Some(remote) = &g.remote
            && (remote.is_empty() || remote.starts_with('-') || remote.contains(char::is_whitespace))
        {
            return bad(
                format!(
                    "github.remote {:?} is not a remote name",
                    crate::text::escape_controls(remote)
                ),
                "github.remote",
                "name a remote from 'git remote -v', e.g. remote = \"origin\"",
            );
        }
        if let Some(base) = &g.base
            && (base.starts_with('-') || gix::refs::FullName::try_from(format!("refs/heads/{base}")).is_err())
        {
            return bad(
                format!(
                    "github.base {:?} is not a branch name",
                    crate::text::escape_controls(base)
                ),
                "github.base",
                "give the pull request's base branch, e.g. base = \"main\"",
            );
        }
        for (key, values) in [
            ("github.labels", g.labels()),
            ("github.reviewers", g.reviewers()),
            ("github.assignees", g.assignees()),
        ] {
            if let Some(v) = values.iter().find(|v| v.trim().is_empty() || v.contains(['\n', '\r'])) {
                return bad(
                    format!(
                        "{key} has an empty or multi-line entry {:?}",
                        crate::text::escape_controls(v)
                    ),
                    key,
                    "remove it",
                );
            }
        }
        for (key, values) in [("github.reviewers", g.reviewers()), ("github.assignees", g.assignees())] {
            let team_ok = key == "github.reviewers";
            if let Some(v) = values.iter().find(|v| !is_login(v, team_ok)) {
                return bad(
                    format!(
                        "{key} entry {:?} is not a GitHub login{}",
                        crate::text::escape_controls(v),
                        if team_ok { " or org/team" } else { "" }
                    ),
                    key,
                    "logins are letters, digits and hyphens (teams as org/team-slug)",
                );
            }
        }
        Ok(())
    }

    /// The policy, checked the reference's way; an invalid policy stops every run (fail closed).
    pub fn checked_policy(&self) -> Result<PolicyConfig> {
        let policy = self.policy();
        let problems = crate::policy::validate_config(&policy);
        if problems.is_empty() {
            return Ok(policy);
        }
        let mut sources: Vec<String> = Vec::new();
        for key in ["policy.repo_policies", "policy.default_policy"] {
            let source = self.source(key);
            if source != Source::Default && !sources.contains(&source.to_string()) {
                sources.push(source.to_string());
            }
        }
        if sources.is_empty() {
            sources.push("configuration".to_owned());
        }
        let mut err = Error::input(format!(
            "the policy is invalid ({} problem{}); no run can start until it is fixed",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        ));
        for p in problems {
            err = err.caused_by(p);
        }
        Err(err.hint(format!("fix the [policy] section of the {}", sources.join(" or "))))
    }
}

/// `owner/name`, as GitHub spells repositories.
pub fn is_repository_name(s: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(s.split_once('/'), Some((owner, name)) if part(owner) && part(name) && !name.contains('/') && name != "." && name != "..")
}

/// A GitHub login (letters, digits, hyphens), or with `team_ok` an `org/team-slug`.
fn is_login(s: &str, team_ok: bool) -> bool {
    let login = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match s.split_once('/') {
        Some((org, team)) => team_ok && login(org) && login(team),
        None => login(s),
    }
}

/// Merge one layer into `merged`, key by key: `section.key` values replace earlier ones whole
/// (a table such as `[backends.claude]` or `policy.default_policy` included).
fn merge_layer(merged: &mut toml::Table, sources: &mut BTreeMap<String, Source>, layer: toml::Table, source: &Source) {
    for (section, value) in layer {
        match value {
            toml::Value::Table(keys) => {
                let target = merged
                    .entry(section.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                let Some(target) = target.as_table_mut() else { continue };
                for (key, value) in keys {
                    // A routing policy is either a file or inline: setting one drops the other.
                    if section == "routing" {
                        let other = match key.as_str() {
                            "policy_file" => Some("policy"),
                            "policy" => Some("policy_file"),
                            _ => None,
                        };
                        if let Some(other) = other {
                            target.remove(other);
                            sources.remove(&format!("routing.{other}"));
                        }
                    }
                    sources.insert(format!("{section}.{key}"), source.clone());
                    target.insert(key, value);
                }
            }
            other => {
                sources.insert(section.clone(), source.clone());
                merged.insert(section, other);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(text: &str) -> Vec<(Source, PathBuf, ConfigFile)> {
        let path = PathBuf::from("/repo/.oc/config.toml");
        vec![(
            Source::Repository(path.clone()),
            path.clone(),
            parse_file(&path, text).unwrap(),
        )]
    }

    #[test]
    fn errors_name_the_file_line_and_column() {
        let err = parse_file(Path::new("/x/config.toml"), "[run]\ntimeout = 5\nbogus = 1\n").unwrap_err();
        assert!(
            err.message
                .starts_with("invalid configuration at /x/config.toml:3:1: unknown field `bogus`"),
            "{}",
            err.message
        );
        let err = parse_file(Path::new("c.toml"), "[run]\ntimeout = \"soon\"\n").unwrap_err();
        assert!(
            err.message.starts_with("invalid configuration at c.toml:2:11:"),
            "{}",
            err.message
        );
        let err = parse_file(Path::new("c.toml"), "[run\n").unwrap_err();
        assert!(err.message.contains("c.toml:1:"), "{}", err.message);
    }

    #[test]
    fn later_layers_win_and_sources_are_kept() {
        let user = PathBuf::from("/home/u/.config/git-oc/config.toml");
        let repo = PathBuf::from("/repo/.oc/config.toml");
        let layers = vec![
            (
                Source::User(user.clone()),
                user.clone(),
                parse_file(&user, "[run]\ntimeout = 100\nbranch = \"u/{task_id}\"\n").unwrap(),
            ),
            (
                Source::Repository(repo.clone()),
                repo.clone(),
                parse_file(&repo, "[run]\ntimeout = 200\n").unwrap(),
            ),
        ];
        let c = Config::from_layers(layers).unwrap();
        assert_eq!(c.run.timeout(), 200);
        assert_eq!(c.source("run.timeout"), Source::Repository(repo));
        assert_eq!(c.run.branch(), "u/{task_id}");
        assert_eq!(c.source("run.branch"), Source::User(user));
        assert_eq!(c.source("run.validation_timeout"), Source::Default);
        assert_eq!(c.run.validation_timeout(), 600);
    }

    #[test]
    fn policy_sections_replace_the_defaults_and_are_validated() {
        let c = Config::from_layers(layer(
            "[[policy.repo_policies]]\nrepo_key = \"svc\"\nblocked_task_types = [\"feature\"]\n",
        ))
        .unwrap();
        assert_eq!(c.policy().repo_policies.len(), 1);
        assert_eq!(c.policy().get_repo_policy("svc").blocked_task_types, ["feature"]);
        assert!(matches!(c.source("policy.repo_policies"), Source::Repository(_)));
        assert!(c.checked_policy().is_ok());

        let c = Config::from_layers(layer(
            "[[policy.repo_policies]]\nrepo_key = \"svc\"\nrisk_profile = \"demo\"\n[policy.repo_policies.review_requirement]\nblocked_without_human = true\n",
        ))
        .unwrap();
        let err = c.checked_policy().unwrap_err();
        assert_eq!(err.causes().len(), 2, "{:?}", err.causes());
        assert!(err.hints[0].contains("/repo/.oc/config.toml"));
    }

    #[test]
    fn bad_values_are_reported_with_their_source() {
        let err = Config::from_layers(layer("[routing]\nrouter = \"magic\"\n")).unwrap_err();
        assert!(
            err.message
                .contains("unknown router \"magic\" (from repository file /repo/.oc/config.toml)"),
            "{}",
            err.message
        );
        let err = Config::from_layers(layer("[backends.gpt]\nprogram = \"x\"\n")).unwrap_err();
        assert!(err.message.contains("unknown backend [backends.gpt]"));
        let err = Config::from_layers(layer("[backends.claude]\nteam = \"x\"\n")).unwrap_err();
        assert!(err.message.contains("kodo-only"));
        let err = Config::from_layers(layer("[adapters]\nkodo = \"nope\"\n")).unwrap_err();
        assert!(err.message.contains("unknown adapter"));
        let err = Config::from_layers(layer("[run]\ntimeout = 0\n")).unwrap_err();
        assert!(err.message.contains("at least 1 second"));
    }

    #[test]
    fn policy_file_paths_are_relative_to_the_file_naming_them() {
        let c = Config::from_layers(layer("[routing]\npolicy_file = \"sb/policy.yaml\"\n")).unwrap();
        assert_eq!(
            c.routing.policy_file.clone().unwrap(),
            PathBuf::from("/repo/.oc/sb/policy.yaml")
        );
    }
}
