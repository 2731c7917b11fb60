//! The landing-zone source: finds files, reads their lines, hands on batches.
//!
//! On start it scans the directory, then follows `notify` events, with a
//! periodic rescan as backup ([`watch`]). Files are taken in arrival order
//! (modification time, then name, for files found by a scan). Each file is
//! read tail-style ([`tail`]) from its checkpointed offset; its unterminated
//! last line is taken once the file is complete: a writer closed it, or it
//! has not grown for `--settle-ms`. A finished file that grows again is read
//! on from where it stopped, under whatever name it has now; one found
//! shorter than what was read of it was truncated, and is read again from
//! the start. The source reads [`SourceConfig`] and the start-up
//! [`Checkpoint`](crate::progress::Checkpoint), and hands [`Batch`]es to
//! the transform stage over a bounded channel; a full channel stops reading,
//! which is how sink backpressure reaches the files.
//!
//! A compressed file (by extension, [`decode`]) cannot be tailed: it is
//! read once it is complete, through its decoder, in one go; its offsets
//! count uncompressed bytes, so a resume decodes it again from the start
//! and skips what the checkpoint covers. Decoding that fails part-way
//! publishes the lines before the failure, dead-letters the rest with the
//! decoder's message, and finishes the file. With `--recursive` the files
//! below sub-directories are taken too ([`walk`]).
//!
//! Only regular files inside the zone are read: entries are looked at and
//! opened below the zone's directory without following links ([`beneath`]).
//! A link (unless `--follow-symlinks` resolves it to a file inside the
//! zone), a FIFO, device or socket, and a pseudo-file are skipped unread:
//! one warning per entry, counted in `sluice_files_skipped_total`, never a
//! dead letter.

mod active;
pub mod beneath;
pub mod decode;
pub mod tail;
pub mod walk;
pub mod watch;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Sender, select};

use crate::config::SourceConfig;
use crate::metrics::{FileView, PipelineMetrics};
use crate::progress::FileProgress;
use crate::progress::Tracker;
use crate::progress::kafka::Share;
use crate::progress::{Completed, CompletedFiles};
use crate::record::Skip;
use crate::record::{Batch, FileId, Head};
use crate::shutdown::Shutdown;
use decode::Codec;
use tail::Tail;
use watch::{Change, Watch};

use active::Active;

/// Files held open at once; the rest wait their turn in arrival order.
const MAX_OPEN_FILES: usize = 64;
/// Shortest wait between polls, so a busy loop cannot form.
const MIN_WAIT: Duration = Duration::from_millis(5);
/// How often the backlog and the files being read are reported to the
/// metrics: often enough for a scrape, rarely enough that the `fstat` of
/// each open file costs nothing.
const REPORT_EVERY: Duration = Duration::from_millis(500);

/// Why the source stopped.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The transform stage is gone; it reports its own error.
    #[error("the transform stage stopped")]
    Downstream,
}

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
    config: SourceConfig,
    out: Sender<Batch>,
    shutdown: Shutdown,
    tracker: Arc<Tracker>,
    /// Files read to their end, for `--clean-source`, and those it cleaned.
    completed: Arc<CompletedFiles>,
    metrics: Arc<PipelineMetrics>,
    resume: HashMap<FileId, FileProgress>,
    /// First-bytes fingerprints of files read, to spot a reused inode.
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
    watch: Option<Watch>,
    next_rescan: Instant,
    missing_logged: bool,
    /// Entries refused, by path, so that each is warned about once; an
    /// entry gone from a rescan's listing is forgotten.
    skipped: HashMap<PathBuf, Skip>,
    /// The files this host owns, when the hosts of a pipeline share the
    /// landing zone (exactly-once mode); `None` takes every file.
    share: Option<Share>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("dir", &self.config.dir).finish_non_exhaustive()
    }
}

impl Source {
    /// A source resuming from the tracker's checkpoint, sending batches to
    /// `out`, reporting complete files to `completed` and counting into
    /// `metrics`.
    pub fn new(
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
            config,
            out,
            shutdown,
            tracker,
            completed,
            metrics,
            resume,
            heads,
            files: HashMap::new(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            next_report: Instant::now(),
            active: Vec::new(),
            closed_early: Vec::new(),
            decoded: HashMap::new(),
            watch: None,
            next_rescan: Instant::now(),
            missing_logged: false,
            skipped: HashMap::new(),
            share: None,
        }
    }

