//! `git oc demo` in git: the run branch, the commit, the diff as git computes it, the evidence
//! ref and the note, all read back with the git CLI; and the demo in repositories of every shape.

use std::path::{Path, PathBuf};

use crate::common::*;

struct Demo {
    run: Run,
    doc: serde_json::Value,
}

impl Demo {
    fn run_id(&self) -> String {
        self.doc["result"]["run_id"].as_str().unwrap().to_owned()
    }
    fn git_field(&self, key: &str) -> String {
        self.doc["git"][key]
            .as_str()
            .unwrap_or_else(|| panic!("no git.{key}"))
            .to_owned()
    }
}

fn demo_json(env: &TestEnv, dir: &Path, extra: &[&str]) -> Demo {
    let mut args = vec!["demo", "--json"];
    args.extend_from_slice(extra);
    let run = env.oc(dir, args);
    let doc = run.json();
    Demo { run, doc }
}

#[test]
fn the_diff_equals_what_git_says_and_the_commit_carries_the_trailer() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let d = demo_json(&env, &repo, &[]);
    d.run.assert_code(0);
    let base = d.git_field("base");
    let commit = d.git_field("commit");
    assert_eq!(env.git(&repo, ["rev-parse", "HEAD"]), base);
    assert_eq!(env.git(&repo, ["rev-parse", &format!("{commit}^")]), base);

    let shortstat = env.git(&repo, ["diff", "--shortstat", &base, &commit]);
    assert_eq!(shortstat.trim(), d.doc["result"]["diff_stat_excerpt"].as_str().unwrap());
    let numstat = env.git(&repo, ["diff", "--numstat", &base, &commit]);
    let changed = d.doc["result"]["changed_files"].as_array().unwrap();
    let ours: Vec<String> = changed
        .iter()
        .map(|f| {
            format!(
                "{}\t{}\t{}",
                f["lines_added"],
                f["lines_removed"],
                f["path"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(ours.join("\n"), numstat);
    assert_eq!(changed[0]["change_type"], "added");
    assert_eq!(d.doc["result"]["changed_files_source"], "git_diff");

    let trailer = env.git(
        &repo,
        ["log", "-1", "--format=%(trailers:key=Oc-Run,valueonly)", &commit],
    );
    assert_eq!(trailer.trim(), d.run_id());
    let branch = d.git_field("branch");
    assert!(
        branch.starts_with("demo/run-") && branch.len() == "demo/run-".len() + 8,
        "{branch}"
    );
    assert_eq!(env.git(&repo, ["rev-parse", &format!("refs/heads/{branch}")]), commit);
}

#[test]
fn the_worktree_is_clean_and_the_users_checkout_untouched() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    std::fs::write(repo.join("wip.txt"), "uncommitted work\n").unwrap();
    std::fs::write(repo.join("README.md"), "# edited but not staged\n").unwrap();
    let before = env.checkout_state(&repo);
    let index_before = std::fs::read(repo.join(".git/index")).unwrap();
    let d = demo_json(&env, &repo, &[]);
    d.run.assert_code(0);
    assert_eq!(env.checkout_state(&repo), before);
    assert_eq!(std::fs::read(repo.join(".git/index")).unwrap(), index_before);
    let wt = PathBuf::from(d.git_field("worktree"));
    assert_eq!(env.git(&wt, ["status", "--porcelain", "--untracked-files=all"]), "");
    assert_eq!(env.git(&wt, ["diff-files"]), "", "the index stat data is fresh");
    assert!(env.git(&repo, ["worktree", "list"]).contains(wt.to_str().unwrap()));
    env.git(&repo, ["fsck", "--strict", "--no-progress"]);
}

#[test]
fn evidence_is_in_git_with_the_same_bytes_and_a_note() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let ws = env.root().join("ws");
    let d = demo_json(&env, &repo, &["--workspace-path", ws.to_str().unwrap()]);
    d.run.assert_code(0);
    let id = d.run_id();
    let evidence_ref = format!("refs/oc/demo/{id}");
    assert_eq!(d.git_field("evidence_ref"), evidence_ref);
    let listed = env.git(&repo, ["ls-tree", "--name-only", &evidence_ref]);
    let mut expected: Vec<&str> = SEED_FILES.to_vec();
    expected.sort();
    assert_eq!(listed.lines().collect::<Vec<_>>(), expected);
    for f in SEED_FILES {
        let out = env.git_output(&repo, ["cat-file", "blob", &format!("{evidence_ref}:{f}")]);
        let on_disk = std::fs::read(ws.join(".operations_center/runs").join(&id).join(f)).unwrap();
        assert_eq!(out.stdout, on_disk, "{f} differs between git and disk");
    }
    let commit = d.git_field("commit");
    assert_eq!(
        env.git(&repo, ["rev-parse", &format!("{evidence_ref}^")]),
        commit,
        "parent is the run commit"
    );
    let note = env.git(&repo, ["notes", "--ref=oc-demo", "show", &commit]);
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines[0], d.doc["execution_trace"]["headline"]);
    assert!(lines.contains(&format!("Oc-Run: {id}").as_str()), "{note}");
    assert!(lines.contains(&"Oc-Status: succeeded"));
    assert!(lines.contains(&"Oc-Policy: allow"));
    assert!(lines.contains(&"Oc-Diff: 1 file changed, 6 insertions(+)"));
    assert!(lines.contains(&format!("Oc-Evidence: {evidence_ref}").as_str()));
    let log = env.git(&repo, ["log", "--notes=oc-demo", "-1", &commit]);
    assert!(log.contains("Notes (oc-demo):"), "{log}");
    // The evidence directory ignores itself.
    assert_eq!(
        env.git(&ws, ["status", "--porcelain", "--ignored=no", "--untracked-files=all"]),
        ""
    );
    env.git(&repo, ["fsck", "--strict", "--no-progress"]);
}

