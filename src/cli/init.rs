//! `git oc init`: arguments and the report (the work is in `crate::setup`).

use clap::Args;

use super::ui::Ui;
use crate::error::Result;

/// Set up the repository so that git-oc's evidence travels and shows with plain git
///
/// Adds, in the repository's own config: notes.rewriteRef=refs/notes/oc (notes follow amended and
/// rebased commits), notes.displayRef=refs/notes/oc (git log shows them), and for every remote a
/// fetch refspec for the evidence refs and one for the notes into remote-tracking refs
/// (refs/notes/oc* to refs/notes/remotes/<remote>/oc*: the shared notes and the workers'
/// refs/notes/oc-worker/*, merged by git oc fetch; never a forced fetch into your own notes; a
/// remote without notes is no error). Running it again changes nothing; --undo removes exactly the values init added, never
/// ones that were there before (init records what it added in .git/oc/init.json).
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Remove the values init adds
    #[arg(long)]
    pub undo: bool,
}

pub fn cmd_init(ui: &mut Ui, args: &InitArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let report = crate::setup::init(&repo, args.undo)?;
    ui.emit(&report, || {
        let mut out = String::new();
        for s in &report.settings {
            out.push_str(&format!("{:<12} {} = {}\n", s.result, s.key, s.value));
        }
        if report.no_remotes && !args.undo {
            out.push_str("no remotes yet: run git oc init again after adding one\n");
        }
        if !args.undo {
            out.push_str(
                "note: a run that makes no commit (blocked, failed, no change) notes the commit it started from, \
                 so git log shows those notes on your own commits; demo runs keep theirs in refs/notes/oc-demo \
                 and refs/oc/demo/, which git oc push never publishes\n",
            );
        }
        out
    });
    Ok(0)
}
