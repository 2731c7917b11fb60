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
use super::{Checkpoint, CheckpointStore, FileId, FileProgress};
use crate::private;

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
        let io = |source| CheckpointError::Io { path: dir.to_owned(), source };
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

    /// Bytes the last [`save`](CheckpointStore::save) wrote.
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
        write_atomically(&self.dir, &self.path(), &text)?;
        (self.generation, self.snapshot_len, self.saved) = (generation, text.len() as u64, checkpoint.clone());
        let path = self.journal_path();
        let journal =
            Journal::create(&self.dir, &path, generation).map_err(|source| CheckpointError::Io { path, source })?;
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
                Err(CheckpointError::Io { path: self.journal_path(), source })
            }
        }
    }

    /// Reads the snapshot: its checkpoint, generation and size.
    fn load_snapshot(&self) -> Result<(Checkpoint, u64, u64), CheckpointError> {
        let path = self.path();
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Checkpoint::default(), 0, 0)),
            Err(source) => return Err(CheckpointError::Io { path, source }),
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
            Err(source) => return Err(CheckpointError::Io { path, source }),
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
        Journal::reopen(&path, bytes.len() as u64).map(Some).map_err(|source| CheckpointError::Io { path, source })
    }
}

impl CheckpointStore for FileStore {
    type Error = CheckpointError;

    fn load(&mut self) -> Result<Checkpoint, CheckpointError> {
        let (mut checkpoint, generation, snapshot_len) = self.load_snapshot()?;
        self.journal = self.replay_journal(generation, &mut checkpoint)?;
        (self.saved, self.generation, self.snapshot_len) = (checkpoint.clone(), generation, snapshot_len);
        Ok(checkpoint)
    }

    fn save(&mut self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
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

/// Replaces `path` with `bytes` so that a crash leaves the old or the new
/// content, never a mix: temp file (0600), fsync, rename, fsync of the
/// directory.
pub fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let tmp = path.with_extension("tmp");
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| CheckpointError::Io { path, source }
    };
    let mut file = private::open(&tmp, OpenOptions::new().create(true).write(true).truncate(true)).map_err(io(&tmp))?;
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

    /// `n` finished files.
    fn finished(n: u64) -> Checkpoint {
        let mut cp = Checkpoint::default();
        for ino in 0..n {
            let progress = FileProgress { path: format!("in/file-{ino:05}.json"), offset: 4096, line: 40, head: None };
            cp.files.insert(FileId { dev: 2049, ino }, progress);
        }
        cp
    }

    /// Bytes a save writes once the store holds `cp` and one file moves.
    fn bytes_of_one_move(dir: &Path, mut cp: Checkpoint) -> (u64, u64) {
        let mut store = FileStore::open(dir).unwrap();
        store.load().unwrap();
        store.save(&cp).unwrap();
        let first = store.last_save_bytes();
        let journal = fs::metadata(dir.join(JOURNAL_NAME)).unwrap().len();
        cp.files.get_mut(&FileId { dev: 2049, ino: 0 }).unwrap().offset += 100;
        store.save(&cp).unwrap();
        let moved = store.last_save_bytes();
        assert_eq!(fs::metadata(dir.join(JOURNAL_NAME)).unwrap().len(), journal + moved);
        drop(store);
        assert_eq!(FileStore::open(dir).unwrap().load().unwrap(), cp, "the journal and the snapshot load back");
        (first, moved)
    }

    #[test]
    fn a_save_writes_what_moved_not_every_finished_file() {
        let small = tempfile::tempdir().unwrap();
        let large = tempfile::tempdir().unwrap();
        let (small_first, small_move) = bytes_of_one_move(small.path(), finished(3));
        let (large_first, large_move) = bytes_of_one_move(large.path(), finished(3_000));
        eprintln!("3,000 finished files: {large_first} bytes at the first save, then {large_move} a save");
        assert!(large_first > 300_000 && small_first < 2_000, "the first save is a whole snapshot");
        assert_eq!(small_move, large_move, "a save's bytes do not grow with the finished files");
        assert!(large_move < 200, "{large_move}");
    }