    /// Takes only the files of `share` (a host sharing the landing zone
    /// with others); without it every file is taken.
    pub fn sharing(mut self, share: Option<Share>) -> Self {
        self.share = share;
        self
    }

    /// Reads until shutdown; returns when intake has stopped.
    pub fn run(mut self) -> Result<(), SourceError> {
        while !self.shutdown.is_triggered() {
            if Instant::now() >= self.next_rescan
                || self.watch.as_ref().is_some_and(|w| w.overflowed.swap(false, Ordering::Relaxed))
            {
                self.rescan();
            }
            self.drain_changes();
            self.open_queued();
            let moved = self.read_active()?;
            self.report();
            if !moved {
                self.wait();
            }
        }
        tracing::debug!("source stopped taking new records");
        Ok(())
    }

    fn rescan(&mut self) {
        self.next_rescan = Instant::now() + self.config.rescan;
        if self.watch.is_none() {
            self.start_watch();
        }
        let entries = match walk::entries(&self.config.dir, self.config.recursive) {
            Ok(entries) => entries,
            Err(e) => return self.log_missing(&e),
        };
        let listed: HashSet<&PathBuf> = entries.iter().collect();
        self.skipped.retain(|path, _| listed.contains(path));
        let mut found: Vec<(SystemTime, PathBuf, FileId)> = entries
            .into_iter()
            .filter(|path| path.file_name().is_some_and(|name| self.wanted(name)))
            .filter_map(|path| {
                // The entry's own metadata: `consider` decides about links.
                // A link followed stands for its target, present by its identity.
                let meta = fs::symlink_metadata(&path).ok()?;
                let (path, meta) = match meta.is_symlink() && self.config.follow_symlinks {
                    true => self.look(&path).unwrap_or((path, meta)),
                    false => (path, meta),
                };
                Some((meta.modified().ok()?, path, FileId::of(&meta)))
            })
            .collect();
        found.sort();
        let present: HashSet<FileId> = found.iter().map(|(_, _, id)| *id).collect();
        tracing::debug!(files = found.len(), "rescanned the landing zone");
        for (_, path, _) in found {
            self.consider(path);
        }
        self.forget_deleted(&present);
    }

    /// Drops finished files that are no longer in the landing zone from the
    /// checkpoint, so a new file that reuses an inode starts from zero.
    fn forget_deleted(&mut self, present: &HashSet<FileId>) {
        let gone: Vec<(FileId, u64)> = self
            .files
            .iter()
            .filter_map(|(id, state)| match state {
                FileState::Read { offset, .. } if !present.contains(id) => Some((*id, *offset)),
                _ => None,
            })
            .collect();
        self.files.retain(|id, state| !matches!(state, FileState::Skipped) || present.contains(id));
        // Files of the start-up checkpoint that were gone by then (cleaned,
        // or deleted while the host was down) leave it too; not those only
        // left out by another --glob.
        let wanted = |p: &FileProgress| Path::new(&p.path).file_name().is_some_and(|n| self.wanted(n));
        let stale =
            self.resume.iter().filter(|(id, p)| !present.contains(*id) && !self.files.contains_key(*id) && wanted(p));
        let gone: Vec<(FileId, u64)> = gone.into_iter().chain(stale.map(|(id, p)| (*id, p.offset))).collect();
        for (id, read_to) in gone {
            if self.tracker.forget(id, read_to) {
                self.files.remove(&id);
                self.resume.remove(&id);
                self.heads.remove(&id);
                self.decoded.remove(&id);
            }
        }
    }

    /// Forgets the files `--clean-source` moved away or deleted, before a
    /// new file that may reuse one's inode is looked at.
    fn forget_cleaned(&mut self) {
        for id in self.completed.take_cleaned() {
            if matches!(self.files.get(&id), None | Some(FileState::Read { .. })) {
                self.files.remove(&id);
                self.resume.remove(&id);
                self.heads.remove(&id);
            }
        }
    }

    fn log_missing(&mut self, error: &std::io::Error) {
        if !self.missing_logged {
            tracing::warn!(dir = %self.config.dir.display(), %error, "cannot read the landing zone; retrying");
            self.missing_logged = true;
        }
    }

