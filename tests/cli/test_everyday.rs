//! Everyday use: `git oc runs` as a table in local time, `--status` checked, missing arguments
//! named, `gc --dry-run` saying exactly what `gc` removes, `show` naming the worktree, and
//! `doctor` outside a repository.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::pty::Pty;

/// The local time `date` gives for an RFC 3339 time in time zone `tz`, to the minute.
fn local_time(tz: &str, rfc3339: &str) -> String {
    let out = Command::new("date")
        .env("TZ", tz)
        .args(["-d", rfc3339, "+%Y-%m-%d %H:%M"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Where each header word starts, in columns.
fn columns(header: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    for word in header.split("  ").filter(|w| !w.is_empty()) {
        let start = header[at..].find(word).unwrap() + at;
        out.push((word.trim().to_owned(), header[..start].chars().count()));
        at = start + word.len();
    }
    out
}

fn cell<'a>(line: &'a str, columns: &[(String, usize)], name: &str) -> &'a str {
    let i = columns.iter().position(|(n, _)| n == name).unwrap();
    let start = line.char_indices().nth(columns[i].1).map_or(line.len(), |(b, _)| b);
    let end = columns
        .get(i + 1)
        .and_then(|c| line.char_indices().nth(c.1))
        .map_or(line.len(), |(b, _)| b);
    line[start..end].trim()
}

#[test]
fn runs_is_a_table_with_a_header_in_local_time() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.oc(&repo, ["demo", "--goal", "A first goal"]).assert_code(0);
    env.oc(&repo, ["demo", "--goal", "Ünïcode and 日本語 in a goal"])
        .assert_code(0);
    let listed = env.oc(&repo, ["runs", "--json"]).json();
    for tz in ["UTC", "Asia/Kolkata", "America/St_Johns"] {
        let run = Run::from(env.oc_cmd(&repo).env("TZ", tz).arg("runs").output().unwrap());
        run.assert_code(0);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 3, "a header and two runs:\n{}", run.stdout);
        let cols = columns(lines[0]);
        let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["RUN", "TIME", "OUTCOME", "BACKEND@LANE", "BRANCH", "CHANGES", "GOAL"]
        );
        for (line, doc) in lines[1..].iter().zip(listed.as_array().unwrap()) {
            assert_eq!(cell(line, &cols, "RUN"), &doc["run_id"].as_str().unwrap()[..8]);
            assert_eq!(
                cell(line, &cols, "TIME"),
                local_time(tz, doc["time"].as_str().unwrap()),
                "TZ={tz}:\n{}",
                run.stdout
            );
            assert_eq!(cell(line, &cols, "OUTCOME"), "executed");
            assert_eq!(cell(line, &cols, "BRANCH"), doc["branch"].as_str().unwrap());
            assert_eq!(cell(line, &cols, "GOAL"), doc["goal"].as_str().unwrap());
            assert!(!line.ends_with(' '), "{line:?}");
        }
    }
}

#[test]
fn runs_fit_the_terminal_and_keep_whole_lines_in_a_pipe() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let goal = "A goal long enough not to fit on a narrow terminal beside the rest";
    env.oc(&repo, ["demo", "--goal", goal]).assert_code(0);
    env.oc(
        &repo,
        ["demo", "--goal", "日本語の目標も端末の幅に収まるように切り詰められる"],
    )
    .assert_code(0);
    for width in [80u16, 100] {
        let mut cmd = Command::new(BIN);
        scrub(&mut cmd, &env.home());
        cmd.current_dir(&repo).arg("runs");
        let (status, text) = Pty::spawn(cmd, width, 24).wait();
        assert!(status.success(), "{text}");
        let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("RUN "), "{text}");
        for line in &lines {
            let width_used: usize = line
                .chars()
                .map(|c| if ('\u{3000}'..='\u{9fff}').contains(&c) { 2 } else { 1 })
                .sum();
            assert!(width_used <= usize::from(width), "{width} columns: {line:?}");
        }
        assert!(text.contains('…'), "the goal is cut to fit:\n{text}");
    }
    let piped = env.oc(&repo, ["runs"]);
    assert!(
        piped.stdout.contains(goal),
        "a pipe gets whole lines:\n{}",
        piped.stdout
    );
    assert!(piped.stdout.starts_with("RUN "), "and a header:\n{}", piped.stdout);
}

