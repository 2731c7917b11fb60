//! Typed configuration, validated from the raw flags in one step.
//!
//! [`RunConfig::from_args`] reads the `--kafka-properties` file, applies
//! `--kafka` overrides, forces the producer settings delivery depends on,
//! and checks every value, so a bad setting stops `sluice` before any record
//! moves, with a message naming the key and how to fix it. Kafka property
//! values are shown only for the properties [`secrets`] knows are not
//! secret: [`KafkaConfig::redacted`] is what logs see, and
//! [`KafkaConfig::secrets`] what is scrubbed from librdkafka's texts.

mod properties;
pub mod secrets;

#[cfg(test)]
use properties::parse_properties;
use properties::translate_java;
pub use properties::{properties_of_text, read_properties};

use std::path::PathBuf;
use std::time::Duration;

use globset::{Glob, GlobMatcher};

use crate::cli::{RunArgs, TransformArgs};

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

/// Default for `--session-timeout-ms`: how long a dead host's files wait.
/// Kafka's own default (45 s) is made for consumers that hold no files.
pub const fn default_session_timeout_ms() -> u64 {
    10_000
}

/// A configuration error: names the setting and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A `KEY=VALUE` flag without `=`.
    #[error("{flag} expects KEY=VALUE, got `{value}`")]
    NotKeyValue {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
    },
    /// The properties file could not be read.
    #[error("cannot read --kafka-properties {path}: {source}")]
    PropertiesFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of the properties file that is not a property.
    #[error("{path}:{line}: expected `key=value` (the line is not shown: it may hold a secret)")]
    PropertiesSyntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A producer property that would break delivery guarantees.
    #[error("kafka property `{key}={value}` is not allowed: {why}")]
    Forbidden {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// Why Sluice needs otherwise.
        why: &'static str,
    },
    /// No bootstrap servers anywhere.
    #[error("no Kafka bootstrap servers: pass --bootstrap-servers or set bootstrap.servers in --kafka-properties")]
    NoBootstrap,
    /// The `--glob` pattern does not parse.
    #[error("--glob `{glob}` is not a valid glob: {source}")]
    Glob {
        /// The pattern.
        glob: String,
        /// Why.
        source: globset::Error,
    },
    /// A numeric setting out of range.
    #[error("{flag} must be {rule}, got {value}")]
    OutOfRange {
        /// The flag.
        flag: &'static str,
        /// The allowed range.
        rule: &'static str,
        /// What was given.
        value: u64,
    },
    /// The topic name is not a legal Kafka topic name.
    #[error("topic `{0}` is not a valid Kafka topic name (1-249 of [a-zA-Z0-9._-])")]
    Topic(String),
    /// Exactly-once mode without a setting it needs.
    #[error("--delivery exactly-once needs {flag}: {why}")]
    ExactlyOnceNeeds {
        /// The missing flag.
        flag: &'static str,
        /// What it is for.
        why: &'static str,
    },
    /// A setting every pipeline needs is missing.
    #[error("{flag} is required (in a config file, `{}`)", key_of(flag))]
    Missing {
        /// The flag.
        flag: &'static str,
    },
    /// The pipeline name is not usable as a transactional id and key.
    #[error("--pipeline `{0}` is not a valid pipeline name (1-200 of [a-zA-Z0-9._-])")]
    Pipeline(String),
    /// The host id is not usable in a transactional id.
    #[error("--host-id `{0}` is not a valid host id (1-200 of [a-zA-Z0-9._-]); pass one with --host-id")]
    HostId(String),
    /// `--clean-source archive` without somewhere to archive to.
    #[error("--clean-source archive needs --source-archive-dir DIR, the directory finished files are moved to")]
    ArchiveDirNeeded,
    /// The archive would be read again as new files.
    #[error(
        "--source-archive-dir {} lies inside --landing-zone {}: archived files would be read again; choose a \
         directory outside the landing zone",
        .archive.display(),
        .landing.display()
    )]
    ArchiveInLandingZone {
        /// `--source-archive-dir`.
        archive: PathBuf,
        /// `--landing-zone`.
        landing: PathBuf,
    },
}

