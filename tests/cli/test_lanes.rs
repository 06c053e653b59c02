//! Lanes: `git oc watch` claims board tasks and runs them with the fake agent, applying the
//! original's outcome table (reference-fullstack §3.4) on the git board and on the fake Plane;
//! two watchers on one board never run one task twice; SIGTERM cancels a run, records it and
//! puts its task back; a failing lane restarts; `git oc status` shows it all.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::common::*;

/// The command backend runs `fake-agent board`, which obeys the goal's `agent:` line; the
/// policy lets feature tasks run without review (the built-in one asks for it).
pub const CONFIG: &str = "[run]\nbackend = \"command\"\nrepo_key = \"svc\"\n[backends.command]\nargv = [\"fake-agent\", \"board\"]\n[[policy.repo_policies]]\nrepo_key = \"svc\"\nreplace_defaults = true\n";

fn setup(extra: &str) -> (TestEnv, PathBuf) {
    let env = TestEnv::new();
    let repo = env.repo("r");
    write_config(&repo, &format!("{CONFIG}{extra}"));
    (env, repo)
}

/// A `Ready for AI` task for repository `repo`; its id.
fn add_for(env: &TestEnv, repo: &Path, title: &str, goal: &str, kind: &str, key: &str, labels: &[&str]) -> String {
    let body = format!("## Goal\n{goal}\n");
    let kind_label = format!("task-kind: {kind}");
    let mut args = vec![
        "--json",
        "task",
        "add",
        title,
        "--body",
        &body,
        "--repo",
        key,
        "-l",
        &kind_label,
        "--state",
        "ready",
    ];
    for l in labels {
        args.extend_from_slice(&["-l", l]);
    }
    let run = env.oc(repo, args);
    run.assert_code(0);
    run.json()["id"].as_str().unwrap().to_owned()
}

fn add(env: &TestEnv, repo: &Path, title: &str, goal: &str, kind: &str) -> String {
    add_for(env, repo, title, goal, kind, "svc", &[])
}

fn task(env: &TestEnv, repo: &Path, id: &str) -> Value {
    let run = env.oc(repo, ["--json", "task", "show", id]);
    run.assert_code(0);
    run.json()["task"].clone()
}

