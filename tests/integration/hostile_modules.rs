//! A hostile module or module cache cannot turn the host against itself:
//! a compiled entry swapped in the cache is a miss (the right module runs),
//! a cache directory others can write is refused at start, the WASI stubs
//! stay inside the instance's memory cap and time limit, and a module that
//! loops on every record stalls the stream no longer than
//! `--max-consecutive-errors` × `--transform-timeout-ms`, each looping
//! record run once. `sluice.fail` with another signature is refused at
//! load, and the reason a module (or a component, `fail_component.wat`)
//! gives it is cut and escaped.
//!
//! The hostile modules are written here in WebAssembly text: a transform
//! that emits each record as it is, except those whose first key starts
//! with `h` (`{"hostile":...}`), on which it first does the hostile thing.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_tests::{
    Broker, Host, HostArgs, TestDirs, free_port, read_topic, run_to_exit, topic_name, transform, wait_for_count,
};

const WITHIN: Duration = Duration::from_secs(30);

/// A transform in WebAssembly text: `imports`, then `$hostile` is `body`,
/// run before a record whose first key starts with `h` is emitted. Input at
/// 1 KiB, outcomes at 64 KiB, 1 MiB of scratch from 1 MiB; it exports
/// `sluice_current_record`, as the Rust SDK's modules do.
fn hostile_module(dir: &Path, name: &str, imports: &str, body: &str) -> PathBuf {
    let wat = format!(
        r#"(module
        {imports}
        (memory (export "memory") 32)
        (global $current (mut i32) (i32.const -1))
        (data (i32.const 256) "looping on a record")
        (func (export "sluice_abi_version") (result i32) (i32.const 2))
        (func (export "sluice_buffer") (param i32) (result i32) (i32.const 1024))
        (func (export "sluice_init") (param i32) (result i64) (i64.const 1))
        (func (export "sluice_current_record") (result i32) (global.get $current))
        (func $hostile {body})
        (func (export "sluice_process") (param $count i32) (param $len i32) (result i64)
          (local $i i32) (local $p i32) (local $n i32) (local $out i32)
          (local.set $p (i32.const 1024))
          (local.set $out (i32.const 65536))
          (block $done
            (loop $next
              (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
              (global.set $current (local.get $i))
              (local.set $n (i32.load (local.get $p)))
              (if (i32.eq (i32.load8_u (i32.add (local.get $p) (i32.const 6))) (i32.const 0x68))
                (then (call $hostile)))
              ;; emit (tag 1), the value only (flags 2): the record; no headers
              (i32.store8 (local.get $out) (i32.const 1))
              (i32.store8 (i32.add (local.get $out) (i32.const 1)) (i32.const 2))
              (i32.store (i32.add (local.get $out) (i32.const 2)) (local.get $n))
              (memory.copy (i32.add (local.get $out) (i32.const 6)) (i32.add (local.get $p) (i32.const 4))
                (local.get $n))
              (local.set $out (i32.add (local.get $out) (i32.add (local.get $n) (i32.const 6))))
              (i32.store (local.get $out) (i32.const 0))
              (local.set $out (i32.add (local.get $out) (i32.const 4)))
              (local.set $p (i32.add (local.get $p) (i32.add (local.get $n) (i32.const 4))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $next)))
          (global.set $current (i32.const -1))
          (i64.or (i64.shl (i64.const 65536) (i64.const 32))
            (i64.extend_i32_u (i32.sub (local.get $out) (i32.const 65536))))))"#
    );
    let path = dir.join(name);
    std::fs::write(&path, wat::parse_str(wat).expect("valid wat")).unwrap();
    path
}

fn dead_letters(checkpoint: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(checkpoint.join("dead-letters.jsonl")).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).expect("dead letters are JSON lines")).collect()
}

fn start(dirs: &TestDirs, broker: &Broker, module: &Path, topic: &str, flags: &[&str]) -> Host {
    let args = HostArgs::new(dirs, module, topic, &broker.bootstrap).flags(&["--module-cache-dir", "off"]).flags(flags);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    host
}

/// The host's peak resident memory, in MiB (`VmHWM`).
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

fn values(records: &[sluice_tests::Record]) -> Vec<String> {
    let mut values: Vec<String> = records.iter().map(|r| r.value.clone().unwrap_or_default()).collect();
    values.sort();
    values
}

