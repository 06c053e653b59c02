//! A faithful local GitHub for the publishing tests: the REST subset git-oc uses, answered by an
//! HTTP server on 127.0.0.1 with bodies shaped as GitHub's own, its branches read from the real
//! bare repository git-oc pushes to (so "head branch missing" is real). Faults (401, 403, 429,
//! 5xx, an answer that never comes) are queued per route.
//!
//! Every body it serves, and every body git-oc sends it, is logged with its operation; when the
//! fake goes away the log is checked against GitHub's published OpenAPI description
//! (`tests/openapi`, `@octokit/openapi` with Ajv). A missing checker fails the test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// Which GitHub the fake plays, and which published description its bodies are checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// api.github.com: the API at the server's root.
    GitHubCom,
    /// GitHub Enterprise Server 3.19: the API under `/api/v3`.
    Enterprise,
}

impl Flavor {
    fn spec(self) -> &'static str {
        match self {
            Flavor::GitHubCom => "api.github.com",
            Flavor::Enterprise => "ghes-3.19",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Flavor::GitHubCom => "",
            Flavor::Enterprise => "/api/v3",
        }
    }
}

/// A pull request the fake holds.
#[derive(Clone, Debug)]
pub struct Pull {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub draft: bool,
    pub state: String,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    pub reviewers: Vec<String>,
    pub teams: Vec<String>,
    /// Set once merged through the API.
    pub merged: bool,
    /// GitHub would merge it (else `PUT …/merge` answers 405).
    pub mergeable: bool,
}

/// A comment on a pull request's conversation.
#[derive(Clone, Debug)]
pub struct Comment {
    pub id: u64,
    pub number: u64,
    pub login: String,
    pub body: String,
}

/// A check run on a commit.
#[derive(Clone, Debug)]
pub struct Check {
    pub sha: String,
    pub name: String,
    /// `None` while it runs.
    pub conclusion: Option<String>,
}

/// An answer served instead of the real one, `times` times, to requests whose method is
/// `method` and whose path (without the query) ends with `path_suffix`.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: &'static str,
    pub path_suffix: String,
    pub times: usize,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// Read the request and never answer (the client's timeout ends it).
    pub hang: bool,
}

impl Fault {
    pub fn new(method: &'static str, path_suffix: &str, status: u16, body: Value) -> Fault {
        Fault {
            method,
            path_suffix: path_suffix.to_owned(),
            times: 1,
            status,
            headers: Vec::new(),
            body,
            hang: false,
        }
    }

    pub fn times(mut self, n: usize) -> Fault {
        self.times = n;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Fault {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

pub struct State {
    pub owner: String,
    pub repo: String,
    /// The bare repository the branches are read from.
    pub bare: PathBuf,
    pub token: String,
    pub pulls: Vec<Pull>,
    /// At most this many items per page, whatever `per_page` asks.
    pub page_size: usize,
    pub faults: Vec<Fault>,
    pub seen: Vec<Seen>,
    pub draft_supported: bool,
    /// Logins that may be asked to review.
    pub collaborators: Vec<String>,
    /// `permissions.push` in the repository.
    pub push: bool,
    /// `X-OAuth-Scopes` (a classic token), or none (a fine-grained one).
    pub scopes: Option<String>,
    /// The check runs every commit has: `(name, conclusion)`, `None` while one runs.
    pub checks: Vec<(String, Option<String>)>,
    pub comments: Vec<Comment>,
    /// `(pull request, login, content)`.
    pub reactions: Vec<(u64, String, String)>,
    /// `(pull request, login, state, commit)`.
    pub reviews: Vec<(u64, String, String, String)>,
    /// Check runs on one commit each, besides those every commit has.
    pub commit_checks: Vec<Check>,
    /// The login the token belongs to: the author of what git-oc posts.
    pub token_login: String,
    next_id: u64,
    log: Vec<Value>,
}

pub struct FakeGitHub {
    /// The API base git-oc is pointed at.
    pub api_url: String,
    pub state: Arc<Mutex<State>>,
}

const TIME: &str = "2026-01-02T03:04:05Z";

impl FakeGitHub {
    pub fn start(flavor: Flavor, owner: &str, repo: &str, bare: &Path, token: &str) -> FakeGitHub {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let root = format!("http://{}", listener.local_addr().unwrap());
        let api_url = format!("{root}{}", flavor.prefix());
        let state = Arc::new(Mutex::new(State {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            bare: bare.to_owned(),
            token: token.to_owned(),
            pulls: Vec::new(),
            page_size: 100,
            faults: Vec::new(),
            seen: Vec::new(),
            draft_supported: true,
            collaborators: vec!["alice".into(), "bob".into()],
            push: true,
            scopes: None,
            checks: Vec::new(),
            comments: Vec::new(),
            reactions: Vec::new(),
            reviews: Vec::new(),
            commit_checks: Vec::new(),
            token_login: "git-oc-bot".into(),
            next_id: 5000,
            log: Vec::new(),
        }));
        let shared = state.clone();
        let api = api_url.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                let api = api.clone();
                std::thread::spawn(move || serve(stream, &shared, &api, flavor));
            }
        });
        FakeGitHub { api_url, state }
    }

