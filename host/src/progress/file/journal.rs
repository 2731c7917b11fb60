//! The checkpoint's journal, `checkpoint.journal`: what changed at each
//! save since the snapshot (`checkpoint.json`) was written, so that a save
//! writes the files that moved, not every file ever finished.
//!
//! Each entry is one line, framed so that a crash in the middle of an
//! append is seen on load rather than misread:
//!
//! ```text
//! <length of the JSON, decimal> <FNV-1a 64 of the JSON, 16 hex digits> <JSON>\n
//! ```
//!
//! The first entry is the header, `{"journal":1,"generation":N}`: the
//! journal applies only to the snapshot of the same generation, so a journal
//! left behind by a crash between writing a new snapshot and starting its
//! journal is ignored (the snapshot already holds it). Every later entry is
//! a [`Change`]. Reading stops at the first entry that is cut short or whose
//! checksum does not match: a torn tail from a crash mid-append, which held
//! progress that was never reported saved, so ignoring it can only send
//! records again, never skip one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{CheckpointError, Entry};
use crate::private;
use crate::progress::Checkpoint;
use crate::record::FileId;
use crate::record::file::fnv1a;

/// Version of the journal's framing and entries.
const JOURNAL_VERSION: u32 = 1;

/// The first entry: which snapshot the journal continues.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    journal: u32,
    generation: u64,
}

/// One save: the files whose progress is new or moved, and those forgotten.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Change {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    set: Vec<Entry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    del: Vec<FileId>,
}

impl Change {
    /// What turns `old` into `new`.
    pub(super) fn between(old: &Checkpoint, new: &Checkpoint) -> Change {
        let mut set: Vec<Entry> = (new.files.iter())
            .filter(|(id, progress)| old.files.get(id) != Some(progress))
            .map(|(id, progress)| Entry { id: *id, progress: progress.clone() })
            .collect();
        set.sort_by_key(|e| e.id);
        let mut del: Vec<FileId> = old.files.keys().filter(|id| !new.files.contains_key(id)).copied().collect();
        del.sort();
        Change { set, del }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.set.is_empty() && self.del.is_empty()
    }

    fn apply(self, checkpoint: &mut Checkpoint) {
        for entry in self.set {
            checkpoint.files.insert(entry.id, entry.progress);
        }
        for id in self.del {
            checkpoint.files.remove(&id);
        }
    }
}

/// The open journal, appended to at each save.
#[derive(Debug)]
pub(super) struct Journal {
    file: File,
    len: u64,
}

impl Journal {
    /// Replaces the journal at `path` with one holding only the header of
    /// `generation`, atomically ([`super::write_atomically`]).
    pub(super) fn create(dir: &Path, path: &Path, generation: u64) -> Result<Journal, CheckpointError> {
        let header = serde_json::to_vec(&Header { journal: JOURNAL_VERSION, generation }).expect("header serializes");
        let bytes = frame(&header);
        super::write_atomically(dir, path, &path.with_extension("journal-tmp"), &bytes)?;
        let reopened = Journal::reopen(path, bytes.len() as u64);
        reopened.map_err(|reason| CheckpointError::Io { path: path.to_owned(), reason })
    }

    /// Opens the whole journal at `path`, `len` bytes, to append to it.
    pub(super) fn reopen(path: &Path, len: u64) -> std::io::Result<Journal> {
        let file = private::open(path, OpenOptions::new().append(true).custom_flags(libc::O_NOFOLLOW))?;
        Ok(Journal { file, len })
    }

    /// Appends `change` and syncs it. A failed append may leave a torn entry
    /// behind: the caller must not append again (see [`super::FileStore`]).
    pub(super) fn append(&mut self, change: &Change) -> std::io::Result<u64> {
        let bytes = frame(&serde_json::to_vec(change).expect("changes serialize"));
        self.file.write_all(&bytes)?;
        self.file.sync_data()?;
        self.len += bytes.len() as u64;
        Ok(bytes.len() as u64)
    }

