//! The pull request's body, written from the run's evidence (already redacted): the goal, the
//! outcome, both policy decisions, the validation results, the diff stat, the run id and how to
//! read the evidence, behind a hidden marker that identifies git-oc's pull requests. Text that
//! came from people or agents goes in fenced blocks, so that it renders as written and an
//! `@mention` in a goal pings nobody.

use serde_json::Value;

use crate::contracts::prefix_chars;
use crate::git::Repo;
use crate::land::RecordedRun;

/// The hidden first line of every pull request git-oc opens: `<!-- git-oc:run=<run_id> -->`.
pub const MARKER_PREFIX: &str = "<!-- git-oc:run=";

/// GitHub takes bodies up to 65,536 characters; git-oc stays well below.
const MAX_BODY: usize = 60_000;
const MAX_GOAL: usize = 6_000;
const MAX_LINES: usize = 60;

/// `text` in a fenced block whose fence no line of `text` can close.
fn fenced(info: &str, text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{info}\n{}\n{fence}\n", text.trim_end_matches('\n'))
}

/// A table cell: one line, `|` escaped.
fn cell(text: &str) -> String {
    crate::evidence::message::single_line(text).replace('|', "\\|")
}

fn code(text: &str) -> String {
    let t = cell(text);
    if t.contains('`') { t } else { format!("`{t}`") }
}

