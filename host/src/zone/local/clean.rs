//! `--clean-source` in a local directory: a finished file is reached from
//! the zone's directory without following a link ([`archive::Entry`]),
//! checked to be still the regular file that was read (device, inode and
//! size, of the entry itself), then deleted or moved relative to its
//! directory's handle (`unlinkat`, `renameat2`). A link in the way, or in
//! the file's place, leaves everything as it is. The archive directory
//! must lie outside the zone by real path ([`archive_inside`]), checked at
//! start-up and again before each move.

use std::io;
use std::path::Path;

use super::{archive, beneath};
use crate::config::archive_inside;
use crate::progress::Completed;
use crate::record::FileId;
use crate::zone::{Cleaned, Cleaning, refusal};

/// Archives or deletes `file`, below `landing_zone`, if it is still the
/// file that was read.
pub(super) fn clean(landing_zone: &Path, file: &Completed, how: Cleaning<'_>) -> Cleaned {
    let path = Path::new(&*file.path);
    let entry = match find(landing_zone, path) {
        Ok(entry) => entry,
        Err(outcome) => return outcome,
    };
    match entry.metadata() {
        Ok(meta) if meta.is_file() && FileId::of(&meta) == file.file && meta.len() == file.size => {}
        Ok(_) => {
            tracing::info!(file = %file.path, "finished file changed since it was read; it is cleaned once read again");
            return Cleaned::Skipped;
        }
        Err(e) => return gone_or_failed(file, e),
    }
    match how {
        Cleaning::Delete => delete(file, &entry),
        Cleaning::Archive(dir) => move_to_archive(file, &entry, dir, landing_zone),
    }
}

/// The finished file's entry, reached below the landing zone without
/// following a link.
fn find(landing_zone: &Path, path: &Path) -> Result<archive::Entry, Cleaned> {
    let Ok(rel) = beneath::below(landing_zone, path) else {
        tracing::warn!(file = %path.display(), "finished file is not below the landing zone; it is not cleaned");
        return Err(Cleaned::Skipped);
    };
    archive::Entry::find(landing_zone, &rel).map_err(|e| match refusal(&e) {
        Some(skip) => {
            tracing::warn!(file = %path.display(), reason = skip.as_str(), "finished file is now reached through a link; it is not cleaned");
            Cleaned::Skipped
        }
        None => Cleaned::Failed(e),
    })
}

/// A file found missing was cleaned by someone else; any other error is a
/// failure, tried again.
fn gone_or_failed(file: &Completed, error: io::Error) -> Cleaned {
    if error.kind() == io::ErrorKind::NotFound {
        tracing::info!(file = %file.path, "finished file is no longer in the landing zone; nothing to clean");
        return Cleaned::Skipped;
    }
    Cleaned::Failed(error)
}

fn delete(file: &Completed, entry: &archive::Entry) -> Cleaned {
    match entry.remove() {
        Ok(()) => {
            tracing::info!(file = %file.path, "deleted the finished file");
            Cleaned::Done
        }
        Err(e) => gone_or_failed(file, e),
    }
}

fn move_to_archive(file: &Completed, entry: &archive::Entry, dir: &Path, landing_zone: &Path) -> Cleaned {
    if archive_inside(dir, landing_zone) {
        let message = format!(
            "the archive directory {} is now inside the landing zone {} by its real path; nothing is moved",
            dir.display(),
            landing_zone.display()
        );
        return Cleaned::Failed(io::Error::other(message));
    }
    let path = Path::new(&*file.path);
    let target = archive::target(path, landing_zone, dir);
    match archive::move_to(entry, file.file, &target) {
        Ok(placed) if placed != target => {
            tracing::warn!(file = %file.path, taken = %target.display(), to = %placed.display(), "the archive holds a file of that name; archived under another");
            Cleaned::Done
        }
        Ok(placed) => {
            tracing::info!(file = %file.path, to = %placed.display(), "archived the finished file");
            Cleaned::Done
        }
        Err(e) => gone_or_failed(file, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn completed(path: &Path) -> Completed {
        let meta = fs::metadata(path).unwrap();
        let path = path.display().to_string().into();
        Completed { file: FileId::of(&meta), path, read_to: meta.len(), size: meta.len() }
    }

    #[test]
    fn a_delete_never_goes_through_a_linked_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (landing, precious) = (dir.path().join("in"), dir.path().join("precious"));
        fs::create_dir_all(&landing).unwrap();
        fs::create_dir_all(&precious).unwrap();
        fs::write(precious.join("p1.json"), "{}\n").unwrap();
        fs::write(landing.join("a.json"), "{}\n").unwrap();
        symlink(&precious, landing.join("sub")).unwrap();
        // What a source following links would have offered: the target's identity.
        let linked = completed(&landing.join("sub/p1.json"));
        assert!(matches!(clean(&landing, &linked, Cleaning::Delete), Cleaned::Skipped));
        assert!(precious.join("p1.json").exists());
        assert!(matches!(clean(&landing, &completed(&landing.join("a.json")), Cleaning::Delete), Cleaned::Done));
        assert!(!landing.join("a.json").exists());
    }

    #[test]
    fn a_file_swapped_for_a_link_is_not_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let landing = dir.path().join("in");
        fs::create_dir_all(&landing).unwrap();
        let (file, elsewhere) = (landing.join("a.json"), dir.path().join("elsewhere.json"));
        fs::write(&file, "{}\n").unwrap();
        let read = completed(&file);
        fs::rename(&file, &elsewhere).unwrap();
        symlink(&elsewhere, &file).unwrap();
        let archive = dir.path().join("arch");
        assert!(matches!(clean(&landing, &read, Cleaning::Archive(&archive)), Cleaned::Skipped));
        assert!(elsewhere.exists() && fs::symlink_metadata(&file).unwrap().is_symlink());
        assert!(!archive.exists());
    }
}
