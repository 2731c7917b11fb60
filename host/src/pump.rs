//! The pump: takes batches from the source, runs them through the wasm
//! transform, and hands the results to [`Delivery`].
//!
//! It reads [`Batch`]es from the source channel. Dead letters are stored
//! (the file fsynced, or sent to the dead-letter topic) before their batch is
//! registered with the [`Tracker`](crate::sink::Tracker), so the checkpoint never passes a record
//! that is neither in Kafka nor in the dead letters. A module that fails
//! `max_consecutive_errors` records in a row stops the stream, as Kafka
//! Connect's `errors.tolerance=none` would, rather than flooding the dead
//! letters forever.
//!
//! In exactly-once mode the pump also commits the open transaction when it
//! is due ([`transaction`]), and returns when a failed transaction was
//! rewound, for the pipeline to rebuild the source from the last commit.

mod delivery;
pub mod transaction;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use crossbeam_channel::{Receiver, select};
use sluice_guest_sdk::abi::{self, Outcome};

use crate::deadletter::DeadLetter;
use crate::shutdown::Shutdown;
use crate::sink::{OwnedMessage, RedoAction, SendError, Ticket};
use crate::source::Batch;
use crate::transform::{TransformError, Transformer};
pub use delivery::Delivery;

/// How often the pump looks at the redo queue while no batch arrives.
const REDO_TICK: Duration = Duration::from_millis(50);

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
    transformer: Transformer,
    /// Everything after the transform: producer, tracker, dead letters.
    pub delivery: Delivery,
    max_consecutive_errors: u64,
    /// Counts for the exit summary.
    pub summary: Summary,
    consecutive_errors: u64,
}

impl Pump {
    /// A pump with nothing done yet.
    pub fn new(transformer: Transformer, delivery: Delivery, max_consecutive_errors: u64) -> Self {
        Pump { transformer, delivery, max_consecutive_errors, summary: Summary::default(), consecutive_errors: 0 }
    }

    /// Pumps until the source closes, shutdown, or a fatal error.
    pub fn run(&mut self, batches: &Receiver<Batch>, shutdown: &Shutdown) -> anyhow::Result<()> {
        loop {
            self.delivery.redo(shutdown, true)?;
            if let Some(failure) = self.delivery.tracker.failure() {
                bail!(failure);
            }
            self.delivery.transact(shutdown)?;
            if self.delivery.rewinding() {
                return Ok(());
            }
            let batch = select! {
                recv(batches) -> batch => match batch {
                    Ok(batch) => batch,
                    Err(_) => return Ok(()),
                },
                recv(shutdown.signal()) -> _ => return Ok(()),
                default(self.delivery.tick(REDO_TICK)) => continue,
            };
            self.handle(&batch, shutdown).with_context(|| format!("while streaming {}", batch.path))?;
        }
    }

