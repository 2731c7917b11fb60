//! Reading one file tail-style: complete lines only, from a known offset.
//!
//! A [`Tail`] reads whatever has been written so far, cuts it into lines,
//! and appends each non-blank line to a [`Batch`] already in the ABI's
//! length-prefixed form, so the batch crosses into wasm with one copy. A
//! trailing partial line stays in the buffer until more bytes arrive or the
//! source decides the file is complete ([`Tail::finish`]). Memory is bounded
//! by the read chunk plus `--max-record-bytes`: a longer line is skipped
//! through to its newline and reported, never buffered whole. A compressed
//! file is read through a [`Decoded`] reader once the source starts it
//! ([`Tail::decode`]); offsets then count uncompressed bytes. A plain file
//! whose reads run past its size is a pseudo-file, and its read fails with
//! that refusal before its bytes are taken. The file is any landing zone's
//! [`ZoneFile`], read one chunk per call.

use std::io::{self, Read};
use std::sync::Arc;

use super::decode::{Codec, DecodeError, Decoded};
use crate::record::{Batch, FileId, REJECT_SAMPLE, Reject, Skip};
use crate::zone::ZoneFile;

/// Bytes read from the file per `read` call.
const READ_CHUNK: usize = 256 * 1024;

/// Whether a read stopped because the batch filled or the file ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStatus {
    /// The batch is full; call again with a new one.
    BatchFull,
    /// Everything written so far is consumed, except a partial last line.
    Eof,
}

/// An open source file being read from `offset` on.
#[derive(Debug)]
pub struct Tail {
    file: Box<dyn ZoneFile>,
    /// The decompressing reader of a compressed file, once it is started,
    /// and the offset it skipped to (what a checkpoint covered).
    decoded: Option<(Decoded, u64)>,
    /// Identity of the open file.
    pub id: FileId,
    /// Path for messages and the checkpoint.
    pub path: Arc<str>,
    buf: Vec<u8>,
    /// Consumed bytes at the front of `buf`.
    start: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    /// Lines consumed so far (blank ones too).
    line: u64,
    /// An over-long line being skipped: its first bytes, start offset and line.
    skipping: Option<(Vec<u8>, u64, u64)>,
    max_record_bytes: usize,
    /// The file's size when last looked at: reads within it need no look.
    known_len: u64,
}

impl Tail {
    /// Opens a reader on `file`, positioned at `offset` which begins line
    /// `line + 1`; `path` names it in messages.
    pub fn new(
        mut file: Box<dyn ZoneFile>,
        path: Arc<str>,
        offset: u64,
        line: u64,
        max_record_bytes: usize,
    ) -> io::Result<Self> {
        file.seek_to(offset)?;
        let (id, buf) = (file.id(), Vec::new());
        let (decoded, skipping, known_len) = (None, None, 0);
        Ok(Tail { file, decoded, id, path, buf, start: 0, offset, line, skipping, max_record_bytes, known_len })
    }

    /// Starts reading the file through `codec`'s decoder, from its start,
    /// skipping the uncompressed bytes before `offset` (those a checkpoint
    /// covers). Call once, when the compressed file is complete.
    pub fn decode(&mut self, codec: Codec) -> io::Result<()> {
        let (decoded, _) = self.decoded.insert((Decoded::new(codec, self.file.reader_at_start()?)?, self.offset));
        let skipped = decoded.skip(self.offset)?;
        if skipped < self.offset {
            tracing::warn!(file = %self.path, offset = self.offset, size = skipped, "compressed file holds less than its checkpoint; nothing more to read");
        }
        Ok(())
    }

    /// Compressed bytes read so far (all bytes read, for a plain file).
    pub fn compressed_pos(&self) -> u64 {
        self.decoded.as_ref().map_or_else(|| self.read_pos(), |(d, _)| d.compressed_pos())
    }

    /// Decoding stopped at `error`: the partial line before it is refused
    /// with the decoder's message, and the file ends one byte past the last
    /// decoded one, so that a resume (which skips to there) fails before
    /// it: a failure before where a resumed file was skipped to was refused
    /// before the restart.
    pub fn fail_decoding(&mut self, error: &DecodeError, batch: &mut Batch) {
        let resumed_at = self.decoded.as_ref().map_or(0, |(_, at)| *at);
        if error.offset < resumed_at {
            tracing::info!(file = %self.path, %error, "decoding fails where it did before the restart; the file is done");
            return;
        }
        let (offset, lines) = self.resume_point();
        let sample = match self.skipping.take() {
            Some((sample, ..)) => sample,
            None => self.buf[self.start..self.buf.len().min(self.start + REJECT_SAMPLE)].to_vec(),
        };
        let reason = error.to_string();
        let kind = crate::record::Reason::Decode;
        batch.rejects.push(Reject { line: lines + 1, offset, reason, kind, sample });
        (self.start, self.offset, self.line) = (self.buf.len(), error.offset.max(self.offset) + 1, lines + 1);
        (batch.end_offset, batch.end_line) = (self.offset, self.line);
    }