fn comments(t: &Value) -> Vec<String> {
    t["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap().to_owned())
        .collect()
}

fn labels(t: &Value) -> Vec<String> {
    t["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect()
}

fn has(t: &Value, label: &str) -> bool {
    labels(t).iter().any(|l| l == label)
}

fn tasks(env: &TestEnv, repo: &Path) -> Vec<Value> {
    let run = env.oc(repo, ["--json", "task", "list"]);
    run.assert_code(0);
    let doc = run.json();
    doc.as_array()
        .or_else(|| doc["tasks"].as_array())
        .cloned()
        .unwrap_or_default()
}

fn watch_once(env: &TestEnv, repo: &Path, lanes: &[&str]) -> Run {
    let mut args = vec!["watch", "--once"];
    for l in lanes {
        args.extend_from_slice(&["--lane", l]);
    }
    env.run_agent(repo, args)
}

/// Run the board lanes a cycle at a time until no task of `svc` is Ready for AI.
fn drain(env: &TestEnv, repo: &Path) {
    for _ in 0..40 {
        let ready = tasks(env, repo)
            .iter()
            .filter(|t| t["state"] == "Ready for AI" && t["labels"].to_string().contains("\"repo: svc\""))
            .count();
        if ready == 0 {
            return;
        }
        watch_once(env, repo, &["goal", "test", "improve"]).assert_code(0);
    }
    panic!("the queue did not drain");
}

/// The run id a comment names, checked to be a recorded run.
fn run_of(env: &TestEnv, repo: &Path, comment: &str) -> String {
    let id = comment
        .lines()
        .find_map(|l| l.strip_prefix("- run: "))
        .unwrap_or_else(|| panic!("no run in {comment:?}"))
        .to_owned();
    env.git(repo, ["rev-parse", "--verify", &format!("refs/oc/runs/{id}")]);
    id
}

#[test]
fn a_queue_goes_through_every_transition_of_the_outcome_table() {
    let (env, repo) = setup("");
    let long = "across the code base, carefully, as the task describes";
    let ok = add(&env, &repo, "Say hello", &format!("Greet the reader {long}."), "goal");
    let fail = add(
        &env,
        &repo,
        "Break",
        &format!("Break the build {long}.\nagent: fail"),
        "goal",
    );
    let sig = add(
        &env,
        &repo,
        "Crash",
        &format!("Crash the agent {long}.\nagent: signal"),
        "goal",
    );
    let thin = add(&env, &repo, "Thin", "Too short.", "goal");
    let scoped = add_for(
        &env,
        &repo,
        "Docs only",
        &format!("Touch only the docs {long}.\n\n## Execution\nallowed_paths:\n  - docs/"),
        "goal",
        "svc",
        &[],
    );
    let test_ok = add(
        &env,
        &repo,
        "Check hello",
        &format!("Write a test for the greeting {long}.\nagent: write tests/hello.t ok"),
        "test",
    );
    let test_fail = add(
        &env,
        &repo,
        "Check parser",
        &format!("Verify the parser {long}.\nagent: fail"),
        "test",
    );
    let improve = add(
        &env,
        &repo,
        "Find improvements",
        &format!("Look for improvements {long}.\nagent: improve"),
        "improve",
    );
    let improve_none = add(
        &env,
        &repo,
        "Find nothing",
        &format!("Look for improvements again {long}.\nagent: noop"),
        "improve",
    );
    let other_repo = add_for(
        &env,
        &repo,
        "Elsewhere",
        &format!("Another repository {long}."),
        "goal",
        "api",
        &[],
    );

    drain(&env, &repo);

    let t = task(&env, &repo, &ok);
    assert_eq!(t["state"], "Done");
    let c = comments(&t);
    assert!(c[0].starts_with("Implementation complete\n\n- run: "), "{c:?}");
    let run = run_of(&env, &repo, &c[0]);
    // The run went through the pipeline: its branch has the agent's change.
    let branch = env.git(&repo, ["for-each-ref", "--format=%(refname:short)", "refs/heads/goal/"]);
    assert!(branch.contains(&format!("goal/{}", &ok[..8])), "{branch}");
    let summary = env.evidence_json(&repo, &run, "summary.json");
    assert_eq!(summary["outcome_status"], "executed");

    let t = task(&env, &repo, &fail);
    assert_eq!(t["state"], "Blocked");
    let c = comments(&t);
    assert!(
        c[0].starts_with("board_worker[goal] failed\n\n- status: failed\n- category: backend_error\n- reason: "),
        "{c:?}"
    );
    assert!(c[0].contains("\n- executor-exit-code: 3\n"), "{c:?}");
    run_of(&env, &repo, &c[0]);
    assert!(has(&t, "executor-exit-code: 3"), "{:?}", labels(&t));

    let t = task(&env, &repo, &sig);
    assert_eq!(t["state"], "Blocked");
    assert!(has(&t, "executor-signal: SIGSEGV"), "{:?}", labels(&t));
    assert!(comments(&t)[0].contains("- executor-signal: SIGSEGV"));

    let t = task(&env, &repo, &thin);
    assert_eq!(t["state"], "Blocked");
    assert_eq!(
        comments(&t),
        [
            "board_worker[goal] refused to claim — goal text too thin (10 chars; minimum 40). Add concrete description and re-promote to Ready for AI."
        ]
    );

    // allowed_paths is the declared scope: the agent's edit outside it is refused.
    let t = task(&env, &repo, &scoped);
    assert_eq!(t["state"], "Blocked");
    let c = comments(&t);
    assert!(c[0].contains("- category: policy_blocked"), "{c:?}");
    assert!(c[0].contains("scope.outside_allowed_paths"), "{c:?}");

    let t = task(&env, &repo, &test_ok);
    assert_eq!(t["state"], "Done");
    assert!(comments(&t)[0].starts_with("Verification passed\n\n- run: "));
    // A test task is a test-writing run (the original's `unknown`).
    let run = run_of(&env, &repo, &comments(&t)[0]);
    assert_eq!(
        env.evidence_json(&repo, &run, "proposal.json")["task_type"],
        "test_write"
    );

    let t = task(&env, &repo, &test_fail);
    assert_eq!(t["state"], "Blocked");
    let c = comments(&t);
    let follow = c[0]
        .strip_prefix("Verification failed — created follow-up goal task #")
        .and_then(|rest| rest.split('\n').next())
        .unwrap_or_else(|| panic!("{c:?}"))
        .to_owned();
    assert!(
        c[0].contains("\n- status: failed\n- category: backend_error\n- reason: "),
        "{c:?}"
    );
    let f = task(&env, &repo, &follow);
    assert_eq!(f["title"], "[goal] Check parser");
    for l in [
        "task-kind: goal",
        "repo: svc",
        "source: board_worker",
        "handoff-reason: verification_failed",
        "retry-count: 1",
    ] {
        assert!(has(&f, l), "{l} missing from {:?}", labels(&f));
    }
    assert!(has(&f, &format!("original-task-id: {test_fail}")));
    assert!(
        f["description"]
            .as_str()
            .unwrap()
            .starts_with("## Goal\nCheck parser — verification failed")
    );

    let t = task(&env, &repo, &improve);
    assert_eq!(t["state"], "Done");
    let c = comments(&t);
    let created: Vec<String> = c[0]
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("Improvement analysis complete — created 2 focused follow-up task(s): "))
        .unwrap_or_else(|| panic!("{c:?}"))
        .split(", ")
        .map(|s| s.trim_start_matches('#').to_owned())
        .collect();
    assert_eq!(created.len(), 2);
    let s = task(&env, &repo, &created[0]);
    let s2 = task(&env, &repo, &created[1]);
    let split_parser = if s["title"] == "Split the parser module" {
        &s
    } else {
        &s2
    };
    assert!(has(split_parser, "source: improve-suggestion"));
    assert!(has(split_parser, "complexity: small"));
    assert!(has(split_parser, "handoff-reason: improve_suggestion"));
    assert!(
        split_parser["description"]
            .as_str()
            .unwrap()
            .contains("allowed_paths:\n  - src/parser.rs")
    );
    // An improve run is analysis: never a task type that changes features.
    let run = run_of(&env, &repo, &c[0]);
    assert_eq!(env.evidence_json(&repo, &run, "proposal.json")["task_type"], "refactor");

    let t = task(&env, &repo, &improve_none);
    assert_eq!(t["state"], "Done");
    assert!(comments(&t)[0].starts_with(
        "Improvement analysis complete — no actionable suggestions emitted (the agent found nothing concrete, or improve-output.json was missing)"
    ));

    // Another repository's task, and the states a lane never claims from, are left alone.
    let t = task(&env, &repo, &other_repo);
    assert_eq!(t["state"], "Ready for AI");
    assert!(comments(&t).is_empty());

    // Every claim was one compare-and-swap move from Ready for AI to Running.
    let history = env.oc(&repo, ["--json", "task", "show", &ok]).json()["history"].clone();
    let moves: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["subject"].as_str())
        .filter(|s| s.contains("moved:"))
        .collect();
    assert_eq!(moves.len(), 2, "{moves:?}");
    assert!(moves[0].ends_with("moved: Ready for AI -> Running"));
    assert!(moves[1].ends_with("moved: Running -> Done"));

    // Status: the board counted by state and repository, the last runs, the lanes stopped.
    let status = env.oc(&repo, ["--json", "status"]);
    status.assert_code(0);
    let s = status.json();
    assert_eq!(s["board"]["kind"], "git");
    assert!(s["board"]["by_repo"]["api"]["Ready for AI"] == 1, "{}", s["board"]);
    assert!(s["board"]["by_state"]["Done"].as_u64().unwrap() >= 3);
    assert!(!s["last_runs"].as_array().unwrap().is_empty());
    let lanes = s["lanes"].as_array().unwrap();
    assert_eq!(lanes.len(), 3);
    assert!(lanes.iter().all(|l| l["process"] == "stopped"), "{lanes:?}");
    assert!(s["running"].as_array().unwrap().is_empty());
    let human = env.oc(&repo, ["status"]);
    human.assert_code(0);
    for part in [
        "Lanes",
        "Board (git",
        "repo svc:",
        "Runs in progress",
        "Last runs",
        "Budgets (repo svc)",
    ] {
        assert!(human.stdout.contains(part), "{part} missing:\n{}", human.stdout);
    }
}

