//! The task, as a file and as text: `task.json` in the tree of a git board's task commit, the
//! summary a task commit's message carries (so that listing reads no trees), label syntax, and
//! the task text the original parses (reference-fullstack §9.4: `## Goal`, `## Execution` as
//! YAML, `## Constraints`) with the template of §9.5.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contracts::Timestamp;
use crate::error::{Error, Result};

/// The file holding the current task in the tree of every task commit.
pub const TASK_FILE: &str = "task.json";

/// One task as a board keeps it. JSON keys in this order; `null` rather than a missing key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub state: String,
    /// Sorted, without duplicates.
    pub labels: Vec<String>,
    pub description: String,
    pub created_at: Timestamp,
    pub created_by: String,
    pub updated_at: Timestamp,
    /// When the title or description last changed (decides concurrent edits).
    pub edited_at: Timestamp,
    /// When the state last changed.
    pub state_changed_at: Timestamp,
    /// Oldest first (by time, then id).
    pub comments: Vec<Comment>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: String,
    pub author: String,
    pub created_at: Timestamp,
    pub body: String,
}

impl Comment {
    pub fn new(id: impl Into<String>, author: &str, created_at: Timestamp, body: impl Into<String>) -> Comment {
        Comment {
            id: id.into(),
            author: author.to_owned(),
            created_at,
            body: body.into(),
        }
    }
}

impl Task {
    /// The bytes of `task.json`: 2-space indented JSON and a final line break.
    pub fn to_file(&self) -> Vec<u8> {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text.into_bytes()
    }

    pub fn from_file(bytes: &[u8]) -> Result<Task, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("{TASK_FILE} is not a task: {e}"))
    }

    /// Labels sorted and deduplicated, comments in their order: the normal form every writer
    /// keeps, so that equal tasks are equal files.
    pub fn normalize(&mut self) {
        self.labels.sort();
        self.labels.dedup();
        self.comments
            .sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        self.comments.dedup_by(|a, b| a.id == b.id);
    }

    /// Move the task to `to` at `now`: the event its commit records.
    pub fn move_to(&mut self, to: &str, now: Timestamp) -> Event {
        let from = std::mem::replace(&mut self.state, to.to_owned());
        self.state_changed_at = now;
        Event::Moved {
            from,
            to: to.to_owned(),
        }
    }

    pub fn has_label(&self, label: &str) -> bool {
        self.labels.iter().any(|l| l.eq_ignore_ascii_case(label))
    }

    /// The value of the first `key: value` label (`repo`, say).
    pub fn label_value(&self, key: &str) -> Option<&str> {
        label_value(&self.labels, key)
    }

    pub fn summary(&self) -> TaskSummary {
        TaskSummary {
            id: self.id.clone(),
            title: self.title.clone(),
            state: self.state.clone(),
            labels: self.labels.clone(),
            comments: self.comments.len(),
            updated_at: self.updated_at,
        }
    }
}

/// The value of the first `key: value` label among `labels`, the key matched case-insensitively.
pub fn label_value<'a>(labels: &'a [String], key: &str) -> Option<&'a str> {
    labels.iter().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
    })
}

/// A task as a listing shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSummary {
    pub id: String,
    pub title: String,
    pub state: String,
    pub labels: Vec<String>,
    pub comments: usize,
    pub updated_at: Timestamp,
}

/// What one task commit records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Created,
    Moved {
        from: String,
        to: String,
    },
    Commented,
    Labels {
        added: Vec<String>,
        removed: Vec<String>,
    },
    Edited,
    /// Two chains joined by `git oc fetch` or `push`.
    Merged,
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::Created => "created",
            Event::Moved { .. } => "moved",
            Event::Commented => "commented",
            Event::Labels { .. } => "labels",
            Event::Edited => "edited",
            Event::Merged => "merged",
        }
    }

    fn subject(&self, task: &Task) -> String {
        match self {
            Event::Created => format!("created: {}", task.title),
            Event::Moved { from, to } => format!("moved: {from} -> {to}"),
            Event::Commented => "commented".to_owned(),
            Event::Labels { added, removed } => {
                let changes: Vec<String> = added
                    .iter()
                    .map(|l| format!("+{l}"))
                    .chain(removed.iter().map(|l| format!("-{l}")))
                    .collect();
                format!("labels: {}", changes.join(", "))
            }
            Event::Edited => format!("edited: {}", task.title),
            Event::Merged => "merged concurrent changes".to_owned(),
        }
    }
}

