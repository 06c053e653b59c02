//! The trust boundary outside the run pipeline (issue 12): policy layering and patterns, hostile
//! configuration files, process containment and liveness, workspace placement and repository
//! discovery, secrets in names and URLs, terminal safety, and truthful tools (show, push, fetch,
//! init, gc, doctor). Every reproduction runs the real binary against a real repository.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

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

/// Wait for an observable event (a marker file, a process ending). The bound only turns a hang
/// into a failure; nothing is asserted about how long the event took.
#[track_caller]
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill(pid: u32, sig: i32) {
    // SAFETY: signalling a process this test started.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

fn pids_in(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn worktree_count(env: &TestEnv, repo: &Path) -> usize {
    env.git(repo, ["worktree", "list", "--porcelain"])
        .matches("worktree ")
        .count()
}

/// Bad input: exit 2 with one `error:` and a `hint:`, and nothing left behind.
#[track_caller]
fn refused(env: &TestEnv, repo: &Path, run: &Run, before: &RepoState) {
    run.assert_clean_error(2);
    assert_eq!(&env.state(repo), before, "a refused command must leave nothing behind");
    fsck(env, repo);
}

fn spawn_sh(env: &TestEnv, repo: &Path, goal: &str, script: &str) -> Child {
    env.oc_agents(repo)
        .args([
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
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(mut child: Child) -> (Run, serde_json::Value) {
    let mut stdout = String::new();
    let mut stderr = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    let doc = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        },
        doc,
    )
}

// ---------------------------------------------------------------------------------------------
// Item 6: policy layering fails closed, and `policy show` says what applies.

#[test]
fn a_small_repository_policy_keeps_the_default_protections() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    // The reproduction: one entry with only blocked_task_types removed every built-in rule.
    write_config(
        &repo,
        "[[policy.repo_policies]]\nrepo_key = \"r\"\nblocked_task_types = [\"documentation\"]\n",
    );
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            "Write a key",
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
    assert_eq!(doc["summary"]["post_run_policy_status"], "block", "{}", run.stdout);
    assert!(run.stdout.contains("\"path.blocked\""), "{}", run.stdout);
    // The neighbours: a review path still needs review, the repository's own rule still holds.
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
            "x",
        ],
    );
    run.assert_code(1);
    assert_eq!(doc["summary"]["needs_review"], true, "{}", run.stdout);
    let check = env.run_agent(
        &repo,
        [
            "policy",
            "check",
            "--json",
            "--goal",
            "x",
            "--task-type",
            "documentation",
        ],
    );
    check.assert_code(1);
    assert_eq!(
        check.json()["policy_decision"]["violations"][0]["rule_id"],
        "task_type.blocked"
    );
    let feature = env.run_agent(
        &repo,
        ["policy", "check", "--json", "--goal", "x", "--task-type", "feature"],
    );
    feature.assert_code(1);
    assert_eq!(feature.json()["policy_decision"]["status"], "require_review");
    fsck(&env, &repo);
}

#[test]
fn replacing_the_defaults_is_explicit_and_shown() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    write_config(
        &repo,
        "[[policy.repo_policies]]\nrepo_key = \"r\"\nreplace_defaults = true\n",
    );
    let check = env.run_agent(
        &repo,
        [
            "policy",
            "check",
            "--json",
            "--goal",
            "x",
            "--task-type",
            "feature",
            "--path",
            ".ssh/id_rsa",
        ],
    );
    check.assert_code(0);
    let show = env.run_agent(&repo, ["policy", "show"]);
    show.assert_code(0);
    assert!(
        show.stdout
            .contains("inherits          : nothing: replace_defaults = true"),
        "{}",
        show.stdout
    );
    assert!(show.stdout.contains("replace_defaults = true"), "{}", show.stdout);
}

#[test]
fn policy_show_names_every_rule_its_source_and_the_repository_key() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    write_config(
        &repo,
        "[run]\nrepo_key = \"svc\"\n[[policy.repo_policies]]\nrepo_key = \"svc\"\n\
         [[policy.repo_policies.path_policy.rules]]\npath_pattern = \"vendor/**\"\naccess_mode = \"block\"\n",
    );
    let show = env.run_agent(&repo, ["policy", "show"]);
    show.assert_code(0);
    let text = &show.stdout;
    assert!(
        text.contains("repository key    : svc (from run.repo_key in the repository file"),
        "{text}"
    );
    assert!(
        text.contains("selected          : repo_policies[0] (repo_key='svc') from repository file"),
        "{text}"
    );
    assert!(text.contains("inherits          : built-in default\n"), "{text}");
    let rule = |mode: &str, pattern: &str| {
        text.lines()
            .find(|l| l.split_whitespace().take(2).eq([mode, pattern]))
            .unwrap_or_else(|| panic!("no rule {mode} {pattern} in:\n{text}"))
            .to_owned()
    };
    assert!(rule("block", "vendor/**").contains("from repository file"));
    assert!(rule("block", "**/.ssh/**").ends_with("built-in default"));
    assert!(rule("review_required", ".github/workflows/**").ends_with("built-in default"));

    let json = env.run_agent(&repo, ["policy", "show", "--json"]);
    json.assert_code(0);
    let doc = json.json();
    let effective = &doc["effective"];
    assert_eq!(effective["repo_key"], "svc");
    assert_eq!(effective["layers"][0]["name"], "repo_policies[0] (repo_key='svc')");
    assert_eq!(effective["layers"][1]["name"], "built-in default");
    assert_eq!(effective["path_rules"][0]["path_pattern"], "vendor/**");
    assert_eq!(effective["path_rules"][1]["path_pattern"], "**/.ssh/**");
    assert_eq!(effective["path_rules"][1]["source"]["kind"], "default");

    // Without run.repo_key the key is derived, and said so.
    write_config(&repo, "");
    let show = env.run_agent(&repo, ["policy", "show"]);
    assert!(
        show.stdout
            .contains("repository key    : r (from the origin remote's URL, else the work tree's name"),
        "{}",
        show.stdout
    );
    // A case-insensitive repository matches paths case-insensitively, and its digest says so.
    let digest = |env: &TestEnv| env.run_agent(&repo, ["policy", "show", "--json"]).json()["policy_digest"].clone();
    let sensitive = digest(&env);
    env.git(&repo, ["config", "core.ignorecase", "true"]);
    let shown = env.run_agent(&repo, ["policy", "show", "--json"]).json();
    assert_eq!(shown["effective"]["ignore_case"], true);
    assert_ne!(digest(&env), sensitive);
}

