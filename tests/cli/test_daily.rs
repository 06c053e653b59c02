//! The daily loop after a run: land it (`apply`), throw it away (`discard`), run it again
//! (`retry`).

use std::path::Path;

use serde_json::Value;

use crate::common::*;

fn run_edit(env: &TestEnv, repo: &Path, goal: &str, mode_args: &[&str]) -> Value {
    let mut args = vec!["--goal", goal, "--backend", "command", "--", "fake-agent"];
    args.extend_from_slice(mode_args);
    let (run, doc) = env.run_json(repo, &args);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    doc
}

fn id(doc: &Value) -> String {
    doc["summary"]["run_id"].as_str().unwrap().to_owned()
}

#[test]
fn apply_lands_a_run_keeping_its_trailer_and_records_the_landing() {
    for (mode, parents) in [("--cherry-pick", 1), ("--squash", 1), ("--merge", 2)] {
        let env = TestEnv::new();
        let repo = env.repo("r");
        let doc = run_edit(&env, &repo, "Say hello", &["write", "hello.txt", "hello"]);
        let run = id(&doc);
        let evidence_before = env.git(&repo, ["rev-parse", &format!("refs/oc/runs/{run}")]);
        let applied = env.oc(&repo, ["apply", &run, mode]);
        applied.assert_code(0);
        assert_eq!(env.git(&repo, ["show", "HEAD:hello.txt"]), "hello", "{mode}");
        let message = env.git(&repo, ["log", "-1", "--format=%B", "HEAD"]);
        assert!(message.contains(&format!("Oc-Run: {run}")), "{mode}: {message}");
        assert_eq!(
            env.git(&repo, ["rev-list", "--parents", "-1", "HEAD"])
                .split(' ')
                .count()
                - 1,
            parents,
            "{mode}"
        );
        assert_eq!(env.git(&repo, ["status", "--porcelain"]), "", "{mode}");
        // The landing is appended to the evidence, fast-forward, nothing rewritten.
        let tip = format!("refs/oc/runs/{run}");
        assert_eq!(env.git(&repo, ["rev-parse", &format!("{tip}^")]), evidence_before);
        let landing: Value = serde_json::from_slice(&env.evidence(&repo, &run, "landing.json")).unwrap();
        assert_eq!(landing["commit"], env.git(&repo, ["rev-parse", "HEAD"]).as_str());
        assert_eq!(landing["branch"], "main");
        let listed = env.oc(&repo, ["runs", "--json"]).json();
        assert_eq!(listed[0]["run_id"], run.as_str(), "the run is still listed");
        assert!(listed[0]["landed"].as_str().unwrap().ends_with(" on main"));
        env.git(&repo, ["fsck", "--strict", "--no-progress"]);
    }
}

#[test]
fn apply_refuses_what_must_not_land_and_changes_nothing() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let rejected = id(&run_edit(&env, &repo, "Keys", &["write", ".ssh/id_rsa", "KEY"]));
    let review = id(&run_edit(
        &env,
        &repo,
        "CI",
        &["write", ".github/workflows/ci.yml", "on: push"],
    ));
    let nothing = id(&run_edit(&env, &repo, "Nothing", &["noop"]));
    let good = id(&run_edit(&env, &repo, "Good", &["write", "good.txt", "good"]));
    let before = env.state(&repo);
    for (run, expect) in [
        (&rejected, "rejected"),
        (&review, "needs review"),
        (&nothing, "no change to land"),
    ] {
        let out = env.oc(&repo, ["apply", run]);
        out.assert_clean_error(2);
        assert!(out.stderr.contains(expect), "{}", out.stderr);
        assert_eq!(env.state(&repo), before);
    }
    std::fs::write(repo.join("dirty.txt"), "uncommitted\n").unwrap();
    let out = env.oc(&repo, ["apply", &good]);
    out.assert_clean_error(2);
    assert!(out.stderr.contains("uncommitted"), "{}", out.stderr);
    std::fs::remove_file(repo.join("dirty.txt")).unwrap();
    // After review, it may land.
    env.oc(&repo, ["apply", &review, "--reviewed"]).assert_code(0);
}

