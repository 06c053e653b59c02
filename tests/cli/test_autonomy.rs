//! `git oc autonomy-cycle`: fixture repositories built to trigger each default family, repeated
//! cycles crossing the persistence thresholds (snapshots read back from git, also across
//! clones), suppression by gating, cooldown, open task, saturation and quotas, `--execute`
//! against the git board and the fake Plane, `--show`, and the bad inputs.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;
use crate::plane_fake::{FakePlane, PROJECT, TOKEN, WORKSPACE};
use crate::test_publish::github::{FakeGitHub, Flavor};

fn cycle(env: &TestEnv, repo: &Path, args: &[&str]) -> Value {
    let mut full = vec!["--json", "autonomy-cycle"];
    full.extend_from_slice(args);
    let run = env.run_agent(repo, full);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    run.json()
}

fn emitted(doc: &Value) -> Vec<String> {
    doc["stages"]["decide"]["emitted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["family"].as_str().unwrap().to_owned())
        .collect()
}

fn candidate<'a>(doc: &'a Value, family: &str) -> &'a Value {
    doc["stages"]["decide"]["emitted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["family"] == family)
        .unwrap_or_else(|| panic!("no {family} candidate in {:#}", doc["stages"]["decide"]))
}

/// The reason `family`'s candidate was suppressed, if it was.
fn suppressed(doc: &Value, family: &str) -> Option<String> {
    doc["stages"]["decide"]["suppressed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["family"] == family)
        .map(|s| s["reason"].as_str().unwrap().to_owned())
}

/// A repository whose test command is `sh check.sh` (exit 0 to start with), linters off.
fn repo_with_tests(env: &TestEnv, extra: &str) -> PathBuf {
    let repo = env.repo("r");
    std::fs::write(repo.join("check.sh"), "exit 0\n").unwrap();
    write_config(
        &repo,
        &format!("[autonomy]\ntest_command = \"sh check.sh\"\nlint = false\n{extra}"),
    );
    env.git(&repo, ["add", "."]);
    env.git(&repo, ["commit", "-q", "-m", "tests"]);
    repo
}

#[test]
fn failing_tests_are_proposed_on_the_transition_and_once_persistent() {
    let env = TestEnv::new();
    let repo = repo_with_tests(&env, "");
    let first = cycle(&env, &repo, &[]);
    assert_eq!(first["dry_run"], true);
    assert_eq!(first["signals"]["test"]["status"], "passed");
    assert!(emitted(&first).is_empty(), "{first:#}");
    // The observation and the report are in git.
    let obs = first["observation_ref"].as_str().unwrap();
    let snapshot: Value = serde_json::from_str(&env.git(&repo, ["show", &format!("{obs}:snapshot.json")])).unwrap();
    assert_eq!(snapshot["id"], first["stages"]["observe"]["id"]);
    let cycle_ref = first["cycle_ref"].as_str().unwrap();
    assert_eq!(
        env.git(&repo, ["rev-parse", &format!("{cycle_ref}^")]),
        env.git(&repo, ["rev-parse", obs])
    );

    std::fs::write(repo.join("check.sh"), "echo 'boom: 1 failed' >&2; exit 1\n").unwrap();
    let broke = cycle(&env, &repo, &[]);
    assert_eq!(broke["signals"]["test"]["status"], "failed");
    let c = candidate(&broke, "test_visibility");
    assert_eq!(c["pattern"], "passed_to_failed");
    assert_eq!(c["confidence"], "high");
    // Failing, not yet for three snapshots in a row: only the transition (which the next cycle
    // no longer sees) speaks.
    let second = cycle(&env, &repo, &[]);
    assert!(emitted(&second).is_empty(), "{:#}", second["stages"]["decide"]);
    let third = cycle(&env, &repo, &[]);
    assert_eq!(candidate(&third, "test_visibility")["pattern"], "failed_persistent");
    assert_eq!(third["stages"]["observe"]["history"].as_array().unwrap().len(), 3);
}

#[test]
fn execute_files_a_task_then_cooldown_and_the_open_task_suppress_it() {
    let env = TestEnv::new();
    let repo = repo_with_tests(&env, "");
    cycle(&env, &repo, &[]);
    std::fs::write(repo.join("check.sh"), "exit 1\n").unwrap();
    // The dry run shows the candidate; executing right after still proposes it (dry runs start
    // no cooldown).
    assert_eq!(emitted(&cycle(&env, &repo, &[])), ["test_visibility"]);
    std::fs::write(repo.join("check.sh"), "exit 0\n").unwrap();
    cycle(&env, &repo, &[]);
    std::fs::write(repo.join("check.sh"), "exit 1\n").unwrap();
    let done = cycle(&env, &repo, &["--execute"]);
    assert_eq!(done["dry_run"], false);
    let created = &done["stages"]["propose"]["created"];
    assert_eq!(created.as_array().unwrap().len(), 1, "{done:#}");
    let id = created[0]["task_id"].as_str().unwrap();
    assert_eq!(created[0]["state"], "Ready for AI");

    let shown = env.oc(&repo, ["--json", "task", "show", id]).json();
    let task = &shown["task"];
    let labels: Vec<&str> = task["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    for l in [
        "source: autonomy",
        "source: propose",
        "source-family: test_visibility",
        "task-kind: improve",
        "repo: r",
    ] {
        assert!(labels.contains(&l), "{labels:?}");
    }
    let text = task["description"].as_str().unwrap();
    for section in [
        "## Goal",
        "## Execution",
        "## Constraints",
        "## Provenance",
        "## Evidence",
    ] {
        assert!(text.contains(section), "{text}");
    }
    let c = &done["stages"]["decide"]["emitted"][0];
    for fact in [
        done["stages"]["observe"]["id"].as_str().unwrap(),
        done["stages"]["decide"]["id"].as_str().unwrap(),
        c["dedup_key"].as_str().unwrap(),
        c["insight_ids"][0].as_str().unwrap(),
    ] {
        assert!(text.contains(fact), "{fact} missing from\n{text}");
    }
    // The lanes parse it like any task.
    assert_eq!(shown["parsed"]["execution"]["repo"], "r");

    // A new transition at once: the cooldown holds it back; without the cooldown, the open
    // task does.
    let flip = || {
        std::fs::write(repo.join("check.sh"), "exit 0\n").unwrap();
        cycle(&env, &repo, &[]);
        std::fs::write(repo.join("check.sh"), "exit 1\n").unwrap();
    };
    flip();
    let cooled = cycle(&env, &repo, &["--execute"]);
    assert_eq!(
        suppressed(&cooled, "test_visibility").as_deref(),
        Some("cooldown_active"),
        "{cooled:#}"
    );
    assert_eq!(cooled["stages"]["propose"]["status"], "skipped (no emitted candidates)");
    flip();
    let open = cycle(&env, &repo, &["--execute", "--cooldown-minutes", "0"]);
    assert_eq!(
        suppressed(&open, "test_visibility").as_deref(),
        Some("existing_open_equivalent_task")
    );
    // Once the task is done, the candidate may come back.
    env.oc(&repo, ["task", "move", id, "done"]).assert_code(0);
    flip();
    let back = cycle(&env, &repo, &["--cooldown-minutes", "0"]);
    assert_eq!(emitted(&back), ["test_visibility"]);
    // The human report names the stages and the reasons.
    flip();
    let human = env.oc(&repo, ["autonomy-cycle", "--execute"]);
    human.assert_code(0);
    for line in [
        "[1/4] observe",
        "[2/4] insights",
        "[3/4] decide",
        "test_visibility",
        "cooldown_active",
        "[4/4] propose",
        "Cycle report: refs/oc/cycles/",
    ] {
        assert!(human.stdout.contains(line), "{}", human.stdout);
    }
}

#[test]
fn an_unobservable_test_signal_is_proposed_after_two_snapshots_and_persists_across_clones() {
    let t = trio();
    let env = &t.env;
    write_config(&t.a, "[autonomy]\nlint = false\n");
    write_config(&t.b, "[autonomy]\nlint = false\n");
    let first = cycle(env, &t.a, &[]);
    assert_eq!(first["signals"]["test"]["status"], "unavailable");
    assert!(emitted(&first).is_empty());
    env.oc(&t.a, ["push"]).assert_code(0);
    env.oc(&t.b, ["fetch"]).assert_code(0);
    assert_eq!(
        env.git(&t.b, ["for-each-ref", "--format=%(refname)", "refs/oc/observations/"]),
        first["observation_ref"].as_str().unwrap()
    );
    // B's first cycle continues A's snapshot.
    let second = cycle(env, &t.b, &[]);
    let c = candidate(&second, "observation_coverage");
    assert_eq!(
        c["dedup_key"],
        "candidate|observation_coverage|test_signal|persistent_unavailable"
    );
    assert_eq!(c["observation_ids"].as_array().unwrap().len(), 2);
    // The third snapshot in a row also makes the tests' invisibility a test_visibility candidate.
    let third = cycle(env, &t.b, &["--cooldown-minutes", "0"]);
    assert_eq!(
        candidate(&third, "test_visibility")["pattern"],
        "unavailable_persistent"
    );
    // Cycle reports travel too.
    env.oc(&t.b, ["push"]).assert_code(0);
    env.oc(&t.a, ["fetch"]).assert_code(0);
    let shown = env.oc(&t.a, ["--json", "autonomy-cycle", "--show"]).json();
    assert_eq!(shown["id"], third["id"]);
}

#[test]
fn a_manifest_committed_after_its_lockfile_is_dependency_drift() {
    let env = TestEnv::new();
    let repo = repo_with_tests(&env, "");
    std::fs::write(repo.join("package.json"), "{\"name\":\"x\",\"dependencies\":{}}\n").unwrap();
    std::fs::write(repo.join("package-lock.json"), "{}\n").unwrap();
    env.git(&repo, ["add", "."]);
    env.git(&repo, ["commit", "-q", "-m", "deps"]);
    let locked = cycle(&env, &repo, &[]);
    assert_eq!(locked["signals"]["dependency_drift"]["status"], "absent");
    std::fs::write(
        repo.join("package.json"),
        "{\"name\":\"x\",\"dependencies\":{\"left-pad\":\"1\"}}\n",
    )
    .unwrap();
    env.git(&repo, ["commit", "-q", "-am", "add a dependency"]);
    let once = cycle(&env, &repo, &[]);
    assert_eq!(once["signals"]["dependency_drift"]["status"], "present");
    assert!(!emitted(&once).contains(&"dependency_drift".to_owned()));
    // The family the default list allows is the family the rule emits.
    let twice = cycle(&env, &repo, &[]);
    assert_eq!(candidate(&twice, "dependency_drift")["pattern"], "present");
    assert!(
        twice["guard_rails"]["families_allowed"]
            .as_array()
            .unwrap()
            .contains(&"dependency_drift".into())
    );
}

#[test]
fn runs_failing_validation_are_execution_health_and_validation_pattern_candidates() {
    let env = TestEnv::new();
    let repo = repo_with_tests(&env, "");
    let mut run_ids = Vec::new();
    for _ in 0..2 {
        let (_, doc) = env.run_json(
            &repo,
            &[
                "--goal",
                "Say hello",
                "--risk",
                "medium",
                "--backend",
                "command",
                "--validate",
                "exit 4",
                "--",
                "fake-agent",
                "edit",
            ],
        );
        assert_eq!(doc["summary"]["outcome_status"], "validation_failed");
        run_ids.push(doc["summary"]["run_id"].as_str().unwrap().to_owned());
    }
    let doc = cycle(&env, &repo, &["--execute"]);
    assert_eq!(doc["signals"]["execution_health"]["validation_failed"], 2);
    let health = candidate(&doc, "execution_health_followup");
    assert_eq!(health["pattern"], "persistent_validation_failures");
    let pattern = candidate(&doc, "validation_pattern_followup");
    for c in [health, pattern] {
        let mut ids: Vec<String> = c["run_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        let mut want = run_ids.clone();
        want.sort();
        assert_eq!(ids, want, "the runs behind the candidate");
    }
    // Filed with the run ids in the provenance; tier 1 logic changes wait in the backlog.
    let created = doc["stages"]["propose"]["created"].as_array().unwrap();
    assert_eq!(created.len(), 2);
    let shown = env
        .oc(
            &repo,
            ["--json", "task", "show", created[0]["task_id"].as_str().unwrap()],
        )
        .json();
    let task = &shown["task"];
    assert_eq!(task["state"], "Backlog");
    assert!(task["description"].as_str().unwrap().contains(&run_ids[0]));
}

/// The environment cargo needs under the tests' scrubbed one (rustup finds its toolchains
/// through these), and a target directory outside the fixture.
fn cargo_env(env: &TestEnv, cmd: &mut std::process::Command) {
    let home = std::env::var("HOME").unwrap_or_default();
    for (var, default) in [
        ("RUSTUP_HOME", format!("{home}/.rustup")),
        ("CARGO_HOME", format!("{home}/.cargo")),
    ] {
        cmd.env(var, std::env::var(var).unwrap_or(default));
    }
    if let Ok(t) = std::env::var("RUSTUP_TOOLCHAIN") {
        cmd.env("RUSTUP_TOOLCHAIN", t);
    }
    cmd.env("CARGO_TARGET_DIR", env.root().join("target"));
}

fn crate_repo(env: &TestEnv, lib: &str) -> PathBuf {
    let repo = env.repo("crate");
    std::fs::write(
        repo.join("Cargo.toml"),
        "[package]\nname = \"fixture\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n",
    )
    .unwrap();
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::write(repo.join("src/lib.rs"), lib).unwrap();
    std::fs::write(repo.join(".gitignore"), "/Cargo.lock\n").unwrap();
    write_config(&repo, "[autonomy]\ntest_command = \"true\"\n");
    env.git(&repo, ["add", "."]);
    env.git(&repo, ["commit", "-q", "-m", "crate"]);
    repo
}

fn cargo_cycle(env: &TestEnv, repo: &Path) -> Value {
    let mut cmd = env.oc_cmd(repo);
    cargo_env(env, &mut cmd);
    let run = Run::from(cmd.args(["--json", "autonomy-cycle"]).output().unwrap());
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.json()
}

#[test]
fn clippy_warnings_are_a_lint_fix_candidate() {
    let env = TestEnv::new();
    let lib: String = (1..=6)
        .map(|i| format!("pub fn f{i}(x: u32) -> u32 {{\n    return x + {i};\n}}\n"))
        .collect();
    let repo = crate_repo(&env, &lib);
    let doc = cargo_cycle(&env, &repo);
    assert_eq!(doc["signals"]["lint"]["status"], "violations", "{:#}", doc["signals"]);
    assert_eq!(doc["signals"]["lint"]["count"], 6);
    assert_eq!(
        doc["signals"]["lint"]["top_codes"][0]["path"],
        "clippy::needless_return"
    );
    assert_eq!(candidate(&doc, "lint_fix")["validation_profile"], "lint_clean");
}

#[test]
fn compile_errors_are_a_type_fix_candidate() {
    let env = TestEnv::new();
    let lib: String = (0..3)
        .map(|i| format!("pub fn f{i}() -> u32 {{\n    \"not a number\"\n}}\n"))
        .collect();
    let repo = crate_repo(&env, &lib);
    let doc = cargo_cycle(&env, &repo);
    assert_eq!(doc["signals"]["type"]["status"], "errors", "{:#}", doc["signals"]);
    assert_eq!(doc["signals"]["type"]["count"], 3);
    assert_eq!(candidate(&doc, "type_fix")["pattern"], "present");
}

#[test]
fn gating_quotas_disabled_families_and_saturation_each_give_their_reason() {
    let env = TestEnv::new();
    let repo = repo_with_tests(&env, "");
    std::fs::write(repo.join("check.sh"), "exit 1\n").unwrap();
    std::fs::write(repo.join("notes.md"), "TODO one\nFIXME two\n").unwrap();
    env.git(&repo, ["add", "."]);
    env.git(&repo, ["commit", "-q", "-m", "notes"]);
    cycle(&env, &repo, &[]);
    // Second snapshot: hotspots persist, FIXME present; both families are gated by default.
    let gated = cycle(&env, &repo, &[]);
    assert_eq!(
        suppressed(&gated, "hotspot_concentration").as_deref(),
        Some("family_deferred_initial_gating")
    );
    assert_eq!(
        suppressed(&gated, "todo_accumulation").as_deref(),
        Some("family_deferred_initial_gating")
    );
    let all = cycle(&env, &repo, &["--all-families", "--max-candidates", "1"]);
    assert_eq!(emitted(&all).len(), 1);
    assert!(
        all["stages"]["decide"]["suppressed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["reason"] == "quota_exceeded"),
        "{all:#}"
    );
    // One candidate per family: the hotspots are several files.
    let wide = cycle(&env, &repo, &["--all-families", "--max-candidates", "10"]);
    assert_eq!(
        suppressed(&wide, "hotspot_concentration").as_deref(),
        Some("family_quota_exceeded")
    );
    // Silenced in the configuration, whatever the flags.
    write_config(
        &repo,
        "[autonomy]\ntest_command = \"sh check.sh\"\nlint = false\ndisabled_families = [\"todo_accumulation\"]\nmax_queued = 1\n",
    );
    let silenced = cycle(&env, &repo, &["--all-families"]);
    assert_eq!(
        suppressed(&silenced, "todo_accumulation").as_deref(),
        Some("family_disabled")
    );
    // A saturated board takes nothing more.
    env.oc(
        &repo,
        [
            "task",
            "add",
            "Earlier proposal",
            "-l",
            "source: autonomy",
            "--state",
            "ready",
        ],
    )
    .assert_code(0);
    let full = cycle(&env, &repo, &["--all-families", "--execute"]);
    assert!(emitted(&full).is_empty(), "{full:#}");
    assert_eq!(
        suppressed(&full, "hotspot_concentration").as_deref(),
        Some("board_saturated")
    );
    assert_eq!(full["guard_rails"]["board_queued"], 1);
}

#[test]
fn max_create_bounds_the_tasks_filed() {
    let env = TestEnv::new();
    let repo = repo_with_tests(&env, "");
    std::fs::write(repo.join("notes.md"), "FIXME\n").unwrap();
    env.git(&repo, ["add", "."]);
    env.git(&repo, ["commit", "-q", "-m", "notes"]);
    cycle(&env, &repo, &[]);
    let doc = cycle(&env, &repo, &["--all-families", "--execute", "--max-create", "1"]);
    assert!(emitted(&doc).len() >= 2, "{doc:#}");
    let p = &doc["stages"]["propose"];
    assert_eq!(p["created"].as_array().unwrap().len(), 1);
    assert!(
        p["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("max_create_reached")
    );
}

#[test]
fn execute_files_on_plane_and_the_open_plane_task_suppresses_the_next() {
    let fake = FakePlane::start();
    fake.plane.lock().unwrap().rate_limit = 100_000;
    let env = TestEnv::new();
    let repo = repo_with_tests(
        &env,
        &format!(
            "[board]\nkind = \"plane\"\n[plane]\nurl = \"{}\"\nworkspace = \"{WORKSPACE}\"\nproject_id = \"{PROJECT}\"\nretry_unit_ms = 1\n",
            fake.url
        ),
    );
    let oc = |args: &[&str]| {
        let mut cmd = env.oc_cmd(&repo);
        cmd.env("PLANE_API_TOKEN", TOKEN);
        Run::from(cmd.args(args).output().unwrap())
    };
    oc(&["--json", "autonomy-cycle"]).assert_code(0);
    std::fs::write(repo.join("check.sh"), "exit 1\n").unwrap();
    let run = oc(&["--json", "autonomy-cycle", "--execute"]);
    run.assert_code(0);
    let doc = run.json();
    assert_eq!(
        doc["stages"]["propose"]["created"].as_array().unwrap().len(),
        1,
        "{doc:#}"
    );
    let item = fake.plane.lock().unwrap().items[0].clone();
    assert_eq!(item["name"], "Fix the tests that started failing");
    let listed = oc(&[
        "--json",
        "task",
        "list",
        "-l",
        "source: autonomy",
        "-l",
        "source-family: test_visibility",
    ]);
    assert_eq!(listed.json().as_array().unwrap().len(), 1);
    let again = oc(&["--json", "autonomy-cycle", "--cooldown-minutes", "0"]).json();
    // Same pattern only on a new transition: rebuild one.
    assert!(emitted(&again).is_empty());
    std::fs::write(repo.join("check.sh"), "exit 0\n").unwrap();
    oc(&["autonomy-cycle"]).assert_code(0);
    std::fs::write(repo.join("check.sh"), "exit 1\n").unwrap();
    let open = oc(&["--json", "autonomy-cycle", "--cooldown-minutes", "0"]).json();
    assert_eq!(
        suppressed(&open, "test_visibility").as_deref(),
        Some("existing_open_equivalent_task")
    );
    // Without a token, --execute fails before recording anything.
    let before = env.state(&repo);
    let mut cmd = env.oc_cmd(&repo);
    let refused = Run::from(cmd.args(["autonomy-cycle", "--execute"]).output().unwrap());
    refused.assert_clean_error(2);
    assert_eq!(env.state(&repo), before);
}

#[test]
fn show_reads_back_the_newest_or_a_named_cycle() {
    let env = TestEnv::new();
    let repo = repo_with_tests(&env, "");
    let first = cycle(&env, &repo, &[]);
    let second = cycle(&env, &repo, &[]);
    let newest = env.oc(&repo, ["--json", "autonomy-cycle", "--show"]).json();
    assert_eq!(newest["id"], second["id"]);
    let id = first["id"].as_str().unwrap();
    let named = env
        .oc(&repo, ["--json", "autonomy-cycle", "--show", &id[..id.len() - 2]])
        .json();
    assert_eq!(named["id"], first["id"]);
    let md = env.oc(&repo, ["autonomy-cycle", "--show", id]);
    md.assert_code(0);
    assert!(
        md.stdout.starts_with(&format!("# Autonomy cycle {id}")),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("## Decide"));
}

#[test]
fn bad_inputs_fail_cleanly_and_leave_nothing_behind() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let before = env.state(&repo);
    for args in [
        &["autonomy-cycle", "--max-candidates", "0"][..],
        &["autonomy-cycle", "--max-create", "many"],
        &["autonomy-cycle", "--cooldown-minutes", "-5"],
        &["autonomy-cycle", "--execute", "--show"],
        &["autonomy-cycle", "--show"],
        &["autonomy-cycle", "--show", "cyc_nosuch"],
    ] {
        env.oc(&repo, args).assert_clean_error(2);
        assert_eq!(env.state(&repo), before, "{args:?}");
    }
    for config in [
        "[autonomy]\nfamilies = [\"lint_fix\", \"vibes\"]\n",
        "[autonomy]\ndisabled_families = [\"nope\"]\n",
        "[autonomy]\nmax_queued = 0\n",
        "[autonomy]\nlint_min_violations = 0\n",
        "[autonomy]\nunknown_key = 1\n",
        "[autonomy]\ncooldown_minutes = \"soon\"\n",
    ] {
        write_config(&repo, config);
        let before = env.state(&repo);
        let run = env.oc(&repo, ["autonomy-cycle"]);
        run.assert_clean_error(2);
        assert_eq!(env.state(&repo), before, "{config}");
    }
    // Outside a repository.
    let outside = env.root().join("plain");
    std::fs::create_dir_all(&outside).unwrap();
    env.oc(&outside, ["autonomy-cycle"]).assert_clean_error(2);
    // A bare repository has no work tree to observe.
    let bare = env.root().join("bare.git");
    env.git(env.root(), ["init", "-q", "--bare", bare.to_str().unwrap()]);
    env.oc(&bare, ["autonomy-cycle"]).assert_clean_error(2);
    // A repository without commits is observed, not an error.
    let empty = env.empty_repo("empty");
    let doc = cycle(&env, &empty, &[]);
    assert!(
        doc["stages"]["observe"]["collector_errors"]
            .as_object()
            .unwrap()
            .is_empty(),
        "{doc:#}"
    );
    // An ambiguous prefix.
    std::fs::remove_dir_all(repo.join(".oc")).unwrap();
    write_config(&repo, "[autonomy]\nlint = false\n");
    cycle(&env, &repo, &[]);
    cycle(&env, &repo, &[]);
    env.oc(&repo, ["autonomy-cycle", "--show", "cyc_"])
        .assert_clean_error(2);
}

#[test]
fn failing_github_checks_are_a_ci_pattern_and_an_unreadable_ci_is_recorded_not_fatal() {
    const GH_TOKEN: &str = "ghp_autonomyTestToken0123456789abcdef";
    let env = TestEnv::new();
    // Checked against GitHub's OpenAPI description when it goes away.
    let server = FakeGitHub::start(Flavor::GitHubCom, "o", "r", env.root(), GH_TOKEN);
    server.state.lock().unwrap().checks = vec![
        ("build".into(), Some("failure".into())),
        ("docs".into(), Some("success".into())),
        ("slow".into(), None),
    ];
    let url = server.api_url.clone();
    let repo = repo_with_tests(&env, &format!("[github]\napi_url = \"{url}\"\nrepository = \"o/r\"\n"));
    env.git(&repo, ["remote", "add", "origin", "https://github.com/o/r.git"]);
    let with_token = |args: &[&str]| {
        let mut cmd = env.oc_cmd(&repo);
        cmd.env("GITHUB_TOKEN", GH_TOKEN);
        let run = Run::from(cmd.args(args).output().unwrap());
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(!run.stdout.contains(GH_TOKEN));
        run.json()
    };
    let doc = with_token(&["--json", "autonomy-cycle", "--all-families"]);
    let ci = &doc["signals"]["ci"];
    assert_eq!(ci["status"], "failing", "{doc:#}");
    assert_eq!(ci["failing_checks"], serde_json::json!(["build"]));
    assert_eq!(ci["commits_checked"], 2);
    assert_eq!(candidate(&doc, "ci_pattern")["validation_profile"], "ci_green");
    // Gated by default.
    let gated = with_token(&["--json", "autonomy-cycle"]);
    assert_eq!(
        suppressed(&gated, "ci_pattern").as_deref(),
        Some("family_deferred_initial_gating")
    );
    // Without a token there is no CI signal, and no error either.
    let none = cycle(&env, &repo, &[]);
    assert_eq!(none["signals"]["ci"]["status"], "unavailable");
    assert!(
        none["stages"]["observe"]["collector_errors"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    // A GitHub that cannot be read is a collector error; the cycle goes on.
    write_config(
        &repo,
        &format!(
            "[autonomy]\ntest_command = \"sh check.sh\"\nlint = false\n[github]\napi_url = \"{url}\"\nrepository = \"o/missing\"\n"
        ),
    );
    let broken = with_token(&["--json", "autonomy-cycle"]);
    assert!(
        broken["stages"]["observe"]["collector_errors"]["ci_history"].is_string(),
        "{broken:#}"
    );
    assert_eq!(broken["guard_rails"]["cycle_health"], "degraded");
}

fn labels_of(env: &TestEnv, repo: &Path, id: &str) -> (Vec<String>, String) {
    let shown = env.oc(repo, ["--json", "task", "show", id]).json();
    let labels = shown["task"]["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    (labels, shown["task"]["description"].as_str().unwrap().to_owned())
}

#[test]
fn backlog_items_are_promoted_with_their_type_and_a_done_item_is_not_promoted_again() {
    let env = TestEnv::new();
    let repo = repo_with_tests(
        &env,
        "disabled_families = [\"hotspot_concentration\", \"todo_accumulation\"]\n",
    );
    std::fs::write(
        repo.join("BACKLOG.md"),
        "# Backlog\n\n## Next\n- [x] Shipped already\n- [feature] Add retries to the fetch\n- [ ] Document the flags\n- [arch] Split the config module\n\n## Later\n- Rewrite everything\n",
    )
    .unwrap();
    env.git(&repo, ["add", "."]);
    env.git(&repo, ["commit", "-q", "-m", "backlog"]);
    let gated = cycle(&env, &repo, &[]);
    assert_eq!(gated["signals"]["backlog"]["file"], "BACKLOG.md");
    assert_eq!(gated["signals"]["backlog"]["items"].as_array().unwrap().len(), 3);
    for family in ["backlog_promotion", "arch_promotion"] {
        assert_eq!(
            suppressed(&gated, family).as_deref(),
            Some("family_deferred_initial_gating"),
            "{family}"
        );
    }
    let done = cycle(&env, &repo, &["--all-families", "--execute"]);
    let mut families = emitted(&done);
    families.sort();
    assert_eq!(families, ["arch_promotion", "backlog_promotion"], "{done:#}");
    // One item per family and cycle: the first open one of the section.
    assert_eq!(
        suppressed(&done, "backlog_promotion").as_deref(),
        Some("family_quota_exceeded")
    );
    let created = done["stages"]["propose"]["created"].as_array().unwrap();
    let by_family = |f: &str| created.iter().find(|c| c["family"] == f).unwrap();
    let feature = by_family("backlog_promotion");
    assert_eq!(feature["title"], "Add retries to the fetch");
    // Tier 1 and not a style change, tier 0: both wait for a human in the backlog.
    assert_eq!(feature["state"], "Backlog");
    assert_eq!(by_family("arch_promotion")["state"], "Backlog");
    assert_eq!(
        candidate(&done, "arch_promotion")["validation_profile"],
        "manual_review"
    );
    let (labels, text) = labels_of(&env, &repo, feature["task_id"].as_str().unwrap());
    for l in [
        "source: backlog",
        "type: feature",
        "source: autonomy",
        "source-family: backlog_promotion",
    ] {
        assert!(labels.iter().any(|x| x == l), "{labels:?}");
    }
    assert!(text.contains("BACKLOG.md (line 5)"), "{text}");
    let (arch_labels, _) = labels_of(&env, &repo, by_family("arch_promotion")["task_id"].as_str().unwrap());
    assert!(arch_labels.iter().any(|x| x == "type: arch"), "{arch_labels:?}");

    // Open: suppressed by its task (past the cooldown too); done: not promoted again.
    let again = cycle(&env, &repo, &["--all-families", "--cooldown-minutes", "0"]);
    assert_eq!(
        suppressed(&again, "backlog_promotion").as_deref(),
        Some("existing_open_equivalent_task")
    );
    env.oc(&repo, ["task", "move", feature["task_id"].as_str().unwrap(), "done"])
        .assert_code(0);
    let after = cycle(&env, &repo, &["--all-families", "--cooldown-minutes", "0"]);
    let reasons: Vec<&str> = after["stages"]["decide"]["suppressed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["family"] == "backlog_promotion")
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"backlog_item_already_promoted"), "{after:#}");
    // The next item takes its place.
    assert_eq!(candidate(&after, "backlog_promotion")["title"], "Document the flags");
}

fn lcov(files: &[(&str, u32, u32)]) -> String {
    files
        .iter()
        .map(|(f, total, hit)| {
            let lines: String = (1..=*total)
                .map(|n| format!("DA:{n},{}\n", u32::from(n <= *hit)))
                .collect();
            format!("SF:{f}\n{lines}end_of_record\n")
        })
        .collect()
}

#[test]
fn a_coverage_report_in_the_work_tree_is_a_coverage_gap_when_low_or_when_files_are_uncovered() {
    let env = TestEnv::new();
    let repo = repo_with_tests(&env, "");
    // No report: unavailable, which is not a failure.
    let none = cycle(&env, &repo, &["--all-families"]);
    assert_eq!(none["signals"]["coverage"]["status"], "unavailable");
    assert!(
        none["stages"]["observe"]["collector_errors"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    assert!(suppressed(&none, "coverage_gap").is_none());

    std::fs::write(
        repo.join("lcov.info"),
        lcov(&[("src/a.rs", 10, 2), ("src/b.rs", 10, 5)]),
    )
    .unwrap();
    let gated = cycle(&env, &repo, &[]);
    assert_eq!(
        suppressed(&gated, "coverage_gap").as_deref(),
        Some("family_deferred_initial_gating")
    );
    let low = cycle(&env, &repo, &["--all-families"]);
    assert_eq!(low["signals"]["coverage"]["percent"], 35.0);
    assert_eq!(low["signals"]["coverage"]["format"], "lcov");
    let c = candidate(&low, "coverage_gap");
    assert_eq!(c["pattern"], "low_overall");
    assert!(c["summary"].as_str().unwrap().contains("src/a.rs"), "{c:#}");

    // Cobertura, 90% overall but three files below 80%.
    std::fs::remove_file(repo.join("lcov.info")).unwrap();
    let class = |f: &str, total: u32, hit: u32| {
        let lines: String = (1..=total)
            .map(|n| format!("<line number=\"{n}\" hits=\"{}\"/>", u32::from(n <= hit)))
            .collect();
        format!("<class name=\"{f}\" filename=\"{f}\" line-rate=\"0\"><lines>{lines}</lines></class>")
    };
    let xml = format!(
        "<?xml version=\"1.0\" ?>\n<coverage line-rate=\"0.9\"><packages><package><classes>{}{}{}{}</classes></package></packages></coverage>\n",
        class("big.py", 100, 100),
        class("a.py", 10, 5),
        class("b.py", 10, 6),
        class("c.py", 10, 7)
    );
    std::fs::write(repo.join("coverage.xml"), xml).unwrap();
    let files = cycle(&env, &repo, &["--all-families"]);
    assert_eq!(files["signals"]["coverage"]["files_below_threshold"], 3);
    assert_eq!(candidate(&files, "coverage_gap")["pattern"], "uncovered_files");
    // Tunable: with four files needed, nothing.
    write_config(
        &repo,
        "[autonomy]\ntest_command = \"sh check.sh\"\nlint = false\ncoverage_min_uncovered_files = 4\n",
    );
    let tuned = cycle(&env, &repo, &["--all-families"]);
    assert!(!emitted(&tuned).contains(&"coverage_gap".to_owned()), "{tuned:#}");

    // A configured report that is missing is a recorded collector error, not a failed cycle.
    write_config(
        &repo,
        "[autonomy]\ntest_command = \"sh check.sh\"\nlint = false\ncoverage_report = \"out/lcov.info\"\n",
    );
    let missing = cycle(&env, &repo, &[]);
    assert!(
        missing["stages"]["observe"]["collector_errors"]["coverage_signal"]
            .as_str()
            .unwrap()
            .contains("out/lcov.info"),
        "{missing:#}"
    );
    assert_eq!(missing["guard_rails"]["cycle_health"], "degraded");
    for config in [
        "[autonomy]\ncoverage_min_percent = 150\n",
        "[autonomy]\ncoverage_min_uncovered_files = 0\n",
        "[autonomy]\nlint_cluster_min_runs = 0\n",
    ] {
        write_config(&repo, config);
        let before = env.state(&repo);
        env.oc(&repo, ["autonomy-cycle"]).assert_clean_error(2);
        assert_eq!(env.state(&repo), before, "{config}");
    }
}

/// A Python project with ruff findings: unused imports (F401) in three files, plus others.
/// It needs ruff (`.ci/run` installs it); without ruff it fails rather than skips.
#[test]
fn ruff_findings_are_lint_fix_and_a_code_that_persists_is_a_lint_cluster() {
    let env = TestEnv::new();
    let repo = env.repo("py");
    std::fs::write(
        repo.join("pyproject.toml"),
        "[project]\nname = \"fixture\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    for m in ["a", "b", "c"] {
        std::fs::write(
            repo.join(format!("{m}.py")),
            "import os\nimport sys\n\n\ndef f(x):\n    if x == None:\n        return 1\n    return 2\n",
        )
        .unwrap();
    }
    write_config(&repo, "[autonomy]\ntest_command = \"true\"\n");
    env.git(&repo, ["add", "."]);
    env.git(&repo, ["commit", "-q", "-m", "python"]);
    let first = cycle(&env, &repo, &["--all-families"]);
    let lint = &first["signals"]["lint"];
    assert_eq!(lint["tool"], "ruff", "ruff must be installed for this test: {lint:#}");
    assert_eq!(lint["status"], "violations", "{lint:#}");
    assert!(lint["count"].as_u64().unwrap() >= 6, "{lint:#}");
    assert_eq!(lint["distinct_files"], 3);
    assert_eq!(lint["clusters"][0]["code"], "F401");
    assert_eq!(lint["clusters"][0]["files"].as_array().unwrap().len(), 3);
    assert_eq!(candidate(&first, "lint_fix")["validation_profile"], "lint_clean");
    // A cluster once it has persisted for three snapshots.
    assert!(!emitted(&first).contains(&"lint_cluster".to_owned()));
    cycle(&env, &repo, &["--all-families", "--cooldown-minutes", "0"]);
    let third = cycle(&env, &repo, &["--all-families", "--cooldown-minutes", "0"]);
    let c = candidate(&third, "lint_cluster");
    assert_eq!(c["subject"], "F401");
    assert_eq!(c["pattern"], "lint_cluster");
    assert_eq!(c["confidence"], "high");
    assert!(c["title"].as_str().unwrap().contains("F401"), "{c:#}");
    // Gated by default.
    let default = cycle(&env, &repo, &["--cooldown-minutes", "0"]);
    assert_eq!(
        suppressed(&default, "lint_cluster").as_deref(),
        Some("family_deferred_initial_gating")
    );
}

#[test]
fn gc_keeps_the_newest_autonomy_records_and_dry_run_says_what_it_would_remove() {
    let env = TestEnv::new();
    let repo = repo_with_tests(&env, "keep_records = 6\n");
    for _ in 0..8 {
        cycle(&env, &repo, &[]);
    }
    let refs = |prefix: &str| -> Vec<String> {
        env.git(&repo, ["for-each-ref", "--format=%(refname)", prefix])
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let (obs, cycles) = (refs("refs/oc/observations/"), refs("refs/oc/cycles/"));
    assert_eq!((obs.len(), cycles.len()), (8, 8));
    let dry = env.oc(&repo, ["gc", "--dry-run"]);
    dry.assert_code(0);
    for old in obs[..2].iter().chain(&cycles[..2]) {
        assert!(
            dry.stdout.contains(&format!("would remove autonomy record {old}")),
            "{}",
            dry.stdout
        );
    }
    assert!(!dry.stdout.contains(&obs[2]), "{}", dry.stdout);
    // A dry run removes nothing.
    assert_eq!(
        (refs("refs/oc/observations/"), refs("refs/oc/cycles/")),
        (obs.clone(), cycles.clone())
    );
    let real = env.oc(&repo, ["--json", "gc"]).json();
    assert_eq!(real["removed_autonomy_records"].as_array().unwrap().len(), 4);
    assert_eq!(refs("refs/oc/observations/"), obs[2..]);
    assert_eq!(refs("refs/oc/cycles/"), cycles[2..]);
    // The newest cycle is still shown, and the next cycle still compares with five snapshots.
    let shown = env.oc(&repo, ["--json", "autonomy-cycle", "--show"]).json();
    assert_eq!(format!("refs/oc/cycles/{}", shown["id"].as_str().unwrap()), cycles[7]);
    let next = cycle(&env, &repo, &[]);
    assert_eq!(next["stages"]["observe"]["history"].as_array().unwrap().len(), 5);
    // Fewer than the insights read is refused.
    write_config(&repo, "[autonomy]\nkeep_records = 5\n");
    let before = env.state(&repo);
    env.oc(&repo, ["gc"]).assert_clean_error(2);
    assert_eq!(env.state(&repo), before);
}