#[test]
fn a_transient_failure_is_retried_once_and_the_retry_decides() {
    let (env, repo) = setup("");
    let marker = env.root().join("once");
    // Fails with a 503 the first time, succeeds the second.
    let script = env.root().join("flaky");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ -e {m} ]; then echo fixed > fixed.txt; exit 0; fi\ntouch {m}\necho '503 service unavailable' >&2\nexit 1\n",
            m = marker.display()
        ),
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&script).unwrap().permissions(), 0o755);
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    write_config(
        &repo,
        &CONFIG.replace("[\"fake-agent\", \"board\"]", &format!("[\"{}\"]", script.display())),
    );
    let id = add(
        &env,
        &repo,
        "Flaky",
        "Do the thing through a flaky service, once it answers.",
        "goal",
    );
    watch_once(&env, &repo, &["goal"]).assert_code(0);
    let t = task(&env, &repo, &id);
    assert_eq!(t["state"], "Done", "{:?}", comments(&t));
    // Two runs were recorded; the comment names the second.
    let runs = env.run_ids(&repo);
    assert_eq!(runs.len(), 2, "{runs:?}");
    let run = run_of(&env, &repo, &comments(&t)[0]);
    assert_eq!(
        env.evidence_json(&repo, &run, "summary.json")["outcome_status"],
        "executed"
    );
}

