//! `git oc gc`: finished worktrees and stale branches go, runs in progress and evidence stay.

use std::path::PathBuf;

use crate::common::*;

#[test]
fn removes_finished_worktrees_and_merged_or_disposable_branches() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (_, run) = env.run_json(
        &repo,
        &["--goal", "Keep me", "--backend", "command", "--", "fake-agent", "edit"],
    );
    let (_, noop) = env.run_json(
        &repo,
        &["--goal", "Nothing", "--backend", "command", "--", "fake-agent", "noop"],
    );
    let demo = env.oc(&repo, ["demo", "--json"]).json();
    let wt = PathBuf::from(run["git"]["worktree"].as_str().unwrap());
    let ids = env.run_ids(&repo);

    // Within the retention: nothing goes.
    let kept = env.oc(&repo, ["gc"]);
    kept.assert_code(0);
    assert!(kept.stderr.contains("younger than the retention"), "{}", kept.stderr);
    assert_eq!(kept.stdout, "", "what is kept is a diagnostic, not data");
    assert!(wt.is_dir());

    let dry = env.oc(&repo, ["gc", "--older-than", "0", "--dry-run"]);
    dry.assert_code(0);
    assert!(
        dry.stdout.contains(&format!("would remove worktree {}", wt.display())),
        "{}",
        dry.stdout
    );
    assert!(wt.is_dir(), "a dry run removes nothing");

    let done = env.oc(&repo, ["gc", "--older-than", "0"]);
    done.assert_code(0);
    assert!(!wt.exists());
    assert_eq!(
        env.git(&repo, ["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    let branches = env.git(&repo, ["for-each-ref", "--format=%(refname:short)", "refs/heads/"]);
    assert!(
        !branches.contains(noop["summary"]["branch"].as_str().unwrap()),
        "the no-op branch is merged:\n{branches}"
    );
    assert!(
        !branches.contains(demo["git"]["branch"].as_str().unwrap()),
        "demo branches are disposable"
    );
    assert!(
        branches.contains(run["summary"]["branch"].as_str().unwrap()),
        "an unmerged run branch stays"
    );
    assert_eq!(env.run_ids(&repo), ids, "evidence is never touched without --evidence");
    env.git(&repo, ["fsck", "--strict", "--no-progress"]);

    let evidence = env.oc(&repo, ["gc", "--evidence", "--older-than", "0"]);
    evidence.assert_code(0);
    assert!(env.run_ids(&repo).is_empty(), "{}", evidence.stdout);
    // The notes of the runs go with their evidence (a note names evidence that is there), so
    // what is left can still be published, to a new remote too.
    let notes = env.git(&repo, ["log", "--all", "--format=%N", "--notes=oc"]);
    assert!(!notes.contains("Oc-Run"), "{notes}");
    let remote = env.root().join("fresh.git");
    env.git(env.root(), ["init", "-q", "--bare", remote.to_str().unwrap()]);
    env.git(&repo, ["remote", "add", "origin", remote.to_str().unwrap()]);
    env.oc(&repo, ["push", "origin"]).assert_code(0);
}

#[test]
fn never_removes_a_locked_or_dirty_worktree() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (_, a) = env.run_json(
        &repo,
        &["--goal", "A", "--backend", "command", "--", "fake-agent", "edit"],
    );
    let (_, b) = env.run_json(
        &repo,
        &["--goal", "B", "--backend", "command", "--", "fake-agent", "edit"],
    );
    let wa = PathBuf::from(a["git"]["worktree"].as_str().unwrap());
    let wb = PathBuf::from(b["git"]["worktree"].as_str().unwrap());
    env.git(&repo, ["worktree", "lock", "--reason", "busy", wa.to_str().unwrap()]);
    std::fs::write(wb.join("wip.txt"), "not committed\n").unwrap();
    let run = env.oc(&repo, ["gc", "--older-than", "0"]);
    run.assert_code(0);
    assert!(wa.is_dir() && wb.is_dir());
    assert!(run.stderr.contains("locked"), "{}", run.stderr);
    assert!(run.stderr.contains("uncommitted changes"), "{}", run.stderr);
}

#[test]
fn prunes_worktrees_deleted_by_hand() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (_, a) = env.run_json(
        &repo,
        &["--goal", "A", "--backend", "command", "--", "fake-agent", "edit"],
    );
    let wa = PathBuf::from(a["git"]["worktree"].as_str().unwrap());
    std::fs::remove_dir_all(&wa).unwrap();
    let run = env.oc(&repo, ["gc"]);
    run.assert_code(0);
    assert!(run.stdout.contains("deleted worktree"), "{}", run.stdout);
    assert_eq!(
        env.git(&repo, ["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    assert!(env.git(&repo, ["worktree", "prune", "--dry-run", "-v"]).is_empty());
}

#[test]
fn evidence_needs_an_explicit_age() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.oc(&repo, ["demo"]).assert_code(0);
    env.oc(&repo, ["gc", "--evidence"]).assert_clean_error(2);
    assert_eq!(env.run_ids(&repo).len(), 1);
}

#[test]
fn merges_the_packs_runs_wrote_once_they_reach_gc_auto_pack_limit() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.git(&repo, ["config", "gc.autoPackLimit", "3"]);
    // Below the limit gc leaves the packs alone.
    env.oc(&repo, ["demo"]).assert_code(0);
    let (_, packs) = env.object_counts(&repo);
    assert!(packs > 0 && packs < 3, "{packs}");
    let nothing = env.oc(&repo, ["gc", "--json"]);
    nothing.assert_code(0);
    assert_eq!(nothing.json()["packs"], serde_json::Value::Null);
    // The second demo fills the limit and writes the rest of its objects loose.
    env.oc(&repo, ["demo"]).assert_code(0);
    let (loose, packs) = env.object_counts(&repo);
    assert_eq!(packs, 3);
    assert!(loose > 0);

    let dry = env.oc(&repo, ["gc", "--dry-run"]);
    dry.assert_code(0);
    assert!(dry.stdout.contains("would merge 3 packs"), "{}", dry.stdout);
    assert_eq!(env.object_counts(&repo).1, 3, "a dry run merges nothing");

    let done = env.oc(&repo, ["gc"]);
    done.assert_code(0);
    let (_, after) = env.object_counts(&repo);
    assert!(after < 3, "{after} packs");
    assert!(
        done.stdout.contains(&format!("merged 3 packs into {after}")),
        "{}",
        done.stdout
    );
    env.git(&repo, ["fsck", "--strict"]);
    for id in env.run_ids(&repo) {
        env.evidence_json(&repo, &id, "run_metadata.json");
    }
    // Runs write packs again.
    env.oc(&repo, ["demo"]).assert_code(0);
    assert!(env.object_counts(&repo).1 > after);
}

/// A run started with `--workspace-path` puts its worktree where you say, and gc removes it
/// once finished; your own worktree is never a run's, even when an agent points its HEAD at the
/// agent's run branch and plants git-oc's evidence directory in it.
#[test]
fn removes_a_runs_worktree_elsewhere_but_never_yours_made_to_look_like_one() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let elsewhere = env.root().join("elsewhere");
    let (run, _) = env.run_json(
        &repo,
        &[
            "--goal",
            "A",
            "--workspace-path",
            elsewhere.to_str().unwrap(),
            "--backend",
            "command",
            "--",
            "fake-agent",
            "edit",
        ],
    );
    run.assert_code(0);
    // Your worktree is clean: what it holds beside the branch is ignored (a `.env`).
    std::fs::write(repo.join(".gitignore"), ".env\n").unwrap();
    env.git(&repo, ["add", ".gitignore"]);
    env.git(&repo, ["commit", "-q", "-m", "ignore .env"]);
    let mine = env.root().join("mine");
    env.git(
        &repo,
        ["worktree", "add", "-q", "-b", "feature", mine.to_str().unwrap()],
    );
    std::fs::write(mine.join(".env"), "only copy\n").unwrap();
    let script = format!(
        "admin=$(git -C {m} rev-parse --absolute-git-dir) && printf 'ref: %s\\n' \"$(git symbolic-ref HEAD)\" > \"$admin/HEAD\" && \
         mkdir -p {m}/.operations_center/runs/$GIT_OC_RUN_ID && printf '*\\n' > {m}/.operations_center/.gitignore",
        m = mine.display()
    );
    let (run, _) = env.run_sh(&repo, "Change nothing", &script);
    run.assert_code(0);
    let gc = env.oc(&repo, ["gc", "--older-than", "0"]);
    gc.assert_code(0);
    assert!(mine.join(".env").is_file(), "your worktree was removed: {}", gc.stdout);
    assert!(
        !elsewhere.join(".git").exists(),
        "the run's worktree elsewhere was kept: {}{}",
        gc.stdout,
        gc.stderr
    );
}
