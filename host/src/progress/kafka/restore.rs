//! Reading committed progress back: the partitions the group assigns this
//! host are read `read_committed` from the start to their end (which the
//! stable offset fetch of the group makes final, see
//! [`crate::progress::group`]), and each record's file is found in the
//! landing zone by name and head, or else by device and inode.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};

use super::{KafkaStore, KafkaStoreError, Key, LOAD_TIMEOUT, Value};
use crate::progress::FileProgress;
use crate::record::FileId;

/// The committed progress of some partitions, read by
/// [`KafkaStore::restore`] for [`KafkaStore::adopt`].
#[derive(Debug, Default)]
pub struct Restored {
    /// The partitions read.
    pub partitions: Vec<i32>,
    /// Each partition's end offset when it was read.
    pub ends: Vec<(i32, i64)>,
    pub(super) files: HashMap<FileId, (Key, FileProgress)>,
}

impl Restored {
    /// Files found in the landing zone with committed progress.
    pub fn files(&self) -> usize {
        self.files.len()
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
    /// Reads the committed progress of `partitions` (fresh from the group,
    /// see [`crate::progress::group`]) and finds its files in the landing zone.
    pub fn restore(&self, partitions: &[i32]) -> Result<Restored, KafkaStoreError> {
        let (latest, ends) = self.read_to_end(partitions)?;
        let records = self.parse(latest)?;
        let files = self.resolve(records);
        Ok(Restored { partitions: partitions.to_vec(), ends, files })
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
    pub(super) fn resolve(&self, records: Vec<(Key, Value)>) -> HashMap<FileId, (Key, FileProgress)> {
        let by_id = self.locate.files();
        let mut found: HashMap<FileId, (Key, FileProgress)> = HashMap::new();
        for (key, value) in records {
            let named = self.landing_zone.join(&key.file);
            let old_id = FileId { dev: value.dev, ino: value.ino };
            let candidates = [Some(named), by_id.get(&old_id).cloned()];
            let Some(id) = candidates.into_iter().flatten().find_map(|path| self.locate.identify(&path, key.head))
            else {
                continue;
            };
            if self.locate.identity_is_content() && id != old_id {
                // Overwritten since: the new content is new work.
                continue;
            }
            if found.get(&id).is_none_or(|(_, p)| p.offset < value.progress.offset) {
                found.insert(id, (key, value.progress));
            }
        }
        found
    }
}
