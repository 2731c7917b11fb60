//! After a file is done: `--clean-source archive` moves it to
//! `--source-archive-dir`, keeping its path below the landing zone, and
//! `--clean-source delete` removes it (Spark's `cleanSource` and
//! `sourceArchiveDir`).
//!
//! A file is cleaned only when it is complete (the source read it to its
//! end and it settled), every record of it is acknowledged by Kafka or
//! dead-lettered, and that progress is durable: after the checkpoint save
//! that covers it (at-least-once) or the transaction that covers it
//! committed (exactly-once). The checkpoint writer hands such files over
//! with [`Cleaner::offer`]; the moving happens on this module's own thread,
//! as Spark does, so a slow archive never slows the stream. A crash before
//! the move leaves the file in place, where the restarted source finds it
//! read to its end and offers it again. A file that cannot be cleaned
//! (permissions, a full archive) is logged with its path, left in place and
//! tried again; it never stops the stream. A cleaned file leaves the
//! checkpoint, so that it does not grow with files long gone and a new file
//! under the same name is read from its start.
//!
//! The files are assumed not to change once complete, as Spark assumes; one
//! that grew since it was read is not cleaned until it has been read again.
//!
//! The landing zone is written by others, so the cleaner trusts no name in
//! it: the file is reached from the zone's directory without following a
//! link ([`archive::Entry`]), checked to be still the regular file that was
//! read (device, inode and size, of the entry itself), and deleted or moved
//! relative to its directory's handle (`unlinkat`, `renameat2`). A link in
//! the way, or in the file's place, leaves everything as it is. The archive
//! directory must lie outside the landing zone by real path, checked at
//! start-up and again before each move.

pub mod archive;

use std::path::Path;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::config::{CleanConfig, archive_inside};
use crate::progress::{Checkpoint, Completed, CompletedFiles, Tracker};
use crate::record::FileId;

/// Files handed to the cleaner thread and not yet taken; past this the
/// checkpoint writer hands them back to the [`CompletedFiles`] rather than wait.
const QUEUE: usize = 1024;
/// Pause before a file that could not be cleaned is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// The handle of the cleaner thread; dropping it lets the thread finish
/// what it was handed and stop (files awaiting a retry stay in place).
#[derive(Debug)]
pub struct Cleaner {
    to_clean: Option<Sender<Completed>>,
    completed: Arc<CompletedFiles>,
    thread: Option<JoinHandle<()>>,
}

impl Cleaner {
    /// Starts the cleaner thread, or nothing when cleaning is off. It takes
    /// the files the source reports `completed`; a file it cleaned leaves
    /// the `tracker`'s checkpoint.
    pub fn start(
        config: &CleanConfig,
        tracker: Arc<Tracker>,
        completed: Arc<CompletedFiles>,
    ) -> std::io::Result<Option<Cleaner>> {
        if *config == CleanConfig::Off {
            return Ok(None);
        }
        completed.keep();
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let worker = Worker { config: config.clone(), tracker, completed: completed.clone(), retry: Vec::new() };
        let thread = thread::Builder::new().name("clean-source".into()).spawn(move || worker.run(&rx))?;
        Ok(Some(Cleaner { to_clean: Some(tx), completed, thread: Some(thread) }))
    }

    /// Hands the thread every complete file that `saved`, a checkpoint now
    /// durable, covers to its end.
    pub fn offer(&self, saved: &Checkpoint) {
        let Some(tx) = &self.to_clean else { return };
        for file in self.completed.take_durable(saved) {
            if let Err(TrySendError::Full(file) | TrySendError::Disconnected(file)) = tx.try_send(file) {
                self.completed.not_taken(file);
            }
        }
    }
}

impl Drop for Cleaner {
    fn drop(&mut self) {
        drop(self.to_clean.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the clean-source thread panicked");
        }
    }
}

/// The cleaner thread's state.
struct Worker {
    config: CleanConfig,
    tracker: Arc<Tracker>,
    completed: Arc<CompletedFiles>,
    /// Files that failed, with when to try again and how often they failed.
    retry: Vec<(Completed, Instant, u32)>,
}

/// What became of one attempt.
enum Outcome {
    Cleaned,
    Skipped,
    Failed(std::io::Error),
}

