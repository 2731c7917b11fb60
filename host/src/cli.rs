//! The command line: raw flags as the operator typed them.
//!
//! Nothing here is validated beyond what clap does; [`crate::config`] turns
//! [`RunArgs`] into a typed [`crate::config::RunConfig`] in one step, so every
//! configuration error is found before any record moves.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use store::StoreArgs;

mod parse;
mod store;
pub use parse::{BESIDE_CONFIG, parse_metrics_addr};

/// Streams a landing-zone directory of JSON-lines files through a wasm
/// transform into Kafka.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// How log lines are written to stderr: `text` for people, `json` (one
    /// object a line) for a log collector.
    #[arg(long, value_enum, global = true, default_value_t = LogFormat::Text, help_heading = "Operations")]
    pub log_format: LogFormat,
}

/// The shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The id of `--config FILE` (`config` is `--transform-config`'s).
const CONFIG_FILE: &str = "config_file";

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the stream until SIGINT or SIGTERM.
    #[command(after_help = RUN_EXAMPLE)]
    Run(Box<RunCmd>),
    /// Load and check a transform module, run `init` with the given config,
    /// and exit; with `--config`, check every pipeline of the file.
    Check(CheckArgs),
    /// Run a transform module over a sample JSON-lines file, no broker, and
    /// show what it made of each line (optionally checked against `--expect`).
    Test(TestArgs),
}

/// `sluice run`: one pipeline from flags, or the pipelines of a config file.
#[derive(Debug, Args)]
pub struct RunCmd {
    /// One pipeline's flags (first, so that `--help` lists its groups first).
    #[command(flatten)]
    pub pipeline: RunArgs,

    /// Run the `[[pipeline]]`s of this TOML file instead (keys are the flags'
    /// long names in snake_case; see docs/src/config-file.md).
    #[arg(id = CONFIG_FILE, long = "config", value_name = "FILE", help_heading = "Operations")]
    pub config: Option<std::path::PathBuf>,

    /// With --config: whether one failed pipeline stops the process. `stop`
    /// stops the others and exits 1, so a supervisor (systemd's
    /// `Restart=on-failure`) restarts it; `continue` keeps the others
    /// running [default: the file's `on_pipeline_failure`, else `stop`].
    #[arg(long, value_enum, value_name = "WHAT", requires = CONFIG_FILE, help_heading = "Operations")]
    pub on_pipeline_failure: Option<OnPipelineFailure>,
}

/// What `--on-pipeline-failure` does when a pipeline of the file fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OnPipelineFailure {
    /// Stop the other pipelines and exit 1.
    #[default]
    Stop,
    /// Keep the others running; exit 1 once they have stopped.
    Continue,
}

/// `sluice run --help`'s example: the seed job, with its schema.
const RUN_EXAMPLE: &str = "Example (the invoices of one store, keyed by store, as JSON with a schema):
  sluice run --landing-zone data/invoices --checkpoint-dir chk/invoices \\
    --transform target/transforms/sql.wasm \\
    -C \"schema=InvoiceNumber STRING, CreatedTime BIGINT, StoreID STRING, TotalAmount DOUBLE\" \\
    -C \"where=StoreID = 'STR7188'\" -C key=StoreID -C \"value=to_json(struct(*))\" \\
    --bootstrap-servers 127.0.0.1:9092 --topic invoices

Several pipelines, one process: sluice run --config sluice.toml [--metrics-addr 9898]";

