//! The pump: takes batches from the source, runs them through the wasm
//! transform, and sends the results to Kafka and the dead letters.
//!
//! It reads [`Batch`]es from the source channel and hands messages to the
//! [`Sink`]. Dead letters are stored (file fsynced, or sent to the
//! dead-letter topic) before their batch is registered with the
//! [`Tracker`], so the checkpoint never passes a record that is neither in
//! Kafka nor in the dead letters. Messages librdkafka hands back (a timed
//! out delivery, a record the broker refuses) come back through the
//! tracker's redo queue and are retried or dead-lettered here. A module that
//! fails `max_consecutive_errors` records in a row stops the stream, as
//! Kafka Connect's `errors.tolerance=none` would, rather than flooding the
//! dead letters forever.

use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use crossbeam_channel::{Receiver, select};
use sluice_guest_sdk::abi::{self, Outcome};

use crate::deadletter::{DeadLetter, DeadLetters};
use crate::shutdown::Shutdown;
use crate::sink::{OwnedMessage, Redo, RedoAction, SendError, Sink, Ticket, Tracker};
use crate::source::Batch;
use crate::transform::Transformer;

/// How often the pump looks at the redo queue while no batch arrives.
const REDO_TICK: Duration = Duration::from_millis(50);
/// Pause before retrying a dead-letter write that failed (a full disk).
const WRITE_RETRY: Duration = Duration::from_secs(1);

/// What a run did, logged at exit.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    /// Records handed to the transform.
    pub records: u64,
    /// Messages sent to the topic.
    pub published: u64,
    /// Records the filter dropped.
    pub filtered: u64,
    /// Records sent to the dead letters.
    pub dead_letters: u64,
}

/// Moves batches from the source to Kafka.
#[derive(Debug)]
pub struct Pump {
    /// The wasm transform.
    pub transformer: Transformer,
    /// The producer.
    pub sink: Sink,
    /// Delivery tracking.
    pub tracker: std::sync::Arc<Tracker>,
    /// The local dead-letter file (also the fallback for the topic).
    pub dead: DeadLetters,
    /// The dead-letter topic, if the operator gave one.
    pub dead_letter_topic: Option<String>,
    /// Module failures in a row that stop the stream.
    pub max_consecutive_errors: u64,
    /// Counts for the exit summary.
    pub summary: Summary,
    consecutive_errors: u64,
}

impl Pump {
    /// A pump with nothing done yet.
    pub fn new(transformer: Transformer, sink: Sink, tracker: std::sync::Arc<Tracker>, dead: DeadLetters) -> Self {
        Pump {
            transformer,
            sink,
            tracker,
            dead,
            dead_letter_topic: None,
            max_consecutive_errors: u64::MAX,
            summary: Summary::default(),
            consecutive_errors: 0,
        }
    }

    /// Pumps until the source closes, shutdown, or a fatal error.
    pub fn run(&mut self, batches: &Receiver<Batch>, shutdown: &Shutdown) -> anyhow::Result<()> {
        loop {
            self.redo(shutdown)?;
            if let Some(failure) = self.tracker.failure() {
                bail!(failure);
            }
            let batch = select! {
                recv(batches) -> batch => match batch {
                    Ok(batch) => batch,
                    Err(_) => return Ok(()),
                },
                recv(shutdown.signal()) -> _ => return Ok(()),
                default(REDO_TICK) => continue,
            };
            self.handle(&batch, shutdown).with_context(|| format!("while streaming {}", batch.path))?;
        }
    }

