//! The sandboxed WASI preview 1 stub set: what a module built for
//! `wasip1` (Go's runtime) may import, answered without touching the host.
//!
//! A module gets no files, network or environment: `args` and `environ` are
//! empty, every `fd_*`/`path_*`/`sock_*` call fails with `EBADF` or
//! `ENOSYS`, except `fd_write` to fd 1 or 2, whose lines become the module's
//! log lines, as if through `sluice.log` (its name, its rate limit; stdout
//! at info, stderr at warn; see `wasi/lines.rs`). The clock cannot leak host
//! state: both clocks read a virtual time that starts at 0 and advances
//! 1 µs per reading (and by the timeout when `poll_oneoff` sleeps).
//! `random_get` fills the module's buffer from the operating system's
//! random numbers, so no two instances see the same stream. `proc_exit`
//! traps with the code and the module's last panic line on stderr (Go's
//! `panic: ...`), or else its last stderr line.
//!
//! The module is hostile, and host code cannot be interrupted by the epoch
//! deadline, so every call stays inside the instance's limits by itself:
//! each guest pointer and length is checked against the module's memory
//! before anything is read, written or allocated (a region outside it
//! traps), the module's memory is read and filled in place, `fd_write`
//! takes at most [`MAX_IOVS`] buffers and [`MAX_WRITE_BYTES`] bytes a call
//! (a short write, which callers loop over in wasm), and the calls whose
//! work grows with their arguments (`random_get`, `poll_oneoff`) check the
//! call's time limit ([`Wasi::set_deadline`]) as they go and trap past it.
//!
//! [`Wasi`] is the per-instance state; [`add_to_linker`] defines the whole
//! set; [`is_allowed`] is what the import check accepts.

mod lines;
mod poll;

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::{Caller, Engine, FuncType, Linker, Val, ValType};

use super::log::GuestLog;

/// The import module name.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// WASI errno values used here.
const ESUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EINVAL: i32 = 28;
const EIO: i32 = 29;
const ENOSYS: i32 = 52;

/// Virtual time one clock reading advances.
const CLOCK_STEP_NS: u64 = 1_000;
/// Most buffers one `fd_write` takes: Linux's `IOV_MAX`; more is `EINVAL`,
/// as `writev` says.
pub const MAX_IOVS: usize = 1024;
/// Most bytes one `fd_write` takes; the rest is a short write.
pub const MAX_WRITE_BYTES: usize = 64 << 10;
/// Bytes `random_get` fills between two looks at the time limit.
const RANDOM_CHUNK: usize = 1 << 20;
/// Subscriptions `poll_oneoff` answers between two looks at the time limit.
const POLL_CHUNK: usize = 4096;

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

/// Why a host call trapped.
#[derive(Debug, thiserror::Error)]
pub enum HostCallError {
    /// A guest pointer and length that do not lie inside its memory.
    #[error("{call} was given a region {ptr:#x}+{len} outside the module's {size} bytes of memory")]
    OutOfBounds {
        /// The function called.
        call: &'static str,
        /// The region's start.
        ptr: u32,
        /// Its length.
        len: u64,
        /// The memory's size.
        size: usize,
    },
    /// The call's work went past the time limit of the call into the module.
    #[error("{call} ran past the time limit")]
    OverTime {
        /// The function called.
        call: &'static str,
    },
    /// The module exports no memory.
    #[error("{call} was called by a module without a memory")]
    NoMemory {
        /// The function called.
        call: &'static str,
    },
}

/// One instance's WASI state.
#[derive(Debug)]
pub struct Wasi {
    clock_ns: u64,
    lines: lines::Lines,
    deadline: Option<Instant>,
}

impl Wasi {
    /// Fresh state for an instance whose lines go to `log` (the module's
    /// `sluice.log`, with its name and rate limit).
    pub fn new(log: Arc<GuestLog>) -> Self {
        Wasi { clock_ns: 0, lines: lines::Lines::new(log), deadline: None }
    }

    /// When the current call into the module must end: host calls past it trap.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    fn tick(&mut self) -> u64 {
        self.clock_ns += CLOCK_STEP_NS;
        self.clock_ns
    }

    /// An error once the call's deadline has passed.
    fn check_time(&self, call: &'static str) -> Result<(), HostCallError> {
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(HostCallError::OverTime { call }),
            _ => Ok(()),
        }
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
    linker.func_wrap(MODULE, "args_sizes_get", zeros::<T>("args_sizes_get"))?;
    linker.func_wrap(MODULE, "environ_sizes_get", zeros::<T>("environ_sizes_get"))?;
    linker.func_wrap(MODULE, "args_get", |_: i32, _: i32| ESUCCESS)?;
    linker.func_wrap(MODULE, "environ_get", |_: i32, _: i32| ESUCCESS)?;
    linker.func_wrap(MODULE, "sched_yield", || ESUCCESS)?;
    linker.func_wrap(MODULE, "proc_exit", move |mut c: Caller<'_, T>, code: i32| -> wasmtime::Result<()> {
        let last_stderr = get(c.data_mut()).lines.take_last_stderr();
        Err(ProcExit { code, last_stderr }.into())
    })?;
    linker.func_wrap(MODULE, "clock_time_get", move |c: Caller<'_, T>, id: i32, _precision: i64, at: i32| {
        clock_time_get(c, get, id, at)
    })?;
    linker.func_wrap(MODULE, "random_get", move |c: Caller<'_, T>, at: i32, len: i32| random_get(c, get, at, len))?;
    linker.func_wrap(MODULE, "fd_write", move |c: Caller<'_, T>, fd: i32, iovs: i32, n: i32, written: i32| {
        fd_write(c, get, fd, iovs, n, written)
    })?;
    linker.func_wrap(MODULE, "poll_oneoff", move |c: Caller<'_, T>, subs: i32, events: i32, n: i32, count: i32| {
        poll::poll_oneoff(c, get, subs, events, n, count)
    })?;
    Ok(())
}

