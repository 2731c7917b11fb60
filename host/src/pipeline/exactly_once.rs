//! The pipeline in exactly-once mode: the same stages, with a transactional
//! producer, the [`KafkaStore`] as the store, and a source that is rebuilt
//! from the last commit whenever a transaction is aborted.
//!
//! Start-up order matters: the producer's `init_transactions` fences any
//! earlier instance of the pipeline and aborts what it left open *before*
//! the offsets topic is read to its end, so the progress read is final. On
//! shutdown the source stops, the open transaction commits, and the process
//! exits 0; a fenced process exits with the fencing error.
//!
//! `checkpoint.json` is still written, after each commit and from a thread
//! of its own, as a copy of the committed progress for operators (and
//! scripts that watch it); it is never read in this mode, so it cannot make
//! the stream skip or repeat records.

use std::sync::Arc;
use std::thread;

use anyhow::{anyhow, bail};

use super::READ_AHEAD_BATCHES;
use super::group::Group;
use crate::clean::Cleaner;
use crate::config::RunConfig;
use crate::deadletter::DeadLetters;
use crate::metrics::PipelineMetrics;
use crate::progress::{Checkpoint, CheckpointStore, CompletedFiles, FileStore, KafkaStore, Tracker, Window};
use crate::pump::transaction::{Membership, Transactions};
use crate::pump::{Delivery, Pump, Summary};
use crate::shutdown::Shutdown;
use crate::sink::{Sink, SinkError};
use crate::source::Source;
use crate::transform::Transformer;

/// Runs the stream exactly once until `shutdown` triggers or a stage fails.
pub fn run(config: RunConfig, shutdown: Shutdown, metrics: Arc<PipelineMetrics>) -> anyhow::Result<Summary> {
    let eos = config.exactly_once.clone().ok_or_else(|| anyhow!("exactly-once settings missing"))?;
    let transformer = Transformer::new(&config.transform)?;
    tracing::info!(module = %transformer.path().display(), "transform module loaded");
    metrics.health.module_loaded();
    // The directory's lock and the operator's copy; never read here.
    let mut copy = FileStore::open(&config.checkpoint_dir)?;
    let window = Arc::new(Window::default());
    let tracker = Tracker::new(Checkpoint::default(), window.clone()).timing_files(metrics.file_ack_seconds.clone());
    let tracker = Arc::new(tracker);
    let completed = Arc::new(CompletedFiles::default());
    tracing::info!(topic = %config.kafka.topic, pipeline = %eos.pipeline, properties = ?config.kafka.redacted(), "connecting to Kafka (exactly once)");
    let dlq = config.dead_letter_topic.as_deref();
    let sink = match Sink::connect(&config.kafka, dlq, tracker.clone(), metrics.clone(), &shutdown) {
        Err(SinkError::NotConnected { .. } | SinkError::Transactions(_)) if shutdown.is_triggered() => {
            tracing::info!("stopped before Kafka was reachable; nothing was read");
            return Ok(Summary::default());
        }
        connected => connected?,
    };
    let mut store = KafkaStore::new(&config.kafka, &eos.offsets_topic, &eos.pipeline, &config.source.dir);
    store.ensure_topic(eos.offsets_partitions)?;
    // This host reads no file until the group assigns it partitions and
    // their committed progress is read.
    let (group, link) = Group::join(&store, &eos)?;
    metrics.set_owned(Vec::new(), 0);
    let mut txn = Transactions::new(store, &eos.pipeline, &eos.host_id, eos.transaction_interval);
    txn.share = Some(Membership::new(link));
    let delivery = Delivery {
        sink,
        tracker: tracker.clone(),
        window,
        metrics: metrics.clone(),
        dead: DeadLetters::new(&config.checkpoint_dir),
        dead_letter_topic: config.dead_letter_topic.clone(),
        kafka: config.kafka.clone(),
        txn: Some(txn),
    };
    let (to_copy, commits) = crossbeam_channel::unbounded::<Checkpoint>();
    let zone = crate::zone::of(&config.source);
    let cleaner = Cleaner::start(&config.clean, zone.clone(), tracker.clone(), completed.clone())?;
    let mut durable = tracker.snapshot().1;
    let mut copied = false;
    let copier = thread::Builder::new().name("checkpoint".into()).spawn(super::in_current_span(move || {
        loop {
            // What a commit made durable goes to `--clean-source`; the
            // operator's copy is not what makes it so.
            if let Some(cleaner) = &cleaner {
                cleaner.offer(&durable);
            }
            let mut latest = match commits.recv_timeout(super::CHECKPOINT_POLL) {
                Ok(latest) => latest,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            };
            latest = commits.try_iter().last().unwrap_or(latest);
            match copy.save(&latest) {
                Ok(()) => copied = true,
                Err(e) => tracing::warn!(error = %e, "cannot write the operator's copy of the committed progress"),
            }
            durable = latest;
        }
        // So that checkpoint.json alone holds the copy after a stop.
        if let Err(e) = copied.then(|| copy.compact(&durable)).transpose() {
            tracing::warn!(error = %e, "cannot compact the operator's copy of the committed progress");
        }
    }))?;
    let mut delivery = delivery;
    delivery.txn.as_mut().expect("exactly-once mode").on_commit = Some(to_copy);
    let mut pump = Pump::new(transformer, delivery, config.max_consecutive_errors);
    tracing::info!(topic = %config.kafka.topic, landing_zone = %config.source.dir.display(), "streaming");
    let pumped = loop {
        let (tx, rx) = crossbeam_channel::bounded(READ_AHEAD_BATCHES);
        let stop = Shutdown::new();
        // The share first: it rewinds the tracker to the progress of the
        // files it adopts, where the source resumes.
        let share = pump.delivery.reshare();
        let (tracker, completed, metrics) = (tracker.clone(), completed.clone(), metrics.clone());
        let source = Source::new(zone.clone(), config.source.clone(), tracker, completed, metrics, tx, stop.clone())
            .sharing(share);
        let source =
            thread::Builder::new().name("source".into()).spawn(super::in_current_span(move || source.run()))?;
        let pumped = pump.run(&rx, &shutdown);
        stop.trigger();
        drop(rx);
        source.join().map_err(|_| anyhow!("the source thread panicked"))?;
        if pumped.is_err() || !pump.delivery.take_rewind() || shutdown.is_triggered() {
            break pumped;
        }
        tracing::debug!("reading again from the last commit");
    };
    shutdown.trigger();
    let committed = if pumped.is_ok() { pump.delivery.commit(&shutdown) } else { Ok(()) };
    pump.settle();
    drop(group);
    let (commits, aborts) = pump.delivery.txn.as_ref().map_or((0, 0), |t| t.counts);
    tracing::info!(commits, aborts, "transactions");
    pump.delivery.txn.as_mut().expect("exactly-once mode").on_commit = None;
    copier.join().map_err(|_| anyhow!("the checkpoint thread panicked"))?;
    pumped?;
    committed?;
    if pump.delivery.take_rewind() {
        if pump.delivery.aborted_by_rebalance() {
            // The group moved on as this host stopped: what the transaction
            // held is read again from the last commit by the files' next
            // owner. Nothing is lost, and the stop itself went as asked.
            tracing::warn!(
                "the last transaction was aborted because the pipeline's group was rebalancing; the next owner of \
                 its files reads them again from the last commit"
            );
            return Ok(pump.summary);
        }
        bail!(
            "the last transaction could not commit at shutdown and was aborted; a restart resumes from the last commit"
        );
    }
    Ok(pump.summary)
}
