//! `git oc release`: let a held task or run go.

use clap::Args;

use super::ui::Ui;
use crate::error::{Error, Result};

/// Let a held task, run or autonomy record go: published by 'git oc push', a task run by 'git oc
/// watch', a record read by later autonomy cycles
///
/// A run holds what was written while its agent ran and may be the agent's: a task that became
/// Ready (created, moved back to Ready or edited), and the evidence of a run or an autonomy
/// cycle's record it cannot vouch for (not registered when the agent started, not written by the
/// same git-oc). Read it first ('git oc task show ID', 'git oc show ID', 'git show refs/oc/ID').
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The task id, run id or record id (or a unique prefix of it)
    #[arg(value_name = "ID")]
    pub id: String,
}

pub fn cmd_release(ui: &mut Ui, args: &ReleaseArgs) -> Result<i32> {
    use crate::board::held::{held_all, release};
    let repo = super::open_repo()?;
    let query = args.id.trim();
    // A record is named by its ref under refs/oc/ (observations/<id>), or by its id alone.
    let named = |id: &String| id.starts_with(query) || id.rsplit('/').next().is_some_and(|l| l.starts_with(query));
    let mut matches: Vec<String> = held_all(&repo.repo)?
        .into_iter()
        .map(|(_, id, _)| id)
        .filter(named)
        .collect();
    matches.sort();
    matches.dedup();
    let id = match (query.is_empty(), matches.as_slice()) {
        (false, [id]) => id.clone(),
        (false, []) | (true, _) => {
            return Err(Error::input(format!("nothing held is named {query:?}"))
                .hint("'git oc release' is for the tasks and runs a run named as held; 'git oc push' names those that still are"));
        }
        (false, _) => {
            return Err(Error::input(format!(
                "{query:?} names more than one held record: {}",
                matches.join(", ")
            ))
            .hint("give more of the id"));
        }
    };
    let released = release(&repo.repo, &id)?;
    let value = serde_json::json!({ "id": id, "released": released });
    ui.emit(&value, || format!("released {id}\n"));
    Ok(0)
}
