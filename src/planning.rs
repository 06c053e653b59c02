//! Planning: a goal and its settings become a `TaskProposal`. Pure: no I/O.

use crate::contracts::{
    BranchPolicy, ExecutionConstraints, ExecutionMode, Priority, RiskLevel, TaskProposal, TaskTarget, TaskType,
    Timestamp, ValidationProfile, new_id,
};

/// The raw input to planning (the reference's `PlanningContext`).
#[derive(Clone, Debug)]
pub struct PlanningContext {
    pub goal_text: String,
    /// Kept raw: the task id slug is made from this string, not the mapped enum.
    pub task_type: String,
    pub execution_mode: String,
    pub repo_key: String,
    pub clone_url: String,
    pub base_branch: String,
    pub allowed_paths: Vec<String>,
    pub risk_level: String,
    pub priority: String,
    pub max_changed_files: Option<u64>,
    pub timeout_seconds: u64,
    pub validation_profile_name: String,
    pub validation_commands: Vec<String>,
    pub require_clean_validation: bool,
    pub task_id: String,
    pub project_id: String,
    pub constraints_text: Option<String>,
    pub labels: Vec<String>,
    pub proposer: String,
    pub push_on_success: bool,
    pub open_pr: bool,
}

impl PlanningContext {
    pub fn new(goal_text: impl Into<String>, task_type: impl Into<String>) -> Self {
        PlanningContext {
            goal_text: goal_text.into(),
            task_type: task_type.into(),
            execution_mode: "goal".into(),
            repo_key: String::new(),
            clone_url: String::new(),
            base_branch: "main".into(),
            allowed_paths: Vec::new(),
            risk_level: "low".into(),
            priority: "normal".into(),
            max_changed_files: None,
            timeout_seconds: 300,
            validation_profile_name: "default".into(),
            validation_commands: Vec::new(),
            require_clean_validation: true,
            task_id: String::new(),
            project_id: String::new(),
            constraints_text: None,
            labels: Vec::new(),
            proposer: "operations-center".into(),
            push_on_success: true,
            open_pr: false,
        }
    }
}

/// Why a context could not become a proposal; each problem is listed in the reference's order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PlanningContext validation failed: {}", .problems.join("; "))]
pub struct PlanningError {
    pub problems: Vec<String>,
}

/// `auto-<task_type with _ as -, at most 20 chars>-<first 8 hex of SHA-1(goal)>`.
pub fn derive_task_id(task_type: &str, goal_text: &str) -> String {
    let slug = task_type.replace('_', "-");
    let slug = crate::contracts::prefix_chars(&slug, 20);
    format!("auto-{slug}-{}", sha1_hex_prefix(goal_text.as_bytes(), 8))
}

fn sha1_hex_prefix(bytes: &[u8], len: usize) -> String {
    let mut hasher = gix::hash::hasher(gix::hash::Kind::Sha1);
    hasher.update(bytes);
    let id = hasher.try_finalize().expect("SHA-1 of in-memory bytes cannot fail");
    id.to_hex_with_len(len).to_string()
}

