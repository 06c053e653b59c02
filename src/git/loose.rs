//! Reading loose objects cheaply, many in a row. For each loose object gix's store checks that
//! it exists (a `stat`), maps the file into memory and sets up a new zlib state; with two
//! threads reading, every unmapping also interrupts the other core. Evidence commits and the
//! objects a run has just written are loose, and listing thousands of runs or diffing a run's
//! change reads thousands of them, so this reader opens the file straight away, reads it into
//! a reused buffer, inflates it with a reused zlib state, and falls back to the repository's
//! store (packs, alternates) when there is no such file. Use it where objects are likely
//! loose: for a packed one it costs a failed `open`.

use std::cell::RefCell;
use std::io::Read;
use std::path::PathBuf;

use gix::objs::{Data, FindHeader};

pub struct LooseFirst<'r> {
    objects_dir: PathBuf,
    loose: gix::odb::loose::Store,
    repo: &'r gix::Repository,
    compressed: RefCell<Vec<u8>>,
    inflate: RefCell<gix::zlib::Inflate>,
}

impl<'r> LooseFirst<'r> {
    pub fn new(repo: &'r gix::Repository) -> Self {
        let objects_dir = repo.objects.store_ref().path().to_owned();
        LooseFirst {
            loose: gix::odb::loose::Store::at(&objects_dir, repo.object_hash()),
            objects_dir,
            repo,
            compressed: RefCell::new(Vec::new()),
            inflate: RefCell::new(gix::zlib::Inflate::default()),
        }
    }

    /// The loose object `id` into `out`, or `None` when there is no loose file for it.
    fn read_loose(&self, id: &gix::oid, out: &mut Vec<u8>) -> gix::Result<Option<gix::object::Kind>> {
        use gix::error::ResultExt;
        let hex = id.to_hex().to_string();
        let path = self.objects_dir.join(&hex[..2]).join(&hex[2..]);
        let context = || gix::error::Message::new("Could not read loose object").with("path", path.as_path());
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).or_raise(context),
        };
        let mut compressed = self.compressed.borrow_mut();
        compressed.clear();
        file.read_to_end(&mut compressed).or_raise(context)?;
        let mut inflate = self.inflate.borrow_mut();
        inflate.reset();
        let mut header = [0_u8; 64];
        let (status, consumed_in, consumed_out) = inflate.prefix(&compressed, &mut header)?;
        let (kind, size, header_size) = gix::objs::decode::loose_header(&header[..consumed_out])?;
        let size = usize::try_from(size).or_raise(context)?;
        if status == gix::zlib::Status::StreamEnd {
            out.clear();
            out.extend_from_slice(header.get(header_size..consumed_out).unwrap_or_default());
        } else {
            inflate.rest(
                &compressed[consumed_in..],
                &header[..consumed_out],
                header_size,
                out,
                size,
            )?;
        }
        if out.len() != size {
            return Err(gix::error::Message::new(format!(
                "loose object {id} holds {} bytes where its header says {size}",
                out.len()
            )))
            .or_raise(context);
        }
        Ok(Some(kind))
    }
}

impl gix::objs::Find for LooseFirst<'_> {
    fn try_find<'a>(&self, id: &gix::oid, buffer: &'a mut Vec<u8>) -> gix::Result<Option<Data<'a>>> {
        if let Some(kind) = self.read_loose(id, buffer)? {
            return Ok(Some(Data {
                kind,
                object_hash: id.kind(),
                data: buffer.as_slice(),
            }));
        }
        self.repo.objects.try_find(id, buffer)
    }
}

impl FindHeader for LooseFirst<'_> {
    fn try_header(&self, id: &gix::oid) -> gix::Result<Option<gix::objs::Header>> {
        if let Some((size, kind)) = self.loose.try_header(id)? {
            return Ok(Some(gix::objs::Header { kind, size }));
        }
        self.repo.objects.try_header(id)
    }
}

#[cfg(test)]
mod tests {
    use gix::objs::{Find, FindHeader};

    use super::LooseFirst;
    use crate::pipeline::tests::git;

    /// Every object, whether gix's store or this reader finds it, reads the same.
    fn assert_reads_as_gix(dir: &std::path::Path) {
        let repo = gix::open(dir).expect("open");
        let objects = LooseFirst::new(&repo);
        let all = git(dir, &["cat-file", "--batch-all-objects", "--batch-check=%(objectname)"]);
        assert!(all.lines().count() >= 5, "{all}");
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for line in all.lines() {
            let id = gix::ObjectId::from_hex(line.as_bytes()).expect("an id");
            let a = objects.try_find(&id, &mut ours).expect("read").expect("found");
            let (kind, data) = (a.kind, a.data.to_vec());
            let b = repo.objects.try_find(&id, &mut theirs).expect("read").expect("found");
            assert_eq!((kind, data.as_slice()), (b.kind, b.data), "{id}");
            let header = objects.try_header(&id).expect("header").expect("found");
            assert_eq!((header.kind, header.size), (kind, data.len() as u64));
        }
        let missing = gix::ObjectId::from_hex(b"0123456789abcdef0123456789abcdef01234567").expect("an id");
        assert!(objects.try_find(&missing, &mut ours).expect("no error").is_none());
    }

    #[test]
    fn loose_and_packed_objects_read_as_gix_reads_them() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        // Small objects inflate in one step, large ones in two.
        std::fs::write(dir.join("small"), "x\n").expect("write");
        let large: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(dir.join("large"), large).expect("write");
        std::fs::write(dir.join("empty"), "").expect("write");
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", "first"]);
        assert_reads_as_gix(dir);
        git(dir, &["gc", "-q", "--prune=now"]);
        std::fs::write(dir.join("small"), "y\n").expect("write");
        git(dir, &["commit", "-q", "-am", "second"]);
        assert_reads_as_gix(dir);
    }

    #[test]
    fn a_corrupt_loose_object_is_an_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        std::fs::write(dir.join("f"), "content\n").expect("write");
        git(dir, &["add", "-A"]);
        let id = git(dir, &["rev-parse", ":f"]);
        let path = dir.join(".git/objects").join(&id[..2]).join(&id[2..]);
        let mut perms = std::fs::metadata(&path).expect("stat").permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&path, perms).expect("chmod");
        std::fs::write(&path, b"not zlib").expect("write");
        let repo = gix::open(dir).expect("open");
        let objects = LooseFirst::new(&repo);
        let id = gix::ObjectId::from_hex(id.as_bytes()).expect("an id");
        assert!(objects.try_find(&id, &mut Vec::new()).is_err());
    }
}
