//! The landing zone: where files come from, behind one trait.
//!
//! A [`LandingZone`] is checked at start-up ([`LandingZone::check`]: one
//! that is missing or not a directory is a [`ZoneError`]), lists its files (a rescan), may report changes as they
//! happen ([`Watch`]; a zone that cannot is rescanned only), looks at one
//! name ([`Looked`]), opens a file to be read as a stream from an offset
//! ([`ZoneFile`], which the source's decoders and line splitter read,
//! whatever the zone; [`read_line_at`] reads one line back for a dead
//! letter), tells whether a file that stopped growing is complete
//! ([`ZoneFile::settled`]), and archives or deletes a finished one
//! ([`LandingZone::clean`]).
//!
//! A file is named by a path, the zone's own spelling of where it is: shown
//! in messages, matched by `--glob`, its extension choosing the decoder,
//! hashed to the host that owns it when hosts share the zone. It is known
//! by a [`FileId`] that survives renames, with a [`Head`] fingerprint of
//! its first bytes to tell it from a new file that reuses its identity.
//! Nothing above the source and the cleaner sees a zone: the batches carry
//! the name as text, for messages.
//!
//! [`local`] is the local directory (a no-follow walk below the zone's
//! handle, inotify events, `unlinkat` and `renameat2` to clean). The source
//! thread and the cleaner thread share one zone as an `Arc<dyn
//! LandingZone>`: a call per listing, look, open, or chunk read, never one
//! per line. An entry that is not to be read (a link, a FIFO, a
//! pseudo-file) is refused with an [`io::Error`] carrying a [`Skip`]
//! ([`refusal`]), which the source warns about once and counts.

pub mod local;
pub mod object;

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use crossbeam_channel::Receiver;

use crate::config::SourceConfig;
use crate::metrics::PipelineMetrics;
use crate::progress::Completed;
use crate::progress::kafka::Locate;
use crate::record::file::fnv1a;
use crate::record::{FileId, Head, Skip};

/// Why a landing zone cannot be read from at all.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    /// Nothing is at the zone's path.
    #[error("landing zone {0} does not exist; create it, or correct --landing-zone (`landing_zone` in a config file)")]
    Missing(String),
    /// Something other than a directory is at the zone's path.
    #[error(
        "landing zone {0} is not a directory; --landing-zone (`landing_zone` in a config file) names the directory \
         files land in"
    )]
    NotADirectory(String),
    /// The zone's path cannot be looked at.
    #[error("cannot look at landing zone {zone}: {source}")]
    Unreachable {
        /// The zone.
        zone: String,
        /// Why.
        source: io::Error,
    },
}

/// The landing zone `config` names: a local directory, or a bucket and
/// prefix in object storage, whose requests count in `metrics`.
pub fn of(config: &SourceConfig, metrics: &PipelineMetrics) -> Result<Arc<dyn LandingZone>, object::build::BuildError> {
    Ok(match &config.store {
        Some(store) => Arc::new(object::ObjectZone::new(store, config.recursive, metrics.store_requests.clone())?),
        None => Arc::new(local::LocalDir::new(config.dir.clone(), config.recursive, config.follow_symlinks)),
    })
}

/// A landing zone as the progress floor's [`Locate`]: the exactly-once
/// store finds the files of committed progress through it, opened as the
/// source would open them.
#[derive(Debug)]
pub struct Locator(pub Arc<dyn LandingZone>);

impl Locate for Locator {
    fn identify(&self, path: &Path, head: Option<Head>) -> Option<FileId> {
        let file = self.0.open(path).ok()?;
        match head {
            Some(head) if !file.starts_with(&head).ok()? => None,
            _ => Some(file.id()),
        }
    }

    fn files(&self) -> HashMap<FileId, PathBuf> {
        let listing = self.0.list(&|_| true).unwrap_or_default();
        listing.entries.into_iter().map(|entry| (entry.id, entry.name)).collect()
    }
    fn identity_is_content(&self) -> bool {
        self.0.identity_is_content()
    }
}

/// Where files come from: the source discovers and reads them through it,
/// the cleaner archives or deletes them through it.
pub trait LandingZone: fmt::Display + fmt::Debug + Send + Sync {
    /// Whether the zone is there to be read from, checked at start-up (as
    /// Spark refuses a path that does not exist): a zone that is missing or
    /// is not a directory is a mistake to stop for, not to wait out.
    fn check(&self) -> Result<(), ZoneError>;

    /// What is in the zone now, for a rescan: the entries whose names
    /// `wanted` takes are looked at. Fails only when the zone itself cannot
    /// be read.
    fn list(&self, wanted: &dyn Fn(&Path) -> bool) -> io::Result<Listing>;

    /// Starts reporting changes as they happen; a zone that cannot fails,
    /// and is rescanned only.
    fn watch(&self) -> io::Result<Watch>;

    /// What `name` (from a listing or a change) is now.
    fn look(&self, name: &Path) -> io::Result<Looked>;

    /// Opens the file `name` to read it; a refusal if it is not a file of
    /// the zone that may be read.
    fn open(&self, name: &Path) -> io::Result<Box<dyn ZoneFile>>;

