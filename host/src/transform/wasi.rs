//! The sandboxed WASI preview 1 stub set: what a module built for
//! `wasip1` (Go's runtime) may import, answered without touching the host.
//!
//! A module gets no files, network or environment: `args` and `environ` are
//! empty, every `fd_*`/`path_*`/`sock_*` call fails with `EBADF` or
//! `ENOSYS`, except `fd_write` to fd 1 or 2, whose lines become the module's
//! log lines, as if through `sluice.log` (its name, its rate limit; stdout
//! at info, stderr at warn). The clock and the random numbers
//! cannot leak host state: both clocks read a virtual time that starts at 0
//! and advances 1 µs per reading (and by the timeout when `poll_oneoff`
//! sleeps), and `random_get` is a SplitMix64 stream from a fixed seed, the
//! same for every instance. `proc_exit` traps with the code and the
//! module's last panic line on stderr (Go's `panic: ...`), or else its last
//! stderr line.
//!
//! [`Wasi`] is the per-instance state; [`add_to_linker`] defines the whole
//! set; [`is_allowed`] is what the import check accepts.

use std::sync::Arc;

use sluice_guest_sdk::abi::Level;
use wasmtime::{Caller, Engine, FuncType, Linker, Val, ValType};

use super::log::GuestLog;

/// The import module name.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// WASI errno values used here.
const ESUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EINVAL: i32 = 28;
const ENOSYS: i32 = 52;

/// Virtual time one clock reading advances.
const CLOCK_STEP_NS: u64 = 1_000;
/// The seed of every instance's random stream (fixed on purpose: nothing
/// about the host, the time or other instances can be read from it).
const RANDOM_SEED: u64 = 0x51ce_5eed;
/// A line longer than this is logged in pieces.
const MAX_LINE_BYTES: usize = 4096;

/// Functions answered with a fixed errno: name, parameter types (`i` i32,
/// `I` i64), errno. Every one returns an i32 errno.
const FIXED: &[(&str, &str, i32)] = &[
    ("clock_res_get", "ii", ENOSYS),
    ("fd_advise", "iIIi", EBADF),
    ("fd_allocate", "iII", EBADF),
    ("fd_close", "i", EBADF),
    ("fd_datasync", "i", EBADF),
    ("fd_fdstat_get", "ii", EBADF),
    ("fd_fdstat_set_flags", "ii", EBADF),
    ("fd_fdstat_set_rights", "iII", EBADF),
    ("fd_filestat_get", "ii", EBADF),
    ("fd_filestat_set_size", "iI", EBADF),
    ("fd_filestat_set_times", "iIIi", EBADF),
    ("fd_pread", "iiiIi", EBADF),
    ("fd_prestat_get", "ii", EBADF),
    ("fd_prestat_dir_name", "iii", EBADF),
    ("fd_pwrite", "iiiIi", EBADF),
    ("fd_read", "iiii", EBADF),
    ("fd_readdir", "iiiIi", EBADF),
    ("fd_renumber", "ii", EBADF),
    ("fd_seek", "iIii", EBADF),
    ("fd_sync", "i", EBADF),
    ("fd_tell", "ii", EBADF),
    ("path_create_directory", "iii", EBADF),
    ("path_filestat_get", "iiiii", EBADF),
    ("path_filestat_set_times", "iiiiIIi", EBADF),
    ("path_link", "iiiiiii", EBADF),
    ("path_open", "iiiiiIIii", EBADF),
    ("path_readlink", "iiiiii", EBADF),
    ("path_remove_directory", "iii", EBADF),
    ("path_rename", "iiiiii", EBADF),
    ("path_symlink", "iiiii", EBADF),
    ("path_unlink_file", "iii", EBADF),
    ("proc_raise", "i", ENOSYS),
    ("sock_accept", "iii", EBADF),
    ("sock_recv", "iiiiii", EBADF),
    ("sock_send", "iiiii", EBADF),
    ("sock_shutdown", "ii", EBADF),
];

