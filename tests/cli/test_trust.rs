//! The trust boundary inside a run: what the gate rejects never leaves the machine, only the run
//! branch moves, a failure after the agent leaves the branch at its base or a gated commit, and
//! the evidence directory never enters the change. Each test is an agent that tries on purpose.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

const TOKEN: &str = "ghp_PLANTEDtoken0123456789abcdef";

fn fsck(env: &TestEnv, repo: &Path) {
    env.git(repo, ["fsck", "--strict", "--no-progress"]);
}

/// `git oc run --json … --backend command -- sh -c SCRIPT` with a token in the environment.
fn run_sh(env: &TestEnv, repo: &Path, goal: &str, script: &str, extra: &[&str]) -> (Run, Value) {
    let mut cmd = env.oc_agents(repo);
    cmd.env("GITHUB_TOKEN", TOKEN)
        .args(["run", "--json", "--goal", goal])
        .args(extra)
        .args(["--backend", "command", "--", "sh", "-c", script]);
    let run = Run::from(cmd.output().unwrap());
    let doc = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
    (run, doc)
}

/// `git oc run --json --goal GOAL --backend command -- sh -c SCRIPT`, not started yet.
fn sh_run_command(env: &TestEnv, repo: &Path, goal: &str, script: &str) -> std::process::Command {
    let mut cmd = env.oc_agents(repo);
    cmd.args([
        "run",
        "--json",
        "--goal",
        goal,
        "--backend",
        "command",
        "--",
        "sh",
        "-c",
        script,
    ]);
    cmd
}

/// How many runs the repository's evidence refs record.
fn evidence_refs(env: &TestEnv, repo: &Path) -> usize {
    env.git(repo, ["for-each-ref", "--format=%(refname)", "refs/oc/runs/"])
        .lines()
        .count()
}

fn remote_with_origin(env: &TestEnv, repo: &Path) -> std::path::PathBuf {
    let remote = env.root().join("remote.git");
    env.git(env.root(), ["init", "-q", "--bare", remote.to_str().unwrap()]);
    env.git(repo, ["remote", "add", "origin", remote.to_str().unwrap()]);
    env.git(repo, ["push", "-q", "origin", "main"]);
    remote
}

/// Every object the remote holds, as text, to search for what must never get there.
fn remote_objects(env: &TestEnv, remote: &Path) -> String {
    let out = env.git_output(remote, ["cat-file", "--batch-all-objects", "--batch"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_rejected_commit_never_reaches_the_remote() {
    for (goal, script) in [
        ("leak", r#"echo "token=$GITHUB_TOKEN" > leaked.txt"#),
        // The key's text is made by the script, so that the argv in command.json does not hold it.
        (
            "key",
            "mkdir -p .ssh && printf 'PRIVATE%sMATERIAL' KEY > .ssh/id_rsa && cat .ssh/id_rsa",
        ),
        // In a binary file, where the patch shows it encoded.
        ("binary", r#"printf '\000\001%s\000\377' "$GITHUB_TOKEN" > blob.bin"#),
        // Encoded by the agent, to get it past a search for its value.
        (
            "base64",
            r#"printf 'config: {"t": "%s"}' "$GITHUB_TOKEN" | base64 -w0 > leaked.b64"#,
        ),
        (
            "hex",
            r#"printf 'x%s' "$GITHUB_TOKEN" | od -An -tx1 | tr -d ' \n' > leaked.hex"#,
        ),
        // The agent commits the secret itself, on the run branch.
        (
            "self-commit",
            r#"echo "token=$GITHUB_TOKEN" > leaked.txt && git add leaked.txt && git -c user.name=a -c user.email=a@x commit -qm leak"#,
        ),
    ] {
        let env = TestEnv::new();
        let repo = env.repo("r");
        let remote = remote_with_origin(&env, &repo);
        let base = env.git(&repo, ["rev-parse", "main"]);
        let (run, doc) = run_sh(&env, &repo, goal, script, &[]);
        run.assert_code(1);
        assert_eq!(doc["summary"]["outcome_status"], "blocked", "{goal}");
        assert_eq!(doc["summary"]["rejected"], true);
        let commit = doc["git"]["commit"].as_str().unwrap();
        let id = doc["summary"]["run_id"].as_str().unwrap();
        assert_eq!(
            env.git(&repo, ["rev-parse", doc["summary"]["branch"].as_str().unwrap()]),
            base
        );
        assert_eq!(env.git(&repo, ["rev-parse", &format!("refs/oc/rejected/{id}")]), commit);

        env.oc(&repo, ["push"]).assert_code(0);
        assert_eq!(
            env.git(&remote, ["for-each-ref", "--format=%(refname)", "refs/oc/runs/"]),
            format!("refs/oc/runs/{id}"),
            "the evidence of the rejected run is published"
        );
        let objects = remote_objects(&env, &remote);
        assert!(!objects.contains(TOKEN), "{goal}: the token reached the remote");
        assert!(
            !objects.contains("PRIVATEKEYMATERIAL"),
            "{goal}: the key reached the remote"
        );
        assert!(
            !env.git_output(&remote, ["cat-file", "-e", commit]).status.success(),
            "{goal}: the rejected commit reached the remote"
        );
        assert!(
            remote_objects(&env, &remote).contains("withheld"),
            "the evidence says the patch is withheld"
        );
        fsck(&env, &repo);
    }
}

#[test]
fn only_the_run_branch_ever_moves() {
    for script in [
        "git checkout -q --ignore-other-worktrees main && echo evil > evil.txt",
        "git checkout -q -b my-feature && echo evil > evil.txt",
        "git checkout -q --detach && echo evil > evil.txt",
        // Moves HEAD and commits there by itself.
        "git checkout -q --ignore-other-worktrees main && echo evil > evil.txt && git add evil.txt && git -c user.name=a -c user.email=a@x commit -qm evil",
    ] {
        let env = TestEnv::new();
        let repo = env.repo("r");
        let before = env.checkout_state(&repo);
        let refs_before = env.git(
            &repo,
            ["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/"],
        );
        let (run, doc) = run_sh(&env, &repo, "switch", script, &[]);
        run.assert_code(1);
        assert_eq!(doc["summary"]["outcome_status"], "failed", "{script}");
        let reason = doc["summary"]["reason"].as_str().unwrap();
        assert!(reason.contains("switched the worktree's HEAD"), "{script}: {reason}");
        assert!(doc["git"]["commit"].is_null(), "{script}: nothing is committed");
        assert!(doc["summary"]["run_id"].is_string(), "the evidence is complete");
        let commits_on_main = env.git(&repo, ["rev-list", "--count", "main"]);
        if script.ends_with("-qm evil") {
            // The agent itself committed on main: git-oc cannot undo that, but it said so.
            assert_eq!(commits_on_main, "2");
            continue;
        }
        assert_eq!(
            env.checkout_state(&repo),
            before,
            "{script}: the user's checkout is untouched"
        );
        let refs_after = env.git(
            &repo,
            ["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/"],
        );
        let new: Vec<&str> = refs_after.lines().filter(|l| !refs_before.contains(l)).collect();
        assert!(
            new.iter()
                .all(|l| l.starts_with("refs/heads/oc/") || l.starts_with("refs/heads/my-feature")),
            "{script}: git-oc moved {new:?}"
        );
        fsck(&env, &repo);
    }
}

#[test]
fn a_held_index_lock_leaves_the_branch_at_its_base_or_a_gated_commit() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let base = env.git(&repo, ["rev-parse", "main"]);
    let script = r#"echo "token=$GITHUB_TOKEN" > t.txt && mkdir -p .ssh && echo k > .ssh/id_rsa && touch "$(git rev-parse --git-dir)/index.lock""#;
    let (run, doc) = run_sh(&env, &repo, "lock", script, &[]);
    run.assert_code(1);
    let branch = doc["summary"]["branch"].as_str().unwrap();
    assert_eq!(
        env.git(&repo, ["rev-parse", branch]),
        base,
        "the ungated commit is not on the branch"
    );
    assert_eq!(doc["summary"]["rejected"], true);

    // A harmless change with the lock held: the branch holds the gated commit.
    let (run, doc) = run_sh(
        &env,
        &repo,
        "lock harmless",
        r#"echo fine > fine.txt && touch "$(git rev-parse --git-dir)/index.lock""#,
        &[],
    );
    run.assert_code(0);
    let commit = doc["git"]["commit"].as_str().unwrap();
    assert_eq!(
        env.git(&repo, ["rev-parse", doc["summary"]["branch"].as_str().unwrap()]),
        commit
    );
}

#[test]
fn the_evidence_directory_never_enters_the_change() {
    for script in [
        "rm -f .operations_center/.gitignore && mkdir -p .operations_center/runs/forged && echo '{}' > .operations_center/runs/forged/result.json && echo ok > ok.txt",
        "git clean -q -fdx && echo ok > ok.txt",
        "mkdir -p .operations_center && echo forged > .operations_center/x && git add -f .operations_center/x && echo ok > ok.txt",
    ] {
        let env = TestEnv::new();
        let repo = env.repo("r");
        let (run, doc) = run_sh(&env, &repo, "forge", script, &[]);
        let commit = doc["git"]["commit"]
            .as_str()
            .unwrap_or_else(|| panic!("{script}: {}", run.stderr));
        let files = env.git(&repo, ["ls-tree", "-r", "--name-only", commit]);
        assert!(!files.contains(".operations_center"), "{script}: {files}");
        assert!(files.contains("ok.txt"), "{script}");
    }
}

#[test]
fn reports_tell_the_truth_about_partial_changes_and_validation_leftovers() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (run, doc) = run_sh(
        &env,
        &repo,
        "slow",
        "echo partial > p.txt; exec sleep 1000",
        &["--timeout", "1"],
    );
    run.assert_code(1);
    assert_eq!(doc["summary"]["outcome_status"], "timed_out");
    assert_eq!(doc["summary"]["diff_stat"], "1 file changed, 1 insertion(+)");
    assert!(doc["git"]["commit"].is_null());

    let (run, doc) = run_sh(
        &env,
        &repo,
        "built",
        "echo src > src.txt",
        &["--validate", "echo built > build.out && echo more >> src.txt"],
    );
    run.assert_code(0);
    let worktree = doc["git"]["worktree"].as_str().unwrap();
    assert_eq!(
        env.git(Path::new(worktree), ["status", "--porcelain"]),
        "",
        "validation output is tidied away"
    );
    let commit = doc["git"]["commit"].as_str().unwrap();
    assert_eq!(env.git(&repo, ["show", &format!("{commit}:src.txt")]), "src");
}

#[test]
fn demo_runs_stay_local_and_real_runs_are_published() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let remote = remote_with_origin(&env, &repo);
    env.oc(&repo, ["init"]).assert_code(0);
    let demo = env.oc(&repo, ["demo", "--json"]);
    demo.assert_code(0);
    let demo_id = demo.json()["result"]["run_id"].as_str().unwrap().to_owned();
    env.oc(&repo, ["demo", "--blocked-policy"]).assert_code(1);
    let (run, doc) = run_sh(&env, &repo, "real", "echo real > real.txt", &[]);
    run.assert_code(0);
    let run_id = doc["summary"]["run_id"].as_str().unwrap().to_owned();

    // Both are readable here, with git oc and with plain git.
    let listed = env.oc(&repo, ["runs", "--json"]).json();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    env.oc(&repo, ["show", &demo_id]).assert_code(0);
    assert!(
        env.git(&repo, ["log", "--notes=oc-demo", "--all", "--format=%N"])
            .contains(&demo_id)
    );

    env.oc(&repo, ["push"]).assert_code(0);
    let published = env.git(&remote, ["for-each-ref", "--format=%(refname)"]);
    assert!(published.contains(&format!("refs/oc/runs/{run_id}")), "{published}");
    assert!(
        !published.contains("refs/oc/demo") && !published.contains("oc-demo"),
        "{published}"
    );
    let remote_notes = env.git(&remote, ["log", "--notes=oc", "--format=%N", "main"]);
    assert!(
        !remote_notes.contains("demo_stub"),
        "demo note blocks reached the remote: {remote_notes}"
    );
    assert!(
        !remote_objects(&env, &remote).contains(&demo_id),
        "the demo run id reached the remote"
    );
}

#[test]
fn secrets_never_reach_branch_names_or_clone_urls() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let before = env.state(&repo);
    let mut cmd = env.oc_agents(&repo);
    cmd.env("GITHUB_TOKEN", TOKEN)
        .args(["run", "--goal", "x", "--branch", &format!("leak/{TOKEN}")])
        .args(["--backend", "command", "--", "fake-agent", "edit"]);
    let run = Run::from(cmd.output().unwrap());
    run.assert_clean_error(2);
    assert!(!run.stderr.contains(TOKEN), "{}", run.stderr);
    assert_eq!(env.state(&repo), before, "nothing was created");

    env.git(
        &repo,
        [
            "remote",
            "add",
            "origin",
            "https://someone:hunter2secret@example.com/team/r.git",
        ],
    );
    let (run, doc) = run_sh(&env, &repo, "url", "echo x > x.txt", &[]);
    run.assert_code(0);
    let id = doc["summary"]["run_id"].as_str().unwrap();
    let proposal = String::from_utf8(env.evidence(&repo, id, "proposal.json")).unwrap();
    assert!(!proposal.contains("hunter2secret"), "{proposal}");
    assert!(proposal.contains("example.com/team/r.git"), "{proposal}");
}

#[test]
fn push_refuses_a_forged_ref_that_reaches_a_rejected_commit() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let remote = remote_with_origin(&env, &repo);
    // The agent commits the secret itself, then forges an evidence ref on top of its commit.
    let script = r#"echo "token=$GITHUB_TOKEN" > leaked.txt && git add leaked.txt && git -c user.name=a -c user.email=a@x commit -qm leak && c=$(git -c user.name=a -c user.email=a@x commit-tree -p HEAD -m "Oc-Run: 11111111-1111-4111-8111-111111111111" "$(git rev-parse HEAD^{tree})") && git update-ref refs/oc/runs/11111111-1111-4111-8111-111111111111 "$c""#;
    let (run, doc) = run_sh(&env, &repo, "forge", script, &[]);
    run.assert_code(1);
    assert_eq!(doc["summary"]["rejected"], true);
    // Recorded while the agent ran by no run git-oc knew: held first.
    let push = env.oc(&repo, ["push"]);
    push.assert_clean_error(1);
    assert!(push.stderr.contains("held"), "{}", push.stderr);
    // Released (as if it were a run of yours), it still reaches the rejected commit.
    env.oc(&repo, ["release", "11111111"]).assert_code(0);
    let push = env.oc(&repo, ["push"]);
    push.assert_clean_error(1);
    assert!(push.stderr.contains("rejected"), "{}", push.stderr);
    assert!(
        !remote_objects(&env, &remote).contains(TOKEN),
        "the token reached the remote"
    );
}

