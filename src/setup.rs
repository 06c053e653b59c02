//! `git oc init`: one-time repository setup so that evidence travels and shows with plain git:
//! notes follow rewritten commits and show in `git log`, and fetches bring evidence and notes.

use crate::error::{Error, Result};
use crate::git::{NOTES_REF, Repo, git_command};

/// One configuration value and what `init` did with it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Setting {
    /// `set`, `already set`, `removed`, `not set`, or `kept (not added by git oc init)`.
    pub result: &'static str,
    pub key: String,
    pub value: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct InitReport {
    pub settings: Vec<Setting>,
    /// The repository has no remote yet, so no fetch refspec was added.
    pub no_remotes: bool,
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

fn record_path(repo: &Repo) -> std::path::PathBuf {
    repo.state_dir().join("init.json")
}

fn read_record(repo: &Repo) -> Record {
    crate::config::read::read_plain_file(&record_path(repo), 1 << 20)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_record(repo: &Repo, record: &Record) -> Result<()> {
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

/// Add the settings (or with `undo`, remove the ones `init` added).
pub fn init(repo: &Repo, undo: bool) -> Result<InitReport> {
    let mut record = read_record(repo);
    let workdir = repo.workdir().to_owned();
    let mut wanted: Vec<(String, String)> = vec![
        ("notes.rewriteRef".into(), NOTES_REF.into()),
        ("notes.displayRef".into(), NOTES_REF.into()),
    ];
    let mut remotes: Vec<String> = repo.repo.remote_names().into_iter().map(|n| n.to_string()).collect();
    remotes.sort();
    for remote in &remotes {
        let key = format!("remote.{remote}.fetch");
        // A pattern: it brings refs/notes/oc and the workers' refs/notes/oc-worker/* alike, and
        // a remote without notes is no error for `git fetch` (a plain refspec would be).
        wanted.push((
            key.clone(),
            format!("+{NOTES_REF}*:{}*", crate::publish::notes_tracking_ref(remote)),
        ));
        wanted.push((key, "refs/oc/runs/*:refs/oc/runs/*".into()));
    }
    let mut settings = Vec::new();
    // What an earlier init added and this one replaces (the plain notes refspec made `git fetch`
    // fail against a remote without notes): removed, when it was init's.
    for remote in &remotes {
        let key = format!("remote.{remote}.fetch");
        let value = format!("+{NOTES_REF}:{}", crate::publish::notes_tracking_ref(remote));
        let ours = record.added.iter().any(|(k, v)| *k == key && *v == value);
        if !ours || !values(&workdir, &key)?.contains(&value) {
            continue;
        }
        let o = git_config(&workdir, &["--fixed-value", "--unset-all", &key, &value])?;
        if !o.status.success() {
            return Err(Error::run(format!("could not unset {key}"))
                .caused_by(String::from_utf8_lossy(&o.stderr).trim().to_owned()));
        }
        record.added.retain(|(k, v)| !(*k == key && *v == value));
        write_record(repo, &record)?;
        settings.push(Setting {
            result: "removed",
            key,
            value,
        });
    }
    for (key, value) in &wanted {
        let present = values(&workdir, key)?.contains(value);
        let ours = record.added.iter().any(|(k, v)| k == key && v == value);
        let result = match (undo, present) {
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
                write_record(repo, &record)?;
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
        if undo {
            record.added.retain(|(k, v)| !(k == key && v == value));
        }
        settings.push(Setting {
            result,
            key: key.clone(),
            value: value.clone(),
        });
    }
    if undo {
        write_record(repo, &record)?;
    }
    Ok(InitReport {
        settings,
        no_remotes: remotes.is_empty(),
    })
}
