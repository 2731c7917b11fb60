//! A landing zone in object storage (S3, Azure Blob / ADLS, GCS), on Apache
//! Arrow's `object_store` crate: the second [`LandingZone`].
//!
//! An object is named by the zone's URL and its key below the zone's prefix
//! (`s3://bucket/in/2026/a.json`), the spelling messages, `--glob`, the
//! decoders and the hosts' shares go by. It is known by a [`FileId`] made
//! of its key and its ETag (and version, where the bucket keeps them), so an
//! object overwritten with new content is new work and the same key and
//! ETag is never read twice. An object is complete once it is listed
//! (uploads are atomic): it is never waited on to settle.
//!
//! A rescan lists the prefix in full; between rescans a watcher thread
//! lists from the last key seen (`--list-ms`) and takes the bucket's S3
//! event notifications from SQS (`--notification-queue`), reporting new
//! keys as changes (`watch.rs`, with [`notify`]). An object is read in ranged GETs of
//! [`file::CHUNK`] bytes, each conditional on its ETag, so memory stays
//! bounded and a resume starts where the checkpoint stands ([`file`](mod@file)). A
//! finished object is deleted, or copied below `--source-archive-dir` in the
//! same bucket, the copy checked, then deleted (`clean.rs`). Transient errors
//! and throttling are retried by the client with backoff and counted in
//! `/metrics` ([`build`]); an object whose read fails is read again from
//! its last record. Errors are scrubbed of secrets (`scrub.rs`).
//!
//! The zone's calls are synchronous, as the source and the cleaner make
//! them: each blocks on a runtime of one thread the zone owns.

pub mod build;
mod clean;
pub mod file;
pub mod notify;
mod scrub;
mod watch;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};

use super::{Cleaned, Cleaning, Entry, LandingZone, Listing, Looked, Watch, ZoneError, ZoneFile};
use crate::config::StoreConfig;
use crate::metrics::StoreRequests;
use crate::progress::Completed;
use crate::record::FileId;

/// A landing zone in object storage; a clone shares its store, runtime
/// and cursor.
#[derive(Debug, Clone)]
pub struct ObjectZone {
    /// Its name: the URL without the trailing `/`.
    name: PathBuf,
    store: Arc<dyn ObjectStore>,
    /// The prefix of its keys, without a trailing `/`.
    prefix: Key,
    recursive: bool,
    list_every: Option<Duration>,
    queue: Option<notify::Queue>,
    /// The greatest key listed so far: where the next listing from the
    /// cursor starts after.
    cursor: Arc<Mutex<Option<Key>>>,
    runtime: Arc<tokio::runtime::Runtime>,
    /// What its errors may not show.
    scrub: scrub::Scrub,
}

impl ObjectZone {
    /// The zone `config` names, its requests counted in `requests`; with
    /// `recursive`, the objects below deeper prefixes too.
    pub fn new(config: &StoreConfig, recursive: bool, requests: StoreRequests) -> Result<Self, build::BuildError> {
        // reqwest's TLS takes the process's provider: ring's (an error only
        // says one is installed already). rustls now prefers aws-lc-rs, for
        // its post-quantum key exchange; its C build would add minutes to the
        // first `scripts/demo` on two cores (see host/Cargo.toml).
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (store, prefix) = build::store(config, requests)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sluice-store")
            .enable_all()
            .build()
            .map_err(|e| build::BuildError::Refused { zone: config.url.to_string(), reason: e.to_string() })?;
        let queue = config.notification_queue.as_ref().map(|url| notify::Queue::new(url, &config.options));
        if let Some(Err(e)) = queue.as_ref().map(notify::Queue::origin) {
            return Err(build::BuildError::Refused { zone: config.url.to_string(), reason: e.to_string() });
        }
        Ok(ObjectZone {
            name: config.name(),
            store,
            prefix,
            recursive,
            list_every: config.list_every,
            queue,
            cursor: Arc::default(),
            runtime: Arc::new(runtime),
            scrub: scrub::Scrub::new(&config.options),
        })
    }

