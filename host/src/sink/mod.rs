//! The Kafka sink: publishes emitted messages with librdkafka's idempotent
//! producer (`acks=all`); acknowledgements go to the [`Tracker`], failed
//! deliveries to the sink's redo queue, which the pump drains.
//!
//! Split by role, as Vector splits its kafka sink:
//! - this module: the [`Sink`] itself, [`Sink::connect`] (waits for the
//!   broker with backoff, at start-up for `--connect-timeout-ms` at most,
//!   and checks the topics exist, so a wrong address, a listener that
//!   speaks another protocol or a missing topic is named at start-up) and
//!   the producer's housekeeping;
//! - `metadata`: the one way the sink asks the broker about a topic, and
//!   the one backoff loop it asks again with;
//! - [`send`]: handing messages to the producer; a full queue means waiting
//!   for deliveries, never dropping (as Vector's kafka service returns
//!   Pending on QueueFull);
//! - `context`: librdkafka's callbacks (logs, errors and statistics to
//!   tracing and the health checks, delivery reports to the tracker and the
//!   redo queue), every text scrubbed of configured secrets;
//! - `reach`: whether a broker is reached, one log line per change rather
//!   than one per failed attempt, and the last cause for the start-up error;
//! - [`redo`]: messages librdkafka handed back, for the pump to send again
//!   or dead-letter;
//! - [`routes`]: each message goes to its own topic and partition when the
//!   module names them (ABI v2), else to `--topic` and the partitioner's
//!   choice, checked first against a metadata cache, so a message to a
//!   topic or partition that does not exist is dead-lettered rather than
//!   stalling the producer;
//! - [`transaction`]: in exactly-once mode the producer is transactional:
//!   `connect` fences any earlier producer of the pipeline and opens the
//!   first transaction, which then holds the messages of every topic the
//!   batch was routed to.
//!
//! Metrics are handed to [`Sink::connect`]: the sink counts acknowledged
//! messages and reports the brokers' and the producer's health.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::{Producer, PurgeConfig, ThreadedProducer};

use crate::config::KafkaConfig;
use crate::kafka::scrub;
use crate::metrics::PipelineMetrics;
use crate::progress::Tracker;
use crate::record::OwnedMessage;
use crate::shutdown::Shutdown;
use context::Context;
pub use redo::{Redo, RedoAction};
pub use routes::{RouteError, Routes};
pub use send::{SendError, Ticket};
pub use transaction::TxnError;

mod context;
mod metadata;
mod reach;
pub mod redo;
pub mod routes;
pub mod send;
pub mod transaction;

/// How often librdkafka reports its brokers' states (for `/health/ready`),
/// unless the operator set `statistics.interval.ms`.
const STATISTICS_INTERVAL_MS: &str = "1000";

/// Why the sink cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// librdkafka refused the configuration.
    #[error("invalid Kafka configuration: {0}")]
    Config(String),
    /// The topic is not on the broker.
    #[error("topic `{topic}` does not exist on {servers}; create it first (Sluice does not auto-create topics)")]
    NoTopic {
        /// The topic.
        topic: String,
        /// Where we looked.
        servers: String,
    },
    /// The broker answered about the topic with an error.
    #[error("cannot publish to topic `{topic}`: {reason}")]
    Topic {
        /// The topic.
        topic: String,
        /// The broker's error.
        reason: String,
    },
    /// Shutdown came before the broker did.
    #[error("stopped while waiting for Kafka at {servers}: {last_error}")]
    NotConnected {
        /// Where we tried.
        servers: String,
        /// The last reason it failed.
        last_error: String,
    },
    /// No broker answered within `--connect-timeout-ms` at start-up.
    #[error("cannot reach Kafka at {servers} within {within_ms} ms (--connect-timeout-ms): {reason}")]
    Unreachable {
        /// Where we tried.
        servers: String,
        /// How long we tried.
        within_ms: u128,
        /// librdkafka's last reason, with a hint when one fits.
        reason: String,
    },
    /// The listener answered the SASL handshake as one without SASL.
    #[error(
        "the Kafka listener at {servers} does not speak SASL (is it a PLAINTEXT listener? \
         security.protocol=SASL_PLAINTEXT or SASL_SSL needs one that does): {reason}"
    )]
    NoSasl {
        /// Where we tried.
        servers: String,
        /// librdkafka's reason.
        reason: String,
    },
    /// The broker refused the credentials.
    #[error("Kafka at {servers} refused the credentials: {reason}")]
    Authentication {
        /// Where we tried.
        servers: String,
        /// The broker's or librdkafka's reason.
        reason: String,
    },
    /// The transactional producer could not start its transactions.
    #[error("cannot start Kafka transactions: {0}")]
    Transactions(TxnError),
}

