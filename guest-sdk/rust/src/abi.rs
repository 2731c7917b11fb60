//! The wire format between the Sluice host and a transform module, versions
//! 1 and 2.
//!
//! `guest-sdk/ABI.md` is the normative description, written for authors in
//! any language. This module is its Rust rendering: the guest side
//! encodes with [`encode_drop`], [`encode_emit`], [`encode_emit_many`] and
//! [`encode_error`], the host side decodes with [`decode_outcomes_as`] and
//! [`decode_init_result`], so both ends of the boundary share one
//! implementation. Other loaders (components, other languages' runtimes)
//! build outcomes with the same encode functions, or as [`OwnedOutcome`]s,
//! so the host sees one representation whatever made them.
//!
//! Invariants, all little-endian:
//! - A *region* returned by a guest export is packed into an `i64` as
//!   `(ptr << 32) | len`, both unsigned 32-bit, and must lie inside the
//!   guest's exported `memory`.
//! - An input batch is `count` records, each `u32 len` then `len` bytes. Every
//!   record is valid UTF-8 and holds no line terminator.
//! - An outcome batch holds exactly one outcome per input record, in order,
//!   and nothing after the last one.
//! - Version 2 is a superset of version 1: every valid version-1 outcome
//!   batch is a valid version-2 batch with the same meaning, so the host
//!   checks a region against the module's version once and from then on
//!   reads it as version 2.

use std::fmt;

/// The ABI version this crate speaks; the SDK's modules export it from
/// `sluice_abi_version`. The host accepts every [`Version`].
pub const ABI_VERSION: i32 = 2;

/// An ABI version the host understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// Version 1: one message or none per record, no topic or partition, no imports.
    V1 = 1,
    /// Version 2: adds per-message topic and partition, several messages per
    /// record (tag 3) and the optional `sluice.log` import.
    V2 = 2,
}

impl Version {
    /// The newest version, the one [`ABI_VERSION`] names.
    pub const LATEST: Version = Version::V2;

    /// The version a module's `sluice_abi_version` returned, if it is one
    /// the host speaks.
    pub fn from_export(found: i32) -> Option<Version> {
        match found {
            1 => Some(Version::V1),
            2 => Some(Version::V2),
            _ => None,
        }
    }