/// The same commit parked where the remote seems to have it (a branch, a remote-tracking ref) and
/// carried by a ref `git oc push` publishes (an autonomy snapshot's): what the remote has is read
/// from the remote, so it is refused all the same.
#[test]
fn push_refuses_a_rejected_commit_hidden_behind_a_branch() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let remote = remote_with_origin(&env, &repo);
    let script = r#"echo "token=$GITHUB_TOKEN" > leaked.txt && git add leaked.txt && git -c user.name=a -c user.email=a@x commit -qm leak && git update-ref refs/heads/parked HEAD && git update-ref refs/remotes/origin/parked HEAD && git update-ref refs/oc/observations/parked HEAD"#;
    let (run, doc) = run_sh(&env, &repo, "park", script, &[]);
    run.assert_code(1);
    assert_eq!(doc["summary"]["rejected"], true);
    // The made-up record is held first; released, it still reaches the rejected commit.
    env.oc(&repo, ["push"]).assert_clean_error(1);
    env.oc(&repo, ["release", "parked"]).assert_code(0);
    let push = env.oc(&repo, ["push"]);
    push.assert_clean_error(1);
    assert!(push.stderr.contains("keeps local"), "{}", push.stderr);
    assert!(
        !remote_objects(&env, &remote).contains(TOKEN),
        "the token reached the remote"
    );
}

/// An agent can put a FIFO where git's index was, in its worktree or in your checkout: anything
/// that opens it then blocks until someone writes, and no signal ends that `open`. git-oc must
/// never open it: the run fails with a one-line error (the checkout case also warns),
/// and nothing hangs. A writer that can open a FIFO proves a reader is blocked on it: that
/// writer unblocks git-oc and the test fails.
#[test]
fn a_fifo_in_place_of_an_index_never_hangs_a_run() {
    for (case, target) in [
        ("worktree", "$(git rev-parse --git-path index)"),
        ("checkout", "$(git rev-parse --git-common-dir)/index"),
    ] {
        let env = TestEnv::new();
        let repo = env.repo("r");
        let index_path = match case {
            "checkout" => repo.join(".git/index"),
            _ => repo.join(".git/worktrees"),
        };
        let script = format!("i=\"{target}\"; rm -f \"$i\"; mkfifo \"$i\"; echo x > made.txt");
        let cmd = sh_run_command(&env, &repo, "fifo", &script);
        let (run, blocked) = run_unblocking_fifos(cmd, &index_path);
        assert!(!blocked, "{case}: git-oc blocked opening a FIFO in place of the index");
        let doc = run.json();
        // Either way the run fails, saying why; your checkout's index is also a warning.
        run.assert_code(1);
        let reason = doc["summary"]["reason"].as_str().unwrap_or_default();
        let expected = match case {
            "worktree" => "not a regular file",
            _ => "a named pipe (FIFO) at",
        };
        assert!(reason.contains(expected), "{case}: {}", doc["summary"]);
        if case == "checkout" {
            assert!(
                doc["summary"]["warnings"]
                    .to_string()
                    .contains("your checkout could not be checked after the agent ran"),
                "{}",
                doc["summary"]
            );
        }
    }
}

/// Run `cmd` to its end, opening for writing every FIFO under `watched` meanwhile, so that a
/// reader blocked on one is let go and a regression fails the test instead of hanging it. Says
/// whether one was blocked: a thread of `cmd` or of a process it started waiting in the kernel
/// for a FIFO's writer (`wait_for_partner`) before the open. (An open that succeeds says only
/// that a reader has it open, as git-oc does for an instant with `O_NONBLOCK` to see what it
/// is: counting that made the test fail now and then with git-oc never blocked.)
fn run_unblocking_fifos(mut cmd: std::process::Command, watched: &Path) -> (Run, bool) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut blocked = false;
    while child.try_wait().unwrap().is_none() {
        let waiting = waiting_for_a_fifo(child.id());
        for fifo in fifos_under(watched) {
            if std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo)
                .is_ok()
            {
                // Where the kernel does not say what a thread waits for, a reader is a block.
                blocked |= waiting.unwrap_or(true);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    (Run::from(child.wait_with_output().unwrap()), blocked)
}

/// Whether a thread of process `pid` or of one of its descendants waits for a FIFO's other end
/// to be opened; `None` when `/proc` does not tell.
fn waiting_for_a_fifo(pid: u32) -> Option<bool> {
    let mut pending = vec![pid.to_string()];
    let mut told = false;
    while let Some(pid) = pending.pop() {
        let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for thread in threads.flatten() {
            let dir = thread.path();
            if let Ok(wchan) = std::fs::read_to_string(dir.join("wchan")) {
                if wchan.trim() == "wait_for_partner" {
                    return Some(true);
                }
                told |= wchan.trim() != "0" && !wchan.trim().is_empty();
            }
            if let Ok(children) = std::fs::read_to_string(dir.join("children")) {
                pending.extend(children.split_whitespace().map(str::to_owned));
            }
        }
    }
    told.then_some(false)
}

/// An agent that leaves a named pipe where git reads (in its worktree, in a repository nested in
/// it, among the repository's own files, in your checkout) never hangs git-oc: the run fails
/// saying where the pipe is, or, in your checkout, the run warns that it could not be checked.
/// A pipe where git never reads is passed by, as git does; one in place of a file git-oc guards
/// (`info/exclude`) is put back with the file.
#[test]
fn a_named_pipe_where_git_reads_never_hangs_a_run() {
    let common = "$(git rev-parse --git-common-dir)";
    let cases = [
        (
            "worktree .gitignore",
            "mkfifo .gitignore".to_owned(),
            Some(".gitignore"),
        ),
        (
            "nested .gitattributes",
            "mkdir d && mkfifo d/.gitattributes".to_owned(),
            Some("d/.gitattributes"),
        ),
        (".gitmodules", "mkfifo .gitmodules".to_owned(), Some(".gitmodules")),
        (
            "nested repository",
            "mkdir -p s/.git && mkfifo s/.git/config".to_owned(),
            Some("s/.git/config"),
        ),
        // Guarded like git's configuration: put back (the pipe taken out) before git reads it.
        (
            "exclude file",
            format!("rm -f {common}/info/exclude; mkfifo {common}/info/exclude"),
            None,
        ),
        (
            "a loose ref",
            format!("mkfifo {common}/refs/heads/pipe"),
            Some(".git/refs/heads/pipe"),
        ),
        ("checkout .gitignore", format!("mkfifo {common}/../.gitignore"), None),
        ("a pipe git never reads", "mkfifo pipe".to_owned(), None),
    ];
    for (case, plant, failure) in cases {
        let env = TestEnv::new();
        let repo = env.repo("r");
        let script = format!("{plant} && echo x > made.txt");
        let cmd = sh_run_command(&env, &repo, "pipe", &script);
        let (run, blocked) = run_unblocking_fifos(cmd, &repo);
        assert!(!blocked, "{case}: git-oc blocked opening a FIFO");
        let doc = run.json();
        let summary = doc["summary"].to_string();
        match failure {
            Some(path) => {
                run.assert_code(1);
                let reason = doc["summary"]["reason"].as_str().unwrap_or_default();
                assert!(
                    reason.contains("a named pipe (FIFO) at") && reason.contains(path),
                    "{case}: {summary}"
                );
            }
            None => {
                run.assert_code(0);
                let warned = summary.contains("your checkout could not be checked after the agent ran");
                assert_eq!(warned, case == "checkout .gitignore", "{case}: {summary}");
                if case == "exclude file" {
                    assert!(summary.contains("info/exclude"), "{case}: {summary}");
                    assert!(repo.join(".git/info/exclude").is_file(), "{case}: not put back");
                }
            }
        }
    }
}

/// git-oc's mutex files live in `.git/oc/`, where the agent can write: one replaced by a symlink
/// to a file of yours must never have that file written over (git-oc marks what it edits in its
/// mutex), and one replaced by a FIFO must never block. The ref edits go ahead without it.
#[test]
fn a_mutex_the_agent_replaced_never_writes_over_your_file() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    // With packed refs, every ref edit takes the ref mutex.
    env.git(&repo, ["pack-refs", "--all"]);
    let victim = env.root().join("precious.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let mut runs = 0;
    for plant in [format!("ln -s '{}'", victim.display()), "mkfifo".to_owned()] {
        let script = format!(
            "m=\"$(git rev-parse --git-common-dir)/oc/refs.mutex\"; rm -f \"$m\"; {plant} \"$m\"; echo x > made.txt"
        );
        let cmd = sh_run_command(&env, &repo, "mutex", &script);
        let (run, blocked) = run_unblocking_fifos(cmd, &repo.join(".git/oc"));
        assert!(!blocked, "{plant}: git-oc blocked on its mutex");
        run.assert_code(0);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n", "{plant}");
        runs += 1;
        assert_eq!(evidence_refs(&env, &repo), runs, "{plant}: the run was recorded");
    }
}

/// The evidence directory is in the agent's worktree: a symlink the agent left at
/// `.operations_center`, at its `runs`, or at the run's own directory never has git-oc write
/// outside the worktree (evidence files, or a `.gitignore` in place of yours). The run is
/// recorded as usual.
#[test]
fn a_symlinked_evidence_directory_never_sends_evidence_elsewhere() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let outside = env.root().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join(".gitignore"), "mine\n").unwrap();
    let target = outside.display().to_string();
    let mut runs = 0;
    for at in [
        ".operations_center",
        ".operations_center/runs",
        ".operations_center/runs/$GIT_OC_RUN_ID",
    ] {
        let script = format!("rm -rf \"{at}\"; ln -s '{target}' \"{at}\"; echo x > made.txt");
        Run::from(sh_run_command(&env, &repo, "evidence", &script).output().unwrap()).assert_code(0);
        let left: Vec<_> = std::fs::read_dir(&outside)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, [".gitignore"], "{at}: git-oc wrote outside the worktree");
        assert_eq!(
            std::fs::read_to_string(outside.join(".gitignore")).unwrap(),
            "mine\n",
            "{at}"
        );
        runs += 1;
        assert_eq!(evidence_refs(&env, &repo), runs, "{at}: the run was recorded");
    }
}

