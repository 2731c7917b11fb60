//! The pump: takes batches from the source, runs them through the wasm
//! transform, and hands the results to [`Delivery`].
//!
//! A record becomes zero, one or several messages (ABI v2), each routed to
//! the topic and partition it names or to `--topic` and the partitioner.
//! Every route is checked against the sink's metadata cache before the
//! batch is registered, so the tracker awaits exactly the messages sent plus
//! the dead letters; a record with a message to a topic or partition that
//! does not exist is dead-lettered with that reason, and the stream goes on.
//!
//! It reads [`Batch`]es from the source channel. Dead letters are stored
//! (the file fsynced, or sent to the dead-letter topic) before their batch is
//! registered with the [`Tracker`], so the checkpoint never passes a record
//! that is neither in Kafka nor in the dead letters. A module that fails
//! `max_consecutive_errors` records in a row stops the stream, as Kafka
//! Connect's `errors.tolerance=none` would, rather than flooding the dead
//! letters forever; the transform is told how many failed just before each
//! batch, so a run of records that loop costs at most that many time limits
//! (see [`crate::transform::salvage`]).
//!
//! In exactly-once mode the pump also commits the open transaction when it
//! is due ([`transaction`]), and returns when a failed transaction was
//! rewound, for the pipeline to rebuild the source from the last commit.

mod delivery;
pub mod transaction;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use crossbeam_channel::{Receiver, select};
use sluice_guest_sdk::abi::{self, Message, Outcome};

use crate::metrics::PipelineMetrics;
use crate::progress::tracker::Tally;
use crate::progress::{CompletedFiles, Tracker, Window};
use crate::record::{Batch, DeadLetter, OwnedMessage, Reason};
use crate::shutdown::Shutdown;
use crate::sink::{RedoAction, RouteError, SendError, Ticket};
use crate::transform::{Tolerance, TransformError, Transformer};
use crate::zone::LandingZone;
pub use delivery::Delivery;

/// The handles the stages of one pipeline share, made once by the
/// pipeline's builder and handed to each stage it starts.
#[derive(Debug)]
pub struct Shared {
    /// Where the files come from: the source reads it, the cleaner cleans it.
    pub zone: Arc<dyn LandingZone>,
    /// Acknowledgements turned into ordered progress.
    pub tracker: Arc<Tracker>,
    /// Room for batches in flight; a checkpoint that cannot be saved closes it.
    pub window: Arc<Window>,
    /// Files read to their end, for `--clean-source`.
    pub completed: Arc<CompletedFiles>,
    /// What the pipeline counts.
    pub metrics: Arc<PipelineMetrics>,
}

/// How often the pump looks at the redo queue while no batch arrives.
const REDO_TICK: Duration = Duration::from_millis(50);

/// What a run did, logged at exit.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    /// Records handed to the transform.
    pub records: u64,
    /// Messages sent, to every topic (a record may become several).
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
    /// Exactly-once mode: the counts as of the last commit, and the
    /// transactions' (commits, aborts) when they were taken.
    settled: (Summary, (u64, u64)),
    consecutive_errors: u64,
}

impl Pump {
    /// A pump with nothing done yet.
    pub fn new(transformer: Transformer, delivery: Delivery, max_consecutive_errors: u64) -> Self {
        Pump {
            transformer,
            delivery,
            max_consecutive_errors,
            summary: Summary::default(),
            settled: Default::default(),
            consecutive_errors: 0,
        }
    }

    /// Exactly-once mode: after transactions ended, keeps the counts of
    /// what committed; what an aborted one held is read and counted again.
    /// A commit followed by an abort (of the next, empty transaction, whose
    /// begin failed) keeps what the commit held.
    pub fn settle(&mut self) {
        let Some(counts) = self.delivery.transaction_counts() else { return };
        let (committed, settled) = &mut self.settled;
        if counts.0 > settled.0 {
            *committed = self.summary;
        } else if counts.1 > settled.1 {
            self.summary = *committed;
        }
        *settled = counts;
    }

