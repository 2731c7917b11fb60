//! The Kafka sink: publishes emitted messages with librdkafka's idempotent
//! producer (`acks=all`) and reports deliveries to the [`Tracker`].
//!
//! [`Sink::connect`] waits for the broker with backoff and checks the topic
//! exists, so a wrong address or a missing topic is named at start-up.
//! [`Sink::send`] never drops: a full producer queue means waiting for
//! deliveries (as Vector's kafka service returns Pending on QueueFull).
//! Errors and librdkafka's own log lines are scrubbed of configured secrets
//! before they reach a log or a message.

pub mod delivery;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use sluice_guest_sdk::abi::Message;

use crate::config::KafkaConfig;
use crate::shutdown::Shutdown;
pub use delivery::Tracker;

/// How long one metadata request may take before it is retried.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest pause between attempts to reach the broker at start-up.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

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
    /// A message could not be handed to the producer.
    #[error("cannot send a record from {file} line {line} to Kafka: {reason}")]
    Send {
        /// Source file.
        file: String,
        /// Source line.
        line: u64,
        /// Why.
        reason: String,
    },
    /// Flushing at shutdown did not finish.
    #[error(
        "{in_flight} messages were not acknowledged within {timeout_s} s of shutdown; they will be sent again on restart"
    )]
    Flush {
        /// Messages still out.
        in_flight: usize,
        /// The flush timeout.
        timeout_s: u64,
    },
}

/// librdkafka callbacks: deliveries to the tracker, errors and logs to tracing.
struct Context {
    tracker: Arc<Tracker>,
    secrets: Vec<String>,
    last_error: Mutex<Option<String>>,
}

impl Context {
    fn scrub(&self, text: &str) -> String {
        scrub(text, &self.secrets)
    }
}

/// Replaces every secret in `text` with `[redacted]`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().filter(|s| !s.is_empty()).fold(text.to_owned(), |t, s| t.replace(s.as_str(), "[redacted]"))
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let message = self.scrub(message);
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", fac, "{message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", fac, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => tracing::info!(target: "librdkafka", fac, "{message}"),
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", fac, "{message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let reason = self.scrub(reason);
        tracing::warn!(target: "librdkafka", error = %self.scrub(&error.to_string()), "{reason}");
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
    }
}

impl ProducerContext for Context {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        match result {
            Ok(_) => self.tracker.acked(seq as u64),
            Err((error, _)) => {
                self.tracker.failed(format!("Kafka refused a message: {}", self.scrub(&error.to_string())))
            }
        }
    }
}

/// The producer for one topic.
pub struct Sink {
    producer: ThreadedProducer<Context>,
    topic: String,
    servers: String,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl Sink {
    /// Creates the producer and waits, with backoff, until the broker
    /// answers and the topic is there.
    pub fn connect(config: &KafkaConfig, tracker: Arc<Tracker>, shutdown: &Shutdown) -> Result<Self, SinkError> {
        let secrets = config.secrets().into_iter().map(str::to_owned).collect::<Vec<_>>();
        let context = Context { tracker, secrets: secrets.clone(), last_error: Mutex::new(None) };
        let producer = config
            .client_config()
            .create_with_context(context)
            .map_err(|e| SinkError::Config(scrub(&e.to_string(), &secrets)))?;
        let servers = config.get("bootstrap.servers").unwrap_or_default().to_owned();
        let sink = Sink { producer, topic: config.topic.clone(), servers };
        sink.wait_for_topic(shutdown)?;
        Ok(sink)
    }

    fn wait_for_topic(&self, shutdown: &Shutdown) -> Result<(), SinkError> {
        let mut backoff = Duration::from_millis(250);
        loop {
            let last_error = match self.check_topic() {
                Ok(()) => return Ok(()),
                Err(Retry::Fatal(e)) => return Err(e),
                Err(Retry::Again(reason)) => reason,
            };
            tracing::warn!(servers = %self.servers, error = %last_error, retry_in_ms = backoff.as_millis() as u64, "Kafka is not reachable yet");
            if shutdown.signal().recv_timeout(backoff).is_err() && shutdown.is_triggered() {
                return Err(SinkError::NotConnected { servers: self.servers.clone(), last_error });
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn check_topic(&self) -> Result<(), Retry> {
        let metadata = match self.producer.client().fetch_metadata(Some(&self.topic), METADATA_TIMEOUT) {
            Ok(metadata) => metadata,
            Err(e) => return Err(Retry::Again(self.explain(&e))),
        };
        let Some(topic) = metadata.topics().iter().find(|t| t.name() == self.topic) else {
            return Err(Retry::Again("the broker's metadata did not list the topic".into()));
        };
        match topic.error().map(RDKafkaErrorCode::from) {
            None if !topic.partitions().is_empty() => Ok(()),
            None => Err(Retry::Again("the topic has no partitions yet".into())),
            Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                Err(Retry::Fatal(SinkError::NoTopic { topic: self.topic.clone(), servers: self.servers.clone() }))
            }
            Some(RDKafkaErrorCode::LeaderNotAvailable) => Err(Retry::Again("the topic has no leader yet".into())),
            Some(code) => Err(Retry::Fatal(SinkError::Topic { topic: self.topic.clone(), reason: code.to_string() })),
        }
    }

    /// The error, with librdkafka's last reported cause (e.g. the
    /// authentication failure) when it has one.
    fn explain(&self, error: &KafkaError) -> String {
        let context = self.producer.context();
        let last = context.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let error = context.scrub(&error.to_string());
        match last {
            Some(cause) => format!("{error} ({cause})"),
            None => error,
        }
    }

    /// Hands one message to the producer, waiting while its queue is full.
    /// `seq` is the tracker's batch number, echoed back on delivery.
    pub fn send(&self, msg: &Message<'_>, seq: u64, shutdown: &Shutdown) -> Result<(), SendError> {
        let mut record = BaseRecord::<[u8], [u8], usize>::with_opaque_to(&self.topic, seq as usize);
        if let Some(key) = msg.key {
            record = record.key(key);
        }
        if let Some(value) = msg.value {
            record = record.payload(value);
        }
        if let Some(ts) = msg.timestamp_ms {
            record = record.timestamp(ts);
        }
        if !msg.headers.is_empty() {
            record = record.headers(headers(msg));
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if shutdown.is_triggered() {
                        return Err(SendError::Stopped);
                    }
                    record = back;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(SendError::Refused(self.producer.context().scrub(&e.to_string()))),
            }
        }
    }

    /// Waits until every sent message is acknowledged, or `timeout`.
    pub fn flush(&self, tracker: &Tracker, timeout: Duration) -> Result<(), SinkError> {
        let deadline = Instant::now() + timeout;
        let _ = self.producer.flush(timeout);
        while tracker.in_flight() > 0 && Instant::now() < deadline && tracker.failure().is_none() {
            self.producer.poll(Duration::from_millis(10));
        }
        match tracker.in_flight() {
            0 => Ok(()),
            in_flight => Err(SinkError::Flush { in_flight, timeout_s: timeout.as_secs() }),
        }
    }
}

fn headers(msg: &Message<'_>) -> OwnedHeaders {
    msg.headers.iter().fold(OwnedHeaders::new_with_capacity(msg.headers.len()), |h, (key, value)| {
        h.insert(Header { key, value: *value })
    })
}

enum Retry {
    Again(String),
    Fatal(SinkError),
}

/// Why one message was not handed to the producer.
#[derive(Debug)]
pub enum SendError {
    /// Shutdown began while the queue was full.
    Stopped,
    /// librdkafka refused it outright (e.g. larger than `message.max.bytes`).
    Refused(String),
}
