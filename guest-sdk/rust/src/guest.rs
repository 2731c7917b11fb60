//! The module side of the ABI: the state behind the exports that
//! [`crate::export_transform!`] generates. Compiled for wasm only.
//!
//! The host writes input into the buffer `sluice_buffer` hands out, calls
//! `sluice_init` or `sluice_process`, and reads the result region back. The
//! input and output buffers live as long as the instance and only grow, so a
//! steady stream of batches allocates nothing here.

use std::cell::UnsafeCell;

use crate::{Transform, abi, json};

/// A cell for module-global state.
struct GuestCell<T>(UnsafeCell<T>);

// SAFETY: a wasm32 module built without the `atomics` target feature runs on
// exactly one thread, and each export takes the only reference for its
// duration, so the cell is never shared between threads.
#[cfg(not(target_feature = "atomics"))]
unsafe impl<T> Sync for GuestCell<T> {}

impl<T> GuestCell<T> {
    const fn new(value: T) -> Self {
        GuestCell(UnsafeCell::new(value))
    }

    /// Runs `f` with the only reference to the value.
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: single-threaded (see the Sync impl), and the exports never
        // call each other, so no other reference exists while `f` runs.
        f(unsafe { &mut *self.0.get() })
    }
}

struct Inner<T> {
    input: Vec<u8>,
    output: Vec<u8>,
    index: json::Index,
    transform: Option<T>,
}

/// Everything one exported transform keeps between calls.
pub struct State<T>(GuestCell<Inner<T>>);

impl<T> std::fmt::Debug for State<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

impl<T: Transform> State<T> {
    /// Empty state, for a `static`.
    pub const fn new() -> Self {
        State(GuestCell::new(Inner {
            input: Vec::new(),
            output: Vec::new(),
            index: json::Index { members: Vec::new(), compact: false },
            transform: None,
        }))
    }

    /// `sluice_buffer`: a pointer to at least `capacity` writable bytes.
    pub fn buffer(&self, capacity: i32) -> i32 {
        self.0.with(|s| {
            let capacity = capacity.max(0) as usize;
            if s.input.len() < capacity {
                s.input.resize(capacity, 0);
            }
            s.input.as_mut_ptr() as i32
        })
    }

    /// `sluice_init`: builds the transform from the config in the buffer.
    pub fn init(&self, len: i32) -> i64 {
        std::panic::set_hook(Box::new(record_panic));
        self.0.with(|s| {
            let input = &s.input[..(len.max(0) as usize).min(s.input.len())];
            s.output.clear();
            match crate::init_from_abi::<T>(input) {
                Ok(transform) => {
                    s.transform = Some(transform);
                    abi::encode_init_result(&mut s.output, Ok(()));
                }
                Err(error) => abi::encode_init_result(&mut s.output, Err(&error.to_string())),
            }
            region(&s.output)
        })
    }

    /// `sluice_process`: one outcome per record of the batch in the buffer.
    pub fn process(&self, count: i32, len: i32) -> i64 {
        set_current_record(-1);
        self.0.with(|s| {
            let input = &s.input[..(len.max(0) as usize).min(s.input.len())];
            let count = count.max(0) as usize;
            s.output.clear();
            match &s.transform {
                Some(t) => crate::process_batch(t, input, count, &mut s.output, &mut s.index, &mut set_current_record),
                None => (0..count).for_each(|_| abi::encode_error(&mut s.output, "sluice_init was not called")),
            }
            region(&s.output)
        })
    }
}

impl<T: Transform> Default for State<T> {
    fn default() -> Self {
        Self::new()
    }
}

fn region(bytes: &[u8]) -> i64 {
    abi::pack_region(bytes.as_ptr() as u32, bytes.len() as u32)
}

static PANIC_MESSAGE: GuestCell<String> = GuestCell::new(String::new());

/// Keeps the panic message where `sluice_panic_message` can return it: a
/// panic aborts the module (a trap), and the host then asks for the reason.
fn record_panic(info: &std::panic::PanicHookInfo<'_>) {
    PANIC_MESSAGE.with(|m| *m = info.to_string());
}

/// `sluice_panic_message`: the last panic's message, or an empty region.
pub fn panic_message() -> i64 {
    PANIC_MESSAGE.with(|m| region(m.as_bytes()))
}

static CURRENT_RECORD: GuestCell<i32> = GuestCell::new(-1);

fn set_current_record(index: i32) {
    CURRENT_RECORD.with(|current| *current = index);
}

/// `sluice_current_record`: the index of the record the last
/// `sluice_process` call was working on, or `-1` outside the record loop.
/// After a trap or the time limit the host reads it, dead-letters that
/// record alone and runs the others again without it.
pub fn current_record() -> i32 {
    CURRENT_RECORD.with(|current| *current)
}
