//! Task boards: one interface ([`Board`]) over where tasks live. The git board (the default) keeps
//! each task in the repository as a chain of commits under `refs/oc/tasks/`, shared through the
//! same remote as the evidence; the Plane board (`plane.rs`) is one more implementation. The kind is
//! chosen from the configuration in one place, [`open`].

pub mod check;
pub mod git;
pub mod held;
pub mod plane;
pub mod task;

use crate::config::{BoardSection, Config};
use crate::error::{Error, Result};
pub use task::{Comment, Event, ParsedTask, Task, TaskSummary};

/// Which board the configuration names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardKind {
    Git,
    Plane,
}

impl BoardKind {
    pub const ALL: [BoardKind; 2] = [BoardKind::Git, BoardKind::Plane];

    pub fn parse(s: &str) -> Option<BoardKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BoardKind::Git => "git",
            BoardKind::Plane => "plane",
        }
    }

    pub fn names() -> String {
        Self::ALL.map(|k| k.as_str()).join(", ")
    }
}

/// The states of the original's board (reference-fullstack §9.2), whatever a board names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    Backlog,
    Ready,
    Running,
    InReview,
    Blocked,
    Done,
    Cancelled,
}

impl StateKind {
    pub const ALL: [StateKind; 7] = [
        StateKind::Backlog,
        StateKind::Ready,
        StateKind::Running,
        StateKind::InReview,
        StateKind::Blocked,
        StateKind::Done,
        StateKind::Cancelled,
    ];

    /// The key in `[board.states]`.
    pub fn key(self) -> &'static str {
        match self {
            StateKind::Backlog => "backlog",
            StateKind::Ready => "ready",
            StateKind::Running => "running",
            StateKind::InReview => "in_review",
            StateKind::Blocked => "blocked",
            StateKind::Done => "done",
            StateKind::Cancelled => "cancelled",
        }
    }

    /// The original's name.
    pub fn default_name(self) -> &'static str {
        match self {
            StateKind::Backlog => "Backlog",
            StateKind::Ready => "Ready for AI",
            StateKind::Running => "Running",
            StateKind::InReview => "In Review",
            StateKind::Blocked => "Blocked",
            StateKind::Done => "Done",
            StateKind::Cancelled => "Cancelled",
        }
    }

    /// Which state wins when two clones moved a task to different states at once (the rule the
    /// README documents): the one further along in the task's life. Ending beats working, a
    /// result beats a failure, working beats waiting.
    pub fn precedence(self) -> u8 {
        match self {
            StateKind::Cancelled => 7,
            StateKind::Done => 6,
            StateKind::InReview => 5,
            StateKind::Blocked => 4,
            StateKind::Running => 3,
            StateKind::Ready => 2,
            StateKind::Backlog => 1,
        }
    }
}

/// The names the states have on a board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct States {
    names: Vec<(StateKind, String)>,
}

impl Default for States {
    fn default() -> Self {
        States {
            names: StateKind::ALL
                .iter()
                .map(|k| (*k, k.default_name().to_owned()))
                .collect(),
        }
    }
}

impl States {
    /// The configured names, checked: non-empty, one line, all different.
    pub fn from_config(section: &BoardSection) -> Result<States, String> {
        let mut states = States::default();
        if let Some(s) = &section.states {
            let configured = [
                (StateKind::Backlog, &s.backlog),
                (StateKind::Ready, &s.ready),
                (StateKind::Running, &s.running),
                (StateKind::InReview, &s.in_review),
                (StateKind::Blocked, &s.blocked),
                (StateKind::Done, &s.done),
                (StateKind::Cancelled, &s.cancelled),
            ];
            for (kind, name) in configured {
                if let Some(name) = name {
                    let name = name.trim();
                    if name.is_empty() || name.chars().any(char::is_control) {
                        return Err(format!("board.states.{} must be a one-line name", kind.key()));
                    }
                    if let Some(entry) = states.names.iter_mut().find(|(k, _)| *k == kind) {
                        entry.1 = name.to_owned();
                    }
                }
            }
        }
        for (i, (kind, name)) in states.names.iter().enumerate() {
            if let Some((other, _)) = states.names[i + 1..].iter().find(|(_, n)| n.eq_ignore_ascii_case(name)) {
                return Err(format!(
                    "board.states.{} and board.states.{} are both named {name:?}",
                    kind.key(),
                    other.key()
                ));
            }
        }
        Ok(states)
    }

