//! The stages driven in-process: a real repository made with the git binary, a fixed clock,
//! counted ids and an observer that records the events.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::stages::{Commit, PreRunGate, Record, SnapshotStage, Workspace};
use super::*;
use crate::contracts::Timestamp;
use crate::demo::DemoSpec;
use crate::execution::secrets::Redactor;

struct FixedClock(Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// Ids `00000000-0000-4000-8000-000000000001`, `…02`, … in order.
#[derive(Default)]
struct CountedIds(RefCell<u64>);

impl IdSource for CountedIds {
    fn new_id(&self) -> String {
        let mut n = self.0.borrow_mut();
        *n += 1;
        format!("00000000-0000-4000-8000-{:012x}", *n)
    }
}

#[derive(Default)]
struct Recorder(RefCell<Vec<String>>);

impl Observer for Recorder {
    fn event(&self, event: &Event) {
        let line = match event {
            Event::Started { run_id, .. } => format!("started {run_id}"),
            Event::StageStarted(s) => format!("> {}", s.as_str()),
            Event::StageFinished { stage, .. } => format!("< {}", stage.as_str()),
            Event::Output { bytes, .. } => format!("output {}", String::from_utf8_lossy(bytes)),
            Event::Running { what, .. } => format!("running {what}"),
            Event::Warning(w) => format!("warning {w}"),
        };
        self.0.borrow_mut().push(line);
    }
}

impl Recorder {
    fn stages(&self) -> Vec<String> {
        self.0
            .borrow()
            .iter()
            .filter_map(|l| l.strip_prefix("> ").map(str::to_owned))
            .collect()
    }
}

/// git with a fixed identity and no user configuration; also used by other modules' tests.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

fn repository() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("r");
    std::fs::create_dir_all(&dir).expect("mkdir");
    git(&dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README.md"), "# r\n").expect("write");
    git(&dir, &["add", "README.md"]);
    git(&dir, &["commit", "-q", "-m", "first"]);
    (tmp, dir)
}

fn spec(goal: &str, blocked: bool) -> DemoSpec {
    DemoSpec {
        goal: goal.into(),
        repo_key: "demo".into(),
        workspace: None,
        blocked_policy: blocked,
    }
}

fn context<'a>(
    clock: &'a FixedClock,
    ids: &'a CountedIds,
    observer: &'a Recorder,
    redactor: Redactor,
) -> RunContext<'a> {
    static NEVER: AtomicBool = AtomicBool::new(false);
    RunContext {
        clock,
        ids,
        interrupt: &NEVER,
        redactor,
        observer,
        sole_board_writer: false,
    }
}

#[test]
fn the_demo_passes_its_stages_in_order_with_the_injected_clock_and_ids() {
    let (_tmp, dir) = repository();
    let repo = crate::git::Repo::discover(&dir).expect("repo");
    let clock = FixedClock(Timestamp::parse("2026-01-02T03:04:05.000006Z").expect("time"));
    let (ids, events) = (CountedIds::default(), Recorder::default());
    let prepared = crate::demo::prepare(&repo, &spec("Write the artifact", false)).expect("prepare");
    let outcome = prepared
        .execute(&context(&clock, &ids, &events, Redactor::default()))
        .expect("run");
    assert_eq!(
        events.stages(),
        ["pre-run gate", "workspace", "agent", "snapshot", "commit", "record"]
    );
    assert_eq!(outcome.summary.outcome_status, Outcome::Executed);
    assert_eq!(outcome.request.run_id, "00000000-0000-4000-8000-000000000001");
    assert_eq!(outcome.summary.started_at, clock.0);
    assert_eq!(outcome.summary.finished_at, clock.0);
    let evidence = git(
        &dir,
        &["cat-file", "-p", &format!("{}:result.json", outcome.git.evidence_ref)],
    );
    assert!(evidence.contains("\"run_id\": \"00000000-0000-4000-8000-000000000001\""));
    assert_eq!(
        git(
            &dir,
            &[
                "diff",
                "--shortstat",
                "HEAD",
                &outcome.git.commit.expect("commit").to_string()
            ]
        ),
        format!(" {}", outcome.git.diff.shortstat().expect("a change"))
    );
}

