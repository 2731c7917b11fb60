//! `sluice test`: what a module makes of a sample file, without a broker.
//!
//! The input is read by the same line reader as `sluice run` ([`Tail`]:
//! blank lines skipped, a BOM and `\r` stripped, invalid UTF-8 and lines
//! over `--max-record-bytes` refused) and run by the same [`Transformer`],
//! with the same time and memory limits, so a trap, a timeout or the memory
//! cap shows up here first. Each record's outcome is printed as a JSON line
//! ([`Entry`]) or, on a terminal, as a table; a summary of counts goes to
//! stderr, with the warnings and errors the module logged. A failed record
//! makes the command exit 1 unless `--allow-errors`. With `--expect`, the
//! outcomes are compared with a file of the same JSON lines (in `expect.rs`),
//! where a field left out of an expected line is not compared, and each
//! mismatch is shown as a diff; `--write-expect` writes such a file from
//! the run.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use serde::Serialize;
use sluice_guest_sdk::abi::{Message, Outcome};

use crate::cli::{OutputFormat, TestArgs};
use crate::config::TransformConfig;
use crate::record::Batch;
use crate::shutdown::Shutdown;
use crate::source::tail::{ReadStatus, Tail};
use crate::transform::Transformer;
use crate::zone::ZoneFile;
use crate::zone::local::LocalFile;

/// Longest text shown in a table cell; the JSON lines hold everything.
const CELL_CHARS: usize = 60;

/// What the module made of one input line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The 1-based line number in the input file.
    pub line: u64,
    /// `drop`, `emit` or `error`.
    pub outcome: &'static str,
    /// The messages of an emit, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Msg>>,
    /// Why the record failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One message as `sluice test` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Msg {
    /// The key, `null` for none.
    pub key: Option<Bytes>,
    /// The value, `null` for a tombstone.
    pub value: Option<Bytes>,
    /// The headers, by name.
    pub headers: Headers,
    /// The timestamp in epoch ms, `null` for the producer's clock.
    pub timestamp: Option<i64>,
    /// The topic, `null` for `--topic`.
    pub topic: Option<String>,
    /// The partition, `null` for the partitioner's choice.
    pub partition: Option<i32>,
}

/// Bytes as text when they are UTF-8, else as `{"base64": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Bytes {
    /// Valid UTF-8.
    Text(String),
    /// Anything else, in standard base64.
    Binary {
        /// The bytes.
        base64: String,
    },
}

impl Bytes {
    fn of(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Bytes::Text(text.to_owned()),
            Err(_) => Bytes::Binary { base64: crate::record::dead_letter::base64(bytes) },
        }
    }

    fn display(&self) -> String {
        match self {
            Bytes::Text(text) => text.clone(),
            Bytes::Binary { base64 } => format!("base64:{base64}"),
        }
    }
}

/// Headers in the module's order, serialized as a JSON object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Headers(pub Vec<(String, Option<Bytes>)>);

