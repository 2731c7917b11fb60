//! Exactly-once delivery: the open Kafka transaction and its commits.
//!
//! Every batch the pump sends joins the open transaction. When
//! `--transaction-interval-ms` has passed (and at shutdown), [`Delivery::commit`]
//! flushes the producer, so the [`Tracker`](crate::progress::Tracker)'s
//! progress covers exactly what the transaction holds, has the
//! [`KafkaStore`] turn the files that moved into progress records, adds them
//! to the same transaction and commits. Records, dead letters and progress
//! thus become visible to a `read_committed` consumer together, or never.
//!
//! A failed delivery, an abortable commit error or a fatal producer error
//! dooms the transaction: it is aborted (or the producer replaced, which
//! aborts it on the broker), the tracker and the store go back to the last
//! commit, and the pump returns so the pipeline rebuilds the source from the
//! committed progress. Rebuilding is the simplest rewind that is plainly
//! correct: the source's read-ahead, open files and queue all lie past the
//! commit, and a fresh source from a checkpoint is the path every restart
//! already takes. A fencing stops the stream with an error naming the
//! pipeline, and the fenced process never fences back.

use std::time::{Duration, Instant};

use anyhow::bail;

use std::collections::BTreeMap;

use rdkafka::{Offset, TopicPartitionList};

use super::Delivery;
use crate::pipeline::group::{Change, Link};
use crate::progress::kafka::Share;
use crate::progress::{CheckpointStore, KafkaStore};
use crate::shutdown::Shutdown;
use crate::sink::{Sink, TxnError};

/// How long a commit (its flush included) may keep retrying.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long an abort may keep retrying before the producer is replaced.
const ABORT_TIMEOUT: Duration = Duration::from_secs(30);
/// Transactions in a row that may fail before the stream stops: a failure
/// that a rewind cannot cure (a deleted topic) must not loop forever.
const MAX_FAILED_IN_A_ROW: u32 = 10;
/// How long an instance may stay without a commit before it commits its
/// owner record alone. A fenced producer only learns of the fencing from the
/// broker, and an idle one would send nothing: this bounds how long a zombie
/// lingers once its work has moved to the instance that fenced it.
pub const OWNER_CHECK: Duration = Duration::from_secs(2);

/// The open transaction's state.
#[derive(Debug)]
pub struct Transactions {
    /// Where committed progress goes.
    pub store: KafkaStore,
    /// The pipeline, for messages.
    pub pipeline: String,
    /// This host's id, for its owner record.
    pub host_id: String,
    interval: Duration,
    /// When the open transaction is due to commit, if anything joined it.
    due: Option<Instant>,
    /// Why the open transaction cannot commit.
    doomed: Option<Doom>,
    /// The source must be rebuilt from the last commit.
    rewound: bool,
    /// The last abort was the group's doing: it rebalanced, and the
    /// coordinator refused this host's offsets.
    rebalanced: bool,
    failed_in_a_row: u32,
    /// When the last transaction committed (or the instance started).
    last_commit: Instant,
    /// Transactions committed and aborted.
    pub counts: (u64, u64),
    /// Receives the progress of each commit (for the operator's copy).
    pub on_commit: Option<crossbeam_channel::Sender<crate::progress::Checkpoint>>,
    /// This host's share of the pipeline's files.
    pub share: Option<Membership>,
}

/// Why the open transaction cannot commit.
#[derive(Debug, Clone, Default)]
struct Doom {
    why: String,
    /// The producer is broken and must be replaced.
    replace: bool,
    /// The group rebalanced: not a failure of the stream.
    rebalanced: bool,
}

/// What this host owns in the pipeline's group.
#[derive(Debug)]
pub struct Membership {
    link: Link,
    /// The partitions owned, each with the offset its commits send.
    owned: BTreeMap<i32, i64>,
    /// A change for the pipeline to make before its next source starts.
    pending: Option<Change>,
}

