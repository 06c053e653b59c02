//! git-oc's benchmarks, side by side with the git CLI doing the same work.
//!
//! `cargo bench --bench harness` runs the full set and prints a Markdown table (the one in the
//! README); names after `--` pick measurements (`demo`, `in-process`, `runs`, `run`,
//! `diff-stat`, `completion`, `board`). `cargo bench --bench harness -- --smoke` runs every measurement once on small
//! inputs, so that CI keeps the harness working; it asserts nothing about time.
//!
//! Whole-process pairs are interleaved (A, B, A, B, …) after a warm-up, and medians are reported.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{fixtures_bin, scrub};

const BIN: &str = env!("CARGO_BIN_EXE_git-oc");

#[derive(Clone)]
struct Sizes {
    files_per_dir: usize,
    /// The larger repository `git oc run` is measured on too.
    many_files_per_dir: usize,
    dirs: usize,
    subdirs: usize,
    runs: usize,
    /// The larger count of runs `git oc runs` is measured on too.
    many_runs: usize,
    repeats: usize,
    inproc_iters: usize,
}

fn git(home: &Path, dir: &Path, args: &[&str]) -> String {
    let out = scrub(&mut Command::new("git"), home)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Run a process, returning its wall time and peak resident memory (KiB).
fn timed(cmd: &mut Command) -> (Duration, u64) {
    let start = Instant::now();
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
    let pid = child.id() as i32;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child; wait4 fills `usage` with its resource use.
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = start.elapsed();
    std::mem::forget(child);
    // A process that failed did not do the work being measured.
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed (wait status {status})"
    );
    (elapsed, usage.ru_maxrss as u64)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn median_u64(mut v: Vec<u64>) -> u64 {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A deterministic repository: `dirs` × `subdirs` × `files_per_dir` small text files.
fn generate_repo(home: &Path, dir: &Path, s: &Sizes) {
    std::fs::create_dir_all(dir).unwrap();
    git(home, dir, &["init", "-q", "-b", "main"]);
    let mut seed: u64 = 0x5eed;
    for d in 0..s.dirs {
        for sd in 0..s.subdirs {
            let path = dir.join(format!("d{d:02}/s{sd:02}"));
            std::fs::create_dir_all(&path).unwrap();
            for f in 0..s.files_per_dir {
                let mut text = String::new();
                for line in 0..20 {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    text.push_str(&format!("line {line} value {:016x}\n", seed >> 11));
                }
                std::fs::write(path.join(format!("f{f:03}.txt")), text).unwrap();
            }
        }
    }
    git(home, dir, &["add", "-A"]);
    git(home, dir, &["commit", "-q", "-m", "generated"]);
}

struct Row {
    what: String,
    git_oc: String,
    reference: String,
    ratio: String,
    target: String,
}
/// A shell script doing the git work of a demo with the git CLI, on the demo's own files
/// (artifact, evidence, messages and note copied from the demo run in `warm`).
fn demo_with_git_cli(home: &Path, root: &Path, warm: &Path) -> PathBuf {
    let data = root.join("demo-cli-data");
    std::fs::create_dir_all(data.join("evidence")).unwrap();
    let worktrees = warm.join(".git/oc/worktrees");
    let wt = std::fs::read_dir(&worktrees).unwrap().next().unwrap().unwrap().path();
    std::fs::copy(wt.join("artifacts/demo_result.txt"), data.join("artifact")).unwrap();
    let runs = wt.join(".operations_center/runs");
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    for file in std::fs::read_dir(&run).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), data.join("evidence").join(file.file_name())).unwrap();
    }
    let evidence_ref = git(home, warm, &["for-each-ref", "--format=%(refname)", "refs/oc/demo"]);
    let write = |name: &str, text: String| std::fs::write(data.join(name), text).unwrap();
    write(
        "evidence-message",
        git(home, warm, &["log", "-1", "--format=%B", &evidence_ref]),
    );
    let branch = git(home, warm, &["for-each-ref", "--format=%(refname)", "refs/heads/demo"]);
    write("run-message", git(home, warm, &["log", "-1", "--format=%B", &branch]));
    write("note", git(home, warm, &["notes", "--ref=oc-demo", "show", &branch]));
    let script = root.join("demo-with-git-cli.sh");
    let d = data.display();
    std::fs::write(
        &script,
        format!(
            r#"set -e
wt=.git/oc/worktrees/cli-demo
git worktree add -q -b demo/cli "$wt"
mkdir -p "$wt/artifacts"
cp {d}/artifact "$wt/artifacts/demo_result.txt"
git -C "$wt" add -A
git -C "$wt" commit -q -F {d}/run-message
commit=$(git -C "$wt" rev-parse HEAD)
ev="$wt/.operations_center/runs/cli"
mkdir -p "$ev"
cp {d}/evidence/* "$ev/"
GIT_INDEX_FILE="$PWD/.git/cli-evidence-index" git --work-tree="$ev" add -A
tree=$(GIT_INDEX_FILE="$PWD/.git/cli-evidence-index" git write-tree)
evidence=$(git commit-tree -p "$commit" -F {d}/evidence-message "$tree")
git update-ref refs/oc/demo/cli "$evidence"
git notes --ref=oc-demo add -F {d}/note "$commit"
"#
        ),
    )
    .unwrap();
    script
}

fn bench_demo(home: &Path, root: &Path, s: &Sizes, rows: &mut Vec<Row>) {
    // A fresh one-commit repository per run, as a new user would try it; written to disk and
    // synced before the clock starts, so that its own writeback does not slow the run down.
    let template = root.join("demo-template");
    std::fs::create_dir_all(&template).unwrap();
    git(home, &template, &["init", "-q", "-b", "main"]);
    std::fs::write(template.join("README.md"), "# demo\n").unwrap();
    git(home, &template, &["add", "-A"]);
    git(home, &template, &["commit", "-q", "-m", "init"]);
    let fresh = |i: usize| {
        let repo = root.join(format!("demo-{i}"));
        let status = Command::new("cp").arg("-r").arg(&template).arg(&repo).status().unwrap();
        assert!(status.success());
        let _ = Command::new("sync").status();
        repo
    };
    let run = |repo: &Path| timed(scrub(&mut Command::new(BIN), home).current_dir(repo).arg("demo"));
    let warm = fresh(0);
    run(&warm);
    let cli = demo_with_git_cli(home, root, &warm);
    let checked = scrub(&mut Command::new("sh"), home)
        .arg(&cli)
        .current_dir(fresh(9999))
        .status()
        .unwrap();
    assert!(checked.success(), "the git CLI demo script failed");
    let mut walls = Vec::new();
    let mut rss = Vec::new();
    let mut cli_walls = Vec::new();
    let mut cli_rss = Vec::new();
    for i in 1..=s.repeats.max(1) * 4 {
        let (w, m) = run(&fresh(i));
        walls.push(w);
        rss.push(m);
        let (w, m) = timed(
            scrub(&mut Command::new("sh"), home)
                .arg(&cli)
                .current_dir(fresh(1000 + i)),
        );
        cli_walls.push(w);
        cli_rss.push(m);
    }
    // The same repository again and again: each earlier run's worktree is still registered.
    let repeated = fresh(999);
    for _ in 0..20 {
        run(&repeated);
    }
    let after_20: Vec<Duration> = (0..5).map(|_| run(&repeated).0).collect();
    let wall = median(walls.clone());
    let mem = median_u64(rss);
    let cli_wall = median(cli_walls.clone());
    rows.push(Row {
        what: "`git oc demo`, whole process, wall time (fresh repository)".into(),
        git_oc: spread(walls.clone()),
        reference: "427 ms (Python original, reference-run.md)".into(),
        ratio: format!(
            "{:.3}× ({:.0}× faster)",
            wall.as_secs_f64() / 0.427,
            0.427 / wall.as_secs_f64()
        ),
        target: "≤ 0.025× (40× faster)".into(),
    });
    rows.push(Row {
        what: "`git oc demo` beside the git CLI doing its git work".into(),
        git_oc: spread(walls),
        reference: format!(
            "{} (`git worktree add -b`, write the artifact, `add -A`, `commit`, evidence files, `write-tree` on a temporary index, `commit-tree`, `update-ref`, `notes add`; peak {:.1} MiB)",
            spread(cli_walls),
            median_u64(cli_rss) as f64 / 1024.0
        ),
        ratio: format!("{:.2}×", wall.as_secs_f64() / cli_wall.as_secs_f64()),
        target: "≤ 1.0×".into(),
    });
    rows.push(Row {
        what: "`git oc demo`, wall time with 20 earlier demo worktrees kept".into(),
        git_oc: spread(after_20),
        reference: "".into(),
        ratio: "".into(),
        target: "".into(),
    });
    rows.push(Row {
        what: "`git oc demo`, peak memory".into(),
        git_oc: format!("{:.1} MiB", mem as f64 / 1024.0),
        reference: "41.1 MiB (Python original, reference-run.md)".into(),
        ratio: format!("{:.3}×", mem as f64 / 1024.0 / 41.1),
        target: "≤ 0.25× (4× less)".into(),
    });
}

/// One run of the git CLI doing what `git oc run` does for the same agent: its wall time and
/// the largest peak memory of its git processes (KiB).
fn git_cli_workflow(home: &Path, repo: &Path, wt: &Path, branch: &str) -> (Duration, u64) {
    let start = Instant::now();
    let git_step =
        |dir: &Path, args: &[&str]| timed(scrub(&mut Command::new("git"), home).current_dir(dir).args(args)).1;
    let mut peak = git_step(
        repo,
        &["worktree", "add", "-q", "-b", branch, wt.to_str().unwrap(), "HEAD"],
    );
    let out = scrub(&mut Command::new(fixtures_bin().join("fake-agent")), home)
        .current_dir(wt)
        .arg("bench-edit")
        .output()
        .unwrap();
    assert!(out.status.success());
    peak = peak.max(git_step(wt, &["add", "-A"]));
    peak = peak.max(git_step(wt, &["diff", "--cached", "--numstat", "HEAD"]));
    peak = peak.max(git_step(wt, &["commit", "-q", "-m", "bench change"]));
    (start.elapsed(), peak)
}

/// Two CPU-bound processes competing with the measurement, stopped when dropped.
struct Load(Vec<std::process::Child>);

impl Load {
    fn start() -> Load {
        Load(
            (0..2)
                .map(|_| Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap())
                .collect(),
        )
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn bench_run(home: &Path, root: &Path, s: &Sizes, rows: &mut Vec<Row>) {
    // The larger repository is packed, as a repository with history is.
    let many = Sizes {
        files_per_dir: s.many_files_per_dir,
        ..s.clone()
    };
    bench_run_on(home, &root.join("many-files"), &many, true, rows);
    bench_run_on(home, &root.join("many-files"), &many, false, rows);
    bench_run_on(home, root, s, false, rows);
}

fn bench_run_on(home: &Path, root: &Path, s: &Sizes, loaded: bool, rows: &mut Vec<Row>) {
    let repo = root.join("big-repo");
    if !repo.exists() {
        generate_repo(home, &repo, s);
        if s.files_per_dir == s.many_files_per_dir {
            git(home, &repo, &["repack", "-adq"]);
        }
    }
    let files = s.dirs * s.subdirs * s.files_per_dir;
    let load = loaded.then(Load::start);
    let (mut ours, mut theirs, mut our_rss, mut their_rss) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..=s.repeats {
        let tag = format!("{}{i}", if loaded { "loaded-" } else { "" });
        let git_oc_run = || {
            // Each side starts on a disk that has written back what the other side left
            // (a 100,000-file checkout leaves hundreds of megabytes to write).
            let _ = Command::new("sync").status();
            timed(scrub(&mut Command::new(BIN), home).current_dir(&repo).args([
                "run",
                "--goal",
                &format!("bench {tag}"),
                "--backend",
                "command",
                "--",
                "fake-agent",
                "bench-edit",
            ]))
        };
        let wt = root.join(format!("git-wt-{tag}"));
        let cli_run = || {
            let _ = Command::new("sync").status();
            git_cli_workflow(home, &repo, &wt, &format!("bench/{tag}"))
        };
        // Which goes first alternates, so that neither always follows the other's checkout.
        let ((oc, oc_rss), (cli, cli_rss)) = if i % 2 == 0 {
            let oc = git_oc_run();
            (oc, cli_run())
        } else {
            let cli = cli_run();
            (git_oc_run(), cli)
        };
        if i > 0 {
            ours.push(oc);
            theirs.push(cli);
            our_rss.push(oc_rss);
            their_rss.push(cli_rss);
        }
    }
    drop(load);
    let (o, t) = (median(ours.clone()), median(theirs.clone()));
    let condition = if loaded { ", beside two CPU-bound processes" } else { "" };
    rows.push(Row {
        what: format!("`git oc run` on {files} files, agent changes 100 (whole run{condition})"),
        git_oc: spread(ours),
        reference: format!(
            "{} (git worktree add -b, add -A, diff --numstat, commit)",
            spread(theirs)
        ),
        ratio: format!("{:.2}×", o.as_secs_f64() / t.as_secs_f64()),
        target: if loaded { "≤ 1.0×" } else { "≤ 0.7×" }.into(),
    });
    if loaded {
        return;
    }
    let (o, t) = (median_u64(our_rss), median_u64(their_rss));
    rows.push(Row {
        what: format!("`git oc run` on {files} files: peak memory"),
        git_oc: format!("{:.1} MiB", o as f64 / 1024.0),
        reference: format!("{:.1} MiB (largest git process of the chain)", t as f64 / 1024.0),
        ratio: format!("{:.2}×", o as f64 / t as f64),
        target: "≤ 1.0×".into(),
    });
    if s.files_per_dir == s.many_files_per_dir {
        return;
    }

    // The diff stat alone, on the change of the last git CLI run (left uncommitted again).
    let wt = root.join("stat-wt");
    git(
        home,
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "bench/stat",
            wt.to_str().unwrap(),
            "HEAD",
        ],
    );
    scrub(&mut Command::new(fixtures_bin().join("fake-agent")), home)
        .current_dir(&wt)
        .arg("bench-edit")
        .output()
        .unwrap();
    let open = || {
        let mut repo = gix::open(&wt).unwrap();
        git_oc::git::tune(&mut repo).unwrap();
        repo
    };
    let base_tree = {
        let r = open();
        r.head_tree_id_or_empty().unwrap().detach()
    };
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for i in 0..=s.repeats * 2 {
        let start = Instant::now();
        let r = open();
        // The agent staged nothing, as in a run: the same fast path.
        let tree = git_oc::git::snapshot::snapshot_tree(&r, true).unwrap();
        let stat = git_oc::git::diff::diff_trees(&r, Some(base_tree), tree).unwrap();
        let o = start.elapsed();
        let ours_count = stat.files.len();
        // git: the same staging without touching the worktree's index, then the numstat.
        let index = root.join("stat-index");
        let start = Instant::now();
        let git_index = git(home, &wt, &["rev-parse", "--git-path", "index"]);
        std::fs::copy(wt.join(&git_index), &index).unwrap();
        let out = scrub(&mut Command::new("git"), home)
            .current_dir(&wt)
            .env("GIT_INDEX_FILE", &index)
            .args(["add", "-A"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let out = scrub(&mut Command::new("git"), home)
            .current_dir(&wt)
            .env("GIT_INDEX_FILE", &index)
            .args(["diff", "--cached", "--numstat", "HEAD"])
            .output()
            .unwrap();
        let t = start.elapsed();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().count(),
            ours_count,
            "git and git-oc disagree"
        );
        if i > 0 {
            ours.push(o);
            theirs.push(t);
        }
    }
    let (o, t) = (median(ours), median(theirs));
    rows.push(Row {
        what: format!("diff stat alone ({files} files, 100 changed): snapshot + numstat"),
        git_oc: ms(o),
        reference: format!(
            "{} (`git add -A` on a temporary index + `git diff --cached --numstat`)",
            ms(t)
        ),
        ratio: format!("{:.2}×", o.as_secs_f64() / t.as_secs_f64()),
        target: "≤ 1.0×".into(),
    });
}

/// Diff statistics alone, on a commit with every kind of change (edits, renames with and
/// without edits, deletions, additions, binaries, a gitlink): `diff_trees` and the numstat
/// bytes, in process, against `git diff --numstat` on the same two commits.
fn bench_diff_stat(home: &Path, root: &Path, s: &Sizes, rows: &mut Vec<Row>) {
    let repo = root.join("diff-repo");
    generate_repo(home, &repo, s);
    let base = git(home, &repo, &["rev-parse", "HEAD"]);
    let files = s.dirs * s.subdirs * s.files_per_dir;
    // One change per 100 files of each kind (20,000 files: 200 edits, 200 renames, …).
    let per_kind = (files / 100).max(4);
    let path = |i: usize| {
        let f = i % s.files_per_dir;
        let sd = (i / s.files_per_dir) % s.subdirs;
        let d = i / (s.files_per_dir * s.subdirs);
        format!("d{d:02}/s{sd:02}/f{f:03}.txt")
    };
    let stride = files / (per_kind * 6);
    std::fs::create_dir_all(repo.join("moved")).unwrap();
    std::fs::create_dir_all(repo.join("assets")).unwrap();
    for k in 0..per_kind {
        let pick = |kind: usize| path((k * 6 + kind) * stride);
        let read = |p: &str| std::fs::read_to_string(repo.join(p)).unwrap();
        // An edit of two lines in twenty.
        let edited = |text: String| {
            text.lines()
                .enumerate()
                .map(|(i, l)| {
                    if i % 10 == 3 {
                        format!("{l} (edited)\n")
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect::<String>()
        };
        std::fs::write(repo.join(pick(0)), edited(read(&pick(0)))).unwrap();
        // Renamed with an edit, under a new name: scored in the similarity matrix.
        let text = edited(read(&pick(1)));
        std::fs::remove_file(repo.join(pick(1))).unwrap();
        std::fs::write(repo.join(format!("moved/r{k}-{}", pick(1).replace('/', "-"))), text).unwrap();
        // Renamed as it is.
        std::fs::rename(repo.join(pick(2)), repo.join(format!("moved/x{k}.txt"))).unwrap();
        std::fs::remove_file(repo.join(pick(3))).unwrap();
        std::fs::write(repo.join(format!("moved/new{k}.txt")), format!("new file {k}\n")).unwrap();
        let mut binary = vec![0u8; 512];
        binary[k % 512] = k as u8;
        std::fs::write(repo.join(format!("assets/b{k}.bin")), binary).unwrap();
    }
    git(home, &repo, &["add", "-A"]);
    git(
        home,
        &repo,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            "160000,1111111111111111111111111111111111111111,ext/sub",
        ],
    );
    git(home, &repo, &["commit", "-q", "-m", "every kind of change"]);
    let commit = git(home, &repo, &["rev-parse", "HEAD"]);
    let tree = |rev: &str| {
        gix::ObjectId::from_hex(git(home, &repo, &["rev-parse", &format!("{rev}^{{tree}}")]).as_bytes()).unwrap()
    };
    let (base_tree, new_tree) = (tree(&base), tree(&commit));
    let expected = scrub(&mut Command::new("git"), home)
        .current_dir(&repo)
        .args(["diff", "--numstat", &base, &commit])
        .output()
        .unwrap()
        .stdout;
    let changed = expected.iter().filter(|&&b| b == b'\n').count();
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut starts = Vec::new();
    for i in 0..=s.repeats * 4 {
        let start = Instant::now();
        let mut r = gix::open(&repo).unwrap();
        git_oc::git::tune(&mut r).unwrap();
        let stat = git_oc::git::diff::diff_trees(&r, Some(base_tree), new_tree).unwrap();
        let numstat = std::hint::black_box(stat.numstat());
        let o = start.elapsed();
        assert!(numstat == expected, "git-oc's numstat differs from git's");
        let t =
            timed(
                scrub(&mut Command::new("git"), home)
                    .current_dir(&repo)
                    .args(["diff", "--numstat", &base, &commit]),
            )
            .0;
        let start = timed(
            scrub(&mut Command::new("git"), home)
                .current_dir(&repo)
                .args(["--version"]),
        )
        .0;
        if i > 0 {
            ours.push(o);
            theirs.push(t);
            starts.push(start);
        }
    }
    let (o, t) = (median(ours), median(theirs));
    rows.push(Row {
        what: format!(
            "diff statistics alone ({files} files, {changed} changed: edits, renames with and without edits, binaries, a gitlink): open + `diff_trees` + numstat bytes, in process"
        ),
        git_oc: ms(o),
        reference: format!(
            "{} (`git diff --numstat`, whole process; `git --version` alone takes {})",
            ms(t),
            ms(median(starts))
        ),
        ratio: format!("{:.2}×", o.as_secs_f64() / t.as_secs_f64()),
        target: "≤ 1.0×".into(),
    });
}

/// A repository holding `runs` runs' evidence as git-oc writes it. Twenty runs are real
/// (`git oc run` with the `command` backend); the others repeat them through git-oc's own
/// evidence format: each a new run id, its message rendered by `EvidenceMessage`, a loose commit
/// object on the seed run's tree and parent, a loose ref under `refs/oc/runs/` (no reflog, as git
/// does outside heads, remotes and notes), as `write_evidence_ref` does. Only the evidence blobs
/// are shared with the seed runs.
fn real_evidence_repo(home: &Path, repo: &Path, runs: usize) {
    use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
    std::fs::create_dir_all(repo).unwrap();
    git(home, repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "x\n").unwrap();
    git(home, repo, &["add", "-A"]);
    git(home, repo, &["commit", "-q", "-m", "init"]);
    let seeds = runs.min(20);
    for k in 0..seeds {
        let status = scrub(&mut Command::new(BIN), home)
            .current_dir(repo)
            .args(["run", "--goal", &format!("Bench seed {k}: note the step in notes.txt")])
            .args([
                "--backend",
                "command",
                "--",
                "sh",
                "-c",
                &format!("echo step {k} >> notes.txt"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "git oc run failed while making seed runs");
    }
    let r = gix::open(repo).unwrap();
    let mut seed_runs = Vec::new();
    for reference in r.references().unwrap().prefixed("refs/oc/runs/").unwrap() {
        let mut reference = reference.unwrap();
        let commit = reference.peel_to_commit().unwrap();
        let message =
            git_oc::evidence::message::EvidenceMessage::parse(&commit.message_raw_sloppy().to_string()).unwrap();
        let parent = commit.parent_ids().next().map(|p| p.detach());
        seed_runs.push((commit.tree_id().unwrap().detach(), parent, message));
    }
    assert_eq!(seed_runs.len(), seeds);
    let mut state: u64 = 0x0c0f_fee5;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 16
    };
    for i in seeds..runs {
        let (tree, parent, seed) = &seed_runs[i % seeds];
        let id = format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            next() & 0xffff_ffff,
            next() & 0xffff,
            next() & 0xfff,
            next() & 0xfff,
            next() & 0xffff_ffff_ffff
        );
        let mut message = seed.clone();
        message.headline = message.headline.replace(&seed.run_id[..8], &id[..8]);
        message.goal = format!("Bench run {i}: note the step in notes.txt");
        message.run_id = id.clone();
        let commit = r.new_commit(message.render(), *tree, *parent).unwrap().id;
        r.edit_reference(RefEdit {
            change: Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: false,
                    message: format!("git-oc: record run {id}").into(),
                },
                expected: PreviousValue::MustNotExist,
                new: gix::refs::Target::Object(commit),
            },
            name: format!("refs/oc/runs/{id}").try_into().unwrap(),
            deref: false,
        })
        .unwrap();
    }
}

fn bench_runs_listing(home: &Path, root: &Path, s: &Sizes, rows: &mut Vec<Row>) {
    for runs in [s.runs, s.many_runs] {
        let repo = root.join(format!("runs-{runs}"));
        real_evidence_repo(home, &repo, runs);
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for i in 0..=s.repeats * 2 {
            let o = timed(scrub(&mut Command::new(BIN), home).current_dir(&repo).arg("runs")).0;
            let t = timed(scrub(&mut Command::new("git"), home).current_dir(&repo).args([
                "for-each-ref",
                "--format=%(contents)",
                "refs/oc/runs",
            ]))
            .0;
            if i > 0 {
                ours.push(o);
                theirs.push(t);
            }
        }
        let ratio = median(ours.clone()).as_secs_f64() / median(theirs.clone()).as_secs_f64();
        rows.push(Row {
            what: format!("`git oc runs` over {runs} runs recorded as git-oc records them (loose objects and refs)"),
            git_oc: spread(ours),
            reference: format!(
                "{} (`git for-each-ref --format='%(contents)' refs/oc/runs`)",
                spread(theirs)
            ),
            ratio: format!("{ratio:.2}×"),
            target: "≤ 1.0×".into(),
        });
    }
}

/// The median and the range of a set of timings.
fn spread(mut v: Vec<Duration>) -> String {
    v.sort();
    format!(
        "{} (min–max {}–{})",
        ms(v[v.len() / 2]),
        ms(v[0]).trim_end_matches(" ms"),
        ms(v[v.len() - 1])
    )
}

/// Planning, routing, policy, record, trace and serialisation of one run, in process.
fn bench_in_process(s: &Sizes, rows: &mut Vec<Row>) {
    use git_oc::contracts::{ExecutionResult, ExecutionStatus, ProposalDecisionBundle, to_evidence_json};
    let routing = git_oc::routing::rules::RoutingPolicy::builtin_default();
    let policy = git_oc::policy::PolicyEngine::from_defaults();
    let one = || {
        let mut ctx =
            git_oc::planning::PlanningContext::new("Fix the crash in parse() when the input is empty", "bug_fix");
        ctx.repo_key = "svc".into();
        ctx.clone_url = "https://example.com/svc.git".into();
        ctx.risk_level = "medium".into();
        let proposal = git_oc::planning::build_proposal(&ctx).unwrap();
        let decision = git_oc::routing::route_rules(&routing, &proposal).unwrap();
        let bundle = ProposalDecisionBundle::new(proposal, decision, "bench");
        let request = git_oc::execution::build_request(
            &bundle,
            "/tmp/ws",
            "oc/x",
            git_oc::contracts::new_id(),
            git_oc::contracts::Timestamp::now(),
        );
        let decision = policy.evaluate(&bundle.proposal, &bundle.decision, Some(&request));
        let result = ExecutionResult::new(&request, ExecutionStatus::Succeeded, true);
        let record = git_oc::observability::record(
            &result,
            "kodo",
            "claude_cli",
            Vec::new(),
            &decision.notes,
            Default::default(),
        );
        let trace = git_oc::observability::build_trace(&record);
        let mut bytes = 0;
        bytes += to_evidence_json(&bundle.proposal).len();
        bytes += to_evidence_json(&bundle.decision).len();
        bytes += to_evidence_json(&request).len();
        bytes += to_evidence_json(&result).len();
        bytes += to_evidence_json(&record).len();
        bytes += to_evidence_json(&trace).len();
        bytes += to_evidence_json(&decision).len();
        std::hint::black_box(bytes);
    };
    for _ in 0..100 {
        one();
    }
    let mut samples = Vec::new();
    for _ in 0..s.repeats.max(3) * 4 {
        let start = Instant::now();
        for _ in 0..s.inproc_iters {
            one();
        }
        samples.push(start.elapsed() / s.inproc_iters as u32);
    }
    rows.push(Row {
        what: "in process: plan + route + policy + record + trace + JSON of one run".into(),
        git_oc: format!("{:.1} µs", median(samples).as_secs_f64() * 1e6),
        reference: "≈ 55 ms (Python original's whole pipeline, from its timings)".into(),
        ratio: "".into(),
        target: "≤ 100 µs".into(),
    });
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let sizes = if smoke {
        Sizes {
            files_per_dir: 10,
            many_files_per_dir: 20,
            dirs: 20,
            subdirs: 10,
            runs: 100,
            many_runs: 200,
            repeats: 1,
            inproc_iters: 10,
        }
    } else {
        Sizes {
            files_per_dir: 100,
            many_files_per_dir: 500,
            dirs: 20,
            subdirs: 10,
            runs: 10_000,
            many_runs: 100_000,
            repeats: 5,
            inproc_iters: 1000,
        }
    };
    let mut tmp = tempfile::Builder::new().prefix("git-oc-bench-").tempdir().unwrap();
    // GIT_OC_BENCH_KEEP=1 keeps the generated repositories, to profile git-oc on them.
    if std::env::var_os("GIT_OC_BENCH_KEEP").is_some() {
        tmp.disable_cleanup(true);
        eprintln!("keeping {}", tmp.path().display());
    }
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    // Names after the flags pick measurements (`cargo bench --bench harness -- diff-stat`).
    let picked: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |name: &str| picked.is_empty() || picked.iter().any(|p| p == name);
    let mut rows = Vec::new();
    if wanted("demo") {
        bench_demo(&home, tmp.path(), &sizes, &mut rows);
    }
    if wanted("in-process") {
        bench_in_process(&sizes, &mut rows);
    }
    if wanted("runs") {
        bench_runs_listing(&home, tmp.path(), &sizes, &mut rows);
    }
    if wanted("run") {
        bench_run(&home, tmp.path(), &sizes, &mut rows);
    }
    if wanted("diff-stat") {
        bench_diff_stat(&home, tmp.path(), &sizes, &mut rows);
    }
    if wanted("completion") {
        bench_completion(&home, tmp.path(), &sizes, &mut rows);
    }
    if wanted("board") {
        bench_board(&home, tmp.path(), &sizes, &mut rows);
    }

    let git_version = Command::new("git")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!(
        "\n{} — {} cores, {}, {}\n",
        if smoke {
            "smoke pass (small inputs; times mean nothing)"
        } else {
            "benchmark"
        },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        git_version,
        jiff::Timestamp::now().strftime("%Y-%m-%d")
    );
    println!("| measurement | git-oc | reference | ratio | target |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.what, r.git_oc, r.reference, r.ratio, r.target
        );
    }
}

/// Completion over many runs, as a shell asks for it on Tab (`git-oc complete`), beside
/// `git for-each-ref refs/oc/runs` on the same refs: every run id for `git oc show <Tab>`, a
/// prefix matching 16 runs (described by outcome and goal), and a run's evidence files.
/// Self-contained: it makes its own repository of evidence commits.
fn bench_completion(home: &Path, root: &Path, s: &Sizes, rows: &mut Vec<Row>) {
    let repo = root.join("completion-runs");
    real_evidence_repo(home, &repo, s.runs);

    let ids = git(
        home,
        &repo,
        &["for-each-ref", "--format=%(refname:lstrip=3)", "refs/oc/runs"],
    );
    let ids: Vec<&str> = ids.lines().collect();
    let one_run = ids[ids.len() / 2][..8].to_owned();
    // A two-character prefix: a few dozen runs at 10,000, all described.
    let described = ids[ids.len() / 2][..2].to_owned();
    let matching = ids.iter().filter(|id| id.starts_with(described.as_str())).count();
    let cases: [(String, Vec<&str>); 3] = [
        (
            "`git oc show <Tab>` in zsh: every run id".to_owned(),
            vec!["git-oc", "show", ""],
        ),
        (
            format!(
                "`git oc show {described}<Tab>` in zsh: {matching} run{}, with outcome and goal",
                if matching == 1 { "" } else { "s" }
            ),
            vec!["git-oc", "show", described.as_str()],
        ),
        (
            "`git oc show RUN <Tab>` in zsh: the run's evidence files".to_owned(),
            vec!["git-oc", "show", one_run.as_str(), ""],
        ),
    ];
    for (what, words) in cases {
        let index = (words.len() - 1).to_string();
        let complete = || {
            timed(
                scrub(&mut Command::new(BIN), home)
                    .current_dir(&repo)
                    .args(["complete", "--shell", "zsh", "--index", &index, "--"])
                    .args(&words),
            )
            .0
        };
        let for_each_ref = || {
            timed(
                scrub(&mut Command::new("git"), home)
                    .current_dir(&repo)
                    .args(["for-each-ref", "refs/oc/runs"]),
            )
            .0
        };
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for i in 0..=s.repeats * 4 {
            let (o, t) = (complete(), for_each_ref());
            if i > 0 {
                ours.push(o);
                theirs.push(t);
            }
        }
        let ratio = median(ours.clone()).as_secs_f64() / median(theirs.clone()).as_secs_f64();
        rows.push(Row {
            what: format!("{what}, {} runs", s.runs),
            git_oc: spread(ours),
            reference: format!("{} (`git for-each-ref refs/oc/runs`)", spread(theirs)),
            ratio: format!("{ratio:.2}×"),
            target: "≤ 50 ms".into(),
        });
    }
}

/// The git board: `git oc task list` over as many tasks as runs elsewhere (10,000), beside
/// `git for-each-ref refs/oc/tasks` on the same refs; and one transition (`git oc task move`) on
/// a small repository, as a whole process and in process. The tasks are made through git-oc's
/// own library, so that refs, commits and trees have the real shape (a third of them moved, a
/// fifth commented, as a board in use).
fn bench_board(home: &Path, root: &Path, s: &Sizes, rows: &mut Vec<Row>) {
    use git_oc::board::{Board, NewTask, States, git::GitBoard};
    let make = |name: &str, n: usize| -> (PathBuf, Vec<String>) {
        let repo = root.join(name);
        std::fs::create_dir_all(&repo).unwrap();
        git(home, &repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("README.md"), "x\n").unwrap();
        git(home, &repo, &["add", "-A"]);
        git(home, &repo, &["commit", "-q", "-m", "init"]);
        let opened = git_oc::git::Repo::discover(&repo).unwrap();
        let board = GitBoard::new(opened.repo.clone(), States::default());
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let t = board
                .create(&NewTask {
                    title: format!("Bench task {i}: make the parser accept empty input"),
                    description: format!(
                        "## Execution\nrepo: svc\nmode: goal\nallowed_paths:\n  - src/\n\n## Goal\nTask {i}.\n"
                    ),
                    state: Some("ready".into()),
                    labels: vec!["repo: svc".into(), "task-kind: goal".into(), "source: manual".into()],
                })
                .unwrap();
            if i % 3 == 0 {
                board.transition(&t.id, "running", Some("ready")).unwrap();
            }
            if i % 5 == 0 {
                board.comment(&t.id, "Started.").unwrap();
            }
            ids.push(t.id);
        }
        (repo, ids)
    };
    let (repo, _) = make("many-tasks", s.runs);
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for i in 0..=s.repeats * 2 {
        let o = timed(
            scrub(&mut Command::new(BIN), home)
                .current_dir(&repo)
                .args(["task", "list"]),
        )
        .0;
        let t = timed(
            scrub(&mut Command::new("git"), home)
                .current_dir(&repo)
                .args(["for-each-ref", "refs/oc/tasks"]),
        )
        .0;
        if i > 0 {
            ours.push(o);
            theirs.push(t);
        }
    }
    // Without the summaries kept by commit id (a first listing, or after `rm .git/oc/task-summaries`):
    // every task commit is read.
    let mut cold = Vec::new();
    for _ in 0..s.repeats.max(1) {
        let _ = std::fs::remove_file(repo.join(".git/oc/task-summaries"));
        cold.push(
            timed(
                scrub(&mut Command::new(BIN), home)
                    .current_dir(&repo)
                    .args(["task", "list"]),
            )
            .0,
        );
    }
    let (o, t) = (median(ours), median(theirs));
    let c = median(cold);
    rows.push(Row {
        what: format!(
            "`git oc task list` over {} tasks (git board), no summary cache: every task commit read",
            s.runs
        ),
        git_oc: ms(c),
        reference: format!("{} (`git for-each-ref refs/oc/tasks`)", ms(t)),
        ratio: format!("{:.2}×", c.as_secs_f64() / t.as_secs_f64()),
        target: "≤ 1.5×".into(),
    });
    rows.push(Row {
        what: format!("`git oc task list` over {} tasks (git board)", s.runs),
        git_oc: ms(o),
        reference: format!("{} (`git for-each-ref refs/oc/tasks`)", ms(t)),
        ratio: format!("{:.2}×", o.as_secs_f64() / t.as_secs_f64()),
        target: "≤ 1.5×".into(),
    });

    // One transition on a small repository: the whole process, and the library call alone.
    let (small, ids) = make("few-tasks", 10);
    let id = ids[1].clone();
    let states = ["running", "ready"];
    let mut whole = Vec::new();
    let mut start_only = Vec::new();
    for i in 0..(s.repeats * 4).max(4) {
        let (from, to) = (states[(i + 1) % 2], states[i % 2]);
        let d = timed(
            scrub(&mut Command::new(BIN), home)
                .current_dir(&small)
                .args(["task", "move", &id, to, "--expect", from]),
        )
        .0;
        let v = timed(scrub(&mut Command::new(BIN), home).current_dir(&small).arg("--version")).0;
        if i > 0 {
            whole.push(d);
            start_only.push(v);
        }
    }
    let opened = git_oc::git::Repo::discover(&small).unwrap();
    let board = GitBoard::new(opened.repo.clone(), States::default());
    let mut inproc = Vec::new();
    for i in 0..(s.repeats * 20).max(20) {
        let start = Instant::now();
        board.transition(&id, states[i % 2], None).unwrap();
        inproc.push(start.elapsed());
    }
    rows.push(Row {
        what: "one task transition (`git oc task move --expect`, compare-and-swap), 10 tasks".into(),
        git_oc: format!("{} ({} in process)", ms(median(whole)), ms(median(inproc))),
        reference: format!(
            "{} (`git oc --version`: starting the process alone)",
            ms(median(start_only))
        ),
        ratio: "".into(),
        target: "≤ 10 ms".into(),
    });
}
