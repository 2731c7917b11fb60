//! Each file's found-to-acknowledged time: the source reports a file it
//! read to its end ([`super::Tracker::finished`]), and the time is observed
//! the moment the progress covers it and none of its batches is still in
//! flight. It is measured here, as the tracker applies progress, because
//! that is the moment the file is acknowledged.

use std::collections::VecDeque;
use std::time::Instant;

use prometheus_client::metrics::histogram::Histogram;

use crate::progress::Checkpoint;
use crate::record::FileId;

/// Finished files awaiting their last acknowledgement; past this many
/// (their batches were abandoned) the oldest go.
const MAX_AWAITED: usize = 1024;

/// Finished files not yet fully acknowledged, and where their times go.
#[derive(Debug)]
pub(super) struct Latency {
    /// Read up to this offset, found at this time.
    awaited: VecDeque<(FileId, u64, Instant)>,
    histogram: Histogram,
}

impl Latency {
    pub(super) fn new(histogram: Histogram) -> Self {
        Latency { awaited: VecDeque::new(), histogram }
    }

    /// `file`, found at `found`, was read to `read_to`; a later report of
    /// the same file replaces this one once this one is observed.
    pub(super) fn finished(&mut self, file: FileId, read_to: u64, found: Instant) {
        if self.awaited.len() == MAX_AWAITED {
            self.awaited.pop_front();
        }
        self.awaited.push_back((file, read_to, found));
    }

    /// Observes the time of every awaited file that `checkpoint` covers and
    /// that has no batch `in_flight`.
    pub(super) fn observe(&mut self, checkpoint: &Checkpoint, in_flight: impl Fn(FileId) -> bool) {
        if self.awaited.is_empty() {
            return;
        }
        let histogram = &self.histogram;
        self.awaited.retain(|(id, read_to, found)| {
            let acked = checkpoint.files.get(id).is_some_and(|p| p.offset >= *read_to) && !in_flight(*id);
            if acked {
                histogram.observe(found.elapsed().as_secs_f64());
            }
            !acked
        });
    }
}
