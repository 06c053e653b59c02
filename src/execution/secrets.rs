//! Secret values from the environment never reach evidence, notes, logs or the terminal: every
//! captured byte is passed through a `Redactor` before it is kept.

/// Whether an environment variable holds a secret, by name: the tokens git-oc itself uses, and
/// the names providers and frameworks commonly give credentials (`AWS_SECRET_ACCESS_KEY`,
/// `STRIPE_SECRET_KEY`, `DEPLOY_PRIVATE_KEY`, `DB_PASSWORD`, `SECRET_KEY_BASE`, …).
pub fn is_secret_name(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "PLANE_API_TOKEN",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "API_KEY",
    ];
    const SUFFIXES: &[&str] = &[
        "_TOKEN",
        "_API_KEY",
        "_APIKEY",
        "_SECRET",
        "_PASSWORD",
        "_PASSWD",
        "_PASS",
        "_PASSPHRASE",
        "_PRIVATE_KEY",
        "_SECRET_KEY",
        "_ACCESS_KEY",
        "_SIGNING_KEY",
        "_ENCRYPTION_KEY",
        "_MASTER_KEY",
        "_CREDENTIALS",
    ];
    let upper = name.to_ascii_uppercase();
    EXACT.contains(&upper.as_str())
        || SUFFIXES.iter().any(|s| upper.ends_with(s))
        || upper.contains("_SECRET_")
        || upper.starts_with("SECRET_")
}

/// `url` with any credentials (`user:password@`, or a token used as the user name) replaced by
/// `[REDACTED]`, so that a URL can be printed: `http://[REDACTED]@host:1234/path`.
pub fn redact_url(url: &str) -> std::borrow::Cow<'_, str> {
    redact_urls(url)
}

