//! The post-run gate: the policy judges the paths the agent really changed, the declared scope
//! (`--path`) is enforced, and a change that holds the value of a secret is rejected. A rejected
//! change keeps its commit on the local run branch for inspection only.

use crate::contracts::{ExecutionStatus, FailureReasonCategory, PolicyDecision, PolicyStatus, PolicyViolation};
use crate::error::{Error, Result};
use crate::pipeline::{Env, Flow, Outcome, RunState, Stage, StageName};

pub struct PostRunGate;

impl Stage for PostRunGate {
    fn name(&self) -> StageName {
        StageName::PostRunGate
    }

    fn run(&self, state: &mut RunState, env: &Env) -> Result<Flow> {
        if state.snapshot.is_none() {
            return Err(Error::internal("the post-run gate ran without a snapshot"));
        }
        let changed = state.git.diff.paths();
        let mut post = env.policy.evaluate_changed_paths(&state.plan.bundle.proposal, &changed);
        scope_check(env.policy, &mut post, &state.request.allowed_paths, &changed);
        let (in_files, credential) = scan_changed_files(state, env);
        let patch = state.patch(env);
        if in_files || env.cx.redactor.contains_secret(patch) {
            // An agent wrote the value of a secret into the repository: never let it travel.
            add_blocking(
                &mut post,
                PolicyViolation {
                    rule_id: "secret.value_in_diff".into(),
                    category: "path".into(),
                    message: "The changes contain the value of a secret environment variable".into(),
                    blocking: true,
                    related_path: None,
                    related_repo: None,
                },
            );
        }
        if let Some((kind, path)) = credential {
            // A private key or a token the agent found (its own, or the user's in ~/.ssh).
            add_blocking(
                &mut post,
                PolicyViolation {
                    rule_id: "secret.credential_in_diff".into(),
                    category: "path".into(),
                    message: format!("The changes add a credential ({kind}) to {path}"),
                    blocking: true,
                    related_path: Some(path),
                    related_repo: None,
                },
            );
        }
        if post.status == PolicyStatus::Block {
            state.rejected = true;
            state.outcome = Some(Outcome::Blocked);
            state.reason = Some(format!("the changes touch paths the policy blocks: {}", post.notes));
            let result = &mut state.result;
            result.success = false;
            result.status = ExecutionStatus::Failed;
            result.failure_category = Some(FailureReasonCategory::PolicyBlocked);
            result.failure_reason = state.reason.clone();
        } else if post.status == PolicyStatus::RequireReview {
            state.needs_review = true;
            if state.reason.is_none() {
                state.reason = Some(format!("the changes need human review: {}", post.notes));
            }
        }
        let stop = post.status == PolicyStatus::Block;
        state.post_policy = Some(post);
        Ok(if stop { Flow::Stop } else { Flow::Continue })
    }
}

/// What the files the change adds or modifies hold, each read once, binary files included (the
/// patch shows those encoded, where no value can be found): whether one holds a secret's value,
/// and the first credential recognised by its form (a private key, a token:
/// `execution::credentials`) that one holds and did not hold at the base, with its path.
fn scan_changed_files(state: &RunState, env: &Env) -> (bool, Option<(&'static str, String)>) {
    let redactor = &env.cx.redactor;
    let Some(snapshot) = &state.snapshot else {
        return (false, None);
    };
    let repo = &env.repo.repo;
    let Ok(new_tree) = repo.find_tree(snapshot.tree) else {
        return (false, None);
    };
    let old_tree = repo.find_tree(snapshot.base_tree).ok();
    // By the bytes git stores (a name need not be UTF-8), a rename's source at the base.
    let blob = |tree: &gix::Tree<'_>, path: &[u8]| -> Vec<u8> {
        tree.lookup_entry(path.split(|b| *b == b'/').map(gix::bstr::BString::from))
            .ok()
            .flatten()
            // A symlink's target is a blob too, and can hold a token or a whole key.
            .filter(|e| e.mode().is_blob_or_symlink())
            .and_then(|e| e.object().ok())
            .map(|o| o.detach().data)
            .unwrap_or_default()
    };
    let mut holds_secret = false;
    let mut credential = None;
    for f in &state.git.diff.files {
        let new = blob(&new_tree, &f.raw_path);
        holds_secret = holds_secret || redactor.contains_secret(&new);
        let old_path = f.raw_old_path.as_ref().unwrap_or(&f.raw_path);
        // A name travels as far as the content: a token may be the file's name (one the base
        // had already is not added).
        if credential.is_none() {
            let had = |t: &gix::Tree<'_>| {
                t.lookup_entry(old_path.split(|b| *b == b'/').map(gix::bstr::BString::from))
                    .ok()
                    .flatten()
                    .is_some()
            };
            let old_name: &[u8] = if old_tree.as_ref().is_some_and(had) {
                old_path
            } else {
                b""
            };
            credential = crate::execution::credentials::added(old_name, &f.raw_path)
                .first()
                .map(|(kind, _)| (*kind, f.path.clone()));
        }
        if credential.is_none() && crate::execution::credentials::any(&new) {
            let old = old_tree.as_ref().map(|t| blob(t, old_path)).unwrap_or_default();
            credential = crate::execution::credentials::added(&old, &new)
                .first()
                .map(|(kind, _)| (*kind, f.path.clone()));
        }
        if holds_secret && credential.is_some() {
            break;
        }
    }
    (holds_secret, credential)
}

/// Changed paths outside the declared scope (`--path`) fail the post-run gate.
fn scope_check(
    policy: &crate::policy::PolicyEngine,
    post: &mut PolicyDecision,
    allowed: &[String],
    changed: &[String],
) {
    if allowed.is_empty() {
        return;
    }
    for path in changed
        .iter()
        .filter(|p| !allowed.iter().any(|pattern| policy.path_matches(pattern, p)))
    {
        add_blocking(
            post,
            PolicyViolation {
                rule_id: "scope.outside_allowed_paths".into(),
                category: "path".into(),
                message: format!(
                    "Path {} is outside the declared scope {}",
                    crate::policy::py_repr_str(path),
                    crate::policy::py_repr_list(allowed)
                ),
                blocking: true,
                related_path: Some(path.clone()),
                related_repo: None,
            },
        );
    }
}

/// Add a blocking violation found by git-oc's own post-run checks, keeping status and notes as
/// the policy engine would have written them.
fn add_blocking(post: &mut PolicyDecision, violation: PolicyViolation) {
    post.violations.push(violation);
    post.status = PolicyStatus::Block;
    post.notes = crate::policy::decision_notes(&post.violations, &post.warnings);
}
