//! The seed's invoice suite, run against the real `sluice` binary and a real
//! broker: files copied in one at a time, the topic read back from the
//! test's start timestamp after each, counts 53, 64 and 89 for STR7188.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sluice_tests::{
    Broker, Host, HostArgs, Record, TestDirs, invoice_file, now_ms, topic_name, transform, wait_for_count,
};

/// How long one file may take to show up in the topic.
const VISIBLE_WITHIN: Duration = Duration::from_secs(30);
/// STR7188 records in invoices-1, -2 and -3.
const STORE_COUNTS: [usize; 3] = [53, 11, 25];

/// The source lines of fixture `n` whose StoreID is STR7188.
pub(crate) fn store_lines(n: u32) -> Vec<String> {
    let text = std::fs::read_to_string(invoice_file(n)).expect("read fixture");
    text.lines()
        .filter(|l| serde_json::from_str::<Value>(l).unwrap()["StoreID"] == "STR7188")
        .map(str::to_owned)
        .collect()
}

/// Asserts `records` are exactly `lines`, in any order: every key is
/// STR7188 and every value parses to exactly its source record.
pub(crate) fn assert_exactly(records: &[Record], lines: &[String]) {
    assert_eq!(records.len(), lines.len());
    assert!(records.iter().all(|r| r.key.as_deref() == Some("STR7188")), "a key is not STR7188");
    let parse = |s: &str| serde_json::from_str::<Value>(s).expect("value is JSON");
    let mut got: Vec<Value> = records.iter().map(|r| parse(r.value.as_deref().expect("a value"))).collect();
    let mut want: Vec<Value> = lines.iter().map(|l| parse(l)).collect();
    let by_invoice = |v: &Value| v["InvoiceNumber"].as_str().expect("InvoiceNumber").to_owned();
    got.sort_by_key(by_invoice);
    want.sort_by_key(by_invoice);
    assert_eq!(got, want);
    let mut values: Vec<&str> = records.iter().map(|r| r.value.as_deref().unwrap()).collect();
    let mut lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    values.sort();
    lines.sort();
    assert_eq!(values, lines, "values are the compact source lines, byte for byte");
}

pub(crate) fn copy_in(n: u32, landing: &Path) {
    let from = invoice_file(n);
    std::fs::copy(&from, landing.join(from.file_name().unwrap())).expect("copy fixture in");
}

/// The seed's flow with `module` configured by `config`.
fn invoice_suite(module: &str, config: &[(&str, &str)]) {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("invoices");
    broker.create_topic(&topic, 3);
    let start = now_ms();
    let args = config
        .iter()
        .fold(HostArgs::new(&dirs, &transform(module), &topic, &broker.bootstrap), |a, (k, v)| a.config(k, v));
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", VISIBLE_WITHIN);

    let mut expected = Vec::new();
    let mut total = 0;
    for (n, count) in (1..=3).zip(STORE_COUNTS) {
        copy_in(n, &dirs.landing());
        expected.extend(store_lines(n));
        total += count;
        let records = wait_for_count(&broker.bootstrap, &topic, start, total, VISIBLE_WITHIN);
        assert_exactly(&records, &expected);
    }
    assert!(host.stop().success(), "sluice did not exit cleanly");
    let records = sluice_tests::read_topic(&broker.bootstrap, &topic, start).unwrap();
    assert_exactly(&records, &expected);
    assert_broker_agrees(&broker.bootstrap, &topic, &records, &expected);
}

/// What the broker itself reports about `topic` matches the `records` read
/// back: the high watermarks add up to the count, offsets-for-times finds
/// the first record at or after a timestamp, and a consumer group that
/// reads everything and commits is left with lag 0.
fn assert_broker_agrees(bootstrap: &str, topic: &str, records: &[Record], expected: &[String]) {
    let marks = sluice_tests::watermarks(bootstrap, topic).unwrap();
    assert!(marks.iter().all(|&(low, _)| low == 0), "a fresh topic starts at offset 0: {marks:?}");
    let high_sum: i64 = marks.iter().map(|&(_, high)| high).sum();
    assert_eq!(high_sum, records.len() as i64, "high watermarks {marks:?}");

    // A timestamp in the middle of the records: each partition's answer is
    // its first record stamped at or after it.
    let mut stamps: Vec<i64> = records.iter().map(|r| r.timestamp_ms.expect("a timestamp")).collect();
    stamps.sort();
    for at in [stamps[0], stamps[stamps.len() / 2], stamps[stamps.len() - 1] + 1] {
        let want: Vec<(i32, Option<i64>)> = (0..marks.len() as i32)
            .map(|p| {
                let in_p = records.iter().filter(|r| r.partition == p && r.timestamp_ms >= Some(at));
                (p, in_p.map(|r| r.offset).min())
            })
            .collect();
        assert_eq!(sluice_tests::offsets_for_times(bootstrap, topic, at).unwrap(), want, "offsets for {at}");
    }

    let group = format!("{topic}-group");
    let read = sluice_tests::read_as_group(bootstrap, topic, &group).unwrap();
    assert_exactly(&read, expected);
    let committed = sluice_tests::committed_offsets(bootstrap, topic, &group).unwrap();
    // A partition the group read nothing from has no committed offset; the
    // group would start it at the low watermark, so its lag is high - low.
    let lags: Vec<i64> =
        marks.iter().zip(&committed).map(|(&(low, high), &(_, offset))| high - offset.unwrap_or(low)).collect();
    assert_eq!(lags, vec![0; marks.len()], "the group's lag per partition (committed {committed:?}, marks {marks:?})");
    let with_records: Vec<_> = committed.iter().zip(&marks).filter(|(_, (_, high))| *high > 0).collect();
    assert!(!with_records.is_empty(), "no partition holds records");
    assert!(with_records.iter().all(|((_, offset), (_, high))| *offset == Some(*high)), "committed {committed:?}");
}

