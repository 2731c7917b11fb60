//! The file store's tests: round trips, the journal, refusals, modes and the lock.

use super::*;
use crate::record::Head;

fn sample() -> Checkpoint {
    let mut cp = Checkpoint::default();
    let head = Some(Head { len: 256, fnv: 42 });
    let a = FileProgress { path: "in/a.json".into(), offset: 300, line: 4, head };
    cp.files.insert(FileId { dev: 1, ino: 42 }, a);
    let b = FileProgress { path: "in/b\nc.json".into(), offset: 0, line: 0, head: None };
    cp.files.insert(FileId { dev: 1, ino: 7 }, b);
    cp
}

#[test]
fn round_trips_and_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::open(dir.path()).unwrap();
    assert_eq!(store.load().unwrap(), Checkpoint::default());
    store.save(&sample()).unwrap();
    assert_eq!(store.load().unwrap(), sample());
    assert!(!dir.path().join("checkpoint.tmp").exists());
}

#[test]
fn corrupt_checkpoint_is_refused_not_reset() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::open(dir.path()).unwrap();
    store.save(&sample()).unwrap();
    let path = dir.path().join(FILE_NAME);
    let text = fs::read(&path).unwrap();
    fs::write(&path, &text[..text.len() / 2]).unwrap();
    let err = store.load().unwrap_err().to_string();
    assert!(err.contains("checkpoint.json is corrupt (EOF while parsing"), "{err}");
    assert!(err.contains("move it aside to start over"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), &text[..text.len() / 2]);
}

/// `n` finished files.
fn finished(n: u64) -> Checkpoint {
    let mut cp = Checkpoint::default();
    for ino in 0..n {
        let progress = FileProgress { path: format!("in/file-{ino:05}.json"), offset: 4096, line: 40, head: None };
        cp.files.insert(FileId { dev: 2049, ino }, progress);
    }
    cp
}

/// Bytes a save writes once the store holds `cp` and one file moves.
fn bytes_of_one_move(dir: &Path, mut cp: Checkpoint) -> (u64, u64) {
    let mut store = FileStore::open(dir).unwrap();
    store.load().unwrap();
    store.save(&cp).unwrap();
    let first = store.last_save_bytes();
    let journal = fs::metadata(dir.join(JOURNAL_NAME)).unwrap().len();
    cp.files.get_mut(&FileId { dev: 2049, ino: 0 }).unwrap().offset += 100;
    store.save(&cp).unwrap();
    let moved = store.last_save_bytes();
    assert_eq!(fs::metadata(dir.join(JOURNAL_NAME)).unwrap().len(), journal + moved);
    drop(store);
    assert_eq!(FileStore::open(dir).unwrap().load().unwrap(), cp, "the journal and the snapshot load back");
    (first, moved)
}

#[test]
fn a_save_writes_what_moved_not_every_finished_file() {
    let small = tempfile::tempdir().unwrap();
    let large = tempfile::tempdir().unwrap();
    let (small_first, small_move) = bytes_of_one_move(small.path(), finished(3));
    let (large_first, large_move) = bytes_of_one_move(large.path(), finished(3_000));
    eprintln!("3,000 finished files: {large_first} bytes at the first save, then {large_move} a save");
    assert!(large_first > 300_000 && small_first < 2_000, "the first save is a whole snapshot");
    assert_eq!(small_move, large_move, "a save's bytes do not grow with the finished files");
    assert!(large_move < 200, "{large_move}");
}

#[test]
fn the_journal_is_compacted_once_it_outgrows_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::open(dir.path()).unwrap();
    let mut cp = finished(10);
    let mut written = 0;
    for step in 0..2_000 {
        cp.files.get_mut(&FileId { dev: 2049, ino: step % 10 }).unwrap().offset += 1;
        store.save(&cp).unwrap();
        written += store.last_save_bytes();
        let journal = fs::metadata(dir.path().join(JOURNAL_NAME)).unwrap().len();
        assert!(journal <= COMPACT_AT_LEAST + 200, "{journal}");
    }
    assert!(written < 2_000 * 300, "{written}");
    drop(store);
    assert_eq!(FileStore::open(dir.path()).unwrap().load().unwrap(), cp);
}

#[test]
fn a_torn_journal_tail_is_ignored_and_the_next_save_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::open(dir.path()).unwrap();
    let (mut cp, a) = (sample(), FileId { dev: 1, ino: 42 });
    store.save(&cp).unwrap();
    cp.files.get_mut(&a).unwrap().offset = 400;
    store.save(&cp).unwrap();
    let kept = cp.clone();
    cp.files.get_mut(&a).unwrap().offset = 500;
    cp.files.remove(&FileId { dev: 1, ino: 7 });
    store.save(&cp).unwrap();
    drop(store);
    let path = dir.path().join(JOURNAL_NAME);
    let whole = fs::read(&path).unwrap();
    for cut in [1, 5, 30] {
        fs::write(&path, &whole[..whole.len() - cut]).unwrap();
        let mut store = FileStore::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap(), kept, "cut {cut}: the last whole entry, never a wrong offset");
    }
    let mut store = FileStore::open(dir.path()).unwrap();
    store.load().unwrap();
    store.save(&cp).unwrap();
    drop(store);
    assert_eq!(FileStore::open(dir.path()).unwrap().load().unwrap(), cp);
}

#[test]
fn a_journal_of_an_older_snapshot_is_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::open(dir.path()).unwrap();
    let mut cp = sample();
    store.save(&cp).unwrap();
    cp.files.get_mut(&FileId { dev: 1, ino: 42 }).unwrap().offset = 10;
    store.save(&cp).unwrap();
    let old_journal = fs::read(dir.path().join(JOURNAL_NAME)).unwrap();
    cp.files.get_mut(&FileId { dev: 1, ino: 42 }).unwrap().offset = 900;
    store.compact(&cp).unwrap();
    drop(store);
    // A crash after the new snapshot's rename, before its journal's.
    fs::write(dir.path().join(JOURNAL_NAME), old_journal).unwrap();
    assert_eq!(FileStore::open(dir.path()).unwrap().load().unwrap(), cp);
}

#[test]
fn a_version_1_checkpoint_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    let old = r#"{
  "version": 1,
  "files": [
{ "dev": 1, "ino": 7, "path": "in/b\nc.json", "offset": 0, "line": 0 },
{ "dev": 1, "ino": 42, "path": "in/a.json", "offset": 300, "line": 4, "head": { "len": 256, "fnv": 42 } }
  ]
}"#;
    fs::write(dir.path().join(FILE_NAME), old).unwrap();
    let mut store = FileStore::open(dir.path()).unwrap();
    assert_eq!(store.load().unwrap(), sample());
    store.save(&sample()).unwrap();
    let text = fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
    assert!(text.contains("\"version\": 2"), "{text}");
}

#[test]
fn everything_written_is_private() {
    use std::os::unix::fs::MetadataExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("state/checkpoints");
    let mut store = FileStore::open(&dir).unwrap();
    store.save(&sample()).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o777;
    assert_eq!((mode(&dir), mode(dir.parent().unwrap())), (0o700, 0o700));
    for name in [FILE_NAME, JOURNAL_NAME, LOCK_NAME] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
}

#[test]
fn second_process_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let _first = FileStore::open(dir.path()).unwrap();
    let err = FileStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, CheckpointError::Locked(_)), "{err}");
}
