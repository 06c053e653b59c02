//! CI history from GitHub check runs, when a token is at hand: the check runs of the last five
//! commits, and per check its failure rate (≥ 0.7 failing, ≥ 0.2 flaky, as the original). The
//! token rules are publishing's: `GITHUB_TOKEN`/`GH_TOKEN` go only to api.github.com or a
//! configured `[github] api_url`; elsewhere only `gh`'s token for that host is used.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::github;

const COMMITS: usize = 5;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CiSignal {
    /// `failing`, `flaky`, `nominal` or `unavailable`.
    pub status: String,
    pub commits_checked: usize,
    pub failure_rate: f64,
    pub failing_checks: Vec<String>,
    pub flaky_checks: Vec<String>,
    pub detail: Option<String>,
}

fn unavailable(why: impl Into<String>) -> CiSignal {
    CiSignal {
        status: "unavailable".into(),
        detail: Some(why.into()),
        ..CiSignal::default()
    }
}

/// The signal, or an error message when a configured GitHub could not be read.
pub fn collect(repo: &crate::git::Repo, config: &Config) -> Result<CiSignal, String> {
    let settings = &config.github;
    let remote = match &settings.remote {
        Some(r) => r.clone(),
        None => match crate::publish::default_remote(&repo.repo) {
            Ok(r) => r,
            Err(_) => return Ok(unavailable("no remote")),
        },
    };
    let url = crate::publish::push_url(&repo.repo, &remote);
    let parsed = github::parse_remote_url(&url);
    let (owner, name) = match crate::github::remote::repository(settings.repository.as_deref(), parsed.as_ref()) {
        Some(repository) => repository,
        None => return Ok(unavailable(format!("remote {remote} is not on GitHub"))),
    };
    let api_url = match (&settings.api_url, &parsed) {
        (Some(u), _) => u.trim_end_matches('/').to_owned(),
        (None, Some(p)) => p.api_url(),
        (None, None) => return Ok(unavailable("no GitHub API URL")),
    };
    let host = crate::github::remote::host(parsed.as_ref(), &api_url);
    let guessed = settings.api_url.is_none() && api_url != github::remote::GITHUB_API;
    let token = if guessed {
        github::token::from_gh_cli(&host)
    } else {
        github::token::find(&host)
    };
    let Some(token) = token else {
        return Ok(unavailable("no GitHub token (GITHUB_TOKEN, GH_TOKEN or gh auth token)"));
    };
    let client = github::Client::new(
        &api_url,
        &owner,
        &name,
        Some(&token),
        github::Options {
            timeout: Duration::from_secs(settings.timeout().min(15)),
            rate_limits: github::RateLimits::system(Duration::ZERO),
        },
    )
    .map_err(|e| e.to_string())?;
    let shas = commit_shas(repo.workdir());
    let mut per_check: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut commits_checked = 0;
    for sha in &shas {
        let runs = client.check_runs(sha).map_err(|e| e.to_string())?;
        if !runs.is_empty() {
            commits_checked += 1;
        }
        for (check, conclusion) in runs {
            let Some(c) = conclusion else { continue };
            let entry = per_check.entry(check).or_default();
            entry.0 += 1;
            entry.1 += usize::from(matches!(c.as_str(), "failure" | "timed_out" | "startup_failure"));
        }
    }
    Ok(classify(per_check, commits_checked))
}

/// Per check `(concluded, failed)` → the signal.
pub fn classify(per_check: BTreeMap<String, (usize, usize)>, commits_checked: usize) -> CiSignal {
    let (mut total, mut failed) = (0, 0);
    let mut signal = CiSignal {
        status: "nominal".into(),
        commits_checked,
        ..CiSignal::default()
    };
    for (check, (runs, failures)) in per_check {
        total += runs;
        failed += failures;
        let rate = failures as f64 / runs.max(1) as f64;
        if rate >= 0.7 {
            signal.failing_checks.push(check);
        } else if rate >= 0.2 {
            signal.flaky_checks.push(check);
        }
    }
    signal.failure_rate = if total == 0 { 0.0 } else { failed as f64 / total as f64 };
    if !signal.failing_checks.is_empty() {
        signal.status = "failing".into();
    } else if !signal.flaky_checks.is_empty() {
        signal.status = "flaky".into();
    } else if total == 0 {
        signal.status = "unavailable".into();
        signal.detail = Some("no check runs on the last commits".into());
    }
    signal
}

fn commit_shas(workdir: &Path) -> Vec<String> {
    crate::git::git_command(workdir)
        .args(["rev-list", &format!("-n{COMMITS}"), "HEAD", "--"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_failing_at_seventy_percent_and_flaky_at_twenty() {
        let mut m = BTreeMap::new();
        m.insert("build".to_owned(), (5, 4));
        m.insert("lint".to_owned(), (5, 1));
        m.insert("docs".to_owned(), (5, 0));
        let s = classify(m, 5);
        assert_eq!(s.status, "failing");
        assert_eq!(s.failing_checks, ["build"]);
        assert_eq!(s.flaky_checks, ["lint"]);
        let mut m = BTreeMap::new();
        m.insert("lint".to_owned(), (5, 1));
        assert_eq!(classify(m, 5).status, "flaky");
        assert_eq!(classify(BTreeMap::new(), 0).status, "unavailable");
    }
}
