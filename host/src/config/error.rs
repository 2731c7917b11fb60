//! [`ConfigError`]: what is wrong with a setting, naming it and how to fix it.

use std::path::PathBuf;

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
    #[error("cannot read --kafka-properties {path}: {reason}")]
    PropertiesFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: std::io::Error,
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
    /// librdkafka refuses a property: its name or its value.
    #[error("kafka property `{key}`: {reason}{}", .suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    KafkaProperty {
        /// The property.
        key: String,
        /// librdkafka's reason, a secret value redacted.
        reason: String,
        /// The closest property librdkafka knows, for an unknown name.
        suggestion: Option<String>,
    },
    /// No bootstrap servers anywhere.
    #[error("no Kafka bootstrap servers: pass --bootstrap-servers or set bootstrap.servers in --kafka-properties")]
    NoBootstrap,
    /// The `--glob` pattern does not parse.
    #[error("--glob `{glob}` is not a valid glob: {reason}")]
    Glob {
        /// The pattern.
        glob: String,
        /// Why.
        reason: globset::Error,
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
    /// Settings every pipeline needs are missing: all of them, in one message.
    #[error("missing required flag{}: {}", if flags.len() == 1 { "" } else { "s" }, flags.join(", "))]
    Missing {
        /// The flags, each with its value's name (`--topic TOPIC`).
        flags: Vec<&'static str>,
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
    /// `--landing-zone` looks like a URL but is not one of an object store.
    #[error("--landing-zone {url}: {why}")]
    ZoneUrl {
        /// The URL, without a password or a query.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// An object-store setting given to a local landing zone.
    #[error("{flag} is for a landing zone in object storage; --landing-zone {} is a local directory", .zone.display())]
    NotAStore {
        /// The flag.
        flag: &'static str,
        /// `--landing-zone`.
        zone: PathBuf,
    },
    /// `--source-archive-dir` of an object-store zone somewhere else.
    #[error(
        "--source-archive-dir {archive} must be a URL in the landing zone's own {bucket}, outside --landing-zone \
         {zone}: objects are archived by a copy within the store"
    )]
    ArchiveNotInBucket {
        /// `--source-archive-dir`.
        archive: String,
        /// `--landing-zone`.
        zone: String,
        /// The bucket or container.
        bucket: String,
    },
    /// A local directory's setting given to a zone in object storage.
    #[error("{flag} is for a local directory; --landing-zone {} is in object storage", .zone.display())]
    OnlyLocal {
        /// The flag.
        flag: &'static str,
        /// `--landing-zone`.
        zone: PathBuf,
    },
}