#[test]
fn apply_reports_conflicts_and_leaves_the_checkout_as_it_was() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let run = id(&run_edit(&env, &repo, "Readme", &["write", "README.md", "theirs"]));
    std::fs::write(repo.join("README.md"), "ours\n").unwrap();
    env.git(&repo, ["commit", "-qam", "ours"]);
    let before = env.state(&repo);
    let dry = env.oc(&repo, ["apply", &run, "--dry-run"]);
    dry.assert_clean_error(1);
    assert!(dry.stderr.contains("README.md"), "{}", dry.stderr);
    for mode in ["--cherry-pick", "--squash", "--merge"] {
        env.oc(&repo, ["apply", &run, mode]).assert_clean_error(1);
        assert_eq!(env.state(&repo), before, "{mode}");
    }
}

#[test]
fn apply_works_on_another_clone_after_fetch() {
    let env = TestEnv::new();
    let (_remote, a, b) = remote_and_clones(&env);
    let run = id(&run_edit(&env, &a, "Shared", &["write", "shared.txt", "shared"]));
    env.oc(&a, ["push"]).assert_code(0);
    env.oc(&b, ["fetch"]).assert_code(0);
    env.oc(&b, ["apply", &run]).assert_code(0);
    assert_eq!(env.git(&b, ["show", "HEAD:shared.txt"]), "shared");
}

#[test]
fn discard_removes_the_worktree_and_branch_and_keeps_the_evidence() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let doc = run_edit(&env, &repo, "Throw away", &["write", "t.txt", "t"]);
    let run = id(&doc);
    let worktree = doc["git"]["worktree"].as_str().unwrap().to_owned();
    let branch = doc["summary"]["branch"].as_str().unwrap().to_owned();
    env.oc(&repo, ["discard", &run]).assert_code(0);
    assert!(!Path::new(&worktree).exists());
    assert!(!env.git(&repo, ["branch", "--list", &branch]).contains(&branch));
    assert!(!env.git(&repo, ["worktree", "list"]).contains(&worktree));
    assert_eq!(env.run_ids(&repo), std::slice::from_ref(&run), "the evidence is kept");
    env.oc(&repo, ["show", &run]).assert_code(0);
    // Again, with the evidence.
    env.oc(&repo, ["discard", &run, "--evidence"]).assert_code(0);
    assert!(env.run_ids(&repo).is_empty());
    // Its note goes with it: a note names evidence that is there.
    let notes = env.git(&repo, ["log", "--all", "--format=%N", "--notes=oc"]);
    assert!(!notes.contains(&run), "{notes}");
    env.git(&repo, ["fsck", "--strict", "--no-progress"]);

    // A rejected run: its local-only ref goes too.
    let rejected = id(&run_edit(&env, &repo, "Keys", &["write", ".ssh/id_rsa", "KEY"]));
    env.oc(&repo, ["discard", &rejected]).assert_code(0);
    assert!(env.git(&repo, ["for-each-ref", "refs/oc/rejected/"]).is_empty());
}

#[test]
fn discard_refuses_a_run_in_progress_and_a_branch_that_moved() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let marker = env.root().join("running");
    let mut child = env
        .oc_agents(&repo)
        .args([
            "run",
            "--goal",
            "Busy",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "mark-hang",
        ])
        .arg(&marker)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the agent's marker", || marker.exists());
    let busy = env.oc(&repo, ["runs", "--json"]).json()[0]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = env.state(&repo);
    let out = env.oc(&repo, ["discard", &busy]);
    out.assert_clean_error(2);
    assert!(out.stderr.contains("still in progress"), "{}", out.stderr);
    assert_eq!(env.state(&repo), before);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    child.wait().unwrap();

    let doc = run_edit(&env, &repo, "Moved", &["write", "m.txt", "m"]);
    let run = id(&doc);
    let worktree = doc["git"]["worktree"].as_str().unwrap().to_owned();
    std::fs::write(Path::new(&worktree).join("mine.txt"), "mine\n").unwrap();
    env.git(Path::new(&worktree), ["add", "mine.txt"]);
    env.git(Path::new(&worktree), ["commit", "-qm", "my own work"]);
    let out = env.oc(&repo, ["discard", &run]);
    out.assert_clean_error(2);
    assert!(out.stderr.contains("has moved since the run"), "{}", out.stderr);
}