#[test]
fn random_get_of_2_gb_traps_within_the_memory_cap_and_the_stream_goes_on() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("random-get");
    broker.create_topic(&topic, 1);
    let imports = r#"(import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))"#;
    let body = "(drop (call $random (i32.const 0x100000) (i32.const 0x80000000)))";
    let module = hostile_module(dirs.root(), "random.wasm", imports, body);
    let host = start(&dirs, &broker, &module, &topic, &["--transform-memory-mb", "16"]);
    std::fs::write(dirs.landing().join("a.json"), "{\"id\":1}\n{\"hostile\":2}\n{\"id\":3}\n").unwrap();

    let records = wait_for_count(&broker.bootstrap, &topic, 0, 2, WITHIN);
    assert_eq!(values(&records), [r#"{"id":1}"#, r#"{"id":3}"#]);
    let letters = sluice_tests::poll_until(WITHIN, "the hostile record is dead-lettered", || {
        Some(dead_letters(&dirs.checkpoint())).filter(|l| !l.is_empty())
    });
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["line"], 2);
    assert_eq!(
        letters[0]["reason"],
        "transform random_get was given a region 0x100000+2147483648 outside the module's 2097152 bytes of memory"
    );
    let peak = peak_rss_mib(host.pid());
    assert!(peak < 512, "the host's peak RSS is {peak} MiB: it allocated what the module asked for");
    std::fs::write(dirs.landing().join("b.json"), "{\"id\":4}\n").unwrap();
    wait_for_count(&broker.bootstrap, &topic, 0, 3, WITHIN);
    assert!(host.stop().success());
}

#[test]
fn a_1_mib_fd_write_finishes_within_a_100_ms_time_limit() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("fd-write");
    broker.create_topic(&topic, 1);
    let imports = r#"(import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))"#;
    // A megabyte of empty lines, written to stdout as a runtime does: one
    // iovec, called again with what is left after a short write.
    let body = r#"
        (memory.fill (i32.const 0x100000) (i32.const 10) (i32.const 0x100000))
        (i32.store (i32.const 512) (i32.const 0x100000))
        (i32.store (i32.const 516) (i32.const 0x100000))
        (block $done
          (loop $more
            (br_if $done (i32.eqz (i32.load (i32.const 516))))
            (br_if $done (call $write (i32.const 1) (i32.const 512) (i32.const 1) (i32.const 520)))
            (i32.store (i32.const 512) (i32.add (i32.load (i32.const 512)) (i32.load (i32.const 520))))
            (i32.store (i32.const 516) (i32.sub (i32.load (i32.const 516)) (i32.load (i32.const 520))))
            (br $more)))"#;
    let module = hostile_module(dirs.root(), "write.wasm", imports, body);
    let host = start(&dirs, &broker, &module, &topic, &["--transform-timeout-ms", "100"]);
    std::fs::write(dirs.landing().join("a.json"), "{\"id\":1}\n{\"hostile\":2}\n{\"id\":3}\n").unwrap();

    let records = wait_for_count(&broker.bootstrap, &topic, 0, 3, WITHIN);
    assert_eq!(values(&records), [r#"{"hostile":2}"#, r#"{"id":1}"#, r#"{"id":3}"#], "nothing hit the time limit");
    assert!(dead_letters(&dirs.checkpoint()).is_empty());
    assert!(host.stop().success());
    assert!(host_log(&dirs).contains("log lines from the module suppressed"), "the flood was counted, not logged");
}

/// The last host log in the test's directory.
fn host_log(dirs: &TestDirs) -> String {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dirs.root())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("sluice-"))
        .collect();
    logs.sort();
    std::fs::read_to_string(logs.last().expect("a host log")).unwrap()
}

