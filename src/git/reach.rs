//! Reachability questions answered by `git rev-list`, for the few checks that need the whole
//! commit graph at once.

use std::collections::HashSet;
use std::path::Path;

use crate::error::{Error, Result};

/// The commits reachable from `from` (revisions, or glob ref patterns such as `refs/oc/runs/*`;
/// missing ones are ignored) and not from any branch, tag or remote-tracking branch.
pub fn beyond_branches(workdir: &Path, from: &[&str]) -> Result<HashSet<String>> {
    let mut args = vec!["rev-list".to_owned(), "--ignore-missing".to_owned()];
    args.extend(from.iter().map(|f| rev_arg(f)));
    args.extend(["--not", "--branches", "--tags", "--remotes"].map(str::to_owned));
    let out = super::git_command(workdir)
        .args(&args)
        .output()
        .map_err(|e| Error::io("could not run git rev-list", &e))?;
    if !out.status.success() {
        return Err(Error::run("git rev-list failed").caused_by(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// A ref, or a pattern as `--glob=`, for `git rev-list`.
pub fn rev_arg(from: &str) -> String {
    match from.contains('*') {
        true => format!("--glob={from}"),
        false => from.to_owned(),
    }
}

/// `^<id>` lines for `git rev-list --stdin`, for the ids this repository has.
pub fn negatives(repo: &gix::Repository, ids: &[gix::ObjectId]) -> String {
    ids.iter()
        .filter(|id| repo.has_object(*id))
        .map(|id| format!("^{id}\n"))
        .collect()
}

/// The commits `from` (refs or patterns) reach and none of `not` does.
pub fn beyond(repo: &gix::Repository, workdir: &Path, from: &[&str], not: &[gix::ObjectId]) -> Result<HashSet<String>> {
    let mut args = vec![
        "rev-list".to_owned(),
        "--ignore-missing".to_owned(),
        "--stdin".to_owned(),
    ];
    args.extend(from.iter().map(|f| rev_arg(f)));
    let negatives = negatives(repo, not);
    let out = super::run_with_input(workdir, &args, negatives.as_bytes())?;
    Ok(out.lines().map(str::to_owned).collect())
}
