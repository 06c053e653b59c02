//! Reliability: concurrency, crashes, faults and secrets in logs. The slow ones are ignored by
//! default and run in CI (`cargo test -- --ignored`).

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;

use crate::common::*;

fn fsck(env: &TestEnv, repo: &Path) {
    let out = env.git_output(repo, ["fsck", "--strict", "--no-progress", "--no-dangling"]);
    assert!(
        out.status.success(),
        "fsck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every evidence ref holds a complete, parseable record.
fn assert_evidence_intact(env: &TestEnv, repo: &Path) -> usize {
    let ids = env.run_ids(repo);
    for id in &ids {
        for f in SEED_FILES {
            assert!(!env.evidence(repo, id, f).is_empty(), "run {id} lacks {f}");
        }
        let result = env.evidence_json(repo, id, "result.json");
        assert_eq!(result["run_id"], id.as_str());
    }
    ids.len()
}

#[test]
#[ignore = "slow: 16 concurrent runs"]
fn sixteen_concurrent_runs_lose_nothing() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let checkout = env.checkout_state(&repo);
    let children: Vec<_> = (0..16)
        .map(|i| {
            env.oc_agents(&repo)
                .args([
                    "run",
                    "--json",
                    "--goal",
                    &format!("concurrent {i}"),
                    "--backend",
                    "command",
                    "--",
                    "fake-agent",
                    "noop",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ids = Vec::new();
    for child in children {
        let run = Run::from(child.wait_with_output().unwrap());
        run.assert_code(0);
        ids.push(run.json()["summary"]["run_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(assert_evidence_intact(&env, &repo), 16);
    let note = env.git(&repo, ["notes", "--ref=oc", "show", "HEAD"]);
    for id in &ids {
        assert_eq!(
            note.matches(&format!("Oc-Run: {id}")).count(),
            1,
            "block of {id} lost or doubled"
        );
    }
    assert_eq!(
        env.git(&repo, ["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        17
    );
    assert_eq!(env.checkout_state(&repo), checkout);
    fsck(&env, &repo);
    assert!(lock_files(&repo.join(".git")).is_empty());
}

/// Where a trial kills git-oc: each point is an observed event, not a delay.
#[derive(Clone, Copy, Debug)]
enum KillPoint {
    /// As soon as the process exists (before it has written anything, usually).
    AtOnce,
    /// Once the run is registered as in progress.
    Registered,
    /// Once the run's worktree is registered with git.
    WorktreeAdded,
    /// While the agent is running (it has written its marker).
    AgentRunning,
    /// Once the evidence ref is written (the note may or may not be).
    EvidenceWritten,
    /// Never: the run finishes.
    Finished,
}

#[test]
#[ignore = "slow: 60 runs killed at observed points"]
fn sigkill_at_every_stage_leaves_a_valid_repository() {
    use KillPoint::*;
    let env = TestEnv::new();
    let repo = env.repo("r");
    // As in every clone, the refs are packed: every ref edit then also locks `packed-refs`, and
    // a kill must not leave that lock in the way of the runs after it.
    env.git(&repo, ["pack-refs", "--all"]);
    let git_dir = repo.join(".git");
    let points = [
        AtOnce,
        Registered,
        WorktreeAdded,
        AgentRunning,
        EvidenceWritten,
        Finished,
    ];
    let mut finished = 0;
    let mut killed_in_flight = 0;
    for trial in 0..60 {
        let point = points[trial % points.len()];
        let demo = trial % 4 == 3 && !matches!(point, AgentRunning);
        let marker = env.root().join(format!("marker-{trial}"));
        let release = env.root().join(format!("release-{trial}"));
        let runs_before = env.run_ids(&repo).len();
        let count = |dir: &str| std::fs::read_dir(git_dir.join(dir)).map_or(0, |d| d.count());
        // A registration is whole once renamed into place: a kill that lands while only its
        // `.json.tmp` exists stopped the run before it was registered (seen under load).
        let registered = || {
            std::fs::read_dir(git_dir.join("oc/inflight")).map_or(0, |d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .count()
            })
        };
        let (registered_before, worktrees_before) = (registered(), count("worktrees"));
        let mut cmd = env.oc_agents(&repo);
        if demo {
            cmd.args(["demo", "--goal", &format!("demo {trial}")]);
        } else {
            cmd.args([
                "run",
                "--goal",
                &format!("killed {trial}"),
                "--backend",
                "command",
                "--",
            ])
            .args(["fake-agent", "mark-wait"])
            .arg(&marker)
            .arg(&release);
        }
        let stderr_file = env.root().join(format!("stderr-{trial}"));
        let stderr = std::fs::File::create(&stderr_file).unwrap();
        let mut child = cmd.stdout(Stdio::null()).stderr(stderr).spawn().unwrap();
        let mut exited = false;
        let mut wait_for = |what: &str, cond: &dyn Fn() -> bool| {
            wait_until(what, || {
                exited = exited || child.try_wait().unwrap().is_some();
                exited || cond()
            });
        };
        match point {
            AtOnce | Finished => {}
            Registered => wait_for("the in-flight registration", &|| registered() > registered_before),
            WorktreeAdded => wait_for("the worktree registration", &|| count("worktrees") > worktrees_before),
            AgentRunning => wait_for("the agent's marker", &|| marker.exists()),
            EvidenceWritten => {
                // The agent must be let go for the run to reach its record stage.
                std::fs::write(&release, "").unwrap();
                wait_for("the evidence ref", &|| env.run_ids(&repo).len() > runs_before)
            }
        }
        if matches!(point, Finished) {
            std::fs::write(&release, "").unwrap();
        } else if !exited {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        }
        let status = child.wait().unwrap();
        // A run that ended on its own must have succeeded: what earlier kills left behind
        // (a lock, a half-registered worktree) must not make later runs fail.
        assert!(
            status.success() || status.signal() == Some(libc::SIGKILL),
            "trial {trial} ({point:?}) failed on its own: {}",
            std::fs::read_to_string(&stderr_file).unwrap()
        );
        if status.success() {
            finished += 1;
        } else if matches!(point, Registered | WorktreeAdded | AgentRunning) && env.run_ids(&repo).len() == runs_before
        {
            // A demo is quick: a kill that lands after its evidence was recorded did not
            // interrupt it.
            killed_in_flight += 1;
        }
        // Let an orphaned agent finish so that nothing lingers after the trial.
        std::fs::write(&release, "").unwrap();
    }
    // The repository is valid right away, before any cleanup.
    fsck(&env, &repo);
    let recorded = assert_evidence_intact(&env, &repo);
    assert!(
        recorded >= finished,
        "{recorded} evidence refs for {finished} finished runs"
    );
    let listed = env.oc(&repo, ["runs", "--json"]);
    listed.assert_code(0);
    let interrupted = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "interrupted")
        .count();
    eprintln!("{finished} runs finished, {recorded} recorded, {interrupted} interrupted mid-run");
    assert!(finished >= 10, "the trials left to finish did: {finished}");
    assert!(killed_in_flight >= 15, "only {killed_in_flight} kills landed mid-run");
    assert!(
        interrupted >= killed_in_flight,
        "every run killed mid-run shows as interrupted ({interrupted} of {killed_in_flight})"
    );
    // Cleanup: interrupted runs' worktrees and registrations, stale locks.
    let gc = env.oc(&repo, ["gc"]);
    gc.assert_code(0);
    assert_eq!(
        env.oc(&repo, ["runs", "--json"])
            .json()
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["outcome"] == "interrupted")
            .count(),
        0
    );
    assert!(
        lock_files(&repo.join(".git")).is_empty(),
        "stale locks: {:?}",
        lock_files(&repo.join(".git"))
    );
    fsck(&env, &repo);
    assert_eq!(assert_evidence_intact(&env, &repo), recorded, "gc touched evidence");
    // Every registered worktree is a finished run's, complete on disk.
    let list = env.git(&repo, ["worktree", "list", "--porcelain"]);
    assert!(!list.contains("prunable"), "{list}");
    // And runs still work.
    env.run_agent(
        &repo,
        [
            "run",
            "--goal",
            "after the storm",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "edit",
        ],
    )
    .assert_code(0);
}

#[test]
fn an_interrupted_run_shows_and_gc_cleans_up_after_it() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let marker = env.root().join("agent-running");
    let mut child = env
        .oc_agents(&repo)
        .args([
            "run",
            "--goal",
            "Hang",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "mark-hang",
        ])
        .arg(&marker)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the agent runs, then kill git-oc itself.
    wait_until("the agent's marker", || marker.exists());
    let running = env.oc(&repo, ["runs"]);
    assert!(running.stdout.contains("running"), "{}", running.stdout);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    // The agent's supervisor tears the agent down and then lets go of the run's lock.
    wait_until("the run to show as interrupted", || {
        env.oc(&repo, ["runs"]).stdout.contains("interrupted")
    });
    let gc = env.oc(&repo, ["gc"]);
    gc.assert_code(0);
    assert!(gc.stdout.contains("what interrupted run"), "{}", gc.stdout);
    assert!(!env.oc(&repo, ["runs"]).stdout.contains("interrupted"));
    assert_eq!(
        env.git(&repo, ["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    fsck(&env, &repo);
}

/// `git oc run --json` of an agent that changes nothing.
fn noop_run(env: &TestEnv, repo: &Path, goal: &str) -> Run {
    env.run_json(
        repo,
        &["--goal", goal, "--backend", "command", "--", "fake-agent", "noop"],
    )
    .0
}

#[test]
fn a_held_notes_lock_gives_a_clear_error_and_keeps_the_evidence() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    // Another process holds refs/notes/oc.
    std::fs::create_dir_all(repo.join(".git/refs/notes")).unwrap();
    std::fs::write(repo.join(".git/refs/notes/oc.lock"), "").unwrap();
    let run = noop_run(&env, &repo, "Locked");
    run.assert_clean_error(1);
    assert!(run.stderr.contains("refs/notes/oc"), "{}", run.stderr);
    assert_eq!(
        env.run_ids(&repo).len(),
        1,
        "the evidence ref was written before the note"
    );
    assert!(
        repo.join(".git/refs/notes/oc.lock").exists(),
        "someone else's lock is left alone"
    );
    std::fs::remove_file(repo.join(".git/refs/notes/oc.lock")).unwrap();
    fsck(&env, &repo);
}

#[test]
fn a_notes_lock_left_by_a_killed_git_oc_is_taken_back() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let first = noop_run(&env, &repo, "First");
    first.assert_code(0);
    // What a git-oc killed while moving refs/notes/oc leaves: its lock on the ref, and its mark
    // in git-oc's notes mutex.
    std::fs::write(repo.join(".git/refs/notes/oc.lock"), "").unwrap();
    std::fs::write(repo.join(".git/oc/notes.mutex"), "refs/notes/oc").unwrap();
    let run = noop_run(&env, &repo, "Second");
    run.assert_code(0);
    assert!(
        !repo.join(".git/refs/notes/oc.lock").exists(),
        "the dead writer's lock is gone"
    );
    let note = env.git(&repo, ["notes", "--ref=oc", "show", "HEAD"]);
    for id in env.run_ids(&repo) {
        assert!(note.contains(&id), "both runs' blocks are in the note: {note}");
    }
    assert_eq!(
        std::fs::read_to_string(repo.join(".git/oc/notes.mutex")).unwrap(),
        "",
        "the mark is cleared"
    );
    fsck(&env, &repo);
}
#[test]
fn a_held_branch_lock_stops_the_run_before_it_starts() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let goal = "Branch locked";
    let plan = env.oc(&repo, ["plan", "--json", "--goal", goal]).json();
    let task = plan["proposal"]["task_id"].as_str().unwrap();
    std::fs::create_dir_all(repo.join(".git/refs/heads/oc")).unwrap();
    std::fs::write(repo.join(format!(".git/refs/heads/oc/{task}.lock")), "").unwrap();
    let run = env.run_agent(
        &repo,
        [
            "run",
            "--goal",
            goal,
            "--backend",
            "command",
            "--",
            "fake-agent",
            "edit",
        ],
    );
    assert!(run.code == 1 || run.code == 2, "{run:?}");
    run.assert_clean_error(run.code);
    assert_eq!(
        env.git(&repo, ["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    std::fs::remove_file(repo.join(format!(".git/refs/heads/oc/{task}.lock"))).unwrap();
    fsck(&env, &repo);
}

#[test]
fn an_evidence_ref_pointing_at_garbage() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let blob = env.git(&repo, ["hash-object", "-w", "README.md"]);
    let id = "7e4a1a9e-0000-4000-8000-000000000000";
    env.git(&repo, ["update-ref", &format!("refs/oc/runs/{id}"), &blob]);
    let run = env.oc(&repo, ["show", id]);
    assert!(run.code == 1 || run.code == 2);
    run.assert_clean_error(run.code);
    let listed = env.oc(&repo, ["runs"]);
    listed.assert_code(0);
    assert!(listed.stderr.contains("does not point at a commit"));
}

#[test]
fn a_worktree_deleted_mid_run() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Vanish",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "delete-worktree",
        ],
    );
    run.assert_code(1);
    assert_eq!(doc["summary"]["outcome_status"], "failed");
    assert!(
        run.stderr.contains("error: "),
        "the lost workspace is reported: {}",
        run.stderr
    );
    let id = doc["summary"]["run_id"].as_str().unwrap();
    assert!(env.run_ids(&repo).contains(&id.to_owned()), "the evidence is in git");
    fsck(&env, &repo);
    env.oc(&repo, ["gc"]).assert_code(0);
    assert_eq!(
        env.git(&repo, ["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
}

/// Run `script` as root in a private mount namespace (read-only or tiny filesystems for faults).
fn in_mount_namespace(env: &TestEnv, dir: &Path, script: &str) -> Run {
    let mut cmd = std::process::Command::new("unshare");
    scrub(&mut cmd, &env.home());
    let path = format!(
        "{}:{}",
        fixtures_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Run::from(
        cmd.env("PATH", path)
            .env("GIT_OC", BIN)
            .current_dir(dir)
            .args(["--mount", "--propagation", "private", "sh", "-c", script])
            .output()
            .expect("unshare"),
    )
}

#[test]
fn a_read_only_git_directory() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let before = env.state(&repo);
    let run = in_mount_namespace(
        &env,
        &repo,
        "mount --bind .git .git && mount -o remount,bind,ro .git && \"$GIT_OC\" demo",
    );
    assert!(
        !run.stderr.contains("unshare:") && !run.stderr.contains("mount:"),
        "the test needs mount namespaces: {}",
        run.stderr
    );
    assert!(run.code == 1 || run.code == 2, "{run:?}");
    run.assert_clean_error(run.code);
    assert_eq!(env.state(&repo), before);
    fsck(&env, &repo);
}

#[test]
fn a_full_workspace_filesystem() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let small = env.root().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=256k tmpfs {small} && \"$GIT_OC\" run --json --goal Fill --workspace-path {small}/ws --backend command -- fake-agent flood-file 2",
        small = small.display()
    );
    let run = in_mount_namespace(&env, &repo, &script);
    assert!(
        !run.stderr.contains("mount:"),
        "the test needs mount namespaces: {}",
        run.stderr
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with("error: ") || run.stdout.contains("\"outcome_status\": \"failed\""),
        "{run:?}"
    );
    assert!(!run.stderr.contains("panicked"));
    assert_eq!(
        env.run_ids(&repo).len(),
        1,
        "the evidence is in git even though the workspace is full"
    );
    fsck(&env, &repo);
    // The tmpfs is gone with the namespace: the worktree registration is stale, gc prunes it.
    env.oc(&repo, ["gc"]).assert_code(0);
    assert_eq!(
        env.git(&repo, ["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
}

#[test]
fn secrets_never_reach_the_logs() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let token = "ghp_LOGGEDtoken0123456789";
    let mut cmd = env.oc_agents(&repo);
    cmd.env("GITHUB_TOKEN", token).env("GIT_OC_LOG", "trace");
    let run = Run::from(
        cmd.args([
            "-vv",
            "run",
            "--goal",
            "logs",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "secret",
        ])
        .output()
        .unwrap(),
    );
    run.assert_code(0);
    assert!(!run.stderr.contains(token), "secret in the logs");
    assert!(!run.stdout.contains(token));
}

#[test]
fn secrets_with_quotes_backslashes_or_json_syntax_never_leave_the_process() {
    for secret in [r#"pa"ss\word1"#, r#"{"key": ["v", 1]}"#] {
        let env = TestEnv::new();
        let repo = env.repo("r");
        let escaped = serde_json::to_string(secret).unwrap();
        let escaped = escaped[1..escaped.len() - 1].to_owned();
        let goal = format!("Use the password {secret} in the config");
        let mut outputs = Vec::new();
        let mut ids = Vec::new();
        for json in [true, false] {
            let mut cmd = env.oc_agents(&repo);
            cmd.env("DB_PASSWORD", secret).arg("-v").arg("run");
            if json {
                cmd.arg("--json");
            }
            cmd.args([
                "--goal",
                &goal,
                "--branch",
                "t/{run}",
                "--backend",
                "command",
                "--",
                "fake-agent",
                "edit",
            ]);
            // The agent writes the goal, and so the secret, into a file: the gate rejects it.
            let run = Run::from(cmd.output().unwrap());
            run.assert_code(1);
            outputs.push(format!("{}{}", run.stdout, run.stderr));
            if json {
                let doc = run.json();
                assert_eq!(doc["summary"]["outcome_status"], "blocked");
                assert_eq!(
                    doc["post_run_policy_decision"]["violations"][0]["rule_id"],
                    "secret.value_in_diff"
                );
                ids.push(doc["result"]["run_id"].as_str().unwrap().to_owned());
            }
        }
        let id = &ids[0];
        for file in env
            .git(&repo, ["ls-tree", "--name-only", &format!("refs/oc/runs/{id}")])
            .lines()
        {
            let bytes = env.evidence(&repo, id, file);
            let text = String::from_utf8_lossy(&bytes);
            outputs.push(text.to_string());
            if file.ends_with(".json") {
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
            }
        }
        outputs.push(env.git(&repo, ["log", "--all", "--format=%B%n%N", "--notes=oc"]));
        outputs.push(env.oc(&repo, ["runs", "--json"]).stdout);
        outputs.push(env.oc(&repo, ["show", id]).stdout);
        for text in &outputs {
            assert!(
                !text.contains(secret) && !text.contains(&escaped),
                "the secret leaked:\n{text}"
            );
        }
    }
}
