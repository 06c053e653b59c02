//! `git oc demo`: the seed's end-to-end demo, git-native (see `crate::demo`): arguments and the
//! seed's report.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};

use super::ui::Ui;
use crate::contracts::prefix_chars;
use crate::demo::{DEFAULT_GOAL, DemoSpec};
use crate::error::Result;
use crate::git;
use crate::pipeline::RunOutcome;

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
}

pub fn cmd_demo(ui: &mut Ui, args: &DemoArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let spec = DemoSpec {
        goal: args.goal.clone(),
        repo_key: args.repo_key.clone(),
        workspace: args.workspace_path.clone(),
        blocked_policy: args.blocked_policy,
    };
    let prepared = crate::demo::prepare(&repo, &spec)?;
    super::run_and_print(ui, prepared, json_document, report)
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
        Some(t) => line(&mut out, "note", &format!("{} on {}", o.git.notes_ref, git::short(&t))),
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
