//! Stage 4, propose: each emitted candidate becomes a task on the configured board (at most
//! `max_create`), labelled so the lanes and the next cycles recognise it, with a description in
//! the task format (`board::task`): `## Goal`, `## Execution`, `## Constraints`, then
//! `## Provenance` (what backs it) and `## Evidence`.

use serde::{Deserialize, Serialize};

use super::decide::{BoardState, Candidate, key_label};
use crate::board::{Board, Filter, NewTask, StateKind, task};

/// The labels every autonomy task carries.
pub const SOURCE_LABELS: [&str; 2] = ["source: autonomy", "source: propose"];
pub const TASK_KIND: &str = "improve";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProposeStage {
    /// `created`, `dry_run` or `skipped (<why>)`.
    pub status: String,
    pub created: Vec<Created>,
    pub skipped: Vec<Skipped>,
    pub failed: Vec<Failed>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Created {
    pub task_id: String,
    pub title: String,
    pub state: String,
    pub family: String,
    pub dedup_key: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Skipped {
    pub dedup_key: String,
    pub family: String,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Failed {
    pub dedup_key: String,
    pub family: String,
    pub error: String,
}

/// What the board holds for the decision: the open tasks' dedup labels and titles, and how
/// many autonomy tasks wait in the backlog or ready state.
pub fn board_state(board: &dyn Board) -> crate::error::Result<BoardState> {
    let states = board.states();
    let mut out = BoardState::default();
    for t in board.list(&Filter::default())? {
        let kind = states.kind_of(&t.state);
        if matches!(kind, Some(StateKind::Done | StateKind::Cancelled)) {
            if let Some(key) = task::label_value(&t.labels, "autonomy-key") {
                out.closed_keys.insert(key.to_owned(), t.id.clone());
            }
            continue;
        }
        if let Some(key) = task::label_value(&t.labels, "autonomy-key") {
            out.open_keys.insert(key.to_owned(), t.id.clone());
        }
        out.open_titles.insert(t.title.to_lowercase(), t.id.clone());
        let autonomy = t.labels.iter().any(|l| l.eq_ignore_ascii_case(SOURCE_LABELS[0]));
        if autonomy && matches!(kind, Some(StateKind::Backlog | StateKind::Ready)) {
            out.queued += 1;
        }
    }
    Ok(out)
}

/// Where the original's tiers put a task: tier 2 ready, tier 1 ready only for style changes,
/// else the backlog (a human promotes it).
pub fn state_for(c: &Candidate) -> StateKind {
    match c.tier {
        2.. => StateKind::Ready,
        1 if c.risk_class == "style" => StateKind::Ready,
        _ => StateKind::Backlog,
    }
}

pub struct Provenance<'a> {
    pub repo_key: &'a str,
    pub base_branch: Option<&'a str>,
    pub cycle_id: &'a str,
    pub decision_id: &'a str,
}

/// The task for a candidate.
pub fn new_task(c: &Candidate, p: &Provenance<'_>, state_name: &str) -> NewTask {
    let mut d = String::new();
    d.push_str(&format!("## Goal\n{}\n\n", c.summary.trim()));
    d.push_str(&format!("## Execution\nrepo: {}\n", p.repo_key));
    if let Some(b) = p.base_branch {
        d.push_str(&format!("base_branch: {b}\n"));
    }
    d.push_str(&format!("mode: goal\nvalidation_profile: {}\n\n", c.validation_profile));
    d.push_str("## Constraints\n");
    for line in &c.constraints {
        d.push_str(&format!("- {line}\n"));
    }
    d.push_str("\n## Provenance\nsource: autonomy-cycle\n");
    d.push_str(&format!("source_family: {}\n", c.family.as_str()));
    d.push_str(&format!("candidate_id: {}\n", c.candidate_id));
    d.push_str(&format!("candidate_dedup_key: {}\n", c.dedup_key));
    d.push_str(&format!("confidence: {}\n", c.confidence));
    d.push_str(&format!("risk_class: {}\n", c.risk_class));
    d.push_str(&format!("autonomy_tier: {}\n", c.tier));
    d.push_str(&format!("validation_profile: {}\n", c.validation_profile));
    d.push_str(&format!(
        "requires_human_approval: {}\n",
        state_for(c) == StateKind::Backlog
    ));
    d.push_str("observation_ids:\n");
    for o in &c.observation_ids {
        d.push_str(&format!("  - {o}\n"));
    }
    d.push_str("insight_ids:\n");
    for i in &c.insight_ids {
        d.push_str(&format!("  - {i}\n"));
    }
    d.push_str(&format!("decision_id: {}\n", p.decision_id));
    d.push_str(&format!("cycle_id: {}\n", p.cycle_id));
    if c.run_ids.is_empty() {
        d.push_str("run_ids: []\n");
    } else {
        d.push_str("run_ids:\n");
        for r in &c.run_ids {
            d.push_str(&format!("  - {r}\n"));
        }
    }
    if !c.evidence_lines.is_empty() {
        d.push_str("\n## Evidence\n");
        for line in &c.evidence_lines {
            d.push_str(&format!("- {}\n", line.replace(['\n', '\r'], " ")));
        }
    }
    let mut labels = vec![
        format!("task-kind: {TASK_KIND}"),
        format!("repo: {}", p.repo_key),
        format!("source-family: {}", c.family.as_str()),
        key_label(&c.dedup_key),
    ];
    labels.extend(SOURCE_LABELS.iter().map(|l| (*l).to_owned()));
    labels.extend(c.labels.iter().cloned());
    NewTask {
        title: c.title.clone(),
        description: d,
        state: Some(state_name.to_owned()),
        labels,
    }
}

/// File the candidates, at most `max_create`; a failure to create one is recorded and the
/// next is tried.
pub fn file(board: &dyn Board, candidates: &[Candidate], p: &Provenance<'_>, max_create: usize) -> ProposeStage {
    let mut stage = ProposeStage {
        status: "created".into(),
        ..ProposeStage::default()
    };
    for c in candidates {
        if stage.created.len() >= max_create {
            stage.skipped.push(Skipped {
                dedup_key: c.dedup_key.clone(),
                family: c.family.as_str().into(),
                reason: format!("max_create_reached (at most {max_create} tasks per cycle)"),
            });
            continue;
        }
        let state = board.states().name(state_for(c)).to_owned();
        let new = new_task(c, p, &state);
        match board.create(&new) {
            Ok(t) => stage.created.push(Created {
                task_id: t.id,
                title: t.title,
                state: t.state,
                family: c.family.as_str().into(),
                dedup_key: c.dedup_key.clone(),
            }),
            Err(e) => stage.failed.push(Failed {
                dedup_key: c.dedup_key.clone(),
                family: c.family.as_str().into(),
                error: e.to_string(),
            }),
        }
    }
    stage
}