/// Everything `sluice run` needs, validated.
#[derive(Debug)]
pub struct RunConfig {
    /// Where records come from.
    pub source: SourceConfig,
    /// What transforms them.
    pub transform: TransformConfig,
    /// Where they go.
    pub kafka: KafkaConfig,
    /// Checkpoint and dead-letter directory.
    pub checkpoint_dir: PathBuf,
    /// Where records that are not published go, besides the local file.
    pub dead_letter_topic: Option<String>,
    /// Module failures in a row that stop the stream.
    pub max_consecutive_errors: u64,
    /// Exactly-once settings; `None` in at-least-once mode.
    pub exactly_once: Option<ExactlyOnce>,
    /// The pipeline's name: `--pipeline`, else `default`.
    pub pipeline: String,
    /// Where the metrics, health and status page are served, if anywhere.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The file of the bearer token the metrics server requires, if any.
    pub metrics_token_file: Option<PathBuf>,
    /// What becomes of a finished file (`--clean-source`).
    pub clean: crate::clean::CleanConfig,
}

/// `--delivery exactly-once`: records, dead letters and progress commit
/// together in Kafka transactions.
#[derive(Debug, Clone)]
pub struct ExactlyOnce {
    /// The pipeline's name: its offsets-topic key and transactional id.
    pub pipeline: String,
    /// The compacted topic holding committed progress.
    pub offsets_topic: String,
    /// How often the open transaction commits.
    pub transaction_interval: Duration,
    /// This host's id in the pipeline's group (`--host-id`).
    pub host_id: String,
    /// Partitions of the offsets topic, if Sluice creates it.
    pub offsets_partitions: i32,
    /// The group's `session.timeout.ms`.
    pub session_timeout: Duration,
}

impl ExactlyOnce {
    fn from_args(args: &RunArgs) -> Result<Option<Self>, ConfigError> {
        let pipeline = args.pipeline.clone().map(checked_pipeline).transpose()?;
        if args.delivery == crate::cli::Delivery::AtLeastOnce {
            return Ok(None);
        }
        let why = "its name is the transactional id that fences a second instance, and its key in the offsets topic";
        let pipeline = pipeline.ok_or(ConfigError::ExactlyOnceNeeds { flag: "--pipeline NAME", why })?;
        if args.dead_letter_topic.is_none() {
            let why = "dead letters must be written in the same Kafka transaction as the records, which the local \
                       dead-letter file cannot be";
            return Err(ConfigError::ExactlyOnceNeeds { flag: "--dead-letter-topic TOPIC", why });
        }
        let interval = positive("--transaction-interval-ms", args.transaction_interval_ms)?;
        let host_id = args.host_id.clone().unwrap_or_else(hostname);
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if !(1..=200).contains(&host_id.len()) || !host_id.chars().all(legal) {
            return Err(ConfigError::HostId(host_id));
        }
        let partitions = positive("--offsets-partitions", u64::try_from(args.offsets_partitions).unwrap_or(0))?;
        if partitions > 10_000 {
            let (flag, rule) = ("--offsets-partitions", "at most 10000");
            return Err(ConfigError::OutOfRange { flag, rule, value: partitions });
        }
        Ok(Some(ExactlyOnce {
            pipeline,
            offsets_topic: checked_topic(args.offsets_topic.clone())?,
            transaction_interval: Duration::from_millis(interval),
            host_id,
            offsets_partitions: partitions as i32,
            session_timeout: Duration::from_millis(positive("--session-timeout-ms", args.session_timeout_ms)?),
        }))
    }

    /// The producer's `transactional.id`: one per pipeline and host, so a
    /// host restarted with its id fences what it left behind, and hosts with
    /// other ids work beside it.
    pub fn transactional_id(&self) -> String {
        format!("sluice-{}-{}", self.pipeline, self.host_id)
    }

    /// The pipeline's consumer group, which divides its files among hosts.
    pub fn group_id(&self) -> String {
        format!("sluice-{}", self.pipeline)
    }
}

/// The machine's hostname, the default `--host-id`.
fn hostname() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

fn checked_pipeline(name: String) -> Result<String, ConfigError> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if (1..=200).contains(&name.len()) && name.chars().all(legal) { Ok(name) } else { Err(ConfigError::Pipeline(name)) }
}

