//! The claim protocol: which worker carries a task, agreed through the shared remote alone.
//!
//! A claim is a ref `refs/oc/claims/<task-id>` on the remote pointing at a small commit (empty
//! tree, no parent) whose message names the task, the worker, the attempt and when the lease
//! expires. Every change to it is one atomic push guarded by a lease on the values the worker
//! last saw, so the remote's ref transaction is the lock:
//!
//! - **claim**: create the claim ref (it must not exist) and move the task from Ready to Running
//!   (its ref must still be where the worker saw it), in one atomic push. Of two workers, the
//!   first push wins; the other's is refused whole and it moves on.
//! - **renew**: replace the claim with one expiring later, only if it is still this attempt's.
//! - **reclaim**: when a claim's lease has expired (its worker died or lost the remote),
//!   replace it and record on the task that the attempt was interrupted, in one atomic push.
//! - **release**: the publication deletes the claim (only if still this attempt's) in the push
//!   that carries the run and the task's new state; see `worker::publish`.
//!
//! A worker whose renewal is refused has lost the task: its publication would be refused too.

use crate::board::git::{GitBoard, TASKS_REF_PREFIX, tracking_prefix};
use crate::board::task::{Comment, Event};
use crate::board::{StateKind, States};
use crate::contracts::Timestamp;
use crate::error::{Error, Result};

use super::transport::{Pushed, Transport};

/// Claims on the remote, one ref per task being worked on.
pub const CLAIMS_REF_PREFIX: &str = "refs/oc/claims/";

/// Where a remote's claims are fetched to.
pub fn claims_tracking_prefix(remote: &str) -> String {
    format!("refs/oc/remotes/{remote}/claims/")
}

/// What a claim commit says.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Claim {
    pub task_id: String,
    /// The worker's name (`--name`).
    pub worker: String,
    /// The worker process: two workers given the same name still tell their claims apart.
    pub session: String,
    /// This worker's attempt at this task.
    pub attempt: String,
    /// When the lease runs out, unless renewed.
    pub expires: Timestamp,
    pub renewals: u32,
}

impl Claim {
    pub fn message(&self) -> String {
        format!(
            "claim {} by {}\n\nOc-Claim-Task: {}\nOc-Claim-Worker: {}\nOc-Claim-Session: {}\nOc-Claim-Attempt: {}\nOc-Claim-Expires: {}\nOc-Claim-Renewals: {}\n",
            self.task_id,
            self.worker,
            self.task_id,
            self.worker,
            self.session,
            self.attempt,
            self.expires,
            self.renewals
        )
    }

    pub fn parse(message: &str) -> Option<Claim> {
        let field = |key: &str| {
            message
                .lines()
                .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
        };
        Some(Claim {
            task_id: field("Oc-Claim-Task: ")?,
            worker: field("Oc-Claim-Worker: ")?,
            session: field("Oc-Claim-Session: ")?,
            attempt: field("Oc-Claim-Attempt: ")?,
            expires: Timestamp::parse(&field("Oc-Claim-Expires: ")?)?,
            renewals: field("Oc-Claim-Renewals: ")?.parse().ok()?,
        })
    }

    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires <= now
    }

    /// The claim renewed: the same attempt, expiring `lease` after `now`.
    pub fn renewed(&self, now: Timestamp, lease: std::time::Duration) -> Claim {
        Claim {
            expires: expiry(now, lease),
            renewals: self.renewals + 1,
            ..self.clone()
        }
    }
}

pub fn expiry(now: Timestamp, lease: std::time::Duration) -> Timestamp {
    Timestamp::from_micros(now.as_micros() + i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2))
}

/// Write a claim commit (nothing is referenced).
pub fn write_claim(repo: &gix::Repository, claim: &Claim) -> Result<gix::ObjectId> {
    let ctx = |e| Error::git(format!("could not write the claim on task {}", claim.task_id), e);
    let tree = repo.write_object(gix::objs::Tree::empty()).map_err(ctx)?.detach();
    Ok(repo
        .new_commit(claim.message(), tree, Vec::<gix::ObjectId>::new())
        .map_err(ctx)?
        .id)
}

