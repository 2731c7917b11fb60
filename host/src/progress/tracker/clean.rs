//! Files waiting to be cleaned (`--clean-source`): the source reports each
//! file it read to its end ([`Tracker::finished`]); once a *saved*
//! checkpoint (a durable `checkpoint.json`, or a committed transaction)
//! covers the file up to that point, [`Tracker::take_durable`] hands it to
//! the cleaner. A file the cleaner moved away or deleted is dropped from the
//! checkpoint and from the source's memory ([`Tracker::cleaned`],
//! [`Tracker::take_cleaned`]), so that a new file reusing its inode, or its
//! name, is read from its start.

use std::collections::HashMap;
use std::sync::Arc;

use super::Tracker;
use crate::progress::Checkpoint;
use crate::record::FileId;

/// A file read to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// Its identity.
    pub file: FileId,
    /// Its path when it was read.
    pub path: Arc<str>,
    /// The offset it was read to (uncompressed bytes, for a compressed file).
    pub read_to: u64,
    /// Its size on disk then.
    pub size: u64,
}

/// The tracker's part of cleaning.
#[derive(Debug, Default)]
pub(super) struct CleanState {
    /// Complete files not yet durable; `None` while cleaning is off, so that
    /// nothing is kept for nobody.
    pub(super) completed: Option<HashMap<FileId, Completed>>,
    /// Files cleaned since the source last looked.
    cleaned: Vec<FileId>,
}

impl Tracker {
    /// Keeps complete files for [`Tracker::take_durable`] from now on.
    pub fn keep_completed(&self) {
        self.lock().clean.completed.get_or_insert_with(HashMap::new);
    }

    /// Takes the complete files that `saved`, a checkpoint now durable,
    /// covers to their end. A file with no entry is covered only if it was
    /// empty (nothing of it was ever sent).
    pub fn take_durable(&self, saved: &Checkpoint) -> Vec<Completed> {
        let mut state = self.lock();
        let Some(completed) = state.clean.completed.as_mut() else { return Vec::new() };
        let covered = |c: &Completed| saved.files.get(&c.file).map_or(c.read_to == 0, |p| p.offset == c.read_to);
        let durable: Vec<FileId> = completed.values().filter(|c| covered(c)).map(|c| c.file).collect();
        durable.iter().filter_map(|id| completed.remove(id)).collect()
    }

    /// Hands a file taken by [`Tracker::take_durable`] back, to be offered
    /// again after the next save (the cleaner's queue was full).
    pub fn not_taken(&self, file: Completed) {
        if let Some(completed) = self.lock().clean.completed.as_mut() {
            completed.entry(file.file).or_insert(file);
        }
    }

    /// `file`, read to `read_to`, was archived or deleted: it leaves the
    /// checkpoint (the next save records that) and the source forgets it.
    pub fn cleaned(&self, file: FileId, read_to: u64) {
        self.lock().clean.cleaned.push(file);
        self.forget(file, read_to);
    }

    /// The files cleaned since the last call, for the source to forget.
    pub fn take_cleaned(&self) -> Vec<FileId> {
        std::mem::take(&mut self.lock().clean.cleaned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Batch;
    use std::time::Instant;

    const A: FileId = FileId { dev: 1, ino: 1 };

    fn send_and_ack(t: &Tracker, end_offset: u64) {
        let mut batch = Batch::new(A, "a".into());
        batch.end_offset = end_offset;
        let seq = t.begin(&batch, 1, || false).unwrap();
        t.acked(seq);
    }

    #[test]
    fn a_file_is_durable_only_once_a_saved_checkpoint_reaches_its_end() {
        let t = Tracker::new(Checkpoint::default());
        t.keep_completed();
        send_and_ack(&t, 10);
        t.finished(Completed { file: A, path: "a".into(), read_to: 20, size: 20 }, Instant::now());
        assert!(t.take_durable(&t.snapshot().1).is_empty(), "the end is not acknowledged");
        send_and_ack(&t, 20);
        let unsaved = Checkpoint::default();
        assert!(t.take_durable(&unsaved).is_empty(), "acknowledged is not saved");
        let taken = t.take_durable(&t.snapshot().1);
        assert_eq!(taken, [Completed { file: A, path: "a".into(), read_to: 20, size: 20 }]);
        assert!(t.take_durable(&t.snapshot().1).is_empty(), "taken once");
    }

    #[test]
    fn nothing_is_kept_while_cleaning_is_off() {
        let t = Tracker::new(Checkpoint::default());
        t.finished(Completed { file: A, path: "a".into(), read_to: 0, size: 0 }, Instant::now());
        assert!(t.take_durable(&Checkpoint::default()).is_empty());
    }

    #[test]
    fn a_cleaned_file_leaves_the_checkpoint_and_is_reported_once() {
        let t = Tracker::new(Checkpoint::default());
        t.keep_completed();
        send_and_ack(&t, 20);
        let (before, _) = t.snapshot();
        t.cleaned(A, 20);
        let (after, checkpoint) = t.snapshot();
        assert!(checkpoint.files.is_empty());
        assert_ne!(before, after, "the removal is saved");
        assert_eq!(t.take_cleaned(), [A]);
        assert!(t.take_cleaned().is_empty());
    }
}
