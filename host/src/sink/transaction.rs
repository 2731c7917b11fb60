//! The transactional side of the [`Sink`] (exactly-once mode): starting
//! transactions, committing and aborting them, sending progress records, and
//! what a failure means, by librdkafka's rules.
//!
//! librdkafka sorts every transactional error into one of four kinds, and
//! [`TxnError`] keeps them apart: *retriable* (call again), *abortable*
//! (abort, then start over from the last commit), *fatal* (the producer is
//! unusable: replace it), and *fenced* (a newer producer with the same
//! transactional id exists: another instance of the pipeline took over, so
//! this one must stop, and must not fence it back by starting a new producer).

use std::time::{Duration, Instant};

use rdkafka::TopicPartitionList;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer};

use super::send::Produce;
use super::{Sink, SinkError};
use crate::shutdown::Shutdown;

/// The delivery opaque of a progress record (never a packed [`super::Ticket`],
/// whose sequence numbers do not reach 2^45).
pub const PROGRESS_OPAQUE: usize = usize::MAX;
/// How long one transactional call may block before it is retried.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a transactional call failed, in librdkafka's four kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// Transient: the call may be made again.
    #[error("{0} (retriable)")]
    Retriable(String),
    /// The transaction cannot commit: abort it and rewind.
    #[error("{0} (the transaction must be aborted)")]
    Abort(String),
    /// The producer is unusable: replace it and rewind.
    #[error("{0} (fatal for this producer)")]
    Fatal(String),
    /// A newer producer with the same transactional id fenced this one.
    #[error("{0} (fenced)")]
    Fenced(String),
    /// The group moved to a new generation (a rebalance) before this host
    /// heard of it: abort, and try again once it has.
    #[error("{0} (the pipeline's group has moved on; the transaction must be aborted)")]
    Generation(String),
}

impl TxnError {
    fn from_kafka(error: &KafkaError, scrub: impl Fn(&str) -> String) -> Self {
        let reason = scrub(&error.to_string());
        if error.rdkafka_error_code().is_some_and(is_fencing) {
            return TxnError::Fenced(reason);
        }
        if error.rdkafka_error_code().is_some_and(is_stale_generation) {
            return TxnError::Generation(reason);
        }
        match error {
            KafkaError::Transaction(e) if e.is_fatal() => TxnError::Fatal(reason),
            KafkaError::Transaction(e) if e.txn_requires_abort() => TxnError::Abort(reason),
            KafkaError::Transaction(e) if e.is_retriable() => TxnError::Retriable(reason),
            _ => TxnError::Fatal(reason),
        }
    }
}

/// Whether an error code means the group coordinator refused offsets sent
/// with an old generation of the pipeline's group.
fn is_stale_generation(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::IllegalGeneration
            | RDKafkaErrorCode::UnknownMemberId
            | RDKafkaErrorCode::FencedInstanceId
            | RDKafkaErrorCode::RebalanceInProgress
    )
}

/// Whether an error code means another producer took the transactional id.
pub fn is_fencing(code: RDKafkaErrorCode) -> bool {
    matches!(code, RDKafkaErrorCode::Fenced | RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch)
}

impl Sink {
    fn txn_error(&self, error: &KafkaError) -> TxnError {
        let context = self.producer.context();
        match self.producer.client().fatal_error() {
            // librdkafka reports a fencing as fatal: say which it is.
            Some((code, reason)) if is_fencing(code) => TxnError::Fenced(context.scrub(&reason)),
            _ => TxnError::from_kafka(error, |text| context.scrub(text)),
        }
    }

    /// `init_transactions` (fencing any earlier producer with this
    /// transactional id and aborting what it left open), then
    /// `begin_transaction`; retriable failures are retried until shutdown.
    pub(super) fn start_transactions(&self, shutdown: &Shutdown) -> Result<(), SinkError> {
        loop {
            match self.producer.init_transactions(CALL_TIMEOUT).map_err(|e| self.txn_error(&e)) {
                Ok(()) => break,
                Err(TxnError::Retriable(reason)) if !shutdown.is_triggered() => {
                    tracing::warn!(reason, "Kafka transactions cannot start yet; retrying");
                }
                Err(e) => return Err(SinkError::Transactions(e)),
            }
        }
        self.begin().map_err(SinkError::Transactions)
    }

