use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use wasmtime::Module;

const WAT: &str = r#"(module (func (export "answer") (result i32) i32.const 42))"#;

fn engine() -> Engine {
    Engine::new(wasmtime::Config::new().epoch_interruption(true)).unwrap()
}

fn wasm(answer: i32) -> Vec<u8> {
    wat::parse_str(WAT.replace("42", &answer.to_string())).unwrap()
}

/// The entries of `dir` (its key left out).
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.retain(|p| p.file_name().unwrap() != dir::KEY_FILE);
    entries.sort();
    entries
}

fn only_entry(dir: &Path) -> PathBuf {
    let entries = entries(dir);
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.into_iter().next().unwrap()
}

fn answer(engine: &Engine, module: &Module) -> i32 {
    let mut store = wasmtime::Store::new(engine, ());
    store.set_epoch_deadline(1);
    let instance = wasmtime::Instance::new(&mut store, module, &[]).unwrap();
    instance.get_typed_func::<(), i32>(&mut store, "answer").unwrap().call(&mut store, ()).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

fn load_answer(dir: &Path, engine: &Engine, wasm: &[u8]) -> (i32, Source) {
    let (module, source) = load::<Module>(Some(dir), engine, wasm, "m.wasm").unwrap();
    (answer(engine, &module), source)
}

#[test]
fn a_module_is_compiled_once_then_loaded_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("sluice");
    let (engine, wasm) = (engine(), wasm(42));
    let (_, source) = load::<Module>(Some(&cache), &engine, &wasm, "m.wasm").unwrap();
    assert_eq!(source, Source::Stored(true));
    let entry = only_entry(&cache);
    let name = entry.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with(&format!("module-{}-", hex(&Sha256::digest(&wasm)))), "{name}");
    assert_eq!(load_answer(&cache, &engine, &wasm), (42, Source::Hit));
    let (_, source) = load::<Module>(None, &engine, &wasm, "m.wasm").unwrap();
    assert_eq!(source, Source::Compiled);
}

#[test]
fn the_directory_entries_and_key_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("a").join("sluice");
    load::<Module>(Some(&cache), &engine(), &wasm(42), "m.wasm").unwrap();
    assert_eq!((mode(&dir.path().join("a")), mode(&cache)), (0o700, 0o700));
    assert_eq!(mode(&only_entry(&cache)), 0o600);
    let key = cache.join(dir::KEY_FILE);
    assert_eq!((mode(&key), std::fs::read(&key).unwrap().len()), (0o600, dir::KEY_LEN));
}

#[test]
fn a_corrupt_truncated_or_foreign_entry_is_compiled_again_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, wasm) = (engine(), wasm(42));
    load::<Module>(Some(dir.path()), &engine, &wasm, "m.wasm").unwrap();
    let entry = only_entry(dir.path());
    let good = std::fs::read(&entry).unwrap();

    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 1;
    // Another engine's code under this engine's name, authenticated with
    // this cache's key: wasmtime itself must refuse it.
    let other = Engine::new(wasmtime::Config::new().consume_fuel(true)).unwrap();
    let cache = Cache::open(dir.path()).unwrap().unwrap();
    let (foreign, name) = (Module::new(&other, &wasm).unwrap(), Entry::new::<Module>(&engine, &wasm));
    cache.store(&name, &foreign).unwrap();
    let foreign_entry = std::fs::read(&entry).unwrap();
    assert_ne!(foreign_entry, good);
    for bad in [flipped, good[..MAGIC.len() + 5].to_vec(), b"garbage".to_vec(), foreign_entry] {
        std::fs::write(&entry, &bad).unwrap();
        assert_eq!(load_answer(dir.path(), &engine, &wasm), (42, Source::Stored(true)));
        assert_eq!(std::fs::read(&entry).unwrap(), good, "the entry is rewritten");
    }
}

#[test]
fn an_entry_copied_over_another_modules_name_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, (this, other)) = (engine(), (wasm(42), wasm(7)));
    load::<Module>(Some(dir.path()), &engine, &other, "other.wasm").unwrap();
    let other_entry = only_entry(dir.path());
    load::<Module>(Some(dir.path()), &engine, &this, "m.wasm").unwrap();
    let this_entry = entries(dir.path()).into_iter().find(|e| *e != other_entry).unwrap();
    std::fs::copy(&other_entry, &this_entry).unwrap();
    assert_eq!(load_answer(dir.path(), &engine, &this), (42, Source::Stored(true)), "the module's own code runs");
    assert_eq!(load_answer(dir.path(), &engine, &this), (42, Source::Hit));
}

