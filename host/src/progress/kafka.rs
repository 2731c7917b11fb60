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
//! [`KafkaStore::save`] only stages the records of files whose progress
//! changed; the transaction takes them with [`KafkaStore::take_records`] and
//! produces them with the records they cover, then reports the outcome with
//! [`KafkaStore::committed`] or [`KafkaStore::aborted`]. A file that left
//! the landing zone gets a tombstone. [`KafkaStore::load`] reads the topic
//! `read_committed` from the start to its end, which the producer's
//! `init_transactions` (called first) makes reachable by aborting whatever a
//! fenced predecessor left open; then it finds each file in the landing zone
//! by name and head, or else by device and inode. A local checkpoint file is
//! not read in this mode, so it cannot make the stream skip or repeat.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rdkafka::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::{Checkpoint, CheckpointStore, FileId, FileProgress, Head};
use crate::config::KafkaConfig;

/// How long reading the offsets topic to its end may take at start-up.
const LOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// How long creating the offsets topic, and seeing it, may take.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);
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

/// The offsets topic, for one pipeline.
#[derive(Debug, Clone)]
pub struct KafkaStore {
    kafka: KafkaConfig,
    topic: String,
    pipeline: String,
    landing_zone: PathBuf,
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

/// The committed progress of some partitions, read by
/// [`KafkaStore::restore`] for [`KafkaStore::adopt`].
#[derive(Debug, Default)]
pub struct Restored {
    /// The partitions read.
    pub partitions: Vec<i32>,
    /// Each partition's end offset when it was read.
    pub ends: Vec<(i32, i64)>,
    files: HashMap<FileId, (Key, FileProgress)>,
}

impl Restored {
    /// Files found in the landing zone with committed progress.
    pub fn files(&self) -> usize {
        self.files.len()
    }
}

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

/// The context of the offsets reader: the end of a partition is what it
/// waits for, not an error to log.
struct Reader;

impl rdkafka::ClientContext for Reader {
    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(error, KafkaError::Global(RDKafkaErrorCode::PartitionEOF)) {
            tracing::error!("librdkafka: {error}: {reason}");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for Reader {}

/// The last record of every key in a partition range, tombstones removed.
type Latest = HashMap<Vec<u8>, (Vec<u8>, i32, i64)>;

impl KafkaStore {
    /// The store of `pipeline` in `topic`, for files in `landing_zone`.
    pub fn new(kafka: &KafkaConfig, topic: &str, pipeline: &str, landing_zone: &Path) -> Self {
        KafkaStore {
            kafka: kafka.clone(),
            topic: topic.to_owned(),
            pipeline: pipeline.to_owned(),
            landing_zone: landing_zone.to_owned(),
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

    /// Creates the offsets topic (compacted, `partitions` partitions) unless
    /// it exists, and learns how many partitions it has.
    pub fn ensure_topic(&mut self, partitions: i32) -> Result<(), KafkaStoreError> {
        let consumer: BaseConsumer = self.client_config().create().map_err(|e| self.client_error(&e))?;
        if let Some(found) = self.topic_partitions(&consumer)? {
            self.partitions = found.len() as i32;
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> =
            self.client_config().create().map_err(|e| self.client_error(&e))?;
        let topic =
            NewTopic::new(&self.topic, partitions, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
        let options = AdminOptions::new().operation_timeout(Some(CREATE_TIMEOUT));
        let create = |reason: String| KafkaStoreError::Create { topic: self.topic.clone(), reason };
        let results = block_on(admin.create_topics([&topic], &options)).map_err(|e| create(e.to_string()))?;
        match results.into_iter().next() {
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | Some(Ok(_)) | None => {}
            Some(Err((_, code))) => return Err(create(code.to_string())),
        }
        tracing::info!(topic = %self.topic, partitions, "created the compacted offsets topic");
        let deadline = Instant::now() + CREATE_TIMEOUT;
        loop {
            if let Some(found) = self.topic_partitions(&consumer)? {
                self.partitions = found.len() as i32;
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(create("it was created but did not appear within 30 s".into()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The topic's partitions, or `None` if it does not exist (yet).
    fn topic_partitions(&self, consumer: &BaseConsumer) -> Result<Option<Vec<i32>>, KafkaStoreError> {
        let read = |reason: String| KafkaStoreError::Read { topic: self.topic.clone(), reason };
        let metadata = consumer.fetch_metadata(Some(&self.topic), LOAD_TIMEOUT).map_err(|e| read(e.to_string()))?;
        let Some(topic) = metadata.topics().iter().find(|t| t.name() == self.topic) else { return Ok(None) };
        match topic.error().map(RDKafkaErrorCode::from) {
            Some(RDKafkaErrorCode::UnknownTopicOrPartition) => Ok(None),
            Some(code) => Err(read(code.to_string())),
            None if topic.partitions().is_empty() || topic.partitions().iter().any(|p| p.leader() < 0) => Ok(None),
            None => Ok(Some(topic.partitions().iter().map(|p| p.id()).collect())),
        }
    }

    /// Reads `partitions` `read_committed` from the start to their end (the
    /// last stable offset): the latest record of each key, and each
    /// partition's end offset.
    fn read_to_end(&self, partitions: &[i32]) -> Result<(Latest, Vec<(i32, i64)>), KafkaStoreError> {
        let read = |reason: String| KafkaStoreError::Read { topic: self.topic.clone(), reason };
        let consumer: BaseConsumer<Reader> = self
            .client_config()
            .set("group.id", format!("sluice-{}-offsets-reader", self.pipeline))
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .set("enable.auto.commit", "false")
            .create_with_context(Reader)
            .map_err(|e| self.client_error(&e))?;
        let mut assignment = TopicPartitionList::new();
        for p in partitions {
            assignment.add_partition_offset(&self.topic, *p, Offset::Beginning).map_err(|e| read(e.to_string()))?;
        }
        consumer.assign(&assignment).map_err(|e| read(e.to_string()))?;
        let (mut ends, mut latest) = (Vec::new(), Latest::new());
        let deadline = Instant::now() + LOAD_TIMEOUT;
        while ends.len() < partitions.len() {
            if Instant::now() > deadline {
                return Err(read(format!("did not reach its end within {} s", LOAD_TIMEOUT.as_secs())));
            }
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    let position = consumer.position().map_err(|e| read(e.to_string()))?;
                    let end = position.find_partition(&self.topic, p).and_then(|e| e.offset().to_raw());
                    ends.push((p, end.unwrap_or(0).max(0)));
                }
                Some(Err(e)) => return Err(read(e.to_string())),
                Some(Ok(m)) => {
                    let key = m.key().unwrap_or_default().to_vec();
                    match m.payload() {
                        Some(value) => latest.insert(key, (value.to_vec(), m.partition(), m.offset())),
                        None => latest.remove(&key),
                    };
                }
            }
        }
        Ok((latest, ends))
    }

    /// This pipeline's records, parsed.
    fn parse(&self, latest: Latest) -> Result<Vec<(Key, Value)>, KafkaStoreError> {
        let mut out = Vec::new();
        for (key, (value, partition, offset)) in latest {
            let Ok(key) = serde_json::from_slice::<Key>(&key) else { continue };
            if key.pipeline != self.pipeline {
                continue;
            }
            let value = serde_json::from_slice::<Value>(&value).map_err(|e| KafkaStoreError::Corrupt {
                topic: self.topic.clone(),
                partition,
                offset,
                pipeline: self.pipeline.clone(),
                reason: e.to_string(),
            })?;
            out.push((key, value));
        }
        Ok(out)
    }

    /// Where each committed record's file is now: by name and head, or by
    /// device and inode and head (a renamed file). The furthest progress
    /// wins when several records fit one file (its head grew).
    fn resolve(&self, records: Vec<(Key, Value)>) -> HashMap<FileId, (Key, FileProgress)> {
        let by_id: HashMap<FileId, PathBuf> = fs::read_dir(&self.landing_zone)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| Some((FileId::of(&fs::metadata(e.path()).ok()?), e.path())))
            .collect();
        let mut found: HashMap<FileId, (Key, FileProgress)> = HashMap::new();
        for (key, value) in records {
            let named = self.landing_zone.join(&key.file);
            let old_id = FileId { dev: value.dev, ino: value.ino };
            let candidates = [Some(named), by_id.get(&old_id).cloned()];
            let Some(id) = candidates.into_iter().flatten().find_map(|path| same_file(&path, key.head)) else {
                continue;
            };
            if found.get(&id).is_none_or(|(_, p)| p.offset < value.progress.offset) {
                found.insert(id, (key, value.progress));
            }
        }
        found
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

    /// Takes the records staged for the open transaction.
    pub fn take_records(&mut self) -> Vec<ProgressRecord> {
        std::mem::take(&mut self.records)
    }

    /// Reads the committed progress of `partitions` (fresh from the group,
    /// see `pipeline::group`) and finds its files in the landing zone.
    pub fn restore(&self, partitions: &[i32]) -> Result<Restored, KafkaStoreError> {
        let (latest, ends) = self.read_to_end(partitions)?;
        let records = self.parse(latest)?;
        let files = self.resolve(records);
        Ok(Restored { partitions: partitions.to_vec(), ends, files })
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

/// The identity of the file at `path` if it starts with `head`.
fn same_file(path: &Path, head: Option<Head>) -> Option<FileId> {
    let file = File::open(path).ok()?;
    let id = FileId::of(&file.metadata().ok()?);
    match head {
        Some(head) if !head.matches(&file).ok()? => None,
        _ => Some(id),
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}

impl CheckpointStore for KafkaStore {
    type Error = KafkaStoreError;

    fn load(&mut self) -> Result<Checkpoint, KafkaStoreError> {
        let all: Vec<i32> = (0..self.partitions).collect();
        let records = self.parse(self.read_to_end(&all)?.0)?;
        tracing::info!(topic = %self.topic, pipeline = %self.pipeline, records = records.len(), "read committed progress");
        self.committed = self.resolve(records);
        self.staged = None;
        Ok(self.committed_checkpoint())
    }

    fn save(&mut self, checkpoint: &Checkpoint) -> Result<(), KafkaStoreError> {
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
        Ok(())
    }
}

/// The key of a pipeline's owner record: which instance holds the
/// transactional id. It is not a [`Key`] (no `file`), so [`KafkaStore::load`]
/// skips it.
#[derive(Serialize)]
struct OwnerKey<'a> {
    pipeline: &'a str,
    owner: bool,
    host_id: &'a str,
}

/// The instance that writes an owner record, for operators.
#[derive(Serialize)]
struct Owner<'a> {
    host: &'a str,
    pid: u32,
    landing_zone: &'a Path,
}

impl KafkaStore {
    /// The owner record of this pipeline's host `host_id` (partition, key,
    /// value): written by an idle instance now and then so that a fencing
    /// reaches it (see `pump::transaction`), and compacted to one record per
    /// host.
    pub fn owner_record(&self, host_id: &str) -> ProgressRecord {
        let key = OwnerKey { pipeline: &self.pipeline, owner: true, host_id };
        let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
        let owner = Owner { host: &host, pid: std::process::id(), landing_zone: &self.landing_zone };
        let key = serde_json::to_vec(&key).expect("keys serialize");
        (partition_of(host_id, self.partitions), key, Some(serde_json::to_vec(&owner).expect("owner serializes")))
    }
}

fn encode(key: &Key) -> Vec<u8> {
    serde_json::to_vec(key).expect("keys serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> KafkaStore {
        let kafka = KafkaConfig { topic: "t".into(), properties: vec![] };
        KafkaStore::new(&kafka, "offsets", "p1", dir)
    }

    fn progress(path: &str, offset: u64, head: Option<Head>) -> FileProgress {
        FileProgress { path: path.into(), offset, line: offset / 10, head }
    }

    #[test]
    fn saves_stage_only_what_changed_and_aborts_forget_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let head = Some(Head { len: 8, fnv: 7 });
        let mut cp = Checkpoint::default();
        cp.files.insert(FileId { dev: 1, ino: 2 }, progress("/in/a.json", 10, head));
        s.save(&cp).unwrap();
        let records = s.take_records();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].1, br#"{"pipeline":"p1","file":"a.json","head":{"len":8,"fnv":7}}"#);
        let value = String::from_utf8(records[0].2.clone().unwrap()).unwrap();
        assert_eq!(value, r#"{"path":"/in/a.json","offset":10,"line":1,"head":{"len":8,"fnv":7},"dev":1,"ino":2}"#);
        s.aborted();
        s.save(&cp).unwrap();
        assert_eq!(s.take_records().len(), 1, "the aborted record is written again");
        s.committed();
        s.save(&cp).unwrap();
        assert!(s.take_records().is_empty(), "nothing changed since the commit");
        s.committed();

        let grown = Some(Head { len: 9, fnv: 8 });
        cp.files.insert(FileId { dev: 1, ino: 2 }, progress("/in/a.json", 20, grown));
        s.save(&cp).unwrap();
        let records = s.take_records();
        assert_eq!(records.len(), 2, "the old key gets a tombstone");
        assert!(records[0].2.is_none() && records[1].2.is_some());
        s.committed();
        s.save(&Checkpoint::default()).unwrap();
        assert!(matches!(&s.take_records()[..], [(_, _, None)]), "a forgotten file gets a tombstone");
    }

    #[test]
    fn files_belong_to_partitions_by_their_path_below_the_landing_zone() {
        let mut s = store(Path::new("/mnt/a/in"));
        s.partitions = 12;
        // Another host mounts the share elsewhere: the same file, the same partition.
        let mut other = store(Path::new("/nfs/in"));
        other.partitions = 12;
        let all = 0..12;
        for name in ["a.json", "date=1/part-0.json", "date=2/part-0.json"] {
            let p = partition_of(name, 12);
            assert!(all.contains(&p));
            assert!(s.share([p]).owns(&Path::new("/mnt/a/in").join(name)), "{name}");
            assert!(other.share([p]).owns(&Path::new("/nfs/in").join(name)), "{name}");
            assert!(!s.share(all.clone().filter(|q| *q != p)).owns(&Path::new("/mnt/a/in").join(name)), "{name}");
        }
        assert_eq!(partition_of("a.json", 12), (fnv1a_of("a.json") % 12) as i32, "a stable hash, not a seeded one");
        assert_eq!(partition_of("a.json", 1), 0);

        let head = Some(Head { len: 8, fnv: 7 });
        let mut cp = Checkpoint::default();
        let files = ["a.json", "date=1/part-0.json", "date=2/part-0.json", "b.json", "c.json"];
        for (ino, name) in files.iter().enumerate() {
            cp.files.insert(FileId { dev: 1, ino: ino as u64 }, progress(&format!("/mnt/a/in/{name}"), 10, head));
        }
        s.save(&cp).unwrap();
        let records = s.take_records();
        let keys: Vec<String> = records.iter().map(|r| String::from_utf8(r.1.clone()).unwrap()).collect();
        assert!(
            keys.iter().any(|k| k.contains(r#""file":"date=1/part-0.json""#)),
            "nested files keep their path: {keys:?}"
        );
        for (partition, key, _) in &records {
            let key: Key = serde_json::from_slice(key).unwrap();
            assert_eq!(*partition, partition_of(&key.file, 12), "{key:?}");
        }
        s.committed();
        let gone = partition_of("a.json", 12);
        let left = files.iter().filter(|f| partition_of(f, 12) == gone).count();
        assert_eq!(s.release(&[gone]), left);
        assert_eq!(s.committed_checkpoint().files.len(), files.len() - left);
        cp.files.retain(|_, p| partition_of(p.path.trim_start_matches("/mnt/a/in/"), 12) != gone);
        s.save(&cp).unwrap();
        assert!(s.take_records().is_empty(), "released files get no tombstones: they are another host's now");
    }

    fn fnv1a_of(text: &str) -> u64 {
        crate::record::file::fnv1a(text.as_bytes())
    }

    #[test]
    fn committed_progress_finds_its_file_by_name_or_by_inode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        fs::write(&path, "{\"a\":1}\n{\"a\":2}\n").unwrap();
        let head = Head::of(&File::open(&path).unwrap()).unwrap();
        let id = FileId::of(&fs::metadata(&path).unwrap());
        let s = store(dir.path());
        let key = |file: &str, head| Key { pipeline: "p1".into(), file: file.into(), head };
        let value = |offset, ino| Value { progress: progress("a.json", offset, Some(head)), dev: id.dev, ino };
        let found = s.resolve(vec![(key("a.json", Some(head)), value(8, 0))]);
        assert_eq!(found[&id].1.offset, 8, "by name");
        let found = s.resolve(vec![(key("old.json", Some(head)), value(16, id.ino))]);
        assert_eq!(found[&id].1.offset, 16, "by inode, renamed");
        let other = Head { len: head.len, fnv: head.fnv ^ 1 };
        assert!(s.resolve(vec![(key("a.json", Some(other)), value(8, id.ino))]).is_empty(), "another file's head");
    }
}
