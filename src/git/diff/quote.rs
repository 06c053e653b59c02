//! git's C-style quoting of path names (`quote_c_style` in quote.c) and its rename display
//! (`pprint_rename` in diff.c), on raw path bytes.

/// What git does with a byte: `1` always escape as octal, `0` escape as octal only when
/// `core.quotepath` is on, `-1` never escape, anything else: escape as `\` and that letter.
const fn lookup(b: u8) -> i8 {
    match b {
        0x07 => b'a' as i8,
        0x08 => b'b' as i8,
        b'\t' => b't' as i8,
        b'\n' => b'n' as i8,
        0x0b => b'v' as i8,
        0x0c => b'f' as i8,
        b'\r' => b'r' as i8,
        b'"' => b'"' as i8,
        b'\\' => b'\\' as i8,
        0x00..=0x1f | 0x7f => 1,
        0x80..=0xff => 0,
        _ => -1,
    }
}

fn must_quote(b: u8, quote_fully: bool) -> bool {
    lookup(b) + i8::from(quote_fully) > 0
}

/// Whether git would quote `name` (`core.quotepath` is `quote_fully`).
pub fn needs_quoting(name: &[u8], quote_fully: bool) -> bool {
    name.iter().any(|&b| must_quote(b, quote_fully))
}

/// Append `name` to `out` as git prints it: unchanged when nothing needs escaping, otherwise in
/// double quotes with `\n`, `\"`, `\\`, `\t`… and octal escapes such as `\303\251`.
pub fn push_quoted(out: &mut Vec<u8>, name: &[u8], quote_fully: bool) {
    if !needs_quoting(name, quote_fully) {
        out.extend_from_slice(name);
        return;
    }
    out.push(b'"');
    for &b in name {
        if !must_quote(b, quote_fully) {
            out.push(b);
            continue;
        }
        out.push(b'\\');
        match lookup(b) {
            c if c >= b' ' as i8 => out.push(c as u8),
            _ => out.extend_from_slice(&[b'0' + ((b >> 6) & 3), b'0' + ((b >> 3) & 7), b'0' + (b & 7)]),
        }
    }
    out.push(b'"');
}

/// `name` quoted as git prints it, as a new buffer.
pub fn quoted(name: &[u8], quote_fully: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    push_quoted(&mut out, name, quote_fully);
    out
}

/// git's display of a rename: `"old" => "new"` when either name needs quoting, otherwise the
/// common directory prefix and suffix factored out, as in `src/{a.rs => b.rs}` or `old => new`.
pub fn rename_display(old: &[u8], new: &[u8], quote_fully: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(old.len() + new.len() + 6);
    if needs_quoting(old, quote_fully) || needs_quoting(new, quote_fully) {
        push_quoted(&mut out, old, quote_fully);
        out.extend_from_slice(b" => ");
        push_quoted(&mut out, new, quote_fully);
        return out;
    }
    let (a, b) = (old, new);
    // Common prefix, up to and including the last slash it contains.
    let mut pfx = 0;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x != y {
            break;
        }
        if *x == b'/' {
            pfx = i + 1;
        }
    }
    // Common suffix, from the ends (the terminators compare equal, as git's NULs do); with a
    // prefix the walk may step one byte into it to see its closing slash.
    let at = |s: &[u8], i: isize| if i as usize == s.len() { 0 } else { s[i as usize] };
    let floor = pfx as isize - isize::from(pfx > 0);
    let (mut oa, mut ob) = (a.len() as isize, b.len() as isize);
    let mut sfx = 0;
    while floor <= oa && floor <= ob && oa >= 0 && ob >= 0 && at(a, oa) == at(b, ob) {
        if at(a, oa) == b'/' {
            sfx = a.len() - oa as usize;
        }
        oa -= 1;
        ob -= 1;
    }
    let a_mid = a.len().saturating_sub(pfx + sfx);
    let b_mid = b.len().saturating_sub(pfx + sfx);
    let framed = pfx + sfx > 0;
    if framed {
        out.extend_from_slice(&a[..pfx]);
        out.push(b'{');
    }
    out.extend_from_slice(&a[pfx..pfx + a_mid]);
    out.extend_from_slice(b" => ");
    out.extend_from_slice(&b[pfx..pfx + b_mid]);
    if framed {
        out.push(b'}');
        out.extend_from_slice(&a[a.len() - sfx..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &[u8], fully: bool) -> String {
        String::from_utf8_lossy(&quoted(name, fully)).into_owned()
    }

    fn r(a: &str, b: &str) -> String {
        String::from_utf8(rename_display(a.as_bytes(), b.as_bytes(), true)).unwrap()
    }

    #[test]
    fn plain_names_stay_as_they_are() {
        assert_eq!(q(b"src/main.rs", true), "src/main.rs");
        assert_eq!(q(b"with space & $dollar'quote", true), "with space & $dollar'quote");
        assert_eq!(q(b"", true), "");
    }

    #[test]
    fn specials_and_control_characters() {
        assert_eq!(q(b"a\"b", true), r#""a\"b""#);
        assert_eq!(q(b"a\\b", false), r#""a\\b""#);
        assert_eq!(q(b"line\nbreak", false), r#""line\nbreak""#);
        assert_eq!(q(b"t\tab\r\x07\x08\x0b\x0c", true), r#""t\tab\r\a\b\v\f""#);
        assert_eq!(q(b"x\x01y\x1f\x7f", false), r#""x\001y\037\177""#);
    }

    #[test]
    fn high_bytes_follow_core_quotepath() {
        assert_eq!(q("é".as_bytes(), true), r#""\303\251""#);
        assert_eq!(q("é".as_bytes(), false), "é");
        assert_eq!(q(b"raw\xff", true), r#""raw\377""#);
        assert_eq!(quoted(b"raw\xff", false), b"raw\xff");
        // A high byte next to a control character: only the control character is escaped.
        assert_eq!(quoted(b"\xff\n", false), b"\"\xff\\n\"");
    }

    #[test]
    fn rename_display_matches_git() {
        assert_eq!(r("a.txt", "b.txt"), "a.txt => b.txt");
        assert_eq!(r("src/a.rs", "src/b.rs"), "src/{a.rs => b.rs}");
        assert_eq!(r("a/x/f", "b/x/f"), "{a => b}/x/f");
        assert_eq!(r("d/f", "d/e/f"), "d/{ => e}/f");
        assert_eq!(r("d/e/f", "d/f"), "d/{e => }/f");
        assert_eq!(
            r("modules/oniguruma", "vendor/oniguruma"),
            "{modules => vendor}/oniguruma"
        );
        assert_eq!(r("a/b/c", "a/b/c2"), "a/b/{c => c2}");
        assert_eq!(r("x", "y/x"), "x => y/x");
    }

    #[test]
    fn quoted_rename_is_never_shortened() {
        assert_eq!(
            String::from_utf8(rename_display(b"d/a\"b", b"d/c", true)).unwrap(),
            r#""d/a\"b" => d/c"#
        );
        assert_eq!(
            String::from_utf8(rename_display("d/é".as_bytes(), b"d/e", true)).unwrap(),
            r#""d/\303\251" => d/e"#
        );
        assert_eq!(
            String::from_utf8(rename_display("d/é".as_bytes(), b"d/e", false)).unwrap(),
            "d/{é => e}"
        );
    }
}
