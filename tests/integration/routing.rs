//! Per-message routing (ABI v2) against a real broker: each message goes to
//! the topic and partition its module names, else to `--topic` and the
//! partitioner; a record becomes several messages; a message to a topic or
//! partition that does not exist dead-letters its record with the reason
//! and the stream goes on. The same in exactly-once mode, read
//! `read_committed`, across a SIGKILL.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sluice_tests::{
    Broker, Host, HostArgs, Record, TestDirs, poll_until, read_topic, topic_name, transform, wait_for_count, watermarks,
};

const WITHIN: Duration = Duration::from_secs(60);

fn dead_letters(checkpoint: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(checkpoint.join("dead-letters.jsonl")).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).expect("dead letters are JSON lines")).collect()
}

fn wait_for_dead_letters(checkpoint: &Path, count: usize) -> Vec<Value> {
    poll_until(WITHIN, &format!("{count} dead letters"), || {
        let letters = dead_letters(checkpoint);
        (letters.len() >= count).then_some(letters)
    })
}

/// `router` with `config`, streaming into `topic`.
fn router(dirs: &TestDirs, broker: &Broker, topic: &str, config: &[(&str, &str)]) -> HostArgs {
    let args = HostArgs::new(dirs, &transform("router"), topic, &broker.bootstrap);
    config.iter().fold(args, |args, (k, v)| args.config(k, v))
}

fn start(args: &HostArgs, dirs: &TestDirs) -> Host {
    let mut host = Host::start(args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    host
}

/// Sorted `(key, value)` pairs of `records`.
fn pairs(records: &[Record]) -> Vec<(String, String)> {
    let mut pairs: Vec<_> =
        records.iter().map(|r| (r.key.clone().unwrap_or_default(), r.value.clone().unwrap_or_default())).collect();
    pairs.sort();
    pairs
}

fn header<'r>(record: &'r Record, name: &str) -> Option<&'r str> {
    record.headers.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.as_deref())
}

