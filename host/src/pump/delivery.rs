//! Delivery: the producer, the tracker, the in-flight window and the dead
//! letters, and what to do with messages librdkafka hands back.
//!
//! A batch takes room in the [`Window`] before it is registered with the
//! [`Tracker`]; a full window makes the pump wait, handling handed-back
//! messages meanwhile. A message whose delivery failed comes back through
//! the sink's redo queue and stays outstanding (so the checkpoint cannot pass it) until it is
//! sent again or dead-lettered here. When the producer itself is broken
//! (fenced by the broker, or a librdkafka fatal error) it is replaced: the
//! old one is purged, which hands every message it still held back through
//! the redo queue, and a fresh producer with a new identity sends them again.
//!
//! In exactly-once mode (a [`Transactions`]) nothing is sent again inside a
//! transaction: a failed delivery dooms it, and [`super::transaction`]
//! aborts it and rewinds.

mod transactional;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

use super::Shared;
use super::transaction::Transactions;
use crate::config::{KafkaConfig, RunConfig};
use crate::deadletter::DeadLetters;
use crate::metrics::PipelineMetrics;
use crate::progress::tracker::Tally;
use crate::progress::{Tracker, Window};
use crate::record::{Batch, DeadLetter, Reason, dead_letter};
use crate::shutdown::Shutdown;
use crate::sink::{Redo, RedoAction, RouteError, SendError, Sink, SinkError, Ticket};
use crate::zone::LandingZone;
use sluice_guest_sdk::abi::Message;

/// Pause before retrying a dead-letter write that failed (a full disk).
const WRITE_RETRY: Duration = Duration::from_secs(1);
/// How long a purged producer may take to hand its messages back.
const PURGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where transformed records and dead letters go.
#[derive(Debug)]
pub struct Delivery {
    /// The producer (replaced when it breaks).
    pub sink: Sink,
    /// Delivery tracking.
    pub tracker: Arc<Tracker>,
    /// Room for batches in flight.
    pub window: Arc<Window>,
    /// The pipeline's metrics, which delivery counts into.
    pub metrics: Arc<PipelineMetrics>,
    /// The landing zone a refused message's source line is read back from.
    pub zone: Arc<dyn LandingZone>,
    /// The local dead-letter file (also the fallback for the topic).
    pub dead: DeadLetters,
    /// The dead-letter topic, if the operator gave one.
    pub dead_letter_topic: Option<String>,
    /// How to connect a replacement producer.
    pub kafka: KafkaConfig,
    /// The open transaction, in exactly-once mode.
    txn: Option<Transactions>,
}

impl Delivery {
    /// Delivery through `sink` as `config` says, in the transactions of
    /// `txn` (exactly-once mode) or not (at-least-once), with the
    /// pipeline's `shared` tracker, window, metrics and landing zone.
    pub fn new(sink: Sink, shared: &Shared, dead: DeadLetters, config: &RunConfig, txn: Option<Transactions>) -> Self {
        let (tracker, window, metrics) = (shared.tracker.clone(), shared.window.clone(), shared.metrics.clone());
        let (dead_letter_topic, kafka) = (config.dead_letter_topic.clone(), config.kafka.clone());
        let zone = shared.zone.clone();
        Delivery { sink, tracker, window, metrics, zone, dead, dead_letter_topic, kafka, txn }
    }

    /// Registers a batch of `messages`, waiting (and meanwhile handling
    /// handed-back messages) while the in-flight window is full. `None` if
    /// shutdown came first.
    pub fn begin(
        &mut self,
        batch: &Batch,
        messages: usize,
        tally: Tally,
        shutdown: &Shutdown,
    ) -> anyhow::Result<Option<u64>> {
        let window = self.window.clone();
        let mut failed = None;
        let entered = window.enter(|| match self.redo(shutdown, true) {
            Ok(()) => shutdown.is_triggered() || self.rewinding(),
            Err(e) => {
                failed = Some(e);
                true
            }
        });
        let seq = entered.then(|| self.tracker.begin(batch, messages, tally));
        if seq.is_some() {
            self.joined();
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(seq),
        }
    }

    /// Checks that `msg` can be sent where it is routed (its topic and
    /// partition, or the defaults). In exactly-once mode the offsets topic
    /// is refused: a module's message there would corrupt the progress.
    pub fn route(&mut self, msg: &Message<'_>, shutdown: &Shutdown) -> Result<(), RouteError> {
        if let (Some(topic), Some(txn)) = (msg.topic, &self.txn)
            && topic == txn.offsets_topic()
        {
            let reason =
                format!("topic `{topic}` holds Sluice's progress (the offsets topic); modules may not write to it");
            return Err(RouteError::Unroutable(reason));
        }
        self.sink.route(msg.topic, msg.partition, shutdown)
    }

