//! What the review loop writes: the goals its passes give the agent, the verdict the agent
//! writes back (`verdict.json`), and the comments it posts, each behind a hidden marker that
//! tells git-oc its own comments from people's.

use serde::Deserialize;

use crate::contracts::prefix_chars;
use crate::github::review::IssueComment;

/// The hidden first line of every comment the review loop posts.
pub const COMMENT_MARKER: &str = "<!-- git-oc:review -->";
/// The file a pass's agent writes in its worktree.
pub const VERDICT_FILE: &str = "verdict.json";
/// The most of one comment put in a revision goal.
const MAX_COMMENT_CHARS: usize = 4000;
/// The largest verdict read.
const MAX_VERDICT_BYTES: usize = 64 * 1024;

/// What the agent concluded.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// `LGTM`, `CONCERNS` (self-review) or `CONCERNS_ADDRESSED` (revision).
    pub result: String,
    pub summary: String,
}

/// `verdict.json` as the agent wrote it, or why it cannot be used.
pub fn parse_verdict(bytes: Option<&[u8]>, allowed: &[&str]) -> Result<Verdict, String> {
    #[derive(Deserialize)]
    struct Raw {
        result: String,
        #[serde(default)]
        summary: String,
    }
    let Some(bytes) = bytes else {
        return Err(format!("the agent wrote no {VERDICT_FILE}"));
    };
    if bytes.len() > MAX_VERDICT_BYTES {
        return Err(format!(
            "{VERDICT_FILE} is larger than {} KiB",
            MAX_VERDICT_BYTES / 1024
        ));
    }
    let raw: Raw = serde_json::from_slice(bytes)
        .map_err(|e| format!("{VERDICT_FILE} is not {{\"result\", \"summary\"}} JSON: {e}"))?;
    let result = raw.result.trim().to_ascii_uppercase();
    if !allowed.contains(&result.as_str()) {
        return Err(format!(
            "{VERDICT_FILE} says {:?}, not one of {}",
            prefix_chars(&raw.result, 40),
            allowed.join(", ")
        ));
    }
    Ok(Verdict {
        result,
        summary: prefix_chars(raw.summary.trim(), 6000).to_owned(),
    })
}

/// `text` fenced so that no line of it closes the fence.
fn fenced(info: &str, text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{info}\n{}\n{fence}\n", text.trim_end_matches('\n'))
}

/// The self-review goal: the pull request, its diff up to `max_diff` bytes, a checklist.
pub fn self_review_goal(number: u64, title: &str, diff: &str, max_diff: usize) -> String {
    let mut cut = prefix_chars(diff, max_diff).to_owned();
    if cut.len() < diff.len() {
        cut.push_str("\n...[diff truncated]");
    }
    format!(
        "Review pull request #{number}: {title}\n\n\
         You are reviewing the change below; the worktree holds the pull request's head.\n\n\
         ## Diff\n\n{}\n\
         ## Checklist\n\n\
         1. Does the change do what its title says, and nothing unrelated?\n\
         2. Is it correct: edge cases, errors, no broken callers?\n\
         3. Are tests added or updated where behaviour changed?\n\
         4. Is it free of secrets, debug leftovers and needless churn?\n\n\
         ## Verdict\n\n\
         Do not change any other file and do not push. Write {VERDICT_FILE} in the current \
         directory as {{\"result\": \"LGTM\" | \"CONCERNS\", \"summary\": \"...\"}}: LGTM when \
         every item holds, else CONCERNS with what must change.\n",
        fenced("diff", &cut)
    )
}

