//! Reading configuration files that may be hostile.
//!
//! `.oc/config.toml` and a routing `policy_file` are committed to the repository, so anyone who
//! can push can shape them: a symlink to `/dev/zero` grows memory without bound, a FIFO blocks
//! forever, a deeply nested YAML document keeps the parser busy for minutes. A file is therefore
//! read only when it is a regular file after following symlinks (opened without blocking and
//! checked with `fstat` before a byte is read), only up to a size limit, and only parsed when its
//! nesting stays under a depth limit, checked by a linear scan before any parser sees the text.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// The largest configuration or policy file git-oc reads.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// The deepest nesting (tables, lists, mappings) git-oc lets a parser see.
pub const MAX_NESTING: usize = 64;

/// The language of a file, for the nesting scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    Toml,
    Yaml,
}

/// `path` opened with `options` only if it is a regular file, for files an agent could have
/// replaced (git-oc's own state under `.git/oc/`, what the agent wrote in its worktree): opened
/// without blocking (a FIFO would wait for a writer for good, deaf to signals), checked with
/// `fstat` before any use, and, unless `follow_symlinks`, never through a symlink (one pointing
/// at a file of yours would have git-oc write or lock that file). Anything else is an error of
/// kind `InvalidInput`.
pub fn open_regular_file(
    options: &mut std::fs::OpenOptions,
    path: &Path,
    follow_symlinks: bool,
) -> std::io::Result<(std::fs::File, std::fs::Metadata)> {
    let not_regular = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file");
    let no_follow = if follow_symlinks { 0 } else { libc::O_NOFOLLOW };
    let file = options
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | no_follow)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                not_regular()
            } else {
                e
            }
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    Ok((file, meta))
}

/// The bytes of `path` when it is a regular file (after symlinks) of at most `max_bytes`, else
/// `None` (see [`open_regular_file`]); a file that grows while read does no harm either.
pub fn read_plain_file(path: &Path, max_bytes: u64) -> Option<Vec<u8>> {
    read_regular(path, max_bytes, true)
}

/// [`read_plain_file`], but never through a symlink (a file the agent left: a link in its place
/// could point at any file of yours).
pub fn read_plain_file_here(path: &Path, max_bytes: u64) -> Option<Vec<u8>> {
    read_regular(path, max_bytes, false)
}

fn read_regular(path: &Path, max_bytes: u64, follow_symlinks: bool) -> Option<Vec<u8>> {
    // What is already known not to be a file is not opened at all (a FIFO opened without
    // blocking would still have a reader for a moment); the open below checks again.
    let seen = if follow_symlinks {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    };
    if seen.is_ok_and(|m| !m.is_file() && !m.file_type().is_symlink()) {
        return None;
    }
    let (file, meta) = open_regular_file(std::fs::OpenOptions::new().read(true), path, follow_symlinks).ok()?;
    if meta.len() > max_bytes {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max_bytes + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= max_bytes).then_some(bytes)
}

/// [`read_plain_file`] as UTF-8 text (a worktree's `HEAD` or `gitdir`, say).
pub fn read_plain_text(path: &Path, max_bytes: u64) -> Option<String> {
    String::from_utf8(read_plain_file(path, max_bytes)?).ok()
}

/// Read the configuration file at `path` (`what` names it in messages, e.g. "configuration
/// file"). `Ok(None)` when nothing is there; an error (bad input, exit 2) when it is not a
/// regular file, is larger than [`MAX_FILE_BYTES`], is not UTF-8 or nests deeper than
/// [`MAX_NESTING`].
pub fn read_config_file(path: &Path, what: &str, syntax: Syntax) -> Result<Option<String>> {
    let shown = path.display();
    let file = match std::fs::OpenOptions::new()
        .read(true)
        // Opening a FIFO for reading would wait for a writer; a terminal would become ours.
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => Err(Error::input(format!(
                    "{what} {shown} is a symbolic link to a file that does not exist"
                ))
                .hint("make it a regular file, or remove it")),
                _ => Ok(None),
            };
        }
        Err(e) => {
            let kind = if e.raw_os_error() == Some(libc::ENXIO) {
                " (it is a socket or a device)".to_owned()
            } else {
                String::new()
            };
            return Err(Error::input(format!("cannot read {what} {shown}{kind}"))
                .caused_by(e.to_string())
                .hint(format!("a {what} must be a regular, readable file")));
        }
    };
    let meta = file
        .metadata()
        .map_err(|e| Error::input(format!("cannot read {what} {shown}")).caused_by(e.to_string()))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a named pipe (FIFO)"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(
            Error::input(format!("{what} {shown} is {kind}, not a regular file")).hint(format!(
                "git-oc reads a {what} only from a regular file; replace it with one, or remove it"
            )),
        );
    }
    let too_large = || {
        Error::input(format!("{what} {shown} is larger than {} KiB", MAX_FILE_BYTES / 1024))
            .hint("configuration and policy files are small; check that this is the right file")
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    // The size can change under us; never read more than the limit.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::input(format!("cannot read {what} {shown}")).caused_by(e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::input(format!("{what} {shown} is not UTF-8")).hint("save it as UTF-8 text"))?;
    check_nesting(&text, syntax).map_err(|line| {
        Error::input(format!(
            "{what} {shown} nests deeper than the limit of {MAX_NESTING} levels (at line {line})"
        ))
        .hint("real configuration nests a few levels; this file is malformed or hostile")
    })?;
    Ok(Some(text))
}

