//! One shutdown signal, handed to every stage (as in mini-redis).
//!
//! [`Shutdown::trigger`] is called by the signal handler or by a stage that
//! failed. Stages poll [`Shutdown::is_triggered`] between units of work, or
//! block on [`Shutdown::signal`], a channel that disconnects on trigger and
//! so wakes every `select!` waiting on it at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};

/// A cloneable handle on the process-wide shutdown.
#[derive(Debug, Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    triggered: AtomicBool,
    sender: Mutex<Option<Sender<()>>>,
    receiver: Receiver<()>,
    /// Shutdowns that this one also triggers.
    children: Mutex<Vec<Shutdown>>,
}

impl Shutdown {
    /// A shutdown that has not been triggered.
    pub fn new() -> Self {
        let (sender, receiver) = crossbeam_channel::bounded(0);
        let inner = Inner {
            triggered: AtomicBool::new(false),
            sender: Mutex::new(Some(sender)),
            receiver,
            children: Mutex::new(Vec::new()),
        };
        Shutdown { inner: Arc::new(inner) }
    }

    /// A shutdown that triggers with this one, but whose own trigger stops
    /// only itself: one pipeline of several ends without ending the others.
    pub fn child(&self) -> Shutdown {
        let child = Shutdown::new();
        self.inner.children.lock().unwrap_or_else(|e| e.into_inner()).push(child.clone());
        // A trigger that ran before the push has missed the child.
        if self.is_triggered() {
            child.trigger();
        }
        child
    }

    /// Asks every stage to stop taking new work. Idempotent.
    pub fn trigger(&self) {
        self.inner.triggered.store(true, Ordering::SeqCst);
        self.inner.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
        for child in self.inner.children.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            child.trigger();
        }
    }

    /// Whether shutdown has begun.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// A channel that becomes ready (disconnected) when shutdown begins.
    pub fn signal(&self) -> &Receiver<()> {
        &self.inner.receiver
    }

    /// Triggers on the first SIGINT or SIGTERM; a second one exits at once.
    pub fn on_signals(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        let shutdown = self.clone();
        std::thread::Builder::new().name("signals".into()).spawn(move || {
            // Count the operator's signals, not shutdowns: a stage that
            // failed may have begun one already.
            let mut signalled = false;
            for signal in signals.forever() {
                if std::mem::replace(&mut signalled, true) {
                    tracing::warn!(signal, "second signal: exiting without flushing");
                    std::process::exit(130);
                }
                tracing::info!(signal, "shutting down: flushing in-flight records");
                shutdown.trigger();
            }
        })?;
        Ok(())
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn trigger_wakes_waiters() {
        let shutdown = Shutdown::new();
        let waiter = shutdown.clone();
        let handle = std::thread::spawn(move || waiter.signal().recv_timeout(Duration::from_secs(10)));
        assert!(!shutdown.is_triggered());
        shutdown.trigger();
        shutdown.trigger();
        assert!(shutdown.is_triggered());
        assert_eq!(handle.join().unwrap(), Err(crossbeam_channel::RecvTimeoutError::Disconnected));
    }

    #[test]
    fn a_child_stops_with_its_parent_but_not_the_parent_with_it() {
        let parent = Shutdown::new();
        let (a, b) = (parent.child(), parent.child());
        a.trigger();
        assert!(a.is_triggered() && !b.is_triggered() && !parent.is_triggered());
        parent.trigger();
        assert!(b.is_triggered());
        assert_eq!(b.signal().try_recv(), Err(crossbeam_channel::TryRecvError::Disconnected));
        assert!(parent.child().is_triggered(), "a child made after the trigger starts triggered");
    }
}
