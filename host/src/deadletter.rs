//! Dead letters: every record that is not published, with the reason and
//! where it came from, so nothing is silently dropped.
//!
//! Entries are JSON lines appended to `dead-letters.jsonl` in the checkpoint
//! directory and fsynced before the batch they belong to can be
//! acknowledged, so the checkpoint never passes a record that is neither in
//! Kafka nor here. The file holds records as read, so it is created 0600
//! (and an older, wider one tightened: see [`crate::private`]).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::metrics::Reason;
use crate::private;
use crate::sink::OwnedMessage;

/// File name of the dead-letter file inside the checkpoint directory.
pub const FILE_NAME: &str = "dead-letters.jsonl";

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
                header("sluice.error.reason", self.reason.to_owned()),
                header("sluice.source.file", self.file.to_owned()),
                header("sluice.source.line", self.line.to_string()),
                header("sluice.source.offset", self.offset.to_string()),
            ],
            timestamp_ms: None,
            topic: None,
            partition: None,
            is_dead_letter: true,
        }
    }
}

/// The append-only dead-letter file, opened on first use.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    file: Option<File>,
}

impl DeadLetters {
    /// Dead letters kept in `dir`.
    pub fn new(dir: &Path) -> Self {
        DeadLetters { path: dir.join(FILE_NAME), file: None }
    }

    /// Appends `letters` and syncs them to disk.
    pub fn write(&mut self, letters: &[DeadLetter<'_>]) -> std::io::Result<()> {
        if letters.is_empty() {
            return Ok(());
        }
        let mut text = Vec::new();
        for letter in letters {
            serde_json::to_writer(&mut text, letter).expect("dead letters serialize");
            text.push(b'\n');
            tracing::warn!(
                file = letter.file,
                line = letter.line,
                offset = letter.offset,
                reason = letter.reason,
                "record sent to the dead letters"
            );
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(private::open(&self.path, OpenOptions::new().create(true).append(true))?),
        };
        let before = file.metadata()?.len();
        if let Err(e) = file.write_all(&text).and_then(|()| file.sync_data()) {
            // Leave no half-written line behind for the retry to follow, and
            // reopen the path next time: the operator may have replaced it.
            let _ = file.set_len(before);
            self.file = None;
            return Err(e);
        }
        Ok(())
    }

    /// Where they go.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads back the line that starts at `offset` in `path` (at most 64 MiB
/// of it), without its line terminator.
pub fn read_line_at(path: &str, offset: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut line = Vec::new();
    BufReader::new(file.take(64 << 20)).read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if offset == 0 && line.starts_with(b"\xEF\xBB\xBF") {
        line.drain(..3);
    }
    Ok(line)
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
    fn appends_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut dl = DeadLetters::new(dir.path());
        dl.write(&[DeadLetter::new(Reason::TransformError, "bad", "in/a b.json", 3, 120, b"{\"a\":")]).unwrap();
        dl.write(&[DeadLetter::new(Reason::InvalidUtf8, "utf8", "in/c", 1, 0, b"\xff")]).unwrap();
        let text = std::fs::read_to_string(dl.path()).unwrap();
        assert_eq!(
            text,
            "{\"reason\":\"bad\",\"file\":\"in/a b.json\",\"line\":3,\"offset\":120,\"record\":\"{\\\"a\\\":\"}\n\
             {\"reason\":\"utf8\",\"file\":\"in/c\",\"line\":1,\"offset\":0,\"record_base64\":\"/w==\"}\n"
        );
        assert_eq!(text.lines().count(), 2);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(dl.path()).unwrap().mode() & 0o777, 0o600, "only the owner reads records");
    }
}