    fn start_watch(&mut self) {
        match watch::watch(&self.config.dir, self.config.recursive) {
            Ok(w) => {
                tracing::info!(dir = %self.config.dir.display(), "watching the landing zone");
                self.missing_logged = false;
                self.watch = Some(w);
            }
            Err(e) => tracing::debug!(error = %e, "watcher not started; relying on rescans"),
        }
    }

    /// Whether a directory entry's name is a data file to take.
    fn wanted(&self, name: &std::ffi::OsStr) -> bool {
        let Some(name) = name.to_str() else { return self.config.glob.is_none() };
        let temporary = name.starts_with('.') || name.ends_with(".tmp") || name.ends_with("._COPYING_");
        !temporary && self.config.glob.as_ref().is_none_or(|g| g.is_match(name))
    }

    /// Queues `path` if it is a regular file with unread bytes.
    fn consider(&mut self, path: PathBuf) {
        self.forget_cleaned();
        if self.config.recursive && walk::in_hidden_dir(&self.config.dir, &path) {
            return;
        }
        let Some((path, meta)) = self.inspect(path) else { return };
        if meta.is_dir() {
            if self.config.recursive && path != self.config.dir {
                // A directory created or moved in: its files may predate the watch on it.
                walk::entries(&path, true).unwrap_or_default().into_iter().for_each(|p| self.consider(p));
            }
            return;
        }
        if !path.file_name().is_some_and(|n| self.wanted(n)) {
            return;
        }
        if !meta.is_file() {
            return self.refuse(&path, Skip::NotARegularFile);
        }
        if self.share.as_ref().is_some_and(|share| !share.owns(&path)) {
            return;
        }
        let id = FileId::of(&meta);
        if let Some((offset, line)) = self.unread_from(id, meta.len(), &path) {
            if !self.files.contains_key(&id) {
                self.metrics.files_found.inc();
            }
            self.files.insert(id, FileState::Queued { offset, line });
            let unread = if Codec::of(&path).is_some() { meta.len() } else { meta.len().saturating_sub(offset) };
            self.queued_bytes += unread;
            self.queue.push_back(Queued { path, id, found: Instant::now(), unread });
            self.next_report = Instant::now();
        }
    }

    /// The entry at `path` as it may be read: its path (the real one below
    /// the zone, for a link followed) and its own metadata; `None`, after a
    /// warning for a refusal, when it is not to be read.
    fn inspect(&mut self, path: PathBuf) -> Option<(PathBuf, fs::Metadata)> {
        match self.look(&path) {
            Ok(found) => Some(found),
            Err(e) => {
                if let Some(skip) = beneath::refusal(&e) {
                    self.refuse(&path, skip);
                }
                None
            }
        }
    }

    /// [`Self::inspect`] without the warning.
    fn look(&self, path: &Path) -> std::io::Result<(PathBuf, fs::Metadata)> {
        let dir = &self.config.dir;
        let rel = beneath::below(dir, path)?;
        if rel.as_os_str().is_empty() {
            return Ok((dir.clone(), fs::metadata(dir)?));
        }
        let meta = beneath::look(dir, &rel)?;
        if !meta.is_symlink() {
            // The zone's own spelling, so that the cleaner finds it below the zone.
            return Ok((dir.join(rel), meta));
        }
        if !self.config.follow_symlinks {
            return Err(Skip::Symlink.into());
        }
        let real = beneath::inside(dir, &rel)?;
        Ok((dir.join(&real), beneath::look(dir, &real)?))
    }

    /// Warns once that `path` is not read, and counts it.
    fn refuse(&mut self, path: &Path, skip: Skip) {
        if self.skipped.insert(path.to_owned(), skip) != Some(skip) {
            tracing::warn!(entry = %path.display(), reason = skip.as_str(), "skipped a landing-zone entry: {}", skip.describe());
            self.metrics.skipped(skip);
        }
    }

