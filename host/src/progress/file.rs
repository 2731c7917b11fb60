//! The file store: for each source file, the byte offset up to which every
//! record is acknowledged by Kafka (or dead-lettered), in `checkpoint.json`
//! and its journal `checkpoint.journal`.
//!
//! The delivery [`Tracker`](super::Tracker) owns the in-memory
//! [`Checkpoint`] and hands snapshots to [`FileStore`]; the source reads it
//! once at start-up to skip finished files and resume partial ones.
//!
//! A save costs what moved, not what is done: it appends to the
//! journal the files whose progress changed since the last save (fsynced
//! before `save` returns). When the journal outgrows the snapshot (and
//! [`COMPACT_AT_LEAST`]), or was found torn at start-up, the whole
//! checkpoint is written as a new snapshot: temp file, fsync, rename, fsync
//! of the directory, then a new journal the same way, so a crash leaves
//! either the old or the new state, and a torn journal entry is ignored. A
//! clean stop compacts, so `checkpoint.json` alone is then the whole state.
//! A `checkpoint.json` of version 1 (before the journal) loads as the
//! snapshot it is.
//!
//! Everything here is created 0600 in a 0700 directory ([`crate::private`]).
//! The directory's lock keeps a second process out in both delivery modes.

mod journal;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use self::journal::{Change, Journal};
use super::{Checkpoint, FileProgress};
use crate::private;
use crate::record::FileId;

/// On-disk form: versioned, with files as a list (JSON keys must be strings).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    /// Which journal continues this snapshot (absent in version 1).
    #[serde(default)]
    generation: u64,
    files: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(flatten)]
    id: FileId,
    #[serde(flatten)]
    progress: FileProgress,
}

/// The snapshot's version: 2 adds the generation its journal names.
const VERSION: u32 = 2;
/// Versions [`FileStore::load`] reads.
const READS: [u32; 2] = [1, 2];
const FILE_NAME: &str = "checkpoint.json";
const JOURNAL_NAME: &str = "checkpoint.journal";
const LOCK_NAME: &str = "lock";
/// The journal is folded into a new snapshot once it is larger than the
/// snapshot and than this, so a save's bytes amortized stay within about
/// twice what moved, and a small checkpoint is not rewritten at every save.
pub const COMPACT_AT_LEAST: u64 = 64 << 10;

/// Why the checkpoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading, writing or syncing failed.
    #[error("checkpoint {path}: {reason}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: std::io::Error,
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

/// The checkpoint of a directory, locked against a second process.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    _lock: File,
    /// What the snapshot and the journal on disk hold together.
    saved: Checkpoint,
    /// The snapshot's generation.
    generation: u64,
    /// Bytes of the snapshot.
    snapshot_len: u64,
    /// The journal to append to; `None` when there is none that continues
    /// the snapshot whole (none yet, a torn or stale one, a failed append
    /// that may have left a torn entry): the next save compacts.
    journal: Option<Journal>,
    /// Bytes the last save wrote (snapshot and journal), for tests and bench.
    last_save_bytes: u64,
}