    /// The number, as `sluice_abi_version` returns it.
    pub fn number(self) -> i32 {
        self as i32
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// Export names the host requires, with their core wasm signatures.
pub const EXPORT_MEMORY: &str = "memory";
/// `() -> i32`: the module's ABI version.
pub const EXPORT_ABI_VERSION: &str = "sluice_abi_version";
/// `(capacity: i32) -> i32`: pointer to a guest buffer of at least `capacity` bytes.
pub const EXPORT_BUFFER: &str = "sluice_buffer";
/// `(len: i32) -> i64`: configure the module from the config pairs in the buffer.
pub const EXPORT_INIT: &str = "sluice_init";
/// `(count: i32, len: i32) -> i64`: transform the batch in the buffer.
pub const EXPORT_PROCESS: &str = "sluice_process";
/// Optional, `() -> i64`: the last panic message, read by the host after a trap.
pub const EXPORT_PANIC_MESSAGE: &str = "sluice_panic_message";
/// Optional, `() -> i32`: the index in the batch of the record the last
/// `sluice_process` call was working on, or `-1` outside the record loop.
/// Read by the host after a failed call, so that only that record is
/// dead-lettered and it is not run again.
pub const EXPORT_CURRENT_RECORD: &str = "sluice_current_record";

/// Module of the host functions a version-2 module may import.
pub const IMPORT_MODULE: &str = "sluice";
/// `(level: i32, ptr: i32, len: i32) -> ()`: log a UTF-8 line at a [`Level`].
pub const IMPORT_LOG: &str = "log";
/// `(ptr: i32, len: i32) -> ()`: the stream cannot go on, for the UTF-8
/// reason at `ptr`. Once the current call returns (or traps) the host
/// drops the batch unprocessed and stops the pipeline with the reason.
pub const IMPORT_FAIL: &str = "fail";

/// Outcome tag: the record is filtered out.
pub const TAG_DROP: u8 = 0;
/// Outcome tag: the record becomes one Kafka message.
pub const TAG_EMIT: u8 = 1;
/// Outcome tag: the record failed; a UTF-8 message follows.
pub const TAG_ERROR: u8 = 2;
/// Outcome tag (version 2): the record becomes `u32 n` messages; `n = 0` is a drop.
pub const TAG_EMIT_MANY: u8 = 3;

/// Emit flag: a key follows.
pub const FLAG_KEY: u8 = 1 << 0;
/// Emit flag: a value follows (without it the value is null, a tombstone).
pub const FLAG_VALUE: u8 = 1 << 1;
/// Emit flag: an `i64` timestamp in epoch milliseconds follows the headers.
pub const FLAG_TIMESTAMP: u8 = 1 << 2;
/// Emit flag (version 2): a topic string follows the timestamp.
pub const FLAG_TOPIC: u8 = 1 << 3;
/// Emit flag (version 2): an `i32` partition (>= 0) follows the topic.
pub const FLAG_PARTITION: u8 = 1 << 4;
const FLAGS_V1: u8 = FLAG_KEY | FLAG_VALUE | FLAG_TIMESTAMP;
const FLAGS_V2: u8 = FLAGS_V1 | FLAG_TOPIC | FLAG_PARTITION;

/// Header value length meaning "null value".
pub const NULL_LEN: u32 = u32::MAX;

/// `sluice_init` result status: configured.
pub const INIT_OK: u8 = 0;
/// `sluice_init` result status: refused; a UTF-8 message follows.
pub const INIT_ERROR: u8 = 1;

/// The level of a guest log line (`sluice.log`'s first argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// 0: something failed.
    Error = 0,
    /// 1: something looks wrong.
    Warn = 1,
    /// 2: progress worth telling the operator.
    Info = 2,
    /// 3: detail for whoever debugs the module.
    Debug = 3,
    /// 4: everything.
    Trace = 4,
}

impl Level {
    /// The level a guest passed; `None` for a number outside 0..=4.
    pub fn from_i32(level: i32) -> Option<Level> {
        Some(match level {
            0 => Level::Error,
            1 => Level::Warn,
            2 => Level::Info,
            3 => Level::Debug,
            4 => Level::Trace,
            _ => return None,
        })
    }

    /// Its lowercase name, as the host's log and `sluice test` print it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

/// Packs a region into the `i64` an export returns.
pub fn pack_region(ptr: u32, len: u32) -> i64 {
    ((u64::from(ptr) << 32) | u64::from(len)) as i64
}

/// Unpacks an export's `i64` into `(ptr, len)`.
pub fn unpack_region(packed: i64) -> (u32, u32) {
    let packed = packed as u64;
    ((packed >> 32) as u32, packed as u32)
}

/// Appends one length-prefixed field.
pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&len_u32(bytes.len()).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("a field over 4 GiB cannot cross the ABI")
}

/// Encodes config pairs the way `sluice_init` reads them.
pub fn encode_config<'a>(pairs: impl ExactSizeIterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
    let mut out = len_u32(pairs.len()).to_le_bytes().to_vec();
    for (key, value) in pairs {
        put_bytes(&mut out, key.as_bytes());
        put_bytes(&mut out, value.as_bytes());
    }
    out
}

/// Decodes config pairs written by [`encode_config`].
pub fn decode_config(buf: &[u8]) -> Result<Vec<(String, String)>, DecodeError> {
    let mut r = Reader::new(buf);
    let count = r.u32()?;
    let mut pairs = Vec::with_capacity(count.min(1024) as usize);
    for _ in 0..count {
        let key = r.str()?.to_owned();
        let value = r.str()?.to_owned();
        pairs.push((key, value));
    }
    r.finish()?;
    Ok(pairs)
}

/// Iterates the records of an input batch. The buffer was written by the
/// host, so a malformed batch is a host bug and ends the iteration early.
pub fn records(buf: &[u8], count: usize) -> impl Iterator<Item = &[u8]> {
    let mut r = Reader::new(buf);
    (0..count).map_while(move |_| r.bytes().ok())
}

/// Appends a "drop" outcome.
pub fn encode_drop(out: &mut Vec<u8>) {
    out.push(TAG_DROP);
}

/// Appends an "error" outcome carrying `message`.
pub fn encode_error(out: &mut Vec<u8>, message: &str) {
    out.push(TAG_ERROR);
    put_bytes(out, message.as_bytes());
}

