//! The Kafka sink: publishes emitted messages with librdkafka's idempotent
//! producer (`acks=all`) and reports deliveries to the [`Tracker`].
//!
//! [`Sink::connect`] waits for the broker with backoff and checks the topic
//! exists, so a wrong address or a missing topic is named at start-up.
//! [`Sink::send`] never drops: a full producer queue means waiting for
//! deliveries (as Vector's kafka service returns Pending on QueueFull).
//! Errors and librdkafka's own log lines are scrubbed of configured secrets
//! before they reach a log or a message. Each message goes to its own topic
//! and partition when the module names them (ABI v2), else to `--topic` and
//! the partitioner's choice; [`routes`] checks them against a metadata cache
//! first, so a message to a topic or partition that does not exist is
//! dead-lettered rather than stalling the producer. In exactly-once mode
//! the producer is transactional ([`transaction`]): `connect` fences any
//! earlier producer of the pipeline and opens the first transaction, which
//! then holds the messages of every topic the batch was routed to.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer};
use sluice_guest_sdk::abi::Message;

use crate::config::KafkaConfig;
pub use crate::progress::{Redo, RedoAction, Tracker};
use crate::record::OwnedMessage;
use crate::shutdown::Shutdown;
pub use routes::{RouteError, Routes};
pub use transaction::TxnError;

pub mod routes;
pub mod transaction;

/// How long one metadata request may take before it is retried.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest pause between attempts to reach the broker at start-up.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
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

/// librdkafka callbacks: deliveries to the tracker, errors and logs to tracing.
struct Context {
    tracker: Arc<Tracker>,
    secrets: Vec<String>,
    /// librdkafka's last client-level error, scrubbed.
    last_error: Mutex<Option<String>>,
    /// The first authentication failure: kept, because the "all brokers
    /// down" that follows it would otherwise hide the cause.
    auth_failure: Mutex<Option<String>>,
    /// Notified when a progress record's delivery is reported.
    progress_reported: (Mutex<()>, std::sync::Condvar),
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
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Authentication) => {
                self.auth_failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(reason.clone());
            }
            Some(RDKafkaErrorCode::AllBrokersDown) => self.tracker.metrics().health.brokers_down(&reason),
            _ => {}
        }
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
    }

    /// librdkafka's statistics: only the brokers' states are read, to tell
    /// `/health/ready` whether one is up.
    fn stats_raw(&self, statistics: &[u8]) {
        let health = &self.tracker.metrics().health;
        match brokers_down(statistics) {
            Ok(None) => health.brokers_up(),
            Ok(Some(why)) => health.brokers_down(&why),
            Err(e) => tracing::debug!(error = %e, "cannot read librdkafka's statistics"),
        }
    }
}

/// Why no broker is up according to librdkafka's statistics JSON; `None`
/// when one is.
fn brokers_down(statistics: &[u8]) -> Result<Option<String>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Statistics {
        brokers: std::collections::BTreeMap<String, Broker>,
    }
    #[derive(serde::Deserialize)]
    struct Broker {
        source: String,
        state: String,
    }
    let stats: Statistics = serde_json::from_slice(statistics)?;
    let real: Vec<(&String, &Broker)> =
        stats.brokers.iter().filter(|(_, b)| matches!(b.source.as_str(), "configured" | "learned")).collect();
    if real.iter().any(|(_, b)| b.state == "UP") {
        return Ok(None);
    }
    let states: Vec<String> = real.iter().map(|(name, b)| format!("{name} is {}", b.state)).collect();
    Ok(Some(format!("no broker is up ({})", states.join(", "))))
}

impl ProducerContext for Context {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        if opaque == transaction::PROGRESS_OPAQUE {
            // A progress record: if it failed, so does its transaction's commit.
            self.progress_reported.1.notify_all();
            return;
        }
        let ticket = Ticket::unpack(opaque);
        let (error, message) = match result {
            Ok(_) => {
                let metrics = self.tracker.metrics();
                metrics.acked(u64::from(!ticket.dead_letter));
                metrics.health.accepting();
                return self.tracker.acked(ticket.seq);
            }
            Err((error, message)) => (error, message),
        };
        let reason = self.scrub(&error.to_string());
        let action = match fate(error) {
            Fate::Retry => RedoAction::Retry { reason, fenced: false },
            Fate::Fenced => RedoAction::Retry { reason, fenced: true },
            Fate::DeadLetter => RedoAction::DeadLetter(format!("Kafka refused the message: {reason}")),
            Fate::Fatal => return self.tracker.failed(format!("Kafka refused a message: {reason}")),
        };
        let owned = owned_message(message, &ticket);
        let record = (!ticket.dead_letter).then_some(ticket.record);
        self.tracker.redo(ticket.seq, record, owned, action);
    }
}

/// What a failed delivery means for its message.
enum Fate {
    /// Transient: send it again.
    Retry,
    /// The broker fenced this producer's identity (for example after
    /// librdkafka bumped its epoch): replace the producer, then send again.
    Fenced,
    /// This message can never be accepted: dead-letter it.
    DeadLetter,
    /// The stream cannot go on (authorization, a fatal producer error).
    Fatal,
}

