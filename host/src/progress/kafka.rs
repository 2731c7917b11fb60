//! The Kafka store: committed progress as records in a compacted offsets
//! topic, the store of `--delivery exactly-once`.
//!
//! One record per file and pipeline. The key names the file by what does
//! not change when it moves to another machine or disk: the pipeline, the
//! file's name below the landing zone and its head fingerprint (so a new
//! file under an old name is not mistaken for it). The value is the
//! progress as JSON, with the device and inode as extra fields for
//! operators and as a fallback to find a renamed file:
//!
//! ```text
//! key   {"pipeline":"invoices","file":"a.json","head":{"len":256,"fnv":…}}
//! value {"path":"/in/a.json","offset":5120,"line":64,"head":{…},"dev":2049,"ino":131}
//! ```
//!
//! [`KafkaStore::stage`] stages the records of files whose progress
//! changed; the transaction takes them with [`KafkaStore::take_records`] and
//! produces them with the records they cover, then reports the outcome with
//! [`KafkaStore::committed`] or [`KafkaStore::aborted`]. A file that left
//! the landing zone gets a tombstone.
//!
//! Nothing reads the whole topic at start-up: the pipeline's group
//! ([`crate::progress::group`]) assigns this host partitions of it, and
//! [`KafkaStore::restore`] reads their committed progress (`restore`);
//! [`KafkaStore::adopt`] and [`KafkaStore::release`] take files on and let
//! them go as the group moves partitions. A local checkpoint file is not
//! read in this mode, so it cannot make the stream skip or repeat.
//!
//! - `topic`: creating the compacted topic and counting its partitions;
//! - `restore`: reading partitions back and finding their files;
//! - `owner`: the owner record an idle instance writes, so a fencing
//!   reaches it.

mod owner;
mod restore;
mod topic;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;
use serde::{Deserialize, Serialize};

use super::{Checkpoint, FileProgress};
use crate::config::KafkaConfig;
use crate::record::{FileId, Head};
pub use restore::Restored;

/// How long reading the offsets topic (its metadata, or partitions to
/// their end) may take.
const LOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// Producer-only properties, left out of the reader's and admin's config.
const PRODUCER_ONLY: [&str; 11] = [
    "enable.idempotence",
    "acks",
    "delivery.report.only.error",
    "transactional.id",
    "transaction.timeout.ms",
    "message.timeout.ms",
    "partitioner",
    "linger.ms",
    "compression.type",
    "queue.buffering.max.kbytes",
    "allow.auto.create.topics",
];

/// Why the offsets topic cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KafkaStoreError {
    /// librdkafka refused the configuration.
    #[error("cannot create a Kafka client for offsets topic `{topic}`: {reason}")]
    Client {
        /// The offsets topic.
        topic: String,
        /// librdkafka's reason.
        reason: String,
    },
    /// The topic is missing and Sluice may not create it.
    #[error(
        "offsets topic `{topic}` does not exist and could not be created ({reason}); create it compacted, e.g. \
         `kafka-topics.sh --create --topic {topic} --partitions 1 --config cleanup.policy=compact`, or pass \
         --offsets-topic"
    )]
    Create {
        /// The offsets topic.
        topic: String,
        /// The broker's reason.
        reason: String,
    },
    /// Reading the topic failed.
    #[error("cannot read offsets topic `{topic}`: {reason}")]
    Read {
        /// The offsets topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// A record of this pipeline does not parse.
    #[error(
        "offsets topic `{topic}` partition {partition} offset {offset}: a progress record of pipeline `{pipeline}` \
         is corrupt ({reason}); it was left untouched"
    )]
    Corrupt {
        /// The offsets topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// The pipeline.
        pipeline: String,
        /// The parse error.
        reason: String,
    },
}

/// A record's key: the pipeline and the file's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Key {
    pipeline: String,
    file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    head: Option<Head>,
}