/// A ref edit appends to the ref's reflog in `.git/logs/`, where the agent can write: a symlink
/// it left at the run branch's reflog or at the notes' never has git-oc append to the file it
/// points at. The logs start anew.
#[test]
fn a_symlinked_reflog_never_has_a_line_appended_to_your_file() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let victim = env.root().join("precious.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let v = victim.display();
    let script = format!(
        "c=\"$(git rev-parse --git-common-dir)\"; \
         for log in \"$c/logs/$(git symbolic-ref HEAD)\" \"$c/logs/refs/notes/oc\"; do \
         mkdir -p \"$(dirname \"$log\")\"; rm -f \"$log\"; ln -s '{v}' \"$log\"; done; echo x > made.txt"
    );
    let run = Run::from(sh_run_command(&env, &repo, "reflog", &script).output().unwrap());
    run.assert_code(0);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let branches = env.git(&repo, ["for-each-ref", "--format=%(refname)", "refs/heads/oc/"]);
    let branch = branches.lines().next().expect("the run's branch");
    for log in [
        repo.join(".git/logs").join(branch),
        repo.join(".git/logs/refs/notes/oc"),
    ] {
        assert!(
            std::fs::symlink_metadata(&log).is_ok_and(|m| m.is_file()),
            "{}",
            log.display()
        );
    }
}

/// The task board keeps a cache of task summaries in `.git/oc/`, where an agent can write: a
/// FIFO in its place never blocks a listing (a worker lists the board every round).
#[test]
fn a_fifo_in_place_of_the_board_cache_never_hangs_a_listing() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.run_agent(&repo, ["task", "add", "First", "--repo", "r"])
        .assert_code(0);
    let cache = repo.join(".git/oc/task-summaries");
    std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&cache);
    mkfifo(&cache);
    let mut cmd = env.oc_agents(&repo);
    cmd.args(["task", "list"]);
    let (run, blocked) = run_unblocking_fifos(cmd, &repo.join(".git/oc"));
    assert!(!blocked, "git-oc blocked reading its task cache");
    run.assert_code(0);
    assert!(run.stdout.contains("First"), "{}", run.stdout);
}

/// What `git oc status` and `git oc gc` read from `.git/oc/` (the lanes' status files, the runs
/// in flight) and from `.git/worktrees/` (a worktree's HEAD): FIFOs there, which an agent can
/// make, never block them.
#[test]
fn fifos_among_git_ocs_state_never_hang_status_or_gc() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.run_agent(
        &repo,
        ["run", "--goal", "one run", "--backend", "command", "--", "fake-agent"],
    )
    .assert_code(0);
    let admin = std::fs::read_dir(repo.join(".git/worktrees"))
        .unwrap()
        .flatten()
        .next()
        .expect("the run's worktree")
        .path();
    for path in [
        repo.join(".git/oc/lanes/goal-1.json"),
        repo.join(".git/oc/inflight/0123.json"),
        repo.join(".git/oc/running/0123.json"),
        admin.join("HEAD"),
    ] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&path);
        mkfifo(&path);
    }
    for args in [&["status"][..], &["gc", "--dry-run"][..]] {
        let mut cmd = env.oc_agents(&repo);
        cmd.args(args);
        let (run, blocked) = run_unblocking_fifos(cmd, &repo.join(".git"));
        assert!(!blocked, "git oc {args:?} blocked on a FIFO: {}", run.stderr);
        assert!(
            run.code == 0 || run.stderr.starts_with("error:"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// The FIFOs at `path` or anywhere under it.
fn fifos_under(path: &Path) -> Vec<std::path::PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Vec::new();
    };
    if meta.file_type().is_fifo() {
        return vec![path.to_owned()];
    }
    if !meta.is_dir() {
        return Vec::new();
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|e| fifos_under(&e.path()))
        .collect()
}

/// An agent is given the environment's token and can write into git-oc's refs: a note on any
/// commit, a made-up evidence ref. `git oc push` publishes neither: the made-up run is refused
/// for what it is and the atomic push leaves the remote as it was; the note, which the run took
/// out again, stays in the local notes' history, which a push never publishes (it sends the
/// notes' tree on the remote's tip).
#[test]
fn push_never_publishes_a_secret_or_a_run_an_agent_wrote_into_gits_refs() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let remote = remote_with_origin(&env, &repo);
    let script = r#"git notes --ref=oc add -f -m "leak $GITHUB_TOKEN" main && git update-ref refs/oc/runs/made-up main && echo ok > f.txt"#;
    let (run, doc) = run_sh(&env, &repo, "plant", script, &[]);
    run.assert_code(0);
    let id = doc["summary"]["run_id"].as_str().unwrap().to_owned();
    let before = env.git(&remote, ["for-each-ref"]);
    let push = |env: &TestEnv| {
        Run::from(
            env.oc_agents(&repo)
                .env("GITHUB_TOKEN", TOKEN)
                .arg("push")
                .output()
                .unwrap(),
        )
    };

    let refused = push(&env);
    refused.assert_clean_error(1);
    assert!(refused.stderr.contains("refs/oc/runs/made-up"), "{}", refused.stderr);
    env.git(&repo, ["update-ref", "-d", "refs/oc/runs/made-up"]);

    assert_eq!(env.git(&remote, ["for-each-ref"]), before, "the remote is as it was");

    // The run took the planted note out (it is no block of git-oc's); the local notes' history
    // still holds it, and stays home.
    assert!(doc["summary"]["warnings"].to_string().contains("taken out"));
    assert!(
        !env.git_output(&repo, ["notes", "--ref=oc", "show", "main"])
            .status
            .success()
    );
    assert!(env.git(&repo, ["log", "-p", "refs/notes/oc"]).contains(TOKEN));
    push(&env).assert_code(0);
    assert_eq!(
        env.git(&remote, ["for-each-ref", "--format=%(refname)", "refs/oc/runs/"]),
        format!("refs/oc/runs/{id}")
    );
    assert!(
        !remote_objects(&env, &remote).contains(TOKEN),
        "the token reached the remote"
    );
}

