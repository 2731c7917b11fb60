//! The file store: for each source file, the byte offset up to which every
//! record is acknowledged by Kafka (or dead-lettered), in `checkpoint.json`.
//!
//! The delivery [`Tracker`](super::Tracker) owns the in-memory
//! [`Checkpoint`] and hands snapshots to [`FileStore`]; the source reads it
//! once at start-up to skip finished files and resume partial ones. The file
//! is replaced atomically (temp file, fsync, rename, fsync of the
//! directory), so a crash leaves either the old or the new checkpoint. The
//! directory's lock keeps a second process out in both delivery modes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Checkpoint, CheckpointStore, FileId, FileProgress};

/// On-disk form: versioned, with files as a list (JSON keys must be strings).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    files: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(flatten)]
    id: FileId,
    #[serde(flatten)]
    progress: FileProgress,
}

const VERSION: u32 = 1;
const FILE_NAME: &str = "checkpoint.json";
const LOCK_NAME: &str = "lock";

/// Why the checkpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading, writing or syncing failed.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file exists but does not parse.
    #[error(
        "checkpoint {path} is corrupt ({reason}); it was left untouched. To recover, restore it from a backup, \
         or move it aside to start over, which sends every file in the landing zone again"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        reason: String,
    },
    /// Another `sluice` holds the directory.
    #[error("checkpoint directory {0} is in use by another sluice process; give each stream its own directory")]
    Locked(PathBuf),
}

/// A [`CheckpointStore`] in a directory, locked against a second process.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    _lock: File,
}

impl FileStore {
    /// Opens (creating if needed) and locks `dir`.
    pub fn open(dir: &Path) -> Result<Self, CheckpointError> {
        let io = |source| CheckpointError::Io { path: dir.to_owned(), source };
        fs::create_dir_all(dir).map_err(io)?;
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(LOCK_NAME)).map_err(io)?;
        match lock.try_lock() {
            Ok(()) => Ok(FileStore { dir: dir.to_owned(), _lock: lock }),
            Err(fs::TryLockError::WouldBlock) => Err(CheckpointError::Locked(dir.to_owned())),
            Err(fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }
}

impl CheckpointStore for FileStore {
    type Error = CheckpointError;

    fn load(&mut self) -> Result<Checkpoint, CheckpointError> {
        let path = self.path();
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Checkpoint::default()),
            Err(source) => return Err(CheckpointError::Io { path, source }),
        };
        let corrupt = |reason: String| CheckpointError::Corrupt { path: path.clone(), reason };
        let disk: OnDisk = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if disk.version != VERSION {
            return Err(corrupt(format!("version {} is not the supported {VERSION}", disk.version)));
        }
        Ok(Checkpoint { files: disk.files.into_iter().map(|e| (e.id, e.progress)).collect() })
    }

    fn save(&mut self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let mut files: Vec<Entry> =
            checkpoint.files.iter().map(|(id, progress)| Entry { id: *id, progress: progress.clone() }).collect();
        files.sort_by_key(|e| e.id);
        let text = serde_json::to_vec_pretty(&OnDisk { version: VERSION, files }).expect("checkpoint serializes");
        write_atomically(&self.dir, &self.path(), &text)
    }
}

/// Replaces `path` with `bytes` so that a crash leaves the old or the new
/// content, never a mix: temp file, fsync, rename, fsync of the directory.
pub fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let tmp = path.with_extension("tmp");
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| CheckpointError::Io { path, source }
    };
    let mut file = File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Head;

    fn sample() -> Checkpoint {
        let mut cp = Checkpoint::default();
        let head = Some(Head { len: 256, fnv: 42 });
        let a = FileProgress { path: "in/a.json".into(), offset: 300, line: 4, head };
        cp.files.insert(FileId { dev: 1, ino: 42 }, a);
        let b = FileProgress { path: "in/b\nc.json".into(), offset: 0, line: 0, head: None };
        cp.files.insert(FileId { dev: 1, ino: 7 }, b);
        cp
    }

    #[test]
    fn round_trips_and_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStore::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap(), Checkpoint::default());
        store.save(&sample()).unwrap();
        assert_eq!(store.load().unwrap(), sample());
        assert!(!dir.path().join("checkpoint.tmp").exists());
    }

    #[test]
    fn corrupt_checkpoint_is_refused_not_reset() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStore::open(dir.path()).unwrap();
        store.save(&sample()).unwrap();
        let path = dir.path().join(FILE_NAME);
        let text = fs::read(&path).unwrap();
        fs::write(&path, &text[..text.len() / 2]).unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(err.contains("checkpoint.json is corrupt (EOF while parsing"), "{err}");
        assert!(err.contains("move it aside to start over"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), &text[..text.len() / 2]);
    }

    #[test]
    fn heads_tell_a_new_file_from_the_one_it_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "{\"a\":1}\n").unwrap();
        let head = Head::of(&File::open(&path).unwrap()).unwrap();
        assert_eq!(head.len, 8);
        fs::write(&path, "{\"a\":1}\n{\"b\":2}\n").unwrap();
        assert!(head.matches(&File::open(&path).unwrap()).unwrap(), "the same file, grown");
        fs::write(&path, "{\"z\":9}\n").unwrap();
        assert!(!head.matches(&File::open(&path).unwrap()).unwrap(), "other content");
        fs::write(&path, "{").unwrap();
        assert!(!head.matches(&File::open(&path).unwrap()).unwrap(), "shorter");
    }

    #[test]
    fn second_process_is_locked_out() {
        let dir = tempfile::tempdir().unwrap();
        let _first = FileStore::open(dir.path()).unwrap();
        let err = FileStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, CheckpointError::Locked(_)), "{err}");
    }
}
