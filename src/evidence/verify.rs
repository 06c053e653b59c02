//! Whether the note blocks in git-oc's notes are ones git-oc wrote. An agent runs with the
//! user's rights and can write `refs/notes/oc` (`git notes --ref=oc append -m 'SUCCEEDED …'`);
//! reviewers read those notes with plain git as a run's evidence. A block git-oc wrote names a
//! run whose evidence ref exists, hangs on the commit the note is on, and says the same: the
//! run, the headline, the status, the diff and whether the gate rejected it. A forger who also
//! writes a whole evidence commit in git-oc's format is not caught here (nothing git-oc can
//! write is out of an agent's reach); one who writes only a note, or a note that contradicts
//! the evidence, is.

use gix::bstr::ByteSlice;

use super::message::{EvidenceMessage, trailer};
use super::note::{NoteBlock, parse_blocks};
use crate::error::{Error, Result};

/// How far back an evidence chain is followed to the commit it hangs on (one commit per event:
/// recorded, landed, pushed, pull request).
const MAX_EVIDENCE_CHAIN: usize = 64;

/// Trailers git-oc writes in a note block.
const KNOWN: &[&str] = &[
    trailer::RUN,
    trailer::STATUS,
    trailer::OUTCOME,
    trailer::POLICY,
    trailer::DIFF,
    trailer::EVIDENCE,
    trailer::REJECTED,
    trailer::PR,
];

/// A note block git-oc did not write: on which commit, for which run, and why it is foreign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Foreign {
    pub commit: gix::ObjectId,
    pub block: NoteBlock,
    pub why: String,
}

/// Why `block`, found in the note on `annotated`, is not one git-oc wrote; `None` when it is.
pub fn check_block(repo: &gix::Repository, annotated: gix::ObjectId, block: &NoteBlock) -> Option<String> {
    let Some(run_id) = block.run_id() else {
        return Some("it names no run (no Oc-Run line)".to_owned());
    };
    if let Some((key, _)) = block.trailers.iter().find(|(k, _)| !KNOWN.contains(&k.as_str())) {
        return Some(if key.is_empty() {
            format!("run {run_id}'s block holds text git-oc does not write")
        } else {
            format!("run {run_id}'s block has a line git-oc does not write ({key})")
        });
    }
    let evidence_ref = block.trailer(trailer::EVIDENCE).unwrap_or_default();
    let named = super::Namespace::split_ref(evidence_ref).is_some_and(|(_, id)| id == run_id);
    if !named || !super::store::is_run_id(run_id) {
        return Some(format!(
            "run {run_id:?} has no evidence ref of git-oc's ({evidence_ref:?})"
        ));
    }
    let tip = match crate::git::refs::target(repo, evidence_ref) {
        Ok(Some(tip)) => tip,
        _ => {
            return Some(format!(
                "run {run_id} was never recorded here ({evidence_ref} does not exist)"
            ));
        }
    };
    let Some((latest, anchor)) = evidence_and_anchor(repo, tip, run_id) else {
        return Some(format!("{evidence_ref} is not run {run_id}'s evidence"));
    };
    if anchor != Some(annotated) {
        return Some(format!("run {run_id}'s evidence is not about commit {annotated}"));
    }
    let differs = |what: &str| Some(format!("run {run_id}'s block says another {what} than its evidence"));
    if block.headline != latest.headline {
        return differs("headline");
    }
    if block.trailer(trailer::STATUS) != Some(latest.status.as_str()) {
        return differs("status");
    }
    if let Some(outcome) = block.trailer(trailer::OUTCOME)
        && outcome != latest.outcome
    {
        return differs("outcome");
    }
    if block
        .trailer(trailer::DIFF)
        .is_some_and(|d| d != latest.diff.as_deref().unwrap_or("none"))
    {
        return differs("diff");
    }
    if block.trailer(trailer::REJECTED).is_some() != latest.rejected {
        return differs("gate verdict");
    }
    None
}

/// A run's evidence: its commits, newest first, each with its message, and the commit its note
/// goes on (the first evidence commit's parent: the run's commit, whose message names the run
/// too, or its base). `complete` is false when the walk stopped at [`MAX_EVIDENCE_CHAIN`].
struct Chain {
    commits: Vec<(gix::ObjectId, EvidenceMessage)>,
    anchor: Option<gix::ObjectId>,
    complete: bool,
}