/// A record's value: the progress, and where the file was.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Value {
    #[serde(flatten)]
    progress: FileProgress,
    dev: u64,
    ino: u64,
}

/// Where the files of committed progress are now: the landing zone, as the
/// progress floor sees it (it opens no file itself). The pipeline hands the
/// store one over its landing zone.
pub trait Locate: std::fmt::Debug + Send + Sync {
    /// The identity of the file at `path` in the zone, if it is one that
    /// may be read and starts with `head`.
    fn identify(&self, path: &Path, head: Option<Head>) -> Option<FileId>;

    /// Every file in the zone now, by identity: where a renamed file went.
    fn files(&self) -> HashMap<FileId, PathBuf>;

    /// Whether a file's identity is its content's, the same on every host
    /// (an object's key and ETag): committed progress then applies only to
    /// the file of the identity it was committed with, never to new content
    /// under the same name.
    fn identity_is_content(&self) -> bool {
        false
    }
}

/// The offsets topic, for one pipeline.
#[derive(Debug, Clone)]
pub struct KafkaStore {
    kafka: KafkaConfig,
    topic: String,
    pipeline: String,
    landing_zone: PathBuf,
    /// Finds the files of committed progress in the landing zone.
    locate: Arc<dyn Locate>,
    /// What the last commit holds, with each file's key there.
    committed: HashMap<FileId, (Key, FileProgress)>,
    /// Partitions of the topic (known once [`KafkaStore::ensure_topic`] ran).
    partitions: i32,
    /// What the open transaction will hold if it commits.
    staged: Option<HashMap<FileId, (Key, FileProgress)>>,
    /// Records staged for the open transaction.
    records: Vec<ProgressRecord>,
}

/// A progress record for the open transaction: partition, key, and value or
/// tombstone.
pub type ProgressRecord = (i32, Vec<u8>, Option<Vec<u8>>);

/// The partition of the offsets topic a file's progress lives in, so the
/// host that owns it: a stable hash of its path below the landing zone,
/// which every host computes alike.
pub fn partition_of(file: &str, partitions: i32) -> i32 {
    (crate::record::file::fnv1a(file.as_bytes()) % partitions.max(1) as u64) as i32
}

/// The files one host of a pipeline takes: those of the partitions of the
/// offsets topic it owns.
#[derive(Debug, Clone)]
pub struct Share {
    landing_zone: PathBuf,
    partitions: i32,
    owned: std::collections::BTreeSet<i32>,
}

impl Share {
    /// Whether the file at `path` (in the landing zone) is this host's.
    pub fn owns(&self, path: &Path) -> bool {
        let below = path.strip_prefix(&self.landing_zone).unwrap_or(path);
        self.owned.contains(&partition_of(&below.to_string_lossy(), self.partitions))
    }
}

impl KafkaStore {
    /// The store of `pipeline` in `topic`, for files in `landing_zone`,
    /// which `locate` finds again.
    pub fn new(kafka: &KafkaConfig, topic: &str, pipeline: &str, landing_zone: &Path, locate: Arc<dyn Locate>) -> Self {
        KafkaStore {
            kafka: kafka.clone(),
            topic: topic.to_owned(),
            pipeline: pipeline.to_owned(),
            landing_zone: landing_zone.to_owned(),
            locate,
            committed: HashMap::new(),
            staged: None,
            records: Vec::new(),
            partitions: 1,
        }
    }

