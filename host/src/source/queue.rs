//! Opening queued files, in arrival order, while fewer than
//! [`MAX_OPEN_FILES`] are open: each is opened through the zone and read
//! from where this run or the checkpoint left it, or from its start when it
//! is shorter than that (truncated) or its first bytes are not those read
//! before (a new file reusing the identity of one read before).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::active::Active;
use super::decode::Codec;
use super::tail::Tail;
use super::{FileState, MAX_OPEN_FILES, Source};
use crate::record::FileId;
use crate::zone::refusal;

/// A file waiting to be opened.
pub(super) struct Queued {
    pub(super) path: PathBuf,
    pub(super) id: FileId,
    /// When it was found, for the found-to-acknowledged latency.
    pub(super) found: Instant,
    /// Its unread bytes when it was queued.
    pub(super) unread: u64,
}

impl Source {
    pub(super) fn open_queued(&mut self) {
        while self.active.len() < MAX_OPEN_FILES {
            let Some(Queued { path, id, found, unread }) = self.queue.pop_front() else { return };
            self.queued_bytes -= unread;
            match self.open(&path, found) {
                Ok(Some(active)) => self.active.push(active),
                Ok(None) => {}
                Err(e) => match refusal(&e) {
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

    fn open(&mut self, path: &Path, found: Instant) -> io::Result<Option<Active>> {
        let file = self.zone.open(path)?;
        let (id, len) = (file.id(), file.size()?);
        let Some((offset, line)) = self.start_of(id, len, path) else { return Ok(None) };
        let (offset, line) = match self.heads.get(&id) {
            Some(head) if offset > 0 && !file.starts_with(head)? => {
                tracing::warn!(file = %path.display(), "file reuses the inode of a file read before, with other content; reading it from the start");
                (0, 0)
            }
            _ => (offset, line),
        };
        let head = file.head()?;
        let path: Arc<str> = path.display().to_string().into();
        tracing::debug!(file = %path, offset, "reading");
        let compressed = Codec::of(Path::new(&*path)).map(|codec| (codec, false));
        let tail = Tail::new(file, path, offset, line, self.config.max_record_bytes)?;
        self.files.insert(id, FileState::Reading);
        let closed =
            self.closed_early.iter().position(|c| *c == id).map(|i| self.closed_early.swap_remove(i)).is_some();
        let closed_at = closed.then_some(len);
        let read_pos = if compressed.is_some() { len } else { offset };
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
}
