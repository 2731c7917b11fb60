//! Readiness: the pipeline is ready when its module is loaded, Kafka is
//! reachable and accepting, and the stream is not paused.
//!
//! Each condition is set where it is detected: the pipeline after loading
//! the module and connecting, librdkafka's error and statistics callbacks
//! when the brokers go away and come back, a delivery handed back for a
//! retry when Kafka refuses for now, and the checkpoint writer and the
//! dead-letter file when the disk refuses. Flags are atomics, read on each
//! `/health/ready`; the text of a reason is kept only while it holds.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// What stands between the pipeline and ready.
#[derive(Debug, Default)]
pub struct Health {
    module_loaded: AtomicBool,
    connected: AtomicBool,
    brokers_down: Flag,
    refusing: Flag,
    checkpoint_blocked: AtomicBool,
    dead_letters_blocked: AtomicBool,
    stopped: Flag,
}

/// A condition and, while it holds, why.
#[derive(Debug, Default)]
struct Flag {
    set: AtomicBool,
    why: Mutex<String>,
}

impl Flag {
    fn set(&self, why: &str) {
        *self.why.lock().unwrap_or_else(|e| e.into_inner()) = why.to_owned();
        self.set.store(true, Ordering::Release);
    }

    /// Clears it; cheap when it is not set (one load), as on every delivery.
    fn clear(&self) {
        if self.set.load(Ordering::Relaxed) {
            self.set.store(false, Ordering::Release);
        }
    }

    fn why(&self) -> Option<String> {
        self.set.load(Ordering::Acquire).then(|| self.why.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

impl Health {
    /// The transform module is loaded and its `init` passed.
    pub fn module_loaded(&self) {
        self.module_loaded.store(true, Ordering::Release);
    }

    /// The producer reached the broker and found the topic.
    pub fn connected(&self) {
        self.connected.store(true, Ordering::Release);
    }

    /// librdkafka reports no broker is up.
    pub fn brokers_down(&self, why: &str) {
        self.brokers_down.set(why);
    }

    /// A broker is up again.
    pub fn brokers_up(&self) {
        self.brokers_down.clear();
    }

    /// A delivery failed and waits to be sent again.
    pub fn refusing(&self, why: &str) {
        self.refusing.set(why);
    }

    /// A message was acknowledged.
    pub fn accepting(&self) {
        self.refusing.clear();
    }

    /// The checkpoint cannot be saved (or can again).
    pub fn checkpoint_blocked(&self, blocked: bool) {
        self.checkpoint_blocked.store(blocked, Ordering::Release);
    }

    /// The dead-letter file cannot be written (or can again).
    pub fn dead_letters_blocked(&self, blocked: bool) {
        self.dead_letters_blocked.store(blocked, Ordering::Release);
    }

    /// The pipeline stopped, for this reason.
    pub fn stopped(&self, why: &str) {
        self.stopped.set(why);
    }

    /// Why it is not ready; empty when it is.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(why) = self.stopped.why() {
            problems.push(format!("the pipeline stopped: {why}"));
        }
        if !self.module_loaded.load(Ordering::Acquire) {
            problems.push("the transform module is not loaded yet".to_owned());
        }
        if !self.connected.load(Ordering::Acquire) {
            problems.push("not connected to Kafka yet".to_owned());
        } else if let Some(why) = self.brokers_down.why() {
            problems.push(format!("Kafka is not reachable: {why}"));
        }
        if let Some(why) = self.refusing.why() {
            problems.push(format!("Kafka is not accepting messages: {why}"));
        }
        if self.checkpoint_blocked.load(Ordering::Acquire) {
            problems.push("paused: the checkpoint cannot be written (is the disk full?)".to_owned());
        }
        if self.dead_letters_blocked.load(Ordering::Acquire) {
            problems.push("paused: the dead-letter file cannot be written (is the disk full?)".to_owned());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_nothing_stands_in_the_way() {
        let health = Health::default();
        assert_eq!(health.problems().len(), 2, "{:?}", health.problems());
        health.module_loaded();
        health.connected();
        assert!(health.problems().is_empty());
        health.brokers_down("all brokers are down");
        health.checkpoint_blocked(true);
        assert_eq!(
            health.problems(),
            [
                "Kafka is not reachable: all brokers are down",
                "paused: the checkpoint cannot be written (is the disk full?)"
            ]
        );
        health.brokers_up();
        health.checkpoint_blocked(false);
        assert!(health.problems().is_empty());
    }
}