impl Serialize for Headers {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl Msg {
    fn of(msg: &Message<'_>) -> Self {
        Msg {
            key: msg.key.map(Bytes::of),
            value: msg.value.map(Bytes::of),
            headers: Headers(msg.headers.iter().map(|(k, v)| ((*k).to_owned(), v.map(Bytes::of))).collect()),
            timestamp: msg.timestamp_ms,
            topic: msg.topic.map(str::to_owned),
            partition: msg.partition,
        }
    }
}

impl Entry {
    fn of(line: u64, outcome: &Outcome<'_>) -> Self {
        let entry = |outcome, messages, reason| Entry { line, outcome, messages, reason };
        match outcome {
            Outcome::Error(reason) => entry("error", None, Some((*reason).to_owned())),
            _ if outcome.messages().is_empty() => entry("drop", None, None),
            _ => entry("emit", Some(outcome.messages().iter().map(Msg::of).collect()), None),
        }
    }
}

/// The error of `sluice test` without `--transform`, worded as `run`'s
/// missing flags are.
const MISSING_TRANSFORM: &str =
    "missing required flag: --transform WASM (the module to test, e.g. --transform target/transforms/sql.wasm)";

/// Runs `sluice test`; whether it passed: every outcome matched `--expect`
/// (when given), and no record failed (unless `--allow-errors`).
pub fn run(args: &TestArgs) -> anyhow::Result<bool> {
    if args.transform.path.is_none() {
        bail!("{MISSING_TRANSFORM}");
    }
    let config = TransformConfig::from_args(&args.transform)?;
    let expected = args.expect.as_deref().map(expect::read).transpose()?;
    let mut transformer = Transformer::new(&config)?;
    let entries = run_file(&mut transformer, &args.input, args.max_record_bytes)?;
    let format =
        args.format.unwrap_or(if std::io::stdout().is_terminal() { OutputFormat::Table } else { OutputFormat::Json });
    print_entries(&entries, format)?;
    if let Some(path) = &args.write_expect {
        expect::write(path, &entries)?;
    }
    eprintln!("{}", summary(&entries));
    let log = transformer.log();
    for (level, line) in log.noted() {
        eprintln!("{} from {}: {}", level.name(), log.module(), printable(&line));
    }
    let failed = entries.iter().filter(|e| e.outcome == "error").count();
    let errors_pass = failed == 0 || args.allow_errors;
    if !errors_pass {
        eprintln!("{} failed; exiting 1 (--allow-errors exits 0 when records fail)", plural(failed, "record"));
    }
    let Some(expected) = expected else { return Ok(errors_pass) };
    let path = args.expect.as_deref().expect("read above").display();
    let mismatches = expect::compare(&expected, &entries);
    for mismatch in &mismatches {
        eprint!("{mismatch}");
    }
    match mismatches.len() {
        0 => eprintln!("{path}: all {} match", plural(expected.len(), "outcome")),
        n => eprintln!("{path}: {n} of {} do not match", plural(expected.len().max(entries.len()), "outcome")),
    }
    Ok(errors_pass && mismatches.is_empty())
}

/// `text` with control characters escaped, so a module's line cannot
/// rewrite the terminal.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// `n` and `noun`, plural unless `n` is 1: `1 record`, `2 records`.
pub fn plural(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// Every record of `input` through `transformer`, in line order.
pub fn run_file(transformer: &mut Transformer, input: &Path, max_record_bytes: usize) -> anyhow::Result<Vec<Entry>> {
    let file = File::open(input).with_context(|| format!("cannot open --input {}", input.display()))?;
    let file = LocalFile::new(file)?;
    let id = file.id();
    let path: Arc<str> = input.display().to_string().into();
    let mut tail = Tail::new(Box::new(file), path.clone(), 0, 0, max_record_bytes)?;
    let shutdown = Shutdown::new();
    let mut entries = Vec::new();
    loop {
        let mut batch = Batch::new(id, path.clone());
        let status = tail.read(&mut batch).with_context(|| format!("cannot read --input {}", input.display()))?;
        if status == ReadStatus::Eof {
            tail.finish(&mut batch);
        }
        let start = entries.len();
        let reason = |r: &crate::record::Reject| Entry {
            line: r.line,
            outcome: "error",
            messages: None,
            reason: Some(r.reason.clone()),
        };
        entries.extend(batch.rejects.iter().map(reason));
        let outcomes = transformer.process(&batch, u64::MAX, &shutdown)?;
        entries.extend(outcomes.iter().zip(&batch.meta).map(|(o, meta)| Entry::of(meta.line, o)));
        entries[start..].sort_by_key(|e| e.line);
        if status == ReadStatus::Eof {
            return Ok(entries);
        }
    }
}

fn print_entries(entries: &[Entry], format: OutputFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Json => {
            for entry in entries {
                serde_json::to_writer(&mut out, entry)?;
                out.write_all(b"\n")?;
            }
        }
        OutputFormat::Table => writeln!(out, "{}", table(entries))?,
    }
    Ok(out.flush()?)
}

fn table(entries: &[Entry]) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(["line", "outcome", "key", "value / reason", "topic", "partition", "headers", "timestamp"]);
    for entry in entries {
        let line = entry.line.to_string();
        match (&entry.messages, &entry.reason) {
            (Some(messages), _) => {
                for (n, msg) in messages.iter().enumerate() {
                    let outcome =
                        if messages.len() > 1 { format!("emit {}/{}", n + 1, messages.len()) } else { "emit".into() };
                    table.add_row(message_row(&line, outcome, msg));
                }
            }
            (None, reason) => {
                let reason = reason.as_deref().map(cell).unwrap_or_default();
                table.add_row([line, entry.outcome.to_owned(), String::new(), reason]);
            }
        }
    }
    table
}

fn message_row(line: &str, outcome: String, msg: &Msg) -> Vec<String> {
    let bytes = |b: &Option<Bytes>| b.as_ref().map_or_else(|| "null".to_owned(), |b| cell(&b.display()));
    let headers = msg.headers.0.iter().map(|(k, v)| format!("{k}={}", bytes(v))).collect::<Vec<_>>().join("\n");
    let or_default = |v: Option<String>, default: &str| v.unwrap_or_else(|| default.to_owned());
    vec![
        line.to_owned(),
        outcome,
        bytes(&msg.key),
        bytes(&msg.value),
        or_default(msg.topic.clone(), "(--topic)"),
        or_default(msg.partition.map(|p| p.to_string()), "(by key)"),
        headers,
        or_default(msg.timestamp.map(|t| t.to_string()), "(producer)"),
    ]
}

/// `text` cut to [`CELL_CHARS`] characters.
fn cell(text: &str) -> String {
    match text.char_indices().nth(CELL_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The counts line: records, and how many were emitted, dropped, failed.
pub fn summary(entries: &[Entry]) -> String {
    let count = |outcome| entries.iter().filter(|e| e.outcome == outcome).count();
    let messages: usize = entries.iter().filter_map(|e| e.messages.as_ref()).map(Vec::len).sum();
    format!(
        "{}: {} emitted ({}), {} dropped, {} failed",
        plural(entries.len(), "record"),
        count("emit"),
        plural(messages, "message"),
        count("drop"),
        count("error")
    )
}

mod expect;
#[cfg(test)]
mod tests;