    /// Bytes in the journal.
    pub(super) fn len(&self) -> u64 {
        self.len
    }
}

/// What a journal on disk adds to the snapshot of `generation`.
#[derive(Debug, Default)]
pub(super) struct Replayed {
    /// Changes applied.
    pub(super) entries: usize,
    /// Where a torn tail starts, when there is one.
    pub(super) torn_at: Option<usize>,
    /// Whether the journal belongs to another snapshot and was ignored.
    pub(super) stale: bool,
}

/// Applies the entries of `bytes` (a journal's content) to `checkpoint`,
/// the snapshot of `generation`. Err when an intact entry does not parse.
pub(super) fn replay(bytes: &[u8], generation: u64, checkpoint: &mut Checkpoint) -> Result<Replayed, String> {
    let mut frames = Frames { rest: bytes, at: 0 };
    let Some(header) = frames.next() else {
        return Ok(Replayed { torn_at: (!bytes.is_empty()).then_some(0), ..Replayed::default() });
    };
    let header: Header = serde_json::from_slice(header).map_err(|e| format!("journal header: {e}"))?;
    if header.journal != JOURNAL_VERSION {
        return Err(format!("journal version {} is not the supported {JOURNAL_VERSION}", header.journal));
    }
    if header.generation != generation {
        return Ok(Replayed { stale: true, ..Replayed::default() });
    }
    let mut replayed = Replayed::default();
    for payload in frames.by_ref() {
        let change: Change = serde_json::from_slice(payload)
            .map_err(|e| format!("journal entry {} is intact but not a change: {e}", replayed.entries + 1))?;
        change.apply(checkpoint);
        replayed.entries += 1;
    }
    replayed.torn_at = (frames.at < bytes.len()).then_some(frames.at);
    Ok(replayed)
}

/// `payload` framed as one journal line.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{} {:016x} ", payload.len(), fnv1a(payload)).into_bytes();
    out.extend_from_slice(payload);
    out.push(b'\n');
    out
}

/// The intact entries of a journal, in order; stops at the first that is
/// not (`at` is then where it starts).
struct Frames<'a> {
    rest: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Frames<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (payload, used) = unframe(self.rest)?;
        self.rest = &self.rest[used..];
        self.at += used;
        Some(payload)
    }
}

/// The payload of the entry `bytes` starts with and the bytes it takes,
/// or `None` when the entry is cut short or damaged.
fn unframe(bytes: &[u8]) -> Option<(&[u8], usize)> {
    let space = bytes.iter().take(21).position(|b| *b == b' ')?;
    let len: usize = std::str::from_utf8(&bytes[..space]).ok()?.parse().ok()?;
    let sum_end = space + 1 + 16;
    let sum = u64::from_str_radix(std::str::from_utf8(bytes.get(space + 1..sum_end)?).ok()?, 16).ok()?;
    let start = sum_end + 1;
    let end = start.checked_add(len)?;
    let payload = bytes.get(start..end)?;
    let intact = bytes.get(sum_end) == Some(&b' ') && bytes.get(end) == Some(&b'\n') && fnv1a(payload) == sum;
    intact.then_some((payload, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_damage_stops_the_reading() {
        let mut bytes = frame(b"{\"a\":1}");
        bytes.extend(frame(b"{}"));
        let all: Vec<&[u8]> = Frames { rest: &bytes, at: 0 }.collect();
        assert_eq!(all, [&b"{\"a\":1}"[..], b"{}"]);
        for cut in 0..bytes.len() {
            let mut frames = Frames { rest: &bytes[..cut], at: 0 };
            let n = frames.by_ref().count();
            assert!(n < 2 && frames.at <= cut, "a cut at {cut} is never read as whole");
        }
        let mut flipped = bytes.clone();
        flipped[22] ^= 1;
        assert_eq!(Frames { rest: &flipped, at: 0 }.count(), 0, "a changed byte fails the checksum");
        assert_eq!(Frames { rest: &[0; 64], at: 0 }.count(), 0, "zeros are not an entry");
    }
}