/// An agent can commit a tree git itself refuses (`git hash-object --literally`): entries out of
/// order and twice, or a `.git` entry that would overwrite a repository's internals wherever it
/// is checked out. The snapshot builds on what the agent committed, so such a tree must fail
/// the run: nothing committed, the branch back at its base, the agent's commit kept only at
/// `refs/oc/rejected/<run_id>`, and a remote that checks what it receives takes the evidence.
#[test]
fn a_tree_git_would_refuse_never_becomes_a_run_commit() {
    const PLANT: &str = r#"python3 - "$1" <<'PY'
import subprocess, sys
def git(*a, data=None):
    return subprocess.run(["git", *a], input=data, capture_output=True, check=True).stdout.decode().strip()
blob = git("hash-object", "-w", "--stdin", data=b"x\n")
def tree(entries):
    raw = b"".join(f"{m} {n}\0".encode() + bytes.fromhex(i) for m, n, i in entries)
    return git("hash-object", "-t", "tree", "--literally", "-w", "--stdin", data=raw)
if sys.argv[1] == "twice":
    root = tree([("100644", "b", blob), ("100644", "a", blob), ("100644", "a", blob)])
else:
    inner = tree([("100644", ".git", blob)])
    root = tree([("100644", "README.md", blob), ("40000", "sub", inner)])
git("update-ref", "HEAD", git("commit-tree", root, "-p", "HEAD", "-m", "planted"))
PY
echo more >> README.md"#;
    for (case, says) in [
        ("twice", "the top directory lists \"a\" out of order"),
        ("dotgit", "sub/ holds an entry named \".git\""),
    ] {
        let env = TestEnv::new();
        let repo = env.repo("r");
        let remote = remote_with_origin(&env, &repo);
        env.git(&remote, ["config", "receive.fsckObjects", "true"]);
        let base = env.git(&repo, ["rev-parse", "main"]);
        let (run, doc) = run_sh(&env, &repo, case, &format!("set -- {case}\n{PLANT}"), &[]);
        run.assert_code(1);
        assert!(
            says_anywhere(&doc, &format!("the run's tree is malformed: {says}")),
            "{case}: {}",
            run.stdout
        );
        assert!(doc["git"]["commit"].is_null(), "{case}: nothing is committed");
        let id = doc["summary"]["run_id"].as_str().unwrap();
        let branch = doc["summary"]["branch"].as_str().unwrap();
        assert_eq!(
            env.git(&repo, ["rev-parse", branch]),
            base,
            "{case}: the branch is back at its base"
        );
        let kept = env.git(&repo, ["rev-parse", &format!("refs/oc/rejected/{id}")]);
        assert_eq!(env.git(&repo, ["log", "-1", "--format=%s", &kept]), "planted");
        env.oc(&repo, ["push"]).assert_code(0);
        assert_eq!(
            env.git(&remote, ["for-each-ref", "--format=%(refname)", "refs/oc/runs/"]),
            format!("refs/oc/runs/{id}")
        );
        fsck(&env, &remote);
    }
}

/// Whether any text in `doc` contains `text`.
fn says_anywhere(doc: &Value, text: &str) -> bool {
    match doc {
        Value::String(s) => s.contains(text),
        Value::Array(a) => a.iter().any(|v| says_anywhere(v, text)),
        Value::Object(o) => o.values().any(|v| says_anywhere(v, text)),
        _ => false,
    }
}

/// An agent that commits on the run branch and then fails leaves work no gate looked at: the
/// branch goes back to its base, the agent's commit is kept only at `refs/oc/rejected/<run_id>`
/// (never pushed), and its changes stay in the worktree, uncommitted.
#[test]
fn a_failed_agents_own_commit_is_taken_off_the_branch() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let remote = remote_with_origin(&env, &repo);
    let base = env.git(&repo, ["rev-parse", "main"]);
    let script = r#"echo "token=$GITHUB_TOKEN" > leaked.txt && git add leaked.txt && git -c user.name=a -c user.email=a@x commit -qm leak && exit 3"#;
    let (run, doc) = run_sh(&env, &repo, "fail", script, &[]);
    run.assert_code(1);
    assert_eq!(doc["summary"]["outcome_status"], "failed", "{}", run.stdout);
    let id = doc["summary"]["run_id"].as_str().unwrap();
    let branch = doc["summary"]["branch"].as_str().unwrap();
    assert_eq!(env.git(&repo, ["rev-parse", branch]), base);
    let kept = env.git(&repo, ["rev-parse", &format!("refs/oc/rejected/{id}")]);
    assert_eq!(env.git(&repo, ["log", "-1", "--format=%s", &kept]), "leak");
    let worktree = std::path::PathBuf::from(doc["git"]["worktree"].as_str().unwrap());
    assert_eq!(env.git(&worktree, ["status", "--porcelain"]), "A  leaked.txt");
    env.oc(&repo, ["push"]).assert_code(0);
    assert!(
        !remote_objects(&env, &remote).contains(TOKEN),
        "the token reached the remote"
    );
    fsck(&env, &repo);
}

/// The gate judges the run's change as a whole, so commits the agent made on the way were never
/// judged one by one: one may add a token that the next removes. The run branch gets one commit
/// of git-oc's on the base; the agent's commits are kept aside, never published, and a ref an
/// agent forges on top of one of them is refused by `git oc push`.
#[test]
fn an_agents_own_commits_never_reach_the_branch_or_the_remote() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let remote = remote_with_origin(&env, &repo);
    let base = env.git(&repo, ["rev-parse", "main"]);
    let script = r#"c() { git -c user.name=a -c user.email=a@x commit -qm "$1"; }
echo "token=$GITHUB_TOKEN" > t.txt && git add t.txt && c add-token && first=$(git rev-parse HEAD) &&
git rm -q t.txt && c remove-token && echo ok > f.txt && git add f.txt && c work &&
forged=$(git -c user.name=a -c user.email=a@x commit-tree -p "$first" -m "Oc-Run: 22222222-2222-4222-8222-222222222222" "$(git rev-parse "$first^{tree}")") &&
git update-ref refs/oc/runs/22222222-2222-4222-8222-222222222222 "$forged""#;
    let (run, doc) = run_sh(&env, &repo, "commits", script, &[]);
    run.assert_code(0);
    assert_eq!(doc["summary"]["outcome_status"], "executed", "{}", run.stdout);
    let id = doc["summary"]["run_id"].as_str().unwrap();
    let branch = doc["summary"]["branch"].as_str().unwrap();
    let commit = doc["git"]["commit"].as_str().unwrap();
    assert_eq!(env.git(&repo, ["rev-parse", branch]), commit);
    assert_eq!(
        env.git(&repo, ["rev-parse", &format!("{commit}^")]),
        base,
        "one commit on the base"
    );
    assert!(
        env.git(&repo, ["log", "-1", "--format=%B", commit])
            .contains(&format!("Oc-Run: {id}"))
    );
    assert_eq!(env.git(&repo, ["diff", "--name-only", &base, commit]), "f.txt");
    assert_eq!(
        env.git(
            &repo,
            ["log", "-1", "--format=%s", &format!("refs/oc/rejected/{id}.agent")]
        ),
        "work"
    );
    let push = env.oc(&repo, ["push"]);
    push.assert_clean_error(1);
    assert!(
        push.stderr.contains("22222222-2222-4222-8222-222222222222"),
        "{}",
        push.stderr
    );
    env.git(
        &repo,
        ["update-ref", "-d", "refs/oc/runs/22222222-2222-4222-8222-222222222222"],
    );
    env.oc(&repo, ["push"]).assert_code(0);
    assert!(
        !remote_objects(&env, &remote).contains(TOKEN),
        "the token reached the remote"
    );
}

/// The repository's configuration and hooks are shared by every worktree, and an agent can
/// write them: a command planted there (`remote.origin.receivepack`, a `pre-push` hook) would
/// run later with your rights, in `git oc push` or in your own git. After the agent, both are
/// put back as they were (your own settings stay), and the run says so.
#[test]
fn a_command_an_agent_plants_in_git_config_or_hooks_never_runs() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    remote_with_origin(&env, &repo);
    env.git(&repo, ["config", "oc.test.mine", "kept"]);
    let marker = env.root().join("planted-ran");
    let script = format!(
        r#"git config remote.origin.receivepack "sh -c 'touch {m}; exec git-receive-pack \"\$@\"' --" &&
hooks=$(git rev-parse --git-common-dir)/hooks && mkdir -p "$hooks" &&
printf '#!/bin/sh\ntouch {m}\n' > "$hooks/pre-push" && chmod +x "$hooks/pre-push" &&
git config --unset oc.test.mine && echo ok > f.txt"#,
        m = marker.display()
    );
    let (run, doc) = run_sh(&env, &repo, "plant", &script, &[]);
    run.assert_code(0);
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(warnings.contains("put back as they were"), "{warnings}");
    assert!(warnings.contains("hooks/pre-push"), "{warnings}");
    assert_eq!(env.git(&repo, ["config", "oc.test.mine"]), "kept");
    assert!(
        !env.git_output(&repo, ["config", "remote.origin.receivepack"])
            .status
            .success(),
        "the planted command is gone"
    );
    env.oc(&repo, ["push"]).assert_code(0);
    env.git(&repo, ["push", "-q", "origin", "HEAD:refs/heads/probe"]);
    assert!(!marker.exists(), "the planted command ran");
}

/// git-oc's own configuration sets the gate's policy for every later run: the checkout's
/// `.oc/config.toml` (outside the agent's worktree) and the user's git-oc configuration. An agent
/// that loosens the policy there has both put back as they were when it ends, and the run says so.
#[test]
fn an_agent_that_loosens_the_policy_in_git_ocs_configuration_has_it_put_back() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let mine = "[run]\ntimeout = 600\n";
    std::fs::create_dir_all(repo.join(".oc")).unwrap();
    std::fs::write(repo.join(".oc/config.toml"), mine).unwrap();
    let loose = "[[policy.repo_policies]]\nrepo_key = \"r\"\nreplace_defaults = true\n";
    let script = format!(
        r#"main="$(git rev-parse --git-common-dir)/.." && printf '{loose}' > "$main/.oc/config.toml" &&
user="${{XDG_CONFIG_HOME:-$HOME/.config}}/git-oc" && mkdir -p "$user" && printf '{loose}' > "$user/config.toml" &&
echo ok > f.txt"#
    );
    let (run, doc) = run_sh(&env, &repo, "loosen", &script, &[]);
    run.assert_code(0);
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(warnings.contains("git-oc's configuration"), "{warnings}");
    assert_eq!(std::fs::read_to_string(repo.join(".oc/config.toml")).unwrap(), mine);
    assert!(
        !env.home().join(".config/git-oc/config.toml").exists(),
        "the user's git-oc configuration was left written"
    );
}

/// In your own repository a task changed while an agent ran may be yours, so it stays; but
/// `git oc push` would publish it, so the run names it: here a task the agent added.
#[test]
fn a_task_added_while_the_agent_ran_is_named_by_the_run() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let oc = env!("CARGO_BIN_EXE_git-oc");
    let script = format!("'{oc}' task add 'Planted' --state ready -m 'do what I say' && echo ok > f.txt");
    let (run, doc) = run_sh(&env, &repo, "plant a task", &script, &[]);
    run.assert_code(0);
    let list = env.oc(&repo, ["--json", "task", "list"]);
    let id = list.json()[0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no planted task: {}", list.stdout))
        .to_owned();
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(warnings.contains("tasks changed while the agent ran"), "{warnings}");
    assert!(warnings.contains(&format!("refs/oc/tasks/{id} (new)")), "{warnings}");
}

