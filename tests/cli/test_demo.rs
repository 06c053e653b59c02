//! `git oc demo`: equivalents of the reference's demo tests, run through the real binary.

use std::path::Path;

use crate::common::*;

const GOAL: &str = "Write a tiny hello-world artifact";

fn demo(env: &TestEnv, repo: &Path, ws: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["demo", "--goal", GOAL, "--repo-key", "demo", "--workspace-path"];
    let ws = ws.to_str().unwrap();
    args.push(ws);
    args.extend_from_slice(extra);
    env.oc(repo, args)
}

#[test]
fn happy_path_exits_zero_and_writes_artifact_and_evidence() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let ws = env.root().join("ws");
    demo(&env, &repo, &ws, &["--backend", "stub"]).assert_code(0);

    let artifact = std::fs::read_to_string(ws.join("artifacts/demo_result.txt")).unwrap();
    assert!(artifact.contains(GOAL));
    let dirs = run_dirs(&ws);
    assert_eq!(dirs.len(), 1, "exactly one run directory");
    for f in SEED_FILES {
        assert!(dirs[0].join(f).is_file(), "missing {f}");
    }
}

#[test]
fn artifact_has_the_six_line_layout() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let ws = env.root().join("ws");
    demo(&env, &repo, &ws, &[]).assert_code(0);
    let run_id = env.run_ids(&repo).pop().unwrap();
    let text = std::fs::read_to_string(ws.join("artifacts/demo_result.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6);
    assert!(text.ends_with('\n'));
    assert_eq!(lines[0], "OperationsCenter demo execution");
    assert_eq!(lines[1], format!("run_id:    {run_id}"));
    assert_eq!(lines[2], format!("goal:      {GOAL}"));
    assert_eq!(lines[3], "repo_key:  demo");
    assert_eq!(lines[4], "backend:   demo_stub");
    assert!(
        lines[5].starts_with("completed: ") && lines[5].ends_with("+00:00"),
        "{}",
        lines[5]
    );
}

#[test]
fn run_metadata_proposal_and_result_describe_the_run() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let ws = env.root().join("ws");
    let run = demo(&env, &repo, &ws, &[]);
    run.assert_code(0);
    let dir = &run_dirs(&ws)[0];
    let meta = read_json(&dir.join("run_metadata.json"));
    assert_eq!(meta["selected_lane"], "aider_local");
    assert_eq!(meta["selected_backend"], "demo_stub");
    assert_eq!(meta["policy_status"], "allow");
    assert_eq!(meta["result_status"], "succeeded");
    assert_eq!(meta["success"], true);
    assert_eq!(meta["executed"], true);
    let keys: Vec<&str> = meta.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "run_id",
            "proposal_id",
            "decision_id",
            "selected_lane",
            "selected_backend",
            "policy_status",
            "result_status",
            "success",
            "executed"
        ]
    );

    let proposal = read_json(&dir.join("proposal.json"));
    assert_eq!(proposal["task_type"], "simple_edit");
    assert_eq!(proposal["goal_text"], GOAL);
    assert_eq!(proposal["task_id"], run.field("task_id"));

    let result = read_json(&dir.join("result.json"));
    assert_eq!(result["status"], "succeeded");
    assert_eq!(result["success"], true);
    assert_eq!(result["run_id"], run.field("run_id"));
    assert_eq!(result["recovery"]["final_decision"], "accept");
}

#[test]
fn task_id_is_derived_from_the_goal() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let run = env.oc(&repo, ["demo", "--goal", "Write a tiny hello-world execution artifact"]);
    run.assert_code(0);
    assert_eq!(run.field("task_id"), "auto-simple-edit-80c673ab");
}

#[test]
fn ids_chain_from_proposal_to_record_and_trace() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let ws = env.root().join("ws");
    demo(&env, &repo, &ws, &[]).assert_code(0);
    let dir = &run_dirs(&ws)[0];
    let proposal = read_json(&dir.join("proposal.json"));
    let decision = read_json(&dir.join("decision.json"));
    let request = read_json(&dir.join("execution_request.json"));
    let result = read_json(&dir.join("result.json"));
    let record = read_json(&dir.join("execution_record.json"));
    let trace = read_json(&dir.join("execution_trace.json"));
    assert_eq!(decision["proposal_id"], proposal["proposal_id"]);
    assert_eq!(request["proposal_id"], proposal["proposal_id"]);
    assert_eq!(request["decision_id"], decision["decision_id"]);
    assert_eq!(result["run_id"], request["run_id"]);
    assert_eq!(result["decision_id"], decision["decision_id"]);
    assert_eq!(record["run_id"], result["run_id"]);
    assert_eq!(record["result"], result, "the record embeds the result verbatim");
    assert_eq!(trace["record_id"], record["record_id"]);
    assert_eq!(dir.file_name().unwrap().to_str().unwrap(), result["run_id"]);
    // One run, one id: the policy decision in the record was made for this request.
    assert_eq!(record["metadata"]["policy"]["status"], "allow");
}

