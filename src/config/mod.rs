//! Layered configuration: built-in defaults < user file (`$XDG_CONFIG_HOME/git-oc/config.toml`)
//! < repository file (`.oc/config.toml`, committed and shared by the team) < environment
//! (`GIT_OC_*`) < command-line flags. Unknown keys are errors, not silently ignored, and every
//! error names the file, line and column.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::policy::{PolicyConfig, RepoPolicy, default_policy_config};

pub mod read;

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

/// `[routing]`: which router decides lane and backend, and with which policy.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoutingSection {
    /// `rules` (local, the default) or `switchboard` (HTTP).
    pub router: Option<String>,
    /// A SwitchBoard policy file (YAML, as SwitchBoard reads it, or TOML), relative to the file
    /// that names it.
    pub policy_file: Option<String>,
    /// The same policy model inline, as TOML.
    pub policy: Option<toml::Value>,
    pub switchboard_url: Option<String>,
    /// Seconds for the whole SwitchBoard request.
    pub timeout: Option<u64>,
    /// Route locally with the rules router when SwitchBoard cannot be reached.
    pub fallback_to_rules: Option<bool>,
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

/// One configuration file as written.
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
}

/// A value with the layer it came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Sourced<T> {
    fn new(value: T, source: Source) -> Self {
        Sourced { value, source }
    }
}

/// The effective configuration after layering.
#[derive(Clone, Debug)]
pub struct Config {
    /// Files read, in layer order.
    pub files: Vec<(Source, PathBuf)>,
    pub backend: Option<Sourced<String>>,
    pub timeout: Sourced<u64>,
    pub validation_timeout: Sourced<u64>,
    pub branch: Sourced<String>,
    pub validate: Sourced<Vec<String>>,
    pub repo_key: Option<Sourced<String>>,
    pub router: Sourced<String>,
    /// A routing policy file, absolute.
    pub routing_policy_file: Option<Sourced<PathBuf>>,
    pub routing_policy_inline: Option<Sourced<toml::Value>>,
    pub switchboard_url: Sourced<String>,
    pub switchboard_timeout: Sourced<u64>,
    pub fallback_to_rules: Sourced<bool>,
    pub backends: BTreeMap<String, Sourced<BackendSettings>>,
    pub adapters: BTreeMap<String, Sourced<String>>,
    pub policy: PolicyConfig,
    pub repo_policies_source: Source,
    pub default_policy_source: Source,
    pub gc_retention_days: Sourced<u64>,
    pub gc_disposable_branches: Sourced<Vec<String>>,
}

pub const DEFAULT_SWITCHBOARD_URL: &str = "http://localhost:20401";
pub const ROUTERS: [&str; 2] = ["rules", "switchboard"];
pub const BACKEND_SECTIONS: [&str; 5] = ["command", "kodo", "claude", "codex", "aider"];

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

