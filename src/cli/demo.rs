//! `git oc demo`: the seed's end-to-end demo, git-native. Stub routing and a stub backend, but a
//! real linked worktree and branch, a diff computed from git objects, a real commit, and the
//! evidence in files, in `refs/oc/runs/<run_id>` and in a note.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{Value, json};

use super::ui::Ui;
use crate::contracts::{ProposalDecisionBundle, prefix_chars};
use crate::error::{Error, Result};
use crate::execution::coordinator::{self, RunOutcome, RunPlan};
use crate::execution::{RuntimeContext, stub::DemoStubAdapter};
use crate::git::{self, Repo};
use crate::planning::{PlanningContext, build_proposal};
use crate::policy::{PathPolicy, PolicyConfig, PolicyEngine, RepoPolicy, ReviewRequirement, default_repo_policy};

pub const DEFAULT_GOAL: &str = "Write a tiny hello-world execution artifact";

/// Run the end-to-end demo: plan, stub routing, policy gate, stub backend on a real worktree
///
/// The demo proves the whole internal path without any external service: a proposal is planned,
/// routed by the stub router (labelled as such), gated by a permissive policy, and executed by a
/// stub backend that writes artifacts/demo_result.txt in a new linked worktree on the branch
/// demo/run-<8 hex>. The diff is computed from git objects and committed with an Oc-Run trailer;
/// the evidence is written under <workspace>/.operations_center/runs/<run_id>/, committed at
/// refs/oc/runs/<run_id>, and summarised in a note in refs/notes/oc. Your checkout, index and
/// branch are never touched.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The goal to plan
    #[arg(long, default_value = DEFAULT_GOAL)]
    pub goal: String,
    /// Repository key used by planning and as the policy key
    #[arg(long, default_value = "demo")]
    pub repo_key: String,
    /// Where to create the run's worktree [default: <git-dir>/oc/worktrees/demo-run-<8 hex>]
    #[arg(long, value_name = "PATH")]
    pub workspace_path: Option<PathBuf>,
    /// Backend (the demo only has the stub)
    #[arg(long, value_parser = ["stub"], default_value = "stub")]
    pub backend: String,
    /// Routing (the demo only has the offline stub router)
    #[arg(long, value_parser = ["stub"], default_value = "stub")]
    pub routing: String,
    /// Gate with a policy that requires human approval: the run is blocked, evidence is kept
    #[arg(long)]
    pub blocked_policy: bool,
    /// Print one JSON document instead of the report
    #[arg(long)]
    pub json: bool,
}

/// The demo's permissive policy: any repo key, no path rules, no validation requirement.
/// Unlike the reference's, it passes `validate_config` (a real risk profile, a branch required).
pub fn permissive_policy(repo_key: &str) -> PolicyConfig {
    let mut policy = RepoPolicy::new(repo_key);
    policy.path_policy = PathPolicy {
        rules: Vec::new(),
        default_mode: "allow".into(),
    };
    policy.validation_requirements = Vec::new();
    policy.review_requirement = ReviewRequirement {
        require_review_for_risk_levels: Vec::new(),
        require_review_for_task_types: Vec::new(),
        ..ReviewRequirement::default()
    };
    PolicyConfig {
        repo_policies: vec![policy],
        default_policy: Some(default_repo_policy()),
    }
}

/// `--blocked-policy`: explicit human approval required, nothing else changed.
pub fn blocking_policy(repo_key: &str) -> PolicyConfig {
    let mut policy = RepoPolicy::new(repo_key);
    policy.review_requirement = ReviewRequirement {
        autonomous_allowed: false,
        blocked_without_human: true,
        ..ReviewRequirement::default()
    };
    PolicyConfig {
        repo_policies: vec![policy],
        default_policy: Some(default_repo_policy()),
    }
}

/// The URL a clone would use: `origin`'s if configured, else the repository's own path.
pub fn clone_url(repo: &Repo) -> String {
    if let Ok(remote) = repo.repo.find_remote("origin")
        && let Some(url) = remote.url(gix::remote::Direction::Fetch)
    {
        return url.to_bstring().to_string();
    }
    repo.workdir().display().to_string()
}

/// Python `Path`-style normalisation of a path as typed: no trailing `/`, no `//`, no `.`.
fn normalize_display(path: &Path) -> String {
    let s = path.components().collect::<PathBuf>().display().to_string();
    if s.is_empty() { ".".to_owned() } else { s }
}

