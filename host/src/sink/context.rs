//! librdkafka's callbacks into the sink: its log lines and client errors go
//! to tracing (scrubbed of secrets), except failed connections, which
//! [`Reach`] tells once per change; its statistics tell `/health/ready` and
//! [`Reach`] whether a broker is up, and each message's delivery report goes to the
//! [`Tracker`] (acknowledged) or to the sink's redo queue (failed, for the
//! pump to send again or dead-letter; see [`super::redo`]).

use std::sync::{Arc, Condvar, Mutex};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Headers;
use rdkafka::producer::{DeliveryResult, ProducerContext};

use super::reach::Reach;
use super::redo::{Fate, RedoAction, RedoQueue};
use super::send::Ticket;
use super::transaction::PROGRESS_OPAQUE;
use crate::kafka::{is_connection_error, log_line, scrub};
use crate::metrics::PipelineMetrics;
use crate::progress::Tracker;
use crate::record::OwnedMessage;

/// What librdkafka's callbacks reach.
pub(super) struct Context {
    pub(super) tracker: Arc<Tracker>,
    pub(super) metrics: Arc<PipelineMetrics>,
    secrets: Vec<String>,
    /// Messages whose delivery failed, for the pump.
    pub(super) redo: RedoQueue,
    /// librdkafka's last client-level error, scrubbed.
    last_error: Mutex<Option<String>>,
    /// The first authentication failure: kept, because the "all brokers
    /// down" that follows it would otherwise hide the cause.
    auth_failure: Mutex<Option<String>>,
    /// Notified when a progress record's delivery is reported.
    pub(super) progress_reported: (Mutex<()>, Condvar),
    /// Whether a broker is reached, told once per change.
    pub(super) reach: Reach,
    /// The last client-level error seen: rdkafka 0.39 hands a producer's
    /// error event to [`ClientContext::error`] twice in a row.
    seen: Mutex<Option<String>>,
}

impl Context {
    pub(super) fn new(
        tracker: Arc<Tracker>,
        metrics: Arc<PipelineMetrics>,
        secrets: Vec<String>,
        servers: String,
    ) -> Self {
        Context {
            tracker,
            metrics,
            secrets,
            redo: RedoQueue::default(),
            last_error: Mutex::new(None),
            auth_failure: Mutex::new(None),
            progress_reported: (Mutex::new(()), Condvar::new()),
            reach: Reach::new(servers),
            seen: Mutex::new(None),
        }
    }

    /// `text` without the configured secrets.
    pub(super) fn scrub(&self, text: &str) -> String {
        scrub(text, &self.secrets)
    }

    /// librdkafka's last client-level error, scrubbed.
    pub(super) fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether `error` is the one seen last (and remembers it).
    fn seen_just_now(&self, error: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.as_deref() == Some(error) {
            return true;
        }
        *seen = Some(error.to_owned());
        false
    }

    /// The first authentication failure, scrubbed.
    pub(super) fn auth_failure(&self) -> Option<String> {
        self.auth_failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        log_line(level, fac, &self.scrub(message));
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let reason = self.scrub(reason);
        let code = error.rdkafka_error_code();
        if self.seen_just_now(&format!("{code:?} {reason}")) {
            return;
        }
        match code {
            Some(RDKafkaErrorCode::Authentication) => {
                self.auth_failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(reason.clone());
                self.reach.failed(Some(&reason));
            }
            Some(RDKafkaErrorCode::AllBrokersDown) => {
                self.metrics.health.brokers_down(&reason);
                self.reach.failed(None);
            }
            _ if is_connection_error(code) => self.reach.failed(Some(&reason)),
            _ => tracing::warn!(target: "librdkafka", error = %self.scrub(&error.to_string()), "{reason}"),
        }
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
    }

    /// librdkafka's statistics: only the brokers' states are read, to tell
    /// `/health/ready` and `reach` whether one is up.
    fn stats_raw(&self, statistics: &[u8]) {
        let health = &self.metrics.health;
        match brokers_down(statistics) {
            Ok(None) => {
                health.brokers_up();
                self.reach.answered();
            }
            Ok(Some(why)) => health.brokers_down(&why),
            Err(e) => tracing::debug!(error = %e, "cannot read librdkafka's statistics"),
        }
        self.reach.tick();
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
        if opaque == PROGRESS_OPAQUE {
            // A progress record: if it failed, so does its transaction's commit.
            self.progress_reported.1.notify_all();
            return;
        }
        let ticket = Ticket::unpack(opaque);
        let (error, message) = match result {
            Ok(_) => {
                self.metrics.acked(u64::from(!ticket.dead_letter));
                self.metrics.health.accepting();
                return self.tracker.acked(ticket.seq);
            }
            Err((error, message)) => (error, message),
        };
        let reason = self.scrub(&error.to_string());
        let action = match Fate::of(error) {
            Fate::Retry => RedoAction::Retry { reason, fenced: false },
            Fate::Fenced => RedoAction::Retry { reason, fenced: true },
            Fate::DeadLetter => RedoAction::DeadLetter(format!("Kafka refused the message: {reason}")),
            Fate::Fatal => return self.tracker.failed(format!("Kafka refused a message: {reason}")),
        };
        let owned = owned_message(message, &ticket);
        let record = (!ticket.dead_letter).then_some(ticket.record);
        self.redo.push(&self.tracker, ticket.seq, record, owned, action);
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
