//! Routing: which lane and backend run a proposal. Three routers: the demo's `stub` (labelled as
//! such), `rules` (local, SwitchBoard's policy model, the default) and `switchboard` (HTTP).

pub mod rules;
pub mod switchboard;

use crate::contracts::{BackendName, LaneDecision, LaneName, TaskProposal, Timestamp, new_id};

/// The routers a run can use (the demo's stub router is not one of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Router {
    /// The local rules router with SwitchBoard's policy model.
    Rules,
    /// SwitchBoard over HTTP.
    Switchboard,
}

impl Router {
    pub const ALL: [Router; 2] = [Router::Rules, Router::Switchboard];

    pub fn as_str(self) -> &'static str {
        match self {
            Router::Rules => "rules",
            Router::Switchboard => "switchboard",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    pub fn names() -> String {
        Self::ALL.map(Router::as_str).join(", ")
    }
}

impl std::fmt::Display for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub const STUB_RULE: &str = "demo.stub_routing";
pub const STUB_RATIONALE: &str = "Offline stub routing for demo mode — deterministic, no external services required";

/// The demo's offline decision: always `aider_local` with the `demo_stub` backend.
pub fn stub_decision(proposal: &TaskProposal) -> LaneDecision {
    LaneDecision {
        decision_id: new_id(),
        proposal_id: proposal.proposal_id.clone(),
        selected_lane: LaneName::AiderLocal,
        selected_backend: BackendName::DemoStub,
        confidence: 1.0,
        policy_rule_matched: Some(STUB_RULE.to_owned()),
        rationale: Some(STUB_RATIONALE.to_owned()),
        alternatives_considered: Vec::new(),
        decided_at: Timestamp::now(),
        switchboard_version: None,
    }
}

/// The rule id recorded when the lane and backend came from the command line.
pub const EXPLICIT_RULE: &str = "cli.explicit";

/// A decision taken from `--lane` / `--backend` rather than by a router.
pub fn explicit_decision(proposal: &TaskProposal, lane: LaneName, backend: BackendName, how: &str) -> LaneDecision {
    LaneDecision {
        decision_id: new_id(),
        proposal_id: proposal.proposal_id.clone(),
        selected_lane: lane,
        selected_backend: backend,
        confidence: 1.0,
        policy_rule_matched: Some(EXPLICIT_RULE.to_owned()),
        rationale: Some(format!("Lane and backend chosen on the command line ({how})")),
        alternatives_considered: Vec::new(),
        decided_at: Timestamp::now(),
        switchboard_version: None,
    }
}

/// A routing policy and where it came from.
pub struct LoadedPolicy {
    pub policy: rules::RoutingPolicy,
    pub source: crate::config::Source,
    /// Where the policy text lives, when it is a file.
    pub file: Option<std::path::PathBuf>,
    /// Keys SwitchBoard would ignore, ignored here too.
    pub warnings: Vec<String>,
}

/// The routing policy the configuration names: a file (YAML as SwitchBoard reads it, or TOML),
/// an inline `[routing.policy]` table, or SwitchBoard's built-in default. Checked the way
/// SwitchBoard checks it; problems stop the run.
/// `source` is where `routing.policy_file` or `routing.policy` was set.
pub fn load_policy(
    routing: &crate::config::RoutingSection,
    source: &crate::config::Source,
) -> crate::error::Result<LoadedPolicy> {
    use crate::config::Source;
    use crate::error::Error;
    let (policy, source, file, warnings) = if let Some(path) = &routing.policy_file {
        let is_toml = path.extension().is_some_and(|e| e == "toml");
        // The file may be committed: regular files only, bounded in size and nesting.
        let syntax = if is_toml {
            crate::config::read::Syntax::Toml
        } else {
            crate::config::read::Syntax::Yaml
        };
        let text = crate::config::read::read_config_file(path, "routing policy", syntax)
            .map_err(|e| e.hint(format!("routing.policy_file is set in the {source}")))?
            .ok_or_else(|| {
                Error::input(format!(
                    "cannot read routing policy {} (named by {source})",
                    path.display()
                ))
                .caused_by("No such file or directory")
                .hint("fix routing.policy_file: it is relative to the file that sets it")
            })?;
        let (policy, warnings) = if is_toml {
            let policy = toml::from_str::<rules::RoutingPolicy>(&text).map_err(|e| {
                let at = e.span().map(|s| crate::config::line_col(&text, s.start));
                let loc = at.map_or_else(
                    || path.display().to_string(),
                    |(l, c)| format!("{}:{l}:{c}", path.display()),
                );
                Error::input(format!("invalid routing policy at {loc}: {}", e.message().trim()))
                    .hint("the schema is SwitchBoard's policy model; see the README")
            })?;
            (policy, Vec::new())
        } else {
            rules::RoutingPolicy::from_yaml(&text).map_err(|e| {
                Error::input(format!("invalid routing policy {}: {e}", path.display()))
                    .hint("the file must be a SwitchBoard policy (YAML) or the same model in TOML")
            })?
        };
        (policy, source.clone(), Some(path.clone()), warnings)
    } else if let Some(inline) = &routing.policy {
        let policy = inline.clone().try_into::<rules::RoutingPolicy>().map_err(|e| {
            Error::input(format!("invalid [routing.policy] in {source}: {}", e.message().trim()))
                .hint("the schema is SwitchBoard's policy model; see the README")
        })?;
        (policy, source.clone(), None, Vec::new())
    } else {
        (
            rules::RoutingPolicy::builtin_default(),
            Source::Default,
            None,
            Vec::new(),
        )
    };
    let problems = policy.validate();
    if !problems.is_empty() {
        let mut err = Error::input(format!(
            "the routing policy from {source} is invalid ({} problem{})",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        ));
        for p in problems {
            err = err.caused_by(p);
        }
        return Err(err.hint("fix the policy; lanes, backends and `when` keys must be ones SwitchBoard knows"));
    }
    Ok(LoadedPolicy {
        policy,
        source,
        file,
        warnings,
    })
}

/// Route with the local rules router.
pub fn route_rules(policy: &rules::RoutingPolicy, proposal: &TaskProposal) -> crate::error::Result<LaneDecision> {
    let outcome = rules::route(policy, &rules::RoutingAttrs::from_proposal(proposal));
    let lane: LaneName = outcome
        .lane
        .parse()
        .map_err(|e: String| crate::error::Error::input(format!("the routing policy selected an unknown lane: {e}")))?;
    let backend: BackendName = outcome.backend.parse().map_err(|e: String| {
        crate::error::Error::input(format!("the routing policy selected an unknown backend: {e}"))
    })?;
    let alternatives = outcome
        .alternatives
        .iter()
        .filter_map(|l| l.parse::<LaneName>().ok())
        .collect();
    Ok(LaneDecision {
        decision_id: new_id(),
        proposal_id: proposal.proposal_id.clone(),
        selected_lane: lane,
        selected_backend: backend,
        confidence: outcome.confidence,
        policy_rule_matched: outcome.rule,
        rationale: Some(outcome.rationale).filter(|r| !r.is_empty()),
        alternatives_considered: alternatives,
        decided_at: Timestamp::now(),
        switchboard_version: None,
    })
}

/// Route `proposal` with `router`, SwitchBoard reached as `settings` say.
pub fn route_configured(
    settings: &crate::config::RoutingSection,
    routing_policy: &rules::RoutingPolicy,
    router: Router,
    proposal: &TaskProposal,
) -> crate::error::Result<LaneDecision> {
    use crate::error::Error;
    match router {
        Router::Rules => route_rules(routing_policy, proposal),
        Router::Switchboard => {
            let target = settings.switchboard_url();
            // For messages: credentials in the URL are never shown.
            let url = crate::execution::secrets::redact_url(target);
            let timeout = std::time::Duration::from_secs(settings.timeout());
            match switchboard::route(target, proposal, timeout) {
                Ok(decision) => Ok(decision),
                Err(switchboard::SwitchBoardError::Unavailable(why)) if settings.fallback_to_rules() => {
                    let mut decision = route_rules(routing_policy, proposal)?;
                    decision.rationale = Some(format!(
                        "SwitchBoard unavailable ({why}); routed by the local rules router instead: {}",
                        decision.rationale.unwrap_or_default()
                    ));
                    Ok(decision)
                }
                Err(switchboard::SwitchBoardError::Unavailable(why)) => Err(Error::run(why).hint(format!(
                    "start SwitchBoard at {url}, set GIT_OC_SWITCHBOARD_URL, route locally with --routing rules, or set \
                     routing.fallback_to_rules = true"
                ))),
                Err(switchboard::SwitchBoardError::Rejected(why)) => {
                    Err(Error::run(why).hint("check the SwitchBoard service and its policy; --routing rules routes locally"))
                }
            }
        }
    }
}