/// The producer, for the default topic and every topic messages are routed to.
pub struct Sink {
    producer: ThreadedProducer<Context>,
    topic: String,
    servers: String,
    routes: Routes,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl Sink {
    /// Creates the producer and waits, with backoff, until the broker
    /// answers and the topic is there; at start-up (`within`) no longer than
    /// that while no broker was ever reached.
    /// `dead_letter_topic`, when given, is checked too.
    pub fn connect(
        config: &KafkaConfig,
        dead_letter_topic: Option<&str>,
        tracker: Arc<Tracker>,
        metrics: Arc<PipelineMetrics>,
        within: Option<Duration>,
        shutdown: &Shutdown,
    ) -> Result<Self, SinkError> {
        let secrets = config.secrets().into_iter().map(str::to_owned).collect::<Vec<_>>();
        let mut client = config.client_config();
        if config.get("statistics.interval.ms").is_none() {
            client.set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
        }
        let servers = config.get("bootstrap.servers").unwrap_or_default().to_owned();
        let context = Context::new(tracker, metrics, secrets.clone(), servers.clone());
        let producer =
            client.create_with_context(context).map_err(|e| SinkError::Config(scrub(&e.to_string(), &secrets)))?;
        let mut sink = Sink { producer, topic: config.topic.clone(), servers, routes: Routes::default() };
        let until = within.map(|within| (std::time::Instant::now() + within, within));
        for topic in std::iter::once(config.topic.as_str()).chain(dead_letter_topic) {
            let partitions = sink.wait_for_topic(topic, until, shutdown)?;
            sink.routes.insert(topic, partitions);
        }
        if config.is_transactional() {
            sink.start_transactions(shutdown)?;
        }
        sink.producer.context().metrics.health.connected();
        Ok(sink)
    }

    /// The topic records go to when their module names none.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Takes the messages librdkafka handed back, to retry or dead-letter.
    pub fn take_redo(&self) -> Vec<Redo> {
        self.producer.context().redo.take()
    }

    /// Whether any message waits to be retried or dead-lettered.
    pub fn has_redo(&self) -> bool {
        !self.producer.context().redo.is_empty()
    }

    /// Queues a message of batch `seq` that was not delivered, as though
    /// librdkafka had handed it back; `record` is its record's index in the
    /// batch (`None` for a dead letter).
    pub fn redo(&self, seq: u64, record: Option<usize>, message: OwnedMessage, action: RedoAction) {
        let context = self.producer.context();
        context.redo.push(&context.tracker, seq, record, message, action);
    }

    /// librdkafka's fatal error, if the producer has raised one: it cannot
    /// send anything more, so the stream must stop (the checkpoint covers
    /// only what was acknowledged, so a restart resumes correctly).
    pub fn fatal_error(&self) -> Option<String> {
        let (code, reason) = self.producer.client().fatal_error()?;
        Some(format!("the Kafka producer failed for good ({code}): {}", self.producer.context().scrub(&reason)))
    }

    /// Drops every message the producer still holds, queued or in flight;
    /// each comes back through a delivery report, to be sent again.
    pub fn purge(&self) {
        self.producer.purge(PurgeConfig::default().queue().inflight());
    }

    /// Messages librdkafka still holds (queued, in flight, or awaiting
    /// their delivery report).
    pub fn queued(&self) -> i32 {
        self.producer.in_flight_count()
    }

    /// Lets librdkafka serve callbacks for up to `timeout`.
    pub fn poll(&self, timeout: Duration) {
        self.producer.poll(timeout);
    }

    /// Starts librdkafka's flush of everything queued, for up to `timeout`.
    pub fn flush(&self, timeout: Duration) {
        let _ = self.producer.flush(timeout);
    }
}