/// A Kafka message as it crosses the boundary, borrowing its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message<'a> {
    /// Message key; `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// Message value; `None` is a null value (a tombstone).
    pub value: Option<&'a [u8]>,
    /// Headers in order; a `None` value is a null header value.
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
    /// Timestamp in epoch milliseconds; `None` lets the producer stamp it.
    pub timestamp_ms: Option<i64>,
    /// Topic (version 2); `None` sends it to the operator's `--topic`.
    pub topic: Option<&'a str>,
    /// Partition (version 2, never negative); `None` lets the producer's
    /// partitioner choose by key.
    pub partition: Option<i32>,
}

/// Appends an "emit" outcome: one message.
pub fn encode_emit(out: &mut Vec<u8>, msg: &Message<'_>) {
    out.push(TAG_EMIT);
    encode_message(out, msg);
}

/// Appends an "emit many" outcome (version 2): every message of `msgs`, in
/// order. No messages means the same as a drop.
pub fn encode_emit_many(out: &mut Vec<u8>, msgs: &[Message<'_>]) {
    out.push(TAG_EMIT_MANY);
    out.extend_from_slice(&len_u32(msgs.len()).to_le_bytes());
    for msg in msgs {
        encode_message(out, msg);
    }
}

/// Appends the body of an emit outcome, without its tag: flags, key, value,
/// headers, timestamp, topic, partition.
pub fn encode_message(out: &mut Vec<u8>, msg: &Message<'_>) {
    out.push(emit_flags(msg));
    if let Some(key) = msg.key {
        put_bytes(out, key);
    }
    if let Some(value) = msg.value {
        put_bytes(out, value);
    }
    encode_headers(out, &msg.headers);
    encode_trailer(out, msg.timestamp_ms, msg.topic, msg.partition);
}

/// Appends what follows the headers of a message: the timestamp, topic and
/// partition that are present, in that order. Their flags must be set.
pub fn encode_trailer(out: &mut Vec<u8>, timestamp_ms: Option<i64>, topic: Option<&str>, partition: Option<i32>) {
    if let Some(ts) = timestamp_ms {
        out.extend_from_slice(&ts.to_le_bytes());
    }
    if let Some(topic) = topic {
        put_bytes(out, topic.as_bytes());
    }
    if let Some(partition) = partition {
        out.extend_from_slice(&partition.to_le_bytes());
    }
}

fn emit_flags(msg: &Message<'_>) -> u8 {
    let bit = |present: bool, flag: u8| if present { flag } else { 0 };
    bit(msg.key.is_some(), FLAG_KEY)
        | bit(msg.value.is_some(), FLAG_VALUE)
        | bit(msg.timestamp_ms.is_some(), FLAG_TIMESTAMP)
        | bit(msg.topic.is_some(), FLAG_TOPIC)
        | bit(msg.partition.is_some(), FLAG_PARTITION)
}

/// Appends a header block: `u32 count`, then each name and nullable value.
pub fn encode_headers(out: &mut Vec<u8>, headers: &[(&str, Option<&[u8]>)]) {
    out.extend_from_slice(&len_u32(headers.len()).to_le_bytes());
    for (name, value) in headers {
        put_bytes(out, name.as_bytes());
        match value {
            Some(v) => put_bytes(out, v),
            None => out.extend_from_slice(&NULL_LEN.to_le_bytes()),
        }
    }
}

/// One record's answer, borrowing from the outcome buffer.
///
/// Decoding normalizes: an "emit many" of no messages is [`Outcome::Drop`],
/// of one message [`Outcome::Emit`], so [`Outcome::EmitMany`] always holds
/// two or more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Filtered out.
    Drop,
    /// Becomes this message.
    Emit(Message<'a>),
    /// Becomes these messages, in order (version 2).
    EmitMany(Vec<Message<'a>>),
    /// Failed with this message.
    Error(&'a str),
}

impl<'a> Outcome<'a> {
    /// The messages the record became: none for a drop or an error.
    pub fn messages(&self) -> &[Message<'a>] {
        match self {
            Outcome::Emit(msg) => std::slice::from_ref(msg),
            Outcome::EmitMany(msgs) => msgs,
            Outcome::Drop | Outcome::Error(_) => &[],
        }
    }

    /// Appends this outcome in the version-2 encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Outcome::Drop => encode_drop(out),
            Outcome::Emit(msg) => encode_emit(out, msg),
            Outcome::EmitMany(msgs) => encode_emit_many(out, msgs),
            Outcome::Error(message) => encode_error(out, message),
        }
    }
}

/// Decodes exactly `count` outcomes in the latest version's encoding (which
/// reads every version-1 batch too).
pub fn decode_outcomes(buf: &[u8], count: usize) -> Result<Vec<Outcome<'_>>, DecodeError> {
    decode_outcomes_as(Version::LATEST, buf, count)
}

