//! Changes in an object zone between rescans, on a thread of their own:
//! every `--list-ms` the prefix is listed from the cursor (S3's
//! `start-after`: only keys after the greatest one seen), and the bucket's
//! S3 event notifications arrive from SQS (`--notification-queue`); each
//! new key is reported as [`Change::Touched`]. Keys that sort before the
//! cursor and are missed by the notifications (a writer naming objects out
//! of order) are found by the full rescan, `--rescan-ms`. Dropping the
//! [`Watch`] stops the thread within a listing.

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
    let lister = Lister { zone: zone.shallow(), tx, stop: stop.clone() };
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
        let mut failing = false;
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
                failing = self.list_from_cursor(failing);
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
    fn list_from_cursor(&self, was_failing: bool) -> bool {
        let zone = &self.zone;
        let cursor = zone.cursor.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let listing = match &cursor {
            Some(cursor) => zone.store.list_with_offset(Some(&zone.prefix), cursor),
            None => zone.store.list(Some(&zone.prefix)),
        };
        let listed: Result<Vec<ObjectMeta>, _> = zone.block_on(listing.try_collect());
        match listed {
            Ok(listed) => {
                for meta in listed.iter().filter(|meta| zone.takes(&meta.location)) {
                    zone.advance(&meta.location);
                    let _ = self.tx.send(Change::Touched(zone.name_of(&meta.location)));
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

impl ObjectZone {
    /// A second handle on the same zone (store, runtime, cursor), for the
    /// watcher thread.
    fn shallow(&self) -> ObjectZone {
        ObjectZone {
            name: self.name.clone(),
            store: self.store.clone(),
            prefix: self.prefix.clone(),
            recursive: self.recursive,
            list_every: self.list_every,
            queue: None,
            cursor: self.cursor.clone(),
            runtime: self.runtime.clone(),
            scrub: self.scrub.clone(),
        }
    }
}
