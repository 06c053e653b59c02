//! git's rename and copy detection (diffcore-rename.c, as `git diff` runs it), on top of any
//! object access.
//!
//! In git's order: exact renames first (same blob; a source with the same file name wins, each
//! source used once), then sources and destinations whose file name is unique on both sides
//! (75% similarity needed), then, within `diff.renameLimit`, every remaining pair is scored by
//! [`SpanHash`] similarity, the four best sources per destination are kept, and all of them
//! are paired globally from the best score down, each file used once.

use std::cmp::Ordering;
use std::collections::HashMap;

use gix::object::tree::EntryKind;

use super::delta::SpanHash;
use crate::error::Result;

/// git's `MAX_SCORE`: 100% similarity.
pub const MAX_SCORE: u16 = 60_000;
/// git's default minimum similarity for a rename or copy (50%).
const MIN_SCORE: u16 = 30_000;
/// Identical sources looked at per destination before git settles for one.
const EXACT_CANDIDATES: usize = 100;
/// Candidate sources kept per destination in the similarity matrix.
const CANDIDATES_PER_DST: usize = 4;

/// `diff.renames`: off, renames (git's default), or renames and copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detect {
    Off,
    Renames,
    Copies,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub detect: Detect,
    /// `diff.renameLimit`: at most `limit²` source × destination pairs are scored; `<= 0` is
    /// unlimited.
    pub limit: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            detect: Detect::Renames,
            limit: 1000,
        }
    }
}

/// A file on one side of a rename.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub path: &'a [u8],
    pub id: gix::ObjectId,
    pub kind: EntryKind,
}

/// A rename or copy source: a deleted file, or (copies only) the old side of a modified file,
/// which `stays`.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    pub entry: Entry<'a>,
    pub stays: bool,
}

/// Sizes and chunk hashes of blobs, loaded only when a pair needs them.
pub trait Content {
    fn size(&mut self, entry: &Entry<'_>) -> Result<u64>;
    fn spans(&mut self, entry: &Entry<'_>) -> Result<SpanHash>;
}

/// How a destination was paired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pairing {
    pub src: usize,
    pub score: u16,
    /// git calls it a copy: the source stays, or a later destination takes the rename.
    pub copy: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Per destination, in the order given.
    pub dst: Vec<Option<Pairing>>,
    /// Per source: a deletion that became a rename, and so disappears from the diff.
    pub src_gone: Vec<bool>,
}

/// Pair `dests` (added files, in git's output order, i.e. by path) with `sources`.
pub fn detect(
    sources: &[Source<'_>],
    dests: &[Entry<'_>],
    opts: Options,
    content: &mut impl Content,
) -> Result<Outcome> {
    let mut state = State {
        sources,
        dests,
        used: sources.iter().map(|s| u32::from(s.stays)).collect(),
        matched: vec![None; dests.len()],
        src_cache: vec![Cached::default(); sources.len()],
        dst_cache: vec![Cached::default(); dests.len()],
        content,
    };
    if opts.detect != Detect::Off && !sources.is_empty() && !dests.is_empty() {
        state.run(opts)?;
    }
    // Status, as diff_resolve_rename_copy: every use of a source but the last (in output
    // order) is a copy.
    let mut left = state.used.clone();
    let dst = state
        .matched
        .iter()
        .map(|m| {
            m.map(|(src, score)| {
                left[src] -= 1;
                Pairing {
                    src,
                    score,
                    copy: left[src] > 0,
                }
            })
        })
        .collect();
    let src_gone = sources
        .iter()
        .zip(&state.used)
        .map(|(s, &used)| !s.stays && used > 0)
        .collect();
    Ok(Outcome { dst, src_gone })
}

#[derive(Clone, Default)]
struct Cached {
    size: Option<u64>,
    spans: Option<SpanHash>,
}

struct State<'s, 'a, C> {
    sources: &'s [Source<'a>],
    dests: &'s [Entry<'a>],
    /// git's `rename_used`.
    used: Vec<u32>,
    matched: Vec<Option<(usize, u16)>>,
    src_cache: Vec<Cached>,
    dst_cache: Vec<Cached>,
    content: &'s mut C,
}

#[derive(Clone, Copy, Debug)]
struct Candidate {
    src: usize,
    /// `None`: an empty slot, sorted last.
    dst: Option<usize>,
    score: u16,
    name_score: u8,
}

const EMPTY: Candidate = Candidate {
    src: 0,
    dst: None,
    score: 0,
    name_score: 0,
};

/// git's `score_compare`: best first, same basename breaking ties, empty slots last.
fn rank(a: &Candidate, b: &Candidate) -> Ordering {
    match (a.dst, b.dst) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        _ if a.score == b.score => b.name_score.cmp(&a.name_score),
        _ => b.score.cmp(&a.score),
    }
}