#[test]
fn unknown_task_types_and_risk_levels_in_a_policy_are_errors_at_load() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    for (config, named) in [
        (
            "[[policy.repo_policies]]\nrepo_key = \"r\"\nblocked_task_types = [\"dependency_updat\"]\n",
            "'dependency_updat'",
        ),
        (
            "[[policy.repo_policies]]\nrepo_key = \"r\"\n[policy.repo_policies.review_requirement]\n\
             require_review_for_task_types = [\"refactr\"]\n",
            "'refactr'",
        ),
        (
            "[[policy.repo_policies]]\nrepo_key = \"r\"\n[[policy.repo_policies.validation_requirements]]\n\
             applies_to_risk_levels = [\"critical\"]\n",
            "'critical'",
        ),
    ] {
        write_config(&repo, config);
        let before = env.state(&repo);
        let run = env.run_agent(
            &repo,
            ["run", "--goal", "x", "--backend", "command", "--", "fake-agent", "noop"],
        );
        refused(&env, &repo, &run, &before);
        assert!(run.stderr.contains(named), "{named}: {}", run.stderr);
        env.run_agent(&repo, ["policy", "show"]).assert_clean_error(2);
    }
}

#[test]
fn branch_guardrails_that_can_never_be_satisfied_are_reported() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    for (entry, why) in [
        ("refs/heads/main", "not full ref names"),
        ("release/*", "exact branch names, not patterns"),
        ("", "it is empty"),
    ] {
        write_config(
            &repo,
            &format!(
                "[[policy.repo_policies]]\nrepo_key = \"r\"\n[policy.repo_policies.branch_guardrail]\n\
                 allowed_base_branches = [\"{entry}\"]\n"
            ),
        );
        let before = env.state(&repo);
        let run = env.run_agent(&repo, ["plan", "--goal", "x"]);
        refused(&env, &repo, &run, &before);
        assert!(run.stderr.contains("can never match a base branch"), "{}", run.stderr);
        assert!(run.stderr.contains(why), "{}", run.stderr);
    }
    // The reference's contradiction keeps being reported.
    write_config(
        &repo,
        "[[policy.repo_policies]]\nrepo_key = \"r\"\n[policy.repo_policies.branch_guardrail]\n\
         allow_direct_commit = true\n",
    );
    let run = env.run_agent(&repo, ["plan", "--goal", "x"]);
    run.assert_clean_error(2);
    assert!(run.stderr.contains("contradiction"), "{}", run.stderr);
}

#[test]
fn policy_messages_never_say_python_booleans() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    write_config(
        &repo,
        "[[policy.repo_policies]]\nrepo_key = \"r\"\n[policy.repo_policies.branch_guardrail]\nrequire_pr = true\n",
    );
    let check = env.run_agent(&repo, ["policy", "check", "--json", "--goal", "x"]);
    let doc = check.json();
    let violations = doc["policy_decision"]["violations"].as_array().unwrap();
    let pr = violations
        .iter()
        .find(|v| v["rule_id"] == "branch.pr_required")
        .unwrap();
    let message = pr["message"].as_str().unwrap();
    assert!(!message.contains("False") && !message.contains("True"), "{message}");
    let text = env.run_agent(&repo, ["policy", "check", "--goal", "x"]).stdout;
    assert!(!text.contains("False") && !text.contains("True"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Item 5: pattern spellings and case.

#[test]
fn block_patterns_are_normalised_or_rejected_at_load() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    for pattern in ["./secret/**", "secret//**", "secret/./**"] {
        write_config(
            &repo,
            &format!(
                "[[policy.repo_policies]]\nrepo_key = \"r\"\n[[policy.repo_policies.path_policy.rules]]\n\
                 path_pattern = \"{pattern}\"\naccess_mode = \"block\"\n"
            ),
        );
        let (run, doc) = env.run_json(
            &repo,
            &[
                "--goal",
                &format!("Write under {pattern}"),
                "--backend",
                "command",
                "--",
                "fake-agent",
                "write",
                "secret/key.pem",
                "k",
            ],
        );
        run.assert_code(1);
        assert_eq!(
            doc["summary"]["post_run_policy_status"], "block",
            "{pattern}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("(pattern: 'secret/**')"),
            "{pattern}: {}",
            run.stdout
        );
        let show = env.run_agent(&repo, ["policy", "show", "--json"]).json();
        assert_eq!(show["effective"]["path_rules"][0]["path_pattern"], "secret/**");
    }
    for (pattern, why) in [
        ("x/../secret/**", "contains '..'"),
        ("../secret/**", "contains '..'"),
        ("!secret/**", "negation is not supported"),
        ("./", "matches nothing"),
    ] {
        write_config(
            &repo,
            &format!(
                "[[policy.repo_policies]]\nrepo_key = \"r\"\n[[policy.repo_policies.path_policy.rules]]\n\
                 path_pattern = \"{pattern}\"\naccess_mode = \"block\"\n"
            ),
        );
        let before = env.state(&repo);
        let run = env.run_agent(
            &repo,
            ["run", "--goal", "x", "--backend", "command", "--", "fake-agent", "noop"],
        );
        refused(&env, &repo, &run, &before);
        assert!(run.stderr.contains(why), "{pattern}: {}", run.stderr);
    }
}

#[test]
fn a_declared_scope_spelled_with_dots_cannot_slip_past_a_rule() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    for path in ["./.ssh/id_rsa", "x/../.ssh/id_rsa", ".ssh//id_rsa"] {
        let check = env.run_agent(&repo, ["policy", "check", "--json", "--goal", "x", "--path", path]);
        check.assert_code(1);
        assert_eq!(
            check.json()["policy_decision"]["violations"][0]["rule_id"],
            "path.blocked",
            "{path}"
        );
    }
    let check = env.run_agent(
        &repo,
        [
            "policy",
            "check",
            "--json",
            "--goal",
            "x",
            "--path",
            "x/../.github/workflows/ci.yml",
        ],
    );
    assert_eq!(check.json()["policy_decision"]["status"], "require_review");
}

