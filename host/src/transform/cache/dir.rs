//! The cache directory as sluice trusts it: opened once, checked to be
//! owned by the running user and writable by no one else, and from then on
//! used only through its handle (`openat`, `renameat`), so a path swapped
//! after the check is never followed. Entries are opened with `O_NOFOLLOW`
//! and checked the same way; a file sluice writes here is created `0600`,
//! written to a temporary name, fsynced and renamed into place. The
//! directory also keeps the per-user key that authenticates its entries
//! ([`Dir::key`]), made once from the operating system's random numbers.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, Stat};
use rustix::io::Errno;

/// The name of the key file in the cache directory.
pub const KEY_FILE: &str = "key";
/// Bytes of the key.
pub const KEY_LEN: usize = 32;

/// A cache directory or key that someone other than the running user could
/// have written: sluice refuses to start with it.
#[derive(Debug, thiserror::Error)]
#[error(
    "module cache {what} {path} is {problem} (owner uid {uid}, mode {mode:04o}); whoever can write it can make \
     sluice run their machine code: make it owned by uid {me} and not {allowed}, or choose another \
     --module-cache-dir (`off` turns the cache off)"
)]
pub struct Unsafe {
    /// `directory` or `key`.
    pub what: &'static str,
    /// Its path.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: String,
    /// Its owner.
    pub uid: u32,
    /// Its permission bits.
    pub mode: u32,
    /// The running user.
    pub me: u32,
    /// What it may not be, e.g. `writable by group or others`.
    pub allowed: &'static str,
}

/// An open, checked cache directory.
#[derive(Debug)]
pub struct Dir {
    path: PathBuf,
    fd: OwnedFd,
}

/// Permission bits a directory or entry may not have: writable by group or others.
const NOT_WRITABLE: (u32, &str) = (0o022, "writable by group or others");
/// Permission bits the key may not have: any access by group or others.
const PRIVATE: (u32, &str) = (0o077, "readable or writable by group or others");