impl<C: Content> State<'_, '_, C> {
    fn run(&mut self, opts: Options) -> Result<()> {
        let copies = opts.detect == Detect::Copies;
        self.exact(copies);
        let mut remaining: Vec<usize> = (0..self.sources.len()).collect();
        if !copies {
            remaining.retain(|&s| self.used[s] == 0);
            // Halfway between the minimum and a perfect match (GIT_BASENAME_FACTOR is 50).
            let min = MIN_SCORE + (MAX_SCORE - MIN_SCORE) / 2;
            self.same_basename(&remaining, min)?;
            remaining.retain(|&s| self.used[s] == 0);
        }
        let open: Vec<usize> = (0..self.dests.len()).filter(|&d| self.matched[d].is_none()).collect();
        if open.is_empty() || remaining.is_empty() {
            return Ok(());
        }
        if opts.limit > 0 {
            let limit = opts.limit as u128;
            if open.len() as u128 * remaining.len() as u128 > limit * limit {
                return Ok(());
            }
        }
        let mut matrix = Vec::with_capacity(open.len() * CANDIDATES_PER_DST);
        for &d in &open {
            let mut best = [EMPTY; CANDIDATES_PER_DST];
            for &s in &remaining {
                let candidate = Candidate {
                    src: s,
                    dst: Some(d),
                    score: self.estimate(s, d, MIN_SCORE)?,
                    name_score: u8::from(basename_same(self.sources[s].entry.path, self.dests[d].path)),
                };
                let mut worst = 0;
                for i in 1..CANDIDATES_PER_DST {
                    if rank(&best[i], &best[worst]) == Ordering::Greater {
                        worst = i;
                    }
                }
                if rank(&best[worst], &candidate) == Ordering::Greater {
                    best[worst] = candidate;
                }
            }
            matrix.extend(best);
        }
        // Stable, as git's STABLE_QSORT.
        matrix.sort_by(rank);
        self.take_best(&matrix, false);
        if copies {
            self.take_best(&matrix, true);
        }
        Ok(())
    }

    fn record(&mut self, dst: usize, src: usize, score: u16) {
        self.used[src] += 1;
        self.matched[dst] = Some((src, score));
    }

    /// find_exact_renames: the same blob on both sides.
    fn exact(&mut self, copies: bool) {
        let mut by_id: HashMap<gix::ObjectId, Vec<usize>> = HashMap::new();
        for (i, s) in self.sources.iter().enumerate() {
            by_id.entry(s.entry.id).or_default().push(i);
        }
        for d in 0..self.dests.len() {
            let dst = self.dests[d];
            let Some(candidates) = by_id.get(&dst.id) else { continue };
            let (mut best, mut best_score, mut budget) = (None, -1, EXACT_CANDIDATES);
            for &s in candidates {
                let src = self.sources[s].entry;
                // Anything but regular files must keep its kind.
                if (!is_regular(src.kind) || !is_regular(dst.kind)) && src.kind != dst.kind {
                    continue;
                }
                if self.used[s] > 0 && !copies {
                    continue;
                }
                let score = i32::from(self.used[s] == 0) + i32::from(basename_same(src.path, dst.path));
                if score > best_score {
                    best = Some(s);
                    best_score = score;
                    if score == 2 {
                        break;
                    }
                }
                budget -= 1;
                if budget == 0 {
                    break;
                }
            }
            if let Some(s) = best {
                self.record(d, s, MAX_SCORE);
            }
        }
    }

    /// find_basename_matches: a file name that is unique among the sources and among the
    /// destinations pairs those two when they are similar enough.
    fn same_basename(&mut self, remaining: &[usize], min: u16) -> Result<()> {
        let mut src_names: HashMap<&[u8], Option<usize>> = HashMap::new();
        for &s in remaining {
            src_names
                .entry(basename(self.sources[s].entry.path))
                .and_modify(|v| *v = None)
                .or_insert(Some(s));
        }
        let mut dst_names: HashMap<&[u8], Option<usize>> = HashMap::new();
        for d in (0..self.dests.len()).filter(|&d| self.matched[d].is_none()) {
            dst_names
                .entry(basename(self.dests[d].path))
                .and_modify(|v| *v = None)
                .or_insert(Some(d));
        }
        for &s in remaining {
            let name = basename(self.sources[s].entry.path);
            let (Some(Some(_)), Some(Some(d))) = (src_names.get(name), dst_names.get(name).copied()) else {
                continue;
            };
            if self.matched[d].is_some() {
                continue;
            }
            let score = self.estimate(s, d, min)?;
            if score >= min {
                self.record(d, s, score);
            }
        }
        Ok(())
    }

