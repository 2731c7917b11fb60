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
//! How a file is archived or deleted is the landing zone's own
//! ([`LandingZone::clean`]): the local directory trusts no name in it and
//! checks the file is still the one read ([`crate::zone::local`]). This
//! thread decides when, and tries again after a failure.

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::config::CleanConfig;
use crate::progress::{Checkpoint, Completed, CompletedFiles, Tracker};
use crate::zone::{Cleaned, Cleaning, LandingZone};

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
    /// Starts the cleaner thread on `zone`, or nothing when cleaning is
    /// off. It takes the files the source reports `completed`; a file it
    /// cleaned leaves the `tracker`'s checkpoint.
    pub fn start(
        config: &CleanConfig,
        zone: Arc<dyn LandingZone>,
        tracker: Arc<Tracker>,
        completed: Arc<CompletedFiles>,
    ) -> std::io::Result<Option<Cleaner>> {
        if *config == CleanConfig::Off {
            return Ok(None);
        }
        completed.keep();
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let worker = Worker { config: config.clone(), zone, tracker, completed: completed.clone(), retry: Vec::new() };
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
    zone: Arc<dyn LandingZone>,
    tracker: Arc<Tracker>,
    completed: Arc<CompletedFiles>,
    /// Files that failed, with when to try again and how often they failed.
    retry: Vec<(Completed, Instant, u32)>,
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
            Cleaned::Done => {
                // It leaves the checkpoint (the next save records that) and
                // the source forgets it.
                self.completed.cleaned(file.file);
                self.tracker.forget(file.file, file.read_to);
            }
            Cleaned::Skipped => {}
            Cleaned::Failed(error) => {
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
    fn clean(&self, file: &Completed) -> Cleaned {
        match &self.config {
            CleanConfig::Off => Cleaned::Skipped,
            CleanConfig::Delete { .. } => self.zone.clean(file, Cleaning::Delete),
            CleanConfig::Archive { dir, .. } => self.zone.clean(file, Cleaning::Archive(dir)),
        }
    }
}