    /// Offset just past the last consumed line.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Where to resume after this reader is dropped: the start of the
    /// first line not yet handed over (an over-long line being skipped
    /// included), and the lines before it.
    pub fn resume_point(&self) -> (u64, u64) {
        match &self.skipping {
            Some((_, start, first_line)) => (*start, first_line - 1),
            None => (self.offset, self.line),
        }
    }

    /// Offset just past the last byte read from the file.
    pub fn read_pos(&self) -> u64 {
        self.offset + (self.buf.len() - self.start) as u64
    }

    /// The open file.
    pub fn file(&self) -> &dyn ZoneFile {
        &*self.file
    }

    /// Starts over from the beginning: the file was truncated and rewritten.
    pub fn restart(&mut self) -> io::Result<()> {
        self.file.seek_to(0)?;
        self.buf.clear();
        (self.start, self.offset, self.line, self.skipping) = (0, 0, 0, None);
        Ok(())
    }

    /// Reads complete lines into `batch` until it is full or the file runs out.
    pub fn read(&mut self, batch: &mut Batch) -> io::Result<ReadStatus> {
        loop {
            while let Some(nl) = memchr::memchr(b'\n', &self.buf[self.start..]) {
                let end = self.start + nl;
                self.take_line(end, nl as u64 + 1, batch);
                if batch.is_full() {
                    return Ok(ReadStatus::BatchFull);
                }
            }
            self.check_overlong();
            if self.fill()? == 0 {
                return Ok(ReadStatus::Eof);
            }
        }
    }

    /// The file is complete: a final line without a newline is a record.
    pub fn finish(&mut self, batch: &mut Batch) {
        let len = (self.buf.len() - self.start) as u64;
        if len > 0 || self.skipping.is_some() {
            self.take_line(self.buf.len(), len, batch);
        }
    }

    /// Handles the line `buf[start..end]`, which occupies `consumed` bytes of file.
    fn take_line(&mut self, end: usize, consumed: u64, batch: &mut Batch) {
        let (offset, line) = (self.offset, self.line + 1);
        let text = &self.buf[self.start..end];
        if let Some((sample, start, first_line)) = self.skipping.take() {
            let total = self.offset + consumed - start;
            let reason = format!("line of {total} bytes exceeds --max-record-bytes {}", self.max_record_bytes);
            let kind = crate::record::Reason::TooLarge;
            batch.rejects.push(Reject { line: first_line, offset: start, reason, kind, sample });
        } else {
            let text = strip_bom(text, offset);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if !text.iter().all(u8::is_ascii_whitespace) {
                batch.push_line(text, line, offset, self.max_record_bytes);
            }
        }
        self.start = end + 1;
        self.offset += consumed;
        self.line += 1;
        batch.end_offset = self.offset;
        batch.end_line = self.line;
    }

    /// Starts skipping when the partial line in the buffer is already too
    /// long; its bytes are dropped but still counted towards its length.
    fn check_overlong(&mut self) {
        let pending = self.buf.len() - self.start;
        if pending <= self.max_record_bytes {
            return;
        }
        if self.skipping.is_none() {
            let sample = self.buf[self.start..self.start + REJECT_SAMPLE.min(pending)].to_vec();
            self.skipping = Some((sample, self.offset, self.line + 1));
        }
        self.offset += pending as u64;
        self.start = self.buf.len();
    }

    /// Reads the next chunk after the unconsumed bytes; returns bytes read.
    fn fill(&mut self) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old_len = self.buf.len();
        self.buf.resize(old_len + READ_CHUNK, 0);
        let n = loop {
            let into = &mut self.buf[old_len..];
            let read = match &mut self.decoded {
                Some((decoded, _)) => decoded.read(into),
                None => self.file.read(into),
            };
            match read {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        self.buf.truncate(old_len + *n.as_ref().unwrap_or(&0));
        let n = n?;
        if n > 0 && self.decoded.is_none() && self.past_known_len()? {
            // A regular file that yields more than its size is a pseudo-file
            // (its size says nothing); its bytes are not taken.
            self.buf.truncate(old_len);
            return Err(Skip::PseudoFile.into());
        }
        Ok(n)
    }

    /// Whether what was read runs past the file's size. The size is looked
    /// up again only when the reads pass the one last seen, so a file read
    /// within its size costs no `fstat` per chunk.
    fn past_known_len(&mut self) -> io::Result<bool> {
        if self.read_pos() <= self.known_len {
            return Ok(false);
        }
        self.known_len = self.file.size()?;
        Ok(self.read_pos() > self.known_len)
    }
}

/// A UTF-8 byte-order mark at the very start of a file is not data.
fn strip_bom(text: &[u8], offset: u64) -> &[u8] {
    match offset {
        0 => text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::local::LocalFile;
    use std::fs::File;
    use std::io::Write;

    fn local(file: File) -> Box<dyn ZoneFile> {
        Box::new(LocalFile::new(file).unwrap())
    }

    fn tail_of(content: &[u8], max: usize) -> (tempfile::NamedTempFile, Tail) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content).unwrap();
        let tail = Tail::new(local(File::open(f.path()).unwrap()), "t".into(), 0, 0, max).unwrap();
        (f, tail)
    }