/// A task an agent makes Ready in your repository (a new one, or a Done one moved back) is held:
/// `git oc push` refuses to publish it (every worker of the board would run it), `git oc watch`
/// does not run it, an agent that deletes the mark has it put back, and `git oc release` lets
/// each go once read.
#[test]
fn a_task_an_agent_makes_ready_is_held_until_released() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    write_config(&repo, crate::test_lanes::CONFIG);
    env.git(&repo, ["add", "-A"]);
    env.git(&repo, ["commit", "-q", "-m", "config"]);
    let remote = remote_with_origin(&env, &repo);
    let add = |title: &str, state: &str| {
        let body = format!("## Goal\n{title}, across the code base, carefully, as described.\n");
        let run = env.oc(
            &repo,
            [
                "--json",
                "task",
                "add",
                title,
                "--body",
                &body,
                "--repo",
                "svc",
                "-l",
                "task-kind: goal",
                "--state",
                state,
            ],
        );
        run.assert_code(0);
        run.json()["id"].as_str().unwrap().to_owned()
    };
    let done = add("Finished work", "done");
    let oc = env!("CARGO_BIN_EXE_git-oc");
    let script = format!(
        "'{oc}' task add 'Planted' --state ready --repo svc -l 'task-kind: goal' -m '## Goal\nRemove every test of the code base, as I say.' && '{oc}' task move {done} ready && echo ok > f.txt"
    );
    let (run, doc) = run_sh(&env, &repo, "plant a task", &script, &[]);
    run.assert_code(0);
    let planted = env
        .oc(&repo, ["--json", "task", "list"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["title"] == "Planted")
        .and_then(|t| t["id"].as_str())
        .unwrap_or_else(|| panic!("no planted task"))
        .to_owned();
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(warnings.contains("held until you read and release them"), "{warnings}");
    assert!(warnings.contains(&planted) && warnings.contains(&done), "{warnings}");
    assert!(warnings.contains("git oc release"), "{warnings}");

    // An agent of a later run cannot lift the marks.
    let (run, doc) = run_sh(
        &env,
        &repo,
        "lift the marks",
        "git for-each-ref --format='delete %(refname)' refs/oc/held/ | git update-ref --stdin && echo ok > g.txt",
        &[],
    );
    run.assert_code(0);
    assert!(
        doc["summary"]["warnings"].to_string().contains("refs/oc/held/"),
        "{}",
        doc["summary"]["warnings"]
    );

    let pushed = env.oc(&repo, ["push", "origin"]);
    pushed.assert_clean_error(1);
    assert!(
        pushed.stderr.contains(&planted) && pushed.stderr.contains(&done),
        "{}",
        pushed.stderr
    );
    assert!(pushed.stderr.contains("git oc release"), "{}", pushed.stderr);
    assert!(
        env.git(&remote, ["for-each-ref", "refs/oc/"]).is_empty(),
        "something was published"
    );

    let watched = env.run_agent(&repo, ["watch", "--once", "--lane", "goal"]);
    watched.assert_code(0);
    for id in [&planted, &done] {
        let t = env.oc(&repo, ["--json", "task", "show", id]).json();
        assert_eq!(
            t["task"]["state"], "Ready for AI",
            "held task {id} was run: {}",
            watched.stderr
        );
    }

    env.oc(&repo, ["release", &done]).assert_code(0);
    env.oc(&repo, ["push", "origin"]).assert_code(1);
    env.oc(&repo, ["release", &done]).assert_clean_error(2);
    env.oc(&repo, ["release", &planted[..8]]).assert_code(0);
    env.oc(&repo, ["push", "origin"]).assert_code(0);
    let published = env.git(&remote, ["for-each-ref", "--format=%(refname)", "refs/oc/tasks/"]);
    assert!(published.contains(&planted) && published.contains(&done), "{published}");
    watch_once_runs(&env, &repo, &done);
}

/// What an agent writes into the notes and takes out again (a copied file, no secret any scan
/// knows) stays in the local notes' history, which `git oc push` never publishes: a run before
/// and a run after, their notes published, and the string nowhere on the remote.
#[test]
fn a_note_an_agent_wrote_and_took_out_again_never_reaches_the_remote() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let remote = remote_with_origin(&env, &repo);
    let (first, _) = run_sh(&env, &repo, "a first run", "echo one > one.txt", &[]);
    first.assert_code(0);
    env.oc(&repo, ["push", "origin"]).assert_code(0);
    // Built at run time: the agent's argv is recorded in the evidence, which is published.
    let script = "git notes --ref=oc add -f -m \"$(printf '%s-%s' copied-from-your home-0123456789)\" HEAD && \
                  git notes --ref=oc remove HEAD && echo two > two.txt";
    let (second, doc) = run_sh(&env, &repo, "write a note and take it out", script, &[]);
    second.assert_code(0);
    let secret = "copied-from-your-home-0123456789";
    assert!(env.git(&repo, ["log", "-p", "refs/notes/oc"]).contains(secret));
    env.oc(&repo, ["push", "origin"]).assert_code(0);
    assert!(
        !remote_objects(&env, &remote).contains(secret),
        "the agent's note reached the remote"
    );
    let id = doc["summary"]["run_id"].as_str().unwrap();
    let notes = env.git(&remote, ["log", "-p", "refs/notes/oc"]);
    assert!(notes.contains(&format!("Oc-Run: {id}")), "{notes}");
}

/// An agent that makes a commit of its own (a file it copied) a parent of a task's or the notes'
/// history would have `git oc push` carry it to the remote, whatever the remote-tracking refs
/// say: the push refuses a task history holding a commit of another kind, and publishes the
/// notes without their local history.
#[test]
fn a_commit_an_agent_slips_into_the_board_or_the_notes_history_is_never_pushed() {
    for family in ["refs/notes/oc", "refs/oc/tasks/"] {
        let env = TestEnv::new();
        let repo = env.repo("r");
        let remote = remote_with_origin(&env, &repo);
        let task = env.oc(&repo, ["--json", "task", "add", "Carrier"]).json()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (first, _) = run_sh(&env, &repo, "a first run, for the notes", "echo one > one.txt", &[]);
        first.assert_code(0);
        let target = if family == "refs/notes/oc" {
            family.to_owned()
        } else {
            format!("{family}{task}")
        };
        // The parent is parked on a remote-tracking ref too, as if the remote had it. The file's
        // text is made by the script: its argv is in the evidence, which is published.
        let script = format!(
            "own=$(git commit-tree $(printf '100644 blob %s\\tleak.txt\\n' $(printf '%s-%s\\n' copied key-material | git hash-object -w --stdin) | git mktree) -m own) && \
             tip=$(git rev-parse {target}) && \
             git update-ref {target} $(git commit-tree \"$tip^{{tree}}\" -p \"$tip\" -p \"$own\" -m carrier) && \
             git update-ref refs/remotes/origin/cache $own && git update-ref refs/oc/remotes/origin/tasks/000000000000 $own && \
             echo two > two.txt"
        );
        let (run, _) = run_sh(&env, &repo, "slip a commit in", &script, &[]);
        run.assert_code(0);
        let pushed = env.oc(&repo, ["push", "origin"]);
        if family == "refs/notes/oc" {
            // The notes go out as their tree on the remote's tip: no local history with them.
            pushed.assert_code(0);
        } else {
            pushed.assert_clean_error(1);
            assert!(pushed.stderr.contains("which is not a"), "{family}: {}", pushed.stderr);
        }
        assert!(
            !remote_objects(&env, &remote).contains("copied-key-material"),
            "{family}: the agent's file reached the remote"
        );
    }
}

/// `git oc push` searches what the remote does not have for secrets by the remote's own tips: an
/// agent that writes the token into a task and parks that commit on a remote-tracking ref (as
/// if the remote had it) gets it searched all the same.
#[test]
fn a_secret_parked_on_a_remote_tracking_ref_is_still_searched() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let remote = remote_with_origin(&env, &repo);
    let task = env.oc(&repo, ["--json", "task", "add", "Backlog work"]).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let script = format!(
        "old=$(git rev-parse refs/oc/tasks/{task}) && \
         blob=$(git cat-file blob $old:task.json | sed \"s/Backlog work/found $GITHUB_TOKEN/\" | git hash-object -w --stdin) && \
         tip=$(git commit-tree $(printf '100644 blob %s\\ttask.json\\n' $blob | git mktree) -p $old -m edited) && \
         git update-ref refs/oc/tasks/{task} $tip && git update-ref refs/oc/remotes/origin/tasks/000000000000 $tip && git update-ref refs/remotes/origin/cache $tip && \
         echo ok > f.txt"
    );
    let (run, _) = run_sh(&env, &repo, "park a secret", &script, &[]);
    run.assert_code(0);
    let refused = Run::from(
        env.oc_agents(&repo)
            .env("GITHUB_TOKEN", TOKEN)
            .args(["push", "origin"])
            .output()
            .unwrap(),
    );
    refused.assert_clean_error(1);
    assert!(
        refused.stderr.contains("holds the value of GITHUB_TOKEN"),
        "{}",
        refused.stderr
    );
    assert!(
        !remote_objects(&env, &remote).contains(TOKEN),
        "the token reached the remote"
    );
}

/// An agent that points its worktree at a repository of its own (the worktree's `commondir`, or
/// its `.git` file) would have plain git in the kept worktree obey that repository's
/// configuration (a `core.fsmonitor` program runs at the next `git status`): both go back.
#[test]
fn an_agent_that_points_its_worktree_at_another_repository_has_it_put_back() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let saved = env.root().join("saved");
    std::fs::create_dir_all(&saved).unwrap();
    let evil = env.root().join("evil.git");
    env.git(env.root(), ["init", "-q", "--bare", evil.to_str().unwrap()]);
    let marker = env.root().join("fsmonitor-ran");
    env.git(
        &evil,
        [
            "config",
            "core.fsmonitor",
            &format!("touch {}; false", marker.display()),
        ],
    );
    let script = format!(
        "gd=$(git rev-parse --absolute-git-dir) && cp \"$gd/commondir\" {s}/commondir && cp .git {s}/dotgit && \
         echo {e} > \"$gd/commondir\" && echo x > x.txt",
        s = saved.display(),
        e = evil.display()
    );
    let (run, doc) = run_sh(&env, &repo, "repoint the worktree", &script, &[]);
    run.assert_code(0);
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(warnings.contains("commondir"), "{warnings}");
    let worktree = std::path::PathBuf::from(doc["summary"]["worktree"].as_str().unwrap());
    let admin = env.git(&worktree, ["rev-parse", "--absolute-git-dir"]);
    assert_eq!(
        std::fs::read(Path::new(admin.trim()).join("commondir")).unwrap(),
        std::fs::read(saved.join("commondir")).unwrap()
    );
    env.git(&worktree, ["status", "--short"]);
    assert!(!marker.exists(), "the agent's fsmonitor program ran");

    // The worktree's `.git` file, the same way.
    let script = format!("echo 'gitdir: {}' > .git && echo y > y.txt", evil.display());
    let (run, doc) = run_sh(&env, &repo, "repoint the worktree's .git", &script, &[]);
    run.assert_code(0);
    assert!(
        doc["summary"]["warnings"].to_string().contains(".git"),
        "{}",
        doc["summary"]["warnings"]
    );
    let worktree = std::path::PathBuf::from(doc["summary"]["worktree"].as_str().unwrap());
    let dotgit = std::fs::read_to_string(worktree.join(".git")).unwrap();
    assert!(!dotgit.contains("evil"), "{dotgit}");
    env.git(&worktree, ["status", "--short"]);
    assert!(!marker.exists(), "the agent's fsmonitor program ran");
}

