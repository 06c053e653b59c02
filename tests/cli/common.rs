//! Test helpers: temporary repositories with fixed identities and dates, and a runner for the
//! real binary with the same scrubbed environment.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_git-oc");

/// The environment every git and git-oc process in the tests gets: no user or system config,
/// a fixed identity and fixed dates.
pub fn scrub(cmd: &mut Command, home: &Path) {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-02T03:04:05Z")
        .env("GIT_COMMITTER_NAME", "Test Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .env("GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z")
        .env("TZ", "UTC")
        .env("LANG", "C.UTF-8");
}

pub struct TestEnv {
    pub tmp: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("git-oc-test-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(tmp.path().join("home")).unwrap();
        TestEnv { tmp }
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    pub fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    /// A repository with one commit (`README.md`), on branch `main`.
    pub fn repo(&self, name: &str) -> PathBuf {
        let dir = self.root().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        self.git(&dir, ["init", "-q", "-b", "main"]);
        std::fs::write(dir.join("README.md"), "# test repository\n").unwrap();
        self.git(&dir, ["add", "README.md"]);
        self.git(&dir, ["commit", "-q", "-m", "Initial commit"]);
        dir
    }

    /// A repository without any commit.
    pub fn empty_repo(&self, name: &str) -> PathBuf {
        let dir = self.root().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        self.git(&dir, ["init", "-q", "-b", "main"]);
        dir
    }

    /// Run git and return its trimmed stdout; fail the test when git fails.
    pub fn git<I, S>(&self, dir: &Path, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.git_output(dir, args);
        assert!(
            out.status.success(),
            "git failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
    }

    /// `git count-objects -v` as numbers: loose objects and packs.
    pub fn object_counts(&self, repo: &Path) -> (u64, u64) {
        let out = self.git(repo, ["count-objects", "-v"]);
        let value = |key: &str| -> u64 {
            out.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {key} in {out}"))
        };
        (value("count:"), value("packs:"))
    }

    pub fn git_output<I, S>(&self, dir: &Path, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new("git");
        scrub(&mut cmd, &self.home());
        cmd.current_dir(dir).args(args).output().expect("run git")
    }

    pub fn oc_cmd(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(BIN);
        scrub(&mut cmd, &self.home());
        cmd.current_dir(dir).stdin(Stdio::null());
        cmd
    }

    pub fn oc<I, S>(&self, dir: &Path, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Run::from(self.oc_cmd(dir).args(args).output().expect("run git-oc"))
    }
}

/// A finished git-oc process.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// The value printed after `label :` in the report.
    pub fn field(&self, label: &str) -> String {
        let prefix = format!("  {label:<12}: ");
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {label:?} line in:\n{}", self.stdout))
            .to_owned()
    }

    /// The value after `label :` within the report section whose title starts with `section`.
    pub fn field_in(&self, section: &str, label: &str) -> String {
        let start = self
            .stdout
            .find(&format!("\n[{section}"))
            .unwrap_or_else(|| panic!("no section {section}"));
        let prefix = format!("  {label:<12}: ");
        self.stdout[start..]
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {label:?} line in section {section}"))
            .to_owned()
    }

    /// A bad-input failure: the exit code, one `error:` line first, a `hint:`, no panic text.
    #[track_caller]
    pub fn assert_clean_error(&self, code: i32) -> &Self {
        self.assert_code(code);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert!(
            lines.first().is_some_and(|l| l.starts_with("error: ")),
            "stderr should start with one error line:\n{}",
            self.stderr
        );
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("error: ")).count(),
            1,
            "{}",
            self.stderr
        );
        assert!(
            lines.iter().any(|l| l.starts_with("hint: ")),
            "expected a hint:\n{}",
            self.stderr
        );
        for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace", "Traceback"] {
            assert!(!self.stderr.contains(bad), "panic text in stderr:\n{}", self.stderr);
        }
        self
    }
}

/// A repository's state that a run must not change and a failed run must leave as it was.
#[derive(Debug, PartialEq, Eq)]
pub struct RepoState {
    pub refs: String,
    pub worktrees: String,
    pub status: String,
    pub head: String,
    pub index: Vec<u8>,
    pub lock_files: Vec<PathBuf>,
}

