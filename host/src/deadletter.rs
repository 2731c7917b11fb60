//! Dead letters: every record that is not published, with the reason and
//! where it came from, so nothing is silently dropped.
//!
//! Entries are JSON lines appended to `dead-letters.jsonl` in the checkpoint
//! directory and fsynced before the batch they belong to can be
//! acknowledged, so the checkpoint never passes a record that is neither in
//! Kafka nor here. The file holds records as read, so it is created 0600
//! (and an older, wider one tightened: see [`crate::private`]).
//!
//! The first [`LOGGED_FIRST`] dead letters are logged one by one; after
//! that a module failing every record would write a line per record, so
//! the rest are counted and logged as one line per [`COUNT_INTERVAL`] (and
//! once more when the file is closed), each naming the file that holds
//! them all.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::private;
use crate::record::DeadLetter;

/// File name of the dead-letter file inside the checkpoint directory.
pub const FILE_NAME: &str = "dead-letters.jsonl";

/// Dead letters logged one by one, from the start.
pub const LOGGED_FIRST: u64 = 10;
/// How often the dead letters past the first are logged, as a count.
pub const COUNT_INTERVAL: Duration = Duration::from_secs(10);

/// The append-only dead-letter file, opened on first use.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    file: Option<File>,
    tally: Tally,
}

/// What has been logged of the dead letters: how many one by one, and the
/// count not logged since the last count line.
#[derive(Debug)]
struct Tally {
    logged: u64,
    unlogged: u64,
    last_reason: String,
    since: Instant,
}

impl Tally {
    fn note(&mut self, letter: &DeadLetter<'_>, path: &Path) {
        if self.logged >= LOGGED_FIRST {
            self.unlogged += 1;
            letter.reason.clone_into(&mut self.last_reason);
            return;
        }
        self.logged += 1;
        let (file, line, offset, reason) = (letter.file, letter.line, letter.offset, letter.reason);
        tracing::warn!(file, line, offset, reason, "record sent to the dead letters");
        if self.logged == LOGGED_FIRST {
            let every = COUNT_INTERVAL.as_secs();
            tracing::warn!(
                dead_letters = %path.display(),
                "{LOGGED_FIRST} records sent to the dead letters; further ones are counted every {every} s, \
                 not logged one by one"
            );
        }
    }

    /// Logs the count of unlogged dead letters when `COUNT_INTERVAL` has
    /// passed since the last count, or now with `now_anyway`.
    fn report(&mut self, path: &Path, now_anyway: bool) {
        let elapsed = self.since.elapsed();
        if self.unlogged == 0 || (elapsed < COUNT_INTERVAL && !now_anyway) {
            return;
        }
        let n = std::mem::take(&mut self.unlogged);
        let secs = elapsed.as_secs_f64();
        tracing::warn!(
            records = n,
            last_reason = %self.last_reason,
            dead_letters = %path.display(),
            "{n} more records sent to the dead letters in the last {secs:.0} s; each is in the dead-letter file with its reason"
        );
        self.since = Instant::now();
    }
}

impl DeadLetters {
    /// Dead letters kept in `dir`.
    pub fn new(dir: &Path) -> Self {
        let tally = Tally { logged: 0, unlogged: 0, last_reason: String::new(), since: Instant::now() };
        DeadLetters { path: dir.join(FILE_NAME), file: None, tally }
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
            self.tally.note(letter, &self.path);
        }
        self.tally.report(&self.path, false);
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

impl Drop for DeadLetters {
    fn drop(&mut self) {
        self.tally.report(&self.path, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Reason;

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
