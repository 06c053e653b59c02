//! The collectors that run commands, each bounded by a timeout: the test signal (the configured
//! test command, else `run.validate`, else one detected: cargo, pytest, npm, go) and the lint and
//! type signals from the linters present (`cargo clippy --message-format=json`,
//! `ruff --output-format=json`, `mypy`). A tool that is not installed makes its signal
//! `unavailable`, not an error.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::observe::{CountSignal, TestSignal};
use crate::execution::process::{self, ProcessOutcome, ProcessSpec};

/// One finding: its code (`clippy::needless_return`, `E0308`, `F401`) and its file.
pub type Finding = (String, String);

/// Bytes of a tool's output kept: enough for clippy's JSON on a large crate.
const CAPTURE: usize = 16 << 20;

fn run(workdir: &Path, program: &str, args: &[&str], timeout: Duration) -> ProcessOutcome {
    let spec = ProcessSpec {
        program: program.into(),
        args: args.iter().map(Into::into).collect(),
        cwd: workdir.to_path_buf(),
        env: Vec::new(),
        timeout,
        stream: None,
        capture_limit: CAPTURE,
    };
    process::run(&spec, &AtomicBool::new(false), &mut |_| {})
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let p = dir.join(program);
            p.is_file()
                && std::fs::metadata(&p)
                    .is_ok_and(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
        })
    })
}

/// The test command for the repository and where it came from.
pub fn test_command(workdir: &Path, configured: Option<&str>, validate: &[String]) -> Option<(String, String)> {
    if let Some(c) = configured.map(str::trim).filter(|c| !c.is_empty()) {
        return Some(("configured".into(), c.to_owned()));
    }
    if !validate.is_empty() {
        return Some(("run.validate".into(), validate.join(" && ")));
    }
    let has = |f: &str| workdir.join(f).is_file();
    let contains = |f: &str, needle: &str| std::fs::read_to_string(workdir.join(f)).is_ok_and(|t| t.contains(needle));
    if has("Cargo.toml") {
        return Some(("cargo".into(), "cargo test --quiet".into()));
    }
    if has("pytest.ini") || contains("pyproject.toml", "[tool.pytest") || contains("setup.cfg", "[tool:pytest]") {
        return Some(("pytest".into(), "pytest -q".into()));
    }
    if contains("package.json", "\"test\"") {
        return Some(("npm".into(), "npm test --silent".into()));
    }
    if has("go.mod") {
        return Some(("go".into(), "go test ./...".into()));
    }
    None
}

/// Run the test command (with `sh -c`) and classify it by its exit status.
pub fn test_signal(workdir: &Path, command: Option<(String, String)>, timeout: Duration) -> TestSignal {
    let Some((source, command)) = command else {
        return TestSignal {
            status: "unavailable".into(),
            detail: Some("no test command: set [autonomy] test_command or run.validate".into()),
            ..TestSignal::default()
        };
    };
    // The detected commands need their tool; a missing tool is no verdict on the tests.
    let tool = command.split_whitespace().next().unwrap_or_default().to_owned();
    if source != "configured" && source != "run.validate" && !on_path(&tool) {
        return TestSignal {
            status: "unavailable".into(),
            source: Some(source),
            command: Some(command),
            detail: Some(format!("{tool} is not installed")),
            ..TestSignal::default()
        };
    }
    let out = run(workdir, "sh", &["-c", &command], timeout);
    let (status, detail) = if let Some(e) = &out.spawn_error {
        ("unavailable", Some(format!("could not start sh: {e}")))
    } else if out.timed_out {
        ("unknown", Some(format!("timed out after {}s", timeout.as_secs())))
    } else if out.exit_code == Some(0) {
        ("passed", None)
    } else if out.exit_code == Some(127) {
        ("unavailable", Some("the test command was not found (exit 127)".into()))
    } else if out.exit_code.is_some() {
        ("failed", last_line(&out))
    } else {
        ("unknown", out.signal.clone().map(|s| format!("killed by {s}")))
    };
    TestSignal {
        status: status.into(),
        source: Some(source),
        command: Some(command),
        exit_code: out.exit_code,
        duration_ms: u64::try_from(out.duration.as_millis()).unwrap_or(u64::MAX),
        detail,
    }
}