/// The landing-zone source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// The landing-zone directory.
    pub dir: PathBuf,
    /// Optional narrowing of file names.
    pub glob: Option<GlobMatcher>,
    /// Quiet period after which an unterminated last line is complete.
    pub settle: Duration,
    /// Interval of the backup rescan.
    pub rescan: Duration,
    /// Longest accepted record.
    pub max_record_bytes: usize,
    /// Whether files in sub-directories are taken too (`--recursive`).
    pub recursive: bool,
    /// Whether a symbolic link in the landing zone is followed to a file
    /// inside it (`--follow-symlinks`); one leading outside is refused.
    pub follow_symlinks: bool,
    /// The files this host owns, when the hosts of a pipeline share the
    /// landing zone (exactly-once mode); `None` takes every file.
    pub share: Option<crate::progress::kafka::Share>,
}

/// The wasm transform.
#[derive(Debug, Clone)]
pub struct TransformConfig {
    /// The module file.
    pub path: PathBuf,
    /// `init` pairs, in order.
    pub config: Vec<(String, String)>,
    /// Time limit per batch.
    pub timeout: Duration,
    /// Memory cap in bytes.
    pub memory_bytes: usize,
    /// Where compiled modules are cached; `None` is off.
    pub module_cache: Option<PathBuf>,
}

/// The Kafka producer.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Target topic.
    pub topic: String,
    /// librdkafka properties, in the order they apply.
    pub properties: Vec<(String, String)>,
}

impl RunConfig {
    /// Validates raw flags into a config.
    pub fn from_args(args: &RunArgs) -> Result<Self, ConfigError> {
        let glob = args.glob.as_deref().map(parse_glob).transpose()?;
        let exactly_once = ExactlyOnce::from_args(args)?;
        let pipeline = args.pipeline.clone().map(checked_pipeline).transpose()?.unwrap_or_else(|| "default".into());
        let landing_zone = required("--landing-zone", &args.landing_zone)?;
        Ok(RunConfig {
            clean: crate::clean::CleanConfig::from_args(
                args.clean_source,
                args.source_archive_dir.as_deref(),
                &landing_zone,
            )?,
            source: SourceConfig {
                dir: landing_zone,
                glob,
                settle: Duration::from_millis(args.settle_ms),
                rescan: Duration::from_millis(positive("--rescan-ms", args.rescan_ms)?),
                max_record_bytes: positive("--max-record-bytes", args.max_record_bytes as u64)? as usize,
                recursive: args.recursive,
                follow_symlinks: args.follow_symlinks,
                share: None,
            },
            transform: TransformConfig::from_args(&args.transform)?,
            kafka: KafkaConfig::from_args(args, exactly_once.as_ref())?,
            checkpoint_dir: required("--checkpoint-dir", &args.checkpoint_dir)?,
            dead_letter_topic: args.dead_letter_topic.clone().map(checked_topic).transpose()?,
            max_consecutive_errors: positive("--max-consecutive-errors", args.max_consecutive_errors)?,
            exactly_once,
            pipeline,
            metrics_addr: args.metrics_addr,
            metrics_token_file: args.metrics_token_file.clone(),
        })
    }
}

/// The config-file key of `flag`.
fn key_of(flag: &str) -> String {
    flag.trim_start_matches("--").replace('-', "_")
}

fn required<T: Clone>(flag: &'static str, value: &Option<T>) -> Result<T, ConfigError> {
    value.clone().ok_or(ConfigError::Missing { flag })
}

fn positive(flag: &'static str, value: u64) -> Result<u64, ConfigError> {
    match value {
        0 => Err(ConfigError::OutOfRange { flag, rule: "greater than 0", value }),
        _ => Ok(value),
    }
}

fn parse_glob(glob: &str) -> Result<GlobMatcher, ConfigError> {
    let parsed = Glob::new(glob).map_err(|source| ConfigError::Glob { glob: glob.to_owned(), source })?;
    Ok(parsed.compile_matcher())
}

