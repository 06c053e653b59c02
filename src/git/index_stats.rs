//! The entries of an index file read one at a time (path, id, mode, stage and stat data), without
//! holding the file or its entries in memory: a run that rewrites its worktree's index keeps the
//! stat data the checkout recorded for every file it did not change, instead of looking at all of
//! them again, and without a second index in memory (10 MiB at 100,000 files).
//!
//! Versions 2 and 3 only (git's and gix's default); anything else, or anything unexpected, ends
//! the entries early, and the caller looks at the remaining files on disk.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use gix::bstr::{BStr, ByteSlice};

/// Longer paths end the reading (git's own limit on Linux is 4,096 bytes).
const MAX_PATH_BYTES: u64 = 64 * 1024;

/// One entry as the index file records it.
struct Known {
    path: Vec<u8>,
    id: gix::ObjectId,
    mode: u32,
    stage: u32,
    stat: gix::index::entry::Stat,
}

pub struct IndexStats {
    reader: BufReader<std::fs::File>,
    hash: gix::hash::Kind,
    version: u32,
    left: u32,
    entry: Known,
    /// Whether `entry` holds an entry not yet passed over.
    has_entry: bool,
}

impl IndexStats {
    /// `None` when the file cannot be read or is not a version 2 or 3 index.
    pub fn open(path: &Path, hash: gix::hash::Kind) -> Option<IndexStats> {
        // A regular file only: a FIFO in its place would block the read.
        let (file, _) =
            crate::config::read::open_regular_file(std::fs::OpenOptions::new().read(true), path, false).ok()?;
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let mut header = [0u8; 12];
        reader.read_exact(&mut header).ok()?;
        let version = u32::from_be_bytes(header[4..8].try_into().ok()?);
        if &header[..4] != b"DIRC" || !(2..=3).contains(&version) {
            return None;
        }
        Some(IndexStats {
            reader,
            hash,
            version,
            left: u32::from_be_bytes(header[8..12].try_into().ok()?),
            entry: Known {
                path: Vec::new(),
                id: gix::ObjectId::null(hash),
                mode: 0,
                stage: 0,
                stat: Default::default(),
            },
            has_entry: false,
        })
    }

    /// The stat data the index records for `path`, if it holds `path` with this id and mode
    /// (`mode` as the index writes it; an unmerged path never matches). Calls must come in the
    /// index's order, by path: the entries before `path` are passed over for good.
    pub fn stat_of(&mut self, path: &BStr, id: gix::ObjectId, mode: u32) -> Option<gix::index::entry::Stat> {
        loop {
            if !self.has_entry && !self.advance() {
                return None;
            }
            let entry = &self.entry;
            match entry.path.as_slice().cmp(path.as_bytes()) {
                std::cmp::Ordering::Less => self.has_entry = false,
                std::cmp::Ordering::Greater => return None,
                std::cmp::Ordering::Equal => {
                    return (entry.id == id && entry.mode == mode && entry.stage == 0).then_some(entry.stat);
                }
            }
        }
    }

    /// Read the next entry into `self.entry`; `false` at the end, or at anything this reader does
    /// not understand (then it reads no further).
    fn advance(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        if self.read_entry().is_none() {
            self.left = 0;
            return false;
        }
        self.left -= 1;
        self.has_entry = true;
        true
    }

