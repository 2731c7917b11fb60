//! Ordered progress: turns Kafka acknowledgements into the per-file offsets
//! that are safe to save.
//!
//! Each batch sent is registered with [`Tracker::begin`] with the number of
//! messages it became (a record may become none, one or several, ABI v2's
//! emit-many, and every dead letter counts as one) and gets a sequence
//! number; librdkafka's delivery callback calls [`Tracker::acked`] once per
//! message, and a dead letter written to the file counts as acknowledged. A
//! batch, and so each of its records, is done only when every one of its
//! messages is. Batches complete in any order, but progress is applied
//! strictly in sequence order, so the checkpoint never passes a record that
//! Kafka has not acknowledged (Vector's file source does the same). Each
//! batch applied leaves the in-flight [`Window`], which bounds how many are
//! sent ahead. The checkpoint writer waits for progress with
//! [`Tracker::wait_progress`] and saves what [`Tracker::snapshot`] returns.
//!
//! In exactly-once mode the same ordering gives the progress a transaction
//! commits: once the producer is flushed, [`Tracker::snapshot`] covers
//! exactly what was sent. An aborted transaction [`Tracker::rewind`]s it to
//! the last commit; reports about messages of the batches it dropped are
//! ignored.

mod latency;

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prometheus_client::metrics::histogram::Histogram;

use super::window::Window;
use super::{Checkpoint, FileProgress};
use crate::record::{Batch, FileId, RecordMeta};
use latency::Latency;
pub use latency::Tally;

/// Shared between the sender, librdkafka's callback thread and the
/// checkpoint writer.
#[derive(Debug)]
pub struct Tracker {
    state: Mutex<State>,
    changed: Condvar,
    window: Arc<Window>,
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
    /// Files read to their end, for their found-to-acknowledged time.
    latency: Option<Latency>,
}

#[derive(Debug)]
struct Pending {
    progress: (FileId, FileProgress),
    /// Where each record of the batch came from, for dead letters.
    meta: Vec<RecordMeta>,
    outstanding: usize,
    /// What became of its records, for its file's finished line.
    tally: Tally,
    /// Not all of it was sent: it never completes, so progress stops here.
    abandoned: bool,
}

impl Tracker {
    /// A tracker starting from the loaded checkpoint, letting each batch it
    /// applies leave `window`.
    pub fn new(checkpoint: Checkpoint, window: Arc<Window>) -> Self {
        let state = State { front: 0, pending: VecDeque::new(), checkpoint, version: 0, failure: None, latency: None };
        Tracker { state: Mutex::new(state), changed: Condvar::new(), window }
    }

    /// Observes each finished file's found-to-acknowledged time into
    /// `file_ack_seconds` ([`Tracker::finished`]).
    pub fn timing_files(self, file_ack_seconds: Histogram) -> Self {
        self.lock().latency = Some(Latency::new(file_ack_seconds));
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The source read `file` to its end, up to `read_to`; it was found at
    /// `found`. Its found-to-acknowledged time is observed once every batch
    /// of it is acknowledged.
    pub fn finished(&self, file: FileId, read_to: u64, found: Instant) {
        let mut state = self.lock();
        if let Some(latency) = state.latency.as_mut() {
            latency.finished(file, read_to, found);
        }
        state.observe_latency();
    }

    /// Registers a batch whose `messages` are about to be sent (it has
    /// [`Window::enter`]ed), with what became of its records; returns its
    /// sequence number.
    pub fn begin(&self, batch: &Batch, messages: usize, tally: Tally) -> u64 {
        let mut state = self.lock();
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
            tally,
            abandoned: false,
        };
        state.pending.push_back(pending);
        let applied = state.advance();
        self.changed_by(state, applied);
        seq
    }

    /// One message of batch `seq` is acknowledged (or dead-lettered).
    pub fn acked(&self, seq: u64) {
        let mut state = self.lock();
        let Some(index) = state.index(seq) else { return };
        let pending = &mut state.pending[index];
        pending.outstanding -= 1;
        if pending.outstanding == 0 && index == 0 {
            let applied = state.advance();
            self.changed_by(state, applied);
        }
    }

    /// Kafka refused one message of batch `seq`: it is a dead letter, not
    /// published, in its file's tally.
    pub fn refused(&self, seq: u64) {
        let mut state = self.lock();
        let Some(index) = state.index(seq) else { return };
        let tally = &mut state.pending[index].tally;
        tally.published = tally.published.saturating_sub(1);
        tally.dead_letters += 1;
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
        let applied = if index == 0 { state.advance() } else { 0 };
        self.changed_by(state, applied);
    }

    /// Wakes the waiters after a change, and lets the `applied` batches
    /// leave the window.
    fn changed_by(&self, mut state: MutexGuard<'_, State>, applied: usize) {
        state.observe_latency();
        drop(state);
        self.changed.notify_all();
        self.window.leave(applied);
    }

    /// Where record `index` of batch `seq` came from: its file's path and
    /// its position. `None` once a rewind dropped the batch.
    pub fn origin(&self, seq: u64, index: usize) -> Option<(String, RecordMeta)> {
        let state = self.lock();
        let pending = &state.pending[state.index(seq)?];
        Some((pending.progress.1.path.clone(), *pending.meta.get(index)?))
    }

    /// Whether batch `seq` is still awaited (no rewind dropped it).
    pub fn is_open(&self, seq: u64) -> bool {
        self.lock().index(seq).is_some()
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

    /// The first delivery failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.lock().failure.clone()
    }

    /// Messages sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight()
    }

    /// Waits up to `timeout` until nothing is in flight, or a delivery
    /// failed; returns whether nothing is in flight.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            let in_flight = state.in_flight();
            let left = deadline.saturating_duration_since(Instant::now());
            if in_flight == 0 || state.failure.is_some() || left.is_zero() {
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

    /// Drops every batch in flight and goes back to `committed` (the last
    /// committed transaction's progress). Sequence numbers go on from where
    /// they were, so late reports about dropped batches are recognised and
    /// ignored.
    pub fn rewind(&self, committed: Checkpoint) {
        let mut state = self.lock();
        let dropped = state.pending.len();
        state.front += dropped as u64;
        state.pending.clear();
        state.checkpoint = committed;
        state.version += 1;
        drop(state);
        self.changed.notify_all();
        self.window.leave(dropped);
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

    /// Applies every fully acknowledged batch at the front, in order;
    /// returns how many.
    fn advance(&mut self) -> usize {
        let mut applied = 0;
        while self.pending.front().is_some_and(|p| p.outstanding == 0 && !p.abandoned) {
            let Pending { progress: (id, progress), tally, .. } = self.pending.pop_front().expect("front exists");
            if let Some(latency) = self.latency.as_mut() {
                latency.count(id, tally);
            }
            self.checkpoint.files.insert(id, progress);
            self.front += 1;
            self.version += 1;
            applied += 1;
        }
        applied
    }

    /// Observes the latency of every finished file now fully acknowledged,
    /// and logs its line.
    fn observe_latency(&mut self) {
        let State { latency: Some(latency), pending, checkpoint, .. } = self else { return };
        let done = latency.observe(checkpoint, |id| pending.iter().any(|p| p.progress.0 == id));
        done.into_iter().for_each(latency::log_finished);
    }
}

#[cfg(test)]
mod tests;