    pub fn name(&self, kind: StateKind) -> &str {
        self.names
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(kind.default_name(), |(_, n)| n.as_str())
    }

    pub fn names(&self) -> Vec<&str> {
        self.names.iter().map(|(_, n)| n.as_str()).collect()
    }

    /// The state a name stands for (case-insensitive).
    pub fn kind_of(&self, name: &str) -> Option<StateKind> {
        self.names
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name.trim()))
            .map(|(k, _)| *k)
    }

    /// Sort tasks as boards list them: by state in the lifecycle's order (unknown states last),
    /// then the most recently updated first, then by id.
    pub fn sort_for_listing(&self, tasks: &mut [TaskSummary]) {
        let rank = |t: &TaskSummary| {
            self.kind_of(&t.state)
                .and_then(|k| StateKind::ALL.iter().position(|x| *x == k))
                .unwrap_or(StateKind::ALL.len())
        };
        tasks.sort_by(|a, b| {
            rank(a)
                .cmp(&rank(b))
                .then_with(|| b.updated_at.cmp(&a.updated_at))
                .then_with(|| a.id.cmp(&b.id))
        });
    }

    /// The board's name for what a user typed: a state's name in any case, or its key
    /// (`ready`, `in_review`, `in-review`).
    pub fn resolve(&self, typed: &str) -> Result<String> {
        let t = typed.trim();
        if let Some(kind) = self.kind_of(t) {
            return Ok(self.name(kind).to_owned());
        }
        let key = t.to_ascii_lowercase().replace(['-', ' '], "_");
        if let Some(kind) = StateKind::ALL.into_iter().find(|k| k.key() == key) {
            return Ok(self.name(kind).to_owned());
        }
        Err(Error::input(format!("unknown state {t:?}")).hint(format!(
            "the states are: {} (or their keys: {})",
            self.names().join(", "),
            StateKind::ALL.map(|k| k.key()).join(", ")
        )))
    }
}

/// Which tasks a listing returns: all of `states` (any, when empty), carrying every label in
/// `labels`, and labelled `repo: <repo>` when `repo` is set.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub states: Vec<String>,
    pub labels: Vec<String>,
    pub repo: Option<String>,
}

impl Filter {
    pub fn matches(&self, t: &TaskSummary) -> bool {
        (self.states.is_empty() || self.states.iter().any(|s| s.eq_ignore_ascii_case(&t.state)))
            && self
                .labels
                .iter()
                .all(|l| t.labels.iter().any(|have| have.eq_ignore_ascii_case(l)))
            && self
                .repo
                .as_deref()
                .is_none_or(|r| task::label_value(&t.labels, "repo").is_some_and(|v| v.eq_ignore_ascii_case(r)))
    }
}

/// A task to create.
#[derive(Clone, Debug, Default)]
pub struct NewTask {
    pub title: String,
    pub description: String,
    /// `None`: the board's backlog state.
    pub state: Option<String>,
    pub labels: Vec<String>,
}

impl NewTask {
    /// The title, labels and state a board creates the task with, each checked (the state
    /// resolved against `states`, the backlog when none is given).
    pub fn checked(&self, states: &States) -> Result<(String, Vec<String>, String)> {
        let title = task::check_title(&self.title)?;
        let labels = self
            .labels
            .iter()
            .map(|l| task::check_label(l))
            .collect::<Result<Vec<_>>>()?;
        let state = match &self.state {
            Some(s) => states.resolve(s)?,
            None => states.name(StateKind::Backlog).to_owned(),
        };
        Ok((title, labels, state))
    }
}

/// A transition that happened.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Transition {
    pub task_id: String,
    pub from: String,
    pub to: String,
}

/// One event in a task's life, as `git oc task show` lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct HistoryEntry {
    /// The git board's commit recording it.
    pub commit: Option<String>,
    pub time: crate::contracts::Timestamp,
    pub event: String,
    pub subject: String,
    pub author: String,
}