    /// Retries or dead-letters the messages librdkafka handed back,
    /// replacing the producer first if it is broken and `heal` allows.
    pub fn redo(&mut self, shutdown: &Shutdown, heal: bool) -> anyhow::Result<()> {
        if self.txn.is_some() {
            self.doom_on_failures();
            return Ok(());
        }
        let mut redo = self.sink.take_redo();
        let broken = self.sink.fatal_error().or_else(|| redo.iter().find_map(Redo::fenced).map(str::to_owned));
        if let Some(why) = broken {
            if !heal {
                // Draining at shutdown: what the broken producer holds stays
                // unacknowledged, so the checkpoint does not cover it.
                redo.into_iter().for_each(|r| self.tracker.abandon(r.seq, 1, None));
                return Ok(());
            }
            redo.extend(self.heal(&why, shutdown)?);
        }
        let retries = redo.iter().filter(|r| matches!(r.action, RedoAction::Retry { .. })).count();
        if let Some(why) = redo.iter().find_map(Redo::retry_reason) {
            tracing::warn!(messages = retries, reason = why, "deliveries failed; sending the messages again");
            self.metrics.health.refusing(why);
        }
        for item in redo {
            self.redo_one(item, shutdown);
        }
        Ok(())
    }

    /// Exactly-once mode: a failed delivery or a broken producer dooms the
    /// open transaction.
    fn doom_on_failures(&mut self) {
        if let Some(why) = self.sink.fatal_error() {
            self.doom(&why);
        } else if self.sink.has_redo() {
            let redo = self.sink.take_redo();
            self.doom(&format!("{} deliveries failed, the first: {:?}", redo.len(), redo[0].action));
        }
    }

    fn redo_one(&mut self, Redo { seq, origin, message, action }: Redo, shutdown: &Shutdown) {
        let record = origin.as_ref().map_or(0, |(index, _, _)| *index);
        let dead_letter = origin.is_none();
        let ticket = Ticket { seq, record, dead_letter, ..Ticket::default() };
        let reason = match action {
            RedoAction::Retry { .. } => {
                let main = self.sink.topic().to_owned();
                let fallback = if dead_letter { self.dead_letter_topic.clone().unwrap_or(main) } else { main };
                let topic = message.topic.clone().unwrap_or(fallback);
                match self.sink.send_owned(&topic, &message, ticket, shutdown) {
                    Ok(()) => return,
                    Err(SendError::Stopped) => return self.tracker.abandon(seq, 1, None),
                    Err(SendError::ProducerFailed(reason)) => {
                        let record = origin.as_ref().map(|(index, _, _)| *index);
                        return self.sink.redo(seq, record, message, RedoAction::Retry { reason, fenced: true });
                    }
                    Err(SendError::Failed(reason)) => {
                        self.tracker.failed(reason);
                        return self.tracker.abandon(seq, 1, None);
                    }
                    Err(SendError::Refused(reason)) => format!("Kafka refused the message: {reason}"),
                }
            }
            RedoAction::DeadLetter(reason) => reason,
        };
        let record = message.value.as_deref().unwrap_or_default();
        match &origin {
            Some((_, file, meta)) => {
                // The dead letter holds the source line, as every other does,
                // not the message the module made of it.
                let source = crate::zone::read_line_at(&*self.zone, Path::new(file), meta.offset);
                let (reason, record) = match &source {
                    Ok(line) => (reason, line.as_slice()),
                    Err(e) => (
                        format!("{reason} (the source line could not be read back: {e}; this is the message value)"),
                        record,
                    ),
                };
                let letter = DeadLetter::new(Reason::KafkaRefused, &reason, file, meta.line, meta.offset, record);
                self.metrics.dead_lettered(std::slice::from_ref(&letter));
                self.store_dead_letter(&letter, seq, shutdown);
            }
            None => {
                let reason =
                    refused_by_dead_letter_topic(&reason, &dead_letter::header_text(&message, dead_letter::REASON));
                let (file, line, offset) = dead_letter::origin(&message);
                // Counted once already, when it was first dead-lettered.
                let letter = DeadLetter::new(Reason::KafkaRefused, &reason, &file, line, offset, record);
                self.write_or_abandon(&letter, seq, shutdown);
            }
        }
    }

