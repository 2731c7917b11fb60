//! An object opened to be read ([`ObjectFile`]): ranged GETs of at most
//! [`CHUNK`] bytes from where the stream stands, each conditional on the
//! ETag it was opened with, so that an object overwritten while it is read
//! fails the read (and is then read again as the new object it is) instead
//! of mixing two contents. Memory stays one chunk, whatever the object's
//! size; a resume from a checkpoint's offset is a ranged GET from there.

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore};

use super::id_of;
use super::scrub::Scrub;
use crate::record::FileId;
use crate::zone::ZoneFile;

/// Bytes one GET asks for.
pub const CHUNK: u64 = 8 << 20;

/// An object of the zone, read as a stream.
#[derive(Debug)]
pub struct ObjectFile {
    reader: Ranged,
}

impl ObjectFile {
    /// The object `meta` describes, in `store`, named `name` in messages,
    /// which `scrub` keeps free of secrets.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        runtime: Arc<tokio::runtime::Runtime>,
        scrub: Scrub,
        meta: ObjectMeta,
        name: PathBuf,
    ) -> Self {
        let meta = Arc::new(meta);
        let (pos, chunk, resumed) = (0, Bytes::new(), false);
        ObjectFile { reader: Ranged { store, runtime, scrub, meta, name, pos, chunk, resumed } }
    }
}

/// Reads an object from `pos` in ranged GETs.
#[derive(Debug, Clone)]
struct Ranged {
    store: Arc<dyn ObjectStore>,
    runtime: Arc<tokio::runtime::Runtime>,
    scrub: Scrub,
    meta: Arc<ObjectMeta>,
    name: PathBuf,
    /// Where the next GET starts: just past `chunk`.
    pos: u64,
    /// Bytes fetched and not yet read.
    chunk: Bytes,
    /// Whether a resume from `pos` was logged.
    resumed: bool,
}

impl Ranged {
    /// The bytes `range` of the object, if it still has the ETag it was
    /// opened with.
    fn get(&self, range: std::ops::Range<u64>) -> io::Result<Bytes> {
        let asked = range.end - range.start;
        let options = GetOptions {
            if_match: self.meta.e_tag.clone(),
            version: self.meta.version.clone(),
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        let location = &self.meta.location;
        let fetched = self.runtime.block_on(async {
            let result = self.store.get_opts(location, options).await?;
            result.bytes().await
        });
        let bytes = fetched.map_err(|e| changed(e, &self.name, &self.scrub))?;
        if bytes.len() as u64 > asked {
            let name = self.name.display();
            return Err(io::Error::other(format!(
                "{name}: the store answered {} bytes for {asked} asked",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    fn seek(&mut self, offset: u64) {
        (self.pos, self.chunk, self.resumed) = (offset, Bytes::new(), false);
    }
}

/// A failed GET; one refused by its ETag condition says the object changed.
fn changed(error: object_store::Error, name: &std::path::Path, scrub: &Scrub) -> io::Error {
    match error {
        object_store::Error::Precondition { .. } => io::Error::other(format!(
            "{} was overwritten while it was read; its new content is read as a new object",
            name.display()
        )),
        e => scrub.error(e),
    }
}

impl Read for Ranged {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.chunk.is_empty() {
            let size = self.meta.size;
            if self.pos >= size || buf.is_empty() {
                return Ok(0);
            }
            if self.pos > 0 && !self.resumed {
                tracing::info!(object = %self.name.display(), offset = self.pos, "resuming the object with a ranged GET");
                self.resumed = true;
            }
            let end = size.min(self.pos + CHUNK);
            self.chunk = self.get(self.pos..end)?;
            self.pos += self.chunk.len() as u64;
            if self.chunk.is_empty() {
                return Err(io::Error::other(format!("{} ended before its size", self.name.display())));
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

impl Read for ObjectFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl ZoneFile for ObjectFile {
    fn id(&self) -> FileId {
        id_of(&self.reader.meta)
    }

    /// Its size when it was opened: an object does not grow.
    fn size(&self) -> io::Result<u64> {
        Ok(self.reader.meta.size)
    }

    fn seek_to(&mut self, offset: u64) -> io::Result<()> {
        self.reader.seek(offset);
        Ok(())
    }

    fn reader_at_start(&mut self) -> io::Result<Box<dyn Read + Send>> {
        let mut reader = self.reader.clone();
        reader.seek(0);
        Ok(Box::new(reader))
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let end = self.reader.meta.size.min(offset.saturating_add(buf.len() as u64));
        if offset >= end {
            return Ok(0);
        }
        let bytes = self.reader.get(offset..end)?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    /// Listed is complete: uploads are atomic.
    fn settled(&self, _quiet: Duration, _settle: Duration) -> io::Result<bool> {
        Ok(true)
    }
}
