//! Publishing runs: `git oc run --push --pr` and `git oc pr RUN`, against a real remote (a bare
//! repository by path, once through `git daemon`) and a faithful local GitHub (`github.rs`)
//! whose every body is checked against GitHub's published OpenAPI description.

pub mod github;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::*;
use github::{FakeGitHub, Fault, Flavor};

const TOKEN: &str = "ghp_publishTestToken0123456789abcdef";

struct Setup {
    env: TestEnv,
    /// The clone runs are made in.
    repo: PathBuf,
    /// Its `origin`: a bare repository.
    remote: PathBuf,
    gh: FakeGitHub,
}

fn setup_with(flavor: Flavor, config: &str) -> Setup {
    let env = TestEnv::new();
    let (remote, repo) = crate::common::remote_and_clone(&env, "src", "work");
    let gh = FakeGitHub::start(flavor, "acme", "widgets", &remote, TOKEN);
    write_config(
        &repo,
        &format!(
            "[github]\nrepository = \"acme/widgets\"\napi_url = \"{}\"\n{config}",
            gh.api_url
        ),
    );
    Setup { env, repo, remote, gh }
}

fn setup(config: &str) -> Setup {
    setup_with(Flavor::GitHubCom, config)
}

impl Setup {
    /// git-oc in the clone, with the fake agents on PATH and the token set.
    fn oc(&self, args: &[&str]) -> Run {
        Run::from(
            self.env
                .oc_agents(&self.repo)
                .env("GITHUB_TOKEN", TOKEN)
                .args(args)
                .output()
                .unwrap(),
        )
    }

    /// `git oc run --json` with `flags`, the command agent doing `agent`.
    fn run(&self, flags: &[&str], agent: &[&str]) -> (Run, Value) {
        let mut args = vec!["run", "--json", "--backend", "command"];
        args.extend_from_slice(flags);
        args.push("--");
        args.push("fake-agent");
        args.extend_from_slice(agent);
        let run = self.oc(&args);
        let doc = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
        (run, doc)
    }

    fn remote_ref(&self, name: &str) -> Option<String> {
        let out = self
            .env
            .git_output(&self.remote, ["rev-parse", "--verify", "--quiet", name]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn remote_refs(&self) -> String {
        self.env
            .git(&self.remote, ["for-each-ref", "--format=%(refname) %(objectname)"])
    }

    fn local(&self, args: &[&str]) -> String {
        self.env.git(&self.repo, args)
    }
}

fn run_id(doc: &Value) -> String {
    doc["summary"]["run_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no run id in {doc}"))
        .to_owned()
}

/// Nothing git-oc printed or recorded holds the token.
fn assert_no_token(s: &Setup, runs: &[&Run]) {
    for r in runs {
        assert!(
            !r.stdout.contains(TOKEN) && !r.stderr.contains(TOKEN),
            "the token leaked:\n{r:?}"
        );
    }
    let everything = s.local(&["log", "--all", "-p", "--format=%B"]);
    assert!(!everything.contains(TOKEN), "the token is in git");
    let remote = s.env.git(&s.remote, ["log", "--all", "-p", "--format=%B"]);
    assert!(!remote.contains(TOKEN), "the token was pushed");
    // Sent in the Authorization header only, never in a title, a body or a label.
    assert!(
        s.gh.seen().iter().all(|r| !r.body.contains(TOKEN)),
        "the token was sent to GitHub in a body"
    );
    // Nor in any file git-oc wrote: the clone, its .git, worktrees and state beside it.
    let leaked = files_holding(s.env.root(), TOKEN.as_bytes(), &[s.env.root().join("bin")]);
    assert!(leaked.is_empty(), "the token is written in {leaked:?}");
}

/// The files under `dir` (but not under `skip`) whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &[u8], skip: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            if skip.contains(&path) {
                continue;
            }
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn run_with_pr_pushes_atomically_opens_the_pull_request_and_records_it() {
    let s =
        setup("labels = [\"git-oc\", \"automated\"]\nreviewers = [\"alice\", \"acme/core\"]\nassignees = [\"bob\"]\n");
    let (run, doc) = s.run(
        &["--pr", "--goal", "Say hello to @octocat\n\nKeep it short."],
        &["edit"],
    );
    run.assert_code(0);
    let id = run_id(&doc);
    let branch = doc["summary"]["branch"].as_str().unwrap().to_owned();
    let commit = doc["summary"]["commit"].as_str().unwrap().to_owned();

    // One push: the branch at the gated commit, the evidence, the notes.
    assert_eq!(
        s.remote_ref(&format!("refs/heads/{branch}")).as_deref(),
        Some(commit.as_str())
    );
    let evidence = format!("refs/oc/runs/{id}");
    assert_eq!(s.remote_ref(&evidence), Some(s.local(&["rev-parse", &evidence])));
    assert_eq!(
        s.remote_ref("refs/notes/oc^{tree}"),
        Some(s.local(&["rev-parse", "refs/notes/oc^{tree}"]))
    );

    // The pull request.
    let pulls = s.gh.pulls();
    assert_eq!(pulls.len(), 1);
    let pr = &pulls[0];
    assert_eq!(
        (pr.head.as_str(), pr.base.as_str(), pr.draft),
        (branch.as_str(), "main", false)
    );
    assert_eq!(pr.title, s.local(&["log", "-1", "--format=%s", &commit]));
    assert!(
        pr.body.starts_with(&format!("<!-- git-oc:run={id} -->\n")),
        "{}",
        pr.body
    );
    for needle in [
        "Say hello to @octocat",
        "| outcome | `executed` |",
        "| policy before the run | `allow_with_warnings` |",
        "| policy after the run | `allow` |",
        "2 files changed",
        &format!("git oc fetch && git oc show {id}"),
        &format!("| run | `{id}` |"),
    ] {
        assert!(pr.body.contains(needle), "no {needle:?} in the body:\n{}", pr.body);
    }
    assert!(
        pr.body
            .contains("```text\nSay hello to @octocat\n\nKeep it short.\n```"),
        "the goal is fenced: {}",
        pr.body
    );
    assert_eq!(pr.labels, ["git-oc", "automated"]);
    assert_eq!(
        (pr.reviewers.as_slice(), pr.teams.as_slice()),
        (&["alice".to_owned()][..], &["core".to_owned()][..])
    );
    assert_eq!(pr.assignees, ["bob"]);
    let seen = s.gh.seen();
    assert!(
        seen.iter()
            .all(|r| r.headers.get("authorization") == Some(&format!("Bearer {TOKEN}")))
    );
    assert!(
        seen.iter()
            .all(|r| r.headers.get("x-github-api-version").map(String::as_str) == Some("2022-11-28"))
    );
    assert!(seen[0].headers["user-agent"].starts_with("git-oc/"));

    // Recorded: summary's pr_url, publish.json appended, Oc-PR trailer and note line.
    let url = "https://github.com/acme/widgets/pull/1";
    assert_eq!(doc["summary"]["pr_url"], url);
    assert_eq!(doc["publication"]["status"], "published");
    assert_eq!(doc["publication"]["pull_request"]["number"], 1);
    let publish = s.env.evidence_json(&s.repo, &id, "publish.json");
    assert_eq!(publish["pull_request"]["url"], url);
    assert_eq!(publish["pull_request"]["action"], "created");
    assert_eq!(publish["commit"], commit.as_str());
    assert_eq!(publish["remote"], "origin");
    assert_eq!(
        doc["git"]["evidence_commit"].as_str().unwrap(),
        s.local(&["rev-parse", &format!("{evidence}^")]),
        "appended, not rewritten"
    );
    assert_eq!(
        s.local(&["log", "-1", "--format=%(trailers:key=Oc-PR,valueonly)", &evidence]),
        url
    );
    let note = s.local(&["notes", "--ref=oc", "show", &commit]);
    assert!(
        note.contains(&format!("Oc-Run: {id}")) && note.contains(&format!("Oc-PR: {url}")),
        "{note}"
    );
    // The remote has the publication too (git oc fetch on another clone shows the pull request).
    assert!(
        s.env
            .git(&s.remote, ["show", &format!("{evidence}:publish.json")])
            .contains(url)
    );

    let listed = s.oc(&["runs"]);
    assert!(listed.stdout.contains("executed (PR #1)"), "{}", listed.stdout);
    let shown = s.oc(&["show", &id[..8]]);
    assert_eq!(shown.field("pull request"), url);
    let shown = s.oc(&["show", &id, "--json"]).json();
    assert_eq!(shown["publication"]["pull_request"]["number"], 1);
    // summary.json's pr_url, set in the appended commit; the recorded one is kept before it.
    assert_eq!(shown["outcome"]["pr_url"], url);
    let recorded: Value = serde_json::from_str(&s.local(&["show", &format!("{evidence}^:summary.json")])).unwrap();
    assert_eq!(recorded["pr_url"], Value::Null);
    let mut recorded = recorded;
    recorded["pr_url"] = json!(url);
    assert_eq!(recorded, shown["outcome"], "only pr_url differs");
    assert_eq!(shown["run"]["pr"], url);
    let report = s.oc(&["runs", "--json"]).json();
    assert_eq!(report[0]["pr"], url);
    assert_no_token(&s, &[&run, &listed]);
    s.env.git(&s.remote, ["fsck", "--strict", "--no-progress"]);
}

