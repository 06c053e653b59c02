//! A pull request's review state, kept in git: a commit chain under
//! `refs/oc/reviews/<owner>/<repo>/<number>`, each commit holding `review.json` (phase, loop
//! counts, the comments already handled, who is working on it). Every change is a new commit
//! moved in by compare-and-swap, so a restart resumes where the last pass stopped and two
//! reviewers never act on the same state: the second one's swap fails, it reads the first one's
//! state and decides again.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::contracts::Timestamp;
use crate::error::{Error, Result};

pub const REVIEWS_REF_PREFIX: &str = "refs/oc/reviews/";
const FILE: &str = "review.json";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    SelfReview,
    HumanReview,
    Merged,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::SelfReview => "self_review",
            Phase::HumanReview => "human_review",
            Phase::Merged => "merged",
        }
    }
}

/// Who is working on the pull request now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub host: String,
    pub pid: u32,
    pub since: Timestamp,
    /// What the holder is doing (`self_review`, `revision`, `merge`).
    pub doing: String,
}

/// An approval that could not be merged yet (GitHub answered 405 or 409): retried while the
/// head is still the commit that was approved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMerge {
    pub reason: String,
    pub sha: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewState {
    pub repository: String,
    pub pr: u64,
    pub phase: Phase,
    pub self_review_loops: u32,
    pub human_review_loops: u32,
    pub processed_comment_ids: BTreeSet<u64>,
    pub human_review_since: Option<Timestamp>,
    /// Every review and revision pass, oldest first.
    pub runs: Vec<String>,
    pub pending_merge: Option<PendingMerge>,
    /// Revisions are used up and approval is required: git-oc waits for it and said so.
    pub waiting_for_approval: bool,
    /// What went wrong last (a missing verdict, a refused merge), for `git oc review` to show.
    pub last_error: Option<String>,
    pub lease: Option<Lease>,
    pub updated_at: Option<Timestamp>,
}

/// The ref holding a pull request's state.
pub fn ref_name(repository: &str, pr: u64) -> String {
    format!("{REVIEWS_REF_PREFIX}{repository}/{pr}")
}

/// The state and the commit it was read from (`None`: nothing recorded yet).
pub fn read(repo: &gix::Repository, repository: &str, pr: u64) -> Result<(Option<gix::ObjectId>, ReviewState)> {
    let name = ref_name(repository, pr);
    let Some(tip) = crate::git::refs::target(repo, &name)? else {
        return Ok((
            None,
            ReviewState {
                repository: repository.to_owned(),
                pr,
                ..ReviewState::default()
            },
        ));
    };
    let ctx = |e| Error::git(format!("could not read {name}"), e);
    let commit = repo.find_commit(tip).map_err(ctx)?;
    let tree = commit.tree().map_err(ctx)?;
    let entry = tree.find_entry(FILE).ok_or_else(|| {
        Error::run(format!("{name} holds no {FILE}")).hint(format!(
            "git-oc did not write it; inspect it with 'git show {name}' and remove it with 'git update-ref -d {name}'"
        ))
    })?;
    let blob = entry.object().map_err(ctx)?;
    let state = serde_json::from_slice(&blob.data).map_err(|e| {
        Error::run(format!("{name} holds a {FILE} git-oc cannot read"))
            .caused_by(e.to_string())
            .hint(format!(
                "inspect it with 'git show {name}:{FILE}'; removing the ref starts the review over"
            ))
    })?;
    Ok((Some(tip), state))
}

/// Outcome of [`update`].
pub enum Updated<T> {
    Done(ReviewState, T),
    /// `change` declined (returned `None`) on the current state.
    Declined(ReviewState),
}

/// Apply `change` to the current state and swap the new state in; when someone else moved the
/// ref in between, read theirs and apply `change` again (it may then decline).
pub fn update<T>(
    repo: &gix::Repository,
    repository: &str,
    pr: u64,
    what: &str,
    mut change: impl FnMut(&mut ReviewState) -> Option<T>,
) -> Result<Updated<T>> {
    let name = ref_name(repository, pr);
    for _attempt in 0..20 {
        let (tip, mut state) = read(repo, repository, pr)?;
        let Some(out) = change(&mut state) else {
            return Ok(Updated::Declined(state));
        };
        state.updated_at = Some(Timestamp::now());
        let commit = write_commit(repo, &state, what, tip)?;
        match crate::git::refs::compare_and_swap(repo, &name, tip, commit, &format!("git-oc: review {what}")) {
            Ok(()) => return Ok(Updated::Done(state, out)),
            Err(e) => {
                if crate::git::refs::target(repo, &name)? == tip {
                    return Err(e);
                }
            }
        }
    }
    Err(Error::run(format!(
        "the review state of #{pr} kept changing while it was being updated"
    ))
    .hint("run git oc review again"))
}