/// Functions with an implementation below.
const IMPLEMENTED: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_time_get",
    "fd_write",
    "poll_oneoff",
    "proc_exit",
    "random_get",
    "sched_yield",
];

/// Whether a module may import `module.name` from this set.
pub fn is_allowed(module: &str, name: &str) -> bool {
    module == MODULE && (IMPLEMENTED.contains(&name) || FIXED.iter().any(|(n, _, _)| *n == name))
}

/// One instance's WASI state.
#[derive(Debug)]
pub struct Wasi {
    log: Arc<GuestLog>,
    clock_ns: u64,
    random: u64,
    lines: [Vec<u8>; 2],
    last_stderr: String,
}

impl Wasi {
    /// Fresh state for an instance whose lines go to `log` (the module's
    /// `sluice.log`, with its name and rate limit).
    pub fn new(log: Arc<GuestLog>) -> Self {
        Wasi { log, clock_ns: 0, random: RANDOM_SEED, lines: [Vec::new(), Vec::new()], last_stderr: String::new() }
    }

    fn tick(&mut self) -> u64 {
        self.clock_ns += CLOCK_STEP_NS;
        self.clock_ns
    }

    /// SplitMix64.
    fn next_random(&mut self) -> u64 {
        self.random = self.random.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.random;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Buffers what the module wrote to fd 1 (`stream` 0) or 2 (1) and logs
    /// every complete line.
    fn write(&mut self, stream: usize, bytes: &[u8]) {
        self.lines[stream].extend_from_slice(bytes);
        while let Some(end) = line_end(&self.lines[stream]) {
            let line: Vec<u8> = self.lines[stream].drain(..end).collect();
            let text = String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']).to_owned();
            // Go follows `panic: ...` with a stack trace: keep the panic line.
            let panic = self.last_stderr.starts_with("panic: ") || self.last_stderr.starts_with("fatal error: ");
            if stream == 1 && !text.is_empty() && (!panic || text.starts_with("panic: ")) {
                self.last_stderr.clone_from(&text);
            }
            self.log(stream, &text);
        }
    }

    /// stdout lines are logged at info, stderr lines at warn.
    fn log(&mut self, stream: usize, text: &str) {
        self.log.line(if stream == 0 { Level::Info } else { Level::Warn }, text);
    }
}

/// Where the first line of `buf` ends (after its newline, or at the limit).
fn line_end(buf: &[u8]) -> Option<usize> {
    match buf.iter().position(|&c| c == b'\n') {
        Some(i) => Some(i + 1),
        None => (buf.len() >= MAX_LINE_BYTES).then_some(MAX_LINE_BYTES),
    }
}

/// The trap `proc_exit` raises.
#[derive(Debug, thiserror::Error)]
#[error("called proc_exit({code}){}", stderr_suffix(.last_stderr))]
pub struct ProcExit {
    /// The exit code.
    pub code: i32,
    /// The last line the module wrote to stderr.
    pub last_stderr: String,
}

fn stderr_suffix(line: &str) -> String {
    if line.is_empty() { String::new() } else { format!(" after writing to stderr: {line}") }
}

/// Defines the whole stub set in `linker`; `get` finds an instance's
/// [`Wasi`] in its store data.
pub fn add_to_linker<T: 'static>(
    engine: &Engine,
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut Wasi,
) -> wasmtime::Result<()> {
    for &(name, params, errno) in FIXED {
        let params = params.chars().map(|c| if c == 'I' { ValType::I64 } else { ValType::I32 });
        let ty = FuncType::new(engine, params, [ValType::I32]);
        linker.func_new(MODULE, name, ty, move |_, _, results| {
            results[0] = Val::I32(errno);
            Ok(())
        })?;
    }
    linker.func_wrap(MODULE, "args_sizes_get", |c: Caller<'_, T>, n: i32, size: i32| zeros(c, &[n, size]))?;
    linker.func_wrap(MODULE, "environ_sizes_get", |c: Caller<'_, T>, n: i32, size: i32| zeros(c, &[n, size]))?;
    linker.func_wrap(MODULE, "args_get", |_: i32, _: i32| ESUCCESS)?;
    linker.func_wrap(MODULE, "environ_get", |_: i32, _: i32| ESUCCESS)?;
    linker.func_wrap(MODULE, "sched_yield", || ESUCCESS)?;
    linker.func_wrap(MODULE, "proc_exit", move |mut c: Caller<'_, T>, code: i32| -> wasmtime::Result<()> {
        let last_stderr = std::mem::take(&mut get(c.data_mut()).last_stderr);
        Err(ProcExit { code, last_stderr }.into())
    })?;
    linker.func_wrap(MODULE, "clock_time_get", move |mut c: Caller<'_, T>, id: i32, _precision: i64, at: i32| {
        if !(0..=3).contains(&id) {
            return EINVAL;
        }
        let now = get(c.data_mut()).tick();
        write_guest(&mut c, at, &now.to_le_bytes())
    })?;
    linker.func_wrap(MODULE, "random_get", move |mut c: Caller<'_, T>, at: i32, len: i32| {
        let mut bytes = vec![0; len.max(0) as usize];
        let wasi = get(c.data_mut());
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&wasi.next_random().to_le_bytes()[..chunk.len()]);
        }
        write_guest(&mut c, at, &bytes)
    })?;
    linker.func_wrap(MODULE, "fd_write", move |c: Caller<'_, T>, fd: i32, iovs: i32, n: i32, written: i32| {
        fd_write(c, get, fd, iovs, n, written)
    })?;
    linker.func_wrap(MODULE, "poll_oneoff", move |c: Caller<'_, T>, subs: i32, events: i32, n: i32, count: i32| {
        poll_oneoff(c, get, subs, events, n, count)
    })?;
    Ok(())
}