#[test]
fn records_go_to_the_topics_their_module_names_and_the_rest_to_the_default() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let main = topic_name("route-main");
    let (east, west) = (format!("{main}-east"), format!("{main}-west"));
    for topic in [&main, &east, &west] {
        broker.create_topic(topic, 2);
    }
    let host = start(&router(&dirs, &broker, &main, &[("topic_field", "to"), ("key_field", "id")]), &dirs);
    let mut text = String::new();
    let mut want: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    for id in 0..30 {
        let (to, line) = match id % 3 {
            0 => (east.as_str(), format!(r#"{{"id":"{id}","to":"{east}"}}"#)),
            1 => (west.as_str(), format!(r#"{{"id":"{id}","to":"{west}"}}"#)),
            _ => (main.as_str(), format!(r#"{{"id":"{id}"}}"#)),
        };
        text.push_str(&line);
        text.push('\n');
        want.entry(to).or_default().push((id.to_string(), line));
    }
    std::fs::write(dirs.landing().join("routed.json"), &text).unwrap();
    for (topic, expected) in &want {
        wait_for_count(&broker.bootstrap, topic, 0, expected.len(), WITHIN);
    }
    assert!(host.stop().success());
    for (topic, mut expected) in want {
        expected.sort();
        assert_eq!(pairs(&read_topic(&broker.bootstrap, topic, 0).unwrap()), expected, "topic {topic}");
    }
    assert_eq!(dead_letters(&dirs.checkpoint()), Vec::<Value>::new());
}

#[test]
fn a_partition_chosen_per_message_is_where_it_lands_and_one_out_of_range_is_dead_lettered() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("route-partition");
    broker.create_topic(&topic, 3);
    let host = start(&router(&dirs, &broker, &topic, &[("partition_field", "p"), ("key_field", "id")]), &dirs);
    // The same key in every record: the partitioner would put them all in one partition.
    let text: String = (0..12).map(|i| format!("{{\"id\":\"same\",\"n\":{i},\"p\":{}}}\n", i % 3)).collect();
    let text = text + "{\"id\":\"same\",\"n\":12,\"p\":7}\n";
    std::fs::write(dirs.landing().join("partitions.json"), &text).unwrap();
    let records = wait_for_count(&broker.bootstrap, &topic, 0, 12, WITHIN);
    let letters = wait_for_dead_letters(&dirs.checkpoint(), 1);
    assert!(host.stop().success());
    for record in &records {
        let value: Value = serde_json::from_str(record.value.as_deref().unwrap()).unwrap();
        assert_eq!(i64::from(record.partition), value["p"].as_i64().unwrap(), "{record:?}");
    }
    let per_partition: Vec<usize> = (0..3).map(|p| records.iter().filter(|r| r.partition == p).count()).collect();
    assert_eq!(per_partition, [4, 4, 4]);
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["line"], 13);
    assert_eq!(letters[0]["reason"], format!("partition 7 is out of range: topic `{topic}` has 3 partitions"));
    assert_eq!(letters[0]["record"], "{\"id\":\"same\",\"n\":12,\"p\":7}");
}

#[test]
fn a_record_routed_to_a_missing_topic_is_dead_lettered_with_the_reason_and_the_rest_delivered() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("route-missing");
    let other = format!("{topic}-other");
    let missing = format!("{topic}-nowhere");
    broker.create_topic(&topic, 1);
    broker.create_topic(&other, 1);
    let host = start(&router(&dirs, &broker, &topic, &[("topic_field", "to"), ("key_field", "id")]), &dirs);
    let mut text = String::new();
    for id in 0..20 {
        let to = if id % 5 == 4 {
            &missing
        } else if id % 2 == 0 {
            &other
        } else {
            &topic
        };
        text.push_str(&format!("{{\"id\":\"{id}\",\"to\":\"{to}\"}}\n"));
    }
    text.push_str("{\"id\":\"bad\",\"to\":\"no spaces allowed\"}\n");
    std::fs::write(dirs.landing().join("some-missing.json"), &text).unwrap();
    let letters = wait_for_dead_letters(&dirs.checkpoint(), 5);
    // ids 0..20 minus 4, 9, 14, 19: the even ones to `other`, the odd ones to `topic`.
    let to_other = wait_for_count(&broker.bootstrap, &other, 0, 8, WITHIN);
    let to_main = wait_for_count(&broker.bootstrap, &topic, 0, 8, WITHIN);
    assert!(host.stop().success());
    let keys = |records: &[Record]| {
        let mut keys: Vec<u32> = records.iter().map(|r| r.key.as_deref().unwrap().parse().unwrap()).collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&to_other), [0, 2, 6, 8, 10, 12, 16, 18]);
    assert_eq!(keys(&to_main), [1, 3, 5, 7, 11, 13, 15, 17]);
    let mut letters = letters;
    letters.sort_by_key(|l| l["line"].as_u64());
    assert_eq!(letters.iter().map(|l| l["line"].as_u64().unwrap()).collect::<Vec<_>>(), [5, 10, 15, 20, 21]);
    let reason =
        format!("topic `{missing}` does not exist (Sluice does not create topics; create it, or route elsewhere)");
    assert!(letters[..4].iter().all(|l| l["reason"] == reason), "{letters:?}");
    assert_eq!(
        letters[4]["reason"],
        "topic `no spaces allowed` is not a valid Kafka topic name (1-249 of [a-zA-Z0-9._-])"
    );
    assert_eq!(letters[0]["record"], format!("{{\"id\":\"4\",\"to\":\"{missing}\"}}"));
}

#[test]
fn a_record_becomes_three_messages_counted_exactly() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("route-many");
    broker.create_topic(&topic, 3);
    let host = start(&router(&dirs, &broker, &topic, &[("copies", "3"), ("key_field", "id")]), &dirs);
    let text: String = (0..50).map(|id| format!("{{\"id\":\"{id}\"}}\n")).collect();
    std::fs::write(dirs.landing().join("many.json"), &text).unwrap();
    wait_for_count(&broker.bootstrap, &topic, 0, 150, WITHIN);
    let file = dirs.landing().join("many.json");
    poll_until(WITHIN, "the checkpoint covers the file", || {
        (sluice_tests::checkpointed(&dirs.checkpoint(), &file) == Some((text.len() as u64, 50))).then_some(())
    });
    assert!(host.stop().success());
    let records = read_topic(&broker.bootstrap, &topic, 0).unwrap();
    assert_eq!(copies(&records), (0..50).map(|id| (id.to_string(), vec!["1", "2", "3"])).collect());
}

/// Each key's `copy` headers, sorted.
fn copies(records: &[Record]) -> BTreeMap<String, Vec<&str>> {
    let mut copies: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for record in records {
        let copy = header(record, "copy").expect("a copy header");
        copies.entry(record.key.clone().expect("a key")).or_default().push(copy);
    }
    copies.values_mut().for_each(|v| v.sort());
    copies
}

/// The pipeline topics of an exactly-once test.
fn exactly_once(args: HostArgs, main: &str) -> HostArgs {
    let (pipeline, dead, offsets) = (main.to_owned(), format!("{main}-dl"), format!("{main}-offsets"));
    args.flags(&["--delivery", "exactly-once", "--pipeline", &pipeline, "--dead-letter-topic", &dead])
        .flags(&["--offsets-topic", &offsets])
}

