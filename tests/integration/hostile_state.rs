//! What Sluice writes, against the real binary and a real broker: the
//! checkpoint directory and its files are private (0700, 0600) whatever the
//! umask, so records in the dead letters are not readable by others; a
//! save's bytes do not grow with the number of finished files, and a
//! restart resumes exactly; a torn journal entry, as a crash mid-append
//! leaves it, is ignored on load and loses nothing.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use sluice_tests::{
    Broker, Host, HostArgs, Record, TestDirs, checkpoint_files, journal_entries, poll_until, read_topic, topic_name,
    transform, wait_for_count,
};

const WITHIN: Duration = Duration::from_secs(60);

fn start(dirs: &TestDirs, broker: &Broker, topic: &str) -> Host {
    let args = HostArgs::new(dirs, &transform("sql"), topic, &broker.bootstrap).flags(&["--settle-ms", "50"]);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    host
}

/// Puts `name` with records `ids` into the landing zone whole (a rename).
fn land(dirs: &TestDirs, name: &str, ids: std::ops::Range<u64>) {
    let staged = dirs.root().join(name);
    let text: String = ids.map(|id| format!("{{\"id\":{id}}}\n")).collect();
    fs::write(&staged, text).unwrap();
    fs::rename(&staged, dirs.landing().join(name)).unwrap();
}

/// Waits until the checkpoint has `count` files, each to its end.
fn wait_checkpointed(dirs: &TestDirs, count: usize) {
    poll_until(WITHIN, &format!("{count} files are checkpointed to their end"), || {
        let files = checkpoint_files(&dirs.checkpoint())?;
        let done = files.iter().filter(|f| {
            let size = fs::metadata(dirs.landing().join(f["path"].as_str().unwrap_or(""))).map(|m| m.len());
            size.is_ok_and(|s| Some(s) == f["offset"].as_u64())
        });
        (files.len() == count && done.count() == count).then_some(())
    });
}

/// Copies of each id on the topic.
fn id_counts(records: &[Record]) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    for r in records {
        let value: serde_json::Value = serde_json::from_str(r.value.as_deref().unwrap()).unwrap();
        *counts.entry(value["id"].as_u64().unwrap()).or_default() += 1;
    }
    counts
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).mode() & 0o7777
}

#[test]
fn the_checkpoint_directory_and_the_dead_letters_are_private() {
    let umask = fs::read_to_string("/proc/self/status").unwrap();
    assert!(umask.contains("Umask:\t0022"), "the test runs under the usual umask 022:\n{umask}");
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("private");
    broker.create_topic(&topic, 1);
    let host = start(&dirs, &broker, &topic);
    fs::write(dirs.landing().join("mixed.json"), "{\"id\":1}\n{\"secret\":\n").unwrap();
    wait_for_count(&broker.bootstrap, &topic, 0, 1, WITHIN);
    let letters = dirs.checkpoint().join("dead-letters.jsonl");
    poll_until(WITHIN, "the bad record is a dead letter", || {
        fs::read_to_string(&letters).ok()?.contains("secret").then_some(())
    });
    assert!(host.stop().success());

    assert_eq!(mode(&dirs.checkpoint()), 0o700, "the checkpoint directory sluice created");
    for name in ["dead-letters.jsonl", "checkpoint.json", "checkpoint.journal", "lock"] {
        assert_eq!(mode(&dirs.checkpoint().join(name)), 0o600, "{name}");
    }
}

#[test]
fn many_finished_files_cost_a_save_what_moved_and_a_restart_resumes_exactly() {
    const FILES: u64 = 1_000;
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("many-files");
    broker.create_topic(&topic, 1);
    let host = start(&dirs, &broker, &topic);
    for n in 0..FILES {
        land(&dirs, &format!("f{n:05}.json"), n * 2..n * 2 + 2);
    }
    wait_for_count(&broker.bootstrap, &topic, 0, 2 * FILES as usize, WITHIN * 3);
    wait_checkpointed(&dirs, FILES as usize);
    assert!(host.stop().success());

    // A restart sends nothing again; its first save starts a new journal.
    let host = start(&dirs, &broker, &topic);
    land(&dirs, "first-after-restart.json", 10_000..10_002);
    wait_checkpointed(&dirs, FILES as usize + 1);
    let snapshot = dirs.checkpoint().join("checkpoint.json");
    let journal = dirs.checkpoint().join("checkpoint.journal");
    let (snapshot_before, journal_before) = (fs::metadata(&snapshot).unwrap(), fs::metadata(&journal).unwrap());
    land(&dirs, "second-after-restart.json", 10_002..10_004);
    wait_checkpointed(&dirs, FILES as usize + 2);
    let (snapshot_after, journal_after) = (fs::metadata(&snapshot).unwrap(), fs::metadata(&journal).unwrap());
    let rewritten =
        snapshot_after.ino() != snapshot_before.ino() || snapshot_after.mtime_nsec() != snapshot_before.mtime_nsec();
    let written =
        journal_after.len().saturating_sub(journal_before.len()) + if rewritten { snapshot_after.len() } else { 0 };
    eprintln!(
        "{} finished files: the snapshot is {} bytes; one more file wrote {written} bytes",
        FILES + 1,
        snapshot_before.len()
    );
    assert!(!rewritten, "the snapshot of every finished file is not rewritten for one more file");
    assert!(written < 1_000, "{written} bytes written for one small file");
    assert!(host.stop().success());

    let records = read_topic(&broker.bootstrap, &topic, 0).unwrap();
    let counts = id_counts(&records);
    assert_eq!(counts.len(), 2 * FILES as usize + 4, "nothing lost");
    assert!(counts.values().all(|n| *n == 1), "nothing sent twice: {} records", records.len());
}

#[test]
fn a_torn_journal_entry_after_a_sigkill_is_ignored_and_nothing_is_lost() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("torn-journal");
    broker.create_topic(&topic, 1);
    let host = start(&dirs, &broker, &topic);
    for n in 0..5 {
        land(&dirs, &format!("f{n}.json"), n * 10..n * 10 + 10);
        wait_checkpointed(&dirs, n as usize + 1);
    }
    host.kill();
    let journal = dirs.checkpoint().join("checkpoint.journal");
    let whole = fs::read(&journal).unwrap();
    let entries = journal_entries(&whole);
    assert!(entries.len() >= 3, "saves were appended to the journal: {entries:?}");
    let last = entries.last().unwrap().to_string();
    assert!(last.contains("f4.json"), "the last entry is the last file's: {last}");
    fs::write(&journal, &whole[..whole.len() - 7]).unwrap();

    let mut host = start(&dirs, &broker, &topic);
    host.wait_for_log("cut short", WITHIN);
    land(&dirs, "after.json", 100..110);
    wait_checkpointed(&dirs, 6);
    assert!(host.stop().success());
    let counts = id_counts(&read_topic(&broker.bootstrap, &topic, 0).unwrap());
    assert_eq!(counts.len(), 60, "nothing lost");
    let twice: Vec<u64> = counts.iter().filter(|(_, n)| **n > 1).map(|(id, _)| *id).collect();
    assert!(twice.iter().all(|id| (40..50).contains(id)), "only the torn entry's file is sent again: {twice:?}");
    assert!(counts.values().all(|n| *n <= 2));
}
