//! Scale-out: the hosts of one pipeline as a Kafka consumer group, which
//! divides the landing zone's files among them (`docs/src/scale-out.md`).
//!
//! Each file's progress lives in one partition of the offsets topic (by a
//! hash of its path, [`partition_of`](crate::progress::kafka::partition_of)),
//! so owning a partition means owning its files. The host's consumer, in
//! group `sluice-<pipeline>` with static membership (`group.instance.id` is
//! the host id, so a restarted host takes its old place without a
//! rebalance) and the cooperative-sticky assignor (a rebalance moves only
//! what must move), subscribes to the offsets topic and never reads it: its
//! assignment is the answer. This thread polls it; the rebalance callbacks
//! run here and talk to the pump thread, which owns the transaction:
//!
//! - **Revoked**: the callback hands the partitions to the pump and waits
//!   until it has committed (or aborted) the open transaction and dropped
//!   their files. Kafka gives them to another host only after the callback
//!   returns, or after the session timed out if this host died.
//! - **Assigned**: the callback first fetches the group's committed offsets
//!   of the partitions with `require_stable` (librdkafka does so under
//!   `read_committed`), which waits while a transaction of the previous
//!   owner holds offsets of them (KIP-447): every transaction sends the
//!   offsets of the partitions its host owns. Then it reads their progress
//!   `read_committed` and hands it to the pump, which adopts the files.
//! - **Lost** (this host's session timed out): the pump aborts.
//!
//! Zombies are fenced by the group coordinator: a host that lost its
//! partitions without noticing (paused past its session) sends its offsets
//! with a stale generation, the coordinator refuses them, and the
//! transaction is aborted; none of its records become visible.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::Context as _;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, ConsumerGroupMetadata, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaStore;
use super::kafka::Restored;
use crate::config::ExactlyOnce;
use crate::shutdown::Shutdown;

/// How long one poll of the consumer waits.
const POLL: Duration = Duration::from_millis(100);
/// How long one fetch of stable offsets may wait before it is retried.
const STABLE_FETCH: Duration = Duration::from_secs(2);

/// A change of what this host owns, for the pump.
#[derive(Debug)]
pub enum Change {
    /// Partitions assigned, their progress read.
    Assigned(Restored),
    /// Partitions to give up; the rebalance waits until `done` is dropped.
    Revoked {
        /// The partitions.
        partitions: Vec<i32>,
        /// The session timed out: they may already be another host's.
        lost: bool,
        /// Dropped when the transaction is finished and the files dropped.
        done: Sender<()>,
    },
    /// The membership failed for good.
    Failed {
        /// Why.
        reason: String,
        /// Another process joined with this host id and took its place.
        fenced: bool,
    },
}

/// The group metadata of the current generation, which every transaction
/// sends with its offsets.
pub type Generation = Arc<Mutex<Option<ConsumerGroupMetadata>>>;

/// This host's membership: the consumer's thread, stopped when dropped.
#[derive(Debug)]
pub struct Group {
    stop: Shutdown,
    thread: Option<JoinHandle<()>>,
}

/// What the pump holds of the group.
pub struct Link {
    /// Ownership changes, in the order the group made them.
    changes: Receiver<Change>,
    /// The current generation.
    generation: Generation,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").field("changes", &self.changes.len()).finish_non_exhaustive()
    }
}

/// What this host owns in the pipeline's group, as the pump sees it: the
/// partitions, and the group's next change, held until the pipeline makes
/// it between two sources.
#[derive(Debug)]
pub struct Membership {
    link: Link,
    /// The partitions owned, each with the offset its commits send.
    owned: BTreeMap<i32, i64>,
    /// A change for the pipeline to make before its next source starts.
    pending: Option<Change>,
}

impl Membership {
    /// Owning nothing until the group assigns partitions.
    pub fn new(link: Link) -> Self {
        Membership { link, owned: BTreeMap::new(), pending: None }
    }

