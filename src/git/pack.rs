//! A run's new objects written as one pack instead of one loose file (and maybe a fan-out
//! directory) each. A run's repository handle keeps the objects it writes in memory
//! ([`gix::Repository::with_object_memory`]); [`flush`] writes them out right before anything
//! outside that handle can see their ids (a ref, an index file, another process). On this
//! machine kind creating a file costs about 0.3 ms, and a demo's sixteen loose objects made 32
//! files and directories; a pack is two files (written under temporary names, then renamed:
//! the `.pack`, then the `.idx` that makes git see it).
//!
//! Packs accumulate, one or two per run. As git's own rule goes, once the repository holds
//! `gc.autoPackLimit` packs (50 by default; 0 or less: never pack; at most 128, see
//! [`STORE_SLOTS`]) new objects are written loose, as before; git's `gc --auto` then
//! consolidates them as usual, and `git oc gc` merges the small packs ([`consolidate`]).
//!
//! The formats (pack v2 of full objects, index v2) are git's; gix writes them only behind
//! features that would rebuild it, so the few lines are here, with gix's header encoders.

use std::io::Write;
use std::path::Path;

use gix::objs::Write as _;
use gix::odb::memory::Storage;
use gix::odb::pack::data::entry::Header;
use gix::zlib::stream::deflate::{Compress, FlushCompress};

use crate::error::{Error, Result};

/// git's default `gc.autoPackLimit`.
const DEFAULT_AUTO_PACK_LIMIT: i64 = 50;

/// gix gives each repository handle a fixed number of slots for pack indices, 1.1 times the
/// packs on disk when it is opened (at least 32), and a handle fails to read once more packs
/// appear than it has slots: a worker's handle lives through hundreds of runs. Handles git-oc
/// opens get [`STORE_SLOTS`] (see [`open_options`]), and runs never take the packs beyond
/// [`MAX_PACKS`] whatever `gc.autoPackLimit` says, leaving room for packs that fetches and
/// concurrent runs add meanwhile.
const STORE_SLOTS: usize = 512;
const MAX_PACKS: usize = 128;

/// Objects larger than this in all are written loose: the pack is built in memory beside them,
/// and a run whose agent wrote big files should not hold them twice.
const PACK_MAX_BYTES: usize = 32 << 20;

/// `options` with room for the packs runs write (see [`STORE_SLOTS`]), and without replacement
/// objects: git-oc diffs, gates and commits the objects as they are, never what a
/// `refs/replace/` ref (which an agent can create) says to show instead.
pub fn open_options(options: gix::open::Options) -> gix::open::Options {
    options
        .object_store_slots(gix::odb::store::init::Slots::AsNeededByDiskState {
            multiplier: 1.1,
            minimum: STORE_SLOTS,
        })
        .config_overrides(["core.useReplaceRefs=false"])
}

/// What [`flush`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flushed {
    Nothing,
    /// One pack of this many objects.
    Pack(usize),
    /// This many loose objects (the repository has enough packs already).
    Loose(usize),
}

/// Write the objects `repo` holds in memory to its object database, as one pack below the pack
/// limit and loose at it. `repo` goes on holding objects it writes later in memory; one that
/// holds none in memory writes straight to disk anyway, so this is then a no-op.
pub fn flush(repo: &gix::Repository) -> Result<Flushed> {
    let Some(objects) = repo.objects.reset_object_memory() else {
        return Ok(Flushed::Nothing);
    };
    if objects.is_empty() {
        return Ok(Flushed::Nothing);
    }
    let objects_dir = repo.objects.store_ref().path();
    let pack_dir = objects_dir.join("pack");
    let fail = |e: std::io::Error| {
        Error::io(
            format!("could not write the run's objects to {}", pack_dir.display()),
            &e,
        )
    };
    let bytes: usize = objects.iter().map(|(_, (_, data))| data.len()).sum();
    if bytes <= PACK_MAX_BYTES && below_pack_limit(repo, &pack_dir) {
        write_pack(&pack_dir, &objects, repo.object_hash()).map_err(fail)?;
        Ok(Flushed::Pack(objects.len()))
    } else {
        let loose = gix::odb::loose::Store::at(objects_dir, repo.object_hash());
        for (id, (kind, data)) in objects.iter() {
            loose
                .write_buf_with_known_id(*kind, data, *id)
                .map_err(|e| Error::git("could not write the run's objects", e))?;
        }
        Ok(Flushed::Loose(objects.len()))
    }
}