/// The revision goal: address people's comments on the pull request's branch.
pub fn revision_goal(number: u64, title: &str, comments: &[&IssueComment]) -> String {
    let mut out = format!(
        "Address review feedback on pull request #{number}: {title}\n\n\
         The worktree holds the pull request's head. Change the code as the reviewers ask; \
         your changes are committed to the pull request's branch and pushed.\n\n## Comments\n\n"
    );
    for c in comments {
        out.push_str(&format!(
            "From @{}:\n\n{}\n",
            c.login,
            fenced("text", prefix_chars(&c.body, MAX_COMMENT_CHARS))
        ));
    }
    out.push_str(&format!(
        "## When done\n\nWrite {VERDICT_FILE} in the current directory as \
         {{\"result\": \"CONCERNS_ADDRESSED\", \"summary\": \"what you changed\"}}; it is not \
         committed.\n"
    ));
    out
}

fn run_line(run_id: &str) -> String {
    format!(
        "\n\n<sub>git-oc run `{run_id}` · `git oc show {}`</sub>",
        prefix_chars(run_id, 8)
    )
}

pub fn concerns_comment(pass: u32, summary: &str, run_id: &str) -> String {
    format!(
        "{COMMENT_MARKER}\n**Self-review (pass {pass}) — concerns:**\n\n{}{}",
        quote(summary),
        run_line(run_id)
    )
}

pub fn escalation_comment(passes: u32, summary: &str, run_id: &str) -> String {
    format!(
        "{COMMENT_MARKER}\n**Escalated to human review** after {passes} self-review pass(es).\n\n\
         Remaining concerns:\n\n{}\n\nReply `/lgtm` or add a 👍 reaction to approve and merge. \
         Leave a comment to request specific changes.{}",
        quote(summary),
        run_line(run_id)
    )
}

pub fn auto_merge_comment(why: &str) -> String {
    format!("{COMMENT_MARKER}\n**Auto-merging** — {why}.")
}

pub fn waiting_comment(loops: u32) -> String {
    format!(
        "{COMMENT_MARKER}\n**Revisions used up** after {loops} pass(es). This repository requires an \
         explicit approval: reply `/lgtm`, add a 👍 reaction or approve the pull request to merge it."
    )
}

pub fn revision_comment(commit: Option<&str>, files: &[String], summary: &str, run_id: &str) -> String {
    let summary = if summary.trim().is_empty() {
        "revision complete — please re-review"
    } else {
        summary
    };
    match commit {
        Some(c) => {
            let mut list = String::new();
            for f in files.iter().take(30) {
                list.push_str(&format!("- `{}`\n", f.replace('`', "'")));
            }
            format!(
                "{COMMENT_MARKER}\nChanges applied in {c}: {}\n\n{list}{}",
                quote(summary),
                run_line(run_id)
            )
        }
        None => format!(
            "{COMMENT_MARKER}\nNo change was made: {}{}",
            quote(summary),
            run_line(run_id)
        ),
    }
}

/// Agent text as a block quote: it renders as written and starts no heading or list of ours.
fn quote(text: &str) -> String {
    text.lines().map(|l| format!("> {l}")).collect::<Vec<_>>().join("\n")
}

/// Whether a comment's first line is `/lgtm`.
pub fn is_lgtm(body: &str) -> bool {
    body.trim_start()
        .lines()
        .next()
        .is_some_and(|l| l.trim().eq_ignore_ascii_case("/lgtm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_strictly() {
        let ok = parse_verdict(Some(br#"{"result":"lgtm","summary":"fine"}"#), &["LGTM", "CONCERNS"]).unwrap();
        assert_eq!(ok.result, "LGTM");
        assert!(parse_verdict(None, &["LGTM"]).unwrap_err().contains("no verdict.json"));
        assert!(parse_verdict(Some(b"not json"), &["LGTM"]).is_err());
        assert!(parse_verdict(Some(br#"{"result":"MAYBE"}"#), &["LGTM", "CONCERNS"]).is_err());
    }

    #[test]
    fn lgtm_is_the_first_line_only() {
        assert!(is_lgtm("/LGTM\nthanks"));
        assert!(is_lgtm("  /lgtm "));
        assert!(!is_lgtm("looks fine\n/lgtm"));
        assert!(!is_lgtm("/lgtm-ish"));
    }
}
