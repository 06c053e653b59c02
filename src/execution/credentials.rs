//! Credentials recognised by their form rather than by an environment variable: private keys
//! (PEM blocks) and the tokens of the services agents are most often given or find on a
//! machine (GitHub, GitLab, npm, Slack, AWS access key ids, Anthropic). An agent can read the
//! user's `~/.ssh/id_rsa` or a token file and print it or write it into the repository; these
//! are redacted from everything git-oc keeps, and a change that adds one is blocked by the
//! post-run gate. Only forms that cannot be mistaken for ordinary text are listed: a prefix and
//! a length, or a PEM armour line.

use std::ops::Range;
use std::sync::OnceLock;

/// One credential found: what kind, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub kind: &'static str,
    pub range: Range<usize>,
}

/// A token form: its prefix, the characters and the least number of them that follow it.
struct TokenForm {
    prefix: &'static str,
    kind: &'static str,
    charset: fn(u8) -> bool,
    min: usize,
}

fn alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn alnum_underscore(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn alnum_dash_underscore(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn upper_digit(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

const TOKENS: &[TokenForm] = &[
    TokenForm {
        prefix: "ghp_",
        kind: "github-token",
        charset: alnum,
        min: 36,
    },
    TokenForm {
        prefix: "gho_",
        kind: "github-token",
        charset: alnum,
        min: 36,
    },
    TokenForm {
        prefix: "ghu_",
        kind: "github-token",
        charset: alnum,
        min: 36,
    },
    TokenForm {
        prefix: "ghs_",
        kind: "github-token",
        charset: alnum,
        min: 36,
    },
    TokenForm {
        prefix: "ghr_",
        kind: "github-token",
        charset: alnum,
        min: 36,
    },
    TokenForm {
        prefix: "github_pat_",
        kind: "github-token",
        charset: alnum_underscore,
        min: 60,
    },
    TokenForm {
        prefix: "glpat-",
        kind: "gitlab-token",
        charset: alnum_dash_underscore,
        min: 20,
    },
    TokenForm {
        prefix: "npm_",
        kind: "npm-token",
        charset: alnum,
        min: 36,
    },
    TokenForm {
        prefix: "xoxb-",
        kind: "slack-token",
        charset: alnum_dash_underscore,
        min: 20,
    },
    TokenForm {
        prefix: "xoxp-",
        kind: "slack-token",
        charset: alnum_dash_underscore,
        min: 20,
    },
    TokenForm {
        prefix: "xoxa-",
        kind: "slack-token",
        charset: alnum_dash_underscore,
        min: 20,
    },
    TokenForm {
        prefix: "sk-ant-",
        kind: "anthropic-key",
        charset: alnum_dash_underscore,
        min: 32,
    },
    TokenForm {
        prefix: "AKIA",
        kind: "aws-access-key-id",
        charset: upper_digit,
        min: 16,
    },
];

const PEM_BEGIN: &str = "-----BEGIN ";
const PEM_END: &str = "-----END ";
/// How long the label of a PEM armour line can be (`ENCRYPTED PRIVATE KEY`, `PGP PRIVATE KEY BLOCK`).
const PEM_LABEL_MAX: usize = 40;

/// What a marker found by [`markers`] is the start of.
#[derive(Clone, Copy)]
enum Marker {
    /// `TOKENS[i]`'s prefix.
    Token(usize),
    PemBegin,
    PemEnd,
    /// `PRIVATE KEY-----` in base64.
    PemInBase64,
    /// A token prefix in base64.
    TokenInBase64,
}

/// The prefixes and armour lines, searched for in one pass (built once; fixed, valid patterns),
/// with what each is: the token prefixes, the two armour lines, then `PRIVATE KEY-----` and
/// each token prefix in base64 (at each offset they can start at, standard and URL-safe): a key
/// or a token stored encoded, as in a Kubernetes secret or a JSON configuration.
fn markers() -> Option<&'static (aho_corasick::AhoCorasick, Vec<Marker>)> {
    static MARKERS: OnceLock<Option<(aho_corasick::AhoCorasick, Vec<Marker>)>> = OnceLock::new();
    MARKERS
        .get_or_init(|| {
            let mut patterns: Vec<(Vec<u8>, Marker)> = TOKENS
                .iter()
                .enumerate()
                .map(|(i, t)| (t.prefix.as_bytes().to_vec(), Marker::Token(i)))
                .collect();
            patterns.push((PEM_BEGIN.as_bytes().to_vec(), Marker::PemBegin));
            patterns.push((PEM_END.as_bytes().to_vec(), Marker::PemEnd));
            for form in super::secrets::base64_cores(b"PRIVATE KEY-----", 1) {
                patterns.push((form, Marker::PemInBase64));
            }
            // A token prefix is short (4 to 11 bytes): its forms are 4 to 14 characters, only
            // where to look; what the run decodes to decides.
            for t in TOKENS {
                for form in super::secrets::base64_cores(t.prefix.as_bytes(), 1) {
                    if !patterns.iter().any(|(p, _)| *p == form) {
                        patterns.push((form, Marker::TokenInBase64));
                    }
                }
            }
            let (forms, kinds): (Vec<Vec<u8>>, Vec<Marker>) = patterns.into_iter().unzip();
            Some((aho_corasick::AhoCorasick::new(forms).ok()?, kinds))
        })
        .as_ref()
}

/// The bytes a run of base64 decodes to, at each of the four places a quantum can start (the
/// run may begin with a word that is not part of the value, `key=` say); line breaks and
/// padding left out, URL-safe characters read as standard ones.
fn decodings(run: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let chars: Vec<u8> = run
        .iter()
        .filter(|c| **c != b'=' && !c.is_ascii_whitespace())
        .map(|&c| match c {
            b'-' => b'+',
            b'_' => b'/',
            c => c,
        })
        .collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
    );
    (0..4)
        .filter_map(|skip| {
            let body = chars.get(skip..)?;
            // A last quantum of one character holds no whole byte.
            let whole = body.len() - usize::from(body.len() % 4 == 1);
            engine.decode(&body[..whole]).ok()
        })
        .collect()
}

fn is_base64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'-' | b'_')
}

