//! The review lane: one pass of the review loop over the pull requests of runs, each cycle.

use std::path::Path;

use super::{CycleReport, Lane, LaneContext, LaneKind};
use crate::error::{Error, Result};

pub struct ReviewLane;

/// One review pass. Wired to `crate::review::review_pass` when that is built.
fn review_pass(_dir: &Path) -> Result<String> {
    Err(Error::run("the review loop is not built into this git-oc yet")
        .hint("run the goal, test and improve lanes; the review lane comes with the review loop"))
}

impl Lane for ReviewLane {
    fn kind(&self) -> LaneKind {
        LaneKind::Review
    }

    fn cycle(&mut self, cx: &LaneContext) -> Result<CycleReport> {
        let what = review_pass(cx.dir)?;
        let mut r = CycleReport::action("review_complete");
        r.note = Some(what);
        Ok(r)
    }
}