    /// Replaces a broken producer; returns every message it still held,
    /// handed back through its redo queue, to be sent again.
    fn heal(&mut self, why: &str, shutdown: &Shutdown) -> anyhow::Result<Vec<Redo>> {
        tracing::warn!(reason = why, "replacing the Kafka producer; the messages it had not delivered are sent again");
        self.sink.purge();
        let deadline = Instant::now() + PURGE_TIMEOUT;
        while self.sink.queued() > 0 {
            if Instant::now() > deadline {
                bail!("the Kafka producer failed ({why}) and did not hand its messages back within 30 s");
            }
            self.sink.poll(Duration::from_millis(10));
        }
        let handed_back = self.sink.take_redo();
        self.sink = self.connect(shutdown)?;
        Ok(handed_back)
    }

    /// A new producer, for one that broke.
    fn connect(&self, shutdown: &Shutdown) -> Result<Sink, SinkError> {
        let (tracker, metrics) = (self.tracker.clone(), self.metrics.clone());
        Sink::connect(&self.kafka, self.dead_letter_topic.as_deref(), tracker, metrics, None, shutdown)
    }

    /// Puts one dead letter where dead letters go, standing in for a
    /// message of batch `seq` that will not be delivered.
    pub fn store_dead_letter(&mut self, letter: &DeadLetter<'_>, seq: u64, shutdown: &Shutdown) {
        let Some(topic) = self.dead_letter_topic.clone() else {
            return self.write_or_abandon(letter, seq, shutdown);
        };
        let ticket = Ticket { seq, dead_letter: true, ..Ticket::default() };
        let message = letter.to_message();
        match self.sink.send_owned(&topic, &message, ticket, shutdown) {
            Ok(()) => {}
            Err(SendError::Stopped) => self.tracker.abandon(seq, 1, None),
            Err(SendError::ProducerFailed(reason)) => {
                self.sink.redo(seq, None, message, RedoAction::Retry { reason, fenced: true });
            }
            Err(SendError::Refused(refusal) | SendError::Failed(refusal)) => {
                let reason = refused_by_dead_letter_topic(&refusal, letter.reason);
                self.write_or_abandon(&DeadLetter { reason: &reason, ..letter.clone() }, seq, shutdown);
            }
        }
    }

    fn write_or_abandon(&mut self, letter: &DeadLetter<'_>, seq: u64, shutdown: &Shutdown) {
        if self.write_durably(std::slice::from_ref(letter), shutdown) {
            self.tracker.acked(seq);
        } else {
            self.tracker.abandon(seq, 1, None);
        }
    }

    /// Writes dead letters to the file, pausing and retrying while the disk
    /// refuses (it is full); false if shutdown came first.
    pub fn write_durably(&mut self, letters: &[DeadLetter<'_>], shutdown: &Shutdown) -> bool {
        loop {
            let health = &self.metrics.health;
            match self.dead.write(letters) {
                Ok(()) => {
                    health.dead_letters_blocked(false);
                    return true;
                }
                Err(e) => {
                    health.dead_letters_blocked(true);
                    let file = self.dead.path().display().to_string();
                    tracing::error!(file, error = %e, "cannot write dead letters; the stream waits and retries");
                    if shutdown.signal().recv_timeout(WRITE_RETRY).is_err() && shutdown.is_triggered() {
                        return false;
                    }
                }
            }
        }
    }

    /// After shutdown: waits until Kafka acknowledged everything sent
    /// (sending again what it hands back), or `timeout`.
    /// Nothing waits here beyond `timeout`: a full queue gives up at once
    /// (`shutdown` is triggered) and a broken producer is not replaced.
    pub fn drain(&mut self, timeout: Duration, shutdown: &Shutdown) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        self.sink.flush(Duration::ZERO);
        while self.tracker.in_flight() > 0 && self.tracker.failure().is_none() && Instant::now() < deadline {
            self.redo(shutdown, false)?;
            self.sink.poll(Duration::from_millis(10));
        }
        match self.tracker.in_flight() {
            0 => Ok(()),
            _ if self.tracker.failure().is_some() => Ok(()),
            n => Err(anyhow!(
                "{n} messages were not acknowledged within {} s of shutdown; the checkpoint does not cover them, \
                 so they will be sent again on restart",
                timeout.as_secs()
            )),
        }
    }
}

/// The reason recorded when the dead-letter topic refuses a dead letter too.
fn refused_by_dead_letter_topic(refusal: &str, first: &str) -> String {
    format!("the dead-letter topic refused it ({refusal}); first refused because: {first}")
}
