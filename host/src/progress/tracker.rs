//! Delivery tracking: turns Kafka acknowledgements into checkpoint progress.
//!
//! In exactly-once mode the same ordering gives the progress a transaction
//! commits: once the producer is flushed, [`Tracker::snapshot`] covers
//! exactly what was sent. An aborted transaction [`Tracker::rewind`]s it to
//! the last commit; reports about messages of the batches it dropped are
//! ignored.
//!
//! Each batch sent is registered with [`Tracker::begin`] with the number of
//! messages it became (a record may become none, one or several, ABI v2's
//! emit-many, and every dead letter counts as one) and gets a sequence
//! number; librdkafka's delivery callback calls [`Tracker::acked`] once per
//! message, and a dead letter written to the file counts as acknowledged. A
//! batch, and so each of its records, is done only when every one of its
//! messages is. Batches complete in any order, but progress is applied strictly
//! in sequence order, so the checkpoint never passes a record that Kafka has
//! not acknowledged (Vector's file source does the same). The number of
//! batches in flight is bounded: a full window blocks the sender, which is
//! the backpressure that reaches the source through the batch channel.

mod clean;

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Checkpoint, FileProgress};
use crate::metrics::PipelineMetrics;
use crate::record::{Batch, FileId, OwnedMessage, RecordMeta};
pub use clean::Completed;

/// Batches sent but not fully acknowledged. With batches of at most 1 MiB
/// this bounds what librdkafka holds for us to about 32 MiB, while keeping
/// enough in flight to fill the producer's pipeline.
pub const MAX_IN_FLIGHT: usize = 32;
/// Finished files awaiting their last acknowledgement, for the latency
/// histogram; past this many (their batches were abandoned) the oldest go.
const MAX_FINISHED_AWAITED: usize = 1024;

/// Shared between the sender, librdkafka's callback thread and the
/// checkpoint writer.
#[derive(Debug)]
pub struct Tracker {
    state: Mutex<State>,
    changed: Condvar,
    metrics: Arc<PipelineMetrics>,
}

#[derive(Debug)]
struct State {
    /// Sequence number of `pending[0]`.
    front: u64,
    pending: VecDeque<Pending>,
    checkpoint: Checkpoint,
    /// Bumped whenever `checkpoint` changes.
    version: u64,
    failure: Option<String>,
    /// Messages handed back by librdkafka for the pump to deal with.
    redo: Vec<Redo>,
    /// The checkpoint cannot be saved (a full disk): no new batch starts.
    paused: bool,
    /// Files read to their end: read up to this offset, found at this time.
    finished: VecDeque<(FileId, u64, Instant)>,
    /// Complete files on their way to `--clean-source`.
    clean: clean::CleanState,
}

impl State {
    fn must_wait(&self) -> bool {
        self.paused || self.pending.len() >= MAX_IN_FLIGHT
    }
}

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

#[derive(Debug)]
struct Pending {
    progress: (FileId, FileProgress),
    /// Where each record of the batch came from, for dead letters.
    meta: Vec<RecordMeta>,
    outstanding: usize,
    /// Not all of it was sent: it never completes, so progress stops here.
    abandoned: bool,
}

impl Tracker {
    /// A tracker starting from the loaded checkpoint, counting into no registry.
    pub fn new(checkpoint: Checkpoint) -> Self {
        Self::with_metrics(checkpoint, PipelineMetrics::detached())
    }

    /// A tracker starting from the loaded checkpoint, and the pipeline's
    /// metrics, which every stage reaches through it.
    pub fn with_metrics(checkpoint: Checkpoint, metrics: Arc<PipelineMetrics>) -> Self {
        let state = State {
            front: 0,
            pending: VecDeque::new(),
            checkpoint,
            version: 0,
            failure: None,
            redo: Vec::new(),
            paused: false,
            finished: VecDeque::new(),
            clean: clean::CleanState::default(),
        };
        Tracker { state: Mutex::new(state), changed: Condvar::new(), metrics }
    }

    /// The pipeline's metrics.
    pub fn metrics(&self) -> &Arc<PipelineMetrics> {
        &self.metrics
    }

