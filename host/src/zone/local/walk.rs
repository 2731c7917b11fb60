//! Listing the landing zone for a rescan: its entries, or with
//! `--recursive` (Spark's `recursiveFileLookup`) every file below it.
//!
//! A recursive walk never follows a symbolic link: a link, to a file or to a
//! directory, is listed as an entry of its own, which is then refused or
//! (with `--follow-symlinks`) resolved inside the zone
//! ([`LocalDir`](super::LocalDir)); a directory reached through a link is
//! not walked, so one link cannot pull in a tree from elsewhere. It skips
//! directories whose names start with `.` or `_`, which Spark and Hadoop
//! treat as hidden (`_temporary/` of a job still writing, `.staging/`). The
//! file-name glob and the temporary-name rules apply to each file's own
//! name; the directories only say where it is.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The paths to consider in `dir`: its entries, or every non-directory
/// below it when `recursive` (links included, as entries, never walked).
/// Fails only when `dir` itself cannot be read.
pub fn entries(dir: &Path, recursive: bool) -> io::Result<Vec<PathBuf>> {
    let top = fs::read_dir(dir)?;
    if !recursive {
        return Ok(top.filter_map(|e| e.ok()).map(|e| e.path()).collect());
    }
    let walk = walkdir::WalkDir::new(dir).follow_links(false).min_depth(1).into_iter();
    let found = walk
        .filter_entry(|e| e.depth() == 0 || !(e.file_type().is_dir() && hidden(e.file_name())))
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_type().is_dir())
        .map(walkdir::DirEntry::into_path)
        .collect();
    Ok(found)
}

/// Whether `path` lies in a hidden directory below `dir` (a file event
/// from a recursive watch may come from one).
pub fn in_hidden_dir(dir: &Path, path: &Path) -> bool {
    let below = path.strip_prefix(dir).unwrap_or(path);
    below.parent().is_some_and(|p| p.components().any(|c| hidden(c.as_os_str())))
}

fn hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.starts_with('.') || n.starts_with('_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_files_are_listed_only_when_recursive_and_hidden_dirs_never() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["date=2026-12-01", "date=2026-12-02/hour=01", "_temporary/0", ".staging"] {
            fs::create_dir_all(root.join(sub)).unwrap();
            fs::write(root.join(sub).join("part-0.json"), "{}\n").unwrap();
        }
        fs::write(root.join("top.json"), "{}\n").unwrap();
        let relative = |recursive| {
            let mut found: Vec<String> = entries(root, recursive)
                .unwrap()
                .iter()
                .map(|p| p.strip_prefix(root).unwrap().display().to_string())
                .collect();
            found.sort();
            found
        };
        assert_eq!(relative(true), ["date=2026-12-01/part-0.json", "date=2026-12-02/hour=01/part-0.json", "top.json"]);
        assert_eq!(relative(false), [".staging", "_temporary", "date=2026-12-01", "date=2026-12-02", "top.json"]);
        assert!(entries(&root.join("missing"), true).is_err());
        assert!(in_hidden_dir(root, &root.join("_temporary/0/part-0.json")));
        assert!(!in_hidden_dir(root, &root.join("date=1/.part-0.json")), "the file's own name is judged by the glob");
        assert!(!in_hidden_dir(root, &root.join("top.json")));
    }

    #[test]
    fn a_link_to_a_directory_is_listed_and_not_walked() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("in"), dir.path().join("outside"));
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(outside.join("deep")).unwrap();
        fs::write(outside.join("deep/p1.json"), "{}\n").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("sub")).unwrap();
        assert_eq!(entries(&root, true).unwrap(), [root.join("sub")]);
    }
}
