//! Running one claimed task and telling the board how it went (reference-fullstack §3.2–§3.4):
//! the task becomes a [`TaskSpec`] (its goal and constraints, the task type of its kind, its
//! `allowed_paths` as the declared scope the post-run gate enforces, its base branch), runs
//! through the same pipeline as `git oc run`, and its outcome is applied back: the state and
//! comment of the original's table, the exit-code and signal labels, follow-up, split and
//! suggestion tasks, and the auto-close of a split parent. Every comment names the run.
//!
//! [`execute_task`] is the entry for anything that has claimed a task its own way (a lane, a
//! remote worker): it takes a task already in `Running`.

use super::board::{Role, repo_key};
use super::followup;
use crate::board::{Board, StateKind, Task};
use crate::error::{Error, Result};
use crate::pipeline::{Outcome, RunContext, RunOutcome};
use crate::session::{PublishOptions, Session, TaskSpec};

/// Words of a failure reason that make it worth one more try (§3.4).
const TRANSIENT: [&str; 13] = [
    "connection refused",
    "connection reset",
    "timed out",
    "timeout",
    "502",
    "503",
    "504",
    "bad gateway",
    "gateway timeout",
    "service unavailable",
    "remote disconnected",
    "network is unreachable",
    "temporary failure",
];

/// What the agent of an improve task is asked to write (§3.2).
const IMPROVE_OUTPUT: &str = "## Output\nDo not change the code. Write your findings to `improve-output.json` at the project root, as \
{\"summary\": \"...\", \"suggestions\": [{\"title\": \"...\", \"rationale\": \"...\", \"files\": [\"...\"], \"complexity\": \"small|medium|large\"}]}, \
with at most 5 focused suggestions.";

/// What happened to a task.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TaskOutcome {
    pub task_id: String,
    pub role: Role,
    /// The run that decided the outcome (the retry's, when there was one); `None` when the task
    /// never reached a run.
    pub run_id: Option<String>,
    /// The run's outcome (`executed`, `failed`, …).
    pub run_outcome: Option<String>,
    pub success: bool,
    /// The task's state afterwards.
    pub state: String,
    pub comment: String,
    /// Tasks created from this one.
    pub follow_ups: Vec<String>,
    /// The run's branch, when the run committed a change.
    pub branch: Option<String>,
    /// The run's evidence ref.
    pub evidence_ref: Option<String>,
    /// A transient failure was retried once.
    pub retried: bool,
    /// The agent reported an exhausted quota: the task went back to Ready for AI.
    pub quota_exhausted: bool,
    /// The run was cancelled (Ctrl-C, SIGTERM): the task went back to Ready for AI.
    pub interrupted: bool,
}

/// The spec a task of a board of `kind` runs with.
pub fn task_spec(session: &Session, task: &Task, role: Role, kind: crate::board::BoardKind) -> Result<TaskSpec> {
    let parsed = crate::board::task::parse(task)?;
    let mut goal = parsed.goal.trim().to_owned();
    if let Some(c) = &parsed.constraints {
        goal.push_str(&format!("\n\n## Constraints\n{}", c.trim()));
    }
    if role == Role::Improve {
        goal.push_str(&format!("\n\n{IMPROVE_OUTPUT}"));
    }
    let mut spec = TaskSpec::new(goal);
    // The run names its task, so that a merge of its pull request moves the task to Done.
    spec.task_id = Some(task.id.clone());
    spec.task_type = role.task_type();
    spec.paths = parsed.execution.allowed_paths.clone();
    spec.repo_key = Some(repo_key(session));
    spec.base = task
        .label_value("base-branch")
        .map(str::to_owned)
        .or(parsed.execution.base_branch.clone())
        .unwrap_or_else(|| "HEAD".to_owned());
    // The labels the original forwards to planning.
    spec.labels = task
        .labels
        .iter()
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("source"))
                || l.eq_ignore_ascii_case("review_required")
        })
        .cloned()
        .collect();
    // The original's names: `plane/<id>-<slug>` for Plane tasks, `<lane>/<id8>` otherwise; the
    // run's suffix keeps a task run again (after an interruption, say) off its earlier branch.
    spec.branch = Some(match kind {
        crate::board::BoardKind::Plane => format!("plane/{}-{}-{{run}}", task.id, slug(&task.title)),
        crate::board::BoardKind::Git => {
            format!(
                "{}/{}-{{run}}",
                role.as_str(),
                crate::contracts::prefix_chars(&task.id, 8)
            )
        }
    });
    // An improve run is analysis: never published.
    if role != Role::Improve && session.config.review.await_review() {
        spec.publish = PublishOptions {
            push: true,
            pull_request: true,
        };
    }
    Ok(spec)
}

