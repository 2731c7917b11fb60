//! Landing-zone entries looked at and opened without leaving the zone.
//!
//! The landing zone is written by others, so a name in it is not trusted to
//! be what it says. Every entry is reached from the zone's own directory one
//! path component at a time (`openat` with `O_NOFOLLOW | O_DIRECTORY`), so a
//! symbolic link anywhere below the zone is never traversed; the entry itself
//! is looked at with `O_PATH | O_NOFOLLOW` (its own metadata, not a link
//! target's) and opened with `O_NOFOLLOW | O_NONBLOCK` (a FIFO swapped in
//! cannot block the open). Only a regular file is opened for reading, and
//! not one on procfs, sysfs and the like, whose sizes lie (checked with
//! `fstatfs`). `--follow-symlinks` is a resolution of the link's real path
//! ([`inside`]), which must lie in the zone and is then opened the same way.
//! A refusal is an [`io::Error`] carrying a [`Skip`]
//! ([`refusal`](crate::zone::refusal)); the source warns once and counts
//! it, the cleaner leaves the entry alone.
//! The landing-zone directory itself is the operator's, and is opened as
//! named (following links).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::record::Skip;

/// `f_type`s of file systems whose files are not data: procfs, sysfs,
/// debugfs, tracefs, securityfs, cgroup v1 and v2, configfs, devpts,
/// pstore, efivarfs and bpffs (`linux/magic.h`).
const PSEUDO_FILE_SYSTEMS: [u32; 12] = [
    0x9fa0,
    0x6265_6572,
    0x6462_6720,
    0x7472_6163,
    0x7363_6673,
    0x0027_e0eb,
    0x6367_7270,
    0x6265_6570,
    0x1cd1,
    0x6165_676c,
    0xde5e_81e4,
    0xcafe_4a11,
];

/// `path` relative to the landing zone `root`, however either is spelled
/// (the watcher reports absolute paths for a relative `root`), or
/// [`Skip::OutsideLandingZone`].
pub fn below(root: &Path, path: &Path) -> io::Result<PathBuf> {
    if let Ok(rel) = path.strip_prefix(root) {
        return Ok(rel.to_owned());
    }
    let (root, path) = (std::path::absolute(root)?, std::path::absolute(path)?);
    path.strip_prefix(root).map(Path::to_owned).map_err(|_| Skip::OutsideLandingZone.into())
}

/// The directory `rel`'s parent, opened below `root` without following a
/// link, and `rel`'s last component.
pub fn parent(root: &Path, rel: &Path) -> io::Result<(OwnedFd, PathBuf)> {
    let mut names = Vec::new();
    for component in rel.components() {
        match component {
            Component::Normal(name) => names.push(name),
            Component::CurDir => {}
            _ => return Err(Skip::OutsideLandingZone.into()),
        }
    }
    let Some(last) = names.pop() else { return Err(Skip::NotARegularFile.into()) };
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut dir = rustix::fs::open(root, flags, Mode::empty())?;
    for name in names {
        dir = match rustix::fs::openat(&dir, name, flags | OFlags::NOFOLLOW, Mode::empty()) {
            Ok(next) => next,
            Err(e) => return Err(classify(&dir, name, e.into())),
        };
    }
    Ok((dir, PathBuf::from(last)))
}

/// A component that could not be opened as a directory: a link is a
/// refusal, anything else the error as it is.
fn classify(dir: &OwnedFd, name: &OsStr, error: io::Error) -> io::Error {
    match rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) if rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Symlink => {
            Skip::Symlink.into()
        }
        _ => error,
    }
}

/// The metadata of the entry `rel` below `root` itself: a link's own, not
/// its target's. Fails with [`Skip::Symlink`] if a directory on the way is
/// a link.
pub fn look(root: &Path, rel: &Path) -> io::Result<fs::Metadata> {
    let (dir, name) = parent(root, rel)?;
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    File::from(rustix::fs::openat(&dir, &name, flags, Mode::empty())?).metadata()
}

/// Opens the regular file `rel` below `root` for reading, never through a
/// link, never a FIFO, device, socket or pseudo-file.
pub fn open(root: &Path, rel: &Path) -> io::Result<File> {
    let (dir, name) = parent(root, rel)?;
    open_at(&dir, &name)
}