    fn read_entry(&mut self) -> Option<()> {
        let hash_len = self.hash.len_in_bytes();
        // ctime, mtime (seconds, nanoseconds), dev, ino, mode, uid, gid, size; the id; the flags.
        let mut fixed = [0u8; 40 + 32 + 2];
        let fixed = &mut fixed[..40 + hash_len + 2];
        self.reader.read_exact(fixed).ok()?;
        let word = |i: usize| u32::from_be_bytes([fixed[i * 4], fixed[i * 4 + 1], fixed[i * 4 + 2], fixed[i * 4 + 3]]);
        let flags = u16::from_be_bytes([fixed[40 + hash_len], fixed[41 + hash_len]]);
        let mut len = 40 + hash_len + 2;
        if flags & 0x4000 != 0 {
            // Extended flags exist in version 3 only.
            if self.version < 3 {
                return None;
            }
            let mut extended = [0u8; 2];
            self.reader.read_exact(&mut extended).ok()?;
            len += 2;
        }
        let entry = &mut self.entry;
        entry.stat = gix::index::entry::Stat {
            ctime: gix::index::entry::stat::Time {
                secs: word(0),
                nsecs: word(1),
            },
            mtime: gix::index::entry::stat::Time {
                secs: word(2),
                nsecs: word(3),
            },
            dev: word(4),
            ino: word(5),
            uid: word(7),
            gid: word(8),
            size: word(9),
        };
        entry.mode = word(6);
        entry.id = gix::ObjectId::try_from(&fixed[40..40 + hash_len]).ok()?;
        entry.stage = u32::from((flags >> 12) & 0b11);
        // The path ends with one to eight NULs that pad the entry to a multiple of eight bytes.
        // The file is the agent's to change: a path without its NUL is not read on and on.
        entry.path.clear();
        (&mut self.reader)
            .take(MAX_PATH_BYTES)
            .read_until(0, &mut entry.path)
            .ok()?;
        if entry.path.pop() != Some(0) {
            return None;
        }
        len += entry.path.len() + 1;
        let padding = (8 - len % 8) % 8;
        let mut pad = [0u8; 8];
        self.reader.read_exact(&mut pad[..padding]).ok()?;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::IndexStats;
    use crate::pipeline::tests::git;

    /// What the reader gives is what gix reads from the same index, entry by entry, in versions 2
    /// and 3 (an intent-to-add entry makes git write version 3), for paths of every padding.
    #[test]
    fn reads_every_entry_as_gix_does() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        for len in 1..=17 {
            std::fs::write(dir.join("p".repeat(len)), format!("{len}\n")).expect("write");
        }
        std::fs::create_dir_all(dir.join("sub/deeper")).expect("mkdir");
        std::fs::write(dir.join("sub/deeper/file.txt"), "x\n").expect("write");
        git(dir, &["add", "-A"]);
        for version in [2, 3] {
            if version == 3 {
                std::fs::write(dir.join("intended"), "later\n").expect("write");
                git(dir, &["add", "-N", "intended"]);
            }
            let repo = gix::open(dir).expect("open");
            let index = repo.open_index().expect("index");
            let mut stats = IndexStats::open(&repo.index_path(), repo.object_hash()).expect("version 2 or 3");
            assert_eq!(stats.version, version);
            let mut matched = 0;
            for entry in index.entries() {
                let found = stats.stat_of(entry.path(&index), entry.id, entry.mode.bits());
                if entry.flags.contains(gix::index::entry::Flags::INTENT_TO_ADD) {
                    continue;
                }
                assert_eq!(found, Some(entry.stat), "{}", entry.path(&index));
                matched += 1;
            }
            assert_eq!(matched, 18);
        }
    }

    /// An index the agent overwrote with junk ends the reading: a path that never ends is not
    /// read past the limit, and nothing from it is taken.
    #[test]
    fn a_damaged_index_gives_nothing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("index");
        let mut junk = b"DIRC\0\0\0\x02\xff\xff\xff\xff".to_vec();
        junk.extend([0u8; 62]);
        junk.extend(std::iter::repeat_n(b'a', 4 * super::MAX_PATH_BYTES as usize));
        std::fs::write(&path, &junk).expect("write");
        let mut stats = IndexStats::open(&path, gix::hash::Kind::Sha1).expect("a version 2 header");
        let id = gix::ObjectId::null(gix::hash::Kind::Sha1);
        assert_eq!(stats.stat_of("a".into(), id, 0o100644), None);
        assert!(
            stats.entry.path.len() <= super::MAX_PATH_BYTES as usize,
            "read no further"
        );
        assert!(stats.entry.path.len() > 1000, "the path was being read");
        assert_eq!(stats.stat_of("b".into(), id, 0o100644), None);

        std::fs::write(&path, b"DIRC\0\0\0\x04\0\0\0\x01").expect("write");
        assert!(
            IndexStats::open(&path, gix::hash::Kind::Sha1).is_none(),
            "version 4 is not read"
        );
    }

    #[test]
    fn another_id_or_mode_or_an_unknown_path_gives_nothing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        std::fs::write(dir.join("a"), "a\n").expect("write");
        std::fs::write(dir.join("c"), "c\n").expect("write");
        git(dir, &["add", "-A"]);
        let repo = gix::open(dir).expect("open");
        let index = repo.open_index().expect("index");
        let a = &index.entries()[0];
        let mut stats = IndexStats::open(&repo.index_path(), repo.object_hash()).expect("readable");
        assert_eq!(
            stats.stat_of("a".into(), gix::ObjectId::null(repo.object_hash()), a.mode.bits()),
            None
        );
        assert_eq!(stats.stat_of("b".into(), a.id, a.mode.bits()), None);
        let c = &index.entries()[1];
        assert_eq!(stats.stat_of("c".into(), c.id, 0o100755), None);
    }
}