#[test]
fn the_human_report_says_where_it_went() {
    let s = setup("");
    let run = s.oc(&[
        "run",
        "--push",
        "--goal",
        "Push only",
        "--backend",
        "command",
        "--",
        "fake-agent",
        "edit",
    ]);
    run.assert_code(0);
    assert!(run.field("pushed").contains(" to origin at "), "{}", run.stdout);
    assert!(
        !run.stdout.contains("pull request"),
        "--push alone opens no pull request"
    );
    assert!(s.gh.seen().is_empty(), "--push alone never talks to GitHub");
    let branch = run
        .field("commit")
        .split(" on ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    assert!(s.remote_ref(&format!("refs/heads/{branch}")).is_some());
}

#[test]
fn push_goes_to_the_base_branch_upstream_remote_then_origin() {
    // The clone's main tracks a remote that is not called origin.
    let s = setup("");
    s.local(&["remote", "rename", "origin", "upstream"]);
    let (run, doc) = s.run(&["--push", "--goal", "Upstream"], &["write", "up.txt", "x"]);
    run.assert_code(0);
    assert_eq!(doc["publication"]["remote"], "upstream");
    let branch = doc["summary"]["branch"].as_str().unwrap();
    assert!(s.remote_ref(&format!("refs/heads/{branch}")).is_some());
    // From a detached base there is no upstream: origin, and here there is none.
    s.local(&["checkout", "-q", "--detach"]);
    let out = s.oc(&[
        "run",
        "--push",
        "--goal",
        "Detached",
        "--backend",
        "command",
        "--",
        "fake-agent",
        "edit",
    ]);
    out.assert_clean_error(2);
    assert!(out.stderr.contains("no remote named \"origin\""), "{}", out.stderr);
}

#[test]
fn git_oc_pr_opens_then_updates_the_same_pull_request() {
    let s = setup("");
    let (run, doc) = s.run(
        &["--push", "--goal", "Add a greeting"],
        &["write", "greeting.txt", "hi"],
    );
    run.assert_code(0);
    let id = run_id(&doc);
    let evidence = format!("refs/oc/runs/{id}");
    let before = s.local(&["rev-parse", &evidence]);

    let first = s.oc(&["pr", &id[..8]]);
    first.assert_code(0);
    assert!(
        first.field("pull request").contains("/pull/1 (created)"),
        "{}",
        first.stdout
    );
    // The body changes between two calls only if the evidence does; make the update visible.
    s.gh.state.lock().unwrap().pulls[0].body = "edited by hand".into();
    let second = s.oc(&["pr", &id, "--json"]);
    second.assert_code(0);
    let doc = second.json();
    assert_eq!(doc["pull_request"]["action"], "updated");
    assert_eq!(doc["pull_request"]["number"], 1);
    assert_eq!(s.gh.pulls().len(), 1, "no second pull request");
    assert!(s.gh.pulls()[0].body.starts_with("<!-- git-oc:run="), "updated in place");
    assert_eq!(s.gh.count("POST", "/pulls"), 1);
    assert_eq!(s.gh.count("PATCH", "/pulls/1"), 1);
    // Each publication appended a commit; the earlier ones are still there.
    let history = s.local(&["rev-list", &evidence]);
    assert!(history.lines().any(|c| c == before), "nothing recorded is rewritten");
    // `before` already holds the --push publication; each `git oc pr` appended one more.
    assert_eq!(s.local(&["rev-list", "--count", &format!("{before}..{evidence}")]), "2");
    let note = s.local(&["notes", "--ref=oc", "show", doc["commit"].as_str().unwrap()]);
    assert_eq!(note.matches("Oc-PR: ").count(), 1, "{note}");
}

#[test]
fn a_pull_request_opened_by_hand_or_in_between_is_updated_not_duplicated() {
    let s = setup("");
    let (run, doc) = s.run(&["--push", "--goal", "Race"], &["write", "race.txt", "x"]);
    run.assert_code(0);
    let id = run_id(&doc);
    let branch = doc["summary"]["branch"].as_str().unwrap().to_owned();
    // Someone opened it by hand.
    s.gh.add_pull(&branch, "main", "opened by hand");
    let out = s.oc(&["pr", &id, "--json"]);
    out.assert_code(0);
    assert_eq!(out.json()["pull_request"]["action"], "updated");
    assert_eq!(s.gh.pulls().len(), 1);
    assert_eq!(s.gh.count("POST", "/pulls"), 0);

    // Opened in between: the listing misses it, the creation says it exists (422), git-oc updates.
    let s = setup("");
    let (_, doc) = s.run(&["--push", "--goal", "Race"], &["write", "race.txt", "x"]);
    let id = run_id(&doc);
    let branch = doc["summary"]["branch"].as_str().unwrap().to_owned();
    s.gh.add_pull(&branch, "main", "opened in between");
    s.gh.fault(Fault::new("GET", "/repos/acme/widgets/pulls", 200, json!([])));
    let out = s.oc(&["pr", &id, "--json"]);
    out.assert_code(0);
    assert_eq!(out.json()["pull_request"]["action"], "updated");
    assert_eq!(s.gh.count("POST", "/pulls"), 1, "the create was refused with 422");
    assert_eq!(s.gh.pulls().len(), 1);
}

#[test]
fn pagination_finds_the_pull_request_on_a_later_page() {
    let s = setup("");
    let (run, doc) = s.run(&["--push", "--goal", "Paged"], &["write", "paged.txt", "x"]);
    run.assert_code(0);
    let id = run_id(&doc);
    let branch = doc["summary"]["branch"].as_str().unwrap().to_owned();
    for base in ["release-1", "release-2"] {
        s.env.git(&s.remote, ["branch", base, "main"]);
        s.gh.add_pull(&branch, base, base);
    }
    s.gh.add_pull("someone-else", "main", "not ours");
    let ours = s.gh.add_pull(&branch, "main", "ours, on page 3");
    s.gh.state.lock().unwrap().page_size = 1;
    let out = s.oc(&["pr", &id, "--json"]);
    out.assert_code(0);
    assert_eq!(out.json()["pull_request"]["number"], ours);
    assert_eq!(out.json()["pull_request"]["action"], "updated");
    let lists: Vec<String> =
        s.gh.seen()
            .into_iter()
            .filter(|r| r.method == "GET")
            .map(|r| r.target)
            .collect();
    assert_eq!(lists.len(), 3, "{lists:?}");
    assert!(lists[1].contains("page=2") && lists[2].contains("page=3"), "{lists:?}");
    assert!(lists[0].contains("head=acme%3A"), "filtered by head: {lists:?}");
    assert!(
        s.gh.pulls()
            .iter()
            .filter(|p| p.number != ours)
            .all(|p| p.body.is_empty()),
        "only ours was updated"
    );
}

#[test]
fn drafts_for_failed_validation_and_for_review() {
    // A validation failure is published only with push_on_validation_failure, as a draft.
    let s = setup("");
    let (run, doc) = s.run(
        &["--pr", "--risk", "medium", "--validate", "false", "--goal", "Broken"],
        &["edit"],
    );
    run.assert_code(1);
    assert_eq!(doc["summary"]["outcome_status"], "validation_failed");
    assert_eq!(doc["publication"]["status"], "skipped");
    assert!(
        doc["publication"]["hint"]
            .as_str()
            .unwrap()
            .contains("push_on_validation_failure")
    );
    let branch = doc["summary"]["branch"].as_str().unwrap().to_owned();
    assert_eq!(s.remote_ref(&format!("refs/heads/{branch}")), None);
    assert!(s.gh.seen().is_empty());
    let refused = s.oc(&["pr", &run_id(&doc)]);
    refused.assert_clean_error(2);
    assert!(refused.stderr.contains("validation failed"), "{}", refused.stderr);

    let s = setup("push_on_validation_failure = true\n");
    let (run, doc) = s.run(
        &["--pr", "--risk", "medium", "--validate", "false", "--goal", "Broken"],
        &["edit"],
    );
    run.assert_code(1);
    assert_eq!(doc["publication"]["pull_request"]["draft"], true);
    assert!(s.gh.pulls()[0].draft);
    assert!(
        s.gh.pulls()[0].body.contains("FAILED  false"),
        "{}",
        s.gh.pulls()[0].body
    );

    // The policy sends the change to review: a draft, and the run still exits 1.
    let s = setup("");
    let (run, doc) = s.run(
        &["--pr", "--goal", "CI"],
        &["write", ".github/workflows/ci.yml", "on: push"],
    );
    run.assert_code(1);
    assert_eq!(doc["summary"]["needs_review"], true);
    assert_eq!(doc["publication"]["pull_request"]["draft"], true);
    assert!(s.gh.pulls()[0].body.contains("(needs review)"));

    // draft = "never" opens it ready for review; GitHub cannot turn it into a draft later.
    let s = setup("draft = \"never\"\n");
    let (run, doc) = s.run(
        &["--pr", "--goal", "CI"],
        &["write", ".github/workflows/ci.yml", "on: push"],
    );
    run.assert_code(1);
    assert_eq!(doc["publication"]["pull_request"]["draft"], false);
    let mut cfg = std::fs::read_to_string(s.repo.join(".oc/config.toml")).unwrap();
    cfg = cfg.replace("draft = \"never\"", "draft = \"always\"");
    std::fs::write(s.repo.join(".oc/config.toml"), cfg).unwrap();
    let again = s.oc(&["pr", &run_id(&doc)]);
    again.assert_code(0);
    assert!(again.stderr.contains("stays ready for review"), "{}", again.stderr);
}

#[test]
fn rejected_and_blocked_runs_are_never_pushed() {
    let s = setup("");
    let before = s.remote_refs();
    let (run, doc) = s.run(&["--pr", "--goal", "Keys"], &["write", ".ssh/id_rsa", "KEY"]);
    run.assert_code(1);
    assert_eq!(doc["summary"]["rejected"], true);
    assert_eq!(doc["publication"]["status"], "skipped");
    assert!(doc["publication"]["reason"].as_str().unwrap().contains("rejected"));
    assert_eq!(s.remote_refs(), before, "nothing reached the remote");
    assert!(s.gh.seen().is_empty(), "GitHub was never asked");
    let id = run_id(&doc);
    let refused = s.oc(&["pr", &id]);
    refused.assert_clean_error(2);
    assert!(refused.stderr.contains("rejected"), "{}", refused.stderr);
    let human = s.oc(&[
        "run",
        "--pr",
        "--goal",
        "Keys",
        "--backend",
        "command",
        "--",
        "fake-agent",
        "write",
        ".ssh/id_rsa",
        "KEY",
    ]);
    human.assert_code(1);
    assert!(
        human.field("published").starts_with("no: the post-run gate rejected"),
        "{}",
        human.stdout
    );
    assert_eq!(s.remote_refs(), before);

    // Blocked before the run (a blocked path in the declared scope).
    let (run, doc) = s.run(&["--pr", "--goal", "Keys", "--path", ".ssh/**"], &["edit"]);
    run.assert_code(1);
    assert_eq!(doc["summary"]["outcome_status"], "blocked");
    assert_eq!(doc["publication"]["status"], "skipped");
    assert_eq!(s.remote_refs(), before);
    assert!(s.gh.seen().is_empty());
    // A run that changed nothing has nothing to publish, and is not a failure.
    let (run, doc) = s.run(&["--pr", "--goal", "Nothing"], &["noop"]);
    run.assert_code(0);
    assert!(
        doc["publication"]["reason"]
            .as_str()
            .unwrap()
            .contains("changed nothing")
    );
    assert_eq!(s.remote_refs(), before);
}

#[test]
fn require_pr_is_satisfied_by_pr_and_the_gate_says_what_to_add() {
    let s = setup("");
    let policy = "\n[[policy.repo_policies]]\nrepo_key = \"remote\"\n[policy.repo_policies.branch_guardrail]\nrequire_pr = true\n";
    let config = std::fs::read_to_string(s.repo.join(".oc/config.toml")).unwrap();
    std::fs::write(s.repo.join(".oc/config.toml"), format!("{config}{policy}")).unwrap();
    let blocked = s.oc(&[
        "run",
        "--goal",
        "Needs a PR",
        "--backend",
        "command",
        "--",
        "fake-agent",
        "edit",
    ]);
    blocked.assert_code(1);
    assert!(blocked.stdout.contains("branch.pr_required"), "{}", blocked.stdout);
    assert_eq!(
        blocked.field("hint"),
        "add --pr: the policy requires a pull request (branch_guardrail.require_pr)"
    );
    let check = s.oc(&["policy", "check", "--goal", "Needs a PR"]);
    check.assert_code(1);
    assert!(check.field("hint").starts_with("add --pr"));
    s.oc(&["policy", "check", "--goal", "Needs a PR", "--pr"])
        .assert_code(0);
    let plan = s.oc(&["plan", "--json", "--goal", "Needs a PR"]).json();
    assert_eq!(
        plan["hints"][0],
        "add --pr: the policy requires a pull request (branch_guardrail.require_pr)"
    );

    let (run, doc) = s.run(&["--pr", "--goal", "Needs a PR"], &["edit"]);
    run.assert_code(0);
    // Allowed: the only remark left is that no validation is configured.
    assert_eq!(
        doc["policy_decision"]["violations"],
        json!([]),
        "{}",
        doc["policy_decision"]
    );
    assert_eq!(doc["policy_decision"]["status"], "allow_with_warnings");
    assert_eq!(doc["proposal"]["branch_policy"]["open_pr"], true);
    assert_eq!(doc["publication"]["pull_request"]["number"], 1);
}

/// A run pushed with --push, then `git oc pr` facing `fault`: exit 1 with an error and a hint,
/// the branch pushed, the evidence intact; once the fault is gone `git oc pr` finishes.
fn pr_fails_then_finishes(s: &Setup, fault: Option<Fault>, expect: &[&str]) {
    let (run, doc) = s.run(&["--push", "--goal", "Errors"], &["write", "e.txt", "x"]);
    run.assert_code(0);
    let id = run_id(&doc);
    let evidence = format!("refs/oc/runs/{id}");
    let tip = s.local(&["rev-parse", &evidence]);
    if let Some(f) = fault {
        s.gh.fault(f);
    }
    let out = s.oc(&["pr", &id]);
    out.assert_clean_error(1);
    for needle in expect {
        assert!(out.stderr.contains(needle), "no {needle:?} in:\n{}", out.stderr);
    }
    assert!(
        out.stderr.contains(&format!("git oc pr {}", &id[..8])),
        "{}",
        out.stderr
    );
    let branch = doc["summary"]["branch"].as_str().unwrap();
    assert!(
        s.remote_ref(&format!("refs/heads/{branch}")).is_some(),
        "the branch stays pushed"
    );
    // The evidence is intact: the failed attempt is appended, with its error.
    assert_eq!(s.local(&["rev-parse", &format!("{evidence}^")]), tip);
    let publish = s.env.evidence_json(&s.repo, &id, "publish.json");
    assert!(
        publish["pull_request"].is_null() && publish["error"].is_string(),
        "{publish}"
    );
    assert_no_token(s, &[&out]);
}

#[test]
fn github_errors_are_clean_and_leave_the_branch_pushed() {
    // 401: a bad token (the message quoting it is redacted).
    let s = setup("");
    s.gh.fault(
        Fault::new("POST", "/pulls", 401, json!({"message": format!("Bad credentials: {TOKEN}"), "documentation_url": "https://docs.github.com/rest", "status": "401"})),
    );
    pr_fails_then_finishes(
        &s,
        None,
        &[
            "401 Unauthorized",
            "[REDACTED:GITHUB_TOKEN]",
            "hint: the token is missing, expired or revoked",
        ],
    );
    let fixed = s.oc(&[
        "pr",
        &s.local(&["for-each-ref", "--format=%(refname:lstrip=3)", "refs/oc/runs/"]),
    ]);
    fixed.assert_code(0);

    // 403 naming the permission GitHub wants.
    let s = setup("");
    let forbidden = Fault::new(
        "POST",
        "/pulls",
        403,
        json!({"message": "Resource not accessible by personal access token", "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request", "status": "403"}),
    )
    .header("x-accepted-github-permissions", "pull_requests=write");
    pr_fails_then_finishes(
        &s,
        Some(forbidden),
        &[
            "403 Forbidden",
            "needs pull_requests=write",
            "hint: give the token the pull_requests=write permission",
        ],
    );

    // 404: a repository the token cannot see.
    let s = setup("");
    let cfg = std::fs::read_to_string(s.repo.join(".oc/config.toml")).unwrap();
    std::fs::write(
        s.repo.join(".oc/config.toml"),
        cfg.replace("acme/widgets", "acme/secret"),
    )
    .unwrap();
    pr_fails_then_finishes(
        &s,
        None,
        &["404 Not Found", "acme/secret", "hint: check [github] repository"],
    );

    // 422: the head branch is not in the repository GitHub has (the remote is another one).
    let s = setup("");
    let elsewhere = s.env.root().join("elsewhere.git");
    s.env.git(
        s.env.root(),
        [
            "clone",
            "-q",
            "--bare",
            s.remote.to_str().unwrap(),
            elsewhere.to_str().unwrap(),
        ],
    );
    s.gh.state.lock().unwrap().bare = elsewhere;
    pr_fails_then_finishes(
        &s,
        None,
        &[
            "422 Unprocessable Entity",
            "PullRequest.head invalid",
            "GitHub does not see branch",
        ],
    );

    // 422: a base branch the repository does not have.
    let s = setup("base = \"no-such-base\"\n");
    pr_fails_then_finishes(&s, None, &["PullRequest.base invalid", "has no branch no-such-base"]);

    // 422 with GitHub's own message quoted: no draft pull requests in this repository.
    let s = setup("draft = \"always\"\n");
    s.gh.state.lock().unwrap().draft_supported = false;
    pr_fails_then_finishes(
        &s,
        None,
        &[
            "Draft pull requests are not supported in this repository.",
            "draft = \"never\"",
        ],
    );

    // 5xx.
    let s = setup("");
    pr_fails_then_finishes(
        &s,
        Some(Fault::new("POST", "/pulls", 502, json!({"message": "Server Error"}))),
        &["502 Bad Gateway", "GitHub had a problem"],
    );
}

#[test]
fn a_reviewer_github_refuses_is_a_warning_not_a_failure() {
    let s = setup("reviewers = [\"mallory\"]\n");
    let (run, doc) = s.run(&["--pr", "--goal", "Review me"], &["edit"]);
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("warning: could not request the reviewers on pull request #1"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("not a collaborator"),
        "the 422 is quoted: {}",
        run.stderr
    );
    assert_eq!(doc["publication"]["warnings"].as_array().unwrap().len(), 1);
}

#[test]
fn rate_limits_are_waited_out_within_bounds() {
    let limited = |status: u16, message: &str| {
        Fault::new(
            "POST",
            "/pulls",
            status,
            json!({"message": message, "documentation_url": "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"}),
        )
    };
    // 429 with Retry-After, a secondary limit (403) with Retry-After, and the hourly quota
    // spent (403 with X-RateLimit-Remaining: 0 until X-RateLimit-Reset): each waited out.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for fault in [
        limited(429, "Too many requests").header("retry-after", "0"),
        limited(
            403,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        )
        .header("retry-after", "1"),
        limited(403, "API rate limit exceeded for user ID 1.")
            .header("x-ratelimit-limit", "5000")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &now.to_string()),
    ] {
        let s = setup("");
        s.gh.fault(fault.clone());
        let (run, doc) = s.run(&["--pr", "--goal", "Busy"], &["edit"]);
        run.assert_code(0);
        assert_eq!(doc["publication"]["pull_request"]["number"], 1, "{fault:?}");
        assert_eq!(s.gh.count("POST", "/pulls"), 2, "one retry: {fault:?}");
    }
    // Limited every time: three retries, then an error.
    let s = setup("");
    pr_fails_then_finishes(
        &s,
        Some(limited(429, "Too many requests").header("retry-after", "0").times(10)),
        &["429 Too Many Requests", "GitHub asks to wait 0 s"],
    );
    assert_eq!(s.gh.count("POST", "/pulls"), 4, "1 + 3 retries");
    // A wait longer than github.rate_limit_wait gives up at once.
    let s = setup("rate_limit_wait = 5\n");
    pr_fails_then_finishes(
        &s,
        Some(limited(429, "Too many requests").header("retry-after", "3600")),
        &["wait 3600 s"],
    );
    assert_eq!(s.gh.count("POST", "/pulls"), 1);
}