    pub fn fault(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push(fault);
    }

    pub fn pulls(&self) -> Vec<Pull> {
        self.state.lock().unwrap().pulls.clone()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Requests whose method and path (without the query) match.
    pub fn count(&self, method: &str, path_suffix: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.target.split('?').next().unwrap_or("").ends_with(path_suffix))
            .count()
    }

    /// A pull request as if someone had opened it by hand.
    pub fn add_pull(&self, head: &str, base: &str, title: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        let number = s.pulls.len() as u64 + 1;
        s.pulls.push(Pull {
            number,
            title: title.to_owned(),
            body: String::new(),
            head: head.to_owned(),
            base: base.to_owned(),
            draft: false,
            state: "open".into(),
            labels: Vec::new(),
            assignees: Vec::new(),
            reviewers: Vec::new(),
            teams: Vec::new(),
            merged: false,
            mergeable: true,
        });
        number
    }

    /// A person (or a bot) comments on pull request `number`; the comment's id.
    pub fn add_comment(&self, number: u64, login: &str, body: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let id = s.next_id;
        s.comments.push(Comment {
            id,
            number,
            login: login.to_owned(),
            body: body.to_owned(),
        });
        id
    }

    pub fn comments(&self, number: u64) -> Vec<Comment> {
        let s = self.state.lock().unwrap();
        s.comments.iter().filter(|c| c.number == number).cloned().collect()
    }

    pub fn add_reaction(&self, number: u64, login: &str, content: &str) {
        let mut s = self.state.lock().unwrap();
        s.reactions.push((number, login.to_owned(), content.to_owned()));
    }

    pub fn add_review(&self, number: u64, login: &str, state: &str, commit: &str) {
        let mut s = self.state.lock().unwrap();
        s.reviews
            .push((number, login.to_owned(), state.to_owned(), commit.to_owned()));
    }

    /// A check run on commit `sha`: completed with `conclusion`, or still running (`None`).
    pub fn add_check(&self, sha: &str, name: &str, conclusion: Option<&str>) {
        let mut s = self.state.lock().unwrap();
        s.commit_checks.push(Check {
            sha: sha.to_owned(),
            name: name.to_owned(),
            conclusion: conclusion.map(str::to_owned),
        });
    }

    pub fn set_mergeable(&self, number: u64, mergeable: bool) {
        let mut s = self.state.lock().unwrap();
        if let Some(p) = s.pulls.iter_mut().find(|p| p.number == number) {
            p.mergeable = mergeable;
        }
    }

    pub fn set_draft(&self, number: u64, draft: bool) {
        let mut s = self.state.lock().unwrap();
        if let Some(p) = s.pulls.iter_mut().find(|p| p.number == number) {
            p.draft = draft;
        }
    }

    /// Check everything served and received so far against GitHub's OpenAPI description.
    pub fn check_against_openapi(&self) {
        let log = std::mem::take(&mut self.state.lock().unwrap().log);
        if log.is_empty() {
            return;
        }
        check_log(&log);
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.check_against_openapi();
        }
    }
}

/// The checker's directory: `tests/openapi`, with its packages installed (`npm ci`).
pub fn checker_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openapi")
}

fn check_log(log: &[Value]) {
    if let Err(e) = validate(log, &checker_dir()) {
        panic!("{e}");
    }
}

/// Check logged bodies with the checker in `dir`: what it says, or why they (or the checker)
/// fail. A missing description or Node is a failure, never a skip.
pub fn validate(log: &[Value], dir: &Path) -> Result<String, String> {
    let package = dir.join("node_modules/@octokit/openapi/package.json");
    if !package.exists() {
        return Err(format!(
            "GitHub's OpenAPI description is not installed in {}, so the fake GitHub cannot be checked: run \
             `npm ci --prefix tests/openapi` (CI's .ci/run does)",
            dir.display()
        ));
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    let mut text = String::new();
    for entry in log {
        text.push_str(&entry.to_string());
        text.push('\n');
    }
    std::fs::write(file.path(), text).unwrap();
    let out = Command::new("node")
        .arg(dir.join("validate.mjs"))
        .arg(file.path())
        .current_dir(dir)
        .output()
        .map_err(|e| format!("node is needed to check the fake GitHub against its OpenAPI description: {e}"))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(said)
    } else {
        Err(format!(
            "the fake GitHub served (or received) bodies that GitHub's OpenAPI description does not allow:\n{said}"
        ))
    }
}

struct Request {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
    body: String,
}