    /// Reports the backlog and the files being read to the metrics, every
    /// [`REPORT_EVERY`] while reading, and at once when a file is queued or
    /// retired (the source may then wait long for the next event).
    fn report(&mut self) {
        let now = Instant::now();
        if now < self.next_report {
            return;
        }
        self.next_report = now + REPORT_EVERY;
        let files: Vec<FileView> = self
            .active
            .iter()
            .map(|a| {
                let size = a.tail.metadata().map_or(a.read_pos, |m| m.len());
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

    /// Where the start-up checkpoint left `id`: `(offset, line)`.
    fn resumed(&self, id: FileId) -> (u64, u64) {
        self.resume.get(&id).map_or((0, 0), |p| (p.offset, p.line))
    }

    /// Where to read a file of `len` bytes from, or `None` when it is queued,
    /// open, or has nothing new. A finished file shorter than what was read
    /// of it was truncated and rewritten: it is read again from the start.
    fn unread_from(&self, id: FileId, len: u64, path: &Path) -> Option<(u64, u64)> {
        if Codec::of(path).is_some() {
            return self.unread_compressed(id, len);
        }
        match self.files.get(&id) {
            None => Some(self.resumed(id)),
            Some(&FileState::Read { offset, line }) if len > offset => Some((offset, line)),
            Some(&FileState::Read { offset, .. }) if len < offset => {
                tracing::warn!(file = %path.display(), size = len, was = offset, "file was truncated; reading it again from the start");
                Some((0, 0))
            }
            Some(_) => None,
        }
    }

    /// [`Self::unread_from`] for a compressed file, whose offsets count
    /// uncompressed bytes: one read to its end is read again only if its
    /// size changed (a member appended; a rewrite is caught by its head).
    fn unread_compressed(&self, id: FileId, len: u64) -> Option<(u64, u64)> {
        match self.files.get(&id) {
            None => Some(self.resumed(id)),
            Some(&FileState::Read { offset, line }) if self.decoded.get(&id) != Some(&len) => Some((offset, line)),
            Some(_) => None,
        }
    }

    fn drain_changes(&mut self) {
        let Some(watch) = &self.watch else { return };
        let changes: Vec<Change> = watch.changes.try_iter().collect();
        for change in changes {
            self.apply(change);
        }
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::Touched(path) => self.consider(path),
            Change::Closed(path) => {
                let Ok((path, meta)) = self.look(&path) else { return self.consider(path) };
                let id = FileId::of(&meta);
                if let Some(active) = self.active.iter_mut().find(|a| a.tail.id == id) {
                    active.closed_at = Some(meta.len());
                    return;
                }
                self.consider(path);
                // Only a file about to be opened keeps the news: a stale
                // entry would end a later writer's file before it is done.
                let queued = matches!(self.files.get(&id), Some(FileState::Queued { .. }));
                if queued && !self.closed_early.contains(&id) {
                    self.closed_early.push(id);
                }
            }
        }
    }

    fn open_queued(&mut self) {
        while self.active.len() < MAX_OPEN_FILES {
            let Some(Queued { path, id, found, unread }) = self.queue.pop_front() else { return };
            self.queued_bytes -= unread;
            match self.open(&path, found) {
                Ok(Some(active)) => self.active.push(active),
                Ok(None) => {}
                Err(e) => match beneath::refusal(&e) {
                    Some(skip) => self.refuse(&path, skip),
                    None => {
                        tracing::warn!(file = %path.display(), error = %e, "cannot open; will retry on the next scan")
                    }
                },
            }
            self.unqueue(id);
        }
    }

    /// A queued file that was not opened (it cannot be read, or its path
    /// now names another file) goes back to where it stood, so that a later
    /// scan queues it again.
    fn unqueue(&mut self, id: FileId) {
        if let Some(FileState::Queued { offset, line }) = self.files.get(&id).copied() {
            self.files.insert(id, FileState::Read { offset, line });
            self.closed_early.retain(|c| *c != id);
        }
    }

    fn open(&mut self, path: &Path, found: Instant) -> std::io::Result<Option<Active>> {
        let file = beneath::open(&self.config.dir, &beneath::below(&self.config.dir, path)?)?;
        let meta = file.metadata()?;
        let id = FileId::of(&meta);
        let Some((offset, line)) = self.start_of(id, meta.len(), path) else { return Ok(None) };
        let (offset, line) = match self.heads.get(&id) {
            Some(head) if offset > 0 && !head.matches(&file)? => {
                tracing::warn!(file = %path.display(), "file reuses the inode of a file read before, with other content; reading it from the start");
                (0, 0)
            }
            _ => (offset, line),
        };
        let head = Head::of(&file)?;
        let path: Arc<str> = path.display().to_string().into();
        tracing::debug!(file = %path, offset, "reading");
        let compressed = Codec::of(Path::new(&*path)).map(|codec| (codec, false));
        let tail = Tail::new(file, id, path, offset, line, self.config.max_record_bytes)?;
        self.files.insert(id, FileState::Reading);
        let closed =
            self.closed_early.iter().position(|c| *c == id).map(|i| self.closed_early.swap_remove(i)).is_some();
        let closed_at = closed.then_some(meta.len());
        let read_pos = if compressed.is_some() { meta.len() } else { offset };
        Ok(Some(Active { tail, closed_at, head, read_pos, last_growth: Instant::now(), found, compressed }))
    }

    /// Where to start reading the opened file `id` of `len` bytes, or `None`
    /// if it is open already.
    fn start_of(&self, id: FileId, len: u64, path: &Path) -> Option<(u64, u64)> {
        let (offset, line) = match self.files.get(&id) {
            Some(FileState::Reading | FileState::Skipped) => return None,
            Some(FileState::Queued { offset, line } | FileState::Read { offset, line }) => (*offset, *line),
            None => self.resumed(id),
        };
        if offset > len && Codec::of(path).is_none() {
            tracing::warn!(file = %path.display(), offset, size = len, "file is shorter than its checkpoint; reading it from the start");
            return Some((0, 0));
        }
        Some((offset, line))
    }

    /// Reads every open file as far as it goes; returns whether anything moved.
    fn read_active(&mut self) -> Result<bool, SourceError> {
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
                        let active = &self.active[i];
                        let (file, read_to) = (active.tail.id, active.tail.offset());
                        // A compressed file's offsets count uncompressed
                        // bytes; the cleaner checks the size on disk.
                        let size = if active.compressed.is_some() { active.read_pos } else { read_to };
                        if active.compressed.is_some() {
                            self.decoded.insert(file, size);
                        }
                        let path = active.tail.path.clone();
                        self.tracker.finished(file, read_to, active.found);
                        self.completed.finished(Completed { file, path, read_to, size });
                        self.metrics.files_finished.inc();
                        self.retire(i);
                        continue;
                    }
                }
                Err(ReadError::Downstream) => return Err(SourceError::Downstream),
                Err(ReadError::Io(e)) => {
                    if let Some(skip) = beneath::refusal(&e) {
                        self.skip_active(i, skip);
                        continue;
                    }
                    let path = self.active[i].tail.path.clone();
                    tracing::error!(file = %path, error = %e, "read failed; will retry from the last record read");
                    self.retire(i);
                    continue;
                }
            }
            i += 1;
        }
        Ok(progressed)
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
                let size = active.tail.metadata()?.len();
                tracing::warn!(file = %active.tail.path, size, was = active.read_pos, "file was truncated; reading it again from the start");
                active.tail.restart()?;
                active.read_pos = 0;
                active.head = Head::of(active.tail.file())?;
                // Back to the main loop, which checks for shutdown: a file
                // found truncated again is read again only on a later turn.
                return Ok(Step { moved: true, done: false });
            }
            if filled.eof {
                return Ok(Step { moved: active.tail.offset() != start || filled.grew, done: filled.done });
            }
        }
    }

    /// Blocks until a file event, shutdown, a settle deadline or the rescan.
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