#[test]
fn blocked_run_leaves_no_branch_and_notes_the_base() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let refs_before = env.git(&repo, ["for-each-ref", "refs/heads"]);
    let d = demo_json(&env, &repo, &["--blocked-policy"]);
    d.run.assert_code(1);
    assert_eq!(
        env.git(&repo, ["for-each-ref", "refs/heads"]),
        refs_before,
        "no run branch"
    );
    assert_eq!(
        env.git(&repo, ["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    let base = env.git(&repo, ["rev-parse", "HEAD"]);
    let id = d.run_id();
    assert_eq!(env.git(&repo, ["rev-parse", &format!("refs/oc/demo/{id}^")]), base);
    let note = env.git(&repo, ["notes", "--ref=oc-demo", "show", &base]);
    assert!(
        note.contains(&format!("Oc-Run: {id}")) && note.contains("Oc-Policy: block"),
        "{note}"
    );
    assert_eq!(d.doc["git"]["commit"], serde_json::Value::Null);
    let files = env.git(&repo, ["ls-tree", "--name-only", &format!("refs/oc/demo/{id}")]);
    assert_eq!(files.lines().count(), 7);
}

#[test]
fn notes_of_several_runs_on_one_commit_are_appended() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let a = demo_json(&env, &repo, &["--blocked-policy"]);
    let b = demo_json(&env, &repo, &["--blocked-policy"]);
    let note = env.git(&repo, ["notes", "--ref=oc-demo", "show", "HEAD"]);
    assert!(note.contains(&format!("Oc-Run: {}", a.run_id())));
    assert!(note.contains(&format!("Oc-Run: {}", b.run_id())));
    assert_eq!(
        note.matches("\n\n").count(),
        1,
        "two blocks separated by one blank line:\n{note}"
    );
}

#[test]
fn the_seed_command_succeeds_twice_in_a_row() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let ws = env.root().join("operations-center-demo");
    let args = [
        "demo",
        "--goal",
        "Write a tiny hello-world execution artifact",
        "--repo-key",
        "demo",
        "--workspace-path",
        ws.to_str().unwrap(),
        "--backend",
        "stub",
    ];
    let first = env.oc(&repo, args);
    first.assert_code(0);
    let second = env.oc(&repo, args);
    second.assert_code(0);
    assert_ne!(first.field("run_id"), second.field("run_id"));
    assert_eq!(run_dirs(&ws).len(), 2, "earlier evidence stays in the workspace");
    assert_eq!(env.run_ids(&repo).len(), 2);
    // The workspace now holds the second run's branch, clean.
    let branch = second.field("branch");
    let branch = branch.split(' ').next().unwrap();
    assert_eq!(env.git(&ws, ["symbolic-ref", "--short", "HEAD"]), branch);
    assert_eq!(env.git(&ws, ["status", "--porcelain", "--untracked-files=all"]), "");
    env.git(&repo, ["fsck", "--strict", "--no-progress"]);
}