    /// The source read `file` to its end (it is complete); it was found at
    /// `found`. Its found-to-acknowledged time is observed once every batch
    /// of it is acknowledged, and with `--clean-source` it waits for a saved
    /// checkpoint to cover it ([`Tracker::take_durable`]). A later report of
    /// the same file (it grew, or was truncated and read again) replaces this one.
    pub fn finished(&self, file: Completed, found: Instant) {
        let mut state = self.lock();
        if state.finished.len() == MAX_FINISHED_AWAITED {
            state.finished.pop_front();
        }
        state.finished.push_back((file.file, file.read_to, found));
        self.observe_finished(&mut state);
        if let Some(completed) = state.clean.completed.as_mut() {
            completed.insert(file.file, file);
        }
    }

    /// Observes the latency of every finished file now fully acknowledged.
    fn observe_finished(&self, state: &mut State) {
        if state.finished.is_empty() {
            return;
        }
        let pending: Vec<FileId> = state.pending.iter().map(|p| p.progress.0).collect();
        let checkpoint = &state.checkpoint;
        state.finished.retain(|(id, read_to, found)| {
            let acked = checkpoint.files.get(id).is_some_and(|p| p.offset >= *read_to) && !pending.contains(id);
            if acked {
                self.metrics.file_ack_seconds.observe(found.elapsed().as_secs_f64());
            }
            !acked
        });
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a batch whose `messages` are about to be sent; waits while
    /// the in-flight window is full, calling `while_waiting` every 50 ms
    /// (which returns true to give up). Returns the batch's sequence number,
    /// or `None` if it gave up.
    pub fn begin(&self, batch: &Batch, messages: usize, mut while_waiting: impl FnMut() -> bool) -> Option<u64> {
        let mut state = self.lock();
        while state.must_wait() {
            state = self.changed.wait_timeout(state, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner()).0;
            if !state.must_wait() {
                break;
            }
            drop(state);
            let give_up = while_waiting();
            state = self.lock();
            if give_up {
                return None;
            }
        }
        let seq = state.front + state.pending.len() as u64;
        let progress = FileProgress {
            path: batch.path.to_string(),
            offset: batch.end_offset,
            line: batch.end_line,
            head: batch.head,
        };
        let pending = Pending {
            progress: (batch.file, progress),
            meta: batch.meta.clone(),
            outstanding: messages,
            abandoned: false,
        };
        state.pending.push_back(pending);
        state.advance();
        self.observe_finished(&mut state);
        drop(state);
        self.changed.notify_all();
        Some(seq)
    }

    /// Hands a failed message back for the pump to retry or dead-letter;
    /// `record` is its index in the batch (`None` for a dead letter).
    pub fn redo(&self, seq: u64, record: Option<usize>, message: OwnedMessage, action: RedoAction) {
        let mut state = self.lock();
        let Some(index) = state.index(seq) else { return };
        let pending = &state.pending[index];
        let origin = record.map(|r| (r, pending.progress.1.path.clone(), pending.meta[r]));
        state.redo.push(Redo { seq, origin, message, action });
        drop(state);
        self.changed.notify_all();
    }

    /// Takes the messages waiting to be retried or dead-lettered.
    pub fn take_redo(&self) -> Vec<Redo> {
        std::mem::take(&mut self.lock().redo)
    }

    /// One message of batch `seq` is acknowledged (or dead-lettered).
    pub fn acked(&self, seq: u64) {
        let mut state = self.lock();
        let Some(index) = state.index(seq) else { return };
        let pending = &mut state.pending[index];
        pending.outstanding -= 1;
        if pending.outstanding == 0 && index == 0 {
            state.advance();
            self.observe_finished(&mut state);
            drop(state);
            self.changed.notify_all();
        }
    }

    /// Shutdown stopped the sending of batch `seq` with `unsent` messages
    /// left: they are no longer awaited, and the checkpoint never passes
    /// them, so a restart reads them again.
    ///
    /// With `resume_at`, the record where sending stopped, the batch instead
    /// completes as though it ended just before that record, so what was
    /// sent is not sent again.
    pub fn abandon(&self, seq: u64, unsent: usize, resume_at: Option<RecordMeta>) {
        let mut state = self.lock();
        let Some(index) = state.index(seq) else { return };
        let pending = &mut state.pending[index];
        pending.outstanding -= unsent;
        match resume_at {
            Some(record) => (pending.progress.1.offset, pending.progress.1.line) = (record.offset, record.line - 1),
            None => pending.abandoned = true,
        }
        if index == 0 {
            state.advance();
            self.observe_finished(&mut state);
        }
        drop(state);
        self.changed.notify_all();
    }

    /// A message could not be delivered: the stream must stop without the
    /// checkpoint passing it.
    pub fn failed(&self, reason: String) {
        let mut state = self.lock();
        state.failure.get_or_insert(reason);
        drop(state);
        self.changed.notify_all();
    }

    /// Removes a file that left the landing zone from the checkpoint, once
    /// every batch of it read so far (up to `read_to`) is acknowledged;
    /// returns whether it was removed (or was never there).
    pub fn forget(&self, file: FileId, read_to: u64) -> bool {
        let mut state = self.lock();
        if state.pending.iter().any(|p| p.progress.0 == file) {
            return false;
        }
        match state.checkpoint.files.get(&file) {
            Some(progress) if progress.offset != read_to => false,
            Some(_) => {
                state.checkpoint.files.remove(&file);
                state.version += 1;
                drop(state);
                self.changed.notify_all();
                true
            }
            None => true,
        }
    }

    /// Pauses new batches while the checkpoint cannot be saved, so the
    /// stream does not run ahead of what a restart would know.
    pub fn set_paused(&self, paused: bool) {
        self.metrics.health.checkpoint_blocked(paused);
        self.lock().paused = paused;
        self.changed.notify_all();
    }

    /// The first delivery failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.lock().failure.clone()
    }

