//! Metrics, health and the status page: what an operator's tooling and a
//! person at a browser see of a running pipeline.
//!
//! The process owns one [`Metrics`]: the Prometheus registry (built with
//! `prometheus-client`, which encodes the OpenMetrics text format) and the
//! metric families. Each pipeline gets a [`PipelineMetrics`] of handles into
//! those families, labelled once with its `pipeline` and `topic`, so a stage
//! counts with one atomic add and never looks a label set up. Stages count
//! where the event happens, per batch where they can: the source (files,
//! lines and bytes read, the backlog), the pump (filtered records, dead
//! letters by [`Reason`], transform time), the sink's delivery callback
//! (published messages, the last acknowledgement) and the tracker (records
//! in flight, file-to-acknowledged latency). [`Health`] holds what makes the
//! pipeline ready or not, with the reason. [`server`] serves all of it on
//! `--metrics-addr`.

pub mod health;
mod page;
pub mod server;
mod status;
mod store;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::record::{Reason, Skip};
pub use health::Health;
pub use page::{About, DeadLetterView, FileView, Phase, now_ms};
pub use store::StoreRequests;

/// Dead letters the status page keeps, newest last.
const RECENT_DEAD_LETTERS: usize = 20;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    pipeline: String,
    topic: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    pipeline: String,
    topic: String,
    reason: &'static str,
}

type Seconds = Family<Labels, Histogram, fn() -> Histogram>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// The metric families, shared by every pipeline of the process.
#[derive(Debug, Clone)]
struct Families {
    files_found: Family<Labels, Counter>,
    files_skipped: Family<ReasonLabels, Counter>,
    files_finished: Family<Labels, Counter>,
    records_read: Family<Labels, Counter>,
    bytes_read: Family<Labels, Counter>,
    published: Family<Labels, Counter>,
    filtered: Family<Labels, Counter>,
    dead_lettered: Family<ReasonLabels, Counter>,
    files_in_progress: Family<Labels, Gauge>,
    backlog_bytes: Family<Labels, Gauge>,
    in_flight: Family<Labels, Gauge>,
    producer_queue: Family<Labels, Gauge>,
    since_last_ack: Family<Labels, FloatGauge>,
    ready: Family<Labels, Gauge>,
    owned_partitions: Family<Labels, Gauge>,
    owned_files: Family<Labels, Gauge>,
    transform_seconds: Seconds,
    file_ack_seconds: Seconds,
    store_requests: Family<store::OutcomeLabels, Counter>,
}

/// Transform time per batch: 50 µs to about 3 s.
fn transform_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 3.0, 11))
}

/// Found-to-acknowledged time per file: 10 ms to about 2 h.
fn file_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 4.0, 10))
}

impl Families {
    fn register(r: &mut Registry) -> Self {
        let f = Families {
            files_found: Family::default(),
            files_skipped: Family::default(),
            files_finished: Family::default(),
            records_read: Family::default(),
            bytes_read: Family::default(),
            published: Family::default(),
            filtered: Family::default(),
            dead_lettered: Family::default(),
            files_in_progress: Family::default(),
            backlog_bytes: Family::default(),
            in_flight: Family::default(),
            producer_queue: Family::default(),
            since_last_ack: Family::default(),
            ready: Family::default(),
            owned_partitions: Family::default(),
            owned_files: Family::default(),
            transform_seconds: Family::new_with_constructor(transform_histogram),
            file_ack_seconds: Family::new_with_constructor(file_histogram),
            store_requests: store::register(r),
        };
        r.register("files_found", "Files found in the landing zone", f.files_found.clone());
        r.register(
            "files_skipped",
            "Landing-zone entries refused unread (links, FIFOs, devices, pseudo-files), by reason",
            f.files_skipped.clone(),
        );
        r.register("files_finished", "Files read to their end and complete", f.files_finished.clone());
        r.register("records_read", "Lines read from files, rejected ones included", f.records_read.clone());
        r.register("bytes_read", "Bytes of files read", f.bytes_read.clone());
        r.register("records_published", "Messages Kafka acknowledged", f.published.clone());
        r.register("records_filtered", "Records the transform dropped", f.filtered.clone());
        r.register("records_dead_lettered", "Records sent to the dead letters, by reason", f.dead_lettered.clone());
        r.register("files_in_progress", "Files found and not yet finished", f.files_in_progress.clone());
        r.register("backlog_bytes", "Bytes of found files not yet read", f.backlog_bytes.clone());
        r.register("records_in_flight", "Messages sent and not yet acknowledged", f.in_flight.clone());
        r.register("producer_queue_messages", "Messages in the Kafka producer's queue", f.producer_queue.clone());
        r.register(
            "seconds_since_last_ack",
            "Seconds since Kafka last acknowledged a message (since start-up before the first)",
            f.since_last_ack.clone(),
        );
        r.register("ready", "1 when /health/ready answers 200", f.ready.clone());
        r.register(
            "owned_partitions",
            "Partitions of the offsets topic this host owns, so whose files it reads (exactly-once mode)",
            f.owned_partitions.clone(),
        );
        r.register(
            "owned_files",
            "Files with committed progress in the partitions this host owns (exactly-once mode)",
            f.owned_files.clone(),
        );
        r.register("transform_batch_seconds", "Time the transform took per batch", f.transform_seconds.clone());
        r.register(
            "file_ack_latency_seconds",
            "Time from a file being found to every record of it being acknowledged",
            f.file_ack_seconds.clone(),
        );
        f
    }
}