#[test]
fn a_blocked_run_skips_to_the_record_stage() {
    let (_tmp, dir) = repository();
    let repo = crate::git::Repo::discover(&dir).expect("repo");
    let clock = FixedClock(Timestamp::now());
    let (ids, events) = (CountedIds::default(), Recorder::default());
    let prepared = crate::demo::prepare(&repo, &spec("Blocked", true)).expect("prepare");
    let outcome = prepared
        .execute(&context(&clock, &ids, &events, Redactor::default()))
        .expect("run");
    assert_eq!(events.stages(), ["pre-run gate", "record"]);
    assert_eq!(outcome.summary.outcome_status, Outcome::Blocked);
    assert!(!outcome.executed);
    assert_eq!(
        git(&dir, &["worktree", "list"]).lines().count(),
        1,
        "no worktree was made"
    );
}

/// A stage of a test's own, as a new stage would be: one type and one line in a list.
struct Refuse;

impl Stage for Refuse {
    fn name(&self) -> StageName {
        StageName::Validation
    }

    fn run(&self, state: &mut RunState, _env: &Env) -> crate::error::Result<Flow> {
        state.fail(&crate::error::Error::run("refused by the test stage"));
        Ok(Flow::Stop)
    }
}

#[test]
fn a_stage_that_stops_the_run_leaves_only_the_record_to_run() {
    let (_tmp, dir) = repository();
    let repo = crate::git::Repo::discover(&dir).expect("repo");
    let clock = FixedClock(Timestamp::now());
    let (ids, events) = (CountedIds::default(), Recorder::default());
    let mut prepared = crate::demo::prepare(&repo, &spec("Stopped", false)).expect("prepare");
    prepared.pipeline = Pipeline::new(vec![
        Box::new(PreRunGate),
        Box::new(Workspace { guard_from_gc: true }),
        Box::new(stages::Agent {
            goal_file: true,
            watch_outside: false,
        }),
        Box::new(SnapshotStage),
        Box::new(Refuse),
        Box::new(Commit),
        Box::new(Record { golden_files: true }),
    ]);
    let outcome = prepared
        .execute(&context(&clock, &ids, &events, Redactor::default()))
        .expect("run");
    assert_eq!(
        events.stages(),
        ["pre-run gate", "workspace", "agent", "snapshot", "validation", "record"]
    );
    assert_eq!(outcome.summary.outcome_status, Outcome::Failed);
    assert_eq!(outcome.summary.reason.as_deref(), Some("refused by the test stage"));
    assert_eq!(outcome.git.commit, None, "the commit stage never ran");
    let worktree = outcome.git.worktree.expect("worktree");
    assert_eq!(
        git(&worktree, &["worktree", "list", "--porcelain"])
            .matches("locked")
            .count(),
        0,
        "the worktree lock goes with the run"
    );
}

#[test]
fn secrets_that_look_like_json_never_reach_evidence_and_every_file_stays_valid() {
    for secret in [r#"pa"ss\word1"#, r#"{"k": [1, "x"]}"#, "line1\nline2\ttab"] {
        let (_tmp, dir) = repository();
        let repo = crate::git::Repo::discover(&dir).expect("repo");
        let clock = FixedClock(Timestamp::now());
        let (ids, events) = (CountedIds::default(), Recorder::default());
        let redactor = Redactor::from_vars([("DB_PASSWORD".to_owned(), secret.to_owned())]);
        let goal = format!("Rotate the password {secret} today");
        let prepared = crate::demo::prepare(&repo, &spec(&goal, false)).expect("prepare");
        let outcome = prepared
            .execute(&context(&clock, &ids, &events, redactor))
            .expect("run");
        let run_ref = outcome.git.evidence_ref.clone();
        let names = git(&dir, &["ls-tree", "--name-only", &run_ref]);
        let escaped = serde_json::to_string(secret).expect("json");
        let escaped = &escaped[1..escaped.len() - 1];
        for name in names.lines() {
            let text = git(&dir, &["cat-file", "-p", &format!("{run_ref}:{name}")]);
            assert!(
                !text.contains(secret) && !text.contains(escaped),
                "{name} holds the secret"
            );
            if name.ends_with(".json") {
                serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
        let everything = [
            git(&dir, &["log", "--all", "-p", "--format=%B"]),
            git(&dir, &["log", "--notes=oc-demo", "--all", "--format=%N"]),
        ]
        .join("\n");
        assert!(!everything.contains(secret), "a commit, patch or note holds the secret");
        assert!(outcome.proposal.goal_text.contains("[REDACTED:DB_PASSWORD]"));
    }
}