    fn handle(&mut self, batch: &Batch, shutdown: &Shutdown) -> anyhow::Result<()> {
        let outcomes = match self.transformer.process(batch, self.max_consecutive_errors, shutdown) {
            Err(TransformError::Stopped) => return Ok(()),
            outcomes => outcomes?,
        };
        let records: Vec<&[u8]> = abi::records(&batch.records, batch.len()).collect();
        let mut letters: Vec<DeadLetter<'_>> = batch
            .rejects
            .iter()
            .map(|r| DeadLetter::new(&r.reason, &batch.path, r.line, r.offset, &r.sample))
            .collect();
        let mut intolerable = Ok(());
        let (mut emits, mut filtered) = (0, 0);
        for ((outcome, meta), record) in outcomes.iter().zip(&batch.meta).zip(&records) {
            if !matches!(outcome, Outcome::Error(_)) {
                self.consecutive_errors = 0;
            }
            match outcome {
                Outcome::Emit(_) | Outcome::EmitMany(_) => match undeliverable(outcome) {
                    None => emits += 1,
                    Some(reason) => letters.push(DeadLetter::new(reason, &batch.path, meta.line, meta.offset, record)),
                },
                Outcome::Drop => filtered += 1,
                Outcome::Error(reason) => {
                    letters.push(DeadLetter::new(reason, &batch.path, meta.line, meta.offset, record));
                    self.consecutive_errors += 1;
                    if intolerable.is_ok() {
                        intolerable = check_tolerance(self.consecutive_errors, self.max_consecutive_errors, reason);
                    }
                }
            }
        }
        self.summary.records += batch.len() as u64;
        self.summary.filtered += filtered;
        let delivery = &mut self.delivery;
        let to_topic = if delivery.dead_letter_topic.is_some() { letters.len() } else { 0 };
        if to_topic == 0 && !delivery.write_durably(&letters, shutdown) {
            return Ok(());
        }
        let Some(seq) = delivery.begin(batch, emits + to_topic, shutdown)? else { return intolerable };
        self.summary.dead_letters += letters.len() as u64;
        let mut unsent = emits + to_topic;
        for letter in letters.iter().take(to_topic) {
            if shutdown.is_triggered() {
                delivery.tracker.abandon(seq, unsent, None);
                return intolerable;
            }
            delivery.store_dead_letter(letter, seq, shutdown);
            unsent -= 1;
        }
        for (index, (outcome, meta)) in outcomes.iter().zip(&batch.meta).enumerate() {
            let Outcome::Emit(msg) = outcome else { continue };
            if undeliverable(outcome).is_some() {
                continue;
            }
            let ticket = Ticket { seq, record: index, dead_letter: false, timestamp_set: false };
            match delivery.sink.send(msg, ticket, shutdown) {
                Ok(()) => self.summary.published += 1,
                Err(SendError::Stopped) => {
                    delivery.tracker.abandon(seq, unsent, Some(*meta));
                    return intolerable;
                }
                Err(SendError::Refused(reason)) => {
                    let reason = format!("Kafka refused the message: {reason}");
                    self.summary.dead_letters += 1;
                    let letter = DeadLetter::new(&reason, &batch.path, meta.line, meta.offset, records[index]);
                    delivery.store_dead_letter(&letter, seq, shutdown);
                }
                Err(SendError::ProducerFailed(reason)) => {
                    // Stays outstanding; the next redo replaces the producer and sends it.
                    let retry = RedoAction::Retry { reason, fenced: true };
                    delivery.tracker.redo(seq, Some(index), OwnedMessage::from(msg), retry);
                }
                Err(SendError::Failed(reason)) => {
                    delivery.tracker.abandon(seq, unsent, Some(*meta));
                    if delivery.doom(&reason) {
                        return intolerable;
                    }
                    bail!(reason);
                }
            }
            unsent -= 1;
        }
        // The whole batch is dead-lettered or sent before a failing module stops the stream.
        intolerable
    }

    /// After shutdown: waits until Kafka acknowledged everything sent.
    pub fn drain(&mut self, timeout: Duration, shutdown: &Shutdown) -> anyhow::Result<()> {
        self.delivery.drain(timeout, shutdown)
    }

    /// The shared delivery tracker.
    pub fn tracker(&self) -> &Arc<crate::sink::Tracker> {
        &self.delivery.tracker
    }
}

/// Why this host cannot deliver an outcome the way the module asked, or
/// `None` when it can. Routing per message (ABI v2's topic and partition,
/// several messages per record) is not in this host yet: such a record goes
/// to the dead letters with the reason, never silently to `--topic`.
fn undeliverable(outcome: &Outcome<'_>) -> Option<&'static str> {
    match outcome {
        Outcome::EmitMany(_) => {
            Some("the module made several messages of one record; this sluice sends at most one message per record")
        }
        Outcome::Emit(msg) if msg.topic.is_some() || msg.partition.is_some() => Some(
            "the module named a topic or partition for the message; this sluice sends every message to --topic, \
             so it was not sent",
        ),
        _ => None,
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
