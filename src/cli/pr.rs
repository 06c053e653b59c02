//! `git oc pr RUN`: open or update the pull request of an earlier run (the work is in
//! `crate::publication`).

use clap::Args;

use super::field;
use super::ui::Ui;
use crate::error::Result;

/// Open or update the pull request of a run
///
/// Pushes the run branch (at the commit both gates passed), the run's evidence and the notes in
/// one atomic push, then opens the run's pull request on GitHub, or updates the one already open
/// for its branch. The publication is appended to the run's evidence (publish.json, Oc-PR).
/// Rejected, blocked, demo and unfinished runs are refused, and so are runs whose validation
/// failed unless [github] push_on_validation_failure is set (they become drafts).
///
/// Exit status: 0 when the pull request is open, 1 when the remote or GitHub refused (the
/// evidence stays intact), 2 on bad input.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  git oc pr 5f470ff6\n  GITHUB_TOKEN=… git oc pr 5f470ff6 --json")]
pub struct PrArgs {
    /// Run id or unique prefix
    pub run: String,
}

pub fn cmd_pr(ui: &mut Ui, args: &PrArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let config = crate::config::Config::load(repo.workdir())?;
    let publication = crate::publication::pull_request_for(&repo, &config, &args.run)?;
    for w in &publication.warnings {
        ui.warning(w);
    }
    ui.emit(&publication, || {
        let mut out = String::new();
        field(&mut out, "run", &publication.run_id);
        let report = crate::publication::Report::Published(Box::new(publication.clone()));
        super::run::publication_fields(&mut out, Some(&report));
        out
    });
    Ok(0)
}