/// Decodes exactly `count` outcomes as a module of `version` must write
/// them, checking every length against the buffer, so a module returning
/// garbage is caught here, not later. A version-1 module that uses a
/// version-2 feature (tag 3, the topic or partition flags) is malformed.
pub fn decode_outcomes_as(version: Version, buf: &[u8], count: usize) -> Result<Vec<Outcome<'_>>, DecodeError> {
    let mut r = Reader::new(buf);
    let mut outcomes = Vec::with_capacity(count);
    for _ in 0..count {
        outcomes.push(decode_outcome(&mut r, version)?);
    }
    r.finish()?;
    Ok(outcomes)
}

fn decode_outcome<'a>(r: &mut Reader<'a>, version: Version) -> Result<Outcome<'a>, DecodeError> {
    let at = r.pos;
    match r.u8()? {
        TAG_DROP => Ok(Outcome::Drop),
        TAG_EMIT => decode_message(r, version).map(Outcome::Emit),
        TAG_ERROR => r.str().map(Outcome::Error),
        TAG_EMIT_MANY if version >= Version::V2 => decode_many(r),
        TAG_EMIT_MANY => {
            Err(r.error_at(at, "outcome tag 3 (emit many) needs ABI version 2, but the module speaks version 1"))
        }
        tag => Err(r.error_at(at, format!("unknown outcome tag {tag}"))),
    }
}

fn decode_many<'a>(r: &mut Reader<'a>) -> Result<Outcome<'a>, DecodeError> {
    let n = r.u32()?;
    // Each message takes at least 5 bytes (flags and a header count), which
    // bounds the allocation by the region, whatever `n` claims.
    let mut msgs = Vec::with_capacity((n as usize).min(r.remaining() / 5));
    for _ in 0..n {
        msgs.push(decode_message(r, Version::V2)?);
    }
    Ok(match msgs.len() {
        0 => Outcome::Drop,
        1 => Outcome::Emit(msgs.pop().expect("one message")),
        _ => Outcome::EmitMany(msgs),
    })
}

fn decode_message<'a>(r: &mut Reader<'a>, version: Version) -> Result<Message<'a>, DecodeError> {
    let at = r.pos;
    let flags = r.u8()?;
    if flags & !FLAGS_V2 != 0 {
        return Err(r.error_at(at, format!("unknown emit flags {flags:#04x}")));
    }
    if version == Version::V1 && flags & !FLAGS_V1 != 0 {
        let reason = format!(
            "emit flags {flags:#04x} set topic or partition, which need ABI version 2, but the module speaks version 1"
        );
        return Err(r.error_at(at, reason));
    }
    let key = (flags & FLAG_KEY != 0).then(|| r.bytes()).transpose()?;
    let value = (flags & FLAG_VALUE != 0).then(|| r.bytes()).transpose()?;
    let header_count = r.u32()?;
    let mut headers = Vec::new();
    for _ in 0..header_count {
        let name = r.str()?;
        let value = r.nullable_bytes()?;
        headers.push((name, value));
    }
    let timestamp_ms = (flags & FLAG_TIMESTAMP != 0).then(|| r.i64()).transpose()?;
    let topic = (flags & FLAG_TOPIC != 0).then(|| r.str()).transpose()?;
    let partition = (flags & FLAG_PARTITION != 0).then(|| r.partition()).transpose()?;
    Ok(Message { key, value, headers, timestamp_ms, topic, partition })
}

/// An owned [`Outcome`], for code that builds outcomes outside a module's
/// memory (another loader, a test, `sluice test`'s expectations). Encode it
/// with [`OwnedOutcome::encode`] and the host reads it like a module's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedOutcome {
    /// Filtered out.
    Drop,
    /// Becomes this message.
    Emit(OwnedMessage),
    /// Becomes these messages, in order.
    EmitMany(Vec<OwnedMessage>),
    /// Failed with this message.
    Error(String),
}