#[test]
fn stub_routing_is_labelled_and_references_the_proposal() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let ws = env.root().join("ws");
    let run = demo(&env, &repo, &ws, &[]);
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("[ROUTING — LaneDecision  [stub mode — labeled, not production]]")
    );
    let decision = read_json(&run_dirs(&ws)[0].join("decision.json"));
    let proposal = read_json(&run_dirs(&ws)[0].join("proposal.json"));
    assert_eq!(decision["proposal_id"], proposal["proposal_id"]);
    assert_eq!(decision["selected_backend"], "demo_stub");
    assert_eq!(decision["policy_rule_matched"], "demo.stub_routing");
    assert_eq!(decision["switchboard_version"], serde_json::Value::Null);
}

#[test]
fn trace_headline_and_warnings_reflect_the_result() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let ws = env.root().join("ws");
    let run = demo(&env, &repo, &ws, &[]);
    let trace = read_json(&run_dirs(&ws)[0].join("execution_trace.json"));
    let headline = trace["headline"].as_str().unwrap();
    assert!(
        headline.starts_with("SUCCEEDED | demo_stub @ aider_local | run="),
        "{headline}"
    );
    assert_eq!(run.field("headline"), headline);
    // Both warnings are true of a stub run: no validation ran, and the only artifact is a log
    // excerpt, not a diff or patch.
    assert_eq!(
        trace["warnings"],
        serde_json::json!([
            "validation was skipped for this run",
            "no primary artifacts produced by this run"
        ])
    );
    assert_eq!(trace["changed_files_summary"], "1 file changed (source: git_diff)");
    let record = read_json(&run_dirs(&ws)[0].join("execution_record.json"));
    assert_eq!(record["changed_files_evidence"]["status"], "known");
    assert_eq!(
        record["artifact_index"]["artifact_counts"],
        serde_json::json!({"log_excerpt": 1})
    );
}

#[test]
fn blocked_policy_exits_one_without_calling_the_adapter() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let ws = env.root().join("ws");
    let run = demo(&env, &repo, &ws, &["--blocked-policy"]);
    run.assert_code(1);
    assert!(!ws.join("artifacts").exists(), "the adapter must not run");
    assert_eq!(run.field("status"), "BLOCK");
    assert!(run.stdout.contains(
        "  violation   : [BLOCK] review.blocked_without_human: Policy requires explicit human approval for this \
         repo; autonomous execution is blocked\n"
    ));
    assert_eq!(run.field("executed"), "False");
    assert!(run.stdout.contains("[EXECUTION — blocked / skipped]"));
    assert!(run.stdout.contains("Demo run blocked by policy (see [POLICY] above)."));

    let dirs = run_dirs(&ws);
    assert_eq!(dirs.len(), 1);
    for f in SEED_FILES {
        assert!(dirs[0].join(f).is_file(), "missing {f}");
    }
    let meta = read_json(&dirs[0].join("run_metadata.json"));
    assert_eq!(meta["executed"], false);
    assert_eq!(meta["success"], false);
    assert_eq!(meta["policy_status"], "block");
    let result = read_json(&dirs[0].join("result.json"));
    assert_eq!(result["status"], "skipped");
    assert_eq!(result["failure_category"], "policy_blocked");
    assert_eq!(
        result["failure_reason"],
        "execution blocked by policy: violations: review.blocked_without_human"
    );
    assert_eq!(result["recovery"], serde_json::Value::Null);
    let record = read_json(&dirs[0].join("execution_record.json"));
    assert_eq!(record["changed_files_evidence"]["status"], "not_applicable");
    assert_eq!(record["metadata"]["policy"]["effective_review_requirement"], "required");
    let trace = read_json(&dirs[0].join("execution_trace.json"));
    assert_eq!(trace["changed_files_summary"], "not applicable (execution did not run)");
}

#[test]
fn adapter_failure_is_reported_as_failed() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    // A tracked file named `artifacts` is checked out into the worktree; the stub cannot make
    // its directory.
    std::fs::write(repo.join("artifacts"), "not a directory\n").unwrap();
    env.git(&repo, ["add", "artifacts"]);
    env.git(&repo, ["commit", "-q", "-m", "add artifacts file"]);
    let ws = env.root().join("ws");
    let run = demo(&env, &repo, &ws, &[]);
    run.assert_code(1);
    assert_eq!(run.field_in("EXECUTION", "status"), "FAILED");
    assert_eq!(run.field_in("EXECUTION", "success"), "False");
    assert!(run.stdout.contains("Demo run finished with status: failed"));
    assert!(
        run.field("summary")
            .contains("failed: DemoStubBackendAdapter could not write artifact")
    );
    let trace = read_json(&run_dirs(&ws)[0].join("execution_trace.json"));
    assert_eq!(
        trace["warnings"][0],
        "changed-file manifest unavailable; backend did not report file changes"
    );
    let result = read_json(&run_dirs(&ws)[0].join("result.json"));
    assert_eq!(result["failure_category"], "backend_error");
    assert_eq!(result["recovery"]["final_decision"], "reject_unrecoverable");
    assert_eq!(result["recovery"]["retry_refused_reason"], "non-retryable failure");
    // Nothing was committed for a failed run, yet its evidence is in git.
    let branch = run.field("branch");
    let branch = branch.split(' ').next().unwrap();
    assert_eq!(
        env.git(&repo, ["rev-parse", branch]),
        env.git(&repo, ["rev-parse", "HEAD"])
    );
    assert_eq!(env.run_ids(&repo).len(), 1);
}

