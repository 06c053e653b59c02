//! Shell completion scripts and man pages. The pages are generated from the clap definition; the
//! scripts call `git-oc complete`, which walks it (see `complete`). The checked-in copies in
//! `completions/` and `man/` are kept equal to these by a test; man pages are also installed
//! where man finds them (`git oc man --install`, and on first use).

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

/// Write the man pages, into DIR or where man finds them
///
/// The pages are git-oc.1 and one git-oc-<command>.1 per command. With --install they go to
/// <prefix>/share/man/man1, where <prefix>/bin is the directory on PATH that holds git-oc
/// (~/.cargo for cargo install): man finds pages there for a program on PATH, so `git help oc`
/// and `git oc --help` show them. git-oc installs them there by itself the first time it runs
/// from such a directory and finds them missing or from another version.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("destination").required(true).args(["dir", "install"]))]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing)
    #[arg(value_hint = clap::ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
    /// Install the pages beside the installed binary, where man finds them
    #[arg(long)]
    pub install: bool,
}

/// The completion script for `shell` (see `cli::complete`).
pub fn completion_script(shell: Shell) -> String {
    super::complete::script(shell)
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
    let dir = match (&args.dir, args.install) {
        (Some(dir), _) => dir.clone(),
        (None, _) => installed_man_dir().map(|d| d.join("man1")).ok_or_else(|| {
            let exe = std::env::current_exe()
                .map(|e| e.display().to_string())
                .unwrap_or_default();
            Error::input(format!("git-oc ({exe}) is not installed in a bin directory on PATH"))
                .hint("write the pages into a directory man reads instead: git oc man ~/.local/share/man/man1")
        })?,
    };
    for path in write_man_pages(&dir)? {
        ui.data(&format!("{}\n", path.display()));
    }
    Ok(0)
}

/// Write every man page into `dir` (created if missing); the paths written.
fn write_man_pages(dir: &std::path::Path) -> Result<Vec<PathBuf>> {
    let pages = man_pages()?;
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::input(format!("cannot create {}", dir.display()))
            .caused_by(e.to_string())
            .hint("pass a directory you can write to")
    })?;
    let mut written = Vec::new();
    for (name, bytes) in pages {
        let path = dir.join(&name);
        crate::evidence::write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// `<prefix>/share/man` for the running git-oc, where `<prefix>/bin` is the directory on PATH
/// that holds it (man-db looks there for the pages of programs in `<prefix>/bin`); `None` when
/// git-oc does not run from a `bin` directory (from a build directory, say).
pub fn installed_man_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let this = std::fs::canonicalize(&exe).ok()?;
    // git runs `git oc` by looking git-oc up on PATH: the directory man sees is that one, which
    // may hold a symbolic link to the binary.
    let on_path = std::env::var_os("PATH").and_then(|path| {
        // This runs as every command starts: one lstat per PATH entry, a realpath only where a
        // git-oc is.
        std::env::split_paths(&path).find(|dir| {
            let candidate = dir.join("git-oc");
            candidate.symlink_metadata().is_ok() && std::fs::canonicalize(candidate).is_ok_and(|p| p == this)
        })
    });
    let bin = on_path.or_else(|| exe.parent().map(std::path::Path::to_owned))?;
    if bin.file_name()? != "bin" {
        return None;
    }
    Some(bin.parent()?.join("share").join("man"))
}

/// On first use from an installed binary, put the man pages where man finds them, so that
/// `git help oc` and `git oc --help` work: when they are missing, or written by another version.
/// Quiet, and never a reason for a command to fail.
pub fn install_man_pages_on_first_use() {
    let Some(dir) = installed_man_dir().map(|d| d.join("man1")) else {
        return;
    };
    // The version is in the page's first line: read its head only.
    let mut head = [0_u8; 512];
    let current = std::fs::File::open(dir.join("git-oc.1"))
        .and_then(|mut page| std::io::Read::read(&mut page, &mut head))
        .is_ok_and(|n| {
            String::from_utf8_lossy(&head[..n]).contains(&format!("\"git-oc {}\"", env!("CARGO_PKG_VERSION")))
        });
    if current {
        return;
    }
    match write_man_pages(&dir) {
        Ok(_) => tracing::debug!(dir = %dir.display(), "installed the man pages"),
        Err(e) => tracing::debug!(dir = %dir.display(), error = %e.message, "could not install the man pages"),
    }
}
