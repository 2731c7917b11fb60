//! Loading a transform module and checking it against the ABI before any
//! record is read: the file is wasm, it imports nothing outside the allowed
//! set (`sluice.log` and `sluice.fail` with their exact types, the WASI
//! preview 1 stubs of [`super::wasi`]), and it exports every
//! required function with its exact signature. [`read`] and [`compile`]
//! serve components too ([`super::component`] checks their imports).

use std::path::{Path, PathBuf};

use super::cache::CacheError;
use sluice_guest_sdk::abi;
use wasmtime::{ExternType, FuncType, Module, ValType};

/// Why a module cannot be used; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The file could not be read.
    #[error("cannot read transform {path}: {reason}{}", where_modules_are(reason))]
    Read {
        /// The module file.
        path: PathBuf,
        /// Why.
        reason: std::io::Error,
    },
    /// The file is not a wasm binary.
    #[error("transform {path} is not a WebAssembly module (it does not start with the \\0asm header)")]
    NotWasm {
        /// The module file.
        path: PathBuf,
    },
    /// The module cache could be written by someone other than the running user.
    #[error(transparent)]
    UnsafeCache(#[from] super::cache::Unsafe),
    /// wasmtime refused to compile it.
    #[error("transform {path} does not compile: {reason}")]
    Compile {
        /// The module file.
        path: PathBuf,
        /// wasmtime's reason.
        reason: String,
    },
    /// It imports something outside the allowed set; transforms get no host access.
    #[error(
        "transform {path} imports {imports}, which sluice does not provide; a module may import \
         only `sluice.log`, `sluice.fail` and the sandboxed `wasi_snapshot_preview1` functions listed in \
         guest-sdk/ABI.md"
    )]
    Imports {
        /// The module file.
        path: PathBuf,
        /// The imports, `module.name`.
        imports: String,
    },
    /// It imports a host function of sluice's with the wrong type.
    #[error(
        "transform {path} imports `sluice.{name}` as {found}, but sluice provides it as {expected}; see guest-sdk/ABI.md"
    )]
    WrongImport {
        /// The module file.
        path: PathBuf,
        /// The host function.
        name: &'static str,
        /// Its type.
        expected: &'static str,
        /// What the module asks for.
        found: String,
    },
    /// A component imports something the world does not grant.
    #[error(
        "transform {path} is a component that imports {imports}, which sluice does not provide; a component \
         may import only `{host}` (see guest-sdk/COMPONENTS.md): no WASI"
    )]
    ComponentImports {
        /// The component file.
        path: PathBuf,
        /// The imports, by name.
        imports: String,
        /// The one interface a component may import.
        host: &'static str,
    },
    /// A required export is missing.
    #[error("transform {path} does not export `{name}` ({expected}); see guest-sdk/ABI.md")]
    MissingExport {
        /// The module file.
        path: PathBuf,
        /// The export.
        name: &'static str,
        /// Its required type.
        expected: &'static str,
    },
    /// A required export has the wrong type.
    #[error("transform {path} exports `{name}` as {found}, but the ABI requires {expected}")]
    WrongExport {
        /// The module file.
        path: PathBuf,
        /// The export.
        name: &'static str,
        /// Its required type.
        expected: &'static str,
        /// What the module has.
        found: String,
    },
}

/// The function exports the ABI requires: name, params, results, and how to say it.
const REQUIRED: [(&str, &[ValType], &[ValType], &str); 4] = [
    (abi::EXPORT_ABI_VERSION, &[], &[ValType::I32], "func() -> i32"),
    (abi::EXPORT_BUFFER, &[ValType::I32], &[ValType::I32], "func(i32) -> i32"),
    (abi::EXPORT_INIT, &[ValType::I32], &[ValType::I64], "func(i32) -> i64"),
    (abi::EXPORT_PROCESS, &[ValType::I32, ValType::I32], &[ValType::I64], "func(i32, i32) -> i64"),
];

/// The host functions a version-2 module may import from `sluice`: name,
/// params, results, and how to say it.
const HOST: [(&str, &[ValType], &[ValType], &str); 2] = [
    (abi::IMPORT_LOG, &[ValType::I32, ValType::I32, ValType::I32], &[], "func(i32, i32, i32)"),
    (abi::IMPORT_FAIL, &[ValType::I32, ValType::I32], &[], "func(i32, i32)"),
];

/// Compiles (or takes from the cache in `cache`, see [`super::cache`]) and
/// checks the module in `bytes`, read from `path`.
pub fn load(engine: &wasmtime::Engine, path: &Path, bytes: &[u8], cache: Option<&Path>) -> Result<Module, ModuleError> {
    let module = compile(engine, path, bytes, cache)?;
    check_imports(&module, path)?;
    check_exports(&module, path)?;
    Ok(module)
}

/// The bytes of the wasm file at `path`, refused unless they start with the
/// wasm magic.
pub fn read(path: &Path) -> Result<Vec<u8>, ModuleError> {
    let bytes = std::fs::read(path).map_err(|reason| ModuleError::Read { path: path.to_owned(), reason })?;
    match bytes.starts_with(b"\0asm") {
        true => Ok(bytes),
        false => Err(ModuleError::NotWasm { path: path.to_owned() }),
    }
}

