//! One open landing-zone file as the source reads it: its tail, whether a
//! writer closed it, its head fingerprint and growth, and the decision at
//! its end: truncated, complete, or still being written (a compressed file
//! waits until it is complete, then is decoded in one go).

use std::time::{Duration, Instant};

use super::decode::{Codec, DecodeError};
use super::tail::{ReadStatus, Tail};
use crate::record::{Batch, Head};

/// An open file being read.
pub(super) struct Active {
    pub(super) tail: Tail,
    /// The file's size when a writer closed it; it is complete at that
    /// size, not if it grew again since (another writer).
    pub(super) closed_at: Option<u64>,
    /// Fingerprint of the first bytes, retaken while the file is short.
    pub(super) head: Head,
    pub(super) read_pos: u64,
    pub(super) last_growth: Instant,
    /// When the file was found, for the found-to-acknowledged latency.
    pub(super) found: Instant,
    /// A compressed file's codec, and whether decoding has started.
    pub(super) compressed: Option<(Codec, bool)>,
}

/// What one [`Active::fill`] found.
pub(super) struct Filled {
    pub(super) eof: bool,
    pub(super) grew: bool,
    pub(super) done: bool,
    pub(super) truncated: bool,
}

impl Active {
    /// Reads what the file has into `batch`; at its end, decides whether it
    /// was truncated or is complete (then takes its unterminated last line).
    pub(super) fn fill(&mut self, batch: &mut Batch, settle: Duration) -> std::io::Result<Filled> {
        if let Some((codec, started)) = self.compressed {
            return self.fill_compressed(batch, settle, codec, started);
        }
        let eof = self.tail.read(batch)? == ReadStatus::Eof;
        let grew = self.tail.read_pos() != self.read_pos;
        if grew {
            self.read_pos = self.tail.read_pos();
            self.last_growth = Instant::now();
            if self.head.len < Head::MAX_LEN {
                self.head = self.tail.file().head()?;
            }
        }
        batch.head = Some(self.head);
        if eof && self.truncated()? {
            return Ok(Filled { eof, grew, done: false, truncated: true });
        }
        let done = eof && self.is_complete(settle)?;
        if done {
            self.tail.finish(batch);
        }
        Ok(Filled { eof, grew, done, truncated: false })
    }

    /// [`Self::fill`] for a compressed file: it waits, watching the file's
    /// size, until the file is complete, then is decoded to its end. Its
    /// `read_pos` stays the compressed size.
    fn fill_compressed(
        &mut self,
        batch: &mut Batch,
        settle: Duration,
        codec: Codec,
        started: bool,
    ) -> std::io::Result<Filled> {
        let mut grew = false;
        if !started {
            let len = self.tail.file().size()?;
            if len != self.read_pos {
                (self.read_pos, self.last_growth, grew) = (len, Instant::now(), true);
            }
            if !self.is_complete(settle)? {
                return Ok(Filled { eof: true, grew, done: false, truncated: false });
            }
            self.head = self.tail.file().head()?;
            self.compressed = Some((codec, true));
            if let Err(e) = self.tail.decode(codec) {
                return self.decoding_failed(e, batch);
            }
        }
        batch.head = Some(self.head);
        match self.tail.read(batch) {
            Ok(ReadStatus::BatchFull) => Ok(Filled { eof: false, grew: true, done: false, truncated: false }),
            Ok(ReadStatus::Eof) => {
                self.tail.finish(batch);
                Ok(Filled { eof: true, grew: true, done: true, truncated: false })
            }
            Err(e) => self.decoding_failed(e, batch),
        }
    }

    /// A decoding failure ends the file (after a dead letter); any other
    /// error is the file's own, and is retried.
    fn decoding_failed(&mut self, error: std::io::Error, batch: &mut Batch) -> std::io::Result<Filled> {
        let Some(decode) = DecodeError::of(&error) else { return Err(error) };
        batch.head = Some(self.head);
        self.tail.fail_decoding(decode, batch);
        Ok(Filled { eof: true, grew: true, done: true, truncated: false })
    }

    /// Whether the file is now shorter than what was read of it.
    fn truncated(&self) -> std::io::Result<bool> {
        Ok(self.tail.file().size()? < self.tail.read_pos())
    }

    /// Complete when its writer closed it and it has not grown since, or
    /// the zone finds it settled: quiet for `settle` (in a local directory,
    /// by both its modification time and our own observation).
    pub(super) fn is_complete(&self, settle: Duration) -> std::io::Result<bool> {
        if self.closed_at.is_some_and(|size| size == self.read_pos) {
            return Ok(true);
        }
        self.tail.file().settled(self.last_growth.elapsed(), settle)
    }
}
