//! Sluice: streams a landing-zone directory of JSON-lines files through a
//! WebAssembly transform into Kafka, with a checkpoint so that a restart
//! neither loses nor repeats records.
//!
//! # Layout
//!
//! One module per pipeline stage, in the order a record meets them:
//!
//! - [`record`]: the ground floor, the types a record wears on its way
//!   ([`record::Batch`], [`record::FileId`], the dead-letter
//!   [`record::Reason`] and header schema); it imports no other module.
//! - [`kafka`]: what the host's Kafka clients share (secrets scrubbed from
//!   librdkafka's text, one topic's metadata); ground floor too.
//! - [`cli`] and [`config`]: flags, validated into a typed [`config::RunConfig`];
//!   [`config::file`]: the same settings for several pipelines, from TOML.
//! - [`zone`]: where files come from, behind the [`zone::LandingZone`]
//!   trait (list, watch, look, open and read from an offset, settle,
//!   clean); [`zone::local`] is the local directory.
//! - [`source`]: discovers the landing zone's files through that trait,
//!   reads lines tail-style (through the decoders), hands on
//!   [`record::Batch`]es.
//! - [`transform`]: runs batches through the wasm module under time and
//!   memory limits.
//! - [`sink`]: publishes to Kafka, in transactions in exactly-once mode.
//! - [`progress`]: the delivery tracker, the stores of per-file progress
//!   (`checkpoint.json`, or the offsets topic in exactly-once mode) and the
//!   ownership of files by partition (the pipeline's group); it calls no
//!   stage.
//! - [`deadletter`]: where records that are not published go, with the reason.
//! - [`private`]: files 0600 and directories 0700, for all Sluice writes.
//! - [`shutdown`]: the one signal every stage obeys.
//! - [`pump`]: moves batches through the transform to the sink and the dead
//!   letters, and applies the error-tolerance policy.
//! - [`clean`]: `--clean-source`, the thread that has the landing zone
//!   archive or delete a file once all of it is delivered and saved.
//! - [`pipeline`]: wires them together, with one builder for both delivery
//!   modes; [`pipeline::supervisor`] runs the process's pipelines (flags or
//!   a config file) with the metrics server and progress bars.
//! - [`metrics`]: counters, gauges and histograms every stage reports to,
//!   readiness, and the HTTP server of `--metrics-addr` (`/metrics`,
//!   `/health/*`, the status page).
//! - [`test_cmd`]: `sluice test`, a module run over a sample file without a
//!   broker.

// Functions stay under 60 lines (host/clippy.toml); split one by its steps.
#![warn(clippy::too_many_lines)]

pub mod clean;
pub mod cli;
pub mod config;

pub mod deadletter;
pub mod kafka;
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
