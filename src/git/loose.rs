//! Reading loose objects with one system call fewer. gix's object store checks that a loose
//! object exists (a `stat`) before opening it; evidence commits and a run's new objects are
//! loose, and listing thousands of runs reads thousands of them, so this reader opens the file
//! straight away and falls back to the whole store (packs, alternates) when it is not there.

use crate::error::{Error, Result};

pub struct LooseFirst {
    loose: gix::odb::loose::Store,
}

impl LooseFirst {
    pub fn new(repo: &gix::Repository) -> Self {
        LooseFirst {
            loose: gix::odb::loose::Store::at(repo.objects.store_ref().path(), repo.object_hash()),
        }
    }

    /// The object `id` (its kind and bytes, in `buf`), or `None` when the repository has no
    /// such object.
    pub fn find<'a>(
        &self,
        repo: &gix::Repository,
        id: &gix::oid,
        buf: &'a mut Vec<u8>,
    ) -> Result<Option<(gix::object::Kind, &'a [u8])>> {
        let ctx = |e| Error::git(format!("could not read object {id}"), e);
        // Probing first keeps the borrow of `buf` out of the fallback.
        let loose_kind = self.loose.try_find(id, buf).map_err(ctx)?.map(|data| data.kind);
        if let Some(kind) = loose_kind {
            return Ok(Some((kind, buf.as_slice())));
        }
        use gix::prelude::Find;
        Ok(repo
            .objects
            .try_find(id, buf)
            .map_err(|e| Error::git(format!("could not read object {id}"), e))?
            .map(|data| (data.kind, data.data)))
    }
}