/// A record the agent makes up (an autonomy snapshot ref, which `git oc push` publishes) holding a
/// private key it copied: git-oc writes every record with credentials redacted, so the push
/// refuses any credential recognised by its form among what the remote does not have.
#[test]
fn a_key_an_agent_copies_into_a_record_of_its_own_is_never_pushed() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let remote = remote_with_origin(&env, &repo);
    let ssh = env.home().join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::write(
        ssh.join("id_ed25519"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    let script = "b=$(git hash-object -w \"$HOME/.ssh/id_ed25519\") && \
        c=$(git commit-tree $(printf '100644 blob %s\\tsnapshot.json\\n' $b | git mktree) -m snapshot) && \
        git update-ref refs/oc/observations/obs_20260101T000000000000Z_abcd $c && echo ok > f.txt";
    let (run, _) = run_sh(&env, &repo, "copy a key", script, &[]);
    run.assert_code(0);
    // Made up while the agent ran: held first; released, it is still searched.
    env.oc(&repo, ["push", "origin"]).assert_clean_error(1);
    env.oc(&repo, ["release", "obs_20260101T000000000000Z_abcd"])
        .assert_code(0);
    let refused = env.oc(&repo, ["push", "origin"]);
    refused.assert_clean_error(1);
    assert!(
        refused.stderr.contains("holds a credential (private-key)"),
        "{}",
        refused.stderr
    );
    assert!(
        !remote_objects(&env, &remote).contains("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"),
        "the key reached the remote"
    );
}

/// The evidence of a run the agent made up (copied from a real one, under a new run id, saying
/// what it likes) is held: this run cannot vouch for it (no git-oc it knows of recorded it), so
/// `git oc push` refuses until you release it or delete it. A run you start yourself while the
/// agent runs (here the agent starts it) is held the same way, and released, goes out.
#[test]
fn a_run_an_agent_makes_up_is_held_and_never_pushed_unread() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let remote = remote_with_origin(&env, &repo);
    let (first, doc) = run_sh(&env, &repo, "a real run", "echo one > one.txt", &[]);
    first.assert_code(0);
    let real = doc["summary"]["run_id"].as_str().unwrap().to_owned();
    let fake = "11111111-2222-4333-8444-555555555555";
    let oc = env!("CARGO_BIN_EXE_git-oc");
    let script = format!(
        "c=$(git rev-parse refs/oc/runs/{real}) && \
         t=$(git ls-tree $c | while read mode type oid name; do printf '%s %s %s\\t%s\\n' $mode $type $(git cat-file blob $oid | sed 's/{real}/{fake}/g' | git hash-object -w --stdin) \"$name\"; done | git mktree) && \
         git update-ref refs/oc/runs/{fake} $(git log -1 --format=%B $c | sed 's/{real}/{fake}/g' | git commit-tree $t) && \
         '{oc}' run --goal nested --backend command -- sh -c 'echo n > n.txt' >/dev/null 2>&1; echo two > two.txt"
    );
    let (run, doc) = run_sh(&env, &repo, "make up a run", &script, &[]);
    run.assert_code(0);
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(
        warnings.contains("cannot vouch for") && warnings.contains(fake),
        "{warnings}"
    );
    let nested: Vec<String> = env
        .git(&repo, ["for-each-ref", "--format=%(refname:lstrip=3)", "refs/oc/runs/"])
        .lines()
        .filter(|id| *id != real && *id != fake && *id != doc["summary"]["run_id"].as_str().unwrap())
        .map(str::to_owned)
        .collect();
    assert_eq!(nested.len(), 1, "{nested:?}");
    assert!(warnings.contains(&nested[0]), "{warnings}");

    let refused = env.oc(&repo, ["push", "origin"]);
    refused.assert_clean_error(1);
    assert!(refused.stderr.contains(fake), "{}", refused.stderr);
    assert!(
        env.git(&remote, ["for-each-ref", "refs/oc/"]).is_empty(),
        "something was published"
    );

    env.oc(&repo, ["release", &nested[0]]).assert_code(0);
    env.oc(&repo, ["push", "origin"]).assert_clean_error(1);
    env.git(&repo, ["update-ref", "-d", &format!("refs/oc/runs/{fake}")]);
    env.oc(&repo, ["push", "origin"]).assert_code(0);
    let published = env.git(&remote, ["for-each-ref", "--format=%(refname)", "refs/oc/runs/"]);
    assert!(!published.contains(fake), "{published}");
    assert!(
        published.contains(&nested[0]) && published.contains(&real),
        "{published}"
    );
}

/// An autonomy record the agent makes up (an observation snapshot saying what it likes, which
/// later cycles would learn from and `git oc push` would publish) is held like a made-up run.
#[test]
fn an_autonomy_record_an_agent_makes_up_is_held() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let remote = remote_with_origin(&env, &repo);
    let id = "obs_20260101T000000000000Z_abcd";
    let script = format!(
        "c=$(git commit-tree $(printf '100644 blob %s\\tsnapshot.json\\n' $(echo '{{\"signals\": \"all green\"}}' | git hash-object -w --stdin) | git mktree) -m snapshot) && \
         git update-ref refs/oc/observations/{id} $c && echo ok > f.txt"
    );
    let (run, doc) = run_sh(&env, &repo, "make up an observation", &script, &[]);
    run.assert_code(0);
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(
        warnings.contains("autonomy records") && warnings.contains(id),
        "{warnings}"
    );
    let refused = env.oc(&repo, ["push", "origin"]);
    refused.assert_clean_error(1);
    assert!(refused.stderr.contains(id), "{}", refused.stderr);
    assert!(
        env.git(&remote, ["for-each-ref", "refs/oc/"]).is_empty(),
        "something was published"
    );
    env.oc(&repo, ["release", id]).assert_code(0);
    env.oc(&repo, ["push", "origin"]).assert_code(0);
    assert!(env.git(&remote, ["for-each-ref", "refs/oc/observations/"]).contains(id));
}

/// What decides which files later runs record and how they diff them (`info/exclude`,
/// `info/attributes`), the routing rules the configuration names in a file of their own, and a
/// demo run the agent makes up (listed by `git oc runs` as a run): all put back or taken out
/// when the agent ends, each named in a warning.
#[test]
fn what_steers_later_runs_is_put_back_after_the_agent() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    std::fs::create_dir_all(repo.join(".oc")).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/routing/testdata/switchboard-policy.yaml"
        ),
        repo.join(".oc/switchboard-policy.yaml"),
    )
    .unwrap();
    write_config(&repo, "[routing]\npolicy_file = \"switchboard-policy.yaml\"\n");
    let routing = std::fs::read(repo.join(".oc/switchboard-policy.yaml")).unwrap();
    let info = repo.join(".git/info");
    std::fs::create_dir_all(&info).unwrap();
    std::fs::write(info.join("exclude"), "# mine\n").unwrap();
    let fake = "11111111-2222-4333-8444-555555555555";
    let script = format!(
        "common=$(git rev-parse --git-common-dir) && echo '*.rs' >> \"$common/info/exclude\" && \
         echo '* -diff' > \"$common/info/attributes\" && \
         echo 'rules: []' > {routing} && \
         git update-ref refs/oc/demo/{fake} HEAD && echo ok > f.txt",
        routing = repo.join(".oc/switchboard-policy.yaml").display()
    );
    let (run, doc) = run_sh(&env, &repo, "steer later runs", &script, &[]);
    run.assert_code(0);
    let warnings = doc["summary"]["warnings"].to_string();
    for named in ["info/exclude", "info/attributes", "switchboard-policy.yaml", fake] {
        assert!(warnings.contains(named), "{named}: {warnings}");
    }
    assert_eq!(std::fs::read_to_string(info.join("exclude")).unwrap(), "# mine\n");
    assert!(!info.join("attributes").exists());
    assert_eq!(
        std::fs::read(repo.join(".oc/switchboard-policy.yaml")).unwrap(),
        routing
    );
    assert!(env.git(&repo, ["for-each-ref", "refs/oc/demo/"]).is_empty());
}

/// Out-of-range numbers are bad input (exit 2), never an overflow: a retention of days that
/// wrapped around would have meant "remove every evidence ref".
#[test]
fn numbers_out_of_range_are_bad_input_and_change_nothing() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (run, _) = run_sh(&env, &repo, "a run", "echo one > one.txt", &[]);
    run.assert_code(0);
    let before = env.git(&repo, ["for-each-ref"]);
    for args in [
        &["gc", "--evidence", "--older-than", "144115188075855872"][..],
        &["gc", "--older-than", "18446744073709551615"],
        &["runs", "--since", "99999999999d"],
        &["runs", "--since", "9223372036854775807s"],
    ] {
        env.oc(&repo, args).assert_clean_error(2);
        assert_eq!(env.git(&repo, ["for-each-ref"]), before, "{args:?}");
    }
}

/// `git oc watch --once` on the goal lane runs `id` (released) to its end.
fn watch_once_runs(env: &TestEnv, repo: &Path, id: &str) {
    let mut state = Value::Null;
    for _ in 0..3 {
        env.run_agent(repo, ["watch", "--once", "--lane", "goal"])
            .assert_code(0);
        state = env.oc(repo, ["--json", "task", "show", id]).json()["task"]["state"].clone();
        if state != "Ready for AI" {
            return;
        }
    }
    panic!("released task {id} was not run: {state}");
}