fn fate(error: &KafkaError) -> Fate {
    use RDKafkaErrorCode as E;
    match error {
        // Transient; or handed back by our own purge of a broken producer.
        // Sending again may duplicate a message, never lose it.
        KafkaError::MessageProduction(
            E::MessageTimedOut | E::RequestTimedOut | E::NotEnoughReplicas | E::PurgeQueue | E::PurgeInflight,
        ) => Fate::Retry,
        // The producer's identity is no good any more. A fatal producer error
        // is caught separately, by `Sink::fatal_error`.
        KafkaError::MessageProduction(
            E::ProducerFenced | E::InvalidProducerEpoch | E::OutOfOrderSequenceNumber | E::UnknownProducerId,
        ) => Fate::Fenced,
        KafkaError::MessageProduction(
            E::MessageSizeTooLarge
            | E::InvalidMessage
            | E::InvalidMessageSize
            | E::InvalidRecord
            | E::InvalidTimestamp
            | E::MessageBatchTooLarge,
        ) => Fate::DeadLetter,
        _ => Fate::Fatal,
    }
}

fn owned_message(message: &rdkafka::message::BorrowedMessage<'_>, ticket: &Ticket) -> OwnedMessage {
    use rdkafka::Message as _;
    let headers = message
        .headers()
        .map(|hs| hs.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect())
        .unwrap_or_default();
    OwnedMessage {
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
        timestamp_ms: ticket.timestamp_set.then(|| message.timestamp().to_millis()).flatten(),
        topic: Some(message.topic().to_owned()),
        partition: ticket.partition_set.then(|| message.partition()),
    }
}

/// What a delivery report refers to, packed into librdkafka's per-message
/// opaque: the batch, the index in it of the record the message was made
/// of (several messages of one record share it), and three flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ticket {
    /// The tracker's batch sequence number.
    pub seq: u64,
    /// The record's index in its batch.
    pub record: usize,
    /// The message is a dead letter, not a transformed record.
    pub dead_letter: bool,
    /// The module set the message's timestamp.
    pub timestamp_set: bool,
    /// The module chose the message's partition (a retry keeps it).
    pub partition_set: bool,
}

impl Ticket {
    fn pack(self) -> usize {
        debug_assert!(self.record < 1 << 16, "batches hold fewer than 65536 records");
        let flags =
            u64::from(self.dead_letter) | u64::from(self.timestamp_set) << 1 | u64::from(self.partition_set) << 2;
        (self.seq << 19 | (self.record as u64) << 3 | flags) as usize
    }

    fn unpack(packed: usize) -> Self {
        let packed = packed as u64;
        Ticket {
            seq: packed >> 19,
            record: (packed >> 3 & 0xffff) as usize,
            dead_letter: packed & 1 != 0,
            timestamp_set: packed & 2 != 0,
            partition_set: packed & 4 != 0,
        }
    }
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
    /// answers and the topic is there.
    /// `dead_letter_topic`, when given, is checked too.
    pub fn connect(
        config: &KafkaConfig,
        dead_letter_topic: Option<&str>,
        tracker: Arc<Tracker>,
        shutdown: &Shutdown,
    ) -> Result<Self, SinkError> {
        let secrets = config.secrets().into_iter().map(str::to_owned).collect::<Vec<_>>();
        let context = Context {
            tracker,
            secrets: secrets.clone(),
            last_error: Mutex::new(None),
            auth_failure: Mutex::new(None),
            progress_reported: (Mutex::new(()), std::sync::Condvar::new()),
        };
        let mut client = config.client_config();
        if config.get("statistics.interval.ms").is_none() {
            client.set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
        }
        let producer =
            client.create_with_context(context).map_err(|e| SinkError::Config(scrub(&e.to_string(), &secrets)))?;
        let servers = config.get("bootstrap.servers").unwrap_or_default().to_owned();
        let mut sink = Sink { producer, topic: config.topic.clone(), servers, routes: Routes::default() };
        for topic in std::iter::once(config.topic.as_str()).chain(dead_letter_topic) {
            let partitions = sink.wait_for_topic(topic, shutdown)?;
            sink.routes.insert(topic, partitions);
        }
        if config.is_transactional() {
            sink.start_transactions(shutdown)?;
        }
        sink.producer.context().tracker.metrics().health.connected();
        Ok(sink)
    }

