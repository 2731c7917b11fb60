//! The wire format between the Sluice host and a transform module, version 1.
//!
//! `ABI.md` at the crate root is the normative description, written for
//! authors in any language. This module is its Rust rendering: the guest side
//! encodes with [`encode_drop`], [`encode_emit`] and [`encode_error`], the host
//! side decodes with [`decode_outcomes`] and [`decode_init_result`], so both
//! ends of the boundary share one implementation.
//!
//! Invariants, all little-endian:
//! - A *region* returned by a guest export is packed into an `i64` as
//!   `(ptr << 32) | len`, both unsigned 32-bit, and must lie inside the
//!   guest's exported `memory`.
//! - An input batch is `count` records, each `u32 len` then `len` bytes. Every
//!   record is valid UTF-8 and holds no line terminator.
//! - An outcome batch holds exactly one outcome per input record, in order,
//!   and nothing after the last one.

use std::fmt;

/// The ABI version this crate speaks; a module exports it from
/// `sluice_abi_version`, and the host refuses any other value.
pub const ABI_VERSION: i32 = 1;

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

/// Outcome tag: the record is filtered out.
pub const TAG_DROP: u8 = 0;
/// Outcome tag: the record becomes one Kafka message.
pub const TAG_EMIT: u8 = 1;
/// Outcome tag: the record failed; a UTF-8 message follows.
pub const TAG_ERROR: u8 = 2;

/// Emit flag: a key follows.
pub const FLAG_KEY: u8 = 1 << 0;
/// Emit flag: a value follows (without it the value is null, a tombstone).
pub const FLAG_VALUE: u8 = 1 << 1;
/// Emit flag: an `i64` timestamp in epoch milliseconds closes the outcome.
pub const FLAG_TIMESTAMP: u8 = 1 << 2;
const KNOWN_FLAGS: u8 = FLAG_KEY | FLAG_VALUE | FLAG_TIMESTAMP;

/// Header value length meaning "null value".
pub const NULL_LEN: u32 = u32::MAX;

/// `sluice_init` result status: configured.
pub const INIT_OK: u8 = 0;
/// `sluice_init` result status: refused; a UTF-8 message follows.
pub const INIT_ERROR: u8 = 1;

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
}

/// Appends an "emit" outcome.
pub fn encode_emit(out: &mut Vec<u8>, msg: &Message<'_>) {
    out.push(TAG_EMIT);
    out.push(emit_flags(msg));
    if let Some(key) = msg.key {
        put_bytes(out, key);
    }
    if let Some(value) = msg.value {
        put_bytes(out, value);
    }
    encode_headers(out, &msg.headers);
    if let Some(ts) = msg.timestamp_ms {
        out.extend_from_slice(&ts.to_le_bytes());
    }
}

fn emit_flags(msg: &Message<'_>) -> u8 {
    let mut flags = 0;
    if msg.key.is_some() {
        flags |= FLAG_KEY;
    }
    if msg.value.is_some() {
        flags |= FLAG_VALUE;
    }
    if msg.timestamp_ms.is_some() {
        flags |= FLAG_TIMESTAMP;
    }
    flags
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Filtered out.
    Drop,
    /// Becomes this message.
    Emit(Message<'a>),
    /// Failed with this message.
    Error(&'a str),
}

/// Decodes exactly `count` outcomes, checking every length against the
/// buffer, so a module returning garbage is caught here, not later.
pub fn decode_outcomes(buf: &[u8], count: usize) -> Result<Vec<Outcome<'_>>, DecodeError> {
    let mut r = Reader::new(buf);
    let mut outcomes = Vec::with_capacity(count);
    for _ in 0..count {
        outcomes.push(decode_outcome(&mut r)?);
    }
    r.finish()?;
    Ok(outcomes)
}

fn decode_outcome<'a>(r: &mut Reader<'a>) -> Result<Outcome<'a>, DecodeError> {
    match r.u8()? {
        TAG_DROP => Ok(Outcome::Drop),
        TAG_EMIT => decode_emit(r).map(Outcome::Emit),
        TAG_ERROR => r.str().map(Outcome::Error),
        tag => Err(r.error(format!("unknown outcome tag {tag}"))),
    }
}

fn decode_emit<'a>(r: &mut Reader<'a>) -> Result<Message<'a>, DecodeError> {
    let flags = r.u8()?;
    if flags & !KNOWN_FLAGS != 0 {
        return Err(r.error(format!("unknown emit flags {flags:#04x}")));
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
    Ok(Message { key, value, headers, timestamp_ms })
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
        DecodeError { offset: self.pos, reason }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.buf.len());
        let end = end.ok_or_else(|| {
            let left = self.buf.len() - self.pos;
            self.error(format!("needs {n} bytes but only {left} remain"))
        })?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("took 4 bytes")))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        let bytes = self.take(8)?;
        Ok(i64::from_le_bytes(bytes.try_into().expect("took 8 bytes")))
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
        match self.buf.len() - self.pos {
            0 => Ok(()),
            extra => Err(self.error(format!("{extra} unexpected trailing bytes"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip() {
        let msg = Message {
            key: Some(b"STR7188"),
            value: Some(b"{\"a\":1}"),
            headers: vec![("source", Some(b"file-1".as_slice())), ("empty", None)],
            timestamp_ms: Some(1_590_000_000_000),
        };
        let mut buf = Vec::new();
        encode_drop(&mut buf);
        encode_emit(&mut buf, &msg);
        encode_error(&mut buf, "field `x` missing");
        encode_emit(&mut buf, &Message::default());
        let decoded = decode_outcomes(&buf, 4).unwrap();
        assert_eq!(
            decoded,
            vec![
                Outcome::Drop,
                Outcome::Emit(msg),
                Outcome::Error("field `x` missing"),
                Outcome::Emit(Message::default()),
            ]
        );
    }

    #[test]
    fn garbage_is_refused_with_its_offset() {
        let mut buf = Vec::new();
        encode_emit(&mut buf, &Message { key: Some(b"k"), ..Message::default() });
        let err = decode_outcomes(&buf[..buf.len() - 1], 1).unwrap_err();
        assert_eq!(err.to_string(), "needs 4 bytes but only 3 remain at byte 7 of the returned region");
        let err = decode_outcomes(&[9], 1).unwrap_err();
        assert_eq!(err.to_string(), "unknown outcome tag 9 at byte 1 of the returned region");
        let err = decode_outcomes(&[TAG_DROP, TAG_DROP], 1).unwrap_err();
        assert_eq!(err.reason, "1 unexpected trailing bytes");
        let huge_len = [TAG_ERROR, 0xff, 0xff, 0xff, 0x7f];
        assert!(decode_outcomes(&huge_len, 1).is_err());
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
