//! Configuration, policy as code, the rules router, adapters, `git oc plan` and `git oc policy`.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

fn plan_json(env: &TestEnv, repo: &Path, args: &[&str]) -> (Run, Value) {
    let mut full = vec!["plan", "--json"];
    full.extend_from_slice(args);
    let run = env.run_agent(repo, full);
    let doc = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
    (run, doc)
}

#[test]
fn the_rules_router_is_the_default_and_matches_switchboard() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    for (task, risk, labels, lane, backend, rule, adapter) in [
        (
            "lint_fix",
            "low",
            "",
            "aider_local",
            "aider_local",
            Some("local_low_risk"),
            "aider",
        ),
        (
            "bug_fix",
            "medium",
            "",
            "claude_cli",
            "kodo",
            Some("medium_implementation"),
            "kodo",
        ),
        (
            "refactor",
            "medium",
            "",
            "claude_cli",
            "archon_then_kodo",
            Some("premium_structured"),
            "kodo",
        ),
        ("feature", "low", "", "claude_cli", "kodo", None, "kodo"),
        (
            "bug_fix",
            "high",
            "local_only",
            "aider_local",
            "aider_local",
            Some("force_local_only"),
            "aider",
        ),
    ] {
        let mut args = vec!["--goal", "g", "--task-type", task, "--risk", risk];
        if !labels.is_empty() {
            args.extend(["--label", labels]);
        }
        let (run, doc) = plan_json(&env, &repo, &args);
        run.assert_code(0);
        assert_eq!(doc["decision"]["selected_lane"], lane, "{task}/{risk}");
        assert_eq!(doc["decision"]["selected_backend"], backend, "{task}/{risk}");
        assert_eq!(
            doc["decision"]["policy_rule_matched"],
            rule.map_or(Value::Null, Value::from),
            "{task}/{risk}"
        );
        assert_eq!(doc["adapter"], adapter);
    }
    let (_, doc) = plan_json(&env, &repo, &["--goal", "g", "--task-type", "feature", "--risk", "low"]);
    assert_eq!(doc["decision"]["confidence"], 0.7, "the fallback");
    assert_eq!(
        doc["decision"]["rationale"],
        "Default fallback: no policy rule matched; using premium lane with kodo."
    );
    let (_, doc) = plan_json(&env, &repo, &["--goal", "g", "--task-type", "lint_fix"]);
    assert_eq!(
        doc["decision"]["alternatives_considered"],
        serde_json::json!(["claude_cli"])
    );
    assert!(
        !doc["route_plan"]["fallbacks"]["candidates"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{}",
        doc["route_plan"]
    );
}

#[test]
fn run_routes_by_rules_and_runs_the_mapped_adapter() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (run, doc) = env.run_json(&repo, &["--goal", "Tidy the docs", "--task-type", "documentation"]);
    run.assert_code(0);
    assert_eq!(doc["decision"]["selected_backend"], "aider_local");
    assert_eq!(doc["command"]["argv"][0], "aider");
    let (run, doc) = env.run_json(&repo, &["--goal", "Fix the bug", "--task-type", "bug_fix"]);
    run.assert_code(0);
    assert_eq!(doc["command"]["argv"][0], "kodo");
    assert_eq!(doc["decision"]["policy_rule_matched"], "medium_implementation");
}

#[test]
fn switchboards_own_yaml_policy_file_is_read_unchanged() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    std::fs::create_dir_all(repo.join(".oc")).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/reference/switchboard-policy.yaml"
        ),
        repo.join(".oc/switchboard-policy.yaml"),
    )
    .or_else(|_| {
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/routing/testdata/switchboard-policy.yaml"
            ),
            repo.join(".oc/switchboard-policy.yaml"),
        )
    })
    .unwrap();
    write_config(&repo, "[routing]\npolicy_file = \"switchboard-policy.yaml\"\n");
    let (run, doc) = plan_json(&env, &repo, &["--goal", "g", "--task-type", "documentation"]);
    run.assert_code(0);
    assert_eq!(
        doc["decision"]["selected_backend"], "direct_local",
        "config/policy.yaml answers direct_local"
    );
    assert_eq!(doc["adapter"], "aider");
    let show = env.run_agent(&repo, ["policy", "show"]);
    show.assert_code(0);
    assert!(
        show.stdout.contains("switchboard-policy.yaml (from repository file"),
        "{}",
        show.stdout
    );
}