impl TestEnv {
    pub fn state(&self, repo: &Path) -> RepoState {
        let git_dir = PathBuf::from(self.git(repo, ["rev-parse", "--absolute-git-dir"]));
        RepoState {
            refs: self.git(repo, ["for-each-ref", "--format=%(refname) %(objectname)"]),
            worktrees: self.git(repo, ["worktree", "list", "--porcelain"]),
            status: self.git(repo, ["status", "--porcelain=v1", "--untracked-files=all"]),
            head: std::fs::read_to_string(git_dir.join("HEAD")).unwrap_or_default(),
            index: std::fs::read(git_dir.join("index")).unwrap_or_default(),
            lock_files: lock_files(&git_dir),
        }
    }

    /// The user's checkout: HEAD, branch, index and work tree status.
    pub fn checkout_state(&self, repo: &Path) -> (String, String, String) {
        (
            self.git(repo, ["symbolic-ref", "-q", "HEAD"]),
            self.git(repo, ["rev-parse", "HEAD"]),
            self.git(repo, ["status", "--porcelain=v1", "--untracked-files=all"]),
        )
    }

    pub fn run_ids(&self, repo: &Path) -> Vec<String> {
        // Real runs and demo runs alike.
        let out = self.git(
            repo,
            [
                "for-each-ref",
                "--format=%(refname:lstrip=3)",
                "refs/oc/runs/",
                "refs/oc/demo/",
            ],
        );
        out.lines().map(str::to_owned).collect()
    }
}

pub fn lock_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "lock") {
                out.push(p);
            }
        }
    }
    out
}

/// Replace ids and hashes so that a report can be compared as text.
pub fn normalize(text: &str) -> String {
    let mut out = String::new();
    for token in split_keep(text) {
        out.push_str(&normalize_token(&token));
    }
    out
}

fn split_keep(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_ascii_hexdigit() || c == '-' {
            cur.push(c);
        } else {
            if !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
            tokens.push(c.to_string());
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    tokens
}

fn normalize_token(tok: &str) -> String {
    let is_hex = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    let parts: Vec<&str> = tok.split('-').collect();
    if parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && is_hex(p))
    {
        return "<uuid>".to_owned();
    }
    // Short and full object ids, and the 8-hex prefixes of run ids, also inside `a-b` words.
    parts
        .iter()
        .map(|p| {
            if matches!(p.len(), 7 | 8 | 40) && is_hex(p) {
                format!("<hex{}>", p.len())
            } else {
                (*p).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The run directories under `<workspace>/.operations_center/runs`.
pub fn run_dirs(workspace: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(workspace.join(".operations_center/runs"))
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

pub const SEED_FILES: [&str; 7] = [
    "proposal.json",
    "decision.json",
    "execution_request.json",
    "result.json",
    "execution_record.json",
    "execution_trace.json",
    "run_metadata.json",
];

/// `fixtures/bin`, where the fake agent CLIs live.
pub fn fixtures_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/bin")
}

impl TestEnv {
    /// git-oc with the fake agents first on PATH.
    pub fn oc_agents(&self, dir: &Path) -> Command {
        let mut cmd = self.oc_cmd(dir);
        let path = format!(
            "{}:{}",
            fixtures_bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("PATH", path);
        cmd
    }

    pub fn run_agent<I, S>(&self, dir: &Path, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Run::from(self.oc_agents(dir).args(args).output().expect("run git-oc"))
    }

    /// `git oc run --json --goal GOAL --backend command -- sh -c SCRIPT`: an agent written as a
    /// shell script.
    pub fn run_sh(&self, dir: &Path, goal: &str, script: &str) -> (Run, Value) {
        self.run_json(dir, &["--goal", goal, "--backend", "command", "--", "sh", "-c", script])
    }

    /// `git oc run --json` with the fake agents on PATH; returns the run and its JSON document.
    pub fn run_json(&self, dir: &Path, args: &[&str]) -> (Run, Value) {
        let mut full = vec!["run", "--json"];
        full.extend_from_slice(args);
        let run = self.run_agent(dir, full);
        let doc = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
        (run, doc)
    }

    /// One file of a run's evidence, read from git.
    pub fn evidence(&self, repo: &Path, run_id: &str, file: &str) -> Vec<u8> {
        let out = ["refs/oc/runs", "refs/oc/demo"]
            .iter()
            .map(|ns| self.git_output(repo, ["cat-file", "blob", &format!("{ns}/{run_id}:{file}")]))
            .find(|out| out.status.success());
        let Some(out) = out else {
            panic!("no {file} in the evidence of run {run_id}")
        };
        out.stdout
    }

    pub fn evidence_json(&self, repo: &Path, run_id: &str, file: &str) -> Value {
        serde_json::from_slice(&self.evidence(repo, run_id, file)).unwrap()
    }
}

/// Whether a process is still alive.
pub fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// A tiny HTTP/1.1 server on 127.0.0.1 for network peers (SwitchBoard, …): it answers every
/// request with what `respond` returns and keeps the requests it saw.
pub struct MockServer {
    pub url: String,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>,
}

pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub delay: std::time::Duration,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: body.to_string(),
            delay: Default::default(),
        }
    }
    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_owned(),
            delay: Default::default(),
        }
    }
}