/// A file waiting to be opened.
struct Queued {
    path: PathBuf,
    id: FileId,
    found: Instant,
    unread: u64,
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Checkpoint;
    use crossbeam_channel::Receiver;
    use std::io::Write;

    /// A source on `dir` that finishes a file as soon as it has read all of it.
    fn source(dir: &Path) -> (Source, Receiver<Batch>) {
        let config = SourceConfig {
            dir: dir.to_owned(),
            glob: None,
            settle: Duration::ZERO,
            rescan: Duration::from_secs(3600),
            max_record_bytes: 1000,
            recursive: false,
            follow_symlinks: false,
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let tracker = Arc::new(Tracker::new(Checkpoint::default(), Arc::default()));
        let metrics = PipelineMetrics::detached();
        (Source::new(config, tracker, Arc::default(), metrics, tx, Shutdown::new()), rx)
    }

    /// Opens what is queued and reads it; the `(line, offset)` of each record.
    fn read(source: &mut Source, rx: &Receiver<Batch>) -> Vec<(u64, u64)> {
        source.open_queued();
        source.read_active().unwrap();
        assert!(source.active.is_empty(), "every file is finished at once");
        rx.try_iter().flat_map(|b| b.meta).map(|m| (m.line, m.offset)).collect()
    }

    /// An event for `path`, then a read.
    fn touch_and_read(source: &mut Source, rx: &Receiver<Batch>, path: &Path) -> Vec<(u64, u64)> {
        source.consider(path.to_owned());
        read(source, rx)
    }

    fn append(path: &Path, text: &str) {
        fs::OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn a_finished_file_that_grows_is_read_on_from_where_it_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut source, rx) = source(dir.path());
        let path = dir.path().join("a.json");
        append(&path, "{\"a\":1}\n{\"a\":2}\n");
        assert_eq!(touch_and_read(&mut source, &rx, &path), [(1, 0), (2, 8)]);
        assert_eq!(touch_and_read(&mut source, &rx, &path), []);

        append(&path, "{\"a\":3}\n");
        let renamed = dir.path().join("b.json");
        fs::rename(&path, &renamed).unwrap();
        assert_eq!(touch_and_read(&mut source, &rx, &renamed), [(3, 16)]);
    }