fn read_request(stream: &std::net::TcpStream) -> Option<(Request, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header == "\r\n" {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    Some((
        Request {
            method,
            path: decode(path),
            query,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        },
        target,
    ))
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
    /// The operation, as GitHub's description names its path.
    template: &'static str,
}

fn serve(stream: std::net::TcpStream, shared: &Arc<Mutex<State>>, api: &str, flavor: Flavor) {
    let Some((request, target)) = read_request(&stream) else {
        return;
    };
    let prefix = flavor.prefix();
    let path = request
        .path
        .strip_prefix(prefix)
        .unwrap_or("/not-under-the-api-prefix")
        .to_owned();
    let (answer, hang) = {
        let mut s = shared.lock().unwrap();
        s.seen.push(Seen {
            method: request.method.clone(),
            target,
            headers: request.headers.clone(),
            body: request.body.clone(),
        });
        let template = template_of(&request.method, &path);
        if !request.body.is_empty()
            && let (Some(t), Ok(body)) = (template, serde_json::from_str::<Value>(&request.body))
        {
            let entry = json!({
                "spec": flavor.spec(), "kind": "request", "method": request.method.to_ascii_lowercase(),
                "path": t, "body": body,
            });
            s.log.push(entry);
        }
        let fault = s
            .faults
            .iter_mut()
            .find(|f| f.times > 0 && f.method == request.method && path.ends_with(&f.path_suffix));
        let answer = match fault {
            Some(f) => {
                f.times -= 1;
                let hang = f.hang;
                (
                    Answer {
                        status: f.status,
                        headers: f.headers.clone(),
                        body: f.body.clone(),
                        template: template.unwrap_or("(unknown)"),
                    },
                    hang,
                )
            }
            None => (route(&mut s, &request, &path, api, template), false),
        };
        if !answer.1 {
            let entry = json!({
                "spec": flavor.spec(), "kind": "response", "method": request.method.to_ascii_lowercase(),
                "path": answer.0.template, "status": answer.0.status, "body": answer.0.body,
            });
            s.log.push(entry);
        }
        answer
    };
    let mut stream = stream;
    if hang {
        // Never answer: wait until the client gives up and closes the connection.
        let mut sink = [0u8; 64];
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        return;
    }
    let body = if answer.status == 204 {
        String::new()
    } else {
        answer.body.to_string()
    };
    let mut head = format!(
        "HTTP/1.1 {} X\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\nx-github-api-version-selected: 2022-11-28\r\n",
        answer.status,
        body.len()
    );
    for (k, v) in &answer.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

/// The operation's path as GitHub's description writes it.
fn template_of(method: &str, path: &str) -> Option<&'static str> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Some(match (method, parts.as_slice()) {
        ("GET", ["repos", _, _]) => "/repos/{owner}/{repo}",
        ("GET" | "POST", ["repos", _, _, "pulls"]) => "/repos/{owner}/{repo}/pulls",
        ("GET" | "PATCH", ["repos", _, _, "pulls", _]) => "/repos/{owner}/{repo}/pulls/{pull_number}",
        ("POST", ["repos", _, _, "issues", _, "labels"]) => "/repos/{owner}/{repo}/issues/{issue_number}/labels",
        ("POST", ["repos", _, _, "pulls", _, "requested_reviewers"]) => {
            "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"
        }
        ("POST", ["repos", _, _, "issues", _, "assignees"]) => "/repos/{owner}/{repo}/issues/{issue_number}/assignees",
        ("GET" | "POST", ["repos", _, _, "issues", _, "comments"]) => {
            "/repos/{owner}/{repo}/issues/{issue_number}/comments"
        }
        ("GET", ["repos", _, _, "issues", _, "reactions"]) => "/repos/{owner}/{repo}/issues/{issue_number}/reactions",
        ("GET", ["repos", _, _, "pulls", _, "reviews"]) => "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        ("PUT", ["repos", _, _, "pulls", _, "merge"]) => "/repos/{owner}/{repo}/pulls/{pull_number}/merge",
        ("GET", ["repos", _, _, "commits", _, "check-runs"]) => "/repos/{owner}/{repo}/commits/{ref}/check-runs",
        ("DELETE", ["repos", _, _, "git", "refs", "heads", ..]) => "/repos/{owner}/{repo}/git/refs/{ref}",
        _ => return None,
    })
}

fn error(status: u16, message: &str, template: &'static str) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.to_string(),
        }),
        template,
    }
}

fn invalid(template: &'static str, errors: Value) -> Answer {
    Answer {
        status: 422,
        headers: Vec::new(),
        body: json!({
            "message": "Validation Failed",
            "errors": errors,
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
            "status": "422",
        }),
        template,
    }
}

fn ok(status: u16, body: Value, template: &'static str) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body,
        template,
    }
}