#[test]
fn unknown_statuses_are_refused_with_the_known_ones() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.oc(&repo, ["demo"]).assert_code(0);
    let before = env.state(&repo);
    let run = env.oc(&repo, ["runs", "--status", "succeded"]);
    run.assert_clean_error(2);
    assert!(run.stderr.contains("'succeded'"), "{}", run.stderr);
    let hint = run
        .stderr
        .lines()
        .find(|l| l.starts_with("hint: possible values: "))
        .unwrap_or_else(|| panic!("the known statuses are listed:\n{}", run.stderr));
    // The outcomes, the result statuses, and the three states of runs git-oc adds.
    for known in [
        "executed",
        "no_op",
        "validation_failed",
        "blocked",
        "failed",
        "timed_out",
        "cancelled",
        "succeeded",
        "skipped",
        "running",
        "interrupted",
        "rejected",
    ] {
        assert!(
            hint.split([' ', ',']).any(|w| w == known),
            "{known} missing from {hint}"
        );
    }
    assert_eq!(run.stdout, "");
    assert_eq!(env.state(&repo), before);
}

#[test]
fn rejected_runs_are_filterable() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (_, rejected) = env.run_json(
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
    assert_eq!(rejected["summary"]["rejected"], true);
    env.oc(&repo, ["demo", "--blocked-policy"]).assert_code(1);
    env.oc(&repo, ["demo"]).assert_code(0);
    let ids = |status: &str| -> Vec<String> {
        let mut ids: Vec<String> = env
            .oc(&repo, ["runs", "--json", "--status", status])
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["run_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let rejected_id = rejected["summary"]["run_id"].as_str().unwrap().to_owned();
    assert_eq!(ids("rejected"), std::slice::from_ref(&rejected_id));
    assert_eq!(ids("blocked").len(), 2, "the gate before and the gate after");
    assert!(ids("blocked").contains(&rejected_id));
    let table = env.oc(&repo, ["runs", "--status", "rejected"]);
    assert!(table.stdout.contains("blocked (rejected)"), "{}", table.stdout);
    let none = env.oc(&repo, ["runs", "--status", "interrupted"]);
    none.assert_code(0);
    assert_eq!(none.stdout, "");
    assert!(none.stderr.contains("no run matches"), "{}", none.stderr);
}

#[test]
fn missing_arguments_are_named() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    for (args, missing) in [
        (&["run"][..], "--goal <GOAL>"),
        (&["plan", "--risk", "low"][..], "--goal <GOAL>"),
        (&["policy", "check"][..], "--goal <GOAL>"),
        (&["show"][..], "<RUN>"),
        (&["gc", "--evidence"][..], "--older-than <DAYS>"),
        (&["man"][..], "<DIR|--install>"),
    ] {
        let run = env.oc(&repo, args);
        run.assert_clean_error(2);
        let first = run.stderr.lines().next().unwrap();
        assert!(
            first.starts_with("error: the following required arguments were not provided: ") && first.contains(missing),
            "git oc {args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("hint: usage: git oc "), "{}", run.stderr);
    }
}

fn worktree_of(doc: &serde_json::Value) -> PathBuf {
    PathBuf::from(doc["git"]["worktree"].as_str().unwrap())
}

#[test]
fn gc_dry_run_lists_exactly_what_gc_then_removes() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (_, edited) = env.run_json(
        &repo,
        &["--goal", "Edit", "--backend", "command", "--", "fake-agent", "edit"],
    );
    let (_, noop) = env.run_json(
        &repo,
        &["--goal", "Nothing", "--backend", "command", "--", "fake-agent", "noop"],
    );
    let (_, by_hand) = env.run_json(
        &repo,
        &[
            "--goal",
            "Deleted by hand",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "edit",
        ],
    );
    std::fs::remove_dir_all(worktree_of(&by_hand)).unwrap();
    env.oc(&repo, ["demo"]).assert_code(0);
    // Runs the policy stops before they have a worktree leave a directory of evidence files.
    env.oc(&repo, ["demo", "--blocked-policy"]).assert_code(1);
    write_config(
        &repo,
        "[[policy.repo_policies]]\nrepo_key = \"*\"\nblocked_task_types = [\"documentation\"]\n",
    );
    let (blocked, _) = env.run_json(
        &repo,
        &[
            "--goal",
            "Docs",
            "--task-type",
            "documentation",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "edit",
        ],
    );
    blocked.assert_code(1);
    let own = PathBuf::from(env.git(&repo, ["rev-parse", "--git-common-dir"]));
    let own = repo.join(own).join("oc/worktrees");
    let evidence_dirs: Vec<PathBuf> = std::fs::read_dir(&own)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.join(".git").exists())
        .collect();
    assert_eq!(
        evidence_dirs.len(),
        2,
        "two runs stopped by the policy: {evidence_dirs:?}"
    );
    let ids = env.run_ids(&repo);

    let dry = env.oc(&repo, ["gc", "--older-than", "0", "--dry-run"]);
    dry.assert_code(0);
    let dry_json = env.oc(&repo, ["gc", "--older-than", "0", "--dry-run", "--json"]).json();
    assert_eq!(dry_json["removed_evidence_dirs"].as_array().unwrap().len(), 2);
    assert!(
        worktree_of(&edited).is_dir() && evidence_dirs.iter().all(|d| d.is_dir()),
        "a dry run removes nothing"
    );

    let done = env.oc(&repo, ["gc", "--older-than", "0"]);
    done.assert_code(0);
    assert_eq!(
        dry.stdout.replace("would remove ", "removed "),
        done.stdout,
        "the dry run said exactly what gc removed"
    );
    for expected in [
        format!("removed worktree {}", worktree_of(&edited).display()),
        format!("removed worktree {}", worktree_of(&noop).display()),
        format!(
            "removed the entry of deleted worktree {}",
            worktree_of(&by_hand).display()
        ),
        format!("removed branch {}", noop["summary"]["branch"].as_str().unwrap()),
    ] {
        assert!(done.stdout.contains(&expected), "{expected}\n{}", done.stdout);
    }
    for dir in &evidence_dirs {
        assert!(
            done.stdout
                .contains(&format!("removed evidence-only directory {}", dir.display())),
            "{}",
            done.stdout
        );
        assert!(!dir.exists());
    }
    assert_eq!(env.run_ids(&repo), ids, "the evidence itself stays in git");
    env.git(&repo, ["fsck", "--strict", "--no-progress"]);

    let again = env.oc(&repo, ["gc", "--older-than", "0", "--dry-run"]);
    again.assert_code(0);
    assert_eq!(again.stdout, "");
    assert!(again.stderr.contains("nothing would be removed"), "{}", again.stderr);
}

