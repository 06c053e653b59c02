//! What both benchmarks share: the fake agents and the scrubbed environment of the tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn fixtures_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/bin")
}

/// The scrubbed environment of the tests: no user config, fixed identity.
pub fn scrub<'a>(cmd: &'a mut Command, home: &Path) -> &'a mut Command {
    cmd.env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                fixtures_bin().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", home)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .stdin(Stdio::null())
}
