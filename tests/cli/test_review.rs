//! Reviewing runs: `git oc runs`, `git oc show`, `git oc doctor` and `git oc init`.

use crate::common::*;

fn make_runs(env: &TestEnv, repo: &std::path::Path) -> Vec<serde_json::Value> {
    let mut docs = Vec::new();
    for (goal, args) in [
        ("First change", vec!["--backend", "command", "--", "fake-agent", "edit"]),
        (
            "Nothing to do",
            vec!["--backend", "command", "--", "fake-agent", "noop"],
        ),
        (
            "Blocked one",
            vec!["--backend", "claude", "--label", "local_only", "--lane", "claude_cli"],
        ),
        ("Via claude", vec!["--backend", "claude"]),
    ] {
        let mut a = vec!["--goal", goal];
        a.extend(args);
        let (_, doc) = env.run_json(repo, &a);
        docs.push(doc);
    }
    docs
}

#[test]
fn runs_lists_newest_first_with_filters() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let docs = make_runs(&env, &repo);
    let run = env.oc(&repo, ["runs"]);
    run.assert_code(0);
    assert!(run.stdout.starts_with("RUN "), "a header comes first:\n{}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().skip(1).collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    for (line, doc) in lines.iter().zip(docs.iter().rev()) {
        assert!(
            line.starts_with(&doc["summary"]["run_id"].as_str().unwrap()[..8]),
            "newest first:\n{}",
            run.stdout
        );
    }
    assert!(
        lines[3].contains("executed") && lines[3].contains("command@aider_local") && lines[3].contains("First change")
    );
    assert!(
        lines[3].contains("2 files +3"),
        "the diff stat, compacted:\n{}",
        run.stdout
    );
    assert!(lines[2].contains("no_op"));
    assert!(lines[1].contains("blocked"));

    let json = env.oc(&repo, ["runs", "--json", "--status", "blocked"]).json();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["goal"], "Blocked one");
    assert_eq!(
        env.oc(&repo, ["runs", "--json", "--backend", "claude"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        env.oc(&repo, ["runs", "--json", "--lane", "aider_local"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        env.oc(&repo, ["runs", "--json", "-n", "1"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        env.oc(&repo, ["runs", "--json", "--since", "1h"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        env.oc(&repo, ["runs", "--json", "--until", "2000-01-01"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn foreign_or_damaged_refs_are_skipped_with_a_warning() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    make_runs(&env, &repo);
    let head = env.git(&repo, ["rev-parse", "HEAD"]);
    let blob = env.git(&repo, ["hash-object", "-w", "README.md"]);
    env.git(&repo, ["update-ref", "refs/oc/runs/not-a-run", &head]);
    env.git(
        &repo,
        ["update-ref", "refs/oc/runs/0e4a1a9e-0000-4000-8000-000000000000", &blob],
    );
    env.git(
        &repo,
        ["update-ref", "refs/oc/runs/1e4a1a9e-0000-4000-8000-000000000000", &head],
    );
    let run = env.oc(&repo, ["runs"]);
    run.assert_code(0);
    assert_eq!(run.stdout.lines().count(), 1 + 4, "a header and the four runs");
    assert_eq!(
        run.stderr.matches("warning: skipped refs/oc/runs/").count(),
        3,
        "{}",
        run.stderr
    );
}

#[test]
fn show_prints_the_summary_or_one_file_by_prefix() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let docs = make_runs(&env, &repo);
    let id = docs[0]["summary"]["run_id"].as_str().unwrap();
    let run = env.oc(&repo, ["show", &id[..10]]);
    run.assert_code(0);
    assert!(run.stdout.starts_with(&format!("run {id}\n")));
    assert_eq!(run.field("headline"), docs[0]["execution_trace"]["headline"]);
    assert_eq!(run.field("commit"), docs[0]["git"]["commit"]);
    assert!(run.field("branch").starts_with("oc/auto-simple-edit-"));
    let bytes = env
        .oc_cmd(&repo)
        .args(["show", id, "result.json"])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(bytes, env.evidence(&repo, id, "result.json"));

    // The worktree is gone: show reads from git.
    let wt = docs[0]["git"]["worktree"].as_str().unwrap();
    env.git(&repo, ["worktree", "remove", "--force", wt]);
    env.oc(&repo, ["show", id]).assert_code(0);
}

#[test]
fn show_rejects_unknown_ambiguous_and_missing() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let docs = make_runs(&env, &repo);
    let before = env.state(&repo);
    env.oc(&repo, ["show", "ffffffff"]).assert_clean_error(2);
    env.oc(&repo, ["show", "not-hex!"]).assert_clean_error(2);
    env.oc(&repo, ["show", "--", "-x"]).assert_clean_error(2);
    let id = docs[0]["summary"]["run_id"].as_str().unwrap();
    let run = env.oc(&repo, ["show", id, "nope.json"]);
    run.assert_clean_error(2);
    assert!(
        run.stderr.contains("summary.json"),
        "the files are listed: {}",
        run.stderr
    );
    // A prefix shared by two runs.
    let head = env.git(&repo, ["rev-parse", "HEAD"]);
    let msg = "x\n\nOc-Run: 00000000-0000-4000-8000-000000000001\n";
    let c1 = env.git(&repo, ["commit-tree", "-m", msg, &format!("{head}^{{tree}}")]);
    let msg2 = "x\n\nOc-Run: 00000000-0000-4000-8000-000000000002\n";
    let c2 = env.git(&repo, ["commit-tree", "-m", msg2, &format!("{head}^{{tree}}")]);
    env.git(
        &repo,
        ["update-ref", "refs/oc/runs/00000000-0000-4000-8000-000000000001", &c1],
    );
    env.git(
        &repo,
        ["update-ref", "refs/oc/runs/00000000-0000-4000-8000-000000000002", &c2],
    );
    let run = env.oc(&repo, ["show", "0000"]);
    run.assert_clean_error(2);
    assert!(
        run.stderr.contains("ambiguous") && run.stderr.contains("00000000-0000-4000-8000-000000000002"),
        "{}",
        run.stderr
    );
    let _ = before;
}

#[test]
fn doctor_reports_health() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let mut cmd = env.oc_agents(&repo);
    cmd.env("GITHUB_TOKEN", "ghp_doctor_secret_value");
    let run = Run::from(cmd.args(["doctor"]).output().unwrap());
    run.assert_code(0);
    assert!(run.stdout.contains("GITHUB_TOKEN is set"));
    assert!(
        !run.stdout.contains("ghp_doctor_secret_value"),
        "token values are never printed"
    );
    assert!(
        run.stdout.contains("claude ("),
        "fake CLIs found on PATH: {}",
        run.stdout
    );
    assert!(run.stdout.contains("no user.name/user.email configured") || run.stdout.contains("commits are made by"));
    assert!(run.stdout.ends_with("healthy\n"));

    write_config(
        &repo,
        "[[policy.repo_policies]]\nrepo_key = \"*\"\nrisk_profile = \"yolo\"\n",
    );
    let run = env.oc(&repo, ["doctor"]);
    run.assert_code(1);
    assert!(run.stdout.contains("fail  policy"), "{}", run.stdout);
}

#[test]
fn init_sets_up_notes_and_refspecs_idempotently_and_undoes() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let remote = env.root().join("remote.git");
    env.git(env.root(), ["init", "-q", "--bare", remote.to_str().unwrap()]);
    env.git(&repo, ["remote", "add", "origin", remote.to_str().unwrap()]);
    let config_before = env.git(&repo, ["config", "--local", "--list"]);
    env.oc(&repo, ["init"]).assert_code(0);
    let get = |key: &str| env.git(&repo, ["config", "--get-all", key]);
    assert_eq!(get("notes.rewriteRef"), "refs/notes/oc");
    assert_eq!(get("notes.displayRef"), "refs/notes/oc");
    let fetch = get("remote.origin.fetch");
    assert!(fetch.contains("+refs/notes/oc*:refs/notes/remotes/origin/oc*"));
    assert!(fetch.contains("refs/oc/runs/*:refs/oc/runs/*"));
    assert!(
        !fetch.contains("+refs/notes/oc:refs/notes/oc"),
        "never a forced fetch into local notes"
    );
    let once = env.git(&repo, ["config", "--local", "--list"]);
    let second = env.oc(&repo, ["init"]);
    second.assert_code(0);
    assert!(second.stdout.contains("already set"));
    assert_eq!(env.git(&repo, ["config", "--local", "--list"]), once, "idempotent");

    // With the display ref, plain `git log` shows the run notes.
    let (_, doc) = env.run_json(
        &repo,
        &["--goal", "Noted", "--backend", "command", "--", "fake-agent", "edit"],
    );
    let log = env.git(&repo, ["log", "-1", doc["git"]["commit"].as_str().unwrap()]);
    assert!(log.contains("Notes (oc):"), "{log}");

    env.oc(&repo, ["init", "--undo"]).assert_code(0);
    assert_eq!(env.git(&repo, ["config", "--local", "--list"]), config_before);
}
