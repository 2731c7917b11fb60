//! `sluice.log`, one of the two host functions a version-2 module may import: the
//! module's log lines go to the host's log (through `tracing`, tagged with
//! the module's file name), rate-limited by a token bucket so a chatty
//! module cannot flood the log. Lines over the limit are counted and
//! reported as one "N lines suppressed" line when logging resumes or the
//! module is unloaded. The first warnings and errors are also kept, for a
//! summary ([`GuestLog::noted`]).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use sluice_guest_sdk::abi::{self, Level};
use wasmtime::{Caller, Extern, Linker};

/// Lines a module may log per second, sustained.
pub const LINES_PER_SECOND: u32 = 100;
/// Lines a module may log in a burst before the rate applies: one second's worth.
const BURST: u32 = LINES_PER_SECOND;
/// Longest message shown; the rest is cut and its length reported, so one
/// huge line cannot flood the log either.
const MAX_LINE_BYTES: usize = 4096;
/// Warnings and errors kept for a summary (`sluice test` prints them).
const NOTED_LINES: usize = 20;

/// A token bucket: `BURST` tokens, refilled at `LINES_PER_SECOND`. Written
/// by hand rather than with `governor`, because the host needs the count of
/// refused lines for its summary, which `governor` does not keep.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
    suppressed: u64,
}

impl Bucket {
    fn new(now: Instant) -> Self {
        Bucket { tokens: f64::from(BURST), refilled: now, suppressed: 0 }
    }

    /// Takes a token if there is one; otherwise counts a suppressed line.
    /// On success, returns the lines suppressed since the last success.
    fn take(&mut self, now: Instant) -> Option<u64> {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(LINES_PER_SECOND)).min(f64::from(BURST));
        self.refilled = now;
        if self.tokens < 1.0 {
            self.suppressed += 1;
            return None;
        }
        self.tokens -= 1.0;
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Where one module's log lines go.
#[derive(Debug)]
pub struct GuestLog {
    module: String,
    bucket: Mutex<Bucket>,
    noted: Mutex<Vec<(Level, String)>>,
}

impl GuestLog {
    /// A log for the module called `module` (its file name).
    pub fn new(module: String) -> Arc<Self> {
        Arc::new(GuestLog { module, bucket: Mutex::new(Bucket::new(Instant::now())), noted: Mutex::default() })
    }

    /// The module's name, as its lines are tagged.
    pub fn module(&self) -> &str {
        &self.module
    }

    /// The first warnings and errors the module logged, oldest first.
    pub fn noted(&self) -> Vec<(Level, String)> {
        self.noted.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn note(&self, level: Level, message: &str) {
        let mut noted = self.noted.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(level, Level::Error | Level::Warn) && noted.len() < NOTED_LINES {
            noted.push((level, message.to_owned()));
        }
    }

    /// Logs `message` at `level` unless the module is over its rate;
    /// `false` if it was over (the line is counted as suppressed).
    pub fn line(&self, level: Level, message: &str) -> bool {
        self.note(level, message);
        let suppressed = self.bucket.lock().unwrap_or_else(|e| e.into_inner()).take(Instant::now());
        match suppressed {
            None => return false,
            Some(0) => emit(&self.module, level, message),
            Some(n) => {
                report_suppressed(&self.module, n);
                emit(&self.module, level, message);
            }
        }
        true
    }

    /// Counts `lines` suppressed without asking the bucket: the rest of a
    /// write whose earlier line was already over the rate.
    pub fn suppress(&self, lines: u64) {
        self.bucket.lock().unwrap_or_else(|e| e.into_inner()).suppressed += lines;
    }

    /// The lines suppressed and not yet reported.
    #[cfg(test)]
    pub fn suppressed(&self) -> u64 {
        self.bucket.lock().unwrap_or_else(|e| e.into_inner()).suppressed
    }

    /// Adds `sluice.log` to `linker`, writing to this log.
    pub fn define<T: 'static>(self: &Arc<Self>, linker: &mut Linker<T>) -> wasmtime::Result<()> {
        let log = self.clone();
        linker.func_wrap(abi::IMPORT_MODULE, abi::IMPORT_LOG, move |caller: Caller<'_, T>, level, ptr, len| {
            log.call(caller, level, ptr, len)
        })?;
        Ok(())
    }