#[test]
fn an_entry_from_another_cache_is_a_miss() {
    let (mine, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (engine, wasm) = (engine(), wasm(42));
    load::<Module>(Some(mine.path()), &engine, &wasm, "m.wasm").unwrap();
    load::<Module>(Some(theirs.path()), &engine, &wasm, "m.wasm").unwrap();
    let (entry, good) = (only_entry(mine.path()), std::fs::read(only_entry(mine.path())).unwrap());
    std::fs::copy(only_entry(theirs.path()), &entry).unwrap();
    assert_ne!(std::fs::read(&entry).unwrap(), good, "another key, another HMAC");
    assert_eq!(load_answer(mine.path(), &engine, &wasm), (42, Source::Stored(true)));
    assert_eq!(std::fs::read(&entry).unwrap(), good);
}

#[test]
fn a_linked_or_group_writable_entry_is_a_miss_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, wasm) = (engine(), wasm(42));
    load::<Module>(Some(dir.path()), &engine, &wasm, "m.wasm").unwrap();
    let entry = only_entry(dir.path());
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("entry");
    std::fs::rename(&entry, &target).unwrap();
    std::os::unix::fs::symlink(&target, &entry).unwrap();
    assert_eq!(load_answer(dir.path(), &engine, &wasm), (42, Source::Stored(true)));
    assert!(!std::fs::symlink_metadata(&entry).unwrap().is_symlink(), "the link itself is replaced");
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o620)).unwrap();
    assert_eq!(load_answer(dir.path(), &engine, &wasm), (42, Source::Stored(true)));
    assert_eq!(mode(&entry), 0o600);
}

#[test]
fn a_directory_or_key_others_can_write_is_refused_naming_path_owner_and_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, wasm) = (engine(), wasm(42));
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o775)).unwrap();
    let Err(CacheError::Unsafe(error)) = load::<Module>(Some(dir.path()), &engine, &wasm, "m.wasm") else {
        panic!("a group-writable directory is refused")
    };
    let me = rustix::process::geteuid().as_raw();
    let expected = format!(
        "module cache directory {} is writable by group or others (owner uid {me}, mode 0775)",
        dir.path().display()
    );
    assert!(error.to_string().starts_with(&expected), "{error}");
    assert!(entries(dir.path()).is_empty(), "nothing compiled into it");

    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    load::<Module>(Some(dir.path()), &engine, &wasm, "m.wasm").unwrap();
    let key = dir.path().join(dir::KEY_FILE);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let Err(CacheError::Unsafe(error)) = load::<Module>(Some(dir.path()), &engine, &wasm, "m.wasm") else {
        panic!("a group-readable key is refused")
    };
    let expected = format!("module cache key {} is readable or writable by group or others", key.display());
    assert!(error.to_string().starts_with(&expected), "{error}");
    assert!(error.to_string().contains("mode 0640"), "{error}");
}

#[test]
fn the_entry_name_changes_with_the_wasm_and_the_engine_settings() {
    let (engine, wasm) = (engine(), wasm(42));
    let other_engine = Engine::new(wasmtime::Config::new().consume_fuel(true)).unwrap();
    let name = |engine: &Engine, wasm: &[u8]| Entry::new::<Module>(engine, wasm).name;
    assert_eq!(name(&engine, &wasm), name(&engine, &wasm));
    assert_ne!(name(&engine, &wasm), name(&engine, &super::tests::wasm(43)));
    assert_ne!(name(&engine, &wasm), name(&other_engine, &wasm));
    assert!(name(&engine, &wasm).ends_with(&format!("-{FORMAT}.cwasm")));
}

#[test]
fn an_unwritable_cache_is_logged_and_the_module_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let (engine, wasm) = (engine(), wasm(42));
    let (_, source) = load::<Module>(Some(&file.join("sluice")), &engine, &wasm, "m.wasm").unwrap();
    assert_eq!(source, Source::Stored(false));
}