/// The message of a task commit: a subject naming the event, then trailers that summarise the
/// task after it, which is all a listing reads.
pub fn event_message(task: &Task, event: &Event) -> String {
    let mut out = format!("task {}: {}\n\n", task.id, one_line(&event.subject(task)));
    out.push_str(&format!("Oc-Task: {}\n", task.id));
    out.push_str(&format!("Oc-Event: {}\n", event.name()));
    out.push_str(&format!("Oc-State: {}\n", task.state));
    out.push_str(&format!("Oc-Title: {}\n", one_line(&task.title)));
    for label in &task.labels {
        out.push_str(&format!("Oc-Label: {}\n", one_line(label)));
    }
    out.push_str(&format!("Oc-Comments: {}\n", task.comments.len()));
    out.push_str(&format!("Oc-Updated: {}\n", task.updated_at));
    out
}

/// The summary a task commit's trailers give.
pub fn parse_message(message: &str) -> Result<TaskSummary, String> {
    let trailers = message.trim_end().rsplit_once("\n\n").map_or(message, |(_, t)| t);
    let (mut id, mut title, mut state, mut comments, mut updated) = (None, None, None, None, None);
    let mut labels = Vec::new();
    for line in trailers.lines() {
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        match key {
            "Oc-Task" => id = Some(value.to_owned()),
            "Oc-Title" => title = Some(value.to_owned()),
            "Oc-State" => state = Some(value.to_owned()),
            "Oc-Label" => labels.push(value.to_owned()),
            "Oc-Comments" => comments = value.parse().ok(),
            "Oc-Updated" => updated = Timestamp::parse(value),
            _ => {}
        }
    }
    Ok(TaskSummary {
        id: id.ok_or("no Oc-Task trailer")?,
        title: title.ok_or("no Oc-Title trailer")?,
        state: state.ok_or("no Oc-State trailer")?,
        labels,
        comments: comments.ok_or("no Oc-Comments trailer")?,
        updated_at: updated.ok_or("no Oc-Updated trailer")?,
    })
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// A title: one line of text, not empty.
pub fn check_title(title: &str) -> Result<String> {
    let t = title.trim();
    if t.is_empty() {
        return Err(Error::input("the task title is empty").hint("give the task a one-line title"));
    }
    if t.chars().any(char::is_control) {
        return Err(
            Error::input(format!("the task title {t:?} has a line break or control character"))
                .hint("a title is one line; put the rest in the description (--body)"),
        );
    }
    if t.chars().count() > 255 {
        return Err(Error::input("the task title is longer than 255 characters")
            .hint("shorten it; put the detail in the description (--body)"));
    }
    Ok(t.to_owned())
}

/// `key: value` labels whose values the original constrains (§9.3).
const LABEL_VALUES: [(&str, &[&str]); 2] = [
    (
        "task-kind",
        &["goal", "test", "improve", "test_campaign", "improve_campaign"],
    ),
    ("complexity", &["small", "medium", "large"]),
];
/// `key: value` labels that need a value (§9.3).
const VALUED_LABELS: [&str; 13] = [
    "repo",
    "task-kind",
    "base-branch",
    "source",
    "source-family",
    "campaign-id",
    "original-task-id",
    "handoff-reason",
    "retry-count",
    "complexity",
    "lifecycle",
    "executor-exit-code",
    "executor-signal",
];

/// A label, checked against the original's conventions: one line, at most 255 characters, and
/// `key: value` labels written with one space after the colon and a value where the original
/// expects one (`repo: svc`, `task-kind: goal`, `retry-count: 2`).
pub fn check_label(label: &str) -> Result<String> {
    let l = label.trim();
    let hint = "labels are plain words (review_required) or 'key: value' (repo: svc, task-kind: goal)";
    if l.is_empty() {
        return Err(Error::input("empty label").hint(hint));
    }
    if l.chars().any(char::is_control) || l.chars().count() > 255 {
        return Err(Error::input(format!(
            "invalid label {l:?}: a label is one line of at most 255 characters"
        ))
        .hint(hint));
    }
    let Some((key, value)) = l.split_once(':') else {
        return Ok(l.to_owned());
    };
    let (key, value) = (key.trim(), value.trim());
    if key.is_empty() {
        return Err(Error::input(format!("invalid label {l:?}: nothing before the colon")).hint(hint));
    }
    let known = VALUED_LABELS.iter().find(|k| k.eq_ignore_ascii_case(key));
    if known.is_some() && value.is_empty() {
        return Err(Error::input(format!("invalid label {l:?}: '{key}:' needs a value")).hint(hint));
    }
    if let Some((_, allowed)) = LABEL_VALUES.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))
        && !allowed.contains(&value)
    {
        return Err(Error::input(format!("invalid label {l:?}: unknown {key} {value:?}"))
            .hint(format!("{key} is one of {}", allowed.join(", "))));
    }
    if key.eq_ignore_ascii_case("retry-count") && value.parse::<u32>().is_err() {
        return Err(Error::input(format!("invalid label {l:?}: retry-count is a whole number")).hint(hint));
    }
    // The canonical spelling, as the original writes and matches it.
    Ok(if value.is_empty() {
        format!("{key}:")
    } else {
        format!("{key}: {value}")
    })
}

