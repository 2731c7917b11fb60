//! `poll_oneoff`: clock subscriptions fire at once on the virtual clock.

use wasmtime::Caller;

use super::{EBADF, ESUCCESS, POLL_CHUNK, Wasi, memory, region};

/// Size of a `subscription` and of an `event` in WASI preview 1.
const SUBSCRIPTION_BYTES: usize = 48;
const EVENT_BYTES: usize = 32;

/// Clock subscriptions fire at once and advance the virtual clock by their
/// timeout (a sleep costs no real time); fd subscriptions fail with EBADF.
pub(super) fn poll_oneoff<T: 'static>(
    mut c: Caller<'_, T>,
    get: fn(&mut T) -> &mut Wasi,
    subs: i32,
    events: i32,
    n: i32,
    count: i32,
) -> wasmtime::Result<i32> {
    const CALL: &str = "poll_oneoff";
    let n = n as u32 as usize;
    let (data, store) = memory(&mut c, CALL)?;
    let subs = region(data, CALL, subs, n * SUBSCRIPTION_BYTES)?;
    let (events, count) = (region(data, CALL, events, n * EVENT_BYTES)?, region(data, CALL, count, 4)?);
    let wasi = get(store);
    for i in 0..n {
        if i % POLL_CHUNK == 0 {
            wasi.check_time(CALL)?;
        }
        let at = subs.start + i * SUBSCRIPTION_BYTES;
        let sub: [u8; SUBSCRIPTION_BYTES] = data[at..at + SUBSCRIPTION_BYTES].try_into().expect("one subscription");
        let at = events.start + i * EVENT_BYTES;
        data[at..at + EVENT_BYTES].copy_from_slice(&wasi.answer(&sub));
    }
    data[count].copy_from_slice(&(n as u32).to_le_bytes());
    Ok(ESUCCESS)
}

impl Wasi {
    /// The event for one subscription.
    fn answer(&mut self, sub: &[u8; SUBSCRIPTION_BYTES]) -> [u8; EVENT_BYTES] {
        let mut event = [0u8; EVENT_BYTES];
        event[..8].copy_from_slice(&sub[..8]);
        let tag = sub[8];
        event[10] = tag;
        if tag == 0 {
            let timeout = u64::from_le_bytes(sub[24..32].try_into().expect("8 bytes"));
            let absolute = u16::from_le_bytes([sub[40], sub[41]]) & 1 == 1;
            self.clock_ns = if absolute { self.clock_ns.max(timeout) } else { self.clock_ns.saturating_add(timeout) };
        } else {
            event[8..10].copy_from_slice(&(EBADF as u16).to_le_bytes());
        }
        event
    }
}
