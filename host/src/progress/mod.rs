//! Progress: how far each source file is done, in memory and in a store that
//! survives restarts.
//!
//! Every stage reports here and nothing here calls a stage, so the stages
//! point one way (source -> transform -> sink) with progress beside them:
//!
//! - [`tracker`]: the [`Tracker`] turns Kafka acknowledgements into ordered
//!   per-file progress (a [`Checkpoint`]); the source reads where to resume
//!   from it, the sink's delivery callbacks feed it.
//! - [`file`](mod@file): [`FileStore`], `checkpoint.json` in the checkpoint directory,
//!   the store of `--delivery at-least-once`: it is written after Kafka
//!   acknowledged the records it covers, so a crash repeats the tail.
//! - [`kafka`]: [`KafkaStore`], the store of `--delivery exactly-once`:
//!   each file's progress is a record in a compacted offsets topic, written
//!   in the same Kafka transaction as that file's records (KIP-618, as Kafka
//!   Connect's exactly-once sources do), so a record and the progress past
//!   it become visible together or not at all. A restart reads the topic
//!   `read_committed` to its end; the local checkpoint file is not read.
//!
//! - [`bar`]: the progress bar a terminal shows while a backlog is read.
//!
//! Both stores sit behind [`CheckpointStore`]: `load` at start-up, `save`
//! whenever progress moves (for the Kafka store, at each commit: it stages
//! the records that [`kafka::KafkaStore::take_records`] hands to the
//! transaction).

pub mod bar;
pub mod file;
pub mod kafka;
pub mod tracker;

use std::collections::HashMap;
use std::fs::{self, File};

use serde::{Deserialize, Serialize};

pub use file::{CheckpointError, FileStore, write_atomically};
pub use kafka::KafkaStore;
pub use tracker::{OwnedMessage, Redo, RedoAction, Tracker};

/// Where checkpoints are kept.
pub trait CheckpointStore: Send {
    /// Why the store failed.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The last saved checkpoint, or an empty one on first start.
    fn load(&mut self) -> Result<Checkpoint, Self::Error>;
    /// Replaces the saved checkpoint (durably for the file store; for the
    /// Kafka store, once the transaction carrying it commits).
    fn save(&mut self, checkpoint: &Checkpoint) -> Result<(), Self::Error>;
}

/// Identity of a source file that survives renames: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl FileId {
    /// The identity of an opened or stat-ed file.
    pub fn of(meta: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileId { dev: meta.dev(), ino: meta.ino() }
    }
}

/// How far one file is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProgress {
    /// Last known path, for people reading the checkpoint.
    pub path: String,
    /// Byte offset just past the last acknowledged line.
    pub offset: u64,
    /// Number of lines (blank ones included) before `offset`.
    pub line: u64,
    /// The file's first bytes, to tell it from a new file that reuses its
    /// inode after it was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<Head>,
}

/// A fingerprint of a file's first bytes (up to [`Head::MAX_LEN`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// How many bytes it covers.
    pub len: u16,
    /// Their FNV-1a hash.
    pub fnv: u64,
}

impl Head {
    /// Bytes a complete fingerprint covers.
    pub const MAX_LEN: u16 = 256;

    /// The fingerprint of `file` as it is now.
    pub fn of(file: &File) -> std::io::Result<Head> {
        let bytes = read_head(file, Self::MAX_LEN)?;
        Ok(Head { len: bytes.len() as u16, fnv: fnv1a(&bytes) })
    }

    /// Whether `file` starts with the bytes this fingerprint was taken of.
    pub fn matches(&self, file: &File) -> std::io::Result<bool> {
        let bytes = read_head(file, self.len)?;
        Ok(bytes.len() == usize::from(self.len) && fnv1a(&bytes) == self.fnv)
    }
}

fn read_head(file: &File, len: u16) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0; usize::from(len)];
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// The FNV-1a 64 hash of `bytes`.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Progress of every file seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Per-file progress.
    pub files: HashMap<FileId, FileProgress>,
}