    /// Partitions of the offsets topic.
    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    /// The offsets topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub(crate) fn client_config(&self) -> rdkafka::ClientConfig {
        let mut config = rdkafka::ClientConfig::new();
        for (k, v) in self.kafka.properties.iter().filter(|(k, _)| !PRODUCER_ONLY.contains(&k.as_str())) {
            config.set(k, v);
        }
        config
    }

    fn client_error(&self, e: &KafkaError) -> KafkaStoreError {
        let reason = crate::kafka::scrub(
            &e.to_string(),
            &self.kafka.secrets().into_iter().map(str::to_owned).collect::<Vec<_>>(),
        );
        KafkaStoreError::Client { topic: self.topic.clone(), reason }
    }

    /// A file's key: its path below the landing zone (the same on every
    /// host that mounts it), and its head.
    fn key(&self, progress: &FileProgress) -> Key {
        let path = Path::new(&progress.path);
        let file = match path.strip_prefix(&self.landing_zone) {
            Ok(below) => below.to_string_lossy().into_owned(),
            Err(_) => path.file_name().map_or_else(|| progress.path.clone(), |n| n.to_string_lossy().into_owned()),
        };
        Key { pipeline: self.pipeline.clone(), file, head: progress.head }
    }

    /// The partition of the record with `key`.
    fn partition(&self, key: &Key) -> i32 {
        partition_of(&key.file, self.partitions)
    }

    /// Stages the records of the files whose progress in `checkpoint`
    /// differs from what the open transaction (or else the last commit)
    /// holds, and tombstones for the files it no longer has.
    pub fn stage(&mut self, checkpoint: &Checkpoint) {
        let base = self.staged.as_ref().unwrap_or(&self.committed);
        let mut next = HashMap::with_capacity(checkpoint.files.len());
        let mut records = Vec::new();
        for (id, progress) in &checkpoint.files {
            let key = self.key(progress);
            let old = base.get(id);
            if old.is_none_or(|(k, p)| p != progress || *k != key) {
                if let Some((old_key, _)) = old.filter(|(k, _)| *k != key) {
                    records.push((self.partition(old_key), encode(old_key), None));
                }
                let value = Value { progress: progress.clone(), dev: id.dev, ino: id.ino };
                let value = serde_json::to_vec(&value).expect("progress serializes");
                records.push((self.partition(&key), encode(&key), Some(value)));
            }
            next.insert(*id, (key, progress.clone()));
        }
        for (id, (key, _)) in base {
            if !checkpoint.files.contains_key(id) {
                records.push((self.partition(key), encode(key), None));
            }
        }
        self.records.extend(records);
        self.staged = Some(next);
    }

    /// Takes the records staged for the open transaction.
    pub fn take_records(&mut self) -> Vec<ProgressRecord> {
        std::mem::take(&mut self.records)
    }

    /// Takes on restored partitions: their files' progress counts as
    /// committed. Call between transactions.
    pub fn adopt(&mut self, restored: Restored) {
        self.committed.extend(restored.files);
        self.staged = None;
    }

    /// Lets go of `partitions` (they moved to another host): their files
    /// leave the committed progress without tombstones, which would erase
    /// what the new owner resumes from. Call between transactions; returns
    /// how many files left.
    pub fn release(&mut self, partitions: &[i32]) -> usize {
        let before = self.committed.len();
        let count = self.partitions;
        self.committed.retain(|_, (key, _)| !partitions.contains(&partition_of(&key.file, count)));
        self.staged = None;
        before - self.committed.len()
    }

    /// The files of the `owned` partitions, for the source.
    pub fn share(&self, owned: impl IntoIterator<Item = i32>) -> Share {
        Share {
            landing_zone: self.landing_zone.clone(),
            partitions: self.partitions,
            owned: owned.into_iter().collect(),
        }
    }

    /// The transaction carrying the staged records committed.
    pub fn committed(&mut self) {
        if let Some(staged) = self.staged.take() {
            self.committed = staged;
        }
        self.records.clear();
    }

    /// The transaction was aborted: its records never happened.
    pub fn aborted(&mut self) {
        self.staged = None;
        self.records.clear();
    }

    /// The progress of the last commit.
    pub fn committed_checkpoint(&self) -> Checkpoint {
        Checkpoint { files: self.committed.iter().map(|(id, (_, p))| (*id, p.clone())).collect() }
    }
}

fn encode(key: &Key) -> Vec<u8> {
    serde_json::to_vec(key).expect("keys serialize")
}

#[cfg(test)]
mod tests;