/// Take back this process's own claim when its pass changed nothing: the ref returns to the
/// commit before the claim, so a watch that waits adds nothing to the chain. False when the
/// claim is not the tip (or there was nothing before it): then the caller records as usual.
pub fn release_unchanged(repo: &gix::Repository, repository: &str, pr: u64) -> Result<bool> {
    let name = ref_name(repository, pr);
    let (Some(tip), state) = read(repo, repository, pr)? else {
        return Ok(false);
    };
    let mine = state
        .lease
        .as_ref()
        .is_some_and(|l| l.host == hostname() && l.pid == std::process::id());
    if !mine {
        return Ok(false);
    }
    let ctx = |e| Error::git(format!("could not read {name}"), e);
    let commit = repo.find_commit(tip).map_err(ctx)?;
    let Some(parent) = commit.parent_ids().next().map(|p| p.detach()) else {
        return Ok(false);
    };
    Ok(
        crate::git::refs::compare_and_swap(repo, &name, Some(tip), parent, "git-oc: review pass changed nothing")
            .is_ok(),
    )
}

fn write_commit(
    repo: &gix::Repository,
    state: &ReviewState,
    what: &str,
    parent: Option<gix::ObjectId>,
) -> Result<gix::ObjectId> {
    let ctx = |e| Error::git("could not record the review state", e);
    let bytes = crate::contracts::to_evidence_json(state);
    let tree =
        crate::git::evidence::files_tree(repo, &[(FILE.to_owned(), bytes)], "could not record the review state")?;
    let message = format!(
        "review {}#{}: {what}\n\nphase: {}\nself_review_loops: {}\nhuman_review_loops: {}\n",
        state.repository,
        state.pr,
        state.phase.as_str(),
        state.self_review_loops,
        state.human_review_loops
    );
    Ok(repo.new_commit(message, tree, parent).map_err(ctx)?.id)
}

/// This process's lease.
pub fn my_lease(doing: &str) -> Lease {
    Lease {
        host: hostname(),
        pid: std::process::id(),
        since: Timestamp::now(),
        doing: doing.to_owned(),
    }
}

/// Leases from another host are trusted this long; on this host, as long as the process lives.
const FOREIGN_LEASE_SECONDS: i64 = 6 * 3600;

/// Whether `lease` still stands: its process is alive here, or it is recent on another host.
pub fn lease_live(lease: &Lease) -> bool {
    if lease.host == hostname() {
        if lease.pid == std::process::id() {
            return false;
        }
        // Signal 0 checks that the process exists without touching it.
        let pid = i32::try_from(lease.pid).unwrap_or(0);
        // SAFETY: kill with signal 0 sends nothing; it only reports whether the pid exists.
        pid > 0 && unsafe { libc::kill(pid, 0) } == 0
    } else {
        Timestamp::now().as_seconds() - lease.since.as_seconds() < FOREIGN_LEASE_SECONDS
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_owned();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_write_is_retried_on_the_newer_state_and_nothing_is_processed_twice() {
        let tmp = tempfile::tempdir().unwrap();
        crate::pipeline::tests::git(tmp.path(), &["init", "-q"]);
        let repo = gix::open(tmp.path()).unwrap();
        let first = update(&repo, "acme/w", 7, "claim", |s| {
            s.processed_comment_ids.insert(1).then_some(())
        })
        .unwrap();
        assert!(matches!(first, Updated::Done(..)));
        // A second reviewer wanting the same comment declines once it sees it processed.
        let second = update(&repo, "acme/w", 7, "claim", |s| {
            s.processed_comment_ids.insert(1).then_some(())
        })
        .unwrap();
        assert!(matches!(second, Updated::Declined(_)));
        let (tip, state) = read(&repo, "acme/w", 7).unwrap();
        assert!(tip.is_some());
        assert_eq!(state.processed_comment_ids.len(), 1);
    }

    #[test]
    fn a_claim_that_changed_nothing_is_taken_back() {
        let tmp = tempfile::tempdir().unwrap();
        crate::pipeline::tests::git(tmp.path(), &["init", "-q"]);
        let repo = gix::open(tmp.path()).unwrap();
        update(&repo, "acme/w", 3, "first", |s| {
            s.self_review_loops = 1;
            Some(())
        })
        .unwrap();
        let before = crate::git::refs::target(&repo, &ref_name("acme/w", 3)).unwrap();
        update(&repo, "acme/w", 3, "claim", |s| {
            s.lease = Some(my_lease("review"));
            Some(())
        })
        .unwrap();
        assert!(release_unchanged(&repo, "acme/w", 3).unwrap());
        assert_eq!(crate::git::refs::target(&repo, &ref_name("acme/w", 3)).unwrap(), before);
        // Someone else's lease is not ours to take back.
        update(&repo, "acme/w", 3, "claim", |s| {
            let mut l = my_lease("review");
            l.host = "elsewhere.example".into();
            s.lease = Some(l);
            Some(())
        })
        .unwrap();
        assert!(!release_unchanged(&repo, "acme/w", 3).unwrap());
    }

    #[test]
    fn a_dead_local_process_holds_no_lease() {
        let mut lease = my_lease("self_review");
        assert!(!lease_live(&lease), "our own lease is ours to take over");
        lease.pid = u32::MAX - 1;
        assert!(!lease_live(&lease));
        lease.host = "elsewhere.example".into();
        assert!(lease_live(&lease));
    }
}
