//! The checkpoint directory under stress: a corrupt checkpoint stops the
//! host with a way out, and a full disk for the checkpoint or the
//! dead-letter file pauses the stream until it can write again. A full disk
//! is simulated by pointing the file at /dev/full, which fails every write
//! with ENOSPC.

use std::os::unix::fs::symlink;
use std::time::Duration;

use sluice_tests::{Broker, Host, HostArgs, TestDirs, invoice_file, read_topic, topic_name, transform, wait_for_count};

const WITHIN: Duration = Duration::from_secs(30);

fn keep_all_host(dirs: &TestDirs, broker: &Broker, topic: &str) -> Host {
    let args = HostArgs::new(dirs, &transform("sql"), topic, &broker.bootstrap);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    host
}

/// The checkpoint's offset for the file at `name` in the landing zone.
fn checkpointed(dirs: &TestDirs, name: &str) -> Option<u64> {
    sluice_tests::checkpointed(&dirs.checkpoint(), &dirs.landing().join(name)).map(|(offset, _)| offset)
}

#[test]
fn a_corrupt_checkpoint_stops_the_host_with_a_way_out() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("corrupt");
    broker.create_topic(&topic, 1);
    let host = keep_all_host(&dirs, &broker, &topic);
    std::fs::copy(invoice_file(2), dirs.landing().join("a.json")).unwrap();
    wait_for_count(&broker.bootstrap, &topic, 0, 300, WITHIN);
    assert!(host.stop().success());
    let path = dirs.checkpoint().join("checkpoint.json");
    let text = std::fs::read(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();

    let args = HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap);
    let mut host = Host::start(&args, dirs.root());
    assert_eq!(host.wait(WITHIN).code(), Some(1));
    let expected = format!("error: checkpoint {} is corrupt (EOF while parsing", path.display());
    let log = host.log();
    assert!(log.contains(&expected), "{log}");
    assert!(
        log.contains("it was left untouched. To recover, restore it from a backup, or move it aside to start over")
    );
    assert_eq!(std::fs::read(&path).unwrap(), &text[..text.len() / 2], "the corrupt file is not overwritten");
    assert_eq!(read_topic(&broker.bootstrap, &topic, 0).unwrap().len(), 300, "nothing was sent again");
}

#[test]
fn a_full_disk_for_dead_letters_pauses_the_batch_until_it_can_write() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("full-dlq");
    broker.create_topic(&topic, 1);
    std::fs::create_dir_all(dirs.checkpoint()).unwrap();
    let dead_letters = dirs.checkpoint().join("dead-letters.jsonl");
    symlink("/dev/full", &dead_letters).unwrap();
    let mut host = keep_all_host(&dirs, &broker, &topic);

    std::fs::write(dirs.landing().join("mixed.json"), "{\"id\":1}\n{\"id\":\n{\"id\":3}\n").unwrap();
    host.wait_for_log("cannot write dead letters", WITHIN);
    host.wait_for_log("No space left on device", WITHIN);
    assert!(read_topic(&broker.bootstrap, &topic, 0).unwrap().is_empty(), "nothing of the batch goes out first");
    assert_eq!(checkpointed(&dirs, "mixed.json"), None, "nothing is acknowledged");

    std::fs::remove_file(&dead_letters).unwrap();
    let records = wait_for_count(&broker.bootstrap, &topic, 0, 2, WITHIN);
    let mut values: Vec<_> = records.iter().map(|r| r.value.clone().unwrap()).collect();
    values.sort();
    assert_eq!(values, ["{\"id\":1}", "{\"id\":3}"]);
    let letters = std::fs::read_to_string(&dead_letters).unwrap();
    assert_eq!(letters.lines().count(), 1, "{letters}");
    assert!(letters.contains("\"line\":2,\"offset\":9,\"record\":\"{\\\"id\\\":\"}"), "{letters}");
    sluice_tests::poll_until(WITHIN, "the checkpoint covers the file", || {
        (checkpointed(&dirs, "mixed.json") == Some(25)).then_some(())
    });
    assert!(host.stop().success());
}

#[test]
fn a_full_disk_for_the_checkpoint_pauses_the_stream_until_it_can_write() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("full-checkpoint");
    broker.create_topic(&topic, 1);
    std::fs::create_dir_all(dirs.checkpoint()).unwrap();
    let tmp = dirs.checkpoint().join("checkpoint.tmp");
    symlink("/dev/full", &tmp).unwrap();
    let mut host = keep_all_host(&dirs, &broker, &topic);

    std::fs::copy(invoice_file(1), dirs.landing().join("one.json")).unwrap();
    wait_for_count(&broker.bootstrap, &topic, 0, 400, WITHIN);
    host.wait_for_log("cannot write the checkpoint", WITHIN);
    std::fs::copy(invoice_file(2), dirs.landing().join("two.json")).unwrap();
    // Two more failed attempts, a second apart: the second file had time
    // to be read, and is held back while the checkpoint cannot be written.
    sluice_tests::poll_until(WITHIN, "two more attempts", || {
        (host.log().matches("cannot write the checkpoint").count() >= 3).then_some(())
    });
    assert_eq!(read_topic(&broker.bootstrap, &topic, 0).unwrap().len(), 400, "the stream is paused");
    assert!(!dirs.checkpoint().join("checkpoint.json").exists());

    std::fs::remove_file(&tmp).unwrap();
    wait_for_count(&broker.bootstrap, &topic, 0, 700, WITHIN);
    sluice_tests::poll_until(WITHIN, "the checkpoint covers both files", || {
        let sizes = (std::fs::metadata(invoice_file(1)).ok()?.len(), std::fs::metadata(invoice_file(2)).ok()?.len());
        (checkpointed(&dirs, "one.json") == Some(sizes.0) && checkpointed(&dirs, "two.json") == Some(sizes.1))
            .then_some(())
    });
    assert!(host.stop().success());
}