/// Run `run_id`'s evidence chain ending at `tip`; `None` when `tip` is not that run's evidence.
fn chain(repo: &gix::Repository, tip: gix::ObjectId, run_id: &str) -> Option<Chain> {
    let message = |id: gix::ObjectId| -> Option<(EvidenceMessage, Option<gix::ObjectId>)> {
        let commit = repo.find_commit(id).ok()?;
        let parent = commit.parent_ids().next().map(|p| p.detach());
        let message = EvidenceMessage::parse(commit.message_raw().ok()?.to_str_lossy().as_ref()).ok()?;
        (message.run_id == run_id).then_some((message, parent))
    };
    let (latest, mut parent) = message(tip)?;
    let run_commit = latest
        .commit
        .as_deref()
        .and_then(|c| gix::ObjectId::from_hex(c.as_bytes()).ok());
    let mut chain = Chain {
        commits: vec![(tip, latest)],
        anchor: None,
        complete: true,
    };
    while let Some(p) = parent {
        if chain.commits.len() > MAX_EVIDENCE_CHAIN {
            chain.complete = false;
            break;
        }
        if Some(p) == run_commit {
            chain.anchor = Some(p);
            break;
        }
        match message(p) {
            Some((m, next)) => {
                chain.commits.push((p, m));
                parent = next;
            }
            None => {
                chain.anchor = Some(p);
                break;
            }
        }
    }
    Some(chain)
}

/// The latest evidence message of run `run_id`, whose evidence commit is `tip`, and the commit
/// its note goes on. `None` when `tip` is not that run's evidence.
pub fn evidence_and_anchor(
    repo: &gix::Repository,
    tip: gix::ObjectId,
    run_id: &str,
) -> Option<(EvidenceMessage, Option<gix::ObjectId>)> {
    let mut chain = chain(repo, tip, run_id)?;
    let anchor = chain.anchor.filter(|_| chain.complete);
    Some((chain.commits.swap_remove(0).1, anchor))
}

/// Files an event of a run adds to its evidence, or replaces (`summary.json` with its
/// `pr_url` set): everything else a run recorded stays as it was.
const EVENT_FILES: &[&str] = &[
    super::files::LANDING,
    super::files::PUBLISH,
    super::files::SUMMARY,
    crate::review::REVIEW_FILE,
    crate::review::MERGE_FILE,
];

/// Why the evidence chain of run `run_id` ending at `tip` is not one git-oc wrote, `None` when
/// it is. Its first commit records the run; each one after records an event (landed, pushed,
/// a pull request, a review) and changes nothing the run recorded: the message says the same
/// but where it landed, was pushed and its pull request, and the files are the same but the
/// event's own (and `summary.json`, only in `pr_url`). An agent can append to another run's
/// evidence ref (`git oc runs` and reviewers read the tip) to make a failed run say it passed.
pub fn check_chain(repo: &gix::Repository, tip: gix::ObjectId, run_id: &str) -> Option<String> {
    let chain = chain(repo, tip, run_id)?;
    if !chain.complete {
        return Some(format!("run {run_id}'s evidence has more events than git-oc records"));
    }
    let fixed = |m: &EvidenceMessage| EvidenceMessage {
        landed: None,
        pushed: None,
        pr: None,
        ..m.clone()
    };
    let entries = |id: gix::ObjectId| -> Option<std::collections::BTreeMap<String, gix::ObjectId>> {
        let tree = repo.find_commit(id).ok()?.tree().ok()?;
        Some(
            tree.iter()
                .flatten()
                .map(|e| (e.filename().to_str_lossy().into_owned(), e.object_id()))
                .collect(),
        )
    };
    for pair in chain.commits.windows(2) {
        let ((later_id, later), (earlier_id, earlier)) = (&pair[0], &pair[1]);
        if fixed(later) != fixed(earlier) || later.recorded != earlier.recorded {
            return Some(format!(
                "commit {later_id} changes what run {run_id} recorded (its message)"
            ));
        }
        let (Some(before), Some(after)) = (entries(*earlier_id), entries(*later_id)) else {
            return Some(format!("run {run_id}'s evidence has a commit git-oc did not write"));
        };
        let changed = before
            .iter()
            .filter(|(name, id)| after.get(*name) != Some(id))
            .map(|(name, _)| name)
            .chain(after.keys().filter(|name| !before.contains_key(*name)));
        for name in changed {
            if !EVENT_FILES.contains(&name.as_str()) {
                return Some(format!("commit {later_id} changes {name}, which run {run_id} recorded"));
            }
            if name == super::files::SUMMARY && !only_pr_url_differs(repo, before.get(name), after.get(name)) {
                return Some(format!(
                    "commit {later_id} changes {name} beyond its pull request, which run {run_id} recorded"
                ));
            }
        }
    }
    None
}