impl Membership {
    /// Owning nothing until the group assigns partitions.
    pub fn new(link: Link) -> Self {
        Membership { link, owned: BTreeMap::new(), pending: None }
    }
}

impl Transactions {
    /// Transactions committing every `interval` into `store`.
    pub fn new(store: KafkaStore, pipeline: &str, host_id: &str, interval: Duration) -> Self {
        let pipeline = pipeline.to_owned();
        Transactions {
            store,
            pipeline,
            host_id: host_id.to_owned(),
            interval,
            due: None,
            doomed: None,
            rewound: false,
            rebalanced: false,
            failed_in_a_row: 0,
            last_commit: Instant::now(),
            counts: (0, 0),
            on_commit: None,
            share: None,
        }
    }

    /// The error a fenced process stops with.
    fn fenced(&self, reason: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "another instance of pipeline `{}` took over (its producer fenced this one: {reason}); stopping. This \
             process's open transaction is aborted, and the other instance resumes from the last commit",
            self.pipeline
        )
    }
}

impl Delivery {
    /// A batch joined the open transaction.
    pub(super) fn joined(&mut self) {
        if let Some(txn) = &mut self.txn {
            txn.due.get_or_insert_with(|| Instant::now() + txn.interval);
        }
    }

    /// Exactly-once mode: the open transaction cannot commit, for `why`.
    /// Returns whether that is so (false in at-least-once mode).
    pub fn doom(&mut self, why: &str) -> bool {
        let Some(txn) = &mut self.txn else { return false };
        let fatal = self.sink.fatal_error().is_some();
        txn.doomed.get_or_insert_with(|| Doom { why: why.to_owned(), replace: fatal, rebalanced: false });
        true
    }

    /// Whether the pump must stop for the source to be rebuilt; clears it.
    pub fn take_rewind(&mut self) -> bool {
        self.txn.as_mut().is_some_and(|t| std::mem::take(&mut t.rewound))
    }

