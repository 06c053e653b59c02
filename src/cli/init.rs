//! `git oc init`: one-time repository setup so that evidence travels and shows with plain git.

use clap::Args;

use super::ui::Ui;
use crate::error::{Error, Result};
use crate::git::{NOTES_REF, git_command};

/// Set up the repository so that git-oc's evidence travels and shows with plain git
///
/// Adds, in the repository's own config: notes.rewriteRef=refs/notes/oc (notes follow amended and
/// rebased commits), notes.displayRef=refs/notes/oc (git log shows them), and for every remote a
/// fetch refspec for the evidence refs and one for the notes into a remote-tracking ref
/// (refs/notes/remotes/<remote>/oc, merged by git oc fetch; never a forced fetch into your own
/// notes). Running it again changes nothing; --undo removes exactly these values.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Remove the values init adds
    #[arg(long)]
    pub undo: bool,
}

fn git_config(workdir: &std::path::Path, args: &[&str]) -> Result<std::process::Output> {
    git_command(workdir)
        .arg("config")
        .arg("--local")
        .args(args)
        .output()
        .map_err(|e| Error::io("could not run git config", &e))
}

fn values(workdir: &std::path::Path, key: &str) -> Result<Vec<String>> {
    let out = git_config(workdir, &["--get-all", key])?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

pub fn cmd_init(ui: &mut Ui, args: &InitArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let workdir = repo.workdir().to_owned();
    let mut wanted: Vec<(String, String)> = vec![
        ("notes.rewriteRef".into(), NOTES_REF.into()),
        ("notes.displayRef".into(), NOTES_REF.into()),
    ];
    let mut remotes: Vec<String> = repo.repo.remote_names().into_iter().map(|n| n.to_string()).collect();
    remotes.sort();
    for remote in &remotes {
        let key = format!("remote.{remote}.fetch");
        wanted.push((
            key.clone(),
            format!("+{NOTES_REF}:{}", crate::publish::notes_tracking_ref(remote)),
        ));
        wanted.push((key, "refs/oc/runs/*:refs/oc/runs/*".into()));
    }
    let mut out = String::new();
    for (key, value) in &wanted {
        let present = values(&workdir, key)?.contains(value);
        let result = match (args.undo, present) {
            (false, true) => "already set",
            (true, false) => "not set",
            (false, false) => {
                let o = git_config(&workdir, &["--add", key, value])?;
                if !o.status.success() {
                    return Err(Error::run(format!("could not set {key}"))
                        .caused_by(String::from_utf8_lossy(&o.stderr).trim().to_owned()));
                }
                "set"
            }
            (true, true) => {
                let o = git_config(&workdir, &["--fixed-value", "--unset-all", key, value])?;
                if !o.status.success() {
                    return Err(Error::run(format!("could not unset {key}"))
                        .caused_by(String::from_utf8_lossy(&o.stderr).trim().to_owned()));
                }
                "removed"
            }
        };
        out.push_str(&format!("{result:<12} {key} = {value}\n"));
    }
    if remotes.is_empty() && !args.undo {
        out.push_str("no remotes yet: run git oc init again after adding one\n");
    }
    ui.data(&out);
    Ok(0)
}
