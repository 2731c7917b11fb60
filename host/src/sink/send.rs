//! Handing messages to the producer: [`Sink::send`] for a module's message
//! on the record path, [`Sink::send_owned`] for a retry or a dead letter,
//! and one queue-full loop (`Sink::produce`) under both and under the
//! progress records of a transaction. A full producer queue means polling
//! for deliveries and trying again, never dropping (as Vector's kafka
//! service returns Pending on QueueFull). Each message carries a [`Ticket`]
//! in librdkafka's per-message opaque, which its delivery report hands back.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer};
use sluice_guest_sdk::abi::Message;

use super::Sink;
use crate::record::OwnedMessage;
use crate::shutdown::Shutdown;

/// How long to serve delivery reports before trying a full queue again.
const QUEUE_FULL_POLL: Duration = Duration::from_millis(10);

/// Why one message was not handed to the producer.
#[derive(Debug)]
pub enum SendError {
    /// Shutdown began while the queue was full.
    Stopped,
    /// librdkafka refused this message for good (larger than
    /// `message.max.bytes`, invalid): dead-letter it.
    Refused(String),
    /// The producer has failed for good: replace it, then send again.
    ProducerFailed(String),
    /// Nothing can be sent (the topic is gone, a forbidden state): stop.
    Failed(String),
}

/// Why [`Sink::produce`] did not hand a record over.
pub(super) enum Produce {
    /// It was told to stop while the queue was full.
    Stopped,
    /// librdkafka refused the record.
    Error(KafkaError),
}

/// What a delivery report refers to, packed into librdkafka's per-message
/// opaque: the batch, the index in it of the record the message was made
/// of (several messages of one record share it), and three flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ticket {
    /// The tracker's batch sequence number.
    pub seq: u64,
    /// The record's index in its batch.
    pub record: usize,
    /// The message is a dead letter, not a transformed record.
    pub dead_letter: bool,
    /// The module set the message's timestamp.
    pub timestamp_set: bool,
    /// The module chose the message's partition (a retry keeps it).
    pub partition_set: bool,
}

impl Ticket {
    fn pack(self) -> usize {
        debug_assert!(self.record < 1 << 16, "batches hold fewer than 65536 records");
        let flags =
            u64::from(self.dead_letter) | u64::from(self.timestamp_set) << 1 | u64::from(self.partition_set) << 2;
        (self.seq << 19 | (self.record as u64) << 3 | flags) as usize
    }

    pub(super) fn unpack(packed: usize) -> Self {
        let packed = packed as u64;
        Ticket {
            seq: packed >> 19,
            record: (packed >> 3 & 0xffff) as usize,
            dead_letter: packed & 1 != 0,
            timestamp_set: packed & 2 != 0,
            partition_set: packed & 4 != 0,
        }
    }
}

impl Sink {
    /// Hands one message to the producer, waiting while its queue is full:
    /// to the topic and partition it names, else to `--topic` and the
    /// partitioner's choice. Check its route first ([`Sink::route`]).
    pub fn send(&self, msg: &Message<'_>, ticket: Ticket, shutdown: &Shutdown) -> Result<(), SendError> {
        self.send_to(msg.topic.unwrap_or(&self.topic), msg, ticket, shutdown)
    }

    /// Sends a message handed back for a retry, or a dead letter, to
    /// `topic`, and to the partition it names, if any.
    pub fn send_owned(
        &self,
        topic: &str,
        msg: &OwnedMessage,
        ticket: Ticket,
        shutdown: &Shutdown,
    ) -> Result<(), SendError> {
        let borrowed = Message { topic: None, ..msg.as_message() };
        self.send_to(topic, &borrowed, ticket, shutdown)
    }

    fn send_to(&self, topic: &str, msg: &Message<'_>, ticket: Ticket, shutdown: &Shutdown) -> Result<(), SendError> {
        let ticket =
            Ticket { timestamp_set: msg.timestamp_ms.is_some(), partition_set: msg.partition.is_some(), ..ticket };
        let mut record = BaseRecord::<[u8], [u8], usize>::with_opaque_to(topic, ticket.pack());
        if let Some(partition) = msg.partition {
            record = record.partition(partition);
        }
        if let Some(key) = msg.key {
            record = record.key(key);
        }
        if let Some(value) = msg.value {
            record = record.payload(value);
        }
        if let Some(ts) = msg.timestamp_ms {
            record = record.timestamp(ts);
        }
        if !msg.headers.is_empty() {
            record = record.headers(headers(msg));
        }
        match self.produce(record, || shutdown.is_triggered()) {
            Ok(()) => Ok(()),
            Err(Produce::Stopped) => Err(SendError::Stopped),
            Err(Produce::Error(e)) => Err(send_error(&e, self.producer.context().scrub(&e.to_string()))),
        }
    }

    /// Hands `record` to the producer, serving delivery reports while its
    /// queue is full until there is room, or until `stop` says to give up.
    pub(super) fn produce(
        &self,
        mut record: BaseRecord<'_, [u8], [u8], usize>,
        stop: impl Fn() -> bool,
    ) -> Result<(), Produce> {
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if stop() {
                        return Err(Produce::Stopped);
                    }
                    record = back;
                    self.producer.poll(QUEUE_FULL_POLL);
                }
                Err((e, _)) => return Err(Produce::Error(e)),
            }
        }
    }
}

/// What a synchronous produce error means: only a message-specific refusal
/// sends the record to the dead letters.
fn send_error(error: &KafkaError, reason: String) -> SendError {
    use RDKafkaErrorCode as E;
    match error.rdkafka_error_code() {
        Some(
            E::MessageSizeTooLarge
            | E::InvalidMessage
            | E::InvalidMessageSize
            | E::InvalidRecord
            | E::UnknownPartition
            | E::UnknownTopic,
        ) => SendError::Refused(reason),
        Some(E::Fatal) => SendError::ProducerFailed(reason),
        _ => SendError::Failed(format!("cannot produce to Kafka: {reason}")),
    }
}

fn headers(msg: &Message<'_>) -> OwnedHeaders {
    msg.headers.iter().fold(OwnedHeaders::new_with_capacity(msg.headers.len()), |h, (key, value)| {
        h.insert(Header { key, value: *value })
    })
}

#[cfg(test)]
mod tests {
    use super::Ticket;

    #[test]
    fn a_ticket_survives_the_opaque() {
        let ticket =
            Ticket { seq: 1 << 40, record: 65535, dead_letter: true, timestamp_set: false, partition_set: true };
        assert_eq!(Ticket::unpack(ticket.pack()), ticket);
    }
}