// ---------------------------------------------------------------------------------------------
// Item 7: hostile repository files.

fn config_path(repo: &Path) -> PathBuf {
    repo.join(".oc/config.toml")
}

#[test]
fn a_configuration_file_that_is_not_a_regular_file_is_refused() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    std::fs::create_dir_all(repo.join(".oc")).unwrap();
    type Make = Box<dyn Fn(&Path)>;
    let make: [(&str, Make); 4] = [
        (
            "a character device",
            Box::new(|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap()),
        ),
        ("a named pipe (FIFO)", Box::new(|p: &Path| mkfifo(p))),
        ("a directory", Box::new(|p: &Path| std::fs::create_dir(p).unwrap())),
        (
            "cannot read configuration file",
            Box::new(|p: &Path| {
                std::mem::forget(std::os::unix::net::UnixListener::bind(p).unwrap());
            }),
        ),
    ];
    for (kind, create) in make {
        let path = config_path(&repo);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&path);
        create(&path);
        let before = env.state(&repo);
        let run = env.run_agent(
            &repo,
            ["run", "--goal", "x", "--backend", "command", "--", "fake-agent", "noop"],
        );
        refused(&env, &repo, &run, &before);
        assert!(run.stderr.contains(kind), "{kind}: {}", run.stderr);
        for cmd in [&["policy", "show"][..], &["plan", "--goal", "x"][..], &["gc"][..]] {
            env.run_agent(&repo, cmd).assert_clean_error(2);
        }
        let doctor = env.run_agent(&repo, ["doctor"]);
        doctor.assert_code(1);
        assert!(doctor.stdout.contains("fail  config"), "{}", doctor.stdout);
    }
    // A symlink to nowhere is not "no configuration".
    let path = config_path(&repo);
    let _ = std::fs::remove_file(&path);
    std::os::unix::fs::symlink(repo.join("missing.toml"), &path).unwrap();
    env.run_agent(&repo, ["plan", "--goal", "x"]).assert_clean_error(2);
}

