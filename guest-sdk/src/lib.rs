#![doc = include_str!("../README.md")]

pub mod abi;
pub mod json;
mod record;
pub mod testing;

#[doc(hidden)]
#[cfg(target_arch = "wasm32")]
pub mod guest;

use std::fmt;

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
/// once, then for every record [`Transform::filter`] and, for kept records,
/// the message builders. Any `Err` fails only that record, which the host
/// sends to the dead letters with the error's message.
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
}

/// Builds a transform from an encoded config (the `sluice_init` input).
#[doc(hidden)]
pub fn init_from_abi<T: Transform>(encoded: &[u8]) -> Result<T> {
    let pairs = abi::decode_config(encoded)?;
    T::init(&Config::new(pairs))
}

/// Transforms one input batch into one outcome per record, appended to `out`.
#[doc(hidden)]
pub fn process_batch<T: Transform>(
    transform: &T,
    batch: &[u8],
    count: usize,
    out: &mut Vec<u8>,
    index: &mut json::Index,
) {
    for raw in abi::records(batch, count) {
        let mark = out.len();
        if let Err(error) = process_record(transform, raw, out, index) {
            out.truncate(mark);
            abi::encode_error(out, &error.to_string());
        }
    }
}

fn process_record<T: Transform>(t: &T, raw: &[u8], out: &mut Vec<u8>, index: &mut json::Index) -> Result<()> {
    json::index_object(raw, index)?;
    let record = Record::new(raw, index);
    if !t.filter(&record)? {
        abi::encode_drop(out);
        return Ok(());
    }
    let key = t.key(&record)?;
    let headers = t.headers(&record)?;
    let timestamp = t.timestamp(&record)?;
    out.push(abi::TAG_EMIT);
    out.push(emit_flags(key.is_some(), timestamp.is_some()));
    if let Some(key) = &key {
        abi::put_bytes(out, key);
    }
    write_value(t, &record, out)?;
    let headers: Vec<_> = headers.iter().map(|h| (h.name.as_str(), h.value.as_deref())).collect();
    abi::encode_headers(out, &headers);
    if let Some(ts) = timestamp {
        out.extend_from_slice(&ts.to_le_bytes());
    }
    Ok(())
}

fn emit_flags(key: bool, timestamp: bool) -> u8 {
    let key = if key { abi::FLAG_KEY } else { 0 };
    let timestamp = if timestamp { abi::FLAG_TIMESTAMP } else { 0 };
    key | abi::FLAG_VALUE | timestamp
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
        }
    };
}
