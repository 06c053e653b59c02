//! The tasks a lane creates from another task's outcome (reference-fullstack §3.4): a follow-up
//! goal task for a failed verification, goal tasks from an improve run's suggestions, and the
//! split of a task whose scope was too wide into focused tasks. Builders only; `execute.rs`
//! creates them on the board.

use std::collections::BTreeMap;

use crate::board::{NewTask, StateKind, States, Task};

/// A follow-up is refused when the parent's `retry-count` is at least this.
pub const MAX_FOLLOW_UP_RETRIES: u32 = 3;
/// A scope split is refused when the parent's `retry-count` is at least this.
pub const MAX_SPLIT_RETRIES: u32 = 2;
/// Files per split task, and split tasks at most.
pub const SPLIT_CHUNK_FILES: usize = 15;
pub const SPLIT_MAX_CHUNKS: usize = 6;
/// Suggestions an improve run may turn into tasks, and files each may name.
pub const MAX_SUGGESTIONS: usize = 5;
const MAX_SUGGESTION_FILES: usize = 10;
const MAX_TITLE_CHARS: usize = 80;

pub fn retry_count(task: &Task) -> u32 {
    task.label_value("retry-count")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn title(text: &str) -> String {
    let t = text.replace(['\n', '\r'], " ");
    crate::contracts::prefix_chars(t.trim(), MAX_TITLE_CHARS).to_owned()
}

/// The parent's `source:` labels a child inherits (`source: board_worker` is added anew).
fn inherited_sources(parent: &Task) -> Vec<String> {
    parent
        .labels
        .iter()
        .filter(|l| {
            l.split_once(':').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("source") && !v.trim().eq_ignore_ascii_case("board_worker")
            })
        })
        .cloned()
        .collect()
}

fn child_labels(parent: &Task, repo: &str, kind: &str, extra: &[String]) -> Vec<String> {
    let mut labels = vec![
        format!("task-kind: {kind}"),
        format!("repo: {repo}"),
        "source: board_worker".to_owned(),
    ];
    labels.extend(extra.iter().cloned());
    labels.extend(inherited_sources(parent));
    labels.push(format!("original-task-id: {}", parent.id));
    labels.sort();
    labels.dedup();
    labels
}

/// The follow-up `kind` task for a parent that ended with `reason`; `None` when the parent has
/// been retried too often.
pub fn follow_up(
    parent: &Task,
    repo: &str,
    kind: &str,
    reason: &str,
    base_branch: Option<&str>,
    states: &States,
) -> Option<NewTask> {
    let retries = retry_count(parent);
    if retries >= MAX_FOLLOW_UP_RETRIES {
        return None;
    }
    let mut description = format!(
        "## Goal\n{} — {}\n\n## Execution\nrepo: {repo}\nmode: {kind}\n",
        parent.title,
        reason.replace('_', " ")
    );
    if let Some(b) = base_branch {
        description.push_str(&format!("base_branch: {b}\n"));
    }
    let extra = [
        format!("handoff-reason: {reason}"),
        format!("retry-count: {}", retries + 1),
    ];
    Some(NewTask {
        title: title(&format!("[{kind}] {}", parent.title)),
        description,
        state: Some(states.name(StateKind::Ready).to_owned()),
        labels: child_labels(parent, repo, kind, &extra),
    })
}

/// One suggestion of `improve-output.json`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Suggestion {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub rationale: String,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub complexity: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct ImproveOutput {
    #[serde(default)]
    suggestions: Vec<serde_json::Value>,
}

/// The suggestions of an `improve-output.json` (at most five, each with a title); malformed
/// entries are skipped, a malformed file gives none.
pub fn parse_suggestions(bytes: &[u8]) -> Vec<Suggestion> {
    let Ok(out) = serde_json::from_slice::<ImproveOutput>(bytes) else {
        return Vec::new();
    };
    out.suggestions
        .into_iter()
        .filter_map(|v| serde_json::from_value::<Suggestion>(v).ok())
        .filter(|s| !s.title.trim().is_empty())
        .take(MAX_SUGGESTIONS)
        .collect()
}

/// The goal task for one improve suggestion.
pub fn suggestion_task(parent: &Task, repo: &str, s: &Suggestion, states: &States) -> NewTask {
    let mut description = format!(
        "## Goal\n{}\n\n## Rationale\n{}\n\n## Execution\nrepo: {repo}\nmode: goal\n",
        s.title.trim(),
        s.rationale.trim()
    );
    let files: Vec<&String> = s
        .files
        .iter()
        .filter(|f| !f.trim().is_empty())
        .take(MAX_SUGGESTION_FILES)
        .collect();
    if !files.is_empty() {
        description.push_str("allowed_paths:\n");
        for f in files {
            description.push_str(&format!("  - {}\n", yaml_scalar(f.trim())));
        }
    }
    let mut extra = vec![
        "source: improve-suggestion".to_owned(),
        "handoff-reason: improve_suggestion".to_owned(),
    ];
    if let Some(c) = s
        .complexity
        .as_deref()
        .filter(|c| ["small", "medium", "large"].contains(c))
    {
        extra.push(format!("complexity: {c}"));
    }
    NewTask {
        title: title(&s.title),
        description,
        state: Some(states.name(StateKind::Ready).to_owned()),
        labels: child_labels(parent, repo, "goal", &extra),
    }
}