pub fn cmd_demo(ui: &mut Ui, args: &DemoArgs) -> Result<i32> {
    let repo = super::open_repo()?;

    if args.goal.trim().is_empty() {
        return Err(Error::input("the goal is empty")
            .hint("pass --goal with a description of the change, e.g. --goal \"Fix the typo in README\""));
    }
    if args.repo_key.is_empty() {
        return Err(Error::input("the repository key is empty")
            .hint("pass --repo-key a name for this repository, e.g. --repo-key demo"));
    }

    let base = repo.resolve_base("HEAD")?;
    let base_branch = repo
        .current_branch()
        .unwrap_or_else(|| base.map(|b| git::short(&b)).unwrap_or_else(|| "HEAD".to_owned()));
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let branch = format!("demo/run-{suffix}");
    let (workspace, workspace_display) = match &args.workspace_path {
        Some(p) => (git::absolute(p), normalize_display(p)),
        None => {
            let p = repo.state_dir().join("worktrees").join(format!("demo-run-{suffix}"));
            (p.clone(), p.display().to_string())
        }
    };

    let mut ctx = PlanningContext::new(args.goal.clone(), "simple_edit");
    ctx.repo_key = args.repo_key.clone();
    ctx.clone_url = clone_url(&repo);
    ctx.base_branch = base_branch;
    ctx.proposer = "operations-center-demo".into();
    ctx.push_on_success = false;
    ctx.open_pr = false;
    let proposal = build_proposal(&ctx).map_err(|e| Error::input(e.to_string()))?;
    let decision = crate::routing::stub_decision(&proposal);
    let bundle = ProposalDecisionBundle::new(proposal, decision, "demo run — stub routing and stub backend");

    let policy = PolicyEngine::new(if args.blocked_policy {
        blocking_policy(&args.repo_key)
    } else {
        permissive_policy(&args.repo_key)
    });
    let plan = RunPlan {
        bundle,
        runtime: RuntimeContext {
            workspace_path: workspace_display,
            task_branch: branch,
            goal_file_path: None,
        },
        workspace,
        base,
        base_label: "HEAD".into(),
        command: "git oc demo",
        golden: false,
        validation_commands: Vec::new(),
        validation_timeout: 300,
        stream: false,
    };
    let outcome = coordinator::execute(&repo, plan, &policy, &DemoStubAdapter)?;

    Ok(super::print_outcome(ui, &outcome, args.json, json_document, report))
}

