//! Typed configuration, validated from the raw flags in one step.
//!
//! [`RunConfig::from_args`] reads the `--kafka-properties` file, applies
//! `--kafka` overrides, forces the producer settings delivery depends on,
//! and checks every value (Kafka properties by librdkafka's own rules, in
//! `rules`), so a bad setting stops `sluice` before any record moves, with
//! a message naming the key and how to fix it. Kafka property
//! values are shown only for the properties [`secrets`] knows are not
//! secret: [`KafkaConfig::redacted`] is what logs see, and
//! [`KafkaConfig::secrets`] what is scrubbed from librdkafka's texts.

mod clean;
mod error;
pub mod file;
mod kafka;
mod properties;
mod rules;
pub mod secrets;
mod store;

pub use clean::{CleanConfig, archive_inside};
pub use error::ConfigError;
pub use kafka::{ExactlyOnce, KafkaConfig, MAX_HOST_ID_LEN, valid_host_id, valid_topic};
use kafka::{checked_pipeline, checked_topic};
pub use store::StoreConfig;

#[cfg(test)]
use properties::{parse_properties, translate_java};
pub use properties::{properties_of_text, read_properties};

use std::path::PathBuf;
use std::time::Duration;

use globset::{Glob, GlobMatcher};

use crate::cli::{RunArgs, TransformArgs};

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
    pub clean: CleanConfig,
}

/// The landing-zone source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Where the landing zone is: a local directory, or the spelling of an
    /// object store's zone (its URL without the trailing `/`), which every
    /// object's name starts with.
    pub dir: PathBuf,
    /// The landing zone in object storage, if it is one.
    pub store: Option<StoreConfig>,
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

impl RunConfig {
    /// Gives an exactly-once pipeline started without `--host-id` the id
    /// it runs under (kept in its checkpoint directory), and its producer
    /// the transactional id made of it.
    pub fn settle_host_id(&mut self, id: String) {
        if let Some(eos) = self.exactly_once.as_mut().filter(|eos| !eos.host_id_given) {
            eos.host_id = id;
            self.kafka.make_transactional(eos);
        }
    }

    /// Validates raw flags into a config.
    pub fn from_args(args: &RunArgs) -> Result<Self, ConfigError> {
        all_required(args)?;
        let glob = args.glob.as_deref().map(parse_glob).transpose()?;
        let exactly_once = ExactlyOnce::from_args(args)?;
        let pipeline = args.pipeline.clone().map(checked_pipeline).transpose()?.unwrap_or_else(|| "default".into());
        let store = StoreConfig::from_args(args)?;
        let zone = required("--landing-zone DIR", &args.landing_zone)?;
        let landing_zone = store.as_ref().map_or_else(|| store::local_dir(&zone), StoreConfig::name);
        let url = store.as_ref().map(|s| &s.url);
        let default_rescan = if store.is_some() { store::DEFAULT_RESCAN_MS } else { crate::cli::default_rescan_ms() };
        let archive_dir = args.source_archive_dir.as_deref();
        Ok(RunConfig {
            clean: CleanConfig::from_args(args.clean_source, archive_dir, &landing_zone, url)?,
            source: SourceConfig {
                dir: landing_zone,
                store,
                glob,
                settle: Duration::from_millis(args.settle_ms),
                rescan: Duration::from_millis(positive("--rescan-ms", args.rescan_ms.unwrap_or(default_rescan))?),
                max_record_bytes: positive("--max-record-bytes", args.max_record_bytes as u64)? as usize,
                recursive: args.recursive,
                follow_symlinks: args.follow_symlinks,
            },
            transform: TransformConfig::from_args(&args.transform)?,
            kafka: KafkaConfig::from_args(args, exactly_once.as_ref())?,
            checkpoint_dir: required("--checkpoint-dir DIR", &args.checkpoint_dir)?,
            dead_letter_topic: args.dead_letter_topic.clone().map(checked_topic).transpose()?,
            max_consecutive_errors: positive("--max-consecutive-errors", args.max_consecutive_errors)?,
            exactly_once,
            pipeline,
            metrics_addr: args.metrics_addr,
            metrics_token_file: args.metrics_token_file.clone(),
        })
    }
}

/// `value`, or the error that `flag` (with its value's name) is missing.
pub(super) fn required<T: Clone>(flag: &'static str, value: &Option<T>) -> Result<T, ConfigError> {
    value.clone().ok_or_else(|| ConfigError::Missing { flags: vec![flag] })
}

