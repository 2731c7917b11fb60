//! Routing: which topics exist and how many partitions each has, so a
//! message the module routes (ABI v2's topic and partition) is checked
//! before it is handed to the producer.
//!
//! [`Routes`] caches what the broker's metadata said about each topic a
//! message named. The default `--topic` and the dead-letter topic are
//! entered at connect time. A topic not seen before is looked up once; a
//! miss (a topic that does not exist, a partition past the topic's count) is
//! looked up again only when its entry is older than [`RECHECK`], so a
//! module that keeps naming a missing topic costs one metadata request per
//! [`RECHECK`], not one per record. A message that cannot be routed is not
//! sent: the pump dead-letters its record with the reason this module gives.
//! A broker that does not answer is waited for (with backoff, until
//! shutdown), never taken to mean the topic is missing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::producer::Producer;

use super::Sink;
use super::metadata::{Lookup, with_backoff};
use crate::shutdown::Shutdown;

/// How old a cached miss must be before the broker is asked again: topics
/// and partitions are created by operators, rarely, and a restart is not
/// needed to see them.
pub const RECHECK: Duration = Duration::from_secs(5);
/// Topics remembered at most; past this, entries for missing topics are
/// forgotten first (a module that names a new topic per record must not
/// grow the cache without bound).
const MAX_ENTRIES: usize = 10_000;

/// What the broker said about a topic, and when.
#[derive(Debug, Clone, Copy)]
enum Entry {
    /// It exists with this many partitions.
    Exists { partitions: i32, checked: Instant },
    /// It does not exist.
    Missing { checked: Instant },
}

/// The metadata cache of the topics messages were routed to.
#[derive(Debug, Default)]
pub struct Routes {
    topics: HashMap<String, Entry>,
}

/// Why a message was not routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// It cannot be sent: dead-letter its record with this reason.
    Unroutable(String),
    /// Shutdown came while the broker was not answering.
    Stopped,
}

impl Routes {
    /// Notes that `topic` exists with `partitions` partitions.
    pub fn insert(&mut self, topic: &str, partitions: i32) {
        self.topics.insert(topic.to_owned(), Entry::Exists { partitions, checked: Instant::now() });
    }

    /// The cached partition count of `topic`, if it is known to exist.
    pub fn partitions(&self, topic: &str) -> Option<i32> {
        match self.topics.get(topic) {
            Some(Entry::Exists { partitions, .. }) => Some(*partitions),
            _ => None,
        }
    }

    /// Whether the cache answers for `topic` and `partition` without asking
    /// the broker: `Some(Ok)` routable, `Some(Err)` not, `None` ask.
    fn cached(&self, topic: &str, partition: Option<i32>) -> Option<Result<(), String>> {
        let fresh = |checked: &Instant| checked.elapsed() < RECHECK;
        match self.topics.get(topic)? {
            Entry::Exists { partitions, .. } if partition.is_none_or(|p| p < *partitions) => Some(Ok(())),
            Entry::Exists { partitions, checked } if fresh(checked) => {
                Some(Err(out_of_range(topic, partition.unwrap_or_default(), *partitions)))
            }
            Entry::Missing { checked } if fresh(checked) => Some(Err(missing(topic))),
            _ => None,
        }
    }

    fn remember(&mut self, topic: &str, entry: Entry) {
        if self.topics.len() >= MAX_ENTRIES && !self.topics.contains_key(topic) {
            self.topics.retain(|_, e| matches!(e, Entry::Exists { .. }));
        }
        if self.topics.len() < MAX_ENTRIES || self.topics.contains_key(topic) {
            self.topics.insert(topic.to_owned(), entry);
        }
    }
}

fn missing(topic: &str) -> String {
    format!("topic `{topic}` does not exist (Sluice does not create topics; create it, or route elsewhere)")
}

fn out_of_range(topic: &str, partition: i32, partitions: i32) -> String {
    format!("partition {partition} is out of range: topic `{topic}` has {partitions} partitions")
}

impl Sink {
    /// Checks that a message to `topic` (the default `--topic` when `None`)
    /// and `partition` (the partitioner's choice when `None`) can be sent,
    /// asking the broker when the cache cannot tell.
    pub fn route(
        &mut self,
        topic: Option<&str>,
        partition: Option<i32>,
        shutdown: &Shutdown,
    ) -> Result<(), RouteError> {
        let Some(topic) = topic else {
            return match partition {
                None => Ok(()),
                Some(p) => self.check_route(&self.topic.clone(), Some(p), shutdown),
            };
        };
        self.check_route(topic, partition, shutdown)
    }

