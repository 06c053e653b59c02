//! The git board: tasks under refs/oc/tasks/ made, listed, moved, commented and labelled with
//! `git oc task`, checked with `git oc board doctor` and `smoke`, and shared between two clones
//! of a real bare remote that edit the same task at once.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

const TASK_TEXT: &str = "## Execution\nrepo: svc\nbase_branch: main\nmode: test\nallowed_paths:\n  - src/\n\n## Goal\nMake the parser accept empty input.\n\n## Constraints\nNo new dependencies.\n";

/// `git oc --json task add …`: the task document.
fn add(env: &TestEnv, repo: &Path, args: &[&str]) -> Value {
    let mut full = vec!["--json", "task", "add"];
    full.extend_from_slice(args);
    let run = env.oc(repo, full);
    run.assert_code(0);
    run.json()
}

fn show(env: &TestEnv, repo: &Path, id: &str) -> Value {
    let run = env.oc(repo, ["--json", "task", "show", id]);
    run.assert_code(0);
    run.json()
}

fn task_refs(env: &TestEnv, repo: &Path) -> String {
    env.git(
        repo,
        ["for-each-ref", "--format=%(refname) %(objectname)", "refs/oc/tasks/"],
    )
}

#[test]
fn tasks_are_added_listed_moved_commented_and_labelled() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let t = add(
        &env,
        &repo,
        &[
            "Fix the parser",
            "--body",
            TASK_TEXT,
            "--repo",
            "svc",
            "-l",
            "task-kind:goal",
        ],
    );
    let id = t["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 12);
    assert_eq!(t["state"], "Backlog");
    assert_eq!(t["labels"], serde_json::json!(["repo: svc", "task-kind: goal"]));
    // Plain git sees the task: a ref, a commit, the task file in its tree.
    let file = env.git(&repo, ["show", &format!("refs/oc/tasks/{id}:task.json")]);
    let from_git: Value = serde_json::from_str(&file).unwrap();
    assert_eq!(from_git["title"], "Fix the parser");
    let other = add(&env, &repo, &["Write docs", "--state", "ready"]);
    let other_id = other["id"].as_str().unwrap().to_owned();
    assert_eq!(other["state"], "Ready for AI");

    // A unique prefix names a task; moves, comments and labels are one commit each.
    let moved = env.oc(&repo, ["--json", "task", "move", &id[..6], "Ready for AI"]);
    moved.assert_code(0);
    assert_eq!(moved.json()["from"], "Backlog");
    assert_eq!(moved.json()["to"], "Ready for AI");
    env.oc(&repo, ["task", "move", &id, "running", "--expect", "ready"])
        .assert_code(0);
    let c = env.oc(&repo, ["--json", "task", "comment", &id, "Started on it."]);
    c.assert_code(0);
    assert_eq!(c.json()["body"], "Started on it.");
    std::fs::write(env.root().join("c.txt"), "From a file.\n").unwrap();
    env.oc(
        &repo,
        [
            "task",
            "comment",
            &id,
            "--file",
            env.root().join("c.txt").to_str().unwrap(),
        ],
    )
    .assert_code(0);
    let l = env.oc(
        &repo,
        [
            "--json",
            "task",
            "label",
            &id,
            "--add",
            "complexity: small",
            "--remove",
            "task-kind: goal",
        ],
    );
    l.assert_code(0);
    assert_eq!(
        l.json()["labels"],
        serde_json::json!(["complexity: small", "repo: svc"])
    );

    let doc = show(&env, &repo, &id);
    assert_eq!(doc["task"]["state"], "Running");
    let bodies: Vec<&str> = doc["task"]["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), 2);
    assert!(bodies.contains(&"Started on it.") && bodies.contains(&"From a file."));
    // The text is parsed as the original's TaskParser does.
    assert_eq!(doc["parsed"]["goal"], "Make the parser accept empty input.");
    assert_eq!(doc["parsed"]["constraints"], "No new dependencies.");
    assert_eq!(doc["parsed"]["execution"]["mode"], "test_campaign");
    assert_eq!(doc["parsed"]["execution"]["allowed_paths"], serde_json::json!(["src/"]));
    let events: Vec<&str> = doc["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(events[0], "created");
    let chain = env.git(&repo, ["rev-list", "--count", &format!("refs/oc/tasks/{id}")]);
    assert_eq!(chain, "6");

    // Listing and its filters.
    let list = env.oc(&repo, ["--json", "task", "list"]);
    list.assert_code(0);
    assert_eq!(list.json().as_array().unwrap().len(), 2);
    let running = env.oc(&repo, ["--json", "task", "list", "--state", "running"]).json();
    assert_eq!(running.as_array().unwrap().len(), 1);
    assert_eq!(running[0]["id"], id.as_str());
    assert_eq!(running[0]["comments"], 2);
    let by_repo = env.oc(&repo, ["--json", "task", "list", "--repo", "svc"]).json();
    assert_eq!(by_repo.as_array().unwrap().len(), 1);
    let by_label = env
        .oc(&repo, ["--json", "task", "list", "-l", "complexity:small"])
        .json();
    assert_eq!(by_label.as_array().unwrap().len(), 1);
    let ready = env
        .oc(&repo, ["--json", "task", "list", "--state", "Ready for AI"])
        .json();
    assert_eq!(ready[0]["id"], other_id.as_str());
    let human = env.oc(&repo, ["task", "list"]);
    human.assert_code(0);
    assert!(human.stdout.starts_with("ID "), "{}", human.stdout);
    assert!(human.stdout.contains(&format!("{id}  Running")), "{}", human.stdout);
    let shown = env.oc(&repo, ["task", "show", &id]);
    shown.assert_code(0);
    assert_eq!(shown.field("state"), "Running");

    // Completion offers the task ids, described by state and title.
    let out = env.oc(
        &repo,
        [
            "complete",
            "--shell",
            "zsh",
            "--index",
            "3",
            "--",
            "git-oc",
            "task",
            "show",
            &id[..3],
        ],
    );
    assert!(
        out.stdout.contains(&format!("{id}\tRunning: Fix the parser")),
        "{}",
        out.stdout
    );
}

#[test]
fn add_edit_opens_the_template_in_the_editor() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let editor = env.root().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\ngrep -q '^## Execution' \"$1\" && grep -q '^## Goal' \"$1\" && grep -q '^## Constraints' \"$1\" || exit 3\n\
         printf 'Edited title\\n\\n## Execution\\nrepo: svc\\nmode: goal\\n\\n## Goal\\nDo it.\\n\\n# a comment line\\n' > \"$1\"\n",
    )
    .unwrap();
    make_executable(&editor);
    let run = Run::from(
        env.oc_cmd(&repo)
            .env("EDITOR", &editor)
            .args(["--json", "task", "add", "--edit"])
            .output()
            .unwrap(),
    );
    run.assert_code(0);
    let t = run.json();
    assert_eq!(t["title"], "Edited title");
    assert_eq!(
        t["description"],
        "## Execution\nrepo: svc\nmode: goal\n\n## Goal\nDo it."
    );

    // An editor that leaves no title aborts, and nothing is added.
    let before = env.state(&repo);
    let blank = env.root().join("blank.sh");
    std::fs::write(&blank, "#!/bin/sh\n: > \"$1\"\n").unwrap();
    make_executable(&blank);
    let run = Run::from(
        env.oc_cmd(&repo)
            .env("GIT_EDITOR", &blank)
            .args(["task", "add", "--edit"])
            .output()
            .unwrap(),
    );
    run.assert_clean_error(2);
    assert!(run.stderr.contains("no title"), "{}", run.stderr);
    assert_eq!(env.state(&repo), before);
    // A failing editor too.
    let run = Run::from(
        env.oc_cmd(&repo)
            .env("GIT_EDITOR", "false")
            .args(["task", "add", "--edit"])
            .output()
            .unwrap(),
    );
    run.assert_clean_error(2);
    assert_eq!(env.state(&repo), before);
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn two_clones_edit_one_task_at_once_and_converge_losing_nothing() {
    let t = trio();
    let env = &t.env;
    let task = add(
        env,
        &t.a,
        &["Shared task", "--repo", "svc", "-l", "keep-me", "-l", "drop-me"],
    );
    let id = task["id"].as_str().unwrap().to_owned();
    env.oc(&t.a, ["task", "move", &id, "ready"]).assert_code(0);
    let pushed = env.oc(&t.a, ["push"]);
    pushed.assert_code(0);
    assert!(pushed.stdout.contains("tasks: 1 new"), "{}", pushed.stdout);
    let fetched = env.oc(&t.b, ["--json", "fetch"]);
    fetched.assert_code(0);
    assert_eq!(fetched.json()["tasks"]["created"], 1);
    assert_eq!(task_refs(env, &t.a), task_refs(env, &t.b));

    // At once: A finishes the task, B claims it; both comment and change labels.
    env.oc(&t.a, ["task", "move", &id, "done", "--expect", "ready"])
        .assert_code(0);
    env.oc(&t.a, ["task", "comment", &id, "done on A"]).assert_code(0);
    env.oc(&t.a, ["task", "label", &id, "--add", "from-a", "--remove", "drop-me"])
        .assert_code(0);
    env.oc(&t.b, ["task", "move", &id, "running", "--expect", "ready"])
        .assert_code(0);
    env.oc(&t.b, ["task", "comment", &id, "claimed on B"]).assert_code(0);
    env.oc(&t.b, ["task", "label", &id, "--add", "from-b"]).assert_code(0);

    // B pushes first (a fast-forward); A's push merges the remote's version first, no force.
    env.oc(&t.b, ["push"]).assert_code(0);
    let pushed = env.oc(&t.a, ["--json", "push"]);
    pushed.assert_code(0);
    assert_eq!(pushed.json()["tasks_merge"]["merged"], 1);
    assert_eq!(pushed.json()["updated_tasks"], 1);
    let fetched = env.oc(&t.b, ["--json", "fetch"]);
    fetched.assert_code(0);
    assert_eq!(fetched.json()["tasks"]["fast_forward"], 1);

    // Both clones and the remote hold the same chain, and the task has everything.
    assert_eq!(task_refs(env, &t.a), task_refs(env, &t.b));
    let remote_tip = env.git(&t.remote, ["rev-parse", &format!("refs/oc/tasks/{id}")]);
    assert!(task_refs(env, &t.a).contains(&remote_tip));
    let doc = show(env, &t.b, &id);
    let merged = &doc["task"];
    // The documented rule: the state further along wins (Done over Running), and a comment says so.
    assert_eq!(merged["state"], "Done");
    assert_eq!(
        merged["labels"],
        serde_json::json!(["from-a", "from-b", "keep-me", "repo: svc"])
    );
    let bodies: Vec<&str> = merged["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert!(
        bodies.contains(&"done on A") && bodies.contains(&"claimed on B"),
        "{bodies:?}"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("Concurrent state changes") && b.contains("Running")),
        "{bodies:?}"
    );
    // The merge commit joins both chains: every event of both clones is in the history.
    let events: Vec<&str> = doc["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(events.iter().filter(|e| **e == "moved").count(), 3, "{events:?}");
    assert_eq!(events.iter().filter(|e| **e == "merged").count(), 1, "{events:?}");
    let parents = env.git(&t.a, ["log", "-1", "--format=%P", &format!("refs/oc/tasks/{id}")]);
    assert_eq!(parents.split(' ').count(), 2);

    // Syncing again changes nothing.
    let again = env.oc(&t.a, ["--json", "fetch"]).json();
    assert_eq!(again["tasks"]["up_to_date"], 1);
    assert_eq!(task_refs(env, &t.a), task_refs(env, &t.b));
}

#[test]
fn the_merge_of_concurrent_edits_is_the_same_whichever_clone_merges() {
    let t = trio();
    let env = &t.env;
    let id = add(env, &t.a, &["Race"])["id"].as_str().unwrap().to_owned();
    env.oc(&t.a, ["push"]).assert_code(0);
    env.oc(&t.b, ["fetch"]).assert_code(0);
    env.oc(&t.a, ["task", "move", &id, "blocked"]).assert_code(0);
    env.oc(&t.a, ["task", "comment", &id, "a"]).assert_code(0);
    env.oc(&t.b, ["task", "move", &id, "in_review"]).assert_code(0);
    env.oc(&t.b, ["task", "comment", &id, "b"]).assert_code(0);
    // Each clone merges the other's version on its own (through a second remote each).
    env.git(&t.a, ["remote", "add", "peer", t.b.to_str().unwrap()]);
    env.git(&t.b, ["remote", "add", "peer", t.a.to_str().unwrap()]);
    env.oc(&t.a, ["fetch", "peer"]).assert_code(0);
    env.oc(&t.b, ["fetch", "peer"]).assert_code(0);
    let in_a = show(env, &t.a, &id)["task"].clone();
    let in_b = show(env, &t.b, &id)["task"].clone();
    assert_eq!(in_a, in_b);
    assert_eq!(in_a["state"], "In Review");
    // Even the merge commits are the same: parents in a fixed order, same tree, same message.
    assert_eq!(task_refs(env, &t.a), task_refs(env, &t.b));
}

#[test]
fn a_move_expecting_a_state_the_task_left_changes_nothing() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let id = add(&env, &repo, &["Claim me", "--state", "ready"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Someone else claims it between our read and our move.
    let seen = show(&env, &repo, &id)["task"]["state"].as_str().unwrap().to_owned();
    env.oc(&repo, ["task", "move", &id, "running"]).assert_code(0);
    let before = env.state(&repo);
    let run = env.oc(&repo, ["task", "move", &id, "done", "--expect", &seen]);
    run.assert_clean_error(1);
    assert!(run.stderr.contains("not \"Ready for AI\""), "{}", run.stderr);
    assert_eq!(env.state(&repo), before);
    // Moving to the state it is in records nothing.
    env.oc(&repo, ["task", "move", &id, "running"]).assert_code(0);
    assert_eq!(env.state(&repo), before);
}

#[test]
fn bad_input_is_refused_cleanly_and_writes_nothing() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let id = add(&env, &repo, &["One"])["id"].as_str().unwrap().to_owned();
    let cases: Vec<(&str, Vec<&str>, i32, &str)> = vec![
        ("unknown task", vec!["task", "show", "0123456789ab"], 2, "no task"),
        (
            "not a task id",
            vec!["task", "show", "not-an-id"],
            2,
            "is not a task id",
        ),
        ("unknown state", vec!["task", "move", &id, "Limbo"], 2, "unknown state"),
        (
            "unknown expected state",
            vec!["task", "move", &id, "done", "--expect", "Limbo"],
            2,
            "unknown state",
        ),
        (
            "bad label syntax",
            vec!["task", "label", &id, "--add", "repo:"],
            2,
            "needs a value",
        ),
        (
            "bad label value",
            vec!["task", "add", "x", "-l", "task-kind: bake"],
            2,
            "unknown task-kind",
        ),
        ("empty label change", vec!["task", "label", &id], 2, "no label"),
        ("empty title", vec!["task", "add", "  "], 2, "title is empty"),
        ("two-line title", vec!["task", "add", "a\nb"], 2, "line break"),
        (
            "malformed Execution",
            vec!["task", "add", "x", "--body", "## Execution\nrepo: [svc\n## Goal\ny"],
            2,
            "malformed '## Execution'",
        ),
        (
            "Execution not a mapping",
            vec!["task", "add", "x", "--body", "## Execution\n- a\n- b\n"],
            2,
            "must be a YAML mapping",
        ),
        (
            "unknown mode",
            vec!["task", "add", "x", "--body", "## Execution\nmode: bake\n"],
            2,
            "unknown mode",
        ),
        (
            "empty comment",
            vec!["task", "comment", &id, "  "],
            2,
            "comment is empty",
        ),
        (
            "unknown state filter",
            vec!["task", "list", "--state", "Limbo"],
            2,
            "unknown state",
        ),
        ("missing title", vec!["task", "add"], 2, "TITLE"),
        (
            "unreadable body file",
            vec!["task", "add", "x", "--body-file", "/nonexistent/x"],
            2,
            "could not read",
        ),
        (
            "smoke without task",
            vec!["board", "smoke", "--task-id", "0123456789ab"],
            2,
            "no task",
        ),
    ];
    for (what, args, code, needle) in cases {
        let before = env.state(&repo);
        let run = env.oc(&repo, &args);
        run.assert_clean_error(code);
        assert!(run.stderr.contains(needle), "{what}: {}", run.stderr);
        let after = env.state(&repo);
        assert_eq!(after.refs, before.refs, "{what} changed refs");
        assert!(after.lock_files.is_empty(), "{what} left a lock");
    }
    // Outside a repository.
    let outside = env.root().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    env.oc(&outside, ["task", "list"]).assert_clean_error(2);
}

#[test]
fn board_configuration_names_states_and_chooses_the_kind() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    write_config(&repo, "[board]\nkind = \"git\"\n[board.states]\nready = \"Todo\"\n");
    let t = add(&env, &repo, &["Named", "--state", "ready"]);
    assert_eq!(t["state"], "Todo");
    let id = t["id"].as_str().unwrap();
    env.oc(&repo, ["task", "move", id, "running", "--expect", "todo"])
        .assert_code(0);

    write_config(&repo, "[board.states]\nready = \"Done\"\n");
    let run = env.oc(&repo, ["task", "list"]);
    run.assert_clean_error(2);
    assert!(run.stderr.contains("both named"), "{}", run.stderr);
    write_config(&repo, "[board]\nkind = \"trello\"\n");
    let run = env.oc(&repo, ["task", "list"]);
    run.assert_clean_error(2);
    assert!(run.stderr.contains("unknown board kind"), "{}", run.stderr);
    // The Plane board's settings are checked before any request.
    for (plane, needle) in [
        (
            "workspace = \"w\"\nproject_id = \"4af68566-94a4-4eb3-94aa-50dc9427067b\"\n",
            "needs plane.url",
        ),
        (
            "url = \"http://127.0.0.1:9\"\nworkspace = \"w\"\nproject_id = \"p\"\n",
            "is not a UUID",
        ),
        (
            "url = \"http://127.0.0.1:9\"\nworkspace = \"w\"\nproject_id = \"4af68566-94a4-4eb3-94aa-50dc9427067b\"\n",
            "needs an API token in PLANE_API_TOKEN",
        ),
    ] {
        write_config(&repo, &format!("[board]\nkind = \"plane\"\n[plane]\n{plane}"));
        let run = env.oc(&repo, ["task", "list"]);
        run.assert_clean_error(2);
        assert!(run.stderr.contains(needle), "{}", run.stderr);
    }
}