    fn lines(batch: &Batch) -> Vec<String> {
        sluice_guest_sdk::abi::records(&batch.records, batch.len())
            .map(|r| String::from_utf8(r.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn complete_lines_now_partial_line_when_finished() {
        let (mut f, mut tail) = tail_of(b"\xEF\xBB\xBF{\"a\":1}\r\n\n  \n{\"b\":2}\n{\"c\"", 100);
        let mut batch = Batch::new(tail.id, tail.path.clone());
        assert_eq!(tail.read(&mut batch).unwrap(), ReadStatus::Eof);
        assert_eq!(lines(&batch), vec![r#"{"a":1}"#, r#"{"b":2}"#]);
        assert_eq!(batch.meta.iter().map(|m| (m.line, m.offset)).collect::<Vec<_>>(), vec![(1, 0), (4, 16)]);
        assert_eq!((batch.end_offset, batch.end_line), (24, 4));

        f.write_all(b":3}").unwrap();
        let mut batch = Batch::new(tail.id, tail.path.clone());
        assert_eq!(tail.read(&mut batch).unwrap(), ReadStatus::Eof);
        assert!(batch.is_empty());
        tail.finish(&mut batch);
        assert_eq!(lines(&batch), vec![r#"{"c":3}"#]);
        assert_eq!((batch.end_offset, batch.end_line), (31, 5));
    }

    #[test]
    fn overlong_and_invalid_lines_are_rejected_in_place() {
        let long = format!("{{\"x\":\"{}\"}}", "y".repeat(READ_CHUNK * 2));
        let content = format!("{{\"a\":1}}\n{long}\n{{\"b\":2}}\n");
        let mut content = content.into_bytes();
        content.extend_from_slice(b"{\"c\":\"\xff\"}\n");
        let (_f, mut tail) = tail_of(&content, 1000);
        let mut batch = Batch::new(tail.id, tail.path.clone());
        assert_eq!(tail.read(&mut batch).unwrap(), ReadStatus::Eof);
        assert_eq!(lines(&batch), vec![r#"{"a":1}"#, r#"{"b":2}"#]);
        let reasons: Vec<_> = batch.rejects.iter().map(|r| (r.line, r.offset, r.reason.as_str())).collect();
        let long_len = long.len() + 1;
        let expected_long = format!("line of {long_len} bytes exceeds --max-record-bytes 1000");
        assert_eq!(reasons[0], (2, 8, expected_long.as_str()));
        assert_eq!(reasons[1], (4, 8 + long_len as u64 + 8, "invalid UTF-8 at byte 6 of the line"));
        assert_eq!(batch.end_offset, content.len() as u64);
    }

    #[test]
    fn a_file_that_reads_past_its_size_is_refused_before_its_bytes_are_taken() {
        let file = local(File::open("/proc/self/environ").unwrap());
        let mut tail = Tail::new(file, "environ".into(), 0, 0, 1 << 20).unwrap();
        let mut batch = Batch::new(tail.id, tail.path.clone());
        let error = tail.read(&mut batch).unwrap_err();
        assert_eq!(crate::zone::refusal(&error), Some(Skip::PseudoFile));
        assert!(batch.is_empty() && batch.rejects.is_empty());
        assert_eq!(tail.read_pos(), 0);
    }

    #[test]
    fn batches_fill_and_resume() {
        let content: String = (0..5000).map(|i| format!("{{\"i\":{i}}}\n")).collect();
        let (_f, mut tail) = tail_of(content.as_bytes(), 100);
        let mut total = 0;
        loop {
            let mut batch = Batch::new(tail.id, tail.path.clone());
            let status = tail.read(&mut batch).unwrap();
            assert!(batch.len() <= crate::record::BATCH_MAX_RECORDS);
            total += batch.len();
            if status == ReadStatus::Eof {
                break;
            }
        }
        assert_eq!(total, 5000);
        assert_eq!(tail.offset(), content.len() as u64);
    }
}
