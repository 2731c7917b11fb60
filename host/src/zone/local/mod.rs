//! The local directory as a landing zone, the first [`LandingZone`].
//!
//! A rescan lists the directory ([`walk`]; with `--recursive` every file
//! below it); `notify` reports changes as they happen ([`watch`]). Every
//! entry is looked at and opened below the directory's handle without
//! following a link ([`beneath`]): a link is refused, unless
//! `--follow-symlinks` resolves it to a file inside the zone, which then
//! stands for it under its real name. A file's identity is its device and
//! inode ([`FileId::of`]); one is complete once it has not grown for
//! `--settle-ms` by its modification time and by the source's own watch. A
//! finished file is deleted or moved into the archive relative to its
//! directory's handle, checked to be still the file that was read
//! (`clean.rs`, [`archive`]).

pub mod archive;
pub mod beneath;
mod clean;
pub mod walk;
pub mod watch;

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Cleaned, Cleaning, Entry, LandingZone, Listing, Looked, Watch, ZoneError, ZoneFile};
use crate::progress::Completed;
use crate::record::{FileId, Skip};

/// A landing-zone directory.
#[derive(Debug, Clone)]
pub struct LocalDir {
    dir: PathBuf,
    recursive: bool,
    follow_symlinks: bool,
}

impl LocalDir {
    /// The zone `dir`; with `recursive` the files below its sub-directories
    /// too; with `follow_symlinks` a link to a file inside it is read.
    pub fn new(dir: PathBuf, recursive: bool, follow_symlinks: bool) -> Self {
        LocalDir { dir, recursive, follow_symlinks }
    }

    /// The entry at `path` as it may be read: its path (the real one below
    /// the zone, for a link followed) and its own metadata.
    fn look_at(&self, path: &Path) -> io::Result<(PathBuf, fs::Metadata)> {
        let dir = &self.dir;
        let rel = beneath::below(dir, path)?;
        if rel.as_os_str().is_empty() {
            return Ok((dir.clone(), fs::metadata(dir)?));
        }
        let meta = beneath::look(dir, &rel)?;
        if !meta.is_symlink() {
            // The zone's own spelling, so that the cleaner finds it below the zone.
            return Ok((dir.join(rel), meta));
        }
        if !self.follow_symlinks {
            return Err(Skip::Symlink.into());
        }
        let real = beneath::inside(dir, &rel)?;
        Ok((dir.join(&real), beneath::look(dir, &real)?))
    }

    /// A listed entry by its own metadata; a link followed stands for its
    /// target, present by its identity.
    fn listed(&self, path: PathBuf) -> Option<Entry> {
        let meta = fs::symlink_metadata(&path).ok()?;
        let (path, meta) = match meta.is_symlink() && self.follow_symlinks {
            true => self.look_at(&path).unwrap_or((path, meta)),
            false => (path, meta),
        };
        entry(path, &meta).ok()
    }
}

fn entry(name: PathBuf, meta: &fs::Metadata) -> io::Result<Entry> {
    Ok(Entry { name, id: FileId::of(meta), len: meta.len(), modified: meta.modified()? })
}

impl fmt::Display for LocalDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.dir.display().fmt(f)
    }
}

