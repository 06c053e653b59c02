//! Reading loose objects with one system call fewer. gix's object store checks that a loose
//! object exists (a `stat`) before opening it. Evidence commits and the objects a run has just
//! written are loose, and listing thousands of runs or diffing a run's change reads thousands
//! of them, so this reader opens the file straight away and falls back to the repository's
//! store (packs, alternates) when it is not there. Use it where objects are likely loose: for
//! packed ones it costs a failed `open` each.

use gix::objs::{Data, FindHeader};

pub struct LooseFirst<'r> {
    loose: gix::odb::loose::Store,
    repo: &'r gix::Repository,
}

impl<'r> LooseFirst<'r> {
    pub fn new(repo: &'r gix::Repository) -> Self {
        LooseFirst {
            loose: gix::odb::loose::Store::at(repo.objects.store_ref().path(), repo.object_hash()),
            repo,
        }
    }
}

impl gix::objs::Find for LooseFirst<'_> {
    fn try_find<'a>(&self, id: &gix::oid, buffer: &'a mut Vec<u8>) -> gix::Result<Option<Data<'a>>> {
        // Taking the kind alone keeps the borrow of `buffer` out of the fallback.
        if let Some(kind) = self.loose.try_find(id, buffer)?.map(|data| data.kind) {
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
