//! Compressed and nested input, compressed output: `.gz`, `.zst`, `.bz2`
//! and `.lz4` landing files are decoded by extension, once complete; a
//! restart in the middle of one resumes at its uncompressed offset; a
//! corrupt one publishes what comes before the damage and dead-letters the
//! rest; `--recursive` takes date-partitioned sub-directories; and every
//! librdkafka `compression.type` publishes what reads back.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sluice_tests::{
    Broker, Host, HostArgs, Record, TestDirs, checkpointed, invoice_file, poll_until, read_topic, topic_name,
    transform, wait_for_count,
};

const WITHIN: Duration = Duration::from_secs(60);

/// `data` compressed as the file extension `ext` says, with the checksums
/// the command-line tools write by default.
fn compress(ext: &str, data: &[u8]) -> Vec<u8> {
    match ext {
        "gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "zst" => {
            let mut e = zstd::Encoder::new(Vec::new(), 3).unwrap();
            e.include_checksum(true).unwrap();
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "bz2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "lz4" => {
            let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
            let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        other => panic!("no codec for .{other}"),
    }
}

fn fixture(n: u32) -> String {
    std::fs::read_to_string(invoice_file(n)).unwrap()
}

/// `(StoreID, line)` of every line of `text`: what sql.wasm keyed by
/// StoreID publishes.
fn keyed(text: &str) -> Vec<(String, String)> {
    let store = |l: &str| serde_json::from_str::<Value>(l).unwrap()["StoreID"].as_str().unwrap().to_owned();
    text.lines().map(|l| (store(l), l.to_owned())).collect()
}

/// The records as `(key, value)`, sorted, against `expected`, sorted.
fn assert_keyed_exactly(records: &[Record], mut expected: Vec<(String, String)>) {
    let mut got: Vec<(String, String)> =
        records.iter().map(|r| (r.key.clone().expect("a key"), r.value.clone().expect("a value"))).collect();
    got.sort();
    expected.sort();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "the records differ from the source lines");
}

/// sql.wasm keeping every record, keyed by StoreID.
fn start_keyed(dirs: &TestDirs, broker: &Broker, topic: &str, flags: &[&str]) -> Host {
    let args = HostArgs::new(dirs, &transform("sql"), topic, &broker.bootstrap).config("key", "StoreID").flags(flags);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    host
}

fn dead_letters(checkpoint: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(checkpoint.join("dead-letters.jsonl")).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).expect("dead letters are JSON lines")).collect()
}

/// Writes `bytes` elsewhere and moves them in, so they arrive whole.
fn move_in(dirs: &TestDirs, relative: &str, bytes: &[u8]) {
    let staged = dirs.root().join("staged");
    std::fs::write(&staged, bytes).unwrap();
    let to = dirs.landing().join(relative);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::rename(&staged, to).unwrap();
}

#[test]
fn each_input_codec_gives_the_exact_records_and_keys_once_the_file_is_complete() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("codecs-in");
    broker.create_topic(&topic, 3);
    // Only a writer's close completes a file: a pause never does.
    let host = start_keyed(&dirs, &broker, &topic, &["--settle-ms", "600000"]);

    // A .gz half written and held open is not read, not even in part.
    let slow_text = fixture(1);
    let slow_bytes = compress("gz", slow_text.as_bytes());
    let mut slow = std::fs::File::create(dirs.landing().join("slow.json.gz")).unwrap();
    slow.write_all(&slow_bytes[..slow_bytes.len() / 2]).unwrap();
    slow.flush().unwrap();

    let files = [("a.json.zst", "zst", 2), ("b.json.bz2", "bz2", 3), ("c.json.lz4", "lz4", 1), ("d.json.gz", "gz", 2)];
    let mut expected = Vec::new();
    for (name, ext, n) in files {
        let text = fixture(n);
        std::fs::write(dirs.landing().join(name), compress(ext, text.as_bytes())).unwrap();
        expected.extend(keyed(&text));
    }
    let records = wait_for_count(&broker.bootstrap, &topic, 0, expected.len(), WITHIN);
    assert_keyed_exactly(&records, expected.clone());
    assert!(dead_letters(&dirs.checkpoint()).is_empty(), "the half-written .gz was not decoded");

    slow.write_all(&slow_bytes[slow_bytes.len() / 2..]).unwrap();
    drop(slow);
    expected.extend(keyed(&slow_text));
    let records = wait_for_count(&broker.bootstrap, &topic, 0, expected.len(), WITHIN);
    assert_keyed_exactly(&records, expected);
    assert!(dead_letters(&dirs.checkpoint()).is_empty());
    assert!(host.stop().success());
}

