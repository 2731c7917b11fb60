//! `--clean-source` in an object zone. The object is looked at first: one
//! gone, or overwritten since it was read (another ETag), is left alone.
//! `delete` deletes it; `archive` copies it within the bucket below
//! `--source-archive-dir`, keeping its key below the zone's prefix, checks
//! the copy (there, and as large), then deletes the original. A failure
//! leaves the object in place, to be tried again.

use std::io;
use std::path::Path;

use object_store::ObjectStoreExt;
use object_store::path::Path as Key;

use super::{ObjectZone, id_of};
use crate::progress::Completed;
use crate::zone::{Cleaned, Cleaning};

pub(super) fn clean(zone: &ObjectZone, file: &Completed, how: Cleaning<'_>) -> Cleaned {
    let Ok(key) = zone.key(Path::new(&*file.path)) else { return Cleaned::Skipped };
    let meta = match zone.block_on(zone.store.head(&key)) {
        Ok(meta) => meta,
        Err(object_store::Error::NotFound { .. }) => return Cleaned::Skipped,
        Err(e) => return Cleaned::Failed(zone.scrub.error(e)),
    };
    if id_of(&meta) != file.file {
        tracing::info!(object = %file.path, "not cleaned: overwritten since it was read");
        return Cleaned::Skipped;
    }
    let done = match how {
        Cleaning::Delete => Ok(()),
        Cleaning::Archive(dir) => archive(zone, &key, meta.size, dir),
    }
    .and_then(|()| zone.block_on(zone.store.delete(&key)).map_err(|e| zone.scrub.error(e)));
    match done {
        Ok(()) => Cleaned::Done,
        Err(e) => Cleaned::Failed(e),
    }
}

/// Copies the object at `key` (of `size` bytes) below the archive `dir`
/// (a URL in the zone's bucket) and checks the copy.
fn archive(zone: &ObjectZone, key: &Key, size: u64, dir: &Path) -> io::Result<()> {
    let target = target(zone, key, dir)?;
    zone.block_on(zone.store.copy(key, &target)).map_err(|e| zone.scrub.error(e))?;
    let copy = zone.block_on(zone.store.head(&target)).map_err(|e| zone.scrub.error(e))?;
    if copy.size != size {
        return Err(io::Error::other(format!("the archived copy {target} holds {} bytes, not {size}", copy.size)));
    }
    Ok(())
}

/// Where the object at `key` goes below the archive `dir`: the archive's
/// key prefix, then the object's key below the zone's prefix.
fn target(zone: &ObjectZone, key: &Key, dir: &Path) -> io::Result<Key> {
    let url = url::Url::parse(&dir.to_string_lossy()).map_err(io::Error::other)?;
    let archive = Key::from_url_path(url.path()).map_err(io::Error::other)?;
    let below = key.prefix_match(&zone.prefix).ok_or_else(|| io::Error::other("outside the zone"))?;
    Ok(below.fold(archive, |target, part| target.join(part)))
}