    /// Messages sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight()
    }

    /// Waits up to `timeout` until nothing is in flight, or a delivery
    /// failed or must be redone; returns whether nothing is in flight.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            let in_flight = state.in_flight();
            let left = deadline.saturating_duration_since(Instant::now());
            if in_flight == 0 || state.failure.is_some() || !state.redo.is_empty() || left.is_zero() {
                return in_flight == 0;
            }
            state = self.changed.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Waits until the checkpoint moves past `seen` (or `timeout`); returns
    /// its new version and a copy to save.
    pub fn wait_progress(&self, seen: u64, timeout: Duration) -> Option<(u64, Checkpoint)> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.version == seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = self.changed.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        Some((state.version, state.checkpoint.clone()))
    }

    /// Drops every batch in flight and the redo queue and goes back to
    /// `committed` (the last committed transaction's progress). Sequence
    /// numbers go on from where they were, so late reports about dropped
    /// batches are recognised and ignored.
    pub fn rewind(&self, committed: Checkpoint) {
        let mut state = self.lock();
        state.front += state.pending.len() as u64;
        state.pending.clear();
        state.redo.clear();
        state.checkpoint = committed;
        state.version += 1;
        drop(state);
        self.changed.notify_all();
    }

    /// Whether the redo queue holds anything.
    pub fn has_redo(&self) -> bool {
        !self.lock().redo.is_empty()
    }

    /// The current checkpoint and its version.
    pub fn snapshot(&self) -> (u64, Checkpoint) {
        let state = self.lock();
        (state.version, state.checkpoint.clone())
    }
}

impl State {
    /// Messages sent and not yet acknowledged.
    fn in_flight(&self) -> usize {
        self.pending.iter().map(|p| p.outstanding).sum()
    }

    /// Where batch `seq` is in `pending`; `None` for a batch a rewind dropped.
    fn index(&self, seq: u64) -> Option<usize> {
        let index = usize::try_from(seq.checked_sub(self.front)?).ok()?;
        (index < self.pending.len()).then_some(index)
    }