    /// find_renames over the sorted matrix.
    fn take_best(&mut self, matrix: &[Candidate], copies: bool) {
        for c in matrix {
            let Some(d) = c.dst else { break };
            if c.score < MIN_SCORE {
                break;
            }
            if self.matched[d].is_some() || (!copies && self.used[c.src] > 0) {
                continue;
            }
            self.record(d, c.src, c.score);
        }
    }

    /// estimate_similarity: copied bytes over the larger size, 0 for anything but regular
    /// files and for sizes too far apart to reach `min`.
    fn estimate(&mut self, s: usize, d: usize, min: u16) -> Result<u16> {
        let (src, dst) = (self.sources[s].entry, self.dests[d]);
        if !is_regular(src.kind) || !is_regular(dst.kind) {
            return Ok(0);
        }
        let src_size = cached_size(&mut self.src_cache[s], &src, self.content)?;
        let dst_size = cached_size(&mut self.dst_cache[d], &dst, self.content)?;
        let (max, base) = (src_size.max(dst_size), src_size.min(dst_size));
        let delta = max - base;
        // git compares in floating point (MAX_SCORE is a double there).
        let max_score = f64::from(MAX_SCORE);
        if max as f64 * (max_score - f64::from(min)) < delta as f64 * max_score {
            return Ok(0);
        }
        if self.src_cache[s].spans.is_none() {
            self.src_cache[s].spans = Some(self.content.spans(&src)?);
        }
        if self.dst_cache[d].spans.is_none() {
            self.dst_cache[d].spans = Some(self.content.spans(&dst)?);
        }
        let (Some(src_spans), Some(dst_spans)) = (&self.src_cache[s].spans, &self.dst_cache[d].spans) else {
            return Ok(0);
        };
        if dst_size == 0 {
            return Ok(0);
        }
        let copied = SpanHash::copied(src_spans, dst_spans);
        Ok((copied as f64 * max_score / max as f64) as u16)
    }
}

fn cached_size(cache: &mut Cached, entry: &Entry<'_>, content: &mut impl Content) -> Result<u64> {
    if let Some(size) = cache.size {
        return Ok(size);
    }
    let size = content.size(entry)?;
    cache.size = Some(size);
    Ok(size)
}

fn is_regular(kind: EntryKind) -> bool {
    matches!(kind, EntryKind::Blob | EntryKind::BlobExecutable)
}