/// A path as a YAML scalar, quoted when plain would not read back as the same string.
fn yaml_scalar(s: &str) -> String {
    let plain = s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+@~".contains(c))
        && !s.starts_with(['-', '~', '@'])
        && !s.is_empty();
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// The files of a too-wide task in chunks: grouped by top-level directory, at most
/// [`SPLIT_CHUNK_FILES`] a chunk, and at most [`SPLIT_MAX_CHUNKS`] chunks (the smallest merged).
pub fn chunks(files: &[String]) -> Vec<Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for f in files {
        let f = f.trim().trim_start_matches("./").to_owned();
        if f.is_empty() || !seen.insert(f.clone()) {
            continue;
        }
        let top = f.split_once('/').map_or(".", |(t, _)| t).to_owned();
        groups.entry(top).or_default().push(f);
    }
    let mut out: Vec<Vec<String>> = Vec::new();
    for (_, files) in groups {
        for c in files.chunks(SPLIT_CHUNK_FILES) {
            out.push(c.to_vec());
        }
    }
    while out.len() > SPLIT_MAX_CHUNKS {
        // Merge the two smallest (the later of equals, to keep the order stable).
        out.sort_by_key(|c| c.len());
        let a = out.remove(0);
        out[0].extend(a);
        out[0].sort();
    }
    out.sort();
    out
}

/// The split tasks of a too-wide parent; empty when it was split too often already.
pub fn split_tasks(parent: &Task, repo: &str, files: &[String], states: &States) -> Vec<NewTask> {
    let retries = retry_count(parent);
    if retries >= MAX_SPLIT_RETRIES {
        return Vec::new();
    }
    let parts = chunks(files);
    let n = parts.len();
    parts
        .iter()
        .enumerate()
        .map(|(i, files)| {
            let mut description = format!(
                "## Goal\n{}\n\nThis is split {} of {n} of a task whose scope was too wide. Restrict changes to the listed files.\n\n## Execution\nrepo: {repo}\nmode: goal\nallowed_paths:\n",
                parent.title,
                i + 1
            );
            for f in files {
                description.push_str(&format!("  - {}\n", yaml_scalar(f)));
            }
            let extra = [
                "source: scope-split".to_owned(),
                "handoff-reason: scope_too_wide_split".to_owned(),
                format!("retry-count: {}", retries + 1),
            ];
            NewTask {
                title: title(&format!("[split {}/{n}] {}", i + 1, parent.title)),
                description,
                state: Some(states.name(StateKind::Ready).to_owned()),
                labels: child_labels(parent, repo, "goal", &extra),
            }
        })
        .collect()
}

/// The file list of a `scope-too-wide.json`: a list of paths, or an object with `files`.
pub fn parse_scope_files(bytes: &[u8]) -> Option<Vec<String>> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let list = v.as_array().or_else(|| v.get("files").and_then(|f| f.as_array()))?;
    let files: Vec<String> = list
        .iter()
        .filter_map(|f| f.as_str().map(str::to_owned))
        .filter(|f| !f.trim().is_empty())
        .collect();
    (!files.is_empty()).then_some(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(n: usize, dir: &str) -> Vec<String> {
        (0..n).map(|i| format!("{dir}/f{i:02}.rs")).collect()
    }

    #[test]
    fn chunks_group_by_directory_fifteen_files_and_six_chunks_at_most() {
        let mut all = files(20, "src");
        all.extend(files(3, "tests"));
        all.push("README.md".into());
        let c = chunks(&all);
        assert_eq!(c.iter().map(Vec::len).sum::<usize>(), 24);
        assert!(c.iter().all(|c| c.len() <= SPLIT_CHUNK_FILES));
        assert_eq!(c.len(), 4, "src splits in two, tests and the top level one each");
        let many: Vec<String> = (0..10).flat_map(|d| files(2, &format!("d{d}"))).collect();
        let c = chunks(&many);
        assert_eq!(c.len(), SPLIT_MAX_CHUNKS);
        assert_eq!(c.iter().map(Vec::len).sum::<usize>(), 20);
    }

    #[test]
    fn suggestions_are_bounded_and_need_a_title() {
        let text = br#"{"summary":"s","suggestions":[{"title":"A"},{"rationale":"no title"},{"title":"B"},{"title":"C"},{"title":"D"},{"title":"E"},{"title":"F"}]}"#;
        let s = parse_suggestions(text);
        assert_eq!(
            s.iter().map(|s| s.title.as_str()).collect::<Vec<_>>(),
            ["A", "B", "C", "D", "E"]
        );
        assert!(parse_suggestions(b"not json").is_empty());
        assert_eq!(parse_scope_files(br#"{"files":["a","b"]}"#).unwrap(), ["a", "b"]);
        assert!(parse_scope_files(b"[]").is_none());
        assert_eq!(yaml_scalar("src/a.rs"), "src/a.rs");
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
    }
}
