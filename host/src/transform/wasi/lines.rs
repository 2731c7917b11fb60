//! What a module writes to fd 1 and 2, cut into log lines in one pass over
//! the bytes: a line ends at its newline or at [`MAX_LINE_BYTES`], only the
//! unfinished tail is kept between calls (so at most that many bytes per
//! stream), and once the module's log refuses a line (over its rate) the
//! rest of the call's lines are only counted. Whatever the module writes,
//! the work is linear in what it wrote.

use std::sync::Arc;

use sluice_guest_sdk::abi::Level;

use crate::transform::log::GuestLog;

/// A line longer than this is logged in pieces.
pub const MAX_LINE_BYTES: usize = 4096;

/// The two streams' unfinished lines and the last line of stderr.
#[derive(Debug)]
pub struct Lines {
    log: Arc<GuestLog>,
    /// The unfinished line of stdout (`0`) and of stderr (`1`).
    pending: [Vec<u8>; 2],
    /// The last line written to stderr, or the first of a Go panic.
    last_stderr: Vec<u8>,
}

impl Lines {
    /// Lines that go to `log`.
    pub fn new(log: Arc<GuestLog>) -> Self {
        Lines { log, pending: [Vec::new(), Vec::new()], last_stderr: Vec::new() }
    }

    /// Takes the last line written to stderr (for `proc_exit`'s message).
    pub fn take_last_stderr(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.last_stderr)).into_owned()
    }

    /// Buffers what the module wrote to stdout (`stream` 0) or stderr (1)
    /// and logs every complete line: stdout at info, stderr at warn.
    pub fn write(&mut self, stream: usize, mut bytes: &[u8]) {
        let mut logging = true;
        let mut refused = 0;
        while !bytes.is_empty() {
            let room = MAX_LINE_BYTES - self.pending[stream].len();
            let window = &bytes[..bytes.len().min(room)];
            let (piece, complete) = match memchr::memchr(b'\n', window) {
                Some(i) => (&window[..=i], true),
                None => (window, window.len() == room),
            };
            bytes = &bytes[piece.len()..];
            if !complete {
                self.pending[stream].extend_from_slice(piece);
                break;
            }
            let mut line = std::mem::take(&mut self.pending[stream]);
            if line.is_empty() {
                self.line(stream, piece, &mut logging, &mut refused);
            } else {
                line.extend_from_slice(piece);
                self.line(stream, &line, &mut logging, &mut refused);
                line.clear();
            }
            self.pending[stream] = line;
        }
        if refused > 0 {
            self.log.suppress(refused);
        }
    }

    /// One complete line of `stream`.
    fn line(&mut self, stream: usize, raw: &[u8], logging: &mut bool, refused: &mut u64) {
        let text = trim_newline(raw);
        if stream == 1 && !text.is_empty() {
            // Go follows `panic: ...` with a stack trace: keep the panic line.
            let last = &self.last_stderr;
            let panic = last.starts_with(b"panic: ") || last.starts_with(b"fatal error: ");
            if !panic || text.starts_with(b"panic: ") {
                self.last_stderr.clear();
                self.last_stderr.extend_from_slice(text);
            }
        }
        if !*logging {
            *refused += 1;
            return;
        }
        let level = if stream == 0 { Level::Info } else { Level::Warn };
        *logging = self.log.line(level, &String::from_utf8_lossy(text));
    }
}

/// `bytes` without its trailing newline (`\n` or `\r\n`, and stray `\r`s).
fn trim_newline(mut bytes: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_and_the_panic_line_kept_for_proc_exit() {
        let mut lines = Lines::new(GuestLog::new("m".into()));
        lines.write(1, b"panic: boom\n\ngoroutine 1 [running]:\nmain.f()\ngorout");
        assert_eq!(lines.pending[1], b"gorout");
        lines.write(1, b"ine 2\r\n");
        assert!(lines.pending[1].is_empty());
        assert_eq!(lines.take_last_stderr(), "panic: boom");
        let exit = super::super::ProcExit { code: 2, last_stderr: "panic: boom".into() };
        assert_eq!(exit.to_string(), "called proc_exit(2) after writing to stderr: panic: boom");
    }

    #[test]
    fn a_long_line_is_cut_and_a_flood_counted_in_one_pass() {
        let log = GuestLog::new("m".into());
        let mut lines = Lines::new(log.clone());
        lines.write(0, &vec![b'x'; MAX_LINE_BYTES + 10]);
        assert_eq!(lines.pending[0].len(), 10, "the first {MAX_LINE_BYTES} bytes were a line");
        lines.write(0, b"\n");
        // A megabyte of short lines: the burst is logged, the rest counted.
        let flood = b"a\n".repeat(1 << 19);
        lines.write(0, &flood);
        // The burst, plus whatever the bucket refilled meanwhile (a token per 10 ms).
        let (total, burst) = ((1 << 19) + 2, u64::from(crate::transform::log::LINES_PER_SECOND));
        let suppressed = log.suppressed();
        assert!((total - burst - 5..=total - burst).contains(&suppressed), "{suppressed} of {total}");
        assert!(lines.pending[0].is_empty());
    }
}
