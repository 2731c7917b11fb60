//! The source thread: finds the landing zone's files, reads their lines,
//! hands on batches.
//!
//! It sees the zone only through [`LandingZone`]: on start it lists it,
//! then follows the zone's change reports, with a periodic rescan as
//! backup (`discover.rs`). Files are taken in arrival order (modification
//! time, then name, for files found by a rescan), at most 64 open at once
//! (`queue.rs`). Each file is read tail-style ([`tail`]) from its checkpointed offset; its unterminated last line is
//! taken once the file is complete: a writer closed it, or it has not grown
//! for `--settle-ms` (`active.rs`). A finished file that grows again is read
//! on from where it stopped, under whatever name it has now; one found
//! shorter than what was read of it was truncated, and is read again from
//! the start (`read.rs`). The source reads [`SourceConfig`] and the start-up
//! [`Checkpoint`](crate::progress::Checkpoint), and hands [`Batch`]es to
//! the transform stage over a bounded channel; a full channel stops reading,
//! which is how sink backpressure reaches the files. When the hosts of a
//! pipeline share the zone, only the files of this host's [`Share`] are
//! taken.
//!
//! A compressed file (by extension, [`decode`]) cannot be tailed: it is
//! read once it is complete, through its decoder, in one go; its offsets
//! count uncompressed bytes, so a resume decodes it again from the start
//! and skips what the checkpoint covers. Decoding that fails part-way
//! publishes the lines before the failure, dead-letters the rest with the
//! decoder's message, and finishes the file.
//!
//! An entry the zone refuses (a link, a FIFO, device or socket, a
//! pseudo-file) is skipped unread: one warning per entry, counted in
//! `sluice_files_skipped_total`, never a dead letter.

mod active;
pub mod decode;
mod discover;
mod queue;
mod read;
pub mod tail;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, select};

use crate::config::SourceConfig;
use crate::metrics::PipelineMetrics;
use crate::progress::kafka::Share;
use crate::progress::{CompletedFiles, FileProgress, Tracker};
use crate::record::{Batch, FileId, Head, Skip};
use crate::shutdown::Shutdown;
use crate::zone::{LandingZone, Watch};
use active::Active;
use queue::Queued;

/// Files held open at once; the rest wait their turn in arrival order.
const MAX_OPEN_FILES: usize = 64;
/// Shortest wait between polls, so a busy loop cannot form.
const MIN_WAIT: Duration = Duration::from_millis(5);
/// How often the backlog and the files being read are reported to the
/// metrics: often enough for a scrape, rarely enough that the `fstat` of
/// each open file costs nothing.
const REPORT_EVERY: Duration = Duration::from_millis(500);

/// Where a file stands in this run.
#[derive(Debug, Clone, Copy)]
enum FileState {
    /// Found, waiting to be opened and read from `offset`.
    Queued { offset: u64, line: u64 },
    /// Open and being read.
    Reading,
    /// Read up to `offset`: finished, or dropped after an error.
    Read { offset: u64, line: u64 },
    /// Refused once opened (a pseudo-file): never read again.
    Skipped,
}

/// The landing-zone reader; [`Source::run`] is its thread.
pub struct Source {
    zone: Arc<dyn LandingZone>,
    config: SourceConfig,
    /// The files this host owns, when the hosts of a pipeline share the
    /// landing zone (exactly-once mode); `None` takes every file.
    share: Option<Share>,
    out: Sender<Batch>,
    shutdown: Shutdown,
    tracker: Arc<Tracker>,
    resume: HashMap<FileId, FileProgress>,
    /// First-bytes fingerprints of files read, to spot a reused identity.
    heads: HashMap<FileId, Head>,
    files: HashMap<FileId, FileState>,
    /// Files to open, with when they were found and their unread bytes.
    queue: VecDeque<Queued>,
    /// Unread bytes of the queued files, when they were queued.
    queued_bytes: u64,
    next_report: Instant,
    active: Vec<Active>,
    closed_early: Vec<FileId>,
    /// Compressed files read to their end, with their size then: read
    /// again only if they change.
    decoded: HashMap<FileId, u64>,
    /// Files read to their end at least once: one appended to and read to
    /// its end again counts once in `files_finished`.
    finished: HashSet<FileId>,
    watch: Option<Watch>,
    next_rescan: Instant,
    missing_logged: bool,
    /// Entries refused, by path, so that each is warned about once; an
    /// entry gone from a rescan's listing is forgotten.
    skipped: HashMap<PathBuf, Skip>,
    /// Files read to their end, for `--clean-source`, and those it cleaned.
    completed: Arc<CompletedFiles>,
    metrics: Arc<PipelineMetrics>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("zone", &self.zone).finish_non_exhaustive()
    }
}

/// The transform stage is gone; it reports its own error.
struct Downstream;

impl Source {
    /// A source reading `zone`, resuming from the tracker's checkpoint,
    /// sending batches to `out`, reporting complete files to `completed`
    /// and counting into `metrics`.
    pub fn new(
        zone: Arc<dyn LandingZone>,
        config: SourceConfig,
        tracker: Arc<Tracker>,
        completed: Arc<CompletedFiles>,
        metrics: Arc<PipelineMetrics>,
        out: Sender<Batch>,
        shutdown: Shutdown,
    ) -> Self {
        let resume = tracker.snapshot().1.files;
        let heads = resume.iter().filter_map(|(id, p)| Some((*id, p.head?))).collect();
        Source {
            zone,
            config,
            share: None,
            out,
            shutdown,
            tracker,
            resume,
            heads,
            files: HashMap::new(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            next_report: Instant::now(),
            active: Vec::new(),
            closed_early: Vec::new(),
            decoded: HashMap::new(),
            finished: HashSet::new(),
            watch: None,
            next_rescan: Instant::now(),
            missing_logged: false,
            skipped: HashMap::new(),
            completed,
            metrics,
        }
    }

    /// Takes only the files of `share` (a host sharing the landing zone
    /// with others); without it every file is taken.
    pub fn sharing(mut self, share: Option<Share>) -> Self {
        self.share = share;
        self
    }

    /// Reads until shutdown, or until the transform stage is gone (which
    /// reports its own error); returns when intake has stopped.
    pub fn run(mut self) {
        while !self.shutdown.is_triggered() {
            if Instant::now() >= self.next_rescan
                || self.watch.as_ref().is_some_and(|w| w.overflowed.swap(false, Ordering::Relaxed))
            {
                self.rescan();
            }
            self.drain_changes();
            self.open_queued();
            let Ok(moved) = self.read_active() else {
                tracing::debug!("the transform stage is gone; the source stops");
                return;
            };
            self.report();
            if !moved {
                self.wait();
            }
        }
        tracing::debug!("source stopped taking new records");
    }

    /// Blocks until a change, shutdown, a settle deadline or the rescan.
    fn wait(&mut self) {
        let now = Instant::now();
        let settle = self.config.settle;
        let settle_due = self.active.iter().map(|a| a.last_growth + settle).min();
        let deadline = settle_due.map_or(self.next_rescan, |d| d.min(self.next_rescan));
        let timeout = deadline.saturating_duration_since(now).max(MIN_WAIT);
        let never = crossbeam_channel::never();
        let changes = self.watch.as_ref().map_or(&never, |w| &w.changes);
        select! {
            recv(changes) -> change => if let Ok(change) = change { self.apply(change) },
            recv(self.shutdown.signal()) -> _ => {},
            default(timeout) => {},
        }
    }
}
