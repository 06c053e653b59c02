//! `git oc doctor`: is this machine, and this repository, ready for runs? git, identity,
//! configuration, policy, routing, backends and tokens need no repository; the notes ref and
//! unpublished evidence do, and are checked when there is one.

use std::time::Duration;

use crate::config::Config;
use crate::error::Result;
use crate::execution::agents::AgentKind;
use crate::git::Repo;

#[derive(serde::Serialize)]
pub struct Check {
    /// `ok`, `warn` or `fail`.
    pub level: &'static str,
    pub name: &'static str,
    pub detail: String,
}

/// Tokens git-oc reads from the environment, and the feature each is for; a token is reported
/// when it is set. Values are never printed. (Pull requests cannot be configured yet; a Plane
/// board without its token fails the `board` check below, which opens the board.)
const TOKENS: [(&str, &str); 3] = [
    ("GITHUB_TOKEN", "GitHub pull requests"),
    ("GH_TOKEN", "GitHub pull requests"),
    ("PLANE_API_TOKEN", "the Plane board"),
];

/// `git config --get <key>` as git itself reads it (outside a repository: the global and system
/// files).
fn git_config(key: &str) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["config", "--get", key])
        .output()
        .ok()?;
    let value = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !value.is_empty()).then_some(value)
}

/// The committer identity configured for commits: from the repository's configuration when
/// there is a repository, else from the environment and the global configuration.
fn configured_identity(repo: Option<&Repo>) -> Option<String> {
    match repo {
        Some(repo) => {
            // A second handle without git-oc's fallback identity, to see what is configured.
            let plain = gix::discover(repo.workdir()).ok()?;
            plain
                .committer()
                .and_then(|c| c.ok())
                .map(|c| format!("{} <{}>", c.name, c.email))
        }
        None => {
            let get = |var: &str, key: &str| {
                std::env::var(var)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .or_else(|| git_config(key))
            };
            Some(format!(
                "{} <{}>",
                get("GIT_COMMITTER_NAME", "user.name")?,
                get("GIT_COMMITTER_EMAIL", "user.email")?
            ))
        }
    }
}