impl LandingZone for LocalDir {
    fn check(&self) -> Result<(), ZoneError> {
        let zone = || self.dir.display().to_string();
        match fs::metadata(&self.dir) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(ZoneError::NotADirectory(zone())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ZoneError::Missing(zone())),
            Err(source) => Err(ZoneError::Unreachable { zone: zone(), source }),
        }
    }

    fn list(&self, wanted: &dyn Fn(&Path) -> bool) -> io::Result<Listing> {
        let names = walk::entries(&self.dir, self.recursive)?;
        let entries = names.iter().filter(|path| wanted(path)).filter_map(|path| self.listed(path.clone())).collect();
        Ok(Listing { names, entries })
    }

    fn watch(&self) -> io::Result<Watch> {
        watch::watch(&self.dir, self.recursive).map_err(io::Error::other)
    }

    fn look(&self, name: &Path) -> io::Result<Looked> {
        if self.recursive && walk::in_hidden_dir(&self.dir, name) {
            return Ok(Looked::Hidden);
        }
        let (path, meta) = self.look_at(name)?;
        if meta.is_dir() {
            // A directory created or moved in: its files may predate the watch on it.
            let fresh = self.recursive && path != self.dir;
            return Ok(Looked::Dir(if fresh { walk::entries(&path, true).unwrap_or_default() } else { Vec::new() }));
        }
        if !meta.is_file() {
            return Ok(Looked::NotAFile(path));
        }
        Ok(Looked::File(entry(path, &meta)?))
    }

    fn open(&self, name: &Path) -> io::Result<Box<dyn ZoneFile>> {
        let file = beneath::open(&self.dir, &beneath::below(&self.dir, name)?)?;
        Ok(Box::new(LocalFile::new(file)?))
    }

    fn clean(&self, file: &Completed, how: Cleaning<'_>) -> Cleaned {
        clean::clean(&self.dir, file, how)
    }
}

/// An open local file.
#[derive(Debug)]
pub struct LocalFile {
    file: File,
    id: FileId,
}

impl LocalFile {
    /// `file`, opened already (by [`LandingZone::open`], or for `sluice
    /// test`, the operator's own input).
    pub fn new(file: File) -> io::Result<Self> {
        let id = FileId::of(&file.metadata()?);
        Ok(LocalFile { file, id })
    }
}

impl Read for LocalFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl ZoneFile for LocalFile {
    fn id(&self) -> FileId {
        self.id
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn seek_to(&mut self, offset: u64) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(offset)).map(drop)
    }

    fn reader_at_start(&mut self) -> io::Result<Box<dyn Read + Send>> {
        self.file.seek(SeekFrom::Start(0))?;
        Ok(Box::new(self.file.try_clone()?))
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }

    /// Quiet for `settle` by both its modification time and the source's
    /// own watch on its size.
    fn settled(&self, quiet: Duration, settle: Duration) -> io::Result<bool> {
        let mtime_age = self.file.metadata()?.modified()?.elapsed().unwrap_or_default();
        Ok(quiet.max(mtime_age) >= settle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::{read_line_at, refusal};

    #[test]
    fn a_line_is_read_back_by_its_offset_and_never_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let zone = dir.path().join("in");
        fs::create_dir(&zone).unwrap();
        fs::write(zone.join("a.json"), b"\xEF\xBB\xBF{\"a\":1}\r\n{\"b\":2}").unwrap();
        std::os::unix::fs::symlink(zone.join("a.json"), zone.join("link.json")).unwrap();
        let local = LocalDir::new(zone.clone(), false, true);
        assert_eq!(read_line_at(&local, &zone.join("a.json"), 0).unwrap(), b"{\"a\":1}");
        assert_eq!(read_line_at(&local, &zone.join("a.json"), 12).unwrap(), b"{\"b\":2}");
        let linked = read_line_at(&local, &zone.join("link.json"), 0).unwrap_err();
        assert_eq!(refusal(&linked), Some(Skip::Symlink));
    }

    #[test]
    fn heads_tell_a_new_file_from_the_one_it_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "{\"a\":1}\n").unwrap();
        let head = LocalFile::new(File::open(&path).unwrap()).unwrap().head().unwrap();
        assert_eq!(head.len, 8);
        fs::write(&path, "{\"a\":1}\n{\"b\":2}\n").unwrap();
        assert!(
            LocalFile::new(File::open(&path).unwrap()).unwrap().starts_with(&head).unwrap(),
            "the same file, grown"
        );
        fs::write(&path, "{\"z\":9}\n").unwrap();
        assert!(!LocalFile::new(File::open(&path).unwrap()).unwrap().starts_with(&head).unwrap(), "other content");
        fs::write(&path, "{").unwrap();
        assert!(!LocalFile::new(File::open(&path).unwrap()).unwrap().starts_with(&head).unwrap(), "shorter");
    }
}