impl OwnedOutcome {
    /// The messages the record became: none for a drop or an error.
    pub fn messages(&self) -> &[OwnedMessage] {
        match self {
            OwnedOutcome::Emit(msg) => std::slice::from_ref(msg),
            OwnedOutcome::EmitMany(msgs) => msgs,
            OwnedOutcome::Drop | OwnedOutcome::Error(_) => &[],
        }
    }

    /// Appends this outcome in the version-2 encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            OwnedOutcome::Drop => encode_drop(out),
            OwnedOutcome::Emit(msg) => encode_emit(out, &msg.as_message()),
            OwnedOutcome::EmitMany(msgs) => {
                let msgs: Vec<_> = msgs.iter().map(OwnedMessage::as_message).collect();
                encode_emit_many(out, &msgs);
            }
            OwnedOutcome::Error(message) => encode_error(out, message),
        }
    }
}

impl From<&Outcome<'_>> for OwnedOutcome {
    fn from(outcome: &Outcome<'_>) -> Self {
        match outcome {
            Outcome::Drop => OwnedOutcome::Drop,
            Outcome::Emit(msg) => OwnedOutcome::Emit(msg.into()),
            Outcome::EmitMany(msgs) => OwnedOutcome::EmitMany(msgs.iter().map(OwnedMessage::from).collect()),
            Outcome::Error(message) => OwnedOutcome::Error((*message).to_owned()),
        }
    }
}

impl From<Outcome<'_>> for OwnedOutcome {
    fn from(outcome: Outcome<'_>) -> Self {
        OwnedOutcome::from(&outcome)
    }
}

/// An owned [`Message`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedMessage {
    /// Key bytes; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// Value bytes; `None` is a null value.
    pub value: Option<Vec<u8>>,
    /// Headers in order; a `None` value is a null header value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Timestamp in epoch milliseconds; `None` lets the producer stamp it.
    pub timestamp_ms: Option<i64>,
    /// Topic; `None` is the operator's `--topic`.
    pub topic: Option<String>,
    /// Partition; `None` lets the producer choose.
    pub partition: Option<i32>,
}

impl OwnedMessage {
    /// Borrows it as a [`Message`], to encode it.
    pub fn as_message(&self) -> Message<'_> {
        Message {
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers: self.headers.iter().map(|(n, v)| (n.as_str(), v.as_deref())).collect(),
            timestamp_ms: self.timestamp_ms,
            topic: self.topic.as_deref(),
            partition: self.partition,
        }
    }

    /// The key as UTF-8 text (panics if it is not), for assertions.
    pub fn key_str(&self) -> Option<&str> {
        self.key.as_deref().map(|k| std::str::from_utf8(k).expect("key is UTF-8"))
    }

    /// The value as UTF-8 text (panics if it is not), for assertions.
    pub fn value_str(&self) -> Option<&str> {
        self.value.as_deref().map(|v| std::str::from_utf8(v).expect("value is UTF-8"))
    }
}

impl From<&Message<'_>> for OwnedMessage {
    fn from(m: &Message<'_>) -> Self {
        OwnedMessage {
            key: m.key.map(<[u8]>::to_vec),
            value: m.value.map(<[u8]>::to_vec),
            headers: m.headers.iter().map(|(n, v)| ((*n).to_owned(), v.map(<[u8]>::to_vec))).collect(),
            timestamp_ms: m.timestamp_ms,
            topic: m.topic.map(str::to_owned),
            partition: m.partition,
        }
    }
}

/// Decodes a `sluice_init` result region: `Ok(())` or the module's message.
pub fn decode_init_result(buf: &[u8]) -> Result<Result<(), String>, DecodeError> {
    let mut r = Reader::new(buf);
    let outcome = match r.u8()? {
        INIT_OK => Ok(()),
        INIT_ERROR => Err(r.str()?.to_owned()),
        status => return Err(r.error(format!("unknown init status {status}"))),
    };
    r.finish()?;
    Ok(outcome)
}

