//! `git oc policy show` and `git oc policy check`: the effective policy and where each part came
//! from; a proposal evaluated against it without running anything.

use clap::{Args, Subcommand};
use serde_json::json;

use super::run::TaskArgs;
use super::ui::Ui;
use crate::config::{Config, Source};
use crate::error::Result;
use crate::execution::secrets::redact_url;
use crate::policy::layering::Selected;
use crate::policy::{PolicyConfig, PolicyEngine, RepoPolicy, py_repr_list, py_repr_str};
use crate::text::{escape_controls, escape_controls_keep_lines};

/// Show the effective policy, or check a proposal against it
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

// Parsed once per process: the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show the effective policy and routing configuration, and where each part came from
    Show(ShowArgs),
    /// Evaluate a goal, task type, risk, labels and paths against the policy, without running
    ///
    /// Exit status: 0 when the policy allows the proposal, 1 when it blocks it or requires review.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub task: TaskArgs,
}

pub fn cmd_policy(ui: &mut Ui, args: &PolicyArgs) -> Result<i32> {
    match &args.command {
        PolicyCommand::Show(a) => cmd_show(ui, a),
        PolicyCommand::Check(a) => cmd_check(ui, a),
    }
}

fn line(out: &mut String, label: &str, value: &str) {
    // Values quote configuration and paths: never raw control characters.
    out.push_str(&format!("  {label:<18}: {}\n", escape_controls(value)));
}

/// One layer of the policy that applies: a policy and where it came from.
struct Layer<'a> {
    policy: &'a RepoPolicy,
    /// `repo_policies[0] (repo_key='svc')`, `default_policy` or `built-in default policy`.
    name: String,
    source: Source,
}

/// The policy that applies to `repo_key` and the policies it inherits, nearest first, each with
/// the file it came from.
fn layers<'a>(config: &Config, policy: &'a PolicyConfig, repo_key: &str) -> Vec<Layer<'a>> {
    let default_source = config.source("policy.default_policy");
    let selected = policy.get_repo_policy(repo_key);
    let first_name = match crate::policy::layering::select(policy, repo_key) {
        Selected::RepoPolicies(i) => (
            format!("repo_policies[{i}] (repo_key={})", py_repr_str(&selected.repo_key)),
            config.source("policy.repo_policies"),
        ),
        Selected::DefaultPolicy if default_source == Source::Default => {
            ("built-in default".to_owned(), Source::Default)
        }
        Selected::DefaultPolicy => ("default_policy".to_owned(), default_source.clone()),
        Selected::Builtin => ("built-in default".to_owned(), Source::Default),
    };
    let mut out = vec![Layer {
        policy: selected,
        name: first_name.0,
        source: first_name.1,
    }];
    for inherited in selected.layers().skip(1) {
        let configured_default = default_source != Source::Default && policy.default_policy.as_ref() == Some(inherited);
        let (name, source) = if configured_default {
            ("default_policy".to_owned(), default_source.clone())
        } else {
            ("built-in default".to_owned(), Source::Default)
        };
        out.push(Layer {
            policy: inherited,
            name,
            source,
        });
    }
    out
}

impl Layer<'_> {
    /// `repo_policies[0] (repo_key='svc') from repository file …`, or `built-in default`.
    fn describe(&self) -> String {
        if self.source == Source::Default {
            self.name.clone()
        } else {
            format!("{} from {}", self.name, self.source)
        }
    }
}

/// The repository key runs use without --repo-key, and where it comes from.
fn effective_repo_key(repo: &crate::git::Repo, config: &Config) -> (String, String) {
    match &config.run.repo_key {
        Some(k) => (
            k.clone(),
            format!("run.repo_key in the {}", config.source("run.repo_key")),
        ),
        None => (
            repo.name(),
            "the origin remote's URL, else the work tree's name; --repo-key overrides it".to_owned(),
        ),
    }
}

fn list_or(items: &[String], empty: &str) -> String {
    if items.is_empty() {
        empty.to_owned()
    } else {
        py_repr_list(items)
    }
}