#[test]
fn timeouts_and_refused_connections_are_clean_errors() {
    // Nothing listens at the API URL.
    let s = setup("");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = std::fs::read_to_string(s.repo.join(".oc/config.toml")).unwrap();
    std::fs::write(
        s.repo.join(".oc/config.toml"),
        cfg.replace(&s.gh.api_url, &format!("http://127.0.0.1:{port}")),
    )
    .unwrap();
    pr_fails_then_finishes(
        &s,
        None,
        &["could not connect to http://127.0.0.1:", "hint: check github.api_url"],
    );

    // GitHub accepts the connection and never answers: github.timeout ends the wait.
    let s = setup("timeout = 1\n");
    let mut hang = Fault::new("POST", "/pulls", 200, Value::Null);
    hang.hang = true;
    pr_fails_then_finishes(&s, Some(hang), &["no answer from", "within 1 s", "github.timeout"]);
}

#[test]
fn a_rejected_push_publishes_nothing() {
    let s = setup("");
    let hook = s.remote.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'branches need review here' >&2\nexit 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = s.remote_refs();
    let (run, doc) = s.run(&["--pr", "--goal", "Refused"], &["edit"]);
    run.assert_code(1);
    assert!(run.stderr.contains("refused the push"), "{}", run.stderr);
    assert!(run.stderr.contains("branches need review here"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: "), "{}", run.stderr);
    assert_eq!(doc["publication"]["status"], "failed");
    assert_eq!(s.remote_refs(), before, "atomic: nothing landed");
    assert!(s.gh.seen().is_empty());
    let id = run_id(&doc);
    assert!(
        s.env
            .git_output(&s.repo, ["cat-file", "-e", &format!("refs/oc/runs/{id}:publish.json")])
            .status
            .code()
            != Some(0),
        "nothing was pushed, so nothing is recorded"
    );
    std::fs::remove_file(&hook).unwrap();
    s.oc(&["pr", &id]).assert_code(0);

    // The remote's branch moved on: git-oc never forces.
    let (run, doc) = s.run(&["--push", "--goal", "Moved"], &["write", "m.txt", "x"]);
    run.assert_code(0);
    let branch = doc["summary"]["branch"].as_str().unwrap();
    let other = s.env.root().join("other");
    s.env.git(
        s.env.root(),
        [
            "clone",
            "-q",
            "-b",
            branch,
            s.remote.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    std::fs::write(other.join("more.txt"), "more\n").unwrap();
    s.env.git(&other, ["add", "more.txt"]);
    s.env.git(&other, ["commit", "-q", "-m", "more"]);
    s.env.git(&other, ["push", "-q", "origin", branch]);
    let out = s.oc(&["pr", &run_id(&doc)]);
    out.assert_clean_error(1);
    assert!(out.stderr.contains("never force-pushes"), "{}", out.stderr);
}

#[test]
fn enterprise_server_keeps_the_api_v3_prefix_and_pages_through_it() {
    let s = setup_with(Flavor::Enterprise, "");
    assert!(s.gh.api_url.ends_with("/api/v3"));
    let (run, doc) = s.run(&["--push", "--goal", "Enterprise"], &["write", "ghe.txt", "x"]);
    run.assert_code(0);
    let branch = doc["summary"]["branch"].as_str().unwrap().to_owned();
    s.env.git(&s.remote, ["branch", "release", "main"]);
    s.gh.add_pull(&branch, "release", "to release");
    s.gh.state.lock().unwrap().page_size = 1;
    s.gh.add_pull(&branch, "main", "to main");
    let out = s.oc(&["pr", &run_id(&doc), "--json"]);
    out.assert_code(0);
    let doc = out.json();
    assert_eq!(doc["pull_request"]["number"], 2);
    assert!(
        doc["pull_request"]["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    let seen = s.gh.seen();
    assert!(
        seen.iter().all(|r| r.target.starts_with("/api/v3/repos/acme/widgets")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|r| r.target.contains("page=2")),
        "the next page, under /api/v3"
    );
    assert!(
        seen.iter().all(|r| r.headers.contains_key("authorization")),
        "the token goes to every page"
    );
}

/// `git daemon` on 127.0.0.1 serving the bare remote; killed when dropped.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn pushes_through_git_daemon_and_names_the_repository_from_its_url() {
    let env = TestEnv::new();
    let src = env.repo("src");
    let base = env.root().join("served");
    let remote = base.join("acme/widgets.git");
    std::fs::create_dir_all(remote.parent().unwrap()).unwrap();
    env.git(
        env.root(),
        ["clone", "-q", "--bare", src.to_str().unwrap(), remote.to_str().unwrap()],
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = std::process::Command::new(git_daemon_program());
    scrub(&mut cmd, &env.home());
    let daemon = Daemon(
        cmd.args([
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            "--export-all",
            "--enable=receive-pack",
            "--reuseaddr",
            &format!("--base-path={}", base.display()),
        ])
        .arg(&base)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("git daemon"),
    );
    wait_until("git daemon to accept connections", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let url = format!("git://127.0.0.1:{port}/acme/widgets.git");
    let repo = env.root().join("work");
    env.git(env.root(), ["clone", "-q", &url, repo.to_str().unwrap()]);
    let gh = FakeGitHub::start(Flavor::GitHubCom, "acme", "widgets", &remote, TOKEN);
    // No [github] repository: acme/widgets comes from the git:// URL.
    write_config(&repo, &format!("[github]\napi_url = \"{}\"\n", gh.api_url));
    let run = Run::from(
        env.oc_agents(&repo)
            .env("GITHUB_TOKEN", TOKEN)
            .args([
                "run",
                "--json",
                "--pr",
                "--goal",
                "Over the wire",
                "--backend",
                "command",
                "--",
                "fake-agent",
                "edit",
            ])
            .output()
            .unwrap(),
    );
    run.assert_code(0);
    let doc = run.json();
    let branch = doc["summary"]["branch"].as_str().unwrap();
    let pushed = env.git(&remote, ["rev-parse", &format!("refs/heads/{branch}")]);
    assert_eq!(pushed, doc["summary"]["commit"].as_str().unwrap());
    assert_eq!(gh.pulls()[0].head, branch);
    assert_eq!(doc["publication"]["remote_url"], url.as_str());
    drop(daemon);
}

#[test]
fn token_sources_and_a_missing_token() {
    // No token at all: refused before anything is created (exit 2).
    let s = setup("");
    let before = s.env.state(&s.repo);
    let out = Run::from(
        s.env
            .oc_agents(&s.repo)
            .args([
                "run",
                "--pr",
                "--goal",
                "No token",
                "--backend",
                "command",
                "--",
                "fake-agent",
                "edit",
            ])
            .output()
            .unwrap(),
    );
    out.assert_clean_error(2);
    assert!(out.stderr.contains("needs a GitHub token"), "{}", out.stderr);
    assert_eq!(s.env.state(&s.repo), before, "nothing was created");

    // GH_TOKEN, then `gh auth token` (a fake gh on PATH), each sent and never shown.
    let bin = s.env.root().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let gh = bin.join("gh");
    std::fs::write(
        &gh,
        format!("#!/bin/sh\n[ \"$1 $2 $3 $4\" = \"auth token --hostname 127.0.0.1\" ] || exit 1\necho '{TOKEN}'\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gh, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The remote is a path, so the host `gh auth token` is asked about is the API's.
    for (var, value) in [("GH_TOKEN", Some(TOKEN)), ("PATH", None)] {
        let mut cmd = s.env.oc_agents(&s.repo);
        match value {
            Some(v) => {
                cmd.env(var, v);
            }
            None => {
                let path = format!(
                    "{}:{}:{}",
                    bin.display(),
                    fixtures_bin().display(),
                    std::env::var("PATH").unwrap()
                );
                cmd.env("PATH", path);
            }
        }
        let out = Run::from(
            cmd.args([
                "run",
                "--json",
                "--pr",
                "--goal",
                &format!("Token from {var}"),
                "--backend",
                "command",
                "--",
                "fake-agent",
                "edit",
            ])
            .output()
            .unwrap(),
        );
        out.assert_code(0);
        assert_no_token(&s, &[&out]);
    }
    assert_eq!(s.gh.pulls().len(), 2);
}

#[test]
fn a_token_from_the_environment_never_goes_to_a_host_read_from_a_remote_url() {
    // The remote names a host that may not be GitHub at all, and no api_url says it is.
    let s = setup("");
    write_config(&s.repo, "");
    s.local(&[
        "remote",
        "set-url",
        "origin",
        "https://git.example.invalid/acme/widgets.git",
    ]);
    let before = s.env.state(&s.repo);
    let out = s.oc(&[
        "run",
        "--pr",
        "--goal",
        "Where to?",
        "--backend",
        "command",
        "--",
        "fake-agent",
        "edit",
    ]);
    out.assert_clean_error(2);
    assert!(
        out.stderr.contains("needs a GitHub token for git.example.invalid"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("only to https://api.github.com or to a configured API")
            && out.stderr.contains("api_url = \"https://git.example.invalid/api/v3\""),
        "{}",
        out.stderr
    );
    assert_eq!(s.env.state(&s.repo), before, "nothing was created");
    // doctor does not send it there either: it says how to configure the API.
    let doctor = s.oc(&["doctor"]);
    let line = doctor
        .stdout
        .lines()
        .find(|l| l.contains(" github "))
        .unwrap_or_default()
        .to_owned();
    assert!(line.contains("set [github] api_url"), "{line}");
    assert_no_token(&s, &[&out, &doctor]);
}

#[test]
fn doctor_checks_the_token_and_what_it_may_do() {
    let s = setup("");
    let doctor = |s: &Setup| {
        let out = s.oc(&["doctor"]);
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains(" github "))
            .unwrap_or_default()
            .to_owned();
        (out, line)
    };
    let (out, line) = doctor(&s);
    out.assert_code(0);
    assert!(
        line.starts_with("ok") && line.contains("the token from GITHUB_TOKEN can push to acme/widgets"),
        "{line}"
    );
    s.gh.state.lock().unwrap().push = false;
    let (out, line) = doctor(&s);
    out.assert_code(1);
    assert!(
        line.starts_with("fail") && line.contains("cannot push to acme/widgets"),
        "{line}"
    );
    s.gh.state.lock().unwrap().push = true;
    s.gh.state.lock().unwrap().scopes = Some("read:org, gist".into());
    let (_, line) = doctor(&s);
    assert!(line.contains("lacks the repo scope"), "{line}");
    s.gh.state.lock().unwrap().token = "another".into();
    let (out, line) = doctor(&s);
    out.assert_code(1);
    assert!(
        line.contains("401 Unauthorized") && line.contains("Bad credentials"),
        "{line}"
    );
    assert_no_token(&s, &[&out]);
    let without = Run::from(s.env.oc_agents(&s.repo).args(["doctor"]).output().unwrap());
    assert!(
        without
            .stdout
            .contains("no token (GITHUB_TOKEN, GH_TOKEN or gh auth token)"),
        "{}",
        without.stdout
    );
}

#[test]
fn bad_publishing_input_changes_nothing() {
    let s = setup("");
    let config = std::fs::read_to_string(s.repo.join(".oc/config.toml")).unwrap();
    let head = s.local(&["rev-parse", "HEAD"]);
    // (flags, the configuration file, what the error says)
    let cases: Vec<(Vec<&str>, String, &str)> = vec![
        (vec!["--pr", "--base", &head], config.clone(), "is not a branch"),
        (
            vec!["--push"],
            format!("{config}remote = \"upstream\"\n"),
            "no remote named",
        ),
        (vec!["--pr"], String::new(), "cannot tell which GitHub repository"),
        (
            vec!["--pr"],
            format!("{config}draft = \"sometimes\"\n"),
            "github.draft \"sometimes\"",
        ),
        (
            vec!["--pr"],
            config.replace("acme/widgets", "acme"),
            "github.repository \"acme\" is not owner/name",
        ),
        (
            vec!["--pr"],
            config.replace(&s.gh.api_url, "ftp://example.com"),
            "is not an http(s) URL",
        ),
        (
            vec!["--pr"],
            config.replace(&s.gh.api_url, &format!("http://user:{TOKEN}@example.com")),
            "holds credentials",
        ),
        (
            vec!["--pr"],
            format!("{config}reviewers = [\"not a login\"]\n"),
            "is not a GitHub login",
        ),
        (vec!["--pr"], format!("{config}timeout = 0\n"), "github.timeout"),
        (vec!["--pr"], format!("{config}surprise = 1\n"), "surprise"),
    ];
    for (i, (flags, file, expect)) in cases.iter().enumerate() {
        std::fs::write(s.repo.join(".oc/config.toml"), file).unwrap();
        let before = s.env.state(&s.repo);
        let mut args = vec!["run", "--goal", "Bad"];
        args.extend(flags.iter().copied());
        args.extend(["--backend", "command", "--", "fake-agent", "edit"]);
        let out = s.oc(&args);
        out.assert_clean_error(2);
        assert!(out.stderr.contains(expect), "case {i}: {}", out.stderr);
        assert_eq!(s.env.state(&s.repo), before, "case {i} changed something");
        assert!(
            !out.stderr.contains(TOKEN),
            "case {i} printed the token: {}",
            out.stderr
        );
    }
    std::fs::write(s.repo.join(".oc/config.toml"), &config).unwrap();
    // `git oc pr` with a run that does not exist, and without a run.
    let out = s.oc(&["pr", "deadbeef"]);
    out.assert_clean_error(2);
    let out = s.oc(&["pr"]);
    out.assert_code(2);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(s.gh.seen().is_empty());
    // Demo runs are never published.
    let demo = s.oc(&["demo", "--json"]);
    demo.assert_code(0);
    let out = s.oc(&["pr", demo.json()["run_id"].as_str().unwrap_or("0")]);
    out.assert_clean_error(2);
}

#[test]
fn the_openapi_check_rejects_what_github_would_not_send_and_fails_without_the_description() {
    let entry = |body: Value| {
        json!({"spec": "api.github.com", "kind": "response", "method": "post",
               "path": "/repos/{owner}/{repo}/pulls", "status": 201, "body": body})
    };
    // A pull request without most of its required fields.
    let said = github::validate(&[entry(json!({"number": 1, "html_url": "x"}))], &github::checker_dir())
        .expect_err("a body GitHub would never send must fail the check");
    assert!(
        said.contains("FAIL api.github.com: response POST /repos/{owner}/{repo}/pulls 201"),
        "{said}"
    );
    assert!(said.contains("must have required property"), "{said}");
    // An operation GitHub does not have.
    let mut unknown = entry(json!({}));
    unknown["path"] = json!("/repos/{owner}/{repo}/pull-requests");
    let said = github::validate(&[unknown], &github::checker_dir()).unwrap_err();
    assert!(said.contains("has no such operation"), "{said}");
    // A request body git-oc could not send (draft must be a boolean).
    let request = json!({"spec": "ghes-3.19", "kind": "request", "method": "post",
        "path": "/repos/{owner}/{repo}/pulls", "body": {"title": "t", "head": "h", "base": "main", "draft": "yes"}});
    assert!(github::validate(&[request], &github::checker_dir()).is_err());
    // Without the description installed the check fails: it is never skipped.
    let empty = tempfile::tempdir().unwrap();
    std::fs::copy(
        github::checker_dir().join("validate.mjs"),
        empty.path().join("validate.mjs"),
    )
    .unwrap();
    let said = github::validate(&[entry(json!({}))], empty.path()).unwrap_err();
    assert!(said.contains("is not installed"), "{said}");
}

/// The goal lane with `review.await_review`: the task's run is pushed, its pull request opened,
/// and the task waits In Review.
#[test]
fn the_goal_lane_awaiting_review_opens_the_pr_and_the_review_loop_merges_it_and_closes_the_task() {
    let s = setup(&format!("{}[review]\nawait_review = true\n", crate::test_lanes::CONFIG));
    let body = "## Goal\nGreet the reader in a new file, warmly and at some length.\n";
    let added = s.oc(&[
        "--json",
        "task",
        "add",
        "Say hello",
        "--body",
        body,
        "--repo",
        "svc",
        "-l",
        "task-kind: goal",
        "--state",
        "ready",
    ]);
    added.assert_code(0);
    let id = added.json()["id"].as_str().unwrap().to_owned();
    s.oc(&["watch", "--lane", "goal", "--once"]).assert_code(0);
    let shown = s.oc(&["--json", "task", "show", &id]);
    shown.assert_code(0);
    let task = &shown.json()["task"];
    assert_eq!(task["state"], "In Review");
    let comment = task["comments"][0]["body"].as_str().unwrap();
    assert!(
        comment.starts_with("Implementation complete — moved to In Review\n\n- run: "),
        "{comment}"
    );
    let pulls = s.gh.pulls();
    assert_eq!(pulls.len(), 1);
    let branch = s
        .local(&["for-each-ref", "--format=%(refname:short)", "refs/heads/goal/"])
        .to_owned();
    assert!(
        s.remote_ref(&format!("refs/heads/{branch}")).is_some(),
        "{}",
        s.remote_refs()
    );

    // The golden path's end: the review loop's self-review says LGTM, the pull request is
    // merged, and the task the run carried out moves to Done.
    let control = s.env.root().join("review-control");
    std::fs::write(&control, "LGTM\n").unwrap();
    let review = Run::from(
        s.env
            .oc_agents(&s.repo)
            .env("GITHUB_TOKEN", TOKEN)
            .env("FAKE_AGENT_REVIEW_CONTROL", &control)
            .args(["--json", "review", "--once"])
            .output()
            .unwrap(),
    );
    review.assert_code(0);
    assert_eq!(
        review.json()["pull_requests"][0]["action"],
        "merged",
        "{}",
        review.stdout
    );
    assert!(s.gh.pulls()[0].merged);
    let shown = s.oc(&["--json", "task", "show", &id]).json();
    assert_eq!(shown["task"]["state"], "Done", "{shown}");
}