fn env_u64(name: &str) -> Result<Option<u64>> {
    match env_var(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| {
                Error::input(format!(
                    "environment variable {name}={v:?} is not a positive whole number of seconds"
                ))
                .hint(format!("unset {name} or set it to e.g. 600"))
            }),
    }
}

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

    pub fn from_layers(layers: Vec<(Source, PathBuf, ConfigFile)>) -> Result<Config> {
        let mut c = Config {
            files: layers.iter().map(|(s, p, _)| (s.clone(), p.clone())).collect(),
            backend: None,
            timeout: Sourced::new(1800, Source::Default),
            validation_timeout: Sourced::new(600, Source::Default),
            branch: Sourced::new("oc/{task_id}".into(), Source::Default),
            validate: Sourced::new(Vec::new(), Source::Default),
            repo_key: None,
            router: Sourced::new("rules".into(), Source::Default),
            routing_policy_file: None,
            routing_policy_inline: None,
            switchboard_url: Sourced::new(DEFAULT_SWITCHBOARD_URL.into(), Source::Default),
            switchboard_timeout: Sourced::new(10, Source::Default),
            fallback_to_rules: Sourced::new(false, Source::Default),
            backends: BTreeMap::new(),
            adapters: BTreeMap::new(),
            policy: default_policy_config(),
            repo_policies_source: Source::Default,
            default_policy_source: Source::Default,
            gc_retention_days: Sourced::new(7, Source::Default),
            gc_disposable_branches: Sourced::new(vec!["demo/*".into()], Source::Default),
        };
        for (source, path, file) in layers {
            c.apply(source, &path, file)?;
        }
        c.apply_env()?;
        c.validate_values()?;
        Ok(c)
    }

    fn apply(&mut self, source: Source, path: &Path, file: ConfigFile) -> Result<()> {
        let s = || source.clone();
        let run = file.run;
        if let Some(v) = run.backend {
            self.backend = Some(Sourced::new(v, s()));
        }
        if let Some(v) = run.timeout {
            self.timeout = Sourced::new(v, s());
        }
        if let Some(v) = run.validation_timeout {
            self.validation_timeout = Sourced::new(v, s());
        }
        if let Some(v) = run.branch {
            self.branch = Sourced::new(v, s());
        }
        if let Some(v) = run.validate {
            self.validate = Sourced::new(v, s());
        }
        if let Some(v) = run.repo_key {
            self.repo_key = Some(Sourced::new(v, s()));
        }
        let routing = file.routing;
        if let Some(v) = routing.router {
            self.router = Sourced::new(v, s());
        }
        if let Some(v) = routing.policy_file {
            let base = path.parent().unwrap_or(Path::new("."));
            self.routing_policy_file = Some(Sourced::new(base.join(v), s()));
            self.routing_policy_inline = None;
        }
        if let Some(v) = routing.policy {
            self.routing_policy_inline = Some(Sourced::new(v, s()));
            self.routing_policy_file = None;
        }
        if let Some(v) = routing.switchboard_url {
            self.switchboard_url = Sourced::new(v, s());
        }
        if let Some(v) = routing.timeout {
            self.switchboard_timeout = Sourced::new(v, s());
        }
        if let Some(v) = routing.fallback_to_rules {
            self.fallback_to_rules = Sourced::new(v, s());
        }
        for (name, settings) in file.backends {
            if !BACKEND_SECTIONS.contains(&name.as_str()) {
                return Err(
                    Error::input(format!("unknown backend [backends.{name}] in {}", path.display()))
                        .hint(format!("known backends: {}", BACKEND_SECTIONS.join(", "))),
                );
            }
            self.backends.insert(name, Sourced::new(settings, s()));
        }
        for (key, adapter) in file.adapters {
            self.adapters.insert(key, Sourced::new(adapter, s()));
        }
        if let Some(v) = file.gc.retention_days {
            self.gc_retention_days = Sourced::new(v, s());
        }
        if let Some(v) = file.gc.disposable_branches {
            self.gc_disposable_branches = Sourced::new(v, s());
        }
        if let Some(policy) = file.policy {
            // Layering (inheritance of the default protections, pattern normalisation) lives in
            // the policy module.
            if policy.repo_policies.is_some() {
                self.repo_policies_source = s();
            }
            if policy.default_policy.is_some() {
                self.default_policy_source = s();
            }
            crate::policy::apply_layer(&mut self.policy, policy.repo_policies, policy.default_policy);
        }
        Ok(())
    }

    fn apply_env(&mut self) -> Result<()> {
        if let Some(v) = env_var("GIT_OC_SWITCHBOARD_URL") {
            self.switchboard_url = Sourced::new(v, Source::Environment("GIT_OC_SWITCHBOARD_URL".into()));
        }
        if let Some(v) = env_var("GIT_OC_ROUTER") {
            self.router = Sourced::new(v, Source::Environment("GIT_OC_ROUTER".into()));
        }
        if let Some(v) = env_var("GIT_OC_BACKEND") {
            self.backend = Some(Sourced::new(v, Source::Environment("GIT_OC_BACKEND".into())));
        }
        if let Some(v) = env_u64("GIT_OC_TIMEOUT")? {
            self.timeout = Sourced::new(v, Source::Environment("GIT_OC_TIMEOUT".into()));
        }
        Ok(())
    }

    /// Values that parse but make no sense, named with their source.
    fn validate_values(&self) -> Result<()> {
        let bad = |what: String, source: &Source, hint: String| {
            Err(Error::input(format!("{what} (from {source})")).hint(hint))
        };
        if !ROUTERS.contains(&self.router.value.as_str()) {
            return bad(
                format!("unknown router {:?}", self.router.value),
                &self.router.source,
                format!("known routers: {}", ROUTERS.join(", ")),
            );
        }
        if let Some(b) = &self.backend
            && !BACKEND_SECTIONS.contains(&b.value.as_str())
        {
            return bad(
                format!("unknown backend {:?}", b.value),
                &b.source,
                format!("known backends: {}", BACKEND_SECTIONS.join(", ")),
            );
        }
        for (value, name) in [
            (&self.timeout, "run.timeout"),
            (&self.validation_timeout, "run.validation_timeout"),
            (&self.switchboard_timeout, "routing.timeout"),
        ] {
            if value.value == 0 {
                return bad(
                    format!("{name} must be at least 1 second"),
                    &value.source,
                    "set it to e.g. 600".into(),
                );
            }
        }
        for (key, adapter) in &self.adapters {
            let (lane, backend) = match key.split_once('/') {
                Some((l, b)) => (Some(l), b),
                None => (None, key.as_str()),
            };
            if let Some(l) = lane
                && l.parse::<crate::contracts::LaneName>().is_err()
            {
                return bad(
                    format!("adapters.\"{key}\": unknown lane {l:?}"),
                    &adapter.source,
                    format!("known lanes: {}", crate::contracts::LaneName::known_values()),
                );
            }
            if backend.parse::<crate::contracts::BackendName>().is_err() {
                return bad(
                    format!("adapters.\"{key}\": unknown backend {backend:?}"),
                    &adapter.source,
                    format!("known backends: {}", crate::contracts::BackendName::known_values()),
                );
            }
            if !BACKEND_SECTIONS.contains(&adapter.value.as_str()) {
                return bad(
                    format!("adapters.{key} names unknown adapter {:?}", adapter.value),
                    &adapter.source,
                    format!("known adapters: {}", BACKEND_SECTIONS.join(", ")),
                );
            }
        }
        for (name, settings) in &self.backends {
            let v = &settings.value;
            let kodo_only = v.team.is_some()
                || v.cycles.is_some()
                || v.exchanges.is_some()
                || v.orchestrator.is_some()
                || v.effort.is_some();
            if kodo_only && name != "kodo" {
                return bad(
                    format!("backends.{name} sets kodo-only keys (team, cycles, exchanges, orchestrator, effort)"),
                    &settings.source,
                    "move them to [backends.kodo]".into(),
                );
            }
            if v.argv.is_some() && name != "command" {
                return bad(
                    format!("backends.{name}.argv is only for the command backend"),
                    &settings.source,
                    "use program and extra_args".into(),
                );
            }
            if v.argv.as_ref().is_some_and(|a| a.is_empty()) {
                return bad(
                    "backends.command.argv is empty".into(),
                    &settings.source,
                    "give the program and its arguments".into(),
                );
            }
        }
        if self.validate.value.iter().any(|c| c.trim().is_empty()) {
            return bad(
                "run.validate has an empty command".into(),
                &self.validate.source,
                "remove it".into(),
            );
        }
        Ok(())
    }

    /// The policy, checked the reference's way; an invalid policy stops every run (fail closed).
    pub fn checked_policy(&self) -> Result<PolicyConfig> {
        let problems = crate::policy::validate_config(&self.policy);
        if problems.is_empty() {
            return Ok(self.policy.clone());
        }
        let mut sources = vec![self.repo_policies_source.to_string()];
        if self.default_policy_source != self.repo_policies_source {
            sources.push(self.default_policy_source.to_string());
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

    pub fn backend_settings(&self, name: &str) -> BackendSettings {
        self.backends.get(name).map(|s| s.value.clone()).unwrap_or_default()
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
        assert_eq!(c.timeout.value, 200);
        assert_eq!(c.timeout.source, Source::Repository(repo));
        assert_eq!(c.branch.value, "u/{task_id}");
        assert_eq!(c.branch.source, Source::User(user));
        assert_eq!(c.validation_timeout.source, Source::Default);
    }

    #[test]
    fn policy_sections_replace_the_defaults_and_are_validated() {
        let c = Config::from_layers(layer(
            "[[policy.repo_policies]]\nrepo_key = \"svc\"\nblocked_task_types = [\"feature\"]\n",
        ))
        .unwrap();
        assert_eq!(c.policy.repo_policies.len(), 1);
        assert_eq!(c.policy.get_repo_policy("svc").blocked_task_types, ["feature"]);
        assert!(matches!(c.repo_policies_source, Source::Repository(_)));
        assert!(c.checked_policy().is_ok());

        let c = Config::from_layers(layer(
            "[[policy.repo_policies]]\nrepo_key = \"svc\"\nrisk_profile = \"demo\"\n[policy.repo_policies.review_requirement]\nblocked_without_human = true\n",
        ))
        .unwrap();
        let err = c.checked_policy().unwrap_err();
        assert_eq!(err.causes.len(), 2, "{:?}", err.causes);
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
            c.routing_policy_file.unwrap().value,
            PathBuf::from("/repo/.oc/sb/policy.yaml")
        );
    }
}