#[test]
fn an_inline_toml_routing_policy_and_adapter_mapping() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    write_config(
        &repo,
        r#"
[routing.policy]
version = "1"
[[routing.policy.rules]]
name = "everything_to_codex"
select_lane = "codex_cli"
select_backend = "kodo"
[routing.policy.fallback]
lane = "claude_cli"
backend = "kodo"

[adapters]
"codex_cli/kodo" = "codex"
"#,
    );
    let (run, doc) = env.run_json(&repo, &["--goal", "Anything"]);
    run.assert_code(0);
    assert_eq!(doc["decision"]["policy_rule_matched"], "everything_to_codex");
    assert_eq!(
        doc["command"]["argv"][0], "codex",
        "lane codex_cli with backend kodo runs the mapped adapter"
    );
}

#[test]
fn policy_from_configuration_governs_runs() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    write_config(
        &repo,
        r#"
[[policy.repo_policies]]
repo_key = "r"
blocked_task_types = ["documentation"]
[policy.repo_policies.path_policy]
default_mode = "allow"
"#,
    );
    let (run, doc) = env.run_json(
        &repo,
        &["--goal", "Docs", "--task-type", "documentation", "--backend", "aider"],
    );
    run.assert_code(1);
    assert_eq!(doc["policy_decision"]["violations"][0]["rule_id"], "task_type.blocked");
    let digest = env.evidence_json(
        &repo,
        doc["summary"]["run_id"].as_str().unwrap(),
        "policy_decision.json",
    )["policy_digest"]
        .clone();
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
        check.json()["policy_digest"],
        digest,
        "the decision records the policy it used"
    );
    env.run_agent(&repo, ["policy", "check", "--goal", "x", "--task-type", "bug_fix"])
        .assert_code(0);
}

#[test]
fn layers_user_repository_environment_flags() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let user_dir = env.home().join(".config/git-oc");
    std::fs::create_dir_all(&user_dir).unwrap();
    std::fs::write(
        user_dir.join("config.toml"),
        "[run]\ntimeout = 111\nbranch = \"user/{task_id}\"\nvalidation_timeout = 222\n",
    )
    .unwrap();
    write_config(&repo, "[run]\ntimeout = 333\n");
    let show = env.run_agent(&repo, ["policy", "show", "--json"]);
    show.assert_code(0);
    let doc = show.json();
    assert_eq!(doc["run"]["timeout"], 333);
    assert_eq!(doc["run"]["branch"], "user/{task_id}");
    assert_eq!(doc["run"]["validation_timeout"], 222);
    let mut cmd = env.oc_agents(&repo);
    cmd.env("GIT_OC_TIMEOUT", "444");
    let run = Run::from(
        cmd.args([
            "run",
            "--json",
            "--goal",
            "g",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "noop",
        ])
        .output()
        .unwrap(),
    );
    run.assert_code(0);
    assert_eq!(run.json()["command"]["timeout_seconds"], 444);
    assert!(run.json()["summary"]["branch"].as_str().unwrap().starts_with("user/"));
    let mut cmd = env.oc_agents(&repo);
    cmd.env("GIT_OC_TIMEOUT", "444");
    let run = Run::from(
        cmd.args([
            "run",
            "--json",
            "--goal",
            "g2",
            "--timeout",
            "555",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "noop",
        ])
        .output()
        .unwrap(),
    );
    assert_eq!(run.json()["command"]["timeout_seconds"], 555, "flags win");
    let text = env.run_agent(&repo, ["policy", "show"]).stdout;
    assert!(
        text.contains("timeout           : 333s (from repository file"),
        "{text}"
    );
    assert!(text.contains("validation_timeout: 222s (from user file"), "{text}");
}

#[test]
fn plan_executes_nothing_and_writes_nothing() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let before = env.state(&repo);
    let listing = |p: &Path| {
        let mut v: Vec<_> = walk(p);
        v.sort();
        v
    };
    let files_before = listing(&repo);
    let run = env.run_agent(&repo, ["plan", "--goal", "Fix it", "--task-type", "bug_fix"]);
    run.assert_code(0);
    assert!(run.stdout.contains("[ROUTING — LaneDecision]"));
    assert!(run.stdout.contains("summary     : ALLOWED WITH WARNINGS"));
    assert_eq!(env.state(&repo), before);
    assert_eq!(listing(&repo), files_before, "no file appeared");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            // git's own bookkeeping of `git status` runs may change; git-oc's may not appear.
            if p.file_name().is_some_and(|n| n == "index") {
                continue;
            }
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