/// The claim a commit records; `None` when it is not a claim commit.
pub fn read_claim(repo: &gix::Repository, id: gix::ObjectId) -> Option<Claim> {
    crate::git::commit_message(repo, id).ok().and_then(|m| Claim::parse(&m))
}

/// The remote's claims as last fetched: task id → (claim commit, claim).
pub fn fetched_claims(
    repo: &gix::Repository,
    remote: &str,
) -> std::collections::BTreeMap<String, (gix::ObjectId, Option<Claim>)> {
    crate::git::refs::ids_under(repo, &claims_tracking_prefix(remote))
        .unwrap_or_default()
        .into_iter()
        .map(|(task, id)| (task, (id, read_claim(repo, id))))
        .collect()
}

/// A claim won: the claim as pushed, its commit, and the task commit pushed with it.
#[derive(Clone, Debug)]
pub struct Held {
    pub claim: Claim,
    pub claim_commit: gix::ObjectId,
    pub task_commit: gix::ObjectId,
    /// The attempt this claim replaced, when it was a reclaim.
    pub reclaimed: Option<Claim>,
}

/// How an attempt to claim ended (a remote refusing for good is an `Err`).
pub enum Claimed {
    Won(Box<Held>),
    /// Someone else was first; nothing changed.
    Lost,
    Unreachable(String),
}

/// How an attempt to renew ended (a remote refusing for good is an `Err`).
pub enum Renewed {
    Yes(gix::ObjectId, Claim),
    /// The claim is no longer this attempt's.
    Lost,
    Unreachable(String),
}

/// What the worker saw of a task it wants to claim.
pub struct Seen {
    pub task_id: String,
    /// The task's commit on the remote (as last fetched).
    pub remote_tip: gix::ObjectId,
    /// The claim on the remote, when there is one (it must have expired to be replaced).
    pub claim: Option<(gix::ObjectId, Claim)>,
}

/// A claim ready to push: the commits written, the leases and refspecs that make it atomic.
pub struct Prepared {
    pub task_id: String,
    pub claim: Claim,
    pub claim_commit: gix::ObjectId,
    pub task_commit: gix::ObjectId,
    /// The task's commit on the remote that the claim builds on.
    pub remote_tip: gix::ObjectId,
    pub reclaimed: Option<Claim>,
    /// `ref:expected` for `--force-with-lease`: the claim must be absent (or the expired one
    /// seen), the task where it was seen.
    pub leases: [String; 2],
    pub refspecs: [String; 2],
}

/// Write what claiming `seen` pushes: the task moved to Running (with a comment recording the
/// interrupted attempt on a reclaim) and the claim commit. Nothing is referenced yet.
pub fn prepare(board: &GitBoard, states: &States, seen: &Seen, mine: &Claim) -> Result<Prepared> {
    let repo = board.repo();
    let running = states.name(StateKind::Running).to_owned();
    let interrupted = seen.claim.as_ref().map(|(_, c)| c.clone());
    // The pick was made on summaries (cached by commit, in a file anyone can write): the commit
    // itself must agree, or a Done task would be moved back to Running and run again.
    let actual = crate::board::git::read_task_at(repo, seen.remote_tip)?.state;
    let claimable = match states.kind_of(&actual) {
        Some(StateKind::Ready) => true,
        Some(StateKind::Running) => interrupted.is_some(),
        _ => false,
    };
    if !claimable {
        return Err(Error::run(format!(
            "task {} is {actual:?} on the remote, but this clone's task cache said it could be claimed",
            seen.task_id
        ))
        .hint("delete .git/oc/task-summaries (a cache, rebuilt from git) and start the worker again"));
    }
    let (task_commit, _) = board.commit_change(seen.remote_tip, |t, now, who| {
        if let Some(old) = &interrupted {
            t.comments.push(Comment::new(
                format!("interrupted-{}", old.attempt),
                who,
                now,
                format!(
                    "Attempt {} by worker {} was interrupted: its lease expired at {} before the task finished. \
                     Worker {} takes the task over (attempt {}).",
                    old.attempt, old.worker, old.expires, mine.worker, mine.attempt
                ),
            ));
        }
        if t.state == running {
            return Event::Commented;
        }
        t.move_to(&running, now)
    })?;
    let claim_commit = write_claim(repo, mine)?;
    let claim_ref = format!("{CLAIMS_REF_PREFIX}{}", seen.task_id);
    let task_ref = format!("{TASKS_REF_PREFIX}{}", seen.task_id);
    let expected_claim = seen.claim.as_ref().map(|(id, _)| id.to_string()).unwrap_or_default();
    Ok(Prepared {
        task_id: seen.task_id.clone(),
        claim: mine.clone(),
        claim_commit,
        task_commit,
        remote_tip: seen.remote_tip,
        reclaimed: interrupted,
        leases: [
            format!("{claim_ref}:{expected_claim}"),
            format!("{task_ref}:{}", seen.remote_tip),
        ],
        refspecs: [
            format!("{claim_commit}:{claim_ref}"),
            format!("{task_commit}:{task_ref}"),
        ],
    })
}