const SEP: &str = "============================================================";

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// A value for the report: control characters escaped (tabs and line breaks kept), continuation
/// lines indented under the value, and very long values shortened (the evidence has them whole).
fn display_value(s: &str) -> String {
    const LIMIT: usize = 500;
    let total = s.chars().count();
    let shown = prefix_chars(s, LIMIT);
    let mut out = String::new();
    for c in shown.chars() {
        match c {
            '\n' => out.push_str("\n                "),
            '\r' => {}
            '\t' => out.push('\t'),
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    if total > LIMIT {
        out.push_str(&format!(
            "… ({} more characters; the full text is in proposal.json)",
            total - LIMIT
        ));
    }
    out
}

fn line(out: &mut String, label: &str, value: &str) {
    out.push_str(&format!("  {label:<12}: {}\n", display_value(value)));
}

/// The terminal report: the seed's sections, order and wording, plus a git section.
pub fn report(o: &RunOutcome) -> String {
    let mut out = String::new();
    out.push_str(&format!("{SEP}\nOperationsCenter Demo Run\n{SEP}\n"));

    out.push_str("\n[PLANNING — TaskProposal]\n");
    line(&mut out, "proposal_id", &o.proposal.proposal_id);
    line(&mut out, "task_id", &o.proposal.task_id);
    line(&mut out, "task_type", o.proposal.task_type.as_str());
    line(&mut out, "risk_level", o.proposal.risk_level.as_str());
    line(&mut out, "goal", &o.proposal.goal_text);

    out.push_str("\n[ROUTING — LaneDecision  [stub mode — labeled, not production]]\n");
    line(&mut out, "decision_id", &o.decision.decision_id);
    line(&mut out, "lane", o.decision.selected_lane.as_str());
    line(&mut out, "backend", o.decision.selected_backend.as_str());
    line(
        &mut out,
        "rule",
        o.decision.policy_rule_matched.as_deref().unwrap_or("None"),
    );
    line(&mut out, "rationale", o.decision.rationale.as_deref().unwrap_or("None"));

    out.push_str("\n[PROPOSAL-DECISION BUNDLE]\n");
    out.push_str(&format!(
        "  {} + {} -> bundled\n",
        prefix_chars(&o.request.proposal_id, 8),
        prefix_chars(&o.decision.decision_id, 8)
    ));

    out.push_str("\n[POLICY — gate result]\n");
    line(&mut out, "status", &o.policy_decision.status.as_str().to_uppercase());
    for v in &o.policy_decision.violations {
        let tag = if v.blocking { "[BLOCK]" } else { "[review]" };
        line(&mut out, "violation", &format!("{tag} {}: {}", v.rule_id, v.message));
    }
    for w in &o.policy_decision.warnings {
        line(&mut out, "warning", &format!("{}: {}", w.rule_id, w.message));
    }
    if o.policy_decision.violations.is_empty() && o.policy_decision.warnings.is_empty() {
        out.push_str("  (no violations or warnings)\n");
    }
    line(&mut out, "executed", py_bool(o.executed));

    if o.executed {
        out.push_str("\n[EXECUTION — DemoStubBackendAdapter]\n");
        line(&mut out, "run_id", &o.result.run_id);
        line(&mut out, "status", &o.result.status.headline_form());
        line(&mut out, "success", py_bool(o.result.success));
        if let Some(stat) = o.result.diff_stat_excerpt.as_deref().filter(|s| !s.is_empty()) {
            line(&mut out, "diff_stat", stat);
        }
        for a in &o.result.artifacts {
            line(
                &mut out,
                "artifact",
                a.uri.as_deref().or(a.content.as_deref()).unwrap_or("None"),
            );
        }
    } else {
        out.push_str("\n[EXECUTION — blocked / skipped]\n");
        line(&mut out, "reason", o.result.failure_reason.as_deref().unwrap_or(""));
    }

    out.push_str("\n[OBSERVABILITY — retained records]\n");
    line(&mut out, "headline", &o.trace.headline);
    line(&mut out, "summary", &o.trace.summary);
    for w in &o.trace.warnings {
        line(&mut out, "trace warn", w);
    }
    out.push('\n');
    if o.evidence_files.is_empty() {
        out.push_str(&format!(
            "  Evidence files: not written to the workspace; kept in git at {}\n",
            o.git.evidence_ref
        ));
    } else {
        out.push_str("  Evidence files:\n");
        for f in &o.evidence_files {
            out.push_str(&format!("    {}\n", display_value(&f.display().to_string())));
        }
    }

    out.push_str("\n[GIT — branch, commit and evidence]\n");
    match (&o.git.branch, o.git.base) {
        (Some(b), Some(base)) => line(&mut out, "branch", &format!("{b} (from {})", git::short(&base))),
        (Some(b), None) => line(
            &mut out,
            "branch",
            &format!("{b} (first commit of an empty repository)"),
        ),
        (None, _) => line(&mut out, "branch", "none (the run never started)"),
    }
    if let Some(wt) = &o.git.worktree {
        line(&mut out, "worktree", &wt.display().to_string());
    }
    match o.git.commit {
        Some(c) => line(
            &mut out,
            "commit",
            &format!("{} ({})", git::short(&c), o.git.diff.shortstat().unwrap_or_default()),
        ),
        None => line(&mut out, "commit", "none"),
    }
    line(&mut out, "evidence", &o.git.evidence_ref);
    match o.git.note_target {
        Some(t) => line(&mut out, "note", &format!("{} on {}", git::NOTES_REF, git::short(&t))),
        None => line(&mut out, "note", "none (the repository has no commit to annotate)"),
    }

    let footer = if o.executed && o.result.success {
        "Demo completed successfully.".to_owned()
    } else if !o.executed {
        "Demo run blocked by policy (see [POLICY] above).".to_owned()
    } else {
        format!("Demo run finished with status: {}", o.result.status.as_str())
    };
    out.push_str(&format!("\n{SEP}\n{footer}\n{SEP}\n"));
    out
}

/// `--json`: the whole run as one document.
pub fn json_document(o: &RunOutcome) -> Value {
    json!({
        "proposal": o.proposal,
        "decision": o.decision,
        "policy_decision": o.policy_decision,
        "execution_request": o.request,
        "result": o.result,
        "execution_record": o.record,
        "execution_trace": o.trace,
        "run_metadata": o.run_metadata,
        "executed": o.executed,
        "success": o.succeeded(),
        "git": o.git.to_json(),
        "evidence_files": o.evidence_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    })
}