#[test]
fn the_demo_ignores_the_repository_configuration() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    write_config(
        &repo,
        "[[policy.repo_policies]]\nrepo_key = \"demo\"\n[policy.repo_policies.review_requirement]\nautonomous_allowed = false\nblocked_without_human = true\n[routing]\nrouter = \"switchboard\"\nswitchboard_url = \"http://127.0.0.1:9\"\n",
    );
    let run = env.oc(&repo, ["demo"]);
    run.assert_code(0);
    assert_eq!(run.field("status"), "ALLOW");
    assert_eq!(run.field("rule"), "demo.stub_routing");
}

// --- bad configuration: exit 2, the file and the problem named ---

#[track_caller]
fn rejected_config(env: &TestEnv, repo: &Path, text: &str, expect: &str) {
    write_config(repo, text);
    for args in [
        &["plan", "--goal", "x"][..],
        &["policy", "show"][..],
        &["run", "--goal", "x", "--backend", "claude"][..],
    ] {
        let before = env.state(repo);
        let run = env.run_agent(repo, args);
        run.assert_clean_error(2);
        assert!(
            run.stderr.contains(expect),
            "{args:?}: expected {expect:?} in:\n{}",
            run.stderr
        );
        assert_eq!(env.state(repo), before);
    }
}

#[test]
fn malformed_toml() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    rejected_config(&env, &repo, "[run\ntimeout = 1\n", "config.toml:1:");
}

#[test]
fn unknown_keys_are_reported() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    rejected_config(
        &env,
        &repo,
        "[run]\ntimout = 1\n",
        "config.toml:2:1: unknown field `timout`",
    );
    rejected_config(
        &env,
        &repo,
        "[[policy.repo_policies]]\nrepo_key = \"*\"\nenabeld = true\n",
        "unknown field `enabeld`",
    );
}

#[test]
fn wrong_types() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    rejected_config(&env, &repo, "[run]\ntimeout = \"long\"\n", "config.toml:2:11:");
    rejected_config(&env, &repo, "[run]\nvalidate = \"cargo test\"\n", "config.toml:2:");
}

#[test]
fn unknown_enum_values() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    rejected_config(
        &env,
        &repo,
        "[routing]\nrouter = \"magic\"\n",
        "unknown router \"magic\"",
    );
    rejected_config(&env, &repo, "[run]\nbackend = \"gpt\"\n", "unknown backend \"gpt\"");
    rejected_config(
        &env,
        &repo,
        "[adapters]\n\"warp_cli/kodo\" = \"kodo\"\n",
        "unknown lane \"warp_cli\"",
    );
    rejected_config(
        &env,
        &repo,
        "[adapters]\nkodo = \"skynet\"\n",
        "unknown adapter \"skynet\"",
    );
}

#[test]
fn contradictory_policy_fails_closed() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    rejected_config(
        &env,
        &repo,
        "[[policy.repo_policies]]\nrepo_key = \"*\"\n[policy.repo_policies.review_requirement]\nblocked_without_human = true\nautonomous_allowed = true\n[policy.repo_policies.tool_guardrail]\nnetwork_mode = \"sometimes\"\n",
        "the policy is invalid (2 problems)",
    );
}

#[test]
fn a_policy_file_that_does_not_exist() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    rejected_config(
        &env,
        &repo,
        "[routing]\npolicy_file = \"missing.yaml\"\n",
        "cannot read routing policy",
    );
}

#[test]
fn a_routing_policy_with_unknown_names() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    std::fs::create_dir_all(repo.join(".oc")).unwrap();
    std::fs::write(
        repo.join(".oc/p.yaml"),
        "rules:\n- name: r1\n  select_lane: warp_lane\n  select_backend: kodo\n  when: {task_type: [bogus]}\n",
    )
    .unwrap();
    rejected_config(
        &env,
        &repo,
        "[routing]\npolicy_file = \"p.yaml\"\n",
        "the routing policy from repository file",
    );
    std::fs::write(repo.join(".oc/p.yaml"), "rules: [unclosed\n").unwrap();
    rejected_config(
        &env,
        &repo,
        "[routing]\npolicy_file = \"p.yaml\"\n",
        "invalid routing policy",
    );
}

#[test]
fn a_bad_environment_variable() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    for (var, value) in [
        ("GIT_OC_TIMEOUT", "soon"),
        ("GIT_OC_ROUTER", "magic"),
        ("GIT_OC_BACKEND", "gpt"),
    ] {
        let mut cmd = env.oc_agents(&repo);
        cmd.env(var, value);
        let run = Run::from(cmd.args(["plan", "--goal", "x"]).output().unwrap());
        run.assert_clean_error(2);
        assert!(run.stderr.contains(var), "{var}: {}", run.stderr);
    }
}
