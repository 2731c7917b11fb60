//! The steps of exactly-once delivery on the open transaction: commit,
//! abort and rewind, the group's changes and the owner check. They work on
//! a [`Txn`], so every step has the transaction in hand.

use std::time::{Duration, Instant};

use anyhow::bail;

use super::{ABORT_TIMEOUT, COMMIT_TIMEOUT, Doom, MAX_FAILED_IN_A_ROW, OWNER_CHECK, Txn};
use crate::progress::group::Change;
use crate::shutdown::Shutdown;
use crate::sink::{Sink, TxnError};

impl Txn<'_> {
    /// See [`Delivery::doom`](crate::pump::Delivery::doom).
    pub(in crate::pump) fn doom(&mut self, why: &str) {
        let replace = self.sink.fatal_error().is_some();
        self.txn.doomed.get_or_insert_with(|| Doom { why: why.to_owned(), replace, rebalanced: false });
    }

    /// See [`Delivery::transact`](crate::pump::Delivery::transact).
    pub(in crate::pump) fn transact(&mut self, shutdown: &Shutdown) -> anyhow::Result<()> {
        if let Some(change) = self.txn.share.next_change() {
            return self.finish_for(change, shutdown);
        }
        let txn = &self.txn;
        if txn.doomed.is_some() {
            return self.abort(shutdown);
        }
        if txn.due.is_some_and(|due| Instant::now() >= due) {
            return self.commit(shutdown);
        }
        if txn.due.is_none() && txn.last_commit.elapsed() >= OWNER_CHECK && !shutdown.is_triggered() {
            return self.check_owner(shutdown);
        }
        Ok(())
    }

    /// Commits the open transaction (aborts it if the partitions were lost)
    /// and has the pump return, for the pipeline to [`Delivery::reshare`](crate::pump::Delivery::reshare)
    /// before its next source.
    fn finish_for(&mut self, change: Change, shutdown: &Shutdown) -> anyhow::Result<()> {
        match &change {
            Change::Failed { reason, fenced: true } => return Err(self.txn.fenced(reason)),
            Change::Failed { reason, .. } => bail!("pipeline `{}`: {reason}", self.txn.pipeline),
            Change::Revoked { lost: true, .. } => {
                self.doom("this host's session timed out, so its partitions may be another host's");
            }
            _ => {}
        }
        self.txn.share.hold(change);
        if self.txn.doomed.is_some() {
            self.abort(shutdown)?;
        } else {
            self.commit(shutdown)?;
        }
        self.txn.rewound = true;
        Ok(())
    }

    /// Adds the offsets of the partitions this host owns to the open
    /// transaction with the group's generation (KIP-447), so that the
    /// commit fails if the group moved on without this host noticing, and a
    /// new owner's stable fetch waits for it.
    fn send_offsets(&self, deadline: Instant) -> Result<(), TxnError> {
        let share = &self.txn.share;
        let Some(offsets) = share.offsets(self.txn.store.topic()).map_err(|e| TxnError::Abort(e.to_string()))? else {
            return Ok(());
        };
        let generation = share.generation();
        let generation = generation.as_ref().ok_or_else(|| TxnError::Abort("not in the group yet".into()))?;
        self.sink.send_offsets(&offsets, generation, deadline)
    }

    /// Commits a transaction holding only the owner record, so that an idle
    /// instance that was fenced finds out and stops.
    fn check_owner(&mut self, shutdown: &Shutdown) -> anyhow::Result<()> {
        let (partition, key, value) = self.txn.store.owner_record(&self.txn.host_id);
        match self.sink.send_progress(self.txn.store.topic(), partition, &key, value.as_deref()) {
            Ok(()) => {}
            Err(TxnError::Fenced(reason)) => return Err(self.txn.fenced(&reason)),
            Err(e) => {
                self.doom(&e.to_string());
                return self.abort(shutdown);
            }
        }
        self.txn.due = Some(Instant::now());
        tracing::trace!("committing the owner record");
        self.commit(shutdown)
    }

    /// See [`Delivery::commit`](crate::pump::Delivery::commit).
    pub(in crate::pump) fn commit(&mut self, shutdown: &Shutdown) -> anyhow::Result<()> {
        if self.txn.due.is_none() && self.txn.doomed.is_none() {
            return Ok(());
        }
        let started = Instant::now();
        let deadline = started + COMMIT_TIMEOUT;
        if let Err(why) = self.flush(deadline) {
            self.doom(&why);
            return self.abort(shutdown);
        }
        let flushed = started.elapsed();
        let result =
            self.write_progress().and_then(|()| self.send_offsets(deadline)).and_then(|()| self.sink.commit(deadline));
        match result {
            Ok(()) => {
                self.committed();
                tracing::debug!(
                    commits = self.txn.counts.0,
                    flush_ms = flushed.as_secs_f64() * 1e3,
                    commit_ms = (started.elapsed() - flushed).as_secs_f64() * 1e3,
                    "transaction committed"
                );
                self.begin_next(shutdown)
            }
            Err(TxnError::Fenced(reason)) => Err(self.txn.fenced(&reason)),
            Err(e) => {
                let (replace, rebalanced) = (matches!(e, TxnError::Fatal(_)), matches!(e, TxnError::Generation(_)));
                self.txn.doomed = Some(Doom { why: e.to_string(), replace, rebalanced });
                self.abort(shutdown)
            }
        }
    }

    /// The transaction committed: its progress is the store's, and the
    /// operator's copy gets it.
    fn committed(&mut self) {
        let txn = &mut *self.txn;
        txn.store.committed();
        if let Some(copy) = &txn.on_commit {
            let _ = copy.send(txn.store.committed_checkpoint());
        }
        txn.counts.0 += 1;
        txn.failed_in_a_row = 0;
        txn.due = None;
        txn.last_commit = Instant::now();
    }

    /// Waits until every message of the transaction is acknowledged; the
    /// reason it cannot commit otherwise.
    fn flush(&mut self, deadline: Instant) -> Result<(), String> {
        loop {
            if let Some(reason) = self.sink.fatal_error() {
                return Err(reason);
            }
            if self.sink.has_redo() {
                let redo = self.sink.take_redo();
                return Err(format!("{} deliveries failed ({:?})", redo.len(), redo[0].action));
            }
            if let Some(doom) = &self.txn.doomed {
                return Err(doom.why.clone());
            }
            if self.tracker.in_flight() == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("messages were not acknowledged within {} s", COMMIT_TIMEOUT.as_secs()));
            }
            // Sends what lingers now, then waits on the tracker: the
            // producer's own `flush` polls in 100 ms steps, which a commit
            // every 50 ms cannot afford.
            self.sink.flush(Duration::ZERO);
            self.tracker.wait_idle(Duration::from_millis(100));
        }
    }

    /// Stages the tracker's progress in the store and sends its records
    /// into the open transaction.
    fn write_progress(&mut self) -> Result<(), TxnError> {
        let (_, checkpoint) = self.tracker.snapshot();
        self.txn.store.stage(&checkpoint);
        for (partition, key, value) in self.txn.store.take_records() {
            self.sink.send_progress(self.txn.store.topic(), partition, &key, value.as_deref())?;
        }
        Ok(())
    }

    fn begin_next(&mut self, shutdown: &Shutdown) -> anyhow::Result<()> {
        match self.sink.begin() {
            Ok(()) => Ok(()),
            Err(TxnError::Fenced(reason)) => Err(self.txn.fenced(&reason)),
            Err(e) => {
                self.doom(&e.to_string());
                self.abort(shutdown)
            }
        }
    }

    /// Aborts the doomed transaction (replacing the producer if it is
    /// broken), rewinds the tracker and the store to the last commit, and
    /// asks for the source to be rebuilt.
    fn abort(&mut self, shutdown: &Shutdown) -> anyhow::Result<()> {
        let Doom { why, mut replace, .. } = self.count_abort()?;
        tracing::warn!(reason = %why, "aborting the transaction; rewinding to the last commit");
        if let Some(reason) = self.sink.fenced() {
            return Err(self.txn.fenced(&reason));
        }
        if !replace {
            match self.sink.abort(Instant::now() + ABORT_TIMEOUT) {
                Ok(()) => {}
                Err(TxnError::Fenced(reason)) => return Err(self.txn.fenced(&reason)),
                Err(e) => {
                    tracing::warn!(error = %e, "the abort failed; replacing the producer");
                    replace = true;
                }
            }
        }
        self.txn.store.aborted();
        self.tracker.rewind(self.txn.store.committed_checkpoint());
        self.sink.take_redo();
        self.txn.rewound = true;
        if replace || self.sink.fatal_error().is_some() {
            tracing::warn!("replacing the Kafka producer; the new one fences the old and aborts its transaction");
            let (tracker, metrics) = (self.tracker.clone(), self.metrics.clone());
            *self.sink = Sink::connect(self.kafka, self.dead_letter_topic, tracker, metrics, None, shutdown)?;
            self.tracker.rewind(self.txn.store.committed_checkpoint());
            Ok(())
        } else {
            self.begin_next(shutdown)
        }
    }

    /// Counts the abort of the doomed transaction; an error once too many
    /// failed in a row. Returns why it is doomed.
    fn count_abort(&mut self) -> anyhow::Result<Doom> {
        let txn = &mut *self.txn;
        let doom = txn.doomed.take().unwrap_or_default();
        txn.rebalanced = doom.rebalanced;
        txn.counts.1 += 1;
        // A rebalance is not a broken stream: it does not count towards the
        // failures in a row that stop it.
        if !doom.rebalanced {
            txn.failed_in_a_row += 1;
        }
        txn.due = None;
        if txn.failed_in_a_row > MAX_FAILED_IN_A_ROW {
            bail!("{MAX_FAILED_IN_A_ROW} transactions in a row failed; the last because: {}", doom.why);
        }
        Ok(doom)
    }
}
