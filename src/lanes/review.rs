//! The review lane: one pass of the review loop over the pull requests of runs, each cycle.

use super::{CycleReport, Lane, LaneContext, LaneKind};
use crate::error::{Error, Result};

pub struct ReviewLane;

/// One pass of the review loop, cancelled with the lane; a one-line summary.
fn review_pass(cx: &LaneContext) -> Result<String> {
    let quiet = crate::pipeline::Quiet;
    let mut rcx = crate::pipeline::RunContext::system(&quiet);
    rcx.interrupt = cx.interrupt;
    let report = crate::review::review_pass(cx.dir, &crate::review::ReviewOptions::default(), &rcx)?;
    let merged = report
        .pull_requests
        .iter()
        .filter(|p| p.action == crate::review::Action::Merged)
        .count();
    let summary = format!(
        "{} pull request(s) reviewed, {merged} merged, {} skipped",
        report.pull_requests.len(),
        report.skipped.len()
    );
    if report.failed() {
        return Err(Error::run(format!("review pass failed: {summary}"))
            .hint("`git oc review --once` shows each pull request's error"));
    }
    Ok(summary)
}

impl Lane for ReviewLane {
    fn kind(&self) -> LaneKind {
        LaneKind::Review
    }

    fn cycle(&mut self, cx: &LaneContext) -> Result<CycleReport> {
        let what = review_pass(cx)?;
        let mut r = CycleReport::action("review_complete");
        r.note = Some(what);
        Ok(r)
    }
}