/// Hand the objects another handle held in memory (taken with `take_object_memory`) to `into`:
/// into its memory when it keeps one, else onto disk.
pub fn adopt(into: &gix::Repository, objects: Option<Storage>) -> Result<()> {
    for (id, (kind, data)) in objects.iter().flat_map(|o| o.iter()) {
        into.objects
            .write_buf_with_known_id(*kind, data, *id)
            .map_err(|e| Error::git("could not keep the run's objects", e))?;
    }
    Ok(())
}

/// `gc.autoPackLimit` (at most [`MAX_PACKS`]), or `None` when packing is off (0 or less).
fn pack_limit(repo: &gix::Repository) -> Option<usize> {
    let limit = repo
        .config_snapshot()
        .integer("gc.autoPackLimit")
        .unwrap_or(DEFAULT_AUTO_PACK_LIMIT);
    usize::try_from(limit).ok().filter(|l| *l > 0).map(|l| l.min(MAX_PACKS))
}

/// The packs in `pack_dir`, counted as git counts them for `gc.autoPackLimit` (packs with a
/// `.keep` file do not count). No directory: none.
fn pack_count(pack_dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(pack_dir) else {
        return 0;
    };
    let names: std::collections::HashSet<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names
        .iter()
        .filter_map(|n| n.strip_suffix(".idx"))
        .filter(|stem| !names.contains(&format!("{stem}.keep")))
        .count()
}

/// Whether the repository has fewer packs than `gc.autoPackLimit`.
fn below_pack_limit(repo: &gix::Repository, pack_dir: &Path) -> bool {
    pack_limit(repo).is_some_and(|limit| pack_count(pack_dir) < limit)
}

/// The repository's packs when there are `gc.autoPackLimit` or more of them (runs then write
/// loose objects), else `None`.
pub fn packs_at_limit(repo: &gix::Repository) -> Option<usize> {
    let packs = pack_count(&repo.objects.store_ref().path().join("pack"));
    pack_limit(repo).filter(|limit| packs >= *limit).map(|_| packs)
}

/// Merge the small packs runs left into fewer, as `git repack -d -l --geometric=2` does: packs
/// are rolled up until each holds at least twice the objects of the next smaller one, so a
/// large pack of the project's history is left as it is and the work stays proportional to the
/// runs' objects. The refs are packed too (`git pack-refs --all`, as `git gc` does): every run
/// and every task adds loose ref files, and whatever lists refs (git-oc before and after each
/// agent, `git fetch` and `git push` offering what they have) opened each of them, where one
/// `packed-refs` file holds them all. Returns the packs left.
pub fn consolidate(repo: &gix::Repository) -> Result<usize> {
    for (args, what) in [
        (&["repack", "-d", "-l", "-q", "--geometric=2"][..], "git repack"),
        (&["pack-refs", "--all"][..], "git pack-refs"),
    ] {
        let out = super::git_command(repo.common_dir())
            .args(args)
            .output()
            .map_err(|e| Error::io(format!("could not run {what}"), &e))?;
        if !out.status.success() {
            return Err(Error::run(format!("{what} failed"))
                .caused_by(String::from_utf8_lossy(&out.stderr).trim().to_owned())
                .hint("run `git gc` to consolidate the repository's packs and refs"));
        }
    }
    Ok(pack_count(&repo.objects.store_ref().path().join("pack")))
}

/// Packs at which the run that finds them merges the small ones ([`consolidate`]).
const RUN_REPACK_AT: usize = 16;

/// Keep the repository at fewer than [`RUN_REPACK_AT`] packs (with two small packs per run,
/// every object lookup and every opening of the repository went through one more index per run:
/// a demo took 12 ms in a fresh repository and 29 ms after 30 runs). The run that finds that
/// many merges the small ones as `git oc gc` does, unless another is already at it. A failure
/// is logged, never the run's: its objects are written either way.
pub fn keep_few_packs(repo: &gix::Repository) {
    let pack_dir = repo.objects.store_ref().path().join("pack");
    if pack_limit(repo).is_none() || pack_count(&pack_dir) < RUN_REPACK_AT {
        return;
    }
    let state_dir = repo.common_dir().join("oc");
    let Some(_mutex) = super::worktree::StateMutex::try_lock_named(&state_dir, "repack.mutex") else {
        return;
    };
    match consolidate(repo) {
        Ok(left) => tracing::debug!(left, "merged the runs' small packs"),
        Err(e) => tracing::warn!("could not merge the runs' small packs: {}", e.summary_line()),
    }
}