    /// The group's next change of what this host owns, unless one is held.
    pub fn next_change(&mut self) -> Option<Change> {
        if self.pending.is_some() {
            return None;
        }
        self.link.changes.try_recv().ok()
    }

    /// Holds `change` until [`Membership::apply`].
    pub fn hold(&mut self, change: Change) {
        self.pending = Some(change);
    }

    /// Makes the held change in `store`: adopts the progress of assigned
    /// partitions, or drops the files of revoked ones (and lets the
    /// rebalance go on). Whether there was one.
    pub fn apply(&mut self, store: &mut KafkaStore) -> bool {
        let Some(change) = self.pending.take() else { return false };
        match change {
            Change::Assigned(restored) => {
                let ends: BTreeMap<i32, i64> = restored.ends.iter().copied().collect();
                for p in &restored.partitions {
                    self.owned.insert(*p, ends.get(p).copied().unwrap_or(0));
                }
                let (partitions, files) = (restored.partitions.clone(), restored.files());
                store.adopt(restored);
                tracing::info!(?partitions, files, owned = ?self.owned.keys(), "took over partitions and their files");
            }
            Change::Revoked { partitions, done, .. } => {
                for p in &partitions {
                    self.owned.remove(p);
                }
                let files = store.release(&partitions);
                tracing::info!(?partitions, files, owned = ?self.owned.keys(), "gave up partitions and their files");
                drop(done);
            }
            Change::Failed { .. } => unreachable!("a failure stops the pump before its change is held"),
        }
        true
    }

