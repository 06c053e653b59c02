//! GitHub's REST API, the subset git-oc uses: open pull requests by head branch (paginated),
//! create and update a pull request, add labels, request reviewers, add assignees, and read a
//! repository with the token's permissions on it (`git oc doctor`). It knows nothing of runs.
//!
//! octocrab builds the requests and reads the answers (models, errors, `Link` pagination, the
//! base URL with GitHub Enterprise's `/api/v3` prefix kept). Under it is git-oc's one HTTP
//! client, ureq ([`transport`]), so GitHub, SwitchBoard and later Plane share one TLS stack, one
//! set of root certificates, one proxy behaviour and one timeout model. octocrab is async: each
//! call runs on a current-thread tokio runtime owned by the [`Client`], so tokio exists only
//! while git-oc talks to GitHub.

pub mod remote;
pub mod review;
pub mod token;
pub mod transport;

use std::future::Future;
use std::time::Duration;

use serde::Serialize;

use crate::execution::secrets::Redactor;
pub use remote::{RemoteRepo, parse_remote_url};
pub use token::{Token, TokenSource};
pub use transport::{RateLimits, TransportError};

/// How a GitHub request failed, for its message and hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorKind {
    /// 401: no token, or a bad one.
    Unauthorized,
    /// 403 that is not a rate limit: the token lacks a permission.
    Forbidden,
    /// 404: no such repository or pull request, or the token cannot see it.
    NotFound,
    /// 422: GitHub refused the request's content.
    Validation,
    /// 429, or a 403 that says it is a rate limit, after git-oc's bounded waiting.
    RateLimited,
    /// No answer within the timeout.
    Timeout,
    /// Nothing answers at the API URL.
    Unreachable,
    /// 5xx.
    Server,
    /// Any other failure (an answer git-oc cannot read, an unexpected status).
    Other,
}

/// One entry of a 422's `errors` list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub resource: Option<String>,
    pub field: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(m) = &self.message {
            return f.write_str(m);
        }
        let what = match (&self.resource, &self.field) {
            (Some(r), Some(field)) => format!("{r}.{field}"),
            (Some(r), None) => r.clone(),
            (None, Some(field)) => field.clone(),
            (None, None) => "request".to_owned(),
        };
        write!(f, "{what} {}", self.code.as_deref().unwrap_or("invalid"))
    }
}

/// A failed GitHub request. Every text in it is redacted (the token and URL credentials).
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct ApiError(Box<ApiErrorDetail>);

impl std::ops::Deref for ApiError {
    type Target = ApiErrorDetail;
    fn deref(&self) -> &ApiErrorDetail {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ApiErrorDetail {
        &mut self.0
    }
}

impl ApiError {
    pub fn new(kind: ApiErrorKind, action: &str, message: String) -> Self {
        ApiError(Box::new(ApiErrorDetail {
            kind,
            action: action.to_owned(),
            status: None,
            message,
            problems: Vec::new(),
            permission: None,
            sso: None,
            retry_after: None,
        }))
    }
}

/// What an [`ApiError`] says.
#[derive(Clone, Debug, Serialize)]
pub struct ApiErrorDetail {
    pub kind: ApiErrorKind,
    /// What git-oc was doing ("create the pull request").
    pub action: String,
    pub status: Option<u16>,
    /// GitHub's own message, or the transport's.
    pub message: String,
    /// A 422's `errors`, as GitHub gave them.
    pub problems: Vec<Problem>,
    /// The permission GitHub says the request needs (`X-Accepted-GitHub-Permissions`), or the
    /// OAuth scopes a classic token lacks.
    pub permission: Option<String>,
    /// The organization's SAML single sign-on asks for the token to be authorized (`X-GitHub-SSO`).
    pub sso: Option<String>,
    /// How long GitHub asked to wait when git-oc gave up on a rate limit.
    pub retry_after: Option<u64>,
}

impl ApiErrorDetail {
    /// Whether a 422 mentions `needle` in a problem's message or field/code, or in its message.
    pub fn mentions(&self, needle: &str) -> bool {
        let needle = needle.to_ascii_lowercase();
        self.message.to_ascii_lowercase().contains(&needle)
            || self.problems.iter().any(|p| {
                p.to_string().to_ascii_lowercase().contains(&needle)
                    || format!(
                        "{}.{}",
                        p.field.as_deref().unwrap_or(""),
                        p.code.as_deref().unwrap_or("")
                    )
                    .to_ascii_lowercase()
                        == needle
            })
    }

