//! Whether the producer reaches a broker, told once per change: librdkafka
//! reports every failed connection attempt (several a second while a
//! broker is away), and its statistics say each second whether a broker is
//! up. [`Reach`] turns both into one line when the state changes
//! ("Kafka is unreachable", "Kafka is reachable again"), at most one per
//! [`MIN_GAP`]; a change inside the gap is told on the next report after
//! it, if it still holds. It keeps the last cause librdkafka gave, for the
//! start-up error when no broker was reached in time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shortest time between two lines about reachability, so a broker
/// that flaps does not flood the log.
pub(super) const MIN_GAP: Duration = Duration::from_secs(5);

/// The producer's reach of the brokers.
#[derive(Debug)]
pub(super) struct Reach {
    servers: String,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Whether a broker is up, as last reported; `None` before any report.
    up: Option<bool>,
    /// The state the last line told; `None` before any line.
    told: Option<bool>,
    /// When the last line was written.
    told_at: Option<Instant>,
    /// librdkafka's last reason a connection failed (scrubbed).
    cause: Option<String>,
    /// A broker was up at some point.
    ever_up: bool,
}

impl Reach {
    /// The reach of the brokers at `servers` (for the log lines).
    pub(super) fn new(servers: String) -> Self {
        Reach { servers, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection failed, for `cause` when librdkafka gave a reason
    /// worth keeping ("1/1 brokers are down" is not).
    pub(super) fn failed(&self, cause: Option<&str>) {
        let mut state = self.state();
        state.up = Some(false);
        if let Some(cause) = cause {
            state.cause = Some(cause.to_owned());
        }
        self.tell(&mut state, Instant::now());
    }

    /// A broker answered.
    pub(super) fn answered(&self) {
        let mut state = self.state();
        state.up = Some(true);
        state.ever_up = true;
        self.tell(&mut state, Instant::now());
    }

    /// Tells a change that waited out the gap (called on every statistics
    /// report).
    pub(super) fn tick(&self) {
        let mut state = self.state();
        self.tell(&mut state, Instant::now());
    }

    /// librdkafka's last reason a connection failed.
    pub(super) fn cause(&self) -> Option<String> {
        self.state().cause.clone()
    }

    /// Whether a broker was ever up.
    pub(super) fn ever_up(&self) -> bool {
        self.state().ever_up
    }

    /// Whether the last report said no broker is up.
    pub(super) fn is_down(&self) -> bool {
        self.state().up == Some(false)
    }

    fn tell(&self, state: &mut State, now: Instant) {
        let Some(up) = state.up.filter(|up| state.told != Some(*up)) else { return };
        if state.told.is_none() && up {
            // Reaching the broker at first is what start-up expects: no line.
            state.told = Some(true);
            return;
        }
        if state.told_at.is_some_and(|at| now.duration_since(at) < MIN_GAP) {
            return;
        }
        let servers = &self.servers;
        if up {
            tracing::info!(%servers, "Kafka is reachable again");
        } else {
            let error = state.cause.as_deref().unwrap_or("no broker is up");
            tracing::warn!(%servers, %error, "Kafka is unreachable; retrying");
        }
        state.told = Some(up);
        state.told_at = Some(now);
    }
}

/// What an operator should know about librdkafka's reason a connection
/// failed, when it points at a mismatch between `security.protocol` and
/// the listener.
pub(super) fn hint(cause: &str) -> Option<&'static str> {
    if cause.contains("connecting to a PLAINTEXT broker listener?") {
        Some("the listener does not speak SSL: use its SSL listener, or security.protocol=PLAINTEXT/SASL_PLAINTEXT")
    } else if cause.contains("Connection refused") {
        Some("nothing listens there: check --bootstrap-servers")
    } else {
        None
    }
}

/// Whether librdkafka's reason an authentication failed says the listener
/// does not speak SASL at all (it answers the SASL handshake with
/// `ILLEGAL_SASL_STATE` and no mechanisms), rather than refusing the
/// credentials.
pub(super) fn listener_without_sasl(reason: &str) -> bool {
    reason.contains("Request not valid in current SASL state")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn told(reach: &Reach) -> Option<bool> {
        reach.state().told
    }

    #[test]
    fn a_first_answer_is_silent_and_a_failure_is_told_once() {
        let reach = Reach::new("127.0.0.1:9".into());
        reach.answered();
        assert_eq!(told(&reach), Some(true));
        assert!(reach.state().told_at.is_none(), "no line for the first connection");
        reach.failed(Some("Connection refused"));
        let at = reach.state().told_at.expect("a line for the failure");
        reach.failed(None);
        reach.failed(Some("Connection refused again"));
        assert_eq!(reach.state().told_at, Some(at), "one line per change, not per failure");
        assert_eq!(reach.cause().as_deref(), Some("Connection refused again"));
        assert!(reach.is_down() && reach.ever_up());
    }

    #[test]
    fn a_change_inside_the_gap_waits_and_is_told_after_it() {
        let reach = Reach::new("b:9092".into());
        reach.failed(Some("Connection refused"));
        reach.answered();
        assert_eq!(told(&reach), Some(false), "too soon after the last line");
        let mut state = reach.state();
        let later = state.told_at.unwrap() + MIN_GAP;
        reach.tell(&mut state, later);
        assert_eq!(state.told, Some(true));
    }

    #[test]
    fn a_flap_inside_the_gap_is_not_told() {
        let reach = Reach::new("b:9092".into());
        reach.failed(Some("Connection refused"));
        reach.answered();
        reach.failed(None);
        let mut state = reach.state();
        let later = state.told_at.unwrap() + MIN_GAP;
        let at = state.told_at;
        reach.tell(&mut state, later);
        assert_eq!((state.told, state.told_at), (Some(false), at));
    }

    #[test]
    fn hints_name_the_mismatch() {
        let ssl = "SSL handshake failed: Disconnected: SSL connection closed by peer: connecting to a PLAINTEXT \
                   broker listener? (after 4ms in state SSL_HANDSHAKE)";
        assert!(hint(ssl).unwrap().contains("does not speak SSL"));
        assert!(hint("Connect to ipv4#127.0.0.1:9 failed: Connection refused").is_some());
        assert_eq!(hint("Broker: Unknown topic"), None);
        let sasl = "SASL PLAIN mechanism handshake failed: Broker: Request not valid in current SASL state: \
                    broker's supported mechanisms:  (after 16ms in state AUTH_HANDSHAKE)";
        assert!(listener_without_sasl(sasl));
        assert!(!listener_without_sasl("Authentication failed: Invalid username or password"));
    }
}