pub fn pull_request_body(repo: &Repo, run: &RecordedRun, draft: bool) -> String {
    let evidence = crate::evidence::store::RunEvidence::open(&repo.repo, &run.run_id).ok();
    let read = |name: &str| evidence.as_ref().and_then(|e| e.read(name).ok().flatten());
    let json = |name: &str| -> Value {
        read(name)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    };
    let proposal = json(crate::evidence::files::PROPOSAL);
    let summary = json(crate::evidence::files::SUMMARY);
    let policy = json(crate::evidence::files::POLICY_DECISION);
    let validation = json(crate::evidence::files::VALIDATION);
    let diff_stat = read(crate::evidence::files::DIFF_STAT)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let id = &run.run_id;
    let short = prefix_chars(id, 8);
    let m = &run.message;

    let mut out = format!("{MARKER_PREFIX}{id} -->\n");
    out.push_str(&format!(
        "Opened by git-oc for run `{id}`{}.\n\n",
        if draft {
            " as a draft: validation failed or the policy requires review"
        } else {
            ""
        }
    ));
    let goal = proposal["goal_text"].as_str().unwrap_or(&m.goal);
    let cut = prefix_chars(goal, MAX_GOAL);
    out.push_str("### Goal\n\n");
    out.push_str(&fenced("text", cut));
    if cut.len() < goal.len() {
        out.push_str(&format!(
            "\n(the goal is cut here; all of it is in the evidence: `git oc show {short} goal.md`)\n"
        ));
    }

    out.push_str("\n### Outcome\n\n| | |\n|---|---|\n");
    let mut row = |k: &str, v: String| out.push_str(&format!("| {k} | {v} |\n"));
    let needs_review = summary["needs_review"].as_bool().unwrap_or(false);
    row(
        "outcome",
        format!(
            "{}{}",
            code(&m.outcome),
            if needs_review { " (needs review)" } else { "" }
        ),
    );
    if let Some(task) = &m.task_id {
        row(
            "task",
            format!(
                "{} ({}, risk {})",
                code(task),
                cell(proposal["task_type"].as_str().unwrap_or("?")),
                cell(proposal["risk_level"].as_str().unwrap_or("?"))
            ),
        );
    }
    row("routing", format!("{} / {}", code(&m.lane), code(&m.backend)));
    let status = |v: &Value| v["status"].as_str().unwrap_or("unknown").to_owned();
    row("policy before the run", code(&status(&policy["pre_run"])));
    if !policy["post_run"].is_null() {
        row("policy after the run", code(&status(&policy["post_run"])));
    }
    let commands = validation["commands"].as_array().cloned().unwrap_or_default();
    let passed = commands
        .iter()
        .filter(|c| c["exit_code"].as_i64() == Some(0) && !c["timed_out"].as_bool().unwrap_or(false))
        .count();
    row(
        "validation",
        if commands.is_empty() {
            "none ran".to_owned()
        } else {
            format!(
                "{}: {passed} of {} commands passed",
                code(validation["status"].as_str().unwrap_or("unknown")),
                commands.len()
            )
        },
    );
    row("changes", cell(m.diff.as_deref().unwrap_or("none")));
    if let (Some(c), Some(b)) = (&m.commit, &m.branch) {
        row("commit", format!("{} on {}", code(c), code(b)));
    }
    row("run", code(id));

    out.push_str("\n### Policy decisions\n\n");
    for (when, decision) in [
        ("Before the run", &policy["pre_run"]),
        ("After the run", &policy["post_run"]),
    ] {
        if decision.is_null() {
            continue;
        }
        out.push_str(&format!("**{when}: {}**", code(&status(decision))));
        if let Some(notes) = decision["notes"].as_str().filter(|n| !n.is_empty()) {
            out.push_str(&format!(": {}", cell(notes)));
        }
        out.push_str("\n\n");
        let mut lines = Vec::new();
        for v in decision["violations"].as_array().into_iter().flatten() {
            let tag = if v["blocking"].as_bool().unwrap_or(true) {
                "BLOCK"
            } else {
                "review"
            };
            lines.push(format!(
                "[{tag}] {}: {}",
                v["rule_id"].as_str().unwrap_or(""),
                v["message"].as_str().unwrap_or("")
            ));
        }
        for w in decision["warnings"].as_array().into_iter().flatten() {
            lines.push(format!(
                "[warning] {}: {}",
                w["rule_id"].as_str().unwrap_or(""),
                w["message"].as_str().unwrap_or("")
            ));
        }
        if !lines.is_empty() {
            out.push_str(&fenced("text", &limited(&lines)));
            out.push('\n');
        }
    }

    if !commands.is_empty() {
        out.push_str("### Validation\n\n");
        let lines: Vec<String> = commands
            .iter()
            .map(|c| {
                let ok = c["exit_code"].as_i64() == Some(0) && !c["timed_out"].as_bool().unwrap_or(false);
                let how = if c["timed_out"].as_bool().unwrap_or(false) {
                    "timed out".to_owned()
                } else {
                    match c["exit_code"].as_i64() {
                        Some(code) => format!("exit {code}"),
                        None => c["signal"].as_str().unwrap_or("killed").to_owned(),
                    }
                };
                format!(
                    "{}  {}  ({how}, {:.1} s)",
                    if ok { "passed" } else { "FAILED" },
                    crate::evidence::message::single_line(c["command"].as_str().unwrap_or("")),
                    c["duration_ms"].as_u64().unwrap_or(0) as f64 / 1000.0
                )
            })
            .collect();
        out.push_str(&fenced("text", &limited(&lines)));
        out.push('\n');
    }

    if !diff_stat.trim().is_empty() {
        out.push_str("### Changes\n\n");
        let lines: Vec<String> = diff_stat.lines().map(str::to_owned).collect();
        out.push_str(&fenced("text", &limited(&lines)));
        out.push('\n');
    }

    out.push_str("### Evidence\n\n");
    out.push_str(&format!(
        "Everything git-oc recorded about this run (proposal, routing, both policy decisions, the agent's output, validation, the patch) is in git at `refs/oc/runs/{id}`. To read it:\n\n"
    ));
    out.push_str(&fenced("sh", &format!("git oc fetch && git oc show {id}")));
    out.push_str("\nWith plain git:\n\n");
    out.push_str(&fenced(
        "sh",
        &format!(
            "git fetch origin 'refs/oc/runs/*:refs/oc/runs/*'\ngit log -1 refs/oc/runs/{id}\ngit show refs/oc/runs/{id}:summary.json"
        ),
    ));
    if out.chars().count() > MAX_BODY {
        let mut cut = prefix_chars(&out, MAX_BODY).to_owned();
        cut.push_str(&format!(
            "\n\n(cut at {MAX_BODY} characters: `git oc show {short}` has everything)\n"
        ));
        return cut;
    }
    out
}

/// At most [`MAX_LINES`] lines, saying how many more there are.
fn limited(lines: &[String]) -> String {
    let mut out: Vec<String> = lines.iter().take(MAX_LINES).cloned().collect();
    if lines.len() > MAX_LINES {
        out.push(format!("… and {} more", lines.len() - MAX_LINES));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outlast_the_text() {
        assert_eq!(fenced("text", "plain"), "```text\nplain\n```\n");
        assert_eq!(fenced("", "a ``` b"), "````\na ``` b\n````\n");
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        assert_eq!(code("x"), "`x`");
    }
}