/// A title as a branch name part: lower case letters and digits joined by `-`, 60 at most.
fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = crate::contracts::prefix_chars(out.trim_matches('-'), 60)
        .trim_end_matches('-')
        .to_owned();
    if out.is_empty() { "task".to_owned() } else { out }
}

/// Run a claimed (`Running`) task through the pipeline and apply its outcome on the board.
pub fn execute_task(session: &Session, board: &dyn Board, task: &Task, cx: &RunContext) -> Result<TaskOutcome> {
    let role = Role::of_task(task);
    let spec = match task_spec(session, task, role, board.kind()) {
        Ok(s) => s,
        Err(e) => {
            let comment = format!("board_worker[{}] blocked — {}", role.as_str(), e.summary_line());
            return finish(board, task, role, None, StateKind::Blocked, comment, &[], false);
        }
    };
    let observer = super::status::RunningObserver::new(
        &session.repo.state_dir(),
        Some(role.as_str()),
        Some(&task.id),
        cx.observer,
    );
    let rcx = RunContext {
        clock: cx.clock,
        ids: cx.ids,
        interrupt: cx.interrupt,
        redactor: cx.redactor.clone(),
        observer: &observer,
        sole_board_writer: cx.sole_board_writer,
    };
    let run_once = || -> Result<RunOutcome> { session.prepare(&spec)?.execute(&rcx) };
    let mut retried = false;
    let mut run = run_once();
    if let Ok(first) = &run
        && is_transient(first)
        && !cx.interrupt.load(std::sync::atomic::Ordering::SeqCst)
    {
        tracing::info!(task = %task.id, run = %first.result.run_id, "transient failure: one more try");
        retried = true;
        run = run_once();
    }
    observer.finish();
    let run = match run {
        Ok(r) => r,
        Err(e) => {
            let comment = format!(
                "board_worker[{}] blocked — planning failed: {}",
                role.as_str(),
                e.summary_line()
            );
            return finish(board, task, role, None, StateKind::Blocked, comment, &[], false);
        }
    };
    let mut outcome = apply(session, board, task, role, &run)?;
    outcome.retried = retried;
    Ok(outcome)
}

fn is_transient(run: &RunOutcome) -> bool {
    use crate::contracts::FailureReasonCategory as C;
    let r = &run.result;
    if r.success || run.summary.outcome_status == Outcome::Cancelled {
        return false;
    }
    let category_ok = matches!(r.failure_category, Some(C::BackendError | C::Timeout));
    let reason = r.failure_reason.as_deref().unwrap_or("").to_lowercase();
    category_ok && TRANSIENT.iter().any(|w| reason.contains(w))
}

/// A file the agent left at the root of the run's worktree.
fn worktree_file(run: &RunOutcome, name: &str) -> Option<Vec<u8>> {
    let wt = run.git.worktree.as_deref()?;
    // Not through a symlink, and a regular file of sane size: the agent is not trusted.
    crate::config::read::read_plain_file_here(&wt.join(name), 1024 * 1024)
}

fn bullets(status: &str, category: &str, reason: &str) -> String {
    format!(
        "- status: {status}\n- category: {category}\n- reason: {}",
        reason.replace(['\n', '\r'], " ")
    )
}

fn ids(ids: &[String]) -> String {
    ids.iter().map(|i| format!("#{i}")).collect::<Vec<_>>().join(", ")
}

