//! Shell completion, driven by the clap definition at the moment of completing: the scripts that
//! `git oc completions SHELL` prints are thin; on Tab they call the hidden `git-oc complete`
//! with the command line's words, and this module walks the clap `Command` to find what is being
//! completed (a subcommand, an option, an option's value or a positional argument) and offers
//! what fits: subcommands and options with their help, an argument's possible values, paths, and
//! from the repository run ids, a run's evidence files, branches and remotes.
//!
//! Values are recognised by their clap value name, so a new argument gets them by naming its
//! value: `RUN` (run ids), `FILE` after a `RUN` (that run's evidence files), `REMOTE`, `REV`
//! (branches), `BACKEND` and `LANE` (the routing vocabulary), `TASK` (the board's task ids) and
//! `STATE` (the board's state keys); arguments with possible values
//! offer those, and path arguments (`PathBuf`) let the shell complete paths.
//!
//! What `git-oc complete` prints: a first line `values`, or `files`/`dirs` and, after a tab, the
//! part of the word that is a path (and the text before it); then one candidate per line, its
//! description after a tab (zsh and fish show them).

use std::cell::OnceCell;
use std::ffi::OsString;

use clap::{Arg, Args};

use super::assets::Shell;
use super::ui::Ui;
use crate::completion::Candidate;
use crate::error::Result;
use crate::git::Repo;
use crate::text::escape_controls;

/// Print the completions of a command line (for the completion scripts)
#[derive(Debug, Args)]
pub struct CompleteArgs {
    /// The shell asking
    #[arg(long, value_enum)]
    pub shell: Shell,
    /// Index in WORDS of the word being completed
    #[arg(long)]
    pub index: usize,
    /// The command line's words, the program first
    #[arg(last = true, value_name = "WORDS")]
    pub words: Vec<OsString>,
}

pub fn cmd_complete(ui: &mut Ui, args: &CompleteArgs) -> Result<i32> {
    let words: Vec<String> = args.words.iter().map(|w| w.to_string_lossy().into_owned()).collect();
    let (words, index) = match args.shell {
        Shell::Bash => join_equals(words, args.index),
        _ => (words, args.index),
    };
    let completion = complete(&words, index, args.shell);
    // bash shows no descriptions.
    ui.data(&completion.render(args.shell != Shell::Bash));
    Ok(0)
}

/// What to offer for the word being completed.
#[derive(Debug, PartialEq, Eq)]
pub enum Completion {
    Values(Vec<Candidate>),
    /// Let the shell complete paths: `partial` is the path typed so far, after `before` (an
    /// `--option=`).
    Paths {
        dirs_only: bool,
        before: String,
        partial: String,
    },
}

impl Completion {
    fn render(&self, with_help: bool) -> String {
        match self {
            Completion::Values(candidates) => {
                let mut out = String::from("values\n");
                for c in candidates {
                    out.push_str(&c.value.replace(['\n', '\t'], " "));
                    if let Some(help) = c.help.as_ref().filter(|_| with_help) {
                        out.push('\t');
                        out.push_str(&escape_controls(help));
                    }
                    out.push('\n');
                }
                out
            }
            Completion::Paths {
                dirs_only,
                before,
                partial,
            } => format!("{}\t{partial}\t{before}\n", if *dirs_only { "dirs" } else { "files" }),
        }
    }
}

