//! Exactly-once delivery: the open Kafka transaction and its commits.
//!
//! Every batch the pump sends joins the open transaction. When
//! `--transaction-interval-ms` has passed (and at shutdown), [`Delivery::commit`](super::Delivery::commit)
//! flushes the producer, so the [`Tracker`]'s progress covers exactly what
//! the transaction holds, has the [`KafkaStore`] turn the files that moved
//! into progress records, adds them to the same transaction and commits.
//! Records, dead letters and progress thus become visible to a
//! `read_committed` consumer together, or never.
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
//!
//! [`Transactions`] keeps its state private. A [`Delivery`](super::Delivery) holds one in
//! exactly-once mode and none in at-least-once mode; the work is done by
//! `Txn`, the transaction borrowed with the producer and tracker it
//! commits through, so no step has to ask which mode it is in.

mod txn;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::config::{ExactlyOnce, KafkaConfig};
use crate::metrics::PipelineMetrics;
use crate::progress::group::{Link, Membership};
use crate::progress::kafka::Share;
use crate::progress::{Checkpoint, KafkaStore, Tracker};
use crate::sink::Sink;

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
const OWNER_CHECK: Duration = Duration::from_secs(2);

/// The open transaction's state: exactly-once delivery.
#[derive(Debug)]
pub struct Transactions {
    /// Where committed progress goes.
    store: KafkaStore,
    /// The pipeline, for messages.
    pipeline: String,
    /// This host's id, for its owner record.
    host_id: String,
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
    counts: (u64, u64),
    /// Receives the progress of each commit (for the operator's copy).
    on_commit: Option<Sender<Checkpoint>>,
    /// This host's share of the pipeline's files.
    share: Membership,
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

impl Transactions {
    /// Transactions of `eos`'s pipeline into `store`, owning what `link`'s
    /// group assigns (nothing until it does); each commit's progress goes
    /// to `on_commit`.
    pub fn new(store: KafkaStore, eos: &ExactlyOnce, link: Link, on_commit: Sender<Checkpoint>) -> Self {
        Transactions {
            store,
            pipeline: eos.pipeline.clone(),
            host_id: eos.host_id.clone(),
            interval: eos.transaction_interval,
            due: None,
            doomed: None,
            rewound: false,
            rebalanced: false,
            failed_in_a_row: 0,
            last_commit: Instant::now(),
            counts: (0, 0),
            on_commit: Some(on_commit),
            share: Membership::new(link),
        }
    }

    /// The offsets topic, which modules may not write to.
    pub fn offsets_topic(&self) -> &str {
        self.store.topic()
    }

    /// The error a fenced process stops with.
    fn fenced(&self, reason: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "another instance of pipeline `{}` took over (its producer fenced this one: {reason}); stopping. This \
             process's open transaction is aborted, and the other instance resumes from the last commit",
            self.pipeline
        )
    }

    /// Makes the ownership change the group asked for, if one is held, and
    /// rewinds `tracker` to what this host now owns (dropping the redo
    /// queue of `sink`, whose messages the rewind gives up); the files the
    /// next source takes.
    pub(in crate::pump) fn reshare(&mut self, tracker: &Tracker, sink: &Sink, metrics: &PipelineMetrics) -> Share {
        if self.share.apply(&mut self.store) {
            let committed = self.store.committed_checkpoint();
            metrics.set_owned(self.share.owned().collect(), committed.files.len());
            tracker.rewind(committed);
            sink.take_redo();
        }
        self.store.share(self.share.owned())
    }
}

/// The open transaction with the producer and tracker it commits through,
/// borrowed from a [`Delivery`](super::Delivery) in exactly-once mode.
pub(in crate::pump) struct Txn<'a> {
    txn: &'a mut Transactions,
    sink: &'a mut Sink,
    tracker: &'a Arc<Tracker>,
    metrics: &'a Arc<PipelineMetrics>,
    kafka: &'a KafkaConfig,
    dead_letter_topic: Option<&'a str>,
}

impl Transactions {
    /// The open transaction with the producer and tracker it commits
    /// through: what the pump's [`Delivery`](super::Delivery) lends it.
    pub(in crate::pump) fn borrowed<'a>(
        &'a mut self,
        sink: &'a mut Sink,
        tracker: &'a Arc<Tracker>,
        metrics: &'a Arc<PipelineMetrics>,
        kafka: &'a KafkaConfig,
        dead_letter_topic: Option<&'a str>,
    ) -> Txn<'a> {
        Txn { txn: self, sink, tracker, metrics, kafka, dead_letter_topic }
    }

    /// A batch joined the open transaction: it is due an interval from now,
    /// if it was not already.
    pub(in crate::pump) fn joined(&mut self) {
        self.due.get_or_insert_with(|| Instant::now() + self.interval);
    }

    /// When the open transaction is due to commit, if anything joined it.
    pub(in crate::pump) fn due(&self) -> Option<Instant> {
        self.due
    }

    /// Whether the pump must stop for the source to be rebuilt; clears it.
    pub(in crate::pump) fn take_rewind(&mut self) -> bool {
        std::mem::take(&mut self.rewound)
    }

    /// Whether the last abort was because the pipeline's group rebalanced.
    pub(in crate::pump) fn aborted_by_rebalance(&self) -> bool {
        self.rebalanced
    }

    /// Whether the transaction is doomed or was rewound: the pump stops.
    pub(in crate::pump) fn rewinding(&self) -> bool {
        self.rewound || self.doomed.is_some()
    }

    /// Transactions committed and aborted so far.
    pub(in crate::pump) fn counts(&self) -> (u64, u64) {
        self.counts
    }

    /// Commits are no longer copied for the operator (which lets the
    /// copy's writer finish).
    pub(in crate::pump) fn stop_copying(&mut self) {
        self.on_commit = None;
    }
}
