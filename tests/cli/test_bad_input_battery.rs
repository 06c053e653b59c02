//! The bad-input battery: every command, every kind of bad input. Each case must exit with the
//! right code, print one `error:` line with a `hint:`, never panic, and leave the repository as
//! it was (no branch, no worktree registration, no lock file, no evidence).

use std::path::Path;

use crate::common::*;

struct Case {
    name: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    code: i32,
    /// Text the error must contain.
    says: &'static str,
}

fn case(name: &'static str, args: &[&str], code: i32, says: &'static str) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
        code,
        says,
    }
}

fn with_env(mut c: Case, k: &'static str, v: &str) -> Case {
    c.env.push((k, v.to_owned()));
    c
}

fn cases(root: &Path) -> Vec<Case> {
    let file = root.join("a-file").display().to_string();
    let under_file = root.join("a-file/ws").display().to_string();
    vec![
        // flags and subcommands
        case("unknown subcommand", &["frobnicate"], 2, "unrecognized subcommand"),
        case(
            "unknown flag",
            &["run", "--goal", "x", "--fast"],
            2,
            "unexpected argument",
        ),
        case("flag without value", &["run", "--goal"], 2, "a value is required"),
        case("missing goal", &["run", "--backend", "claude"], 2, "--goal"),
        case("missing plan goal", &["plan"], 2, "--goal"),
        // goals
        case(
            "empty goal",
            &["run", "--goal", "", "--backend", "claude"],
            2,
            "goal is empty",
        ),
        case("whitespace goal", &["plan", "--goal", "\t \n"], 2, "goal is empty"),
        case("empty demo goal", &["demo", "--goal", " "], 2, "goal is empty"),
        // enums
        case(
            "unknown task type",
            &["run", "--goal", "x", "--task-type", "magic"],
            2,
            "invalid value",
        ),
        case(
            "unknown risk",
            &["plan", "--goal", "x", "--risk", "extreme"],
            2,
            "invalid value",
        ),
        case(
            "unknown priority",
            &["policy", "check", "--goal", "x", "--priority", "now"],
            2,
            "invalid value",
        ),
        case(
            "unknown backend",
            &["run", "--goal", "x", "--backend", "gpt5"],
            2,
            "invalid value",
        ),
        case(
            "unknown lane",
            &["run", "--goal", "x", "--lane", "warp"],
            2,
            "invalid value",
        ),
        case(
            "unknown router",
            &["plan", "--goal", "x", "--routing", "magic"],
            2,
            "invalid value",
        ),
        case(
            "unknown demo backend",
            &["demo", "--backend", "kodo"],
            2,
            "invalid value",
        ),
        case("unknown shell", &["completions", "powershell"], 2, "invalid value"),
        // numbers
        case(
            "zero timeout",
            &["run", "--goal", "x", "--backend", "claude", "--timeout", "0"],
            2,
            "timeout",
        ),
        case(
            "negative timeout",
            &["run", "--goal", "x", "--backend", "claude", "--timeout=-1"],
            2,
            "timeout",
        ),
        case(
            "word timeout",
            &["run", "--goal", "x", "--backend", "claude", "--timeout", "soon"],
            2,
            "timeout",
        ),
        case(
            "huge timeout",
            &["run", "--goal", "x", "--backend", "claude", "--timeout", "99999999999"],
            2,
            "timeout",
        ),
        case("bad runs count", &["runs", "-n", "many"], 2, "invalid value"),
        case("bad gc age", &["gc", "--older-than=-3"], 2, "invalid value"),
        // repo keys
        case(
            "empty repo key",
            &["run", "--goal", "x", "--backend", "claude", "--repo-key", ""],
            2,
            "repository key is empty",
        ),
        case(
            "empty demo repo key",
            &["demo", "--repo-key", ""],
            2,
            "repository key is empty",
        ),
        // paths and validation commands
        case(
            "empty path pattern",
            &["run", "--goal", "x", "--backend", "claude", "--path", ""],
            2,
            "empty --path",
        ),
        case(
            "empty validation",
            &["run", "--goal", "x", "--backend", "claude", "--validate", ""],
            2,
            "empty --validate",
        ),
        case(
            "workspace is a file",
            &["run", "--goal", "x", "--backend", "claude", "--workspace-path", &file],
            2,
            "not a directory",
        ),
        case(
            "workspace under a file",
            &["demo", "--workspace-path", &under_file],
            2,
            "workspace",
        ),
        case(
            "workspace is the checkout",
            &["demo", "--workspace-path", "."],
            2,
            "work tree",
        ),
        // branch names
        case(
            "branch with ..",
            &["run", "--goal", "x", "--backend", "claude", "--branch", "a..b"],
            2,
            "invalid branch name",
        ),
        case(
            "branch like an option",
            &["run", "--goal", "x", "--backend", "claude", "--branch=-b"],
            2,
            "invalid branch name",
        ),
        case(
            "branch with space",
            &["run", "--goal", "x", "--backend", "claude", "--branch", "a b"],
            2,
            "invalid branch name",
        ),
        case(
            "branch HEAD",
            &["run", "--goal", "x", "--backend", "claude", "--branch", "HEAD"],
            2,
            "invalid branch name",
        ),
        case(
            "branch with @{",
            &["run", "--goal", "x", "--backend", "claude", "--branch", "x@{1}"],
            2,
            "invalid branch name",
        ),
        // revisions and refs
        case(
            "unknown base",
            &["run", "--goal", "x", "--backend", "claude", "--base", "nope"],
            2,
            "unknown base",
        ),
        case(
            "base like an option",
            &["plan", "--goal", "x", "--base=--all"],
            2,
            "base",
        ),
        case(
            "base that is a blob",
            &["plan", "--goal", "x", "--base", "HEAD:README.md"],
            2,
            "does not name a commit",
        ),
        // run ids
        case("unknown run id", &["show", "deadbeef"], 2, "no run deadbeef"),
        case("run id that is not hex", &["show", "xyz!"], 2, "not a run id"),
        case("run id like an option", &["show", "--", "-rf"], 2, "not a run id"),
        // remotes
        case("unknown remote for push", &["push", "elsewhere"], 2, "no remote named"),
        case(
            "unknown remote for fetch",
            &["fetch", "elsewhere"],
            2,
            "no remote named",
        ),
        case(
            "remote like an option",
            &["push", "--", "--mirror"],
            2,
            "invalid remote name",
        ),
        case("remote with space", &["fetch", "my remote"], 2, "invalid remote name"),
        // command backend
        case(
            "command backend without program",
            &["run", "--goal", "x", "--backend", "command"],
            2,
            "needs the program",
        ),
        case(
            "argv for another backend",
            &["run", "--goal", "x", "--backend", "claude", "--", "ls"],
            2,
            "only for --backend command",
        ),
        // evidence cleanup without an age
        case("gc evidence without age", &["gc", "--evidence"], 2, "older-than"),
        // environment variables
        with_env(
            case("bad GIT_OC_TIMEOUT", &["plan", "--goal", "x"], 2, "GIT_OC_TIMEOUT"),
            "GIT_OC_TIMEOUT",
            "0",
        ),
        with_env(
            case("bad GIT_OC_ROUTER", &["plan", "--goal", "x"], 2, "GIT_OC_ROUTER"),
            "GIT_OC_ROUTER",
            "magic",
        ),
        with_env(
            case("bad GIT_OC_BACKEND", &["run", "--goal", "x"], 2, "GIT_OC_BACKEND"),
            "GIT_OC_BACKEND",
            "gpt",
        ),
        with_env(
            case(
                "bad switchboard URL",
                &["plan", "--goal", "x", "--routing", "switchboard"],
                1,
                "SwitchBoard",
            ),
            "GIT_OC_SWITCHBOARD_URL",
            "not a url",
        ),
    ]
}

