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

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use crossbeam_channel::{Receiver, select};
use sluice_guest_sdk::abi::{self, Outcome};

use crate::checkpoint::{CheckpointStore, FileStore};
use crate::config::RunConfig;
use crate::deadletter::{DeadLetter, DeadLetters};
use crate::shutdown::Shutdown;
use crate::sink::{SendError, Sink, Tracker};
use crate::source::{Batch, Source};
use crate::transform::Transformer;

/// Batches read ahead of the transform: enough to keep it busy while the
/// source waits on the disk, few enough to bound memory (4 x 1 MiB).
const READ_AHEAD_BATCHES: usize = 4;
/// How long shutdown waits for Kafka to acknowledge what was sent.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the checkpoint writer waits for progress before checking for stop.
const CHECKPOINT_POLL: Duration = Duration::from_millis(100);

/// What a run did, logged at exit.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    /// Records handed to the transform.
    pub records: u64,
    /// Messages sent to Kafka.
    pub published: u64,
    /// Records the filter dropped.
    pub filtered: u64,
    /// Records sent to the dead letters.
    pub dead_letters: u64,
}

/// Runs the stream until `shutdown` triggers or a stage fails.
pub fn run(config: RunConfig, shutdown: Shutdown) -> anyhow::Result<Summary> {
    let transformer = Transformer::new(&config.transform)?;
    tracing::info!(module = %transformer.path().display(), "transform module loaded");
    let mut store = FileStore::open(&config.checkpoint_dir)?;
    let checkpoint = store.load()?;
    tracing::info!(files = checkpoint.files.len(), dir = %config.checkpoint_dir.display(), "checkpoint loaded");
    let tracker = Arc::new(Tracker::new(checkpoint.clone()));
    tracing::info!(topic = %config.kafka.topic, properties = ?config.kafka.redacted(), "connecting to Kafka");
    let sink = Sink::connect(&config.kafka, tracker.clone(), &shutdown)?;
    tracing::info!(topic = %config.kafka.topic, landing_zone = %config.source.dir.display(), "streaming");

    let (tx, rx) = crossbeam_channel::bounded(READ_AHEAD_BATCHES);
    let source = Source::new(config.source.clone(), &checkpoint, tx, shutdown.clone());
    let source = thread::Builder::new().name("source".into()).spawn(move || source.run())?;
    let (stop_checkpoints, stopped) = crossbeam_channel::bounded::<()>(0);
    let writer = {
        let tracker = tracker.clone();
        thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || write_checkpoints(&mut store, &tracker, &stopped))?
    };

    let mut pump = Pump {
        transformer,
        sink,
        tracker,
        dead: DeadLetters::new(&config.checkpoint_dir),
        summary: Summary::default(),
    };
    let pumped = pump.run(&rx, &shutdown);
    shutdown.trigger();
    drop(rx);
    let source = source.join().map_err(|_| anyhow!("the source thread panicked"));
    let flushed = pump.sink.flush(&pump.tracker, FLUSH_TIMEOUT);
    drop(stop_checkpoints);
    writer.join().map_err(|_| anyhow!("the checkpoint thread panicked"))?;
    pumped?;
    source?.ok();
    flushed?;
    if let Some(failure) = pump.tracker.failure() {
        return Err(anyhow!(failure));
    }
    Ok(pump.summary)
}

/// Saves the checkpoint whenever it moves, and once more when told to stop.
/// A failed save (a full disk) is retried: progress stays in the tracker.
fn write_checkpoints(store: &mut FileStore, tracker: &Tracker, stop: &Receiver<()>) {
    let (mut saved, _) = tracker.snapshot();
    loop {
        let stopping = matches!(stop.try_recv(), Err(crossbeam_channel::TryRecvError::Disconnected));
        let next = if stopping { Some(tracker.snapshot()) } else { tracker.wait_progress(saved, CHECKPOINT_POLL) };
        if let Some((version, checkpoint)) = next.filter(|(v, _)| *v != saved) {
            match store.save(&checkpoint) {
                Ok(()) => saved = version,
                Err(e) => {
                    tracing::error!(error = %e, "cannot write the checkpoint; retrying");
                    let _ = stop.recv_timeout(Duration::from_secs(1));
                    continue;
                }
            }
        }
        if stopping {
            return;
        }
    }
}

struct Pump {
    transformer: Transformer,
    sink: Sink,
    tracker: Arc<Tracker>,
    dead: DeadLetters,
    summary: Summary,
}

impl Pump {
    fn run(&mut self, batches: &Receiver<Batch>, shutdown: &Shutdown) -> anyhow::Result<()> {
        loop {
            let batch = select! {
                recv(batches) -> batch => match batch {
                    Ok(batch) => batch,
                    Err(_) => return Ok(()),
                },
                recv(shutdown.signal()) -> _ => return Ok(()),
            };
            if let Some(failure) = self.tracker.failure() {
                return Err(anyhow!(failure));
            }
            self.handle(&batch, shutdown).with_context(|| format!("while streaming {}", batch.path))?;
        }
    }

    fn handle(&mut self, batch: &Batch, shutdown: &Shutdown) -> anyhow::Result<()> {
        let outcomes = self.transformer.process(batch)?;
        let records: Vec<&[u8]> = abi::records(&batch.records, batch.len()).collect();
        let mut letters: Vec<DeadLetter<'_>> = batch
            .rejects
            .iter()
            .map(|r| DeadLetter::new(&r.reason, &batch.path, r.line, r.offset, &r.sample))
            .collect();
        for ((outcome, meta), record) in outcomes.iter().zip(&batch.meta).zip(&records) {
            if let Outcome::Error(reason) = outcome {
                letters.push(DeadLetter::new(reason, &batch.path, meta.line, meta.offset, record));
            }
        }
        self.dead
            .write(&letters)
            .with_context(|| format!("cannot write dead letters to {}", self.dead.path().display()))?;
        let emits = outcomes.iter().filter(|o| matches!(o, Outcome::Emit(_))).count();
        self.summary.records += batch.len() as u64;
        self.summary.dead_letters += letters.len() as u64;
        self.summary.filtered += outcomes.iter().filter(|o| matches!(o, Outcome::Drop)).count() as u64;
        let Some(seq) = self.tracker.begin(batch, emits, || shutdown.is_triggered()) else { return Ok(()) };
        let mut unsent = emits;
        for ((outcome, meta), record) in outcomes.iter().zip(&batch.meta).zip(&records) {
            let Outcome::Emit(msg) = outcome else { continue };
            let sent = self.sink.send(msg, seq, shutdown);
            if !matches!(sent, Err(SendError::Stopped)) {
                unsent -= 1;
            }
            match sent {
                Ok(()) => self.summary.published += 1,
                Err(SendError::Stopped) => {
                    self.tracker.abandon(seq, unsent);
                    return Ok(());
                }
                Err(SendError::Refused(reason)) => {
                    let reason = format!("Kafka refused the message: {reason}");
                    self.dead.write(&[DeadLetter::new(&reason, &batch.path, meta.line, meta.offset, record)])?;
                    self.summary.dead_letters += 1;
                    self.tracker.acked(seq);
                }
            }
        }
        Ok(())
    }
}
