//! Shell completions and man pages, generated from the clap definition. The checked-in copies
//! in `completions/` and `man/` are kept equal to these by a test.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::ui::Ui;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Print a completion script for SHELL on stdout
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Write man pages (git-oc.1 and git-oc-<command>.1) into DIR
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing)
    pub dir: PathBuf,
}

/// git's bash completion calls `_git_<name>` for `git <name> …`: hand the words after `oc` to
/// the generated `git-oc` completer.
const BASH_GIT_SHIM: &str = r#"
# `git oc <TAB>`: git's completion (git-completion.bash) calls _git_oc.
_git_oc() {
    local i oc_at=-1
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ "${COMP_WORDS[i]}" == "oc" ]]; then
            oc_at=$i
            break
        fi
    done
    ((oc_at < 0)) && return 0
    local COMP_WORDS=("git-oc" "${COMP_WORDS[@]:oc_at+1}")
    local COMP_CWORD=$((COMP_CWORD - oc_at))
    _git__oc "git-oc" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
}
"#;

const FISH_GIT_SHIM: &str = r#"
# `git oc <TAB>`: complete the words after `git oc` as `git-oc` would.
function __git_oc_complete
    set -l tokens (commandline -opc)
    set -l at (contains -i -- oc $tokens)
    set -l rest $tokens[(math $at + 1)..-1]
    complete -C "git-oc $rest "(commandline -ct)
end
complete -c git -n '__fish_seen_subcommand_from oc' -f -a '(__git_oc_complete)'
"#;

/// The completion script for `shell`, fixed up for a hyphenated binary name.
pub fn completion_script(shell: Shell) -> String {
    let mut cmd = super::command();
    let mut buf = Vec::new();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut cmd, "git-oc", &mut buf);
    let mut script = String::from_utf8_lossy(&buf).into_owned();
    match shell {
        Shell::Bash => {
            // clap_complete labels the states of a hyphenated binary inconsistently
            // (clap-rs/clap#6421): without this, subcommand options never complete.
            script = script.replace("git__subcmd__oc", "git__oc");
            script.push_str(BASH_GIT_SHIM);
        }
        Shell::Fish => script.push_str(FISH_GIT_SHIM),
        Shell::Zsh => {}
    }
    script
}

/// File name of the checked-in completion script for `shell`.
pub fn completion_file_name(shell: Shell) -> &'static str {
    match shell {
        Shell::Bash => "git-oc.bash",
        Shell::Zsh => "_git-oc",
        Shell::Fish => "git-oc.fish",
    }
}

/// Every man page: `git-oc.1` and one `git-oc-<command>.1` per visible subcommand.
pub fn man_pages() -> Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = super::command();
    cmd.build();
    let mut pages = Vec::new();
    let render = |cmd: &clap::Command| -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .render(&mut buf)
            .map_err(|e| Error::run("could not render a man page").caused_by(e.to_string()))?;
        Ok(buf)
    };
    pages.push(("git-oc.1".to_owned(), render(&cmd)?));
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let name = format!("git-oc-{}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .display_name(name.clone())
            .bin_name(format!("git oc {}", sub.get_name()));
        pages.push((format!("{name}.1"), render(&page)?));
    }
    Ok(pages)
}

pub fn cmd_completions(ui: &mut Ui, args: &CompletionsArgs) -> Result<i32> {
    ui.data(&completion_script(args.shell));
    Ok(0)
}

pub fn cmd_man(ui: &mut Ui, args: &ManArgs) -> Result<i32> {
    let pages = man_pages()?;
    std::fs::create_dir_all(&args.dir).map_err(|e| {
        Error::input(format!("cannot create {}", args.dir.display()))
            .caused_by(e.to_string())
            .hint("pass a directory you can write to")
    })?;
    for (name, bytes) in pages {
        let path = args.dir.join(&name);
        crate::evidence::write_atomic(&path, &bytes)?;
        ui.data(&format!("{}\n", path.display()));
    }
    Ok(0)
}
