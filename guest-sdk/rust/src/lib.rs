#![doc = include_str!("../README.md")]

pub mod abi;
pub mod json;
mod record;
pub mod testing;

#[doc(hidden)]
#[cfg(target_arch = "wasm32")]
pub mod guest;

use std::fmt;

pub use abi::{Level, Message};
pub use record::{Kind, RawValue, Record};

/// A transform's error: a message for the operator, which the host puts
/// beside the record in the dead letters.
pub struct Error {
    message: String,
}

impl Error {
    /// An error carrying `message`.
    pub fn new(message: impl fmt::Display) -> Self {
        Error { message: message.to_string() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.message, f)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        Error::new(error)
    }
}

/// `Result` with the SDK's [`Error`] as its default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The operator's `--transform-config KEY=VALUE` pairs, in order.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pairs: Vec<(String, String)>,
}

impl Config {
    /// A config holding `pairs`.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Config { pairs }
    }

    /// The value of `key`; when it is given more than once, the last wins.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or an error that names it.
    pub fn require(&self, key: &str) -> Result<&str> {
        self.get(key).ok_or_else(|| Error::new(format!("missing required config `{key}`")))
    }

    /// All pairs, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Refuses any key not in `known`, so a typo fails at start-up.
    pub fn allow_only(&self, known: &[&str]) -> Result<()> {
        match self.pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some((key, _)) => {
                Err(Error::new(format!("unknown config `{key}`; this transform accepts: {}", known.join(", "))))
            }
        }
    }
}

/// One Kafka message header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name.
    pub name: String,
    /// Header value; `None` is a null value.
    pub value: Option<Vec<u8>>,
}

/// A transform: what a plugin author writes. The host calls [`Transform::init`]
/// once, then for every record [`Transform::flat_map`], whose default asks
/// [`Transform::filter`] and, for kept records, makes one message from the
/// message builders (`key`, `value`, `headers`, `timestamp`, `topic`,
/// `partition`). Any `Err` fails only that record, which the host sends to
/// the dead letters with the error's message.
pub trait Transform: Sized + 'static {
    /// Builds the transform from the operator's config; an `Err` stops the
    /// host at start-up with this message.
    fn init(config: &Config) -> Result<Self>;

    /// Whether to keep the record. Default: keep everything.
    fn filter(&self, _record: &Record<'_>) -> Result<bool> {
        Ok(true)
    }

    /// The message key. Default: no key.
    fn key(&self, _record: &Record<'_>) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    /// Appends the message value to `out`. Default: the record as compact
    /// JSON, Spark's `to_json(struct(*))`.
    fn value(&self, record: &Record<'_>, out: &mut Vec<u8>) -> Result<()> {
        record.write_compact_json(out);
        Ok(())
    }

    /// Message headers. Default: none.
    fn headers(&self, _record: &Record<'_>) -> Result<Vec<Header>> {
        Ok(Vec::new())
    }

    /// Message timestamp in epoch milliseconds. Default: `None`, so the
    /// producer stamps the message with its own clock.
    fn timestamp(&self, _record: &Record<'_>) -> Result<Option<i64>> {
        Ok(None)
    }

    /// The topic the message goes to. Default: `None`, the operator's
    /// `--topic`. A topic that does not exist sends the record to the dead
    /// letters with that reason.
    fn topic(&self, _record: &Record<'_>) -> Result<Option<String>> {
        Ok(None)
    }

    /// The partition the message goes to (0 or more). Default: `None`, so
    /// the producer's partitioner chooses by key. A partition the topic does
    /// not have sends the record to the dead letters with that reason.
    fn partition(&self, _record: &Record<'_>) -> Result<Option<i32>> {
        Ok(None)
    }

    /// Turns the record into zero, one or several messages, pushed to `out`
    /// in order (Fluvio's flat-map). Pushing none drops the record.
    ///
    /// Default: if [`Transform::filter`] keeps the record, one message built
    /// by the message builders ([`Emitter::push_from_hooks`]). Override it to
    /// fan a record out, e.g. one message per line item:
    ///
    /// ```
    /// # use sluice_guest_sdk::{Config, Emitter, Message, Record, Result, Transform};
    /// struct PerItem;
    /// impl Transform for PerItem {
    ///     fn init(_: &Config) -> Result<Self> { Ok(PerItem) }
    ///     fn flat_map(&self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
    ///         let Some(items) = record.json()?.get("items").and_then(|v| v.as_array()) else {
    ///             return Ok(());
    ///         };
    ///         for item in items {
    ///             let value = item.to_string();
    ///             out.push(&Message { value: Some(value.as_bytes()), ..Message::default() });
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// let h = sluice_guest_sdk::testing::Harness::<PerItem>::new(&[]).unwrap();
    /// assert_eq!(h.run(r#"{"items": [1, 2, 3]}"#).messages().len(), 3);
    /// ```
    fn flat_map(&self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        if self.filter(record)? {
            out.push_from_hooks(self, record)?;
        }
        Ok(())
    }

    /// Called after the last record of each batch the host hands over, to
    /// say something once about what the batch showed (a warning through
    /// [`log`], say). Default: nothing.
    fn end_batch(&self) {}
}

