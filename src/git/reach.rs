//! Reachability questions answered by `git rev-list`, for the few checks that need the whole
//! commit graph at once.

use std::collections::HashSet;
use std::path::Path;

use crate::error::{Error, Result};

/// The commits reachable from `from` (revisions, or glob ref patterns such as `refs/oc/runs/*`;
/// missing ones are ignored) and not from any branch, tag or remote-tracking branch.
pub fn beyond_branches(workdir: &Path, from: &[&str]) -> Result<HashSet<String>> {
    let mut args = vec!["rev-list".to_owned(), "--ignore-missing".to_owned()];
    for f in from {
        if f.contains('*') {
            args.push(format!("--glob={f}"));
        } else {
            args.push((*f).to_owned());
        }
    }
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