    /// The body of `sluice.log`: a bad level or a region outside memory is
    /// a broken module, so it traps (the batch fails, like a malformed result).
    fn call<T>(&self, mut caller: Caller<'_, T>, level: i32, ptr: i32, len: i32) -> wasmtime::Result<()> {
        let Some(level) = Level::from_i32(level) else {
            wasmtime::bail!("sluice.log called with level {level}; levels are 0 (error) to 4 (trace)");
        };
        let bytes = guest_region(&mut caller, "sluice.log", ptr, len)?;
        self.line(level, &shown(bytes));
        Ok(())
    }
}

impl Drop for GuestLog {
    fn drop(&mut self) {
        let suppressed = self.bucket.get_mut().map(|b| b.suppressed).unwrap_or_default();
        if suppressed > 0 {
            report_suppressed(&self.module, suppressed);
        }
    }
}

/// The message as text: lossily decoded, cut at 4 KiB (its length past that reported).
pub fn shown(bytes: &[u8]) -> String {
    if bytes.len() <= MAX_LINE_BYTES {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let text = String::from_utf8_lossy(&bytes[..MAX_LINE_BYTES]);
    format!("{text}... ({} more bytes)", bytes.len() - MAX_LINE_BYTES)
}

/// The `len` bytes at `ptr` in the calling module's memory, for the host
/// function `import` (`sluice.log`, `sluice.fail`): a module without a
/// memory, or a region outside it, is a broken module, so the call traps.
pub fn guest_region<'a, T>(
    caller: &'a mut Caller<'_, T>,
    import: &str,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<&'a [u8]> {
    let Some(Extern::Memory(memory)) = caller.get_export(abi::EXPORT_MEMORY) else {
        wasmtime::bail!("{import} called by a module without a memory");
    };
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    let data = memory.data(caller);
    match data.get(start..start.saturating_add(len)) {
        Some(bytes) => Ok(bytes),
        None => {
            wasmtime::bail!("{import} called with a region {start:#x}+{len} outside its {} bytes of memory", data.len())
        }
    }
}

fn report_suppressed(module: &str, n: u64) {
    tracing::warn!(
        module,
        suppressed = n,
        "{n} log lines from the module suppressed (over {LINES_PER_SECOND} lines/s)"
    );
}

fn emit(module: &str, level: Level, message: &str) {
    match level {
        Level::Error => tracing::error!(module, "{message}"),
        Level::Warn => tracing::warn!(module, "{message}"),
        Level::Info => tracing::info!(module, "{message}"),
        Level::Debug => tracing::debug!(module, "{message}"),
        Level::Trace => tracing::trace!(module, "{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate_and_counts_the_rest() {
        let start = Instant::now();
        let mut bucket = Bucket::new(start);
        let allowed = (0..BURST + 50).filter(|_| bucket.take(start).is_some()).count();
        assert_eq!(allowed, BURST as usize);
        // A tenth of a second refills ten tokens; the first reports the 50 refused.
        let later = start + Duration::from_millis(100);
        assert_eq!(bucket.take(later), Some(50));
        let refilled = (0..20).filter(|_| bucket.take(later).is_some()).count();
        assert_eq!(refilled, 9);
        assert_eq!(bucket.suppressed, 11);
    }

    #[test]
    fn long_lines_are_cut_and_bad_utf8_replaced() {
        assert_eq!(shown(b"caf\xc3\xa9 \xff"), "café \u{fffd}");
        let long = vec![b'a'; MAX_LINE_BYTES + 10];
        assert!(shown(&long).ends_with("a... (10 more bytes)"));
    }
}
