//! Exactly-once delivery: a transactional producer, the [`KafkaStore`] as
//! the store, the pipeline's [`Group`] dividing the files among its hosts,
//! and a source that is rebuilt from the last commit whenever a transaction
//! is aborted or the group moves files.
//!
//! The host runs under `--host-id`, else under the id kept in its
//! checkpoint directory ([`host_id`]), so two hosts on one machine do not
//! fence each other and a restarted one fences what it left behind.
//!
//! Start-up order matters: the producer's `init_transactions` (in the
//! sink's connect) fences any earlier instance of the pipeline and aborts
//! what it left open *before* this host joins the group, whose assignments
//! read the offsets topic `read_committed`, so the progress read is final.
//! On shutdown the source stops, the open transaction commits, and the
//! process exits 0; a fenced process exits with the fencing error.
//!
//! `checkpoint.json` is still written, after each commit and from a thread
//! of its own, as a copy of the committed progress for operators (and
//! scripts that watch it); it is never read in this mode, so it cannot make
//! the stream skip or repeat records.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{anyhow, bail};
use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::Streamed;
use crate::clean::Cleaner;
use crate::config::{ExactlyOnce, RunConfig};
use crate::progress::group::Group;
use crate::progress::host_id;
use crate::progress::{Checkpoint, FileStore, KafkaStore};
use crate::pump::Shared;
use crate::pump::transaction::Transactions;
use crate::pump::{Pump, Summary};
use crate::shutdown::Shutdown;

/// Settles the id this host runs under: `--host-id`, else the one kept in
/// the checkpoint directory (made there on the first start), whose lock
/// the caller holds; logs which and where it came from.
pub(super) fn settle_host_id(config: &mut RunConfig) -> anyhow::Result<()> {
    let Some(eos) = &config.exactly_once else { return Ok(()) };
    if eos.host_id_given {
        tracing::info!(host_id = %eos.host_id, "host id {} (from --host-id)", eos.host_id);
        return Ok(());
    }
    let dir = &config.checkpoint_dir;
    let (id, made) = host_id::kept(dir, &host_id::hostname())?;
    let path = dir.join(host_id::FILE_NAME);
    let new = if made { "new, " } else { "" };
    tracing::info!(host_id = %id, "host id {id} ({new}kept in {})", path.display());
    config.settle_host_id(id);
    Ok(())
}

/// How long the copy's writer waits for a commit before checking for stop.
const COPY_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The checkpoint directory, opened and locked for the operator's copy,
/// before the stream starts.
pub(super) struct Copy {
    copy: FileStore,
}

/// This host's membership in the pipeline's group, and the copy's writer.
pub(super) struct Member {
    group: Group,
    copier: JoinHandle<()>,
}

impl Copy {
    /// Opens the store in `dir`: the directory's lock and the operator's
    /// copy; never read here.
    pub(super) fn open(dir: &Path) -> anyhow::Result<Copy> {
        Ok(Copy { copy: FileStore::open(dir)? })
    }

    /// Joins the pipeline's group on the offsets topic (creating it) and
    /// starts the copy's writer: the transactions the pump commits in.
    pub(super) fn start(
        self,
        config: &RunConfig,
        eos: &ExactlyOnce,
        shared: &Shared,
    ) -> anyhow::Result<(Member, Transactions)> {
        let locate = Arc::new(crate::zone::Locator(shared.zone.clone()));
        let (topic, dir) = (&eos.offsets_topic, &config.source.dir);
        let mut store = KafkaStore::new(&config.kafka, topic, &eos.pipeline, dir, locate);
        store.ensure_topic(eos.offsets_partitions)?;
        // This host reads no file until the group assigns it partitions and
        // their committed progress is read.
        let (group, link) = Group::join(&store, eos)?;
        shared.metrics.set_owned(Vec::new(), 0);
        let (to_copy, commits) = crossbeam_channel::unbounded::<Checkpoint>();
        let txn = Transactions::new(store, eos, link, to_copy);
        let cleaner = super::start_cleaner(config, shared)?;
        let (copy, durable) = (self.copy, shared.tracker.snapshot().1);
        let copier = super::spawn("checkpoint", move || copy_commits(copy, &commits, cleaner.as_ref(), durable))?;
        Ok((Member { group, copier }, txn))
    }
}

impl Member {
    /// After the stream: commits the open transaction, leaves the group,
    /// lets the copy's writer finish, and reports how it all ended.
    pub(super) fn finish(self, mut pump: Pump, streamed: Streamed, shutdown: &Shutdown) -> anyhow::Result<Summary> {
        let (pumped, source) = streamed;
        source?;
        shutdown.trigger();
        let committed = if pumped.is_ok() { pump.delivery.commit(shutdown) } else { Ok(()) };
        pump.settle();
        drop(self.group);
        let (commits, aborts) = pump.delivery.transaction_counts().unwrap_or_default();
        tracing::info!(commits, aborts, "transactions");
        pump.delivery.stop_copying();
        self.copier.join().map_err(|_| anyhow!("the checkpoint thread panicked"))?;
        pumped?;
        committed?;
        if !pump.delivery.take_rewind() {
            return Ok(pump.summary);
        }
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
        )
    }
}

/// Writes each commit's progress to the operator's copy until the commits
/// stop; what a commit made `durable` goes to `cleaner` (`--clean-source`).
fn copy_commits(
    mut copy: FileStore,
    commits: &Receiver<Checkpoint>,
    cleaner: Option<&Cleaner>,
    mut durable: Checkpoint,
) {
    let mut copied = false;
    loop {
        // The operator's copy is not what makes progress durable: the commit is.
        if let Some(cleaner) = cleaner {
            cleaner.offer(&durable);
        }
        let mut latest = match commits.recv_timeout(COPY_POLL) {
            Ok(latest) => latest,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
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
}
