//! Bad input to `git oc run`: exit 2, one `error:` line with a `hint:`, nothing left behind.

use std::path::Path;

use crate::common::*;

#[track_caller]
fn rejected(env: &TestEnv, repo: &Path, args: &[&str]) -> Run {
    let before = env.state(repo);
    let mut full = vec!["run"];
    full.extend_from_slice(args);
    let run = env.run_agent(repo, full);
    run.assert_clean_error(2);
    assert_eq!(run.stdout, "");
    assert_eq!(env.state(repo), before, "the repository changed");
    run
}

#[test]
fn missing_or_empty_goal() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    rejected(&env, &repo, &["--backend", "claude"]);
    rejected(&env, &repo, &["--goal", "  ", "--backend", "claude"]);
}

#[test]
fn an_unknown_backend_or_lane() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    rejected(&env, &repo, &["--goal", "x", "--backend", "gpt"]);
    rejected(&env, &repo, &["--goal", "x", "--lane", "cloud"]);
}

#[test]
fn command_backend_argv_mistakes() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    rejected(&env, &repo, &["--goal", "x", "--backend", "command"]);
    rejected(&env, &repo, &["--goal", "x", "--backend", "claude", "--", "fake-agent"]);
}

#[test]
fn unknown_task_type_risk_or_priority() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let run = rejected(
        &env,
        &repo,
        &["--goal", "x", "--backend", "claude", "--task-type", "weird"],
    );
    assert!(
        run.stderr.contains("simple_edit"),
        "the known values are listed: {}",
        run.stderr
    );
    rejected(
        &env,
        &repo,
        &["--goal", "x", "--backend", "claude", "--risk", "extreme"],
    );
    rejected(
        &env,
        &repo,
        &["--goal", "x", "--backend", "claude", "--priority", "urgent"],
    );
}

#[test]
fn bad_timeouts() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    rejected(&env, &repo, &["--goal", "x", "--backend", "claude", "--timeout", "0"]);
    rejected(
        &env,
        &repo,
        &["--goal", "x", "--backend", "claude", "--timeout", "soon"],
    );
    rejected(&env, &repo, &["--goal", "x", "--backend", "claude", "--timeout", "-5"]);
}

#[test]
fn unknown_base() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let run = rejected(
        &env,
        &repo,
        &["--goal", "x", "--backend", "claude", "--base", "no-such-branch"],
    );
    assert!(run.stderr.contains("unknown base revision"), "{}", run.stderr);
}

#[test]
fn branch_names_git_would_reject_or_that_look_like_options() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    for branch in [
        "a..b",
        "-x",
        "bad name",
        "ends.lock",
        "x~1",
        "oc/",
        "@",
        "HEAD",
        "a@{1}",
    ] {
        let flag = format!("--branch={branch}");
        let run = rejected(&env, &repo, &["--goal", "x", "--backend", "claude", &flag]);
        assert!(run.stderr.contains("invalid branch name"), "{branch}: {}", run.stderr);
    }
}

#[test]
fn empty_path_or_validation_command() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    rejected(&env, &repo, &["--goal", "x", "--backend", "claude", "--path", ""]);
    rejected(&env, &repo, &["--goal", "x", "--backend", "claude", "--validate", " "]);
}

#[test]
fn outside_a_repository() {
    let env = TestEnv::new();
    let dir = env.root().join("plain");
    std::fs::create_dir_all(&dir).unwrap();
    env.run_agent(&dir, ["run", "--goal", "x", "--backend", "claude"])
        .assert_clean_error(2);
}