/// Flags of one `sluice run` pipeline. The long names are the public
/// contract, and the keys of a config file's `[[pipeline]]`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Where new JSON-lines files land (required): a directory, or a bucket
    /// and prefix in object storage (`s3://bucket/prefix/`, `s3a://`,
    /// `az://container/prefix/`, `abfss://container@account.dfs.core.windows.net/prefix/`,
    /// `gs://bucket/prefix/`).
    #[arg(short = 'l', long, value_name = "DIR|URL", help_heading = "Input")]
    pub landing_zone: Option<PathBuf>,

    /// Where a landing zone in object storage is reached, and how it is watched.
    #[command(flatten)]
    pub store: StoreArgs,

    /// Only take files whose name matches this glob (e.g. `*.json`).
    #[arg(short = 'g', long, value_name = "GLOB", help_heading = "Input")]
    pub glob: Option<String>,

    /// Take files in sub-directories too (Spark's `recursiveFileLookup`),
    /// e.g. `date=2026-12-01/part-0.json`; the glob matches the file name.
    #[arg(long, help_heading = "Input")]
    pub recursive: bool,

    /// Follow symbolic links in the landing zone to files inside it; a link
    /// whose target's real path is outside the zone is still refused.
    /// Without it, links are skipped with a warning.
    #[arg(long, help_heading = "Input")]
    pub follow_symlinks: bool,

    /// The wasm transform module.
    #[command(flatten)]
    pub transform: TransformArgs,

    /// Kafka topic to publish to (required).
    #[arg(short = 't', long, help_heading = "Kafka")]
    pub topic: Option<String>,

    /// Kafka bootstrap servers, `host:port[,host:port...]`.
    #[arg(short = 'b', long, value_name = "SERVERS", env = "SLUICE_BOOTSTRAP_SERVERS", help_heading = "Kafka")]
    pub bootstrap_servers: Option<String>,

    /// A Java-style `client.properties` file (as Confluent Cloud hands out).
    #[arg(long, value_name = "FILE", help_heading = "Kafka")]
    pub kafka_properties: Option<PathBuf>,

    /// Any librdkafka producer property, `KEY=VALUE`; repeatable, wins over the file.
    #[arg(long = "kafka", value_name = "KEY=VALUE", help_heading = "Kafka")]
    pub kafka: Vec<String>,

    /// At start-up, how long to wait for a broker to answer before exiting
    /// with librdkafka's reason; once connected, an outage is waited out.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_CONNECT_TIMEOUT_MS, help_heading = "Kafka")]
    pub connect_timeout_ms: u64,

    /// Directory for the checkpoint and the dead-letter file (required).
    #[arg(short = 'c', long, value_name = "DIR", help_heading = "Delivery")]
    pub checkpoint_dir: Option<PathBuf>,

    /// How long a file must stop growing before its unterminated last line counts as complete.
    #[arg(long, value_name = "MS", default_value_t = default_settle_ms(), help_heading = "Input")]
    pub settle_ms: u64,

    /// How often the landing zone is rescanned in full, backing up the file
    /// watcher [default: 2000; 60000 for object storage].
    #[arg(long, value_name = "MS", help_heading = "Input")]
    pub rescan_ms: Option<u64>,

    /// Topic for records that are not published (with `sluice.error.*`
    /// headers); without it they go to `dead-letters.jsonl` in the checkpoint directory.
    #[arg(long, value_name = "TOPIC", help_heading = "Delivery")]
    pub dead_letter_topic: Option<String>,

    /// Stop the stream when the transform fails this many records in a row.
    #[arg(long, value_name = "N", default_value_t = default_max_consecutive_errors(), help_heading = "Transform")]
    pub max_consecutive_errors: u64,

    /// Longest accepted record in bytes; longer lines go to the dead letters.
    #[arg(long, value_name = "BYTES", default_value_t = default_max_record_bytes(), help_heading = "Input")]
    pub max_record_bytes: usize,

    /// The delivery guarantee: `exactly-once` commits records, dead letters
    /// and progress in Kafka transactions (needs --pipeline and --dead-letter-topic).
    #[arg(long, value_enum, default_value_t = Delivery::AtLeastOnce, help_heading = "Delivery")]
    pub delivery: Delivery,

    /// The pipeline's name, unique per stream: its transactional id and its
    /// key in the offsets topic (exactly-once mode).
    #[arg(long, value_name = "NAME", help_heading = "Delivery")]
    pub pipeline: Option<String>,

    /// Compacted topic holding each file's committed progress (exactly-once mode).
    #[arg(long, value_name = "TOPIC", default_value = DEFAULT_OFFSETS_TOPIC, help_heading = "Delivery")]
    pub offsets_topic: String,

    /// How often the open transaction commits (exactly-once mode).
    #[arg(long, value_name = "MS", default_value_t = default_transaction_interval_ms(), help_heading = "Delivery")]
    pub transaction_interval_ms: u64,

    /// This host's name in the pipeline's group (exactly-once mode): hosts of
    /// one pipeline with different ids share the landing zone's files; one
    /// started with the id of another takes its place [default: the
    /// machine's hostname].
    #[arg(long, value_name = "ID", help_heading = "Delivery")]
    pub host_id: Option<String>,

    /// Partitions of the offsets topic when Sluice creates it: the most
    /// hosts that can share a pipeline's files (exactly-once mode).
    #[arg(long, value_name = "N", default_value_t = default_offsets_partitions(), help_heading = "Delivery")]
    pub offsets_partitions: i32,

    /// How long a host may go unheard before the group gives its files to
    /// the others (exactly-once mode; Kafka's `session.timeout.ms`).
    #[arg(long, value_name = "MS", default_value_t = default_session_timeout_ms(), help_heading = "Delivery")]
    pub session_timeout_ms: u64,

    /// Serve `/metrics` (Prometheus), `/health/live`, `/health/ready` and the
    /// status page `/` on this address, e.g. `127.0.0.1:9898`; a bare port
    /// (`9898` or `:9898`) is on 127.0.0.1 only.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_metrics_addr, help_heading = "Operations")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// A file holding a bearer token that `/metrics`, `/health/ready` and
    /// `/status.json` then require (`Authorization: Bearer TOKEN`, as
    /// Prometheus' `authorization` setting sends it); the status page is
    /// opened as `/#token=TOKEN`.
    #[arg(long, value_name = "FILE", help_heading = "Operations")]
    pub metrics_token_file: Option<PathBuf>,

    /// What to do with a file once it is read and every record of it is
    /// delivered and saved (Spark's `cleanSource`): leave it, move it to
    /// --source-archive-dir, or delete it.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = CleanSource::Off, help_heading = "Input")]
    pub clean_source: CleanSource,

    /// Where `--clean-source archive` moves finished files, keeping their
    /// path below the landing zone; must lie outside the landing zone (for
    /// object storage, a URL in the same bucket).
    #[arg(long, value_name = "DIR|URL", help_heading = "Input")]
    pub source_archive_dir: Option<PathBuf>,
}