/// Without bash-completion's word splitting, bash splits `--status=ru` into `--status`, `=`,
/// `ru`: put such words back together.
fn join_equals(words: Vec<String>, index: usize) -> (Vec<String>, usize) {
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut new_index = index;
    let mut i = 0;
    while i < words.len() {
        let joinable = words[i] == "=" && out.last().is_some_and(|w| w.starts_with("--") && !w.contains('='));
        if joinable && i <= index {
            let last = out.last_mut().expect("checked");
            last.push('=');
            new_index -= 1;
            if i < index && i + 1 < words.len() {
                last.push_str(&words[i + 1]);
                new_index -= 1;
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        out.push(words[i].clone());
        i += 1;
    }
    (out, new_index)
}

/// Arguments whose values the repository knows, by value name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Known {
    Run,
    EvidenceFile,
    Remote,
    Branch,
    Backend,
    Lane,
    Task,
    State,
}

fn known(arg: &Arg) -> Option<Known> {
    let name = arg.get_value_names()?.first()?.as_str();
    Some(match name {
        "RUN" | "RUN2" => Known::Run,
        "FILE" => Known::EvidenceFile,
        "REMOTE" => Known::Remote,
        "REV" => Known::Branch,
        "BACKEND" => Known::Backend,
        "LANE" => Known::Lane,
        "TASK" => Known::Task,
        "STATE" => Known::State,
        _ => return None,
    })
}

/// The state of the command line before the word being completed.
struct Walk<'c> {
    root: &'c clap::Command,
    cmd: &'c clap::Command,
    /// Positional values given so far in `cmd`.
    positional: usize,
    /// An option given just before, waiting for its value.
    pending: Option<&'c Arg>,
    after_dashes: bool,
    /// Arguments given in `cmd`, with their values.
    given: Vec<(&'c Arg, Option<String>)>,
}

impl<'c> Walk<'c> {
    fn new(root: &'c clap::Command) -> Self {
        Walk {
            root,
            cmd: root,
            positional: 0,
            pending: None,
            after_dashes: false,
            given: Vec::new(),
        }
    }

    fn long(&self, name: &str) -> Option<&'c Arg> {
        self.cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|aliases| aliases.contains(&name)))
    }

    fn short(&self, c: char) -> Option<&'c Arg> {
        self.cmd.get_arguments().find(|a| a.get_short() == Some(c))
    }

    fn positional_arg(&self) -> Option<&'c Arg> {
        let mut positionals: Vec<&Arg> = self
            .cmd
            .get_positionals()
            .filter(|a| a.is_last_set() == self.after_dashes || !a.is_last_set())
            .collect();
        positionals.sort_by_key(|a| a.get_index().unwrap_or(usize::MAX));
        if self.after_dashes && positionals.iter().any(|a| a.is_last_set()) {
            return positionals.into_iter().find(|a| a.is_last_set());
        }
        let mut n = self.positional;
        for arg in positionals {
            let many = arg.get_num_args().is_some_and(|r| r.max_values() > 1);
            if n == 0 || many {
                return Some(arg);
            }
            n -= 1;
        }
        None
    }

    fn step(&mut self, word: &str) {
        if let Some(arg) = self.pending.take() {
            self.given.push((arg, Some(word.to_owned())));
            return;
        }
        if !self.after_dashes {
            if word == "--" {
                self.after_dashes = true;
                return;
            }
            if let Some(long) = word.strip_prefix("--") {
                let (name, value) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_owned())),
                    None => (long, None),
                };
                if let Some(arg) = self.long(name) {
                    if arg.get_action().takes_values() && value.is_none() {
                        self.pending = Some(arg);
                    } else {
                        self.given.push((arg, value));
                    }
                }
                return;
            }
            if word.len() > 1 && word.starts_with('-') {
                for (i, c) in word.char_indices().skip(1) {
                    let Some(arg) = self.short(c) else { continue };
                    if arg.get_action().takes_values() {
                        let rest = &word[i + c.len_utf8()..];
                        if rest.is_empty() {
                            self.pending = Some(arg);
                        } else {
                            self.given.push((arg, Some(rest.trim_start_matches('=').to_owned())));
                        }
                        return;
                    }
                    self.given.push((arg, None));
                }
                return;
            }
            if self.positional == 0
                && let Some(sub) = self.cmd.find_subcommand(word)
            {
                self.cmd = sub;
                self.given.clear();
                return;
            }
        }
        if let Some(arg) = self.positional_arg() {
            self.given.push((arg, Some(word.to_owned())));
        }
        self.positional += 1;
    }

    fn value_of(&self, names: &[&str]) -> Option<&str> {
        self.given.iter().find_map(|(arg, value)| {
            let name = arg.get_value_names()?.first()?.as_str();
            names.contains(&name).then_some(value.as_deref()).flatten()
        })
    }
}