#[test]
fn the_user_configuration_file_is_read_the_same_careful_way() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let dir = env.home().join(".config/git-oc");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("config.toml")).unwrap();
    let run = env.run_agent(&repo, ["plan", "--goal", "x"]);
    run.assert_clean_error(2);
    assert!(
        run.stderr.contains("is a character device, not a regular file"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_routing_policy_file_that_is_not_a_regular_file_is_refused() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    write_config(&repo, "[routing]\npolicy_file = \"policy.yaml\"\n");
    std::os::unix::fs::symlink("/dev/zero", repo.join(".oc/policy.yaml")).unwrap();
    let before = env.state(&repo);
    let run = env.run_agent(&repo, ["run", "--goal", "x"]);
    refused(&env, &repo, &run, &before);
    assert!(run.stderr.contains("routing policy"), "{}", run.stderr);
    std::fs::remove_file(repo.join(".oc/policy.yaml")).unwrap();
    mkfifo(&repo.join(".oc/policy.yaml"));
    let before = env.state(&repo);
    let run = env.run_agent(&repo, ["run", "--goal", "x"]);
    refused(&env, &repo, &run, &before);
    assert!(run.stderr.contains("a named pipe (FIFO)"), "{}", run.stderr);
}

#[test]
fn deeply_nested_files_are_refused_before_any_parser_runs() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    // The reproduction: about 200 KB of nested YAML kept the parser busy for a minute.
    let flow = format!("rules: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let block: String = (0..300).map(|i| format!("{}k{i}:\n", "  ".repeat(i))).collect();
    let dashes = format!("rules:\n{}x\n", "- ".repeat(100_000));
    for (name, text) in [("flow.yaml", &flow), ("block.yaml", &block), ("dashes.yaml", &dashes)] {
        std::fs::create_dir_all(repo.join(".oc")).unwrap();
        std::fs::write(repo.join(".oc").join(name), text).unwrap();
        write_config(&repo, &format!("[routing]\npolicy_file = \"{name}\"\n"));
        let before = env.state(&repo);
        let run = env.run_agent(&repo, ["run", "--goal", "x"]);
        refused(&env, &repo, &run, &before);
        assert!(
            run.stderr.contains("nests deeper than the limit of 64 levels"),
            "{name}: {}",
            run.stderr
        );
    }
    let toml = format!("[run]\nvalidate = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    std::fs::write(config_path(&repo), toml).unwrap();
    let run = env.run_agent(&repo, ["plan", "--goal", "x"]);
    run.assert_clean_error(2);
    assert!(
        run.stderr.contains("nests deeper than the limit of 64 levels"),
        "{}",
        run.stderr
    );
}

#[test]
fn oversized_configuration_is_refused() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let mut text = String::from("[run]\ntimeout = 5\n");
    while text.len() <= 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    write_config(&repo, &text);
    let run = env.run_agent(&repo, ["plan", "--goal", "x"]);
    run.assert_clean_error(2);
    assert!(run.stderr.contains("is larger than 1024 KiB"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// Item 8: process containment and liveness.

#[test]
fn agents_die_with_git_oc_and_gc_then_cleans_up() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let pids = env.root().join("pids");
    let script = format!(
        "sleep 1000 & echo $! >> {p}; setsid sleep 1001 & echo $! >> {p}; \
         (while :; do date >> tick.txt; sleep 0.05; done) & echo $! >> {p}; echo $$ >> {p}; \
         touch {p}.ready; wait",
        p = pids.display()
    );
    let child = spawn_sh(&env, &repo, "Keep writing", &script);
    wait_for("the agent to start", || env.root().join("pids.ready").exists());
    let running = env.oc(&repo, ["runs"]);
    assert!(running.stdout.contains("running"), "{}", running.stdout);
    // gc leaves a live run alone, whatever its age.
    let gc = env.oc(&repo, ["gc", "--older-than", "0"]);
    gc.assert_code(0);
    assert!(gc.stderr.contains("a run is in progress there"), "{}", gc.stderr);
    assert_eq!(worktree_count(&env, &repo), 2);

    // SIGKILL git-oc itself (as the OOM killer would).
    kill(child.id(), libc::SIGKILL);
    let (_run, _) = finish(child);
    let agent_pids = pids_in(&pids);
    assert_eq!(agent_pids.len(), 4, "{agent_pids:?}");
    wait_for("every agent process to die with git-oc", || {
        agent_pids.iter().all(|p| !process_alive(*p))
    });
    wait_for("the run to count as interrupted", || {
        env.oc(&repo, ["runs"]).stdout.contains("interrupted")
    });
    let gc = env.oc(&repo, ["gc"]);
    gc.assert_code(0);
    assert!(gc.stdout.contains("what interrupted run"), "{}", gc.stdout);
    assert_eq!(worktree_count(&env, &repo), 1);
    fsck(&env, &repo);
}

#[test]
fn nothing_an_agent_started_outlives_its_run() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let pids = env.root().join("pids");
    // A setsid grandchild, a double-forked daemon and a child that ignores SIGTERM and SIGHUP.
    let script = format!(
        "setsid sh -c 'sleep 1000; echo late > late.txt' & echo $! >> {p}; \
         ( (sleep 1002; echo late2 > late2.txt) & echo $! >> {p} ) ; \
         sh -c \"trap '' TERM HUP; sleep 1003\" & echo $! >> {p}; \
         echo now > now.txt",
        p = pids.display()
    );
    let (run, doc) = env.run_sh(&repo, "Leave processes behind", &script);
    run.assert_code(0);
    let left = pids_in(&pids);
    assert_eq!(left.len(), 3, "{left:?}");
    // Checked right after git-oc returned: everything was gone before the snapshot.
    for pid in &left {
        assert!(!process_alive(*pid), "process {pid} outlived the run");
    }
    assert_eq!(doc["summary"]["changed_files"], 1, "{}", run.stdout);
    let worktree = PathBuf::from(doc["summary"]["worktree"].as_str().unwrap());
    assert!(env.git(&worktree, ["status", "--porcelain"]).is_empty());
    fsck(&env, &repo);
}

#[test]
fn a_second_ctrl_c_still_records_the_evidence() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let marks = env.root();
    let script = format!(
        "trap 'touch {m}/got-term' TERM; touch {m}/started; while :; do sleep 0.05; done",
        m = marks.display()
    );
    let child = spawn_sh(&env, &repo, "Ignore SIGTERM", &script);
    wait_for("the agent to start", || marks.join("started").exists());
    kill(child.id(), libc::SIGINT);
    wait_for("the agent to get SIGTERM", || marks.join("got-term").exists());
    kill(child.id(), libc::SIGINT);
    let (run, doc) = finish(child);
    assert_eq!(run.code, 130, "{run:?}");
    assert_eq!(doc["summary"]["outcome_status"], "cancelled", "{}", run.stdout);
    let ids = env.run_ids(&repo);
    assert_eq!(ids.len(), 1, "the evidence is in git");
    assert_eq!(
        env.evidence_json(&repo, &ids[0], "summary.json")["outcome_status"],
        "cancelled"
    );
    assert!(!env.oc(&repo, ["runs"]).stdout.contains("running"));
    fsck(&env, &repo);
}

#[test]
fn liveness_is_the_lock_not_a_process_id() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    // A registration whose recorded pid is alive (this test process; as good as a reused pid or
    // a pid seen from another namespace) but whose lock nobody holds: the run is dead.
    let dir = repo.join(".git/oc/inflight");
    std::fs::create_dir_all(&dir).unwrap();
    let run_id = "0b1a7e55-0000-4000-8000-000000000001";
    let entry = serde_json::json!({
        "run_id": run_id,
        "pid": std::process::id(),
        "started_at": "2026-01-02T03:04:05.000000Z",
        "workspace": repo.join(".git/oc/worktrees/gone"),
        "branch": "oc/gone",
        "goal": "killed in a PID namespace",
        "lane": "aider_local",
        "backend": "command",
    });
    std::fs::write(dir.join(format!("{run_id}.json")), entry.to_string()).unwrap();
    let runs = env.oc(&repo, ["runs"]);
    assert!(runs.stdout.contains("interrupted"), "{}", runs.stdout);
    assert!(!runs.stdout.contains("running"), "{}", runs.stdout);
    let gc = env.oc(&repo, ["gc"]);
    assert!(
        gc.stdout.contains(&format!("what interrupted run {run_id} left")),
        "{}",
        gc.stdout
    );
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
}

