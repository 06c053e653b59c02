//! `git oc review`: the pull-request review loop, against a real bare remote and the faithful
//! local GitHub of the publishing tests (its comments, reactions, reviews, check runs, merges and
//! branch deletions checked against GitHub's OpenAPI description too). The fake agent answers
//! LGTM, CONCERNS, nothing or garbage as a control file says; people are the test, commenting,
//! reacting or staying silent.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;
use crate::test_publish::github::{FakeGitHub, Fault, Flavor};

const TOKEN: &str = "ghp_reviewTestToken0123456789abcdef";

struct Setup {
    env: TestEnv,
    repo: PathBuf,
    remote: PathBuf,
    gh: FakeGitHub,
    /// What the fake self-reviewer answers (its first line).
    control: PathBuf,
}

fn setup(review: &str) -> Setup {
    setup_with_agent(review, &[])
}

/// A clone of a bare remote, the fake GitHub, `[review]` with `review`, and the fake reviewer
/// (`extra` goes after its control file: a marker and a release file make it wait).
fn setup_with_agent(review: &str, extra: &[&Path]) -> Setup {
    let env = TestEnv::new();
    let (remote, repo) = crate::common::remote_and_clone(&env, "src", "work");
    let gh = FakeGitHub::start(Flavor::GitHubCom, "acme", "widgets", &remote, TOKEN);
    let control = env.root().join("verdict-mode");
    std::fs::write(&control, "CONCERNS\n").unwrap();
    let mut argv = vec![
        "\"fake-agent\"".to_owned(),
        "\"review\"".to_owned(),
        format!("{:?}", control.display().to_string()),
    ];
    argv.extend(extra.iter().map(|p| format!("{:?}", p.display().to_string())));
    write_config(
        &repo,
        &format!(
            "[github]\nrepository = \"acme/widgets\"\napi_url = \"{}\"\n\n[run]\nbackend = \"command\"\n\n[backends.command]\nargv = [{}]\n\n[review]\nawait_review = true\n{review}",
            gh.api_url,
            argv.join(", ")
        ),
    );
    Setup {
        env,
        repo,
        remote,
        gh,
        control,
    }
}

impl Setup {
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

    /// A run published with a pull request, as git-oc opens them; its run id and PR number.
    fn open_pr(&self) -> (String, u64) {
        let run = self.oc(&[
            "run",
            "--json",
            "--goal",
            "Add a greeting",
            "--pr",
            "--backend",
            "command",
            "--",
            "fake-agent",
            "edit",
        ]);
        run.assert_code(0);
        let doc = run.json();
        let id = doc["summary"]["run_id"].as_str().unwrap().to_owned();
        let number = self.gh.pulls().last().expect("a pull request").number;
        (id, number)
    }

    fn verdict(&self, mode: &str) {
        std::fs::write(&self.control, format!("{mode}\n")).unwrap();
    }

