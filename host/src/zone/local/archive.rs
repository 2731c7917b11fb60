//! Moving a file into the archive without ever overwriting: a rename that
//! refuses to replace (`renameat2(RENAME_NOREPLACE)`), falling back to a
//! hard link where the file system lacks that flag, and to a copy into the
//! archive followed by a delete across file systems (`EXDEV`). A name that
//! is taken gets a numbered suffix: `name.1`, `name.2`, ...
//!
//! The file is an [`Entry`]: its name in a handle of its directory, opened
//! below the landing zone without following a link, so a rename, a delete
//! or a copy acts on the landing zone's own entry, never on what a link
//! points at. A copy reads the entry opened with `O_NOFOLLOW` and checked to
//! be the file that was read, into a file created 0600. The archive's
//! directories that Sluice creates are 0700.

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, RenameFlags};

use super::beneath;
use crate::record::FileId;

/// Names tried after the file's own before giving up.
const MAX_SUFFIX: u32 = 1000;

/// A landing-zone entry: its directory's handle and its name there.
#[derive(Debug)]
pub struct Entry {
    dir: OwnedFd,
    name: PathBuf,
}

impl Entry {
    /// The entry `rel` below `landing_zone`; fails with a refusal if a
    /// directory on the way is a link.
    pub fn find(landing_zone: &Path, rel: &Path) -> io::Result<Entry> {
        let (dir, name) = beneath::parent(landing_zone, rel)?;
        Ok(Entry { dir, name })
    }

    /// The entry's own metadata (a link's, not its target's).
    pub fn metadata(&self) -> io::Result<fs::Metadata> {
        let flags = rustix::fs::OFlags::PATH | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC;
        File::from(rustix::fs::openat(&self.dir, &self.name, flags, rustix::fs::Mode::empty())?).metadata()
    }

    /// Removes the entry itself (a link would be removed, not its target).
    pub fn remove(&self) -> io::Result<()> {
        rustix::fs::unlinkat(&self.dir, &self.name, AtFlags::empty())?;
        rustix::fs::fsync(&self.dir)?;
        Ok(())
    }
}

/// Where `file`, found in `landing_zone`, goes in `archive_dir`: the same
/// path below it.
pub fn target(file: &Path, landing_zone: &Path, archive_dir: &Path) -> PathBuf {
    match beneath::below(landing_zone, file) {
        Ok(below) => archive_dir.join(below),
        Err(_) => archive_dir.join(file.file_name().unwrap_or(file.as_os_str())),
    }
}

/// Moves the entry `file`, the file `id`, to `target`, or to the first
/// free `target.N`; returns where it went. The archive's directories are
/// created as needed, 0700.
pub fn move_to(file: &Entry, id: FileId, target: &Path) -> io::Result<PathBuf> {
    let dir = target.parent().unwrap_or(Path::new("."));
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let to = File::open(dir)?;
    let placed = match claim(target, |to_path| rename_no_replace(&file.dir, &file.name, &to, name_of(to_path))) {
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => copy_across(file, id, target, dir, &to),
        other => other,
    }?;
    to.sync_all()?;
    rustix::fs::fsync(&file.dir)?;
    Ok(placed)
}

fn name_of(path: &Path) -> &Path {
    path.file_name().map_or(path, Path::new)
}