/// `{"id":N}` lines, every 400th asking fault_injector to spin until the
/// time limit: a slow, steady stream, so a stop lands mid-file.
fn slow_lines(count: u64) -> (String, Vec<u64>) {
    let mut text = String::new();
    let mut spinners = Vec::new();
    for id in 1..=count {
        if id % 400 == 0 {
            text.push_str(&format!("{{\"id\":{id},\"fault\":\"loop\"}}\n"));
            spinners.push(id);
        } else {
            text.push_str(&format!("{{\"id\":{id}}}\n"));
        }
    }
    (text, spinners)
}

#[test]
fn a_restart_mid_way_through_a_compressed_file_neither_loses_nor_repeats() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("codecs-restart");
    broker.create_topic(&topic, 1);
    let (text, spinners) = slow_lines(40_000);
    move_in(&dirs, "slow.json.zst", &compress("zst", text.as_bytes()));
    let file = dirs.landing().join("slow.json.zst");
    let flags = ["--transform-timeout-ms", "50", "--settle-ms", "200"];
    let args = HostArgs::new(&dirs, &transform("fault_injector"), &topic, &broker.bootstrap).flags(&flags);

    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    poll_until(WITHIN, "part of the file is checkpointed", || {
        checkpointed(&dirs.checkpoint(), &file).is_some_and(|(offset, _)| offset > 0).then_some(())
    });
    assert!(host.stop().success());
    let (offset, line) = checkpointed(&dirs.checkpoint(), &file).unwrap();
    assert!(offset < text.len() as u64, "the stop landed mid-file (at {offset} of {})", text.len());
    assert_eq!(offset, text.lines().take(line as usize).map(|l| l.len() as u64 + 1).sum::<u64>());
    let before = read_topic(&broker.bootstrap, &topic, 0).unwrap().len();
    assert!(before > 0 && before < 40_000 - spinners.len(), "{before} records before the restart");

    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    let records = wait_for_count(&broker.bootstrap, &topic, 0, 40_000 - spinners.len(), WITHIN);
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for r in &records {
        *counts.entry(r.key.as_deref().unwrap().parse().unwrap()).or_default() += 1;
    }
    assert!(counts.values().all(|n| *n == 1), "a record was published twice");
    assert!(spinners.iter().all(|id| !counts.contains_key(id)));
    let letters = poll_until(WITHIN, "every spinner is dead-lettered", || {
        let letters = dead_letters(&dirs.checkpoint());
        (letters.len() >= spinners.len()).then_some(letters)
    });
    let mut lines: Vec<u64> = letters.iter().map(|l| l["line"].as_u64().unwrap()).collect();
    lines.sort();
    assert_eq!(lines, spinners, "each spinner once, by its uncompressed line");
    poll_until(WITHIN, "the whole file is checkpointed", || {
        (checkpointed(&dirs.checkpoint(), &file) == Some((text.len() as u64, 40_000))).then_some(())
    });
    assert!(host.stop().success());
}

#[test]
fn a_corrupt_gz_publishes_the_lines_before_the_damage_and_one_dead_letter() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("codecs-corrupt");
    broker.create_topic(&topic, 1);
    let host = start_keyed(&dirs, &broker, &topic, &["--settle-ms", "200"]);

    // A good member, then bytes that are not gzip: decoding fails where
    // the damage starts, after every line of the good member.
    let text = fixture(1);
    let good_lines = 150;
    let good: String = text.lines().take(good_lines).map(|l| format!("{l}\n")).collect();
    let mut bytes = compress("gz", good.as_bytes());
    bytes.extend(b"\x1f\x8c not a gzip member; the rest of the file is lost\n");
    bytes.extend(compress("gz", &text.as_bytes()[good.len()..]));
    let mut decoded = Vec::new();
    let damaged = flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut decoded);
    assert!(damaged.is_err(), "the damage is detected");
    move_in(&dirs, "damaged.json.gz", &bytes);

    let letters = poll_until(WITHIN, "the damage is dead-lettered", || {
        let letters = dead_letters(&dirs.checkpoint());
        (!letters.is_empty()).then_some(letters)
    });
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    let file = dirs.landing().join("damaged.json.gz");
    assert_eq!(letter["file"].as_str(), Some(file.to_str().unwrap()), "{letter}");
    let line = letter["line"].as_u64().unwrap();
    assert_eq!(line, good_lines as u64 + 1, "{letter}");
    let before: Vec<&str> = text.lines().take(line as usize - 1).collect();
    let offset: u64 = before.iter().map(|l| l.len() as u64 + 1).sum();
    assert_eq!(letter["offset"].as_u64(), Some(offset), "{letter}");
    let reason = letter["reason"].as_str().unwrap();
    assert!(reason.starts_with("gzip decoding failed at uncompressed byte "), "{reason}");
    let failed_at: u64 =
        reason["gzip decoding failed at uncompressed byte ".len()..].split(':').next().unwrap().parse().unwrap();
    assert_eq!(failed_at, good.len() as u64, "{reason}");
    assert!(reason.contains("corrupt") || reason.contains("invalid"), "the decoder's message: {reason}");

    let records = wait_for_count(&broker.bootstrap, &topic, 0, before.len(), WITHIN);
    assert_keyed_exactly(&records, keyed(&before.join("\n")));
    // The file is done: a later file still goes through, the damaged one
    // is not tried again.
    move_in(&dirs, "after.json", fixture(2).as_bytes());
    wait_for_count(&broker.bootstrap, &topic, 0, before.len() + 300, WITHIN);
    assert_eq!(dead_letters(&dirs.checkpoint()).len(), 1);
    assert!(host.stop().success());

    // Nor after a restart.
    let host = start_keyed(&dirs, &broker, &topic, &["--settle-ms", "200"]);
    move_in(&dirs, "last.json", fixture(3).as_bytes());
    wait_for_count(&broker.bootstrap, &topic, 0, before.len() + 300 + 350, WITHIN);
    assert!(host.stop().success());
    assert_eq!(dead_letters(&dirs.checkpoint()).len(), 1, "the damage is dead-lettered once");
}