fn memory<T>(caller: &mut Caller<'_, T>) -> Option<wasmtime::Memory> {
    caller.get_export("memory").and_then(|e| e.into_memory())
}

fn read_guest<T>(caller: &mut Caller<'_, T>, at: i32, len: usize) -> Option<Vec<u8>> {
    let data = memory(caller)?.data(&*caller);
    data.get(at as u32 as usize..(at as u32 as usize).checked_add(len)?).map(<[u8]>::to_vec)
}

/// Writes `bytes` at `at` in the guest's memory; EINVAL if out of bounds.
fn write_guest<T>(caller: &mut Caller<'_, T>, at: i32, bytes: &[u8]) -> i32 {
    match memory(caller).map(|m| m.write(&mut *caller, at as u32 as usize, bytes)) {
        Some(Ok(())) => ESUCCESS,
        _ => EINVAL,
    }
}

fn zeros<T>(mut caller: Caller<'_, T>, at: &[i32]) -> i32 {
    at.iter().map(|&p| write_guest(&mut caller, p, &0u32.to_le_bytes())).max().unwrap_or(ESUCCESS)
}

fn u32_at(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize
}

fn fd_write<T>(mut c: Caller<'_, T>, get: fn(&mut T) -> &mut Wasi, fd: i32, iovs: i32, n: i32, written: i32) -> i32 {
    if fd != 1 && fd != 2 {
        return EBADF;
    }
    let Some(list) = read_guest(&mut c, iovs, n.max(0) as usize * 8) else { return EINVAL };
    let mut total = 0u32;
    for iov in list.chunks(8) {
        let Some(bytes) = read_guest(&mut c, u32_at(iov, 0) as i32, u32_at(iov, 4)) else { return EINVAL };
        get(c.data_mut()).write(fd as usize - 1, &bytes);
        total = total.wrapping_add(bytes.len() as u32);
    }
    write_guest(&mut c, written, &total.to_le_bytes())
}

