//! The demo: the seed's end-to-end run, git-native. Stub routing and a stub backend, but a real
//! linked worktree and branch, a diff computed from git objects, a real commit, and the evidence
//! in files, in `refs/oc/runs/<run_id>` and in a note. It reads no configuration, so it works in
//! any repository.

use std::path::{Path, PathBuf};

use crate::contracts::{ProposalDecisionBundle, TaskType};
use crate::error::{Error, Result};
use crate::execution::stub::DemoStubAdapter;
use crate::git::{self, Repo};
use crate::pipeline::{Pipeline, RunPlan};
use crate::planning::{PlanningContext, build_proposal};
use crate::policy::{PathPolicy, PolicyConfig, PolicyEngine, RepoPolicy, ReviewRequirement, default_repo_policy};
use crate::session::PreparedRun;

pub const DEFAULT_GOAL: &str = "Write a tiny hello-world execution artifact";

/// What the demo is asked to do.
#[derive(Clone, Debug)]
pub struct DemoSpec {
    pub goal: String,
    pub repo_key: String,
    pub workspace: Option<PathBuf>,
    /// Gate with a policy that requires human approval: the run is blocked, evidence is kept.
    pub blocked_policy: bool,
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

/// Python `Path`-style normalisation of a path as typed: no trailing `/`, no `//`, no `.`.
fn normalize_display(path: &Path) -> String {
    let s = path.components().collect::<PathBuf>().display().to_string();
    if s.is_empty() { ".".to_owned() } else { s }
}

/// Plan the demo run in `repo`.
pub fn prepare<'a>(repo: &'a Repo, spec: &DemoSpec) -> Result<PreparedRun<'a>> {
    if spec.goal.trim().is_empty() {
        return Err(Error::input("the goal is empty")
            .hint("pass --goal with a description of the change, e.g. --goal \"Fix the typo in README\""));
    }
    if spec.repo_key.is_empty() {
        return Err(Error::input("the repository key is empty")
            .hint("pass --repo-key a name for this repository, e.g. --repo-key demo"));
    }
    let base = repo.resolve_base("HEAD")?;
    let suffix = crate::contracts::prefix_chars(&uuid::Uuid::new_v4().simple().to_string(), 8).to_owned();
    let branch = format!("demo/run-{suffix}");
    let (workspace, workspace_display) = match &spec.workspace {
        Some(p) => (git::absolute(p), normalize_display(p)),
        None => {
            let p = repo.state_dir().join("worktrees").join(format!("demo-run-{suffix}"));
            (p.clone(), p.display().to_string())
        }
    };

    let mut ctx = PlanningContext::new(spec.goal.clone(), TaskType::SimpleEdit.as_str());
    ctx.repo_key = spec.repo_key.clone();
    ctx.clone_url = crate::execution::secrets::redact_url(&repo.clone_url()).into_owned();
    ctx.base_branch = repo.base_branch("HEAD", base);
    ctx.proposer = "operations-center-demo".into();
    ctx.push_on_success = false;
    ctx.open_pr = false;
    let proposal = build_proposal(&ctx).map_err(|e| Error::input(e.to_string()))?;
    let decision = crate::routing::stub_decision(&proposal);
    let bundle = ProposalDecisionBundle::new(proposal, decision, "demo run — stub routing and stub backend");
    let policy = PolicyEngine::new(if spec.blocked_policy {
        blocking_policy(&spec.repo_key)
    } else {
        permissive_policy(&spec.repo_key)
    });
    Ok(PreparedRun {
        repo,
        policy,
        adapter: Box::new(DemoStubAdapter),
        plan: RunPlan {
            bundle,
            workspace,
            workspace_display,
            branch,
            branch_exact: false,
            base,
            base_label: "HEAD".into(),
            command: "git oc demo",
            namespace: crate::evidence::Namespace::Demo,
            validation_commands: Vec::new(),
            validation_timeout: 300,
            publish: None,
        },
        pipeline: Pipeline::demo(),
    })
}