    /// Opens the next transaction.
    pub fn begin(&self) -> Result<(), TxnError> {
        self.producer.begin_transaction().map_err(|e| self.txn_error(&e))
    }

    /// Commits the open transaction (flushing it first), retrying what is
    /// retriable until `deadline`.
    pub fn commit(&self, deadline: Instant) -> Result<(), TxnError> {
        self.wait_delivered(deadline);
        self.until(deadline, |p| p.commit_transaction(CALL_TIMEOUT))
    }

    /// Waits until the producer holds no unreported message. rust-rdkafka's
    /// `commit_transaction` flushes first, and its flush waits for reports in
    /// 100 ms steps on a queue that the threaded producer's own thread
    /// serves, so with anything left it takes 100 ms: twice a commit's whole
    /// budget at the default interval. Here the delivery callback of each
    /// progress record wakes the wait.
    fn wait_delivered(&self, deadline: Instant) {
        let (lock, reported) = &self.producer.context().progress_reported;
        let mut guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        while self.producer.in_flight_count() > 0 && Instant::now() < deadline {
            // The report can land between the count and the wait: a short timeout covers that.
            let wait = reported.wait_timeout(guard, Duration::from_millis(2));
            guard = wait.unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Aborts the open transaction, retrying what is retriable until `deadline`.
    pub fn abort(&self, deadline: Instant) -> Result<(), TxnError> {
        self.until(deadline, |p| p.abort_transaction(CALL_TIMEOUT))
    }

    fn until(
        &self,
        deadline: Instant,
        call: impl Fn(&rdkafka::producer::ThreadedProducer<super::Context>) -> rdkafka::error::KafkaResult<()>,
    ) -> Result<(), TxnError> {
        loop {
            match call(&self.producer).map_err(|e| self.txn_error(&e)) {
                Err(TxnError::Retriable(reason)) if Instant::now() < deadline => {
                    tracing::warn!(reason, "a transactional call failed; retrying");
                }
                done => return done,
            }
        }
    }

    /// Adds a progress record (a tombstone when `value` is `None`) to
    /// `partition` of `topic` in the open transaction, waiting while the
    /// producer's queue is full.
    pub fn send_progress(&self, topic: &str, partition: i32, key: &[u8], value: Option<&[u8]>) -> Result<(), TxnError> {
        let mut record =
            BaseRecord::<[u8], [u8], usize>::with_opaque_to(topic, PROGRESS_OPAQUE).key(key).partition(partition);
        if let Some(value) = value {
            record = record.payload(value);
        }
        match self.produce(record, || false) {
            Err(Produce::Error(e)) => Err(self.txn_error(&e)),
            Ok(()) | Err(Produce::Stopped) => Ok(()),
        }
    }

    /// Adds `offsets` of the consumer group of `group` to the open
    /// transaction (KIP-447): the group coordinator refuses them, and so the
    /// commit, if `group`'s generation is no longer current, so a host that
    /// lost its partitions cannot commit work on their files.
    pub fn send_offsets(
        &self,
        offsets: &TopicPartitionList,
        group: &ConsumerGroupMetadata,
        deadline: Instant,
    ) -> Result<(), TxnError> {
        self.until(deadline, |p| p.send_offsets_to_transaction(offsets, group, CALL_TIMEOUT))
    }

    /// Whether the producer's fatal error is a fencing, and its reason.
    pub fn fenced(&self) -> Option<String> {
        let (code, reason) = self.producer.client().fatal_error()?;
        is_fencing(code).then(|| self.producer.context().scrub(&reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fencing_codes_are_told_from_other_failures() {
        assert!(is_fencing(RDKafkaErrorCode::Fenced));
        assert!(is_fencing(RDKafkaErrorCode::ProducerFenced));
        assert!(!is_fencing(RDKafkaErrorCode::RequestTimedOut));
        let error = KafkaError::MessageProduction(RDKafkaErrorCode::ProducerFenced);
        assert!(matches!(TxnError::from_kafka(&error, str::to_owned), TxnError::Fenced(_)));
        let error = KafkaError::MessageProduction(RDKafkaErrorCode::InvalidConfig);
        assert!(matches!(TxnError::from_kafka(&error, str::to_owned), TxnError::Fatal(_)));
    }
}
