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

use crate::private;
use crate::record::DeadLetter;

/// File name of the dead-letter file inside the checkpoint directory.
pub const FILE_NAME: &str = "dead-letters.jsonl";

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