// ---------------------------------------------------------------------------------------------
// Task text (reference-fullstack §9.4, §9.5)

/// The `## Execution` block of a task, as the original's TaskParser reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Execution {
    pub repo: String,
    /// `None`: the repository's default branch.
    pub base_branch: Option<String>,
    pub mode: String,
    pub allowed_paths: Vec<String>,
    pub open_pr: bool,
    pub validation_profile: Option<String>,
    /// Campaign fields passed through untouched.
    pub spec_campaign_id: Option<String>,
    pub spec_file: Option<String>,
    pub task_phase: Option<String>,
    pub spec_coverage_hint: Option<String>,
}

/// A task's text, parsed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParsedTask {
    pub task_id: String,
    pub title: String,
    pub goal: String,
    pub constraints: Option<String>,
    pub execution: Execution,
}

/// `## <title>` sections of a description: lower-cased title → text up to the next `## `.
pub fn sections(description: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in description.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            if let Some((name, body)) = current.take() {
                out.entry(name).or_insert_with(|| body.join("\n").trim().to_owned());
            }
            current = Some((title.trim().to_lowercase(), Vec::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push(line);
        }
    }
    if let Some((name, body)) = current {
        out.entry(name).or_insert_with(|| body.join("\n").trim().to_owned());
    }
    out
}

/// The goal a board worker gives the agent: the `## Goal` section, else the title.
pub fn worker_goal(title: &str, description: &str) -> String {
    let goal = sections(description).remove("goal").unwrap_or_default();
    if goal.trim().is_empty() {
        title.trim().to_owned()
    } else {
        goal
    }
}

/// The description without its `## Execution` block.
fn without_execution(description: &str) -> String {
    let mut out = Vec::new();
    let mut skipping = false;
    for line in description.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            skipping = title.trim().eq_ignore_ascii_case("execution");
            if skipping {
                continue;
            }
        }
        if !skipping {
            out.push(line);
        }
    }
    out.join("\n").trim().to_owned()
}

const MODES: [&str; 4] = ["goal", "fix_pr", "test_campaign", "improve_campaign"];