/// The completions of `words[index]` (`words[0]` is the program, whatever its name).
pub fn complete(words: &[String], index: usize, shell: Shell) -> Completion {
    let mut root = super::command();
    root.build();
    let mut walk = Walk::new(&root);
    for word in words.iter().take(index).skip(1) {
        walk.step(word);
    }
    let current = words.get(index).map_or("", String::as_str);
    let repo: OnceCell<Option<Repo>> = OnceCell::new();
    let repo = || {
        repo.get_or_init(|| std::env::current_dir().ok().and_then(|d| Repo::discover(&d).ok()))
            .as_ref()
    };
    let describe = shell != Shell::Bash;

    if let Some(arg) = walk.pending {
        return values(&walk, arg, current, "", describe, repo);
    }
    if !walk.after_dashes {
        if let Some(long) = current.strip_prefix("--")
            && let Some((name, partial)) = long.split_once('=')
        {
            let Some(arg) = walk.long(name) else {
                return Completion::Values(Vec::new());
            };
            // bash completes the part after `=` (a word break there); zsh and fish the word.
            let before = if shell == Shell::Bash {
                String::new()
            } else {
                format!("--{name}=")
            };
            return values(&walk, arg, partial, &before, describe, repo);
        }
        if current.starts_with('-') {
            return Completion::Values(options(&walk, current));
        }
        if walk.cmd.get_name() == "help" && walk.cmd.get_subcommands().next().is_none() {
            return Completion::Values(subcommands(walk.root, current));
        }
        if walk.positional == 0 && walk.cmd.has_subcommands() {
            return Completion::Values(subcommands(walk.cmd, current));
        }
    }
    match walk.positional_arg() {
        Some(arg) => values(&walk, arg, current, "", describe, repo),
        // Nothing left to give but options.
        None if !walk.after_dashes => Completion::Values(options(&walk, current)),
        None => Completion::Values(Vec::new()),
    }
}

fn first_line(text: Option<&clap::builder::StyledStr>) -> Option<String> {
    let text = text?.to_string();
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

fn subcommands(cmd: &clap::Command, current: &str) -> Vec<Candidate> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name().starts_with(current))
        .map(|s| Candidate::new(s.get_name(), first_line(s.get_about())))
        .collect()
}

/// The long options of the command, except those already given that cannot repeat.
fn options(walk: &Walk<'_>, current: &str) -> Vec<Candidate> {
    walk.cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
        .filter(|a| {
            let repeats = matches!(a.get_action(), clap::ArgAction::Append | clap::ArgAction::Count);
            repeats || !walk.given.iter().any(|(g, _)| g.get_id() == a.get_id())
        })
        .filter_map(|a| {
            let long = format!("--{}", a.get_long()?);
            long.starts_with(current)
                .then(|| Candidate::new(long, first_line(a.get_help())))
        })
        .collect()
}

/// The values `arg` takes that start with `partial`, each after `before`.
fn values<'r>(
    walk: &Walk<'_>,
    arg: &Arg,
    partial: &str,
    before: &str,
    describe: bool,
    repo: impl Fn() -> Option<&'r Repo>,
) -> Completion {
    let possible = arg.get_possible_values();
    let mut candidates: Vec<Candidate> = if walk.cmd.get_name() == "release" {
        repo().map_or_else(Vec::new, |r| crate::completion::held_ids(r, partial))
    } else if !possible.is_empty() {
        possible
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| Candidate::new(v.get_name(), first_line(v.get_help())))
            .collect()
    } else {
        match known(arg) {
            Some(Known::Run) => repo().map_or_else(Vec::new, |r| crate::completion::run_ids(r, partial, describe)),
            Some(Known::EvidenceFile) => match (walk.value_of(&["RUN"]), repo()) {
                (Some(run), Some(r)) => crate::completion::evidence_files(r, run),
                _ => return paths(false, before, partial),
            },
            Some(Known::Remote) => repo().map_or_else(Vec::new, crate::completion::remotes),
            Some(Known::Branch) => repo().map_or_else(Vec::new, crate::completion::branches),
            Some(Known::Backend) => crate::contracts::BackendName::ALL
                .iter()
                .map(|b| Candidate::new(b.as_str(), None))
                .collect(),
            Some(Known::Task) => repo().map_or_else(Vec::new, |r| crate::completion::task_ids(r, partial, describe)),
            // Keys rather than names: names have spaces, and every state command takes either.
            Some(Known::State) => crate::board::StateKind::ALL
                .iter()
                .map(|k| Candidate::new(k.key(), Some(k.default_name().to_owned())))
                .collect(),
            Some(Known::Lane) => crate::contracts::LaneName::ALL
                .iter()
                .map(|l| Candidate::new(l.as_str(), None))
                .collect(),
            None => match arg.get_value_hint() {
                clap::ValueHint::DirPath => return paths(true, before, partial),
                clap::ValueHint::AnyPath | clap::ValueHint::FilePath | clap::ValueHint::ExecutablePath => {
                    return paths(false, before, partial);
                }
                _ if arg.is_last_set() => return paths(false, before, partial),
                _ => Vec::new(),
            },
        }
    };
    candidates.retain(|c| c.value.starts_with(partial));
    for c in &mut candidates {
        c.value.insert_str(0, before);
    }
    Completion::Values(candidates)
}