impl MockServer {
    pub fn start(respond: impl Fn(&str, &str, &str) -> Reply + Send + Sync + 'static) -> MockServer {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        let respond = std::sync::Arc::new(respond);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = seen.clone();
                let respond = respond.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).is_err() {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).is_err() || header == "\r\n" || header.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = header.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; length];
                    let _ = reader.read_exact(&mut body);
                    let mut parts = request_line.split_whitespace();
                    let method = parts.next().unwrap_or("").to_owned();
                    let path = parts.next().unwrap_or("").to_owned();
                    let body = String::from_utf8_lossy(&body).into_owned();
                    let reply = respond(&method, &path, &body);
                    seen.lock().unwrap().push((method, path, body));
                    std::thread::sleep(reply.delay);
                    let mut stream = stream;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {} X\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                        reply.status,
                        reply.content_type,
                        reply.body.len(),
                        reply.body
                    );
                });
            }
        });
        MockServer { url, requests }
    }
}

/// Write `.oc/config.toml` in `repo`.
pub fn write_config(repo: &Path, text: &str) {
    std::fs::create_dir_all(repo.join(".oc")).unwrap();
    std::fs::write(repo.join(".oc/config.toml"), text).unwrap();
}

/// Wait for an observable event (a file appearing, a ref being written): poll `cond` until it
/// holds. The bound only keeps a broken build from hanging CI; no test depends on timing.
#[track_caller]
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !cond() {
        assert!(std::time::Instant::now() < give_up, "gave up waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A bare remote (cloned from a fresh repository) and two clones of it.
pub fn remote_and_clones(env: &TestEnv) -> (PathBuf, PathBuf, PathBuf) {
    let (remote, a) = remote_and_clone(env, "origin-src", "a");
    let b = env.root().join("b");
    env.git(
        env.root(),
        ["clone", "-q", remote.to_str().unwrap(), b.to_str().unwrap()],
    );
    (remote, a, b)
}

/// A bare remote `remote.git` made from a fresh repository named `src`, and a clone of it named
/// `clone`.
pub fn remote_and_clone(env: &TestEnv, src: &str, clone: &str) -> (PathBuf, PathBuf) {
    let origin = env.repo(src);
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
    let dir = env.root().join(clone);
    env.git(
        env.root(),
        ["clone", "-q", remote.to_str().unwrap(), dir.to_str().unwrap()],
    );
    (remote, dir)
}

/// A bare remote and two clones of it, `a` and `b`.
pub struct Trio {
    pub env: TestEnv,
    pub remote: PathBuf,
    pub a: PathBuf,
    pub b: PathBuf,
}

pub fn trio() -> Trio {
    let env = TestEnv::new();
    let (remote, a, b) = remote_and_clones(&env);
    Trio { env, remote, a, b }
}

/// The `git-daemon` program itself. `git daemon` starts it as a child process, which killing
/// `git` leaves running: holding its port, and the output pipes of whatever started it.
pub fn git_daemon_program() -> PathBuf {
    let out = Command::new("git")
        .arg("--exec-path")
        .output()
        .expect("git --exec-path");
    assert!(out.status.success(), "git --exec-path failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("git-daemon")
}

/// A named pipe (FIFO) at `path`.
pub fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o644) },
        0,
        "mkfifo {}",
        path.display()
    );
}