/// `Err(line)` (1-based) where the nesting of `text` first exceeds [`MAX_NESTING`]. Linear in
/// the length of the text and never under-counts: brackets inside quoted strings and comments
/// are skipped, and anything ambiguous counts as nesting.
pub fn check_nesting(text: &str, syntax: Syntax) -> std::result::Result<(), usize> {
    match syntax {
        Syntax::Toml => toml_nesting(text),
        Syntax::Yaml => yaml_nesting(text),
    }
}

fn toml_nesting(text: &str) -> std::result::Result<(), usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut i = 0;
    // Dots in the key part of a line (`a.b.c = 1`, `[a.b.c]`) are nesting too.
    let mut key_dots = 0usize;
    let mut in_key = true;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => {
                line += 1;
                key_dots = 0;
                in_key = depth == 0;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                let delim: &[u8] = if b == b'"' && bytes[i..].starts_with(b"\"\"\"") {
                    b"\"\"\""
                } else if b == b'\'' && bytes[i..].starts_with(b"'''") {
                    b"'''"
                } else if b == b'"' {
                    b"\""
                } else {
                    b"'"
                };
                i += delim.len();
                while i < bytes.len() {
                    let c = bytes[i];
                    if c == b'\n' {
                        if delim.len() == 1 {
                            // A one-line string ends with its line (unterminated: the parser says so).
                            break;
                        }
                        line += 1;
                    }
                    if b == b'"' && c == b'\\' {
                        if bytes.get(i + 1) == Some(&b'\n') {
                            line += 1;
                        }
                        i += 2;
                        continue;
                    }
                    if bytes[i..].starts_with(delim) {
                        i += delim.len();
                        // A closing triple quote may be followed by one or two more quotes.
                        while delim.len() == 3 && i < bytes.len() && bytes[i] == b {
                            i += 1;
                        }
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'=' if depth == 0 => in_key = false,
            b'.' if in_key => key_dots += 1,
            _ => {}
        }
        if depth + key_dots > MAX_NESTING {
            return Err(line);
        }
        i += 1;
    }
    Ok(())
}