/// Size of a `subscription` and of an `event` in WASI preview 1.
const SUBSCRIPTION_BYTES: usize = 48;
const EVENT_BYTES: usize = 32;

/// Clock subscriptions fire at once and advance the virtual clock by their
/// timeout (a sleep costs no real time); fd subscriptions fail with EBADF.
fn poll_oneoff<T>(
    mut c: Caller<'_, T>,
    get: fn(&mut T) -> &mut Wasi,
    subs: i32,
    events: i32,
    n: i32,
    count: i32,
) -> i32 {
    let n = n.max(0) as usize;
    let Some(subscriptions) = read_guest(&mut c, subs, n * SUBSCRIPTION_BYTES) else { return EINVAL };
    let mut out = vec![0u8; n * EVENT_BYTES];
    for (sub, event) in subscriptions.chunks(SUBSCRIPTION_BYTES).zip(out.chunks_mut(EVENT_BYTES)) {
        event[..8].copy_from_slice(&sub[..8]);
        let tag = sub[8];
        event[10] = tag;
        if tag == 0 {
            let timeout = u64::from_le_bytes(sub[24..32].try_into().expect("8 bytes"));
            let absolute = u16::from_le_bytes([sub[40], sub[41]]) & 1 == 1;
            let wasi = get(c.data_mut());
            wasi.clock_ns = if absolute { wasi.clock_ns.max(timeout) } else { wasi.clock_ns.saturating_add(timeout) };
        } else {
            event[8..10].copy_from_slice(&(EBADF as u16).to_le_bytes());
        }
    }
    match write_guest(&mut c, events, &out) {
        ESUCCESS => write_guest(&mut c, count, &(n as u32).to_le_bytes()),
        errno => errno,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_random_stream_is_fixed_and_the_clock_starts_at_zero() {
        let (mut a, mut b) = (Wasi::new(GuestLog::new("a".into())), Wasi::new(GuestLog::new("b".into())));
        let first: Vec<u64> = (0..4).map(|_| a.next_random()).collect();
        assert_eq!(first, (0..4).map(|_| b.next_random()).collect::<Vec<_>>());
        assert_ne!(first[0], first[1]);
        assert_eq!((a.tick(), a.tick()), (CLOCK_STEP_NS, 2 * CLOCK_STEP_NS));
    }

    #[test]
    fn lines_are_split_and_the_panic_line_kept_for_proc_exit() {
        let mut w = Wasi::new(GuestLog::new("m".into()));
        w.write(1, b"panic: boom\n\ngoroutine 1 [running]:\nmain.f()\ngorout");
        assert_eq!(w.last_stderr, "panic: boom");
        assert_eq!(w.lines[1], b"gorout");
        let exit = ProcExit { code: 2, last_stderr: w.last_stderr.clone() };
        assert_eq!(exit.to_string(), "called proc_exit(2) after writing to stderr: panic: boom");
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

    #[test]
    fn a_guest_sees_only_the_sandbox() {
        let engine = Engine::default();
        let module = wasmtime::Module::new(&engine, wat::parse_str(GUEST).unwrap()).unwrap();
        let mut linker = Linker::new(&engine);
        add_to_linker(&engine, &mut linker, |w: &mut Wasi| w).unwrap();
        let mut store = wasmtime::Store::new(&engine, Wasi::new(GuestLog::new("guest.wasm".into())));
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let probe = instance.get_typed_func::<(), (i64, i64, i64, i32, i32, i32)>(&mut store, "probe").unwrap();
        let (t1, t2, random, argc, open, write) = probe.call(&mut store, ()).unwrap();
        assert_eq!((t1, t2), (1_000, 2_000), "a virtual clock from 0");
        assert_eq!(random as u64, Wasi::new(GuestLog::new("other".into())).next_random(), "the fixed-seed stream");
        assert_eq!((argc, open, write), (0, EBADF, EBADF));

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
}