    /// The key of the object `name` names, if it is one of this zone's.
    fn key(&self, name: &Path) -> io::Result<Key> {
        let below = name.strip_prefix(&self.name).map_err(|_| not_found(name))?;
        let below = below.to_str().ok_or_else(|| not_found(name))?;
        let key = match self.prefix.as_ref() {
            "" => below.to_owned(),
            prefix => format!("{prefix}/{below}"),
        };
        Key::parse(key).map_err(|_| not_found(name))
    }

    /// The name of the object at `key`.
    fn name_of(&self, key: &Key) -> PathBuf {
        let below = key.prefix_match(&self.prefix).map(|parts| parts.map(|p| p.as_ref().to_owned()));
        let below: Vec<String> = below.map(Iterator::collect).unwrap_or_default();
        self.name.join(below.join("/"))
    }

    /// Whether `key` is an object of the zone to read: not below a hidden
    /// (`.` or `_`) prefix, and directly below the zone's prefix unless
    /// the zone is recursive.
    fn takes(&self, key: &Key) -> bool {
        let Some(parts) = key.prefix_match(&self.prefix) else { return false };
        let parts: Vec<_> = parts.collect();
        let dirs = &parts[..parts.len().saturating_sub(1)];
        (self.recursive || dirs.is_empty()) && !dirs.iter().any(|p| p.as_ref().starts_with(['.', '_']))
    }

    fn entry(&self, meta: &ObjectMeta) -> Entry {
        let name = self.name_of(&meta.location);
        Entry { name, id: id_of(meta), len: meta.size, modified: meta.last_modified.into() }
    }

    /// Runs `future` to its end on the zone's runtime.
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The greatest key listed so far.
    fn greatest(&self) -> Option<Key> {
        self.cursor.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Moves the cursor up to `key`, if it is past it.
    fn advance(&self, key: &Key) {
        let mut cursor = self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        if cursor.as_ref().is_none_or(|c| c < key) {
            *cursor = Some(key.clone());
        }
    }
}

/// The identity of an object: its key, and its ETag and version.
pub fn id_of(meta: &ObjectMeta) -> FileId {
    let hash = |parts: &[&str]| {
        let mut digest = Sha256::new();
        for part in parts {
            digest.update(part.as_bytes());
            digest.update([0]);
        }
        u64::from_le_bytes(digest.finalize()[..8].try_into().expect("8 bytes"))
    };
    let key = meta.location.as_ref();
    let (etag, version) = (meta.e_tag.as_deref().unwrap_or_default(), meta.version.as_deref().unwrap_or_default());
    // Without an ETag, the size and modification time stand for the content.
    let stamp = format!("{}/{}", meta.size, meta.last_modified.timestamp_nanos_opt().unwrap_or_default());
    let content = if etag.is_empty() { stamp.as_str() } else { etag };
    FileId { dev: hash(&["content", key, content, version]), ino: hash(&["key", key]) }
}

fn not_found(name: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} is not an object of the landing zone", name.display()))
}

impl fmt::Display for ObjectZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.name.display().fmt(f)
    }
}

impl LandingZone for ObjectZone {
    /// Lists one page of the prefix: a bucket that is missing or refuses
    /// these credentials stops the start.
    fn check(&self) -> Result<(), ZoneError> {
        let listed = self.block_on(self.store.list(Some(&self.prefix)).try_next());
        match listed {
            Ok(_) => Ok(()),
            Err(e) => {
                Err(ZoneError::Unreachable { zone: self.name.display().to_string(), source: self.scrub.error(e) })
            }
        }
    }

    fn list(&self, wanted: &dyn Fn(&Path) -> bool) -> io::Result<Listing> {
        let listed: Vec<ObjectMeta> =
            self.block_on(self.store.list(Some(&self.prefix)).try_collect()).map_err(|e| self.scrub.error(e))?;
        let mut listing = Listing::default();
        for meta in listed.iter().filter(|meta| self.takes(&meta.location)) {
            self.advance(&meta.location);
            let entry = self.entry(meta);
            listing.names.push(entry.name.clone());
            if wanted(&entry.name) {
                listing.entries.push(entry);
            }
        }
        Ok(listing)
    }

