//! The checked-in man pages and completion scripts must equal what the clap definition
//! generates. `GIT_OC_BLESS=1 cargo test --test cli assets` rewrites them.

use std::path::{Path, PathBuf};

use git_oc::cli::assets::{Shell, completion_file_name, completion_script, man_pages};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check(path: &Path, expected: &[u8], stale: &mut Vec<String>) {
    if std::env::var_os("GIT_OC_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, expected).unwrap();
        return;
    }
    if std::fs::read(path).ok().as_deref() != Some(expected) {
        stale.push(path.strip_prefix(root()).unwrap_or(path).display().to_string());
    }
}

#[test]
fn assets_are_up_to_date() {
    let mut stale = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let path = root().join("completions").join(completion_file_name(shell));
        check(&path, completion_script(shell).as_bytes(), &mut stale);
    }
    let pages = man_pages().unwrap();
    for (name, bytes) in &pages {
        check(&root().join("man/man1").join(name), bytes, &mut stale);
    }
    // No page of a removed command lingers.
    let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
    for entry in std::fs::read_dir(root().join("man/man1")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !names.contains(&name.as_str()) {
            stale.push(format!("man/man1/{name} (no such command)"));
        }
    }
    assert!(
        stale.is_empty(),
        "assets out of date: {}\nrun `GIT_OC_BLESS=1 cargo test --test cli assets` and commit the result",
        stale.join(", ")
    );
}

#[test]
fn every_subcommand_has_a_man_page() {
    let pages = man_pages().unwrap();
    let cmd = git_oc::cli::command();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("git-oc-{}.1", sub.get_name());
        assert!(pages.iter().any(|(n, _)| *n == name), "no man page {name}");
    }
    assert!(pages.iter().any(|(n, _)| n == "git-oc.1"));
}