/// Whether two `summary.json` blobs differ at most in `pr_url`.
fn only_pr_url_differs(repo: &gix::Repository, before: Option<&gix::ObjectId>, after: Option<&gix::ObjectId>) -> bool {
    let json = |id: Option<&gix::ObjectId>| -> Option<serde_json::Value> {
        let blob = repo.find_blob(*id?).ok()?;
        let mut value: serde_json::Value = serde_json::from_slice(&blob.data).ok()?;
        value.as_object_mut()?.remove("pr_url");
        Some(value)
    };
    match (json(before), json(after)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The blocks of the notes under `notes` (a notes commit) that `since` (an older notes commit,
/// or none) does not have, and are not git-oc's. Comparing the two trees finds the notes that
/// changed; only their new blocks are checked.
pub fn foreign_blocks(
    repo: &gix::Repository,
    since: Option<gix::ObjectId>,
    notes: gix::ObjectId,
) -> Result<Vec<Foreign>> {
    Ok(new_blocks(repo, since, notes)?
        .into_iter()
        .filter_map(|(commit, block)| {
            let why = why_foreign(repo, commit, &block)?;
            Some(Foreign { commit, block, why })
        })
        .collect())
}

/// Why a block [`new_blocks`] found is not git-oc's ([`check_block`], or a file in the notes
/// tree that is no note at all); `None` when it is.
pub fn why_foreign(repo: &gix::Repository, commit: gix::ObjectId, block: &NoteBlock) -> Option<String> {
    if commit.is_null() {
        return Some(format!(
            "the notes hold {:?}, which is not a note on an object",
            block.headline
        ));
    }
    check_block(repo, commit, block)
}

/// The blocks of the notes under `notes` that `since` does not have, each with the object its
/// note is on. A file in the notes tree that is not a note on an object comes with the null id
/// and its path as the headline. The trees are compared in process (as `git diff-tree -r
/// --no-renames` would): a worker does it at each publication.
pub fn new_blocks(
    repo: &gix::Repository,
    since: Option<gix::ObjectId>,
    notes: gix::ObjectId,
) -> Result<Vec<(gix::ObjectId, NoteBlock)>> {
    let tree_of = |id: gix::ObjectId| -> Result<gix::ObjectId> {
        Ok(repo
            .find_object(id)
            .and_then(|o| o.peel_to_tree())
            .map_err(|e| Error::git("could not compare the notes", e))?
            .id)
    };
    let old = since.map(tree_of).transpose()?;
    let changed = crate::git::diff::changed_entries(repo, old, tree_of(notes)?)
        .map_err(|e| Error::run("could not compare the notes").caused_by(e.summary_line()))?;
    let text = |id: Option<gix::ObjectId>| -> String {
        id.and_then(|id| repo.find_blob(id).ok())
            .map(|b| String::from_utf8_lossy(&b.data).into_owned())
            .unwrap_or_default()
    };
    let mut blocks = Vec::new();
    for entry in changed {
        // The path is the annotated object's id, fanned out or not.
        let path = entry.path.to_string();
        let Ok(commit) = gix::ObjectId::from_hex(path.replace('/', "").as_bytes()) else {
            let block = NoteBlock {
                headline: path,
                trailers: Vec::new(),
            };
            blocks.push((gix::ObjectId::null(repo.object_hash()), block));
            continue;
        };
        let had = parse_blocks(&text(entry.old));
        blocks.extend(
            parse_blocks(&text(entry.new))
                .into_iter()
                .filter(|b| !had.contains(b))
                .map(|b| (commit, b)),
        );
    }
    Ok(blocks)
}
