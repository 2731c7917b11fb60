//! The offsets topic itself: created compacted unless it exists, and how
//! many partitions it has (each a share of the files, see
//! [`super::partition_of`]).

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;

use super::{KafkaStore, KafkaStoreError, LOAD_TIMEOUT};
use crate::kafka::{TopicMetadata, topic_metadata};

/// How long creating the offsets topic, and seeing it, may take.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);

impl KafkaStore {
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
        let metadata = topic_metadata(consumer.client(), &self.topic, LOAD_TIMEOUT).map_err(|e| read(e.to_string()))?;
        match metadata {
            TopicMetadata::NotListed | TopicMetadata::Error(RDKafkaErrorCode::UnknownTopicOrPartition) => Ok(None),
            TopicMetadata::Error(code) => Err(read(code.to_string())),
            TopicMetadata::Partitions { ids, led } if ids.is_empty() || !led => Ok(None),
            TopicMetadata::Partitions { ids, .. } => Ok(Some(ids)),
        }
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}
