//! The compiled-module cache: a module or component is compiled once and its
//! machine code kept in `--module-cache-dir`, so the next start of the same
//! file with the same engine deserializes it instead of compiling again
//! (sql.wasm takes seconds of CPU to compile; a Python or JavaScript
//! component far more).
//!
//! Whoever can write an entry can make sluice run their machine code, so
//! the cache trusts nothing it has not checked (`cache/dir.rs`): the directory must
//! be owned by the running user and writable by no one else (sluice refuses
//! to start otherwise, naming its path, owner and mode), it is created
//! `0700`, its entries `0600`, and they are opened without following links.
//!
//! An entry is named by what it was made from: the kind (`module` or
//! `component`), the SHA-256 of the wasm file, a hash of the engine's
//! version and compilation settings
//! ([`Engine::precompile_compatibility_hash`]) plus this sluice's version,
//! and the entry format. It holds a magic line, the SHA-256 of the wasm it
//! was compiled from, the SHA-256 of its payload, an HMAC-SHA256 of all
//! three under the cache's own key (a random 32-byte file, `0600`, made
//! once per cache directory) and the payload, what wasmtime serialized.
//! An entry is used only when the wasm digest is that of the module just
//! read, the payload matches its digest and the HMAC checks out: an entry
//! copied over another's name, from another user's cache or another
//! machine is a logged miss, compiled again and overwritten, never code
//! run. So is one that is short, has the wrong magic, or that wasmtime
//! refuses (another version or configuration).

mod dir;

use std::hash::Hasher;
use std::path::Path;
use std::time::Instant;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;

pub use dir::Unsafe;

/// The first bytes of every entry; bump the number (and [`FORMAT`]) when
/// the layout changes.
const MAGIC: &[u8] = b"sluice-compiled-module-2\n";
/// The entry format, in its name: sluices of another format leave these
/// entries alone and keep their own beside them.
const FORMAT: &str = "v2";
/// Bytes of a SHA-256 digest, and of its HMAC.
const DIGEST_LEN: usize = 32;

/// Why a module could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache directory or its key could be written by someone else.
    #[error(transparent)]
    Unsafe(#[from] Unsafe),
    /// wasmtime refused to compile the wasm.
    #[error("{0:#}")]
    Compile(wasmtime::Error),
}

/// Something wasmtime compiles and serializes: a core module or a component.
pub trait Artifact: Sized {
    /// Names the entry, so a module and a component never share one.
    const KIND: &'static str;
    /// Compiles the wasm.
    fn compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Self>;
    /// The compiled code, as wasmtime serializes it.
    fn serialize(&self) -> wasmtime::Result<Vec<u8>>;
    /// Loads what [`Artifact::serialize`] wrote.
    ///
    /// # Safety
    /// `bytes` must come from [`Artifact::serialize`] of an engine like
    /// `engine`: wasmtime checks the version and settings, not the code.
    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self>;
}

impl Artifact for wasmtime::Module {
    const KIND: &'static str = "module";
    fn compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Self> {
        wasmtime::Module::new(engine, wasm)
    }
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        wasmtime::Module::serialize(self)
    }
    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's contract is this function's.
        unsafe { wasmtime::Module::deserialize(engine, bytes) }
    }
}

impl Artifact for wasmtime::component::Component {
    const KIND: &'static str = "component";
    fn compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Self> {
        wasmtime::component::Component::new(engine, wasm)
    }
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        wasmtime::component::Component::serialize(self)
    }
    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's contract is this function's.
        unsafe { wasmtime::component::Component::deserialize(engine, bytes) }
    }
}

/// Where a loaded artifact came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The cache is off; compiled.
    Compiled,
    /// Deserialized from a cache entry.
    Hit,
    /// Compiled, and stored in the cache (`false`: storing failed, logged).
    Stored(bool),
}

/// Compiles `wasm` (the file `name`), or loads it from the cache in `dir`.
/// A compile error fails, and so does a cache directory someone else could
/// write; every other cache problem is logged and compiled around.
pub fn load<A: Artifact>(
    dir: Option<&Path>,
    engine: &Engine,
    wasm: &[u8],
    name: &str,
) -> Result<(A, Source), CacheError> {
    let Some(dir) = dir else {
        tracing::info!(module = name, "compiling {name} (the module cache is off: every start compiles)");
        let (artifact, ms) = timed(|| A::compile(engine, wasm))?;
        tracing::info!(module = name, compile_ms = ms, "compiled the module (module cache off)");
        return Ok((artifact, Source::Compiled));
    };
    let Some(cache) = Cache::open(dir)? else {
        tracing::info!(module = name, "compiling {name} (the module cache is unusable: every start compiles)");
        let (artifact, ms) = timed(|| A::compile(engine, wasm))?;
        tracing::info!(module = name, compile_ms = ms, "compiled the module (module cache unusable)");
        return Ok((artifact, Source::Stored(false)));
    };
    let entry = Entry::new::<A>(engine, wasm);
    if let Some(artifact) = cache.read::<A>(&entry, engine, name) {
        tracing::info!(module = name, entry = %cache.dir.path_of(&entry.name).display(), "module cache hit");
        return Ok((artifact, Source::Hit));
    }
    tracing::info!(module = name, "compiling {name} (first start; cached afterwards)");
    let (artifact, ms) = timed(|| A::compile(engine, wasm))?;
    let path = cache.dir.path_of(&entry.name);
    let stored = match cache.store(&entry, &artifact) {
        Ok(()) => true,
        Err(reason) => {
            tracing::warn!(module = name, entry = %path.display(), %reason, "cannot store the compiled module in the cache; the next start compiles again");
            false
        }
    };
    tracing::info!(module = name, compile_ms = ms, entry = %path.display(), stored, "module cache miss: compiled the module");
    Ok((artifact, Source::Stored(stored)))
}