#[test]
fn a_too_wide_task_is_split_and_the_parent_closes_when_its_children_are_done() {
    let (env, repo) = setup("");
    let wide = add(
        &env,
        &repo,
        "Rename the widget",
        "Rename the widget everywhere in the code base and the tests.\nagent: too-wide",
        "goal",
    );
    watch_once(&env, &repo, &["goal"]).assert_code(0);
    let t = task(&env, &repo, &wide);
    assert_eq!(t["state"], "Blocked");
    let c = comments(&t);
    assert!(c[0].starts_with("board_worker[goal] failed\n\n- status: "), "{c:?}");
    assert!(c[0].contains("- category: scope_too_wide"), "{c:?}");
    let children: Vec<String> = c[0]
        .split("Auto-split into 3 focused task(s): ")
        .nth(1)
        .unwrap_or_else(|| panic!("{c:?}"))
        .split(", ")
        .map(|s| s.trim().trim_start_matches('#').to_owned())
        .collect();
    assert_eq!(children.len(), 3);
    assert!(has(&t, "lifecycle: expanded"));
    let mut files = 0;
    for (i, id) in children.iter().enumerate() {
        let k = task(&env, &repo, id);
        assert_eq!(k["state"], "Ready for AI");
        assert!(k["title"].as_str().unwrap().starts_with("[split "), "{}", k["title"]);
        for l in [
            "source: scope-split",
            "source: board_worker",
            "handoff-reason: scope_too_wide_split",
            "retry-count: 1",
            "task-kind: goal",
        ] {
            assert!(has(&k, l), "{l} missing on child {i}: {:?}", labels(&k));
        }
        assert!(has(&k, &format!("original-task-id: {wide}")));
        let d = k["description"].as_str().unwrap();
        assert!(d.contains("Restrict changes to the listed files."));
        let n = d.lines().filter(|l| l.starts_with("  - ")).count();
        assert!(n <= 15, "{d}");
        files += n;
    }
    assert_eq!(files, 22);

    // Two children are done by hand; the last is run by the lane, within its allowed paths.
    for id in &children[..2] {
        env.oc(&repo, ["task", "move", id, "done"]).assert_code(0);
    }
    let last = task(&env, &repo, &children[2]);
    let first_file = last["description"]
        .as_str()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("  - "))
        .unwrap()
        .to_owned();
    let body = format!(
        "{}\nagent: write {first_file} renamed\n",
        last["description"].as_str().unwrap().replace(
            "## Execution",
            &format!("agent: write {first_file} renamed\n\n## Execution")
        )
    );
    env.oc(&repo, ["task", "edit", &children[2], "--body", &body])
        .assert_code(0);
    watch_once(&env, &repo, &["goal"]).assert_code(0);
    assert_eq!(
        task(&env, &repo, &children[2])["state"],
        "Done",
        "{:?}",
        comments(&task(&env, &repo, &children[2]))
    );
    let t = task(&env, &repo, &wide);
    assert_eq!(t["state"], "Done");
    let c = comments(&t);
    assert!(
        c.iter()
            .any(|c| c.starts_with("Auto-closed: all 3 scope-split children completed.\n\n- run: ")),
        "{c:?}"
    );
}

#[test]
fn an_exhausted_quota_puts_the_task_back_and_the_lane_backs_off() {
    let (env, repo) = setup("[lanes]\nquota_backoff = 3600\n");
    let id = add(
        &env,
        &repo,
        "Quota",
        "Rename the gadget everywhere in the code base, please.\nagent: quota",
        "goal",
    );
    watch_once(&env, &repo, &["goal"]).assert_code(0);
    let t = task(&env, &repo, &id);
    assert_eq!(t["state"], "Ready for AI");
    let c = comments(&t);
    assert!(
        c[0].starts_with("board_worker[goal] backing off — the agent reported an exhausted quota"),
        "{c:?}"
    );
    run_of(&env, &repo, &c[0]);
    let status = env.oc(&repo, ["--json", "status"]).json();
    let lane = &status["lanes"][0];
    assert_eq!(lane["last_action"], "rate_limited");
    assert_eq!(status["budgets"]["quota_backoff_seconds"], 3600);
}

