//! `build/hot-text.ld`, which release builds on Linux link with (see build.rs), is read by both
//! linkers build.rs lets it reach, and places a function it names in the hot section. CI builds
//! the dev profile, which does not use it, so a broken script would otherwise first show in a
//! user's `cargo install`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("build/hot-text.ld")
}

/// A C function named like the first Rust function the script lists (its wildcards filled in).
fn function_the_script_names() -> String {
    let text = std::fs::read_to_string(script()).unwrap();
    let pattern = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("*(.text."))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the script lists functions")
        .to_owned();
    pattern.replace('*', "x").replace('?', "1")
}

/// `readelf -SW` of `binary`: the hot section's address and size, and the symbol's address.
fn placement(binary: &Path, symbol: &str) -> (u64, u64, u64) {
    let sections = Command::new("readelf").arg("-SW").arg(binary).output().unwrap();
    let sections = String::from_utf8_lossy(&sections.stdout).into_owned();
    let hot = sections
        .lines()
        .find(|l| l.contains(" .text.hot "))
        .unwrap_or_else(|| panic!("no .text.hot section:\n{sections}"));
    let fields: Vec<&str> = hot.split_whitespace().collect();
    let at = fields.iter().position(|f| *f == ".text.hot").unwrap();
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap();
    let (address, size) = (hex(fields[at + 2]), hex(fields[at + 4]));
    let symbols = Command::new("nm").arg(binary).output().unwrap();
    let symbols = String::from_utf8_lossy(&symbols.stdout).into_owned();
    let line = symbols
        .lines()
        .find(|l| l.ends_with(&format!(" {symbol}")))
        .unwrap_or_else(|| panic!("{symbol} not in the binary"));
    (address, size, hex(line.split_whitespace().next().unwrap()))
}

fn link_with(linker: &[&str], dir: &Path, hot: &str) -> PathBuf {
    let source = dir.join("main.c");
    std::fs::write(
        &source,
        format!("int {hot}(int x) {{ return x + 1; }}\nint cold(int x) {{ return x * 3; }}\nint main(void) {{ return {hot}(cold(0)) - 1; }}\n"),
    )
    .unwrap();
    let out = dir.join(format!("a-{}", linker.len()));
    let cc = Command::new("cc")
        .args(linker)
        .args(["-O1", "-ffunction-sections", "-o"])
        .arg(&out)
        .arg(&source)
        .arg(format!("-Wl,-T,{}", script().display()))
        .output()
        .expect("cc");
    assert!(
        cc.status.success(),
        "linking with {linker:?} and the script failed:\n{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let ran = Command::new(&out).status().unwrap();
    assert!(ran.success(), "the linked program runs");
    out
}

#[test]
fn the_hot_text_script_places_named_functions_first_with_lld_and_gnu_ld() {
    let dir = tempfile::tempdir().unwrap();
    let hot = function_the_script_names();
    let sysroot = Command::new("rustc").args(["--print", "sysroot"]).output().unwrap();
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_owned();
    // The lld that rustc links with on x86_64 Linux, as rustc passes it to cc.
    let gcc_ld = format!("-B{sysroot}/lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld");
    for linker in [vec![gcc_ld.as_str(), "-fuse-ld=lld"], vec!["-fuse-ld=bfd"]] {
        let binary = link_with(&linker, dir.path(), &hot);
        let (start, size, at) = placement(&binary, &hot);
        assert!(
            (start..start + size).contains(&at),
            "with {linker:?}, {hot} at {at:#x} is outside .text.hot ({start:#x}, {size} bytes)"
        );
    }
}