    /// `git oc review --once --json`: the exit code and the one pull request's report.
    /// A review pass started in the background, its output piped.
    fn spawn_pass(&self) -> std::process::Child {
        self.env
            .oc_agents(&self.repo)
            .env("GITHUB_TOKEN", TOKEN)
            .args(["review", "--once", "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn pass(&self) -> (Run, Value) {
        let run = self.oc(&["review", "--once", "--json"]);
        let doc = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
        (run, doc)
    }

    fn remote_branch(&self, branch: &str) -> Option<String> {
        let out = self.env.git_output(
            &self.remote,
            ["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")],
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn head_branch(&self, number: u64) -> String {
        self.gh
            .pulls()
            .iter()
            .find(|p| p.number == number)
            .unwrap()
            .head
            .clone()
    }

    fn merged(&self, number: u64) -> bool {
        self.gh.pulls().iter().any(|p| p.number == number && p.merged)
    }

    /// Comments git-oc posted on `number`.
    fn ours(&self, number: u64) -> Vec<String> {
        self.gh
            .comments(number)
            .into_iter()
            .filter(|c| c.login == "git-oc-bot")
            .map(|c| c.body)
            .collect()
    }

    fn review_refs(&self) -> String {
        self.env
            .git(&self.repo, ["for-each-ref", "--format=%(refname)", "refs/oc/reviews/"])
    }
}

fn only(doc: &Value) -> &Value {
    let prs = doc["pull_requests"]
        .as_array()
        .unwrap_or_else(|| panic!("no pull_requests in {doc}"));
    assert_eq!(prs.len(), 1, "{doc}");
    &prs[0]
}

fn runs_of(pr: &Value) -> Vec<String> {
    pr["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_self_review_lgtm_merges_deletes_the_branch_and_records_the_merge_in_the_runs_evidence() {
    let s = setup("");
    let (run_id, number) = s.open_pr();
    let branch = s.head_branch(number);
    s.verdict("LGTM");
    let (run, doc) = s.pass();
    run.assert_code(0);
    let pr = only(&doc);
    assert_eq!(pr["action"], "merged", "{doc}");
    assert_eq!(pr["reason"], "self_review_lgtm");
    assert_eq!(pr["phase"], "merged");
    let review_run = runs_of(pr).pop().unwrap();

    // Merged through the API with the configured (default) method, at the reviewed head.
    assert!(s.merged(number));
    let merge =
        s.gh.seen()
            .into_iter()
            .find(|r| r.method == "PUT" && r.target.ends_with("/merge"))
            .unwrap();
    let body: Value = serde_json::from_str(&merge.body).unwrap();
    assert_eq!(body["merge_method"], "squash");
    assert!(body["sha"].as_str().is_some_and(|s| s.len() == 40));
    // The change is on main at the remote, squashed into one commit; the branch is gone.
    let main_log = s.env.git(&s.remote, ["log", "--format=%s", "main"]);
    assert!(
        main_log.lines().next().unwrap().ends_with(&format!("(#{number})")),
        "{main_log}"
    );
    assert!(
        s.env
            .git(&s.remote, ["show", "main:hello.txt"])
            .contains("hello from the agent")
    );
    assert_eq!(s.remote_branch(&branch), None);

    // The merge is appended to the evidence of the run that opened it, and pushed with it.
    let merged = s.env.evidence_json(&s.repo, &run_id, "merge.json");
    assert_eq!(merged["pull_request"], number);
    assert_eq!(merged["reason"], "self_review_lgtm");
    assert_eq!(merged["review_runs"][0], review_run.as_str());
    let pushed = s
        .env
        .git(&s.remote, ["show", &format!("refs/oc/runs/{run_id}:merge.json")]);
    assert!(pushed.contains("self_review_lgtm"));
    // The review pass is a run of its own, with its verdict in its evidence.
    let review = s.env.evidence_json(&s.repo, &review_run, "review.json");
    assert_eq!(review["kind"], "self_review");
    assert_eq!(review["verdict"]["result"], "LGTM");

    // Nothing is left to review, and the verdict never reached the merged tree.
    assert!(
        !s.env
            .git(&s.remote, ["ls-tree", "-r", "--name-only", "main"])
            .contains("verdict.json")
    );
    let (run, doc) = s.pass();
    run.assert_code(0);
    assert!(doc["pull_requests"].as_array().unwrap().is_empty(), "{doc}");
}

#[test]
fn concerns_escalate_then_a_comment_gets_a_pushed_revision_and_a_thumbs_up_merges() {
    let s = setup("max_self_review_loops = 2\nbot_logins = [\"ci-robot\"]\n");
    let (_, number) = s.open_pr();
    let branch = s.head_branch(number);

    // Pass 1: concerns, said on the pull request with the run that found them.
    let (run, doc) = s.pass();
    run.assert_code(0);
    let pr = only(&doc);
    assert_eq!(pr["action"], "concerns", "{doc}");
    let first = runs_of(pr).pop().unwrap();
    let said = s.ours(number);
    assert_eq!(said.len(), 1);
    assert!(said[0].starts_with("<!-- git-oc:review -->"));
    assert!(
        said[0].contains("Self-review (pass 1)") && said[0].contains(&first),
        "{}",
        said[0]
    );

    // Pass 2: the self-review loops are used up: people review it now.
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "escalated", "{doc}");
    assert_eq!(only(&doc)["phase"], "human_review");
    let said = s.ours(number);
    assert_eq!(said.len(), 3, "{said:?}");
    assert!(said[2].contains("Escalated to human review") && said[2].contains("/lgtm"));

    // A silent human: nothing happens, nothing is posted, nothing is added to the state's chain.
    let chain = |s: &Setup| {
        s.env
            .git(&s.repo, ["rev-list", "--count", "refs/oc/reviews/acme/widgets/1"])
    };
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "waiting", "{doc}");
    assert_eq!(s.ours(number).len(), 3);
    // (That pass noted git-oc's own comments as handled; the next one has nothing to note.)
    let before = chain(&s);
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "waiting", "{doc}");
    assert_eq!(chain(&s), before);

    // A bot's comment is no feedback; a person's comment gets a revision, pushed to the branch.
    s.gh.add_comment(number, "ci-robot", "build passed");
    s.gh.add_comment(number, "alice", "Please mention the greeting in the README.");
    let before = s.remote_branch(&branch).unwrap();
    let (run, doc) = s.pass();
    run.assert_code(0);
    let pr = only(&doc);
    assert_eq!(pr["action"], "revised", "{doc}");
    assert_eq!(pr["human_review_loops"], 1);
    let revision = runs_of(pr).pop().unwrap();
    let after = s.remote_branch(&branch).unwrap();
    assert_ne!(before, after);
    assert_eq!(pr["commit"], after.as_str());
    // A fast-forward on the pull request's head (never a force-push), without the verdict.
    let parent = s.env.git(&s.remote, ["rev-parse", &format!("{after}^")]);
    assert_eq!(parent, before);
    let files = s.env.git(&s.remote, ["ls-tree", "-r", "--name-only", &after]);
    assert!(
        files.contains("revised.txt") && !files.contains("verdict.json"),
        "{files}"
    );
    let revised = s.env.git(&s.remote, ["show", &format!("{after}:revised.txt")]);
    assert!(revised.contains("1 comment(s)"), "only the person's comment: {revised}");
    assert!(
        s.env
            .git(&s.remote, ["log", "-1", "--format=%B", &after])
            .contains(&format!("Oc-Run: {revision}"))
    );
    // The reply says what changed and names the run; the revision's evidence went along.
    let reply = s.ours(number).pop().unwrap();
    assert!(
        reply.contains("Changes applied") && reply.contains("revised.txt") && reply.contains(&revision),
        "{reply}"
    );
    s.env.git(
        &s.remote,
        ["rev-parse", "--verify", &format!("refs/oc/runs/{revision}")],
    );

    // The comment is handled once: the next pass waits.
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "waiting", "{doc}");
    assert_eq!(only(&doc)["human_review_loops"], 1);

