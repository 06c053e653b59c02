//! The `switchboard` router against a local server that follows SwitchBoard's real API.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

fn envelope(executor: &str, backend: &str) -> Value {
    json!({
        "schema_version": "0.3", "contract_kind": "lane_decision", "created_at": "2026-11-24T23:33:10.250691+00:00",
        "metadata": {"policy_rule_matched": "medium_implementation"},
        "decision_id": "2fa77acc-911c-498e-8630-5bdff6a3ee8a", "proposal_id": "prop-0002",
        "lane": "coding_agent", "executor": executor, "backend": backend,
        "rationale": "task_type=bug_fix, risk_level=medium → lane=claude_cli, backend=kodo [rule: medium_implementation]",
        "confidence": 0.9,
        "alternatives": [{"lane": "coding_agent", "executor": "aider_local", "backend": null, "confidence": 0.0, "reason": ""}],
        "execution_target": {"lane": "coding_agent", "backend": backend, "executor": executor, "runtime_binding": null}
    })
}

fn plan_with(env: &TestEnv, repo: &Path, url: &str, extra: &[(&str, &str)]) -> Run {
    let mut cmd = env.oc_agents(repo);
    cmd.env("GIT_OC_SWITCHBOARD_URL", url);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    Run::from(
        cmd.args([
            "plan",
            "--json",
            "--routing",
            "switchboard",
            "--goal",
            "Fix",
            "--task-type",
            "bug_fix",
        ])
        .output()
        .unwrap(),
    )
}

#[test]
fn routes_through_post_route_with_the_proposal() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let server = MockServer::start(|method, path, _| {
        if method == "POST" && path == "/route" {
            Reply::json(200, envelope("claude_cli", "kodo"))
        } else {
            Reply::json(404, json!({"detail": "Not Found"}))
        }
    });
    let run = plan_with(&env, &repo, &format!("{}/", server.url), &[]);
    run.assert_code(0);
    let doc = run.json();
    assert_eq!(doc["decision"]["selected_lane"], "claude_cli");
    assert_eq!(doc["decision"]["policy_rule_matched"], "medium_implementation");
    assert_eq!(doc["decision"]["alternatives_considered"], json!(["aider_local"]));
    let requests = server.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let (method, path, body) = &requests[0];
    assert_eq!((method.as_str(), path.as_str()), ("POST", "/route"));
    let body: Value = serde_json::from_str(body).unwrap();
    for key in [
        "task_id",
        "project_id",
        "goal_text",
        "task_type",
        "target",
        "constraints",
    ] {
        assert!(body.get(key).is_some(), "the request is the proposal JSON: no {key}");
    }
    assert_eq!(body["task_type"], "bug_fix");
}

#[test]
fn a_run_routed_by_switchboard_runs_the_decided_backend() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let server = MockServer::start(|_, _, _| Reply::json(200, envelope("codex_cli", "kodo")));
    write_config(
        &repo,
        &format!(
            "[routing]\nrouter = \"switchboard\"\nswitchboard_url = \"{}\"\n[adapters]\n\"codex_cli/kodo\" = \"codex\"\n",
            server.url
        ),
    );
    let (run, doc) = env.run_json(&repo, &["--goal", "Fix", "--task-type", "bug_fix"]);
    run.assert_code(0);
    assert_eq!(doc["command"]["argv"][0], "codex");
}

#[test]
fn a_422_names_the_server_detail() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let server = MockServer::start(|_, _, _| {
        Reply::json(
            422,
            json!({"detail": [{"type": "missing", "loc": ["body", "task_id"], "msg": "Field required", "input": {}}]}),
        )
    });
    let run = plan_with(&env, &repo, &server.url, &[]);
    run.assert_clean_error(1);
    assert!(
        run.stderr
            .contains("SwitchBoard answered 422: [\"body\",\"task_id\"]: Field required"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_500_is_an_error_with_the_body() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let server = MockServer::start(|_, _, _| Reply::text(500, "Internal Server Error"));
    let run = plan_with(&env, &repo, &server.url, &[]);
    run.assert_clean_error(1);
    assert!(
        run.stderr.contains("SwitchBoard answered 500: Internal Server Error"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_wrong_contract_kind_is_rejected() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let server = MockServer::start(|_, _, _| {
        Reply::json(
            200,
            json!({"selected_lane": "claude_cli", "selected_backend": "kodo", "decision_id": "x"}),
        )
    });
    let run = plan_with(&env, &repo, &server.url, &[]);
    run.assert_clean_error(1);
    assert!(
        run.stderr.contains("expected a CxRP LaneDecision envelope"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_timeout_is_bounded() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let server = MockServer::start(|_, _, _| Reply {
        delay: Duration::from_secs(10),
        ..Reply::json(200, envelope("claude_cli", "kodo"))
    });
    write_config(&repo, "[routing]\ntimeout = 1\n");
    // Without the timeout the answer would arrive and planning would succeed.
    let run = plan_with(&env, &repo, &server.url, &[]);
    run.assert_clean_error(1);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
}

#[test]
fn unreachable_is_an_error_or_falls_back_when_configured() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let run = plan_with(&env, &repo, &url, &[]);
    run.assert_clean_error(1);
    assert!(
        run.stderr.contains(&format!("SwitchBoard unreachable at {url}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("fallback_to_rules"));

    write_config(&repo, "[routing]\nfallback_to_rules = true\n");
    let run = plan_with(&env, &repo, &url, &[]);
    run.assert_code(0);
    let doc = run.json();
    assert_eq!(doc["decision"]["policy_rule_matched"], "medium_implementation");
    assert!(
        doc["decision"]["rationale"]
            .as_str()
            .unwrap()
            .starts_with("SwitchBoard unavailable ("),
        "{}",
        doc["decision"]
    );
}