    fn watch(&self) -> io::Result<Watch> {
        watch::start(self)
    }

    fn look(&self, name: &Path) -> io::Result<Looked> {
        let key = self.key(name)?;
        if !self.takes(&key) {
            return Ok(Looked::Hidden);
        }
        let meta = self.block_on(self.store.head(&key)).map_err(|e| self.scrub.error(e))?;
        Ok(Looked::File(self.entry(&meta)))
    }

    fn open(&self, name: &Path) -> io::Result<Box<dyn ZoneFile>> {
        let key = self.key(name)?;
        let meta = self.block_on(self.store.head(&key)).map_err(|e| self.scrub.error(e))?;
        let (store, runtime, scrub) = (self.store.clone(), self.runtime.clone(), self.scrub.clone());
        Ok(Box::new(file::ObjectFile::new(store, runtime, scrub, meta, name.to_owned())))
    }

    fn clean(&self, file: &Completed, how: Cleaning<'_>) -> Cleaned {
        clean::clean(self, file, how)
    }

    fn identity_is_content(&self) -> bool {
        true
    }

    fn entries_are_looks(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::PipelineMetrics;

    fn zone(url: &str, recursive: bool) -> ObjectZone {
        let config = StoreConfig {
            url: url::Url::parse(url).unwrap(),
            options: vec![("region".into(), "us-east-1".into()), ("allow_http".into(), "true".into())],
            list_every: None,
            notification_queue: None,
        };
        ObjectZone::new(&config, recursive, PipelineMetrics::detached().store_requests.clone()).unwrap()
    }

    #[test]
    fn names_are_the_zone_url_and_the_key_below_its_prefix() {
        let zone = zone("s3://bucket/in/", true);
        let key = Key::from("in/2026/a.json");
        let name = zone.name_of(&key);
        assert_eq!(name, Path::new("s3://bucket/in/2026/a.json"));
        assert_eq!(zone.key(&name).unwrap(), key);
        assert!(zone.key(Path::new("s3://other/in/a.json")).is_err());
        let whole = self::zone("s3://bucket/", false);
        assert_eq!(whole.name_of(&Key::from("a.json")), Path::new("s3://bucket/a.json"));
        assert_eq!(whole.key(Path::new("s3://bucket/a.json")).unwrap(), Key::from("a.json"));
    }

    #[test]
    fn deeper_keys_need_recursive_and_hidden_prefixes_are_never_read() {
        let (flat, deep) = (zone("s3://bucket/in/", false), zone("s3://bucket/in/", true));
        for (key, flat_takes, deep_takes) in [
            ("in/a.json", true, true),
            ("in/d/a.json", false, true),
            ("in/_temporary/a.json", false, false),
            ("in/.staging/a.json", false, false),
            ("inbox/a.json", false, false),
            ("other/a.json", false, false),
        ] {
            assert_eq!(flat.takes(&Key::from(key)), flat_takes, "{key}");
            assert_eq!(deep.takes(&Key::from(key)), deep_takes, "{key}");
        }
    }

    #[test]
    fn the_identity_is_the_key_and_the_etag() {
        let meta = |key: &str, etag: &str| ObjectMeta {
            location: Key::from(key),
            last_modified: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            size: 10,
            e_tag: Some(etag.into()),
            version: None,
        };
        let a = id_of(&meta("in/a.json", "\"1\""));
        assert_eq!(a, id_of(&meta("in/a.json", "\"1\"")), "the same object");
        let rewritten = id_of(&meta("in/a.json", "\"2\""));
        assert_ne!(a, rewritten, "new content under the same key is new work");
        assert_eq!(a.ino, rewritten.ino, "the key part stays");
        assert_ne!(a, id_of(&meta("in/b.json", "\"1\"")), "another key");
    }
}
