//! The note block a run leaves on its commit in `refs/notes/oc`:
//!
//! ```text
//! SUCCEEDED | demo_stub @ aider_local | run=1b11d569
//! Oc-Run: 1b11d569-6fc4-4e6d-a361-f1c7345bbee8
//! Oc-Status: succeeded
//! Oc-Policy: allow
//! Oc-Diff: 1 file changed, 6 insertions(+)
//! Oc-Evidence: refs/oc/runs/1b11d569-6fc4-4e6d-a361-f1c7345bbee8
//! ```
//!
//! Blocks are separated by one blank line; a note holds one block per run on that commit.

use super::message::{REJECTED_BY, single_line, trailer};

/// What a run's note block says.
pub struct RunNote<'a> {
    pub headline: &'a str,
    pub run_id: &'a str,
    pub status: &'a str,
    /// Written only when it says more than the status (not a plain `executed`).
    pub outcome: Option<&'a str>,
    pub policy: &'a str,
    pub diff: Option<&'a str>,
    pub evidence_ref: &'a str,
    pub rejected: bool,
}

impl RunNote<'_> {
    pub fn block(&self) -> NoteBlock {
        let mut trailers = vec![
            (trailer::RUN.to_owned(), self.run_id.to_owned()),
            (trailer::STATUS.to_owned(), self.status.to_owned()),
        ];
        if let Some(outcome) = self.outcome {
            trailers.push((trailer::OUTCOME.to_owned(), outcome.to_owned()));
        }
        trailers.extend([
            (trailer::POLICY.to_owned(), self.policy.to_owned()),
            (trailer::DIFF.to_owned(), self.diff.unwrap_or("none").to_owned()),
            (trailer::EVIDENCE.to_owned(), self.evidence_ref.to_owned()),
        ]);
        if self.rejected {
            trailers.push((trailer::REJECTED.to_owned(), REJECTED_BY.to_owned()));
        }
        NoteBlock {
            headline: self.headline.to_owned(),
            trailers,
        }
    }
}

/// A parsed block: its headline and its `Key: value` trailer lines, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteBlock {
    pub headline: String,
    pub trailers: Vec<(String, String)>,
}