fn paths(dirs_only: bool, before: &str, partial: &str) -> Completion {
    Completion::Paths {
        dirs_only,
        before: before.to_owned(),
        partial: partial.to_owned(),
    }
}

/// The completion script for `shell`: it registers the completion of `git-oc …`, and of
/// `git oc …` through git's own completion, and asks `git-oc complete` on every Tab.
pub fn script(shell: Shell) -> String {
    match shell {
        Shell::Bash => BASH.to_owned(),
        Shell::Zsh => ZSH.to_owned(),
        Shell::Fish => FISH.to_owned(),
    }
}

const BASH: &str = r#"# bash completion for git-oc, generated by `git oc completions bash`.
# Completes `git-oc …`, and `git oc …` through git's completion (which loads this file as the
# completion of `git-oc`). The candidates come from `git-oc complete`, which knows the
# repository: run ids, evidence files, branches, remotes.

# Complete word $1 (an index) of the words after it, the program first; $2 is appended to each
# value (git's completion adds no space itself).
__git_oc_complete() {
    local index=$1 suffix=$2
    shift 2
    local -a lines
    mapfile -t lines < <(command git-oc complete --shell bash --index "$index" -- "$@" 2>/dev/null)
    ((${#lines[@]})) || return 0
    local mode=${lines[0]%%$'\t'*} partial
    partial=${lines[0]#*$'\t'}
    partial=${partial%%$'\t'*}
    case $mode in
    files | dirs)
        compopt -o filenames 2>/dev/null
        if [[ $mode == dirs ]]; then
            mapfile -t COMPREPLY < <(compgen -d -- "$partial")
        else
            mapfile -t COMPREPLY < <(compgen -f -- "$partial")
        fi
        ;;
    *)
        COMPREPLY=("${lines[@]:1}")
        [[ -n $suffix ]] && COMPREPLY=("${COMPREPLY[@]/%/$suffix}")
        ;;
    esac
    return 0
}

# `git-oc …`
_git_oc_bash() {
    local cur prev words cword
    if declare -F _get_comp_words_by_ref >/dev/null; then
        _get_comp_words_by_ref -n =: cur prev words cword
    else
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi
    __git_oc_complete "$cword" "" "${words[@]}"
}
complete -F _git_oc_bash git-oc

# `git oc …`: git's completion calls _git_oc with its `words` and `cword` set.
_git_oc() {
    local i at=${__git_cmd_idx:-0}
    if [[ ${words[at]:-} != oc ]]; then
        for ((i = 1; i < cword; i++)); do
            if [[ ${words[i]} == oc ]]; then
                at=$i
                break
            fi
        done
    fi
    [[ ${words[at]:-} == oc ]] || return 0
    __git_oc_complete "$((cword - at))" " " git-oc "${words[@]:at+1}"
}
"#;

const ZSH: &str = r#"#compdef git-oc
# zsh completion for git-oc, generated by `git oc completions zsh`.
# Completes `git-oc …`, and `git oc …` through zsh's git completion (which calls _git-oc). The
# candidates come from `git-oc complete`, which knows the repository: run ids with their outcome
# and goal, evidence files, branches, remotes.

_git-oc() {
    local -a lines described
    local line mode partial before
    lines=("${(@f)$(command git-oc complete --shell zsh --index $((CURRENT - 1)) -- "${words[@]}" 2>/dev/null)}")
    (( ${#lines} )) || return 1
    mode=${lines[1]%%$'\t'*}
    if [[ $mode == files || $mode == dirs ]]; then
        [[ $PREFIX == --*=* ]] && compset -P '*='
        if [[ $mode == dirs ]]; then
            _files -/
        else
            _files
        fi
        return
    fi
    for line in "${(@)lines[2,-1]}"; do
        [[ -n $line ]] || continue
        if [[ $line == *$'\t'* ]]; then
            described+=("${${line%%$'\t'*}//:/\\:}:${line#*$'\t'}")
        else
            described+=("${line//:/\\:}")
        fi
    done
    (( ${#described} )) || return 1
    _describe -t values 'git-oc' described
}

if [[ ${funcstack[1]} == _git-oc ]]; then
    _git-oc "$@"
else
    compdef _git-oc git-oc
fi
"#;

const FISH: &str = r#"# fish completion for git-oc, generated by `git oc completions fish`.
# Completes `git-oc …`, and `git oc …` when git's completion is loaded. The candidates come from
# `git-oc complete`, which knows the repository: run ids with their outcome and goal, evidence
# files, branches, remotes.

# The words of a `git oc …` command line that follow `oc`, after git's own options.
function __git_oc_words_after_oc
    set -l tokens $argv
    set -e tokens[1]
    while set -q tokens[1]
        switch $tokens[1]
            case -C -c --git-dir --work-tree --namespace --exec-path --config-env --super-prefix
                set -e tokens[1]
            case '-*'
            case oc
                set -e tokens[1]
                set -q tokens[1]
                and printf '%s\n' $tokens
                return 0
            case '*'
                return 1
        end
        set -e tokens[1]
    end
    return 1
end

function __git_oc_complete
    set -l tokens (commandline -opc)
    set -l current (commandline -ct)
    if test "$tokens[1]" != git-oc
        set tokens git-oc (__git_oc_words_after_oc $tokens)
        or return
    end
    set -l lines (command git-oc complete --shell fish --index (count $tokens) -- $tokens "$current" 2>/dev/null)
    or return
    set -l mode (string split \t -- $lines[1])
    switch $mode[1]
        case files dirs
            set -l found
            if test $mode[1] = dirs
                set found (__fish_complete_directories "$mode[2]")
            else
                set found (__fish_complete_path "$mode[2]")
            end
            printf '%s\n' "$mode[3]"$found
        case '*'
            set -e lines[1]
            printf '%s\n' $lines
    end
end

complete -c git-oc -f -a '(__git_oc_complete)'
complete -c git -f -n '__git_oc_words_after_oc (commandline -opc) >/dev/null' -a '(__git_oc_complete)'
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    fn offered(line: &str) -> Vec<String> {
        let w = words(line);
        match complete(&w, w.len() - 1, Shell::Zsh) {
            Completion::Values(v) => v.into_iter().map(|c| c.value).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn subcommands_options_and_possible_values_come_from_the_clap_definition() {
        assert_eq!(offered("git-oc de"), ["demo"]);
        assert!(!offered("git-oc ").contains(&"complete".to_owned()), "hidden");
        assert_eq!(offered("git-oc demo --blo"), ["--blocked-policy"]);
        assert_eq!(offered("git-oc --json runs --status bl"), ["blocked"]);
        assert_eq!(offered("git-oc runs --status=re"), ["--status=rejected"]);
        assert_eq!(offered("git-oc run --goal x --task-type do"), ["documentation"]);
        assert_eq!(offered("git-oc policy ch"), ["check"]);
        assert_eq!(offered("git-oc help po"), ["policy"]);
        assert!(offered("git-oc runs --lane ").contains(&"claude_cli".to_owned()));
        assert!(
            !offered("git-oc gc --dry-run --").contains(&"--dry-run".to_owned()),
            "a flag given is not offered again"
        );
        assert!(
            offered("git-oc run -v --").contains(&"--verbose".to_owned()),
            "-v repeats"
        );
    }

    #[test]
    fn paths_are_left_to_the_shell() {
        let w = words("git-oc run --workspace-path=/tm");
        assert_eq!(
            complete(&w, 2, Shell::Fish),
            Completion::Paths {
                dirs_only: false,
                before: "--workspace-path=".into(),
                partial: "/tm".into()
            }
        );
        let w = words("git-oc run --goal x -- ./ag");
        assert!(matches!(complete(&w, 5, Shell::Bash), Completion::Paths { .. }));
    }

    #[test]
    fn bash_words_split_at_equals_are_joined() {
        let (w, i) = join_equals(words("git-oc runs --status = ru"), 4);
        assert_eq!((w, i), (words("git-oc runs --status=ru"), 2));
        let (w, i) = join_equals(words("git-oc runs --status ="), 3);
        assert_eq!((w, i), (words("git-oc runs --status="), 2));
    }
}
