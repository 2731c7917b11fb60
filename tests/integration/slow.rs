//! The slow tier: crash loops, load and the fuzz targets (scripts/fuzz). Run with
//! `cargo test --release -p sluice-tests --test integration -- --ignored`
//! (or `scripts/test --ignored`). Each prints what it measured.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use sluice_tests::{Broker, Host, HostArgs, Record, TestDirs, read_topic, transform};

const WITHIN: Duration = Duration::from_secs(300);

/// Writes `count` small records `{"id":N,...}` to `path`; returns its size.
fn write_records(path: &Path, first: u64, count: u64, pad: usize) -> u64 {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let padding = "p".repeat(pad);
    for id in first..first + count {
        let store = if id % 20 == 0 { "STR7188" } else { "STR1534" };
        writeln!(out, r#"{{"id":{id},"StoreID":"{store}","pad":"{padding}"}}"#).unwrap();
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

/// The checkpointed offset of `file`, 0 before it has one.
fn checkpointed(dirs: &TestDirs, file: &Path) -> u64 {
    sluice_tests::checkpointed(&dirs.checkpoint(), file).map_or(0, |(offset, _)| offset)
}

/// Copies of each id in `records`.
fn id_counts(records: &[Record]) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    for r in records {
        let value: serde_json::Value = serde_json::from_str(r.value.as_deref().unwrap()).unwrap();
        *counts.entry(value["id"].as_u64().unwrap()).or_default() += 1;
    }
    counts
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<f64>().ok());
    kb.unwrap_or(0.0) / 1024.0
}

#[test]
#[ignore = "slow tier: SIGKILL loop"]
fn sigkill_at_random_moments_loses_nothing() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = sluice_tests::topic_name("kill-loop");
    broker.create_topic(&topic, 3);
    let file = dirs.landing().join("big.json");
    let records = 1_200_000;
    let size = write_records(&file, 0, records, 100);
    let args = HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap);

    let kills = 12;
    let mut mid_stream = 0;
    for k in 1..=kills {
        // A "random" moment: when progress passes a point that moves on
        // each round, so kills land at different offsets, mid-stream.
        let target = size * k / (kills + 1);
        let host = Host::start(&args, dirs.root());
        sluice_tests::poll_until(WITHIN, "progress to the kill point", || {
            (checkpointed(&dirs, &file) >= target).then_some(())
        });
        host.kill();
        let at = checkpointed(&dirs, &file);
        eprintln!("kill {k}: checkpoint at {at} of {size} bytes");
        mid_stream += usize::from(at < size);
    }
    assert!(mid_stream >= 10, "only {mid_stream} kills landed before the end of the file");
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    sluice_tests::poll_until(WITHIN, "the whole file", || (checkpointed(&dirs, &file) == size).then_some(()));
    assert!(host.stop().success());

    let counts = id_counts(&read_topic(&broker.bootstrap, &topic, 0).unwrap());
    let missing = (0..records).filter(|id| !counts.contains_key(id)).count();
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    eprintln!(
        "kill loop: {kills} SIGKILLs ({mid_stream} mid-stream), {records} records, {missing} missing, {duplicates} duplicates"
    );
    assert_eq!(missing, 0, "every source record is in the topic at least once");
}

#[test]
#[ignore = "slow tier: 10,000 files in a burst"]
fn ten_thousand_small_files_in_a_burst_are_all_delivered() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = sluice_tests::topic_name("burst");
    broker.create_topic(&topic, 3);
    let staging = dirs.root().join("staging");
    std::fs::create_dir(&staging).unwrap();
    let (files, per_file) = (10_000u64, 10u64);
    for f in 0..files {
        write_records(&staging.join(format!("f{f:05}.json")), f * per_file, per_file, 20);
    }
    let mut host = Host::start(&HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap), dirs.root());
    host.wait_for_log("streaming", WITHIN);
    let start = Instant::now();
    for f in 0..files {
        let name = format!("f{f:05}.json");
        std::fs::rename(staging.join(&name), dirs.landing().join(&name)).unwrap();
    }
    let total = (files * per_file) as usize;
    let records = sluice_tests::poll_until(WITHIN, "every record of the burst", || {
        read_topic(&broker.bootstrap, &topic, 0).ok().filter(|r| r.len() >= total)
    });
    let elapsed = start.elapsed();
    let rss = peak_rss_mb(host.pid());
    assert!(host.stop().success());
    let counts = id_counts(&records);
    assert_eq!(counts.len(), total, "every record arrived");
    assert!(counts.values().all(|n| *n == 1), "and only once");
    eprintln!("burst: {files} files, {total} records in {elapsed:.2?}, peak RSS {rss:.1} MB");
    assert!(rss < 200.0, "peak RSS {rss:.1} MB");
}

#[test]
#[ignore = "slow tier: a 1 GB file"]
fn a_one_gigabyte_file_streams_in_bounded_memory() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = sluice_tests::topic_name("gigabyte");
    broker.create_topic(&topic, 3);
    let staged = dirs.root().join("big.json");
    let records = 7_200_000u64;
    let size = write_records(&staged, 0, records, 100);
    assert!(size >= 1_000_000_000, "{size} bytes");
    let args = HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap)
        .config("where", "StoreID = 'STR7188'")
        .config("key", "StoreID");
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    let start = Instant::now();
    let file = dirs.landing().join("big.json");
    std::fs::rename(&staged, &file).unwrap();
    sluice_tests::poll_until(WITHIN, "the whole file", || (checkpointed(&dirs, &file) == size).then_some(()));
    let elapsed = start.elapsed();
    let rss = peak_rss_mb(host.pid());
    assert!(host.stop().success());
    let published = read_topic(&broker.bootstrap, &topic, 0).unwrap();
    assert_eq!(published.len() as u64, records / 20);
    let mb = size as f64 / 1e6;
    let secs = elapsed.as_secs_f64();
    eprintln!(
        "1 GB: {records} records, {mb:.0} MB in {secs:.2} s ({:.0} records/s, {:.0} MB/s), peak RSS {rss:.1} MB",
        records as f64 / secs,
        mb / secs
    );
    assert!(rss < 200.0, "peak RSS {rss:.1} MB");
}

#[test]
#[ignore = "slow tier: the fuzz targets, 60 s each"]
fn the_fuzz_targets_find_nothing_in_a_bounded_run() {
    // scripts/fuzz builds fuzz/ (its own workspace) with cargo fuzz and runs
    // each target for FUZZ_SECONDS (60 unless set); a crash fails it.
    let script = sluice_tests::workspace_root().join("scripts/fuzz");
    let status = std::process::Command::new(&script).status().expect("run scripts/fuzz");
    assert!(status.success(), "{} failed ({status}): a crash is in fuzz/artifacts/", script.display());
}
