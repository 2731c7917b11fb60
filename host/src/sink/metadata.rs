//! The sink's questions to the broker about topics, asked in one way for
//! both askers: [`Sink::connect`] (the default and dead-letter topics must
//! exist before anything is read) and [`super::routes`] (a topic a message
//! is routed to). [`Sink::look_up`] asks once and sorts the answer;
//! [`with_backoff`] asks again, with a growing pause, while the broker gives
//! no answer worth keeping, until shutdown.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::Producer;

use super::{Sink, SinkError};
use crate::kafka::{TopicMetadata, topic_metadata};
use crate::shutdown::Shutdown;

/// How long one metadata request may take before it is retried.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// The first pause between attempts to reach the broker; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest pause between attempts to reach the broker.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What one metadata request found out about a topic.
pub(super) enum Lookup {
    /// The topic exists with this many partitions.
    Exists(i32),
    /// The topic does not exist.
    Missing,
    /// The broker refused the topic for a reason of its own (authorization,
    /// an invalid name), with librdkafka's name for it.
    Refused(RDKafkaErrorCode),
    /// The metadata could not be fetched.
    Unreachable(KafkaError),
    /// No answer worth keeping (the topic is being created): ask again.
    Again(&'static str),
}

/// Calls `attempt` until it answers (`Ok`), pausing between tries (250 ms,
/// doubling up to 30 s) after telling `waiting` why it failed and how long
/// the pause is. The last reason it failed if shutdown came first.
pub(super) fn with_backoff<T>(
    shutdown: &Shutdown,
    mut attempt: impl FnMut() -> Result<T, String>,
    mut waiting: impl FnMut(&str, Duration),
) -> Result<T, String> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let why = match attempt() {
            Ok(answer) => return Ok(answer),
            Err(why) => why,
        };
        waiting(&why, backoff);
        if shutdown.signal().recv_timeout(backoff).is_err() && shutdown.is_triggered() {
            return Err(why);
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

impl Sink {
    /// Asks the broker about `topic` once.
    pub(super) fn look_up(&self, topic: &str) -> Lookup {
        match topic_metadata(self.producer.client(), topic, METADATA_TIMEOUT) {
            Err(e) => Lookup::Unreachable(e),
            Ok(TopicMetadata::NotListed) => Lookup::Again("the broker's metadata did not list the topic"),
            Ok(TopicMetadata::Partitions { ids, .. }) if ids.is_empty() => {
                Lookup::Again("the topic has no partitions yet")
            }
            Ok(TopicMetadata::Partitions { ids, .. }) => Lookup::Exists(ids.len() as i32),
            Ok(TopicMetadata::Error(RDKafkaErrorCode::UnknownTopicOrPartition)) => Lookup::Missing,
            Ok(TopicMetadata::Error(RDKafkaErrorCode::LeaderNotAvailable)) => {
                Lookup::Again("the topic has no leader yet")
            }
            Ok(TopicMetadata::Error(code)) => Lookup::Refused(code),
        }
    }

    /// Waits until `topic` is there; its partition count.
    pub(super) fn wait_for_topic(&self, topic: &str, shutdown: &Shutdown) -> Result<i32, SinkError> {
        let waiting = |why: &str, pause: Duration| {
            let retry_in_ms = pause.as_millis() as u64;
            tracing::warn!(servers = %self.servers, error = %why, retry_in_ms, "Kafka is not reachable yet");
        };
        match with_backoff(shutdown, || self.check_topic(topic), waiting) {
            Ok(found) => found,
            Err(last_error) => Err(SinkError::NotConnected { servers: self.servers.clone(), last_error }),
        }
    }

    /// One look at `topic` at connect time: its partition count, a reason
    /// to stop, or (`Err`) a reason to ask again.
    fn check_topic(&self, name: &str) -> Result<Result<i32, SinkError>, String> {
        let topic = name.to_owned();
        match self.look_up(name) {
            Lookup::Exists(partitions) => Ok(Ok(partitions)),
            Lookup::Missing => Ok(Err(SinkError::NoTopic { topic, servers: self.servers.clone() })),
            Lookup::Refused(code) => Ok(Err(SinkError::Topic { topic, reason: code.to_string() })),
            Lookup::Unreachable(e) => self.unreachable(&e),
            Lookup::Again(why) => Err(why.to_owned()),
        }
    }

    /// Why metadata could not be fetched, with librdkafka's last reported
    /// cause; a refused login is final (`Ok`), anything else is worth
    /// retrying.
    fn unreachable(&self, error: &KafkaError) -> Result<Result<i32, SinkError>, String> {
        let context = self.producer.context();
        if let Some(reason) = context.auth_failure() {
            return Ok(Err(SinkError::Authentication { servers: self.servers.clone(), reason }));
        }
        let error = context.scrub(&error.to_string());
        match context.last_error() {
            Some(cause) => Err(format!("{error} ({cause})")),
            None => Err(error),
        }
    }
}
