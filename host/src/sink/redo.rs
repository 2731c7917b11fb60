//! The sink's redo queue: messages librdkafka handed back undelivered, for
//! the pump to send again or dead-letter (the pump drains it).
//!
//! librdkafka's delivery callback sorts each failure by its fate: a
//! transient one is retried, a fencing replaces the producer first, a
//! message Kafka can never accept is dead-lettered, and anything else stops
//! the stream (through the [`Tracker`]). A queued message stays outstanding
//! in its batch, so the checkpoint cannot pass it until it is sent again or
//! dead-lettered. Reports about batches a rewind dropped are not queued.

use std::sync::Mutex;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::progress::Tracker;
use crate::record::{OwnedMessage, RecordMeta};

/// A message whose delivery failed, for the pump thread to retry or to
/// dead-letter; it stays outstanding in its batch until then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redo {
    /// The batch it belongs to.
    pub seq: u64,
    /// The record's index in its batch, and its file path and position;
    /// `None` for a dead letter, which carries its origin in its headers.
    pub origin: Option<(usize, String, RecordMeta)>,
    /// Key, value, headers and timestamp as they were sent.
    pub message: OwnedMessage,
    /// Retry it, or dead-letter it with this reason.
    pub action: RedoAction,
}

/// What to do with a message whose delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedoAction {
    /// Send it again; the delivery failed for this transient reason.
    Retry {
        /// librdkafka's error, scrubbed.
        reason: String,
        /// The broker fenced the producer: it must be replaced first.
        fenced: bool,
    },
    /// Kafka refused it for good: dead-letter it with this reason.
    DeadLetter(String),
}

impl Redo {
    /// The reason a producer must be replaced before this is sent again.
    pub fn fenced(&self) -> Option<&str> {
        match &self.action {
            RedoAction::Retry { reason, fenced: true } => Some(reason),
            _ => None,
        }
    }

    /// The transient reason its delivery failed, if it is to be retried.
    pub fn retry_reason(&self) -> Option<&str> {
        match &self.action {
            RedoAction::Retry { reason, .. } => Some(reason),
            RedoAction::DeadLetter(_) => None,
        }
    }
}

/// The messages waiting for the pump.
#[derive(Debug, Default)]
pub(super) struct RedoQueue(Mutex<Vec<Redo>>);

impl RedoQueue {
    /// Queues a message of batch `seq` (`record` its record's index, `None`
    /// for a dead letter), unless a rewind dropped the batch.
    pub(super) fn push(
        &self,
        tracker: &Tracker,
        seq: u64,
        record: Option<usize>,
        message: OwnedMessage,
        action: RedoAction,
    ) {
        let origin = match record {
            Some(index) => match tracker.origin(seq, index) {
                Some((path, meta)) => Some((index, path, meta)),
                None => return,
            },
            None if tracker.is_open(seq) => None,
            None => return,
        };
        self.lock().push(Redo { seq, origin, message, action });
    }

    pub(super) fn take(&self) -> Vec<Redo> {
        std::mem::take(&mut *self.lock())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Redo>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a failed delivery means for its message.
pub(super) enum Fate {
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

impl Fate {
    pub(super) fn of(error: &KafkaError) -> Fate {
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
}
