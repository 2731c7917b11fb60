//! The Kafka side of the config: the producer's properties
//! ([`KafkaConfig`]), the settings forced or refused because delivery rests on
//! them, `--delivery exactly-once` ([`ExactlyOnce`]), and the rules for
//! topic, pipeline and host names.

use std::time::Duration;

use super::properties::{read_properties, translate_java};
use super::{ConfigError, positive, required, secrets, split_pair};
use crate::cli::RunArgs;

/// The Kafka producer.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Target topic.
    pub topic: String,
    /// librdkafka properties, in the order they apply.
    pub properties: Vec<(String, String)>,
    /// How long start-up waits for a first broker (`--connect-timeout-ms`).
    pub connect_timeout: Duration,
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
    /// This host's id in the pipeline's group: `--host-id`, else the id
    /// kept in the checkpoint directory, which the pipeline reads once it
    /// holds the directory's lock ([`super::RunConfig::settle_host_id`]).
    pub host_id: String,
    /// Whether `--host-id` gave the id.
    pub host_id_given: bool,
    /// Partitions of the offsets topic, if Sluice creates it.
    pub offsets_partitions: i32,
    /// The group's `session.timeout.ms`.
    pub session_timeout: Duration,
}

impl ExactlyOnce {
    pub(super) fn from_args(args: &RunArgs) -> Result<Option<Self>, ConfigError> {
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
        if let Some(id) = args.host_id.as_ref().filter(|id| !valid_host_id(id)) {
            return Err(ConfigError::HostId(id.clone()));
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
            host_id: args.host_id.clone().unwrap_or_default(),
            host_id_given: args.host_id.is_some(),
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

/// The longest host id (the transactional id and the group's instance id
/// carry it).
pub const MAX_HOST_ID_LEN: usize = 200;

/// Whether `id` is a legal host id: 1-200 of `[a-zA-Z0-9._-]`.
pub fn valid_host_id(id: &str) -> bool {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    (1..=MAX_HOST_ID_LEN).contains(&id.len()) && id.chars().all(legal)
}

pub(super) fn checked_pipeline(name: String) -> Result<String, ConfigError> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if (1..=200).contains(&name.len()) && name.chars().all(legal) { Ok(name) } else { Err(ConfigError::Pipeline(name)) }
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
    pub(super) fn from_args(args: &RunArgs, exactly_once: Option<&ExactlyOnce>) -> Result<Self, ConfigError> {
        let topic = checked_topic(required("--topic TOPIC", &args.topic)?)?;
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
        let connect_timeout = Duration::from_millis(positive("--connect-timeout-ms", args.connect_timeout_ms)?);
        let mut config = KafkaConfig { topic, properties: translate_java(properties), connect_timeout };
        super::rules::check(&config.properties)?;
        config.force()?;
        // Without --host-id, the transactional id waits for the kept host id.
        if let Some(eos) = exactly_once.filter(|eos| eos.host_id_given) {
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
    pub(super) fn make_transactional(&mut self, eos: &ExactlyOnce) {
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

pub(super) fn checked_topic(topic: String) -> Result<String, ConfigError> {
    if valid_topic(&topic) { Ok(topic) } else { Err(ConfigError::Topic(topic)) }
}

/// Whether `topic` is a legal Kafka topic name.
pub fn valid_topic(topic: &str) -> bool {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    (1..=249).contains(&topic.len()) && topic.chars().all(legal) && topic != "." && topic != ".."
}