#[test]
fn exactly_once_routes_to_several_topics_in_one_transaction() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let main = topic_name("route-eos");
    let other = format!("{main}-other");
    let missing = format!("{main}-missing");
    for topic in [&main, &other, &format!("{main}-dl")] {
        broker.create_topic(topic, 2);
    }
    let config = [("topic_field", "to"), ("copies", "3"), ("key_field", "id")];
    let host = start(&exactly_once(router(&dirs, &broker, &main, &config), &main), &dirs);
    let mut text = String::new();
    for id in 0..40 {
        match id % 4 {
            0 => text.push_str(&format!("{{\"id\":\"{id}\",\"to\":\"{other}\"}}\n")),
            3 if id == 39 => text.push_str(&format!("{{\"id\":\"{id}\",\"to\":\"{missing}\"}}\n")),
            _ => text.push_str(&format!("{{\"id\":\"{id}\"}}\n")),
        }
    }
    std::fs::write(dirs.landing().join("eos.json"), &text).unwrap();
    let dead = wait_for_count(&broker.bootstrap, &format!("{main}-dl"), 0, 1, WITHIN);
    wait_for_count(&broker.bootstrap, &other, 0, 30, WITHIN);
    wait_for_count(&broker.bootstrap, &main, 0, 87, WITHIN);
    assert!(host.stop().success());
    let want = |ids: &mut dyn Iterator<Item = u32>| -> BTreeMap<String, Vec<&str>> {
        ids.map(|id| (id.to_string(), vec!["1", "2", "3"])).collect()
    };
    let to_other = read_topic(&broker.bootstrap, &other, 0).unwrap();
    assert_eq!(copies(&to_other), want(&mut (0..40).filter(|id| id % 4 == 0)));
    let to_main = read_topic(&broker.bootstrap, &main, 0).unwrap();
    assert_eq!(copies(&to_main), want(&mut (0..39).filter(|id| id % 4 != 0)));
    let reason = header(&dead[0], "sluice.error.reason").unwrap();
    assert_eq!(
        reason,
        format!(
            "message 1 of 3: topic `{missing}` does not exist (Sluice does not create topics; create it, or route elsewhere)"
        )
    );
    assert_eq!(dead[0].value.as_deref(), Some(format!("{{\"id\":\"39\",\"to\":\"{missing}\"}}").as_str()));
}

/// Records in the SIGKILL test; each becomes three messages, half of them
/// to another topic.
const KILL_RECORDS: u32 = 60_000;

#[test]
fn exactly_once_fan_out_survives_a_sigkill_with_no_loss_and_no_duplicates() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let main = topic_name("route-eos-kill");
    let other = format!("{main}-other");
    for topic in [&main, &other, &format!("{main}-dl")] {
        broker.create_topic(topic, 3);
    }
    let config = [("topic_field", "to"), ("copies", "3"), ("key_field", "id")];
    let args = exactly_once(router(&dirs, &broker, &main, &config), &main);
    let line = |id: u32| match id % 2 {
        0 => format!("{{\"id\":\"{id}\",\"to\":\"{other}\"}}\n"),
        _ => format!("{{\"id\":\"{id}\"}}\n"),
    };
    // A first part, committed before the kill; then the rest at once, and
    // the kill once the host is busy with it (written, not yet committed).
    let first = KILL_RECORDS / 10;
    let staged = dirs.root().join("big.json");
    std::fs::write(&staged, (0..first).map(line).collect::<String>()).unwrap();
    let host = start(&args, &dirs);
    let landed = dirs.landing().join("big.json");
    std::fs::rename(&staged, &landed).unwrap();
    wait_for_count(&broker.bootstrap, &main, 0, (first / 2 * 3) as usize, WITHIN);
    let rest: String = (first..KILL_RECORDS).map(line).collect();
    std::fs::OpenOptions::new().append(true).open(&landed).unwrap().write_all(rest.as_bytes()).unwrap();
    let written = || watermarks(&broker.bootstrap, &main).unwrap().iter().map(|(_, high)| high).sum::<i64>();
    poll_until(WITHIN, "the host is busy with the rest", || {
        (written() > i64::from(first / 2 * 3) + 3_000).then_some(())
    });
    host.kill();
    let written = written();
    let committed = read_topic(&broker.bootstrap, &main, 0).unwrap();
    eprintln!(
        "killed with {} of {} messages to the default topic committed ({written} written)",
        committed.len(),
        KILL_RECORDS / 2 * 3
    );
    assert!(committed.len() < (KILL_RECORDS / 2 * 3) as usize, "the kill must land mid-stream");
    // A transaction holds whole records: never some of a record's copies.
    let partial: Vec<_> = copies(&committed).into_iter().filter(|(_, c)| c.as_slice() != ["1", "2", "3"]).collect();
    assert_eq!(partial, Vec::new(), "records with some of their messages committed");

    let host = start(&args, &dirs);
    let expected = (KILL_RECORDS / 2 * 3) as usize;
    let to_main = poll_until(WITHIN * 2, "every message committed", || {
        let records = read_topic(&broker.bootstrap, &main, 0).ok()?;
        (records.len() >= expected).then_some(records)
    });
    let to_other = wait_for_count(&broker.bootstrap, &other, 0, expected, WITHIN);
    assert!(host.stop().success());
    let all = |odd: u32| -> BTreeMap<String, Vec<&str>> {
        (0..KILL_RECORDS).filter(|id| id % 2 == odd).map(|id| (id.to_string(), vec!["1", "2", "3"])).collect()
    };
    assert_eq!(to_main.len(), expected, "no duplicates in the default topic");
    assert_eq!(copies(&to_main), all(1));
    assert_eq!(copies(&to_other), all(0));
    assert_eq!(read_topic(&broker.bootstrap, &main, 0).unwrap().len(), expected);
}

