//! The backlog signal: the open items of the `## Next` section of the repository's backlog file
//! (the original read `.console/backlog.md`; here also `BACKLOG.md`, `docs/backlog.md`, or the
//! file `[autonomy] backlog_file` names). An item is a list entry, `- [ ]` checkboxes included
//! and `- [x]` ones skipped; a leading `[type]` tag gives its type (`[arch]` items are
//! architecture work, proposed by their own family).

use std::path::Path;

use serde::{Deserialize, Serialize};

pub const FILES: [&str; 4] = [".console/backlog.md", "BACKLOG.md", "docs/backlog.md", "backlog.md"];
/// Items read at most: the top of a backlog is what matters.
const MAX_ITEMS: usize = 20;
const MAX_BYTES: u64 = 1 << 20;

/// `available` (a backlog file was read) or `unavailable`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BacklogSignal {
    pub status: String,
    pub file: Option<String>,
    pub items: Vec<BacklogItem>,
    pub detail: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BacklogItem {
    pub title: String,
    /// From a leading `[type]` tag, lower-cased; `task` without one.
    pub item_type: String,
    /// 1-based line in the file.
    pub line: usize,
}

impl BacklogItem {
    pub fn is_arch(&self) -> bool {
        matches!(self.item_type.as_str(), "arch" | "architecture")
    }
}

pub fn collect(workdir: &Path, configured: Option<&str>) -> Result<BacklogSignal, String> {
    let rel = match configured {
        Some(c) => c.to_owned(),
        None => match FILES.iter().find(|f| workdir.join(f).is_file()) {
            Some(f) => (*f).to_owned(),
            None => {
                return Ok(BacklogSignal {
                    status: "unavailable".into(),
                    detail: Some(format!("no backlog file ({})", FILES.join(", "))),
                    ..BacklogSignal::default()
                });
            }
        },
    };
    let path = workdir.join(&rel);
    let meta = std::fs::metadata(&path).map_err(|e| format!("could not read the backlog file {rel}: {e}"))?;
    if meta.len() > MAX_BYTES {
        return Err(format!("the backlog file {rel} is larger than 1 MiB"));
    }
    let text = crate::config::read::read_plain_text(&path, MAX_BYTES)
        .ok_or_else(|| format!("could not read the backlog file {rel}: not a regular UTF-8 file of at most 1 MiB"))?;
    let items = next_items(&text);
    Ok(BacklogSignal {
        status: "available".into(),
        detail: items.is_none().then(|| "no `## Next` section".to_owned()),
        items: items.unwrap_or_default(),
        file: Some(rel),
    })
}

/// The open items of the `## Next` section (any heading level from 2), `None` without one.
pub fn next_items(text: &str) -> Option<Vec<BacklogItem>> {
    let mut items = Vec::new();
    let mut level = None;
    for (n, line) in text.lines().enumerate() {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if hashes > 0 && line[hashes..].starts_with(' ') {
            let heading = line[hashes..].trim();
            match level {
                Some(l) if hashes <= l => break,
                None if hashes >= 2 && heading.eq_ignore_ascii_case("next") => level = Some(hashes),
                _ => {}
            }
            continue;
        }
        if level.is_none() {
            continue;
        }
        // Top-level list entries only: nested ones are details of the item above.
        let Some(entry) = ["- ", "* ", "+ "].iter().find_map(|m| line.strip_prefix(m)) else {
            continue;
        };
        let mut entry = entry.trim();
        if let Some(rest) = entry.strip_prefix("[ ]") {
            entry = rest.trim_start();
        } else if entry.starts_with("[x]") || entry.starts_with("[X]") {
            continue;
        }
        let mut item_type = "task".to_owned();
        if let Some(rest) = entry.strip_prefix('[')
            && let Some((tag, title)) = rest.split_once(']')
            && !tag.is_empty()
            && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            item_type = tag.to_ascii_lowercase();
            entry = title.trim();
        }
        if entry.is_empty() {
            continue;
        }
        items.push(BacklogItem {
            title: entry.to_owned(),
            item_type,
            line: n + 1,
        });
        if items.len() >= MAX_ITEMS {
            break;
        }
    }
    level.map(|_| items)
}

/// A short stable subject for a title: lower-case words joined by `-`.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for word in title.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if out.len() + word.len() > 60 {
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&word.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_open_items_of_the_next_section_count() {
        let text = "# Backlog\n\n## Done\n- old\n\n## Next\n- [ ] Add retries\n  - detail\n- [x] Shipped\n* [arch] Split the config module\n- [perf] Faster diff\n\n### Notes\nnot an item\n\n## Later\n- later item\n";
        let items = next_items(text).unwrap();
        let got: Vec<(&str, &str)> = items.iter().map(|i| (i.title.as_str(), i.item_type.as_str())).collect();
        assert_eq!(
            got,
            [
                ("Add retries", "task"),
                ("Split the config module", "arch"),
                ("Faster diff", "perf")
            ]
        );
        assert_eq!(items[0].line, 7);
        assert!(items[1].is_arch());
        assert_eq!(next_items("# x\n- a\n"), None);
        assert_eq!(slug("Split the `config` module!"), "split-the-config-module");
    }
}
