//! Finished files: the source reports a file it read to its end
//! ([`super::Tracker::finished`]), and the moment the progress covers it
//! and none of its batches is still in flight, its found-to-acknowledged
//! time is observed and one INFO line tells what became of it (path,
//! records, published, filtered, dead letters, seconds). It is done here, as
//! the tracker applies progress, because that is the moment the file is
//! acknowledged; each batch's [`Tally`] is added to its file's as the batch
//! is applied, so a batch an aborted transaction dropped is not counted.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use prometheus_client::metrics::histogram::Histogram;

use crate::progress::Checkpoint;
use crate::record::FileId;

/// Finished files awaiting their last acknowledgement; past this many
/// (their batches were abandoned) the oldest go.
const MAX_AWAITED: usize = 1024;

/// What became of one batch's records, or of one file's.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Lines read, rejected ones included.
    pub records: u64,
    /// Messages sent to Kafka.
    pub published: u64,
    /// Records the transform dropped.
    pub filtered: u64,
    /// Records sent to the dead letters.
    pub dead_letters: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.records += other.records;
        self.published += other.published;
        self.filtered += other.filtered;
        self.dead_letters += other.dead_letters;
    }
}

/// Finished files not yet fully acknowledged, where their times go, and
/// the tally of each file since it last finished.
#[derive(Debug)]
pub(super) struct Latency {
    /// Read up to this offset, found at this time.
    awaited: VecDeque<(FileId, u64, Instant)>,
    histogram: Histogram,
    tallies: HashMap<FileId, Tally>,
}

impl Latency {
    pub(super) fn new(histogram: Histogram) -> Self {
        Latency { awaited: VecDeque::new(), histogram, tallies: HashMap::new() }
    }

    /// `file`, found at `found`, was read to `read_to`; a later report of
    /// the same file replaces this one once this one is observed.
    pub(super) fn finished(&mut self, file: FileId, read_to: u64, found: Instant) {
        if self.awaited.len() == MAX_AWAITED {
            self.awaited.pop_front();
        }
        self.awaited.push_back((file, read_to, found));
    }

    /// A batch of `file` was applied: its tally counts for the file.
    pub(super) fn count(&mut self, file: FileId, tally: Tally) {
        self.tallies.entry(file).or_default().add(tally);
    }

    /// Observes the time of every awaited file that `checkpoint` covers and
    /// that has no batch `in_flight`; returns each such file's path, tally
    /// and found-to-acknowledged seconds.
    pub(super) fn observe(
        &mut self,
        checkpoint: &Checkpoint,
        in_flight: impl Fn(FileId) -> bool,
    ) -> Vec<(String, Tally, f64)> {
        let mut done = Vec::new();
        let Latency { awaited, histogram, tallies } = self;
        awaited.retain(|(id, read_to, found)| {
            let Some(progress) = checkpoint.files.get(id).filter(|p| p.offset >= *read_to) else { return true };
            if in_flight(*id) {
                return true;
            }
            let seconds = found.elapsed().as_secs_f64();
            histogram.observe(seconds);
            done.push((progress.path.clone(), tallies.remove(id).unwrap_or_default(), seconds));
            false
        });
        done
    }
}

/// The INFO line of a file every record of which is acknowledged.
pub(super) fn log_finished((path, tally, seconds): (String, Tally, f64)) {
    let Tally { records, published, filtered, dead_letters } = tally;
    let seconds = (seconds * 10.0).round() / 10.0;
    tracing::info!(file = %path, records, published, filtered, dead_letters, seconds, "finished a file");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::FileProgress;

    #[test]
    fn a_finished_file_tallies_the_batches_applied_since_it_last_finished() {
        let mut latency = Latency::new(Histogram::new([1.0]));
        let id = FileId { dev: 1, ino: 1 };
        latency.count(id, Tally { records: 3, published: 1, filtered: 2, dead_letters: 0 });
        latency.count(id, Tally { records: 2, published: 1, filtered: 0, dead_letters: 1 });
        latency.finished(id, 20, Instant::now());
        let mut checkpoint = Checkpoint::default();
        assert!(latency.observe(&checkpoint, |_| false).is_empty(), "the progress does not cover it yet");
        checkpoint.files.insert(id, FileProgress { path: "in/a.json".into(), offset: 20, line: 5, head: None });
        assert!(latency.observe(&checkpoint, |_| true).is_empty(), "a batch of it is in flight");
        let tallies = |done: Vec<(String, Tally, f64)>| done.into_iter().map(|(p, t, _)| (p, t)).collect::<Vec<_>>();
        let five = Tally { records: 5, published: 2, filtered: 2, dead_letters: 1 };
        assert_eq!(tallies(latency.observe(&checkpoint, |_| false)), [("in/a.json".to_owned(), five)]);
        assert!(latency.observe(&checkpoint, |_| false).is_empty(), "once");

        // Appended to and read to its end again: only what came since.
        let one = Tally { records: 1, published: 1, filtered: 0, dead_letters: 0 };
        latency.count(id, one);
        latency.finished(id, 30, Instant::now());
        checkpoint.files.get_mut(&id).unwrap().offset = 30;
        assert_eq!(tallies(latency.observe(&checkpoint, |_| false)), [("in/a.json".to_owned(), one)]);
    }
}