#[test]
fn retry_runs_the_same_task_again_on_a_new_branch() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let first = run_edit(&env, &repo, "Again and again", &["edit"]);
    let run = id(&first);
    let retried = env.run_agent(&repo, ["retry", "--json", &run]);
    retried.assert_code(0);
    let doc = retried.json();
    assert_ne!(id(&doc), run);
    assert_eq!(doc["proposal"]["goal_text"], first["proposal"]["goal_text"]);
    assert_eq!(doc["proposal"]["task_id"], first["proposal"]["task_id"]);
    assert_eq!(doc["summary"]["backend"], first["summary"]["backend"]);
    assert_eq!(doc["summary"]["base"], first["summary"]["base"]);
    assert_eq!(doc["command"]["argv_template"], first["command"]["argv_template"]);
    assert_ne!(doc["summary"]["branch"], first["summary"]["branch"]);
    assert_eq!(doc["summary"]["outcome_status"], "executed");
    let demo = env.oc(&repo, ["demo", "--json"]).json()["result"]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.oc(&repo, ["retry", &demo]).assert_clean_error(2);
}

/// The `+`/`-` lines of a unified diff, without headers.
fn changed_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| (l.starts_with('+') && !l.starts_with("+++")) || (l.starts_with('-') && !l.starts_with("---")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn diff_shows_the_change_as_git_does_in_every_form() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let doc = run_edit(&env, &repo, "Mixed", &["edit"]);
    let run = id(&doc);
    let base = doc["summary"]["base"].as_str().unwrap();
    let commit = doc["summary"]["commit"].as_str().unwrap();
    let shown = env.oc(&repo, ["diff", &run]);
    shown.assert_code(0);
    let git_patch = env.git(&repo, ["diff", base, commit]);
    assert_eq!(
        changed_lines(&shown.stdout),
        changed_lines(&git_patch),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("@@ -1,1 +1,2 @@"), "{}", shown.stdout);
    assert!(!shown.stdout.contains('\x1b'), "no colour off a terminal");

    let names = env.oc(&repo, ["diff", &run, "--name-only"]);
    assert_eq!(
        names.stdout.trim(),
        env.git(&repo, ["diff", "--name-only", base, commit])
    );
    let stat = env.oc(&repo, ["diff", &run, "--stat"]);
    let shortstat = env.git(&repo, ["diff", "--shortstat", base, commit]);
    assert!(
        stat.stdout.ends_with(&format!("{shortstat}\n")),
        "{}\n{shortstat}",
        stat.stdout
    );
    let json = env.oc(&repo, ["diff", &run, "--json"]).json();
    let files: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["README.md", "hello.txt"]);
    assert_eq!(json["files"][1]["hunks"][0]["lines"][0]["kind"], "added");
}

#[test]
fn diff_of_two_runs_shows_what_one_did_that_the_other_did_not() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let a = id(&run_edit(
        &env,
        &repo,
        "Same goal",
        &["write", "answer.txt", "forty-one"],
    ));
    let b = id(&run_edit(
        &env,
        &repo,
        "Same goal",
        &["write", "answer.txt", "forty-two"],
    ));
    let shown = env.oc(&repo, ["diff", &a, &b]);
    shown.assert_code(0);
    assert_eq!(
        changed_lines(&shown.stdout),
        ["-forty-one", "+forty-two"],
        "{}",
        shown.stdout
    );
}

#[test]
fn diff_works_on_another_clone_and_colours_a_terminal() {
    let env = TestEnv::new();
    let (_remote, a, b) = remote_and_clones(&env);
    let run = id(&run_edit(
        &env,
        &a,
        "Words",
        &["write", "README.md", "# test repository changed"],
    ));
    env.oc(&a, ["push"]).assert_code(0);
    env.oc(&b, ["fetch"]).assert_code(0);
    let shown = env.oc(&b, ["diff", &run]);
    shown.assert_code(0);
    assert_eq!(
        changed_lines(&shown.stdout),
        ["-# test repository", "+# test repository changed"]
    );
    // On a terminal: colour, and the changed word highlighted inside the changed line.
    let mut cmd = std::process::Command::new("script");
    scrub(&mut cmd, &env.home());
    let out = cmd
        .current_dir(&b)
        .env("TERM", "xterm")
        .args(["-qec", &format!("{BIN} diff {run}"), "/dev/null"])
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(tty.contains("\x1b[32m"), "{tty:?}");
    assert!(tty.contains("\x1b[7m"), "the changed word is highlighted: {tty:?}");
}
