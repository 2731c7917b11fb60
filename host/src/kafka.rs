//! What the host's Kafka clients (the sink's producer, the offsets topic's
//! consumer and admin client) share: [`scrub`] takes configured secrets out
//! of librdkafka's error and log text before it reaches a log or a message,
//! and [`topic_metadata`] asks the broker about one topic and sorts its
//! answer, so each caller only decides what the answer means to it.
//! [`log_line`] and [`is_connection_error`] keep librdkafka's report of
//! each failed connection out of the log: the sink tells whether a broker
//! is reached once per change.

use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::client::Client;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Replaces every secret in `text` with `[redacted]`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().filter(|s| !s.is_empty()).fold(text.to_owned(), |t, s| t.replace(s.as_str(), "[redacted]"))
}

/// Whether a client-level error of librdkafka's is a failed connection to
/// a broker (several a second while one is away).
pub fn is_connection_error(code: Option<RDKafkaErrorCode>) -> bool {
    use RDKafkaErrorCode::{AllBrokersDown, Authentication, BrokerTransportFailure, Resolve, SSL};
    matches!(code, Some(AllBrokersDown | Authentication | BrokerTransportFailure | Resolve | SSL))
}

/// Writes one of librdkafka's log lines to tracing at its level; a failed
/// connection (facility `FAIL`, which an error event repeats) at debug.
pub fn log_line(level: RDKafkaLogLevel, fac: &str, message: &str) {
    use RDKafkaLogLevel::{Alert, Critical, Debug, Emerg, Error, Info, Notice, Warning};
    match level {
        _ if fac == "FAIL" => tracing::debug!(target: "librdkafka", fac, "{message}"),
        Emerg | Alert | Critical | Error => tracing::error!(target: "librdkafka", fac, "{message}"),
        Warning => tracing::warn!(target: "librdkafka", fac, "{message}"),
        Notice | Info => tracing::info!(target: "librdkafka", fac, "{message}"),
        Debug => tracing::debug!(target: "librdkafka", fac, "{message}"),
    }
}

/// What the broker's metadata says about one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicMetadata {
    /// The answer did not list the topic.
    NotListed,
    /// The broker answered about the topic with an error (for one that
    /// does not exist, `UnknownTopicOrPartition`).
    Error(RDKafkaErrorCode),
    /// The topic's partitions: their ids, and whether every one has a
    /// leader. Empty while a new topic is being created.
    Partitions {
        /// The partitions' ids.
        ids: Vec<i32>,
        /// Every partition has a leader.
        led: bool,
    },
}

/// Asks the broker about `topic`, waiting up to `timeout`.
pub fn topic_metadata<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> Result<TopicMetadata, KafkaError> {
    let metadata = client.fetch_metadata(Some(topic), timeout)?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(TopicMetadata::NotListed);
    };
    if let Some(error) = found.error() {
        return Ok(TopicMetadata::Error(RDKafkaErrorCode::from(error)));
    }
    let ids = found.partitions().iter().map(|p| p.id()).collect();
    Ok(TopicMetadata::Partitions { ids, led: found.partitions().iter().all(|p| p.leader() >= 0) })
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn secrets_are_redacted_and_empty_ones_ignored() {
        let secrets = vec!["hunter2".to_owned(), String::new()];
        assert_eq!(scrub("login hunter2 refused", &secrets), "login [redacted] refused");
        assert_eq!(scrub("nothing here", &secrets), "nothing here");
    }
}
