//! The sink's questions to the broker about topics, asked in one way for
//! both askers: [`Sink::connect`] (the default and dead-letter topics must
//! exist before anything is read) and [`super::routes`] (a topic a message
//! is routed to). [`Sink::look_up`] asks once and sorts the answer;
//! [`with_backoff`] asks again, with a growing pause, while the broker gives
//! no answer worth keeping, until shutdown (or, at start-up, until
//! `--connect-timeout-ms` passed without any broker reached).

use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::Producer;

use super::reach::{hint, listener_without_sasl};
use super::{Sink, SinkError};
use crate::kafka::{TopicMetadata, topic_metadata};
use crate::shutdown::Shutdown;

/// How long one metadata request may take before it is retried.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// The shortest metadata request near the start-up deadline.
const MIN_METADATA_TIMEOUT: Duration = Duration::from_millis(100);
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
/// doubling up to 30 s, never past `until`) after telling `waiting` why it
/// failed and how long the pause is. The last reason it failed if shutdown
/// came first.
pub(super) fn with_backoff<T>(
    shutdown: &Shutdown,
    until: Option<Instant>,
    mut attempt: impl FnMut() -> Result<T, String>,
    mut waiting: impl FnMut(&str, Duration),
) -> Result<T, String> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let why = match attempt() {
            Ok(answer) => return Ok(answer),
            Err(why) => why,
        };
        let pause = until.map_or(backoff, |until| backoff.min(until.saturating_duration_since(Instant::now())));
        waiting(&why, pause);
        if shutdown.signal().recv_timeout(pause).is_err() && shutdown.is_triggered() {
            return Err(why);
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

impl Sink {
    /// Asks the broker about `topic` once.
    pub(super) fn look_up(&self, topic: &str) -> Lookup {
        self.look_up_within(topic, METADATA_TIMEOUT)
    }

    /// Asks the broker about `topic` once, waiting up to `timeout`.
    fn look_up_within(&self, topic: &str, timeout: Duration) -> Lookup {
        match topic_metadata(self.producer.client(), topic, timeout) {
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

    /// Waits until `topic` is there; its partition count. With `until` (the
    /// start-up deadline and the timeout it came from), gives up at the
    /// deadline if no broker was ever reached.
    pub(super) fn wait_for_topic(
        &self,
        topic: &str,
        until: Option<(Instant, Duration)>,
        shutdown: &Shutdown,
    ) -> Result<i32, SinkError> {
        let reach = &self.producer.context().reach;
        let waiting = |why: &str, pause: Duration| {
            let retry_in_ms = pause.as_millis() as u64;
            if reach.is_down() {
                // Told once per change by `reach`.
                tracing::debug!(servers = %self.servers, error = %why, retry_in_ms, "Kafka is not reachable yet");
            } else {
                tracing::warn!(servers = %self.servers, error = %why, retry_in_ms, "Kafka is not ready yet");
            }
        };
        let attempt = || match (self.check_topic(topic, until.map(|u| u.0)), until) {
            (Err(why), Some((deadline, within))) if Instant::now() >= deadline && !reach.ever_up() => {
                Ok(Err(self.unreachable_within(within, why)))
            }
            (looked, _) => looked,
        };
        match with_backoff(shutdown, until.map(|u| u.0), attempt, waiting) {
            Ok(found) => found.inspect(|_| reach.answered()),
            Err(last_error) => Err(SinkError::NotConnected { servers: self.servers.clone(), last_error }),
        }
    }

    /// The start-up error when no broker answered `within`: librdkafka's
    /// last reason a connection failed (else `why` the last look failed),
    /// with a hint when one fits.
    fn unreachable_within(&self, within: Duration, why: String) -> SinkError {
        let reason = self.producer.context().reach.cause().unwrap_or(why);
        let reason = match hint(&reason) {
            Some(hint) => format!("{reason}; {hint}"),
            None => reason,
        };
        SinkError::Unreachable { servers: self.servers.clone(), within_ms: within.as_millis(), reason }
    }

    /// One look at `topic` at connect time: its partition count, a reason
    /// to stop, or (`Err`) a reason to ask again. The look waits no longer
    /// than `until`.
    fn check_topic(&self, name: &str, until: Option<Instant>) -> Result<Result<i32, SinkError>, String> {
        let topic = name.to_owned();
        let timeout = until.map_or(METADATA_TIMEOUT, |until| {
            METADATA_TIMEOUT.min(until.saturating_duration_since(Instant::now())).max(MIN_METADATA_TIMEOUT)
        });
        match self.look_up_within(name, timeout) {
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
            let servers = self.servers.clone();
            if listener_without_sasl(&reason) {
                return Ok(Err(SinkError::NoSasl { servers, reason }));
            }
            return Ok(Err(SinkError::Authentication { servers, reason }));
        }
        let error = context.scrub(&error.to_string());
        match context.reach.cause().or_else(|| context.last_error()) {
            Some(cause) => Err(format!("{error} ({cause})")),
            None => Err(error),
        }
    }
}