/// Validate the context and build a proposal. Unknown enum values fall back the way the
/// reference does (task type `unknown`, mode `goal`, risk `low`, priority `normal`); callers that
/// want strict values check them before planning.
pub fn build_proposal(ctx: &PlanningContext) -> Result<TaskProposal, PlanningError> {
    let mut problems = Vec::new();
    if ctx.goal_text.trim().is_empty() {
        problems.push("goal_text must not be empty".to_owned());
    }
    if ctx.repo_key.is_empty() {
        problems.push("repo_key must not be empty".to_owned());
    }
    if ctx.clone_url.is_empty() {
        problems.push("clone_url must not be empty".to_owned());
    }
    if !problems.is_empty() {
        return Err(PlanningError { problems });
    }

    let task_id = if ctx.task_id.is_empty() {
        derive_task_id(&ctx.task_type, &ctx.goal_text)
    } else {
        ctx.task_id.clone()
    };
    Ok(TaskProposal {
        proposal_id: new_id(),
        task_id,
        project_id: ctx.project_id.clone(),
        task_type: TaskType::from_raw(&ctx.task_type),
        execution_mode: ctx.execution_mode.parse().unwrap_or(ExecutionMode::Goal),
        goal_text: ctx.goal_text.clone(),
        constraints_text: ctx.constraints_text.clone(),
        target: TaskTarget {
            repo_key: ctx.repo_key.clone(),
            clone_url: ctx.clone_url.clone(),
            base_branch: ctx.base_branch.clone(),
            allowed_paths: ctx.allowed_paths.clone(),
        },
        priority: ctx.priority.parse().unwrap_or(Priority::Normal),
        risk_level: ctx.risk_level.parse().unwrap_or(RiskLevel::Low),
        constraints: ExecutionConstraints {
            max_changed_files: ctx.max_changed_files,
            timeout_seconds: ctx.timeout_seconds,
            allowed_paths: ctx.allowed_paths.clone(),
            require_clean_validation: ctx.require_clean_validation,
            skip_baseline_validation: false,
        },
        validation_profile: ValidationProfile::named(&ctx.validation_profile_name, ctx.validation_commands.clone()),
        branch_policy: BranchPolicy {
            push_on_success: ctx.push_on_success,
            open_pr: ctx.open_pr,
            ..BranchPolicy::default()
        },
        proposed_at: Timestamp::now(),
        proposer: Some(ctx.proposer.clone()),
        labels: ctx.labels.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(goal: &str, task_type: &str) -> PlanningContext {
        let mut c = PlanningContext::new(goal, task_type);
        c.repo_key = "demo".into();
        c.clone_url = "demo://local".into();
        c
    }

    #[test]
    fn task_id_golden_value() {
        assert_eq!(
            derive_task_id("simple_edit", "Write a tiny hello-world execution artifact"),
            "auto-simple-edit-80c673ab"
        );
    }

    #[test]
    fn task_id_slug_uses_raw_type_cut_to_twenty_chars() {
        assert_eq!(
            derive_task_id("weird_Type_name_that_is_long", "x"),
            "auto-weird-Type-name-that-11f6ad8e"
        );
    }

    #[test]
    fn task_id_hashes_the_goal_unstripped() {
        assert_ne!(derive_task_id("bug_fix", "goal"), derive_task_id("bug_fix", " goal"));
    }

    #[test]
    fn explicit_task_id_wins() {
        let mut c = ctx("g", "bug_fix");
        c.task_id = "TASK-7".into();
        assert_eq!(build_proposal(&c).unwrap().task_id, "TASK-7");
    }

    #[test]
    fn validation_lists_every_problem_in_order() {
        let mut c = PlanningContext::new("   ", "simple_edit");
        c.repo_key = String::new();
        let err = build_proposal(&c).unwrap_err();
        assert_eq!(
            err.to_string(),
            "PlanningContext validation failed: goal_text must not be empty; repo_key must not be empty; \
             clone_url must not be empty"
        );
    }

    #[test]
    fn unknown_enum_values_fall_back() {
        let mut c = ctx("g", "nonsense");
        c.risk_level = "LOW".into();
        c.priority = "urgent".into();
        c.execution_mode = "later".into();
        let p = build_proposal(&c).unwrap();
        assert_eq!(p.task_type, TaskType::Unknown);
        assert_eq!(p.risk_level, RiskLevel::Low);
        assert_eq!(p.priority, Priority::Normal);
        assert_eq!(p.execution_mode, ExecutionMode::Goal);
        assert_eq!(p.task_id, derive_task_id("nonsense", "g"));
    }

    #[test]
    fn proposal_json_keys_follow_the_reference_order() {
        let p = build_proposal(&ctx("g", "simple_edit")).unwrap();
        let json = String::from_utf8(crate::contracts::to_evidence_json(&p)).unwrap();
        let keys: Vec<&str> = json
            .lines()
            .filter(|l| l.starts_with("  \"") && !l.starts_with("   "))
            .map(|l| l.trim().split('"').nth(1).unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "proposal_id",
                "task_id",
                "project_id",
                "task_type",
                "execution_mode",
                "goal_text",
                "constraints_text",
                "target",
                "priority",
                "risk_level",
                "constraints",
                "validation_profile",
                "branch_policy",
                "proposed_at",
                "proposer",
                "labels"
            ]
        );
        assert!(json.ends_with("}\n"));
        assert!(json.contains("\"constraints_text\": null"));
    }
}
