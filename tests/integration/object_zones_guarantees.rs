//! The guarantees of files, kept for objects: a large object stopped
//! mid-way and resumed with a ranged GET; exactly-once with SIGKILLs while
//! objects stream; three hosts sharing one bucket through the consumer
//! group, one of them SIGKILLed. Each counts every record id in the topic
//! (read_committed): 0 missing, 0 duplicates.

use std::time::Duration;

use sluice_tests::{Host, HostArgs, Kind, free_port, poll_until, read_topic, takeovers};

use crate::object_zones::{BUCKET, Bench, WITHIN, assert_ids_once, padded_records, records_text};

/// Makes the dead-letter topic of [`exactly_once`]'s flags.
fn make_dead_letter_topic(bench: &Bench) {
    bench.broker.create_topic(&format!("{}-dl", bench.topic), 1);
}

/// `--delivery exactly-once` flags with the pipeline's topics named after
/// the bench's topic.
fn exactly_once(bench: &Bench, args: HostArgs) -> HostArgs {
    let (dead, offsets) = (format!("{}-dl", bench.topic), format!("{}-offsets", bench.topic));
    args.flags(&[
        "--delivery",
        "exactly-once",
        "--pipeline",
        &bench.topic,
        "--dead-letter-topic",
        &dead,
        "--offsets-topic",
        &offsets,
    ])
}

/// Records in the large object, and their padding: 25 MB, four of the
/// zone's 8 MiB GETs.
const LARGE: u64 = 100_000;
const LARGE_PAD: usize = 200;

#[test]
fn a_large_object_stopped_mid_way_resumes_with_a_ranged_get_exactly() {
    let bench = Bench::new(Kind::Seaweed, "obj-resume");
    let object = padded_records(0, LARGE, LARGE_PAD);
    eprintln!("large object: {} bytes", object.len());
    bench.server.put(BUCKET, "in/large.json", object);
    let host = bench.start(&bench.args());
    let stopped_at = poll_until(WITHIN, "some of the large object lands", || {
        let n = bench.records().len();
        (n > 0).then_some(n)
    });
    assert!(host.stop().success(), "sluice did not exit cleanly");
    let published = bench.records().len() as u64;
    eprintln!("stopped after {stopped_at} records seen, {published} published");
    assert!(published < LARGE, "the object was read to its end before the stop: nothing to resume");
    let mut host = bench.start(&bench.args());
    host.wait_for_log("resuming", WITHIN);
    let line = host.log().lines().find(|l| l.contains("resuming")).unwrap_or_default().to_owned();
    assert!(line.contains("offset=") && line.contains("large.json"), "{line}");
    let records = bench.wait_for(LARGE as usize);
    assert!(host.stop().success(), "sluice did not exit cleanly");
    assert_ids_once(&records, 0..LARGE, "large object resumed");
}

/// Objects and records per object of the kill loop.
const OBJECTS: u64 = 24;
const PER_OBJECT: u64 = 5_000;

#[test]
fn exactly_once_with_sigkills_while_objects_stream() {
    let bench = Bench::new(Kind::Moto, "obj-eos-kills");
    make_dead_letter_topic(&bench);
    let args = exactly_once(&bench, bench.args());
    let mut landed = 0;
    for round in 0..3 {
        let host = bench.start(&args);
        for n in landed..landed + OBJECTS / 4 {
            bench.server.put(BUCKET, &format!("in/gen-{n:03}.json"), records_text(n * PER_OBJECT, PER_OBJECT));
        }
        landed += OBJECTS / 4;
        let before = bench.records().len();
        poll_until(WITHIN, "records commit after the restart", || (bench.records().len() > before).then_some(()));
        eprintln!("kill {round}: after {} committed records", bench.records().len());
        host.kill();
    }
    let host = bench.start(&args);
    for n in landed..OBJECTS {
        bench.server.put(BUCKET, &format!("in/gen-{n:03}.json"), records_text(n * PER_OBJECT, PER_OBJECT));
    }
    let records = bench.wait_for((OBJECTS * PER_OBJECT) as usize);
    assert!(host.stop().success(), "sluice did not exit cleanly");
    assert_ids_once(&records, 0..OBJECTS * PER_OBJECT, "exactly-once with SIGKILLs");
}

/// The consumer group's session: a killed host's objects wait this long.
const SESSION_MS: u64 = 6_000;

#[test]
fn three_hosts_share_one_bucket_and_one_sigkilled_loses_and_doubles_nothing() {
    let bench = Bench::new(Kind::Moto, "obj-scale-out");
    make_dead_letter_topic(&bench);
    let start = |id: &str| {
        let home = sluice_tests::TestDirs::new();
        let args = bench.server.host_args(
            &home,
            (BUCKET, crate::object_zones::PREFIX),
            &sluice_tests::transform("sql"),
            &bench.topic,
            &bench.broker.bootstrap,
        );
        let args = args.config("where", "StoreID = 'STR7188'").config("key", "StoreID");
        let metrics = format!("127.0.0.1:{}", free_port());
        let args = exactly_once(&bench, args).flags(&[
            "--host-id",
            id,
            "--session-timeout-ms",
            &SESSION_MS.to_string(),
            "--kafka",
            "transaction.timeout.ms=10000",
            "--metrics-addr",
            &metrics,
        ]);
        (Host::start(&args, home.root()), home)
    };
    let mut hosts: Vec<(Host, sluice_tests::TestDirs)> = ["a", "b", "c"].into_iter().map(start).collect();
    for (host, _) in &mut hosts {
        host.wait_for_log("took over partitions", WITHIN);
    }
    for n in 0..OBJECTS / 2 {
        bench.server.put(BUCKET, &format!("in/gen-{n:03}.json"), records_text(n * PER_OBJECT, PER_OBJECT));
    }
    poll_until(WITHIN, "the first records commit", || (!bench.records().is_empty()).then_some(()));
    let (killed, _home) = hosts.remove(1);
    let orphaned = takeovers(&killed.log()).concat();
    killed.kill();
    eprintln!("killed host b, which owned offsets partitions {orphaned:?}");
    for n in OBJECTS / 2..OBJECTS {
        bench.server.put(BUCKET, &format!("in/gen-{n:03}.json"), records_text(n * PER_OBJECT, PER_OBJECT));
    }
    let records = poll_until(Duration::from_secs(120), "every record commits", || {
        let records = read_topic(&bench.broker.bootstrap, &bench.topic, bench.start).unwrap_or_default();
        (records.len() >= (OBJECTS * PER_OBJECT) as usize).then_some(records)
    });
    for (host, _) in hosts {
        assert!(host.stop().success(), "a host did not exit cleanly");
    }
    assert_ids_once(&records, 0..OBJECTS * PER_OBJECT, "three hosts, one killed");
}