/// Parse a task's text as the original's TaskParser does; errors are bad input (exit 2).
pub fn parse(task: &Task) -> Result<ParsedTask> {
    let sections = sections(&task.description);
    let execution = match sections.get("execution") {
        Some(text) => parse_execution(text)?,
        None => BTreeMap::new(),
    };
    let get = |key: &str| -> Result<Option<String>> {
        match execution.get(key) {
            None | Some(serde_norway::Value::Null) => Ok(None),
            Some(serde_norway::Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(serde_norway::Value::Number(n)) => Ok(Some(n.to_string())),
            Some(serde_norway::Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(execution_error(&format!("'{key}' must be a single value"))),
        }
    };
    let mode = match get("mode")?.filter(|m| !m.is_empty()).as_deref() {
        None => "goal".to_owned(),
        Some("test") => "test_campaign".to_owned(),
        Some("improve") => "improve_campaign".to_owned(),
        Some(m) if MODES.contains(&m) => m.to_owned(),
        Some(m) => {
            return Err(execution_error(&format!("unknown mode {m:?}"))
                .hint(format!("mode is one of {} (or test, improve)", MODES.join(", "))));
        }
    };
    let allowed_paths = match execution.get("allowed_paths") {
        None | Some(serde_norway::Value::Null) => Vec::new(),
        Some(serde_norway::Value::String(s)) => vec![s.trim().to_owned()],
        Some(serde_norway::Value::Sequence(items)) => items
            .iter()
            .map(|v| match v {
                serde_norway::Value::String(s) => Ok(s.trim().to_owned()),
                _ => Err(execution_error("allowed_paths must be a path or a list of paths")),
            })
            .collect::<Result<_>>()?,
        Some(_) => return Err(execution_error("allowed_paths must be a path or a list of paths")),
    };
    let open_pr = match execution.get("open_pr") {
        None | Some(serde_norway::Value::Null) => false,
        Some(serde_norway::Value::Bool(b)) => *b,
        Some(_) => return Err(execution_error("open_pr must be true or false")),
    };
    // Checked after the block's own fields, so that a malformed block is named first.
    let repo = match get("repo")?.filter(|r| !r.is_empty()) {
        Some(r) => r,
        None => task.label_value("repo").map(str::to_owned).ok_or_else(|| {
            Error::input("Missing '## Execution' section and no 'repo: <key>' label found on the task")
                .hint("add 'repo: <key>' under '## Execution', or label the task 'repo: <key>'")
        })?,
    };
    // An empty `## Goal` section is no goal: the original then took the rest of the
    // description, headings and all, as the goal.
    let goal = match sections.get("goal") {
        Some(g) => g.clone(),
        None => without_execution(&task.description),
    };
    if goal.trim().is_empty() {
        return Err(Error::input(
            "Missing goal text. Add a '## Goal' section or write the goal as the task description.",
        )
        .hint("edit the task's description, e.g. with git oc task add --edit"));
    }
    Ok(ParsedTask {
        task_id: task.id.clone(),
        title: task.title.clone(),
        goal,
        constraints: sections.get("constraints").filter(|c| !c.is_empty()).cloned(),
        execution: Execution {
            repo,
            base_branch: get("base_branch")?.filter(|b| !b.is_empty()),
            mode,
            allowed_paths,
            open_pr,
            validation_profile: get("validation_profile")?.filter(|v| !v.is_empty()),
            spec_campaign_id: get("spec_campaign_id")?,
            spec_file: get("spec_file")?,
            task_phase: get("task_phase")?,
            spec_coverage_hint: get("spec_coverage_hint")?,
        },
    })
}

fn execution_error(why: &str) -> Error {
    Error::input(format!("malformed '## Execution' section: {why}"))
        .hint("write it as a YAML mapping: repo, base_branch, mode, allowed_paths, open_pr, validation_profile")
}

/// The `## Execution` block as a YAML mapping (a fenced block is read as its content).
fn parse_execution(text: &str) -> Result<BTreeMap<String, serde_norway::Value>> {
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("```"))
        .collect::<Vec<_>>()
        .join("\n");
    if body.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let value: serde_norway::Value =
        serde_norway::from_str(&body).map_err(|e| execution_error("it is not valid YAML").caused_by(e.to_string()))?;
    match value {
        serde_norway::Value::Null => Ok(BTreeMap::new()),
        serde_norway::Value::Mapping(map) => map
            .into_iter()
            .map(|(k, v)| match k {
                serde_norway::Value::String(k) => Ok((k, v)),
                _ => Err(execution_error("its keys must be names")),
            })
            .collect(),
        _ => Err(execution_error("it must be a YAML mapping of keys to values")),
    }
}

/// Check the text of a new or edited task, as far as it goes: a `## Execution` block, when there
/// is one, must parse. (A task without one is fine: the board worker needs only the goal.)
pub fn check_text(task: &Task) -> Result<()> {
    if sections(&task.description).contains_key("execution") {
        match parse(task) {
            Ok(_) => {}
            // The repository may come later, as a label: only a malformed block is refused.
            Err(e) if e.message.starts_with("Missing") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The template `git oc task add --edit` opens (the original's
/// `config/plane_task_template.example.md`), the title on the first line.
pub fn template(title: &str, repo: &str, base_branch: &str) -> String {
    format!(
        "{title}\n\
         \n\
         ## Execution\n\
         repo: {repo}\n\
         base_branch: {base_branch}\n\
         mode: goal\n\
         allowed_paths:\n  - src/\n\
         \n\
         ## Goal\n\
         \n\
         \n\
         ## Constraints\n\
         \n\
         \n\
         # The first line is the title; the rest is the task's description. Lines starting\n\
         # with '# ' are dropped. An empty title aborts.\n"
    )
}

/// Title and description from an edited template: `# ` comment lines dropped, the first
/// non-empty line the title, the rest the description.
pub fn from_edited(text: &str) -> Result<(String, String)> {
    let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("# ") && *l != "#").collect();
    let mut lines = kept.into_iter().skip_while(|l| l.trim().is_empty());
    let title = lines.next().unwrap_or("").trim().to_owned();
    if title.is_empty() {
        return Err(Error::input("aborting: the edited task has no title")
            .hint("write the title on the first line; nothing was added"));
    }
    let description = lines.collect::<Vec<_>>().join("\n").trim().to_owned();
    Ok((title, description))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(description: &str, labels: &[&str]) -> Task {
        let t = Timestamp::from_micros(0);
        Task {
            id: "abc".into(),
            title: "The title".into(),
            state: "Backlog".into(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            description: description.into(),
            created_at: t,
            created_by: "x".into(),
            updated_at: t,
            edited_at: t,
            state_changed_at: t,
            comments: Vec::new(),
        }
    }

    #[test]
    fn the_original_task_text_is_parsed() {
        let text = "## Execution\nrepo: svc\nbase_branch: main\nmode: test\nallowed_paths:\n  - src/\n  - tests/\nopen_pr: true\n\n## Goal\nFix the parser.\n\n## Constraints\nNo new deps.\n";
        let p = parse(&task(text, &[])).unwrap();
        assert_eq!(p.goal, "Fix the parser.");
        assert_eq!(p.constraints.as_deref(), Some("No new deps."));
        assert_eq!(p.execution.repo, "svc");
        assert_eq!(p.execution.mode, "test_campaign");
        assert_eq!(p.execution.allowed_paths, ["src/", "tests/"]);
        assert!(p.execution.open_pr);
        assert_eq!(p.execution.base_branch.as_deref(), Some("main"));

        // No Goal section: the description minus the Execution block; repo from the label.
        let p = parse(&task(
            "Do the thing.\n## Execution\nallowed_paths: src/\n",
            &["repo: api"],
        ))
        .unwrap();
        assert_eq!((p.goal.as_str(), p.execution.repo.as_str()), ("Do the thing.", "api"));
        assert_eq!(p.execution.allowed_paths, ["src/"]);

        let e = parse(&task("## Goal\nx\n", &[])).unwrap_err();
        assert!(e.message.starts_with("Missing '## Execution' section"));
        let e = parse(&task("## Execution\nrepo: svc\n", &[])).unwrap_err();
        assert!(e.message.starts_with("Missing goal text."));
        let e = parse(&task("## Execution\nrepo: [svc\n## Goal\nx", &[])).unwrap_err();
        assert!(e.message.starts_with("malformed '## Execution'"), "{}", e.message);
        let e = parse(&task("## Execution\nrepo: svc\nmode: bake\n## Goal\nx", &[])).unwrap_err();
        assert!(e.message.contains("unknown mode"));
        assert_eq!(worker_goal("T", "## Goal\n\n## Other\n"), "T");
    }

    #[test]
    fn labels_follow_the_conventions() {
        assert_eq!(check_label(" repo:svc ").unwrap(), "repo: svc");
        assert_eq!(check_label("review_required").unwrap(), "review_required");
        assert!(check_label("repo:").is_err());
        assert!(check_label("task-kind: bake").is_err());
        assert!(check_label("retry-count: x").is_err());
        assert!(check_label("a\nb").is_err());
        assert!(check_label(": x").is_err());
    }

    #[test]
    fn messages_carry_the_summary() {
        let mut t = task("d", &["b", "a: x"]);
        t.normalize();
        let m = event_message(
            &t,
            &Event::Moved {
                from: "Backlog".into(),
                to: "Done".into(),
            },
        );
        assert_eq!(parse_message(&m).unwrap(), t.summary());
        assert!(m.starts_with("task abc: moved: Backlog -> Done\n"));
    }

    #[test]
    fn the_template_round_trips() {
        let (title, description) = from_edited(&template("Fix it", "svc", "main")).unwrap();
        assert_eq!(title, "Fix it");
        let p = parse(&task(&description, &[])).unwrap_err();
        assert!(p.message.starts_with("Missing goal text"), "{}", p.message);
        assert!(from_edited("# only a comment\n\n").is_err());
    }
}