/// Where [`Transform::flat_map`] puts a record's messages. It writes the
/// outcome straight into the result region: no messages is a drop, one is
/// an emit, several an emit-many (ABI version 2, tag 3).
#[derive(Debug)]
pub struct Emitter<'o> {
    out: &'o mut Vec<u8>,
    /// Where this record's outcome tag is.
    start: usize,
    count: u32,
}

impl<'o> Emitter<'o> {
    fn new(out: &'o mut Vec<u8>) -> Self {
        let start = out.len();
        out.push(abi::TAG_DROP);
        Emitter { out, start, count: 0 }
    }

    /// How many messages were pushed so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no message was pushed yet (the record would be dropped).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends one message. Its `topic` and `partition`, when set, route it.
    pub fn push(&mut self, message: &Message<'_>) {
        self.open_message();
        abi::encode_message(self.out, message);
    }

    /// Appends the message `transform`'s builders make of `record` (key,
    /// value, headers, timestamp, topic, partition), without asking
    /// `filter`. On an `Err` nothing is appended.
    pub fn push_from_hooks<T: Transform>(&mut self, transform: &T, record: &Record<'_>) -> Result<()> {
        let key = transform.key(record)?;
        let headers = transform.headers(record)?;
        let timestamp = transform.timestamp(record)?;
        let topic = transform.topic(record)?;
        let partition = transform.partition(record)?;
        if let Some(p) = partition.filter(|p| *p < 0) {
            return Err(Error::new(format!("partition {p} is negative")));
        }
        let (mark, before) = (self.out.len(), self.count);
        self.open_message();
        let body = self.out.len();
        self.out.push(message_flags(key.is_some(), timestamp.is_some(), topic.is_some(), partition.is_some()));
        if let Some(key) = &key {
            abi::put_bytes(self.out, key);
        }
        if let Err(error) = write_value(transform, record, self.out) {
            self.undo(mark, body, before);
            return Err(error);
        }
        let headers: Vec<_> = headers.iter().map(|h| (h.name.as_str(), h.value.as_deref())).collect();
        abi::encode_headers(self.out, &headers);
        abi::encode_trailer(self.out, timestamp, topic.as_deref(), partition);
        Ok(())
    }

    /// Counts one more message and fixes the tag in front of them: the
    /// second message turns an emit into an emit-many, which needs the count
    /// inserted after the tag (moving the first message once).
    fn open_message(&mut self) {
        match self.count {
            0 => self.out[self.start] = abi::TAG_EMIT,
            1 => {
                self.out[self.start] = abi::TAG_EMIT_MANY;
                let at = self.start + 1;
                self.out.splice(at..at, [0; 4]);
            }
            _ => {}
        }
        self.count += 1;
    }

    /// Takes back a message opened at `mark` (its body at `body`).
    fn undo(&mut self, mark: usize, body: usize, before: u32) {
        self.out.truncate(body);
        self.count = before;
        match before {
            0 => self.out[self.start] = abi::TAG_DROP,
            1 => {
                self.out[self.start] = abi::TAG_EMIT;
                self.out.drain(self.start + 1..self.start + 5);
            }
            _ => {}
        }
        debug_assert_eq!(self.out.len(), mark);
    }

    /// Writes the message count of an emit-many.
    fn finish(self) {
        if self.count >= 2 {
            self.out[self.start + 1..self.start + 5].copy_from_slice(&self.count.to_le_bytes());
        }
    }
}

/// Writes a line to the host's log at `level`, tagged with the module's
/// name. The host rate-limits a module's lines, so a chatty module cannot
/// flood the log; lines past the limit are counted, not shown. In native
/// tests the line is captured by [`testing::Harness`] instead.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        #[link(wasm_import_module = "sluice")]
        unsafe extern "C" {
            #[link_name = "log"]
            fn sluice_log(level: i32, ptr: *const u8, len: usize);
        }
        // SAFETY: the host reads `len` bytes at `ptr` from this module's
        // memory during the call and keeps no reference to them.
        unsafe { sluice_log(level as i32, message.as_ptr(), message.len()) }
    }
    #[cfg(not(target_arch = "wasm32"))]
    testing::capture_log(level, message);
}

