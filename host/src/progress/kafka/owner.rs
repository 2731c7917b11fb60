//! The owner record: which instance of a pipeline holds its transactional
//! id, written now and then by an idle instance so that a fencing reaches
//! it (the transactions of `--delivery exactly-once` write it).

use std::path::Path;

use serde::Serialize;

use super::{KafkaStore, ProgressRecord, partition_of};

/// The key of a pipeline's owner record: which instance holds the
/// transactional id. It is not a [`Key`](super::Key) (no `file`), so
/// [`KafkaStore::restore`] skips it.
#[derive(Serialize)]
struct OwnerKey<'a> {
    pipeline: &'a str,
    owner: bool,
    host_id: &'a str,
}

/// The instance that writes an owner record, for operators.
#[derive(Serialize)]
struct Owner<'a> {
    host: &'a str,
    pid: u32,
    landing_zone: &'a Path,
}

impl KafkaStore {
    /// The owner record of this pipeline's host `host_id` (partition, key,
    /// value): written by an idle instance now and then so that a fencing
    /// reaches it (see `pump::transaction`), and compacted to one record per
    /// host.
    pub fn owner_record(&self, host_id: &str) -> ProgressRecord {
        let key = OwnerKey { pipeline: &self.pipeline, owner: true, host_id };
        let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
        let owner = Owner { host: &host, pid: std::process::id(), landing_zone: &self.landing_zone };
        let key = serde_json::to_vec(&key).expect("keys serialize");
        (partition_of(host_id, self.partitions), key, Some(serde_json::to_vec(&owner).expect("owner serializes")))
    }
}