#[test]
fn gc_keeps_evidence_directories_it_cannot_vouch_for() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    env.oc(&repo, ["demo", "--blocked-policy"]).assert_code(1);
    let own = repo.join(".git/oc/worktrees");
    let dir = std::fs::read_dir(&own).unwrap().flatten().next().unwrap().path();
    // Something besides evidence: not git-oc's to remove.
    std::fs::write(dir.join("notes.txt"), "mine\n").unwrap();
    let done = env.oc(&repo, ["gc", "--older-than", "0"]);
    done.assert_code(0);
    assert!(dir.join("notes.txt").is_file(), "{}", done.stdout);
    // Evidence whose ref is gone is the only copy: kept too.
    std::fs::remove_file(dir.join("notes.txt")).unwrap();
    let run_dir = std::fs::read_dir(dir.join(".operations_center/runs"))
        .unwrap()
        .flatten()
        .next()
        .unwrap();
    let run_id = run_dir.file_name().to_string_lossy().into_owned();
    env.git(&repo, ["update-ref", "-d", &format!("refs/oc/demo/{run_id}")]);
    env.oc(&repo, ["gc", "--older-than", "0"]).assert_code(0);
    assert!(run_dir.path().is_dir());
}

#[test]
fn show_names_the_worktree() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (_, run) = env.run_json(
        &repo,
        &["--goal", "Edit", "--backend", "command", "--", "fake-agent", "edit"],
    );
    let id = run["summary"]["run_id"].as_str().unwrap();
    let shown = env.oc(&repo, ["show", id]);
    assert_eq!(shown.field("worktree"), worktree_of(&run).display().to_string());
    let json = env.oc(&repo, ["show", "--json", id]).json();
    assert_eq!(json["worktree"], run["git"]["worktree"]);
    assert_eq!(json["worktree_exists"], true);

    let demo = env.oc(&repo, ["demo", "--json"]).json();
    let demo_id = demo["git"]["evidence_ref"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    assert_eq!(
        env.oc(&repo, ["show", demo_id]).field("worktree"),
        worktree_of(&demo).display().to_string()
    );

    env.oc(&repo, ["gc", "--older-than", "0"]).assert_code(0);
    assert_eq!(
        env.oc(&repo, ["show", id]).field("worktree"),
        format!("{} (no longer there)", worktree_of(&run).display())
    );
    let blocked = env.oc(&repo, ["demo", "--blocked-policy", "--json"]).json();
    let blocked_id = blocked["git"]["evidence_ref"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    assert!(
        env.oc(&repo, ["show", blocked_id])
            .field("worktree")
            .starts_with("none")
    );
}

fn doctor(env: &TestEnv, dir: &Path, global: &Path, token: Option<&str>) -> Run {
    let mut cmd = env.oc_cmd(dir);
    // The identity comes from the global configuration here, not the test's environment.
    for var in [
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("GIT_CONFIG_GLOBAL", global);
    if let Some(t) = token {
        cmd.env("GITHUB_TOKEN", t);
    }
    Run::from(cmd.arg("doctor").output().unwrap())
}

#[test]
fn doctor_runs_outside_a_repository_and_asks_for_no_token_nothing_uses() {
    let env = TestEnv::new();
    let outside = env.root().join("not-a-repo");
    std::fs::create_dir_all(&outside).unwrap();
    let global = env.root().join("gitconfig");
    std::fs::write(
        &global,
        "[user]\n\tname = Global Person\n\temail = global@example.com\n",
    )
    .unwrap();

    let run = doctor(&env, &outside, &global, None);
    run.assert_code(0);
    assert!(
        run.stdout
            .contains("commits are made by Global Person <global@example.com>"),
        "{}",
        run.stdout
    );
    for check in ["ok    git ", "ok    config ", "ok    policy ", "backends "] {
        assert!(run.stdout.contains(check), "{check}:\n{}", run.stdout);
    }
    assert!(run.stdout.contains("warn  repository"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("ok    notes"),
        "no repository, no notes check:\n{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("warn  token"),
        "nothing configured needs a token:\n{}",
        run.stdout
    );
    assert!(run.stdout.ends_with("healthy\n"));

    let run = doctor(&env, &outside, &global, Some("ghp_outside_secret_value"));
    assert!(run.stdout.contains("GITHUB_TOKEN is set"), "{}", run.stdout);
    assert!(!run.stdout.contains("ghp_outside_secret_value"));

    // A user configuration is read and checked outside a repository too.
    let config = env.home().join(".config/git-oc");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "[run]\ntimout = 3\n").unwrap();
    let run = doctor(&env, &outside, &global, None);
    run.assert_code(1);
    assert!(run.stdout.contains("fail  config"), "{}", run.stdout);
    std::fs::remove_file(config.join("config.toml")).unwrap();

    // Inside a repository: no token warning either, and the repository's checks run.
    let repo = env.repo("r");
    let run = doctor(&env, &repo, &global, None);
    run.assert_code(0);
    assert!(!run.stdout.contains("warn  token"), "{}", run.stdout);
    assert!(run.stdout.contains("ok    notes"), "{}", run.stdout);
    assert!(!run.stdout.contains("warn  repository"), "{}", run.stdout);
}