/// Write `objects` as `pack-<checksum>.pack` and its `.idx` into `dir`: commits first, then
/// trees, then blobs (git's order, which keeps what a reader walks together), each a full
/// zlib-compressed entry.
fn write_pack(dir: &Path, objects: &Storage, hash: gix::hash::Kind) -> std::io::Result<()> {
    let mut order: Vec<_> = objects.iter().collect();
    order.sort_by_key(|(id, (kind, _))| (kind_rank(*kind), **id));
    let count = u32::try_from(order.len()).map_err(std::io::Error::other)?;

    let mut pack = Vec::new();
    pack.extend_from_slice(&gix::odb::pack::data::header::encode(
        gix::odb::pack::data::Version::V2,
        count,
    ));
    // (id, crc32 of the entry as stored, offset of the entry)
    let mut index: Vec<(gix::ObjectId, u32, u64)> = Vec::with_capacity(order.len());
    // One compressor per thread for every pack: each new one allocates and zeroes about
    // 300 KiB, which in a demo (two packs of a few small objects) cost more page faults than
    // anything else it did.
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Compress> =
            std::cell::RefCell::new(Compress::new(gix::zlib::Compression::DEFAULT));
    }
    let mut buf = vec![0u8; 32 * 1024];
    for (id, (kind, data)) in order {
        let offset = pack.len() as u64;
        header(*kind).write_to(data.len() as u64, &mut pack)?;
        COMPRESSOR.with_borrow_mut(|compressor| {
            compressor.reset();
            deflate(compressor, data, &mut buf, &mut pack)
        })?;
        let start = usize::try_from(offset).map_err(std::io::Error::other)?;
        index.push((*id, crc32fast::hash(&pack[start..]), offset));
    }
    let checksum = sha(hash, &pack)?;
    pack.extend_from_slice(checksum.as_bytes());

    index.sort_by_key(|(id, _, _)| *id);
    let idx = encode_index(&index, &checksum, hash)?;

    let name = format!("pack-{}", checksum.to_hex());
    std::fs::create_dir_all(dir)?;
    // The pack before its index: git finds packs by their index.
    persist(dir, &name, "pack", &pack)?;
    persist(dir, &name, "idx", &idx)
}

/// `data` as one complete zlib stream appended to `out`.
fn deflate(compressor: &mut Compress, mut data: &[u8], buf: &mut [u8], out: &mut Vec<u8>) -> std::io::Result<()> {
    loop {
        let (read, written) = (compressor.total_in(), compressor.total_out());
        let status = compressor
            .compress(data, buf, FlushCompress::Finish)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        data = &data[(compressor.total_in() - read) as usize..];
        out.extend_from_slice(&buf[..(compressor.total_out() - written) as usize]);
        if status == gix::zlib::Status::StreamEnd {
            return Ok(());
        }
    }
}

fn kind_rank(kind: gix::object::Kind) -> u8 {
    match kind {
        gix::object::Kind::Commit => 0,
        gix::object::Kind::Tag => 1,
        gix::object::Kind::Tree => 2,
        gix::object::Kind::Blob => 3,
    }
}

fn header(kind: gix::object::Kind) -> Header {
    match kind {
        gix::object::Kind::Commit => Header::Commit,
        gix::object::Kind::Tag => Header::Tag,
        gix::object::Kind::Tree => Header::Tree,
        gix::object::Kind::Blob => Header::Blob,
    }
}

fn sha(hash: gix::hash::Kind, bytes: &[u8]) -> std::io::Result<gix::ObjectId> {
    let mut hasher = gix::hash::hasher(hash);
    hasher.update(bytes);
    hasher.try_finalize().map_err(std::io::Error::other)
}

/// Pack index version 2: fan-out table, sorted ids, CRC32s, 31-bit offsets (larger ones in a
/// 64-bit table), the pack's checksum and the index's own.
fn encode_index(
    entries: &[(gix::ObjectId, u32, u64)],
    pack_checksum: &gix::ObjectId,
    hash: gix::hash::Kind,
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1072 + entries.len() * (hash.len_in_bytes() + 12) + 2 * hash.len_in_bytes());
    out.extend_from_slice(b"\xfftOc");
    out.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for (id, _, _) in entries {
        fanout[usize::from(id.as_bytes()[0])] += 1;
    }
    let mut total = 0u32;
    for n in fanout {
        total += n;
        out.extend_from_slice(&total.to_be_bytes());
    }
    for (id, _, _) in entries {
        out.extend_from_slice(id.as_bytes());
    }
    for (_, crc, _) in entries {
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for (_, _, offset) in entries {
        let small = match u32::try_from(*offset) {
            Ok(o) if o < 0x8000_0000 => o,
            _ => {
                let n = u32::try_from(large.len()).map_err(std::io::Error::other)?;
                large.push(*offset);
                0x8000_0000 | n
            }
        };
        out.extend_from_slice(&small.to_be_bytes());
    }
    for offset in large {
        out.extend_from_slice(&offset.to_be_bytes());
    }
    out.extend_from_slice(pack_checksum.as_bytes());
    let own = sha(hash, &out)?;
    out.extend_from_slice(own.as_bytes());
    Ok(out)
}