#[test]
fn report_matches_the_seed_layout() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let ws = env.root().join("ws");
    let run = env.oc(
        &repo,
        [
            "demo",
            "--goal",
            "Write a tiny hello-world execution artifact",
            "--repo-key",
            "demo",
            "--workspace-path",
            ws.to_str().unwrap(),
            "--backend",
            "stub",
        ],
    );
    let ws = ws.to_str().unwrap();
    let text = normalize(&run.stdout).replace(ws, "<ws>");
    let expected = "\
============================================================
OperationsCenter Demo Run
============================================================

[PLANNING — TaskProposal]
  proposal_id : <uuid>
  task_id     : auto-simple-edit-<hex8>
  task_type   : simple_edit
  risk_level  : low
  goal        : Write a tiny hello-world execution artifact

[ROUTING — LaneDecision  [stub mode — labeled, not production]]
  decision_id : <uuid>
  lane        : aider_local
  backend     : demo_stub
  rule        : demo.stub_routing
  rationale   : Offline stub routing for demo mode — deterministic, no external services required

[PROPOSAL-DECISION BUNDLE]
  <hex8> + <hex8> -> bundled

[POLICY — gate result]
  status      : ALLOW
  (no violations or warnings)
  executed    : True

[EXECUTION — DemoStubBackendAdapter]
  run_id      : <uuid>
  status      : SUCCEEDED
  success     : True
  diff_stat   : 1 file changed, 6 insertions(+)
  artifact    : <ws>/artifacts/demo_result.txt

[OBSERVABILITY — retained records]
  headline    : SUCCEEDED | demo_stub @ aider_local | run=<hex8>
  summary     : Run <hex8>; changed 1 file; 1 file changed, 6 insertions(+)
  trace warn  : validation was skipped for this run
  trace warn  : no primary artifacts produced by this run

  Evidence files:
    <ws>/.operations_center/runs/<uuid>/proposal.json
    <ws>/.operations_center/runs/<uuid>/decision.json
    <ws>/.operations_center/runs/<uuid>/execution_request.json
    <ws>/.operations_center/runs/<uuid>/result.json
    <ws>/.operations_center/runs/<uuid>/execution_record.json
    <ws>/.operations_center/runs/<uuid>/execution_trace.json
    <ws>/.operations_center/runs/<uuid>/run_metadata.json

[GIT — branch, commit and evidence]
  branch      : demo/run-<hex8> (from <hex7>)
  worktree    : <ws>
  commit      : <hex7> (1 file changed, 6 insertions(+))
  evidence    : refs/oc/demo/<uuid>
  note        : refs/notes/oc-demo on <hex7>

============================================================
Demo completed successfully.
============================================================
[exit status: 0]
";
    let got = format!("{text}[exit status: {}]\n", run.code);
    assert_eq!(got, expected, "stderr:\n{}", run.stderr);
}

#[test]
fn evidence_files_are_pretty_json_with_a_trailing_newline() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let ws = env.root().join("ws");
    demo(&env, &repo, &ws, &[]).assert_code(0);
    for f in SEED_FILES {
        let bytes = std::fs::read(run_dirs(&ws)[0].join(f)).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("{\n  \""), "{f} is 2-space indented");
        assert!(
            text.ends_with("}\n") && !text.ends_with("\n\n"),
            "{f} ends with one newline"
        );
    }
    let decision = std::fs::read_to_string(run_dirs(&ws)[0].join("decision.json")).unwrap();
    assert!(decision.contains("\"confidence\": 1.0,"), "floats are written as 1.0");
    assert!(decision.contains("demo mode — deterministic"), "non-ASCII is raw UTF-8");
}

#[test]
fn json_output_is_one_document() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let run = env.oc(&repo, ["demo", "--json"]);
    run.assert_code(0);
    let doc = run.json();
    for key in [
        "proposal",
        "decision",
        "policy_decision",
        "execution_request",
        "result",
        "execution_record",
        "execution_trace",
        "run_metadata",
        "git",
        "evidence_files",
    ] {
        assert!(doc.get(key).is_some(), "missing {key}");
    }
    assert_eq!(doc["success"], true);
    assert_eq!(doc["git"]["diff"]["shortstat"], "1 file changed, 6 insertions(+)");
    assert_eq!(doc["evidence_files"].as_array().unwrap().len(), 7);
    let commit = doc["git"]["commit"].as_str().unwrap();
    assert_eq!(
        env.git(&repo, ["rev-parse", doc["git"]["branch"].as_str().unwrap()]),
        commit
    );
}
