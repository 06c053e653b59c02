//! `git oc worker` at scale on one machine: a remote served by `git daemon` on 127.0.0.1, a board
//! of tasks whose fake agent takes a fixed time, and 1, 2, 4 and 8 worker processes, each on its
//! own clone. Reports throughput, scaling efficiency (throughput at N workers over N times the
//! throughput of one), claim latency and git round trips (fetches and pushes) per task, as the
//! workers count them (polls of an idle board left out), and the whole machine's CPU time per task
//! and share of the cores busy (from `/proc/stat`: whether the run was bound by the CPU or by
//! waiting). Each configuration runs `repeats` times; medians and min–max are shown.
//!
//! `cargo bench --bench workers` runs the full set: the scale test's board of 200 tasks of 500 ms
//! done by 1, 2, 4 and 8 workers (`-- --per-worker 25`: 25 tasks per worker instead, a board that
//! grows with the workers); `-- --smoke` runs 1 and 2 workers once on a few 50 ms tasks, so that
//! CI keeps it working. The one thing checked is that
//! every task ended Done: a run the policy blocked never ran its agent and would measure nothing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::scrub;

const BIN: &str = env!("CARGO_BIN_EXE_git-oc");

fn run(home: &Path, dir: &Path, program: &str, args: &[&str]) -> String {
    let out = scrub(&mut Command::new(program), home)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `git-daemon` program itself. `git daemon` starts it as a child process, which killing
/// `git` leaves running: holding its port, and the output pipes of whatever started it.
fn git_daemon_program() -> PathBuf {
    let out = Command::new("git")
        .arg("--exec-path")
        .output()
        .expect("git --exec-path");
    assert!(out.status.success(), "git --exec-path failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("git-daemon")
}

struct Daemon(Child, String);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn daemon(home: &Path, base: &Path) -> Daemon {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = scrub(&mut Command::new(git_daemon_program()), home)
            .args([
                "--reuseaddr",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
                "--export-all",
                "--enable=receive-pack",
                "--max-connections=64",
            ])
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon");
        let url = format!("git://127.0.0.1:{port}/remote.git");
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            let ok = scrub(&mut Command::new("git"), home)
                .args(["ls-remote", &url])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Daemon(child, url);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// What one configuration measured.
struct Sample {
    wall: Duration,
    claim_ms: Vec<f64>,
    round_trips: f64,
    /// The whole machine's busy CPU time meanwhile (remote, workers, agents), where it can be read.
    busy: Option<Duration>,
}

/// The whole machine's busy CPU time since boot: every state in `/proc/stat` but idle and iowait
/// (guest time is counted in user time already). `None` where there is no `/proc/stat`.
fn busy_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    let guest: u64 = ticks.get(8..).map_or(0, |g| g.iter().sum());
    let busy = ticks.iter().sum::<u64>() - ticks.get(3)? - ticks.get(4)? - guest;
    // SAFETY: sysconf only reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| Duration::from_secs_f64(busy as f64 / hz as f64))
}

/// How many tasks the board holds at each number of workers.
#[derive(Clone, Copy)]
enum Board {
    /// The same board at every size.
    Same(usize),
    /// So many tasks per worker.
    PerWorker(usize),
}

/// How the remote stores what is pushed to it.
#[derive(Clone, Copy)]
enum RemoteKind {
    /// `git init --bare` as it comes: a push of fewer than 100 objects (`receive.unpackLimit`)
    /// is unpacked into loose objects, until `gc --auto` packs them at 6,700.
    Plain,
    /// Every push kept as the pack it arrived in (`receive.unpackLimit = 1`), git's auto
    /// maintenance merging them beyond 50 packs: a remote whose objects stay packed.
    Packed,
}

impl RemoteKind {
    fn label(self) -> &'static str {
        match self {
            RemoteKind::Plain => "plain `git init --bare`",
            RemoteKind::Packed => "pushes kept packed",
        }
    }
}

/// A fresh remote with `tasks` Ready tasks, and `workers` workers until the board is done.
fn one(root: &Path, home: &Path, remote: RemoteKind, tasks: usize, workers: usize, task_ms: u64) -> Sample {
    let dir = tempfile::Builder::new().prefix("workers-").tempdir_in(root).unwrap();
    let dir = dir.path();
    let origin = dir.join("origin");
    std::fs::create_dir_all(origin.join(".oc")).unwrap();
    run(home, &origin, "git", &["init", "-q", "-b", "main"]);
    std::fs::write(origin.join("README.md"), "# bench\n").unwrap();
    let ms = task_ms.to_string();
    std::fs::write(
        origin.join(".oc/config.toml"),
        format!(
            "[run]\nbackend = \"command\"\nrepo_key = \"bench\"\n[backends.command]\nargv = [\"fake-agent\", \"work\", \"{ms}\", \"{ms}\"]\n\
             [[policy.repo_policies]]\nrepo_key = \"bench\"\nreplace_defaults = true\n"
        ),
    )
    .unwrap();
    run(home, &origin, "git", &["add", "-A"]);
    run(home, &origin, "git", &["commit", "-q", "-m", "init"]);
    run(home, dir, "git", &["clone", "-q", "--bare", "origin", "remote.git"]);
    if let RemoteKind::Packed = remote {
        run(
            home,
            &dir.join("remote.git"),
            "git",
            &["config", "receive.unpackLimit", "1"],
        );
    }
    let seed = dir.join("seed");
    run(home, dir, "git", &["clone", "-q", "remote.git", "seed"]);
    for i in 0..tasks {
        run(
            home,
            &seed,
            BIN,
            &[
                "task",
                "add",
                &format!("Task {i}"),
                "--state",
                "ready",
                "--repo",
                "bench",
                "-m",
                &format!("## Goal\nDo thing {i}.\n"),
            ],
        );
    }
    run(home, &seed, BIN, &["push", "origin"]);
    let d = daemon(home, dir);
    let clones: Vec<PathBuf> = (0..workers)
        .map(|w| {
            let c = dir.join(format!("w{w}"));
            run(home, dir, "git", &["clone", "-q", &d.1, c.to_str().unwrap()]);
            c
        })
        .collect();
    // Each worker says `published <task>: <state>` on stderr (`-v`) as it publishes: the board is
    // done at the last one, read as it happens (no polling of the remote beside the workers).
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, String)>();
    let start = Instant::now();
    let busy_before = busy_cpu();
    let mut children: Vec<Child> = clones
        .iter()
        .enumerate()
        .map(|(w, c)| {
            scrub(&mut Command::new(BIN), home)
                .current_dir(c)
                .args([
                    "-v",
                    "--json",
                    "worker",
                    "--remote",
                    "origin",
                    "--name",
                    &format!("w{w}"),
                    "--idle-exit",
                    "0.5",
                    "--lease",
                    "30s",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("git oc worker")
        })
        .collect();
    for child in &mut children {
        let stderr = child.stderr.take().unwrap();
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("published ") {
                    let state = rest.split_once(": ").map_or("", |(_, s)| s);
                    let _ = tx.send((Instant::now(), state.split(' ').next().unwrap_or("").to_owned()));
                }
            }
        });
    }
    drop(tx);
    // The board is done at the last publication; the workers' idle tail after it is not work.
    let mut last = start;
    for _ in 0..tasks {
        let (at, state) = rx.recv().expect("a worker stopped before the board was done");
        // A run the policy blocked never ran the agent: its time says nothing about workers.
        assert_eq!(state, "Done", "a benchmark task ended {state}, not Done");
        last = at;
    }
    let wall = last - start;
    let busy = busy_cpu()
        .zip(busy_before)
        .map(|(after, before)| after.saturating_sub(before));
    let mut claim_ms = Vec::new();
    let (mut trips, mut published) = (0.0, 0.0);
    for child in children {
        let out = child.wait_with_output().unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        for t in report["tasks"].as_array().into_iter().flatten() {
            claim_ms.push(t["claim_ms"].as_f64().unwrap_or(0.0));
            if !t["state"].is_null() {
                published += 1.0;
            }
        }
        // Polls of an idle board are not part of any task.
        trips += (report["fetches"].as_u64().unwrap_or(0) + report["pushes"].as_u64().unwrap_or(0)
            - report["idle_fetches"].as_u64().unwrap_or(0)) as f64;
    }
    Sample {
        wall,
        claim_ms,
        round_trips: if published > 0.0 { trips / published } else { 0.0 },
        busy,
    }
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn range(v: &[f64]) -> (f64, f64) {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    // `--per-worker N`: a board of N tasks per worker (the board grows with the workers) instead
    // of the same board at every size.
    let per_worker: Option<usize> = args
        .iter()
        .position(|a| a == "--per-worker")
        .and_then(|i| args.get(i + 1)?.parse().ok());
    let (counts, board, task_ms, repeats): (&[usize], Board, u64, usize) = if smoke {
        (&[1, 2], Board::PerWorker(2), 50, 1)
    } else {
        // The scale test's board, 200 tasks, done by 1, 2, 4 and 8 workers: efficiency compares
        // the same work done by more workers.
        let board = per_worker.map_or(Board::Same(200), Board::PerWorker);
        (&[1, 2, 4, 8], board, 500, 3)
    };
    // GIT_OC_BENCH_REPEATS overrides the repeats (fewer on a busy machine).
    let repeats = std::env::var("GIT_OC_BENCH_REPEATS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(repeats);
    // On tmpfs where there is one (GIT_OC_BENCH_DIR chooses): on this machine kind's disk, after
    // a few runs' deletions, ext4's inode allocator takes half of all CPU (benches/workers_cpu.py),
    // which measures the disk's history rather than the workers.
    let root = std::env::var_os("GIT_OC_BENCH_DIR")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/dev/shm")).filter(|d| d.is_dir()))
        .unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new()
        .prefix("git-oc-bench-")
        .tempdir_in(&root)
        .unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    println!(
        "| remote | workers | tasks | throughput (tasks/s) | efficiency | claim latency (ms) | round trips per task | CPU per task (ms) | cores busy |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for remote in [RemoteKind::Plain, RemoteKind::Packed] {
        rows(tmp.path(), &home, remote, counts, board, task_ms, repeats);
    }
    println!(
        "\n{task_ms} ms tasks (fake agent); {repeats} repeat(s) per row; medians with min–max; under {}.",
        root.display()
    );
}

fn rows(root: &Path, home: &Path, remote: RemoteKind, counts: &[usize], board: Board, task_ms: u64, repeats: usize) {
    let mut base = None;
    for &n in counts {
        let tasks = match board {
            Board::Same(tasks) => tasks,
            Board::PerWorker(each) => n * each,
        };
        let samples: Vec<Sample> = (0..repeats)
            .map(|_| one(root, home, remote, tasks, n, task_ms))
            .collect();
        let thr: Vec<f64> = samples.iter().map(|s| tasks as f64 / s.wall.as_secs_f64()).collect();
        let t = median_f(thr.clone());
        let base_t = *base.get_or_insert(t);
        let (tmin, tmax) = range(&thr);
        let claims: Vec<f64> = samples.iter().flat_map(|s| s.claim_ms.clone()).collect();
        let (cmin, cmax) = range(&claims);
        let trips: Vec<f64> = samples.iter().map(|s| s.round_trips).collect();
        let (rmin, rmax) = range(&trips);
        // CPU per task and the share of the cores busy: a run that keeps every core busy is
        // bound by this machine's CPU, one that does not by waiting (the agent, the network).
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get()) as f64;
        let cpu_ms: Vec<f64> = samples
            .iter()
            .filter_map(|s| s.busy)
            .map(|b| b.as_secs_f64() * 1000.0 / tasks as f64)
            .collect();
        let busy: Vec<f64> = samples
            .iter()
            .filter_map(|s| Some(s.busy?.as_secs_f64() / s.wall.as_secs_f64() / cores))
            .collect();
        let cpu = if cpu_ms.is_empty() {
            "n/a".to_owned()
        } else {
            let (lo, hi) = range(&cpu_ms);
            format!("{:.0} (min–max {lo:.0}–{hi:.0})", median_f(cpu_ms.clone()))
        };
        let util = if busy.is_empty() {
            "n/a".to_owned()
        } else {
            format!("{:.0} %", median_f(busy) * 100.0)
        };
        println!(
            "| {} | {n} | {tasks} | {t:.2} (min–max {tmin:.2}–{tmax:.2}) | {:.2} | {:.0} (min–max {cmin:.0}–{cmax:.0}) | {:.2} (min–max {rmin:.2}–{rmax:.2}) | {cpu} | {util} |",
            remote.label(),
            t / (n as f64 * base_t),
            median_f(claims.clone()),
            median_f(trips.clone()),
        );
    }
}