/// Declares that the stream cannot go on, for `reason`: a fault no record
/// can get past, such as a config that names a field the records do not
/// have. Unlike a record's [`Error`], it is not dead-lettered: when the
/// current call returns, the host drops the batch unprocessed (nothing of
/// it is published, dead-lettered or checkpointed) and stops the pipeline
/// with `the module stopped the stream: <reason>`, so a restart with the
/// fault fixed reads the batch again. Whatever the call returns after this
/// is ignored; the first reason stands. In native tests the reason is
/// captured by [`testing::Harness`] instead.
pub fn fail(reason: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        #[link(wasm_import_module = "sluice")]
        unsafe extern "C" {
            #[link_name = "fail"]
            fn sluice_fail(ptr: *const u8, len: usize);
        }
        // SAFETY: the host reads `len` bytes at `ptr` from this module's
        // memory during the call and keeps no reference to them.
        unsafe { sluice_fail(reason.as_ptr(), reason.len()) }
    }
    #[cfg(not(target_arch = "wasm32"))]
    testing::capture_fail(reason);
}

/// Builds a transform from an encoded config (the `sluice_init` input).
#[doc(hidden)]
pub fn init_from_abi<T: Transform>(encoded: &[u8]) -> Result<T> {
    let pairs = abi::decode_config(encoded)?;
    T::init(&Config::new(pairs))
}

/// Transforms one input batch into one outcome per record, appended to `out`.
/// `current` is told the index of each record before it is transformed, and
/// `-1` once the batch is done (what `sluice_current_record` returns).
#[doc(hidden)]
pub fn process_batch<T: Transform>(
    transform: &T,
    batch: &[u8],
    count: usize,
    out: &mut Vec<u8>,
    index: &mut json::Index,
    current: &mut dyn FnMut(i32),
) {
    for (n, raw) in abi::records(batch, count).enumerate() {
        current(n as i32);
        let mark = out.len();
        if let Err(error) = process_record(transform, raw, out, index) {
            out.truncate(mark);
            abi::encode_error(out, &error.to_string());
        }
    }
    current(-1);
    transform.end_batch();
}

fn process_record<T: Transform>(t: &T, raw: &[u8], out: &mut Vec<u8>, index: &mut json::Index) -> Result<()> {
    json::index_object(raw, index)?;
    let record = Record::new(raw, index);
    let mut emitter = Emitter::new(out);
    t.flat_map(&record, &mut emitter)?;
    emitter.finish();
    Ok(())
}

fn message_flags(key: bool, timestamp: bool, topic: bool, partition: bool) -> u8 {
    let bit = |present: bool, flag: u8| if present { flag } else { 0 };
    bit(key, abi::FLAG_KEY)
        | abi::FLAG_VALUE
        | bit(timestamp, abi::FLAG_TIMESTAMP)
        | bit(topic, abi::FLAG_TOPIC)
        | bit(partition, abi::FLAG_PARTITION)
}

/// Lets the transform append its value straight into the outcome buffer,
/// then writes the length in front of it: no copy of the value.
fn write_value<T: Transform>(t: &T, record: &Record<'_>, out: &mut Vec<u8>) -> Result<()> {
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    t.value(record, out)?;
    let len = u32::try_from(out.len() - len_at - 4).map_err(|_| Error::new("value over 4 GiB"))?;
    out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// Exports a [`Transform`] as a Sluice module. Put it once in a `cdylib`
/// crate; it expands to the ABI exports when compiled for wasm and to
/// nothing otherwise, so the crate still builds and tests natively.
#[macro_export]
macro_rules! export_transform {
    ($transform:ty) => {
        #[cfg(target_arch = "wasm32")]
        mod __sluice_exports {
            #[allow(unused_imports)]
            use super::*;

            static STATE: $crate::guest::State<$transform> = $crate::guest::State::new();

            #[unsafe(no_mangle)]
            pub extern "C" fn sluice_abi_version() -> i32 {
                $crate::abi::ABI_VERSION
            }

            #[unsafe(no_mangle)]
            pub extern "C" fn sluice_buffer(capacity: i32) -> i32 {
                STATE.buffer(capacity)
            }

            #[unsafe(no_mangle)]
            pub extern "C" fn sluice_init(len: i32) -> i64 {
                STATE.init(len)
            }

            #[unsafe(no_mangle)]
            pub extern "C" fn sluice_process(count: i32, len: i32) -> i64 {
                STATE.process(count, len)
            }

            #[unsafe(no_mangle)]
            pub extern "C" fn sluice_panic_message() -> i64 {
                $crate::guest::panic_message()
            }

            #[unsafe(no_mangle)]
            pub extern "C" fn sluice_current_record() -> i32 {
                $crate::guest::current_record()
            }
        }
    };
}
