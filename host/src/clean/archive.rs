//! Moving a file into the archive without ever overwriting: a rename that
//! refuses to replace (`renameat2(RENAME_NOREPLACE)`), falling back to a
//! hard link where the file system lacks that flag, and to a copy into the
//! archive followed by a delete across file systems (`EXDEV`). A name that
//! is taken gets a numbered suffix: `name.1`, `name.2`, ...

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// Names tried after the file's own before giving up.
const MAX_SUFFIX: u32 = 1000;

/// Where `file`, found in `landing_zone`, goes in `archive_dir`: the same
/// path below it.
pub fn target(file: &Path, landing_zone: &Path, archive_dir: &Path) -> PathBuf {
    match file.strip_prefix(landing_zone) {
        Ok(below) => archive_dir.join(below),
        Err(_) => archive_dir.join(file.file_name().unwrap_or(file.as_os_str())),
    }
}

/// Moves `file` to `target`, or to the first free `target.N`; returns
/// where it went. The archive's directories are created as needed.
pub fn move_to(file: &Path, target: &Path) -> io::Result<PathBuf> {
    let dir = target.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let placed = match claim(target, |to| rename_no_replace(file, to)) {
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => copy_across(file, target, dir),
        other => other,
    }?;
    sync_dir(dir)?;
    if let Some(from) = file.parent() {
        sync_dir(from)?;
    }
    Ok(placed)
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

/// Renames `from` to `to` unless `to` exists (`AlreadyExists` then).
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        // The file system has no RENAME_NOREPLACE: a hard link also refuses
        // to replace, and fails with EXDEV across file systems as well.
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            fs::hard_link(from, to)?;
            fs::remove_file(from)
        }
        Err(e) => Err(e.into()),
    }
}

/// Copies `file` into `dir` under a temporary name, syncs it, gives it its
/// archive name, then deletes the original. A crash leaves the original in
/// place (and at worst a hidden temporary file in the archive).
fn copy_across(file: &Path, target: &Path, dir: &Path) -> io::Result<PathBuf> {
    let mut copy = tempfile::Builder::new().prefix(".sluice-archiving-").tempfile_in(dir)?;
    io::copy(&mut File::open(file)?, copy.as_file_mut())?;
    copy.as_file().sync_all()?;
    let copy = copy.into_temp_path();
    let placed = claim(target, |to| rename_no_replace(&copy, to))?;
    // The temporary name is gone: keep the guard from deleting anything.
    let _ = copy.keep();
    fs::remove_file(file)?;
    Ok(placed)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(move_to(&file, &target).unwrap(), archive.join(want));
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
        let placed = copy_across(&file, &target, target.parent().unwrap()).unwrap();
        assert_eq!(placed, dir.path().join("arch/a.json.1"));
        assert_eq!(fs::read_to_string(&placed).unwrap(), "new\n");
        assert_eq!(fs::read_to_string(&target).unwrap(), "old\n");
        assert!(!file.exists());
        let left: Vec<_> = fs::read_dir(target.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary file is left");
    }
}
