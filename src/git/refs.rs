//! Ref updates by compare-and-swap: git-oc names the ref it moves and the value it expects there,
//! and never moves a ref through a worktree's HEAD (which an agent can point anywhere).

use gix::bstr::ByteSlice;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};

use crate::error::{Error, Result};

/// Point `name` at `new`, if it holds `expected` now (`None`: it must not exist).
#[tracing::instrument(level = "debug", skip(repo, log_message), fields(expected = ?expected.map(|e| e.to_string()), new = %new))]
pub fn compare_and_swap(
    repo: &gix::Repository,
    name: &str,
    expected: Option<gix::ObjectId>,
    new: gix::ObjectId,
    log_message: &str,
) -> Result<()> {
    let full = full_name(name)?;
    let expected = match expected {
        Some(id) => PreviousValue::MustExistAndMatch(gix::refs::Target::Object(id)),
        None => PreviousValue::MustNotExist,
    };
    repo.edit_reference(RefEdit {
        change: Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: log_message.into(),
            },
            expected,
            new: gix::refs::Target::Object(new),
        },
        name: full,
        deref: false,
    })
    .map_err(|e| Error::git(format!("could not update {name}"), e))?;
    Ok(())
}

/// Create `name` at `target`; it must not exist yet.
pub fn create(repo: &gix::Repository, name: &str, target: gix::ObjectId, log_message: &str) -> Result<()> {
    compare_and_swap(repo, name, None, target, log_message)
}

/// Delete `name` if it holds `expected`.
#[tracing::instrument(level = "debug", skip(repo))]
pub fn delete(repo: &gix::Repository, name: &str, expected: gix::ObjectId) -> Result<()> {
    let full = full_name(name)?;
    repo.edit_reference(RefEdit {
        change: Change::Delete {
            expected: PreviousValue::MustExistAndMatch(gix::refs::Target::Object(expected)),
            log: RefLog::AndReference,
        },
        name: full,
        deref: false,
    })
    .map_err(|e| Error::git(format!("could not delete {name}"), e))?;
    Ok(())
}

/// The commit `name` points at, if it exists.
pub fn target(repo: &gix::Repository, name: &str) -> Result<Option<gix::ObjectId>> {
    match repo.try_find_reference(name) {
        Ok(Some(mut r)) => Ok(r.peel_to_id().ok().map(|id| id.detach())),
        Ok(None) => Ok(None),
        Err(e) => Err(Error::git(format!("could not read {name}"), e)),
    }
}

/// The refs under `prefix` (a full ref name prefix such as `refs/oc/tasks/`) and the objects
/// they point at, in one pass over the refs and without reading any object (a symbolic ref is
/// peeled): keyed by the name after the prefix. One directory walk instead of a lookup per ref,
/// each of which stats `packed-refs` and opens the ref's file.
pub fn ids_under(repo: &gix::Repository, prefix: &str) -> Result<std::collections::BTreeMap<String, gix::ObjectId>> {
    let ctx = |e| Error::git(format!("could not list the refs under {prefix}"), e);
    let platform = repo.references().map_err(ctx)?;
    let mut out = std::collections::BTreeMap::new();
    for reference in platform.prefixed(prefix).map_err(ctx)? {
        // A ref that cannot be read is left out, as a ref that does not exist.
        let Ok(mut reference) = reference else { continue };
        let name = reference.name().as_bstr().to_str_lossy().into_owned();
        if let (Some(rest), Ok(id)) = (name.strip_prefix(prefix), target_id(&mut reference)) {
            out.insert(rest.to_owned(), id);
        }
    }
    Ok(out)
}

/// Every ref and what it points at, for noticing refs that changed during a run.
pub fn all(repo: &gix::Repository) -> Result<std::collections::BTreeMap<String, String>> {
    let ctx = |e| Error::git("could not list the refs", e);
    let platform = repo.references().map_err(ctx)?;
    let mut out = std::collections::BTreeMap::new();
    for r in platform.all().map_err(ctx)?.flatten() {
        let target = match r.target() {
            gix::refs::TargetRef::Object(id) => id.to_string(),
            gix::refs::TargetRef::Symbolic(name) => format!("ref: {}", name.as_bstr()),
        };
        out.insert(r.name().as_bstr().to_string(), target);
    }
    Ok(out)
}

fn full_name(name: &str) -> Result<gix::refs::FullName> {
    gix::refs::FullName::try_from(name)
        .map_err(|e| Error::internal(format!("invalid ref name {name}")).caused_by(e.to_string()))
}

/// The object `reference` points at: a direct ref as it is (no object read), a symbolic one
/// peeled. Listing thousands of evidence refs or tasks reads no object for this.
pub fn target_id(reference: &mut gix::Reference<'_>) -> std::result::Result<gix::ObjectId, String> {
    match reference.target().try_id() {
        Some(id) => Ok(id.to_owned()),
        None => reference.peel_to_id().map(|id| id.detach()).map_err(|e| e.to_string()),
    }
}
