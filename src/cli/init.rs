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
/// notes). Running it again changes nothing; --undo removes exactly the values init added, never
/// ones that were there before (init records what it added in .git/oc/init.json).
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

/// The settings `git oc init` added (not the ones it found already there), kept so that
/// `--undo` removes exactly those.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Record {
    added: Vec<(String, String)>,
}

fn record_path(repo: &crate::git::Repo) -> std::path::PathBuf {
    repo.state_dir().join("init.json")
}

fn read_record(repo: &crate::git::Repo) -> Record {
    std::fs::read(record_path(repo))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_record(repo: &crate::git::Repo, record: &Record) -> Result<()> {
    let path = record_path(repo);
    if record.added.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("could not update .git/oc/init.json", &e))
            }
            _ => Ok(()),
        };
    }
    let bytes = serde_json::to_vec_pretty(record)
        .map_err(|e| Error::run("could not record what init added").caused_by(e.to_string()))?;
    std::fs::create_dir_all(repo.state_dir())
        .map_err(|e| Error::io("could not record what init added", &e))
        .and_then(|_| crate::evidence::write_atomic(&path, &bytes))
}

pub fn cmd_init(ui: &mut Ui, args: &InitArgs) -> Result<i32> {
    let repo = super::open_repo()?;
    let mut record = read_record(&repo);
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
        let ours = record.added.iter().any(|(k, v)| k == key && v == value);
        let result = match (args.undo, present) {
            (false, true) => "already set",
            (true, false) => "not set",
            // There before init: not init's to remove.
            (true, true) if !ours => "kept (not added by git oc init)",
            (false, false) => {
                let o = git_config(&workdir, &["--add", key, value])?;
                if !o.status.success() {
                    return Err(Error::run(format!("could not set {key}"))
                        .caused_by(String::from_utf8_lossy(&o.stderr).trim().to_owned()));
                }
                if !ours {
                    record.added.push((key.clone(), value.clone()));
                }
                write_record(&repo, &record)?;
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
        if args.undo {
            record.added.retain(|(k, v)| !(k == key && v == value));
        }
        out.push_str(&format!("{result:<12} {key} = {value}\n"));
    }
    if args.undo {
        write_record(&repo, &record)?;
    }
    if remotes.is_empty() && !args.undo {
        out.push_str("no remotes yet: run git oc init again after adding one\n");
    }
    if !args.undo {
        out.push_str(
            "note: a run that makes no commit (blocked, failed, no change) notes the commit it started from, so \
             git log shows those notes on your own commits; demo runs keep theirs in refs/notes/oc-demo and \
             refs/oc/demo/, which git oc push never publishes\n",
        );
    }
    ui.data(&out);
    Ok(0)
}
