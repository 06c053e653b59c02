//! git's estimate of how much of one blob was copied into another (diffcore-delta.c), the
//! measure behind rename similarity scores.
//!
//! Content is cut into chunks that end at a newline or after 64 bytes, each chunk is hashed into
//! one of 107927 buckets, and bytes are counted per bucket. What both sides share per bucket
//! counts as copied. A CR before an LF is skipped in text, so CRLF and LF versions of a file
//! match. Hash collisions count as matches, as in git.

/// A prime between 2^16 and 2^17 (git's `HASHBASE`).
const HASHBASE: u32 = 107_927;

/// Bytes per bucket, sorted by bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpanHash {
    buckets: Vec<u32>,
    counts: Vec<u32>,
}

impl SpanHash {
    /// Hash `data`; `is_text` decides whether a CR before an LF is skipped.
    pub fn new(data: &[u8], is_text: bool) -> SpanHash {
        let mut chunks: Vec<(u32, u32)> = Vec::with_capacity(data.len() / 16 + 1);
        let (mut accum1, mut accum2, mut n) = (0u32, 0u32, 0u32);
        for (i, &byte) in data.iter().enumerate() {
            if is_text && byte == b'\r' && data.get(i + 1) == Some(&b'\n') {
                continue;
            }
            let old1 = accum1;
            accum1 = (accum1 << 7) ^ (accum2 >> 25);
            accum2 = (accum2 << 7) ^ (old1 >> 25);
            accum1 = accum1.wrapping_add(u32::from(byte));
            n += 1;
            if n < 64 && byte != b'\n' {
                continue;
            }
            chunks.push((bucket(accum1, accum2), n));
            (accum1, accum2, n) = (0, 0, 0);
        }
        if n > 0 {
            chunks.push((bucket(accum1, accum2), n));
        }
        chunks.sort_unstable_by_key(|&(hash, _)| hash);
        let mut out = SpanHash {
            buckets: Vec::with_capacity(chunks.len()),
            counts: Vec::with_capacity(chunks.len()),
        };
        for (hash, count) in chunks {
            match (out.buckets.last(), out.counts.last_mut()) {
                (Some(&last), Some(total)) if last == hash => *total = total.wrapping_add(count),
                _ => {
                    out.buckets.push(hash);
                    out.counts.push(count);
                }
            }
        }
        out
    }

    /// Bytes of `src` found in `dst` (git's `src_copied` of `diffcore_count_changes`): per
    /// bucket, the smaller of the two counts.
    pub fn copied(src: &SpanHash, dst: &SpanHash) -> u64 {
        let (mut i, mut j, mut copied) = (0, 0, 0u64);
        while i < src.buckets.len() && j < dst.buckets.len() {
            match src.buckets[i].cmp(&dst.buckets[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    copied += u64::from(src.counts[i].min(dst.counts[j]));
                    i += 1;
                    j += 1;
                }
            }
        }
        copied
    }

    /// Bytes of `dst` that are not from `src` (git's `literal_added`).
    pub fn added(src: &SpanHash, dst: &SpanHash) -> u64 {
        let total: u64 = dst.counts.iter().map(|&c| u64::from(c)).sum();
        total - Self::copied(src, dst)
    }
}

fn bucket(accum1: u32, accum2: u32) -> u32 {
    accum1.wrapping_add(accum2.wrapping_mul(0x61)) % HASHBASE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copied(a: &str, b: &str) -> u64 {
        SpanHash::copied(&SpanHash::new(a.as_bytes(), true), &SpanHash::new(b.as_bytes(), true))
    }

    fn changes(a: &[u8], b: &[u8], text: bool) -> (u64, u64) {
        let (a, b) = (SpanHash::new(a, text), SpanHash::new(b, text));
        (SpanHash::copied(&a, &b), SpanHash::added(&a, &b))
    }

    #[test]
    fn identical_content_is_fully_copied() {
        let text = "one\ntwo\nthree\n";
        assert_eq!(copied(text, text), text.len() as u64);
    }

    #[test]
    fn reordered_lines_still_count_as_copied() {
        assert_eq!(copied("one\ntwo\nthree\n", "three\none\ntwo\n"), 14);
    }

    #[test]
    fn cr_before_lf_is_ignored_in_text_only() {
        let lf = "alpha\nbeta\n";
        let crlf = "alpha\r\nbeta\r\n";
        assert_eq!(copied(lf, crlf), lf.len() as u64);
        assert_eq!(changes(lf.as_bytes(), crlf.as_bytes(), false), (0, crlf.len() as u64));
    }

    #[test]
    fn long_lines_are_cut_every_64_bytes() {
        let line = "x".repeat(130);
        let hash = SpanHash::new(line.as_bytes(), true);
        // Two 64-byte chunks (same bucket) and a 2-byte tail.
        assert_eq!(hash.counts.iter().sum::<u32>(), 130);
        assert_eq!(hash.buckets.len(), 2);
        assert!(hash.counts.contains(&128));
    }

    #[test]
    fn added_bytes_and_extra_copies() {
        // dst has the line twice: once copied, once added.
        assert_eq!(changes(b"same\n", b"same\nsame\nnew\n", true), (5, 9));
    }
}
