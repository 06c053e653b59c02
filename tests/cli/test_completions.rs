//! Completion, as people get it: bash, zsh and fish started on a real terminal with the scripts
//! `git oc completions SHELL` prints installed where the README says, completing `git oc …`
//! (through git's own completion) and `git-oc …` as keys are typed. A shell that is missing
//! fails the test (.ci/run installs them). The hidden `git-oc complete` behind the scripts is
//! also asked directly, for what is hard to see on a screen. And man pages: `git help oc` and
//! `git oc --help` after installing, in a clean HOME.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use crate::pty::Pty;

/// A repository with runs to complete: two demo runs, a real run (with every evidence file)
/// whose change the post-run gate rejected, two remotes; and `git-oc` in a `bin` directory.
struct Fixture {
    env: TestEnv,
    repo: PathBuf,
    bin: PathBuf,
    /// Full run ids: the two demo runs, then the real run.
    ids: Vec<String>,
    run_branch: String,
}

const FIRST_GOAL: &str = "First demo goal";
const SECOND_GOAL: &str = "Second goal: with a colon";

fn fixture() -> Fixture {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let mut ids = Vec::new();
    for goal in [FIRST_GOAL, SECOND_GOAL] {
        let doc = env.oc(&repo, ["demo", "--json", "--goal", goal]).json();
        let evidence = doc["git"]["evidence_ref"].as_str().unwrap();
        ids.push(evidence.rsplit('/').next().unwrap().to_owned());
    }
    let (_, doc) = env.run_json(
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
    ids.push(doc["summary"]["run_id"].as_str().unwrap().to_owned());
    let run_branch = doc["summary"]["branch"].as_str().unwrap().to_owned();
    env.git(
        &repo,
        ["remote", "add", "origin", "https://user:hunter22@example.com/r.git"],
    );
    env.git(&repo, ["remote", "add", "backup", "/srv/backup.git"]);
    let bin = env.root().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(BIN, bin.join("git-oc")).unwrap();
    Fixture {
        env,
        repo,
        bin,
        ids,
        run_branch,
    }
}

impl Fixture {
    fn path(&self) -> String {
        format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap_or_default())
    }

    /// The id as completion offers it: its first 8 characters (unique among three random ids).
    fn short(&self, i: usize) -> &str {
        &self.ids[i][..8]
    }

    /// A prefix of run `i` that no other run shares, shorter than what completion inserts.
    fn typed(&self, i: usize) -> &str {
        let id = &self.ids[i];
        let n = (1..8)
            .find(|n| self.ids.iter().filter(|o| o.starts_with(&id[..*n])).count() == 1)
            .unwrap_or(8);
        &id[..n]
    }

    fn script(&self, shell: &str) -> String {
        let out = self.env.oc(&self.repo, ["completions", shell]);
        out.assert_code(0);
        out.stdout
    }

    /// `git-oc complete` as the scripts call it.
    fn complete(&self, shell: &str, words: &[&str]) -> Vec<String> {
        let mut args = vec![
            "complete".to_owned(),
            "--shell".into(),
            shell.into(),
            "--index".into(),
            (words.len() - 1).to_string(),
            "--".into(),
        ];
        args.extend(words.iter().map(|w| (*w).to_owned()));
        let out = self.env.oc(&self.repo, &args);
        out.assert_code(0);
        let mut lines = out.stdout.lines().map(str::to_owned);
        assert_eq!(lines.next().as_deref(), Some("values"), "{}", out.stdout);
        lines.collect()
    }

    /// An interactive shell on a terminal, in the repository, with the completion script
    /// installed as the README says and a prompt and an `r` command that prints its arguments.
    fn shell(&self, shell: &str) -> Pty {
        let home = self.env.home();
        let mut cmd = Command::new(shell);
        scrub(&mut cmd, &home);
        cmd.current_dir(&self.repo)
            .env("PATH", self.path())
            .env("TERM", "xterm")
            .env("COLUMNS", "200");
        match shell {
            "bash" => {
                let dir = home.join(".local/share/bash-completion/completions");
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("git-oc"), self.script("bash")).unwrap();
                let rc = home.join("bashrc");
                std::fs::write(
                    &rc,
                    "PS1='PROMPT> '\nsource /usr/share/bash-completion/bash_completion\nr() { printf 'LINE<%s>\\n' \"$*\"; }\nbind 'set bell-style none'\n",
                )
                .unwrap();
                cmd.args(["--noprofile", "--rcfile"]).arg(&rc).arg("-i");
            }
            "zsh" => {
                let dir = home.join(".zfunc");
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("_git-oc"), self.script("zsh")).unwrap();
                std::fs::write(
                    home.join(".zshrc"),
                    "fpath=(~/.zfunc $fpath)\nautoload -U compinit && compinit -u -D\nunsetopt beep prompt_sp\nPS1='PROMPT> '\nr() { print -r -- \"LINE<$*>\" }\n",
                )
                .unwrap();
                cmd.env("ZDOTDIR", &home).arg("-i");
            }
            "fish" => {
                let dir = home.join(".config/fish/conf.d");
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("git-oc.fish"), self.script("fish")).unwrap();
                std::fs::write(
                    home.join(".config/fish/config.fish"),
                    "function fish_prompt; echo -n 'PROMPT> '; end\nfunction r; echo \"LINE<$argv>\"; end\nset -g fish_greeting ''\nset -g fish_autosuggestion_enabled 0\n",
                )
                .unwrap();
                cmd.arg("-i");
            }
            other => panic!("no setup for {other}"),
        }
        let mut pty = Pty::spawn(cmd, 200, 50);
        pty.expect("PROMPT> ");
        pty
    }
}