    /// Whether the last abort was because the pipeline's group rebalanced.
    pub fn aborted_by_rebalance(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| t.rebalanced)
    }

    /// Whether the transaction is doomed or was rewound: the pump stops.
    pub fn rewinding(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| t.rewound || t.doomed.is_some())
    }

    /// How long the pump may wait for a batch before the commit is due.
    pub(super) fn tick(&self, longest: Duration) -> Duration {
        let due = self.txn.as_ref().and_then(|t| t.due);
        due.map_or(longest, |due| due.saturating_duration_since(Instant::now()).min(longest))
    }

    /// Commits if due, or aborts and rewinds if doomed; first finishes the
    /// open transaction if the group changed what this host owns.
    pub(super) fn transact(&mut self, shutdown: &Shutdown) -> anyhow::Result<()> {
        if let Some(change) = self.next_change() {
            return self.finish_for(change, shutdown);
        }
        let Some(txn) = &self.txn else { return Ok(()) };
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

    /// The group's next change of what this host owns, unless one waits.
    fn next_change(&mut self) -> Option<Change> {
        let share = self.txn.as_mut()?.share.as_mut()?;
        if share.pending.is_some() {
            return None;
        }
        share.link.changes.try_recv().ok()
    }

    /// Commits the open transaction (aborts it if the partitions were lost)
    /// and has the pump return, for the pipeline to [`Delivery::reshare`]
    /// before its next source.
    fn finish_for(&mut self, change: Change, shutdown: &Shutdown) -> anyhow::Result<()> {
        let txn = self.txn.as_mut().expect("exactly-once mode");
        match &change {
            Change::Failed { reason, fenced: true } => return Err(txn.fenced(reason)),
            Change::Failed { reason, .. } => bail!("pipeline `{}`: {reason}", txn.pipeline),
            Change::Revoked { lost: true, .. } => {
                self.doom("this host's session timed out, so its partitions may be another host's");
            }
            _ => {}
        }
        let txn = self.txn.as_mut().expect("exactly-once mode");
        txn.share.as_mut().expect("a group member").pending = Some(change);
        if txn.doomed.is_some() {
            self.abort(shutdown)?;
        } else {
            self.commit(shutdown)?;
        }
        self.txn.as_mut().expect("exactly-once mode").rewound = true;
        Ok(())
    }

    /// Makes the ownership change the group asked for, between sources:
    /// adopts the progress of assigned partitions, or drops the files of
    /// revoked ones (and lets the rebalance go on). Returns the files the
    /// next source takes; `None` takes all (no group).
    pub fn reshare(&mut self) -> Option<Share> {
        let txn = self.txn.as_mut()?;
        let share = txn.share.as_mut()?;
        if let Some(change) = share.pending.take() {
            match change {
                Change::Assigned(restored) => {
                    let ends: BTreeMap<i32, i64> = restored.ends.iter().copied().collect();
                    for p in &restored.partitions {
                        share.owned.insert(*p, ends.get(p).copied().unwrap_or(0));
                    }
                    let (partitions, files) = (restored.partitions.clone(), restored.files());
                    txn.store.adopt(restored);
                    tracing::info!(?partitions, files, owned = ?share.owned.keys(), "took over partitions and their files");
                }
                Change::Revoked { partitions, done, .. } => {
                    for p in &partitions {
                        share.owned.remove(p);
                    }
                    let files = txn.store.release(&partitions);
                    tracing::info!(?partitions, files, owned = ?share.owned.keys(), "gave up partitions and their files");
                    drop(done);
                }
                Change::Failed { .. } => unreachable!("a failure stops the pump"),
            }
            let committed = txn.store.committed_checkpoint();
            self.metrics.set_owned(share.owned.keys().copied().collect(), committed.files.len());
            self.tracker.rewind(committed);
            self.sink.take_redo();
        }
        Some(txn.store.share(share.owned.keys().copied()))
    }

    /// Adds the offsets of the partitions this host owns to the open
    /// transaction with the group's generation (KIP-447), so that the
    /// commit fails if the group moved on without this host noticing, and a
    /// new owner's stable fetch waits for it.
    fn send_offsets(&self, deadline: Instant) -> Result<(), TxnError> {
        let txn = self.txn.as_ref().expect("exactly-once mode");
        let Some(share) = txn.share.as_ref().filter(|s| !s.owned.is_empty()) else { return Ok(()) };
        let mut offsets = TopicPartitionList::new();
        for (partition, offset) in &share.owned {
            offsets
                .add_partition_offset(txn.store.topic(), *partition, Offset::Offset(*offset))
                .map_err(|e| TxnError::Abort(e.to_string()))?;
        }
        let generation = share.link.generation.lock().unwrap_or_else(|e| e.into_inner());
        let generation = generation.as_ref().ok_or_else(|| TxnError::Abort("not in the group yet".into()))?;
        self.sink.send_offsets(&offsets, generation, deadline)
    }

    /// Commits a transaction holding only the owner record, so that an idle
    /// instance that was fenced finds out and stops.
    fn check_owner(&mut self, shutdown: &Shutdown) -> anyhow::Result<()> {
        let txn = self.txn.as_mut().expect("exactly-once mode");
        let (partition, key, value) = txn.store.owner_record(&txn.host_id);
        let topic = txn.store.topic().to_owned();
        match self.sink.send_progress(&topic, partition, &key, value.as_deref()) {
            Ok(()) => {}
            Err(TxnError::Fenced(reason)) => return Err(txn.fenced(&reason)),
            Err(e) => {
                self.doom(&e.to_string());
                return self.abort(shutdown);
            }
        }
        txn.due = Some(Instant::now());
        tracing::trace!("committing the owner record");
        self.commit(shutdown)
    }

    /// Flushes, writes the progress and commits the open transaction; on
    /// failure aborts and rewinds. Nothing to do if nothing joined it.
    pub fn commit(&mut self, shutdown: &Shutdown) -> anyhow::Result<()> {
        let Some(txn) = &mut self.txn else { return Ok(()) };
        if txn.due.is_none() && txn.doomed.is_none() {
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
        let txn = self.txn.as_mut().expect("exactly-once mode");
        match result {
            Ok(()) => {
                txn.store.committed();
                if let Some(copy) = &txn.on_commit {
                    let _ = copy.send(txn.store.committed_checkpoint());
                }
                txn.counts.0 += 1;
                txn.failed_in_a_row = 0;
                txn.due = None;
                txn.last_commit = Instant::now();
                tracing::debug!(
                    commits = txn.counts.0,
                    flush_ms = flushed.as_secs_f64() * 1e3,
                    commit_ms = (started.elapsed() - flushed).as_secs_f64() * 1e3,
                    "transaction committed"
                );
                self.begin_next(shutdown)
            }
            Err(TxnError::Fenced(reason)) => Err(txn.fenced(&reason)),
            Err(e) => {
                let (replace, rebalanced) = (matches!(e, TxnError::Fatal(_)), matches!(e, TxnError::Generation(_)));
                txn.doomed = Some(Doom { why: e.to_string(), replace, rebalanced });
                self.abort(shutdown)
            }
        }
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
            if let Some(doom) = self.txn.as_ref().and_then(|t| t.doomed.as_ref()) {
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

    fn write_progress(&mut self) -> Result<(), TxnError> {
        let txn = self.txn.as_mut().expect("exactly-once mode");
        let (_, checkpoint) = self.tracker.snapshot();
        txn.store.save(&checkpoint).expect("staging progress records cannot fail");
        let topic = txn.store.topic().to_owned();
        for (partition, key, value) in txn.store.take_records() {
            self.sink.send_progress(&topic, partition, &key, value.as_deref())?;
        }
        Ok(())
    }

    fn begin_next(&mut self, shutdown: &Shutdown) -> anyhow::Result<()> {
        match self.sink.begin() {
            Ok(()) => Ok(()),
            Err(TxnError::Fenced(reason)) => Err(self.txn.as_ref().expect("exactly-once mode").fenced(&reason)),
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
        let txn = self.txn.as_mut().expect("exactly-once mode");
        let Doom { why, mut replace, rebalanced } = txn.doomed.take().unwrap_or_default();
        txn.rebalanced = rebalanced;
        txn.counts.1 += 1;
        // A rebalance is not a broken stream: it does not count towards the
        // failures in a row that stop it.
        if !rebalanced {
            txn.failed_in_a_row += 1;
        }
        txn.due = None;
        if txn.failed_in_a_row > MAX_FAILED_IN_A_ROW {
            bail!("{MAX_FAILED_IN_A_ROW} transactions in a row failed; the last because: {why}");
        }
        tracing::warn!(reason = %why, "aborting the transaction; rewinding to the last commit");
        if let Some(reason) = self.sink.fenced() {
            return Err(txn.fenced(&reason));
        }
        if !replace {
            match self.sink.abort(Instant::now() + ABORT_TIMEOUT) {
                Ok(()) => {}
                Err(TxnError::Fenced(reason)) => return Err(txn.fenced(&reason)),
                Err(e) => {
                    tracing::warn!(error = %e, "the abort failed; replacing the producer");
                    replace = true;
                }
            }
        }
        txn.store.aborted();
        self.tracker.rewind(txn.store.committed_checkpoint());
        self.sink.take_redo();
        txn.rewound = true;
        if replace || self.sink.fatal_error().is_some() {
            tracing::warn!("replacing the Kafka producer; the new one fences the old and aborts its transaction");
            let (tracker, metrics) = (self.tracker.clone(), self.metrics.clone());
            self.sink = Sink::connect(&self.kafka, self.dead_letter_topic.as_deref(), tracker, metrics, shutdown)?;
            self.tracker.rewind(txn.store.committed_checkpoint());
            Ok(())
        } else {
            self.begin_next(shutdown)
        }
    }
}
