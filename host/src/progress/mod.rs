//! Progress: how far each source file is done, in memory and in a store that
//! survives restarts.
//!
//! Every stage reports here and nothing here calls a stage, so the stages
//! point one way (source -> transform -> sink) with progress beside them:
//!
//! - [`tracker`]: the [`Tracker`] turns Kafka acknowledgements into ordered
//!   per-file progress (a [`Checkpoint`]); the source reads where to resume
//!   from it, the sink's delivery callbacks feed it.
//! - [`window`]: the in-flight [`Window`], which bounds the batches sent
//!   ahead of the progress and closes while a checkpoint cannot be saved.
//! - [`completed`]: the files read to their end on their way to
//!   `--clean-source` ([`CompletedFiles`]), handed to the cleaner once a
//!   saved checkpoint covers them.
//! - [`file`](mod@file): [`FileStore`], `checkpoint.json` in the checkpoint directory,
//!   the store of `--delivery at-least-once`: it is written after Kafka
//!   acknowledged the records it covers, so a crash repeats the tail.
//! - [`kafka`]: [`KafkaStore`], the store of `--delivery exactly-once`:
//!   each file's progress is a record in a compacted offsets topic, written
//!   in the same Kafka transaction as that file's records (KIP-618, as Kafka
//!   Connect's exactly-once sources do), so a record and the progress past
//!   it become visible together or not at all. Nothing reads it whole at
//!   start-up: the progress of each partition of the topic is read
//!   `read_committed` when the pipeline's group assigns it to this host;
//!   the local checkpoint file is not read.
//! - [`group`]: ownership by partition. The hosts of a pipeline form a
//!   Kafka consumer group over the offsets topic; the partitions a host is
//!   assigned are the files it reads ([`kafka::Share`]), and a
//!   [`group::Membership`] hands the group's changes to the transactions.
//! - [`bar`]: the progress bar a terminal shows while a backlog is read.
//! - [`host_id`]: the id an exactly-once host runs under without
//!   `--host-id`, kept in its checkpoint directory.
//!
//! The two stores are not interchangeable, so no trait stands over them:
//! the file store is loaded whole at start-up and saves durably whenever
//! progress moves; the Kafka store is read a partition at a time as the
//! group assigns them, and stages records into the open transaction at
//! each commit ([`KafkaStore::stage`], [`KafkaStore::take_records`]).
//!
//! It imports only the ground floor (record types, config, metrics,
//! shutdown, private files) and calls no stage.

pub mod bar;
pub mod completed;
pub mod file;
pub mod group;
pub mod host_id;
pub mod kafka;
pub mod tracker;
pub mod window;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::record::{FileId, Head};

pub use completed::{Completed, CompletedFiles};
pub use file::{CheckpointError, FileStore};
pub use kafka::KafkaStore;
pub use tracker::Tracker;
pub use window::Window;

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

/// Progress of every file seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Per-file progress.
    pub files: HashMap<FileId, FileProgress>,
}