impl NoteBlock {
    pub fn trailer(&self, key: &str) -> Option<&str> {
        self.trailers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn run_id(&self) -> Option<&str> {
        self.trailer(trailer::RUN)
    }

    pub fn render(&self) -> String {
        let mut out = single_line(&self.headline);
        out.push('\n');
        for (k, v) in &self.trailers {
            out.push_str(&format!("{k}: {}\n", single_line(v)));
        }
        out
    }
}

/// Split a note into blocks. Lines that are neither a headline nor a trailer are kept as part of
/// the headline's block so that nothing is lost; empty input gives no blocks.
pub fn parse_blocks(text: &str) -> Vec<NoteBlock> {
    let mut blocks = Vec::new();
    for chunk in text.split("\n\n") {
        let mut lines = chunk.lines().filter(|l| !l.trim().is_empty());
        let Some(headline) = lines.next() else { continue };
        let mut block = NoteBlock {
            headline: headline.to_owned(),
            trailers: Vec::new(),
        };
        for line in lines {
            match line.split_once(": ") {
                Some((k, v)) if !k.is_empty() && !k.contains(' ') => block.trailers.push((k.to_owned(), v.to_owned())),
                _ => block.trailers.push((String::new(), line.to_owned())),
            }
        }
        blocks.push(block);
    }
    blocks
}

/// `existing` with `block` appended, or `None` when a block for the same run is already there.
pub fn append_block(existing: &str, block: &str) -> Option<String> {
    let new_blocks = parse_blocks(block);
    let have = parse_blocks(existing);
    if let Some(run) = new_blocks.first().and_then(NoteBlock::run_id)
        && have.iter().any(|b| b.run_id() == Some(run))
    {
        return None;
    }
    let mut out = existing.trim_end_matches('\n').to_owned();
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(block.trim_end_matches('\n'));
    out.push('\n');
    Some(out)
}

/// `existing` without `block` (every copy of it), the other blocks kept byte for byte; `None`
/// when it does not hold the block.
pub fn remove_block(existing: &str, block: &NoteBlock) -> Option<String> {
    let chunks: Vec<&str> = existing.trim_end_matches('\n').split("\n\n").collect();
    let kept: Vec<&str> = chunks
        .iter()
        .copied()
        .filter(|chunk| parse_blocks(chunk).as_slice() != std::slice::from_ref(block))
        .collect();
    if kept.len() == chunks.len() {
        return None;
    }
    let text = kept.join("\n\n");
    Some(if text.trim().is_empty() {
        String::new()
    } else {
        format!("{text}\n")
    })
}

/// `existing` without the blocks of run `run_id`; `None` when it has none.
pub fn remove_run(existing: &str, run_id: &str) -> Option<String> {
    let mut text = existing.to_owned();
    let mut changed = false;
    for block in parse_blocks(existing).iter().filter(|b| b.run_id() == Some(run_id)) {
        if let Some(next) = remove_block(&text, block) {
            text = next;
            changed = true;
        }
    }
    changed.then_some(text)
}

/// Merge two notes on the same commit: every block of both, each run once, `ours` first.
pub fn merge_notes(ours: &str, theirs: &str) -> String {
    let mut merged = ours.to_owned();
    for block in parse_blocks(theirs) {
        let rendered = if block.trailers.iter().any(|(k, _)| k.is_empty()) {
            // A block git-oc did not write: keep its text as it was.
            let mut s = block.headline.clone();
            s.push('\n');
            for (k, v) in &block.trailers {
                if k.is_empty() {
                    s.push_str(v);
                } else {
                    s.push_str(&format!("{k}: {v}"));
                }
                s.push('\n');
            }
            s
        } else {
            block.render()
        };
        if block.run_id().is_none() && parse_blocks(&merged).contains(&block) {
            continue;
        }
        if let Some(next) = append_block(&merged, &rendered) {
            merged = next;
        } else if let Some(run) = block.run_id() {
            // Both sides have the run's block: keep ours, plus what only theirs says (a pull
            // request recorded on the other clone, say).
            for (key, value) in block.trailers.iter().filter(|(k, _)| !k.is_empty()) {
                let ours = parse_blocks(&merged)
                    .into_iter()
                    .find(|b| b.run_id() == Some(run))
                    .is_some_and(|b| b.trailer(key).is_some());
                if !ours && let Some(next) = set_trailer(&merged, run, key, value) {
                    merged = next;
                }
            }
        }
    }
    merged
}

/// `existing` with the block of run `run_id` saying `key: value` (replacing what it said for
/// `key` before), or `None` when the note has no block for the run or it says so already. The
/// other blocks are kept byte for byte.
pub fn set_trailer(existing: &str, run_id: &str, key: &str, value: &str) -> Option<String> {
    let prefix = format!("{key}: ");
    let line = format!("{key}: {}", single_line(value));
    let mut changed = false;
    let chunks: Vec<String> = existing
        .trim_end_matches('\n')
        .split("\n\n")
        .map(|chunk| {
            let blocks = parse_blocks(chunk);
            match blocks.as_slice() {
                [b] if b.run_id() == Some(run_id) && b.trailer(key) != Some(value) => {
                    changed = true;
                    let mut lines: Vec<&str> = chunk.lines().filter(|l| !l.starts_with(&prefix)).collect();
                    while lines.last().is_some_and(|l| l.trim().is_empty()) {
                        lines.pop();
                    }
                    lines.push(&line);
                    lines.join("\n")
                }
                _ => chunk.to_owned(),
            }
        })
        .collect();
    changed.then(|| format!("{}\n", chunks.join("\n\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(run: &str) -> String {
        NoteBlock {
            headline: format!("SUCCEEDED | demo_stub @ aider_local | run={}", &run[..8]),
            trailers: vec![("Oc-Run".into(), run.into()), ("Oc-Status".into(), "succeeded".into())],
        }
        .render()
    }

    #[test]
    fn blocks_append_and_parse_back() {
        let a = block("aaaaaaaa-1");
        let b = block("bbbbbbbb-2");
        let note = append_block("", &a).unwrap();
        let note = append_block(&note, &b).unwrap();
        assert_eq!(note, format!("{a}\n{b}"));
        let parsed = parse_blocks(&note);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].run_id(), Some("bbbbbbbb-2"));
        assert_eq!(append_block(&note, &a), None, "a run's block is never added twice");
    }

    #[test]
    fn merge_keeps_every_run_once() {
        let base = block("aaaaaaaa-1");
        let ours = append_block(&base, &block("bbbbbbbb-2")).unwrap();
        let theirs = append_block(&base, &block("cccccccc-3")).unwrap();
        let merged = merge_notes(&ours, &theirs);
        let runs: Vec<_> = parse_blocks(&merged)
            .iter()
            .filter_map(|b| b.run_id().map(str::to_owned))
            .collect();
        assert_eq!(runs, ["aaaaaaaa-1", "bbbbbbbb-2", "cccccccc-3"]);
        assert_eq!(merge_notes(&merged, &ours), merged);
    }

    #[test]
    fn a_later_event_sets_a_line_in_its_run_block_only() {
        let a = block("aaaaaaaa-1");
        let b = block("bbbbbbbb-2");
        let note = append_block(&append_block("", &a).unwrap(), &b).unwrap();
        let url = "https://github.com/o/r/pull/3";
        let with_pr = set_trailer(&note, "aaaaaaaa-1", "Oc-PR", url).unwrap();
        let blocks = parse_blocks(&with_pr);
        assert_eq!(blocks[0].trailer("Oc-PR"), Some(url));
        assert_eq!(blocks[1].render(), b, "the other block is untouched");
        assert_eq!(set_trailer(&with_pr, "aaaaaaaa-1", "Oc-PR", url), None, "said already");
        assert_eq!(set_trailer(&with_pr, "cccccccc-3", "Oc-PR", url), None, "no such run");
        let updated = set_trailer(&with_pr, "aaaaaaaa-1", "Oc-PR", "https://github.com/o/r/pull/4").unwrap();
        assert_eq!(updated.matches("Oc-PR: ").count(), 1);
        // Notes merged from a clone that recorded the pull request keep it.
        assert_eq!(merge_notes(&note, &with_pr), with_pr);
        assert_eq!(merge_notes(&with_pr, &note), with_pr);
    }

    #[test]
    fn values_stay_on_one_line() {
        let b = NoteBlock {
            headline: "H".into(),
            trailers: vec![("Oc-Diff".into(), "a\nb".into())],
        };
        assert_eq!(b.render(), "H\nOc-Diff: a b\n");
    }
}
