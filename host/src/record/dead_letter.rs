//! A dead letter: a record that is not published, with the reason and where
//! it came from; and the `sluice.*` headers that carry the same on the
//! dead-letter topic (the shape of Kafka Connect's `__connect.errors.*`),
//! written and read back here and nowhere else.

use serde::Serialize;

use super::{OwnedMessage, Reason};

/// Header with why the record was refused.
pub const REASON: &str = "sluice.error.reason";
/// Header with the source file's path.
pub const FILE: &str = "sluice.source.file";
/// Header with the record's 1-based line number.
pub const LINE: &str = "sluice.source.line";
/// Header with the byte offset of the record's line.
pub const OFFSET: &str = "sluice.source.offset";

/// One refused record.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter<'a> {
    /// The kind of reason, for the metrics.
    #[serde(skip)]
    pub kind: Reason,
    /// Why it was refused.
    pub reason: &'a str,
    /// Source file path.
    pub file: &'a str,
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the line in the file.
    pub offset: u64,
    /// The record, when it is valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<&'a str>,
    /// The record's bytes in base64, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_base64: Option<String>,
    /// The record's bytes as read.
    #[serde(skip)]
    pub raw: &'a [u8],
}

impl<'a> DeadLetter<'a> {
    /// An entry for `record`, kept as text when it can be.
    pub fn new(kind: Reason, reason: &'a str, file: &'a str, line: u64, offset: u64, record: &'a [u8]) -> Self {
        let text = std::str::from_utf8(record).ok();
        let base64 = text.is_none().then(|| base64(record));
        DeadLetter { kind, reason, file, line, offset, record: text, record_base64: base64, raw: record }
    }

    /// The dead letter as a message for the dead-letter topic: the record as
    /// the value, the reason and origin as `sluice.*` headers (the shape of
    /// Kafka Connect's `__connect.errors.*`).
    pub fn to_message(&self) -> OwnedMessage {
        let header = |name: &str, value: String| (name.to_owned(), Some(value.into_bytes()));
        OwnedMessage {
            key: None,
            value: Some(self.raw.to_vec()),
            headers: vec![
                header(REASON, self.reason.to_owned()),
                header(FILE, self.file.to_owned()),
                header(LINE, self.line.to_string()),
                header(OFFSET, self.offset.to_string()),
            ],
            timestamp_ms: None,
            topic: None,
            partition: None,
        }
    }
}

/// The text of header `name` of a dead-letter message (empty if absent).
pub fn header_text(message: &OwnedMessage, name: &str) -> String {
    let value = message.headers.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.as_deref());
    String::from_utf8_lossy(value.unwrap_or_default()).into_owned()
}

/// The source file, line and offset a dead-letter message carries.
pub fn origin(message: &OwnedMessage) -> (String, u64, u64) {
    let number = |name| header_text(message, name).parse().unwrap_or_default();
    (header_text(message, FILE), number(LINE), number(OFFSET))
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            let c = if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' };
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"\xff\xfe\x00bar"), "//4AYmFy");
    }

    #[test]
    fn the_headers_carry_the_origin_back() {
        let letter = DeadLetter::new(Reason::KafkaRefused, "too big", "in/a.json", 7, 311, b"{}");
        let message = letter.to_message();
        assert_eq!(origin(&message), ("in/a.json".to_owned(), 7, 311));
        assert_eq!(header_text(&message, REASON), "too big");
        assert_eq!(message.value.as_deref(), Some(&b"{}"[..]));
    }
}