#[test]
fn board_doctor_checks_the_board_and_a_task() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let id = add(&env, &repo, &["Ready one", "--state", "ready", "--repo", "svc"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = env.oc(&repo, ["--json", "board", "doctor", "--task-id", &id]);
    run.assert_code(0);
    let doc = run.json();
    assert_eq!(doc["kind"], "git");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["states"].as_array().unwrap().len(), 7);
    let names: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["states", "tasks", "task states", "labels", "task"]);
    let human = env.oc(&repo, ["board", "doctor"]);
    human.assert_code(0);
    assert!(human.stdout.contains("[ok  ] tasks"), "{}", human.stdout);

    // A ref under refs/oc/tasks/ that is not a task fails the check (exit 1).
    env.git(&repo, ["update-ref", "refs/oc/tasks/aaaaaaaaaaaa", "HEAD"]);
    let run = env.oc(&repo, ["--json", "board", "doctor"]);
    run.assert_code(1);
    assert_eq!(run.json()["ok"], false);
    // Listing skips it and still lists the tasks.
    let list = env.oc(&repo, ["--json", "task", "list"]);
    list.assert_code(0);
    assert_eq!(list.json().as_array().unwrap().len(), 1);
    // The summaries kept by commit id are a cache only: damaged, it is rebuilt.
    let cache = repo.join(".git/oc/task-summaries");
    assert!(cache.exists());
    std::fs::write(&cache, "not a cache\n0000 {\n").unwrap();
    let again = env.oc(&repo, ["--json", "task", "list"]);
    again.assert_code(0);
    assert_eq!(again.json(), list.json());
}