/// What `--clean-source` does with a finished file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CleanSource {
    /// Leave it where it is.
    Off,
    /// Move it into --source-archive-dir.
    Archive,
    /// Delete it.
    Delete,
}

/// What `--delivery` promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Delivery {
    /// Every record at least once: a crash may repeat the unacknowledged tail.
    AtLeastOnce,
    /// Every record exactly once for a `read_committed` consumer.
    ExactlyOnce,
}

/// Which module to run and how to configure and limit it.
#[derive(Debug, Args)]
pub struct TransformArgs {
    /// Path of the transform module (`.wasm`) (required).
    #[arg(short = 'w', long = "transform", value_name = "WASM", help_heading = "Transform")]
    pub path: Option<PathBuf>,

    /// Configuration handed to the module's `init`, `KEY=VALUE`; repeatable.
    #[arg(short = 'C', long = "transform-config", value_name = "KEY=VALUE", help_heading = "Transform")]
    pub config: Vec<String>,

    /// Time limit for the module to process one batch.
    #[arg(long = "transform-timeout-ms", value_name = "MS", default_value_t = default_transform_timeout_ms(), help_heading = "Transform")]
    pub timeout_ms: u64,

    /// Memory cap for the module instance.
    #[arg(long = "transform-memory-mb", value_name = "MB", default_value_t = default_transform_memory_mb(), help_heading = "Transform")]
    pub memory_mb: u64,