#[test]
fn works_in_a_repository_without_commits() {
    let env = TestEnv::new();
    let repo = env.empty_repo("e");
    let d = demo_json(&env, &repo, &[]);
    d.run.assert_code(0);
    let commit = d.git_field("commit");
    assert_eq!(env.git(&repo, ["rev-list", "--count", &commit]), "1", "a root commit");
    assert_eq!(
        env.git(&repo, ["diff-tree", "--root", "--numstat", "--no-commit-id", &commit]),
        "6\t0\tartifacts/demo_result.txt"
    );
    assert!(
        env.git(&repo, ["notes", "--ref=oc-demo", "show", &commit])
            .contains(&d.run_id())
    );
    env.git(&repo, ["fsck", "--strict", "--no-progress"]);
    // Still no commit on the user's branch.
    assert!(
        !env.git_output(&repo, ["rev-parse", "--verify", "-q", "HEAD"])
            .status
            .success()
    );

    let blocked = demo_json(&env, &repo, &["--blocked-policy"]);
    blocked.run.assert_code(1);
    assert_eq!(env.run_ids(&repo).len(), 2);
}

#[test]
fn works_from_a_subdirectory_a_linked_worktree_and_a_detached_head() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let sub = repo.join("a/b");
    std::fs::create_dir_all(&sub).unwrap();
    demo_json(&env, &sub, &[]).run.assert_code(0);

    let linked = env.root().join("linked");
    env.git(
        &repo,
        ["worktree", "add", "-q", "-b", "feature", linked.to_str().unwrap()],
    );
    let d = demo_json(&env, &linked, &[]);
    d.run.assert_code(0);
    assert_eq!(env.git(&repo, ["rev-parse", "feature"]), d.git_field("base"));
    assert!(!d.git_field("worktree").contains(".."), "paths are normalised");

    env.git(&repo, ["checkout", "-q", "--detach"]);
    let d = demo_json(&env, &repo, &[]);
    d.run.assert_code(0);
    assert_eq!(env.git(&repo, ["rev-parse", "HEAD"]), d.git_field("base"));
    assert_eq!(env.git(&repo, ["status", "--porcelain"]), "");
    env.git(&repo, ["fsck", "--strict", "--no-progress"]);
}

#[test]
fn works_in_paths_with_spaces_and_non_ascii_characters() {
    let env = TestEnv::new();
    let repo = env.repo("dir with space/ünïcødé repo");
    let ws = env.root().join("wörk space");
    let run = env.oc(&repo, ["demo", "--workspace-path", ws.to_str().unwrap()]);
    run.assert_code(0);
    assert!(ws.join("artifacts/demo_result.txt").is_file());
    assert!(run.field("artifact").ends_with("wörk space/artifacts/demo_result.txt"));
    env.git(&repo, ["fsck", "--strict", "--no-progress"]);
}

