//! Running an agent or a validation command: no shell unless asked, its own process group (so a
//! timeout or Ctrl-C takes its children too), under a supervisor that makes it die with git-oc
//! and collects what it leaves behind, stdout and stderr captured with a size bound that keeps
//! the tail, optionally streamed live to our stderr.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
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

/// The hidden first argument with which git-oc re-executes itself as an agent's supervisor.
pub const SUPERVISOR_ARG: &str = "__oc-supervise";

/// The supervisor of the process running now (its pid), for the signal handler; 0 when none.
static SUPERVISOR: AtomicI32 = AtomicI32::new(0);
/// The process group of a process run without a supervisor; 0 when none.
static DIRECT_GROUP: AtomicI32 = AtomicI32::new(0);
/// Set by a second Ctrl-C: stop the running process now, without a grace period.
static KILL_NOW: AtomicBool = AtomicBool::new(false);
/// Termination signals received so far.
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

/// Install git-oc's handler for SIGINT, SIGTERM, SIGHUP and SIGQUIT.
///
/// The first signal sets gix's interrupt flag, which the run loop watches: the agent gets SIGTERM
/// and a grace period, and the evidence is recorded before git-oc exits with 130. The second
/// kills the agent and everything it started at once, and git-oc still records the evidence.
/// The third ends git-oc without recording (the agent dies with it: see [`run`]).
pub fn install_interrupt_handler() -> Option<gix::interrupt::Deregister> {
    // SAFETY: the callback only touches atomics and calls kill(2), both async-signal-safe.
    unsafe { gix::interrupt::init_handler(2, on_signal) }.ok()
}

fn on_signal() {
    if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
        KILL_NOW.store(true, Ordering::SeqCst);
        let supervisor = SUPERVISOR.load(Ordering::SeqCst);
        let group = DIRECT_GROUP.load(Ordering::SeqCst);
        // SAFETY: kill(2) only sends a signal.
        unsafe {
            if supervisor > 0 {
                libc::kill(supervisor, libc::SIGUSR1);
            } else if group > 0 {
                libc::kill(-group, libc::SIGKILL);
            }
        }
    }
}

/// Runs in flight that need this process to be the subreaper of its descendants.
static SUBREAPING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// While held, this process is the subreaper of its descendants: a process that leaves the
/// agent's process group and whose parent exits is re-parented to git-oc instead of init, so it
/// can be found and killed when the run ends. Only while a run lasts: a long-lived worker that
/// stayed a subreaper would inherit every orphan of its git commands (`git maintenance --detach`)
/// and keep them as zombies.
struct Subreaper;

impl Subreaper {
    fn acquire() -> Subreaper {
        if SUBREAPING.fetch_add(1, Ordering::SeqCst) == 0 {
            // SAFETY: prctl(2) with PR_SET_CHILD_SUBREAPER only changes a process attribute.
            unsafe {
                libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
            }
        }
        Subreaper
    }
}

impl Drop for Subreaper {
    fn drop(&mut self) {
        if SUBREAPING.fetch_sub(1, Ordering::SeqCst) == 1 {
            // SAFETY: as above.
            unsafe {
                libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
            }
        }
    }
}