/// Type `line` and Tab in `pty`, then run the completed line through `r`: the completed line.
fn completed(pty: &mut Pty, line: &str) -> String {
    // Ctrl-A goes to the start of the line in bash, zsh and fish alike.
    pty.send(&format!("{line}\t\x01r \r"));
    pty.expect("LINE<");
    let got = pty.expect(">\n");
    pty.expect("PROMPT> ");
    got.trim_end_matches(">\n").trim_end().to_owned()
}

/// Type `line` and ask for the list of candidates; waits until the screen shows every one of
/// `items`, cancels the line, and returns what was shown.
fn listed(pty: &mut Pty, shell: &str, line: &str, items: &[&str]) -> String {
    // bash lists on the second Tab; zsh and fish on the first.
    pty.send(&format!("{line}{}", if shell == "bash" { "\t\t" } else { "\t" }));
    let mut shown = pty.expect_all(items);
    // Clear the line with Ctrl-U and run a marker: keys are handled in order, where Ctrl-C (a
    // signal) could overtake them and flush what is typed next.
    pty.send("\x15r listed\r");
    shown.push_str(&pty.expect("LINE<listed>"));
    pty.expect("PROMPT> ");
    shown
}

/// Fail when `program` is not on PATH: the tests that need it must not pass by doing nothing.
fn require(program: &str) {
    let found =
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|dir| dir.join(program).is_file());
    assert!(
        found,
        "{program} is missing: .ci/run installs what the completion and man tests drive"
    );
    if program == "bash" {
        for file in [
            "/usr/share/bash-completion/bash_completion",
            "/usr/share/bash-completion/completions/git",
        ] {
            assert!(
                Path::new(file).exists(),
                "{file} is missing: .ci/run installs bash-completion"
            );
        }
    }
}