fn yaml_nesting(text: &str) -> std::result::Result<(), usize> {
    // Indentation levels of the enclosing block collections.
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    // Inside a quoted scalar that spans lines: the quote character.
    let mut quoted: Option<u8> = None;
    // Inside a block scalar (`|`, `>`): lines indented deeper than this are text.
    let mut block_scalar: Option<usize> = None;
    for (n, raw) in text.split('\n').enumerate() {
        let line = n + 1;
        let bytes = raw.as_bytes();
        let indent = bytes.iter().take_while(|&&b| b == b' ').count();
        let content = &bytes[indent..];
        if let Some(parent) = block_scalar {
            if content.is_empty() || indent > parent {
                continue;
            }
            block_scalar = None;
        }
        let mut i = 0;
        let mut line_depth = 0usize;
        if quoted.is_none() && flow == 0 {
            if content.is_empty() || content[0] == b'#' {
                continue;
            }
            while indents.last().is_some_and(|&top| top > indent) {
                indents.pop();
            }
            if indents.last().is_none_or(|&top| top < indent) {
                indents.push(indent);
            }
            // Compact nesting on one line: `- - - x`, `? - x`.
            while i + 1 < content.len() && matches!(content[i], b'-' | b'?') && content[i + 1] == b' ' {
                line_depth += 1;
                i += 2;
                while i < content.len() && content[i] == b' ' {
                    i += 1;
                }
            }
        }
        // Whether the next character starts a node (where `[`, `{` and quotes are indicators).
        let mut node_start = true;
        while i < content.len() {
            let b = content[i];
            if let Some(q) = quoted {
                if q == b'"' && b == b'\\' {
                    i += 2;
                    continue;
                }
                if b == q {
                    if q == b'\'' && content.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    quoted = None;
                    node_start = false;
                }
                i += 1;
                continue;
            }
            match b {
                b'#' if i == 0 || content[i - 1] == b' ' || content[i - 1] == b'\t' => break,
                b'"' | b'\'' if node_start => quoted = Some(b),
                b'[' | b'{' if flow > 0 || node_start => {
                    flow += 1;
                    node_start = true;
                }
                b']' | b'}' if flow > 0 => {
                    flow -= 1;
                    node_start = false;
                }
                b',' if flow > 0 => node_start = true,
                b':' | b'-' | b'?' if content.get(i + 1).is_none_or(|c| *c == b' ' || *c == b'\t') => {
                    node_start = true;
                }
                b'|' | b'>' if node_start && flow == 0 => {
                    // A block scalar: its text is the more indented lines that follow.
                    block_scalar = Some(indent);
                    break;
                }
                b' ' | b'\t' => {}
                // Tags and anchors before a node keep the position a node start.
                b'!' | b'&' if node_start => {
                    while i < content.len() && content[i] != b' ' {
                        i += 1;
                    }
                    continue;
                }
                _ => node_start = false,
            }
            if indents.len() + line_depth + flow > MAX_NESTING {
                return Err(line);
            }
            i += 1;
        }
        if indents.len() + line_depth + flow > MAX_NESTING {
            return Err(line);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an agent can put where git-oc keeps state: only a regular file of at most the
    /// limit is read, and nothing blocks (a FIFO with no writer would wait forever).
    #[test]
    fn a_plain_file_is_read_only_when_it_is_one() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("state");
        std::fs::write(&file, "12345").expect("write");
        assert_eq!(read_plain_file(&file, 5).as_deref(), Some(&b"12345"[..]));
        assert_eq!(read_plain_file(&file, 4), None);
        let fifo = tmp.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: mkfifo(3) with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        assert_eq!(read_plain_file(&fifo, 1024), None);
        let zero = tmp.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
        assert_eq!(read_plain_file(&zero, 1024), None);
        assert_eq!(read_plain_file(&tmp.path().join("missing"), 1024), None);
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert_eq!(read_plain_file(&link, 5).as_deref(), Some(&b"12345"[..]));
        assert_eq!(read_plain_file_here(&link, 5), None);
        assert_eq!(read_plain_file_here(&file, 5).as_deref(), Some(&b"12345"[..]));
        assert_eq!(read_plain_file(tmp.path(), 1024), None);
    }

    fn deep(s: &str, syntax: Syntax) -> bool {
        check_nesting(s, syntax).is_err()
    }

    #[test]
    fn real_files_pass() {
        for yaml in [
            include_str!("../routing/switchboard-default-policy.yaml"),
            include_str!("../routing/testdata/switchboard-policy.yaml"),
        ] {
            assert_eq!(check_nesting(yaml, Syntax::Yaml), Ok(()));
        }
        let toml = "[run]\ntimeout = 5\n[[policy.repo_policies]]\nrepo_key = \"r\"\n\
                    [policy.repo_policies.path_policy]\nrules = [{ path_pattern = \"a/**\", access_mode = \"block\" }]\n";
        assert_eq!(check_nesting(toml, Syntax::Toml), Ok(()));
    }

    #[test]
    fn deep_flow_collections_are_caught() {
        let flow = format!("rules: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(check_nesting(&flow, Syntax::Yaml), Err(1));
        let toml = format!("rules = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert!(deep(&toml, Syntax::Toml));
        let dots = format!("a{} = 1\n", ".a".repeat(100));
        assert!(deep(&dots, Syntax::Toml));
        let inline = format!("a = {}{}\n", "{b = ".repeat(80), "}".repeat(80));
        assert!(deep(&inline, Syntax::Toml));
    }

    #[test]
    fn deep_block_collections_are_caught() {
        let block: String = (0..200).map(|i| format!("{}k{i}:\n", "  ".repeat(i))).collect();
        assert!(deep(&block, Syntax::Yaml));
        let dashes = format!("rules:\n{}x\n", "- ".repeat(100));
        assert_eq!(check_nesting(&dashes, Syntax::Yaml), Err(2));
    }

    #[test]
    fn brackets_in_strings_comments_and_text_do_not_count_or_hide_nesting() {
        let quoted = format!(
            "a: \"{}\"\nb: '{}'\n# {}\nc: x[{}\n",
            "[".repeat(99),
            "{".repeat(99),
            "[".repeat(99),
            "[".repeat(99)
        );
        assert_eq!(check_nesting(&quoted, Syntax::Yaml), Ok(()));
        // Closing brackets in a string cannot cancel real nesting.
        let hidden = format!("a: [{}\"{}\"{}]\n", "[".repeat(40), "]".repeat(40), "[".repeat(40));
        assert!(deep(&hidden, Syntax::Yaml));
        let toml_hidden = format!("a = [{}\"{}\"{}\n", "[".repeat(40), "]".repeat(40), "[".repeat(40));
        assert!(deep(&toml_hidden, Syntax::Toml));
        let toml_strings = format!(
            "a = \"{}\"\nb = '{}'\nc = \"\"\"\n{}\n\"\"\"\n# {}\n",
            "[".repeat(99),
            "[".repeat(99),
            "[".repeat(99),
            "[".repeat(99)
        );
        assert_eq!(check_nesting(&toml_strings, Syntax::Toml), Ok(()));
        let block_scalar = format!("a: |\n  {}\n  more\nb: 1\n", "[".repeat(99));
        assert_eq!(check_nesting(&block_scalar, Syntax::Yaml), Ok(()));
    }
}