    // A 👍 from a person merges; the revised head is what is merged.
    s.gh.add_reaction(number, "ci-robot", "+1");
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "waiting", "a bot's 👍 is no approval: {doc}");
    s.gh.add_reaction(number, "bob", "+1");
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "merged", "{doc}");
    assert_eq!(only(&doc)["reason"], "thumbs_up_reaction");
    assert!(s.env.git(&s.remote, ["show", "main:revised.txt"]).contains("revised"));
}

#[test]
fn a_missing_or_malformed_verdict_is_recorded_and_retried() {
    let s = setup("max_self_review_loops = 3\n");
    let (_, number) = s.open_pr();
    s.verdict("none");
    let (run, doc) = s.pass();
    run.assert_code(0);
    let pr = only(&doc);
    assert_eq!(pr["action"], "no_verdict", "{doc}");
    assert!(pr["reason"].as_str().unwrap().contains("no verdict.json"));
    let first = runs_of(pr).pop().unwrap();
    let review = s.env.evidence_json(&s.repo, &first, "review.json");
    assert!(review["verdict_error"].as_str().unwrap().contains("no verdict.json"));
    assert!(s.ours(number).is_empty(), "a missing verdict posts nothing");

    s.verdict("malformed");
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "no_verdict", "{doc}");
    assert!(only(&doc)["reason"].as_str().unwrap().contains("not {\"result\""));

    // Retried: a third pass with a verdict does what it says.
    s.verdict("LGTM");
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "merged", "{doc}");
    assert_eq!(only(&doc)["self_review_loops"], 3);
}