    #[test]
    fn a_finished_file_found_shorter_is_read_again_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let (mut source, rx) = source(dir.path());
        let path = dir.path().join("a.json");
        append(&path, "{\"a\":1}\n{\"a\":2}\n");
        assert_eq!(touch_and_read(&mut source, &rx, &path), [(1, 0), (2, 8)]);

        fs::write(&path, "{\"b\":1}\n").unwrap();
        assert_eq!(touch_and_read(&mut source, &rx, &path), [(1, 0)]);
    }

    #[test]
    fn a_file_renamed_before_it_is_opened_is_found_under_its_new_name() {
        let dir = tempfile::tempdir().unwrap();
        let (mut source, rx) = source(dir.path());
        let (path, renamed) = (dir.path().join("a.json"), dir.path().join("b.json"));
        append(&path, "{\"a\":1}\n");
        source.consider(path.clone());
        fs::rename(&path, &renamed).unwrap();
        source.consider(renamed.clone());
        assert_eq!(read(&mut source, &rx), []);
        assert_eq!(touch_and_read(&mut source, &rx, &renamed), [(1, 0)]);
    }

    #[test]
    fn links_and_fifos_are_skipped_unread_with_one_warning_each() {
        let dir = tempfile::tempdir().unwrap();
        let zone = dir.path().join("in");
        fs::create_dir(&zone).unwrap();
        let (mut source, rx) = source(&zone);
        append(&dir.path().join("secret.json"), "{\"secret\":1}\n");
        std::os::unix::fs::symlink(dir.path().join("secret.json"), zone.join("link.json")).unwrap();
        let fifo = zone.join("fifo.json");
        let mode = rustix::fs::Mode::from_raw_mode(0o600);
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, mode, 0).unwrap();
        append(&zone.join("a.json"), "{\"a\":1}\n");
        source.rescan();
        source.rescan();
        assert_eq!(read(&mut source, &rx), [(1, 0)], "only the regular file is read");
        let metrics = source.metrics.clone();
        assert_eq!((metrics.skips(Skip::Symlink), metrics.skips(Skip::NotARegularFile)), (1, 1));

        source.config.follow_symlinks = true;
        fs::remove_file(zone.join("link.json")).unwrap();
        std::os::unix::fs::symlink(zone.join("a.json"), zone.join("inner.json")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.json"), zone.join("outer.json")).unwrap();
        source.rescan();
        assert_eq!(read(&mut source, &rx), [], "a link inside is its target, read already");
        assert_eq!(metrics.skips(Skip::OutsideLandingZone), 1);
    }

    #[test]
    fn a_close_of_a_file_with_nothing_new_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (mut source, rx) = source(dir.path());
        let path = dir.path().join("a.json");
        append(&path, "{\"a\":1}\n");
        assert_eq!(touch_and_read(&mut source, &rx, &path), [(1, 0)]);
        source.apply(Change::Closed(path.clone()));
        assert!(source.closed_early.is_empty());
        append(&path, "{\"a\":2}\n");
        source.apply(Change::Closed(path));
        assert_eq!(source.closed_early.len(), 1);
        assert_eq!(read(&mut source, &rx), [(2, 8)]);
        assert!(source.closed_early.is_empty());
    }
}
