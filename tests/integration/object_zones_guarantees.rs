//! The guarantees of files, kept for objects: a large object stopped
//! mid-way and resumed with a ranged GET; exactly-once with SIGKILLs while
//! objects stream; three hosts sharing one bucket through the consumer
//! group, one of them SIGKILLed. Each counts every record id in the topic
//! (read_committed): 0 missing, 0 duplicates.

use std::time::Duration;

use sluice_tests::{Host, HostArgs, Kind, free_port, poll_until, read_topic, takeovers};

use crate::object_zones::{BUCKET, Bench, WITHIN, assert_ids_once, slow_records};

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
    let (object, ids) = slow_records(0, LARGE, LARGE_PAD);
    eprintln!("large object: {} bytes", object.len());
    bench.server.put(BUCKET, "in/large.json", object);
    let host = bench.start(&bench.slow_args());
    poll_until(WITHIN, "some of the large object lands", || (bench.written() > 0).then_some(()));
    assert!(host.stop().success(), "sluice did not exit cleanly");
    let published = bench.records().len() as u64;
    eprintln!("stopped with {published} of {} records published", ids.len());
    assert!(published < ids.len() as u64, "the object was read to its end before the stop: nothing to resume");
    let mut host = bench.start(&bench.slow_args());
    host.wait_for_log("resuming", WITHIN);
    let line = host.log().lines().find(|l| l.contains("resuming")).unwrap_or_default().to_owned();
    assert!(line.contains("offset=") && line.contains("large.json"), "{line}");
    let records = bench.wait_for(ids.len());
    assert!(host.stop().success(), "sluice did not exit cleanly");
    assert_ids_once(&records, ids, "large object resumed");
}

/// Objects and records per object of the kill loop.
const OBJECTS: u64 = 24;
const PER_OBJECT: u64 = 5_000;

#[test]
fn exactly_once_with_sigkills_while_objects_stream() {
    let bench = Bench::new(Kind::Moto, "obj-eos-kills");
    make_dead_letter_topic(&bench);
    let args = exactly_once(&bench, bench.slow_args());
    let (mut landed, mut ids, mut mid_stream) = (0, Vec::new(), 0);
    for round in 0..3 {
        let before = bench.written();
        let host = bench.start(&args);
        for n in landed..landed + OBJECTS / 4 {
            ids.extend(put_slow_object(&bench, n));
        }
        landed += OBJECTS / 4;
        poll_until(WITHIN, "records are written after the restart", || (bench.written() > before).then_some(()));
        host.kill();
        let committed = bench.records().len();
        eprintln!("kill {round}: {committed} of {} landed records committed", ids.len());
        mid_stream += usize::from(committed < ids.len());
    }
    assert!(mid_stream > 0, "no kill landed while objects streamed");
    let host = bench.start(&args);
    for n in landed..OBJECTS {
        ids.extend(put_slow_object(&bench, n));
    }
    let records = bench.wait_for(ids.len());
    assert!(host.stop().success(), "sluice did not exit cleanly");
    assert_ids_once(&records, ids, "exactly-once with SIGKILLs");
}

/// Uploads object `n` of [`slow_records`]; returns the ids it publishes.
fn put_slow_object(bench: &Bench, n: u64) -> Vec<u64> {
    let (text, ids) = slow_records(n * PER_OBJECT, PER_OBJECT, 20);
    bench.server.put(BUCKET, &format!("in/gen-{n:03}.json"), text);
    ids
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
            &sluice_tests::transform("fault_injector"),
            &bench.topic,
            &bench.broker.bootstrap,
        );
        let args = args.flags(&["--transform-timeout-ms", "50"]);
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
    let mut ids: Vec<u64> = (0..OBJECTS / 2).flat_map(|n| put_slow_object(&bench, n)).collect();
    poll_until(WITHIN, "the first records are written", || (bench.written() > 0).then_some(()));
    let (killed, _home) = hosts.remove(1);
    let orphaned = takeovers(&killed.log()).concat();
    killed.kill();
    let committed = bench.records().len();
    eprintln!("killed host b (offsets partitions {orphaned:?}) with {committed} of {} records committed", ids.len());
    ids.extend((OBJECTS / 2..OBJECTS).flat_map(|n| put_slow_object(&bench, n)));
    let records = poll_until(Duration::from_secs(120), "every record commits", || {
        let records = read_topic(&bench.broker.bootstrap, &bench.topic, bench.start).unwrap_or_default();
        (records.len() >= ids.len()).then_some(records)
    });
    for (host, _) in hosts {
        assert!(host.stop().success(), "a host did not exit cleanly");
    }
    assert_ids_once(&records, ids, "three hosts, one killed");
}
