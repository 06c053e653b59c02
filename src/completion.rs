//! What shell completion offers from the repository: run ids as their shortest unique prefixes
//! (described by outcome and goal), the evidence files of a run, the board's task ids (described
//! by state and title), branches and remotes. Called on
//! every Tab, so it reads as little as it can: run ids come from ref names alone, and evidence
//! commits are read only for the runs shown with a description.

use gix::bstr::ByteSlice;

use crate::evidence::Namespace;
use crate::evidence::message::EvidenceMessage;
use crate::evidence::store;
use crate::git::Repo;
use crate::text::{escape_controls, truncate_to_width};

/// One completion: the text to insert and what the shell may show beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub value: String,
    pub help: Option<String>,
}

impl Candidate {
    pub fn new(value: impl Into<String>, help: Option<String>) -> Self {
        Candidate {
            value: value.into(),
            help,
        }
    }
}

/// Run ids are offered with at least this many characters, as `git oc runs` shows them.
pub const SHORT_ID: usize = 8;
/// Matching runs are described (outcome and goal) when there are at most this many; more are
/// offered bare, as no one reads thousands of descriptions and reading them is what costs.
pub const DESCRIBED_AT_MOST: usize = 200;
/// Columns of a description.
const HELP_WIDTH: usize = 60;

/// Every run id (real and demo runs), sorted, from the ref names.
fn all_run_ids(repo: &gix::Repository) -> Vec<(String, Namespace)> {
    let mut ids: Vec<(String, Namespace)> = Namespace::ALL
        .into_iter()
        .flat_map(|ns| {
            crate::git::ref_names(repo, ns.ref_prefix())
                .into_iter()
                .filter_map(move |name| {
                    let id = name.strip_prefix(ns.ref_prefix())?;
                    store::is_run_id(id).then(|| (id.to_owned(), ns))
                })
        })
        .collect();
    ids.sort_by(|a, b| a.0.cmp(&b.0));
    ids.dedup_by(|a, b| a.0 == b.0);
    ids
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// The runs whose id starts with `typed`, each as its shortest unique prefix (at least
/// [`SHORT_ID`] characters; the whole id when `typed` is already longer), with `outcome: goal` as
/// the description when `describe` is set and few enough match.
pub fn run_ids(repo: &Repo, typed: &str, describe: bool) -> Vec<Candidate> {
    let typed = typed.to_ascii_lowercase();
    let ids = all_run_ids(&repo.repo);
    let mut matches = Vec::new();
    for (i, (id, ns)) in ids.iter().enumerate() {
        if !id.starts_with(&typed) {
            continue;
        }
        let before = i.checked_sub(1).map_or(0, |p| common_prefix(id, &ids[p].0) + 1);
        let after = ids.get(i + 1).map_or(0, |n| common_prefix(id, &n.0) + 1);
        let unique = before.max(after).max(SHORT_ID).min(id.len());
        let shown = if typed.len() <= unique {
            &id[..unique]
        } else {
            id.as_str()
        };
        matches.push((shown.to_owned(), id, *ns));
    }
    let described = describe && matches.len() <= DESCRIBED_AT_MOST;
    matches
        .into_iter()
        .map(|(shown, id, ns)| {
            let help = described.then(|| describe_run(&repo.repo, ns, id)).flatten();
            Candidate::new(shown, help)
        })
        .collect()
}

/// `outcome: goal`, from the run's evidence commit message.
fn describe_run(repo: &gix::Repository, ns: Namespace, run_id: &str) -> Option<String> {
    let mut reference = repo
        .try_find_reference(format!("{}{run_id}", ns.ref_prefix()).as_str())
        .ok()??;
    let commit = reference.peel_to_commit().ok()?;
    let message = EvidenceMessage::parse(&commit.message_raw_sloppy().to_str_lossy())
        .ok()
        .filter(|m| m.run_id == run_id)?;
    let outcome = if message.rejected {
        format!("{} ({})", message.outcome, crate::runs::REJECTED)
    } else {
        message.outcome
    };
    let text = if message.goal.is_empty() {
        outcome
    } else {
        format!("{outcome}: {}", message.goal)
    };
    Some(truncate_to_width(&escape_controls(&text), HELP_WIDTH).into_owned())
}

/// The evidence files of the run `run` names (a full id or a unique prefix); none when it names
/// no run or several.
pub fn evidence_files(repo: &Repo, run: &str) -> Vec<Candidate> {
    let run = run.to_ascii_lowercase();
    let ids = all_run_ids(&repo.repo);
    let mut named = ids.iter().filter(|(id, _)| id.starts_with(&run));
    let (Some((run_id, _)), None) = (named.next(), named.next()) else {
        return Vec::new();
    };
    let Ok(evidence) = store::RunEvidence::open(&repo.repo, run_id) else {
        return Vec::new();
    };
    evidence
        .files()
        .unwrap_or_default()
        .into_iter()
        .map(|f| Candidate::new(f, None))
        .collect()
}

/// The board's task ids that start with `typed`, described by state and title when few enough
/// match (read from the task commits' messages). The git board's only: a hosted board is not
/// asked on every Tab.
pub fn task_ids(repo: &Repo, typed: &str, describe: bool) -> Vec<Candidate> {
    let typed = typed.to_ascii_lowercase();
    let ids: Vec<String> = crate::board::git::task_ids(&repo.repo)
        .into_iter()
        .filter(|id| id.starts_with(&typed))
        .collect();
    let described = describe && ids.len() <= DESCRIBED_AT_MOST;
    ids.into_iter()
        .map(|id| {
            let help = described.then(|| describe_task(&repo.repo, &id)).flatten();
            Candidate::new(id, help)
        })
        .collect()
}

/// What is held (`git oc release`): tasks, runs and autonomy records, each said to be which.
pub fn held_ids(repo: &Repo, typed: &str) -> Vec<Candidate> {
    use crate::board::held::Kind;
    crate::board::held::held_all(&repo.repo)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, id, _)| id.starts_with(typed))
        .map(|(kind, id, _)| {
            let what = match kind {
                Kind::Task => "held task",
                Kind::Run => "held run",
                Kind::Record => "held autonomy record",
            };
            Candidate::new(id, Some(what.to_owned()))
        })
        .collect()
}

