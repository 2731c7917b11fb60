//! The in-flight window: how many batches may be sent and not yet applied
//! to the progress. A full window blocks the sender, which is the
//! backpressure that reaches the source through the batch channel; with
//! batches of at most 1 MiB it bounds what librdkafka holds for us to about
//! 32 MiB, while keeping enough in flight to fill the producer's pipeline.
//! A checkpoint that cannot be saved (a full disk) closes the window
//! ([`Window::pause`]), so the stream does not run ahead of what a restart
//! would know.
//!
//! The pump [`Window::enter`]s before it registers a batch with the
//! [`Tracker`](super::Tracker); the tracker lets batches [`Window::leave`]
//! as it applies them in order (or a rewind drops them).

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Batches sent but not yet applied to the progress.
pub const MAX_IN_FLIGHT: usize = 32;
/// How often a sender waiting for room hears from its `while_waiting`.
const WAIT_TICK: Duration = Duration::from_millis(50);

/// Room for batches in flight; shared by the sender, the tracker and the
/// checkpoint writer.
#[derive(Debug, Default)]
pub struct Window {
    slots: Mutex<Slots>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct Slots {
    /// Batches entered and not yet left.
    taken: usize,
    /// The checkpoint cannot be saved: no new batch starts.
    paused: bool,
}

impl Slots {
    fn full(&self) -> bool {
        self.paused || self.taken >= MAX_IN_FLIGHT
    }
}

impl Window {
    /// Takes room for one batch, waiting while the window is full or
    /// paused and calling `while_waiting` every 50 ms (which returns true to
    /// give up). Returns whether room was taken.
    pub fn enter(&self, mut while_waiting: impl FnMut() -> bool) -> bool {
        let mut slots = self.lock();
        while slots.full() {
            slots = self.freed.wait_timeout(slots, WAIT_TICK).unwrap_or_else(|e| e.into_inner()).0;
            if !slots.full() {
                break;
            }
            drop(slots);
            let give_up = while_waiting();
            slots = self.lock();
            if give_up {
                return false;
            }
        }
        slots.taken += 1;
        true
    }

    /// `batches` left the window: they were applied to the progress, or a
    /// rewind dropped them.
    pub fn leave(&self, batches: usize) {
        if batches == 0 {
            return;
        }
        let mut slots = self.lock();
        slots.taken = slots.taken.saturating_sub(batches);
        drop(slots);
        self.freed.notify_all();
    }

    /// Closes the window while the checkpoint cannot be saved, and opens it
    /// again once it can.
    pub fn pause(&self, paused: bool) {
        self.lock().paused = paused;
        self.freed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_full_window_blocks_until_a_batch_leaves_or_the_sender_gives_up() {
        let window = Arc::new(Window::default());
        for _ in 0..MAX_IN_FLIGHT {
            assert!(window.enter(|| false));
        }
        assert!(!window.enter(|| true));
        let sender = window.clone();
        let handle = std::thread::spawn(move || sender.enter(|| false));
        window.leave(1);
        assert!(handle.join().unwrap());
    }

    #[test]
    fn a_paused_window_lets_nothing_in() {
        let window = Window::default();
        window.pause(true);
        assert!(!window.enter(|| true));
        window.pause(false);
        assert!(window.enter(|| true));
    }
}