#[test]
fn a_run_killed_inside_a_pid_namespace_does_not_show_running_forever() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let path = format!(
        "{}:{}",
        fixtures_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = std::process::Command::new("unshare");
    scrub(&mut cmd, &env.home());
    let mut child = cmd
        .env("PATH", path)
        .env("GIT_OC", BIN)
        .current_dir(&repo)
        .args(["--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c"])
        .arg("exec \"$GIT_OC\" run --goal Hang --backend command -- fake-agent hang")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let inflight = repo.join(".git/oc/inflight");
    let registered = || {
        std::fs::read_dir(&inflight)
            .map(|d| d.flatten().any(|e| e.path().extension().is_some_and(|x| x == "json")))
            .unwrap_or(false)
    };
    let give_up = Instant::now() + Duration::from_secs(60);
    while !registered() {
        if child.try_wait().unwrap().is_some() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            eprintln!("skipped: PID namespaces are not available here: {err}");
            return;
        }
        assert!(Instant::now() < give_up, "the run never registered");
        std::thread::sleep(Duration::from_millis(10));
    }
    let runs = env.oc(&repo, ["runs"]);
    assert!(runs.stdout.contains("running"), "{}", runs.stdout);
    // The recorded pid is the namespace's own (1): from here it names another process, alive.
    let entry = std::fs::read_dir(&inflight).unwrap().flatten().next().unwrap().path();
    let recorded: serde_json::Value = serde_json::from_slice(&std::fs::read(entry).unwrap()).unwrap();
    assert_eq!(recorded["pid"], 1);
    kill(child.id(), libc::SIGKILL);
    child.wait().unwrap();
    wait_for("the killed run to count as interrupted", || {
        env.oc(&repo, ["runs"]).stdout.contains("interrupted")
    });
    let gc = env.oc(&repo, ["gc"]);
    assert!(gc.stdout.contains("what interrupted run"), "{}", gc.stdout);
    assert_eq!(worktree_count(&env, &repo), 1);
    fsck(&env, &repo);
}

#[test]
fn gc_racing_starting_runs_never_deletes_their_branches() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    for i in 0..6 {
        let mut child = env
            .oc_agents(&repo)
            .args([
                "run",
                "--json",
                "--goal",
                &format!("Race {i}"),
                "--backend",
                "command",
                "--",
                "fake-agent",
                "write",
                &format!("f{i}.txt"),
                "x",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // gc as often as it can while the run starts, works and commits.
        while child.try_wait().unwrap().is_none() {
            env.oc(&repo, ["gc", "--older-than", "0"]).assert_code(0);
        }
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("run {i}: {out}{err}"));
        assert_eq!(doc["summary"]["outcome_status"], "executed", "run {i}: {out}");
        let branch = doc["summary"]["branch"].as_str().unwrap();
        let commit = doc["summary"]["commit"].as_str().unwrap();
        assert_eq!(env.git(&repo, ["rev-parse", &format!("refs/heads/{branch}")]), commit);
    }
    fsck(&env, &repo);
}