    fn check_route(&mut self, topic: &str, partition: Option<i32>, shutdown: &Shutdown) -> Result<(), RouteError> {
        if let Some(answer) = self.routes.cached(topic, partition) {
            return answer.map_err(RouteError::Unroutable);
        }
        if !crate::config::valid_topic(topic) {
            let reason = format!("topic `{topic}` is not a valid Kafka topic name (1-249 of [a-zA-Z0-9._-])");
            return Err(RouteError::Unroutable(reason));
        }
        let entry = self.ask(topic, shutdown)?;
        self.routes.remember(topic, entry);
        match entry {
            Entry::Missing { .. } => Err(RouteError::Unroutable(missing(topic))),
            Entry::Exists { partitions, .. } => match partition {
                Some(p) if p >= partitions => Err(RouteError::Unroutable(out_of_range(topic, p, partitions))),
                _ => Ok(()),
            },
        }
    }

    /// Asks the broker about `topic`, waiting with backoff while it does
    /// not answer.
    fn ask(&self, topic: &str, shutdown: &Shutdown) -> Result<Entry, RouteError> {
        let waiting = |why: &str, pause: Duration| {
            let retry_in_ms = pause.as_millis() as u64;
            tracing::warn!(topic, error = %why, retry_in_ms, "cannot look up a topic a message is routed to");
        };
        match with_backoff(shutdown, None, || self.entry(topic), waiting) {
            Ok(Ok(entry)) => Ok(entry),
            Ok(Err(reason)) => Err(RouteError::Unroutable(reason)),
            Err(_) => Err(RouteError::Stopped),
        }
    }

    /// One look at `topic`: its entry, a reason it cannot be routed to, or
    /// (`Err`) a reason to ask again.
    fn entry(&self, topic: &str) -> Result<Result<Entry, String>, String> {
        let lookup = self.look_up(topic);
        let checked = Instant::now();
        match lookup {
            Lookup::Exists(partitions) => Ok(Ok(Entry::Exists { partitions, checked })),
            Lookup::Missing => Ok(Ok(Entry::Missing { checked })),
            Lookup::Refused(code) => Ok(Err(format!("cannot publish to topic `{topic}`: {code}"))),
            Lookup::Unreachable(e) => Err(self.producer.context().scrub(&e.to_string())),
            Lookup::Again(why) => Err(why.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_answers_known_topics_and_fresh_misses() {
        let mut routes = Routes::default();
        routes.insert("a", 3);
        assert_eq!(routes.cached("a", None), Some(Ok(())));
        assert_eq!(routes.cached("a", Some(2)), Some(Ok(())));
        let reason = "partition 3 is out of range: topic `a` has 3 partitions";
        assert_eq!(routes.cached("a", Some(3)), Some(Err(reason.to_owned())));
        assert_eq!(routes.cached("b", None), None, "never looked up");
        routes.remember("b", Entry::Missing { checked: Instant::now() });
        let reason = "topic `b` does not exist (Sluice does not create topics; create it, or route elsewhere)";
        assert_eq!(routes.cached("b", Some(0)), Some(Err(reason.to_owned())));
    }

    #[test]
    fn stale_misses_are_asked_again() {
        let mut routes = Routes::default();
        let long_ago = Instant::now() - RECHECK * 2;
        routes.remember("gone", Entry::Missing { checked: long_ago });
        routes.remember("small", Entry::Exists { partitions: 1, checked: long_ago });
        assert_eq!(routes.cached("gone", None), None);
        assert_eq!(routes.cached("small", Some(5)), None, "the topic may have grown");
        assert_eq!(routes.cached("small", Some(0)), Some(Ok(())), "a hit never asks");
    }

    #[test]
    fn the_cache_is_bounded_and_keeps_existing_topics() {
        let mut routes = Routes::default();
        routes.insert("real", 1);
        for i in 0..MAX_ENTRIES + 10 {
            routes.remember(&format!("nope-{i}"), Entry::Missing { checked: Instant::now() });
        }
        assert!(routes.topics.len() <= MAX_ENTRIES);
        assert_eq!(routes.partitions("real"), Some(1));
    }
}
