//! The batch, the unit that crosses from the source into wasm: consecutive
//! lines of one file in the ABI's input form, where each came from, and the
//! lines refused before the transform.

use std::sync::Arc;

use sluice_guest_sdk::abi;

use super::{FileId, Head, Reason};

/// A batch is handed on at this many records; enough to amortize the wasm
/// call, few enough that a batch is a few milliseconds of work.
pub const BATCH_MAX_RECORDS: usize = 2048;
/// ... or at this many bytes of records.
pub const BATCH_MAX_BYTES: usize = 1 << 20;
/// How much of an over-long line is kept for the dead letters.
pub const REJECT_SAMPLE: usize = 4096;

/// One record's origin, for dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta {
    /// 1-based line number in the file.
    pub line: u64,
    /// Byte offset of the line's start.
    pub offset: u64,
}

/// A line refused before it reached the transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the line's start.
    pub offset: u64,
    /// Why it was refused.
    pub reason: String,
    /// The kind of reason, for the metrics.
    pub kind: Reason,
    /// The line, or its first 4 KiB if it is over `--max-record-bytes`.
    pub sample: Vec<u8>,
}

/// Consecutive lines of one file: the unit that crosses into wasm.
#[derive(Debug)]
pub struct Batch {
    /// The file they come from.
    pub file: FileId,
    /// Its path, for messages.
    pub path: Arc<str>,
    /// Records in the ABI's input form: `u32 len`, then the bytes.
    pub records: Vec<u8>,
    /// Where each record came from, in order.
    pub meta: Vec<RecordMeta>,
    /// Lines refused while reading.
    pub rejects: Vec<Reject>,
    /// File offset just past the batch's last line.
    pub end_offset: u64,
    /// Lines of the file up to `end_offset`.
    pub end_line: u64,
    /// Fingerprint of the file's first bytes.
    pub head: Option<Head>,
}

impl Batch {
    /// An empty batch of `file`.
    pub fn new(file: FileId, path: Arc<str>) -> Self {
        let (records, meta, rejects) = (Vec::new(), Vec::new(), Vec::new());
        Batch { file, path, records, meta, rejects, end_offset: 0, end_line: 0, head: None }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Whether it has reached its size limits.
    pub fn is_full(&self) -> bool {
        self.meta.len() >= BATCH_MAX_RECORDS || self.records.len() >= BATCH_MAX_BYTES
    }

    /// Adds a line as a record, or as a reject if it is too long or not UTF-8.
    pub fn push_line(&mut self, text: &[u8], line: u64, offset: u64, max_record_bytes: usize) {
        if text.len() > max_record_bytes {
            let reason = format!("line of {} bytes exceeds --max-record-bytes {max_record_bytes}", text.len() + 1);
            let sample = text[..text.len().min(REJECT_SAMPLE)].to_vec();
            return self.rejects.push(Reject { line, offset, reason, kind: Reason::TooLarge, sample });
        }
        if let Err(e) = std::str::from_utf8(text) {
            let reason = format!("invalid UTF-8 at byte {} of the line", e.valid_up_to());
            let kind = Reason::InvalidUtf8;
            return self.rejects.push(Reject { line, offset, reason, kind, sample: text.to_vec() });
        }
        abi::put_bytes(&mut self.records, text);
        self.meta.push(RecordMeta { line, offset });
    }
}
