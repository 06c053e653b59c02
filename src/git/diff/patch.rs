//! The patch of a run, `git diff --binary --full-index <base> <commit>`, made so that whatever
//! the user configured it applies with `git apply` (`-p1`) to the base.

use std::path::Path;

use crate::error::{Error, Result};

/// Configuration that would change the patch's shape, set back to git's defaults (`-c` wins
/// over every configuration file; unknown keys are ignored by older gits).
const NEUTRAL_CONFIG: &[&str] = &[
    "core.quotePath=false",
    "diff.noprefix=false",
    "diff.mnemonicPrefix=false",
    "diff.srcPrefix=a/",
    "diff.dstPrefix=b/",
    "diff.relative=false",
    "diff.suppressBlankEmpty=false",
    "diff.renames=true",
    "diff.ignoreSubmodules=none",
    "diff.submodule=short",
    "diff.context=3",
    "diff.interHunkContext=0",
    "color.diff=false",
    "color.ui=false",
];

/// Environment variables git reads for diffs (`GIT_DIFF_OPTS` can drop the context lines that
/// `git apply` needs).
const DIFF_ENV: &[&str] = &[
    "GIT_EXTERNAL_DIFF",
    "GIT_DIFF_OPTS",
    "GIT_DIFF_PATH_COUNTER",
    "GIT_DIFF_PATH_TOTAL",
];

/// `git diff --binary --full-index` from `base` (`None`: the empty tree) to `commit`, in the
/// repository at `repo_workdir`, independent of the user's diff settings: prefixes `a/` and
/// `b/`, three lines of context, no colour, no external diff, no textconv, submodules as
/// `Subproject commit` lines.
pub fn binary_patch(
    repo_workdir: &Path,
    base: Option<gix::ObjectId>,
    commit: gix::ObjectId,
    hash: gix::hash::Kind,
) -> Result<Vec<u8>> {
    let base = base.unwrap_or_else(|| gix::ObjectId::empty_tree(hash));
    let mut cmd = crate::git::git_command(repo_workdir);
    for var in DIFF_ENV {
        cmd.env_remove(var);
    }
    for setting in NEUTRAL_CONFIG {
        cmd.args(["-c", setting]);
    }
    cmd.args([
        "diff",
        "--binary",
        "--full-index",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        "--unified=3",
        "--ignore-submodules=none",
        "--submodule=short",
    ])
    .arg(base.to_string())
    .arg(commit.to_string())
    .arg("--");
    let out = cmd
        .output()
        .map_err(|e| Error::io("could not run git diff for diff.patch", &e))?;
    if !out.status.success() {
        return Err(Error::run("git diff failed while writing diff.patch")
            .caused_by(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    Ok(out.stdout)
}
