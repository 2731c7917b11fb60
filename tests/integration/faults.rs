//! Faults that must cost only the record involved: bad input lines, a
//! module that traps, panics, loops, eats memory or returns garbage, and
//! records Kafka refuses. Every record that is not published is in the dead
//! letters with the reason, file, line and byte offset; the neighbours go
//! through, and the host keeps running.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sluice_tests::{Broker, Host, HostArgs, TestDirs, now_ms, read_topic, topic_name, transform, wait_for_count};

const WITHIN: Duration = Duration::from_secs(30);

/// One line per fault, between well-behaved records; `(line, reason)` of
/// each expected dead letter, in file order.
fn poison_file() -> (Vec<u8>, Vec<(u64, &'static str)>) {
    let mut text = Vec::new();
    let lines: [&[u8]; 18] = [
        br#"{"id":1}"#,
        br#"{"id":2,"fault":"trap"}"#,
        br#"{"id":3}"#,
        br#"{"id":4,"fault":"panic"}"#,
        br#"{"id":5,"fault":"loop"}"#,
        br#"{"id":6,"fault":"bomb"}"#,
        br#"{"id":7,"fault":"garbage"}"#,
        br#"{"id":8,"fault":"error"}"#,
        br#"{"id":9,"fault":"escape"}"#,
        br#"{"id":10,"fault":"huge"}"#,
        br#"{"id":11"#,
        b"{\"id\":12,\"name\":\"\xff\xfe\"}",
        &[b'{'; 3000],
        br#"[1,2,3]"#,
        br#"{"id":15,"ts":1600000000000}"#,
        b"",
        br#"{"id":17}"#,
        br#"{"id":18}"#,
    ];
    for line in lines {
        text.extend_from_slice(line);
        text.push(b'\n');
    }
    let expected = vec![
        (2, "transform trapped: wasm trap: wasm `unreachable` instruction executed"),
        (4, "transform panicked: panicked at transforms/fault_injector/src/lib.rs"),
        (5, "transform exceeded the time limit of 300 ms"),
        (6, "transform exceeded the memory cap of 32 MiB"),
        (7, "transform returned a region 0xffffffbf+1024 outside its"),
        (8, "the record asked to fail"),
        (9, "escape attempt: file Err(Error { kind: Unsupported"),
        (10, "Kafka refused the message: Message production error: MessageSizeTooLarge"),
        (11, "malformed JSON at byte 8: expected ',' or '}' in the object"),
        (12, "invalid UTF-8 at byte 17 of the line"),
        (13, "line of 3001 bytes exceeds --max-record-bytes 2048"),
        (14, "malformed JSON at byte 0: a record must be a JSON object"),
    ];
    (text, expected)
}

/// Byte offset at which 1-based `line` starts.
fn offset_of(text: &[u8], line: u64) -> u64 {
    text.split_inclusive(|b| *b == b'\n').take(line as usize - 1).map(|l| l.len() as u64).sum()
}

fn dead_letters(checkpoint: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(checkpoint.join("dead-letters.jsonl")).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).expect("dead letters are JSON lines")).collect()
}

fn fault_host(dirs: &TestDirs, broker: &Broker, topic: &str, extra: &[&str]) -> Host {
    let mut flags = vec!["--transform-timeout-ms", "300", "--transform-memory-mb", "32"];
    flags.extend_from_slice(extra);
    if !extra.contains(&"--max-record-bytes") {
        flags.extend(["--max-record-bytes", "2048"]);
    }
    let args = HostArgs::new(dirs, &transform("fault_injector"), topic, &broker.bootstrap).flags(&flags);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    host
}

/// The well-behaved records of [`poison_file`], by key.
const GOOD: [&str; 5] = ["1", "3", "15", "17", "18"];

#[test]
fn each_fault_costs_only_its_record_and_lands_in_the_dead_letters() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("faults");
    broker.create_topic(&topic, 1);
    let start = now_ms();
    let host = fault_host(&dirs, &broker, &topic, &[]);
    let (text, expected) = poison_file();
    std::fs::write(dirs.landing().join("poison.json"), &text).unwrap();

    let records = wait_for_count(&broker.bootstrap, &topic, 0, GOOD.len(), WITHIN);
    let mut keys: Vec<&str> = records.iter().map(|r| r.key.as_deref().unwrap()).collect();
    keys.sort_by_key(|k| k.parse::<u32>().unwrap());
    assert_eq!(keys, GOOD);
    let with_ts = records.iter().find(|r| r.key.as_deref() == Some("15")).unwrap();
    assert_eq!(with_ts.timestamp_ms, Some(1_600_000_000_000), "the module's timestamp is the message's");
    assert_eq!(with_ts.headers, vec![("fault-injector".to_owned(), Some("v1".to_owned()))]);
    let stamped_by_producer = records.iter().find(|r| r.key.as_deref() == Some("1")).unwrap();
    assert!(stamped_by_producer.timestamp_ms.unwrap() >= start, "otherwise the producer's clock");

    let letters = sluice_tests::poll_until(WITHIN, "every fault is dead-lettered", || {
        let letters = dead_letters(&dirs.checkpoint());
        (letters.len() == expected.len()).then_some(letters)
    });
    let mut letters = letters;
    letters.sort_by_key(|l| l["line"].as_u64());
    let file = dirs.landing().join("poison.json");
    for (letter, (line, reason)) in letters.iter().zip(&expected) {
        assert_eq!(letter["line"].as_u64(), Some(*line), "{letter}");
        assert_eq!(letter["offset"].as_u64(), Some(offset_of(&text, *line)), "{letter}");
        assert_eq!(letter["file"].as_str(), Some(file.to_str().unwrap()), "{letter}");
        assert!(letter["reason"].as_str().unwrap().starts_with(reason), "line {line}: {letter}");
    }
    let utf8 = letters.iter().find(|l| l["line"] == 12).unwrap();
    assert_eq!(utf8["record_base64"], "eyJpZCI6MTIsIm5hbWUiOiL//iJ9", "invalid UTF-8 is kept byte for byte");

    // The host survived all of it: a later file still goes through.
    std::fs::write(dirs.landing().join("after.json"), "{\"id\":99}\n").unwrap();
    wait_for_count(&broker.bootstrap, &topic, 0, GOOD.len() + 1, WITHIN);
    assert!(host.stop().success());
}

