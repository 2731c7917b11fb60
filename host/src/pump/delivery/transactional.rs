//! What the pump asks of the open transaction, in exactly-once mode; in
//! at-least-once mode, where a [`Delivery`] holds none, each is a no-op.

use std::time::{Duration, Instant};

use super::Delivery;
use crate::progress::kafka::Share;
use crate::pump::transaction::Txn;
use crate::shutdown::Shutdown;

impl Delivery {
    /// The open transaction, in exactly-once mode.
    fn transactional(&mut self) -> Option<Txn<'_>> {
        let (sink, tracker, metrics) = (&mut self.sink, &self.tracker, &self.metrics);
        let txn = self.txn.as_mut()?;
        Some(txn.borrowed(sink, tracker, metrics, &self.kafka, self.dead_letter_topic.as_deref()))
    }

    /// A batch joined the open transaction.
    pub(in crate::pump) fn joined(&mut self) {
        if let Some(txn) = &mut self.txn {
            txn.joined();
        }
    }

    /// Exactly-once mode: the open transaction cannot commit, for `why`.
    /// Returns whether that is so (false in at-least-once mode).
    pub fn doom(&mut self, why: &str) -> bool {
        self.transactional().map(|mut t| t.doom(why)).is_some()
    }

    /// Whether the pump must stop for the source to be rebuilt; clears it.
    pub fn take_rewind(&mut self) -> bool {
        self.txn.as_mut().is_some_and(|t| t.take_rewind())
    }

    /// Whether the last abort was because the pipeline's group rebalanced.
    pub fn aborted_by_rebalance(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| t.aborted_by_rebalance())
    }

    /// Whether the transaction is doomed or was rewound: the pump stops.
    pub fn rewinding(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| t.rewinding())
    }

    /// Exactly-once mode: transactions committed and aborted so far.
    pub fn transaction_counts(&self) -> Option<(u64, u64)> {
        self.txn.as_ref().map(|t| t.counts())
    }

    /// Exactly-once mode, at the end: commits are no longer copied for the
    /// operator (which lets the copy's writer finish).
    pub fn stop_copying(&mut self) {
        if let Some(txn) = &mut self.txn {
            txn.stop_copying();
        }
    }

    /// How long the pump may wait for a batch before the commit is due.
    pub(in crate::pump) fn tick(&self, longest: Duration) -> Duration {
        let due = self.txn.as_ref().and_then(|t| t.due());
        due.map_or(longest, |due| due.saturating_duration_since(Instant::now()).min(longest))
    }

    /// Commits if due, or aborts and rewinds if doomed; first finishes the
    /// open transaction if the group changed what this host owns.
    pub(in crate::pump) fn transact(&mut self, shutdown: &Shutdown) -> anyhow::Result<()> {
        self.transactional().map_or(Ok(()), |mut t| t.transact(shutdown))
    }

    /// Makes the ownership change the group asked for, between sources:
    /// adopts the progress of assigned partitions, or drops the files of
    /// revoked ones (and lets the rebalance go on). Returns the files the
    /// next source takes; `None` takes all (at-least-once mode).
    pub fn reshare(&mut self) -> Option<Share> {
        let txn = self.txn.as_mut()?;
        Some(txn.reshare(&self.tracker, &self.sink, &self.metrics))
    }

    /// Flushes, writes the progress and commits the open transaction; on
    /// failure aborts and rewinds. Nothing to do if nothing joined it.
    pub fn commit(&mut self, shutdown: &Shutdown) -> anyhow::Result<()> {
        self.transactional().map_or(Ok(()), |mut t| t.commit(shutdown))
    }
}