/// Where the example modules are, for a module file that is not there.
fn where_modules_are(reason: &std::io::Error) -> &'static str {
    match reason.kind() {
        std::io::ErrorKind::NotFound => {
            " (scripts/build-transforms builds the modules of transforms/ into target/transforms/<name>.wasm)"
        }
        _ => "",
    }
}

/// Compiles `bytes` (the file `path`) as an `A`, through the cache.
pub fn compile<A: super::cache::Artifact>(
    engine: &wasmtime::Engine,
    path: &Path,
    bytes: &[u8],
    cache: Option<&Path>,
) -> Result<A, ModuleError> {
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    match super::cache::load::<A>(cache, engine, bytes, &name) {
        Ok((artifact, _)) => Ok(artifact),
        Err(CacheError::Unsafe(unsafe_cache)) => Err(unsafe_cache.into()),
        Err(CacheError::Compile(e)) => Err(ModuleError::Compile { path: path.to_owned(), reason: format!("{e:#}") }),
    }
}

fn check_imports(module: &Module, path: &Path) -> Result<(), ModuleError> {
    for import in module.imports().filter(|i| i.module() == abi::IMPORT_MODULE) {
        let Some(&(name, params, results, expected)) = HOST.iter().find(|h| h.0 == import.name()) else { continue };
        match import.ty() {
            ExternType::Func(f) if same_signature(&f, params, results) => {}
            other => {
                let found = describe(&other);
                return Err(ModuleError::WrongImport { path: path.to_owned(), name, expected, found });
            }
        }
    }
    let imports: Vec<String> = module
        .imports()
        .filter(|i| !is_host_import(i) && !super::wasi::is_allowed(i.module(), i.name()))
        .map(|i| format!("`{}.{}`", i.module(), i.name()))
        .collect();
    if imports.is_empty() {
        return Ok(());
    }
    Err(ModuleError::Imports { path: path.to_owned(), imports: list_imports(&imports) })
}

/// Names the first three refused imports and counts the rest.
pub fn list_imports(imports: &[String]) -> String {
    match imports.len() > 3 {
        true => format!("{} and {} more", imports[..3].join(", "), imports.len() - 3),
        false => imports.join(", "),
    }
}

/// One of sluice's [`HOST`] functions (`sluice.log`, `sluice.fail`);
/// [`check_imports`] has already refused one with another type.
fn is_host_import(import: &wasmtime::ImportType<'_>) -> bool {
    import.module() == abi::IMPORT_MODULE && HOST.iter().any(|h| h.0 == import.name())
}

fn check_exports(module: &Module, path: &Path) -> Result<(), ModuleError> {
    match module.get_export(abi::EXPORT_MEMORY) {
        Some(ExternType::Memory(_)) => {}
        Some(other) => return Err(wrong(path, abi::EXPORT_MEMORY, "a memory", describe(&other))),
        None => return Err(missing(path, abi::EXPORT_MEMORY, "a memory")),
    }
    for (name, params, results, expected) in REQUIRED {
        match module.get_export(name) {
            Some(ExternType::Func(f)) if same_signature(&f, params, results) => {}
            Some(other) => return Err(wrong(path, name, expected, describe(&other))),
            None => return Err(missing(path, name, expected)),
        }
    }
    // Optional, but when it is there its answer decides what is run again.
    match module.get_export(abi::EXPORT_CURRENT_RECORD) {
        Some(ExternType::Func(f)) if same_signature(&f, &[], &[ValType::I32]) => Ok(()),
        Some(other) => Err(wrong(path, abi::EXPORT_CURRENT_RECORD, "func() -> i32", describe(&other))),
        None => Ok(()),
    }
}

fn missing(path: &Path, name: &'static str, expected: &'static str) -> ModuleError {
    ModuleError::MissingExport { path: path.to_owned(), name, expected }
}

fn wrong(path: &Path, name: &'static str, expected: &'static str, found: String) -> ModuleError {
    ModuleError::WrongExport { path: path.to_owned(), name, expected, found }
}

fn same_signature(f: &FuncType, params: &[ValType], results: &[ValType]) -> bool {
    let same = |a: &mut dyn ExactSizeIterator<Item = ValType>, b: &[ValType]| {
        a.len() == b.len() && a.zip(b).all(|(x, y)| ValType::eq(&x, y))
    };
    same(&mut f.params(), params) && same(&mut f.results(), results)
}

fn describe(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => {
            let list =
                |types: &mut dyn Iterator<Item = ValType>| types.map(|t| t.to_string()).collect::<Vec<_>>().join(", ");
            let results = list(&mut f.results());
            match results.is_empty() {
                true => format!("func({})", list(&mut f.params())),
                false => format!("func({}) -> {results}", list(&mut f.params())),
            }
        }
        ExternType::Memory(_) => "a memory".into(),
        ExternType::Global(_) => "a global".into(),
        ExternType::Table(_) => "a table".into(),
        ExternType::Tag(_) => "a tag".into(),
    }
}