#[test]
fn a_module_that_loops_on_every_record_stalls_within_the_documented_bound() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("loop-every-record");
    broker.create_topic(&topic, 1);
    let imports = r#"(import "sluice" "log" (func $log (param i32 i32 i32)))"#;
    let body = "(call $log (i32.const 2) (i32.const 256) (i32.const 19)) (loop $forever (br $forever))";
    let module = hostile_module(dirs.root(), "loop.wasm", imports, body);
    let (max, timeout) = (4u32, Duration::from_millis(500));
    let flags = ["--max-consecutive-errors", &max.to_string(), "--transform-timeout-ms", "500"];
    let mut host = start(&dirs, &broker, &module, &topic, &flags);
    let text: String = (0..10).map(|i| format!("{{\"hostile\":{i}}}\n")).collect();
    let written = Instant::now();
    std::fs::write(dirs.landing().join("loops.json"), text).unwrap();

    let status = host.wait(WITHIN);
    let stall = written.elapsed();
    assert_eq!(status.code(), Some(1));
    let log = host.log();
    assert!(log.contains("failed 4 records in a row (the last: transform exceeded the time limit of 500 ms)"), "{log}");
    let runs = log.matches("looping on a record").count();
    assert_eq!(runs, max as usize, "each looping record is run once, until the limit: {log}");
    // The documented bound: max × timeout, plus a fresh instance per failure
    // and the time to find the file and stop (generous on a busy machine).
    let bound = timeout * max + Duration::from_secs(5);
    assert!(stall >= timeout * max && stall < bound, "stalled {stall:?}; the bound is {bound:?}");
    let letters = dead_letters(&dirs.checkpoint());
    let reasons: Vec<&str> = letters.iter().map(|l| l["reason"].as_str().unwrap()).collect();
    let mut expected = vec!["transform exceeded the time limit of 500 ms"; 4];
    expected.extend(["transform not run: it failed the 4 records before this one"; 6]);
    assert_eq!(reasons, expected);
    assert!(read_topic(&broker.bootstrap, &topic, 0).unwrap().is_empty());
}

/// A host that stops at start: its status and error line.
fn refused_at_start(args: &HostArgs) -> String {
    let argv: Vec<&str> = args.argv().iter().map(String::as_str).collect();
    let (status, stderr) = run_to_exit(&argv, WITHIN);
    assert_eq!(status.code(), Some(1), "exit status; stderr:\n{stderr}");
    stderr.lines().find_map(|l| l.strip_prefix("error: ")).expect("an `error:` line").to_owned()
}

#[test]
fn a_module_cache_directory_others_can_write_is_refused_at_start() {
    let dirs = TestDirs::new();
    let cache = dirs.root().join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o775)).unwrap();
    let nobody = format!("127.0.0.1:{}", free_port());
    let args = HostArgs::new(&dirs, &transform("fault_injector"), "t", &nobody)
        .flags(&["--module-cache-dir", cache.to_str().unwrap()]);
    let error = refused_at_start(&args);
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    assert!(
        error.starts_with(&format!(
            "module cache directory {} is writable by group or others (owner uid {me}, mode 0775)",
            cache.display()
        )),
        "{error}"
    );
    assert!(!dirs.checkpoint().exists(), "nothing is read before the module is loaded");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0, "nothing is written into it");
}

#[test]
fn a_compiled_entry_swapped_into_the_cache_is_a_miss_and_the_right_module_runs() {
    let dirs = TestDirs::new();
    let cache = dirs.root().join("cache");
    let cache_flag = ["--module-cache-dir", cache.to_str().unwrap()];
    let entries = || -> Vec<PathBuf> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
        entries.retain(|p| p.extension().is_some_and(|e| e == "cwasm"));
        entries
    };
    let check = |module: &Path| {
        let (status, stderr) =
            run_to_exit(&[&["check", "--transform", module.to_str().unwrap()][..], &cache_flag].concat(), WITHIN);
        assert!(status.success(), "{stderr}");
    };
    check(&transform("fault_injector"));
    let foreign = entries().pop().expect("fault_injector's entry");
    check(&transform("sql"));
    let sql_entry = entries().into_iter().find(|e| *e != foreign).expect("sql's entry");
    // Someone who can write the cache puts other code under sql.wasm's name.
    std::fs::copy(&foreign, &sql_entry).unwrap();

    let broker = Broker::start(dirs.root());
    let topic = topic_name("swapped-entry");
    broker.create_topic(&topic, 1);
    let args =
        HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap).config("key", "id").flags(&cache_flag);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    let log = host.log();
    assert!(log.contains("ignoring a module cache entry"), "{log}");
    assert!(log.contains("it was compiled from another module"), "{log}");
    assert!(log.contains("module cache miss: compiled the module"), "{log}");
    std::fs::write(dirs.landing().join("a.json"), "{\"id\":1}\n{\"id\":2}\n").unwrap();

    let records = wait_for_count(&broker.bootstrap, &topic, 0, 2, WITHIN);
    let mut keys: Vec<&str> = records.iter().map(|r| r.key.as_deref().unwrap()).collect();
    keys.sort();
    assert_eq!(keys, ["1", "2"], "sql.wasm's keys");
    assert!(records.iter().all(|r| r.headers.is_empty()), "no fault_injector header: {records:?}");
    assert!(host.stop().success());
    assert_ne!(std::fs::read(&sql_entry).unwrap(), std::fs::read(&foreign).unwrap(), "the entry was replaced");
}