impl TransformConfig {
    /// Validates the transform flags.
    pub fn from_args(args: &TransformArgs) -> Result<Self, ConfigError> {
        let config = args.config.iter().map(|kv| split_pair("--transform-config", kv)).collect::<Result<_, _>>()?;
        let memory_mb = positive("--transform-memory-mb", args.memory_mb)?;
        if memory_mb > 4096 {
            return Err(ConfigError::OutOfRange {
                flag: "--transform-memory-mb",
                rule: "at most 4096",
                value: memory_mb,
            });
        }
        Ok(TransformConfig {
            path: required("--transform", &args.path)?,
            config,
            timeout: Duration::from_millis(positive("--transform-timeout-ms", args.timeout_ms)?),
            memory_bytes: (memory_mb as usize) << 20,
            module_cache: match &args.module_cache_dir {
                Some(dir) if dir.as_os_str() == crate::transform::cache::OFF => None,
                Some(dir) => Some(dir.clone()),
                None => crate::transform::cache::default_dir(),
            },
        })
    }
}

fn split_pair(flag: &'static str, kv: &str) -> Result<(String, String), ConfigError> {
    match kv.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => {
            let shown = secrets::is_shown(kv.trim());
            let value = if shown { kv.to_owned() } else { "[redacted: it may hold a secret]".to_owned() };
            Err(ConfigError::NotKeyValue { flag, value })
        }
    }
}

/// Producer settings Sluice's guarantees rest on, applied after the operator's.
const FORCED: [(&str, &str); 3] =
    [("enable.idempotence", "true"), ("acks", "all"), ("delivery.report.only.error", "false")];
/// Settings Sluice sets itself: the transactional id comes from `--pipeline`.
const REFUSED: [&str; 1] = ["transactional.id"];

/// Defaults the operator may override.
const DEFAULTS: [(&str, &str); 6] = [
    // A mistyped --topic must fail at start-up, not create a new topic.
    ("allow.auto.create.topics", "false"),
    // Kafka Connect's stance: never give up on a message; the checkpoint
    // cannot pass it, so a broker outage only pauses the stream.
    ("message.timeout.ms", "0"),
    // Java clients' key-to-partition mapping, so keys land where Spark put them.
    ("partitioner", "murmur2_random"),
    ("linger.ms", "5"),
    ("compression.type", "lz4"),
    // Backpressure comes from Sluice's own in-flight bound; this is a backstop.
    ("queue.buffering.max.kbytes", "131072"),
];

impl KafkaConfig {
    fn from_args(args: &RunArgs, exactly_once: Option<&ExactlyOnce>) -> Result<Self, ConfigError> {
        let topic = checked_topic(required("--topic", &args.topic)?)?;
        let mut properties: Vec<(String, String)> =
            DEFAULTS.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        if let Some(path) = &args.kafka_properties {
            properties.extend(read_properties(path)?);
        }
        if let Some(servers) = &args.bootstrap_servers {
            properties.push(("bootstrap.servers".into(), servers.clone()));
        }
        for kv in &args.kafka {
            properties.push(split_pair("--kafka", kv)?);
        }
        let mut config = KafkaConfig { topic, properties: translate_java(properties) };
        config.force()?;
        if let Some(eos) = exactly_once {
            config.make_transactional(eos);
        }
        if config.get("bootstrap.servers").is_none_or(str::is_empty) {
            return Err(ConfigError::NoBootstrap);
        }
        Ok(config)
    }

    /// The effective value of `key` (the last one set).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.properties.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn force(&mut self) -> Result<(), ConfigError> {
        if let Some((key, value)) = self.properties.iter().find(|(k, _)| REFUSED.contains(&k.as_str())) {
            let why = "Sluice sets it from --pipeline in --delivery exactly-once mode";
            let value = secrets::shown(key, value).to_owned();
            return Err(ConfigError::Forbidden { key: key.clone(), value, why });
        }
        for (key, required) in FORCED {
            if let Some(value) = self.get(key).filter(|v| !same_setting(key, v, required)) {
                let why = "Sluice needs the idempotent producer with acks=all so that nothing is lost or duplicated";
                let value = secrets::shown(key, value).into();
                return Err(ConfigError::Forbidden { key: key.into(), value, why });
            }
            self.properties.push((key.into(), required.into()));
        }
        Ok(())
    }

    /// Adds the transactional id. librdkafka wants `message.timeout.ms` no
    /// longer than `transaction.timeout.ms`; the at-least-once default
    /// (never time out) becomes the transaction's timeout.
    fn make_transactional(&mut self, eos: &ExactlyOnce) {
        self.properties.push(("transactional.id".into(), eos.transactional_id()));
        if self.get("message.timeout.ms") == Some("0") {
            let timeout = self.get("transaction.timeout.ms").unwrap_or("60000").to_owned();
            self.properties.push(("message.timeout.ms".into(), timeout));
        }
    }

    /// Whether the producer is transactional (exactly-once mode).
    pub fn is_transactional(&self) -> bool {
        self.get("transactional.id").is_some()
    }

    /// The librdkafka client config.
    pub fn client_config(&self) -> rdkafka::ClientConfig {
        let mut config = rdkafka::ClientConfig::new();
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }

    /// The effective properties for logs: a value shows only if its
    /// property is known not to be secret, else `[redacted]`.
    pub fn redacted(&self) -> Vec<(String, String)> {
        let mut seen = std::collections::BTreeMap::new();
        for (k, v) in &self.properties {
            let key = if secrets::key_is_shown(k) { k.as_str() } else { secrets::REDACTED };
            seen.insert(key.to_owned(), secrets::shown(k, v).to_owned());
        }
        seen.into_iter().collect()
    }

    /// Every hidden text configured (the values [`KafkaConfig::redacted`]
    /// hides, and keys that do not read as names), so error texts and
    /// librdkafka's lines can be scrubbed of them.
    pub fn secrets(&self) -> Vec<&str> {
        self.properties.iter().flat_map(|(k, v)| secrets::hidden(k, v)).collect()
    }
}