    #[test]
    fn the_journal_is_compacted_once_it_outgrows_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStore::open(dir.path()).unwrap();
        let mut cp = finished(10);
        let mut written = 0;
        for step in 0..2_000 {
            cp.files.get_mut(&FileId { dev: 2049, ino: step % 10 }).unwrap().offset += 1;
            store.save(&cp).unwrap();
            written += store.last_save_bytes();
            let journal = fs::metadata(dir.path().join(JOURNAL_NAME)).unwrap().len();
            assert!(journal <= COMPACT_AT_LEAST + 200, "{journal}");
        }
        assert!(written < 2_000 * 300, "{written}");
        drop(store);
        assert_eq!(FileStore::open(dir.path()).unwrap().load().unwrap(), cp);
    }

    #[test]
    fn a_torn_journal_tail_is_ignored_and_the_next_save_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStore::open(dir.path()).unwrap();
        let (mut cp, a) = (sample(), FileId { dev: 1, ino: 42 });
        store.save(&cp).unwrap();
        cp.files.get_mut(&a).unwrap().offset = 400;
        store.save(&cp).unwrap();
        let kept = cp.clone();
        cp.files.get_mut(&a).unwrap().offset = 500;
        cp.files.remove(&FileId { dev: 1, ino: 7 });
        store.save(&cp).unwrap();
        drop(store);
        let path = dir.path().join(JOURNAL_NAME);
        let whole = fs::read(&path).unwrap();
        for cut in [1, 5, 30] {
            fs::write(&path, &whole[..whole.len() - cut]).unwrap();
            let mut store = FileStore::open(dir.path()).unwrap();
            assert_eq!(store.load().unwrap(), kept, "cut {cut}: the last whole entry, never a wrong offset");
        }
        let mut store = FileStore::open(dir.path()).unwrap();
        store.load().unwrap();
        store.save(&cp).unwrap();
        drop(store);
        assert_eq!(FileStore::open(dir.path()).unwrap().load().unwrap(), cp);
    }

    #[test]
    fn a_journal_of_an_older_snapshot_is_not_applied() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileStore::open(dir.path()).unwrap();
        let mut cp = sample();
        store.save(&cp).unwrap();
        cp.files.get_mut(&FileId { dev: 1, ino: 42 }).unwrap().offset = 10;
        store.save(&cp).unwrap();
        let old_journal = fs::read(dir.path().join(JOURNAL_NAME)).unwrap();
        cp.files.get_mut(&FileId { dev: 1, ino: 42 }).unwrap().offset = 900;
        store.compact(&cp).unwrap();
        drop(store);
        // A crash after the new snapshot's rename, before its journal's.
        fs::write(dir.path().join(JOURNAL_NAME), old_journal).unwrap();
        assert_eq!(FileStore::open(dir.path()).unwrap().load().unwrap(), cp);
    }

    #[test]
    fn a_version_1_checkpoint_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let old = r#"{
  "version": 1,
  "files": [
    { "dev": 1, "ino": 7, "path": "in/b\nc.json", "offset": 0, "line": 0 },
    { "dev": 1, "ino": 42, "path": "in/a.json", "offset": 300, "line": 4, "head": { "len": 256, "fnv": 42 } }
  ]
}"#;
        fs::write(dir.path().join(FILE_NAME), old).unwrap();
        let mut store = FileStore::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap(), sample());
        store.save(&sample()).unwrap();
        let text = fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(text.contains("\"version\": 2"), "{text}");
    }

    #[test]
    fn everything_written_is_private() {
        use std::os::unix::fs::MetadataExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("state/checkpoints");
        let mut store = FileStore::open(&dir).unwrap();
        store.save(&sample()).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!((mode(&dir), mode(dir.parent().unwrap())), (0o700, 0o700));
        for name in [FILE_NAME, JOURNAL_NAME, LOCK_NAME] {
            assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
        }
    }

    #[test]
    fn second_process_is_locked_out() {
        let dir = tempfile::tempdir().unwrap();
        let _first = FileStore::open(dir.path()).unwrap();
        let err = FileStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, CheckpointError::Locked(_)), "{err}");
    }
}