    fn handle(&mut self, batch: &Batch, shutdown: &Shutdown) -> anyhow::Result<()> {
        let outcomes = self.transformer.process(batch)?;
        let records: Vec<&[u8]> = abi::records(&batch.records, batch.len()).collect();
        let mut letters: Vec<DeadLetter<'_>> = batch
            .rejects
            .iter()
            .map(|r| DeadLetter::new(&r.reason, &batch.path, r.line, r.offset, &r.sample))
            .collect();
        let mut intolerable = Ok(());
        for ((outcome, meta), record) in outcomes.iter().zip(&batch.meta).zip(&records) {
            match outcome {
                Outcome::Error(reason) => {
                    letters.push(DeadLetter::new(reason, &batch.path, meta.line, meta.offset, record));
                    self.consecutive_errors += 1;
                    if intolerable.is_ok() {
                        intolerable = check_tolerance(self.consecutive_errors, self.max_consecutive_errors, reason);
                    }
                }
                _ => self.consecutive_errors = 0,
            }
        }
        self.summary.records += batch.len() as u64;
        self.summary.filtered += outcomes.iter().filter(|o| matches!(o, Outcome::Drop)).count() as u64;
        let emits = outcomes.iter().filter(|o| matches!(o, Outcome::Emit(_))).count();
        let to_topic = if self.dead_letter_topic.is_some() { letters.len() } else { 0 };
        if to_topic == 0 && !write_durably(&mut self.dead, &letters, shutdown) {
            return Ok(());
        }
        let (sink, tracker, dead, dlq) = (&self.sink, &self.tracker, &mut self.dead, self.dead_letter_topic.as_deref());
        let while_waiting = || redo_now(sink, tracker, dead, dlq, shutdown).is_err() || shutdown.is_triggered();
        let Some(seq) = self.tracker.begin(batch, emits + to_topic, while_waiting) else { return Ok(()) };
        self.summary.dead_letters += letters.len() as u64;
        let mut unsent = emits + to_topic;
        for letter in letters.iter().take(to_topic) {
            if shutdown.is_triggered() {
                self.tracker.abandon(seq, unsent);
                return Ok(());
            }
            let dlq = self.dead_letter_topic.as_deref();
            store_dead_letter(&self.sink, &self.tracker, &mut self.dead, dlq, letter, seq, shutdown);
            unsent -= 1;
        }
        for (index, (outcome, meta)) in outcomes.iter().zip(&batch.meta).enumerate() {
            let Outcome::Emit(msg) = outcome else { continue };
            let ticket = Ticket { seq, record: index, dead_letter: false, timestamp_set: false };
            match self.sink.send(msg, ticket, shutdown) {
                Ok(()) => self.summary.published += 1,
                Err(SendError::Stopped) => {
                    self.tracker.abandon(seq, unsent);
                    return Ok(());
                }
                Err(SendError::Refused(reason)) => {
                    let reason = format!("Kafka refused the message: {reason}");
                    let letter = DeadLetter::new(&reason, &batch.path, meta.line, meta.offset, records[index]);
                    self.summary.dead_letters += 1;
                    let dlq = self.dead_letter_topic.as_deref();
                    store_dead_letter(&self.sink, &self.tracker, &mut self.dead, dlq, &letter, seq, shutdown);
                }
            }
            unsent -= 1;
        }
        // The whole batch is dead-lettered or sent before a failing module stops the stream.
        intolerable
    }

    /// Retries or dead-letters the messages librdkafka handed back.
    fn redo(&mut self, shutdown: &Shutdown) -> anyhow::Result<()> {
        redo_now(&self.sink, &self.tracker, &mut self.dead, self.dead_letter_topic.as_deref(), shutdown)
    }

