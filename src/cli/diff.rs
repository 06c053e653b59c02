//! `git oc diff RUN [RUN2]`: a run's change, read from git and rendered for people (the
//! computation is in `crate::changes`).

use clap::Args;

use super::ui::Ui;
use crate::changes::{FileChange, LineKind};
use crate::error::{Error, Result};
use crate::land::RecordedRun;

/// Show a run's change, or what two runs of one task did differently
///
/// Read from git objects, so it works on another clone after git oc fetch. On a terminal the
/// diff is coloured, with the words that changed inside changed lines highlighted. With RUN2:
/// the difference between the two runs' results (two agents tried on one goal: what one changed
/// that the other did not). The exact patch git applies is the run's diff.patch evidence file.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Run id or unique prefix
    pub run: String,
    /// Another run: show how its result differs from RUN's
    pub other: Option<String>,
    /// Only the changed files and their line counts
    #[arg(long, conflicts_with = "name_only")]
    pub stat: bool,
    /// Only the names of the changed files
    #[arg(long)]
    pub name_only: bool,
}

/// The commit a run left, or why there is none to show.
fn commit_of(run: &RecordedRun, repo: &crate::git::Repo) -> Result<gix::ObjectId> {
    let Some(commit) = run.commit else {
        return Err(Error::input(format!(
            "run {} made no commit (outcome {})",
            run.run_id, run.message.outcome
        ))
        .hint(format!("see what happened with git oc show {}", run.run_id)));
    };
    if repo.repo.find_commit(commit).is_err() {
        return Err(
            Error::input(format!("the commit of run {} is not in this repository", run.run_id))
                .hint("fetch the run's evidence with git oc fetch (a rejected run's commit never leaves its machine)"),
        );
    }
    Ok(commit)
}

pub fn cmd_diff(ui: &mut Ui, args: &DiffArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let run = RecordedRun::load(&repo, &args.run)?;
    let new_commit = commit_of(&run, &repo)?;
    let (old, new) = match &args.other {
        Some(other) => {
            let other = RecordedRun::load(&repo, other)?;
            let other_commit = commit_of(&other, &repo)?;
            (
                Some(crate::changes::tree_of(&repo.repo, new_commit)?),
                crate::changes::tree_of(&repo.repo, other_commit)?,
            )
        }
        None => (
            run.base.map(|b| crate::changes::tree_of(&repo.repo, b)).transpose()?,
            crate::changes::tree_of(&repo.repo, new_commit)?,
        ),
    };
    let (diffstat, files) = crate::changes::between(&repo.repo, old, new)?;
    let redactor = crate::execution::secrets::Redactor::from_env();
    if ui.is_json() {
        let mut doc = serde_json::json!({ "run_id": run.run_id, "other": args.other, "files": files });
        redactor.redact_value(&mut doc);
        ui.json(&doc);
        return Ok(0);
    }
    let color = ui.color();
    let text = if args.name_only {
        files.iter().map(|f| format!("{}\n", shown_path(f))).collect()
    } else if args.stat {
        stat(&files, &diffstat)
    } else {
        files.iter().map(|f| render(f, color)).collect::<String>()
    };
    ui.data(&redactor.redact(&text));
    Ok(0)
}

fn shown_path(f: &FileChange) -> String {
    let path = match &f.old_path {
        Some(old) => crate::git::diff::rename_display(old, &f.path),
        None => f.path.clone(),
    };
    crate::text::escape_controls(&path).into_owned()
}

fn stat(files: &[FileChange], diffstat: &crate::git::diff::DiffStat) -> String {
    let mut out = String::new();
    let width = files.iter().map(|f| shown_path(f).chars().count()).max().unwrap_or(0);
    for f in files {
        let counts = match (f.lines_added, f.lines_removed) {
            (Some(a), Some(r)) => format!(
                "{:>5} {}",
                a + r,
                "+".repeat(a.min(40) as usize) + &"-".repeat(r.min(40) as usize)
            ),
            _ => "  Bin".to_owned(),
        };
        out.push_str(&format!(" {:<width$} | {counts}\n", shown_path(f)));
    }
    if let Some(short) = diffstat.shortstat() {
        out.push_str(&format!(" {short}\n"));
    }
    out
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const REVERSE: &str = "\x1b[7m";
const RESET: &str = "\x1b[0m";

/// One file in unified form; colours and word highlights on a terminal.
fn render(f: &FileChange, color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("{code}{s}{RESET}")
        } else {
            s.to_owned()
        }
    };
    let mut out = paint(BOLD, &format!("{} ({})", shown_path(f), f.change_type));
    out.push('\n');
    if f.binary {
        out.push_str("  binary file changed\n");
        return out;
    }
    for h in &f.hunks {
        out.push_str(&paint(
            CYAN,
            &format!(
                "@@ -{},{} +{},{} @@",
                h.old_start, h.old_lines, h.new_start, h.new_lines
            ),
        ));
        out.push('\n');
        for line in &h.lines {
            let (sign, code) = match line.kind {
                LineKind::Context => (' ', ""),
                LineKind::Removed => ('-', RED),
                LineKind::Added => ('+', GREEN),
            };
            let mut text = String::new();
            for (emphasized, part) in &line.parts {
                let part = crate::text::escape_controls(part);
                if color && *emphasized && line.kind != LineKind::Context {
                    text.push_str(&format!("{REVERSE}{part}{RESET}{code}"));
                } else {
                    text.push_str(&part);
                }
            }
            if color && !code.is_empty() {
                out.push_str(&format!("{code}{sign}{text}{RESET}\n"));
            } else {
                out.push_str(&format!("{sign}{text}\n"));
            }
            if line.no_newline {
                out.push_str("\\ No newline at end of file\n");
            }
        }
    }
    out
}