fn timed<T>(f: impl FnOnce() -> wasmtime::Result<T>) -> Result<(T, u128), CacheError> {
    let start = Instant::now();
    f().map(|t| (t, start.elapsed().as_millis())).map_err(CacheError::Compile)
}

/// What an entry is made from: its name and the wasm's digest.
struct Entry {
    /// `<kind>-<sha256 of the wasm>-<engine hash>-<format>.cwasm`.
    name: String,
    wasm_digest: [u8; DIGEST_LEN],
}

impl Entry {
    fn new<A: Artifact>(engine: &Engine, wasm: &[u8]) -> Self {
        let mut engine_hash = DigestHasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut engine_hash);
        engine_hash.0.update(env!("CARGO_PKG_VERSION").as_bytes());
        let engine_hash = hex(&engine_hash.0.finalize()[..8]);
        let wasm_digest: [u8; DIGEST_LEN] = Sha256::digest(wasm).into();
        let name = format!("{}-{}-{engine_hash}-{FORMAT}.cwasm", A::KIND, hex(&wasm_digest));
        Entry { name, wasm_digest }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds what `Hash` writes into SHA-256: a hash stable across runs and
/// builds, unlike `DefaultHasher`.
struct DigestHasher(Sha256);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        unreachable!("only the digest is read")
    }
}

/// A checked cache directory and its key.
struct Cache {
    dir: dir::Dir,
    key: [u8; dir::KEY_LEN],
}

impl Cache {
    /// `Ok(None)` when the directory or its key cannot be made (logged).
    fn open(path: &Path) -> Result<Option<Cache>, Unsafe> {
        let Some(dir) = dir::Dir::open(path)? else { return Ok(None) };
        Ok(dir.key()?.map(|key| Cache { dir, key }))
    }

    /// The artifact in `entry`, if there is a sound one.
    fn read<A: Artifact>(&self, entry: &Entry, engine: &Engine, name: &str) -> Option<A> {
        let bytes = match self.dir.read_entry(&entry.name) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return None,
            Err(reason) => return self.ignored(entry, name, &reason),
        };
        let payload = match self.payload(&bytes, entry) {
            Ok(payload) => payload,
            Err(reason) => return self.ignored(entry, name, &reason),
        };
        // SAFETY: the payload is byte for byte what `store` wrote from
        // `A::serialize` of this wasm (its HMAC under this cache's key, which
        // only the running user can read, covers the wasm's digest and the
        // payload's), under a name that includes this engine's compatibility
        // hash, and wasmtime refuses another version or configuration itself.
        match unsafe { A::deserialize(engine, payload) } {
            Ok(artifact) => Some(artifact),
            Err(e) => self.ignored(entry, name, &format!("wasmtime refused it: {e:#}")),
        }
    }

    fn ignored<A>(&self, entry: &Entry, name: &str, reason: &str) -> Option<A> {
        let path = self.dir.path_of(&entry.name);
        tracing::warn!(module = name, entry = %path.display(), reason, "ignoring a module cache entry; compiling again");
        None
    }

    /// The payload of an entry, after checking its magic, that it was
    /// compiled from `entry`'s wasm, its digest and its HMAC.
    fn payload<'b>(&self, bytes: &'b [u8], entry: &Entry) -> Result<&'b [u8], String> {
        let rest = bytes.strip_prefix(MAGIC).ok_or("it does not start with the cache's magic line")?;
        if rest.len() < 3 * DIGEST_LEN {
            return Err("it is truncated".into());
        }
        let (wasm_digest, rest) = rest.split_at(DIGEST_LEN);
        let (payload_digest, rest) = rest.split_at(DIGEST_LEN);
        let (tag, payload) = rest.split_at(DIGEST_LEN);
        if wasm_digest != entry.wasm_digest {
            let (found, expected) = (hex(wasm_digest), hex(&entry.wasm_digest));
            return Err(format!("it was compiled from another module (wasm SHA-256 {found}, not {expected})"));
        }
        if Sha256::digest(payload).as_slice() != payload_digest {
            return Err("its SHA-256 does not match its contents".into());
        }
        self.mac(&entry.name, wasm_digest, payload_digest).verify_slice(tag).map_err(|_| {
            "its HMAC does not match this cache's key: it was not written by this user's sluice on this cache"
                .to_owned()
        })?;
        Ok(payload)
    }

    /// The HMAC of an entry's name, wasm digest and payload digest.
    fn mac(&self, name: &str, wasm_digest: &[u8], payload_digest: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        for part in [MAGIC, name.as_bytes(), wasm_digest, payload_digest] {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac
    }

    /// Writes `artifact` to `entry` atomically.
    fn store<A: Artifact>(&self, entry: &Entry, artifact: &A) -> Result<(), String> {
        let payload = artifact.serialize().map_err(|e| format!("wasmtime cannot serialize it: {e:#}"))?;
        let payload_digest = Sha256::digest(&payload);
        let tag = self.mac(&entry.name, &entry.wasm_digest, &payload_digest).finalize().into_bytes();
        let parts: [&[u8]; 5] = [MAGIC, &entry.wasm_digest, &payload_digest, &tag, &payload];
        self.dir.write_entry(&entry.name, &parts).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests;