fn route(s: &mut State, r: &Request, path: &str, api: &str, template: Option<&'static str>) -> Answer {
    let Some(template) = template else {
        return error(404, "Not Found", "(unknown)");
    };
    let expected = format!("Bearer {}", s.token);
    if r.headers.get("authorization") != Some(&expected) {
        return error(401, "Bad credentials", template);
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if parts.get(1) != Some(&s.owner.as_str()) || parts.get(2) != Some(&s.repo.as_str()) {
        return error(404, "Not Found", template);
    }
    let number = |i: usize| parts.get(i).and_then(|n| n.parse::<u64>().ok());
    let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    match (r.method.as_str(), template) {
        ("GET", "/repos/{owner}/{repo}") => {
            let mut repo = repository(s, api, true);
            repo["permissions"] =
                json!({"admin": false, "maintain": false, "push": s.push, "triage": true, "pull": true});
            let mut a = ok(200, repo, template);
            if let Some(scopes) = &s.scopes {
                a.headers.push(("x-oauth-scopes".into(), scopes.clone()));
                a.headers.push(("x-accepted-oauth-scopes".into(), "repo".into()));
            }
            a
        }
        ("GET", "/repos/{owner}/{repo}/pulls") => {
            let state = r.query.get("state").map_or("open", String::as_str);
            let head = r.query.get("head").cloned();
            let per_page: usize = r.query.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(30);
            let per_page = per_page.clamp(1, 100).min(s.page_size);
            let page: usize = r.query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
            let matching: Vec<&Pull> = s
                .pulls
                .iter()
                .filter(|p| state == "all" || p.state == state)
                .filter(|p| head.as_ref().is_none_or(|h| *h == format!("{}:{}", s.owner, p.head)))
                .collect();
            let pages = matching.len().div_ceil(per_page).max(1);
            let items: Vec<Value> = matching
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|p| pull(s, p, api, true))
                .collect();
            let mut a = ok(200, Value::Array(items), template);
            let link = |n: usize| {
                let mut q: Vec<String> = r
                    .query
                    .iter()
                    .filter(|(k, _)| k.as_str() != "page")
                    .map(|(k, v)| format!("{k}={}", encode(v)))
                    .collect();
                q.push(format!("page={n}"));
                format!("{api}/repos/{}/{}/pulls?{}", s.owner, s.repo, q.join("&"))
            };
            let mut links = Vec::new();
            if page < pages {
                links.push(format!("<{}>; rel=\"next\"", link(page + 1)));
                links.push(format!("<{}>; rel=\"last\"", link(pages)));
            }
            if page > 1 {
                links.push(format!("<{}>; rel=\"prev\"", link(page - 1)));
                links.push(format!("<{}>; rel=\"first\"", link(1)));
            }
            if !links.is_empty() {
                a.headers.push(("link".into(), links.join(", ")));
            }
            a
        }
        ("POST", "/repos/{owner}/{repo}/pulls") => {
            let head = body["head"].as_str().unwrap_or("").to_owned();
            let base = body["base"].as_str().unwrap_or("").to_owned();
            if !branch_exists(&s.bare, &head) {
                return invalid(
                    template,
                    json!([{"resource": "PullRequest", "field": "head", "code": "invalid"}]),
                );
            }
            if !branch_exists(&s.bare, &base) {
                return invalid(
                    template,
                    json!([{"resource": "PullRequest", "field": "base", "code": "invalid"}]),
                );
            }
            if s.pulls
                .iter()
                .any(|p| p.state == "open" && p.head == head && p.base == base)
            {
                let message = format!("A pull request already exists for {}:{head}.", s.owner);
                return invalid(
                    template,
                    json!([{"resource": "PullRequest", "code": "custom", "message": message}]),
                );
            }
            if commits_between(&s.bare, &base, &head) == 0 {
                let message = format!("No commits between {base} and {head}");
                return invalid(
                    template,
                    json!([{"resource": "PullRequest", "code": "custom", "message": message}]),
                );
            }
            let draft = body["draft"].as_bool().unwrap_or(false);
            if draft && !s.draft_supported {
                return invalid(
                    template,
                    json!([{"resource": "PullRequest", "code": "custom", "message": "Draft pull requests are not supported in this repository."}]),
                );
            }
            let number = s.pulls.len() as u64 + 1;
            let p = Pull {
                number,
                title: body["title"].as_str().unwrap_or("").to_owned(),
                body: body["body"].as_str().unwrap_or("").to_owned(),
                head,
                base,
                draft,
                state: "open".into(),
                labels: Vec::new(),
                assignees: Vec::new(),
                reviewers: Vec::new(),
                teams: Vec::new(),
                merged: false,
                mergeable: true,
            };
            let out = pull(s, &p, api, false);
            s.pulls.push(p);
            let mut a = ok(201, out, template);
            a.headers.push((
                "location".into(),
                format!("{api}/repos/{}/{}/pulls/{number}", s.owner, s.repo),
            ));
            a
        }
        ("GET" | "PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}") => {
            let Some(i) = number(4).and_then(|n| s.pulls.iter().position(|p| p.number == n)) else {
                return error(404, "Not Found", template);
            };
            if r.method == "PATCH" {
                if let Some(base) = body["base"].as_str() {
                    if !branch_exists(&s.bare, base) {
                        return invalid(
                            template,
                            json!([{"resource": "PullRequest", "field": "base", "code": "invalid"}]),
                        );
                    }
                    s.pulls[i].base = base.to_owned();
                }
                if let Some(t) = body["title"].as_str() {
                    s.pulls[i].title = t.to_owned();
                }
                if let Some(b) = body["body"].as_str() {
                    s.pulls[i].body = b.to_owned();
                }
            }
            let p = s.pulls[i].clone();
            ok(200, pull(s, &p, api, false), template)
        }
        ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels") => {
            let Some(i) = number(4).and_then(|n| s.pulls.iter().position(|p| p.number == n)) else {
                return error(404, "Not Found", template);
            };
            let names: Vec<String> = body["labels"]
                .as_array()
                .or(body.as_array())
                .into_iter()
                .flatten()
                .filter_map(|l| {
                    l.as_str()
                        .map(str::to_owned)
                        .or_else(|| l["name"].as_str().map(str::to_owned))
                })
                .collect();
            for n in names {
                if !s.pulls[i].labels.contains(&n) {
                    s.pulls[i].labels.push(n);
                }
            }
            let labels: Vec<Value> = s.pulls[i]
                .labels
                .iter()
                .map(|l| label(l, api, &s.owner, &s.repo))
                .collect();
            ok(200, Value::Array(labels), template)
        }
        ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers") => {
            let Some(i) = number(4).and_then(|n| s.pulls.iter().position(|p| p.number == n)) else {
                return error(404, "Not Found", template);
            };
            let users: Vec<String> = strings(&body["reviewers"]);
            if users.iter().any(|u| !s.collaborators.contains(u)) {
                // GitHub says this in the message alone, with no `errors` list.
                let message = format!(
                    "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {}/{} repository.",
                    s.owner, s.repo
                );
                return error(422, &message, template);
            }
            s.pulls[i].reviewers.extend(users);
            s.pulls[i].teams.extend(strings(&body["team_reviewers"]));
            let p = s.pulls[i].clone();
            ok(201, pull(s, &p, api, true), template)
        }
        ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/assignees") => {
            let Some(i) = number(4).and_then(|n| s.pulls.iter().position(|p| p.number == n)) else {
                return error(404, "Not Found", template);
            };
            for a in strings(&body["assignees"]) {
                if s.collaborators.contains(&a) && !s.pulls[i].assignees.contains(&a) {
                    s.pulls[i].assignees.push(a);
                }
            }
            let p = s.pulls[i].clone();
            ok(201, issue(s, &p, api), template)
        }
        ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments") => {
            let Some(n) = number(4).filter(|n| s.pulls.iter().any(|p| p.number == *n)) else {
                return error(404, "Not Found", template);
            };
            let items: Vec<Value> = s
                .comments
                .iter()
                .filter(|c| c.number == n)
                .map(|c| comment(s, c, api))
                .collect();
            ok(200, Value::Array(items), template)
        }
        ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments") => {
            let Some(n) = number(4).filter(|n| s.pulls.iter().any(|p| p.number == *n)) else {
                return error(404, "Not Found", template);
            };
            let Some(text) = body["body"].as_str().filter(|b| !b.is_empty()) else {
                return invalid(
                    template,
                    json!([{"resource": "IssueComment", "field": "body", "code": "missing_field"}]),
                );
            };
            s.next_id += 1;
            let c = Comment {
                id: s.next_id,
                number: n,
                login: s.token_login.clone(),
                body: text.to_owned(),
            };
            let out = comment(s, &c, api);
            s.comments.push(c);
            ok(201, out, template)
        }
        ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/reactions") => {
            let Some(n) = number(4).filter(|n| s.pulls.iter().any(|p| p.number == *n)) else {
                return error(404, "Not Found", template);
            };
            let items: Vec<Value> = s
                .reactions
                .iter()
                .enumerate()
                .filter(|(_, r)| r.0 == n)
                .map(|(i, r)| {
                    json!({
                        "id": 7000 + i as u64, "node_id": "MDg6UmVhY3Rpb24x", "user": user(&r.1, api),
                        "content": r.2, "created_at": TIME,
                    })
                })
                .collect();
            ok(200, Value::Array(items), template)
        }
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews") => {
            let Some(n) = number(4).filter(|n| s.pulls.iter().any(|p| p.number == *n)) else {
                return error(404, "Not Found", template);
            };
            let (o, rp) = (&s.owner, &s.repo);
            let web = web(api);
            let items: Vec<Value> = s
                .reviews
                .iter()
                .enumerate()
                .filter(|(_, r)| r.0 == n)
                .map(|(i, r)| {
                    let html = format!("{web}/{o}/{rp}/pull/{n}#pullrequestreview-{}", 80 + i);
                    let pr_url = format!("{api}/repos/{o}/{rp}/pulls/{n}");
                    json!({
                        "id": 80 + i as u64, "node_id": "MDE3OlB1bGxSZXF1ZXN0UmV2aWV3ODA=", "user": user(&r.1, api),
                        "body": "", "state": r.2, "html_url": html, "pull_request_url": pr_url,
                        "_links": {"html": {"href": html}, "pull_request": {"href": pr_url}},
                        "submitted_at": TIME, "commit_id": r.3, "author_association": "COLLABORATOR",
                    })
                })
                .collect();
            ok(200, Value::Array(items), template)
        }
        ("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs") => {
            let sha = parts.get(4).copied().unwrap_or("").to_owned();
            let per_page: usize = r.query.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(30);
            let per_page = per_page.clamp(1, 100).min(s.page_size);
            let page: usize = r.query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
            // Those every commit has, then those of this commit.
            let all: Vec<(String, Option<String>)> = s
                .checks
                .iter()
                .cloned()
                .chain(
                    s.commit_checks
                        .iter()
                        .filter(|c| c.sha == sha)
                        .map(|c| (c.name.clone(), c.conclusion.clone())),
                )
                .collect();
            let runs: Vec<Value> = all
                .iter()
                .enumerate()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|(i, (name, conclusion))| check_run(s, api, &sha, i, name, conclusion.as_deref()))
                .collect();
            ok(200, json!({"total_count": all.len(), "check_runs": runs}), template)
        }
        ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge") => {
            let Some(i) = number(4).and_then(|n| s.pulls.iter().position(|p| p.number == n)) else {
                return error(404, "Not Found", template);
            };
            let p = s.pulls[i].clone();
            let method = body["merge_method"].as_str().unwrap_or("merge").to_owned();
            let message = |m: &str| json!({"message": m, "documentation_url": "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request"});
            if p.state != "open" || !p.mergeable {
                return ok(405, message("Pull Request is not mergeable"), template);
            }
            let head = head_sha(&s.bare, &p.head);
            if let Some(expected) = body["sha"].as_str()
                && expected != head
            {
                return ok(
                    409,
                    message("Head branch was modified. Review and try the merge again."),
                    template,
                );
            }
            let Some(sha) = merge_in_bare(&s.bare, &p, &method, body["commit_title"].as_str()) else {
                return ok(405, message("Pull Request is not mergeable"), template);
            };
            s.pulls[i].merged = true;
            s.pulls[i].state = "closed".into();
            ok(
                200,
                json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
                template,
            )
        }
        ("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}") => {
            let branch = parts[6..].join("/");
            if !branch_exists(&s.bare, &branch) {
                return invalid(template, json!([]));
            }
            git_bare(&s.bare, &["update-ref", "-d", &format!("refs/heads/{branch}")]);
            ok(204, Value::Null, template)
        }
        _ => error(404, "Not Found", template),
    }
}