#[test]
fn dead_letters_go_to_the_dead_letter_topic_with_their_origin() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let (topic, dlq) = (topic_name("faults"), topic_name("dlq"));
    broker.create_topic(&topic, 1);
    broker.create_topic(&dlq, 1);
    let host = fault_host(&dirs, &broker, &topic, &["--dead-letter-topic", &dlq, "--max-record-bytes", "4000000"]);
    // Besides the poison lines, one valid record too large for Kafka at all:
    // both topics refuse it, so it falls back to the local file.
    let (mut text, expected) = poison_file();
    text.extend_from_slice(format!("{{\"id\":19,\"pad\":\"{}\"}}\n", "p".repeat(1_500_000)).as_bytes());
    std::fs::write(dirs.landing().join("poison.json"), &text).unwrap();

    wait_for_count(&broker.bootstrap, &topic, 0, GOOD.len(), WITHIN);
    let letters = wait_for_count(&broker.bootstrap, &dlq, 0, expected.len(), WITHIN);
    let header = |r: &sluice_tests::Record, name: &str| {
        r.headers.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.clone()).unwrap_or_default()
    };
    let mut lines: Vec<u64> = letters.iter().map(|r| header(r, "sluice.source.line").parse().unwrap()).collect();
    lines.sort();
    assert_eq!(lines, expected.iter().map(|(l, _)| *l).collect::<Vec<_>>());
    let trap = letters.iter().find(|r| header(r, "sluice.source.line") == "2").unwrap();
    assert_eq!(trap.value.as_deref(), Some(r#"{"id":2,"fault":"trap"}"#));
    assert_eq!(header(trap, "sluice.source.offset"), offset_of(&text, 2).to_string());
    assert_eq!(header(trap, "sluice.source.file"), dirs.landing().join("poison.json").to_str().unwrap());
    assert!(header(trap, "sluice.error.reason").starts_with("transform trapped"));
    let huge = letters.iter().find(|r| header(r, "sluice.source.line") == "10").unwrap();
    assert_eq!(huge.value.as_deref(), Some(r#"{"id":10,"fault":"huge"}"#), "the source line, not the refused value");

    let local = sluice_tests::poll_until(WITHIN, "the oversized record reaches the local file", || {
        let local = dead_letters(&dirs.checkpoint());
        (!local.is_empty()).then_some(local)
    });
    assert_eq!(local.len(), 1, "{local:?}");
    assert_eq!(local[0]["line"], 19);
    let reason = local[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("the dead-letter topic refused it ("), "{reason}");
    assert!(reason.contains("first refused because: Kafka refused the message"), "{reason}");
    assert!(host.stop().success());
}

#[test]
fn a_module_failing_every_record_stops_the_stream_with_the_reason() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("tolerance");
    broker.create_topic(&topic, 1);
    let mut host = fault_host(&dirs, &broker, &topic, &["--max-consecutive-errors", "5"]);
    let text: String = (0..8).map(|i| format!("{{\"id\":{i},\"fault\":\"error\"}}\n")).collect();
    std::fs::write(dirs.landing().join("all-bad.json"), &text).unwrap();

    let status = host.wait(WITHIN);
    assert_eq!(status.code(), Some(1));
    let log = host.log();
    assert!(
        log.contains(&(
            "error: while streaming ".to_owned() + dirs.landing().join("all-bad.json").to_str().unwrap() + ": the transform \
             failed 5 records in a row (the last: the record asked to fail); stopping. Every failed record is in the dead \
             letters. Fix the module or its config, or raise --max-consecutive-errors"
        )),
        "{log}"
    );
    assert_eq!(dead_letters(&dirs.checkpoint()).len(), 8, "the whole batch is dead-lettered before stopping");
    assert!(read_topic(&broker.bootstrap, &topic, 0).unwrap().is_empty());
}