impl Dir {
    /// Creates `path` (`0700`) if it is missing and opens it. `Ok(None)` when
    /// it cannot be created or opened (the caller compiles without a cache);
    /// an error when it is not the running user's alone.
    pub fn open(path: &Path) -> Result<Option<Dir>, Unsafe> {
        if let Err(e) = create_private_dir(path) {
            tracing::warn!(dir = %path.display(), reason = %e, "cannot create the module cache directory; compiling without it");
            return Ok(None);
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = match rustix::fs::open(path, flags, Mode::empty()).and_then(|fd| Ok((rustix::fs::fstat(&fd)?, fd))) {
            Ok((stat, fd)) => {
                check("directory", path, &stat, NOT_WRITABLE)?;
                fd
            }
            Err(e) => {
                tracing::warn!(dir = %path.display(), reason = %e, "cannot open the module cache directory; compiling without it");
                return Ok(None);
            }
        };
        Ok(Some(Dir { path: path.to_owned(), fd }))
    }

    /// The path of `name` in the directory, for messages.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The contents of the entry `name`: `Ok(None)` if there is none, an
    /// error naming why it is not used (a link, not a regular file, someone
    /// else's, writable by others, unreadable).
    pub fn read_entry(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        let (file, stat) = match self.open_file(name) {
            Ok(opened) => opened,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP) => return Err("it is a symbolic link".into()),
            Err(e) => return Err(format!("cannot open it: {e}")),
        };
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err("it is not a regular file".into());
        }
        if let Some(problem) = problem(&stat, NOT_WRITABLE.0) {
            return Err(format!("it is {problem} (owner uid {}, mode {:04o})", stat.st_uid, mode(&stat)));
        }
        read_all(file, stat.st_size).map(Some).map_err(|e| format!("cannot read it: {e}"))
    }

    /// Writes `parts` to the entry `name` atomically: a `0600` temporary
    /// file in the directory, fsynced, renamed over `name`.
    pub fn write_entry(&self, name: &str, parts: &[&[u8]]) -> std::io::Result<()> {
        let temp = self.write_temp(parts)?;
        rustix::fs::renameat(&self.fd, &temp, &self.fd, name).map_err(|e| self.discard(&temp, e))
    }

    /// The key that authenticates this cache's entries, made on first use.
    /// `Ok(None)` when it can be neither read nor made (logged).
    pub fn key(&self) -> Result<Option<[u8; KEY_LEN]>, Unsafe> {
        for _ in 0..2 {
            match self.read_key()? {
                Some(key) => return Ok(Some(key)),
                None => match self.make_key() {
                    Ok(true) => tracing::info!(key = %self.path_of(KEY_FILE).display(), "made the module cache's key"),
                    // Another sluice made it first: read theirs.
                    Ok(false) => {}
                    Err(e) => return Ok(self.no_key(&e.to_string())),
                },
            }
        }
        Ok(self.no_key("it vanished as it was made"))
    }

    fn no_key(&self, reason: &str) -> Option<[u8; KEY_LEN]> {
        let key = self.path_of(KEY_FILE);
        tracing::warn!(key = %key.display(), reason, "cannot make the module cache's key; compiling without the cache");
        None
    }

    /// The key, `None` if there is no key file yet.
    fn read_key(&self) -> Result<Option<[u8; KEY_LEN]>, Unsafe> {
        let path = self.path_of(KEY_FILE);
        let unsafe_key = |problem: String, stat: Option<&Stat>| Unsafe {
            what: "key",
            path: path.clone(),
            problem,
            uid: stat.map_or(0, |s| s.st_uid),
            mode: stat.map_or(0, mode),
            me: rustix::process::geteuid().as_raw(),
            allowed: PRIVATE.1,
        };
        let (file, stat) = match self.open_file(KEY_FILE) {
            Ok(opened) => opened,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(unsafe_key(format!("not readable as a file ({e})"), None)),
        };
        check("key", &path, &stat, PRIVATE)?;
        let bytes = read_all(file, stat.st_size).map_err(|e| unsafe_key(format!("unreadable ({e})"), Some(&stat)))?;
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|b: Vec<u8>| {
            unsafe_key(
                format!("{} bytes long instead of {KEY_LEN} (remove it: sluice makes a new one)", b.len()),
                Some(&stat),
            )
        })?;
        Ok(Some(key))
    }

    /// Makes the key file; `false` if one appeared meanwhile.
    fn make_key(&self) -> std::io::Result<bool> {
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(std::io::Error::other)?;
        let temp = self.write_temp(&[&key])?;
        match rustix::fs::renameat_with(&self.fd, &temp, &self.fd, KEY_FILE, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(true),
            Err(Errno::EXIST) => {
                let _ = rustix::fs::unlinkat(&self.fd, &temp, AtFlags::empty());
                Ok(false)
            }
            Err(e) => Err(self.discard(&temp, e)),
        }
    }

    /// Opens `name` in the directory without following a link, for reading.
    fn open_file(&self, name: &str) -> Result<(File, Stat), Errno> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty())?;
        let stat = rustix::fs::fstat(&fd)?;
        Ok((File::from(fd), stat))
    }

    /// A new `0600` file holding `parts`, fsynced; returns its name.
    fn write_temp(&self, parts: &[&[u8]]) -> std::io::Result<String> {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(std::io::Error::other)?;
        let temp = format!(".tmp-{}", super::hex(&nonce));
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut file = File::from(rustix::fs::openat(&self.fd, &temp, flags, Mode::from_raw_mode(0o600))?);
        let written = parts.iter().try_for_each(|part| file.write_all(part)).and_then(|()| file.sync_all());
        written.map(|()| temp.clone()).map_err(|e| self.discard(&temp, e))
    }

    /// Removes the temporary file `temp` after `error`; returns the error.
    fn discard(&self, temp: &str, error: impl Into<std::io::Error>) -> std::io::Error {
        let _ = rustix::fs::unlinkat(&self.fd, temp, AtFlags::empty());
        error.into()
    }
}

/// Refuses `stat` (of the `what` at `path`) unless the running user owns it
/// and it has none of the permission bits in `forbidden`.
fn check(what: &'static str, path: &Path, stat: &Stat, forbidden: (u32, &'static str)) -> Result<(), Unsafe> {
    let Some(problem) = problem(stat, forbidden.0) else { return Ok(()) };
    Err(Unsafe {
        what,
        path: path.to_owned(),
        problem,
        uid: stat.st_uid,
        mode: mode(stat),
        me: rustix::process::geteuid().as_raw(),
        allowed: forbidden.1,
    })
}

/// What makes `stat` untrustworthy, if anything.
fn problem(stat: &Stat, forbidden: u32) -> Option<String> {
    let me = rustix::process::geteuid().as_raw();
    if stat.st_uid != me {
        return Some(format!("owned by uid {}, not by the running user (uid {me})", stat.st_uid));
    }
    match mode(stat) & forbidden {
        0 => None,
        _ if forbidden == PRIVATE.0 => Some(PRIVATE.1.into()),
        _ => Some(NOT_WRITABLE.1.into()),
    }
}

/// The permission bits of `stat`.
fn mode(stat: &Stat) -> u32 {
    stat.st_mode & 0o7777
}

/// Reads `file` to its end, `size` (its length when opened) the first guess.
fn read_all(mut file: File, size: i64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Creates `dir` and any missing parents, `0700` each.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