/// Merge a pull request in the bare repository as GitHub would: squash (one commit with the
/// merged tree on the base), merge (a merge commit) or rebase (here: the head's tree on the
/// base, as squash); `None` on a conflict.
fn merge_in_bare(bare: &Path, p: &Pull, method: &str, title: Option<&str>) -> Option<String> {
    let base = head_sha(bare, &p.base);
    let head = head_sha(bare, &p.head);
    let tree = git_bare(bare, &["merge-tree", "--write-tree", &base, &head]);
    if !tree.status.success() {
        return None;
    }
    let tree = String::from_utf8_lossy(&tree.stdout).lines().next()?.trim().to_owned();
    let title = title.map_or_else(|| format!("{} (#{})", p.title, p.number), str::to_owned);
    let mut args = vec![
        "-c",
        "user.name=GitHub",
        "-c",
        "user.email=noreply@github.com",
        "commit-tree",
        &tree,
        "-p",
        &base,
    ];
    if method == "merge" {
        args.extend(["-p", &head]);
    }
    args.extend(["-m", &title]);
    let out = git_bare(bare, &args);
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || sha.len() != 40 {
        return None;
    }
    let updated = git_bare(bare, &["update-ref", &format!("refs/heads/{}", p.base), &sha, &base]);
    updated.status.success().then_some(sha)
}