/// Claim a task (or reclaim it from an expired attempt) with one atomic push. `Err` when the
/// remote refuses for good or cannot be reached.
pub fn claim(transport: &Transport, board: &GitBoard, states: &States, seen: &Seen, mine: &Claim) -> Result<Claimed> {
    let prepared = prepare(board, states, seen, mine)?;
    match transport.push(&prepared.leases, &prepared.refspecs)? {
        Pushed::Done => {}
        Pushed::Lost(why) => {
            tracing::debug!(task = %seen.task_id, %why, "claim lost");
            return Ok(Claimed::Lost);
        }
        Pushed::Refused(why) => return Err(refused(transport.remote(), "claim a task", &why)),
        Pushed::Unreachable(why) => return Ok(Claimed::Unreachable(why)),
    }
    Ok(Claimed::Won(Box::new(won(board.repo(), transport.remote(), prepared)?)))
}

/// After the remote took a claim: the local task and the tracking refs follow the push.
pub fn won(repo: &gix::Repository, remote: &str, prepared: Prepared) -> Result<Held> {
    let task_ref = format!("{TASKS_REF_PREFIX}{}", prepared.task_id);
    set_ref(
        repo,
        &format!("{}{}", tracking_prefix(remote), prepared.task_id),
        prepared.task_commit,
    )?;
    // The task runs from the remote's copy, whatever the local one holds: nothing but the remote
    // and this worker's runs write the task, and a local change would be the agent's (of an
    // earlier run, through the fetched board, say), which the claim did not see.
    set_ref(repo, &task_ref, prepared.task_commit)?;
    set_ref(
        repo,
        &format!("{}{}", claims_tracking_prefix(remote), prepared.task_id),
        prepared.claim_commit,
    )?;
    Ok(Held {
        claim: prepared.claim,
        claim_commit: prepared.claim_commit,
        task_commit: prepared.task_commit,
        reclaimed: prepared.reclaimed,
    })
}