/// Every check, in the order they are shown. Without a repository (`None`), the checks that
/// need one are skipped, and that is said. The git binary is checked first because push and
/// fetch need it.
pub fn checks(repo: Option<&Repo>) -> Result<Vec<Check>> {
    let mut checks: Vec<Check> = Vec::new();
    let mut add = |level, name, detail: String| checks.push(Check { level, name, detail });

    match std::process::Command::new("git").arg("--version").output() {
        Ok(out) if out.status.success() => add("ok", "git", String::from_utf8_lossy(&out.stdout).trim().to_owned()),
        _ => add(
            "fail",
            "git",
            "the git binary was not found on PATH; push and fetch need it".into(),
        ),
    }

    match configured_identity(repo) {
        Some(who) => add("ok", "identity", format!("commits are made by {who}")),
        None => add(
            "warn",
            "identity",
            format!(
                "no user.name/user.email configured; commits will be made by {} <{}>",
                crate::git::FALLBACK_NAME,
                crate::git::FALLBACK_EMAIL
            ),
        ),
    }

    let loaded = match repo {
        Some(repo) => Config::load(repo.workdir()),
        None => Config::load_user(),
    };
    let config = match loaded {
        Ok(c) => {
            let files: Vec<String> = c.files.iter().map(|(s, _)| s.to_string()).collect();
            add(
                "ok",
                "config",
                if files.is_empty() {
                    "no configuration files; built-in defaults".into()
                } else {
                    files.join("; ")
                },
            );
            Some(c)
        }
        Err(e) => {
            add("fail", "config", e.message.clone());
            None
        }
    };
    if let Some(config) = &config {
        match config.checked_policy() {
            Ok(p) => add(
                "ok",
                "policy",
                format!(
                    "valid; digest {}",
                    crate::policy::PolicyEngine::new(p)
                        .ignore_case(repo.is_some_and(Repo::ignore_case))
                        .digest()
                ),
            ),
            Err(e) => add("fail", "policy", format!("{}: {}", e.message, e.causes().join("; "))),
        }
        match config.routing_policy() {
            Ok(p) => add(
                "ok",
                "routing policy",
                format!("{} rules from {}", p.policy.rules.len(), p.source),
            ),
            Err(e) => add(
                "fail",
                "routing policy",
                format!("{}: {}", e.message, e.causes().join("; ")),
            ),
        }
        if config.routing.router() == crate::routing::Router::Switchboard {
            let target = config.routing.switchboard_url().trim_end_matches('/').to_owned();
            // Credentials in the URL are used, never printed.
            let url = crate::execution::secrets::redact_url(&target).into_owned();
            let redact = |e: ureq::Error| crate::execution::secrets::redact_urls(&e.to_string()).into_owned();
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(3)))
                .http_status_as_error(false)
                .build()
                .into();
            match agent.get(format!("{target}/health")).call() {
                Ok(r) if r.status().is_success() => add("ok", "router", format!("SwitchBoard at {url} answers")),
                Ok(r) => add(
                    "fail",
                    "router",
                    format!("SwitchBoard at {url} answered {}", r.status()),
                ),
                Err(e) if config.routing.fallback_to_rules() => add(
                    "warn",
                    "router",
                    format!(
                        "SwitchBoard at {url} is unreachable ({}); runs fall back to the rules router",
                        redact(e)
                    ),
                ),
                Err(e) => add(
                    "fail",
                    "router",
                    format!("SwitchBoard at {url} is unreachable: {}", redact(e)),
                ),
            }
        } else {
            add("ok", "router", "rules (local)".into());
        }
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for kind in AgentKind::ALL.into_iter().filter(|k| *k != AgentKind::Command) {
            let name = kind.name();
            let program = config.backend_settings(kind).program.unwrap_or_else(|| name.to_owned());
            match crate::execution::agents::find_program(&program) {
                Some(path) => found.push(format!("{name} ({})", path.display())),
                None => missing.push(name),
            }
        }
        if found.is_empty() {
            add(
                "warn",
                "backends",
                format!(
                    "none of {} is on PATH; only --backend command can run",
                    missing.join(", ")
                ),
            );
        } else {
            add(
                "ok",
                "backends",
                format!(
                    "{}{}",
                    found.join(", "),
                    if missing.is_empty() {
                        String::new()
                    } else {
                        format!("; not found: {}", missing.join(", "))
                    }
                ),
            );
        }
    }
    let set: Vec<_> = TOKENS
        .iter()
        .filter(|(var, _)| std::env::var_os(var).is_some_and(|v| !v.is_empty()))
        .collect();
    for (var, feature) in &set {
        add("ok", "token", format!("{var} is set (for {feature})"));
    }
    if set.is_empty() {
        add("ok", "tokens", "none set; no configured feature needs one".into());
    }

    let Some(repo) = repo else {
        add(
            "warn",
            "repository",
            "not inside a git repository: the repository's configuration, notes and evidence were not checked".into(),
        );
        return Ok(checks);
    };

    let settings = config.as_ref().map(|c| c.github.clone()).unwrap_or_default();
    let (level, detail) = github_check(repo, &settings);
    add(level, "github", detail);

    // The notes ref must be a notes commit: a blob or tree there breaks every note write.
    match repo.repo.try_find_reference(crate::git::NOTES_REF) {
        Ok(None) => add("ok", "notes", format!("{} not created yet", crate::git::NOTES_REF)),
        Ok(Some(mut r)) => match r.peel_to_id().ok().and_then(|id| id.object().ok().map(|o| o.kind)) {
            Some(gix::object::Kind::Commit) => {
                add("ok", "notes", format!("{} is a notes commit", crate::git::NOTES_REF))
            }
            Some(kind) => add(
                "fail",
                "notes",
                format!(
                    "{} points at a {kind}, not a notes commit; no run can record its note (inspect it with git cat-file -t {0}, then delete it with git update-ref -d {0})",
                    crate::git::NOTES_REF
                ),
            ),
            None => add(
                "fail",
                "notes",
                format!("{} points at an object that is missing", crate::git::NOTES_REF),
            ),
        },
        Err(e) => add(
            "fail",
            "notes",
            format!("{} cannot be read: {}", crate::git::NOTES_REF, e),
        ),
    }

    let (mut runs, skipped) = crate::evidence::store::list_runs(&repo.repo)?;
    match trust_checks(repo, &runs) {
        Ok(lines) => lines
            .into_iter()
            .for_each(|(level, detail)| add(level, "trust", detail)),
        Err(e) => add("warn", "trust", format!("could not be checked: {}", e.summary_line())),
    }
    // Demo runs stay local by design; only real runs count as unpublished.
    runs.retain(|r| r.evidence_ref.starts_with(crate::git::RUNS_REF_PREFIX));
    if !skipped.is_empty() {
        add(
            "warn",
            "evidence",
            format!("{} ref(s) under refs/oc/ are not git-oc evidence", skipped.len()),
        );
    }
    match crate::publish::default_remote(&repo.repo) {
        Ok(remote) => {
            let out = crate::git::git_command(repo.workdir())
                .args(["ls-remote", "--refs", "--end-of-options", &remote, "refs/oc/runs/*"])
                .output();
            match out {
                Ok(out) if out.status.success() => {
                    let text = String::from_utf8_lossy(&out.stdout);
                    let remote_ids: std::collections::HashSet<&str> =
                        text.lines().filter_map(|l| l.split('\t').nth(1)).collect();
                    let unpublished = runs
                        .iter()
                        .filter(|r| !remote_ids.contains(r.evidence_ref.as_str()))
                        .count();
                    let level = if unpublished == 0 { "ok" } else { "warn" };
                    add(
                        level,
                        "evidence",
                        format!(
                            "{} run(s); {unpublished} not on {remote} (git oc push {remote})",
                            runs.len()
                        ),
                    );
                }
                _ => add(
                    "warn",
                    "evidence",
                    format!("{} run(s); could not reach {remote} to compare", runs.len()),
                ),
            }
        }
        Err(_) => add(
            "warn",
            "evidence",
            format!("{} run(s), only in this repository (no remote)", runs.len()),
        ),
    }

    // The board: the kind configured, and its own checks (`git oc board doctor` has detail).
    match Config::load(repo.workdir()).and_then(|c| crate::board::open(repo, &c)) {
        Ok(board) => {
            let report = crate::board::check::doctor(board.as_ref(), None);
            let failed: Vec<String> = report
                .checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| format!("{}: {}", c.name, c.detail))
                .collect();
            let tasks = report
                .checks
                .iter()
                .find(|c| c.name == "tasks")
                .map(|c| c.detail.clone())
                .unwrap_or_default();
            if failed.is_empty() {
                add("ok", "board", format!("{} board; {tasks}", report.kind));
            } else {
                add(
                    "fail",
                    "board",
                    format!("{} board: {} (git oc board doctor)", report.kind, failed.join("; ")),
                );
            }
        }
        Err(e) => add("fail", "board", e.summary_line()),
    }

    Ok(checks)
}