#[test]
fn with_explicit_approval_required_a_timeout_never_merges_and_only_allowed_people_approve() {
    let s = setup(
        "max_self_review_loops = 1\nhuman_review_timeout_seconds = 0\nrequire_explicit_approval = true\nauto_merge_on_ci_green = true\nallowed_reviewers = [\"alice\"]\nbot_logins = [\"ci-robot\"]\n",
    );
    let (_, number) = s.open_pr();
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "escalated", "{doc}");
    let head = s.gh.pulls()[0].clone();
    let sha = s.remote_branch(&head.head).unwrap();
    s.gh.add_check(&sha, "build", Some("success"));
    // Timed out and green, yet approval is required: nothing is merged.
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "waiting", "{doc}");
    assert!(only(&doc)["reason"].as_str().unwrap().contains("approval is required"));
    assert!(!s.merged(number));
    // Someone not on the allow-list, and a bot, cannot approve.
    s.gh.add_comment(number, "mallory", "/lgtm");
    s.gh.add_comment(number, "ci-robot", "/lgtm");
    s.gh.add_reaction(number, "mallory", "+1");
    s.gh.add_review(number, "mallory", "APPROVED", &sha);
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "waiting", "{doc}");
    assert!(!s.merged(number));
    // An allowed person's /lgtm does.
    s.gh.add_comment(number, "alice", "/LGTM\nnice");
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "merged", "{doc}");
    assert_eq!(only(&doc)["reason"], "lgtm_comment");
}

#[test]
fn a_timeout_merges_when_approval_is_not_required_and_says_so() {
    let s = setup(
        "max_self_review_loops = 1\nhuman_review_timeout_seconds = 0\nmerge_method = \"merge\"\ndelete_branch = false\n",
    );
    let (_, number) = s.open_pr();
    let branch = s.head_branch(number);
    s.pass();
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "merged", "{doc}");
    assert_eq!(only(&doc)["reason"], "human_review_timeout");
    assert!(s.ours(number).last().unwrap().contains("Auto-merging"));
    // The configured method (a merge commit, two parents), the branch kept.
    let parents = s.env.git(&s.remote, ["log", "-1", "--format=%P", "main"]);
    assert_eq!(parents.split_whitespace().count(), 2);
    assert!(s.remote_branch(&branch).is_some());
}

#[test]
fn green_checks_merge_failed_or_pending_ones_do_not_and_ignored_ones_do_not_count() {
    let s = setup("max_self_review_loops = 1\nauto_merge_on_ci_green = true\nignored_checks = [\"flaky\"]\n");
    let (_, number) = s.open_pr();
    s.pass();
    let sha = s.remote_branch(&s.head_branch(number)).unwrap();
    for (name, conclusion) in [
        ("build", Some("failure")),
        ("lint", Some("timed_out")),
        ("test", Some("cancelled")),
        ("docs", None),
    ] {
        s.gh.state.lock().unwrap().commit_checks.clear();
        s.gh.add_check(&sha, name, conclusion);
        let (_, doc) = s.pass();
        assert_eq!(only(&doc)["action"], "waiting", "{name} {conclusion:?}: {doc}");
    }
    s.gh.state.lock().unwrap().commit_checks.clear();
    s.gh.add_check(&sha, "build", Some("success"));
    s.gh.add_check(&sha, "flaky-e2e", Some("failure"));
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "merged", "{doc}");
    assert_eq!(only(&doc)["reason"], "auto_merge_on_ci_green");
}

#[test]
fn a_merge_github_refuses_is_reported_and_retried_never_forced() {
    let s = setup("");
    let (_, number) = s.open_pr();
    s.verdict("LGTM");
    s.gh.set_mergeable(number, false);
    let (run, doc) = s.pass();
    run.assert_code(0);
    assert_eq!(only(&doc)["action"], "merge_refused", "{doc}");
    assert!(only(&doc)["reason"].as_str().unwrap().contains("405"));
    assert!(!s.merged(number));
    // 409: the head moved under the merge (GitHub's answer, injected).
    s.gh.set_mergeable(number, true);
    s.gh.fault(Fault::new(
        "PUT",
        "/merge",
        409,
        serde_json::json!({"message": "Head branch was modified. Review and try the merge again.", "documentation_url": "https://docs.github.com/rest"}),
    ));
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "merge_refused", "{doc}");
    assert!(only(&doc)["reason"].as_str().unwrap().contains("409"));
    // Retried on the approved head without another review run.
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "merged", "{doc}");
    assert!(runs_of(only(&doc)).is_empty());
    assert_eq!(s.gh.count("PUT", "/merge"), 3);
    assert!(s.merged(number));
}