/// `state: title`, from the task commit's message.
fn describe_task(repo: &gix::Repository, id: &str) -> Option<String> {
    let mut reference = repo
        .try_find_reference(format!("{}{id}", crate::board::git::TASKS_REF_PREFIX).as_str())
        .ok()??;
    let commit = reference.peel_to_commit().ok()?;
    let summary = crate::board::task::parse_message(&commit.message_raw_sloppy().to_str_lossy()).ok()?;
    let text = format!("{}: {}", summary.state, summary.title);
    Some(truncate_to_width(&escape_controls(&text), HELP_WIDTH).into_owned())
}

/// Local branches; run branches (`oc/…`, `demo/…`) are described as such.
pub fn branches(repo: &Repo) -> Vec<Candidate> {
    let names = crate::git::ref_names(&repo.repo, "refs/heads/");
    names
        .into_iter()
        .filter_map(|name| {
            let short = name.strip_prefix("refs/heads/")?.to_owned();
            let run = crate::gc::RUN_BRANCH_PREFIXES.iter().any(|p| name.starts_with(p));
            Some(Candidate::new(short, run.then(|| "run branch".to_owned())))
        })
        .collect()
}

/// The configured remotes, described by their URL (credentials never shown).
pub fn remotes(repo: &Repo) -> Vec<Candidate> {
    let config = repo.repo.config_snapshot();
    repo.repo
        .remote_names()
        .into_iter()
        .map(|name| {
            let url = config
                .string(format!("remote.{name}.url").as_str())
                .map(|u| crate::execution::secrets::redact_url(&u.to_str_lossy()).into_owned());
            Candidate::new(
                name.to_str_lossy().into_owned(),
                url.map(|u| escape_controls(&u).into_owned()),
            )
        })
        .collect()
}