/// Whether what a reviewer reads with plain git is what git-oc recorded: every run's evidence
/// chain holds only git-oc's events, every note block is one git-oc wrote for a recorded run,
/// and git shows no object in place of another (`refs/replace/`, grafts), which git-oc ignores
/// but your `git log` and `git diff` do not.
fn trust_checks(repo: &Repo, runs: &[crate::evidence::store::RunEntry]) -> Result<Vec<(&'static str, String)>> {
    let main = &repo.repo;
    let mut out = Vec::new();
    let forged: Vec<String> = runs
        .iter()
        .filter_map(|run| {
            let tip = gix::ObjectId::from_hex(run.evidence_commit.as_bytes()).ok()?;
            crate::evidence::verify::check_chain(main, tip, &run.run_id)
                .map(|why| format!("{}: {why}", run.evidence_ref))
        })
        .collect();
    match forged.first() {
        None => out.push(("ok", format!("{} run(s): every evidence ref holds only git-oc's events", runs.len()))),
        Some(first) => out.push((
            "fail",
            format!(
                "{} evidence ref(s) changed after their run recorded them, e.g. {first} (move it back with git update-ref; git oc push refuses it)",
                forged.len()
            ),
        )),
    }
    for notes_ref in [crate::git::NOTES_REF, crate::git::DEMO_NOTES_REF] {
        let Some(notes) = crate::git::refs::target(main, notes_ref)? else {
            continue;
        };
        // A notes ref that is not a notes commit is the notes check's failure.
        let foreign = match crate::evidence::verify::foreign_blocks(main, None, notes) {
            Ok(foreign) => foreign,
            Err(e) => {
                out.push((
                    "warn",
                    format!("{notes_ref} could not be checked: {}", e.summary_line()),
                ));
                continue;
            }
        };
        match foreign.first() {
            None => out.push(("ok", format!("{notes_ref}: every note block matches its run's evidence"))),
            Some(f) => out.push((
                "warn",
                format!(
                    "{notes_ref}: {} note block(s) git-oc did not write, e.g. on {}: {} (git notes --ref={} edit {1}; git oc push refuses them)",
                    foreign.len(),
                    f.commit,
                    f.why,
                    notes_ref.trim_start_matches("refs/notes/")
                ),
            )),
        }
    }
    let replaced = crate::git::refs::ids_under(main, "refs/replace/")?.len();
    let grafts = main.common_dir().join("info").join("grafts").exists();
    if replaced > 0 || grafts {
        out.push((
            "warn",
            format!(
                "git shows some objects in place of others ({replaced} ref(s) under refs/replace/{}): git-oc ignores them, your git log and git diff do not (git --no-replace-objects)",
                if grafts { ", and .git/info/grafts" } else { "" }
            ),
        ));
    }
    Ok(out)
}