/// A date-partitioned landing zone: two `part-0.json` in two partitions,
/// and a job's `_temporary/` that is not data yet.
fn partitioned(dirs: &TestDirs) {
    move_in(dirs, "date=2026-12-01/part-0.json", fixture(1).as_bytes());
    move_in(dirs, "date=2026-12-02/part-0.json", fixture(2).as_bytes());
    move_in(dirs, "_temporary/0/part-1.json", fixture(3).as_bytes());
}

#[test]
fn recursive_takes_nested_partitions_and_without_it_they_are_ignored() {
    let broker = Broker::start(Path::new("."));
    let flags = ["--settle-ms", "200", "--rescan-ms", "100"];

    let dirs = TestDirs::new();
    let topic = topic_name("recursive");
    broker.create_topic(&topic, 3);
    partitioned(&dirs);
    let mut recursive = flags.to_vec();
    recursive.push("--recursive");
    let host = start_keyed(&dirs, &broker, &topic, &recursive);
    let mut expected = [keyed(&fixture(1)), keyed(&fixture(2))].concat();
    let records = wait_for_count(&broker.bootstrap, &topic, 0, expected.len(), WITHIN);
    assert_keyed_exactly(&records, expected.clone());
    // A partition that appears later, compressed, is watched too.
    move_in(&dirs, "date=2026-12-03/hour=00/part-0.json.gz", &compress("gz", fixture(3).as_bytes()));
    expected.extend(keyed(&fixture(3)));
    let records = wait_for_count(&broker.bootstrap, &topic, 0, expected.len(), WITHIN);
    assert_keyed_exactly(&records, expected);
    assert!(host.stop().success());

    let dirs = TestDirs::new();
    let topic = topic_name("flat");
    broker.create_topic(&topic, 3);
    partitioned(&dirs);
    let args =
        HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap).config("key", "StoreID").flags(&flags);
    let mut host = Host::start(&args.log_level("debug"), dirs.root());
    host.wait_for_log("streaming", WITHIN);
    move_in(&dirs, "top.json", fixture(3).as_bytes());
    let records = wait_for_count(&broker.bootstrap, &topic, 0, 350, WITHIN);
    assert_keyed_exactly(&records, keyed(&fixture(3)));
    // Several rescans later the partitions are still not read.
    let seen = host.log().matches("rescanned the landing zone").count();
    poll_until(WITHIN, "three more rescans", || {
        (host.log().matches("rescanned the landing zone").count() >= seen + 3).then_some(())
    });
    assert_eq!(read_topic(&broker.bootstrap, &topic, 0).unwrap().len(), 350);
    assert!(host.stop().success());
}

#[test]
fn every_output_compression_codec_publishes_what_reads_back() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let text = fixture(2);
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = topic_name(&format!("codec-out-{codec}"));
        broker.create_topic(&topic, 1);
        let property = format!("compression.type={codec}");
        let host = start_keyed(&dirs, &broker, &topic, &["--kafka", &property]);
        assert!(host.log().contains("streaming"), "{codec}: {}", host.log());
        move_in(&dirs, &format!("{codec}.json"), text.as_bytes());
        let records = wait_for_count(&broker.bootstrap, &topic, 0, 300, WITHIN);
        assert_keyed_exactly(&records, keyed(&text));
        assert!(host.stop().success(), "{codec}");
    }
}