/// Tries `place` at `target`, then at `target.1`, `target.2`... while the
/// name is taken.
fn claim(target: &Path, mut place: impl FnMut(&Path) -> io::Result<()>) -> io::Result<PathBuf> {
    for n in 0..=MAX_SUFFIX {
        let to = suffixed(target, n);
        match place(&to) {
            Ok(()) => return Ok(to),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    let taken = format!("{} and its suffixes .1 to .{MAX_SUFFIX} are all taken", target.display());
    Err(io::Error::new(io::ErrorKind::AlreadyExists, taken))
}

fn suffixed(target: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return target.to_owned();
    }
    let mut name = target.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Renames `from` in `from_dir` to `to` in `to_dir` unless `to` exists
/// (`AlreadyExists` then).
fn rename_no_replace(from_dir: impl AsFd, from: &Path, to_dir: impl AsFd, to: &Path) -> io::Result<()> {
    let (from_dir, to_dir) = (from_dir.as_fd(), to_dir.as_fd());
    match rustix::fs::renameat_with(from_dir, from, to_dir, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        // The file system has no RENAME_NOREPLACE: a hard link also refuses
        // to replace, and fails with EXDEV across file systems as well.
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            rustix::fs::linkat(from_dir, from, to_dir, to, AtFlags::empty())?;
            Ok(rustix::fs::unlinkat(from_dir, from, AtFlags::empty())?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Copies the entry `file`, still the file `id`, into `dir` under a
/// temporary name (created 0600), syncs it, gives it its archive name, then
/// deletes the entry. A crash leaves the original in place (and at worst a
/// hidden temporary file in the archive).
fn copy_across(file: &Entry, id: FileId, target: &Path, dir: &Path, to: &File) -> io::Result<PathBuf> {
    let mut source = beneath::open_at(&file.dir, &file.name)?;
    if FileId::of(&source.metadata()?) != id {
        return Err(io::Error::other("the file changed while it was being archived"));
    }
    let mut copy = tempfile::Builder::new().prefix(".sluice-archiving-").tempfile_in(dir)?;
    io::copy(&mut source, copy.as_file_mut())?;
    copy.as_file().sync_all()?;
    let copy = copy.into_temp_path();
    let temporary = name_of(&copy).to_owned();
    let placed = claim(target, |to_path| rename_no_replace(to, &temporary, to, name_of(to_path)))?;
    // The temporary name is gone: keep the guard from deleting anything.
    let _ = copy.keep();
    file.remove()?;
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn entry(landing: &Path, rel: &str) -> (Entry, FileId) {
        let entry = Entry::find(landing, Path::new(rel)).unwrap();
        let id = FileId::of(&entry.metadata().unwrap());
        (entry, id)
    }

    #[test]
    fn the_archive_keeps_the_path_below_the_landing_zone() {
        let got = target(Path::new("/in/date=1/a.json"), Path::new("/in"), Path::new("/arch"));
        assert_eq!(got, Path::new("/arch/date=1/a.json"));
    }

    #[test]
    fn a_taken_name_gets_a_suffix_and_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let (landing, archive) = (dir.path().join("in"), dir.path().join("arch"));
        fs::create_dir_all(landing.join("sub")).unwrap();
        let file = landing.join("sub/a.json");
        let target = target(&file, &landing, &archive);
        for (n, want) in [(0, "sub/a.json"), (1, "sub/a.json.1"), (2, "sub/a.json.2")] {
            fs::write(&file, format!("{n}\n")).unwrap();
            let (entry, id) = entry(&landing, "sub/a.json");
            assert_eq!(move_to(&entry, id, &target).unwrap(), archive.join(want));
            assert!(!file.exists());
        }
        for (n, name) in ["sub/a.json", "sub/a.json.1", "sub/a.json.2"].iter().enumerate() {
            assert_eq!(fs::read_to_string(archive.join(name)).unwrap(), format!("{n}\n"));
        }
    }

    #[test]
    fn a_copy_across_file_systems_lands_under_a_free_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.json");
        let target = dir.path().join("arch/a.json");
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(&target, "old\n").unwrap();
        fs::write(&file, "new\n").unwrap();
        let (entry, id) = entry(dir.path(), "a.json");
        let to = File::open(target.parent().unwrap()).unwrap();
        let placed = copy_across(&entry, id, &target, target.parent().unwrap(), &to).unwrap();
        assert_eq!(fs::metadata(&placed).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(placed, dir.path().join("arch/a.json.1"));
        assert_eq!(fs::read_to_string(&placed).unwrap(), "new\n");
        assert_eq!(fs::read_to_string(&target).unwrap(), "old\n");
        assert!(!file.exists());
        let left: Vec<_> = fs::read_dir(target.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary file is left");
    }

    #[test]
    fn archive_directories_are_private_and_a_link_is_moved_not_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let (landing, archive) = (dir.path().join("in"), dir.path().join("arch"));
        fs::create_dir_all(&landing).unwrap();
        fs::write(dir.path().join("precious"), "keep\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("precious"), landing.join("a.json")).unwrap();
        let (entry, id) = entry(&landing, "a.json");
        move_to(&entry, id, &archive.join("sub/a.json")).unwrap();
        assert!(fs::symlink_metadata(archive.join("sub/a.json")).unwrap().is_symlink());
        assert_eq!(fs::read_to_string(dir.path().join("precious")).unwrap(), "keep\n");
        assert_eq!(fs::metadata(archive.join("sub")).unwrap().permissions().mode() & 0o777, 0o700);
    }
}
