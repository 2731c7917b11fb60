//! The host id an exactly-once host runs under when `--host-id` is not
//! given: the hostname and a random suffix, made once and kept in the
//! checkpoint directory (`host-id`), as Kafka Streams keeps its process id
//! in its state directory. The directory's lock keeps it to one process, so
//! the id is unique per process on a machine and stable across restarts:
//! a restarted host fences what it left behind, and two hosts on one
//! machine with their own checkpoint directories do not fence each other.
//!
//! The file is read as hostile: opened without following a link or
//! blocking on a FIFO, at most 200 bytes, one line of a legal id,
//! else an error naming the file. It is written 0600 to a temporary name,
//! synced and renamed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::config::{MAX_HOST_ID_LEN as MAX_LEN, valid_host_id as is_valid};
use crate::private;

/// The file's name in the checkpoint directory.
pub const FILE_NAME: &str = "host-id";
/// Hex digits of the random suffix.
const SUFFIX_DIGITS: usize = 12;

/// Why the kept host id cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum HostIdError {
    /// The file could not be read or written.
    #[error("cannot keep the host id in {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file holds something other than an id.
    #[error(
        "{path} does not hold a host id ({why}); it should be one line of 1-{MAX_LEN} of [a-zA-Z0-9._-]: correct \
         it, delete it to make a new id, or pass --host-id"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// The machine's hostname, the first part of a kept id.
pub fn hostname() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

/// The id kept in `dir` (whose lock the caller holds), made from
/// `hostname` and written there if there is none; whether it was made now.
pub fn kept(dir: &Path, hostname: &str) -> Result<(String, bool), HostIdError> {
    let path = dir.join(FILE_NAME);
    let io = |source| HostIdError::Io { path: path.clone(), source };
    match read(&path) {
        Ok(id) => Ok((id?, false)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let id = new_id(hostname).map_err(io)?;
            write(dir, &id).map_err(io)?;
            Ok((id, true))
        }
        Err(e) => Err(io(e)),
    }
}

/// The id in the file at `path`: an I/O error, or whether it holds one.
fn read(path: &Path) -> io::Result<Result<String, HostIdError>> {
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path);
    let file = match file {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(Err(invalid(path, "it is a link"))),
        file => file?,
    };
    if !file.metadata()?.is_file() {
        return Ok(Err(invalid(path, "it is not a regular file")));
    }
    let mut bytes = Vec::new();
    file.take(MAX_LEN as u64 + 2).read_to_end(&mut bytes)?;
    let Ok(text) = String::from_utf8(bytes) else { return Ok(Err(invalid(path, "it is not UTF-8"))) };
    let id = text.strip_suffix('\n').unwrap_or(&text);
    if id.is_empty() {
        return Ok(Err(invalid(path, "it is empty")));
    }
    if id.len() > MAX_LEN {
        return Ok(Err(invalid(path, "it is too long")));
    }
    Ok(if is_valid(id) { Ok(id.to_owned()) } else { Err(invalid(path, "it has a character not allowed")) })
}

fn invalid(path: &Path, why: &'static str) -> HostIdError {
    HostIdError::Invalid { path: path.to_owned(), why }
}

/// `hostname` made legal (other characters become `-`) and short enough,
/// then `-` and a random suffix.
fn new_id(hostname: &str) -> io::Result<String> {
    let host: String = hostname
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .take(MAX_LEN - SUFFIX_DIGITS - 1)
        .collect();
    let mut random = [0u8; SUFFIX_DIGITS / 2];
    File::open("/dev/urandom")?.read_exact(&mut random)?;
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(if host.is_empty() { suffix } else { format!("{host}-{suffix}") })
}

/// Writes `id` to `dir`'s file: 0600, to a temporary name, synced, renamed.
fn write(dir: &Path, id: &str) -> io::Result<()> {
    let temporary = dir.join(format!("{FILE_NAME}.tmp"));
    let _ = fs::remove_file(&temporary);
    let options = &mut OpenOptions::new();
    options.write(true).create_new(true).custom_flags(libc::O_NOFOLLOW);
    let mut file = private::open(&temporary, options)?;
    file.write_all(format!("{id}\n").as_bytes())?;
    file.sync_all()?;
    fs::rename(&temporary, dir.join(FILE_NAME))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn an_id_is_made_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (id, made) = kept(dir.path(), "web 1.example").unwrap();
        assert!(made);
        let (host, suffix) = id.rsplit_once('-').unwrap();
        assert_eq!(host, "web-1.example");
        assert!(suffix.len() == SUFFIX_DIGITS && suffix.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        let path = dir.path().join(FILE_NAME);
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{id}\n"));
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(kept(dir.path(), "elsewhere").unwrap(), (id, false), "read back, not made again");
    }

    #[test]
    fn two_directories_get_two_ids() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        assert_ne!(kept(a.path(), "h").unwrap().0, kept(b.path(), "h").unwrap().0);
    }

    #[test]
    fn a_hostile_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let refused = |content: &[u8]| {
            fs::write(&path, content).unwrap();
            kept(dir.path(), "h").unwrap_err().to_string()
        };
        let why = |what: &str| {
            format!(
                "{} does not hold a host id ({what}); it should be one line of 1-200 of [a-zA-Z0-9._-]: correct it, \
                 delete it to make a new id, or pass --host-id",
                path.display()
            )
        };
        assert_eq!(refused(b"a b\n"), why("it has a character not allowed"));
        assert_eq!(refused(b""), why("it is empty"));
        assert_eq!(refused(b"one\ntwo\n"), why("it has a character not allowed"));
        assert_eq!(refused(&[b'a'; 500]), why("it is too long"));
        assert_eq!(refused(b"\xff\n"), why("it is not UTF-8"));
        fs::write(&path, "fine-id\n").unwrap();
        assert_eq!(kept(dir.path(), "h").unwrap(), ("fine-id".to_owned(), false));

        fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", &path).unwrap();
        assert_eq!(kept(dir.path(), "h").unwrap_err().to_string(), why("it is a link"));
        fs::remove_file(&path).unwrap();
        rustix::fs::mknodat(rustix::fs::CWD, &path, rustix::fs::FileType::Fifo, 0o600.into(), 0).unwrap();
        assert_eq!(kept(dir.path(), "h").unwrap_err().to_string(), why("it is not a regular file"));
    }
}
