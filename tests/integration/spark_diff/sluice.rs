//! The sluice side: the real `sql.wasm` in the host's own wasmtime
//! [`Transformer`], fed the fixture records as the source would batch them.
//! Each case is a fresh `Transformer` (its own `sluice_init`, as a fresh
//! start of sluice would be), loaded through the compiled-module cache as
//! `sluice run` loads it: the first case compiles sql.wasm (seconds of CPU)
//! and stores it, every later one deserializes it in milliseconds.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sluice::config::TransformConfig;
use sluice::record::Batch;
use sluice::record::FileId;
use sluice::shutdown::Shutdown;
use sluice::transform::Transformer;
use sluice_guest_sdk::abi::Outcome;

/// Records per batch, as a busy source hands them on.
const BATCH_RECORDS: usize = 256;

/// What sql.wasm made of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A message with this key and value (`None`: null).
    Emit(Option<Vec<u8>>, Option<Vec<u8>>),
    /// Filtered out.
    Drop,
    /// Failed: it would go to the dead letters with this reason.
    Error(String),
}

/// The result of one case.
#[derive(Debug)]
pub enum Run {
    /// `sluice_init` refused the configuration (the host would not start).
    Refused(String),
    /// One outcome per fixture record, in order.
    Records(Vec<Record>),
}

/// Runs `lines` through a fresh sql.wasm configured with `config`, its
/// compiled code kept in `module_cache`.
pub fn run(module: &Path, module_cache: &Path, config: Vec<(String, String)>, lines: &[String]) -> Run {
    let config = TransformConfig {
        path: module.to_owned(),
        config,
        timeout: Duration::from_secs(10),
        memory_bytes: 256 << 20,
        module_cache: Some(module_cache.to_owned()),
    };
    let mut transformer = match Transformer::new(&config) {
        Ok(t) => t,
        Err(e) => return Run::Refused(e.to_string()),
    };
    let shutdown = Shutdown::new();
    let mut records = Vec::with_capacity(lines.len());
    for (n, chunk) in lines.chunks(BATCH_RECORDS).enumerate() {
        let mut batch = Batch::new(FileId { dev: 0, ino: 0 }, Arc::from("fixture"));
        for (i, line) in chunk.iter().enumerate() {
            let line_no = (n * BATCH_RECORDS + i + 1) as u64;
            batch.push_line(line.as_bytes(), line_no, 0, usize::MAX);
        }
        let outcomes = transformer.process(&batch, u64::MAX, &shutdown).expect("transform a fixture batch");
        records.extend(outcomes.iter().map(record));
    }
    Run::Records(records)
}

fn record(outcome: &Outcome<'_>) -> Record {
    match outcome {
        Outcome::Drop => Record::Drop,
        Outcome::Emit(m) => Record::Emit(m.key.map(<[u8]>::to_vec), m.value.map(<[u8]>::to_vec)),
        Outcome::EmitMany(ms) => {
            Record::Error(format!("sql.wasm emitted {} messages for one record; Spark makes one row", ms.len()))
        }
        Outcome::Error(reason) => Record::Error((*reason).to_owned()),
    }
}