#[test]
fn every_bad_input_is_refused_cleanly_and_leaves_nothing_behind() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    std::fs::write(env.root().join("a-file"), "keep\n").unwrap();
    let all = cases(env.root());
    assert!(all.len() >= 40, "the battery has {} cases", all.len());
    let mut failures = Vec::new();
    for c in all {
        let before = env.state(&repo);
        let mut cmd = env.oc_agents(&repo);
        for (k, v) in &c.env {
            cmd.env(k, v);
        }
        let run = Run::from(cmd.args(&c.args).output().unwrap());
        let stderr = &run.stderr;
        let lines: Vec<&str> = stderr.lines().collect();
        let problems: Vec<String> = [
            (run.code != c.code).then(|| format!("exit {} instead of {}", run.code, c.code)),
            (!lines.first().is_some_and(|l| l.starts_with("error: "))).then(|| "no leading error: line".to_owned()),
            (lines.iter().filter(|l| l.starts_with("error: ")).count() != 1)
                .then(|| "not exactly one error: line".to_owned()),
            (!lines.iter().any(|l| l.starts_with("hint: "))).then(|| "no hint".to_owned()),
            (!stderr.to_lowercase().contains(&c.says.to_lowercase())).then(|| format!("does not say {:?}", c.says)),
            (stderr.contains("panicked") || stderr.contains("backtrace")).then(|| "panic".to_owned()),
            (env.state(&repo) != before).then(|| "the repository changed".to_owned()),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n{}", c.name, problems.join("; "), stderr));
        }
    }
    assert_eq!(std::fs::read_to_string(env.root().join("a-file")).unwrap(), "keep\n");
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
