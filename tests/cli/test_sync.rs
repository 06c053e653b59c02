//! Sharing evidence: two clones of one bare remote make runs on the same commits, then push
//! and fetch both ways; both end with every run's evidence and every note block.

use std::path::Path;

use crate::common::*;

fn runs_blocked(env: &TestEnv, repo: &Path, n: usize, tag: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let (run, doc) = env.run_json(
                repo,
                &[
                    "--goal",
                    &format!("{tag} {i}"),
                    "--backend",
                    "claude",
                    "--label",
                    "local_only",
                    "--lane",
                    "claude_cli",
                ],
            );
            run.assert_code(1);
            doc["summary"]["run_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn push_and_fetch_both_ways_lose_nothing() {
    let t = trio();
    let env = &t.env;
    // Both clones note the same base commit (blocked runs annotate the base).
    let a_runs = runs_blocked(env, &t.a, 2, "from a");
    let b_runs = runs_blocked(env, &t.b, 2, "from b");
    let (_, a_done) = env.run_json(
        &t.a,
        &["--goal", "A edits", "--backend", "command", "--", "fake-agent", "edit"],
    );

    let push_a = env.oc(&t.a, ["push"]);
    push_a.assert_code(0);
    assert!(push_a.stdout.contains("3 new run(s)"), "{}", push_a.stdout);
    // B's notes diverge from the remote's: push merges them first, no force.
    let push_b = env.oc(&t.b, ["push", "origin"]);
    push_b.assert_code(0);
    env.oc(&t.a, ["fetch"]).assert_code(0);
    env.oc(&t.b, ["fetch"]).assert_code(0);

    let all: Vec<String> = a_runs
        .iter()
        .chain(&b_runs)
        .cloned()
        .chain([a_done["summary"]["run_id"].as_str().unwrap().to_owned()])
        .collect();
    for repo in [&t.a, &t.b] {
        let ids = env.run_ids(repo);
        for id in &all {
            assert!(ids.contains(id), "{} lacks run {id}", repo.display());
        }
    }
    // Byte-identical evidence and notes on both clones and the remote.
    for id in &all {
        let reference = format!("refs/oc/runs/{id}");
        let a = env.git(&t.a, ["rev-parse", &reference]);
        assert_eq!(a, env.git(&t.b, ["rev-parse", &reference]));
        assert_eq!(a, env.git(&t.remote, ["rev-parse", &reference]));
    }
    let base = env.git(&t.a, ["rev-parse", "HEAD"]);
    let note_a = env.git(&t.a, ["notes", "--ref=oc", "show", &base]);
    let note_b = env.git(&t.b, ["notes", "--ref=oc", "show", &base]);
    assert_eq!(note_a, note_b);
    for id in a_runs.iter().chain(&b_runs) {
        assert!(
            note_a.contains(&format!("Oc-Run: {id}")),
            "block of {id} lost:\n{note_a}"
        );
    }
    // The same notes everywhere (a push publishes the notes' tree, not the local history).
    let notes_tree = |repo| env.git(repo, ["rev-parse", "refs/notes/oc^{tree}"]);
    assert_eq!(notes_tree(&t.a), notes_tree(&t.b));
    assert_eq!(notes_tree(&t.a), notes_tree(&t.remote));
    env.git(&t.a, ["fsck", "--strict", "--no-progress"]);
    env.git(&t.b, ["fsck", "--strict", "--no-progress"]);
    // Run branches are not published.
    assert!(env.git(&t.remote, ["for-each-ref", "refs/heads/oc/"]).is_empty());
}

#[test]
fn show_works_on_another_clone_after_fetch() {
    let t = trio();
    let env = &t.env;
    let (_, doc) = env.run_json(
        &t.a,
        &["--goal", "A edits", "--backend", "command", "--", "fake-agent", "edit"],
    );
    let id = doc["summary"]["run_id"].as_str().unwrap();
    env.oc(&t.a, ["push"]).assert_code(0);
    env.oc(&t.b, ["show", id]).assert_clean_error(2);
    let fetched = env.oc(&t.b, ["fetch", "origin"]);
    fetched.assert_code(0);
    assert!(fetched.stdout.contains("1 new run(s)"), "{}", fetched.stdout);
    let run = env.oc(&t.b, ["show", &id[..8]]);
    run.assert_code(0);
    assert_eq!(run.field("headline"), doc["execution_trace"]["headline"]);
    let diff = env
        .oc_cmd(&t.b)
        .args(["show", id, "diff.patch"])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(diff, env.evidence(&t.a, id, "diff.patch"));
}

#[test]
fn unknown_remote_and_a_remote_that_rejects() {
    let t = trio();
    let env = &t.env;
    runs_blocked(env, &t.a, 1, "x");
    let before = env.state(&t.a);
    for args in [
        &["push", "nowhere"][..],
        &["fetch", "nowhere"][..],
        &["push", "--", "-x"][..],
        &["fetch", "bad name"][..],
    ] {
        env.oc(&t.a, args).assert_clean_error(2);
    }
    assert_eq!(env.state(&t.a), before);

    // A remote whose hook refuses git-oc's refs: exit 1, nothing changed there.
    let hook = t.remote.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'evidence is not welcome here' >&2\nexit 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = env.oc(&t.a, ["push"]);
    run.assert_clean_error(1);
    assert!(run.stderr.contains("refused the push"), "{}", run.stderr);
    assert!(
        env.git(&t.remote, ["for-each-ref", "refs/oc/", "refs/notes/"])
            .is_empty(),
        "atomic: nothing landed"
    );
}

#[test]
fn no_remote_at_all() {
    let env = TestEnv::new();
    let repo = env.repo("lonely");
    let run = env.oc(&repo, ["push"]);
    run.assert_clean_error(2);
    assert!(run.stderr.contains("no remote"), "{}", run.stderr);
}

/// A git-oc killed in the middle of a ref edit leaves the lock files it took, which `git fetch`
/// cannot get past; `git oc fetch` removes the ones the dead process recorded first (never one
/// it did not: a plain git's is left to its owner).
#[test]
fn fetch_clears_the_locks_a_killed_git_oc_left() {
    let t = trio();
    let env = &t.env;
    let runs = runs_blocked(env, &t.a, 1, "from a");
    env.oc(&t.a, ["push"]).assert_code(0);
    let git_dir = t.b.join(".git");
    let evidence = format!("refs/oc/runs/{}", runs[0]);
    std::fs::create_dir_all(git_dir.join("oc")).unwrap();
    std::fs::write(git_dir.join("oc/refs.mutex"), format!("packed-refs\n{evidence}")).unwrap();
    std::fs::create_dir_all(git_dir.join("refs/oc/runs")).unwrap();
    let lock = git_dir.join(format!("{evidence}.lock"));
    std::fs::write(&lock, "").unwrap();
    env.oc(&t.b, ["fetch"]).assert_code(0);
    assert!(!lock.exists());
    assert!(env.run_ids(&t.b).contains(&runs[0]));
}

/// A push publishes the notes as one commit of their tree on the remote's tip: the local
/// history (a commit per run) stays home.
#[test]
fn a_push_publishes_the_notes_tree_not_their_history() {
    let t = trio();
    let env = &t.env;
    runs_blocked(env, &t.a, 3, "from a");
    env.oc(&t.a, ["push"]).assert_code(0);
    let count = |repo: &Path| env.git(repo, ["rev-list", "--count", "refs/notes/oc"]);
    assert_eq!(count(&t.remote), "1");
    assert!(count(&t.a).parse::<u32>().unwrap() >= 3, "{}", count(&t.a));
    assert_eq!(
        env.git(&t.remote, ["rev-parse", "refs/notes/oc^{tree}"]),
        env.git(&t.a, ["rev-parse", "refs/notes/oc^{tree}"])
    );

    // A second push with nothing new leaves the remote's notes as they are; one after a new run
    // adds one commit on top of the remote's.
    let again = env.oc(&t.a, ["push"]);
    again.assert_code(0);
    assert!(again.stdout.contains("notes up to date"), "{}", again.stdout);
    assert_eq!(count(&t.remote), "1");
    runs_blocked(env, &t.a, 1, "again");
    env.oc(&t.a, ["push"]).assert_code(0);
    assert_eq!(count(&t.remote), "2");
}

/// Notes whose ref an agent pointed at a blob are neither pushed nor merged into: one error
/// line, a hint saying how to put the ref back, the remote as it was.
#[test]
fn a_push_refuses_a_notes_ref_that_names_no_commit() {
    let t = trio();
    let env = &t.env;
    runs_blocked(env, &t.a, 1, "from a");
    let before = env.git(&t.remote, ["for-each-ref"]);
    let blob = env.git(&t.a, ["hash-object", "-w", "README.md"]);
    env.git(&t.a, ["update-ref", "refs/notes/oc", &blob]);
    let refused = env.oc(&t.a, ["push"]);
    refused.assert_clean_error(1);
    assert!(
        refused.stderr.contains("refs/notes/oc points at a blob"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("git reflog refs/notes/oc"),
        "{}",
        refused.stderr
    );
    assert_eq!(env.git(&t.remote, ["for-each-ref"]), before);
    // Nor merged into by a fetch.
    let refused = env.oc(&t.a, ["fetch"]);
    refused.assert_clean_error(1);
    assert!(
        refused.stderr.contains("refs/notes/oc points at a blob"),
        "{}",
        refused.stderr
    );
    assert_eq!(env.git(&t.a, ["rev-parse", "refs/notes/oc"]), blob);
}
