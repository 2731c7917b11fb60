use super::*;

#[test]
fn the_clock_starts_at_zero() {
    let mut wasi = Wasi::new(GuestLog::new("a".into()));
    assert_eq!((wasi.tick(), wasi.tick()), (CLOCK_STEP_NS, 2 * CLOCK_STEP_NS));
}

/// A module that asks for the clock twice, 8 random bytes, the argument
/// count and a file, writes a line to stderr and exits with code 2.
const GUEST: &str = r#"(module
    (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
    (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "args_sizes_get" (func $args (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "path_open"
        (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (data (i32.const 100) "panic: boom\n")
    (func (export "probe") (result i64 i64 i64 i32 i32 i32)
        (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 0)))
        (drop (call $clock (i32.const 0) (i64.const 0) (i32.const 8)))
        (drop (call $random (i32.const 16) (i32.const 8)))
        (i32.store (i32.const 24) (i32.const 99))
        (drop (call $args (i32.const 24) (i32.const 28)))
        (i64.load (i32.const 0)) (i64.load (i32.const 8)) (i64.load (i32.const 16))
        (i32.load (i32.const 24))
        (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 4) (i32.const 0)
            (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 32))
        (call $write (i32.const 7) (i32.const 0) (i32.const 0) (i32.const 0)))
    (func (export "crash")
        (i32.store (i32.const 40) (i32.const 100))
        (i32.store (i32.const 44) (i32.const 12))
        (drop (call $write (i32.const 2) (i32.const 40) (i32.const 1) (i32.const 48)))
        (call $exit (i32.const 2))))"#;

/// An instance of `wat` with the stub set, and its store.
fn instantiate(wat: &str) -> (wasmtime::Store<Wasi>, wasmtime::Instance) {
    let engine = Engine::default();
    let module = wasmtime::Module::new(&engine, wat::parse_str(wat).unwrap()).unwrap();
    let mut linker = Linker::new(&engine);
    add_to_linker(&engine, &mut linker, |w: &mut Wasi| w).unwrap();
    let mut store = wasmtime::Store::new(&engine, Wasi::new(GuestLog::new("guest.wasm".into())));
    let instance = linker.instantiate(&mut store, &module).unwrap();
    (store, instance)
}

#[test]
fn a_guest_sees_only_the_sandbox() {
    let (mut store, instance) = instantiate(GUEST);
    let probe = instance.get_typed_func::<(), (i64, i64, i64, i32, i32, i32)>(&mut store, "probe").unwrap();
    let (t1, t2, random, argc, open, write) = probe.call(&mut store, ()).unwrap();
    assert_eq!((t1, t2), (1_000, 2_000), "a virtual clock from 0");
    assert_eq!((argc, open, write), (0, EBADF, EBADF));
    let (mut other_store, other) = instantiate(GUEST);
    let probe = other.get_typed_func::<(), (i64, i64, i64, i32, i32, i32)>(&mut other_store, "probe").unwrap();
    assert_ne!(random, probe.call(&mut other_store, ()).unwrap().2, "each instance its own random numbers");

    let crash = instance.get_typed_func::<(), ()>(&mut store, "crash").unwrap();
    let error = crash.call(&mut store, ()).unwrap_err();
    let exit = error.downcast_ref::<ProcExit>().expect("proc_exit traps");
    assert_eq!(exit.to_string(), "called proc_exit(2) after writing to stderr: panic: boom");
}

#[test]
fn allows_the_set_and_nothing_else() {
    assert!(is_allowed(MODULE, "fd_write"));
    assert!(is_allowed(MODULE, "path_open"));
    assert!(!is_allowed(MODULE, "fd_frobnicate"));
    assert!(!is_allowed("env", "fd_write"));
}

/// A module that calls `random_get` and `fd_write` with what it is given.
const HOSTILE: &str = r#"(module
    (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 32)
    (func (export "random") (param i32 i32) (result i32) (call $random (local.get 0) (local.get 1)))
    (func (export "write") (param i32 i32 i32) (result i32 i32)
        (call $write (i32.const 1) (local.get 0) (local.get 1) (local.get 2))
        (i32.load (local.get 2))))"#;

fn random(
    store: &mut wasmtime::Store<Wasi>,
    instance: &wasmtime::Instance,
    at: i32,
    len: i32,
) -> wasmtime::Result<i32> {
    instance.get_typed_func::<(i32, i32), i32>(&mut *store, "random").unwrap().call(&mut *store, (at, len))
}

#[test]
fn random_get_checks_the_region_before_filling_it_in_place() {
    let (mut store, instance) = instantiate(HOSTILE);
    let error = random(&mut store, &instance, 0, i32::MIN).unwrap_err();
    assert_eq!(
        error.downcast_ref::<HostCallError>().unwrap().to_string(),
        "random_get was given a region 0x0+2147483648 outside the module's 2097152 bytes of memory"
    );
    assert!(random(&mut store, &instance, 2 << 20, 1).is_err(), "one byte past the end");
    assert_eq!(random(&mut store, &instance, 0, 2 << 20).unwrap(), ESUCCESS, "the whole memory");
    let memory = instance.get_memory(&mut store, "memory").unwrap();
    assert!(memory.data(&store)[..64].iter().any(|&b| b != 0));
    store.data_mut().set_deadline(Instant::now());
    let error = random(&mut store, &instance, 0, 16).unwrap_err();
    assert!(
        matches!(error.downcast_ref::<HostCallError>(), Some(HostCallError::OverTime { call: "random_get" })),
        "{error:#}"
    );
}

#[test]
fn fd_write_takes_at_most_its_limits_and_checks_every_region() {
    let (mut store, instance) = instantiate(HOSTILE);
    let write = instance.get_typed_func::<(i32, i32, i32), (i32, i32)>(&mut store, "write").unwrap();
    let memory = instance.get_memory(&mut store, "memory").unwrap();
    // One iovec at 0 of 1 MiB from 4096: a short write of MAX_WRITE_BYTES.
    let iov = [4096u32.to_le_bytes(), (1u32 << 20).to_le_bytes()].concat();
    memory.write(&mut store, 0, &iov).unwrap();
    assert_eq!(write.call(&mut store, (0, 1, 16)).unwrap(), (ESUCCESS, MAX_WRITE_BYTES as i32));
    assert_eq!(write.call(&mut store, (0, MAX_IOVS as i32 + 1, 16)).unwrap().0, EINVAL);
    let outside = [(2u32 << 20).to_le_bytes(), 1u32.to_le_bytes()].concat();
    memory.write(&mut store, 0, &outside).unwrap();
    let error = write.call(&mut store, (0, 1, 16)).unwrap_err();
    assert!(
        matches!(error.downcast_ref::<HostCallError>(), Some(HostCallError::OutOfBounds { call: "fd_write", .. })),
        "{error:#}"
    );
    assert!(write.call(&mut store, (0, 1, -4)).is_err(), "`written` outside the memory");
}