#[test]
fn board_smoke_reads_parses_comments_and_moves_a_task_and_back() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let id = add(&env, &repo, &["Smoke me", "--state", "ready", "--body", TASK_TEXT])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = env.oc(
        &repo,
        [
            "--json",
            "board",
            "smoke",
            "--task-id",
            &id,
            "--transition-to",
            "running",
            "--restore-state",
            "ready",
        ],
    );
    run.assert_code(0);
    let doc = run.json();
    assert_eq!(doc["task_id"], id.as_str());
    assert_eq!(doc["parsed_task"]["execution"]["repo"], "svc");
    assert_eq!(doc["result"]["comment_posted"], true);
    assert_eq!(doc["result"]["transition_state"], "Running");
    assert_eq!(doc["result"]["restore_state"], "Ready for AI");
    let artifacts: Vec<PathBuf> = doc["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| PathBuf::from(a.as_str().unwrap()))
        .collect();
    let names: Vec<String> = artifacts
        .iter()
        .map(|a| a.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["request_context.json", "board_task.json", "smoke_result.json"]);
    assert_eq!(read_json(&artifacts[2])["fetched"], true);
    assert_eq!(read_json(&artifacts[0])["phase"], "smoke_initialized");
    // The smoke files stay out of git status.
    assert_eq!(env.git(&repo, ["status", "--porcelain"]), "");
    let task = show(&env, &repo, &id);
    assert_eq!(task["task"]["state"], "Ready for AI");
    assert_eq!(
        task["task"]["comments"][0]["body"],
        "Operations Center smoke test comment"
    );

    // Comment only, with a text.
    let run = env.oc(
        &repo,
        [
            "--json",
            "board",
            "smoke",
            "--task-id",
            &id,
            "--comment-only",
            "--comment-text",
            "hi",
        ],
    );
    run.assert_code(0);
    assert_eq!(run.json()["result"]["transition_state"], Value::Null);

    // A task the parser refuses: exit 2, failure.json written, the task untouched.
    let bare = add(&env, &repo, &["No repo anywhere"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = env.state(&repo);
    let run = env.oc(&repo, ["board", "smoke", "--task-id", &bare, "--transition-to", "done"]);
    run.assert_clean_error(2);
    assert!(run.stderr.contains("Missing '## Execution' section"), "{}", run.stderr);
    assert!(run.stderr.contains("failure"), "{}", run.stderr);
    assert_eq!(env.state(&repo).refs, before.refs);
    let failures: Vec<PathBuf> = std::fs::read_dir(repo.join(".operations_center/smoke"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("failure.json"))
        .filter(|p| p.exists())
        .collect();
    assert_eq!(failures.len(), 1);
    assert_eq!(read_json(&failures[0])["phase"], "smoke");
}

#[test]
fn edits_are_one_commit_and_concurrent_edits_keep_both_versions() {
    let t = trio();
    let env = &t.env;
    let id = add(env, &t.a, &["Original", "--body", "## Goal\nfirst"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.oc(&t.a, ["push"]).assert_code(0);
    env.oc(&t.b, ["fetch"]).assert_code(0);
    let edited = env.oc(
        &t.a,
        [
            "--json",
            "task",
            "edit",
            &id,
            "--title",
            "Title A",
            "--body",
            "## Goal\nfrom A",
        ],
    );
    edited.assert_code(0);
    assert_eq!(edited.json()["title"], "Title A");
    env.oc(&t.b, ["task", "edit", &id, "--title", "Title B"]).assert_code(0);
    // A malformed edit changes nothing.
    let before = env.state(&t.b);
    env.oc(&t.b, ["task", "edit", &id, "--body", "## Execution\nrepo: [x\n"])
        .assert_clean_error(2);
    env.oc(&t.b, ["task", "edit", &id]).assert_clean_error(2);
    assert_eq!(env.state(&t.b).refs, before.refs);

    env.oc(&t.a, ["push"]).assert_code(0);
    env.oc(&t.b, ["push"]).assert_code(0);
    env.oc(&t.a, ["fetch"]).assert_code(0);
    assert_eq!(task_refs(env, &t.a), task_refs(env, &t.b));
    let task = &show(env, &t.a, &id)["task"];
    // Same time on both sides: the rule falls back to the text, and the other version is kept.
    assert_eq!(task["title"], "Title B");
    let kept: Vec<&str> = task["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert!(
        kept.iter()
            .any(|b| b.contains("Title: Title A") && b.contains("from A")),
        "{kept:?}"
    );
}

#[test]
fn unrelated_tasks_under_one_id_are_not_merged() {
    let t = trio();
    let env = &t.env;
    let id = add(env, &t.a, &["From A"])["id"].as_str().unwrap().to_owned();
    env.oc(&t.a, ["push"]).assert_code(0);
    // B holds another chain under the same id (ids are random; this one is forged).
    let other = add(env, &t.b, &["From B"])["id"].as_str().unwrap().to_owned();
    let forged = env.git(&t.b, ["rev-parse", &format!("refs/oc/tasks/{other}")]);
    env.git(&t.b, ["update-ref", &format!("refs/oc/tasks/{id}"), &forged]);
    let before = task_refs(env, &t.b);
    let run = env.oc(&t.b, ["fetch"]);
    run.assert_clean_error(1);
    assert!(run.stderr.contains("unrelated"), "{}", run.stderr);
    assert!(run.stderr.contains(&id), "{}", run.stderr);
    assert_eq!(task_refs(env, &t.b), before, "the local task is kept as it was");
}