#[test]
fn pull_requests_git_oc_did_not_open_and_drafts_are_never_touched() {
    let s = setup("");
    // Someone's own pull request, on a branch of theirs.
    s.env.git(&s.repo, ["checkout", "-q", "-b", "feature"]);
    std::fs::write(s.repo.join("theirs.txt"), "theirs\n").unwrap();
    s.env.git(&s.repo, ["add", "theirs.txt"]);
    s.env.git(&s.repo, ["commit", "-q", "-m", "theirs"]);
    s.env.git(&s.repo, ["push", "-q", "origin", "feature"]);
    s.env.git(&s.repo, ["checkout", "-q", "main"]);
    let theirs = s.gh.add_pull("feature", "main", "A person's change");
    let (_, ours) = s.open_pr();
    s.gh.set_draft(ours, true);
    s.verdict("LGTM");
    let (run, doc) = s.pass();
    run.assert_code(0);
    assert!(doc["pull_requests"].as_array().unwrap().is_empty(), "{doc}");
    let skipped = doc["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|k| k["number"] == theirs && k["reason"] == "git-oc did not open it")
    );
    assert!(
        skipped
            .iter()
            .any(|k| k["number"] == ours && k["reason"] == "it is a draft")
    );
    let r = s.oc(&["review", "--pr", &theirs.to_string()]);
    r.assert_clean_error(2);
    assert!(r.stderr.contains("git-oc did not open it"), "{}", r.stderr);
    assert_eq!(s.gh.count("PUT", "/merge"), 0);
    assert_eq!(s.gh.count("POST", "/comments"), 0);
    assert_eq!(s.review_refs(), "", "nothing recorded for pull requests left alone");
}