/// The process's registry and its pipelines' metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    families: Families,
    pipelines: Mutex<Vec<Arc<PipelineMetrics>>>,
    /// When the process started, in milliseconds since the Unix epoch.
    started_at_ms: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry, every name prefixed `sluice_`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sluice");
        let families = Families::register(&mut registry);
        Metrics { registry, families, pipelines: Mutex::new(Vec::new()), started_at_ms: now_ms() }
    }

    /// The handles of pipeline `name`, publishing to `topic` from `landing_zone`.
    pub fn pipeline(&self, name: &str, topic: &str, landing_zone: PathBuf) -> Arc<PipelineMetrics> {
        let pipeline = Arc::new(PipelineMetrics::in_families(&self.families, name, topic, landing_zone));
        lock(&self.pipelines).push(pipeline.clone());
        pipeline
    }

    /// Every pipeline registered.
    pub fn pipelines(&self) -> Vec<Arc<PipelineMetrics>> {
        lock(&self.pipelines).clone()
    }

    /// The OpenMetrics text of every metric, gauges of time brought up to now.
    pub fn encode(&self) -> String {
        for pipeline in self.pipelines() {
            pipeline.refresh();
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String");
        text
    }
}

/// One pipeline's metric handles, health and status-page state.
#[derive(Debug)]
pub struct PipelineMetrics {
    /// The pipeline's name (the `pipeline` label).
    pub name: String,
    /// Its `--topic` (the `topic` label).
    pub topic: String,
    /// Its landing zone.
    pub landing_zone: PathBuf,
    /// Files found in the landing zone.
    pub files_found: Counter,
    files_skipped: [Counter; Skip::ALL.len()],
    /// Files read to their end and complete.
    pub files_finished: Counter,
    /// Lines read, rejected ones included.
    pub records_read: Counter,
    /// Bytes read.
    pub bytes_read: Counter,
    /// Messages Kafka acknowledged.
    pub published: Counter,
    /// Records the transform dropped.
    pub filtered: Counter,
    dead_lettered: [Counter; Reason::ALL.len()],
    /// Files found and not finished.
    pub files_in_progress: Gauge,
    /// Bytes of found files not yet read.
    pub backlog_bytes: Gauge,
    /// Messages sent and not acknowledged.
    pub in_flight: Gauge,
    /// Messages in the producer's queue.
    pub producer_queue: Gauge,
    since_last_ack: FloatGauge,
    ready: Gauge,
    owned_partitions: Gauge,
    owned_files: Gauge,
    /// Transform time per batch.
    pub transform_seconds: Histogram,
    /// Found-to-acknowledged time per file.
    pub file_ack_seconds: Histogram,
    /// Requests to the landing zone's object store.
    pub store_requests: StoreRequests,
    started: Instant,
    /// Milliseconds after `started` of the last acknowledgement.
    last_ack_ms: AtomicU64,
    /// What makes it ready, or not.
    pub health: Health,
    files: Mutex<Vec<FileView>>,
    dead: Mutex<VecDeque<DeadLetterView>>,
    /// The offsets topic's partitions this host owns; `None` outside a
    /// pipeline's group (at-least-once mode).
    owned: Mutex<Option<Vec<i32>>>,
    about: Mutex<About>,
    phase: Mutex<Phase>,
}

