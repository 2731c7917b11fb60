//! Files and directories only the running user can read: what Sluice
//! writes (the checkpoint and its journal, dead letters, the lock) may hold
//! records, so files are created 0600 and directories 0700, whatever the
//! umask.
//!
//! A file that already exists with a wider mode (written by an older
//! version, or copied in) is tightened to 0600 when it is a regular file
//! the process owns, with one warning naming it; other kinds of file (a
//! device such as `/dev/full` a test links in) are left as they are.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of the files Sluice creates.
pub const FILE_MODE: u32 = 0o600;
/// Mode of the directories Sluice creates.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and any missing parents as 0700; an existing directory is
/// left as it is.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Opens `path` with `options`, creating it 0600 when `options` create;
/// an existing regular file readable or writable by others is tightened.
pub fn open(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    let file = options.mode(FILE_MODE).open(path)?;
    tighten(path, &file)?;
    Ok(file)
}

/// Sets an opened regular file owned by this process's user to 0600 when
/// its mode lets group or others in.
fn tighten(path: &Path, file: &File) -> io::Result<()> {
    let meta = file.metadata()?;
    let mode = meta.mode() & 0o7777;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if !meta.is_file() || mode & 0o077 == 0 || meta.uid() != me {
        return Ok(());
    }
    file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    tracing::warn!(path = %path.display(), was = format_args!("{mode:04o}"), "tightened the file's mode to 0600");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn creates_private_files_and_directories() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_dir_all(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
        let path = dir.join("f");
        open(&path, OpenOptions::new().create(true).append(true)).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn tightens_an_existing_wide_file_but_not_a_device() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("f");
        fs::write(&path, "x").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        open(&path, OpenOptions::new().append(true)).unwrap();
        assert_eq!(mode(&path), 0o600);
        let before = mode(Path::new("/dev/null"));
        open(Path::new("/dev/null"), OpenOptions::new().write(true)).unwrap();
        assert_eq!(mode(Path::new("/dev/null")), before);
    }
}
