//! The propose lane: run the autonomy cycle when the repository changes (its HEAD or its
//! branches and tags; git-oc's own refs under `refs/oc/` and notes do not count), at most once per
//! debounce period (the original's 300 s).

use std::path::Path;
use std::time::{Duration, Instant};

use super::{CycleReport, Lane, LaneContext, LaneKind};
use crate::error::Result;

pub const DEBOUNCE: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct ProposeLane {
    seen: Option<String>,
    pending: bool,
    last_run: Option<Instant>,
}

/// What the repository's HEAD and refs are now, as one string.
pub fn fingerprint(dir: &Path) -> Result<String> {
    let repo = crate::git::Repo::discover(dir)?;
    let head = crate::git::refs::target(&repo.repo, "HEAD")?.map(|h| h.to_string());
    let refs = crate::git::refs::all(&repo.repo)?;
    let mut out = format!("HEAD {}\n", head.unwrap_or_default());
    for (name, target) in refs {
        if !name.starts_with("refs/oc/") && !name.starts_with("refs/notes/") {
            out.push_str(&format!("{name} {target}\n"));
        }
    }
    Ok(out)
}

/// One autonomy cycle that files what it proposes on the board; a one-line summary.
fn run_cycle(dir: &Path) -> Result<String> {
    let options = crate::autonomy::CycleOptions {
        execute: true,
        ..Default::default()
    };
    let report = crate::autonomy::run_cycle(dir, &options)?;
    Ok(format!(
        "cycle {}: {} emitted, {} suppressed, {} filed",
        report.id,
        report.stages.decide.emitted.len(),
        report.stages.decide.suppressed.len(),
        report.stages.propose.created.len()
    ))
}

impl Lane for ProposeLane {
    fn kind(&self) -> LaneKind {
        LaneKind::Propose
    }

    fn cycle(&mut self, cx: &LaneContext) -> Result<CycleReport> {
        let now = fingerprint(cx.dir)?;
        if self.seen.as_deref() != Some(now.as_str()) {
            self.seen = Some(now);
            self.pending = true;
        }
        if !self.pending {
            return Ok(CycleReport::action("no_change"));
        }
        if self.last_run.is_some_and(|t| t.elapsed() < DEBOUNCE) {
            return Ok(CycleReport::action("debounced"));
        }
        self.last_run = Some(Instant::now());
        let what = run_cycle(cx.dir)?;
        self.pending = false;
        let mut r = CycleReport::action("cycle_complete");
        r.note = Some(what);
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::tests::git;

    #[test]
    fn a_new_commit_changes_the_fingerprint_and_git_oc_refs_do_not() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", "one"]);
        let first = fingerprint(dir).unwrap();
        let head = git(dir, &["rev-parse", "HEAD"]);
        git(dir, &["update-ref", "refs/oc/tasks/abc", head.trim()]);
        git(dir, &["update-ref", "refs/notes/oc", head.trim()]);
        assert_eq!(fingerprint(dir).unwrap(), first);
        git(dir, &["commit", "-q", "--allow-empty", "-m", "two"]);
        assert_ne!(fingerprint(dir).unwrap(), first);
    }
}