/// The caller's memory and its store data, to read and write in place.
fn memory<'a, T: 'static>(
    caller: &'a mut Caller<'_, T>,
    call: &'static str,
) -> Result<(&'a mut [u8], &'a mut T), HostCallError> {
    let memory = caller.get_export("memory").and_then(|e| e.into_memory()).ok_or(HostCallError::NoMemory { call })?;
    Ok(memory.data_and_store_mut(caller))
}

/// The range `ptr`..`ptr + len` of `data`, checked before anything is touched.
fn region(data: &[u8], call: &'static str, ptr: i32, len: usize) -> Result<Range<usize>, HostCallError> {
    let start = ptr as u32 as usize;
    match start.checked_add(len) {
        Some(end) if end <= data.len() => Ok(start..end),
        _ => Err(HostCallError::OutOfBounds { call, ptr: ptr as u32, len: len as u64, size: data.len() }),
    }
}

/// `args_sizes_get` and `environ_sizes_get`: zero items of zero bytes.
fn zeros<T: 'static>(call: &'static str) -> impl Fn(Caller<'_, T>, i32, i32) -> wasmtime::Result<i32> + Send + Sync {
    move |c, n, size| put(c, call, &[(n, 0), (size, 0)])
}

/// Writes each `(at, value)` as a little-endian u32, after checking them all.
fn put<T: 'static>(mut c: Caller<'_, T>, call: &'static str, values: &[(i32, u32)]) -> wasmtime::Result<i32> {
    let (data, _) = memory(&mut c, call)?;
    let ranges = values.iter().map(|&(at, _)| region(data, call, at, 4)).collect::<Result<Vec<_>, _>>()?;
    for (range, (_, value)) in ranges.into_iter().zip(values) {
        data[range].copy_from_slice(&value.to_le_bytes());
    }
    Ok(ESUCCESS)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn clock_time_get<T: 'static>(
    mut c: Caller<'_, T>,
    get: fn(&mut T) -> &mut Wasi,
    id: i32,
    at: i32,
) -> wasmtime::Result<i32> {
    if !(0..=3).contains(&id) {
        return Ok(EINVAL);
    }
    let (data, store) = memory(&mut c, "clock_time_get")?;
    let range = region(data, "clock_time_get", at, 8)?;
    data[range].copy_from_slice(&get(store).tick().to_le_bytes());
    Ok(ESUCCESS)
}

/// Fills the module's buffer in place from the operating system, a chunk
/// at a time, within the call's time limit.
fn random_get<T: 'static>(
    mut c: Caller<'_, T>,
    get: fn(&mut T) -> &mut Wasi,
    at: i32,
    len: i32,
) -> wasmtime::Result<i32> {
    let (data, store) = memory(&mut c, "random_get")?;
    let range = region(data, "random_get", at, len as u32 as usize)?;
    let wasi = get(store);
    for chunk in data[range].chunks_mut(RANDOM_CHUNK) {
        wasi.check_time("random_get")?;
        if getrandom::fill(chunk).is_err() {
            return Ok(EIO);
        }
    }
    Ok(ESUCCESS)
}

/// Logs what the module writes to fd 1 or 2: up to [`MAX_IOVS`] buffers
/// and [`MAX_WRITE_BYTES`] bytes, read in place; reports how many it took.
fn fd_write<T: 'static>(
    mut c: Caller<'_, T>,
    get: fn(&mut T) -> &mut Wasi,
    fd: i32,
    iovs: i32,
    n: i32,
    written: i32,
) -> wasmtime::Result<i32> {
    const CALL: &str = "fd_write";
    if fd != 1 && fd != 2 {
        return Ok(EBADF);
    }
    let n = n as u32 as usize;
    if n > MAX_IOVS {
        return Ok(EINVAL);
    }
    let (data, store) = memory(&mut c, CALL)?;
    let (list, written) = (region(data, CALL, iovs, n * 8)?, region(data, CALL, written, 4)?);
    let wasi = get(store);
    let mut total = 0;
    for iov in data[list].chunks_exact(8) {
        let buffer = region(data, CALL, u32_at(iov, 0) as i32, u32_at(iov, 4) as usize)?;
        let take = buffer.len().min(MAX_WRITE_BYTES - total);
        wasi.lines.write(fd as usize - 1, &data[buffer.start..buffer.start + take]);
        total += take;
        if total == MAX_WRITE_BYTES {
            break;
        }
    }
    data[written].copy_from_slice(&(total as u32).to_le_bytes());
    Ok(ESUCCESS)
}

#[cfg(test)]
mod tests;