    /// After shutdown: waits until Kafka acknowledged everything sent
    /// (retrying what it hands back), or `timeout`.
    pub fn drain(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let keep_going = Shutdown::new();
        self.sink.flush(Duration::ZERO);
        while self.tracker.in_flight() > 0 && self.tracker.failure().is_none() && Instant::now() < deadline {
            self.redo(&keep_going)?;
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

/// Stops the stream when the module has failed `consecutive` records in a row.
fn check_tolerance(consecutive: u64, max: u64, reason: &str) -> anyhow::Result<()> {
    if consecutive >= max {
        bail!(
            "the transform failed {consecutive} records in a row (the last: {reason}); stopping. Every failed record \
             is in the dead letters. Fix the module or its config, or raise --max-consecutive-errors"
        );
    }
    Ok(())
}

fn redo_now(
    sink: &Sink,
    tracker: &Tracker,
    dead: &mut DeadLetters,
    dlq: Option<&str>,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    for Redo { seq, origin, message, action } in tracker.take_redo() {
        let record = origin.as_ref().map_or(0, |(index, _, _)| *index);
        let ticket = Ticket { seq, record, dead_letter: message.is_dead_letter, timestamp_set: false };
        match action {
            RedoAction::Retry => {
                let topic = if message.is_dead_letter { dlq.unwrap_or(sink.topic()) } else { sink.topic() };
                if sink.send_owned(topic, &message, ticket, shutdown).is_err() {
                    tracker.abandon(seq, 1);
                }
            }
            RedoAction::DeadLetter(reason) => {
                let record = message.value.as_deref().unwrap_or_default();
                match &origin {
                    Some((_, file, meta)) => {
                        let letter = DeadLetter::new(&reason, file, meta.line, meta.offset, record);
                        store_dead_letter(sink, tracker, dead, dlq, &letter, seq, shutdown);
                    }
                    None => {
                        let reason = refused_by_dead_letter_topic(&reason, &message.header_text("sluice.error.reason"));
                        let (file, line, offset) = message.origin_from_headers();
                        let letter = DeadLetter::new(&reason, &file, line, offset, record);
                        write_or_abandon(dead, &letter, tracker, seq, shutdown);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Puts one dead letter where dead letters go, standing in for a message of
/// batch `seq` that will not be delivered.
fn store_dead_letter(
    sink: &Sink,
    tracker: &Tracker,
    dead: &mut DeadLetters,
    dlq: Option<&str>,
    letter: &DeadLetter<'_>,
    seq: u64,
    shutdown: &Shutdown,
) {
    let Some(topic) = dlq else {
        return write_or_abandon(dead, letter, tracker, seq, shutdown);
    };
    let ticket = Ticket { seq, record: 0, dead_letter: true, timestamp_set: false };
    match sink.send_owned(topic, &letter.to_message(), ticket, shutdown) {
        Ok(()) => {}
        Err(SendError::Stopped) => tracker.abandon(seq, 1),
        Err(SendError::Refused(refusal)) => {
            let reason = refused_by_dead_letter_topic(&refusal, letter.reason);
            let fallback = DeadLetter { reason: &reason, ..letter.clone() };
            write_or_abandon(dead, &fallback, tracker, seq, shutdown);
        }
    }
}

/// The reason recorded when the dead-letter topic refuses a dead letter too.
fn refused_by_dead_letter_topic(refusal: &str, first: &str) -> String {
    format!("the dead-letter topic refused it ({refusal}); first refused because: {first}")
}

fn write_or_abandon(dead: &mut DeadLetters, letter: &DeadLetter<'_>, tracker: &Tracker, seq: u64, shutdown: &Shutdown) {
    if write_durably(dead, std::slice::from_ref(letter), shutdown) {
        tracker.acked(seq);
    } else {
        tracker.abandon(seq, 1);
    }
}

/// Writes dead letters to the file, pausing and retrying while the disk
/// refuses (it is full); false if shutdown came first.
fn write_durably(dead: &mut DeadLetters, letters: &[DeadLetter<'_>], shutdown: &Shutdown) -> bool {
    loop {
        match dead.write(letters) {
            Ok(()) => return true,
            Err(e) => {
                tracing::error!(file = %dead.path().display(), error = %e, "cannot write dead letters; the stream waits and retries");
                if shutdown.signal().recv_timeout(WRITE_RETRY).is_err() && shutdown.is_triggered() {
                    return false;
                }
            }
        }
    }
}

impl OwnedMessage {
    fn header_text(&self, name: &str) -> String {
        let value = self.headers.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.as_deref());
        String::from_utf8_lossy(value.unwrap_or_default()).into_owned()
    }

    /// The source file, line and offset a dead-letter message carries.
    fn origin_from_headers(&self) -> (String, u64, u64) {
        let number = |name| self.header_text(name).parse().unwrap_or_default();
        (self.header_text("sluice.source.file"), number("sluice.source.line"), number("sluice.source.offset"))
    }
}
