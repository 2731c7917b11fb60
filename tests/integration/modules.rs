//! Start-up checks of the transform module: a bad module makes `sluice run`
//! exit non-zero with a clear error before anything is read (the checkpoint
//! directory is never even created); one that stops the stream in its init
//! (`sluice.fail`) fails `sluice check`.

use std::path::Path;
use std::time::Duration;

use sluice_tests::{HostArgs, TestDirs, free_port, run_to_exit, transform};

/// Exports of a well-formed module, minus whatever a test leaves out.
const MEMORY: &str = r#"(memory (export "memory") 1)"#;
const VERSION_1: &str = r#"(func (export "sluice_abi_version") (result i32) i32.const 1)"#;
const BUFFER: &str = r#"(func (export "sluice_buffer") (param i32) (result i32) i32.const 1024)"#;
const INIT: &str = r#"(func (export "sluice_init") (param i32) (result i64) i64.const 1)"#;
const PROCESS: &str = r#"(func (export "sluice_process") (param i32 i32) (result i64) i64.const 0)"#;

fn module(dir: &Path, name: &str, parts: &[&str]) -> std::path::PathBuf {
    let wasm = wat::parse_str(format!("(module {})", parts.join("\n"))).expect("valid wat");
    let path = dir.join(name);
    std::fs::write(&path, wasm).unwrap();
    path
}

/// Runs `sluice run` with `module` against a port nobody listens on, with a
/// record waiting in the landing zone; returns the error text.
fn refused(module: &Path, config: &[(&str, &str)]) -> String {
    let dirs = TestDirs::new();
    std::fs::copy(sluice_tests::invoice_file(1), dirs.landing().join("waiting.json")).unwrap();
    let nobody = format!("127.0.0.1:{}", free_port());
    let args = config.iter().fold(HostArgs::new(&dirs, module, "t", &nobody), |a, (k, v)| a.config(k, v));
    let argv: Vec<&str> = args.argv().iter().map(String::as_str).collect();
    let (status, stderr) = run_to_exit(&argv, Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "exit status; stderr:\n{stderr}");
    assert!(!dirs.checkpoint().exists(), "nothing may be read before the module is checked");
    let error = stderr.lines().find_map(|l| l.strip_prefix("error: ")).expect("an `error:` line");
    error.to_owned()
}

#[test]
fn a_file_that_is_not_wasm_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.wasm");
    std::fs::write(&path, "this is not wasm").unwrap();
    let error = refused(&path, &[]);
    assert_eq!(
        error,
        format!("transform {} is not a WebAssembly module (it does not start with the \\0asm header)", path.display())
    );
}

#[test]
fn a_missing_export_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = module(dir.path(), "no-process.wasm", &[MEMORY, VERSION_1, BUFFER, INIT]);
    let error = refused(&path, &[]);
    assert_eq!(
        error,
        format!(
            "transform {} does not export `sluice_process` (func(i32, i32) -> i64); see guest-sdk/ABI.md",
            path.display()
        )
    );
}

#[test]
fn a_wrong_signature_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad_init = r#"(func (export "sluice_init") (param i32) (result i32) i32.const 0)"#;
    let path = module(dir.path(), "bad-init.wasm", &[MEMORY, VERSION_1, BUFFER, bad_init, PROCESS]);
    let error = refused(&path, &[]);
    assert_eq!(
        error,
        format!(
            "transform {} exports `sluice_init` as func(i32) -> i32, but the ABI requires func(i32) -> i64",
            path.display()
        )
    );
}

#[test]
fn a_wrong_abi_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let version_3 = r#"(func (export "sluice_abi_version") (result i32) i32.const 3)"#;
    let path = module(dir.path(), "v3.wasm", &[MEMORY, version_3, BUFFER, INIT, PROCESS]);
    let error = refused(&path, &[]);
    assert_eq!(
        error,
        format!("transform {} speaks ABI version 3, but this sluice speaks versions 1 and 2", path.display())
    );
}

#[test]
fn a_module_importing_outside_the_allowed_set_is_refused_naming_the_import() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#;
    let socket = r#"(import "wasi_snapshot_preview1" "sock_open" (func (param i32 i32 i32) (result i32)))"#;
    let clock = r#"(import "env" "now" (func (result i64)))"#;
    let parts = [allowed, socket, clock, MEMORY, VERSION_1, BUFFER, INIT, PROCESS];
    let path = module(dir.path(), "imports.wasm", &parts);
    let error = refused(&path, &[]);
    assert_eq!(
        error,
        format!(
            "transform {} imports `wasi_snapshot_preview1.sock_open`, `env.now`, which sluice does not provide; \
             a module may import only `sluice.log`, `sluice.fail` and the sandboxed `wasi_snapshot_preview1` \
             functions listed in guest-sdk/ABI.md",
            path.display()
        )
    );
}

#[test]
fn a_version_1_module_importing_sluice_fail_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fail = r#"(import "sluice" "fail" (func (param i32 i32)))"#;
    let path = module(dir.path(), "v1-fail.wasm", &[fail, MEMORY, VERSION_1, BUFFER, INIT, PROCESS]);
    let error = refused(&path, &[]);
    let want = "imports `sluice.fail`, which needs ABI version 2, but it speaks version 1";
    assert_eq!(error, format!("transform {} {want}", path.display()));
}

#[test]
fn sluice_check_reports_a_module_that_stops_the_stream_in_init() {
    let dir = tempfile::tempdir().unwrap();
    let fail = r#"(import "sluice" "fail" (func $fail (param i32 i32)))"#;
    let version_2 = r#"(func (export "sluice_abi_version") (result i32) i32.const 2)"#;
    let reason = r#"(data (i32.const 16) "no broker for this config")"#;
    let init = r#"(func (export "sluice_init") (param i32) (result i64)
        (call $fail (i32.const 16) (i32.const 25)) i64.const 1)"#;
    let path = module(dir.path(), "init-fail.wasm", &[fail, MEMORY, reason, version_2, BUFFER, init, PROCESS]);
    let (status, stderr) = run_to_exit(&["check", "--transform", path.to_str().unwrap()], Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.ends_with("error: the module stopped the stream: no broker for this config\n"), "{stderr}");
}

#[test]
fn a_component_importing_what_the_world_does_not_grant_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = wat::parse_str(
        r#"(component
            (import "sluice:transform/host@1.0.0" (instance))
            (import "wasi:cli/environment@0.2.6" (instance))
            (import "wasi:filesystem/preopens@0.2.6" (instance)))"#,
    )
    .expect("valid wat");
    let path = dir.path().join("wants-wasi.wasm");
    std::fs::write(&path, wasm).unwrap();
    let error = refused(&path, &[]);
    assert_eq!(
        error,
        format!(
            "transform {} is a component that imports `wasi:cli/environment@0.2.6`, \
             `wasi:filesystem/preopens@0.2.6`, which sluice does not provide; a component may import only \
             `sluice:transform/host@1.0.0` (see guest-sdk/COMPONENTS.md): no WASI",
            path.display()
        )
    );
}

#[test]
fn a_bad_where_expression_fails_at_init_and_points_at_it() {
    let sql = transform("sql");
    let error = refused(&sql, &[("where", "StoreID = ")]);
    let prefix = format!("transform {} refused its configuration: `where`: ", sql.display());
    assert!(error.starts_with(&prefix), "{error}");
    assert!(error.contains("column 11"), "{error}");
    let error = refused(&transform("invoice_by_store"), &[("store", "STR7188")]);
    assert!(
        error.ends_with("refused its configuration: unknown config `store`; this transform accepts: store_id"),
        "{error}"
    );
}
