//! The commit messages git-oc writes, and the parser for the one it reads back: the run commit
//! (a subject from the goal, a body, an `Oc-Run` trailer) and the evidence commit at
//! `refs/oc/runs/<run_id>` (a headline, the goal's subject, then one `Oc-*` trailer per fact).
//! The trailer keys are named once, here; the note block uses the same keys.

use crate::contracts::{Timestamp, prefix_chars};

/// The trailer keys of evidence commits and note blocks.
pub mod trailer {
    pub const RUN: &str = "Oc-Run";
    pub const TASK: &str = "Oc-Task";
    pub const STATUS: &str = "Oc-Status";
    pub const OUTCOME: &str = "Oc-Outcome";
    pub const POLICY: &str = "Oc-Policy";
    pub const LANE: &str = "Oc-Lane";
    pub const BACKEND: &str = "Oc-Backend";
    pub const BRANCH: &str = "Oc-Branch";
    pub const COMMIT: &str = "Oc-Commit";
    pub const DIFF: &str = "Oc-Diff";
    /// Microseconds, unlike a commit's own date: runs in the same second still sort.
    pub const RECORDED: &str = "Oc-Recorded";
    pub const REJECTED: &str = "Oc-Rejected";
    pub const EVIDENCE: &str = "Oc-Evidence";
    /// Added by a later event: the run's change landed (`<commit> on <branch>`).
    pub const LANDED: &str = "Oc-Landed";
    /// Added by a later event: the run branch was pushed (`<remote> <branch> <commit>`).
    pub const PUSHED: &str = "Oc-Pushed";
    /// Added by a later event: the run's pull request (its URL).
    pub const PR: &str = "Oc-PR";
}

/// The value written for a fact that does not exist (no branch, no commit, no change).
const NONE: &str = "none";
/// What an `Oc-Rejected` trailer says.
pub const REJECTED_BY: &str = "post-run policy gate";
const NO_GOAL: &str = "(no goal)";

/// What an evidence commit message says about its run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EvidenceMessage {
    pub run_id: String,
    /// The trace headline, e.g. `SUCCEEDED | demo_stub @ aider_local | run=1b11d569`.
    pub headline: String,
    /// The goal's subject line; empty when there is none.
    pub goal: String,
    pub task_id: Option<String>,
    /// The result status (`succeeded`, `failed`, `skipped`, …).
    pub status: String,
    /// The outcome (`executed`, `no_op`, `blocked`, …).
    pub outcome: String,
    pub policy: Option<String>,
    pub lane: String,
    pub backend: String,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub diff: Option<String>,
    /// Listed as the run's `time`.
    #[serde(skip)]
    pub recorded: Option<Timestamp>,
    pub rejected: bool,
    /// Where the change landed, when `git oc apply` landed it.
    pub landed: Option<String>,
    /// Where the run branch was pushed (`<remote> <branch> <commit>`), once it was.
    pub pushed: Option<String>,
    /// The run's pull request, once one was opened.
    pub pr: Option<String>,
}

impl EvidenceMessage {
    pub fn render(&self) -> String {
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| NONE.to_owned());
        let goal = if self.goal.is_empty() { NO_GOAL } else { &self.goal };
        let mut out = format!("{}\n\n{}\n\n", single_line(&self.headline), single_line(goal));
        let mut lines = vec![
            (trailer::RUN, self.run_id.clone()),
            (trailer::TASK, self.task_id.clone().unwrap_or_default()),
            (trailer::STATUS, self.status.clone()),
            (trailer::OUTCOME, self.outcome.clone()),
            (trailer::POLICY, self.policy.clone().unwrap_or_default()),
            (trailer::LANE, self.lane.clone()),
            (trailer::BACKEND, self.backend.clone()),
            (trailer::BRANCH, or_none(&self.branch)),
            (trailer::COMMIT, or_none(&self.commit)),
            (trailer::DIFF, or_none(&self.diff)),
        ];
        if let Some(t) = self.recorded {
            lines.push((trailer::RECORDED, t.to_string()));
        }
        if self.rejected {
            lines.push((trailer::REJECTED, REJECTED_BY.to_owned()));
        }
        if let Some(landed) = &self.landed {
            lines.push((trailer::LANDED, landed.clone()));
        }
        if let Some(pushed) = &self.pushed {
            lines.push((trailer::PUSHED, pushed.clone()));
        }
        if let Some(pr) = &self.pr {
            lines.push((trailer::PR, pr.clone()));
        }
        for (key, value) in lines {
            out.push_str(&format!("{key}: {}\n", single_line(&value)));
        }
        out
    }

    /// Read a message written by [`EvidenceMessage::render`], in one pass over its lines.
    pub fn parse(message: &str) -> Result<Self, String> {
        let mut t: std::collections::HashMap<&str, &str> = std::collections::HashMap::with_capacity(12);
        for line in message.lines() {
            if let Some((key, value)) = line.split_once(": ")
                && key.starts_with("Oc-")
            {
                t.insert(key, value.trim());
            }
        }
        let get = |k: &str| t.get(k).copied();
        let present = |k: &str| get(k).filter(|v| *v != NONE && !v.is_empty()).map(str::to_owned);
        let run_id = get(trailer::RUN).ok_or("no Oc-Run trailer")?.to_owned();
        let goal = message
            .split("\n\n")
            .nth(1)
            .and_then(|p| p.lines().next())
            .unwrap_or("")
            .to_owned();
        let status = get(trailer::STATUS).unwrap_or("unknown").to_owned();
        Ok(EvidenceMessage {
            headline: message.lines().next().unwrap_or_default().to_owned(),
            goal: if goal.starts_with("Oc-") || goal == NO_GOAL {
                String::new()
            } else {
                goal
            },
            run_id,
            task_id: present(trailer::TASK),
            outcome: get(trailer::OUTCOME).unwrap_or(&status).to_owned(),
            status,
            policy: present(trailer::POLICY),
            lane: get(trailer::LANE).unwrap_or("unknown").to_owned(),
            backend: get(trailer::BACKEND).unwrap_or("unknown").to_owned(),
            branch: present(trailer::BRANCH),
            commit: present(trailer::COMMIT),
            diff: present(trailer::DIFF),
            recorded: get(trailer::RECORDED).and_then(Timestamp::parse),
            rejected: get(trailer::REJECTED).is_some(),
            landed: present(trailer::LANDED),
            pushed: present(trailer::PUSHED),
            pr: present(trailer::PR),
        })
    }
}

