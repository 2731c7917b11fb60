//! The source against a real directory: growth, truncation, renames,
//! refused entries, and a writer's close.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::Source;
use crate::config::SourceConfig;
use crate::progress::{Checkpoint, Tracker};
use crate::record::{Batch, Skip};
use crate::shutdown::Shutdown;
use crate::zone::Change;
use crate::zone::local::LocalDir;

/// A source on `dir` that finishes a file as soon as it has read all of it.
fn source(dir: &Path) -> (Source, Receiver<Batch>) {
    let config = SourceConfig {
        dir: dir.to_owned(),
        store: None,
        glob: None,
        settle: Duration::ZERO,
        rescan: Duration::from_secs(3600),
        max_record_bytes: 1000,
        recursive: false,
        follow_symlinks: false,
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    let tracker = Arc::new(Tracker::new(Checkpoint::default(), Arc::default()));
    let metrics = crate::metrics::PipelineMetrics::detached();
    let zone = crate::zone::of(&config, &metrics).unwrap();
    (Source::new(zone, config, tracker, Arc::default(), metrics, tx, Shutdown::new()), rx)
}

/// Opens what is queued and reads it; the `(line, offset)` of each record.
fn read(source: &mut Source, rx: &Receiver<Batch>) -> Vec<(u64, u64)> {
    source.open_queued();
    assert!(source.read_active().is_ok());
    assert!(source.active.is_empty(), "every file is finished at once");
    rx.try_iter().flat_map(|b| b.meta).map(|m| (m.line, m.offset)).collect()
}

/// An event for `path`, then a read.
fn touch_and_read(source: &mut Source, rx: &Receiver<Batch>, path: &Path) -> Vec<(u64, u64)> {
    source.consider(path.to_owned());
    read(source, rx)
}

fn append(path: &Path, text: &str) {
    fs::OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

#[test]
fn a_finished_file_that_grows_is_read_on_from_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut source, rx) = source(dir.path());
    let path = dir.path().join("a.json");
    append(&path, "{\"a\":1}\n{\"a\":2}\n");
    assert_eq!(touch_and_read(&mut source, &rx, &path), [(1, 0), (2, 8)]);
    assert_eq!(touch_and_read(&mut source, &rx, &path), []);

    append(&path, "{\"a\":3}\n");
    let renamed = dir.path().join("b.json");
    fs::rename(&path, &renamed).unwrap();
    assert_eq!(touch_and_read(&mut source, &rx, &renamed), [(3, 16)]);
}

#[test]
fn a_finished_file_found_shorter_is_read_again_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut source, rx) = source(dir.path());
    let path = dir.path().join("a.json");
    append(&path, "{\"a\":1}\n{\"a\":2}\n");
    assert_eq!(touch_and_read(&mut source, &rx, &path), [(1, 0), (2, 8)]);

    fs::write(&path, "{\"b\":1}\n").unwrap();
    assert_eq!(touch_and_read(&mut source, &rx, &path), [(1, 0)]);
}

#[test]
fn a_file_renamed_before_it_is_opened_is_found_under_its_new_name() {
    let dir = tempfile::tempdir().unwrap();
    let (mut source, rx) = source(dir.path());
    let (path, renamed) = (dir.path().join("a.json"), dir.path().join("b.json"));
    append(&path, "{\"a\":1}\n");
    source.consider(path.clone());
    fs::rename(&path, &renamed).unwrap();
    source.consider(renamed.clone());
    assert_eq!(read(&mut source, &rx), []);
    assert_eq!(touch_and_read(&mut source, &rx, &renamed), [(1, 0)]);
}

#[test]
fn links_and_fifos_are_skipped_unread_with_one_warning_each() {
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("in");
    fs::create_dir(&zone).unwrap();
    let (mut source, rx) = source(&zone);
    append(&dir.path().join("secret.json"), "{\"secret\":1}\n");
    std::os::unix::fs::symlink(dir.path().join("secret.json"), zone.join("link.json")).unwrap();
    let fifo = zone.join("fifo.json");
    let mode = rustix::fs::Mode::from_raw_mode(0o600);
    rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, mode, 0).unwrap();
    append(&zone.join("a.json"), "{\"a\":1}\n");
    source.rescan();
    source.rescan();
    assert_eq!(read(&mut source, &rx), [(1, 0)], "only the regular file is read");
    let metrics = source.metrics.clone();
    assert_eq!((metrics.skips(Skip::Symlink), metrics.skips(Skip::NotARegularFile)), (1, 1));

    source.zone = Arc::new(LocalDir::new(zone.clone(), false, true));
    fs::remove_file(zone.join("link.json")).unwrap();
    std::os::unix::fs::symlink(zone.join("a.json"), zone.join("inner.json")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.json"), zone.join("outer.json")).unwrap();
    source.rescan();
    assert_eq!(read(&mut source, &rx), [], "a link inside is its target, read already");
    assert_eq!(metrics.skips(Skip::OutsideLandingZone), 1);
}

#[test]
fn a_close_of_a_file_with_nothing_new_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (mut source, rx) = source(dir.path());
    let path = dir.path().join("a.json");
    append(&path, "{\"a\":1}\n");
    assert_eq!(touch_and_read(&mut source, &rx, &path), [(1, 0)]);
    source.apply(Change::Closed(path.clone()));
    assert!(source.closed_early.is_empty());
    append(&path, "{\"a\":2}\n");
    source.apply(Change::Closed(path));
    assert_eq!(source.closed_early.len(), 1);
    assert_eq!(read(&mut source, &rx), [(2, 8)]);
    assert!(source.closed_early.is_empty());
}