    /// Applies every fully acknowledged batch at the front, in order.
    fn advance(&mut self) {
        while self.pending.front().is_some_and(|p| p.outstanding == 0 && !p.abandoned) {
            let (id, progress) = self.pending.pop_front().expect("front exists").progress;
            self.checkpoint.files.insert(id, progress);
            self.front += 1;
            self.version += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::FileId;

    fn batch(ino: u64, end_offset: u64) -> Batch {
        let mut b = Batch::new(FileId { dev: 1, ino }, "f".into());
        b.end_offset = end_offset;
        b.end_line = end_offset / 10;
        b
    }

    fn offset(t: &Tracker, ino: u64) -> Option<u64> {
        t.snapshot().1.files.get(&FileId { dev: 1, ino }).map(|p| p.offset)
    }

    #[test]
    fn progress_only_moves_over_acknowledged_prefixes() {
        let t = Tracker::new(Checkpoint::default());
        let a = t.begin(&batch(1, 100), 2, || false).unwrap();
        let b = t.begin(&batch(1, 200), 1, || false).unwrap();
        let c = t.begin(&batch(2, 50), 0, || false).unwrap();
        assert_eq!((a, b, c), (0, 1, 2));
        t.acked(b);
        t.acked(a);
        assert_eq!(offset(&t, 1), None, "batch 0 still has a message out");
        assert_eq!(t.in_flight(), 1);
        t.acked(a);
        assert_eq!(offset(&t, 1), Some(200));
        assert_eq!(offset(&t, 2), Some(50));
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn a_record_of_several_messages_is_done_only_when_each_is() {
        let t = Tracker::new(Checkpoint::default());
        // Two records: the first became three messages, the second one
        // message and a dead letter for its unroutable other message.
        let a = t.begin(&batch(1, 100), 3 + 2, || false).unwrap();
        for _ in 0..4 {
            t.acked(a);
        }
        assert_eq!((offset(&t, 1), t.in_flight()), (None, 1), "one message is still out");
        t.acked(a);
        assert_eq!((offset(&t, 1), t.in_flight()), (Some(100), 0));
    }

    #[test]
    fn empty_batches_complete_at_once_but_in_order() {
        let t = Tracker::new(Checkpoint::default());
        let a = t.begin(&batch(1, 10), 1, || false).unwrap();
        t.begin(&batch(2, 99), 0, || false).unwrap();
        assert_eq!(offset(&t, 2), None);
        t.acked(a);
        assert_eq!(offset(&t, 2), Some(99));
    }

    #[test]
    fn abandoned_batches_stop_progress_but_are_not_awaited() {
        let t = Tracker::new(Checkpoint::default());
        let a = t.begin(&batch(1, 10), 3, || false).unwrap();
        let b = t.begin(&batch(1, 20), 1, || false).unwrap();
        t.acked(a);
        t.abandon(a, 2, None);
        t.acked(b);
        assert_eq!(t.in_flight(), 0);
        assert_eq!(offset(&t, 1), None);
    }

    #[test]
    fn a_batch_cut_short_keeps_the_progress_of_what_was_sent() {
        let t = Tracker::new(Checkpoint::default());
        let a = t.begin(&batch(1, 100), 3, || false).unwrap();
        t.acked(a);
        t.abandon(a, 2, Some(RecordMeta { line: 5, offset: 40 }));
        let progress = t.snapshot().1.files[&FileId { dev: 1, ino: 1 }].clone();
        assert_eq!((progress.offset, progress.line), (40, 4));
    }

    #[test]
    fn a_rewind_goes_back_to_the_commit_and_ignores_late_reports() {
        let t = Tracker::new(Checkpoint::default());
        let a = t.begin(&batch(1, 100), 1, || false).unwrap();
        t.acked(a);
        let committed = t.snapshot().1;
        let b = t.begin(&batch(1, 200), 2, || false).unwrap();
        t.acked(b);
        t.redo(b, None, OwnedMessage::default(), RedoAction::DeadLetter("x".into()));
        t.rewind(committed);
        assert_eq!((offset(&t, 1), t.in_flight(), t.has_redo()), (Some(100), 0, false));
        t.acked(b);
        t.abandon(b, 1, None);
        t.redo(b, None, OwnedMessage::default(), RedoAction::DeadLetter("x".into()));
        let c = t.begin(&batch(1, 300), 1, || false).unwrap();
        assert_eq!((c, t.has_redo()), (b + 1, false));
        t.acked(c);
        assert_eq!(offset(&t, 1), Some(300));
    }

    #[test]
    fn full_window_blocks_until_an_ack_or_give_up() {
        let t = std::sync::Arc::new(Tracker::new(Checkpoint::default()));
        for i in 0..MAX_IN_FLIGHT as u64 {
            t.begin(&batch(1, i), 1, || false).unwrap();
        }
        assert_eq!(t.begin(&batch(1, 999), 1, || true), None);
        let acker = t.clone();
        let handle = std::thread::spawn(move || acker.begin(&batch(1, 1000), 1, || false));
        let (seen, _) = t.snapshot();
        t.acked(0);
        assert_eq!(handle.join().unwrap(), Some(MAX_IN_FLIGHT as u64));
        assert!(t.wait_progress(seen, Duration::from_secs(5)).is_some());
    }
}
