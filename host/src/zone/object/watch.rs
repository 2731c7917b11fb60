//! Changes in an object zone between rescans, on a thread of their own:
//! every `--list-ms` the prefix is listed from a cursor (S3's
//! `start-after`), and the bucket's S3 event notifications arrive from SQS
//! (`--notification-queue`); each object found is reported as a
//! [`Change::Listed`] (with its size and ETag, so no request per object),
//! each key announced as a [`Change::Touched`]. The cursor lags
//! [`LOOK_BACK`] behind the greatest key seen: each listing lists again the
//! keys that arrived in that window, so objects that writers working in
//! parallel finish out of key order are found by the next listing, not the
//! next full rescan. Keys that sort before the cursor by more than that
//! (a writer naming objects out of order) are found by the full rescan,
//! `--rescan-ms`, or a notification. Dropping the [`Watch`] stops the
//! thread within a listing.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, never, select};
use futures_util::TryStreamExt;
use object_store::ObjectMeta;
use object_store::path::Path as Key;

use super::{ObjectZone, notify};
use crate::zone::{Change, Watch};

/// How long the thread waits at most before it looks whether it was stopped.
const TICK: Duration = Duration::from_millis(200);

/// How far the cursor lags behind the greatest key seen, in time.
pub const LOOK_BACK: Duration = Duration::from_secs(10);

/// Sets its flag when dropped: the watcher thread then ends.
struct Stop(Arc<AtomicBool>);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Starts the watcher of `zone`; a zone with neither a listing interval nor
/// a queue has none, and is rescanned only.
pub(super) fn start(zone: &ObjectZone) -> io::Result<Watch> {
    if zone.list_every.is_none() && zone.queue.is_none() {
        return Err(io::Error::other("no --list-ms and no --notification-queue: the zone is rescanned only"));
    }
    let notifications = match &zone.queue {
        Some(queue) => Some(notify::start(queue.clone(), bucket(zone), zone.prefix.to_string())?),
        None => None,
    };
    let (tx, changes) = crossbeam_channel::unbounded();
    let stop = Arc::new(AtomicBool::new(false));
    let overflowed = Arc::new(AtomicBool::new(false));
    let lister = Lister { zone: ObjectZone { queue: None, ..zone.clone() }, tx, stop: stop.clone() };
    std::thread::Builder::new().name("sluice-list".into()).spawn(move || lister.run(notifications))?;
    Ok(Watch { changes, overflowed, keep: Box::new(Stop(stop)) })
}

/// The bucket (or container) of the zone: the URL's host.
fn bucket(zone: &ObjectZone) -> String {
    let name = zone.name.to_string_lossy();
    name.split_once("://").map_or("", |(_, rest)| rest).split(['/', '@']).next().unwrap_or_default().to_owned()
}

/// What the watcher thread holds.
struct Lister {
    zone: ObjectZone,
    tx: Sender<Change>,
    stop: Arc<AtomicBool>,
}

impl Lister {
    fn run(self, notifications: Option<notify::Notifications>) {
        let keys: Receiver<String> = notifications.as_ref().map_or_else(never, |n| n.keys.clone());
        let mut next_list = Instant::now() + self.zone.list_every.unwrap_or(Duration::MAX / 4);
        let (mut failing, mut cursors) = (false, Cursors::default());
        while !self.stop.load(Ordering::Relaxed) {
            let wait = next_list.saturating_duration_since(Instant::now()).min(TICK);
            select! {
                recv(keys) -> key => match key {
                    Ok(key) => self.announced(&key),
                    Err(_) => return,
                },
                default(wait) => {}
            }
            if Instant::now() >= next_list {
                if let Some(every) = self.zone.list_every {
                    next_list = Instant::now() + every;
                }
                failing = self.list_from_cursor(&mut cursors, failing);
            }
        }
    }

    /// A key a notification announced.
    fn announced(&self, key: &str) {
        let Ok(key) = Key::parse(key) else { return };
        if self.zone.takes(&key) {
            let _ = self.tx.send(Change::Touched(self.zone.name_of(&key)));
        }
    }

    /// Lists the keys after the cursor and reports them; returns whether it
    /// failed (a failure is logged once until a listing succeeds).
    fn list_from_cursor(&self, cursors: &mut Cursors, was_failing: bool) -> bool {
        let zone = &self.zone;
        let cursor = cursors.start_after(Instant::now(), zone.greatest());
        let listing = match &cursor {
            Some(cursor) => zone.store.list_with_offset(Some(&zone.prefix), cursor),
            None => zone.store.list(Some(&zone.prefix)),
        };
        let listed: Result<Vec<ObjectMeta>, _> = zone.block_on(listing.try_collect());
        match listed {
            Ok(listed) => {
                for meta in listed.iter().filter(|meta| zone.takes(&meta.location)) {
                    zone.advance(&meta.location);
                    let _ = self.tx.send(Change::Listed(zone.entry(meta)));
                }
                false
            }
            Err(error) => {
                if !was_failing {
                    let error = zone.scrub.text(&error.to_string());
                    tracing::warn!(zone = %zone, %error, "cannot list the landing zone; retrying");
                }
                true
            }
        }
    }
}

/// The greatest key seen at each listing of the last [`LOOK_BACK`]: the
/// next listing starts after the one of `LOOK_BACK` ago.
#[derive(Debug, Default)]
struct Cursors {
    seen: VecDeque<(Instant, Option<Key>)>,
}

impl Cursors {
    /// Where the listing that starts `now`, with `greatest` the greatest
    /// key seen so far, starts after.
    fn start_after(&mut self, now: Instant, greatest: Option<Key>) -> Option<Key> {
        self.seen.push_back((now, greatest));
        // Keep the newest record at least LOOK_BACK old, and those after it.
        while self.seen.get(1).is_some_and(|(at, _)| now.duration_since(*at) >= LOOK_BACK) {
            self.seen.pop_front();
        }
        self.seen.front().and_then(|(_, key)| key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_lags_the_greatest_key_by_the_look_back() {
        let (t0, mut cursors) = (Instant::now(), Cursors::default());
        let at = |s: u64| t0 + Duration::from_secs(s);
        let key = |k: &str| Some(Key::from(k));
        assert_eq!(cursors.start_after(at(0), key("in/a")), key("in/a"), "the first listing: after the rescan's");
        assert_eq!(cursors.start_after(at(1), key("in/c")), key("in/a"), "keys of the last 10 s listed again");
        assert_eq!(cursors.start_after(at(9), key("in/e")), key("in/a"));
        assert_eq!(cursors.start_after(at(11), key("in/f")), key("in/c"), "the greatest of 10 s ago");
        assert_eq!(cursors.start_after(at(30), key("in/g")), key("in/f"));
        assert_eq!(cursors.seen.len(), 2, "no more than the window is kept");
    }
}