/// One board: tasks listed, read, created, moved, commented and labelled. Every change is
/// all-or-nothing; a transition can name the state it expects the task to be in, and fails,
/// changing nothing, when the task is in another (compare-and-swap).
pub trait Board {
    fn kind(&self) -> BoardKind;
    fn states(&self) -> &States;
    /// The tasks matching `filter`, by state (in the board's order), then most recently updated.
    fn list(&self, filter: &Filter) -> Result<Vec<TaskSummary>>;
    /// The task `id` names (a full id or, where the board allows, a unique prefix).
    fn get(&self, id: &str) -> Result<Task>;
    fn create(&self, new: &NewTask) -> Result<Task>;
    /// Move a task to the state `to`; with `expected`, only if it is in that state now.
    fn transition(&self, id: &str, to: &str, expected: Option<&str>) -> Result<Transition>;
    fn comment(&self, id: &str, body: &str) -> Result<Comment>;
    /// Comment on a task, then move it to `to` if it is in `expected` (a run's end): one change
    /// where the board can make it one. The comment stands either way; the inner error says why
    /// the task was not moved.
    fn comment_and_move(
        &self,
        id: &str,
        body: &str,
        to: &str,
        expected: &str,
    ) -> Result<std::result::Result<Transition, Error>> {
        self.comment(id, body)?;
        Ok(self.transition(id, to, Some(expected)))
    }
    /// Replace the title, the description, or both.
    fn edit(&self, id: &str, title: Option<&str>, description: Option<&str>) -> Result<Task>;
    /// Add and remove labels in one change; the labels after it.
    fn set_labels(&self, id: &str, add: &[String], remove: &[String]) -> Result<Task>;
    /// The task's events, oldest first.
    fn history(&self, id: &str) -> Result<Vec<HistoryEntry>>;
    /// Checks for `git oc board doctor`, this board's part.
    fn checks(&self) -> Vec<check::Check>;
    /// The task's priority (`urgent`, `high`, `medium`, `low`, `none`) for the lanes' claim
    /// order: a `priority:` label, unless the board has a field of its own.
    fn priority(&self, task: &Task) -> Option<String> {
        task.label_value("priority").map(str::to_owned)
    }
    /// Tasks held back for a person to read (`held`): the lanes do not run them.
    fn held(&self) -> Result<std::collections::BTreeSet<String>> {
        Ok(std::collections::BTreeSet::new())
    }
}

/// The board the configuration names, for the repository `repo`: the one place the kind is
/// chosen.
pub fn open(repo: &crate::git::Repo, config: &Config) -> Result<Box<dyn Board>> {
    let states = States::from_config(&config.board).map_err(Error::input)?;
    let kind = config
        .board
        .kind
        .as_deref()
        .and_then(BoardKind::parse)
        .unwrap_or(BoardKind::Git);
    match kind {
        BoardKind::Git => Ok(Box::new(git::GitBoard::new(repo.repo.clone(), states))),
        BoardKind::Plane => Ok(Box::new(plane::PlaneBoard::from_config(&config.plane, states)?)),
    }
}

/// The board of the repository in `dir`, with its configuration.
pub fn open_in(dir: &std::path::Path) -> Result<(crate::git::Repo, Box<dyn Board>)> {
    let repo = crate::git::Repo::discover(dir)?;
    let config = Config::load(repo.workdir())?;
    let board = open(&repo, &config)?;
    Ok((repo, board))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_resolve_by_name_or_key_and_names_are_configurable() {
        let s = States::default();
        assert_eq!(s.resolve("ready for ai").unwrap(), "Ready for AI");
        assert_eq!(s.resolve("in-review").unwrap(), "In Review");
        assert!(s.resolve("Limbo").is_err());
        let section = BoardSection {
            kind: None,
            states: Some(crate::config::StatesSection {
                ready: Some("Todo".into()),
                ..Default::default()
            }),
        };
        let s = States::from_config(&section).unwrap();
        assert_eq!(s.resolve("ready").unwrap(), "Todo");
        assert_eq!(s.kind_of("todo"), Some(StateKind::Ready));
        let clash = BoardSection {
            kind: None,
            states: Some(crate::config::StatesSection {
                ready: Some("done".into()),
                ..Default::default()
            }),
        };
        assert!(States::from_config(&clash).is_err());
    }
}