fn last_line(out: &ProcessOutcome) -> Option<String> {
    let text = String::from_utf8_lossy(&out.stderr.tail).into_owned() + &String::from_utf8_lossy(&out.stdout.tail);
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().take(200).collect())
}

/// Lint and type signals: clippy for a Cargo project (warnings are lint, errors are type and
/// compile errors), ruff and mypy for a Python one.
pub fn lint_and_types(workdir: &Path, timeout: Duration) -> (CountSignal, CountSignal, Vec<(String, String)>) {
    let mut errors = Vec::new();
    if workdir.join("Cargo.toml").is_file() {
        if !on_path("cargo") {
            let u = || CountSignal::unavailable("cargo is not installed");
            return (u(), u(), errors);
        }
        let out = run(
            workdir,
            "cargo",
            &["clippy", "--quiet", "--message-format=json", "--all-targets"],
            timeout,
        );
        if out.timed_out || out.spawn_error.is_some() {
            let why = if out.timed_out {
                format!("cargo clippy timed out after {}s", timeout.as_secs())
            } else {
                "cargo clippy could not be started".to_owned()
            };
            errors.push(("lint_signal".into(), why.clone()));
            return (
                CountSignal::unavailable(why.clone()),
                CountSignal::unavailable(why),
                errors,
            );
        }
        let stdout = String::from_utf8_lossy(&out.stdout.tail);
        let (warnings, errs) = parse_clippy(&stdout);
        if warnings.is_empty() && errs.is_empty() && !out.succeeded() {
            // No diagnostics and a failure: clippy itself is missing or broke.
            let why = format!(
                "cargo clippy failed: {}",
                last_line(&out).unwrap_or_else(|| "no output".into())
            );
            return (
                CountSignal::unavailable(why.clone()),
                CountSignal::unavailable(why),
                errors,
            );
        }
        return (
            CountSignal::from_findings("cargo clippy", "violations", &warnings),
            CountSignal::from_findings("rustc", "errors", &errs),
            errors,
        );
    }
    let python = ["pyproject.toml", "setup.py", "setup.cfg"]
        .iter()
        .any(|f| workdir.join(f).is_file());
    if !python {
        let u = || CountSignal::unavailable("no linter for this repository (Cargo or Python project)");
        return (u(), u(), errors);
    }
    let lint = if on_path("ruff") {
        let out = run(
            workdir,
            "ruff",
            &["check", "--output-format=json", "--quiet", "."],
            timeout,
        );
        match serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout.tail) {
            Ok(items) => {
                let findings: Vec<(String, String)> = items
                    .iter()
                    .map(|i| {
                        (
                            i["code"].as_str().unwrap_or("ruff").to_owned(),
                            relative(workdir, i["filename"].as_str().unwrap_or_default()),
                        )
                    })
                    .collect();
                CountSignal::from_findings("ruff", "violations", &findings)
            }
            Err(e) => {
                let why = format!("ruff gave no JSON: {e}");
                errors.push(("lint_signal".into(), why.clone()));
                CountSignal::unavailable(why)
            }
        }
    } else {
        CountSignal::unavailable("ruff is not installed")
    };
    let types = if on_path("mypy") {
        let out = run(
            workdir,
            "mypy",
            &["--no-error-summary", "--show-error-codes", "--no-color-output", "."],
            timeout,
        );
        let text = String::from_utf8_lossy(&out.stdout.tail);
        let findings: Vec<(String, String)> = text
            .lines()
            .filter(|l| l.contains(": error:"))
            .map(|l| {
                let code = l
                    .rsplit_once('[')
                    .and_then(|(_, c)| c.strip_suffix(']'))
                    .unwrap_or("mypy");
                (code.to_owned(), l.split(':').next().unwrap_or_default().to_owned())
            })
            .collect();
        if out.timed_out {
            CountSignal::unavailable(format!("mypy timed out after {}s", timeout.as_secs()))
        } else {
            CountSignal::from_findings("mypy", "errors", &findings)
        }
    } else {
        CountSignal::unavailable("mypy is not installed")
    };
    (lint, types, errors)
}