/// The outcome table (§3.4).
fn apply(session: &Session, board: &dyn Board, task: &Task, role: Role, run: &RunOutcome) -> Result<TaskOutcome> {
    let run_id = run.result.run_id.clone();
    let key = repo_key(session);
    let states = board.states();
    let r = &run.result;
    let status = r.status.as_str().to_owned();
    let mut category = r
        .failure_category
        .map(|c| c.as_str().to_owned())
        .unwrap_or_else(|| run.summary.outcome_status.as_str().to_owned());
    let mut reason = run
        .summary
        .reason
        .clone()
        .or_else(|| r.failure_reason.clone())
        .or_else(|| run.publish_error.as_ref().map(Error::summary_line))
        .unwrap_or_else(|| "unknown".to_owned());
    let run_line = format!("- run: {run_id}");

    if run.summary.outcome_status == Outcome::Cancelled {
        let comment = format!(
            "board_worker[{}] interrupted — the run was cancelled when the watcher stopped; back to {}\n\n{run_line}",
            role.as_str(),
            states.name(StateKind::Ready)
        );
        let mut o = finish(board, task, role, Some(run), StateKind::Ready, comment, &[], false)?;
        o.interrupted = true;
        return Ok(o);
    }
    if super::budget::quota_exhausted(r) {
        let comment = format!(
            "board_worker[{}] backing off — the agent reported an exhausted quota; back to {}\n\n{}\n{run_line}",
            role.as_str(),
            states.name(StateKind::Ready),
            bullets(&status, &category, &reason)
        );
        let mut o = finish(board, task, role, Some(run), StateKind::Ready, comment, &[], false)?;
        o.quota_exhausted = true;
        return Ok(o);
    }
    // The agent may say the task is too wide, with the files it would touch.
    let scope_files = worktree_file(run, "scope-too-wide.json").and_then(|b| followup::parse_scope_files(&b));
    let pushed = r.branch_pushed || matches!(run.publication, Some(crate::publication::Report::Published(_)));
    let mut success = run.succeeded();
    if let Some(files) = &scope_files
        && !pushed
    {
        success = false;
        category = "scope_too_wide".into();
        reason = format!("the agent found the task too wide ({} files)", files.len());
    }

    if success {
        let (to, first_line, follow_ups) = match role {
            Role::Goal => {
                if session.config.review.await_review() && pushed {
                    (
                        StateKind::InReview,
                        format!(
                            "Implementation complete — moved to {}",
                            states.name(StateKind::InReview)
                        ),
                        Vec::new(),
                    )
                } else {
                    (StateKind::Done, "Implementation complete".to_owned(), Vec::new())
                }
            }
            Role::Test => (StateKind::Done, "Verification passed".to_owned(), Vec::new()),
            Role::Improve => {
                let suggestions = worktree_file(run, "improve-output.json")
                    .map(|b| followup::parse_suggestions(&b))
                    .unwrap_or_default();
                let mut created = Vec::new();
                for s in &suggestions {
                    match board.create(&followup::suggestion_task(task, &key, s, states)) {
                        Ok(t) => created.push(t.id),
                        Err(e) => tracing::warn!(error = %e.summary_line(), "could not create a suggestion task"),
                    }
                }
                let line = if !created.is_empty() {
                    format!(
                        "Improvement analysis complete — created {} focused follow-up task(s): {}",
                        created.len(),
                        ids(&created)
                    )
                } else if !suggestions.is_empty() {
                    "Improvement analysis complete — the agent wrote suggestions but none could be enqueued".to_owned()
                } else {
                    "Improvement analysis complete — no actionable suggestions emitted (the agent found nothing concrete, or improve-output.json was missing)".to_owned()
                };
                (StateKind::Done, line, created)
            }
        };
        let comment = format!("{first_line}\n\n{run_line}");
        let mut o = finish(board, task, role, Some(run), to, comment, &follow_ups, true)?;
        if to == StateKind::Done {
            auto_close_parent(board, task, &run_id);
        }
        o.success = true;
        return Ok(o);
    }

    // Failure.
    let mut labels = Vec::new();
    let mut details = bullets(&status, &category, &reason);
    if let Some(code) = r.executor_exit_code.filter(|c| *c != 0) {
        details.push_str(&format!("\n- executor-exit-code: {code}"));
        labels.push(format!("executor-exit-code: {code}"));
    }
    if let Some(sig) = &r.executor_signal {
        details.push_str(&format!("\n- executor-signal: {sig}"));
        labels.push(format!("executor-signal: {sig}"));
    }
    let mut follow_ups = Vec::new();
    let comment = if role == Role::Test {
        let base = task.label_value("base-branch").map(str::to_owned);
        match followup::follow_up(task, &key, "goal", "verification_failed", base.as_deref(), states) {
            Some(new) => {
                let t = board.create(&new)?;
                follow_ups.push(t.id.clone());
                format!(
                    "Verification failed — created follow-up goal task #{}\n{details}\n{run_line}",
                    t.id
                )
            }
            None => format!(
                "Verification failed — no follow-up task: retry-count reached {}\n{details}\n{run_line}",
                followup::MAX_FOLLOW_UP_RETRIES
            ),
        }
    } else {
        let mut text = format!("board_worker[{}] failed\n\n{details}\n{run_line}", role.as_str());
        if let Some(files) = &scope_files {
            for new in followup::split_tasks(task, &key, files, states) {
                follow_ups.push(board.create(&new)?.id);
            }
            if !follow_ups.is_empty() {
                text.push_str(&format!(
                    "\n\nAuto-split into {} focused task(s): {}",
                    follow_ups.len(),
                    ids(&follow_ups)
                ));
                labels.push("lifecycle: expanded".to_owned());
            }
        }
        text
    };
    if !labels.is_empty()
        && let Err(e) = board.set_labels(&task.id, &labels, &[])
    {
        tracing::warn!(task = %task.id, error = %e.summary_line(), "could not label the task");
    }
    finish(
        board,
        task,
        role,
        Some(run),
        StateKind::Blocked,
        comment,
        &follow_ups,
        false,
    )
}

