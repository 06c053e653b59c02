//! Running an agent or a validation command: no shell unless asked, its own process group (so a
//! timeout or Ctrl-C takes its children too), stdout and stderr captured with a size bound that
//! keeps the tail, optionally streamed live to our stderr.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Variables a child must not inherit: they would point git at the user's repository instead of
/// the run's worktree.
pub const GIT_LOCATION_VARS: [&str; 5] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
];

/// How long a process gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
pub struct ProcessSpec {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// Hand output to the caller as it arrives, whole lines, secrets redacted with this.
    pub stream: Option<super::secrets::Redactor>,
    /// Bytes kept of each stream (the tail).
    pub capture_limit: usize,
}

/// One captured stream: its last `capture_limit` bytes and how many came in all.
#[derive(Clone, Debug, Default)]
pub struct Captured {
    pub tail: Vec<u8>,
    pub total_bytes: u64,
}

impl Captured {
    pub fn truncated(&self) -> bool {
        self.total_bytes > self.tail.len() as u64
    }
}

#[derive(Debug, Default)]
pub struct ProcessOutcome {
    pub exit_code: Option<i32>,
    /// Signal name when the process was killed by one, e.g. `SIGKILL`.
    pub signal: Option<String>,
    pub timed_out: bool,
    pub cancelled: bool,
    /// The program could not be started (not found, not executable, …).
    pub spawn_error: Option<std::io::Error>,
    pub stdout: Captured,
    pub stderr: Captured,
    pub duration: Duration,
    /// A descendant left the process group and kept the output pipes open; output after the
    /// process ended may be missing.
    pub output_incomplete: bool,
}

impl ProcessOutcome {
    pub fn succeeded(&self) -> bool {
        self.spawn_error.is_none() && !self.timed_out && !self.cancelled && self.exit_code == Some(0)
    }
}

pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        _ => return format!("signal {sig}"),
    };
    name.to_owned()
}

fn kill_group(pgid: i32, sig: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
    unsafe {
        libc::kill(-pgid, sig);
    }
}

fn reader(
    mut source: impl Read + Send + 'static,
    limit: usize,
    stream: Option<(super::secrets::Redactor, mpsc::Sender<Vec<u8>>)>,
    done: mpsc::Sender<(bool, Captured)>,
    is_stdout: bool,
) {
    std::thread::spawn(move || {
        let mut captured = Captured::default();
        let mut buf = [0u8; 16 * 1024];
        // Streamed output is redacted a whole line at a time, so no secret is split across writes.
        let mut pending: Vec<u8> = Vec::new();
        loop {
            match source.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    captured.total_bytes += n as u64;
                    captured.tail.extend_from_slice(&buf[..n]);
                    if captured.tail.len() > limit * 2 {
                        let drop = captured.tail.len() - limit;
                        captured.tail.drain(..drop);
                    }
                    if let Some((redactor, lines)) = &stream {
                        pending.extend_from_slice(&buf[..n]);
                        if let Some(end) = pending.iter().rposition(|&b| b == b'\n') {
                            let line: Vec<u8> = pending.drain(..=end).collect();
                            let _ = lines.send(redactor.redact_bytes(&line));
                        }
                    }
                }
            }
        }
        if let Some((redactor, lines)) = &stream
            && !pending.is_empty()
        {
            let _ = lines.send(redactor.redact_bytes(&pending));
        }
        if captured.tail.len() > limit {
            let drop = captured.tail.len() - limit;
            captured.tail.drain(..drop);
        }
        let _ = done.send((is_stdout, captured));
    });
}

/// Run `spec` to completion, timeout or interruption (`interrupt` becoming true). With
/// `spec.stream`, `on_output` gets the output as it arrives, on this thread.
pub fn run(spec: &ProcessSpec, interrupt: &AtomicBool, on_output: &mut dyn FnMut(&[u8])) -> ProcessOutcome {
    let started = Instant::now();
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for var in GIT_LOCATION_VARS {
        cmd.env_remove(var);
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            return ProcessOutcome {
                spawn_error: Some(e),
                duration: started.elapsed(),
                ..ProcessOutcome::default()
            };
        }
    };
    let pgid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    let (line_tx, line_rx) = mpsc::channel::<Vec<u8>>();
    let stream = |spec: &ProcessSpec| spec.stream.clone().map(|r| (r, line_tx.clone()));
    if let Some(stdout) = child.stdout.take() {
        reader(stdout, spec.capture_limit, stream(spec), tx.clone(), true);
    }
    if let Some(stderr) = child.stderr.take() {
        reader(stderr, spec.capture_limit, stream(spec), tx, false);
    }
    drop(line_tx);

    let mut outcome = ProcessOutcome::default();
    let deadline = started + spec.timeout;
    let mut term_sent: Option<Instant> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(_) => break None,
        }
        let now = Instant::now();
        if term_sent.is_none() {
            if interrupt.load(Ordering::Relaxed) {
                outcome.cancelled = true;
            } else if now >= deadline {
                outcome.timed_out = true;
            }
            if outcome.cancelled || outcome.timed_out {
                kill_group(pgid, libc::SIGTERM);
                term_sent = Some(now);
            }
        } else if term_sent.is_some_and(|t| now.duration_since(t) >= TERM_GRACE) {
            kill_group(pgid, libc::SIGKILL);
        }
        while let Ok(line) = line_rx.try_recv() {
            on_output(&line);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Whatever the leader did, nothing it started may outlive the run.
    kill_group(pgid, libc::SIGKILL);
    if let Some(status) = status {
        outcome.exit_code = status.code();
        outcome.signal = status.signal().map(signal_name);
    }
    let wait_until = Instant::now() + Duration::from_secs(2);
    let mut got = 0;
    while got < 2 {
        let left = wait_until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((true, c)) => {
                outcome.stdout = c;
                got += 1;
            }
            Ok((false, c)) => {
                outcome.stderr = c;
                got += 1;
            }
            Err(_) => {
                outcome.output_incomplete = true;
                break;
            }
        }
    }
    while let Ok(line) = line_rx.try_recv() {
        on_output(&line);
    }
    outcome.duration = started.elapsed();
    outcome
}
