//! Python `repr()` for the strings and lists that appear inside policy messages.
//!
//! The reference formats messages with `{value!r}`; reproducing that exactly keeps git-oc's
//! evidence readable next to the reference's and lets its worked examples serve as test vectors.

use std::fmt::Write;

/// `repr(s)` for a Python `str`: single quotes, or double quotes when `s` contains `'` and no
/// `"`; backslash, the chosen quote and non-printable characters escaped as Python does.
pub fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_unprintable(c) => {
                let code = u32::from(c);
                // Writing into a String cannot fail.
                let _ = if code < 0x100 {
                    write!(out, "\\x{code:02x}")
                } else if code < 0x1_0000 {
                    write!(out, "\\u{code:04x}")
                } else {
                    write!(out, "\\U{code:08x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `repr(list_of_str)`: `['a', 'b']`, and `[]` for an empty list.
pub fn py_repr_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| py_repr_str(s)).collect();
    format!("[{}]", inner.join(", "))
}

/// Characters Python's `str.isprintable()` rejects: control (Cc) and private-use (Co)
/// characters, separators other than the ASCII space (Zs, Zl, Zp) and the format characters (Cf)
/// that can hide inside paths and labels. Unassigned code points (Cn) are kept as they are:
/// deciding them needs the full Unicode tables, and they do not occur in real paths.
fn is_unprintable(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00..=0x1f
            | 0x7f..=0xa0
            | 0xad
            | 0x600..=0x605
            | 0x61c
            | 0x6dd
            | 0x70f
            | 0x1680
            | 0x180e
            | 0x2000..=0x200f
            | 0x2028..=0x202f
            | 0x205f..=0x2064
            | 0x2066..=0x206f
            | 0x3000
            | 0xe000..=0xf8ff
            | 0xfeff
            | 0xfff9..=0xfffb
            | 0xf_0000..=0x10_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_use_single_quotes() {
        assert_eq!(py_repr_str("claude_cli"), "'claude_cli'");
        assert_eq!(py_repr_str(""), "''");
        assert_eq!(py_repr_str("a \"b\""), "'a \"b\"'");
    }

    #[test]
    fn single_quote_switches_to_double_quotes() {
        assert_eq!(py_repr_str("it's"), "\"it's\"");
    }

    #[test]
    fn both_quotes_keep_single_quotes_and_escape() {
        assert_eq!(py_repr_str("it's \"x\""), "'it\\'s \"x\"'");
    }

    #[test]
    fn escapes_backslash_and_control_characters() {
        assert_eq!(py_repr_str("a\\b"), "'a\\\\b'");
        assert_eq!(py_repr_str("a\nb\rc\td"), "'a\\nb\\rc\\td'");
        assert_eq!(py_repr_str("\x07\x1b\x7f"), "'\\x07\\x1b\\x7f'");
        assert_eq!(py_repr_str("\u{85}\u{a0}"), "'\\x85\\xa0'");
        assert_eq!(py_repr_str("a\u{200b}b\u{2028}"), "'a\\u200bb\\u2028'");
    }

    #[test]
    fn printable_unicode_is_kept() {
        assert_eq!(py_repr_str("héllo — ✓"), "'héllo — ✓'");
    }

    #[test]
    fn lists() {
        assert_eq!(py_repr_list(&[]), "[]");
        assert_eq!(py_repr_list(&["a".into(), "b".into()]), "['a', 'b']");
        assert_eq!(py_repr_list(&["it's".into()]), "[\"it's\"]");
    }
}