/// The run of base64 around `start..end`: its characters, and the lines after it that hold
/// nothing else (base64 wrapped at 64 or 76 columns).
fn base64_run(text: &[u8], start: usize, end: usize) -> Range<usize> {
    let mut from = start;
    loop {
        while from > 0 && is_base64(text[from - 1]) {
            from -= 1;
        }
        // A line before of base64 alone belongs to the run too.
        if from < 2 || text[from - 1] != b'\n' {
            break;
        }
        let line_start = text[..from - 1].iter().rposition(|c| *c == b'\n').map_or(0, |p| p + 1);
        if line_start == from - 1 || !text[line_start..from - 1].iter().all(|c| is_base64(*c)) {
            break;
        }
        from = line_start;
    }
    let mut to = end;
    loop {
        while to < text.len() && is_base64(text[to]) {
            to += 1;
        }
        // A next line of base64 alone continues the run.
        let next = to + 1;
        let line_end = text[next.min(text.len())..]
            .iter()
            .position(|c| *c == b'\n')
            .map_or(text.len(), |p| next + p);
        let continues =
            text.get(to) == Some(&b'\n') && line_end > next && text[next..line_end].iter().all(|c| is_base64(*c));
        if !continues {
            return from..to;
        }
        to = next;
    }
}

/// The PEM label at `at` (just after `-----BEGIN ` or `-----END `) when it names a private key
/// and is closed by `-----`: the index just past the closing dashes.
fn private_key_label(text: &[u8], at: usize) -> Option<usize> {
    let rest = &text[at..text.len().min(at + PEM_LABEL_MAX + 5)];
    let close = rest.windows(5).position(|w| w == b"-----")?;
    let label = &rest[..close];
    let is_key = label.iter().all(|c| c.is_ascii_uppercase() || *c == b' ')
        && (label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK"));
    is_key.then_some(at + close + 5)
}

/// Every credential in `text`, in order, not overlapping. A private key is the whole block from
/// its `BEGIN` line to its `END` line (to the end of `text` without one; from the start of
/// `text` for an `END` line whose `BEGIN` was cut off, as in the kept tail of a long output). A
/// key or a token in base64 is the whole run of base64 that holds it.
pub fn find(text: &[u8]) -> Vec<Found> {
    find_in(text, true)
}

/// [`find`], looking into runs of base64 when `decode` (not again in what they decode to).
fn find_in(text: &[u8], decode: bool) -> Vec<Found> {
    let mut found: Vec<Found> = Vec::new();
    let Some((markers, kinds)) = markers() else {
        return found;
    };
    let mut covered = 0;
    // The end of the last run of base64 decoded: each is decoded once, however many markers
    // it holds.
    let mut decoded_to = 0;
    for m in markers.find_overlapping_iter(text) {
        if m.start() < covered {
            continue;
        }
        match kinds[m.pattern().as_usize()] {
            Marker::Token(index) => {
                let form = &TOKENS[index];
                // A token starts a word: `xghp_…` is not one.
                if m.start() > 0 && alnum_underscore(text[m.start() - 1]) {
                    continue;
                }
                let tail = text[m.end()..].iter().take_while(|c| (form.charset)(**c)).count();
                if tail < form.min || (form.prefix == "AKIA" && text[m.end()..].starts_with(b"IOSFODNN7EXAMPLE")) {
                    continue;
                }
                let end = m.end() + tail;
                found.push(Found {
                    kind: form.kind,
                    range: m.start()..end,
                });
                covered = end;
            }
            Marker::PemInBase64 => {
                let run = base64_run(text, m.start(), m.end());
                let start = run.start.max(covered);
                found.push(Found {
                    kind: "private-key",
                    range: start..run.end,
                });
                covered = run.end;
            }
            Marker::TokenInBase64 => {
                if !decode || m.start() < decoded_to {
                    continue;
                }
                let run = base64_run(text, m.start(), m.end());
                decoded_to = run.end;
                let kind = decodings(&text[run.clone()])
                    .iter()
                    .find_map(|bytes| find_in(bytes, false).first().map(|f| f.kind));
                if let Some(kind) = kind {
                    let start = run.start.max(covered);
                    found.push(Found {
                        kind,
                        range: start..run.end,
                    });
                    covered = run.end;
                }
            }
            Marker::PemBegin => {
                let Some(label_end) = private_key_label(text, m.end()) else {
                    continue;
                };
                let end = find_end(text, label_end).unwrap_or(text.len());
                found.push(Found {
                    kind: "private-key",
                    range: m.start()..end,
                });
                covered = end;
            }
            Marker::PemEnd => {
                if let Some(end) = private_key_label(text, m.end()) {
                    // An END line with no BEGIN before it: the block's start was cut off.
                    found.push(Found {
                        kind: "private-key",
                        range: covered..end,
                    });
                    covered = end;
                }
            }
        }
    }
    found
}

/// The index just past the `-----END … PRIVATE KEY-----` line that closes a block, from `from`.
fn find_end(text: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(pos) = text[at..].windows(PEM_END.len()).position(|w| w == PEM_END.as_bytes()) {
        let label = at + pos + PEM_END.len();
        if let Some(end) = private_key_label(text, label) {
            return Some(end);
        }
        at = label;
    }
    None
}

/// Whether `text` holds a credential.
pub fn any(text: &[u8]) -> bool {
    !find(text).is_empty()
}

/// `text` with every credential replaced by `[REDACTED:<kind>]`.
pub fn redact(text: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let found = find(text);
    if found.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut last = 0;
    for f in found {
        out.extend_from_slice(&text[last..f.range.start]);
        out.extend_from_slice(format!("[REDACTED:{}]", f.kind).as_bytes());
        last = f.range.end;
    }
    out.extend_from_slice(&text[last..]);
    std::borrow::Cow::Owned(out)
}

/// The credentials `new` holds that `old` does not (by their bytes): what a change adds.
pub fn added<'a>(old: &[u8], new: &'a [u8]) -> Vec<(&'static str, &'a [u8])> {
    let before: Vec<&[u8]> = find(old).into_iter().map(|f| &old[f.range]).collect();
    find(new)
        .into_iter()
        .map(|f| (f.kind, &new[f.range]))
        .filter(|(_, bytes)| !before.contains(bytes))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\nAAAAC3NzaC1lZDI1NTE5\n-----END OPENSSH PRIVATE KEY-----";

    #[test]
    fn private_keys_are_found_whole_or_cut() {
        let text = format!("key:\n{KEY}\ndone");
        assert_eq!(
            String::from_utf8_lossy(&redact(text.as_bytes())),
            "key:\n[REDACTED:private-key]\ndone"
        );
        // Cut at the start (a kept tail) or at the end (truncated).
        let tail = &KEY[20..];
        assert_eq!(
            String::from_utf8_lossy(&redact(tail.as_bytes())),
            "[REDACTED:private-key]"
        );
        let head = &KEY[..60];
        assert_eq!(
            String::from_utf8_lossy(&redact(head.as_bytes())),
            "[REDACTED:private-key]"
        );
        for kind in [
            "RSA PRIVATE KEY",
            "EC PRIVATE KEY",
            "PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
            "PGP PRIVATE KEY BLOCK",
        ] {
            assert!(any(format!("-----BEGIN {kind}-----\nabc\n").as_bytes()), "{kind}");
        }
        // Public material and prose are not keys.
        for text in [
            "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----",
            "-----BEGIN CERTIFICATE-----\nabc",
            "a line about -----BEGIN and private keys",
        ] {
            assert!(!any(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn private_keys_stored_in_base64_are_found_whole() {
        use base64::Engine as _;
        for prefix in ["", "x", "xy"] {
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{KEY}\n"));
            let text = format!("apiVersion: v1\ndata:\n  id_ed25519: {encoded}\nkind: Secret\n");
            assert_eq!(
                String::from_utf8_lossy(&redact(text.as_bytes())),
                "apiVersion: v1\ndata:\n  id_ed25519: [REDACTED:private-key]\nkind: Secret\n",
                "{prefix:?}"
            );
            // Wrapped at 64 columns, as `base64` and PEM tools write it.
            let wrapped: Vec<String> = encoded
                .as_bytes()
                .chunks(64)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            let text = format!("key: |\n{}\nnext: 1\n", wrapped.join("\n"));
            assert_eq!(
                String::from_utf8_lossy(&redact(text.as_bytes())),
                "key: |\n[REDACTED:private-key]\nnext: 1\n",
                "{prefix:?}"
            );
        }
        let public = base64::engine::general_purpose::STANDARD.encode("-----BEGIN PUBLIC KEY-----\nabc");
        assert!(!any(public.as_bytes()));
    }

    #[test]
    fn tokens_stored_in_base64_are_found_whole() {
        use base64::Engine as _;
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        for token in [
            format!("ghp_{}", "a1B2".repeat(9)),
            format!("github_pat_{}", "A1_b".repeat(20)),
            "AKIA2E0A8F3B244C9986".to_owned(),
        ] {
            for (prefix, engine) in ["", "=", "t=", "{\"token\": \""].iter().zip(engines.iter().cycle()) {
                let encoded = engine.encode(format!("{prefix}{token}\n"));
                let text = format!("data:\n  token: {encoded}\nkind: Secret\n");
                let found = find(text.as_bytes());
                assert_eq!(found.len(), 1, "{token} after {prefix:?}: {text}");
                assert_eq!(&text[found[0].range.clone()], encoded, "{token} after {prefix:?}");
                assert!(!String::from_utf8_lossy(&redact(text.as_bytes())).contains(&encoded));
                // After a word that is not base64 of anything (`token=`), wrapped at 76.
                let wrapped: Vec<&str> = encoded
                    .as_bytes()
                    .chunks(76)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect();
                let text = format!("token={}\n", wrapped.join("\n"));
                assert!(any(text.as_bytes()), "{token} after {prefix:?}, wrapped: {text}");
            }
        }
        // Base64 that only looks like it starts a token: what it decodes to is no token.
        for text in [
            base64::engine::general_purpose::STANDARD.encode(format!("ghp_{}", "a".repeat(20))),
            base64::engine::general_purpose::STANDARD
                .encode((0..3000u32).map(|i| (i * 7919 % 251) as u8).collect::<Vec<_>>()),
            "Z2hwX3RoaXMgaXMgbm90IGEgdG9rZW4=".to_owned(),
        ] {
            assert!(!any(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn tokens_are_found_by_prefix_and_length() {
        let gh = format!("ghp_{}", "a1B2".repeat(9));
        let text = format!("export GITHUB_TOKEN={gh} # mine");
        assert_eq!(
            String::from_utf8_lossy(&redact(text.as_bytes())),
            "export GITHUB_TOKEN=[REDACTED:github-token] # mine"
        );
        for token in [
            format!("github_pat_{}", "A1_b".repeat(20)),
            format!("glpat-{}", "x".repeat(20)),
            format!("npm_{}", "Z9".repeat(18)),
            format!("xoxb-{}", "1234-abcd".repeat(3)),
            format!("sk-ant-api03-{}", "Q".repeat(40)),
            "AKIA2E0A8F3B244C9986".to_owned(),
        ] {
            assert!(any(token.as_bytes()), "{token}");
        }
        for text in [
            format!("ghp_{}", "a".repeat(20)),
            format!("xghp_{}", "a".repeat(36)),
            "AKIAIOSFODNN7EXAMPLE".to_owned(),
            "the ghp_ prefix and sk-ant- keys".to_owned(),
        ] {
            assert!(!any(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn only_what_a_change_adds_counts() {
        let gh = format!("ghp_{}", "c".repeat(36));
        let old = format!("fixture = \"{gh}\"\n");
        let new = format!("{old}another = 1\n");
        assert!(added(old.as_bytes(), new.as_bytes()).is_empty());
        let new = format!("{old}{KEY}\n");
        let added = added(old.as_bytes(), new.as_bytes());
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].0, "private-key");
    }
}
