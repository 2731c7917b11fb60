//! Discovery: what the source learns from the zone's listings and change
//! reports, and which files it queues.
//!
//! A rescan lists the zone, takes its files in arrival order (modification
//! time, then name) and forgets the finished files that are gone, so that a
//! new file reusing one's identity starts from zero. A change report names
//! one path to look at; a writer's close marks a file complete at its
//! current size. A file is queued when its name is wanted (not temporary,
//! matching `--glob`), this host owns it, and it has unread bytes. The files
//! `--clean-source` moved away are forgotten before the next one is looked at.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::queue::Queued;
use super::{FileState, Source};
use crate::progress::FileProgress;
use crate::record::{FileId, Skip};
use crate::source::decode::Codec;
use crate::zone::{Change, Entry, Looked, refusal};

impl Source {
    pub(super) fn rescan(&mut self) {
        self.next_rescan = Instant::now() + self.config.rescan;
        if self.watch.is_none() {
            self.start_watch();
        }
        let listing = match self.zone.list(&|name| self.wanted(name)) {
            Ok(listing) => listing,
            Err(e) => return self.log_missing(&e),
        };
        let listed: HashSet<&PathBuf> = listing.names.iter().collect();
        self.skipped.retain(|path, _| listed.contains(path));
        let mut found = listing.entries;
        found.sort_by(|a, b| (a.modified, &a.name, a.id).cmp(&(b.modified, &b.name, b.id)));
        let present: HashSet<FileId> = found.iter().map(|entry| entry.id).collect();
        tracing::debug!(files = found.len(), "rescanned the landing zone");
        let looked = self.zone.entries_are_looks();
        for entry in found {
            match looked {
                true => self.consider_entry(entry),
                false => self.consider(entry.name),
            }
        }
        self.forget_deleted(&present);
    }