#[test]
fn the_daily_cap_holds_tasks_back() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    write_config(&repo, &format!("{CONFIG}[lanes]\nmax_daily_executions = 1\n"));
    // Real dates: the daily count looks at the last 24 hours.
    let real = |mut cmd: std::process::Command| {
        cmd.env_remove("GIT_COMMITTER_DATE").env_remove("GIT_AUTHOR_DATE");
        cmd
    };
    let long = "with enough words to pass the thin-goal guard of the lanes";
    let mut ids = Vec::new();
    for n in 0..2 {
        let body = format!("## Goal\nTask number {n} {long}.\n");
        let mut cmd = real(env.oc_cmd(&repo));
        let out = cmd
            .args([
                "--json",
                "task",
                "add",
                &format!("T{n}"),
                "--body",
                &body,
                "--repo",
                "svc",
                "-l",
                "task-kind: goal",
                "--state",
                "ready",
            ])
            .output()
            .unwrap();
        ids.push(Run::from(out).json()["id"].as_str().unwrap().to_owned());
    }
    for _ in 0..2 {
        let mut cmd = real(env.oc_agents(&repo));
        Run::from(cmd.args(["watch", "--lane", "goal", "--once"]).output().unwrap()).assert_code(0);
    }
    let states: Vec<String> = ids
        .iter()
        .map(|i| task(&env, &repo, i)["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states.iter().filter(|s| *s == "Ready for AI").count(), 1, "{states:?}");
    let status = env.oc(&repo, ["--json", "status"]).json();
    assert_eq!(status["lanes"][0]["last_action"], "daily_cap_reached");
    assert_eq!(status["budgets"]["max_daily_executions"], 1);
    assert_eq!(status["budgets"]["daily_count"], 1);
}

/// A running `git oc watch`, killed if the test ends early.
struct Watcher(Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_watch(env: &TestEnv, repo: &Path, args: &[&str]) -> Watcher {
    let mut cmd = env.oc_agents(repo);
    cmd.arg("watch")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Watcher(cmd.spawn().expect("start git oc watch"))
}

fn sigterm(w: &Watcher) {
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(w.0.id() as i32, libc::SIGTERM);
    }
}

fn finish(mut w: Watcher) -> Run {
    let child = std::mem::replace(&mut w.0, std::process::Command::new("true").spawn().unwrap());
    std::mem::forget(w);
    Run::from(child.wait_with_output().unwrap())
}

fn running_files(repo: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(repo.join(".git/oc/running"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sigterm_cancels_the_run_records_it_and_puts_the_task_back() {
    let (env, repo) = setup("");
    let marker = env.root().join("agent-running");
    let id = add(
        &env,
        &repo,
        "Hang",
        &format!(
            "Think about the problem for a very long time.\nagent: mark-hang {}",
            marker.display()
        ),
        "goal",
    );
    let w = spawn_watch(&env, &repo, &["--lane", "goal", "--interval", "0.05"]);
    wait_until("the agent to run", || {
        marker.exists() && !running_files(&repo).is_empty()
    });
    // Status shows the lane active on the task and the run in its agent stage.
    let s = env.oc(&repo, ["--json", "status"]).json();
    assert_eq!(s["lanes"][0]["process"], "running");
    assert_eq!(s["lanes"][0]["state"], "active");
    assert_eq!(s["lanes"][0]["task_id"], id.as_str());
    assert_eq!(s["running"][0]["stage"], "agent");
    assert_eq!(s["running"][0]["task_id"], id.as_str());
    assert_eq!(s["budgets"]["runs_in_progress"], 1);
    let agent: u32 = std::fs::read_to_string(&marker).unwrap().trim().parse().unwrap();
    // One run at a time in the repository (lanes.max_concurrent_runs = 1): another watcher waits.
    let other = add(
        &env,
        &repo,
        "Other",
        "Another task that must wait for the first run to end.",
        "goal",
    );
    let second = watch_once(&env, &repo, &["goal"]);
    second.assert_code(0);
    assert!(second.stdout.starts_with("goal: concurrency_cap"), "{}", second.stdout);
    assert_eq!(task(&env, &repo, &other)["state"], "Ready for AI");
    // The slot's lock file is gone (an agent can delete it): still no second run.
    let slots = repo.join(".git/oc/lanes/slots");
    assert!(slots.is_dir(), "{}", slots.display());
    std::fs::remove_dir_all(&slots).unwrap();
    let third = watch_once(&env, &repo, &["goal"]);
    third.assert_code(0);
    assert!(third.stdout.starts_with("goal: concurrency_cap"), "{}", third.stdout);
    assert_eq!(task(&env, &repo, &other)["state"], "Ready for AI");
    let watcher_pid = w.0.id();

    sigterm(&w);
    let out = finish(w);
    out.assert_code(0);
    assert!(!process_alive(agent), "the agent outlived the watcher");
    let t = task(&env, &repo, &id);
    assert_eq!(t["state"], "Ready for AI");
    let c = comments(&t);
    assert!(c[0].starts_with("board_worker[goal] interrupted"), "{c:?}");
    let run = run_of(&env, &repo, &c[0]);
    assert_eq!(
        env.evidence_json(&repo, &run, "summary.json")["outcome_status"],
        "cancelled"
    );
    assert!(running_files(&repo).is_empty());
    let s = env.oc(&repo, ["--json", "status"]).json();
    let lanes = s["lanes"].as_array().unwrap();
    let mine = lanes.iter().find(|l| l["pid"] == watcher_pid).unwrap();
    assert_eq!(mine["process"], "stopped");
    assert_eq!(mine["state"], "stopped");
    assert_eq!(mine["counters"]["tasks_claimed"], 1);
}

#[test]
fn two_watchers_never_run_one_task_twice() {
    let (env, repo) = setup("[lanes]\nmax_concurrent_runs = 8\n");
    let ids: Vec<String> = (0..6)
        .map(|n| {
            add(
                &env,
                &repo,
                &format!("Task {n}"),
                &format!("Write file number {n} with its greeting inside it.\nagent: write f{n}.txt hi"),
                "goal",
            )
        })
        .collect();
    let a = spawn_watch(&env, &repo, &["--lane", "goal", "--interval", "0.01"]);
    let b = spawn_watch(&env, &repo, &["--lane", "goal", "--interval", "0.01"]);
    wait_until("every task to be done", || {
        tasks(&env, &repo).iter().filter(|t| t["state"] == "Done").count() == ids.len()
    });
    sigterm(&a);
    sigterm(&b);
    finish(a).assert_code(0);
    finish(b).assert_code(0);
    for id in &ids {
        let doc = env.oc(&repo, ["--json", "task", "show", id]).json();
        let claims = doc["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["subject"].as_str().is_some_and(|s| s.ends_with("-> Running")))
            .count();
        assert_eq!(claims, 1, "task {id} was claimed {claims} times");
        assert_eq!(comments(&doc["task"]).len(), 1);
    }
    assert_eq!(env.run_ids(&repo).len(), ids.len(), "one run per task");
    // Each run names the board task it carried out (a merged pull request closes that task).
    let named = env.git(
        &repo,
        [
            "for-each-ref",
            "--format=%(trailers:key=Oc-Task,valueonly)",
            "refs/oc/runs/",
        ],
    );
    let mut named: Vec<&str> = named.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    named.sort();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(named, expected);
}

#[test]
fn a_lane_whose_cycle_fails_restarts_with_backoff() {
    let (env, repo) = setup("");
    let w = spawn_watch(&env, &repo, &["--lane", "goal", "--interval", "0.05"]);
    let lane = || env.oc(&repo, ["--json", "status"]).json()["lanes"][0].clone();
    wait_until("the lane to start", || lane()["process"] == "running");
    // The configuration breaks under the running lane: its cycles fail.
    write_config(&repo, "[run]\nbackend = \"nonsense\"\n");
    let status = repo.join(format!(".git/oc/lanes/goal-{}.json", w.0.id()));
    wait_until("the lane to restart after failures", || {
        let s: Value = serde_json::from_slice(&std::fs::read(&status).unwrap_or_default()).unwrap_or(Value::Null);
        s["counters"]["restarts"].as_u64().unwrap_or(0) >= 2 && s["last_action"] == "watch_error"
    });
    let s: Value = serde_json::from_slice(&std::fs::read(&status).unwrap()).unwrap();
    assert!(s["note"].as_str().unwrap().contains("unknown backend"), "{s}");
    // Fixed, the same process picks work up again.
    write_config(&repo, CONFIG);
    let id = add(
        &env,
        &repo,
        "After",
        "Greet the reader once the configuration is fixed again.",
        "goal",
    );
    wait_until("the task to be done", || task(&env, &repo, &id)["state"] == "Done");
    sigterm(&w);
    let out = finish(w);
    out.assert_code(0);
    assert!(out.stderr.contains("goal: cycle failed: "), "{}", out.stderr);
    assert!(out.stderr.contains("restarting in"), "{}", out.stderr);
}

#[test]
fn the_propose_lane_runs_the_autonomy_cycle_and_keeps_its_report() {
    let (env, repo) = setup("");
    let out = watch_once(&env, &repo, &["propose"]);
    out.assert_code(0);
    let cycles = env.git(&repo, ["for-each-ref", "--format=%(refname)", "refs/oc/cycles/"]);
    assert_eq!(cycles.lines().count(), 1, "one cycle recorded: {cycles}");
    // The lane's status names the cycle it ran.
    let status = env.oc(&repo, ["--json", "status"]);
    status.assert_code(0);
    let id = cycles.trim().rsplit('/').next().unwrap();
    assert!(status.stdout.contains(id), "{}", status.stdout);
}

#[test]
fn bad_watch_and_status_input_is_refused_cleanly() {
    let (env, repo) = setup("");
    let before = env.state(&repo);
    for args in [
        vec!["watch"],
        vec!["watch", "--lane", "bogus"],
        vec!["watch", "--lane", "goal", "--all"],
        vec!["watch", "--lane", "goal", "--interval", "0"],
        vec!["watch", "--lane", "goal", "--interval", "-1"],
        vec!["watch", "--lane", "goal", "--interval", "nan"],
        vec!["watch", "--lane", "goal", "--interval", "abc"],
        vec!["status", "--watch", "--every", "0"],
        vec!["status", "--every", "3"],
        vec!["status", "--runs", "x"],
    ] {
        let out = env.oc(&repo, &args);
        out.assert_clean_error(2);
        assert!(!repo.join(".git/oc/lanes").exists(), "{args:?} left lane files");
    }
    // A broken configuration stops watch before any lane starts.
    write_config(&repo, "[lanes]\nmax_daily = 3\n");
    env.oc(&repo, ["watch", "--all"]).assert_clean_error(2);
    env.oc(&repo, ["status"]).assert_clean_error(2);
    assert!(!repo.join(".git/oc/lanes").exists());
    // A Plane board without its token stops the board lanes before they start.
    write_config(
        &repo,
        &format!(
            "{CONFIG}[board]\nkind = \"plane\"\n[plane]\nurl = \"http://127.0.0.1:9\"\nworkspace = \"w\"\nproject_id = \"00000000-0000-4000-8000-000000000001\"\n"
        ),
    );
    let out = env.oc(&repo, ["watch", "--lane", "goal"]);
    out.assert_clean_error(2);
    assert!(out.stderr.contains("PLANE_API_TOKEN"), "{}", out.stderr);
    assert!(!repo.join(".git/oc/lanes").exists());
    // Outside a repository.
    let outside = env.root().join("nowhere");
    std::fs::create_dir_all(&outside).unwrap();
    env.oc(&outside, ["watch", "--all", "--once"]).assert_clean_error(2);
    env.oc(&outside, ["status"]).assert_clean_error(2);
    assert_eq!(env.state(&repo), before);
}

#[test]
fn the_lanes_work_the_fake_plane_board() {
    use crate::plane_fake::{FakePlane, PROJECT, TOKEN, WORKSPACE};
    let fake = FakePlane::start();
    fake.plane.lock().unwrap().rate_limit = 100_000;
    let env = TestEnv::new();
    let repo = env.repo("r");
    write_config(
        &repo,
        &format!(
            "{CONFIG}[board]\nkind = \"plane\"\n[plane]\nurl = \"{}\"\nworkspace = \"{WORKSPACE}\"\nproject_id = \"{PROJECT}\"\nretry_unit_ms = 1\n",
            fake.url
        ),
    );
    let oc = |args: &[&str]| {
        let mut cmd = env.oc_agents(&repo);
        cmd.env("PLANE_API_TOKEN", TOKEN);
        Run::from(cmd.args(args).output().unwrap())
    };
    let add = |title: &str, goal: &str, kind: &str| {
        let body = format!("## Goal\n{goal}\n");
        let kind = format!("task-kind: {kind}");
        let run = oc(&[
            "--json", "task", "add", title, "--body", &body, "--repo", "svc", "-l", &kind, "--state", "ready",
        ]);
        run.assert_code(0);
        run.json()["id"].as_str().unwrap().to_owned()
    };
    let ok = add(
        "Say hello",
        "Greet the reader in a new file, warmly and at length.",
        "goal",
    );
    let fail = add(
        "Check",
        "Verify the greeting works and fails loudly when it does not.\nagent: fail",
        "test",
    );
    let thin = add("Thin", "Too short.", "goal");
    // Plane's own priority field orders the claims: the urgent task, added last, goes first.
    let urgent = add(
        "Urgent",
        "Fix the outage in the greeting right now, before anything else.",
        "goal",
    );
    for item in fake.plane.lock().unwrap().items.iter_mut() {
        if item["id"] == urgent.as_str() {
            item["priority"] = Value::from("urgent");
        }
    }
    let first = oc(&["watch", "--lane", "goal", "--once"]);
    first.assert_code(0);
    assert!(first.stdout.contains(&format!("task={urgent}")), "{}", first.stdout);
    for _ in 0..12 {
        let list = oc(&["--json", "task", "list", "--state", "ready"]);
        list.assert_code(0);
        if !list.stdout.contains("\"repo: svc\"") {
            break;
        }
        oc(&["watch", "--lane", "goal", "--lane", "test", "--once"]).assert_code(0);
    }
    let show = |id: &str| {
        let run = oc(&["--json", "task", "show", id]);
        run.assert_code(0);
        run.json()["task"].clone()
    };
    let t = show(&ok);
    assert_eq!(t["state"], "Done");
    assert!(comments(&t)[0].starts_with("Implementation complete"));
    let t = show(&fail);
    assert_eq!(t["state"], "Blocked");
    assert!(comments(&t)[0].starts_with("Verification failed — created follow-up goal task #"));
    assert!(has(&t, "executor-exit-code: 3"));
    let t = show(&thin);
    assert_eq!(t["state"], "Blocked");
    assert!(comments(&t)[0].starts_with("board_worker[goal] refused to claim — goal text too thin (10 chars"));
    let s = oc(&["--json", "status"]);
    s.assert_code(0);
    assert_eq!(s.json()["board"]["kind"], "plane");
    // Plane tasks' runs are on the original's `plane/<task-id>-<slug>` branches.
    let branches = env.git(
        &repo,
        ["for-each-ref", "--format=%(refname:short)", "refs/heads/plane/"],
    );
    assert!(branches.contains(&format!("plane/{ok}-say-hello-")), "{branches}");
}

#[test]
fn improve_suggestions_go_first_then_by_priority() {
    let (env, repo) = setup("");
    let long = "with enough words to pass the thin-goal guard of the lanes";
    let plain = add(&env, &repo, "Plain", &format!("A plain task {long}."), "goal");
    let urgent = add_for(
        &env,
        &repo,
        "Urgent",
        &format!("An urgent task {long}."),
        "goal",
        "svc",
        &["priority: urgent"],
    );
    let low = add_for(
        &env,
        &repo,
        "Low",
        &format!("A low task {long}."),
        "goal",
        "svc",
        &["priority: low"],
    );
    let suggested = add_for(
        &env,
        &repo,
        "Suggested",
        &format!("A suggested task {long}."),
        "goal",
        "svc",
        &["source: improve-suggestion", "priority: low"],
    );
    let mut order = Vec::new();
    for _ in 0..4 {
        let out = watch_once(&env, &repo, &["goal"]);
        out.assert_code(0);
        let id = out
            .stdout
            .split("task=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("{}", out.stdout))
            .to_owned();
        order.push(id);
    }
    // A task without a priority label ranks as `none`, after `low`.
    assert_eq!(order, [suggested, urgent, low, plain]);
}

#[test]
fn status_watch_redraws_until_stopped() {
    let (env, repo) = setup("");
    let mut cmd = env.oc_cmd(&repo);
    cmd.args(["status", "--watch", "--every", "0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    wait_until("two reports", || {
        let mut buf = [0u8; 4096];
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap_or(0);
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        seen.matches("Runs in progress").count() >= 2
    });
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    // Not a terminal: whole reports one after another, no escape sequences.
    assert!(!seen.contains('\x1b'));
}

#[test]
fn status_tells_stale_and_stopped_lanes_apart() {
    let (env, repo) = setup("");
    let dir = repo.join(".git/oc/lanes");
    std::fs::create_dir_all(&dir).unwrap();
    let gone = {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        c.wait().unwrap();
        c.id()
    };
    let me = std::process::id();
    let lane = |lane: &str, pid: u32, updated: &str| {
        serde_json::json!({
            "lane": lane, "pid": pid, "cycle": 3, "state": "idle", "last_action": "no_task",
            "task_id": null, "task_kind": null, "run_id": null, "follow_up_task_ids": [], "note": null,
            "interval_seconds": 30.0, "next_cycle_at": null,
            "counters": {"cycles_failed": 0, "restarts": 0, "tasks_claimed": 0, "tasks_succeeded": 0,
                         "tasks_failed": 0, "follow_up_tasks_created": 0, "tasks_refused": 0},
            "started_at": "2026-01-01T00:00:00Z", "updated_at": updated,
        })
    };
    let write = |name: &str, v: Value| std::fs::write(dir.join(name), v.to_string()).unwrap();
    // This test's own process stands for a live watcher.
    write(&format!("goal-{me}.json"), lane("goal", me, "2000-01-01T00:00:00Z"));
    write(&format!("test-{gone}.json"), lane("test", gone, "2000-01-01T00:00:00Z"));
    let s = env.oc(&repo, ["--json", "status"]).json();
    let lanes = s["lanes"].as_array().unwrap();
    assert_eq!(lanes.len(), 2);
    assert_eq!(lanes[0]["lane"], "goal");
    assert_eq!(lanes[0]["process"], "stale");
    assert_eq!(lanes[1]["lane"], "test");
    assert_eq!(lanes[1]["process"], "stopped");
    // A watcher that starts the test lane replaces the file its dead predecessor left.
    watch_once(&env, &repo, &["test"]).assert_code(0);
    assert!(!dir.join(format!("test-{gone}.json")).exists());
    let human = env.oc(&repo, ["status"]);
    assert!(human.stdout.contains("goal     stale"), "{}", human.stdout);
}
