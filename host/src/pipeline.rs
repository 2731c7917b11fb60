//! Wires the stages together and runs them until shutdown: one builder for
//! both delivery modes.
//!
//! ```text
//!  source thread ──Batch──▶ pump (this thread) ──Message──▶ librdkafka
//!   (files)       bounded    wasm transform,                  │ delivery
//!                 channel    dead letters                     ▼ callbacks
//!                                               Tracker ──▶ checkpoint thread
//! ```
//!
//! [`run`] builds the stages every pipeline has (the transform, the
//! tracker, the sink, the pump, the source) once; what differs with
//! `--delivery` is a `Mode`: at least once (`at_least_once`), a
//! checkpoint writer saving `checkpoint.json` as Kafka acknowledges; exactly
//! once (`exactly_once`), the pipeline's group, transactions that commit
//! records and progress together, and the operator's copy of each commit.
//!
//! Start-up checks everything before a record moves: the landing zone (it
//! must exist and be a directory), the module, the checkpoint, then the
//! broker and topic. On shutdown the source stops
//! taking records, the pump stops sending, and the mode finishes: the
//! producer is flushed and the checkpoint written covering exactly what
//! Kafka acknowledged, or the open transaction commits. In exactly-once
//! mode the source is rebuilt from the last commit whenever a transaction
//! is aborted or the group moves files, so `stream` runs one source after
//! another until the pump stops for good.
//!
//! [`supervisor`] runs the pipelines of a process (one from flags, or every
//! pipeline of a config file) with the metrics server and progress bars.

mod at_least_once;
mod exactly_once;
pub mod supervisor;

use std::sync::Arc;
use std::thread::{self, JoinHandle};

use anyhow::anyhow;

use crate::clean::Cleaner;
use crate::config::{ExactlyOnce, RunConfig};
use crate::deadletter::DeadLetters;
use crate::metrics::PipelineMetrics;
use crate::progress::{Checkpoint, Tracker, Window};
use crate::pump::transaction::Transactions;
use crate::pump::{Delivery, Pump, Shared, Summary};
use crate::shutdown::Shutdown;
use crate::sink::{Sink, SinkError};
use crate::source::Source;
use crate::transform::Transformer;
use crate::zone::LandingZone;

/// Batches read ahead of the transform: enough to keep it busy while the
/// source waits on the disk, few enough to bound memory (4 x 1 MiB).
const READ_AHEAD_BATCHES: usize = 4;

/// Runs the stream until `shutdown` triggers or a stage fails, counting
/// into `metrics`; a failure is also its health's reason.
pub fn run(config: RunConfig, shutdown: Shutdown, metrics: Arc<PipelineMetrics>) -> anyhow::Result<Summary> {
    let reported = metrics.clone();
    let ran = build(config, shutdown, metrics);
    match &ran {
        Ok(_) => reported.health.stopped("shut down"),
        Err(e) => reported.health.stopped(&format!("{e:#}")),
    }
    ran
}

/// The delivery mode, with what only it needs, before the stream starts.
enum Mode {
    /// `checkpoint.json` is the progress, saved as Kafka acknowledges.
    AtLeastOnce(at_least_once::Checkpoints),
    /// Transactions carry the progress; `checkpoint.json` is a copy.
    ExactlyOnce(exactly_once::Copy, ExactlyOnce),
}

/// The delivery mode's part of a running pipeline, which finishes it.
enum Running {
    /// The checkpoint writer.
    AtLeastOnce(at_least_once::Writer),
    /// The pipeline's group and the copy's writer.
    ExactlyOnce(exactly_once::Member),
}

/// The handles of a pipeline on the landing zone `zone`, resuming from
/// `checkpoint`.
fn shared(zone: Arc<dyn LandingZone>, checkpoint: Checkpoint, metrics: Arc<PipelineMetrics>) -> Shared {
    let window = Arc::new(Window::default());
    let tracker = Tracker::new(checkpoint, window.clone()).timing_files(metrics.file_ack_seconds.clone());
    Shared { zone, tracker: Arc::new(tracker), window, completed: Arc::default(), metrics }
}

/// The one builder: the stages, with what `config`'s delivery mode adds.
fn build(mut config: RunConfig, shutdown: Shutdown, metrics: Arc<PipelineMetrics>) -> anyhow::Result<Summary> {
    let zone = crate::zone::of(&config.source, &metrics)?;
    zone.check()?;
    let transformer = Transformer::new(&config.transform)?;
    tracing::info!(module = %transformer.path().display(), "transform module loaded");
    metrics.health.module_loaded();
    let (mode, checkpoint) = Mode::open(&mut config)?;
    let shared = shared(zone, checkpoint, metrics);
    let Some(sink) = connect(&config, &shared, &shutdown)? else {
        tracing::info!("stopped before Kafka was reachable; nothing was read");
        return Ok(Summary::default());
    };
    let (running, txn) = mode.start(&config, &shared)?;
    let dead = DeadLetters::new(&config.checkpoint_dir);
    let delivery = Delivery::new(sink, &shared, dead, &config, txn);
    let mut pump = Pump::new(transformer, delivery, config.max_consecutive_errors);
    tracing::info!(topic = %config.kafka.topic, landing_zone = %config.source.dir.display(), "streaming");
    let streamed = stream(&config, &mut pump, &shared, &shutdown, || running.source_stop(&shutdown));
    running.finish(pump, streamed, &shutdown)
}

