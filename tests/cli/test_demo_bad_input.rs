//! Bad input to `git oc demo`: the exit code, one `error:` line with a `hint:`, no panic, and
//! nothing left behind.

use std::path::Path;

use crate::common::*;

/// Run `args` in `repo` and check that it failed cleanly and left the repository as it was.
#[track_caller]
fn assert_rejected(env: &TestEnv, repo: &Path, args: &[&str], code: i32) -> Run {
    let before = env.state(repo);
    let run = env.oc(repo, args);
    run.assert_clean_error(code);
    assert_eq!(run.stdout, "", "no report for rejected input");
    assert_eq!(env.state(repo), before, "the repository changed");
    assert!(!repo.join(".git/oc/worktrees").exists() || dir_is_empty(&repo.join(".git/oc/worktrees")));
    run
}

fn dir_is_empty(p: &Path) -> bool {
    std::fs::read_dir(p).map(|mut d| d.next().is_none()).unwrap_or(true)
}

#[test]
fn empty_goal() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let run = assert_rejected(&env, &repo, &["demo", "--goal", ""], 2);
    assert!(run.stderr.starts_with("error: the goal is empty\n"), "{}", run.stderr);
}

#[test]
fn whitespace_goal() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    assert_rejected(&env, &repo, &["demo", "--goal", " \t\n "], 2);
}

#[test]
fn empty_repo_key() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let run = assert_rejected(&env, &repo, &["demo", "--repo-key", ""], 2);
    assert!(run.stderr.contains("repository key is empty"));
}

#[test]
fn empty_repo_key_with_blocked_policy() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    assert_rejected(&env, &repo, &["demo", "--repo-key", "", "--blocked-policy"], 2);
}

#[test]
fn unknown_backend_and_routing() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let run = assert_rejected(&env, &repo, &["demo", "--backend", "kodo"], 2);
    assert!(run.stderr.contains("'kodo'"), "{}", run.stderr);
    assert_rejected(&env, &repo, &["demo", "--routing", "switchboard"], 2);
}

#[test]
fn unknown_flag_and_subcommand() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    assert_rejected(&env, &repo, &["demo", "--gaol", "x"], 2);
    assert_rejected(&env, &repo, &["dmeo"], 2);
}

#[test]
fn invalid_utf8_argument() {
    use std::os::unix::ffi::OsStrExt;
    let env = TestEnv::new();
    let repo = env.repo("r");
    let before = env.state(&repo);
    let bad = std::ffi::OsStr::from_bytes(b"bad \xff byte");
    let run = Run::from(env.oc_cmd(&repo).arg("demo").arg("--goal").arg(bad).output().unwrap());
    run.assert_clean_error(2);
    assert!(run.stderr.contains("UTF-8"), "{}", run.stderr);
    assert_eq!(env.state(&repo), before);
}

#[test]
fn outside_a_repository() {
    let env = TestEnv::new();
    let dir = env.root().join("plain");
    std::fs::create_dir_all(&dir).unwrap();
    let run = env.oc(&dir, ["demo"]);
    run.assert_clean_error(2);
    assert!(
        run.stderr.starts_with("error: not inside a git repository"),
        "{}",
        run.stderr
    );
    assert!(dir_is_empty(&dir));
}

#[test]
fn in_a_bare_repository() {
    let env = TestEnv::new();
    let bare = env.root().join("bare.git");
    env.git(env.root(), ["init", "-q", "--bare", bare.to_str().unwrap()]);
    let before = env.git(&bare, ["for-each-ref"]);
    let run = env.oc(&bare, ["demo"]);
    run.assert_clean_error(2);
    assert!(run.stderr.contains("bare repository"), "{}", run.stderr);
    assert_eq!(env.git(&bare, ["for-each-ref"]), before);
}

#[test]
fn workspace_path_is_a_file() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let file = env.root().join("a-file");
    std::fs::write(&file, "keep me\n").unwrap();
    let run = assert_rejected(&env, &repo, &["demo", "--workspace-path", file.to_str().unwrap()], 2);
    assert!(run.stderr.contains("not a directory"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me\n");
    // The same with --blocked-policy: the path is refused before the gate.
    assert_rejected(
        &env,
        &repo,
        &["demo", "--blocked-policy", "--workspace-path", file.to_str().unwrap()],
        2,
    );
}

#[test]
fn workspace_path_that_cannot_be_created() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let file = env.root().join("a-file");
    std::fs::write(&file, "").unwrap();
    let ws = file.join("sub/ws");
    let run = assert_rejected(&env, &repo, &["demo", "--workspace-path", ws.to_str().unwrap()], 2);
    assert!(
        run.stderr.contains("cannot use workspace path") || run.stderr.contains("cannot create workspace"),
        "{}",
        run.stderr
    );
}

#[test]
fn workspace_path_that_holds_other_files() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let ws = env.root().join("busy");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("notes.txt"), "mine\n").unwrap();
    let run = assert_rejected(&env, &repo, &["demo", "--workspace-path", ws.to_str().unwrap()], 2);
    assert!(run.stderr.contains("is not empty"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(ws.join("notes.txt")).unwrap(), "mine\n");
}

#[test]
fn workspace_path_that_is_the_users_checkout() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    assert_rejected(&env, &repo, &["demo", "--workspace-path", "."], 2);
}

#[test]
fn a_dirty_run_worktree_is_not_reused() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let ws = env.root().join("ws");
    env.oc(&repo, ["demo", "--workspace-path", ws.to_str().unwrap()])
        .assert_code(0);
    std::fs::write(ws.join("edit.txt"), "user edit\n").unwrap();
    let run = assert_rejected(&env, &repo, &["demo", "--workspace-path", ws.to_str().unwrap()], 2);
    assert!(run.stderr.contains("uncommitted change"), "{}", run.stderr);
    assert!(ws.join("edit.txt").is_file());
}

#[test]
fn help_and_version_succeed() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let run = env.oc(&repo, ["demo", "--help"]);
    run.assert_code(0);
    assert!(run.stdout.contains("--blocked-policy"));
    let run = env.oc(&repo, ["--version"]);
    run.assert_code(0);
    assert_eq!(run.stdout.trim(), format!("git-oc {}", env!("CARGO_PKG_VERSION")));
}
