//! Files on their way to `--clean-source`: the source reports each file it
//! read to its end ([`CompletedFiles::finished`]); once a *saved*
//! checkpoint (a durable `checkpoint.json`, or a committed transaction)
//! covers the file up to that point, [`CompletedFiles::take_durable`] hands
//! it to the cleaner. A file the cleaner moved away or deleted is reported
//! back ([`CompletedFiles::cleaned`]) for the source to forget
//! ([`CompletedFiles::take_cleaned`]), so that a new file reusing its inode,
//! or its name, is read from its start; the cleaner also has the
//! [`Tracker`](super::Tracker) drop it from the checkpoint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::Checkpoint;
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

/// Complete files not yet cleaned; shared by the source and the cleaner.
#[derive(Debug, Default)]
pub struct CompletedFiles {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Complete files not yet durable; `None` while cleaning is off, so that
    /// nothing is kept for nobody.
    completed: Option<HashMap<FileId, Completed>>,
    /// Files cleaned since the source last looked.
    cleaned: Vec<FileId>,
}

impl CompletedFiles {
    /// Keeps complete files for [`CompletedFiles::take_durable`] from now on.
    pub fn keep(&self) {
        self.lock().completed.get_or_insert_with(HashMap::new);
    }

    /// The source read `file` to its end. A later report of the same file
    /// (it grew, or was truncated and read again) replaces this one.
    pub fn finished(&self, file: Completed) {
        if let Some(completed) = self.lock().completed.as_mut() {
            completed.insert(file.file, file);
        }
    }

    /// Takes the complete files that `saved`, a checkpoint now durable,
    /// covers to their end. A file with no entry is covered only if it was
    /// empty (nothing of it was ever sent).
    pub fn take_durable(&self, saved: &Checkpoint) -> Vec<Completed> {
        let mut state = self.lock();
        let Some(completed) = state.completed.as_mut() else { return Vec::new() };
        let covered = |c: &Completed| saved.files.get(&c.file).map_or(c.read_to == 0, |p| p.offset == c.read_to);
        let durable: Vec<FileId> = completed.values().filter(|c| covered(c)).map(|c| c.file).collect();
        durable.iter().filter_map(|id| completed.remove(id)).collect()
    }

    /// Hands a file taken by [`CompletedFiles::take_durable`] back, to be
    /// offered again after the next save (the cleaner's queue was full).
    pub fn not_taken(&self, file: Completed) {
        if let Some(completed) = self.lock().completed.as_mut() {
            completed.entry(file.file).or_insert(file);
        }
    }

    /// `file` was archived or deleted: the source is to forget it.
    pub fn cleaned(&self, file: FileId) {
        self.lock().cleaned.push(file);
    }

    /// The files cleaned since the last call, for the source to forget.
    pub fn take_cleaned(&self) -> Vec<FileId> {
        std::mem::take(&mut self.lock().cleaned)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::FileProgress;

    const A: FileId = FileId { dev: 1, ino: 1 };

    fn saved(offset: u64) -> Checkpoint {
        let mut checkpoint = Checkpoint::default();
        let progress = FileProgress { path: "a".into(), offset, line: 0, head: None };
        checkpoint.files.insert(A, progress);
        checkpoint
    }

    fn a(read_to: u64) -> Completed {
        Completed { file: A, path: "a".into(), read_to, size: read_to }
    }

    #[test]
    fn a_file_is_durable_only_once_a_saved_checkpoint_reaches_its_end() {
        let files = CompletedFiles::default();
        files.keep();
        files.finished(a(20));
        assert!(files.take_durable(&saved(10)).is_empty(), "the end is not saved");
        assert!(files.take_durable(&Checkpoint::default()).is_empty(), "nothing of it is saved");
        assert_eq!(files.take_durable(&saved(20)), [a(20)]);
        assert!(files.take_durable(&saved(20)).is_empty(), "taken once");
        files.not_taken(a(20));
        assert_eq!(files.take_durable(&saved(20)), [a(20)], "offered again");
    }

    #[test]
    fn nothing_is_kept_while_cleaning_is_off() {
        let files = CompletedFiles::default();
        files.finished(a(0));
        assert!(files.take_durable(&Checkpoint::default()).is_empty());
    }

    #[test]
    fn a_cleaned_file_is_reported_once() {
        let files = CompletedFiles::default();
        files.cleaned(A);
        assert_eq!(files.take_cleaned(), [A]);
        assert!(files.take_cleaned().is_empty());
    }
}