impl PipelineMetrics {
    fn in_families(f: &Families, name: &str, topic: &str, landing_zone: PathBuf) -> Self {
        let labels = Labels { pipeline: name.to_owned(), topic: topic.to_owned() };
        let dead = |reason: Reason| {
            let labels = ReasonLabels { pipeline: name.to_owned(), topic: topic.to_owned(), reason: reason.as_str() };
            f.dead_lettered.get_or_create_owned(&labels)
        };
        let skipped = |reason: Skip| {
            let labels = ReasonLabels { pipeline: name.to_owned(), topic: topic.to_owned(), reason: reason.as_str() };
            f.files_skipped.get_or_create_owned(&labels)
        };
        PipelineMetrics {
            name: name.to_owned(),
            topic: topic.to_owned(),
            landing_zone,
            files_found: f.files_found.get_or_create_owned(&labels),
            files_skipped: Skip::ALL.map(skipped),
            files_finished: f.files_finished.get_or_create_owned(&labels),
            records_read: f.records_read.get_or_create_owned(&labels),
            bytes_read: f.bytes_read.get_or_create_owned(&labels),
            published: f.published.get_or_create_owned(&labels),
            filtered: f.filtered.get_or_create_owned(&labels),
            dead_lettered: Reason::ALL.map(dead),
            files_in_progress: f.files_in_progress.get_or_create_owned(&labels),
            backlog_bytes: f.backlog_bytes.get_or_create_owned(&labels),
            in_flight: f.in_flight.get_or_create_owned(&labels),
            producer_queue: f.producer_queue.get_or_create_owned(&labels),
            since_last_ack: f.since_last_ack.get_or_create_owned(&labels),
            ready: f.ready.get_or_create_owned(&labels),
            owned_partitions: f.owned_partitions.get_or_create_owned(&labels),
            owned_files: f.owned_files.get_or_create_owned(&labels),
            transform_seconds: f.transform_seconds.get_or_create_owned(&labels),
            file_ack_seconds: f.file_ack_seconds.get_or_create_owned(&labels),
            store_requests: StoreRequests::new(&f.store_requests, name, topic),
            started: Instant::now(),
            last_ack_ms: AtomicU64::new(0),
            health: Health::default(),
            files: Mutex::new(Vec::new()),
            dead: Mutex::new(VecDeque::new()),
            owned: Mutex::new(None),
            about: Mutex::default(),
            phase: Mutex::default(),
        }
    }

    /// Handles in no registry, for a pipeline run without `--metrics-addr`
    /// and for tests: counting costs the same, nobody reads it.
    pub fn detached() -> Arc<Self> {
        Metrics::new().pipeline("default", "", PathBuf::new())
    }

    /// Kafka acknowledged a message just now; `messages` of them count as
    /// published (0 for a dead letter on the dead-letter topic).
    pub fn acked(&self, messages: u64) {
        self.published.inc_by(messages);
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_ack_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last acknowledgement, or since start-up.
    pub fn since_last_ack(&self) -> Duration {
        let at = Duration::from_millis(self.last_ack_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(at)
    }

    /// Counts dead letters, and keeps the newest for the status page.
    pub fn dead_lettered(&self, letters: &[crate::record::DeadLetter<'_>]) {
        if letters.is_empty() {
            return;
        }
        let mut recent = lock(&self.dead);
        for letter in letters {
            self.dead_lettered[letter.kind as usize].inc();
            if recent.len() == RECENT_DEAD_LETTERS {
                recent.pop_front();
            }
            let (file, line) = (letter.file.to_owned(), letter.line);
            let (reason, detail, at_ms) = (letter.kind.as_str(), letter.reason.to_owned(), now_ms());
            recent.push_back(DeadLetterView { reason, detail, file, line, at_ms });
        }
    }

    /// Counts a landing-zone entry refused unread.
    pub fn skipped(&self, reason: Skip) {
        self.files_skipped[reason as usize].inc();
    }

    /// Entries refused so far for `reason`.
    pub fn skips(&self, reason: Skip) -> u64 {
        self.files_skipped[reason as usize].get()
    }

    /// Dead letters so far with `reason`.
    pub fn dead_letters(&self, reason: Reason) -> u64 {
        self.dead_lettered[reason as usize].get()
    }

    /// Replaces the list of files being read.
    pub fn set_files(&self, files: Vec<FileView>) {
        *lock(&self.files) = files;
    }

    /// This host now owns `partitions` of the offsets topic, holding
    /// committed progress of `files` files.
    pub fn set_owned(&self, partitions: Vec<i32>, files: usize) {
        self.owned_partitions.set(partitions.len() as i64);
        self.owned_files.set(files as i64);
        *lock(&self.owned) = Some(partitions);
    }

    /// How the pipeline is set up, for the status page.
    pub fn describe(&self, about: About) {
        *lock(&self.about) = about;
    }

    /// It stopped, or failed: the status page says so, and why.
    pub fn ended(&self, phase: Phase) {
        *lock(&self.phase) = phase;
    }

    /// The partitions this host owns, if it is in a pipeline's group.
    pub fn owned(&self) -> Option<Vec<i32>> {
        lock(&self.owned).clone()
    }

    /// Brings the gauges of time and readiness up to now.
    fn refresh(&self) {
        self.since_last_ack.set(self.since_last_ack().as_secs_f64());
        self.ready.set(i64::from(self.health.problems().is_empty()));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