#[test]
fn the_first_concurrent_runs_in_a_fresh_repository_do_not_race() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    assert!(!repo.join(".git/oc").exists());
    let children: Vec<Child> = (0..4)
        .map(|i| {
            env.oc_agents(&repo)
                .args([
                    "run",
                    "--json",
                    "--goal",
                    &format!("First {i}"),
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
    for child in children {
        let (run, _) = finish(child);
        run.assert_code(0);
    }
    assert_eq!(env.run_ids(&repo).len(), 4);
    fsck(&env, &repo);
}

// ---------------------------------------------------------------------------------------------
// Item 9: workspace placement, environment, repositories git refuses.

#[test]
fn a_workspace_inside_the_work_tree_or_the_git_directory_is_refused() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::os::unix::fs::symlink(repo.join(".git"), env.root().join("into-git")).unwrap();
    let into_git = env.root().join("into-git/objects/zz");
    let paths: Vec<PathBuf> = vec![
        repo.join("src/ws"),
        PathBuf::from("src/ws"),
        repo.join(".git/refs/heads/x"),
        repo.join(".git/objects/zz"),
        repo.join(".git/oc/worktrees"),
        repo.join(".git/oc/worktrees/a/b"),
        repo.join(".git/oc"),
        into_git,
    ];
    let before = env.state(&repo);
    for path in &paths {
        let p = path.to_str().unwrap();
        for args in [
            vec![
                "run",
                "--goal",
                "x",
                "--workspace-path",
                p,
                "--backend",
                "command",
                "--",
                "fake-agent",
                "edit",
            ],
            vec!["demo", "--workspace-path", p],
        ] {
            let run = env.run_agent(&repo, &args);
            refused(&env, &repo, &run, &before);
            assert!(
                run.stderr.contains("is inside the work tree")
                    || run.stderr.contains("is inside the repository's git directory"),
                "{p}: {}",
                run.stderr
            );
            assert!(!repo.join("src/ws").exists() && !repo.join(".git/refs/heads/x").exists());
            assert!(!repo.join(".git/objects/zz").exists() && !repo.join(".git/oc/worktrees/a").exists());
        }
    }
    assert!(
        env.git(&repo, ["status", "--porcelain", "--untracked-files=all"])
            .is_empty()
    );
    // git-oc's own location keeps working, and so does a directory beside the repository.
    env.run_agent(
        &repo,
        [
            "run",
            "--goal",
            "Default place",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "edit",
        ],
    )
    .assert_code(0);
    let beside = env.root().join("beside");
    env.run_agent(
        &repo,
        [
            "run",
            "--goal",
            "Beside",
            "--workspace-path",
            beside.to_str().unwrap(),
            "--backend",
            "command",
            "--",
            "fake-agent",
            "edit",
        ],
    )
    .assert_code(0);
    fsck(&env, &repo);
}

#[test]
fn git_index_file_does_not_redirect_git_ocs_own_index() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let alt = env.root().join("alt-index");
    let user_index = std::fs::read(repo.join(".git/index")).unwrap();
    let run = Run::from(
        env.oc_agents(&repo)
            .env("GIT_INDEX_FILE", &alt)
            .args([
                "run",
                "--json",
                "--goal",
                "Edit",
                "--backend",
                "command",
                "--",
                "fake-agent",
                "edit",
            ])
            .output()
            .unwrap(),
    );
    run.assert_code(0);
    assert!(!alt.exists(), "git-oc wrote the index named by GIT_INDEX_FILE");
    assert_eq!(std::fs::read(repo.join(".git/index")).unwrap(), user_index);
    let doc = run.json();
    assert_eq!(doc["summary"]["outcome_status"], "executed");
    let worktree = PathBuf::from(doc["summary"]["worktree"].as_str().unwrap());
    assert!(env.git(&worktree, ["status", "--porcelain"]).is_empty());
    fsck(&env, &repo);
}

#[test]
fn a_repository_git_refuses_for_its_ownership_is_refused_the_same_way() {
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to give the repository another owner");
        return;
    }
    let env = TestEnv::new();
    let repo = env.repo("r");
    let out = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&repo)
        .output()
        .unwrap();
    assert!(out.status.success());
    let git = env.git_output(&repo, ["status"]);
    assert!(!git.status.success(), "git refuses it too");
    for args in [&["runs"][..], &["plan", "--goal", "x"][..], &["gc"][..]] {
        let run = env.oc(&repo, args);
        run.assert_clean_error(2);
        assert!(run.stderr.contains("detected dubious ownership"), "{}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("git config --global --add safe.directory {}", repo.display())),
            "{}",
            run.stderr
        );
    }
    // Trusted the way git trusts it, it works.
    let global = env.root().join("gitconfig");
    std::fs::write(&global, format!("[safe]\n\tdirectory = {}\n", repo.display())).unwrap();
    let run = Run::from(
        env.oc_cmd(&repo)
            .env("GIT_CONFIG_GLOBAL", &global)
            .args(["runs"])
            .output()
            .unwrap(),
    );
    run.assert_code(0);
}

#[test]
fn a_sha256_repository_gets_a_clear_not_supported_error() {
    let env = TestEnv::new();
    let repo = env.root().join("sha256");
    std::fs::create_dir_all(&repo).unwrap();
    env.git(&repo, ["init", "-q", "--object-format=sha256", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "x\n").unwrap();
    env.git(&repo, ["add", "."]);
    env.git(&repo, ["commit", "-q", "-m", "init"]);
    let before = env.state(&repo);
    for args in [
        &["runs"][..],
        &["demo"][..],
        &["run", "--goal", "x", "--backend", "command", "--", "fake-agent", "edit"][..],
    ] {
        let run = env.run_agent(&repo, args);
        refused(&env, &repo, &run, &before);
        assert!(
            run.stderr.contains("(SHA-256)") && run.stderr.contains("does not support"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("not inside a git repository"), "{}", run.stderr);
    }
}

// ---------------------------------------------------------------------------------------------
// Item 11: secrets by provider names and in URLs.

#[test]
fn provider_secret_names_are_redacted() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let run = Run::from(
        env.oc_agents(&repo)
            .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY")
            .env("STRIPE_SECRET_KEY", "sk_live_abcdefghijklmnop")
            .env("DEPLOY_PRIVATE_KEY", "private-key-material-123")
            .env("MINIO_ACCESS_KEY", "minio-access-key-456")
            .args([
                "run",
                "--json",
                "--goal",
                "Print them",
                "--backend",
                "command",
                "--",
                "sh",
                "-c",
                "echo $AWS_SECRET_ACCESS_KEY $STRIPE_SECRET_KEY; echo $DEPLOY_PRIVATE_KEY $MINIO_ACCESS_KEY >&2",
            ])
            .output()
            .unwrap(),
    );
    run.assert_code(0);
    let id = run.json()["summary"]["run_id"].as_str().unwrap().to_owned();
    let out = String::from_utf8(env.evidence(&repo, &id, "stdout.txt")).unwrap();
    let err = String::from_utf8(env.evidence(&repo, &id, "stderr.txt")).unwrap();
    assert_eq!(
        out.trim(),
        "[REDACTED:AWS_SECRET_ACCESS_KEY] [REDACTED:STRIPE_SECRET_KEY]"
    );
    assert_eq!(err.trim(), "[REDACTED:DEPLOY_PRIVATE_KEY] [REDACTED:MINIO_ACCESS_KEY]");
    for secret in ["wJalrXUtnFEMI", "sk_live_", "private-key-material", "minio-access"] {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "{secret}");
    }
}