impl Worker {
    fn run(mut self, files: &Receiver<Completed>) {
        loop {
            let wait =
                self.retry.iter().map(|(_, at, _)| *at).min().map(|at| at.saturating_duration_since(Instant::now()));
            match files.recv_timeout(wait.unwrap_or(Duration::from_secs(3600))) {
                Ok(file) => {
                    self.retry.retain(|(f, _, _)| f.file != file.file);
                    self.attempt(file, 0);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            let (due, later): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.retry).into_iter().partition(|(_, at, _)| *at <= now);
            self.retry = later;
            for (file, _, failures) in due {
                self.attempt(file, failures);
            }
        }
        if !self.retry.is_empty() {
            tracing::warn!(files = self.retry.len(), "stopping with files not cleaned; they stay in the landing zone");
        }
    }

    fn attempt(&mut self, file: Completed, failures: u32) {
        match self.clean(&file) {
            Outcome::Cleaned => {
                // It leaves the checkpoint (the next save records that) and
                // the source forgets it.
                self.completed.cleaned(file.file);
                self.tracker.forget(file.file, file.read_to);
            }
            Outcome::Skipped => {}
            Outcome::Failed(error) => {
                if failures == 0 {
                    tracing::warn!(file = %file.path, %error, "cannot clean the finished file; it stays in place and is tried again");
                } else {
                    tracing::debug!(file = %file.path, %error, failures, "still cannot clean the finished file");
                }
                self.retry.push((file, Instant::now() + RETRY_EVERY, failures + 1));
            }
        }
    }

    /// Archives or deletes `file` if it is still the file that was read.
    fn clean(&self, file: &Completed) -> Outcome {
        let Some(landing_zone) = self.config.landing_zone() else { return Outcome::Skipped };
        let path = Path::new(&*file.path);
        let entry = match self.entry(landing_zone, path) {
            Ok(entry) => entry,
            Err(outcome) => return outcome,
        };
        match entry.metadata() {
            Ok(meta) if meta.is_file() && FileId::of(&meta) == file.file && meta.len() == file.size => {}
            Ok(_) => {
                tracing::info!(file = %file.path, "finished file changed since it was read; it is cleaned once read again");
                return Outcome::Skipped;
            }
            Err(e) => return gone_or_failed(file, e),
        }
        match &self.config {
            CleanConfig::Off => Outcome::Skipped,
            CleanConfig::Delete { .. } => delete(file, &entry),
            CleanConfig::Archive { dir, landing_zone } => archive(file, &entry, dir, landing_zone),
        }
    }

    /// The finished file's entry, reached below the landing zone without
    /// following a link.
    fn entry(&self, landing_zone: &Path, path: &Path) -> Result<archive::Entry, Outcome> {
        let Ok(rel) = crate::source::beneath::below(landing_zone, path) else {
            tracing::warn!(file = %path.display(), "finished file is not below the landing zone; it is not cleaned");
            return Err(Outcome::Skipped);
        };
        archive::Entry::find(landing_zone, &rel).map_err(|e| match crate::source::beneath::refusal(&e) {
            Some(skip) => {
                tracing::warn!(file = %path.display(), reason = skip.as_str(), "finished file is now reached through a link; it is not cleaned");
                Outcome::Skipped
            }
            None => Outcome::Failed(e),
        })
    }
}

/// A file found missing was cleaned by someone else; any other error is a
/// failure, tried again.
fn gone_or_failed(file: &Completed, error: std::io::Error) -> Outcome {
    if error.kind() == std::io::ErrorKind::NotFound {
        tracing::info!(file = %file.path, "finished file is no longer in the landing zone; nothing to clean");
        return Outcome::Skipped;
    }
    Outcome::Failed(error)
}

fn delete(file: &Completed, entry: &archive::Entry) -> Outcome {
    match entry.remove() {
        Ok(()) => {
            tracing::info!(file = %file.path, "deleted the finished file");
            Outcome::Cleaned
        }
        Err(e) => gone_or_failed(file, e),
    }
}

fn archive(file: &Completed, entry: &archive::Entry, dir: &Path, landing_zone: &Path) -> Outcome {
    if archive_inside(dir, landing_zone) {
        let message = format!(
            "the archive directory {} is now inside the landing zone {} by its real path; nothing is moved",
            dir.display(),
            landing_zone.display()
        );
        return Outcome::Failed(std::io::Error::other(message));
    }
    let path = Path::new(&*file.path);
    let target = archive::target(path, landing_zone, dir);
    match archive::move_to(entry, file.file, &target) {
        Ok(placed) if placed != target => {
            tracing::warn!(file = %file.path, taken = %target.display(), to = %placed.display(), "the archive holds a file of that name; archived under another");
            Outcome::Cleaned
        }
        Ok(placed) => {
            tracing::info!(file = %file.path, to = %placed.display(), "archived the finished file");
            Outcome::Cleaned
        }
        Err(e) => gone_or_failed(file, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn completed(path: &Path) -> Completed {
        let meta = fs::metadata(path).unwrap();
        let path = path.display().to_string().into();
        Completed { file: FileId::of(&meta), path, read_to: meta.len(), size: meta.len() }
    }

    fn worker(config: CleanConfig) -> Worker {
        let tracker = Arc::new(Tracker::new(Checkpoint::default(), Arc::default()));
        Worker { config, tracker, completed: Arc::default(), retry: Vec::new() }
    }

    #[test]
    fn a_delete_never_goes_through_a_linked_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (landing, precious) = (dir.path().join("in"), dir.path().join("precious"));
        fs::create_dir_all(&landing).unwrap();
        fs::create_dir_all(&precious).unwrap();
        fs::write(precious.join("p1.json"), "{}\n").unwrap();
        fs::write(landing.join("a.json"), "{}\n").unwrap();
        symlink(&precious, landing.join("sub")).unwrap();
        let worker = worker(CleanConfig::Delete { landing_zone: landing.clone() });
        // What a source following links would have offered: the target's identity.
        assert!(matches!(worker.clean(&completed(&landing.join("sub/p1.json"))), Outcome::Skipped));
        assert!(precious.join("p1.json").exists());
        assert!(matches!(worker.clean(&completed(&landing.join("a.json"))), Outcome::Cleaned));
        assert!(!landing.join("a.json").exists());
    }

    #[test]
    fn a_file_swapped_for_a_link_is_not_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let landing = dir.path().join("in");
        fs::create_dir_all(&landing).unwrap();
        let (file, elsewhere) = (landing.join("a.json"), dir.path().join("elsewhere.json"));
        fs::write(&file, "{}\n").unwrap();
        let read = completed(&file);
        fs::rename(&file, &elsewhere).unwrap();
        symlink(&elsewhere, &file).unwrap();
        let archive = dir.path().join("arch");
        let worker = worker(CleanConfig::Archive { dir: archive.clone(), landing_zone: landing.clone() });
        assert!(matches!(worker.clean(&read), Outcome::Skipped));
        assert!(elsewhere.exists() && fs::symlink_metadata(&file).unwrap().is_symlink());
        assert!(!archive.exists());
    }
}
