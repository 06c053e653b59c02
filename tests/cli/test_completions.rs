//! Completions driven through real shells: bash's programmable completion for `git-oc <TAB>`
//! and for `git oc <TAB>` through git's own completion; zsh and fish load their scripts.

use std::path::PathBuf;
use std::process::Command;

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("completions").join(name)
}

fn have(shell: &str) -> bool {
    Command::new(shell)
        .arg("-c")
        .arg("exit 0")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Complete `words` (the last one being completed) and return COMPREPLY.
fn bash_complete(words: &[&str], via_git: bool) -> Vec<String> {
    let git_completion = "/usr/share/bash-completion/completions/git";
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let call = if via_git {
        r#"__git_wrap__git_main "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}""#
    } else {
        r#"_git__oc "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}""#
    };
    let program = format!(
        "{source_git}\nsource '{script}'\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\nCOMP_POINT=${{#COMP_LINE}}\n{call}\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        source_git = if via_git {
            format!("source {git_completion}")
        } else {
            String::new()
        },
        script = script("git-oc.bash").display(),
        words = quoted.join(" "),
        cword = words.len() - 1,
    );
    let out = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(program)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "bash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_git_oc_subcommands_and_options() {
    assert_eq!(bash_complete(&["git-oc", "de"], false), ["demo"]);
    assert_eq!(bash_complete(&["git-oc", "demo", "--blo"], false), ["--blocked-policy"]);
    let shells = bash_complete(&["git-oc", "completions", ""], false);
    for s in ["bash", "zsh", "fish"] {
        assert!(shells.contains(&s.to_owned()), "{shells:?}");
    }
}

#[test]
fn bash_completes_through_git() {
    if !std::path::Path::new("/usr/share/bash-completion/completions/git").exists() {
        panic!("git's bash completion is missing; .ci/run installs it");
    }
    assert_eq!(bash_complete(&["git", "oc", "de"], true), ["demo"]);
    assert_eq!(bash_complete(&["git", "oc", "demo", "--rep"], true), ["--repo-key"]);
}

#[test]
fn zsh_and_fish_load_their_scripts() {
    if have("zsh") {
        let program = format!(
            "autoload -U compinit && compinit -u -D; source '{}'",
            script("_git-oc").display()
        );
        let out = Command::new("zsh").arg("-f").arg("-c").arg(program).output().unwrap();
        assert!(out.status.success(), "zsh: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "zsh is missing in CI; .ci/run installs it"
        );
    }
    if have("fish") {
        let program = format!("source '{}'; complete -C 'git-oc de'", script("git-oc.fish").display());
        let out = Command::new("fish")
            .arg("--no-config")
            .arg("-c")
            .arg(program)
            .output()
            .unwrap();
        assert!(out.status.success(), "fish: {}", String::from_utf8_lossy(&out.stderr));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("demo"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "fish is missing in CI; .ci/run installs it"
        );
    }
}

#[test]
fn git_help_oc_opens_the_man_page() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_git-oc")).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    for args in [&["help", "oc"][..], &["oc", "--help"][..]] {
        let out = Command::new("git")
            .args(args)
            .env("MANPATH", root.join("man"))
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("PATH", &path)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("git-oc") && text.contains("NAME"),
            "git {args:?} did not show git-oc(1):\n{text}"
        );
    }
}
