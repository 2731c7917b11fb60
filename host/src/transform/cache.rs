//! The compiled-module cache: a module or component is compiled once and its
//! machine code kept in `--module-cache-dir`, so the next start of the same
//! file with the same engine deserializes it instead of compiling again
//! (sql.wasm takes seconds of CPU to compile; a Python or JavaScript
//! component far more).
//!
//! An entry is named by what it was made from: the kind (`module` or
//! `component`), the SHA-256 of the wasm file and a hash of the engine's
//! version and compilation settings
//! ([`Engine::precompile_compatibility_hash`]) plus this sluice's version.
//! It holds a magic line, the SHA-256 of its payload and the payload, what
//! wasmtime serialized. It is written to a temporary file in the same
//! directory, fsynced and renamed, so a reader sees a whole entry or none.
//!
//! An entry is never trusted blindly: one that is short, has the wrong
//! magic, fails its digest or that wasmtime refuses (another version or
//! configuration) is logged, compiled again and overwritten. What remains
//! trusted is the directory itself: whoever can write it can make sluice
//! run their machine code, so it is created `0700` and must be writable by
//! the user running sluice alone, like the binary.

use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::Engine;

/// The first bytes of every entry; bump the number when the layout changes.
const MAGIC: &[u8] = b"sluice-compiled-module-1\n";
/// Bytes of the payload digest after the magic.
const DIGEST_LEN: usize = 32;

/// The value of `--module-cache-dir` that turns the cache off.
pub const OFF: &str = "off";

/// Where the cache lives when `--module-cache-dir` is not given:
/// `$XDG_CACHE_HOME/sluice`, else `$HOME/.cache/sluice`; `None` (no cache)
/// when neither is set to an absolute path.
pub fn default_dir() -> Option<PathBuf> {
    let absolute = |name| std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_absolute());
    absolute("XDG_CACHE_HOME")
        .map(|dir| dir.join("sluice"))
        .or_else(|| absolute("HOME").map(|home| home.join(".cache").join("sluice")))
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
/// Only a compile error fails: every cache problem is logged and compiled
/// around.
pub fn load<A: Artifact>(
    dir: Option<&Path>,
    engine: &Engine,
    wasm: &[u8],
    name: &str,
) -> wasmtime::Result<(A, Source)> {
    let Some(dir) = dir else {
        let (artifact, ms) = timed(|| A::compile(engine, wasm))?;
        tracing::info!(module = name, compile_ms = ms, "compiled the module (module cache off)");
        return Ok((artifact, Source::Compiled));
    };
    let entry = dir.join(entry_name::<A>(engine, wasm));
    if let Some(artifact) = read_entry::<A>(&entry, engine, name) {
        tracing::info!(module = name, entry = %entry.display(), "module cache hit");
        return Ok((artifact, Source::Hit));
    }
    let (artifact, ms) = timed(|| A::compile(engine, wasm))?;
    let stored = match store(dir, &entry, &artifact) {
        Ok(()) => true,
        Err(reason) => {
            tracing::warn!(module = name, entry = %entry.display(), %reason, "cannot store the compiled module in the cache; the next start compiles again");
            false
        }
    };
    tracing::info!(module = name, compile_ms = ms, entry = %entry.display(), stored, "module cache miss: compiled the module");
    Ok((artifact, Source::Stored(stored)))
}

fn timed<T>(f: impl FnOnce() -> wasmtime::Result<T>) -> wasmtime::Result<(T, u128)> {
    let start = Instant::now();
    f().map(|t| (t, start.elapsed().as_millis()))
}

/// `<kind>-<sha256 of the wasm>-<engine hash>.cwasm`.
fn entry_name<A: Artifact>(engine: &Engine, wasm: &[u8]) -> String {
    let mut engine_hash = DigestHasher(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut engine_hash);
    engine_hash.0.update(env!("CARGO_PKG_VERSION").as_bytes());
    let engine_hash = hex(&engine_hash.0.finalize()[..8]);
    format!("{}-{}-{engine_hash}.cwasm", A::KIND, hex(&Sha256::digest(wasm)))
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

/// The artifact in `entry`, if there is a sound one.
fn read_entry<A: Artifact>(entry: &Path, engine: &Engine, name: &str) -> Option<A> {
    let bytes = match std::fs::read(entry) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return ignored(entry, name, &format!("cannot read it: {e}")),
    };
    let payload = match payload(&bytes) {
        Ok(payload) => payload,
        Err(reason) => return ignored(entry, name, reason),
    };
    // SAFETY: the payload is byte for byte what `store` wrote from
    // `A::serialize` (its SHA-256 matches), under a name that includes this
    // engine's compatibility hash, and wasmtime refuses another version or
    // configuration itself.
    match unsafe { A::deserialize(engine, payload) } {
        Ok(artifact) => Some(artifact),
        Err(e) => ignored(entry, name, &format!("wasmtime refused it: {e:#}")),
    }
}

fn ignored<A>(entry: &Path, name: &str, reason: &str) -> Option<A> {
    tracing::warn!(module = name, entry = %entry.display(), reason, "ignoring a bad module cache entry; compiling again");
    None
}