    /// Waits until `topic` is there; its partition count.
    fn wait_for_topic(&self, topic: &str, shutdown: &Shutdown) -> Result<i32, SinkError> {
        let mut backoff = Duration::from_millis(250);
        loop {
            let last_error = match self.check_topic(topic) {
                Ok(partitions) => return Ok(partitions),
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

    fn check_topic(&self, name: &str) -> Result<i32, Retry> {
        let metadata = match self.producer.client().fetch_metadata(Some(name), METADATA_TIMEOUT) {
            Ok(metadata) => metadata,
            Err(e) => return Err(self.unreachable(&e)),
        };
        let Some(topic) = metadata.topics().iter().find(|t| t.name() == name) else {
            return Err(Retry::Again("the broker's metadata did not list the topic".into()));
        };
        let servers = self.servers.clone();
        match topic.error().map(RDKafkaErrorCode::from) {
            None if !topic.partitions().is_empty() => Ok(topic.partitions().len() as i32),
            None => Err(Retry::Again("the topic has no partitions yet".into())),
            Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                Err(Retry::Fatal(SinkError::NoTopic { topic: name.to_owned(), servers }))
            }
            Some(RDKafkaErrorCode::LeaderNotAvailable) => Err(Retry::Again("the topic has no leader yet".into())),
            Some(code) => Err(Retry::Fatal(SinkError::Topic { topic: name.to_owned(), reason: code.to_string() })),
        }
    }

    /// Why metadata could not be fetched, with librdkafka's last reported
    /// cause; a refused login is final, anything else is worth retrying.
    fn unreachable(&self, error: &KafkaError) -> Retry {
        let context = self.producer.context();
        if let Some(reason) = context.auth_failure.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Retry::Fatal(SinkError::Authentication { servers: self.servers.clone(), reason });
        }
        let error = context.scrub(&error.to_string());
        match context.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            Some(cause) => Retry::Again(format!("{error} ({cause})")),
            None => Retry::Again(error),
        }
    }

    /// Hands one message to the producer, waiting while its queue is full:
    /// to the topic and partition it names, else to `--topic` and the
    /// partitioner's choice. Check its route first ([`Sink::route`]).
    pub fn send(&self, msg: &Message<'_>, ticket: Ticket, shutdown: &Shutdown) -> Result<(), SendError> {
        self.send_to(msg.topic.unwrap_or(&self.topic), msg, ticket, shutdown)
    }

    /// Sends a message handed back for a retry, or a dead letter, to
    /// `topic`, and to the partition it names, if any.
    pub fn send_owned(
        &self,
        topic: &str,
        msg: &OwnedMessage,
        ticket: Ticket,
        shutdown: &Shutdown,
    ) -> Result<(), SendError> {
        let headers: Vec<(&str, Option<&[u8]>)> = msg.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
        let borrowed = Message {
            key: msg.key.as_deref(),
            value: msg.value.as_deref(),
            headers,
            timestamp_ms: msg.timestamp_ms,
            topic: None,
            partition: msg.partition,
        };
        self.send_to(topic, &borrowed, ticket, shutdown)
    }

    fn send_to(&self, topic: &str, msg: &Message<'_>, ticket: Ticket, shutdown: &Shutdown) -> Result<(), SendError> {
        let ticket =
            Ticket { timestamp_set: msg.timestamp_ms.is_some(), partition_set: msg.partition.is_some(), ..ticket };
        let mut record = BaseRecord::<[u8], [u8], usize>::with_opaque_to(topic, ticket.pack());
        if let Some(partition) = msg.partition {
            record = record.partition(partition);
        }
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
                Err((e, _)) => return Err(send_error(&e, self.producer.context().scrub(&e.to_string()))),
            }
        }
    }

    /// The topic records go to when their module names none.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The metadata cache of routed-to topics.
    pub fn routes(&self) -> &Routes {
        &self.routes
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

/// What a synchronous produce error means: only a message-specific refusal
/// sends the record to the dead letters.
fn send_error(error: &KafkaError, reason: String) -> SendError {
    use RDKafkaErrorCode as E;
    match error.rdkafka_error_code() {
        Some(
            E::MessageSizeTooLarge
            | E::InvalidMessage
            | E::InvalidMessageSize
            | E::InvalidRecord
            | E::UnknownPartition
            | E::UnknownTopic,
        ) => SendError::Refused(reason),
        Some(E::Fatal) => SendError::ProducerFailed(reason),
        _ => SendError::Failed(format!("cannot produce to Kafka: {reason}")),
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
    /// librdkafka refused this message for good (larger than
    /// `message.max.bytes`, invalid): dead-letter it.
    Refused(String),
    /// The producer has failed for good: replace it, then send again.
    ProducerFailed(String),
    /// Nothing can be sent (the topic is gone, a forbidden state): stop.
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::brokers_down;

    #[test]
    fn a_broker_is_up_when_librdkafka_says_one_is() {
        let stats = |bootstrap: &str, learned: &str| {
            format!(
                r#"{{"name":"p","brokers":{{
                    "127.0.0.1:9092/bootstrap":{{"source":"configured","state":"{bootstrap}","nodeid":-1}},
                    "127.0.0.1:9092/1":{{"source":"learned","state":"{learned}","nodeid":1}},
                    "GroupCoordinator":{{"source":"logical","state":"UP","nodeid":-1}},
                    ":0/internal":{{"source":"internal","state":"UP","nodeid":-1}}}}}}"#
            )
        };
        assert_eq!(brokers_down(stats("INIT", "UP").as_bytes()).unwrap(), None);
        assert_eq!(
            brokers_down(stats("DOWN", "TRY_CONNECT").as_bytes()).unwrap().as_deref(),
            Some("no broker is up (127.0.0.1:9092/1 is TRY_CONNECT, 127.0.0.1:9092/bootstrap is DOWN)")
        );
        assert!(brokers_down(b"{}").is_err());
    }
}