fn comment(s: &State, c: &Comment, api: &str) -> Value {
    let (o, r) = (&s.owner, &s.repo);
    let web = web(api);
    json!({
        "id": c.id, "node_id": "IC_kwDOAAAQks5", "url": format!("{api}/repos/{o}/{r}/issues/comments/{}", c.id),
        "html_url": format!("{web}/{o}/{r}/pull/{}#issuecomment-{}", c.number, c.id), "body": c.body,
        "user": user(&c.login, api), "created_at": TIME, "updated_at": TIME,
        "issue_url": format!("{api}/repos/{o}/{r}/issues/{}", c.number), "author_association": "MEMBER",
        "performed_via_github_app": null,
    })
}

fn check_run(s: &State, api: &str, sha: &str, i: usize, name: &str, conclusion: Option<&str>) -> Value {
    let (o, r) = (&s.owner, &s.repo);
    let id = 4000 + i as u64;
    json!({
        "id": id, "head_sha": sha, "node_id": "CR_kwDOABCD", "external_id": "",
        "url": format!("{api}/repos/{o}/{r}/check-runs/{id}"),
        "html_url": format!("{}/{o}/{r}/runs/{id}", web(api)),
        "details_url": null,
        "status": if conclusion.is_some() { "completed" } else { "in_progress" },
        "conclusion": conclusion,
        "started_at": TIME,
        "completed_at": if conclusion.is_some() { Value::from(TIME) } else { Value::Null },
        "output": {
            "title": null, "summary": null, "text": null, "annotations_count": 0,
            "annotations_url": format!("{api}/repos/{o}/{r}/check-runs/{id}/annotations"),
        },
        "name": name, "check_suite": {"id": 77}, "app": null, "pull_requests": [],
    })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn git_bare(bare: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .arg("--git-dir")
        .arg(bare)
        .args(args)
        .output()
        .unwrap()
}

fn branch_exists(bare: &Path, branch: &str) -> bool {
    !branch.is_empty()
        && git_bare(
            bare,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}^{{commit}}"),
            ],
        )
        .status
        .success()
}