/// The payload of an entry, after checking its magic and digest.
fn payload(bytes: &[u8]) -> Result<&[u8], &'static str> {
    let rest = bytes.strip_prefix(MAGIC).ok_or("it does not start with the cache's magic line")?;
    if rest.len() < DIGEST_LEN {
        return Err("it is truncated");
    }
    let (digest, payload) = rest.split_at(DIGEST_LEN);
    match Sha256::digest(payload).as_slice() == digest {
        true => Ok(payload),
        false => Err("its SHA-256 does not match its contents"),
    }
}

/// Writes `artifact` to `entry` atomically: a temporary file in `dir`,
/// fsynced, renamed over `entry`.
fn store<A: Artifact>(dir: &Path, entry: &Path, artifact: &A) -> Result<(), String> {
    let payload = artifact.serialize().map_err(|e| format!("wasmtime cannot serialize it: {e:#}"))?;
    create_private_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let io = |e: std::io::Error| e.to_string();
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    file.write_all(MAGIC).map_err(io)?;
    file.write_all(&Sha256::digest(&payload)).map_err(io)?;
    file.write_all(&payload).map_err(io)?;
    file.as_file().sync_all().map_err(io)?;
    file.persist(entry).map_err(|e| e.error.to_string())?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::Module;

    const WAT: &str = r#"(module (func (export "answer") (result i32) i32.const 42))"#;

    fn engine() -> Engine {
        Engine::new(wasmtime::Config::new().epoch_interruption(true)).unwrap()
    }

    fn only_entry(dir: &Path) -> PathBuf {
        let entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        entries.into_iter().next().unwrap()
    }

    fn answer(engine: &Engine, module: &Module) -> i32 {
        let mut store = wasmtime::Store::new(engine, ());
        store.set_epoch_deadline(1);
        let instance = wasmtime::Instance::new(&mut store, module, &[]).unwrap();
        instance.get_typed_func::<(), i32>(&mut store, "answer").unwrap().call(&mut store, ()).unwrap()
    }

    #[test]
    fn a_module_is_compiled_once_then_loaded_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("sluice");
        let (engine, wasm) = (engine(), wat::parse_str(WAT).unwrap());
        let (_, source) = load::<Module>(Some(&cache), &engine, &wasm, "m.wasm").unwrap();
        assert_eq!(source, Source::Stored(true));
        let entry = only_entry(&cache);
        let name = entry.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(&format!("module-{}-", hex(&Sha256::digest(&wasm)))), "{name}");
        let (module, source) = load::<Module>(Some(&cache), &engine, &wasm, "m.wasm").unwrap();
        assert_eq!(source, Source::Hit);
        assert_eq!(answer(&engine, &module), 42);
        let (_, source) = load::<Module>(None, &engine, &wasm, "m.wasm").unwrap();
        assert_eq!(source, Source::Compiled);
    }

    #[test]
    fn a_corrupt_truncated_or_foreign_entry_is_compiled_again_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, wasm) = (engine(), wat::parse_str(WAT).unwrap());
        load::<Module>(Some(dir.path()), &engine, &wasm, "m.wasm").unwrap();
        let entry = only_entry(dir.path());
        let good = std::fs::read(&entry).unwrap();

        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        // Another engine's code under this engine's name: a valid digest
        // that wasmtime itself must refuse.
        let other = Engine::new(wasmtime::Config::new().consume_fuel(true)).unwrap();
        let foreign = Module::new(&other, &wasm).unwrap().serialize().unwrap();
        let mut foreign_entry = MAGIC.to_vec();
        foreign_entry.extend_from_slice(&Sha256::digest(&foreign));
        foreign_entry.extend_from_slice(&foreign);
        for bad in [flipped, good[..MAGIC.len() + 5].to_vec(), b"garbage".to_vec(), foreign_entry] {
            std::fs::write(&entry, &bad).unwrap();
            let (module, source) = load::<Module>(Some(dir.path()), &engine, &wasm, "m.wasm").unwrap();
            assert_eq!(source, Source::Stored(true));
            assert_eq!(answer(&engine, &module), 42);
            assert_eq!(std::fs::read(&entry).unwrap(), good, "the entry is rewritten");
        }
    }

    #[test]
    fn the_entry_name_changes_with_the_wasm_and_the_engine_settings() {
        let (engine, wasm) = (engine(), wat::parse_str(WAT).unwrap());
        let other_wasm = wat::parse_str(WAT.replace("42", "43")).unwrap();
        let other_engine = Engine::new(wasmtime::Config::new().consume_fuel(true)).unwrap();
        let name = entry_name::<Module>(&engine, &wasm);
        assert_eq!(name, entry_name::<Module>(&engine, &wasm));
        assert_ne!(name, entry_name::<Module>(&engine, &other_wasm));
        assert_ne!(name, entry_name::<Module>(&other_engine, &wasm));
    }

    #[test]
    fn an_unwritable_cache_is_logged_and_the_module_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let (engine, wasm) = (engine(), wat::parse_str(WAT).unwrap());
        let (_, source) = load::<Module>(Some(&file.join("sluice")), &engine, &wasm, "m.wasm").unwrap();
        assert_eq!(source, Source::Stored(false));
    }
}
