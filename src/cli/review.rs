//! `git oc review`: the pull-request review loop (the work is in `crate::review`).

use clap::Args;

use super::field;
use super::ui::Ui;
use crate::error::{ErrorKind, Result};
use crate::review::{Action, ReviewOptions, ReviewReport};

/// Review and merge the pull requests git-oc opened
///
/// One pass over the open, ready pull requests git-oc opened in this repository (its marker in
/// the body, or its run branch prefix; never anyone else's, never a fork's): a self-review run
/// whose agent writes verdict.json (LGTM merges, CONCERNS comments; after
/// review.max_self_review_loops people review it), then the human phase: the timeout, green
/// checks, a 👍, an approving review or a /lgtm comment merge it; other comments get a revision
/// run whose change is committed to the pull request's branch and pushed (never forced). Every
/// pass is a run with its own evidence. The state of each pull request is kept in git under
/// refs/oc/reviews/. Needs [review] await_review = true and the [github] settings of git oc pr.
///
/// Exit status: 0 when the pass went through, 1 when a pull request's pass failed or GitHub
/// refused, 2 on bad input.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  git oc review\n  git oc review --pr 12 --json\n  git oc review --watch --interval 120"
)]
pub struct ReviewArgs {
    /// Only this pull request
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub pr: Option<u64>,
    /// One pass, then exit (the default)
    #[arg(long, conflicts_with = "watch")]
    pub once: bool,
    /// A pass every --interval seconds until interrupted
    #[arg(long)]
    pub watch: bool,
    /// Seconds between passes with --watch
    #[arg(long, value_name = "S", default_value_t = 60, requires = "watch", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub interval: u64,
}

pub fn cmd_review(ui: &mut Ui, args: &ReviewArgs) -> Result<i32> {
    let dir = super::current_dir()?;
    let options = ReviewOptions { pr: args.pr };
    let mut code = 0;
    loop {
        let pass = {
            let observer = super::progress::Progress::new(ui);
            let cx = crate::pipeline::RunContext::system(&observer);
            crate::review::review_pass(&dir, &options, &cx)
        };
        let report = match pass {
            Ok(r) => r,
            // A watch outlives GitHub's and the network's bad minutes; bad input stops it.
            Err(e) if args.watch && e.kind == ErrorKind::Run => {
                ui.error(&e);
                code = 1;
                if !pause(args.interval) {
                    break;
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        for p in &report.pull_requests {
            for w in &p.warnings {
                ui.warning(&format!("#{}: {w}", p.number));
            }
        }
        if args.watch && ui.is_json() {
            // One document per pass, one per line.
            ui.data(&format!("{}\n", serde_json::to_string(&report).unwrap_or_default()));
        } else {
            ui.emit(&report, || render(&report));
        }
        if report.failed() {
            code = 1;
        }
        if !args.watch || !pause(args.interval) {
            break;
        }
    }
    Ok(code)
}

/// Wait `seconds`, or less when interrupted (Ctrl-C ends a watch cleanly); false when interrupted.
fn pause(seconds: u64) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < end {
        if gix::interrupt::is_triggered() {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    !gix::interrupt::is_triggered()
}

fn render(report: &ReviewReport) -> String {
    let mut out = String::new();
    if report.pull_requests.is_empty() {
        out.push_str(&format!(
            "no pull request of git-oc's to review in {}\n",
            report.repository
        ));
    }
    for p in &report.pull_requests {
        out.push_str(&format!("#{} {}\n", p.number, p.title));
        field(&mut out, "action", action_name(p.action));
        if let Some(r) = &p.reason {
            field(&mut out, "reason", r);
        }
        field(&mut out, "phase", p.phase.as_str());
        field(
            &mut out,
            "loops",
            &format!("{} self-review, {} revision", p.self_review_loops, p.human_review_loops),
        );
        for r in &p.runs {
            field(&mut out, "run", r);
        }
        if let Some(c) = &p.commit {
            field(&mut out, "commit", c);
        }
        if let Some(e) = &p.error {
            field(&mut out, "error", e);
        }
        field(&mut out, "url", &p.url);
    }
    for s in &report.skipped {
        out.push_str(&format!("skipped #{}: {}\n", s.number, s.reason));
    }
    out
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Merged => "merged",
        Action::Concerns => "concerns posted",
        Action::Escalated => "escalated to human review",
        Action::NoVerdict => "no verdict (retried next pass)",
        Action::Revised => "revision pushed",
        Action::Unchanged => "revision changed nothing",
        Action::Waiting => "waiting",
        Action::MergeRefused => "merge refused by GitHub (retried next pass)",
        Action::Busy => "busy (another reviewer)",
        Action::Failed => "failed",
    }
}
