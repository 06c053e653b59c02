//! Text shown to people: values that come from goals, branch names, file names, configuration
//! or fetched evidence may hold control characters, and printed raw an escape sequence in them
//! would set the terminal's title or colours, or hide text. Human output escapes them; JSON
//! output stays exact (serde_json escapes control characters itself).

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal raw: C0 and C1 controls, DEL, and the Unicode
/// bidirectional and invisible formatting characters that can reorder or hide text.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
        )
}

/// `text` with every unsafe character escaped (`\n`, `\t`, `\r`, `\x1b`, `\u{202e}`), borrowed
/// unchanged when there is nothing to escape. Backslashes are kept as they are.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_unsafe_char(c) => {
                let code = u32::from(c);
                // Writing into a String cannot fail.
                let _ = if code < 0x80 {
                    write!(out, "\\x{code:02x}")
                } else {
                    write!(out, "\\u{{{code:04x}}}")
                };
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Like [`escape_controls`] for multi-line text: line breaks (`\n`) and tabs are kept, every
/// other unsafe character is escaped. For file contents shown on a terminal.
pub fn escape_controls_keep_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && c != '\t' && is_unsafe_char(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        for part in body.split_inclusive('\t') {
            let (chunk, tab) = match part.strip_suffix('\t') {
                Some(chunk) => (chunk, "\t"),
                None => (part, ""),
            };
            out.push_str(&escape_controls(chunk));
            out.push_str(tab);
        }
        out.push_str(newline);
    }
    Cow::Owned(out)
}

/// Columns `c` takes on a terminal: 0 for combining marks and zero-width characters, 2 for East
/// Asian wide and fullwidth characters and emoji, else 1. An approximation of `wcwidth` that is
/// right for the scripts goals and branch names are written in; controls are escaped before
/// text is measured.
pub fn char_width(c: char) -> usize {
    let u = u32::from(c);
    match u {
        0x0300..=0x036f
        | 0x0483..=0x0489
        | 0x0591..=0x05bd
        | 0x0610..=0x061a
        | 0x064b..=0x065f
        | 0x200b..=0x200f
        | 0x20d0..=0x20ff
        | 0xfe00..=0xfe0f
        | 0xfe20..=0xfe2f
        | 0xfeff => 0,
        0x1100..=0x115f
        | 0x231a..=0x231b
        | 0x2329..=0x232a
        | 0x23e9..=0x23ec
        | 0x2614..=0x2615
        | 0x2648..=0x2653
        | 0x26aa..=0x26ab
        | 0x26bd..=0x26be
        | 0x26c4..=0x26c5
        | 0x2705
        | 0x270a..=0x270b
        | 0x274c
        | 0x2753..=0x2755
        | 0x2795..=0x2797
        | 0x2e80..=0x303e
        | 0x3041..=0x33ff
        | 0x3400..=0x4dbf
        | 0x4e00..=0x9fff
        | 0xa000..=0xa4cf
        | 0xa960..=0xa97f
        | 0xac00..=0xd7a3
        | 0xf900..=0xfaff
        | 0xfe10..=0xfe19
        | 0xfe30..=0xfe6f
        | 0xff00..=0xff60
        | 0xffe0..=0xffe6
        | 0x1f300..=0x1f64f
        | 0x1f680..=0x1f6ff
        | 0x1f900..=0x1f9ff
        | 0x1fa70..=0x1faff
        | 0x20000..=0x3fffd => 2,
        _ => 1,
    }
}

/// Columns `text` takes on a terminal (see [`char_width`]).
pub fn display_width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

/// `text` cut to at most `width` columns, ending with `…` when something was cut.
pub fn truncate_to_width(text: &str, width: usize) -> Cow<'_, str> {
    if display_width(text) <= width {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = char_width(c);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(c);
    }
    if width > 0 {
        out.push('…');
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(escape_controls("héllo — ✓ a\\b"), Cow::Borrowed(_)));
        assert!(matches!(escape_controls_keep_lines("a\n\tb\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_and_controls_are_escaped() {
        assert_eq!(escape_controls("\x1b]0;owned\x07title"), "\\x1b]0;owned\\x07title");
        assert_eq!(escape_controls("a\nb\tc\rd\x7f"), "a\\nb\\tc\\rd\\x7f");
        assert_eq!(escape_controls("\u{9b}31m"), "\\u{009b}31m");
        assert_eq!(escape_controls("abc\u{202e}txt.exe"), "abc\\u{202e}txt.exe");
    }

    #[test]
    fn widths_count_terminal_columns() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("日本"), 4);
        assert_eq!(display_width("e\u{301}"), 1);
        assert_eq!(truncate_to_width("abcdef", 4), "abc…");
        assert_eq!(truncate_to_width("abc", 4), "abc");
        assert_eq!(truncate_to_width("日本語", 4), "日…");
        assert!(display_width(&truncate_to_width("日本語です", 5)) <= 5);
    }

    #[test]
    fn line_structure_can_be_kept() {
        assert_eq!(
            escape_controls_keep_lines("one\x1b[2J\n\ttwo\r\n"),
            "one\\x1b[2J\n\ttwo\\r\n"
        );
    }
}
