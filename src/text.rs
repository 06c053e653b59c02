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
    fn line_structure_can_be_kept() {
        assert_eq!(
            escape_controls_keep_lines("one\x1b[2J\n\ttwo\r\n"),
            "one\\x1b[2J\n\ttwo\\r\n"
        );
    }
}