    /// Directory of compiled modules, so a module compiles once [default:
    /// `$XDG_CACHE_HOME/sluice`, else `~/.cache/sluice`]; `off` turns it off.
    #[arg(long = "module-cache-dir", value_name = "DIR", env = "SLUICE_MODULE_CACHE_DIR", help_heading = "Transform")]
    pub module_cache_dir: Option<PathBuf>,
}

/// Flags of `sluice check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Check every pipeline of this config file: its settings, and its
    /// module loaded and `init` run with its config. Kafka is not contacted.
    #[arg(id = CONFIG_FILE, long = "config", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,

    /// The wasm transform module.
    #[command(flatten)]
    pub transform: TransformArgs,
}

/// Flags of `sluice test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The wasm transform module, its config and limits (as `sluice run` takes them).
    #[command(flatten)]
    pub transform: TransformArgs,

    /// A JSON-lines file of sample records.
    #[arg(short = 'i', long, value_name = "FILE")]
    pub input: PathBuf,

    /// Expected outcomes, one JSON line per record in the format this
    /// command prints; fields left out are not compared. Exits 1 on a mismatch.
    #[arg(short = 'e', long, value_name = "FILE")]
    pub expect: Option<PathBuf>,

    /// Writes the outcomes to FILE as the JSON lines `--expect FILE` checks later runs against.
    #[arg(long, value_name = "FILE", conflicts_with = "expect")]
    pub write_expect: Option<PathBuf>,

    /// Exits 0 even when records fail (a module error, a refused line); without it they exit 1.
    #[arg(long)]
    pub allow_errors: bool,

    /// How outcomes are printed [default: table on a terminal, else json].
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,

    /// Longest accepted record in bytes, as `sluice run` takes it.
    #[arg(long, value_name = "BYTES", default_value_t = default_max_record_bytes())]
    pub max_record_bytes: usize,
}

/// How `sluice test` prints outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// One JSON object per record.
    Json,
    /// A table for people.
    Table,
}

// Defaults, named so that the config file and the flags share them.

/// Default for `--settle-ms`: long enough for a slow writer's pauses.
pub const fn default_settle_ms() -> u64 {
    1_000
}

/// Default for `--rescan-ms`: the watcher's backup, so cheap and not urgent.
pub const fn default_rescan_ms() -> u64 {
    2_000
}

/// Default for `--max-record-bytes`: 1 MiB, Kafka's default message cap.
pub const fn default_max_record_bytes() -> usize {
    1 << 20
}

/// Default for `--transform-timeout-ms`: a batch takes milliseconds; this
/// only catches a module that hangs.
pub const fn default_transform_timeout_ms() -> u64 {
    5_000
}

/// Default for `--max-consecutive-errors`: a module that fails this many
/// records in a row is broken, not meeting the odd bad record.
pub const fn default_max_consecutive_errors() -> u64 {
    1_000
}

/// Default for `--transform-memory-mb`.
pub const fn default_transform_memory_mb() -> u64 {
    256
}

/// Default for `--offsets-topic`.
pub const DEFAULT_OFFSETS_TOPIC: &str = "sluice-offsets";

/// Default for `--transaction-interval-ms`: records become visible to a
/// `read_committed` consumer when their transaction commits, so half of this
/// is the typical wait; each commit costs a round trip to the coordinator.
pub const fn default_transaction_interval_ms() -> u64 {
    50
}

/// Default for `--offsets-partitions`: up to 12 hosts share a pipeline, and
/// 1, 2, 3, 4 or 6 hosts get equal shares.
pub const fn default_offsets_partitions() -> i32 {
    12
}

/// Default for `--connect-timeout-ms`: a minute, for a broker started beside the host.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 60_000;

/// Default for `--session-timeout-ms`: how long a dead host's files wait.
/// Kafka's own default (45 s) is made for consumers that hold no files.
pub const fn default_session_timeout_ms() -> u64 {
    10_000
}
