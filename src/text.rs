//! Text shown to people: control characters in goals, branch names, file names and fetched
//! evidence are escaped so that they cannot move the cursor, recolour or retitle a terminal.
//! JSON output is exact and never goes through here.

use std::borrow::Cow;

/// `s` with every control character but tab shown escaped (`\n`, `\u{1b}`).
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\t') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_tabs_kept() {
        assert_eq!(escape_controls("plain\ttext"), "plain\ttext");
        assert_eq!(escape_controls("a\nb\u{1b}]0;title\u{7}"), "a\\nb\\u{1b}]0;title\\u{7}");
    }
}