/// This process's children (zombies included), from `/proc/self/task/*/children`: a few small
/// files, where scanning every process of the machine read a thousand on a busy one. Empty when
/// the `/proc` mounted here belongs to another PID namespace (its numbers would name other
/// processes).
fn own_children() -> Vec<i32> {
    // SAFETY: getpid(2) cannot fail.
    let me = unsafe { libc::getpid() };
    let own_proc = std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str().and_then(|p| p.parse::<i32>().ok()))
        == Some(me);
    if !own_proc {
        return Vec::new();
    }
    let Ok(threads) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for thread in threads.flatten() {
        match std::fs::read_to_string(thread.path().join("children")) {
            Ok(list) => out.extend(list.split_whitespace().filter_map(|p| p.parse::<i32>().ok())),
            // A kernel without CONFIG_PROC_CHILDREN: the slow way.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && thread.path().exists() => {
                return children_by_scan(me);
            }
            // The thread ended meanwhile.
            Err(_) => {}
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The pids whose parent is `parent`, by reading every `/proc/<pid>/stat`.
fn children_by_scan(parent: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let ppid = stat
            .rfind(')')
            .and_then(|end| stat[end + 1..].split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}

/// Whether the child `pid` has exited, without reaping it: while it is a zombie its pid (and the
/// number of its process group) cannot be reused, so the group can still be signalled safely.
fn has_exited(pid: i32) -> bool {
    // SAFETY: waitid(2) with WNOWAIT writes only into `info`, which we own.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        r == 0 && info.si_pid() != 0
    }
}

/// SIGKILL every descendant of this process except `keep` and reap them, until none is left or
/// `deadline` passes. Descendants whose parent dies are re-parented to us (we are a subreaper),
/// so killing the children round after round reaches the whole tree.
fn kill_descendants(keep: &[i32], deadline: Instant) {
    loop {
        let children: Vec<i32> = own_children().into_iter().filter(|p| !keep.contains(p)).collect();
        if children.is_empty() {
            return;
        }
        for &pid in &children {
            // SAFETY: `pid` is our unreaped child, so the number names that process.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        for &pid in &children {
            let mut status = 0;
            // SAFETY: reaping our own child; `status` is ours.
            unsafe {
                libc::waitpid(pid, &mut status, libc::WNOHANG);
            }
        }
        if Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Run `spec` to completion, timeout or interruption (`interrupt` becoming true). With
/// `spec.stream`, `on_output` gets the output as it arrives, on this thread.
///
/// The program runs under a supervisor: git-oc itself re-executed ([`SUPERVISOR_ARG`]), with
/// the parent-death signal set, as a subreaper, in its own process group. The supervisor starts
/// the program in a process group of its own, and once the program exits it kills whatever the
/// program left behind (a `setsid` grandchild included) before it exits itself; if git-oc dies
/// (SIGKILL, OOM), it kills the whole tree at once. It also holds the run's in-flight lock, so a
/// run counts as alive while anything of it runs. Where the supervisor cannot be started, the
/// program runs directly with a parent-death signal and git-oc collects what escapes its group.
///
/// The parent-death signal fires when the *thread* that forked exits: this function forks and
/// does not return before the process has been reaped, so that thread outlives it.
#[tracing::instrument(level = "debug", skip_all, fields(program = ?spec.program, cwd = %spec.cwd.display()))]
pub fn run(spec: &ProcessSpec, interrupt: &AtomicBool, on_output: &mut dyn FnMut(&[u8])) -> ProcessOutcome {
    let started = Instant::now();
    let _subreaper = Subreaper::acquire();
    let children_before = own_children();
    let spawned = if std::path::Path::new("/proc/self/exe").exists() {
        spawn_supervised(spec)
    } else {
        spawn_direct(spec).map(|c| (c, None))
    };
    let (mut child, supervisor_status) = match spawned {
        Ok(spawned) => spawned,
        Err(e) => {
            return ProcessOutcome {
                spawn_error: Some(e),
                duration: started.elapsed(),
                ..ProcessOutcome::default()
            };
        }
    };
    let pid = child.id() as i32;
    let supervised = supervisor_status.is_some();
    let mut outcome = ProcessOutcome::default();
    if let Some(Err(e)) = supervisor_status {
        // The supervisor could not start the program; it exits right away.
        let _ = child.wait();
        outcome.spawn_error = Some(e);
        outcome.duration = started.elapsed();
        return outcome;
    }
    if supervised {
        SUPERVISOR.store(pid, Ordering::SeqCst);
    } else {
        DIRECT_GROUP.store(pid, Ordering::SeqCst);
    }
    // Stop: SIGTERM to the program's group (the supervisor forwards it), then after the grace
    // period SIGKILL to everything (the supervisor does it on SIGUSR1).
    let stop = |hard: bool| {
        // SAFETY: `pid` is our unreaped child (checked with WNOWAIT before each call).
        unsafe {
            match (supervised, hard) {
                (true, false) => libc::kill(pid, libc::SIGTERM),
                (true, true) => libc::kill(pid, libc::SIGUSR1),
                (false, false) => libc::kill(-pid, libc::SIGTERM),
                (false, true) => libc::kill(-pid, libc::SIGKILL),
            };
        }
    };
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

    let deadline = started + spec.timeout;
    let mut term_sent: Option<Instant> = None;
    let mut kill_sent: Option<Instant> = None;
    while !has_exited(pid) {
        let now = Instant::now();
        if term_sent.is_none() {
            if interrupt.load(Ordering::Relaxed) {
                outcome.cancelled = true;
            } else if now >= deadline {
                outcome.timed_out = true;
            }
            if outcome.cancelled || outcome.timed_out {
                stop(false);
                term_sent = Some(now);
            }
        }
        let grace_over = term_sent.is_some_and(|t| now.duration_since(t) >= TERM_GRACE);
        if kill_sent.is_none() && (grace_over || KILL_NOW.load(Ordering::SeqCst)) {
            outcome.cancelled |= KILL_NOW.load(Ordering::SeqCst);
            stop(true);
            kill_sent = Some(now);
        } else if supervised && kill_sent.is_some_and(|t| now.duration_since(t) >= TERM_GRACE) {
            // A supervisor that does not finish after SIGUSR1 is killed with its group.
            // SAFETY: as above.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        while let Ok(line) = line_rx.try_recv() {
            on_output(&line);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if !supervised {
        // Whatever the leader did, nothing it started in its group may outlive it.
        // SAFETY: the leader is an unreaped zombie, so the group number is still its own.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let status = child.wait().ok();
    SUPERVISOR.store(0, Ordering::SeqCst);
    DIRECT_GROUP.store(0, Ordering::SeqCst);
    // Anything that escaped the supervisor (or the group, without one) and was re-parented to
    // us: nothing may write into the worktree after this returns. A supervisor that exited by
    // itself killed everything it adopted first, so then nothing of the run can have reached us,
    // and our other threads' own commands (a worker's lease renewal) are left alone.
    let supervisor_cleaned_up = supervised && status.is_some_and(|s| s.code().is_some());
    if !supervisor_cleaned_up {
        kill_descendants(&children_before, Instant::now() + TERM_GRACE);
    }
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

/// The environment and working directory a process gets, with or without a supervisor.
fn base_command(program: impl AsRef<std::ffi::OsStr>, spec: &ProcessSpec) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(&spec.cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for var in GIT_LOCATION_VARS {
        cmd.env_remove(var);
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    cmd
}

/// Start the program directly, with SIGKILL as its parent-death signal.
fn spawn_direct(spec: &ProcessSpec) -> std::io::Result<std::process::Child> {
    let mut cmd = base_command(&spec.program, spec);
    cmd.args(&spec.args).stdin(Stdio::null());
    // SAFETY: getpid(2) cannot fail.
    let parent = unsafe { libc::getpid() };
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            // git-oc died before the signal was armed.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    cmd.spawn()
}

type Supervised = (std::process::Child, Option<std::io::Result<()>>);

/// Start the supervisor and learn from it whether the program started. The supervisor's
/// standard input is the write end of a pipe on which it reports `ok <pid>` or `err <errno>`.
fn spawn_supervised(spec: &ProcessSpec) -> std::io::Result<Supervised> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) writes two descriptors into `fds`, which we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return spawn_direct(spec).map(|c| (c, None));
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: getpid(2) cannot fail.
    let parent = unsafe { libc::getpid() };
    let lock = super::inflight::lock_fd();
    let mut cmd = base_command("/proc/self/exe", spec);
    cmd.arg(SUPERVISOR_ARG)
        .arg(parent.to_string())
        .arg(lock.map_or_else(|| "-".to_owned(), |fd| fd.to_string()))
        .arg("--")
        .arg(&spec.program)
        .args(&spec.args)
        .stdin(Stdio::from(write_end));
    // SAFETY: only async-signal-safe calls (prctl, getppid, fcntl, _exit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGUSR2, 0, 0, 0);
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            // The supervisor keeps the run's in-flight lock until everything it started is gone.
            if let Some(fd) = lock {
                libc::fcntl(fd, libc::F_SETFD, 0);
            }
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(child) => child,
        // No supervisor (an unusual /proc): run the program directly.
        Err(_) => {
            drop(cmd);
            return spawn_direct(spec).map(|c| (c, None));
        }
    };
    // Close our copy of the write end, or the read below never sees the end of the report.
    drop(cmd);
    let mut report = String::new();
    let _ = std::fs::File::from(read_end).read_to_string(&mut report);
    let status = match report.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["ok", _pid] => Ok(()),
        ["err", errno] => Err(match errno.parse::<i32>() {
            Ok(n) if n > 0 => std::io::Error::from_raw_os_error(n),
            _ => std::io::Error::other("the program could not be started"),
        }),
        _ => Err(std::io::Error::other(
            "the agent supervisor failed to start the program",
        )),
    };
    Ok((child, Some(status)))
}

/// The supervisor's `main`: `args` are `<parent pid> <lock fd or -> -- <program> <args…>`.
/// Returns the exit code; when the program was killed by a signal, dies by the same signal.
pub fn supervise(args: &[std::ffi::OsString]) -> i32 {
    let text = |i: usize| args.get(i).and_then(|a| a.to_str());
    let (Some(parent), Some(lock), Some("--"), Some(program)) = (
        text(0).and_then(|p| p.parse::<i32>().ok()),
        text(1),
        text(2),
        args.get(3),
    ) else {
        eprintln!("git-oc: {SUPERVISOR_ARG} is internal to git-oc");
        return 2;
    };
    let report = |line: String| {
        // SAFETY: writing our own buffer to fd 0, the report pipe; then pointing fd 0 at
        // /dev/null so that the pipe closes and git-oc's read ends.
        unsafe {
            libc::write(0, line.as_ptr().cast(), line.len());
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if null >= 0 {
                libc::dup2(null, 0);
                libc::close(null);
            } else {
                libc::close(0);
            }
        }
    };
    // SAFETY: plain calls on our own signal mask and process attributes.
    let signals = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGCHLD,
            libc::SIGUSR1,
            libc::SIGUSR2,
        ] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        if let Ok(fd) = lock.parse::<i32>() {
            // Held by us alone: the program must not inherit it.
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        set
    };
    // SAFETY: getppid(2) cannot fail.
    let parent_gone = || unsafe { libc::getppid() } != parent;
    if parent_gone() {
        report("err 0\n".into());
        return 1;
    }
    // The standard library resets the signal mask in the child before exec.
    let child = Command::new(program)
        .args(&args[4..])
        .stdin(Stdio::null())
        .process_group(0)
        .spawn();
    let agent = match child {
        Ok(child) => child.id() as i32,
        Err(e) => {
            report(format!("err {}\n", e.raw_os_error().unwrap_or(0)));
            return 127;
        }
    };
    report(format!("ok {agent}\n"));

    let kill_all = |deadline: Instant| {
        // SAFETY: the agent is unreaped (we only reap it below), so its group number is its own.
        unsafe {
            libc::kill(-agent, libc::SIGKILL);
        }
        // What it started outside its group (a `setsid` child) becomes ours only once it has
        // exited: until then our children may look like nothing but the agent.
        while !has_exited(agent) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        kill_descendants(&[agent], deadline);
    };
    let tick = libc::timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    loop {
        // SAFETY: waiting for one of our blocked signals; `info` is ours.
        let sig = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::sigtimedwait(&signals, &mut info, &tick)
        };
        if parent_gone() || sig == libc::SIGUSR2 {
            // git-oc is gone: nothing of the run may survive it. The loop ends as soon as nothing
            // is left; the long bound is for a machine so loaded that killing takes rounds.
            kill_all(Instant::now() + Duration::from_secs(30));
            break;
        }
        match sig {
            libc::SIGTERM | libc::SIGINT | libc::SIGHUP | libc::SIGQUIT => {
                // SAFETY: as in `kill_all`.
                unsafe {
                    libc::kill(-agent, sig);
                }
            }
            libc::SIGUSR1 => kill_all(Instant::now() + Duration::from_secs(5)),
            _ => {}
        }
        if has_exited(agent) {
            break;
        }
        // Reap what was re-parented to us and has ended, so no zombie piles up; the program
        // itself is left unreaped until its group has been dealt with.
        loop {
            // SAFETY: waitid(2) with WNOWAIT writes only into `info`; waitpid reaps our child.
            let ended = unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                let r = libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT);
                if r == 0 { info.si_pid() } else { 0 }
            };
            if ended == 0 || ended == agent {
                break;
            }
            let mut status = 0;
            // SAFETY: as above.
            unsafe {
                libc::waitpid(ended, &mut status, libc::WNOHANG);
            }
        }
    }
    // The program is done: whatever it left behind goes before the run looks at the worktree.
    kill_all(Instant::now() + Duration::from_secs(5));
    let mut status = 0;
    // SAFETY: reaping our own child.
    if unsafe { libc::waitpid(agent, &mut status, 0) } != agent {
        return 1;
    }
    if libc::WIFEXITED(status) {
        return libc::WEXITSTATUS(status);
    }
    let sig = libc::WTERMSIG(status);
    // Die the way the program died, so git-oc reports the same signal; no core file of ours.
    // SAFETY: plain calls on our own process attributes.
    unsafe {
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
    }
    128 + sig
}