/// sql.wasm's Kafka columns as expressions, end to end: `topic` routes
/// (NULL: `--topic`), `partition`, `header.NAME`, `timestamp` and `key`
/// land on the broker; a NULL `value` is a tombstone; an ANSI overflow and
/// a route to a missing topic dead-letter their records with the reason.
#[test]
fn sql_wasm_columns_route_stamp_and_dead_letter_spark_errors() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("route-sql");
    let big = format!("{topic}-big");
    broker.create_topic(&topic, 1);
    broker.create_topic(&big, 3);
    let columns = [
        ("where", "qty IS NOT NULL"),
        ("key", "concat(StoreID, '-', qty + 1)"),
        ("value", "CASE WHEN qty > 0 THEN to_json(struct(StoreID, qty * 2 AS twice)) END"),
        ("topic", "CASE WHEN qty >= 100 THEN concat('{topic}', '-', to) END"),
        ("partition", "CASE WHEN qty >= 100 THEN qty % 3 END"),
        ("header.store", "lower(StoreID)"),
        ("timestamp", "ms"),
    ];
    let args = columns.iter().fold(HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap), |a, (k, v)| {
        a.config(k, &v.replace("{topic}", &topic))
    });
    let host = start(&args, &dirs);
    let lines = [
        r#"{"StoreID":"STR1","qty":5,"ms":1700000000000}"#,
        r#"{"StoreID":"STR2","qty":0,"ms":1700000000001}"#,
        r#"{"StoreID":"STR3","qty":101,"to":"big","ms":1700000000002}"#,
        r#"{"StoreID":"STR4","qty":9223372036854775807,"ms":1700000000003}"#,
        r#"{"StoreID":"STR5","qty":200,"to":"nowhere","ms":1700000000004}"#,
        r#"{"StoreID":"STR6"}"#,
    ];
    std::fs::write(dirs.landing().join("columns.json"), lines.join("\n") + "\n").unwrap();
    let main = wait_for_count(&broker.bootstrap, &topic, 0, 2, WITHIN);
    let routed = wait_for_count(&broker.bootstrap, &big, 0, 1, WITHIN);
    let mut letters = wait_for_dead_letters(&dirs.checkpoint(), 2);
    assert!(host.stop().success());
    let seen = |r: &Record| (r.key.clone(), r.value.clone(), header(r, "store").map(str::to_owned), r.timestamp_ms);
    let s = |t: &str| Some(t.to_owned());
    assert_eq!(
        main.iter().map(seen).collect::<Vec<_>>(),
        [
            (s("STR1-6"), s(r#"{"StoreID":"STR1","twice":10}"#), s("str1"), Some(1_700_000_000_000)),
            (s("STR2-1"), None, s("str2"), Some(1_700_000_000_001)),
        ]
    );
    assert_eq!(
        routed.iter().map(seen).collect::<Vec<_>>(),
        [(s("STR3-102"), s(r#"{"StoreID":"STR3","twice":202}"#), s("str3"), Some(1_700_000_000_002))]
    );
    assert_eq!(routed[0].partition, 101 % 3);
    letters.sort_by_key(|l| l["line"].as_u64());
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert_eq!(
        (letters[0]["line"].as_u64(), letters[0]["reason"].as_str()),
        (Some(4), Some("`key`: [ARITHMETIC_OVERFLOW] long overflow"))
    );
    let missing = format!(
        "topic `{topic}-nowhere` does not exist (Sluice does not create topics; create it, or route elsewhere)"
    );
    assert_eq!((letters[1]["line"].as_u64(), letters[1]["reason"].as_str()), (Some(5), Some(missing.as_str())));
}
