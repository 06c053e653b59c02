//! `git oc push` and `git oc fetch`: sharing evidence refs and notes with a remote.

use clap::Args;

use super::ui::Ui;
use crate::error::Result;

/// Publish evidence refs and notes to a remote
///
/// Pushes every refs/oc/runs/* ref, refs/notes/oc, the git board's refs/oc/tasks/* and the
/// autonomy cycle's refs/oc/observations/* and refs/oc/cycles/* in one atomic push, without force. The remote's notes and tasks are fetched and merged first, so
/// that no note block, comment or change is lost on either side; the notes go out as one
/// commit of their tree on the remote's tip, without their local history. Run branches are not
/// pushed.
/// Nothing is pushed when a ref would reach a commit git-oc keeps local (a rejected change, an
/// agent's own commit), when an evidence ref is not a run git-oc recorded, when a note block it
/// adds is not one git-oc wrote for a recorded run, or when what the push adds holds the value
/// of a secret from the environment (plain, hex or base64).
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The remote [default: origin, or the only remote]
    pub remote: Option<String>,
}

/// Fetch evidence refs and notes from a remote
///
/// New refs/oc/runs/*, refs/oc/observations/* and refs/oc/cycles/* refs are fetched (an existing
/// local one is never overwritten); the remote's
/// notes go to refs/notes/remotes/<remote>/oc and are merged into refs/notes/oc block by block,
/// as are the workers' notes refs (refs/notes/oc-worker/<name>, fetched to
/// refs/notes/remotes/<remote>/oc-worker/<name>);
/// its tasks go to refs/oc/remotes/<remote>/tasks/ and are merged into refs/oc/tasks/ task by
/// task (every comment kept; concurrent state changes resolved by the documented rule).
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The remote [default: origin, or the only remote]
    pub remote: Option<String>,
}

pub fn cmd_push(ui: &mut Ui, args: &PushArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let remote = remote_or_default(&repo, &args.remote)?;
    let report = crate::publish::push(&repo.repo, repo.workdir(), &remote)?;
    if ui.is_json() {
        ui.json(&report);
    } else {
        let tasks = match (&report.tasks_merge, report.new_tasks + report.updated_tasks) {
            (None, 0) => String::new(),
            (merge, _) => format!(
                "; tasks: {} new, {} updated{}",
                report.new_tasks,
                report.updated_tasks,
                merge.as_ref().map(tasks_merged).unwrap_or_default()
            ),
        };
        ui.data(&format!(
            "pushed to {}: {} new run(s), {} already there; notes {}{tasks}\n",
            report.remote, report.new_runs, report.up_to_date_runs, report.notes
        ));
    }
    Ok(0)
}

pub fn cmd_fetch(ui: &mut Ui, args: &FetchArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let remote = remote_or_default(&repo, &args.remote)?;
    let report = crate::publish::fetch(&repo.repo, repo.workdir(), &remote)?;
    if ui.is_json() {
        ui.json(&report);
    } else {
        let notes = match &report.notes {
            Some(n) => format!(
                "notes {} ({} added, {} combined)",
                n.how.replace('_', " "),
                n.added,
                n.combined
            ),
            None => "no notes there".to_owned(),
        };
        let tasks = report
            .tasks
            .as_ref()
            .map(|t| {
                format!(
                    "; tasks: {} new, {} fast-forwarded, {} merged, {} up to date",
                    t.created, t.fast_forward, t.merged, t.up_to_date
                )
            })
            .unwrap_or_default();
        ui.data(&format!(
            "fetched from {}: {} new run(s); {notes}{tasks}\n",
            report.remote, report.new_runs
        ));
    }
    if let Some(t) = report.tasks.as_ref().filter(|t| !t.conflicts.is_empty()) {
        return Err(crate::error::Error::run(format!(
            "{} task(s) from {} could not be merged: {}",
            t.conflicts.len(),
            report.remote,
            crate::text::escape_controls(&t.conflicts.join("; "))
        ))
        .hint("the local tasks were kept as they were; compare them with 'git log refs/oc/tasks/<id> refs/oc/remotes/<remote>/tasks/<id>'"));
    }
    if !report.rejected.is_empty() {
        // Recorded evidence is never overwritten: a conflicting ref is an error to look into,
        // not a warning to scroll past.
        return Err(crate::error::Error::run(format!(
            "{} evidence ref(s) on {} differ from the local ones and were not fetched: {}",
            report.rejected.len(),
            report.remote,
            crate::text::escape_controls(&report.rejected.join(", "))
        ))
        .hint(format!(
            "git-oc never overwrites recorded evidence; compare with 'git fetch {} <ref>' and 'git diff <ref> FETCH_HEAD'",
            report.remote
        )));
    }
    Ok(0)
}

/// `, N merged from the remote first`, when the remote's tasks changed anything here.
fn tasks_merged(m: &crate::board::git::TasksMerge) -> String {
    let took = m.created + m.fast_forward + m.merged;
    if took == 0 {
        String::new()
    } else {
        format!(" ({took} taken from the remote first, {} of them merged)", m.merged)
    }
}

/// The remote named on the command line, or the one git would push to or fetch from.
fn remote_or_default(repo: &crate::git::Repo, named: &Option<String>) -> Result<String> {
    match named {
        Some(r) => Ok(r.clone()),
        None => crate::publish::default_remote(&repo.repo),
    }
}