fn cmd_show(ui: &mut Ui, _args: &ShowArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let config = Config::load(repo.workdir())?;
    let policy = config.checked_policy()?;
    let routing = config.routing_policy()?;
    let run = &config.run;
    let settings = &config.routing;
    let src = |key: &str| config.source(key);
    let digest = PolicyEngine::new(policy.clone())
        .ignore_case(repo.ignore_case())
        .digest();
    let (repo_key, repo_key_from) = effective_repo_key(&repo, &config);
    let layers = layers(&config, &policy, &repo_key);
    // Credentials in the SwitchBoard URL are used, never printed.
    let switchboard_url = redact_url(settings.switchboard_url()).into_owned();
    // The configuration as written: the inheritance links are shown as layers instead.
    let strip = |p: &RepoPolicy| RepoPolicy {
        inherits: None,
        ..p.clone()
    };
    let section = crate::config::PolicySection {
        repo_policies: Some(policy.repo_policies.iter().map(strip).collect()),
        default_policy: policy.default_policy.as_ref().map(strip),
    };
    if ui.is_json() {
        let rules: Vec<_> = layers
            .iter()
            .flat_map(|l| {
                l.policy.path_policy.rules.iter().map(move |r| {
                    json!({
                        "path_pattern": r.path_pattern,
                        "access_mode": r.access_mode,
                        "applies_to_task_types": r.applies_to_task_types,
                        "notes": r.notes,
                        "layer": l.name,
                        "source": l.source,
                    })
                })
            })
            .collect();
        let doc = json!({
            "files": config.files.iter().map(|(s, p)| json!({"source": s, "path": p})).collect::<Vec<_>>(),
            "policy": section,
            "policy_digest": digest,
            "effective": {
                "repo_key": repo_key,
                "repo_key_from": repo_key_from,
                "ignore_case": repo.ignore_case(),
                "layers": layers.iter().map(|l| json!({
                    "name": l.name,
                    "source": l.source,
                    "replace_defaults": l.policy.replace_defaults,
                })).collect::<Vec<_>>(),
                "path_rules": rules,
                "policy": strip(layers[0].policy),
            },
            "sources": {
                "repo_policies": src("policy.repo_policies"),
                "default_policy": src("policy.default_policy"),
                "routing_policy": routing.source,
                "router": src("routing.router"),
                "switchboard_url": src("routing.switchboard_url"),
            },
            "router": settings.router().as_str(),
            "routing_policy": routing.policy,
            "routing_policy_file": routing.file,
            "routing_warnings": routing.warnings,
            "switchboard_url": switchboard_url,
            "github": {
                "remote": config.github.remote,
                "repository": config.github.repository,
                "api_url": config.github.api_url.as_deref().map(|u| redact_url(u).into_owned()),
                "base": config.github.base,
                "labels": config.github.labels(),
                "reviewers": config.github.reviewers(),
                "assignees": config.github.assignees(),
                "draft": config.github.draft(),
                "push_on_validation_failure": config.github.push_on_validation_failure(),
                "timeout": config.github.timeout(),
                "rate_limit_wait": config.github.rate_limit_wait(),
                "sources": {
                    "remote": src("github.remote"),
                    "repository": src("github.repository"),
                    "api_url": src("github.api_url"),
                    "base": src("github.base"),
                    "draft": src("github.draft"),
                },
            },
            "run": {
                "backend": run.backend,
                "timeout": run.timeout(),
                "validation_timeout": run.validation_timeout(),
                "branch": run.branch(),
                "validate": run.validate(),
            },
        });
        ui.json(&doc);
        return Ok(0);
    }
    let mut out = String::from("configuration files\n");
    if config.files.is_empty() {
        out.push_str("  (none: built-in defaults only)\n");
    }
    for (source, _) in &config.files {
        out.push_str(&format!("  {}\n", escape_controls(&source.to_string())));
    }
    out.push_str("\npolicy\n");
    line(
        &mut out,
        "repo_policies",
        &format!("{} (from {})", policy.repo_policies.len(), src("policy.repo_policies")),
    );
    line(
        &mut out,
        "default_policy",
        &format!(
            "{} (from {})",
            if policy.default_policy.is_some() { "set" } else { "none" },
            src("policy.default_policy")
        ),
    );
    line(&mut out, "digest", &digest);
    line(&mut out, "validation", "no problems (validate_config)");

    out.push_str("\npolicy for this repository\n");
    line(
        &mut out,
        "repository key",
        &format!("{repo_key} (from {repo_key_from})"),
    );
    let own = &layers[0];
    line(&mut out, "selected", &own.describe());
    let inherited: Vec<String> = layers.iter().skip(1).map(Layer::describe).collect();
    line(
        &mut out,
        "inherits",
        &if inherited.is_empty() && own.policy.replace_defaults {
            "nothing: replace_defaults = true".to_owned()
        } else if inherited.is_empty() {
            "nothing".to_owned()
        } else {
            inherited.join(", then ")
        },
    );
    line(&mut out, "enabled", &own.policy.enabled.to_string());
    line(
        &mut out,
        "path matching",
        if repo.ignore_case() {
            "case-insensitive (core.ignorecase)"
        } else {
            "case-sensitive"
        },
    );
    out.push_str("  path rules (first match per layer; across layers the strictest wins):\n");
    let mut any_rule = false;
    for l in &layers {
        for r in &l.policy.path_policy.rules {
            any_rule = true;
            let types = if r.applies_to_task_types.is_empty() {
                String::new()
            } else {
                format!(" for {}", py_repr_list(&r.applies_to_task_types))
            };
            out.push_str(&format!(
                "    {:<16} {:<24} {}{types}\n",
                escape_controls(&r.access_mode),
                escape_controls(&r.path_pattern),
                escape_controls(&l.describe())
            ));
        }
    }
    if !any_rule {
        out.push_str("    (none)\n");
    }
    let modes: Vec<String> = layers
        .iter()
        .map(|l| format!("{} ({})", l.policy.path_policy.default_mode, l.name))
        .collect();
    line(&mut out, "other paths", &modes.join(", "));
    for l in &layers {
        let r = &l.policy.review_requirement;
        line(
            &mut out,
            "review",
            &format!(
                "autonomous {}, blocked without human {}, for risk {}, for task types {} ({})",
                if r.autonomous_allowed { "allowed" } else { "not allowed" },
                r.blocked_without_human,
                list_or(&r.require_review_for_risk_levels, "none"),
                list_or(&r.require_review_for_task_types, "none"),
                l.name
            ),
        );
    }
    for l in &layers {
        for v in &l.policy.validation_requirements {
            line(
                &mut out,
                "validation",
                &format!(
                    "risk {} and task types {}: profile {}{}{} ({})",
                    list_or(&v.applies_to_risk_levels, "any"),
                    list_or(&v.applies_to_task_types, "any"),
                    py_repr_str(&v.required_profile),
                    if v.must_pass { ", must pass" } else { "" },
                    if v.block_if_unavailable {
                        ", blocks when no command"
                    } else {
                        ""
                    },
                    l.name
                ),
            );
        }
    }
    line(
        &mut out,
        "task types",
        &format!(
            "allowed {}, blocked {}",
            list_or(&own.policy.allowed_task_types, "any"),
            list_or(&own.policy.blocked_task_types, "none")
        ),
    );
    line(
        &mut out,
        "base branches",
        &list_or(&own.policy.branch_guardrail.allowed_base_branches, "any"),
    );
    line(&mut out, "network", &own.policy.tool_guardrail.network_mode);

    out.push_str("\nrouting\n");
    line(
        &mut out,
        "router",
        &format!("{} (from {})", settings.router(), src("routing.router")),
    );
    line(
        &mut out,
        "routing policy",
        &match &routing.file {
            Some(f) => format!("{} (from {})", f.display(), routing.source),
            None => format!("{} rules (from {})", routing.policy.rules.len(), routing.source),
        },
    );
    for w in &routing.warnings {
        line(&mut out, "warning", w);
    }
    line(
        &mut out,
        "switchboard_url",
        &format!("{switchboard_url} (from {})", src("routing.switchboard_url")),
    );
    line(
        &mut out,
        "fallback_to_rules",
        &format!(
            "{} (from {})",
            settings.fallback_to_rules(),
            src("routing.fallback_to_rules")
        ),
    );
    out.push_str("\nrun defaults\n");
    match &run.backend {
        Some(b) => line(&mut out, "backend", &format!("{b} (from {})", src("run.backend"))),
        None => line(&mut out, "backend", "(the router decides)"),
    }
    line(
        &mut out,
        "timeout",
        &format!("{}s (from {})", run.timeout(), src("run.timeout")),
    );
    line(
        &mut out,
        "validation_timeout",
        &format!("{}s (from {})", run.validation_timeout(), src("run.validation_timeout")),
    );
    line(
        &mut out,
        "branch",
        &format!("{} (from {})", run.branch(), src("run.branch")),
    );
    line(
        &mut out,
        "validate",
        &format!("{:?} (from {})", run.validate(), src("run.validate")),
    );
    for (key, adapter) in &config.adapter_map() {
        line(
            &mut out,
            &format!("adapter {key}"),
            &format!("{} (from {})", adapter.value, adapter.source),
        );
    }
    let g = &config.github;
    out.push_str("\npublishing (--push, --pr, git oc pr)\n");
    let shown = |v: Option<String>, default: &str, key: &str| match v {
        Some(v) => format!("{v} (from {})", src(key)),
        None => format!("{default} ({})", Source::Default),
    };
    line(
        &mut out,
        "remote",
        &shown(
            g.remote.clone(),
            "the base branch's push remote, else origin",
            "github.remote",
        ),
    );
    line(
        &mut out,
        "repository",
        &shown(g.repository.clone(), "from the remote's URL", "github.repository"),
    );
    line(
        &mut out,
        "api_url",
        &shown(
            g.api_url.as_deref().map(|u| redact_url(u).into_owned()),
            "from the remote's host",
            "github.api_url",
        ),
    );
    line(
        &mut out,
        "base",
        &shown(g.base.clone(), "the run's base branch", "github.base"),
    );
    line(
        &mut out,
        "draft",
        &format!("{} (from {})", g.draft().as_str(), src("github.draft")),
    );
    line(
        &mut out,
        "push_on_validation_failure",
        &format!(
            "{} (from {})",
            g.push_on_validation_failure(),
            src("github.push_on_validation_failure")
        ),
    );
    for (key, values) in [
        ("labels", g.labels()),
        ("reviewers", g.reviewers()),
        ("assignees", g.assignees()),
    ] {
        line(
            &mut out,
            key,
            &format!("{} (from {})", list_or(values, "none"), src(&format!("github.{key}"))),
        );
    }
    line(
        &mut out,
        "timeout",
        &format!("{}s (from {})", g.timeout(), src("github.timeout")),
    );
    line(
        &mut out,
        "rate_limit_wait",
        &format!("{}s (from {})", g.rate_limit_wait(), src("github.rate_limit_wait")),
    );
    out.push_str("\npolicy as configured (as it would be written in .oc/config.toml; inherited layers above)\n\n");
    let wrapped = json!({ "policy": section });
    out.push_str(&escape_controls_keep_lines(
        &toml::to_string_pretty(&wrapped).unwrap_or_default(),
    ));
    ui.data(&out);
    Ok(0)
}

fn cmd_check(ui: &mut Ui, args: &CheckArgs) -> Result<i32> {
    let session = super::open_session()?;
    let bundle = session.plan(&args.task.spec())?.bundle;
    let engine = &session.policy;
    let decision = engine.evaluate(&bundle.proposal, &bundle.decision, None);
    let explanation = crate::policy::explain(&decision);
    let code = if decision.is_allowed() { 0 } else { 1 };
    if ui.is_json() {
        let doc = json!({
            "policy_decision": decision,
            "explanation": explanation,
            "hints": crate::policy::remedies(&decision),
            "policy_digest": engine.digest(),
            "lane": bundle.decision.selected_lane,
            "backend": bundle.decision.selected_backend,
        });
        ui.json(&doc);
        return Ok(code);
    }
    let mut out = String::new();
    super::policy_fields(&mut out, &decision, &explanation);
    super::field(
        &mut out,
        "lane/backend",
        &format!(
            "{} / {}",
            bundle.decision.selected_lane, bundle.decision.selected_backend
        ),
    );
    super::field(&mut out, "digest", &engine.digest());
    ui.data(&out);
    Ok(code)
}