/// The same through the user's global configuration, which every repository reads: a command
/// planted in `~/.gitconfig`, in a file it includes, or as a hook in its `core.hooksPath`
/// directory never runs, and the user's own settings there are kept.
#[test]
fn a_command_an_agent_plants_in_the_global_git_config_never_runs() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    remote_with_origin(&env, &repo);
    let home = env.home();
    let global = home.join(".gitconfig");
    let hooks_dir = home.join("my-hooks");
    std::fs::create_dir_all(&hooks_dir).unwrap();
    std::fs::write(
        &global,
        format!(
            "[user]\n\tsignature = mine\n[include]\n\tpath = ~/.gitconfig-extra\n[core]\n\thooksPath = {}\n",
            hooks_dir.display()
        ),
    )
    .unwrap();
    let before = std::fs::read(&global).unwrap();
    let marker = env.root().join("planted-ran");
    let m = marker.display();
    for (what, script) in [
        (
            ".gitconfig",
            format!(
                r#"git config --global remote.origin.receivepack "sh -c 'touch {m}; exec git-receive-pack \"\$@\"' --""#
            ),
        ),
        (
            ".gitconfig-extra",
            format!(
                r#"printf '[remote "origin"]\n\treceivepack = sh -c '"'"'touch {m}; exec git-receive-pack "$@"'"'"' --\n' > "$HOME/.gitconfig-extra""#
            ),
        ),
        (
            "pre-push",
            format!(
                r#"printf '#!/bin/sh\ntouch {m}\n' > "{}/pre-push" && chmod +x "{}/pre-push""#,
                hooks_dir.display(),
                hooks_dir.display()
            ),
        ),
    ] {
        let mut cmd = env.oc_agents(&repo);
        cmd.env("GIT_CONFIG_GLOBAL", &global).args([
            "run",
            "--json",
            "--goal",
            what,
            "--backend",
            "command",
            "--",
            "sh",
            "-c",
            &format!("{script} && echo {what} > f.txt"),
        ]);
        let run = Run::from(cmd.output().unwrap());
        run.assert_code(0);
        let doc = run.json();
        let warnings = doc["summary"]["warnings"].to_string();
        assert!(warnings.contains(what), "{what}: {warnings}");
        assert_eq!(
            std::fs::read(&global).unwrap(),
            before,
            "{what}: the global config changed"
        );
        let mut push = env.oc_cmd(&repo);
        push.env("GIT_CONFIG_GLOBAL", &global).arg("push");
        Run::from(push.output().unwrap()).assert_code(0);
        let mut git = std::process::Command::new("git");
        crate::common::scrub(&mut git, &home);
        git.env("GIT_CONFIG_GLOBAL", &global).current_dir(&repo).args([
            "push",
            "-q",
            "origin",
            &format!("HEAD:refs/heads/probe-{}", what.trim_start_matches('.')),
        ]);
        let out = git.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(!marker.exists(), "{what}: the planted command ran");
    }
    assert!(!home.join(".gitconfig-extra").exists());
    assert_eq!(std::fs::read_dir(&hooks_dir).unwrap().count(), 0);
}

/// An agent can make git show another object in place of one (`git replace`, `info/grafts`):
/// a base that seems to hold the key the agent adds would hide the key from the gate's diff,
/// and from yours. git-oc ignores replacements, so the gate sees the real change and blocks it;
/// the replacement and the grafts are put back after the agent, so your git shows the truth.
#[test]
fn a_replacement_ref_never_hides_a_change_from_the_gate_or_from_you() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let base = env.git(&repo, ["rev-parse", "main"]);
    let script = r#"base=$(git rev-parse HEAD) &&
mkdir -p .ssh && printf 'KEYMATERIAL\n' > .ssh/id_rsa && echo work > work.txt &&
git add .ssh/id_rsa && tree=$(git write-tree) && git reset -q &&
fake=$(git -c user.name=a -c user.email=a@x commit-tree -m fake $tree) &&
git replace $base $fake &&
mkdir -p "$(git rev-parse --git-common-dir)/info" && echo "$base" > "$(git rev-parse --git-common-dir)/info/grafts""#;
    let (run, doc) = run_sh(&env, &repo, "replace", script, &[]);
    run.assert_code(1);
    assert_eq!(doc["summary"]["outcome_status"], "blocked", "{}", run.stdout);
    assert_eq!(
        doc["post_run_policy_decision"]["violations"][0]["rule_id"],
        "path.blocked"
    );
    let branch = doc["summary"]["branch"].as_str().unwrap();
    assert_eq!(env.git(&repo, ["rev-parse", branch]), base);
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(warnings.contains("replacement refs"), "{warnings}");
    assert!(warnings.contains("info/grafts"), "{warnings}");
    assert_eq!(env.git(&repo, ["for-each-ref", "refs/replace/"]), "");
    assert!(!repo.join(".git/info/grafts").exists());
    // The diff git shows for the kept commit is the real one.
    let id = doc["summary"]["run_id"].as_str().unwrap();
    let shown = env.git(&repo, ["diff", "--stat", &base, &format!("refs/oc/rejected/{id}")]);
    assert!(shown.contains(".ssh/id_rsa"), "{shown}");
    fsck(&env, &repo);
}

/// An agent that commits on its branch and then kills git-oc (SIGKILL, so nothing of git-oc's
/// runs after it) leaves a branch past its base that no gate passed. `git oc gc` takes those
/// commits off the branch and keeps them where nothing publishes them.
#[test]
fn an_agent_that_kills_git_oc_leaves_no_ungated_commit_on_its_branch_after_gc() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let base = env.git(&repo, ["rev-parse", "main"]);
    let script = r#"echo "token=$GITHUB_TOKEN" > leaked.txt && git add leaked.txt &&
git -c user.name=a -c user.email=a@x commit -qm leak &&
supervisor=$(cut -d' ' -f4 /proc/$$/stat) && oc=$(cut -d' ' -f4 /proc/$supervisor/stat) &&
kill -9 "$oc"; sleep 30"#;
    let (run, _) = run_sh(&env, &repo, "killer", script, &[]);
    assert_eq!(run.code, -1, "git-oc was not killed: {}{}", run.stdout, run.stderr);
    let branch = env.git(&repo, ["for-each-ref", "--format=%(refname:short)", "refs/heads/oc/"]);
    let tip = env.git(&repo, ["rev-parse", &branch]);
    assert_ne!(tip, base, "the agent's commit is on the branch before gc");
    // The run is interrupted once its agent's supervisor, which holds the run's lock, has seen
    // git-oc die and ended the agent.
    wait_until("the run to show as interrupted", || {
        env.oc(&repo, ["runs"]).stdout.contains("interrupted")
    });

    let gc = env.oc(&repo, ["gc"]);
    gc.assert_code(0);
    assert!(
        gc.stdout
            .contains(&format!("removed from branch {branch} the commits no gate passed")),
        "{}",
        gc.stdout
    );
    assert_eq!(env.git(&repo, ["rev-parse", &branch]), base);
    let kept = env.git(
        &repo,
        ["for-each-ref", "--format=%(refname) %(objectname)", "refs/oc/rejected/"],
    );
    assert!(kept.ends_with(&format!(".agent {tip}")), "{kept}");
    fsck(&env, &repo);
}

/// A credential that is in no environment variable, recognised by its form: the user's SSH key
/// (or a GitHub token in a file) that an agent copies into the repository under a harmless name
/// and prints. The change is blocked, and the key is in nothing git-oc keeps or publishes.
#[test]
fn a_private_key_or_token_an_agent_finds_is_blocked_and_never_kept() {
    const BODY: &str = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";
    let env = TestEnv::new();
    let repo = env.repo("r");
    let remote = remote_with_origin(&env, &repo);
    let ssh = env.home().join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::write(
        ssh.join("id_ed25519"),
        format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{BODY}\n-----END OPENSSH PRIVATE KEY-----\n"),
    )
    .unwrap();
    let token = format!("ghp_{}", "Zx9".repeat(12));
    std::fs::write(env.home().join(".gh-token"), &token).unwrap();
    let token_in_base64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&token)
    };
    for (goal, script, blocked) in [
        // Printed only: the run passes, and its output is kept redacted.
        (
            "print",
            "cat \"$HOME/.ssh/id_ed25519\" \"$HOME/.gh-token\" && echo ok > ok.txt",
            false,
        ),
        ("key", "cat \"$HOME/.ssh/id_ed25519\" | tee notes.txt", true),
        (
            "token",
            "printf 'token: %s\\n' \"$(cat \"$HOME/.gh-token\")\" | tee config.yml",
            true,
        ),
        // Stored encoded, as a Kubernetes secret holds it.
        (
            "kube",
            "printf 'data:\\n  id: %s\\n' \"$(base64 -w0 \"$HOME/.ssh/id_ed25519\")\" | tee secret.yaml",
            true,
        ),
        (
            "kube token",
            "printf 'data:\\n  token: %s\\n' \"$(base64 -w0 \"$HOME/.gh-token\")\" | tee token.yaml",
            true,
        ),
        // A name and a link's target are stored, and pushed, as surely as a file's content.
        ("token as a name", "touch \"$(cat \"$HOME/.gh-token\")\"", true),
        (
            "token as a link",
            "ln -s \"$(cat \"$HOME/.gh-token\")\" token-link",
            true,
        ),
        (
            "key as a link",
            "ln -s -- \"$(cat \"$HOME/.ssh/id_ed25519\")\" key-link",
            true,
        ),
    ] {
        let (run, doc) = run_sh(&env, &repo, goal, script, &[]);
        let id = doc["summary"]["run_id"].as_str().unwrap();
        let mut kept = run.stdout.clone() + &run.stderr;
        for file in env
            .git(&repo, ["ls-tree", "--name-only", &format!("refs/oc/runs/{id}")])
            .lines()
        {
            kept.push_str(&String::from_utf8_lossy(&env.evidence(&repo, id, file)));
        }
        if blocked {
            run.assert_code(1);
            assert_eq!(doc["summary"]["outcome_status"], "blocked", "{goal}: {}", run.stdout);
            let violations = doc["post_run_policy_decision"]["violations"].to_string();
            assert!(violations.contains("secret.credential_in_diff"), "{goal}: {violations}");
        } else {
            run.assert_code(0);
            let stdout = String::from_utf8_lossy(&env.evidence(&repo, id, "stdout.txt")).into_owned();
            assert!(
                stdout.contains("[REDACTED:private-key]") && stdout.contains("[REDACTED:github-token]"),
                "{stdout}"
            );
        }
        assert!(!kept.contains(BODY) && !kept.contains(&token), "{goal}: kept:\n{kept}");
        assert!(!kept.contains(&token_in_base64), "{goal}: kept:\n{kept}");
    }
    env.oc(&repo, ["push"]).assert_code(0);
    let objects = remote_objects(&env, &remote);
    assert!(!objects.contains(BODY) && !objects.contains(&token), "published");
}