/// Healthy when no check failed (warnings are fine).
pub fn healthy(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.level != "fail")
}

/// Publishing to GitHub: which repository and API `--pr` would use, the token, and whether it may
/// push there. The token is sent only to github.com's API or to an API configured in `[github]`,
/// never to a host merely guessed from a remote URL.
fn github_check(repo: &Repo, settings: &crate::config::GithubSection) -> (&'static str, String) {
    let remote = match settings
        .remote
        .clone()
        .map(Ok)
        .unwrap_or_else(|| crate::publish::default_remote(&repo.repo))
    {
        Ok(r) => r,
        Err(_) => {
            return (
                "warn",
                "no remote: --push and --pr need one (git remote add origin <url>)".into(),
            );
        }
    };
    let url = crate::publish::push_url(&repo.repo, &remote);
    let shown = crate::execution::secrets::redact_url(&url).into_owned();
    let parsed = crate::github::parse_remote_url(&url);
    // As for --pr: a token goes to api.github.com or to a configured API only.
    let configured = settings.api_url.is_some();
    let (owner, name) = match crate::github::remote::repository(settings.repository.as_deref(), parsed.as_ref()) {
        Some(repository) => repository,
        None => {
            return (
                "ok",
                format!(
                    "remote {remote} ({shown}) is not on a GitHub host; --pr needs [github] repository and api_url"
                ),
            );
        }
    };
    let api_url = match (&settings.api_url, &parsed) {
        (Some(u), _) => u.trim_end_matches('/').to_owned(),
        (None, Some(p)) => p.api_url(),
        (None, None) => {
            return (
                "warn",
                format!(
                    "[github] repository is {owner}/{name} but no api_url is set and remote {remote} names no host"
                ),
            );
        }
    };
    let on_github_com = api_url == crate::github::remote::GITHUB_API;
    if !configured && !on_github_com {
        return (
            "ok",
            format!(
                "remote {remote} is on {}; for pull requests there (GitHub Enterprise) set [github] api_url, e.g. {api_url}",
                parsed.as_ref().map_or("another host", |p| p.host.as_str())
            ),
        );
    }
    let host = crate::github::remote::host(parsed.as_ref(), &api_url);
    let shown_api = crate::execution::secrets::redact_url(&api_url).into_owned();
    let Some(token) = crate::github::token::find(&host) else {
        return (
            "warn",
            format!(
                "{owner}/{name} at {shown_api}: no token (GITHUB_TOKEN, GH_TOKEN or gh auth token), so --pr cannot open pull requests"
            ),
        );
    };
    let client = crate::github::Client::new(
        &api_url,
        &owner,
        &name,
        Some(&token),
        crate::github::Options {
            timeout: Duration::from_secs(settings.timeout().min(10)),
            rate_limits: crate::github::RateLimits::system(Duration::ZERO),
        },
    );
    let access = client.and_then(|c| c.repository());
    let from = format!("the token from {}", token.source);
    match access {
        Ok(a) => {
            let classic_without_repo = a.scopes.as_deref().is_some_and(|s| {
                !s.split(',')
                    .map(str::trim)
                    .any(|x| x == "repo" || (x == "public_repo" && !a.private))
            });
            if classic_without_repo {
                (
                    "fail",
                    format!(
                        "{from} can read {owner}/{name} but lacks the repo scope (it has: {}); --pr needs it",
                        a.scopes.as_deref().unwrap_or("")
                    ),
                )
            } else if a.push == Some(false) {
                (
                    "fail",
                    format!(
                        "{from} cannot push to {owner}/{name}: --push and --pr need write access (a fine-grained token needs Contents and Pull requests: read and write)"
                    ),
                )
            } else {
                ("ok", format!("{from} can push to {owner}/{name} at {shown_api}"))
            }
        }
        Err(e) => {
            let level = match e.kind {
                crate::github::ApiErrorKind::Unreachable | crate::github::ApiErrorKind::Timeout => "warn",
                _ => "fail",
            };
            let mut detail = format!("{owner}/{name} at {shown_api}, {from}: {e}");
            if let Some(h) = e.hint() {
                detail.push_str(&format!(" ({h})"));
            }
            (level, detail)
        }
    }
}
