//! Reading the open files in turn, each as far as it goes, into batches
//! handed to the transform stage; retiring a file once it is complete (its
//! end reported to the tracker, for the latency and `--clean-source`), when
//! reading it fails (read again from the last record on a later scan) or
//! when the zone refuses it while it is read (never read again); and
//! reporting the backlog to the metrics.

use std::path::Path;
use std::time::Instant;

use super::{Downstream, FileState, REPORT_EVERY, Source};
use crate::metrics::FileView;
use crate::progress::Completed;
use crate::record::{Batch, Skip};
use crate::zone::refusal;

/// How soon a file whose read failed is looked at again, at most.
const READ_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// What reading one file did.
struct Step {
    moved: bool,
    done: bool,
}

enum ReadError {
    Downstream,
    Io(std::io::Error),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

impl Source {
    /// Reads every open file as far as it goes; returns whether anything moved.
    pub(super) fn read_active(&mut self) -> Result<bool, Downstream> {
        let mut progressed = false;
        let mut i = 0;
        while i < self.active.len() {
            if self.shutdown.is_triggered() {
                return Ok(progressed);
            }
            match self.read_file(i) {
                Ok(Step { moved, done }) => {
                    progressed |= moved;
                    if done {
                        self.finish(i);
                        continue;
                    }
                }
                Err(ReadError::Downstream) => return Err(Downstream),
                Err(ReadError::Io(e)) => {
                    match refusal(&e) {
                        Some(skip) => self.skip_active(i, skip),
                        None => {
                            let path = self.active[i].tail.path.clone();
                            tracing::error!(file = %path, error = %e, "read failed; will retry from the last record read");
                            self.retire(i);
                            // A rescan finds it again soon, even in an object
                            // store's zone that is rescanned in full rarely.
                            self.next_rescan = self.next_rescan.min(Instant::now() + READ_RETRY);
                        }
                    }
                    continue;
                }
            }
            i += 1;
        }
        Ok(progressed)
    }

    /// The open file `i` is read to its end: the tracker hears of it, and
    /// it is retired.
    fn finish(&mut self, i: usize) {
        let active = &self.active[i];
        let (file, read_to) = (active.tail.id, active.tail.offset());
        // A compressed file's offsets count uncompressed bytes; the
        // cleaner checks the size in the zone.
        let size = if active.compressed.is_some() { active.read_pos } else { read_to };
        if active.compressed.is_some() {
            self.decoded.insert(file, size);
        }
        let path = active.tail.path.clone();
        self.tracker.finished(file, read_to, active.found);
        self.completed.finished(Completed { file, path, read_to, size });
        if self.finished.insert(file) {
            self.metrics.files_finished.inc();
        }
        self.retire(i);
    }

    /// Drops the open file `i`, refused while reading: it is not read again.
    fn skip_active(&mut self, i: usize, skip: Skip) {
        self.next_report = Instant::now();
        let active = self.active.remove(i);
        self.refuse(Path::new(&*active.tail.path), skip);
        self.files.insert(active.tail.id, FileState::Skipped);
    }

    fn retire(&mut self, i: usize) {
        self.next_report = Instant::now();
        let active = self.active.remove(i);
        let (offset, line) = active.tail.resume_point();
        self.heads.insert(active.tail.id, active.head);
        self.files.insert(active.tail.id, FileState::Read { offset, line });
    }

    fn read_file(&mut self, i: usize) -> Result<Step, ReadError> {
        let settle = self.config.settle;
        let (out, shutdown) = (&self.out, &self.shutdown);
        let metrics = &self.metrics;
        let active = &mut self.active[i];
        let start = active.tail.offset();
        loop {
            if shutdown.is_triggered() {
                return Ok(Step { moved: true, done: false });
            }
            let mut batch = Batch::new(active.tail.id, active.tail.path.clone());
            let before = active.tail.offset();
            let filled = active.fill(&mut batch, settle);
            // Lines taken into the batch are handed over even if reading
            // then failed: the tail's offset has already moved past them.
            if batch.end_offset > 0 || !batch.rejects.is_empty() {
                metrics.records_read.inc_by((batch.len() + batch.rejects.len()) as u64);
                metrics.bytes_read.inc_by(active.tail.offset().saturating_sub(before));
                out.send(batch).map_err(|_| ReadError::Downstream)?;
            }
            let filled = filled?;
            if filled.truncated {
                let size = active.tail.file().size()?;
                tracing::warn!(file = %active.tail.path, size, was = active.read_pos, "file was truncated; reading it again from the start");
                active.tail.restart()?;
                active.read_pos = 0;
                active.head = active.tail.file().head()?;
                // Back to the main loop, which checks for shutdown: a file
                // found truncated again is read again only on a later turn.
                return Ok(Step { moved: true, done: false });
            }
            if filled.eof {
                return Ok(Step { moved: active.tail.offset() != start || filled.grew, done: filled.done });
            }
        }
    }

    /// Reports the backlog and the files being read to the metrics, every
    /// [`REPORT_EVERY`] while reading, and at once when a file is queued or
    /// retired (the source may then wait long for the next event).
    pub(super) fn report(&mut self) {
        let now = Instant::now();
        if now < self.next_report {
            return;
        }
        self.next_report = now + REPORT_EVERY;
        let files: Vec<FileView> = self
            .active
            .iter()
            .map(|a| {
                let size = a.tail.file().size().unwrap_or(a.read_pos);
                // A compressed file waiting to be complete is not read yet.
                let waiting = a.compressed.is_some_and(|(_, started)| !started);
                let read = if waiting { 0 } else { a.tail.compressed_pos() };
                FileView { path: a.tail.path.to_string(), read, size }
            })
            .collect();
        let unread: u64 = files.iter().map(|f| f.size.saturating_sub(f.read)).sum();
        let metrics = &self.metrics;
        metrics.backlog_bytes.set((unread + self.queued_bytes) as i64);
        metrics.files_in_progress.set((self.active.len() + self.queue.len()) as i64);
        metrics.set_files(files);
    }
}