    /// Drops finished files that are no longer in the landing zone from the
    /// checkpoint, so a new file that reuses an identity starts from zero.
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
        let wanted = |p: &FileProgress| self.wanted(Path::new(&p.path));
        let stale =
            self.resume.iter().filter(|(id, p)| !present.contains(*id) && !self.files.contains_key(*id) && wanted(p));
        let gone: Vec<(FileId, u64)> = gone.into_iter().chain(stale.map(|(id, p)| (*id, p.offset))).collect();
        for (id, read_to) in gone {
            if self.tracker.forget(id, read_to) {
                self.files.remove(&id);
                self.finished.remove(&id);
                self.resume.remove(&id);
                self.heads.remove(&id);
                self.decoded.remove(&id);
            }
        }
    }

    /// Forgets the files `--clean-source` moved away or deleted, before a
    /// new file that may reuse one's identity is looked at.
    fn forget_cleaned(&mut self) {
        for id in self.completed.take_cleaned() {
            if matches!(self.files.get(&id), None | Some(FileState::Read { .. })) {
                self.files.remove(&id);
                self.finished.remove(&id);
                self.resume.remove(&id);
                self.heads.remove(&id);
            }
        }
    }

    fn log_missing(&mut self, error: &std::io::Error) {
        if !self.missing_logged {
            tracing::warn!(dir = %self.zone, %error, "cannot read the landing zone; retrying");
            self.missing_logged = true;
        }
    }

    fn start_watch(&mut self) {
        match self.zone.watch() {
            Ok(w) => {
                tracing::info!(dir = %self.zone, "watching the landing zone");
                self.missing_logged = false;
                self.watch = Some(w);
            }
            Err(e) => tracing::debug!(error = %e, "watcher not started; relying on rescans"),
        }
    }

    /// Whether an entry's name is a data file to take.
    fn wanted(&self, path: &Path) -> bool {
        let Some(name) = path.file_name() else { return false };
        let Some(name) = name.to_str() else { return self.config.glob.is_none() };
        let temporary = name.starts_with('.') || name.ends_with(".tmp") || name.ends_with("._COPYING_");
        !temporary && self.config.glob.as_ref().is_none_or(|g| g.is_match(name))
    }

    /// Queues the file at `path` if it is one to take with unread bytes;
    /// looks inside a directory that appeared.
    pub(super) fn consider(&mut self, path: PathBuf) {
        self.forget_cleaned();
        let entry = match self.zone.look(&path) {
            Ok(Looked::File(entry)) => entry,
            Ok(Looked::Dir(below)) => return below.into_iter().for_each(|p| self.consider(p)),
            Ok(Looked::NotAFile(path)) if self.wanted(&path) => return self.refuse(&path, Skip::NotARegularFile),
            Ok(Looked::NotAFile(_) | Looked::Hidden) => return,
            Err(e) => return refusal(&e).into_iter().for_each(|skip| self.refuse(&path, skip)),
        };
        self.take(entry);
    }

    /// Queues the file `entry` as a listing saw it, with no look of its
    /// own (a zone whose listing is as good as a look).
    fn consider_entry(&mut self, entry: Entry) {
        self.forget_cleaned();
        self.take(entry);
    }

    /// Queues `entry` if it is wanted, this host's, and has unread bytes.
    fn take(&mut self, entry: Entry) {
        if !self.wanted(&entry.name) || self.share.as_ref().is_some_and(|share| !share.owns(&entry.name)) {
            return;
        }
        self.queue_unread(entry);
    }

    /// Queues the file `entry` from where it was read to, if it has unread bytes.
    fn queue_unread(&mut self, Entry { name, id, len, .. }: Entry) {
        let Some((offset, line)) = self.unread_from(id, len, &name) else { return };
        if !self.files.contains_key(&id) {
            self.metrics.files_found.inc();
        }
        self.files.insert(id, FileState::Queued { offset, line });
        let unread = if Codec::of(&name).is_some() { len } else { len.saturating_sub(offset) };
        self.queued_bytes += unread;
        self.queue.push_back(Queued { path: name, id, found: Instant::now(), unread });
        self.next_report = Instant::now();
    }

    /// Warns once that `path` is not read, and counts it.
    pub(super) fn refuse(&mut self, path: &Path, skip: Skip) {
        if self.skipped.insert(path.to_owned(), skip) != Some(skip) {
            tracing::warn!(entry = %path.display(), reason = skip.as_str(), "skipped a landing-zone entry: {}", skip.describe());
            self.metrics.skipped(skip);
        }
    }

    /// Where the start-up checkpoint left `id`: `(offset, line)`.
    pub(super) fn resumed(&self, id: FileId) -> (u64, u64) {
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

    pub(super) fn drain_changes(&mut self) {
        let Some(watch) = &self.watch else { return };
        let changes: Vec<Change> = watch.changes.try_iter().collect();
        for change in changes {
            self.apply(change);
        }
    }

    pub(super) fn apply(&mut self, change: Change) {
        match change {
            Change::Touched(path) => self.consider(path),
            Change::Listed(entry) => self.consider_entry(entry),
            Change::Closed(path) => self.closed(path),
        }
    }

    /// A writer closed the file at `path`: an open file is complete at its
    /// size now; a queued one keeps the news until it is opened.
    fn closed(&mut self, path: PathBuf) {
        let Ok(Looked::File(entry)) = self.zone.look(&path) else { return self.consider(path) };
        let id = entry.id;
        if let Some(active) = self.active.iter_mut().find(|a| a.tail.id == id) {
            active.closed_at = Some(entry.len);
            return;
        }
        self.consider(entry.name);
        // Only a file about to be opened keeps the news: a stale
        // entry would end a later writer's file before it is done.
        let queued = matches!(self.files.get(&id), Some(FileState::Queued { .. }));
        if queued && !self.closed_early.contains(&id) {
            self.closed_early.push(id);
        }
    }
}