fn relative(workdir: &Path, file: &str) -> String {
    Path::new(file)
        .strip_prefix(workdir)
        .map_or_else(|_| file.to_owned(), |p| p.display().to_string())
}

/// `(code, file)` of clippy's warnings and of its errors, from `--message-format=json` lines.
pub fn parse_clippy(stdout: &str) -> (Vec<Finding>, Vec<Finding>) {
    let (mut warnings, mut errors) = (Vec::new(), Vec::new());
    // With --all-targets a library is checked twice (as itself and as its tests), and every
    // diagnostic comes twice: one per place.
    let mut seen = std::collections::HashSet::new();
    for line in stdout.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-message" {
            continue;
        }
        let m = &v["message"];
        // Summaries ("3 warnings emitted", "aborting due to …") have no span.
        let Some(span) = m["spans"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["is_primary"] == true))
        else {
            continue;
        };
        let code = m["code"]["code"].as_str().unwrap_or("rustc").to_owned();
        let file = span["file_name"].as_str().unwrap_or_default().to_owned();
        let place = (
            m["level"].to_string(),
            code.clone(),
            file.clone(),
            span["line_start"].as_u64(),
            span["column_start"].as_u64(),
        );
        if !seen.insert(place) {
            continue;
        }
        match m["level"].as_str() {
            Some("warning") => warnings.push((code, file)),
            Some("error") => errors.push((code, file)),
            _ => {}
        }
    }
    (warnings, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clippy_json_is_split_into_warnings_and_errors_without_summaries() {
        let lines = [
            r#"{"reason":"compiler-message","message":{"level":"warning","code":{"code":"clippy::needless_return"},"spans":[{"is_primary":true,"file_name":"src/lib.rs"}]}}"#,
            r#"{"reason":"compiler-message","message":{"level":"warning","code":{"code":"clippy::needless_return"},"spans":[{"is_primary":true,"file_name":"src/lib.rs"}]}}"#,
            r#"{"reason":"compiler-message","message":{"level":"error","code":{"code":"E0308"},"spans":[{"is_primary":true,"file_name":"src/main.rs"}]}}"#,
            r#"{"reason":"compiler-message","message":{"level":"warning","code":null,"spans":[]}}"#,
            r#"{"reason":"build-finished","success":false}"#,
            "not json",
        ]
        .join("\n");
        let (w, e) = parse_clippy(&lines);
        assert_eq!(w, vec![("clippy::needless_return".to_owned(), "src/lib.rs".to_owned())]);
        assert_eq!(e, vec![("E0308".to_owned(), "src/main.rs".to_owned())]);
    }

    #[test]
    fn the_test_command_is_configured_then_validate_then_detected() {
        let dir = tempfile::tempdir().unwrap();
        assert!(test_command(dir.path(), None, &[]).is_none());
        std::fs::write(dir.path().join("go.mod"), "module x\n").unwrap();
        assert_eq!(test_command(dir.path(), None, &[]).unwrap().0, "go");
        std::fs::write(dir.path().join("Cargo.toml"), "[package]\n").unwrap();
        assert_eq!(test_command(dir.path(), None, &[]).unwrap().1, "cargo test --quiet");
        assert_eq!(
            test_command(dir.path(), None, &["make check".into()]).unwrap().0,
            "run.validate"
        );
        assert_eq!(
            test_command(dir.path(), Some("./t.sh"), &[]).unwrap(),
            ("configured".into(), "./t.sh".into())
        );
    }
}
