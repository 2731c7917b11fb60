//! Sluice: streams a landing-zone directory of JSON-lines files through a
//! WebAssembly transform into Kafka, with a checkpoint so that a restart
//! neither loses nor repeats records.
//!
//! # Layout
//!
//! In floors, read top-down: a module imports only the floors below it, and
//! no two modules import each other (`scripts/test` checks both; see
//! `docs/src/architecture.md`).
//!
//! 1. Wiring. [`pipeline`] builds every pipeline with one builder, the
//!    delivery mode a type; [`pipeline::supervisor`] runs a process's
//!    pipelines (flags or a config file) with the metrics server and
//!    progress bars. [`pump`] moves batches from the source through the
//!    transform to the sink and the dead letters, and applies the
//!    error-tolerance policy. [`test_cmd`] is `sluice test`, a module run
//!    over a sample file without a broker.
//! 2. Stages, side by side. [`zone`]: where files come from, behind the
//!    [`zone::LandingZone`] trait (list, watch, look, open and read from an
//!    offset, settle, clean), [`zone::local`] the local directory.
//!    [`source`]: discovers the zone's files, reads them tail-style through
//!    the decoders, hands on [`record::Batch`]es. [`transform`]: the wasm
//!    module under time and memory limits. [`sink`]: the producer, routes
//!    and transactions. [`deadletter`]: the dead-letter file. [`clean`]:
//!    `--clean-source`, the thread that has the zone archive or delete a
//!    file once all of it is delivered and saved.
//! 3. [`progress`]: acknowledgements turned into ordered per-file progress,
//!    the in-flight window, the checkpoint stores (`checkpoint.json`, or
//!    the offsets topic in exactly-once mode) and the ownership of files by
//!    partition; it calls no stage.
//! 4. The ground floor. [`record`]: the types a record wears on its way
//!    ([`record::Batch`], [`record::FileId`], the dead-letter
//!    [`record::Reason`] and header schema). [`cli`] and [`config`]: flags,
//!    validated into a typed [`config::RunConfig`]; [`config::file`]: the
//!    same settings for several pipelines, from TOML. [`metrics`]:
//!    counters, gauges and histograms, readiness, and the HTTP server of
//!    `--metrics-addr`. [`kafka`]: what the Kafka clients share.
//!    [`shutdown`]: the one signal every stage obeys. [`private`]: files
//!    0600 and directories 0700, for all Sluice writes.

// Functions stay under 60 lines (host/clippy.toml); split one by its steps.
#![warn(clippy::too_many_lines)]

pub mod clean;
pub mod cli;
pub mod config;
pub mod deadletter;
pub mod kafka;
pub mod log_text;
pub mod metrics;
pub mod pipeline;
pub mod private;
pub mod progress;
pub mod pump;
pub mod record;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod test_cmd;
pub mod transform;
pub mod zone;