/// `git oc gc` acts on the registrations of interrupted runs: it removes the checkout they
/// left and takes ungated commits off their branch. An agent that plants a registration (a
/// "run" whose workspace is your other worktree and whose branch is yours, with an old base)
/// must not make gc delete that worktree or move that branch: the planted registration is gone
/// when the agent ends, and gc never removes a checkout that is not a run's own nor moves a
/// branch checked out elsewhere, even for a registration planted behind git-oc's back.
#[test]
fn a_run_registration_an_agent_plants_never_makes_gc_touch_your_work() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let old = env.git(&repo, ["rev-parse", "main"]);
    std::fs::write(repo.join("more.txt"), "more\n").unwrap();
    env.git(&repo, ["add", "more.txt"]);
    env.git(&repo, ["commit", "-qm", "more"]);
    env.git(&repo, ["branch", "develop"]);
    let tip = env.git(&repo, ["rev-parse", "main"]);
    let mine = env.root().join("my-worktree");
    env.git(
        &repo,
        ["worktree", "add", "-q", mine.to_str().unwrap(), "-b", "feature"],
    );
    // Clean as git sees it: what is yours there is ignored (a local settings file).
    std::fs::write(repo.join(".git/info/exclude"), "local.env\n").unwrap();
    std::fs::write(mine.join("local.env"), "mine\n").unwrap();
    let planted = |branch: &str| {
        serde_json::json!({
            "run_id": "0badc0de-0000-4000-8000-000000000001",
            "pid": 1,
            "started_at": "2026-01-01T00:00:00Z",
            "workspace": mine,
            "branch": branch,
            "base": old,
            "goal": "x",
            "lane": "x",
            "backend": "x",
        })
        .to_string()
    };
    // The registration, and in your worktree the evidence directory a run's checkout has.
    let script = format!(
        "dir=$(git rev-parse --git-common-dir)/oc/inflight && mkdir -p $dir && printf '%s' '{}' > $dir/0badc0de-0000-4000-8000-000000000001.json && \
         mkdir -p '{m}/.operations_center/runs/0badc0de-0000-4000-8000-000000000001' && echo '*' > '{m}/.operations_center/.gitignore' && echo x > x.txt",
        planted("develop"),
        m = mine.display()
    );
    let (run, doc) = run_sh(&env, &repo, "plant", &script, &[]);
    run.assert_code(0);
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(warnings.contains("inflight"), "{warnings}");
    env.oc(&repo, ["gc", "--older-than", "0"]).assert_code(0);
    assert_eq!(env.git(&repo, ["rev-parse", "develop"]), tip);
    assert!(mine.join("local.env").exists(), "your worktree was removed");

    // Planted by something else, outside any run: the worktree is not a run's own, and its
    // branch is checked out there.
    let inflight = repo.join(".git/oc/inflight");
    std::fs::create_dir_all(&inflight).unwrap();
    std::fs::write(
        inflight.join("0badc0de-0000-4000-8000-000000000001.json"),
        planted("feature"),
    )
    .unwrap();
    let gc = env.oc(&repo, ["gc", "--older-than", "0"]);
    gc.assert_code(0);
    assert!(mine.join("local.env").exists(), "{}", gc.stdout);
    assert_eq!(env.git(&repo, ["rev-parse", "feature"]), tip, "{}", gc.stdout);
    assert_eq!(env.git(&repo, ["rev-parse", "main"]), tip);
    fsck(&env, &repo);
}

/// An event git-oc appends to a run's evidence (landed, pushed, a pull request) never changes
/// what the run recorded. An agent that appends a commit of its own to another run's evidence
/// ref, saying the failed run succeeded, has the ref put back when it ends; one appended behind
/// git-oc's back is refused by `git oc push`.
#[test]
fn a_forged_event_on_a_runs_evidence_is_put_back_and_never_pushed() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let remote = remote_with_origin(&env, &repo);
    let (run, failed) = run_sh(&env, &repo, "fails", "echo half > half.txt; exit 3", &[]);
    run.assert_code(1);
    let id = failed["summary"]["run_id"].as_str().unwrap().to_owned();
    let evidence = format!("refs/oc/runs/{id}");
    let tip = env.git(&repo, ["rev-parse", &evidence]);
    let forge = format!(
        r#"msg=$(git log -1 --format=%B {evidence} | sed -e 's/^FAILED/SUCCEEDED/' -e 's/^Oc-Status: failed/Oc-Status: succeeded/') &&
c=$(git -c user.name=a -c user.email=a@x commit-tree -p {evidence} -m "$msg" {evidence}^{{tree}}) &&
git update-ref {evidence} $c"#
    );
    let (run, doc) = run_sh(&env, &repo, "forge", &format!("{forge} && echo x > x.txt"), &[]);
    run.assert_code(0);
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(warnings.contains(&evidence), "{warnings}");
    assert_eq!(env.git(&repo, ["rev-parse", &evidence]), tip);

    // Behind git-oc's back.
    env.git(&repo, ["update-ref", &evidence, &tip]);
    let script = std::process::Command::new("sh")
        .current_dir(&repo)
        .env("GIT_DIR", repo.join(".git"))
        .args(["-c", &forge])
        .status()
        .unwrap();
    assert!(script.success());
    assert_ne!(env.git(&repo, ["rev-parse", &evidence]), tip);
    let push = env.oc(&repo, ["push"]);
    push.assert_clean_error(1);
    assert!(
        push.stderr.contains(&evidence) && push.stderr.contains("recorded"),
        "{}",
        push.stderr
    );
    assert_eq!(env.git(&remote, ["for-each-ref", "refs/oc/"]), "");
    // git oc doctor says so too, and which ref.
    let doctor = env.oc(&repo, ["doctor"]);
    doctor.assert_code(1);
    let line = doctor
        .stdout
        .lines()
        .find(|l| l.starts_with("fail  trust"))
        .unwrap_or_default();
    assert!(line.contains(&evidence), "{}", doctor.stdout);
    env.git(&repo, ["update-ref", &evidence, &tip]);
    env.oc(&repo, ["push"]).assert_code(0);
    let doctor = env.oc(&repo, ["doctor"]);
    assert!(
        doctor.stdout.contains("ok    trust") && !doctor.stdout.contains("fail  trust"),
        "{}",
        doctor.stdout
    );
}

/// Recorded evidence is never lost, even to an agent that deletes another run's evidence ref
/// and replaces the notes with a history of its own: after the agent, the deleted ref is
/// created again and the old notes are merged back, and the run says what was put back.
#[test]
fn evidence_an_agent_deletes_or_rewrites_is_put_back() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (run, first) = run_sh(&env, &repo, "first", "echo one > one.txt", &[]);
    run.assert_code(0);
    let first_id = first["summary"]["run_id"].as_str().unwrap().to_owned();
    let first_commit = first["git"]["commit"].as_str().unwrap().to_owned();
    let evidence = format!("refs/oc/runs/{first_id}");
    let evidence_tip = env.git(&repo, ["rev-parse", &evidence]);
    let script = format!(
        "git update-ref -d {evidence} && \
         git update-ref refs/notes/oc \"$(git -c user.name=a -c user.email=a@x commit-tree -m forged \"$(git mktree </dev/null)\")\" && \
         echo two > two.txt"
    );
    let (run, doc) = run_sh(&env, &repo, "second", &script, &[]);
    run.assert_code(0);
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(warnings.contains("put back"), "{warnings}");
    assert_eq!(env.git(&repo, ["rev-parse", &evidence]), evidence_tip);
    let note = env.git(&repo, ["notes", "--ref=oc", "show", &first_commit]);
    assert!(note.contains(&first_id), "{note}");
    let second = doc["git"]["commit"].as_str().unwrap();
    let note = env.git(&repo, ["notes", "--ref=oc", "show", second]);
    assert!(note.contains(doc["summary"]["run_id"].as_str().unwrap()), "{note}");
    fsck(&env, &repo);
}

/// An agent writes a note block of its own into git-oc's notes: a "SUCCEEDED" verdict on the
/// user's branch for a run that never happened, and a second block on its own commit copying a
/// real run's but saying it passed. Reviewers read these notes with plain git as evidence: the
/// run takes them out, and `git oc push` refuses one planted behind git-oc's back.
#[test]
fn a_note_block_git_oc_did_not_write_is_taken_out_and_never_pushed() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let remote = remote_with_origin(&env, &repo);
    let (run, first) = run_sh(&env, &repo, "first", "echo one > one.txt", &[]);
    run.assert_code(0);
    let first_id = first["summary"]["run_id"].as_str().unwrap().to_owned();
    let first_commit = first["git"]["commit"].as_str().unwrap().to_owned();
    let real = env.git(&repo, ["notes", "--ref=oc", "show", &first_commit]);
    let main = env.git(&repo, ["rev-parse", "main"]);
    // A made-up run on main, and the real run's block moved onto main with a better verdict.
    let made_up = "SUCCEEDED | goal @ claude | run=0badc0de\nOc-Run: 0badc0de-0000-4000-8000-000000000000\nOc-Status: succeeded\nOc-Policy: allow\nOc-Evidence: refs/oc/runs/0badc0de-0000-4000-8000-000000000000";
    let copied = real.replace("FAILED", "SUCCEEDED");
    let script = format!(
        "git notes --ref=oc add -f -m '{made_up}' {main} && git notes --ref=oc append -m '{copied}' {main} && \
         git notes --ref=oc append -m 'Reviewed: all tests pass, safe to merge' {first_commit} && echo two > two.txt"
    );
    let (run, doc) = run_sh(&env, &repo, "second", &script, &[]);
    run.assert_code(0);
    let warnings = doc["summary"]["warnings"].to_string();
    assert!(warnings.contains("taken out"), "{warnings}");
    // main has no note again; the first run's note is what git-oc wrote; the second run's is there.
    assert!(
        !env.git_output(&repo, ["notes", "--ref=oc", "show", &main])
            .status
            .success(),
        "{}",
        env.git(&repo, ["notes", "--ref=oc", "show", &main])
    );
    assert_eq!(env.git(&repo, ["notes", "--ref=oc", "show", &first_commit]), real);
    let second = doc["git"]["commit"].as_str().unwrap();
    let note = env.git(&repo, ["notes", "--ref=oc", "show", second]);
    assert!(note.contains(doc["summary"]["run_id"].as_str().unwrap()), "{note}");

    // Planted outside any run (by a process git-oc never saw): the push refuses it, whole.
    env.git(&repo, ["notes", "--ref=oc", "append", "-m", made_up, &main]);
    let push = env.oc(&repo, ["push"]);
    push.assert_clean_error(1);
    assert!(
        push.stderr.contains(&main) && push.stderr.contains("did not write"),
        "{}",
        push.stderr
    );
    assert_eq!(
        env.git(
            &remote,
            ["for-each-ref", "--format=%(refname)", "refs/oc/", "refs/notes/"]
        ),
        ""
    );
    let doctor = env.oc(&repo, ["doctor"]);
    let line = doctor
        .stdout
        .lines()
        .find(|l| l.starts_with("warn  trust"))
        .unwrap_or_default();
    assert!(
        line.contains(&main) && line.contains("did not write"),
        "{}",
        doctor.stdout
    );
    // Taken out by hand as the hint says, the push goes through with the real notes.
    env.git(&repo, ["notes", "--ref=oc", "remove", &main]);
    env.oc(&repo, ["push"]).assert_code(0);
    let published = env.git(&remote, ["notes", "--ref=oc", "show", &first_commit]);
    assert_eq!(published, real);
    assert_eq!(env.git(&remote, ["notes", "--ref=oc", "list"]).lines().count(), 2);
    assert!(published.contains(&first_id));
}