fn commits_between(bare: &Path, base: &str, head: &str) -> usize {
    let out = git_bare(
        bare,
        &["rev-list", "--count", &format!("refs/heads/{base}..refs/heads/{head}")],
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
}

fn head_sha(bare: &Path, branch: &str) -> String {
    let out = git_bare(bare, &["rev-parse", &format!("refs/heads/{branch}")]);
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if sha.len() == 40 { sha } else { "0".repeat(40) }
}

fn web(api: &str) -> String {
    // github.com's pages are not its API host; an Enterprise server serves both.
    match api.strip_suffix("/api/v3") {
        Some(root) => root.to_owned(),
        None => "https://github.com".to_owned(),
    }
}

fn user(login: &str, api: &str) -> Value {
    let web = web(api);
    json!({
        "login": login, "id": 1000 + login.len() as u64, "node_id": "MDQ6VXNlcjE=",
        "avatar_url": "https://avatars.githubusercontent.com/u/1?v=4", "gravatar_id": "",
        "url": format!("{api}/users/{login}"), "html_url": format!("{web}/{login}"),
        "followers_url": format!("{api}/users/{login}/followers"),
        "following_url": format!("{api}/users/{login}/following{{/other_user}}"),
        "gists_url": format!("{api}/users/{login}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/users/{login}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/users/{login}/subscriptions"),
        "organizations_url": format!("{api}/users/{login}/orgs"),
        "repos_url": format!("{api}/users/{login}/repos"),
        "events_url": format!("{api}/users/{login}/events{{/privacy}}"),
        "received_events_url": format!("{api}/users/{login}/received_events"),
        "type": "User", "site_admin": false, "user_view_type": "public",
    })
}

fn repository(s: &State, api: &str, full: bool) -> Value {
    let (o, r) = (&s.owner, &s.repo);
    let web = web(api);
    let u = format!("{api}/repos/{o}/{r}");
    let host = web
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .to_owned();
    let mut v = json!({
        "id": 4242, "node_id": "R_kgDOAAAQkg", "name": r, "full_name": format!("{o}/{r}"),
        "owner": user(o, api), "private": true, "html_url": format!("{web}/{o}/{r}"),
        "description": "A repository git-oc publishes to", "fork": false, "url": u,
        "archive_url": format!("{u}/{{archive_format}}{{/ref}}"), "assignees_url": format!("{u}/assignees{{/user}}"),
        "blobs_url": format!("{u}/git/blobs{{/sha}}"), "branches_url": format!("{u}/branches{{/branch}}"),
        "collaborators_url": format!("{u}/collaborators{{/collaborator}}"), "comments_url": format!("{u}/comments{{/number}}"),
        "commits_url": format!("{u}/commits{{/sha}}"), "compare_url": format!("{u}/compare/{{base}}...{{head}}"),
        "contents_url": format!("{u}/contents/{{+path}}"), "contributors_url": format!("{u}/contributors"),
        "deployments_url": format!("{u}/deployments"), "downloads_url": format!("{u}/downloads"),
        "events_url": format!("{u}/events"), "forks_url": format!("{u}/forks"),
        "git_commits_url": format!("{u}/git/commits{{/sha}}"), "git_refs_url": format!("{u}/git/refs{{/sha}}"),
        "git_tags_url": format!("{u}/git/tags{{/sha}}"), "git_url": format!("git://{host}/{o}/{r}.git"),
        "issue_comment_url": format!("{u}/issues/comments{{/number}}"), "issue_events_url": format!("{u}/issues/events{{/number}}"),
        "issues_url": format!("{u}/issues{{/number}}"), "keys_url": format!("{u}/keys{{/key_id}}"),
        "labels_url": format!("{u}/labels{{/name}}"), "languages_url": format!("{u}/languages"),
        "merges_url": format!("{u}/merges"), "milestones_url": format!("{u}/milestones{{/number}}"),
        "notifications_url": format!("{u}/notifications{{?since,all,participating}}"),
        "pulls_url": format!("{u}/pulls{{/number}}"), "releases_url": format!("{u}/releases{{/id}}"),
        "ssh_url": format!("git@{host}:{o}/{r}.git"), "stargazers_url": format!("{u}/stargazers"),
        "statuses_url": format!("{u}/statuses/{{sha}}"), "subscribers_url": format!("{u}/subscribers"),
        "subscription_url": format!("{u}/subscription"), "tags_url": format!("{u}/tags"),
        "teams_url": format!("{u}/teams"), "trees_url": format!("{u}/git/trees{{/sha}}"),
        "clone_url": format!("{web}/{o}/{r}.git"), "mirror_url": null, "hooks_url": format!("{u}/hooks"),
        "svn_url": format!("{web}/{o}/{r}"), "homepage": null, "language": "Rust",
        "forks_count": 0, "forks": 0, "stargazers_count": 0, "watchers_count": 0, "watchers": 0,
        "size": 108, "default_branch": "main", "open_issues_count": s.pulls.iter().filter(|p| p.state == "open").count(),
        "open_issues": s.pulls.iter().filter(|p| p.state == "open").count(),
        "is_template": false, "topics": [], "has_issues": true, "has_projects": true, "has_wiki": false,
        "has_pages": false, "has_downloads": true, "has_discussions": false, "archived": false, "disabled": false,
        "visibility": "private", "pushed_at": TIME, "created_at": TIME, "updated_at": TIME,
        "allow_forking": true, "web_commit_signoff_required": false, "license": null,
    });
    if full {
        v["network_count"] = json!(0);
        v["subscribers_count"] = json!(1);
    }
    v
}

fn label(name: &str, api: &str, owner: &str, repo: &str) -> Value {
    json!({
        "id": 208045946 + name.len() as u64, "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=",
        "url": format!("{api}/repos/{owner}/{repo}/labels/{}", encode(name)),
        // `pull-request-simple` (the reviewers answer) allows no null description.
        "name": name, "description": "", "color": "ededed", "default": false,
    })
}

fn pull(s: &State, p: &Pull, api: &str, simple: bool) -> Value {
    let (o, r) = (&s.owner, &s.repo);
    let web = web(api);
    let u = format!("{api}/repos/{o}/{r}/pulls/{}", p.number);
    let issue_u = format!("{api}/repos/{o}/{r}/issues/{}", p.number);
    let html = format!("{web}/{o}/{r}/pull/{}", p.number);
    let sha = head_sha(&s.bare, &p.head);
    let end = |branch: &str, sha: &str| {
        json!({
            "label": format!("{o}:{branch}"), "ref": branch, "sha": sha,
            "user": user(o, api), "repo": repository(s, api, false),
        })
    };
    let link = |href: String| json!({ "href": href });
    let mut v = json!({
        "url": u, "id": 1_000_000 + p.number, "node_id": "PR_kwDOAAAQks5",
        "html_url": html, "diff_url": format!("{html}.diff"), "patch_url": format!("{html}.patch"),
        "issue_url": issue_u, "commits_url": format!("{u}/commits"), "review_comments_url": format!("{u}/comments"),
        "review_comment_url": format!("{api}/repos/{o}/{r}/pulls/comments{{/number}}"),
        "comments_url": format!("{issue_u}/comments"),
        "statuses_url": format!("{api}/repos/{o}/{r}/statuses/{sha}"),
        "number": p.number, "state": p.state, "locked": false, "title": p.title,
        "user": user("git-oc-bot", api), "body": p.body,
        "labels": p.labels.iter().map(|l| label(l, api, o, r)).collect::<Vec<_>>(),
        "milestone": null, "active_lock_reason": null,
        "created_at": TIME, "updated_at": TIME,
        "closed_at": if p.state == "closed" { json!(TIME) } else { Value::Null },
        "merged_at": if p.merged { json!(TIME) } else { Value::Null }, "merge_commit_sha": null,
        "assignee": p.assignees.first().map(|a| user(a, api)),
        "assignees": p.assignees.iter().map(|a| user(a, api)).collect::<Vec<_>>(),
        "requested_reviewers": p.reviewers.iter().map(|a| user(a, api)).collect::<Vec<_>>(),
        "requested_teams": [],
        "head": end(&p.head, &sha), "base": end(&p.base, &head_sha(&s.bare, &p.base)),
        "_links": {
            "self": link(u.clone()), "html": link(html.clone()), "issue": link(issue_u.clone()),
            "comments": link(format!("{issue_u}/comments")), "review_comments": link(format!("{u}/comments")),
            "review_comment": link(format!("{api}/repos/{o}/{r}/pulls/comments{{/number}}")),
            "commits": link(format!("{u}/commits")), "statuses": link(format!("{api}/repos/{o}/{r}/statuses/{sha}")),
        },
        "author_association": "MEMBER", "auto_merge": null, "draft": p.draft,
    });
    if !simple {
        let extra = json!({
            "merged": p.merged, "mergeable": null, "rebaseable": null, "mergeable_state": "unknown",
            "merged_by": null, "comments": 0, "review_comments": 0, "maintainer_can_modify": false,
            "commits": commits_between(&s.bare, &p.base, &p.head), "additions": 1, "deletions": 0, "changed_files": 1,
        });
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
    }
    v
}

fn issue(s: &State, p: &Pull, api: &str) -> Value {
    let (o, r) = (&s.owner, &s.repo);
    let web = web(api);
    let u = format!("{api}/repos/{o}/{r}/issues/{}", p.number);
    json!({
        "id": 2_000_000 + p.number, "node_id": "I_kwDOAAAQks5", "url": u,
        "repository_url": format!("{api}/repos/{o}/{r}"), "labels_url": format!("{u}/labels{{/name}}"),
        "comments_url": format!("{u}/comments"), "events_url": format!("{u}/events"),
        "html_url": format!("{web}/{o}/{r}/pull/{}", p.number), "number": p.number, "state": p.state,
        "title": p.title, "body": p.body, "user": user("git-oc-bot", api),
        "labels": p.labels.iter().map(|l| label(l, api, o, r)).collect::<Vec<_>>(),
        "assignee": p.assignees.first().map(|a| user(a, api)),
        "assignees": p.assignees.iter().map(|a| user(a, api)).collect::<Vec<_>>(),
        "milestone": null, "locked": false, "active_lock_reason": null, "comments": 0,
        "pull_request": {
            "url": format!("{api}/repos/{o}/{r}/pulls/{}", p.number),
            "html_url": format!("{web}/{o}/{r}/pull/{}", p.number),
            "diff_url": format!("{web}/{o}/{r}/pull/{}.diff", p.number),
            "patch_url": format!("{web}/{o}/{r}/pull/{}.patch", p.number),
            "merged_at": null,
        },
        "closed_at": null, "created_at": TIME, "updated_at": TIME, "author_association": "MEMBER",
        "state_reason": null, "draft": p.draft,
    })
}