#[test]
fn sql_module_streams_the_invoice_files() {
    assert_eq!(store_lines(1).len() + store_lines(2).len() + store_lines(3).len(), 89);
    invoice_suite("sql", &[("where", "StoreID = 'STR7188'"), ("key", "StoreID")]);
}

#[test]
fn invoice_by_store_module_gives_the_same_counts() {
    invoice_suite("invoice_by_store", &[("store_id", "STR7188")]);
}

#[test]
fn invoice_by_store_in_c_gives_the_same_counts() {
    invoice_suite("invoice_by_store_c", &[("store_id", "STR7188")]);
}

#[test]
fn invoice_by_store_in_zig_gives_the_same_counts() {
    invoice_suite("invoice_by_store_zig", &[("store_id", "STR7188")]);
}

#[test]
fn invoice_by_store_in_assemblyscript_gives_the_same_counts() {
    invoice_suite("invoice_by_store_as", &[("store_id", "STR7188")]);
}

#[test]
fn invoice_by_store_in_go_gives_the_same_counts() {
    invoice_suite("invoice_by_store_go", &[("store_id", "STR7188")]);
}

#[test]
fn invoice_by_store_in_python_gives_the_same_counts() {
    invoice_suite("invoice_by_store_py", &[("store_id", "STR7188")]);
}

#[test]
fn invoice_by_store_in_javascript_gives_the_same_counts() {
    invoice_suite("invoice_by_store_js", &[("store_id", "STR7188")]);
}

/// A component's per-record error outcome (the Python and JavaScript SDKs'
/// strict JSON check) dead-letters that record with the module's text, and
/// the records around it are published.
#[test]
fn a_component_error_outcome_is_dead_lettered_with_its_text() {
    for module in ["invoice_by_store_py", "invoice_by_store_js"] {
        let dirs = TestDirs::new();
        let broker = Broker::start(dirs.root());
        let topic = topic_name("component-errors");
        broker.create_topic(&topic, 1);
        let start = now_ms();
        let args = HostArgs::new(&dirs, &transform(module), &topic, &broker.bootstrap).config("store_id", "STR7188");
        let mut host = Host::start(&args, dirs.root());
        host.wait_for_log("streaming", VISIBLE_WITHIN);
        let good = [r#"{"StoreID":"STR7188","n":1}"#, r#"{"StoreID":"STR7188","n":2}"#];
        let text = format!("{}\n{{\"StoreID\":\"STR7188\",}}\n[1]\n{}\n", good[0], good[1]);
        std::fs::write(dirs.landing().join("errors.json"), text).unwrap();
        let records = wait_for_count(&broker.bootstrap, &topic, start, 2, VISIBLE_WITHIN);
        let values: Vec<_> = records.iter().map(|r| r.value.as_deref().unwrap()).collect();
        assert_eq!(values, good, "{module}");
        let letters_file = dirs.checkpoint().join("dead-letters.jsonl");
        let letters: Vec<Value> = sluice_tests::poll_until(VISIBLE_WITHIN, "two dead letters", || {
            let text = std::fs::read_to_string(&letters_file).ok()?;
            let letters: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            (letters.len() == 2).then_some(letters)
        });
        assert!(host.stop().success(), "sluice did not exit cleanly");
        let reasons: Vec<_> = letters.iter().map(|l| (&l["line"], l["reason"].as_str().unwrap())).collect();
        assert_eq!(
            reasons,
            [
                (&2.into(), "malformed JSON at byte 21: expected a string key"),
                (&3.into(), "malformed JSON at byte 0: a record must be a JSON object"),
            ],
            "{module}"
        );
    }
}

#[test]
fn restart_after_the_first_file_neither_loses_nor_repeats() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("restart");
    broker.create_topic(&topic, 1);
    let start = now_ms();
    let args = HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap)
        .config("where", "StoreID = 'STR7188'")
        .config("key", "StoreID");

    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", VISIBLE_WITHIN);
    copy_in(1, &dirs.landing());
    wait_for_count(&broker.bootstrap, &topic, start, 53, VISIBLE_WITHIN);
    assert!(host.stop().success());

    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", VISIBLE_WITHIN);
    copy_in(2, &dirs.landing());
    copy_in(3, &dirs.landing());
    wait_for_count(&broker.bootstrap, &topic, start, 89, VISIBLE_WITHIN);
    assert!(host.stop().success());

    let records = sluice_tests::read_topic(&broker.bootstrap, &topic, start).unwrap();
    let expected: Vec<String> = (1..=3).flat_map(store_lines).collect();
    assert_exactly(&records, &expected);
}