impl Mode {
    /// Opens (and locks) the checkpoint directory; the checkpoint the
    /// stream resumes from (none in exactly-once mode: the group's
    /// assignments bring it). In exactly-once mode `config` gets the host
    /// id, kept in the directory unless `--host-id` gave one.
    fn open(config: &mut RunConfig) -> anyhow::Result<(Mode, Checkpoint)> {
        let dir = config.checkpoint_dir.clone();
        if config.exactly_once.is_none() {
            let (store, resume) = at_least_once::Checkpoints::open(&dir)?;
            return Ok((Mode::AtLeastOnce(store), resume));
        }
        let copy = exactly_once::Copy::open(&dir)?;
        exactly_once::settle_host_id(config)?;
        let eos = config.exactly_once.clone().expect("exactly-once mode has its settings");
        Ok((Mode::ExactlyOnce(copy, eos), Checkpoint::default()))
    }

    /// Starts what the mode runs beside the pump; the transactions the pump
    /// commits in, in exactly-once mode.
    fn start(self, config: &RunConfig, shared: &Shared) -> anyhow::Result<(Running, Option<Transactions>)> {
        match self {
            Mode::AtLeastOnce(store) => Ok((Running::AtLeastOnce(store.start(config, shared)?), None)),
            Mode::ExactlyOnce(copy, eos) => {
                let (member, txn) = copy.start(config, &eos, shared)?;
                Ok((Running::ExactlyOnce(member), Some(txn)))
            }
        }
    }
}

impl Running {
    /// The stop signal of the next source: the pipeline's own at least
    /// once; in exactly-once mode one of its own, as the source is rebuilt
    /// after a rewind while the pipeline goes on.
    fn source_stop(&self, shutdown: &Shutdown) -> Shutdown {
        match self {
            Running::AtLeastOnce(_) => shutdown.clone(),
            Running::ExactlyOnce(_) => Shutdown::new(),
        }
    }

    /// Finishes the pipeline once the stream stopped: its outcome.
    fn finish(self, pump: Pump, streamed: Streamed, shutdown: &Shutdown) -> anyhow::Result<Summary> {
        match self {
            Running::AtLeastOnce(writer) => writer.finish(pump, streamed, shutdown),
            Running::ExactlyOnce(member) => member.finish(pump, streamed, shutdown),
        }
    }
}

/// The sink, connected to the broker; `None` if shutdown came first.
fn connect(config: &RunConfig, shared: &Shared, shutdown: &Shutdown) -> anyhow::Result<Option<Sink>> {
    let (topic, properties) = (&config.kafka.topic, config.kafka.redacted());
    match &config.exactly_once {
        None => tracing::info!(%topic, ?properties, "connecting to Kafka"),
        Some(eos) => {
            tracing::info!(%topic, pipeline = %eos.pipeline, ?properties, "connecting to Kafka (exactly once)")
        }
    }
    let dlq = config.dead_letter_topic.as_deref();
    let (tracker, metrics) = (shared.tracker.clone(), shared.metrics.clone());
    match Sink::connect(&config.kafka, dlq, tracker, metrics, Some(config.kafka.connect_timeout), shutdown) {
        Err(SinkError::NotConnected { .. } | SinkError::Transactions(_)) if shutdown.is_triggered() => Ok(None),
        connected => Ok(Some(connected?)),
    }
}

/// What [`stream`] ends with: the pump's outcome, and how the last
/// source's thread ended.
type Streamed = (anyhow::Result<()>, anyhow::Result<()>);

/// Runs a source into `pump` until the pump stops; again from the last
/// commit while it stops to rewind (exactly-once mode). Each source stops
/// with its own `stop`, which triggers with `shutdown` or not.
fn stream(
    config: &RunConfig,
    pump: &mut Pump,
    shared: &Shared,
    shutdown: &Shutdown,
    source_stop: impl Fn() -> Shutdown,
) -> Streamed {
    loop {
        let (tx, rx) = crossbeam_channel::bounded(READ_AHEAD_BATCHES);
        let stop = source_stop();
        // First: taking on or giving up files rewinds the tracker, which
        // the new source resumes from.
        let share = pump.delivery.reshare();
        let (zone, tracker, completed) = (shared.zone.clone(), shared.tracker.clone(), shared.completed.clone());
        let source =
            Source::new(zone, config.source.clone(), tracker, completed, shared.metrics.clone(), tx, stop.clone())
                .sharing(share);
        let source = match spawn("source", move || source.run()) {
            Ok(source) => source,
            Err(e) => return (Err(e), Ok(())),
        };
        let pumped = pump.run(&rx, shutdown);
        stop.trigger();
        drop(rx);
        let joined = source.join().map(|_| ()).map_err(|_| anyhow!("the source thread panicked"));
        if pumped.is_err() || joined.is_err() || !pump.delivery.take_rewind() || shutdown.is_triggered() {
            return (pumped, joined);
        }
        tracing::debug!("reading again from the last commit");
    }
}

/// The `--clean-source` thread on the pipeline's zone, or none when
/// cleaning is off; both delivery modes start it beside their writer.
fn start_cleaner(config: &RunConfig, shared: &Shared) -> std::io::Result<Option<Cleaner>> {
    let (zone, tracker, completed) = (shared.zone.clone(), shared.tracker.clone(), shared.completed.clone());
    Cleaner::start(&config.clean, zone, tracker, completed)
}

/// Starts a thread named `name` running `f` inside the caller's span, so
/// that a stage's log lines name their pipeline when a file runs several.
fn spawn<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<JoinHandle<T>> {
    let span = tracing::Span::current();
    Ok(thread::Builder::new().name(name.into()).spawn(move || span.in_scope(f))?)
}