/// The same completions in every shell, for `git oc …` and for `git-oc …`.
fn completes_in(shell: &str) {
    require(shell);
    let f = fixture();
    let mut pty = f.shell(shell);
    for program in ["git oc", "git-oc"] {
        // Subcommands and options, from the clap definition.
        assert_eq!(completed(&mut pty, &format!("{program} sh")), format!("{program} show"));
        assert_eq!(
            completed(&mut pty, &format!("{program} demo --blocked-p")),
            format!("{program} demo --blocked-policy")
        );
        // Run ids: a unique prefix completes to the id as `git oc runs` shows it.
        assert_eq!(
            completed(&mut pty, &format!("{program} show {}", f.typed(0))),
            format!("{program} show {}", f.short(0))
        );
        // Evidence files of that run.
        assert_eq!(
            completed(&mut pty, &format!("{program} show {} summ", f.short(2))),
            format!("{program} show {} summary.json", f.short(2))
        );
        // Statuses, lanes, task types, backends, remotes, run branches.
        assert_eq!(
            completed(&mut pty, &format!("{program} runs --status rej")),
            format!("{program} runs --status rejected")
        );
        assert_eq!(
            completed(&mut pty, &format!("{program} runs --lane cod")),
            format!("{program} runs --lane codex_cli")
        );
        assert_eq!(
            completed(&mut pty, &format!("{program} plan --goal x --task-type doc")),
            format!("{program} plan --goal x --task-type documentation")
        );
        assert_eq!(
            completed(&mut pty, &format!("{program} run --goal x --backend cl")),
            format!("{program} run --goal x --backend claude")
        );
        assert_eq!(
            completed(&mut pty, &format!("{program} fetch ba")),
            format!("{program} fetch backup")
        );
        assert_eq!(
            completed(&mut pty, &format!("{program} run --goal x --base oc/")),
            format!("{program} run --goal x --base {}", f.run_branch)
        );

        // The list of runs: every id; zsh and fish show the outcome and goal beside it.
        let shown = if shell == "bash" {
            listed(
                &mut pty,
                shell,
                &format!("{program} show "),
                &[f.short(0), f.short(1), f.short(2)],
            )
        } else {
            let described = [
                format!("executed: {FIRST_GOAL}"),
                format!("executed: {SECOND_GOAL}"),
                "blocked (rejected): Keys".to_owned(),
            ];
            let items: Vec<&str> = described.iter().map(String::as_str).collect();
            listed(&mut pty, shell, &format!("{program} show "), &items)
        };
        for i in 0..3 {
            assert!(
                shown.contains(f.short(i)),
                "{shell}: {program} show lists every run:\n{shown}"
            );
        }
        let items: &[&str] = if shell == "bash" {
            &["origin", "backup"]
        } else {
            &["origin", "backup", "[REDACTED]@example.com", "/srv/backup.git"]
        };
        let shown = listed(&mut pty, shell, &format!("{program} push "), items);
        assert!(
            !shown.contains("hunter22"),
            "credentials in a remote's URL are never shown:\n{shown}"
        );
    }
}

#[test]
fn bash_completes_git_oc_and_git_dash_oc_on_a_terminal() {
    completes_in("bash");
}

#[test]
fn zsh_completes_git_oc_and_git_dash_oc_on_a_terminal() {
    completes_in("zsh");
}

#[test]
fn fish_completes_git_oc_and_git_dash_oc_on_a_terminal() {
    completes_in("fish");
}

#[test]
fn run_ids_are_completed_as_their_shortest_unique_prefixes() {
    let f = fixture();
    let evidence = f.env.git(&f.repo, ["rev-parse", &format!("refs/oc/demo/{}", f.ids[0])]);
    for id in [
        "abcdef01-2345-4678-9abc-def012345678",
        "abcdef01-3345-4678-9abc-def012345678",
        "abcdef02-2345-4678-9abc-def012345678",
    ] {
        f.env
            .git(&f.repo, ["update-ref", &format!("refs/oc/runs/{id}"), &evidence]);
    }
    assert_eq!(
        f.complete("bash", &["git-oc", "show", "abc"]),
        ["abcdef01-2", "abcdef01-3", "abcdef02"]
    );
    assert_eq!(f.complete("bash", &["git-oc", "show", "abcdef01-2"]), ["abcdef01-2"]);
    assert_eq!(
        f.complete("bash", &["git-oc", "show", "abcdef01-23"]),
        ["abcdef01-2345-4678-9abc-def012345678"],
        "what is typed beyond the unique prefix is kept"
    );
    // A ref whose evidence names another run is offered, but not described as that run.
    assert_eq!(f.complete("zsh", &["git-oc", "show", "abcdef02"]), ["abcdef02"]);
    // Described for zsh and fish: outcome and goal after a tab; bash gets ids alone.
    let zsh = f.complete("zsh", &["git-oc", "show", f.short(0)]);
    assert_eq!(zsh, [format!("{}\texecuted: {FIRST_GOAL}", f.short(0))]);
    let bash = f.complete("bash", &["git-oc", "show", f.short(0)]);
    assert_eq!(bash, [f.short(0)]);
}

#[test]
fn completion_outside_a_repository_offers_what_needs_none() {
    let f = fixture();
    let outside = f.env.root().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let run = f.env.oc(
        &outside,
        [
            "complete", "--shell", "bash", "--index", "2", "--", "git-oc", "show", "",
        ],
    );
    run.assert_code(0);
    assert_eq!(run.stdout, "values\n");
    let run = f.env.oc(
        &outside,
        [
            "complete",
            "--shell",
            "fish",
            "--index",
            "2",
            "--",
            "git-oc",
            "runs",
            "--status=inter",
        ],
    );
    assert_eq!(
        run.stdout,
        "values\n--status=interrupted\tits git-oc process ended before recording evidence\n"
    );
    assert_eq!(run.stderr, "");
}