    /// The hint this kind of failure calls for; the caller adds what only it knows (the run).
    pub fn hint(&self) -> Option<String> {
        Some(match self.kind {
            ApiErrorKind::Unauthorized => {
                "the token is missing, expired or revoked: set GITHUB_TOKEN or GH_TOKEN to a valid token, or log in with 'gh auth login'".to_owned()
            }
            ApiErrorKind::Forbidden => match (&self.sso, &self.permission) {
                (Some(url), _) => format!("authorize the token for the organization's single sign-on: {url}"),
                (None, Some(p)) => format!(
                    "give the token the {p} permission on the repository (or use a token that has it), then run again"
                ),
                (None, None) => "the token may not do this on the repository; check its permissions with 'git oc doctor'".to_owned(),
            },
            ApiErrorKind::NotFound => {
                "check [github] repository and api_url (git oc doctor shows them); a private repository is also \"not found\" for a token that cannot see it".to_owned()
            }
            ApiErrorKind::RateLimited => match self.retry_after {
                Some(s) => format!("GitHub asks to wait {s} s before the next request; try again then"),
                None => "wait a minute and try again".to_owned(),
            },
            ApiErrorKind::Timeout => "check the network and github.api_url, or raise github.timeout".to_owned(),
            ApiErrorKind::Unreachable => {
                "check github.api_url (or GIT_OC_GITHUB_API_URL) and the network; git oc doctor checks the connection".to_owned()
            }
            ApiErrorKind::Server => "GitHub had a problem; try again in a few minutes".to_owned(),
            ApiErrorKind::Validation | ApiErrorKind::Other => return None,
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => {
                let reason = http::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                write!(f, "GitHub answered {status} {reason}: {}", self.message)?;
            }
            None => f.write_str(&self.message)?,
        }
        if let Some(p) = &self.permission {
            write!(f, " (needs {p})")?;
        }
        for problem in &self.problems {
            write!(f, "; {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// A pull request, as git-oc needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PullRequest {
    pub number: u64,
    /// The page people open (`html_url`).
    pub url: String,
    pub draft: bool,
    /// `open` or `closed`.
    pub state: String,
    pub base: String,
    pub head: String,
    pub title: String,
}

impl From<octocrab::models::pulls::PullRequest> for PullRequest {
    fn from(p: octocrab::models::pulls::PullRequest) -> Self {
        PullRequest {
            number: p.number,
            url: p.html_url.map(|u| u.to_string()).unwrap_or(p.url),
            draft: p.draft.unwrap_or(false),
            state: match p.state {
                Some(octocrab::models::IssueState::Closed) => "closed",
                _ => "open",
            }
            .to_owned(),
            base: p.base.ref_field,
            head: p.head.ref_field,
            title: p.title.unwrap_or_default(),
        }
    }
}

/// A pull request to open.
#[derive(Clone, Debug)]
pub struct NewPullRequest {
    pub title: String,
    /// The head branch, in the same repository.
    pub head: String,
    pub base: String,
    pub body: String,
    pub draft: bool,
}

/// What `GET /repos/{owner}/{repo}` says about the token's access.
#[derive(Clone, Debug, Serialize)]
pub struct RepoAccess {
    pub full_name: String,
    pub private: bool,
    pub default_branch: Option<String>,
    /// `permissions.push`: whether the token's user may push (absent for anonymous reads).
    pub push: Option<bool>,
    /// A classic token's OAuth scopes (`X-OAuth-Scopes`); `None` for fine-grained tokens.
    pub scopes: Option<String>,
}

/// How the client talks to GitHub.
#[derive(Clone)]
pub struct Options {
    /// Seconds for each request.
    pub timeout: Duration,
    pub rate_limits: RateLimits,
}

/// A connection to one repository's API.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    octo: octocrab::Octocrab,
    pub owner: String,
    pub name: String,
    /// The API base, as configured (with `/api/v3` for GitHub Enterprise Server).
    pub api_url: String,
    redactor: Redactor,
}

/// Pages of open pull requests read at most when looking for a head branch's.
const MAX_PAGES: usize = 50;

impl Client {
    /// A client for `owner/name` at `api_url`, authenticated with `token` when there is one.
    pub fn new(
        api_url: &str,
        owner: &str,
        name: &str,
        token: Option<&Token>,
        options: Options,
    ) -> Result<Self, ApiError> {
        let mut redactor = Redactor::from_env();
        if let Some(t) = token {
            redactor = redactor.with_secret(t.redaction_name(), t.expose());
        }
        let fail = |message: String| ApiError::new(ApiErrorKind::Other, "connect to GitHub", message);
        let base: http::Uri = api_url.trim_end_matches('/').parse().map_err(|e| {
            fail(format!(
                "invalid GitHub API URL {}: {e}",
                crate::execution::secrets::redact_url(api_url)
            ))
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| fail(format!("could not start the runtime for GitHub calls: {e}")))?;
        let auth = match token {
            Some(t) => {
                let mut value = http::HeaderValue::from_str(&format!("Bearer {}", t.expose()))
                    .map_err(|_| fail(format!("the token from {} is not a valid header value", t.source)))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        // octocrab starts its request buffer on the runtime it is built in.
        let octo = {
            let _inside = runtime.enter();
            octocrab::OctocrabBuilder::new_empty()
                .with_service(transport::Transport::new(options.timeout, options.rate_limits))
                .with_layer(&octocrab::service::middleware::base_uri::BaseUriLayer::new(
                    base.clone(),
                ))
                .with_layer(&octocrab::service::middleware::auth_header::AuthHeaderLayer::new(
                    auth,
                    base.clone(),
                    base,
                ))
                .with_auth(octocrab::AuthState::None)
                .build()
                .map_err(|e| fail(e.to_string()))?
        };
        Ok(Client {
            runtime,
            octo,
            owner: owner.to_owned(),
            name: name.to_owned(),
            api_url: api_url.trim_end_matches('/').to_owned(),
            redactor,
        })
    }

    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    fn block_on<T>(&self, action: &str, call: impl Future<Output = octocrab::Result<T>>) -> Result<T, ApiError> {
        self.runtime.block_on(call).map_err(|e| self.classify(action, e))
    }

    /// The open pull requests whose head is `branch` in this repository, every page read.
    pub fn open_pull_requests(&self, branch: &str) -> Result<Vec<PullRequest>, ApiError> {
        let action = "list the open pull requests";
        let head = format!("{}:{branch}", self.owner);
        let mut page = self.block_on(
            action,
            self.octo
                .pulls(&self.owner, &self.name)
                .list()
                .state(octocrab::params::State::Open)
                .head(head)
                .per_page(100u8)
                .send(),
        )?;
        let mut out: Vec<PullRequest> = Vec::new();
        for _ in 0..MAX_PAGES {
            out.extend(page.items.drain(..).map(PullRequest::from));
            let next = page.next.take();
            if next.is_none() {
                break;
            }
            match self.block_on(
                action,
                self.octo.get_page::<octocrab::models::pulls::PullRequest>(&next),
            )? {
                Some(p) => page = p,
                None => break,
            }
        }
        Ok(out)
    }

    pub fn create_pull_request(&self, new: &NewPullRequest) -> Result<PullRequest, ApiError> {
        self.block_on(
            "create the pull request",
            self.octo
                .pulls(&self.owner, &self.name)
                .create(&new.title, &new.head, &new.base)
                .body(&new.body)
                .draft(new.draft)
                .send(),
        )
        .map(PullRequest::from)
    }

    /// Set a pull request's title and body.
    pub fn update_pull_request(&self, number: u64, title: &str, body: &str) -> Result<PullRequest, ApiError> {
        self.block_on(
            "update the pull request",
            self.octo
                .pulls(&self.owner, &self.name)
                .update(number)
                .title(title)
                .body(body)
                .send(),
        )
        .map(PullRequest::from)
    }

    pub fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), ApiError> {
        self.block_on(
            "add the labels",
            self.octo.issues(&self.owner, &self.name).add_labels(number, labels),
        )
        .map(drop)
    }

    /// Ask users (`login`) and teams (`org/team-slug`) to review.
    pub fn request_reviewers(&self, number: u64, reviewers: &[String]) -> Result<(), ApiError> {
        let (teams, users): (Vec<&String>, Vec<&String>) = reviewers.iter().partition(|r| r.contains('/'));
        let teams: Vec<&str> = teams
            .iter()
            .filter_map(|t| t.split_once('/').map(|(_, slug)| slug))
            .collect();
        let route = format!("/repos/{}/{}/pulls/{number}/requested_reviewers", self.owner, self.name);
        let body = serde_json::json!({ "reviewers": users, "team_reviewers": teams });
        // GitHub answers with the pull request; octocrab's `request_reviews` expects a review.
        self.block_on(
            "request the reviewers",
            self.octo.post::<_, serde_json::Value>(route, Some(&body)),
        )
        .map(drop)
    }

    pub fn add_assignees(&self, number: u64, assignees: &[String]) -> Result<(), ApiError> {
        let route = format!("/repos/{}/{}/issues/{number}/assignees", self.owner, self.name);
        let body = serde_json::json!({ "assignees": assignees });
        self.block_on(
            "add the assignees",
            self.octo.post::<_, serde_json::Value>(route, Some(&body)),
        )
        .map(drop)
    }

    /// The check runs of a commit (`GET /repos/{owner}/{repo}/commits/{ref}/check-runs`, first
    /// 100): each `(name, conclusion)`, the conclusion `None` while it runs.
    pub fn check_runs(&self, sha: &str) -> Result<Vec<(String, Option<String>)>, ApiError> {
        let route = format!(
            "/repos/{}/{}/commits/{sha}/check-runs?per_page=100",
            self.owner, self.name
        );
        let body: serde_json::Value = self.block_on(
            "list the check runs",
            self.octo.get::<serde_json::Value, _, ()>(route, None),
        )?;
        Ok(body["check_runs"]
            .as_array()
            .map(|runs| {
                runs.iter()
                    .map(|r| {
                        (
                            r["name"].as_str().unwrap_or_default().to_owned(),
                            r["conclusion"].as_str().map(str::to_owned),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The repository and what the token may do with it.
    pub fn repository(&self) -> Result<RepoAccess, ApiError> {
        let action = "read the repository";
        let route = format!("/repos/{}/{}", self.owner, self.name);
        let (scopes, body) = self.block_on(action, async {
            let response = self.octo._get(route).await?;
            let response = octocrab::map_github_error(response).await?;
            let scopes = response
                .headers()
                .get("x-oauth-scopes")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = http_body_util::BodyExt::collect(response.into_body()).await?.to_bytes();
            Ok((scopes, body))
        })?;
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                ApiErrorKind::Other,
                action,
                format!("GitHub's answer could not be read: {e}"),
            )
        })?;
        Ok(RepoAccess {
            full_name: v["full_name"].as_str().unwrap_or_default().to_owned(),
            private: v["private"].as_bool().unwrap_or(false),
            default_branch: v["default_branch"].as_str().map(str::to_owned),
            push: v["permissions"]["push"].as_bool(),
            scopes,
        })
    }

    /// An octocrab error as an [`ApiError`], its texts redacted.
    fn classify(&self, action: &str, e: octocrab::Error) -> ApiError {
        let r = |s: &str| crate::execution::secrets::redact_urls(&self.redactor.redact(s)).into_owned();
        let mut out = ApiError::new(ApiErrorKind::Other, action, String::new());
        match e {
            octocrab::Error::GitHub { source, .. } => {
                let status = source.status_code;
                out.status = Some(status.as_u16());
                out.message = r(source.message.trim());
                out.problems = source
                    .errors
                    .iter()
                    .flatten()
                    .map(|v| match v {
                        serde_json::Value::String(s) => Problem {
                            message: Some(r(s)),
                            ..Problem::default()
                        },
                        v => {
                            let s = |k: &str| v[k].as_str().map(r);
                            Problem {
                                resource: s("resource"),
                                field: s("field"),
                                code: s("code"),
                                message: s("message"),
                            }
                        }
                    })
                    .collect();
                let headers = source.headers.clone().unwrap_or_default();
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(|v| r(v.trim()))
                        .filter(|v| !v.is_empty())
                };
                let limited = transport::rate_limited(
                    status,
                    &headers,
                    source.message.as_bytes(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                );
                out.kind = match status.as_u16() {
                    _ if limited.is_some() => {
                        out.retry_after = limited.map(|l| l.wait.as_secs());
                        ApiErrorKind::RateLimited
                    }
                    401 => ApiErrorKind::Unauthorized,
                    403 => {
                        out.sso = header("x-github-sso")
                            .and_then(|v| v.split_once("url=").map(|(_, url)| url.trim().to_owned()));
                        out.permission = header("x-accepted-github-permissions").or_else(|| {
                            // A classic token: the scopes the endpoint accepts that it lacks.
                            let accepted = header("x-accepted-oauth-scopes")?;
                            let has = header("x-oauth-scopes").unwrap_or_default();
                            let has: Vec<&str> = has.split(',').map(str::trim).collect();
                            let missing: Vec<&str> = accepted
                                .split(',')
                                .map(str::trim)
                                .filter(|s| !s.is_empty() && !has.contains(s))
                                .collect();
                            (!missing.is_empty()).then(|| format!("{} scope", missing.join(" or ")))
                        });
                        ApiErrorKind::Forbidden
                    }
                    404 => ApiErrorKind::NotFound,
                    422 => ApiErrorKind::Validation,
                    500..=599 => ApiErrorKind::Server,
                    _ => ApiErrorKind::Other,
                };
            }
            octocrab::Error::Service { source, .. } => {
                let mut current: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
                let mut found = None;
                while let Some(err) = current {
                    if let Some(t) = err.downcast_ref::<TransportError>() {
                        found = Some(t.clone());
                        break;
                    }
                    current = err.source();
                }
                match found {
                    Some(t) => {
                        out.kind = match t {
                            TransportError::Timeout { .. } => ApiErrorKind::Timeout,
                            TransportError::Unreachable { .. } => ApiErrorKind::Unreachable,
                            TransportError::Other { .. } => ApiErrorKind::Other,
                        };
                        out.message = r(&t.to_string());
                    }
                    None => out.message = r(&crate::error::error_chain(source.as_ref()).join(": ")),
                }
            }
            octocrab::Error::Json { source, .. } => {
                out.message = r(&format!(
                    "GitHub's answer could not be read at {}: {}",
                    source.path(),
                    source.inner()
                ));
            }
            other => out.message = r(&crate::error::error_chain(&other).join(": ")),
        }
        if out.message.is_empty() {
            out.message = "no message".to_owned();
        }
        out
    }
}