/// Write `bytes` to `dir/<name>.<ext>` under a temporary name first (git's `tmp_pack_` prefix,
/// which `git gc` cleans up should a process die in between), read-only as git leaves packs.
fn persist(dir: &Path, name: &str, ext: &str, bytes: &[u8]) -> std::io::Result<()> {
    let target = dir.join(format!("{name}.{ext}"));
    if target.is_file() {
        // The same objects in the same order: the same bytes.
        return Ok(());
    }
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!("tmp_pack_{}_{serial}_{ext}", std::process::id()));
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    let written = file.write_all(bytes).and_then(|()| {
        let mut perms = file.metadata()?.permissions();
        perms.set_readonly(true);
        file.set_permissions(perms)
    });
    drop(file);
    match written.and_then(|()| std::fs::rename(&tmp, &target)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Flushed, flush};
    use crate::pipeline::tests::git;

    fn repo_with_commit(dir: &std::path::Path) -> gix::Repository {
        git(dir, &["init", "-q", "-b", "main"]);
        std::fs::write(dir.join("f"), "base\n").expect("write");
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", "base"]);
        let mut repo = gix::open(dir).expect("open");
        crate::git::tune(&mut repo).expect("tune");
        repo.with_object_memory()
    }

    /// Blobs (one larger than a zlib buffer, one empty), a tree and a commit, none on disk yet.
    fn write_some(repo: &gix::Repository) -> (gix::ObjectId, Vec<u8>) {
        let large: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let big = repo.write_blob(&large).expect("blob").detach();
        let empty = repo.write_blob(b"").expect("blob").detach();
        let head = repo.head_id().expect("head").detach();
        let base_tree = repo.head_tree_id().expect("tree").detach();
        let mut editor = repo.edit_tree(base_tree).expect("editor");
        editor
            .upsert("big", gix::object::tree::EntryKind::Blob, big)
            .expect("upsert");
        editor
            .upsert("dir/empty", gix::object::tree::EntryKind::Blob, empty)
            .expect("upsert");
        let tree = editor.write().expect("tree").detach();
        let commit = repo.new_commit("packed", tree, Some(head)).expect("commit").id;
        (commit, large)
    }

    fn loose_count(dir: &std::path::Path) -> u64 {
        let counts = git(dir, &["count-objects", "-v"]);
        let line = counts.lines().find(|l| l.starts_with("count:")).expect("count line");
        line["count:".len()..].trim().parse().expect("a number")
    }

    #[test]
    fn objects_held_in_memory_are_written_as_one_pack_git_reads() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        let repo = repo_with_commit(dir);
        let loose_before = loose_count(dir);
        let (commit, large) = write_some(&repo);
        // Nothing on disk yet, and the handle reads what it holds.
        assert_eq!(loose_count(dir), loose_before);
        assert!(repo.find_commit(commit).is_ok());

        assert_eq!(flush(&repo).expect("flush"), Flushed::Pack(5));
        assert_eq!(flush(&repo).expect("flush"), Flushed::Nothing);
        assert_eq!(loose_count(dir), loose_before, "no loose object was written");
        git(dir, &["update-ref", "refs/heads/packed", &commit.to_string()]);
        git(dir, &["fsck", "--strict", "--no-dangling"]);
        let packs: Vec<_> = std::fs::read_dir(dir.join(".git/objects/pack"))
            .expect("pack dir")
            .flatten()
            .map(|e| e.file_name().into_string().expect("utf-8"))
            .collect();
        assert_eq!(
            packs.len(),
            2,
            "a .pack and its .idx, no temporary or keep file: {packs:?}"
        );
        let idx = packs.iter().find(|p| p.ends_with(".idx")).expect("an index");
        let verified = git(dir, &["verify-pack", "-v", &format!(".git/objects/pack/{idx}")]);
        assert!(verified.contains("non delta: 5 objects"), "{verified}");
        assert_eq!(git(dir, &["log", "--format=%s", "-1", "packed"]), "packed");
        let big = git(dir, &["rev-parse", "packed:big"]);
        let out = std::process::Command::new("git")
            .current_dir(dir)
            .args(["cat-file", "blob", &big])
            .output()
            .expect("git");
        assert_eq!(out.stdout, large);
        assert_eq!(git(dir, &["cat-file", "-s", "packed:dir/empty"]), "0");
        // A fresh handle finds the objects in the new pack.
        let fresh = gix::open(dir).expect("open");
        assert_eq!(
            fresh.find_commit(commit).expect("commit").message_raw_sloppy(),
            "packed"
        );
    }

    #[test]
    fn at_the_pack_limit_objects_are_written_loose() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        git(dir, &["config", "gc.autoPackLimit", "1"]);
        std::fs::write(dir.join("f"), "base\n").expect("write");
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", "base"]);
        let open = || {
            let mut repo = gix::open(dir).expect("open");
            crate::git::tune(&mut repo).expect("tune");
            repo.with_object_memory()
        };
        // Below the limit (no pack yet): a pack.
        let repo = open();
        write_some(&repo);
        assert_eq!(flush(&repo).expect("flush"), Flushed::Pack(5));
        // At it: loose, as git would write them.
        let repo = open();
        let before = loose_count(dir);
        std::fs::write(dir.join("g"), "more\n").expect("write");
        let blob = repo.write_blob(b"more\n").expect("blob").detach();
        assert_eq!(flush(&repo).expect("flush"), Flushed::Loose(1));
        assert_eq!(loose_count(dir), before + 1);
        assert_eq!(git(dir, &["cat-file", "-t", &blob.to_string()]), "blob");
        // A kept pack does not count, as git counts.
        let idx = std::fs::read_dir(dir.join(".git/objects/pack"))
            .expect("pack dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "idx"))
            .expect("an index");
        std::fs::write(idx.with_extension("keep"), "").expect("keep");
        let repo = open();
        repo.write_blob(b"kept\n").expect("blob");
        assert_eq!(flush(&repo).expect("flush"), Flushed::Pack(1));
        // 0 turns packing off.
        git(dir, &["config", "gc.autoPackLimit", "0"]);
        let repo = open();
        repo.write_blob(b"zero\n").expect("blob");
        assert_eq!(flush(&repo).expect("flush"), Flushed::Loose(1));
        git(dir, &["fsck", "--strict"]);
    }

    #[test]
    fn objects_too_big_to_pack_twice_in_memory_are_written_loose() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let repo = repo_with_commit(tmp.path()).with_object_memory();
        let big = vec![b'x'; super::PACK_MAX_BYTES + 1];
        let blob = repo.write_blob(&big).expect("blob").detach();
        assert_eq!(flush(&repo).expect("flush"), Flushed::Loose(1));
        assert_eq!(
            git(tmp.path(), &["cat-file", "-s", &blob.to_string()]),
            big.len().to_string()
        );
    }

    /// A long-lived handle (a worker's) still reads after runs added more packs than gix's
    /// default 32 slots.
    #[test]
    fn a_handle_opened_by_git_oc_reads_objects_in_packs_added_after_it_was_opened() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        repo_with_commit(dir);
        git(dir, &["config", "gc.autoPackLimit", "100"]);
        let long_lived = crate::git::Repo::discover(dir).expect("discover");
        let mut ids = Vec::new();
        for i in 0..40 {
            let run = long_lived.with_object_memory();
            ids.push(run.repo.write_blob(format!("run {i}\n")).expect("blob").detach());
            assert_eq!(flush(&run.repo).expect("flush"), Flushed::Pack(1));
            // Read in between, as a worker does, so that the handle knows the packs so far.
            assert!(long_lived.repo.find_blob(ids[i]).is_ok());
        }
        for id in ids {
            assert!(long_lived.repo.find_blob(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn a_handle_without_object_memory_has_nothing_to_flush() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        let mut repo = gix::open(dir).expect("open");
        repo.objects.take_object_memory();
        let blob = repo.write_blob(b"direct\n").expect("blob").detach();
        assert_eq!(flush(&repo).expect("flush"), Flushed::Nothing);
        assert_eq!(git(dir, &["cat-file", "-t", &blob.to_string()]), "blob");
    }
}