/// A commit subject from the goal's first line: tags, bold and backticks stripped, at most 72
/// characters.
pub fn subject_from_goal(goal: &str) -> Option<String> {
    let first = goal.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut s = first.to_owned();
    if s.starts_with('[')
        && let Some(end) = s.find("] ")
    {
        s = s[end + 2..].to_owned();
    }
    let s = s.replace("**", "").replace('`', "");
    let s = s.trim_end_matches([' ', '.', '—', '-']).trim();
    if s.is_empty() {
        return None;
    }
    let cut = prefix_chars(s, 72);
    Some(if cut.len() < s.len() {
        format!("{}…", prefix_chars(s, 71))
    } else {
        cut.to_owned()
    })
}

/// The message of the run's own commit on its branch. `goal` is already redacted.
pub fn run_commit_message(goal: &str, run_id: &str, made_by: &str) -> String {
    let subject = subject_from_goal(goal).unwrap_or_else(|| format!("git-oc run {}", prefix_chars(run_id, 8)));
    let mut message = format!("{subject}\n\n{made_by}\n");
    if goal.trim() != subject {
        message.push_str(&format!("\nGoal:\n{}\n", goal.trim_end()));
    }
    message.push_str(&format!("\n{}: {run_id}\n", trailer::RUN));
    message
}

/// Values never break the message structure: line breaks become spaces.
pub fn single_line(s: &str) -> String {
    if !s.contains(['\n', '\r']) {
        return s.to_owned();
    }
    s.split(['\n', '\r'])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> EvidenceMessage {
        EvidenceMessage {
            headline: "SUCCEEDED | demo_stub @ aider_local | run=1b11d569".into(),
            goal: "Write a tiny artifact".into(),
            run_id: "1b11d569-6fc4-4e6d-a361-f1c7345bbee8".into(),
            task_id: Some("auto-simple-edit-80c673ab".into()),
            status: "succeeded".into(),
            outcome: "executed".into(),
            policy: Some("allow".into()),
            lane: "aider_local".into(),
            backend: "demo_stub".into(),
            branch: Some("demo/run-1234abcd".into()),
            commit: None,
            diff: Some("1 file changed, 6 insertions(+)".into()),
            recorded: Timestamp::parse("2026-01-02T03:04:05.123456Z"),
            rejected: true,
            landed: Some("0123456789abcdef0123456789abcdef01234567 on main".into()),
            pushed: Some("origin demo/run-1234abcd 0123456789abcdef0123456789abcdef01234567".into()),
            pr: Some("https://github.com/octo-org/widgets/pull/7".into()),
        }
    }

    #[test]
    fn messages_parse_back_to_what_was_written() {
        let m = message();
        let text = m.render();
        assert!(text.contains("\nOc-Commit: none\n"));
        assert!(text.contains("\nOc-Rejected: post-run policy gate\n"));
        assert!(text.ends_with("\nOc-PR: https://github.com/octo-org/widgets/pull/7\n"));
        assert_eq!(EvidenceMessage::parse(&text).unwrap(), m);
        let no_goal = EvidenceMessage {
            goal: String::new(),
            ..message()
        };
        assert_eq!(EvidenceMessage::parse(&no_goal.render()).unwrap().goal, "");
        assert!(EvidenceMessage::parse("just text\n").is_err());
    }

    #[test]
    fn subjects_are_cleaned_and_cut() {
        assert_eq!(
            subject_from_goal("[Lint] Fix **all** the `clippy` warnings.").unwrap(),
            "Fix all the clippy warnings"
        );
        assert_eq!(
            subject_from_goal("\n\n  second line first\nmore").unwrap(),
            "second line first"
        );
        assert_eq!(subject_from_goal("   "), None);
        let long = "x".repeat(100);
        let s = subject_from_goal(&long).unwrap();
        assert_eq!(s.chars().count(), 72);
        assert!(s.ends_with('…'));
    }
}