/// Comment, and move the task from Running to `to`.
#[allow(clippy::too_many_arguments)]
fn finish(
    board: &dyn Board,
    task: &Task,
    role: Role,
    run: Option<&RunOutcome>,
    to: StateKind,
    comment: String,
    follow_ups: &[String],
    success: bool,
) -> Result<TaskOutcome> {
    let running = board.states().name(StateKind::Running).to_owned();
    let to_name = board.states().name(to).to_owned();
    let state = match board.comment_and_move(&task.id, &comment, &to_name, &running)? {
        Ok(t) => t.to,
        // Someone moved the task meanwhile (a person cancelled it, say): theirs stands.
        Err(e) => {
            tracing::warn!(task = %task.id, error = %e.summary_line(), "the task was moved while it ran");
            board.get(&task.id).map(|t| t.state).unwrap_or_default()
        }
    };
    Ok(TaskOutcome {
        task_id: task.id.clone(),
        role,
        run_id: run.map(|r| r.result.run_id.clone()),
        run_outcome: run.map(|r| r.summary.outcome_status.as_str().to_owned()),
        success,
        state,
        comment,
        follow_ups: follow_ups.to_vec(),
        branch: run.and_then(|r| r.git.commit.as_ref().and(r.git.branch.clone())),
        evidence_ref: run.map(|r| r.git.evidence_ref.clone()),
        retried: false,
        quota_exhausted: false,
        interrupted: false,
    })
}

/// When a split child is done and so are all its siblings, the blocked parent is done too.
fn auto_close_parent(board: &dyn Board, task: &Task, run_id: &str) {
    if !task.has_label("source: scope-split") {
        return;
    }
    let Some(parent) = task.label_value("original-task-id") else {
        return;
    };
    let filter = crate::board::Filter {
        labels: vec!["source: scope-split".into(), format!("original-task-id: {parent}")],
        ..Default::default()
    };
    let Ok(children) = board.list(&filter) else {
        return;
    };
    let states = board.states();
    let all_done = !children.is_empty()
        && children
            .iter()
            .all(|c| states.kind_of(&c.state) == Some(StateKind::Done));
    if !all_done {
        return;
    }
    let blocked = states.name(StateKind::Blocked).to_owned();
    if board
        .transition(parent, states.name(StateKind::Done), Some(&blocked))
        .is_ok()
    {
        let _ = board.comment(
            parent,
            &format!(
                "Auto-closed: all {} scope-split children completed.\n\n- run: {run_id}",
                children.len()
            ),
        );
    }
}