#[test]
fn credentials_in_the_switchboard_url_are_never_printed() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    write_config(
        &repo,
        "[routing]\nrouter = \"switchboard\"\nswitchboard_url = \"http://sbuser:hunter2pass@127.0.0.1:9\"\ntimeout = 2\n",
    );
    let runs = [
        env.run_agent(&repo, ["doctor"]),
        env.run_agent(&repo, ["doctor", "--json"]),
        env.run_agent(&repo, ["policy", "show"]),
        env.run_agent(&repo, ["policy", "show", "--json"]),
        env.run_agent(&repo, ["plan", "--goal", "x"]),
        env.run_agent(&repo, ["run", "--goal", "x"]),
    ];
    for run in &runs {
        assert!(
            !run.stdout.contains("hunter2pass") && !run.stderr.contains("hunter2pass"),
            "{run:?}"
        );
        assert!(
            !run.stdout.contains("sbuser") && !run.stderr.contains("sbuser"),
            "{run:?}"
        );
    }
    assert!(
        runs[0].stdout.contains("http://[REDACTED]@127.0.0.1:9"),
        "{}",
        runs[0].stdout
    );
    assert!(
        runs[2].stdout.contains("http://[REDACTED]@127.0.0.1:9"),
        "{}",
        runs[2].stdout
    );
    assert!(runs[4].stderr.contains("[REDACTED]@127.0.0.1:9"), "{}", runs[4].stderr);
    // The same from the environment.
    let plan = Run::from(
        env.oc_agents(&repo)
            .env("GIT_OC_SWITCHBOARD_URL", "http://envuser:envpass123@127.0.0.1:9")
            .args(["plan", "--goal", "x"])
            .output()
            .unwrap(),
    );
    assert!(
        !plan.stderr.contains("envpass123") && !plan.stderr.contains("envuser"),
        "{}",
        plan.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// Items 12 and 13: terminal safety and truthful tools.

#[test]
fn doctor_is_unhealthy_when_the_notes_ref_is_not_a_commit() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let healthy = env.run_agent(&repo, ["doctor"]);
    healthy.assert_code(0);
    let blob = env.git(&repo, ["hash-object", "-w", "README.md"]);
    env.git(&repo, ["update-ref", "refs/notes/oc", &blob]);
    let doctor = env.run_agent(&repo, ["doctor"]);
    doctor.assert_code(1);
    assert!(doctor.stdout.contains("fail  notes"), "{}", doctor.stdout);
    assert!(doctor.stdout.contains("points at a blob"), "{}", doctor.stdout);
    assert!(doctor.stdout.ends_with("not healthy\n"));
    let json = env.run_agent(&repo, ["doctor", "--json"]);
    assert_eq!(json.json()["healthy"], false);
}

#[test]
fn control_characters_are_escaped_in_human_output_and_exact_in_json() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let goal = "Set the title \u{1b}]0;owned\u{7} and colour \u{1b}[31mred";
    let (run, doc) = env.run_json(
        &repo,
        &[
            "--goal",
            goal,
            "--backend",
            "command",
            "--",
            "fake-agent",
            "write",
            "a\u{1b}[2Jb.txt",
            "x",
        ],
    );
    run.assert_code(0);
    let id = doc["summary"]["run_id"].as_str().unwrap().to_owned();
    for args in [vec!["runs"], vec!["show", id.as_str()]] {
        let out = env.oc(&repo, &args);
        out.assert_code(0);
        assert!(
            !out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{7}'),
            "{args:?}: {:?}",
            out.stdout
        );
        assert!(out.stdout.contains("\\x1b"), "{args:?}: {}", out.stdout);
    }
    // JSON stays exact.
    let runs = env.oc(&repo, ["runs", "--json"]);
    assert!(runs.stdout.contains("\\u001b]0;owned\\u0007"), "{}", runs.stdout);
    let show = env.oc(&repo, ["show", &id, "--json"]).json();
    assert!(show.to_string().contains("\\u001b"));
    // Configuration values in policy show and doctor.
    write_config(
        &repo,
        "[[policy.repo_policies]]\nrepo_key = \"r\"\n[[policy.repo_policies.path_policy.rules]]\n\
         path_pattern = \"x\\u001b]0;owned\\u0007\"\naccess_mode = \"block\"\n",
    );
    let show = env.run_agent(&repo, ["policy", "show"]);
    show.assert_code(0);
    assert!(!show.stdout.contains('\u{1b}'), "{:?}", show.stdout);
    assert!(show.stdout.contains("x\\x1b]0;owned\\x07"), "{}", show.stdout);
    write_config(&repo, "[run]\n\"bad\\u001b[2Jkey\" = 1\n");
    let doctor = env.run_agent(&repo, ["doctor"]);
    assert!(!doctor.stdout.contains('\u{1b}'), "{:?}", doctor.stdout);
}

