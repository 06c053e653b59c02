//! `git oc doctor`: arguments and the report (the checks are in `crate::doctor`).

use clap::Args;

use super::ui::Ui;
use crate::error::Result;

/// Check git, identity, configuration, policy, routing, backends, tokens and evidence
///
/// Outside a repository, the checks that need none run (git, identity from the global
/// configuration, the user configuration, backends on PATH, tokens). Exit status: 0 when
/// everything git-oc needs works, 1 when something is broken. Missing agent CLIs and unpublished
/// evidence are reported as warnings; a missing token only when a configured feature needs it.
/// Token values are never printed. The trust check says whether what plain git shows is what
/// git-oc recorded: an evidence ref changed after its run (a failure), note blocks git-oc did not
/// write, and replacement refs or grafts (warnings).
#[derive(Debug, Args)]
pub struct DoctorArgs {}

pub fn cmd_doctor(ui: &mut Ui, _args: &DoctorArgs) -> Result<i32> {
    let repo = crate::git::Repo::discover_optional(&super::current_dir()?)?;
    let checks = crate::doctor::checks(repo.as_ref())?;
    let healthy = crate::doctor::healthy(&checks);
    let doc = serde_json::json!({ "healthy": healthy, "checks": checks });
    ui.emit(&doc, || {
        let mut out = String::new();
        for c in &checks {
            // Details quote paths, messages and configuration: never raw control characters.
            let detail = crate::text::escape_controls(&c.detail);
            out.push_str(&format!("{:<5} {:<15} {detail}\n", c.level, c.name));
        }
        out.push_str(if healthy { "healthy\n" } else { "not healthy\n" });
        out
    });
    Ok(if healthy { 0 } else { 1 })
}