#[test]
fn goals_with_newlines_unicode_or_ten_thousand_characters_work() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let goal = "Line one\nLine two — café ✓ 日本語 🚀\n\ttabbed \"quoted\" \\backslash";
    let d = demo_json(&env, &repo, &["--goal", goal]);
    d.run.assert_code(0);
    assert_eq!(d.doc["proposal"]["goal_text"], goal);
    // The artifact has 8 lines with this goal, and the diff says so (the reference claimed 6).
    assert_eq!(d.doc["result"]["diff_stat_excerpt"], "1 file changed, 8 insertions(+)");
    let commit = d.git_field("commit");
    assert_eq!(env.git(&repo, ["log", "-1", "--format=%s", &commit]), "Line one");

    let report = env.oc(&repo, ["demo", "--goal", goal]);
    report.assert_code(0);
    assert!(
        report
            .stdout
            .contains("  goal        : Line one\n                Line two — café ✓ 日本語 🚀\n")
    );

    let long = "x".repeat(10_000);
    let run = env.oc(&repo, ["demo", "--goal", &long]);
    run.assert_code(0);
    let goal_line = run.field("goal");
    assert!(goal_line.chars().count() < 600, "the report shortens very long goals");
    assert!(goal_line.contains("9500 more characters"));
    let ws_run = run.field("run_id");
    let id = ws_run.trim();
    let proposal = env.git(&repo, ["cat-file", "blob", &format!("refs/oc/demo/{id}:proposal.json")]);
    assert!(proposal.contains(&long), "the evidence keeps the whole goal");
}

#[test]
fn a_closed_stdout_ends_output_quietly() {
    // As in `git oc demo | head -3`: the reader is gone before the report is written.
    let env = TestEnv::new();
    let repo = env.repo("r");
    let mut child = env
        .oc_cmd(&repo)
        .arg("demo")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(env.run_ids(&repo).len(), 1, "the run itself was recorded");
}

/// Everything a demo recorded reads back with the git CLI, and the repository is valid.
fn assert_demo_readable(env: &TestEnv, repo: &Path, d: &Demo) {
    env.git(repo, ["fsck", "--strict", "--no-dangling"]);
    let evidence = env.evidence_json(repo, &d.run_id(), "run_metadata.json");
    assert_eq!(evidence["run_id"].as_str(), Some(d.run_id().as_str()));
    let note = env.git(
        repo,
        [
            "notes",
            "--ref",
            &d.git_field("notes_ref"),
            "show",
            &d.git_field("commit"),
        ],
    );
    assert!(note.contains(&d.run_id()), "{note}");
    let branch = d.git_field("branch");
    assert!(
        !env.git(repo, ["cat-file", "-p", &format!("{branch}:artifacts/demo_result.txt")])
            .is_empty()
    );
}

#[test]
fn a_demo_writes_its_objects_as_packs_and_loose_once_the_repository_has_enough_packs() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (loose_before, packs_before) = env.object_counts(&repo);
    let d = demo_json(&env, &repo, &[]);
    d.run.assert_code(0);
    let (loose, packs) = env.object_counts(&repo);
    assert_eq!(loose, loose_before, "the demo wrote no loose object");
    assert!(packs > packs_before, "the demo's objects are in a pack");
    assert_demo_readable(&env, &repo, &d);
    let leftovers: Vec<_> = std::fs::read_dir(repo.join(".git/objects/pack"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| !n.ends_with(".pack") && !n.ends_with(".idx"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // At git's gc.autoPackLimit a run adds no pack: its objects are loose, for gc --auto.
    env.git(&repo, ["config", "gc.autoPackLimit", &packs.to_string()]);
    let d = demo_json(&env, &repo, &[]);
    d.run.assert_code(0);
    let (loose_after, packs_after) = env.object_counts(&repo);
    assert_eq!(packs_after, packs);
    assert!(loose_after > loose, "{loose_after} loose objects after, {loose} before");
    assert_demo_readable(&env, &repo, &d);
}

#[test]
fn runs_keep_the_repository_at_few_packs_and_lose_no_object() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    // Two packs per run: ten runs would leave twenty.
    let runs: Vec<Demo> = (0..10).map(|_| demo_json(&env, &repo, &[])).collect();
    let (_, packs) = env.object_counts(&repo);
    assert!((1..16).contains(&packs), "{packs} packs after ten runs");
    for d in &runs {
        let id = d.run_id();
        // The evidence tree, the run's commit and its note, all still there.
        env.git(&repo, ["cat-file", "-e", &format!("refs/oc/demo/{id}^{{tree}}")]);
        let note = env.git(
            &repo,
            ["notes", "--ref=oc-demo", "show", &format!("refs/oc/demo/{id}^")],
        );
        assert!(note.contains(&format!("Oc-Run: {id}")), "{note}");
    }
    env.git(&repo, ["fsck", "--strict", "--no-progress"]);
}