/// Every `scheme://userinfo@host` in `text` with its userinfo replaced by `[REDACTED]`, for
/// messages that quote a URL (errors from an HTTP client, say).
pub fn redact_urls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("://") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends at the path, query, fragment, or where the quoted URL ends.
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`' | ')' | ']') || c.is_whitespace()
            })
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(userinfo_end) => {
                out.push_str("[REDACTED]");
                out.push_str(&authority[userinfo_end..]);
                changed = true;
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    if changed {
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Replaces the values of secret environment variables with `[REDACTED:<NAME>]`, and finds them,
/// plain or in the encodings an agent could wrap one in to carry it past a search for the plain
/// value (base64, standard or URL-safe, and hex): see [`encoded_forms`].
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// (value, name), longest value first.
    secrets: Vec<(Vec<u8>, String)>,
    /// Every form of every value; pattern `i` is a form of `forms[i]`'s secret.
    matcher: Option<aho_corasick::AhoCorasick>,
    /// (index into `secrets`, the form's name) per pattern of `matcher`.
    forms: Vec<(usize, &'static str)>,
}

/// Values shorter than this are not treated as secrets: replacing `1` or `yes` everywhere would
/// destroy the evidence without protecting anything.
const MIN_SECRET_LEN: usize = 6;

/// An encoded form shorter than this is not searched for (it could turn up by chance).
const MIN_FORM_LEN: usize = 8;

/// The forms of `value` found in text that holds it encoded: hex (either case), and base64
/// (standard and URL-safe) at each of the three offsets at which the value can start inside a
/// longer encoded text. A base64 form is the run of characters the value's bytes alone decide,
/// so that it is found whatever surrounds the value before encoding.
pub fn encoded_forms(value: &[u8]) -> Vec<(Vec<u8>, &'static str)> {
    let mut forms = Vec::new();
    let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
    forms.push((hex.to_ascii_uppercase().into_bytes(), "hex"));
    forms.push((hex.into_bytes(), "hex"));
    forms.extend(
        base64_cores(value, MIN_FORM_LEN)
            .into_iter()
            .map(|core| (core, "base64")),
    );
    forms.sort();
    forms.dedup_by(|a, b| a.0 == b.0);
    forms.retain(|(form, _)| form.as_slice() != value);
    forms
}

/// The base64 characters that `value`'s bytes alone decide, at each of the three offsets at
/// which it can start inside a longer encoded text, in the standard and URL-safe alphabets; a
/// form shorter than `min_len` characters is left out. Sorted, each once.
pub fn base64_cores(value: &[u8], min_len: usize) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let bits = 8 * value.len();
    let mut cores = Vec::new();
    for offset in 0..3 {
        let mut stream = vec![0u8; offset];
        stream.extend_from_slice(value);
        let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&stream);
        // Characters wholly inside the value's bits: from the first after the offset's bits to
        // the last that ends before the value does.
        let first = (8 * offset).div_ceil(6);
        let last = (8 * offset + bits) / 6;
        if last <= first || last - first < min_len {
            continue;
        }
        let core = &encoded.as_bytes()[first..last];
        let url_safe: Vec<u8> = core
            .iter()
            .map(|&c| match c {
                b'+' => b'-',
                b'/' => b'_',
                c => c,
            })
            .collect();
        cores.push(core.to_vec());
        cores.push(url_safe);
    }
    cores.sort();
    cores.dedup();
    cores
}

impl Redactor {
    pub fn from_env() -> Self {
        Self::from_vars(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))))
    }

    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let secrets: Vec<(Vec<u8>, String)> = vars
            .into_iter()
            .filter(|(k, v)| is_secret_name(k) && v.trim().len() >= MIN_SECRET_LEN)
            .map(|(k, v)| (v.into_bytes(), k))
            .collect();
        Self::build(secrets)
    }

    fn build(mut secrets: Vec<(Vec<u8>, String)>) -> Self {
        secrets.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.1.cmp(&b.1)));
        secrets.dedup_by(|a, b| a.0 == b.0);
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut forms = Vec::new();
        for (i, (value, _)) in secrets.iter().enumerate() {
            patterns.push(value.clone());
            forms.push((i, "plain"));
            for (form, kind) in encoded_forms(value) {
                patterns.push(form);
                forms.push((i, kind));
            }
        }
        // Leftmost-longest: a secret that contains another is replaced whole.
        let matcher = (!patterns.is_empty())
            .then(|| {
                aho_corasick::AhoCorasick::builder()
                    .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                    .build(&patterns)
                    .ok()
            })
            .flatten();
        Redactor {
            secrets,
            matcher,
            forms,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Also replace `value` (a secret git-oc holds that is not in its environment, such as a
    /// token from `gh auth token`), shown as `[REDACTED:<name>]`.
    pub fn with_secret(self, name: &str, value: &str) -> Self {
        if value.trim().len() < MIN_SECRET_LEN || self.secrets.iter().any(|(v, _)| v == value.as_bytes()) {
            return self;
        }
        let mut secrets = self.secrets;
        secrets.push((value.as_bytes().to_vec(), name.to_owned()));
        Self::build(secrets)
    }

    /// `input` with the values of secrets (plain or encoded) and credentials recognised by
    /// their form ([`super::credentials`]: private keys, tokens) replaced.
    pub fn redact_bytes(&self, input: &[u8]) -> Vec<u8> {
        let Some(matcher) = &self.matcher else {
            return super::credentials::redact(input).into_owned();
        };
        let mut out = Vec::with_capacity(input.len());
        let mut last = 0;
        for m in matcher.find_iter(input) {
            out.extend_from_slice(&input[last..m.start()]);
            let (secret, _) = self.forms[m.pattern().as_usize()];
            out.extend_from_slice(format!("[REDACTED:{}]", self.secrets[secret].1).as_bytes());
            last = m.end();
        }
        out.extend_from_slice(&input[last..]);
        match super::credentials::redact(&out) {
            std::borrow::Cow::Borrowed(_) => out,
            std::borrow::Cow::Owned(redacted) => redacted,
        }
    }

    /// Whether redacting `input` changes it: a secret's value, or a credential.
    fn needs_redaction(&self, input: &[u8]) -> bool {
        self.contains_secret(input) || super::credentials::any(input)
    }

    pub fn redact(&self, input: &str) -> String {
        if !self.needs_redaction(input.as_bytes()) {
            return input.to_owned();
        }
        String::from_utf8_lossy(&self.redact_bytes(input.as_bytes())).into_owned()
    }

    /// Replace secrets in every string of a JSON value (keys too), before it is serialized.
    pub fn redact_value(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => {
                if self.needs_redaction(s.as_bytes()) {
                    *s = String::from_utf8_lossy(&self.redact_bytes(s.as_bytes())).into_owned();
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            Value::Object(map) => {
                if map.keys().any(|k| self.needs_redaction(k.as_bytes())) {
                    let old = std::mem::take(map);
                    for (k, mut v) in old {
                        self.redact_value(&mut v);
                        map.insert(self.redact(&k), v);
                    }
                } else {
                    map.values_mut().for_each(|v| self.redact_value(v));
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// A copy of a typed value with secrets replaced in all its strings.
    pub fn scrubbed<T: serde::Serialize + serde::de::DeserializeOwned + Clone>(&self, value: &T) -> T {
        // Only a value that may hold something to redact goes through JSON (which may not carry
        // every field of `T` back). A secret's value can be escaped in JSON; a credential's
        // form survives it.
        if self.secrets.is_empty() && serde_json::to_vec(value).is_ok_and(|bytes| !super::credentials::any(&bytes)) {
            return value.clone();
        }
        let Ok(mut json) = serde_json::to_value(value) else {
            return value.clone();
        };
        self.redact_value(&mut json);
        serde_json::from_value(json).unwrap_or_else(|_| value.clone())
    }

    /// The names of the secrets whose values `input` holds, with the encoding when one was
    /// found encoded only (`GITHUB_TOKEN (base64)`).
    pub fn names_in(&self, input: &[u8]) -> Vec<String> {
        let Some(matcher) = &self.matcher else {
            return Vec::new();
        };
        let mut found: Vec<(usize, &'static str)> = Vec::new();
        for m in matcher.find_iter(input) {
            let form = self.forms[m.pattern().as_usize()];
            if !found.contains(&form) {
                found.push(form);
            }
        }
        let mut names: Vec<String> = Vec::new();
        for (i, (_, name)) in self.secrets.iter().enumerate() {
            let kinds: Vec<&str> = found.iter().filter(|f| f.0 == i).map(|f| f.1).collect();
            if kinds.contains(&"plain") {
                names.push(name.clone());
            } else if let Some(kind) = kinds.first() {
                names.push(format!("{name} ({kind})"));
            }
        }
        names
    }

    /// Whether `input` holds the value of a secret, plain or encoded.
    pub fn contains_secret(&self, input: &[u8]) -> bool {
        self.matcher.as_ref().is_some_and(|m| m.is_match(input))
    }

    /// A kept tail of a stream may begin in the middle of a secret; drop the partial first line
    /// so that no fragment of a value survives.
    pub fn redact_tail(&self, tail: &[u8], truncated: bool) -> Vec<u8> {
        let start = if truncated {
            tail.iter().position(|&b| b == b'\n').map_or(tail.len(), |p| p + 1)
        } else {
            0
        };
        self.redact_bytes(&tail[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::from_vars([
            ("GITHUB_TOKEN".to_owned(), "ghp_secretvalue123".to_owned()),
            ("OPENAI_API_KEY".to_owned(), "sk-abcdefghij".to_owned()),
            ("HOME".to_owned(), "/home/someone".to_owned()),
            ("SHORT_TOKEN".to_owned(), "abc".to_owned()),
        ])
    }

    #[test]
    fn secret_names() {
        for name in [
            "GITHUB_TOKEN",
            "GH_TOKEN",
            "PLANE_API_TOKEN",
            "ANTHROPIC_API_KEY",
            "my_token",
            "DB_PASSWORD",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "STRIPE_SECRET_KEY",
            "DEPLOY_PRIVATE_KEY",
            "MINIO_ACCESS_KEY",
            "AZURE_CLIENT_SECRET",
            "GOOGLE_SECRET_VALUE",
            "SECRET_KEY_BASE",
            "JWT_SIGNING_KEY",
            "SMTP_PASS",
            "GPG_PASSPHRASE",
            "NPM_CREDENTIALS",
            "PASSWORD",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "HOME",
            "PATH",
            "TOKENIZER",
            "TOKENIZERS_PARALLELISM",
            "GIT_OC_LOG",
            "AWS_ACCESS_KEY_ID",
            "SSH_AUTH_SOCK",
            "BYPASS",
            "SECRETARY",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn credentials_in_urls_are_redacted() {
        assert_eq!(
            redact_url("http://user:pass@host:1234/x"),
            "http://[REDACTED]@host:1234/x"
        );
        assert_eq!(
            redact_url("https://ghp_abc@github.com"),
            "https://[REDACTED]@github.com"
        );
        assert_eq!(redact_url("http://localhost:20401"), "http://localhost:20401");
        assert!(matches!(
            redact_url("http://localhost:20401"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            redact_urls("SwitchBoard unreachable at http://a:b@h:1: refused; see \"http://c@d/e\""),
            "SwitchBoard unreachable at http://[REDACTED]@h:1: refused; see \"http://[REDACTED]@d/e\""
        );
        assert_eq!(
            redact_urls("mailto-ish a@b and no scheme"),
            "mailto-ish a@b and no scheme"
        );
        // An @ in the path is not a credential.
        assert_eq!(redact_url("http://host/a@b"), "http://host/a@b");
    }

    #[test]
    fn values_are_replaced_everywhere() {
        let r = redactor();
        assert_eq!(
            r.redact("token=ghp_secretvalue123 key sk-abcdefghij home /home/someone abc"),
            "token=[REDACTED:GITHUB_TOKEN] key [REDACTED:OPENAI_API_KEY] home /home/someone abc"
        );
    }

    #[test]
    fn secrets_with_json_syntax_are_replaced_in_values() {
        let r = Redactor::from_vars([("DB_PASSWORD".to_owned(), "pa\"ss\\word1".to_owned())]);
        let mut v = serde_json::json!({"goal": "use pa\"ss\\word1 now", "n": 1, "list": ["pa\"ss\\word1"]});
        r.redact_value(&mut v);
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(
            text,
            r#"{"goal":"use [REDACTED:DB_PASSWORD] now","n":1,"list":["[REDACTED:DB_PASSWORD]"]}"#
        );
        let r = Redactor::from_vars([("API_TOKEN".to_owned(), "{\"a\": [1]}".to_owned())]);
        let mut v = serde_json::json!({"k": "x {\"a\": [1]} y"});
        r.redact_value(&mut v);
        assert_eq!(v["k"], "x [REDACTED:API_TOKEN] y");
    }

    #[test]
    fn secrets_are_found_encoded_in_base64_or_hex_wherever_they_start() {
        use base64::Engine as _;
        let r = redactor();
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        for engine in &engines {
            for prefix in ["", "x", "xy", "token: ", "{\"key\": \""] {
                for suffix in ["", "\n", "\"} and more"] {
                    let text = format!("{prefix}ghp_secretvalue123{suffix}");
                    let encoded = engine.encode(text.as_bytes());
                    assert!(r.contains_secret(encoded.as_bytes()), "{text:?} as {encoded}");
                    assert_eq!(r.names_in(encoded.as_bytes()), ["GITHUB_TOKEN (base64)"]);
                    assert!(!r.redact(&encoded).contains(&encoded), "{encoded} not redacted");
                }
            }
        }
        let hex: String = b"ghp_secretvalue123".iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(r.names_in(format!("0x{hex}").as_bytes()), ["GITHUB_TOKEN (hex)"]);
        assert!(r.contains_secret(hex.to_lowercase().as_bytes()));
        // Plain wins in the name; text that merely looks encoded is left alone.
        let both = format!("ghp_secretvalue123 {}", engines[0].encode("ghp_secretvalue123"));
        assert_eq!(r.names_in(both.as_bytes()), ["GITHUB_TOKEN"]);
        let other = engines[0].encode("ghp_secretvalue124 and some other text");
        assert!(!r.contains_secret(other.as_bytes()), "{other}");
        assert_eq!(r.redact(&other), other);
    }

    #[test]
    fn a_partial_secret_at_the_start_of_a_tail_is_dropped() {
        let r = redactor();
        let tail = b"value123\nnext line ghp_secretvalue123\n";
        assert_eq!(r.redact_tail(tail, true), b"next line [REDACTED:GITHUB_TOKEN]\n");
        assert_eq!(r.redact_tail(b"whole\n", false), b"whole\n");
    }
}
