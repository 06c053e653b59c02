//! `git oc policy show` and `git oc policy check`: the effective policy and where each part came
//! from; a proposal evaluated against it without running anything.

use clap::{Args, Subcommand};
use serde_json::json;

use super::run::TaskArgs;
use super::ui::Ui;
use crate::config::Config;
use crate::error::Result;
use crate::policy::PolicyEngine;

/// Show the effective policy, or check a proposal against it
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per process")]
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
    out.push_str(&format!("  {label:<18}: {value}\n"));
}

fn cmd_show(ui: &mut Ui, _args: &ShowArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let config = Config::load(repo.workdir())?;
    let policy = config.checked_policy()?;
    let routing = config.routing_policy()?;
    let digest = PolicyEngine::new(policy.clone()).digest();
    let section = crate::config::PolicySection {
        repo_policies: Some(policy.repo_policies.clone()),
        default_policy: policy.default_policy.clone(),
    };
    let run = &config.run;
    let routing_settings = &config.routing;
    let src = |key: &str| config.source(key);
    if ui.is_json() {
        let doc = json!({
            "files": config.files.iter().map(|(s, p)| json!({"source": s, "path": p})).collect::<Vec<_>>(),
            "policy": policy,
            "policy_digest": digest,
            "sources": {
                "repo_policies": src("policy.repo_policies"),
                "default_policy": src("policy.default_policy"),
                "routing_policy": routing.source,
                "router": src("routing.router"),
                "switchboard_url": src("routing.switchboard_url"),
            },
            "router": routing_settings.router().as_str(),
            "routing_policy": routing.policy,
            "routing_policy_file": routing.file,
            "routing_warnings": routing.warnings,
            "switchboard_url": routing_settings.switchboard_url(),
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
        out.push_str(&format!("  {source}\n"));
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
    out.push_str("\nrouting\n");
    line(
        &mut out,
        "router",
        &format!("{} (from {})", routing_settings.router(), src("routing.router")),
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
        &format!(
            "{} (from {})",
            routing_settings.switchboard_url(),
            src("routing.switchboard_url")
        ),
    );
    line(
        &mut out,
        "fallback_to_rules",
        &format!(
            "{} (from {})",
            routing_settings.fallback_to_rules(),
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
    out.push_str("\neffective policy (as it would be written in .oc/config.toml)\n\n");
    let wrapped = json!({ "policy": section });
    out.push_str(&toml::to_string_pretty(&wrapped).unwrap_or_default());
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