impl FileStore {
    /// Opens (creating it 0700 if needed) and locks `dir`.
    pub fn open(dir: &Path) -> Result<Self, CheckpointError> {
        let io = |reason| CheckpointError::Io { path: dir.to_owned(), reason };
        private::create_dir_all(dir).map_err(io)?;
        let options = &mut OpenOptions::new().create(true).truncate(false).write(true).clone();
        let lock = private::open(&dir.join(LOCK_NAME), options).map_err(io)?;
        match lock.try_lock() {
            Ok(()) => Ok(FileStore {
                dir: dir.to_owned(),
                _lock: lock,
                saved: Checkpoint::default(),
                generation: 0,
                snapshot_len: 0,
                journal: None,
                last_save_bytes: 0,
            }),
            Err(fs::TryLockError::WouldBlock) => Err(CheckpointError::Locked(dir.to_owned())),
            Err(fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    fn journal_path(&self) -> PathBuf {
        self.dir.join(JOURNAL_NAME)
    }

    /// Bytes the last [`save`](FileStore::save) wrote.
    pub fn last_save_bytes(&self) -> u64 {
        self.last_save_bytes
    }

    /// Writes the whole checkpoint as a new snapshot with an empty journal.
    pub fn compact(&mut self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let mut files: Vec<Entry> =
            checkpoint.files.iter().map(|(id, progress)| Entry { id: *id, progress: progress.clone() }).collect();
        files.sort_by_key(|e| e.id);
        let generation = next_generation(self.generation);
        let text = serde_json::to_vec_pretty(&OnDisk { version: VERSION, generation, files }).expect("serializes");
        self.journal = None;
        let path = self.path();
        write_atomically(&self.dir, &path, &path.with_extension("tmp"), &text)?;
        (self.generation, self.snapshot_len, self.saved) = (generation, text.len() as u64, checkpoint.clone());
        let journal = Journal::create(&self.dir, &self.journal_path(), generation)?;
        self.last_save_bytes = self.snapshot_len + journal.len();
        self.journal = Some(journal);
        Ok(())
    }

    /// Appends what moved since the last save to the journal.
    fn append(&mut self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let change = Change::between(&self.saved, checkpoint);
        let journal = self.journal.as_mut().expect("a journal to append to");
        self.last_save_bytes = 0;
        if change.is_empty() {
            return Ok(());
        }
        match journal.append(&change) {
            Ok(written) => {
                self.last_save_bytes = written;
                self.saved = checkpoint.clone();
                Ok(())
            }
            Err(source) => {
                self.journal = None;
                Err(CheckpointError::Io { path: self.journal_path(), reason: source })
            }
        }
    }

    /// Reads the snapshot: its checkpoint, generation and size.
    fn load_snapshot(&self) -> Result<(Checkpoint, u64, u64), CheckpointError> {
        let path = self.path();
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Checkpoint::default(), 0, 0)),
            Err(reason) => return Err(CheckpointError::Io { path, reason }),
        };
        let corrupt = |reason: String| CheckpointError::Corrupt { path: path.clone(), reason };
        let disk: OnDisk = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if !READS.contains(&disk.version) {
            return Err(corrupt(format!("version {} is not a supported one ({READS:?})", disk.version)));
        }
        let checkpoint = Checkpoint { files: disk.files.into_iter().map(|e| (e.id, e.progress)).collect() };
        Ok((checkpoint, disk.generation, text.len() as u64))
    }

    /// Applies the journal, if it continues the snapshot of `generation`;
    /// returns it open for the next saves when it is whole.
    fn replay_journal(&self, generation: u64, checkpoint: &mut Checkpoint) -> Result<Option<Journal>, CheckpointError> {
        let path = self.journal_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(reason) => return Err(CheckpointError::Io { path, reason }),
        };
        let replayed = journal::replay(&bytes, generation, checkpoint)
            .map_err(|reason| CheckpointError::Corrupt { path: path.clone(), reason })?;
        if let Some(at) = replayed.torn_at {
            tracing::warn!(
                journal = %path.display(), at, ignored = bytes.len() - at,
                "the checkpoint journal ends in an entry cut short (a crash while saving); it is ignored, \
                 so the records it covered are sent again"
            );
        }
        tracing::debug!(entries = replayed.entries, stale = replayed.stale, "checkpoint journal read");
        if replayed.stale || replayed.torn_at.is_some() || bytes.is_empty() {
            return Ok(None);
        }
        Journal::reopen(&path, bytes.len() as u64).map(Some).map_err(|reason| CheckpointError::Io { path, reason })
    }
}

impl FileStore {
    /// The last saved checkpoint (the snapshot with its journal applied), or
    /// an empty one on first start.
    pub fn load(&mut self) -> Result<Checkpoint, CheckpointError> {
        let (mut checkpoint, generation, snapshot_len) = self.load_snapshot()?;
        self.journal = self.replay_journal(generation, &mut checkpoint)?;
        (self.saved, self.generation, self.snapshot_len) = (checkpoint.clone(), generation, snapshot_len);
        Ok(checkpoint)
    }

    /// Replaces the saved checkpoint durably: appends what moved to the
    /// journal, or compacts when the journal outgrew the snapshot.
    pub fn save(&mut self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        match &self.journal {
            Some(journal) if journal.len() <= self.snapshot_len.max(COMPACT_AT_LEAST) => self.append(checkpoint),
            _ => self.compact(checkpoint),
        }
    }
}

/// A generation after `last` and, being the clock's nanoseconds, unlike any
/// a journal of an earlier run may carry (the exactly-once mode's copy never
/// loads what is on disk before it compacts).
fn next_generation(last: u64) -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (last + 1).max(now.as_nanos() as u64)
}

/// Replaces `path` in `dir` with `bytes` so that a crash leaves the old or
/// the new content, never a mix: the temporary file `tmp` (0600), fsync,
/// rename, fsync of the directory. The snapshot and the journal are both
/// written so.
fn write_atomically(dir: &Path, path: &Path, tmp: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |reason| CheckpointError::Io { path, reason }
    };
    let mut file = private::open(tmp, OpenOptions::new().create(true).write(true).truncate(true)).map_err(io(tmp))?;
    file.write_all(bytes).map_err(io(tmp))?;
    file.sync_all().map_err(io(tmp))?;
    fs::rename(tmp, path).map_err(io(path))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests;