/// A `bin` directory holding a copy of git-oc, as `cargo install` leaves it, and a PATH with it
/// first and nothing else of the user's.
fn installed(env: &TestEnv) -> (PathBuf, String) {
    let prefix = env.root().join("prefix");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::copy(BIN, prefix.join("bin/git-oc")).unwrap();
    let path = format!(
        "{}:{}",
        prefix.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (prefix, path)
}

/// `git help oc` and `git oc --help`, as man shows them, with man finding pages the way it
/// does by default (no MANPATH): from the directories on PATH.
fn help_pages(env: &TestEnv, dir: &Path, path: &str) -> Vec<(bool, String)> {
    [&["help", "oc"][..], &["oc", "--help"][..]]
        .iter()
        .map(|args| {
            let mut cmd = Command::new("git");
            scrub(&mut cmd, &env.home());
            let out = cmd
                .current_dir(dir)
                .args(*args)
                .env("PATH", path)
                .env("MANPAGER", "cat")
                .env("PAGER", "cat")
                .output()
                .unwrap();
            (
                out.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            )
        })
        .collect()
}

fn shows_the_page((ok, text): &(bool, String)) -> bool {
    *ok && text.contains("NAME") && text.contains("git-oc")
}

#[test]
fn git_help_oc_works_after_git_oc_man_install() {
    require("man");
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (prefix, path) = installed(&env);
    assert!(
        help_pages(&env, &repo, &path).iter().all(|p| !shows_the_page(p)),
        "no page before installing"
    );
    let mut cmd = Command::new("git");
    scrub(&mut cmd, &env.home());
    let out = Run::from(
        cmd.current_dir(&repo)
            .args(["oc", "man", "--install"])
            .env("PATH", &path)
            .output()
            .unwrap(),
    );
    out.assert_code(0);
    let page = prefix.join("share/man/man1/git-oc.1");
    assert!(out.stdout.contains(&page.display().to_string()), "{}", out.stdout);
    for shown in help_pages(&env, &repo, &path) {
        assert!(shows_the_page(&shown), "{}", shown.1);
    }
}

#[test]
fn the_first_git_oc_command_installs_the_man_pages() {
    require("man");
    let env = TestEnv::new();
    let repo = env.repo("r");
    let (prefix, path) = installed(&env);
    let mut cmd = Command::new("git");
    scrub(&mut cmd, &env.home());
    let out = Run::from(
        cmd.current_dir(&repo)
            .args(["oc", "runs"])
            .env("PATH", &path)
            .output()
            .unwrap(),
    );
    out.assert_code(0);
    assert!(prefix.join("share/man/man1/git-oc-runs.1").is_file());
    for shown in help_pages(&env, &repo, &path) {
        assert!(shows_the_page(&shown), "{}", shown.1);
    }
    // A binary that is not in a `bin` directory (a build directory) installs nothing.
    let build = env.root().join("target-debug");
    std::fs::create_dir_all(&build).unwrap();
    std::fs::copy(BIN, build.join("git-oc")).unwrap();
    let mut cmd = Command::new(build.join("git-oc"));
    scrub(&mut cmd, &env.home());
    cmd.current_dir(&repo).arg("runs").output().unwrap();
    assert!(!env.root().join("share").exists());
    let mut cmd = Command::new(build.join("git-oc"));
    scrub(&mut cmd, &env.home());
    let refused = Run::from(cmd.current_dir(&repo).args(["man", "--install"]).output().unwrap());
    refused.assert_clean_error(2);
    assert!(
        refused.stderr.contains("not installed in a bin directory"),
        "{}",
        refused.stderr
    );
}

/// `git oc release` completes what is held, and says what each is.
#[test]
fn release_completes_what_is_held() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    let oc = env!("CARGO_BIN_EXE_git-oc");
    let script = format!("'{oc}' task add 'Planted' --state ready -m 'do it' && echo ok > f.txt");
    let run = Run::from(
        env.oc_agents(&repo)
            .args([
                "run",
                "--json",
                "--goal",
                "plant",
                "--backend",
                "command",
                "--",
                "sh",
                "-c",
                &script,
            ])
            .output()
            .unwrap(),
    );
    run.assert_code(0);
    let id = env.oc(&repo, ["--json", "task", "list"]).json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = env.oc(
        &repo,
        [
            "complete", "--shell", "fish", "--index", "2", "--", "git-oc", "release", "",
        ],
    );
    out.assert_code(0);
    assert_eq!(out.stdout, format!("values\n{id}\theld task\n"));
}