#[test]
fn sluice_fail_with_a_wrong_signature_is_refused_naming_both() {
    let dirs = TestDirs::new();
    let imports = r#"(import "sluice" "fail" (func $fail (param i32) (result i32)))"#;
    let module = hostile_module(dirs.root(), "bad-fail.wasm", imports, "(drop (call $fail (i32.const 0)))");
    let (status, stderr) = run_to_exit(&["check", "--transform", module.to_str().unwrap()], WITHIN);
    assert_eq!(status.code(), Some(1), "{stderr}");
    let error = format!(
        "error: transform {} imports `sluice.fail` as func(i32) -> i32, but sluice provides it as func(i32, i32); \
         see guest-sdk/ABI.md\n",
        module.display()
    );
    assert!(stderr.ends_with(&error), "{stderr}");
}

#[test]
fn sluice_fail_stops_the_batch_with_its_reason_cut_and_escaped() {
    let dirs = TestDirs::new();
    let imports = r#"(import "sluice" "fail" (func $fail (param i32 i32)))"#;
    // At 1 MiB: "x\n\x1b[", "looping on a record", 2 KiB of "y"; a second
    // call's reason is not heard.
    let body = r#"
        (i32.store (i32.const 0x100000) (i32.const 0x5b1b0a78))
        (memory.copy (i32.const 0x100004) (i32.const 256) (i32.const 19))
        (memory.fill (i32.const 0x100017) (i32.const 0x79) (i32.const 2048))
        (call $fail (i32.const 0x100000) (i32.const 2071))
        (call $fail (i32.const 256) (i32.const 7))"#;
    let module = hostile_module(dirs.root(), "fail.wasm", imports, body);
    let input = dirs.root().join("in.jsonl");
    std::fs::write(&input, "{\"id\":1}\n{\"hostile\":2}\n{\"id\":3}\n").unwrap();
    let (status, stderr) =
        run_to_exit(&["test", "--transform", module.to_str().unwrap(), "-i", input.to_str().unwrap()], WITHIN);
    assert_eq!(status.code(), Some(1), "{stderr}");
    let reason = format!("x\\n\\u{{1b}}[looping on a record{}... (1047 more bytes)", "y".repeat(1024 - 23));
    assert!(stderr.ends_with(&format!("error: the module stopped the stream: {reason}\n")), "{stderr}");
}

#[test]
fn a_component_s_fail_stops_the_test_with_its_reason_escaped() {
    let dirs = TestDirs::new();
    let module = dirs.root().join("fail_component.wasm");
    std::fs::write(&module, wat::parse_str(include_str!("fail_component.wat")).expect("valid wat")).unwrap();
    let test = |records: &str| {
        let input = dirs.root().join("in.jsonl");
        std::fs::write(&input, records).unwrap();
        run_to_exit(&["test", "--transform", module.to_str().unwrap(), "-i", input.to_str().unwrap()], WITHIN)
    };
    let (status, stderr) = test("{\"ok\":1}\n{\"fail\":2}\n");
    assert_eq!(status.code(), Some(0), "a batch that does not call it is kept: {stderr}");
    let (status, stderr) = test("{\"fail\":1}\n{\"ok\":2}\n");
    assert_eq!(status.code(), Some(1), "{stderr}");
    let error = "error: the module stopped the stream: the first record\\n\\u{1b}[31mcannot go on\n";
    assert!(stderr.ends_with(error), "{stderr}");
}
