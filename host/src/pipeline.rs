//! Wires the stages together and runs them until shutdown.
//!
//! ```text
//!  source thread ──Batch──▶ pump (this thread) ──Message──▶ librdkafka
//!   (files)       bounded    wasm transform,                  │ delivery
//!                 channel    dead letters                     ▼ callbacks
//!                                               Tracker ──▶ checkpoint thread
//! ```
//!
//! Start-up checks everything before a record moves: the module, the
//! checkpoint, then the broker and topic. On shutdown the source stops
//! taking records, the pump stops sending, the producer is flushed, and the
//! checkpoint is written covering exactly what Kafka acknowledged.
//! `--delivery exactly-once` runs the same stages in transactions
//! ([`exactly_once`]).

pub mod exactly_once;
pub mod group;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::anyhow;
use crossbeam_channel::Receiver;

use crate::clean::Cleaner;
use crate::config::RunConfig;
use crate::deadletter::DeadLetters;
use crate::metrics::PipelineMetrics;
use crate::progress::{CheckpointStore, CompletedFiles, FileStore, Tracker, Window};
use crate::pump::{Delivery, Pump, Summary};
use crate::shutdown::Shutdown;
use crate::sink::{Sink, SinkError};
use crate::source::Source;
use crate::transform::Transformer;

/// Batches read ahead of the transform: enough to keep it busy while the
/// source waits on the disk, few enough to bound memory (4 x 1 MiB).
const READ_AHEAD_BATCHES: usize = 4;
/// How long shutdown waits for Kafka to acknowledge what was sent.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the checkpoint writer waits for progress before checking for stop.
const CHECKPOINT_POLL: Duration = Duration::from_millis(100);
/// Pause between attempts to save a checkpoint the disk refused.
const SAVE_RETRY: Duration = Duration::from_secs(1);
/// Attempts at the final checkpoint before giving up at shutdown.
const FINAL_SAVE_ATTEMPTS: u32 = 5;

/// Runs the stream until `shutdown` triggers or a stage fails, counting
/// into `metrics`; a failure is also its health's reason.
pub fn run(config: RunConfig, shutdown: Shutdown, metrics: Arc<PipelineMetrics>) -> anyhow::Result<Summary> {
    let reported = metrics.clone();
    let ran = match config.exactly_once {
        Some(_) => exactly_once::run(config, shutdown, metrics),
        None => run_at_least_once(config, shutdown, metrics),
    };
    match &ran {
        Ok(_) => reported.health.stopped("shut down"),
        Err(e) => reported.health.stopped(&format!("{e:#}")),
    }
    ran
}

fn run_at_least_once(config: RunConfig, shutdown: Shutdown, metrics: Arc<PipelineMetrics>) -> anyhow::Result<Summary> {
    let transformer = Transformer::new(&config.transform)?;
    tracing::info!(module = %transformer.path().display(), "transform module loaded");
    metrics.health.module_loaded();
    let mut store = FileStore::open(&config.checkpoint_dir)?;
    let checkpoint = store.load()?;
    tracing::info!(files = checkpoint.files.len(), dir = %config.checkpoint_dir.display(), "checkpoint loaded");
    let window = Arc::new(Window::default());
    let tracker = Tracker::new(checkpoint.clone(), window.clone()).timing_files(metrics.file_ack_seconds.clone());
    let tracker = Arc::new(tracker);
    let completed = Arc::new(CompletedFiles::default());
    tracing::info!(topic = %config.kafka.topic, properties = ?config.kafka.redacted(), "connecting to Kafka");
    let dlq = config.dead_letter_topic.as_deref();
    let sink = match Sink::connect(&config.kafka, dlq, tracker.clone(), metrics.clone(), &shutdown) {
        Err(SinkError::NotConnected { .. }) if shutdown.is_triggered() => {
            tracing::info!("stopped before Kafka was reachable; nothing was read");
            return Ok(Summary::default());
        }
        connected => connected?,
    };
    tracing::info!(topic = %config.kafka.topic, landing_zone = %config.source.dir.display(), "streaming");

    let (tx, rx) = crossbeam_channel::bounded(READ_AHEAD_BATCHES);
    let zone = crate::zone::of(&config.source);
    let source = Source::new(
        zone.clone(),
        config.source.clone(),
        tracker.clone(),
        completed.clone(),
        metrics.clone(),
        tx,
        shutdown.clone(),
    );
    let source = thread::Builder::new().name("source".into()).spawn(in_current_span(move || source.run()))?;
    let (stop_checkpoints, stopped) = crossbeam_channel::bounded::<()>(0);
    let cleaner = Cleaner::start(&config.clean, zone, tracker.clone(), completed)?;
    let writer = {
        let (tracker, window, metrics) = (tracker.clone(), window.clone(), metrics.clone());
        // A checkpoint that cannot be saved (a full disk) closes the window.
        let pause = move |paused| {
            metrics.health.checkpoint_blocked(paused);
            window.pause(paused);
        };
        let write = move || write_checkpoints(&mut store, &tracker, &pause, &stopped, cleaner.as_ref());
        thread::Builder::new().name("checkpoint".into()).spawn(in_current_span(write))?
    };

    let delivery = Delivery {
        sink,
        tracker,
        window,
        metrics,
        dead: DeadLetters::new(&config.checkpoint_dir),
        dead_letter_topic: config.dead_letter_topic.clone(),
        kafka: config.kafka.clone(),
        txn: None,
    };
    let mut pump = Pump::new(transformer, delivery, config.max_consecutive_errors);
    let pumped = pump.run(&rx, &shutdown);
    shutdown.trigger();
    drop(rx);
    let source = source.join().map_err(|_| anyhow!("the source thread panicked"));
    let drained = pump.drain(FLUSH_TIMEOUT, &shutdown);
    drop(stop_checkpoints);
    writer.join().map_err(|_| anyhow!("the checkpoint thread panicked"))?;
    pumped?;
    source?;
    drained?;
    if let Some(failure) = pump.tracker().failure() {
        return Err(anyhow!(failure));
    }
    Ok(pump.summary)
}

/// `f`, to run on another thread inside the caller's span, so that a
/// stage's log lines name their pipeline when a file runs several.
fn in_current_span<T>(f: impl FnOnce() -> T) -> impl FnOnce() -> T {
    let span = tracing::Span::current();
    move || span.in_scope(f)
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