fn basename(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// Whether both paths end in the same file name (git's `basename_same`).
fn basename_same(a: &[u8], b: &[u8]) -> bool {
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        i -= 1;
        j -= 1;
        if a[i] != b[j] {
            return false;
        }
        if a[i] == b'/' {
            return true;
        }
    }
    (i == 0 || a[i - 1] == b'/') && (j == 0 || b[j - 1] == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blobs in memory; ids from content, as git's.
    struct Mem(HashMap<gix::ObjectId, Vec<u8>>);

    impl Content for Mem {
        fn size(&mut self, e: &Entry<'_>) -> Result<u64> {
            Ok(self.0[&e.id].len() as u64)
        }
        fn spans(&mut self, e: &Entry<'_>) -> Result<SpanHash> {
            let data = &self.0[&e.id];
            let text = !data[..data.len().min(8000)].contains(&0);
            Ok(SpanHash::new(data, text))
        }
    }

    fn id(data: &[u8]) -> gix::ObjectId {
        gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::object::Kind::Blob, data).expect("hash")
    }

    fn entry<'a>(mem: &mut Mem, (path, data): &(&'a str, &str)) -> Entry<'a> {
        let i = id(data.as_bytes());
        mem.0.insert(i, data.as_bytes().to_vec());
        Entry {
            path: path.as_bytes(),
            id: i,
            kind: EntryKind::Blob,
        }
    }

    /// Pair `(path, content)` sources with destinations; returns `(src, dst, copy)` paths.
    fn pairs(srcs: &[(&str, &str)], dsts: &[(&str, &str)], opts: Options) -> Vec<(String, String, bool)> {
        let mut mem = Mem(HashMap::new());
        let sources: Vec<Source<'_>> = srcs
            .iter()
            .map(|s| Source {
                entry: entry(&mut mem, s),
                stays: false,
            })
            .collect();
        let dests: Vec<Entry<'_>> = dsts.iter().map(|d| entry(&mut mem, d)).collect();
        let out = detect(&sources, &dests, opts, &mut mem).expect("detect");
        out.dst
            .iter()
            .enumerate()
            .filter_map(|(d, p)| p.map(|p| (srcs[p.src].0.to_owned(), dsts[d].0.to_owned(), p.copy)))
            .collect()
    }

    fn lines(n: usize, tag: &str) -> String {
        (0..n).map(|i| format!("{tag} line number {i}\n")).collect()
    }

    #[test]
    fn exact_renames_prefer_the_same_file_name() {
        let got = pairs(
            &[("a/x.txt", "same\n"), ("b/y.txt", "same\n")],
            &[("c/y.txt", "same\n"), ("d/x.txt", "same\n")],
            Options::default(),
        );
        assert_eq!(
            got,
            [
                ("b/y.txt".into(), "c/y.txt".into(), false),
                ("a/x.txt".into(), "d/x.txt".into(), false)
            ]
        );
    }

    #[test]
    fn each_source_is_used_once_for_renames() {
        let got = pairs(
            &[("a", "same\n")],
            &[("b", "same\n"), ("c", "same\n")],
            Options::default(),
        );
        assert_eq!(got, [("a".into(), "b".into(), false)]);
    }

    #[test]
    fn copies_reuse_sources_and_the_last_use_is_the_rename() {
        let opts = Options {
            detect: Detect::Copies,
            limit: 1000,
        };
        let got = pairs(&[("a", "same\n")], &[("b", "same\n"), ("c", "same\n")], opts);
        assert_eq!(got, [("a".into(), "b".into(), true), ("a".into(), "c".into(), false)]);
    }

    #[test]
    fn similar_files_pair_globally_by_score() {
        let base = lines(20, "shared");
        let src = format!("{base}{}", lines(2, "src"));
        // d1 is 95% like the source, d2 90%: the better one wins, whatever the order.
        let d1 = format!("{base}{}", lines(1, "src"));
        let d2 = format!("{base}{}", lines(3, "other"));
        let got = pairs(&[("old", &src)], &[("new1", &d2), ("new2", &d1)], Options::default());
        assert_eq!(got, [("old".into(), "new2".into(), false)]);
    }

    #[test]
    fn below_half_similar_is_no_rename() {
        let got = pairs(
            &[("old", &lines(10, "a"))],
            &[("new", &format!("{}{}", lines(4, "a"), lines(8, "b")))],
            Options::default(),
        );
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn unique_basenames_need_three_quarters() {
        // 60% similar: too little for the basename shortcut, enough for the matrix, where
        // the other, better candidate wins.
        let base = lines(6, "k");
        let src = format!("{base}{}", lines(4, "s"));
        let same_name = format!("{base}{}", lines(4, "t"));
        let better = format!("{base}{}", lines(3, "s"));
        let got = pairs(
            &[("a/file.c", &src)],
            &[("b/file.c", &same_name), ("b/other.c", &better)],
            Options::default(),
        );
        assert_eq!(got, [("a/file.c".into(), "b/other.c".into(), false)]);
    }

    #[test]
    fn the_limit_stops_inexact_detection_only() {
        let opts = Options {
            detect: Detect::Renames,
            limit: 1,
        };
        let a = lines(10, "a");
        let b = lines(10, "b");
        let got = pairs(
            &[("x", &a), ("y", &b), ("z", "exact\n")],
            &[
                ("x2", &format!("{a}more\n")),
                ("y2", &format!("{b}more\n")),
                ("z2", "exact\n"),
            ],
            opts,
        );
        assert_eq!(got, [("z".into(), "z2".into(), false)]);
    }

    #[test]
    fn off_pairs_nothing() {
        let opts = Options {
            detect: Detect::Off,
            limit: 0,
        };
        assert!(pairs(&[("a", "same\n")], &[("b", "same\n")], opts).is_empty());
    }

    #[test]
    fn basename_same_matches_git() {
        assert!(basename_same(b"a/x", b"b/x"));
        assert!(basename_same(b"x", b"b/x"));
        assert!(!basename_same(b"a/xx", b"b/x"));
        assert!(!basename_same(b"a/x", b"b/yx"));
        assert!(basename_same(b"x", b"x"));
    }
}
