//! Which repository a remote URL names on GitHub, and where that GitHub's REST API is.

use serde::Serialize;

/// A repository on a GitHub host, as a remote URL names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemoteRepo {
    /// The host the URL names, without user or port (`github.com`, `ghe.example.com`).
    pub host: String,
    /// The port of an `http(s)://` URL, kept for the API base (ssh ports are not the API's).
    pub http_port: Option<u16>,
    /// `https` unless the remote is plain `http://`.
    pub scheme: &'static str,
    pub owner: String,
    pub name: String,
}

/// github.com's REST API.
pub const GITHUB_API: &str = "https://api.github.com";

impl RemoteRepo {
    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The REST API base for the host: `https://api.github.com` for github.com,
    /// `https://api.<tenant>.ghe.com` for GitHub Enterprise Cloud with data residency, else
    /// GitHub Enterprise Server's `https://<host>/api/v3`.
    pub fn api_url(&self) -> String {
        let host = self.host.to_ascii_lowercase();
        if matches!(host.as_str(), "github.com" | "www.github.com" | "ssh.github.com") {
            return GITHUB_API.to_owned();
        }
        if host.ends_with(".ghe.com") && !host.starts_with("api.") {
            return format!("https://api.{host}");
        }
        let port = self.http_port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("{}://{}{port}/api/v3", self.scheme, self.host)
    }
}

/// `owner` and `name` of the repository: the configured `owner/name`, else the remote's.
pub fn repository(configured: Option<&str>, remote: Option<&RemoteRepo>) -> Option<(String, String)> {
    match (configured, remote) {
        (Some(full), _) => {
            let (o, n) = full.split_once('/').unwrap_or((full, ""));
            Some((o.to_owned(), n.to_owned()))
        }
        (None, Some(p)) => Some((p.owner.clone(), p.name.clone())),
        (None, None) => None,
    }
}

/// The GitHub host: the remote's, else the API URL's without its `api.` prefix.
pub fn host(remote: Option<&RemoteRepo>, api_url: &str) -> String {
    remote.map(|p| p.host.clone()).unwrap_or_else(|| {
        let h = api_url
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.host().map(str::to_owned))
            .unwrap_or_default();
        h.strip_prefix("api.").map(str::to_owned).unwrap_or(h)
    })
}

/// The repository a remote URL names: scp-like ssh (`git@host:owner/name.git`), `ssh://` with
/// or without a port, `https://` (with or without credentials), `git://`, each with or without
/// `.git`. `None` for local paths and `file://` URLs, which name no host.
pub fn parse_remote_url(url: &str) -> Option<RemoteRepo> {
    let url = url.trim();
    let (scheme, host_port, path) = if let Some((scheme, rest)) = url.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(
            scheme.as_str(),
            "ssh" | "git+ssh" | "ssh+git" | "https" | "http" | "git"
        ) {
            return None;
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        (scheme, host_port.to_owned(), path.to_owned())
    } else {
        // scp-like: `[user@]host:path`, where the host part has no slash before the colon.
        let (before, path) = url.split_once(':')?;
        if before.contains('/') || before.is_empty() || path.starts_with("//") {
            return None;
        }
        let host = before.rsplit_once('@').map_or(before, |(_, h)| h);
        ("ssh".to_owned(), host.to_owned(), path.to_owned())
    };
    let (host, port) = split_port(&host_port);
    if host.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    // The path ends at a query or fragment; the repository is its last two segments.
    let path_only = path.split(['?', '#']).next().unwrap_or("");
    let mut parts: Vec<&str> = path_only.split('/').filter(|s| !s.is_empty()).collect();
    let name = parts.pop()?;
    let owner = parts.pop()?;
    let name = name.strip_suffix(".git").unwrap_or(name);
    let owner = owner.trim_start_matches('~');
    if !crate::config::is_repository_name(&format!("{owner}/{name}")) {
        return None;
    }
    let http = matches!(scheme.as_str(), "http" | "https");
    Some(RemoteRepo {
        host: host.to_owned(),
        http_port: if http { port } else { None },
        scheme: if scheme == "http" { "http" } else { "https" },
        owner: owner.to_owned(),
        name: name.to_owned(),
    })
}

/// `host:port` (or `[v6]:port`) split; a port that is not a number is left in the host.
fn split_port(host_port: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host_port.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return (host_port, None);
        };
        return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) => match port.parse() {
            Ok(p) => (host, Some(p)),
            Err(_) if port.is_empty() => (host, None),
            Err(_) => (host_port, None),
        },
        None => (host_port, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> (String, String, String) {
        let r = parse_remote_url(url).unwrap_or_else(|| panic!("{url} not parsed"));
        (r.host.clone(), r.full_name(), r.api_url())
    }

    #[test]
    fn every_remote_form_names_owner_and_repository() {
        let gh = |n: &str| {
            (
                "github.com".to_owned(),
                n.to_owned(),
                "https://api.github.com".to_owned(),
            )
        };
        assert_eq!(parsed("git@github.com:octo-org/widgets.git"), gh("octo-org/widgets"));
        assert_eq!(parsed("git@github.com:octo-org/widgets"), gh("octo-org/widgets"));
        assert_eq!(parsed("github.com:octo-org/widgets.git"), gh("octo-org/widgets"));
        assert_eq!(
            parsed("ssh://git@github.com/octo-org/widgets.git"),
            gh("octo-org/widgets")
        );
        assert_eq!(
            parsed("ssh://git@ssh.github.com:443/octo-org/widgets.git").2,
            "https://api.github.com"
        );
        assert_eq!(parsed("https://github.com/octo-org/widgets"), gh("octo-org/widgets"));
        assert_eq!(
            parsed("https://github.com/octo-org/widgets.git/"),
            gh("octo-org/widgets")
        );
        assert_eq!(
            parsed("https://x-access-token:ghp_secret@github.com/octo-org/widgets.git"),
            gh("octo-org/widgets")
        );
        assert_eq!(
            parsed("git://github.com/octo-org/w.i_d-g.e.t.s.git").1,
            "octo-org/w.i_d-g.e.t.s"
        );
    }

    #[test]
    fn enterprise_hosts_get_their_own_api_base() {
        assert_eq!(
            parsed("ssh://git@ghe.example.com:2222/team/service.git"),
            (
                "ghe.example.com".into(),
                "team/service".into(),
                "https://ghe.example.com/api/v3".into()
            )
        );
        assert_eq!(
            parsed("https://ghe.example.com:8443/team/service").2,
            "https://ghe.example.com:8443/api/v3"
        );
        assert_eq!(parsed("http://10.0.0.5/team/service.git").2, "http://10.0.0.5/api/v3");
        assert_eq!(
            parsed("git@ghe.example.com:team/service.git").2,
            "https://ghe.example.com/api/v3"
        );
        assert_eq!(
            parsed("https://octo.ghe.com/team/service").2,
            "https://api.octo.ghe.com"
        );
    }

    #[test]
    fn paths_and_odd_urls_name_no_github_repository() {
        for url in [
            "/srv/git/widgets.git",
            "../widgets",
            "file:///srv/git/o/widgets.git",
            "https://github.com/only-owner",
            "https://github.com/",
            "",
            "host:",
        ] {
            assert_eq!(parse_remote_url(url), None, "{url}");
        }
    }
}