#[test]
fn two_reviewers_at_once_act_once_and_a_restart_resumes() {
    let marker = tempfile::tempdir().unwrap();
    let started = marker.path().join("started");
    let release = marker.path().join("release");
    let s = setup_with_agent("max_self_review_loops = 2\n", &[&started, &release]);
    let (_, number) = s.open_pr();

    // Reviewer A is in its self-review when reviewer B starts: B leaves the pull request alone.
    let a = s.spawn_pass();
    wait_until("reviewer A's agent starts", || started.exists());
    let (run, doc) = s.pass();
    run.assert_code(0);
    assert_eq!(only(&doc)["action"], "busy", "{doc}");
    assert!(runs_of(only(&doc)).is_empty());
    std::fs::write(&release, "").unwrap();
    let a = Run::from(a.wait_with_output().unwrap());
    a.assert_code(0);
    assert_eq!(only(&a.json())["action"], "concerns", "{}", a.stdout);
    assert_eq!(s.ours(number).len(), 1, "one concerns comment, not two");

    // A restart in the middle: reviewer C is killed during its pass; D takes over and resumes.
    std::fs::remove_file(&started).unwrap();
    std::fs::remove_file(&release).unwrap();
    let mut c = s
        .env
        .oc_agents(&s.repo)
        .env("GITHUB_TOKEN", TOKEN)
        .args(["review", "--once"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("reviewer C's agent starts", || started.exists());
    let agent: i32 = std::fs::read_to_string(&started).unwrap().trim().parse().unwrap();
    c.kill().unwrap();
    c.wait().unwrap();
    unsafe { libc::kill(agent, libc::SIGKILL) };
    wait_until("the killed agent is gone", || !process_alive(agent as u32));
    std::fs::write(&release, "").unwrap();
    let (run, doc) = s.pass();
    run.assert_code(0);
    let pr = only(&doc);
    assert_eq!(pr["action"], "escalated", "the second pass happens once: {doc}");
    assert_eq!(pr["self_review_loops"], 2);
    assert_eq!(s.ours(number).len(), 3);
}

#[test]
fn bad_inputs_are_refused_with_a_hint_and_leave_nothing_behind() {
    let s = setup("");
    let (_, number) = s.open_pr();
    let before = s.env.git(&s.repo, ["for-each-ref"]);
    for (args, needle) in [
        (vec!["review", "--interval", "0", "--watch"], "--interval"),
        (vec!["review", "--once", "--watch"], "--watch"),
        (vec!["review", "--interval", "5"], "--watch"),
        (vec!["review", "--pr", "0"], "--pr"),
        (vec!["review", "--pr", "x"], "--pr"),
        (vec!["review", "--pr", "99"], "no pull request #99"),
    ] {
        let r = s.oc(&args);
        r.assert_clean_error(2);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
    // Review off (the default), a bad setting, no token.
    let config = std::fs::read_to_string(s.repo.join(".oc/config.toml")).unwrap();
    for (text, needle) in [
        (
            config.replace("await_review = true", "await_review = false"),
            "review is off",
        ),
        (format!("{config}merge_method = \"fast\"\n"), "review.merge_method"),
        (
            format!("{config}allowed_reviewers = [\"not a login\"]\n"),
            "review.allowed_reviewers",
        ),
        (
            format!("{config}max_self_review_loops = 0\n"),
            "review.max_self_review_loops",
        ),
        (
            format!("{config}after_max_human_loops = \"never\"\n"),
            "review.after_max_human_loops",
        ),
    ] {
        write_config(&s.repo, &text);
        let r = s.oc(&["review"]);
        r.assert_clean_error(2);
        assert!(r.stderr.contains(needle), "{needle}: {}", r.stderr);
    }
    write_config(&s.repo, &config);
    let r = Run::from(s.env.oc_agents(&s.repo).args(["review"]).output().unwrap());
    r.assert_clean_error(2);
    assert!(r.stderr.contains("token"), "{}", r.stderr);
    assert_eq!(s.env.git(&s.repo, ["for-each-ref"]), before);
    assert!(!s.merged(number));
    assert_eq!(s.gh.count("POST", "/comments"), 0);
}

#[test]
fn the_human_report_names_the_pull_request_its_action_and_runs() {
    let s = setup("");
    let (_, number) = s.open_pr();
    let r = s.oc(&["review"]);
    r.assert_code(0);
    assert!(r.stdout.starts_with(&format!("#{number} ")), "{}", r.stdout);
    assert_eq!(r.field("action"), "concerns posted");
    assert_eq!(r.field("phase"), "self_review");
    assert_eq!(r.field("run").len(), 36, "{}", r.stdout);
}

#[test]
fn the_openapi_check_covers_the_review_endpoints() {
    use crate::test_publish::github;
    let entry = |method: &str, path: &str, status: u16, body: Value| {
        serde_json::json!({"spec": "api.github.com", "kind": "response", "method": method,
               "path": path, "status": status, "body": body})
    };
    // A reaction GitHub does not have.
    let reaction = entry(
        "get",
        "/repos/{owner}/{repo}/issues/{issue_number}/reactions",
        200,
        serde_json::json!([{"id": 1, "node_id": "x", "user": null, "content": "thumbsup", "created_at": "2026-01-02T03:04:05Z"}]),
    );
    let said = github::validate(&[reaction], &github::checker_dir()).unwrap_err();
    assert!(said.contains("reactions 200"), "{said}");
    // A branch deletion answered with 200: GitHub answers 204.
    let deleted = entry("delete", "/repos/{owner}/{repo}/git/refs/{ref}", 200, Value::Null);
    let said = github::validate(&[deleted], &github::checker_dir()).unwrap_err();
    assert!(said.contains("documents no 200 answer"), "{said}");
    // The merge's refusals are checked against their documented bodies.
    let refused = entry(
        "put",
        "/repos/{owner}/{repo}/pulls/{pull_number}/merge",
        409,
        serde_json::json!({"message": 409}),
    );
    assert!(github::validate(&[refused], &github::checker_dir()).is_err());
    let fine = entry(
        "put",
        "/repos/{owner}/{repo}/pulls/{pull_number}/merge",
        405,
        serde_json::json!({"message": "Pull Request is not mergeable"}),
    );
    github::validate(&[fine], &github::checker_dir()).unwrap();
}

#[test]
fn watch_prints_one_document_per_pass_and_stops_cleanly_on_ctrl_c() {
    use std::io::BufRead;
    let s = setup("");
    let mut child = s
        .env
        .oc_agents(&s.repo)
        .env("GITHUB_TOKEN", TOKEN)
        .args(["review", "--watch", "--interval", "3600", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["repository"], "acme/widgets");
    assert!(first["pull_requests"].as_array().unwrap().is_empty());
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(lines.next().is_none(), "one pass, one line");
}

#[test]
fn a_revision_whose_agent_fails_pushes_nothing_and_counts_as_a_loop() {
    let s = setup("max_self_review_loops = 1\nmax_human_review_loops = 1\nafter_max_human_loops = \"wait\"\n");
    let (_, number) = s.open_pr();
    let branch = s.head_branch(number);
    s.verdict("CONCERNS\nfail-revision");
    s.pass();
    let before = s.remote_branch(&branch).unwrap();
    s.gh.add_comment(number, "alice", "Rename the file, please.");
    let (run, doc) = s.pass();
    run.assert_code(1);
    let pr = only(&doc);
    assert_eq!(pr["action"], "failed", "{doc}");
    assert!(pr["error"].as_str().unwrap().contains("nothing was pushed"), "{doc}");
    assert_eq!(runs_of(pr).len(), 1, "the failed revision is a run with its evidence");
    assert_eq!(s.remote_branch(&branch).unwrap(), before);
    assert!(!s.ours(number).iter().any(|c| c.contains("Changes applied")));
    // The loop is used up: git-oc says it waits for an approval, once.
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "waiting", "{doc}");
    assert!(s.ours(number).last().unwrap().contains("Revisions used up"));
    let (_, doc) = s.pass();
    assert_eq!(only(&doc)["action"], "waiting", "{doc}");
    assert_eq!(
        s.ours(number)
            .iter()
            .filter(|c| c.contains("Revisions used up"))
            .count(),
        1
    );
    assert!(!s.merged(number));
}

#[test]
fn the_review_lane_runs_a_pass_of_the_review_loop() {
    let s = setup("");
    let (_, number) = s.open_pr();
    s.verdict("LGTM");
    let run = s.oc(&["watch", "--once", "--lane", "review"]);
    run.assert_code(0);
    assert!(s.merged(number), "the lane's pass merged the pull request");
    let status = s.oc(&["--json", "status"]);
    status.assert_code(0);
    assert!(status.stdout.contains("1 merged"), "{}", status.stdout);
}

#[test]
fn a_revision_never_overwrites_commits_pushed_to_the_branch_meanwhile() {
    let marker = tempfile::tempdir().unwrap();
    let started = marker.path().join("started");
    let release = marker.path().join("release");
    let s = setup_with_agent("max_self_review_loops = 1\n", &[&started, &release]);
    let (_, number) = s.open_pr();
    let branch = s.head_branch(number);
    std::fs::write(&release, "").unwrap();
    for _ in 0..3 {
        let (_, doc) = s.pass();
        if only(&doc)["phase"] == "human_review" {
            break;
        }
    }
    s.gh.add_comment(number, "alice", "Please mention the greeting in the README.");

    // The revision's agent is at work when someone pushes to the pull request's branch.
    std::fs::remove_file(&started).unwrap();
    std::fs::remove_file(&release).unwrap();
    let pass = s.spawn_pass();
    wait_until("the revision's agent starts", || started.exists());
    let other = s.env.root().join("other");
    s.env.git(
        s.env.root(),
        [
            "clone",
            "-q",
            "-b",
            &branch,
            s.remote.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    std::fs::write(other.join("theirs.txt"), "pushed by a person\n").unwrap();
    s.env.git(&other, ["add", "theirs.txt"]);
    s.env.git(&other, ["commit", "-q", "-m", "A person's fix"]);
    s.env.git(&other, ["push", "-q", "origin", &branch]);
    let theirs = s.env.git(&other, ["rev-parse", "HEAD"]);
    std::fs::write(&release, "").unwrap();
    let pass = Run::from(pass.wait_with_output().unwrap());

    // Their commit stays; the pass says why it pushed nothing.
    assert_eq!(s.remote_branch(&branch).as_deref(), Some(theirs.as_str()));
    assert!(
        format!("{}{}", pass.stdout, pass.stderr).contains("never force-pushes"),
        "{}\n{}",
        pass.stdout,
        pass.stderr
    );
    // The comment is handled again on the new head: the revision builds on their commit.
    let (run, doc) = s.pass();
    run.assert_code(0);
    assert_eq!(only(&doc)["action"], "revised", "{doc}");
    let after = s.remote_branch(&branch).unwrap();
    assert_eq!(s.env.git(&s.remote, ["rev-parse", &format!("{after}^")]), theirs);
}