/// Every required flag not given, so one message names them all.
fn all_required(args: &RunArgs) -> Result<(), ConfigError> {
    let named = |key: &str| args.kafka.iter().any(|kv| kv.split_once('=').is_some_and(|(k, _)| k.trim() == key));
    let no_servers = args.bootstrap_servers.is_none()
        && args.kafka_properties.is_none()
        && !named("bootstrap.servers")
        && !named("metadata.broker.list");
    let flags: Vec<&'static str> = [
        ("--landing-zone DIR", args.landing_zone.is_none()),
        ("--transform WASM", args.transform.path.is_none()),
        ("--topic TOPIC", args.topic.is_none()),
        ("--bootstrap-servers SERVERS", no_servers),
        ("--checkpoint-dir DIR", args.checkpoint_dir.is_none()),
    ]
    .into_iter()
    .filter_map(|(flag, missing)| missing.then_some(flag))
    .collect();
    if flags.is_empty() { Ok(()) } else { Err(ConfigError::Missing { flags }) }
}

fn positive(flag: &'static str, value: u64) -> Result<u64, ConfigError> {
    match value {
        0 => Err(ConfigError::OutOfRange { flag, rule: "greater than 0", value }),
        _ => Ok(value),
    }
}

fn parse_glob(glob: &str) -> Result<GlobMatcher, ConfigError> {
    let parsed = Glob::new(glob).map_err(|reason| ConfigError::Glob { glob: glob.to_owned(), reason })?;
    Ok(parsed.compile_matcher())
}

/// The value of `--module-cache-dir` that turns the cache off.
pub const MODULE_CACHE_OFF: &str = "off";

/// Where the module cache lives when `--module-cache-dir` is not given:
/// `$XDG_CACHE_HOME/sluice`, else `$HOME/.cache/sluice`; `None` (no cache)
/// when neither is set to an absolute path.
pub fn default_module_cache() -> Option<PathBuf> {
    let absolute = |name| std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_absolute());
    absolute("XDG_CACHE_HOME")
        .map(|dir| dir.join("sluice"))
        .or_else(|| absolute("HOME").map(|home| home.join(".cache").join("sluice")))
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
            path: required("--transform WASM", &args.path)?,
            config,
            timeout: Duration::from_millis(positive("--transform-timeout-ms", args.timeout_ms)?),
            memory_bytes: (memory_mb as usize) << 20,
            module_cache: match &args.module_cache_dir {
                Some(dir) if dir.as_os_str() == MODULE_CACHE_OFF => None,
                Some(dir) => Some(dir.clone()),
                None => default_module_cache(),
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
        let err = RunConfig::from_args(&run_args(&["-b", "x:1", "--kafka", "linger.ms"])).unwrap_err();
        assert_eq!(err.to_string(), "--kafka expects KEY=VALUE, got `linger.ms`");
        let err = RunConfig::from_args(&run_args(&[])).unwrap_err();
        assert_eq!(err.to_string(), "missing required flag: --bootstrap-servers SERVERS");
        assert!(RunConfig::from_args(&run_args(&["--kafka", "bootstrap.servers=x:1"])).is_ok());
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
        let exactly_once = config.exactly_once.clone().unwrap();
        assert_eq!(
            (exactly_once.offsets_topic.as_str(), exactly_once.transaction_interval.as_millis()),
            ("sluice-offsets", 50)
        );
        assert_eq!(config.kafka.get("transactional.id"), None, "it waits for the id kept in the checkpoint dir");
        let mut config = config;
        config.settle_host_id("web-1-0a1b".into());
        assert_eq!(config.kafka.get("transactional.id"), Some("sluice-p1-web-1-0a1b"));
        assert_eq!(config.kafka.get("message.timeout.ms"), Some("60000"), "no longer than the transaction timeout");
        let given = [&eos[..], &["--pipeline", "p1", "--dead-letter-topic", "dl", "--host-id", "h1"]].concat();
        let mut config = RunConfig::from_args(&run_args(&given)).unwrap();
        assert_eq!(config.kafka.get("transactional.id"), Some("sluice-p1-h1"));
        config.settle_host_id("other".into());
        assert_eq!(config.kafka.get("transactional.id"), Some("sluice-p1-h1"), "--host-id wins");
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
            "sasl.password=hunter2",
            "--kafka",
            "sasl.username=KEY123",
        ]);
        let config = RunConfig::from_args(&args).unwrap().kafka;
        let shown = format!("{:?}", config.redacted());
        assert!(!shown.contains("S3CRET") && !shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("\"sasl.password\", \"[redacted]\"") && shown.contains("KEY123"), "{shown}");
        let err = RunConfig::from_args(&run_args(&["-b", "x:1", "--kafka", "sasl.pasword=hunter2"])).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
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
    fn every_missing_required_flag_is_named_in_one_message() {
        let args = match crate::cli::Cli::try_parse_from(["sluice", "run", "--glob", "*.json"]).unwrap().command {
            crate::cli::Command::Run(run) => run.pipeline,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(
            RunConfig::from_args(&args).unwrap_err().to_string(),
            "missing required flags: --landing-zone DIR, --transform WASM, --topic TOPIC, --bootstrap-servers \
             SERVERS, --checkpoint-dir DIR"
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