/// Encodes a `sluice_init` result region.
pub fn encode_init_result(out: &mut Vec<u8>, result: Result<(), &str>) {
    match result {
        Ok(()) => out.push(INIT_OK),
        Err(message) => {
            out.push(INIT_ERROR);
            put_bytes(out, message.as_bytes());
        }
    }
}

/// A buffer that does not follow the ABI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset in the buffer where decoding failed.
    pub offset: usize,
    /// What was wrong there.
    pub reason: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {} of the returned region", self.reason, self.offset)
    }
}

impl std::error::Error for DecodeError {}

/// A bounds-checked cursor over an ABI buffer.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn error(&self, reason: String) -> DecodeError {
        self.error_at(self.pos, reason)
    }

    fn error_at(&self, offset: usize, reason: impl Into<String>) -> DecodeError {
        DecodeError { offset, reason: reason.into() }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.buf.len());
        let end = end.ok_or_else(|| {
            let left = self.remaining();
            self.error(format!("needs {n} bytes but only {left} remain"))
        })?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_le_bytes)
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        self.array().map(i64::from_le_bytes)
    }

    fn partition(&mut self) -> Result<i32, DecodeError> {
        let at = self.pos;
        match self.array().map(i32::from_le_bytes)? {
            p if p < 0 => Err(self.error_at(at, format!("negative partition {p}"))),
            p => Ok(p),
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn nullable_bytes(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.u32()? {
            NULL_LEN => Ok(None),
            len => self.take(len as usize).map(Some),
        }
    }

    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let start = self.pos;
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes).map_err(|e| DecodeError {
            offset: start + 4 + e.valid_up_to(),
            reason: "string is not valid UTF-8".into(),
        })
    }

    fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(self.error(format!("{extra} unexpected trailing bytes"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed() -> Message<'static> {
        Message {
            key: Some(b"STR7188"),
            value: Some(b"{\"a\":1}"),
            headers: vec![("source", Some(b"file-1".as_slice())), ("empty", None)],
            timestamp_ms: Some(1_590_000_000_000),
            topic: Some("invoices-7188"),
            partition: Some(3),
        }
    }

    #[test]
    fn outcomes_round_trip() {
        let msg = Message { topic: None, partition: None, ..routed() };
        let mut buf = Vec::new();
        encode_drop(&mut buf);
        encode_emit(&mut buf, &msg);
        encode_error(&mut buf, "field `x` missing");
        encode_emit(&mut buf, &Message::default());
        let expected = vec![
            Outcome::Drop,
            Outcome::Emit(msg),
            Outcome::Error("field `x` missing"),
            Outcome::Emit(Message::default()),
        ];
        assert_eq!(decode_outcomes_as(Version::V1, &buf, 4).unwrap(), expected);
        assert_eq!(decode_outcomes_as(Version::V2, &buf, 4).unwrap(), expected);
    }

    #[test]
    fn version_2_outcomes_round_trip_and_normalize() {
        let other = Message { topic: Some("b"), partition: None, ..Message::default() };
        let mut buf = Vec::new();
        encode_emit(&mut buf, &routed());
        encode_emit_many(&mut buf, &[routed(), other.clone()]);
        encode_emit_many(&mut buf, &[]);
        encode_emit_many(&mut buf, std::slice::from_ref(&other));
        let decoded = decode_outcomes(&buf, 4).unwrap();
        assert_eq!(
            decoded,
            vec![
                Outcome::Emit(routed()),
                Outcome::EmitMany(vec![routed(), other.clone()]),
                Outcome::Drop,
                Outcome::Emit(other.clone()),
            ]
        );
        assert_eq!(decoded[1].messages().len(), 2);
        assert_eq!(decoded[2].messages(), &[]);

        let owned: Vec<OwnedOutcome> = decoded.iter().map(OwnedOutcome::from).collect();
        let mut again = Vec::new();
        owned.iter().for_each(|o| o.encode(&mut again));
        assert_eq!(decode_outcomes(&again, 4).unwrap(), decoded);
        assert_eq!(owned[0].messages()[0].topic.as_deref(), Some("invoices-7188"));
    }

    #[test]
    fn a_version_1_module_may_not_use_version_2_features() {
        let mut buf = Vec::new();
        encode_emit(&mut buf, &Message { topic: Some("t"), ..Message::default() });
        let err = decode_outcomes_as(Version::V1, &buf, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "emit flags 0x08 set topic or partition, which need ABI version 2, but the module speaks version 1 \
             at byte 1 of the returned region"
        );
        buf.clear();
        encode_emit(&mut buf, &Message { partition: Some(0), ..Message::default() });
        assert!(decode_outcomes_as(Version::V1, &buf, 1).is_err());
        buf.clear();
        encode_drop(&mut buf);
        encode_emit_many(&mut buf, &[]);
        let err = decode_outcomes_as(Version::V1, &buf, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "outcome tag 3 (emit many) needs ABI version 2, but the module speaks version 1 at byte 1 of the returned region"
        );
        assert_eq!(decode_outcomes_as(Version::V2, &buf, 2).unwrap(), vec![Outcome::Drop, Outcome::Drop]);
    }

    #[test]
    fn garbage_is_refused_with_its_offset() {
        let mut buf = Vec::new();
        encode_emit(&mut buf, &Message { key: Some(b"k"), ..Message::default() });
        let err = decode_outcomes(&buf[..buf.len() - 1], 1).unwrap_err();
        assert_eq!(err.to_string(), "needs 4 bytes but only 3 remain at byte 7 of the returned region");
        let err = decode_outcomes(&[9], 1).unwrap_err();
        assert_eq!(err.to_string(), "unknown outcome tag 9 at byte 0 of the returned region");
        let err = decode_outcomes(&[TAG_EMIT, 0x20, 0, 0, 0, 0], 1).unwrap_err();
        assert_eq!(err.to_string(), "unknown emit flags 0x20 at byte 1 of the returned region");
        let err = decode_outcomes(&[TAG_DROP, TAG_DROP], 1).unwrap_err();
        assert_eq!(err.reason, "1 unexpected trailing bytes");
        let huge_len = [TAG_ERROR, 0xff, 0xff, 0xff, 0x7f];
        assert!(decode_outcomes(&huge_len, 1).is_err());
        let huge_count = [TAG_EMIT_MANY, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(decode_outcomes(&huge_count, 1).unwrap_err().reason, "needs 1 bytes but only 0 remain");
        let mut negative = vec![TAG_EMIT, FLAG_PARTITION, 0, 0, 0, 0];
        negative.extend_from_slice(&(-1i32).to_le_bytes());
        assert_eq!(
            decode_outcomes(&negative, 1).unwrap_err().to_string(),
            "negative partition -1 at byte 6 of the returned region"
        );
    }

    #[test]
    fn versions_and_levels_come_from_their_numbers() {
        assert_eq!(Version::from_export(1), Some(Version::V1));
        assert_eq!(Version::from_export(ABI_VERSION), Some(Version::LATEST));
        assert_eq!(Version::from_export(3), None);
        assert_eq!(Level::from_i32(0), Some(Level::Error));
        assert_eq!(Level::from_i32(4).map(Level::name), Some("trace"));
        assert_eq!(Level::from_i32(5), None);
    }

    #[test]
    fn config_and_records_round_trip() {
        let pairs = [("where", "StoreID = 'STR7188'"), ("key", "StoreID")];
        let buf = encode_config(pairs.iter().copied());
        let decoded = decode_config(&buf).unwrap();
        assert_eq!(decoded[0], ("where".to_owned(), "StoreID = 'STR7188'".to_owned()));
        assert_eq!(decoded.len(), 2);

        let mut batch = Vec::new();
        put_bytes(&mut batch, b"{}");
        put_bytes(&mut batch, b"{\"a\":2}");
        let got: Vec<_> = records(&batch, 2).collect();
        assert_eq!(got, vec![b"{}".as_slice(), b"{\"a\":2}".as_slice()]);
    }

    #[test]
    fn regions_pack_both_halves() {
        assert_eq!(unpack_region(pack_region(0xdead_beef, 0x8000_0001)), (0xdead_beef, 0x8000_0001));
    }

    #[test]
    fn init_results_round_trip() {
        let mut buf = Vec::new();
        encode_init_result(&mut buf, Err("bad `where`"));
        assert_eq!(decode_init_result(&buf).unwrap(), Err("bad `where`".to_owned()));
        buf.clear();
        encode_init_result(&mut buf, Ok(()));
        assert_eq!(decode_init_result(&buf).unwrap(), Ok(()));
    }
}
