//! File-system events for the landing zone, from `notify` (inotify here).
//!
//! Events only wake the source and tell it which paths to look at; the
//! periodic rescan stays the source of truth, because events can be missed
//! (queue overflow, a watcher started after a file arrived). Nothing here
//! blocks the watcher thread: when the channel is full an event is dropped
//! and a rescan is requested instead.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Sender;
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{Event, EventKind, RecursiveMode, Watcher};

use crate::zone::{Change, Watch};

/// Events buffered between the watcher thread and the source. A burst of
/// thousands of files overflows it harmlessly: the rescan picks them up.
const EVENT_CAPACITY: usize = 4096;

/// Starts watching `dir`, and with `recursive` every directory below it
/// (new ones included: their creation is reported, so the source can look
/// inside for files written before the watch on them began).
pub fn watch(dir: &Path, recursive: bool) -> notify::Result<Watch> {
    let (tx, changes) = crossbeam_channel::bounded(EVENT_CAPACITY);
    let overflowed = Arc::new(AtomicBool::new(false));
    let flag = overflowed.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| forward(event, &tx, &flag))?;
    let mode = if recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
    watcher.watch(dir, mode)?;
    Ok(Watch { changes, overflowed, keep: Box::new(watcher) })
}

fn forward(event: notify::Result<Event>, tx: &Sender<Change>, overflowed: &AtomicBool) {
    let Ok(event) = event else {
        overflowed.store(true, Ordering::Relaxed);
        return;
    };
    if event.need_rescan() {
        overflowed.store(true, Ordering::Relaxed);
    }
    for change in classify(event) {
        if tx.try_send(change).is_err() {
            overflowed.store(true, Ordering::Relaxed);
        }
    }
}

fn classify(event: Event) -> Vec<Change> {
    let paths = event.paths.into_iter();
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => paths.map(Change::Closed).collect(),
        EventKind::Create(CreateKind::File | CreateKind::Folder | CreateKind::Any)
        | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any | ModifyKind::Metadata(_))
        | EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Any)) => paths.map(Change::Touched).collect(),
        // A rename reported as one event carries [from, to]: the new name matters.
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => paths.skip(1).map(Change::Touched).collect(),
        _ => Vec::new(),
    }
}
