//! At-least-once delivery: `checkpoint.json` (the [`FileStore`]) is the
//! progress. It is loaded at start-up, for the source to resume from, and
//! saved by a thread of its own whenever the tracker's progress moves, so it
//! covers only what Kafka acknowledged; a crash sends the tail again.
//!
//! At shutdown the pump waits for Kafka to acknowledge what was sent, then
//! the writer saves once more and compacts the journal.

use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::anyhow;
use crossbeam_channel::{Receiver, Sender};

use super::Streamed;
use crate::clean::Cleaner;
use crate::config::RunConfig;
use crate::progress::Tracker;
use crate::progress::{Checkpoint, FileStore};
use crate::pump::Shared;
use crate::pump::{Pump, Summary};
use crate::shutdown::Shutdown;

/// How long shutdown waits for Kafka to acknowledge what was sent.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the checkpoint writer waits for progress before checking for stop.
const CHECKPOINT_POLL: Duration = Duration::from_millis(100);
/// Pause between attempts to save a checkpoint the disk refused.
const SAVE_RETRY: Duration = Duration::from_secs(1);
/// Attempts at the final checkpoint before giving up at shutdown.
const FINAL_SAVE_ATTEMPTS: u32 = 5;

/// The checkpoint directory, opened and locked, before the stream starts.
pub(super) struct Checkpoints {
    store: FileStore,
}

/// The checkpoint writer's thread, told to stop when the stream has.
pub(super) struct Writer {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Checkpoints {
    /// Opens the store in `dir` and loads the checkpoint the stream resumes from.
    pub(super) fn open(dir: &std::path::Path) -> anyhow::Result<(Checkpoints, Checkpoint)> {
        let mut store = FileStore::open(dir)?;
        let checkpoint = store.load()?;
        tracing::info!(files = checkpoint.files.len(), dir = %dir.display(), "checkpoint loaded");
        Ok((Checkpoints { store }, checkpoint))
    }

    /// Starts the writer of `tracker`'s progress (and `--clean-source`).
    pub(super) fn start(self, config: &RunConfig, shared: &Shared) -> anyhow::Result<Writer> {
        let Checkpoints { mut store } = self;
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let cleaner = super::start_cleaner(config, shared)?;
        let (tracker, window, metrics) = (shared.tracker.clone(), shared.window.clone(), shared.metrics.clone());
        // A checkpoint that cannot be saved (a full disk) closes the window.
        let pause = move |paused| {
            metrics.health.checkpoint_blocked(paused);
            window.pause(paused);
        };
        let write = move || write_checkpoints(&mut store, &tracker, &pause, &stopped, cleaner.as_ref());
        Ok(Writer { stop, thread: super::spawn("checkpoint", write)? })
    }
}

impl Writer {
    /// After the stream: waits for Kafka to acknowledge what was sent, has
    /// the writer save the last checkpoint, and reports how it all ended.
    pub(super) fn finish(self, mut pump: Pump, streamed: Streamed, shutdown: &Shutdown) -> anyhow::Result<Summary> {
        let (pumped, source) = streamed;
        let drained = pump.drain(FLUSH_TIMEOUT, shutdown);
        drop(self.stop);
        self.thread.join().map_err(|_| anyhow!("the checkpoint thread panicked"))?;
        pumped?;
        source?;
        drained?;
        if let Some(failure) = pump.tracker().failure() {
            return Err(anyhow!(failure));
        }
        Ok(pump.summary)
    }
}

/// Saves the checkpoint whenever it moves, and once more when told to stop.
/// A failed save (a full disk) pauses new batches and is retried: progress
/// stays in the tracker. At shutdown the final save is tried a few times.
/// What is saved is offered to the `cleaner` (`--clean-source`).
fn write_checkpoints(
    store: &mut FileStore,
    tracker: &Tracker,
    pause: &dyn Fn(bool),
    stop: &Receiver<()>,
    cleaner: Option<&Cleaner>,
) {
    let (mut saved, mut durable) = tracker.snapshot();
    let mut final_attempts = 0;
    loop {
        if let Some(cleaner) = cleaner {
            cleaner.offer(&durable);
        }
        let stopping = matches!(stop.try_recv(), Err(crossbeam_channel::TryRecvError::Disconnected));
        let next = if stopping { Some(tracker.snapshot()) } else { tracker.wait_progress(saved, CHECKPOINT_POLL) };
        if let Some((version, checkpoint)) = next.filter(|(v, _)| *v != saved) {
            if let Err(e) = store.save(&checkpoint) {
                tracing::error!(error = %e, "cannot write the checkpoint; the stream waits and retries");
                pause(true);
                if !stopping {
                    let _ = stop.recv_timeout(SAVE_RETRY);
                    continue;
                }
                final_attempts += 1;
                if final_attempts == FINAL_SAVE_ATTEMPTS {
                    tracing::error!(
                        "giving up on the final checkpoint; a restart sends again what the last saved one does not cover"
                    );
                    return;
                }
                thread::sleep(SAVE_RETRY);
                continue;
            }
            saved = version;
            durable = checkpoint;
            pause(false);
        }
        if stopping {
            if let Some(cleaner) = cleaner {
                cleaner.offer(&durable);
            }
            // So that checkpoint.json alone holds the state after a stop.
            if let Err(e) = store.compact(&durable) {
                tracing::warn!(error = %e, "cannot compact the checkpoint; its journal keeps what the last save wrote");
            }
            return;
        }
    }
}