    /// Pumps until the source closes, shutdown, or a fatal error.
    pub fn run(&mut self, batches: &Receiver<Batch>, shutdown: &Shutdown) -> anyhow::Result<()> {
        loop {
            self.delivery.redo(shutdown, true)?;
            if let Some(failure) = self.delivery.tracker.failure() {
                bail!(failure);
            }
            self.delivery.transact(shutdown)?;
            self.settle();
            if self.delivery.rewinding() {
                return Ok(());
            }
            self.report_queues();
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

    /// Reports the messages in flight and in the producer's queue.
    fn report_queues(&self) {
        let metrics = &self.delivery.metrics;
        metrics.in_flight.set(self.delivery.tracker.in_flight() as i64);
        metrics.producer_queue.set(i64::from(self.delivery.sink.queued()));
    }

    fn handle(&mut self, batch: &Batch, shutdown: &Shutdown) -> anyhow::Result<()> {
        let started = Instant::now();
        let tolerance = Tolerance { max: self.max_consecutive_errors, before: self.consecutive_errors };
        let outcomes = match self.transformer.process_with(batch, tolerance, shutdown) {
            Err(TransformError::Stopped) => return Ok(()),
            outcomes => outcomes?,
        };
        let metrics = self.delivery.metrics.clone();
        metrics.transform_seconds.observe(started.elapsed().as_secs_f64());
        let Some(plan) = Plan::make(&outcomes, &mut self.delivery, shutdown) else { return Ok(()) };
        let intolerable = tolerate(&mut self.consecutive_errors, self.max_consecutive_errors, &outcomes);
        let records: Vec<&[u8]> = abi::records(&batch.records, batch.len()).collect();
        let letters = plan.dead_letters(batch, &records);
        self.summary.records += batch.len() as u64;
        self.summary.filtered += plan.filtered;
        let delivery = &mut self.delivery;
        let to_topic = if delivery.dead_letter_topic.is_some() { letters.len() } else { 0 };
        if to_topic == 0 && !delivery.write_durably(&letters, shutdown) {
            return Ok(());
        }
        let tally = Tally {
            records: (batch.len() + batch.rejects.len()) as u64,
            published: plan.sends.len() as u64,
            filtered: plan.filtered,
            dead_letters: letters.len() as u64,
        };
        let Some(seq) = delivery.begin(batch, plan.sends.len() + to_topic, tally, shutdown)? else {
            return intolerable;
        };
        self.summary.dead_letters += letters.len() as u64;
        metrics.filtered.inc_by(plan.filtered);
        metrics.dead_lettered(&letters);
        let mut unsent = plan.sends.len() + to_topic;
        for letter in letters.iter().take(to_topic) {
            if shutdown.is_triggered() {
                delivery.tracker.abandon(seq, unsent, None);
                return intolerable;
            }
            delivery.store_dead_letter(letter, seq, shutdown);
            unsent -= 1;
        }
        send(delivery, &mut self.summary, batch, &plan, &records, seq, shutdown)?;
        // The whole batch is dead-lettered or sent before a failing module stops the stream.
        intolerable
    }

    /// After shutdown: waits until Kafka acknowledged everything sent.
    pub fn drain(&mut self, timeout: Duration, shutdown: &Shutdown) -> anyhow::Result<()> {
        self.delivery.drain(timeout, shutdown)
    }

    /// The shared delivery tracker.
    pub fn tracker(&self) -> &Arc<Tracker> {
        &self.delivery.tracker
    }
}

/// Sends the messages of `plan`, the batch `seq`, dead-lettering those
/// Kafka refuses at once. Returns early, with what was not sent
/// abandoned, if shutdown comes or the open transaction cannot go on; an
/// error if nothing more can be sent.
fn send(
    delivery: &mut Delivery,
    summary: &mut Summary,
    batch: &Batch,
    plan: &Plan<'_, '_>,
    records: &[&[u8]],
    seq: u64,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let mut unsent = plan.sends.len();
    for (n, &(index, msg)) in plan.sends.iter().enumerate() {
        let meta = batch.meta[index];
        let ticket = Ticket { seq, record: index, ..Ticket::default() };
        match delivery.sink.send(msg, ticket, shutdown) {
            Ok(()) => summary.published += 1,
            Err(SendError::Stopped) => {
                // Part of a record sent cannot be told apart from the
                // whole in a transaction: abort it rather than commit half.
                if n > 0 && plan.sends[n - 1].0 == index {
                    delivery.doom("shutdown came while one record's messages were being sent");
                }
                delivery.tracker.abandon(seq, unsent, Some(meta));
                return Ok(());
            }
            Err(SendError::Refused(reason)) => {
                let reason = format!("Kafka refused the message: {reason}");
                summary.dead_letters += 1;
                delivery.tracker.refused(seq);
                let (kind, path) = (Reason::KafkaRefused, &batch.path);
                let letter = DeadLetter::new(kind, &reason, path, meta.line, meta.offset, records[index]);
                delivery.metrics.dead_lettered(std::slice::from_ref(&letter));
                delivery.store_dead_letter(&letter, seq, shutdown);
            }
            Err(SendError::ProducerFailed(reason)) => {
                // Stays outstanding; the next redo replaces the producer and sends it.
                let retry = RedoAction::Retry { reason, fenced: true };
                delivery.sink.redo(seq, Some(index), OwnedMessage::from(msg), retry);
            }
            Err(SendError::Failed(reason)) => {
                delivery.tracker.abandon(seq, unsent, Some(meta));
                if delivery.doom(&reason) {
                    return Ok(());
                }
                bail!(reason);
            }
        }
        unsent -= 1;
    }
    Ok(())
}

/// What becomes of one batch's outcomes: the messages to send, each with
/// the index of the record it was made of, and the records to dead-letter.
#[derive(Debug, Default)]
struct Plan<'o, 'a> {
    /// `(record, message)`, in the order the module made them.
    sends: Vec<(usize, &'o Message<'a>)>,
    /// `(record, kind, reason)`: module errors, and records with a message
    /// that cannot be routed.
    dead: Vec<(usize, Reason, Cow<'o, str>)>,
    /// Records that became no message.
    filtered: u64,
}

impl<'o, 'a> Plan<'o, 'a> {
    /// Checks every message's route; `None` if shutdown came while the
    /// broker was not answering. A record with a message that cannot be
    /// routed is dead-lettered once, with the first such reason; its other
    /// messages are still sent.
    fn make(outcomes: &'o [Outcome<'a>], delivery: &mut Delivery, shutdown: &Shutdown) -> Option<Self> {
        let mut plan = Plan::default();
        for (index, outcome) in outcomes.iter().enumerate() {
            let messages = match outcome {
                Outcome::Error(reason) => {
                    plan.dead.push((index, Reason::TransformError, Cow::Borrowed(*reason)));
                    continue;
                }
                _ => outcome.messages(),
            };
            if messages.is_empty() {
                plan.filtered += 1;
                continue;
            }
            let mut unroutable = None;
            for (n, msg) in messages.iter().enumerate() {
                match delivery.route(msg, shutdown) {
                    Ok(()) => plan.sends.push((index, msg)),
                    Err(RouteError::Stopped) => return None,
                    Err(RouteError::Unroutable(reason)) if messages.len() == 1 => unroutable = Some(reason),
                    Err(RouteError::Unroutable(reason)) => {
                        unroutable.get_or_insert_with(|| format!("message {} of {}: {reason}", n + 1, messages.len()));
                    }
                }
            }
            if let Some(reason) = unroutable {
                plan.dead.push((index, Reason::Unroutable, Cow::Owned(reason)));
            }
        }
        Some(plan)
    }

    /// The batch's dead letters: the lines rejected before the transform,
    /// then the records of `dead`.
    fn dead_letters<'b>(&'b self, batch: &'b Batch, records: &[&'b [u8]]) -> Vec<DeadLetter<'b>> {
        let rejected =
            batch.rejects.iter().map(|r| DeadLetter::new(r.kind, &r.reason, &batch.path, r.line, r.offset, &r.sample));
        let dead = self.dead.iter().map(|(index, kind, reason)| {
            let meta = batch.meta[*index];
            DeadLetter::new(*kind, reason, &batch.path, meta.line, meta.offset, records[*index])
        });
        rejected.chain(dead).collect()
    }
}

/// Counts the module's failures in a row across `outcomes`: an error once
/// there are `max` of them. Any other outcome resets the count.
fn tolerate(consecutive: &mut u64, max: u64, outcomes: &[Outcome<'_>]) -> anyhow::Result<()> {
    let mut intolerable = Ok(());
    for outcome in outcomes {
        let Outcome::Error(reason) = outcome else {
            *consecutive = 0;
            continue;
        };
        *consecutive += 1;
        if intolerable.is_ok() {
            intolerable = check_tolerance(*consecutive, max, reason);
        }
    }
    intolerable
}

/// Stops the stream when the module has failed `consecutive` records in a row.
fn check_tolerance(consecutive: u64, max: u64, reason: &str) -> anyhow::Result<()> {
    if consecutive >= max {
        let records = if consecutive == 1 { "record" } else { "records" };
        bail!(
            "the transform failed {consecutive} {records} in a row (the last: {reason}); stopping. Every failed record \
             is in the dead letters. Fix the module or its config, or raise --max-consecutive-errors"
        );
    }
    Ok(())
}