/// Opens the regular file `name` in `dir` for reading, as [`open`] does.
pub fn open_at(dir: &OwnedFd, name: &Path) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let file = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => File::from(fd),
        Err(e) if e == rustix::io::Errno::LOOP => return Err(Skip::Symlink.into()),
        Err(e) => return Err(e.into()),
    };
    if !file.metadata()?.is_file() {
        return Err(Skip::NotARegularFile.into());
    }
    if is_pseudo(&file)? {
        return Err(Skip::PseudoFile.into());
    }
    Ok(file)
}

/// Whether `file` lies on a file system of pseudo-files.
fn is_pseudo(file: &File) -> io::Result<bool> {
    let stat = rustix::fs::fstatfs(file)?;
    // `f_type` is signed on some targets; the magic numbers are 32 bits.
    #[allow(clippy::unnecessary_cast)]
    let kind = stat.f_type as u64 as u32;
    Ok(PSEUDO_FILE_SYSTEMS.contains(&kind))
}

/// `--follow-symlinks`: the path below `root` of the real file that `rel`
/// names, or [`Skip::OutsideLandingZone`] when it lies outside the zone.
pub fn inside(root: &Path, rel: &Path) -> io::Result<PathBuf> {
    let real_root = root.canonicalize()?;
    let real = root.join(rel).canonicalize()?;
    match real.strip_prefix(&real_root) {
        Ok(below) if below.as_os_str().is_empty() => Err(Skip::NotARegularFile.into()),
        Ok(below) => Ok(below.to_owned()),
        Err(_) => Err(Skip::OutsideLandingZone.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn zone() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (zone, outside) = (dir.path().join("in"), dir.path().join("outside"));
        fs::create_dir_all(zone.join("sub")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(zone.join("sub/a.json"), "{}\n").unwrap();
        fs::write(outside.join("secret.json"), "{\"secret\":1}\n").unwrap();
        (dir, zone, outside)
    }

    fn refused(result: io::Result<impl std::fmt::Debug>) -> Option<Skip> {
        crate::zone::refusal(&result.unwrap_err())
    }

    #[test]
    fn files_below_the_zone_are_opened_and_links_anywhere_refused() {
        let (_dir, zone, outside) = zone();
        assert!(open(&zone, Path::new("sub/a.json")).is_ok());
        symlink(outside.join("secret.json"), zone.join("link.json")).unwrap();
        symlink(&outside, zone.join("linked")).unwrap();
        assert_eq!(refused(open(&zone, Path::new("link.json"))), Some(Skip::Symlink));
        assert!(look(&zone, Path::new("link.json")).unwrap().is_symlink(), "the link's own metadata");
        assert_eq!(refused(open(&zone, Path::new("linked/secret.json"))), Some(Skip::Symlink));
        assert_eq!(refused(look(&zone, Path::new("linked/secret.json"))), Some(Skip::Symlink));
        assert_eq!(refused(open(&zone, Path::new("../outside/secret.json"))), Some(Skip::OutsideLandingZone));
        let relative = Path::new("in");
        let absolute = std::path::absolute(relative).unwrap();
        assert_eq!(below(relative, &absolute.join("a/b.json")).unwrap(), Path::new("a/b.json"));
        assert_eq!(below(&absolute, Path::new("in/b.json")).unwrap(), Path::new("b.json"));
        assert_eq!(refused(below(relative, Path::new("other/b.json"))), Some(Skip::OutsideLandingZone));
    }

    #[test]
    fn follow_symlinks_resolves_only_inside_the_zone() {
        let (_dir, zone, outside) = zone();
        symlink(zone.join("sub/a.json"), zone.join("inner.json")).unwrap();
        symlink(outside.join("secret.json"), zone.join("outer.json")).unwrap();
        assert_eq!(inside(&zone, Path::new("inner.json")).unwrap(), Path::new("sub/a.json"));
        assert_eq!(refused(inside(&zone, Path::new("outer.json"))), Some(Skip::OutsideLandingZone));
    }

    #[test]
    fn fifos_and_pseudo_files_are_refused_without_blocking() {
        let (_dir, zone, _) = zone();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            zone.join("fifo.json"),
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert_eq!(refused(open(&zone, Path::new("fifo.json"))), Some(Skip::NotARegularFile));
        assert_eq!(refused(open(Path::new("/proc/self"), Path::new("environ"))), Some(Skip::PseudoFile));
    }
}
