//! The GitHub token: `GITHUB_TOKEN`, then `GH_TOKEN`, then `gh auth token`. Never from a file
//! git-oc reads, never printed, logged or written: its `Debug` and `Display` say where it came
//! from, not what it is.

use std::fmt;

/// Where the token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum TokenSource {
    #[serde(rename = "GITHUB_TOKEN")]
    GithubToken,
    #[serde(rename = "GH_TOKEN")]
    GhToken,
    /// `gh auth token --hostname <host>` (GitHub CLI's stored login).
    #[serde(rename = "gh auth token")]
    GhCli,
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenSource::GithubToken => "GITHUB_TOKEN",
            TokenSource::GhToken => "GH_TOKEN",
            TokenSource::GhCli => "gh auth token",
        })
    }
}

/// A token and where it came from.
#[derive(Clone)]
pub struct Token {
    value: String,
    pub source: TokenSource,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(from {}, [REDACTED])", self.source)
    }
}

impl Token {
    pub fn new(value: impl Into<String>, source: TokenSource) -> Self {
        Token {
            value: value.into(),
            source,
        }
    }

    /// The secret itself, for the `Authorization` header and the redactor only.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The name under which the redactor replaces the token's value.
    pub fn redaction_name(&self) -> &'static str {
        match self.source {
            TokenSource::GithubToken => "GITHUB_TOKEN",
            TokenSource::GhToken => "GH_TOKEN",
            TokenSource::GhCli => "GH_AUTH_TOKEN",
        }
    }
}

/// The token for `host`, in the documented order; `None` when there is none.
pub fn find(host: &str) -> Option<Token> {
    for (var, source) in [
        ("GITHUB_TOKEN", TokenSource::GithubToken),
        ("GH_TOKEN", TokenSource::GhToken),
    ] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            return Some(Token::new(v.trim(), source));
        }
    }
    from_gh_cli(host)
}

/// `gh auth token --hostname <host>`; a missing `gh`, no login or any failure is "no token".
pub fn from_gh_cli(host: &str) -> Option<Token> {
    let out = std::process::Command::new("gh")
        .args(["auth", "token", "--hostname", host])
        .env("GH_PROMPT_DISABLED", "1")
        .env("GH_NO_UPDATE_NOTIFIER", "1")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let value = String::from_utf8(out.stdout).ok()?;
    let value = value.trim();
    (!value.is_empty() && !value.contains(char::is_whitespace)).then(|| Token::new(value, TokenSource::GhCli))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_never_shows_its_value() {
        let t = Token::new("ghp_0123456789abcdef", TokenSource::GhCli);
        assert_eq!(format!("{t:?}"), "Token(from gh auth token, [REDACTED])");
        assert_eq!(t.expose(), "ghp_0123456789abcdef");
    }
}