    /// The partitions owned.
    pub fn owned(&self) -> impl Iterator<Item = i32> + '_ {
        self.owned.keys().copied()
    }

    /// The offsets of the partitions owned in `topic`, which every
    /// transaction sends; `None` while it owns none.
    pub fn offsets(&self, topic: &str) -> Result<Option<TopicPartitionList>, KafkaError> {
        if self.owned.is_empty() {
            return Ok(None);
        }
        let mut offsets = TopicPartitionList::new();
        for (partition, offset) in &self.owned {
            offsets.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
        }
        Ok(Some(offsets))
    }

    /// The group's current generation, which the offsets are sent with.
    pub fn generation(&self) -> MutexGuard<'_, Option<ConsumerGroupMetadata>> {
        self.link.generation.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Group {
    /// Joins the group of `eos`'s pipeline on `store`'s offsets topic.
    pub fn join(store: &KafkaStore, eos: &ExactlyOnce) -> anyhow::Result<(Group, Link)> {
        let (changes, received) = crossbeam_channel::unbounded();
        let stop = Shutdown::new();
        let generation = Generation::default();
        let context = Context { changes, generation: generation.clone(), store: store.clone(), stop: stop.clone() };
        let session = eos.session_timeout.as_millis();
        let consumer: BaseConsumer<Context> = store
            .client_config()
            .set("group.id", eos.group_id())
            .set("group.instance.id", &eos.host_id)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("session.timeout.ms", session.to_string())
            .set("heartbeat.interval.ms", (session / 5).max(100).to_string())
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create_with_context(context)
            .context("cannot create the pipeline's group consumer")?;
        consumer.subscribe(&[store.topic()]).context("cannot join the pipeline's group")?;
        tracing::info!(group = %eos.group_id(), host_id = %eos.host_id, partitions = store.partitions(), "joined the pipeline's group");
        let (stopped, span) = (stop.clone(), tracing::Span::current());
        let thread =
            thread::Builder::new().name("group".into()).spawn(move || span.in_scope(|| poll(&consumer, &stopped)))?;
        Ok((Group { stop, thread: Some(thread) }, Link { changes: received, generation }))
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop.trigger();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Polls until `stop`, which serves the rebalance callbacks; then closes the
/// consumer (a static member does not leave: its partitions move when its
/// session times out, unless it comes back first).
fn poll(consumer: &BaseConsumer<Context>, stop: &Shutdown) {
    while !stop.is_triggered() {
        match consumer.poll(POLL) {
            None | Some(Ok(_)) => {}
            Some(Err(e)) => {
                if let Some((code, reason)) = consumer.client().fatal_error() {
                    let fenced = code == RDKafkaErrorCode::FencedInstanceId;
                    let _ = consumer.context().changes.send(Change::Failed { reason, fenced });
                    return;
                }
                tracing::warn!(error = %e, "the pipeline's group consumer reported an error");
            }
        }
        consumer.context().refresh(consumer);
    }
}

struct Context {
    changes: Sender<Change>,
    generation: Generation,
    /// Reads the progress of assigned partitions.
    store: KafkaStore,
    stop: Shutdown,
}

impl Context {
    /// Takes the consumer's group metadata for the next transaction. Not
    /// while the consumer closes: its last revoke runs inside the close, and
    /// librdkafka then never answers the metadata request.
    fn refresh(&self, consumer: &BaseConsumer<Context>) {
        if self.stop.is_triggered() {
            return;
        }
        *self.generation.lock().unwrap_or_else(|e| e.into_inner()) = consumer.group_metadata();
    }

    /// Reads the assigned partitions' progress once no transaction of their
    /// previous owner holds them, and hands it to the pump.
    fn assigned(&self, consumer: &BaseConsumer<Context>, assigned: &TopicPartitionList, partitions: Vec<i32>) {
        if let Err(e) = consumer.pause(assigned) {
            tracing::warn!(error = %e, "cannot pause the offsets topic's partitions; the group consumer reads them");
        }
        loop {
            match consumer.committed_offsets(assigned.clone(), STABLE_FETCH) {
                Ok(_) => break,
                Err(_) if self.stop.is_triggered() => return,
                Err(e) => tracing::info!(error = %e, ?partitions, "waiting for the previous owner's transaction"),
            }
        }
        let change = match self.store.restore(&partitions) {
            Ok(restored) => {
                tracing::info!(?partitions, files = restored.files(), "partitions assigned; their progress read");
                Change::Assigned(restored)
            }
            Err(e) => {
                Change::Failed { reason: format!("cannot take over partitions {partitions:?}: {e}"), fenced: false }
            }
        };
        let _ = self.changes.send(change);
    }

    /// Has the pump finish the open transaction and drop the partitions'
    /// files, and waits until it has (or this host stops).
    fn revoked(&self, consumer: &BaseConsumer<Context>, partitions: Vec<i32>) {
        let lost = consumer.assignment_lost();
        tracing::info!(?partitions, lost, "partitions revoked; finishing the open transaction");
        let (done, finished) = crossbeam_channel::bounded(0);
        if self.changes.send(Change::Revoked { partitions, lost, done }).is_err() {
            return;
        }
        while let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(POLL) {
            if self.stop.is_triggered() {
                return;
            }
        }
    }
}

/// librdkafka's lines about the group's consumer; a failed connection only
/// at debug, as the sink's producer tells whether a broker is reached.
impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        crate::kafka::log_line(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if crate::kafka::is_connection_error(error.rdkafka_error_code()) {
            tracing::debug!(target: "librdkafka", %error, "{reason}");
        } else {
            tracing::warn!(target: "librdkafka", %error, "{reason}");
        }
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.refresh(consumer);
        match rebalance {
            Rebalance::Revoke(tpl) if tpl.count() > 0 => self.revoked(consumer, ids(tpl)),
            Rebalance::Error(e) => tracing::warn!(error = %e, "the pipeline's group failed to rebalance"),
            _ => {}
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.refresh(consumer);
        if let Rebalance::Assign(tpl) = rebalance
            && tpl.count() > 0
        {
            self.assigned(consumer, tpl, ids(tpl));
        }
    }
}

fn ids(tpl: &TopicPartitionList) -> Vec<i32> {
    let mut ids: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
    ids.sort_unstable();
    ids
}
