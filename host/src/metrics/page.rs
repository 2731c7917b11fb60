//! What the status page shows of a pipeline beyond its counters: the files
//! being read, the recent dead letters with their time, how the pipeline is
//! set up ([`About`], its secrets already redacted by whoever made it) and
//! whether it still runs ([`Phase`]).

use std::time::{SystemTime, UNIX_EPOCH};

/// One file being read, for the status page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileView {
    /// Its path.
    pub path: String,
    /// Bytes read so far.
    pub read: u64,
    /// Its size.
    pub size: u64,
}

/// One recent dead letter, for the status page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetterView {
    /// The `reason` label.
    pub reason: &'static str,
    /// The full reason.
    pub detail: String,
    /// Source file.
    pub file: String,
    /// Line in it.
    pub line: u64,
    /// When it was dead-lettered, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// How a pipeline is set up, as the status page shows it. Whoever makes it
/// redacts what may be secret: nothing here is hidden again.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct About {
    /// `at-least-once` or `exactly-once`.
    pub delivery: &'static str,
    /// The transform module's path.
    pub transform: String,
    /// Its `KEY=VALUE` configuration, in order, secrets redacted.
    pub transform_config: Vec<(String, String)>,
    /// Kafka's bootstrap servers.
    pub kafka_servers: String,
}

/// Whether a pipeline runs, and if not, why.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", content = "why", rename_all = "snake_case")]
pub enum Phase {
    /// Streaming (or starting).
    #[default]
    Running,
    /// Stopped without an error: asked to, or because another pipeline failed.
    Stopped(String),
    /// Stopped by an error.
    Failed(String),
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