    /// Archives or deletes the finished `file`, if it is still the file that
    /// was read.
    fn clean(&self, file: &Completed, how: Cleaning<'_>) -> Cleaned;

    /// Whether a [`FileId`] is made of the content's identity, the same on
    /// every host (an object's key and ETag), rather than of where the
    /// file sits on one machine (a device and inode).
    fn identity_is_content(&self) -> bool {
        false
    }
}

/// An open file of a landing zone, read as a stream from where it stands.
pub trait ZoneFile: Read + fmt::Debug + Send {
    /// Its identity, as when it was opened.
    fn id(&self) -> FileId;

    /// Its size now, in bytes.
    fn size(&self) -> io::Result<u64>;

    /// Moves the stream to `offset`.
    fn seek_to(&mut self, offset: u64) -> io::Result<()>;

    /// Moves the stream to the file's start and hands it over, for a
    /// decoder to read; this file's own stream is not read again.
    fn reader_at_start(&mut self) -> io::Result<Box<dyn Read + Send>>;

    /// Reads into `buf` from `offset`, leaving the stream where it is.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// Whether the file, seen not growing for `quiet`, is complete after
    /// `--settle-ms` (`settle`).
    fn settled(&self, quiet: Duration, settle: Duration) -> io::Result<bool>;

    /// The fingerprint of its first bytes as they are now.
    fn head(&self) -> io::Result<Head> {
        let bytes = read_head(self, Head::MAX_LEN)?;
        Ok(Head { len: bytes.len() as u16, fnv: fnv1a(&bytes) })
    }

    /// Whether it starts with the bytes `head` was taken of.
    fn starts_with(&self, head: &Head) -> io::Result<bool> {
        let bytes = read_head(self, head.len)?;
        Ok(bytes.len() == usize::from(head.len) && fnv1a(&bytes) == head.fnv)
    }
}

/// Reads back the line that starts at `offset` in the file `name` of
/// `zone` (at most 64 MiB of it), without its line terminator: the source
/// line a dead letter holds for a record Kafka refused.
pub fn read_line_at(zone: &dyn LandingZone, name: &Path, offset: u64) -> io::Result<Vec<u8>> {
    let mut file = zone.open(name)?;
    file.seek_to(offset)?;
    let mut line = Vec::new();
    io::BufReader::new(file.take(64 << 20)).read_until(b'\n', &mut line)?;
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

/// Up to `len` first bytes of `file`.
fn read_head(file: &(impl ZoneFile + ?Sized), len: u16) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; usize::from(len)];
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// An entry of the zone as last looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where it is: the zone's spelling (for a link followed, its target's).
    pub name: PathBuf,
    /// Its identity.
    pub id: FileId,
    /// Its size in bytes.
    pub len: u64,
    /// When it was last written.
    pub modified: SystemTime,
}

/// What a rescan found.
#[derive(Debug, Default)]
pub struct Listing {
    /// Every name listed, wanted or not.
    pub names: Vec<PathBuf>,
    /// The wanted ones, each by its own identity and modification time (a
    /// link followed by its target's): what is present in the zone.
    pub entries: Vec<Entry>,
}

/// What a name in the zone is.
#[derive(Debug)]
pub enum Looked {
    /// A file, which may be read.
    File(Entry),
    /// Neither a file nor a directory (a FIFO, a device, a socket): never read.
    NotAFile(PathBuf),
    /// A directory: the names below it to look at in turn (those of a new
    /// directory of a recursive zone, which may predate the watch on it), or
    /// none.
    Dir(Vec<PathBuf>),
    /// Not data, by where it is (below a hidden directory): passed over.
    Hidden,
}

/// What the source learns from a change report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A file appeared (created, moved in) or may have grown, or a
    /// directory appeared.
    Touched(PathBuf),
    /// A writer closed the file: its last line is complete.
    Closed(PathBuf),
}

/// A zone's running change reports; dropping it stops them.
pub struct Watch {
    /// Changes, in the order they happened.
    pub changes: Receiver<Change>,
    /// Set when changes were lost; the source then rescans at once.
    pub overflowed: Arc<AtomicBool>,
    /// What keeps the reports coming (the zone's watcher).
    pub keep: Box<dyn Any + Send>,
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch").field("overflowed", &self.overflowed).finish_non_exhaustive()
    }
}

/// What `--clean-source` does with a finished file.
#[derive(Debug, Clone, Copy)]
pub enum Cleaning<'a> {
    /// Deletes it.
    Delete,
    /// Moves it below this directory, keeping its path below the zone.
    Archive(&'a Path),
}

/// What became of one attempt to clean a file.
#[derive(Debug)]
pub enum Cleaned {
    /// Archived or deleted.
    Done,
    /// Left in place for good: gone already, changed since it was read, or
    /// now reached through a link.
    Skipped,
    /// Left in place for now: tried again later.
    Failed(io::Error),
}

/// Why an entry was refused, carried inside an [`io::Error`].
#[derive(Debug, thiserror::Error)]
#[error("refused: {}", .0.describe())]
pub struct Refused(pub Skip);

impl From<Skip> for io::Error {
    fn from(skip: Skip) -> Self {
        io::Error::other(Refused(skip))
    }
}

/// The refusal `error` carries, if it is one.
pub fn refusal(error: &io::Error) -> Option<Skip> {
    error.get_ref().and_then(|e| e.downcast_ref::<Refused>()).map(|r| r.0)
}