/// Give back a claim whose task was never started (the worker was stopped between the push that
/// claimed it and its run): the task goes back to Ready with a comment saying so, and the claim is
/// deleted, in one atomic push guarded by both. Other workers need not wait for the lease.
pub fn release(transport: &Transport, board: &GitBoard, states: &States, held: &Held) -> Result<Pushed> {
    let repo = board.repo();
    let ready = states.name(StateKind::Ready).to_owned();
    let (task_commit, _) = board.commit_change(held.task_commit, |t, now, who| {
        t.comments.push(Comment {
            id: format!("released-{}", held.claim.attempt),
            author: who.to_owned(),
            created_at: now,
            body: format!(
                "Worker {} stopped before starting the task (attempt {}): it is Ready again.",
                held.claim.worker, held.claim.attempt
            ),
        });
        t.move_to(&ready, now)
    })?;
    let task_id = &held.claim.task_id;
    let claim_ref = format!("{CLAIMS_REF_PREFIX}{task_id}");
    let task_ref = format!("{TASKS_REF_PREFIX}{task_id}");
    let pushed = transport.push(
        &[
            format!("{claim_ref}:{}", held.claim_commit),
            format!("{task_ref}:{}", held.task_commit),
        ],
        &[format!(":{claim_ref}"), format!("{task_commit}:{task_ref}")],
    )?;
    if matches!(pushed, Pushed::Done) {
        let remote = transport.remote();
        let _ = crate::git::refs::compare_and_swap(
            repo,
            &task_ref,
            Some(held.task_commit),
            task_commit,
            "git-oc: claim released",
        );
        set_ref(repo, &format!("{}{task_id}", tracking_prefix(remote)), task_commit)?;
        let _ = crate::git::refs::delete(
            repo,
            &format!("{}{task_id}", claims_tracking_prefix(remote)),
            held.claim_commit,
        );
    }
    Ok(pushed)
}

/// Renew a held claim: replace it with one expiring `lease` from now, only if the remote still
/// holds `current`.
pub fn renew(
    transport: &Transport,
    repo: &gix::Repository,
    current: (gix::ObjectId, &Claim),
    now: Timestamp,
    lease: std::time::Duration,
) -> Result<Renewed> {
    let next = current.1.renewed(now, lease);
    let commit = write_claim(repo, &next)?;
    let claim_ref = format!("{CLAIMS_REF_PREFIX}{}", next.task_id);
    match transport.push(
        &[format!("{claim_ref}:{}", current.0)],
        &[format!("{commit}:{claim_ref}")],
    )? {
        Pushed::Done => Ok(Renewed::Yes(commit, next)),
        Pushed::Lost(_) => Ok(Renewed::Lost),
        Pushed::Refused(why) => Err(refused(transport.remote(), "renew a claim", &why)),
        Pushed::Unreachable(why) => Ok(Renewed::Unreachable(why)),
    }
}

/// Point a remote-tracking ref at `id`, whatever it held.
pub fn set_ref(repo: &gix::Repository, name: &str, id: gix::ObjectId) -> Result<()> {
    use gix::refs::transaction::PreviousValue;
    crate::git::refs::set(repo, name, id, PreviousValue::Any, "git-oc: worker")
        .map_err(|e| Error::git(format!("could not update {name}"), e))?;
    Ok(())
}

pub fn refused(remote: &str, what: &str, why: &str) -> Error {
    Error::run(format!(
        "the remote {remote:?} refused the push to {what}; nothing was changed there"
    ))
    .caused_by(why.to_owned())
    .hint(format!(
        "the worker needs push rights to {remote:?} for refs/oc/*, refs/notes/oc and the run branches; \
             check the remote's hooks and permissions (try 'git push --dry-run {remote} HEAD:refs/oc/probe')"
    ))
}

pub fn unreachable(remote: &str, why: &str) -> Error {
    Error::run(format!("could not reach the remote {remote:?}"))
        .caused_by(why.to_owned())
        .hint(format!(
            "check its URL ('git remote get-url {remote}') and your access ('git ls-remote {remote}')"
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_reads_back_from_its_message_and_expires_on_time() {
        let c = Claim {
            task_id: "0123456789ab".into(),
            worker: "w1".into(),
            session: "s".into(),
            attempt: "a".into(),
            expires: Timestamp::from_micros(5_000_000),
            renewals: 0,
        };
        assert_eq!(Claim::parse(&c.message()), Some(c.clone()));
        assert!(!c.expired(Timestamp::from_micros(4_999_999)));
        assert!(c.expired(Timestamp::from_micros(5_000_000)));
        let r = c.renewed(Timestamp::from_micros(6_000_000), std::time::Duration::from_secs(2));
        assert_eq!((r.renewals, r.expires), (1, Timestamp::from_micros(8_000_000)));
        assert_eq!(r.attempt, c.attempt);
    }
}