fn same_setting(key: &str, value: &str, required: &str) -> bool {
    let value = value.trim().to_ascii_lowercase();
    value == required || (key == "acks" && value == "-1")
}

fn checked_topic(topic: String) -> Result<String, ConfigError> {
    if valid_topic(&topic) { Ok(topic) } else { Err(ConfigError::Topic(topic)) }
}

/// Whether `topic` is a legal Kafka topic name.
pub fn valid_topic(topic: &str) -> bool {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    (1..=249).contains(&topic.len()) && topic.chars().all(legal) && topic != "." && topic != ".."
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn run_args(extra: &[&str]) -> RunArgs {
        let mut argv = vec!["sluice", "run", "-l", "in", "-w", "t.wasm", "-t", "invoices", "-c", "chk"];
        argv.extend_from_slice(extra);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Run(run) => run.pipeline,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn confluent_properties_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.properties");
        std::fs::write(
            &path,
            "# Required connection configs\nbootstrap.servers=pkc-1.aws.confluent.cloud:9092\n\
             security.protocol=SASL_SSL\nsasl.mechanisms=PLAIN\nsasl.username=KEY123\n\
             sasl.password=s3cr3t=with=equals\n! comment\nclient.id : sluice \\\n  -1\n",
        )
        .unwrap();
        let args = run_args(&["--kafka-properties", path.to_str().unwrap(), "--kafka", "linger.ms=20"]);
        let config = RunConfig::from_args(&args).unwrap().kafka;
        assert_eq!(config.get("bootstrap.servers"), Some("pkc-1.aws.confluent.cloud:9092"));
        assert_eq!(config.get("sasl.password"), Some("s3cr3t=with=equals"));
        assert_eq!(config.get("client.id"), Some("sluice -1"));
        assert_eq!(config.get("linger.ms"), Some("20"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        let shown = format!("{:?}", config.redacted());
        assert!(shown.contains("KEY123") && shown.contains("[redacted]"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(config.secrets(), vec!["s3cr3t=with=equals"]);
    }

    #[test]
    fn java_jaas_config_becomes_username_and_password() {
        let jaas = "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
                    username='KEY' password=\"p@ss\";";
        let props = translate_java(parse_properties(jaas).unwrap());
        assert_eq!(props, vec![("sasl.username".into(), "KEY".into()), ("sasl.password".into(), "p@ss".into())]);
    }

    #[test]
    fn refuses_settings_that_break_delivery() {
        let err = RunConfig::from_args(&run_args(&["-b", "x:9092", "--kafka", "acks=1"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kafka property `acks=1` is not allowed: Sluice needs the idempotent producer with acks=all \
             so that nothing is lost or duplicated"
        );
        assert!(RunConfig::from_args(&run_args(&["-b", "x:9092", "--kafka", "acks=-1"])).is_ok());
        let err = RunConfig::from_args(&run_args(&["--kafka", "linger.ms"])).unwrap_err();
        assert_eq!(err.to_string(), "--kafka expects KEY=VALUE, got `linger.ms`");
        let err = RunConfig::from_args(&run_args(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::NoBootstrap));
        let err = RunConfig::from_args(&run_args(&["-b", "x:1", "--glob", "a[b"])).unwrap_err();
        assert!(err.to_string().starts_with("--glob `a[b` is not a valid glob"), "{err}");
    }

    #[test]
    fn refuses_producer_settings_the_checkpoint_cannot_honour() {
        let err = RunConfig::from_args(&run_args(&["-b", "x:1", "--kafka", "transactional.id=t1"])).unwrap_err();
        assert!(err.to_string().starts_with("kafka property `transactional.id=t1` is not allowed"), "{err}");
        let err = RunConfig::from_args(&run_args(&["-b", "x:1", "--kafka", "delivery.report.only.error=true"]));
        assert!(err.is_err(), "without reports of successes the checkpoint never moves");
    }

    #[test]
    fn exactly_once_needs_a_pipeline_and_a_dead_letter_topic() {
        let eos = ["-b", "x:1", "--delivery", "exactly-once"];
        let err = RunConfig::from_args(&run_args(&eos)).unwrap_err().to_string();
        assert!(
            err.starts_with("--delivery exactly-once needs --pipeline NAME: its name is the transactional id"),
            "{err}"
        );
        let err = RunConfig::from_args(&run_args(&[&eos[..], &["--pipeline", "p1"]].concat())).unwrap_err();
        assert!(err.to_string().starts_with("--delivery exactly-once needs --dead-letter-topic TOPIC: dead letters"));
        let err = RunConfig::from_args(&run_args(&["-b", "x:1", "--pipeline", "a b"])).unwrap_err();
        assert_eq!(err.to_string(), "--pipeline `a b` is not a valid pipeline name (1-200 of [a-zA-Z0-9._-])");

        let config =
            RunConfig::from_args(&run_args(&[&eos[..], &["--pipeline", "p1", "--dead-letter-topic", "dl"]].concat()))
                .unwrap();
        let exactly_once = config.exactly_once.unwrap();
        assert_eq!(
            (exactly_once.offsets_topic.as_str(), exactly_once.transaction_interval.as_millis()),
            ("sluice-offsets", 50)
        );
        assert_eq!(config.kafka.get("transactional.id"), Some(format!("sluice-p1-{}", hostname()).as_str()));
        assert_eq!(config.kafka.get("message.timeout.ms"), Some("60000"), "no longer than the transaction timeout");
        let config = RunConfig::from_args(&run_args(&["-b", "x:1", "--pipeline", "p1"])).unwrap();
        assert!(config.exactly_once.is_none() && !config.kafka.is_transactional(), "at-least-once stays the default");
    }

    #[test]
    fn secrets_are_not_echoed_in_errors_or_logs() {
        let args = run_args(&[
            "-b",
            "x:1",
            "--kafka",
            "sasl.oauthbearer.config=principal=admin clientSecret=S3CRET",
            "--kafka",
            "sasl.pasword=hunter2",
            "--kafka",
            "sasl.username=KEY123",
        ]);
        let config = RunConfig::from_args(&args).unwrap().kafka;
        let shown = format!("{:?}", config.redacted());
        assert!(!shown.contains("S3CRET") && !shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("\"sasl.pasword\", \"[redacted]\"") && shown.contains("KEY123"), "{shown}");
        assert_eq!(config.secrets(), ["principal=admin clientSecret=S3CRET", "hunter2"]);
        let err = RunConfig::from_args(&run_args(&["--kafka", "sasl.password: hunter2"])).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.properties");
        std::fs::write(&path, "bootstrap.servers=x:1\nMIIEvQIBADANBgkqhkiG9w0BAQ\n").unwrap();
        let err = read_properties(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("client.properties:2: expected `key=value` (the line is not shown: it may hold a secret)")
        );
    }

    #[test]
    fn transform_config_pairs_keep_order_and_equals() {
        let args = run_args(&["-b", "x:1", "-C", "where=StoreID = 'STR7188'", "-C", "key=StoreID"]);
        let config = RunConfig::from_args(&args).unwrap().transform;
        assert_eq!(config.config[0], ("where".into(), "StoreID = 'STR7188'".into()));
        assert_eq!(config.config[1], ("key".into(), "StoreID".into()));
    }
}