#[test]
fn show_to_a_full_disk_fails_and_a_closed_pipe_stops_quietly() {
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
            "2",
        ],
    );
    run.assert_code(0);
    let id = doc["summary"]["run_id"].as_str().unwrap().to_owned();
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = env
        .oc_cmd(&repo)
        .args(["show", &id, "result.json"])
        .stdout(full)
        .output()
        .unwrap();
    let run = Run::from(out);
    run.assert_code(1);
    assert!(run.stderr.starts_with("error: could not write"), "{}", run.stderr);
    assert!(run.stderr.contains("No space left on device"), "{}", run.stderr);
    // A reader that went away: a quiet stop, not a claim that all was written, not a crash.
    let mut child = env
        .oc_cmd(&repo)
        .args(["show", &id, "stdout.txt"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let (run, _) = finish_plain(child);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

fn finish_plain(mut child: Child) -> (Run, ()) {
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    (
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::new(),
            stderr,
        },
        (),
    )
}

#[test]
fn fetch_of_a_conflicting_evidence_ref_is_an_error_with_a_hint() {
    let env = TestEnv::new();
    let (_remote, a, b) = remote_and_clones(&env);
    let (run, doc) = env.run_json(
        &a,
        &["--goal", "Edit", "--backend", "command", "--", "fake-agent", "edit"],
    );
    run.assert_code(0);
    let id = doc["summary"]["run_id"].as_str().unwrap().to_owned();
    env.oc(&a, ["push"]).assert_code(0);
    // b holds a different, unrelated commit under the same evidence ref.
    env.git(&b, ["commit", "-q", "--allow-empty", "-m", "unrelated"]);
    let unrelated = env.git(&b, ["rev-parse", "HEAD"]);
    env.git(&b, ["reset", "-q", "--hard", "HEAD~1"]);
    env.git(&b, ["update-ref", &format!("refs/oc/runs/{id}"), &unrelated]);
    let fetch = env.oc(&b, ["fetch"]);
    fetch.assert_clean_error(1);
    assert!(!fetch.stderr.contains("warning:"), "{}", fetch.stderr);
    assert!(fetch.stderr.contains(&format!("refs/oc/runs/{id}")), "{}", fetch.stderr);
    assert_eq!(
        env.git(&b, ["rev-parse", &format!("refs/oc/runs/{id}")]),
        unrelated,
        "never overwritten"
    );
    fsck(&env, &b);
}

#[test]
fn push_and_fetch_report_what_they_really_moved() {
    let env = TestEnv::new();
    let (_remote, a, b) = remote_and_clones(&env);
    let edit = |repo: &Path, goal: &str| {
        let (run, _) = env.run_json(
            repo,
            &["--goal", goal, "--backend", "command", "--", "fake-agent", "edit"],
        );
        run.assert_code(0);
    };
    edit(&a, "First");
    let push = env.oc(&a, ["push", "--json"]).json();
    assert_eq!(push["notes"], "updated");
    let fetched = env.oc(&b, ["fetch", "--json"]).json();
    assert_eq!(fetched["notes"]["how"], "created");
    assert_eq!(fetched["notes"]["added"], 1, "{fetched}");
    // The reproduction: the remote's notes move by a fast-forward, reported as "up to date".
    edit(&a, "Second");
    let push = env.oc(&a, ["push"]);
    push.assert_code(0);
    assert!(push.stdout.contains("notes updated"), "{}", push.stdout);
    let again = env.oc(&a, ["push"]);
    assert!(again.stdout.contains("notes up to date"), "{}", again.stdout);
    // ... and fetch said "0 added" after bringing a new note.
    let fetched = env.oc(&b, ["fetch"]);
    fetched.assert_code(0);
    assert!(
        fetched.stdout.contains("notes fast forward (1 added, 0 combined)"),
        "{}",
        fetched.stdout
    );
    let again = env.oc(&b, ["fetch"]);
    assert!(
        again.stdout.contains("notes up to date (0 added, 0 combined)"),
        "{}",
        again.stdout
    );
}

/// `git oc init`'s notes refspec must not break plain `git fetch` against a remote that has no
/// notes yet (a plain `refs/notes/oc` refspec did: "couldn't find remote ref").
#[test]
fn after_init_plain_git_fetch_works_against_a_remote_without_notes() {
    let env = TestEnv::new();
    let (_remote, a, _b) = remote_and_clones(&env);
    env.oc(&a, ["init"]).assert_code(0);
    let fetch = env.git_output(&a, ["fetch", "origin"]);
    assert!(
        fetch.status.success(),
        "git fetch failed after git oc init:\n{}",
        String::from_utf8_lossy(&fetch.stderr)
    );
}

#[test]
fn init_undo_keeps_settings_that_were_there_before() {
    let env = TestEnv::new();
    let (_remote, a, _b) = remote_and_clones(&env);
    env.git(&a, ["config", "notes.displayRef", "refs/notes/oc"]);
    env.git(
        &a,
        [
            "config",
            "--add",
            "remote.origin.fetch",
            "refs/oc/runs/*:refs/oc/runs/*",
        ],
    );
    let init = env.oc(&a, ["init"]);
    init.assert_code(0);
    assert!(init.stdout.contains("already set  notes.displayRef"), "{}", init.stdout);
    let undo = env.oc(&a, ["init", "--undo"]);
    undo.assert_code(0);
    let get = |key: &str| env.git_output(&a, ["config", "--get-all", key]);
    assert_eq!(
        String::from_utf8_lossy(&get("notes.displayRef").stdout).trim(),
        "refs/notes/oc"
    );
    assert!(String::from_utf8_lossy(&get("remote.origin.fetch").stdout).contains("refs/oc/runs/*:refs/oc/runs/*"));
    assert!(
        !get("notes.rewriteRef").status.success(),
        "init's own setting is removed"
    );
    assert!(!String::from_utf8_lossy(&get("remote.origin.fetch").stdout).contains("refs/notes/remotes/origin/oc"));
    assert!(
        undo.stdout.contains("kept (not added by git oc init) notes.displayRef"),
        "{}",
        undo.stdout
    );
    // Undo twice, init twice: nothing more is removed, nothing is added twice.
    env.oc(&a, ["init", "--undo"]).assert_code(0);
    assert!(get("notes.displayRef").status.success());
    env.oc(&a, ["init"]).assert_code(0);
    env.oc(&a, ["init"]).assert_code(0);
    let fetch = String::from_utf8_lossy(&get("remote.origin.fetch").stdout).into_owned();
    assert_eq!(fetch.matches("refs/notes/remotes/origin/oc").count(), 1, "{fetch}");
}
