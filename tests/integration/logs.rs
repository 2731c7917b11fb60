//! `--log-format json`: every line the host logs is one JSON object, with
//! the event's fields beside its message.

use std::time::Duration;

use serde_json::Value;
use sluice_tests::{Broker, Host, HostArgs, TestDirs, poll_until, topic_name, transform};

const WITHIN: Duration = Duration::from_secs(60);

#[test]
fn json_logs_are_one_object_a_line() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("json-logs");
    broker.create_topic(&topic, 1);
    let args = HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap).flags(&["--log-format", "json"]);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("\"streaming\"", WITHIN);
    let log = host.log();
    assert!(host.stop().success());

    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON object ({e}): {l}")))
        .collect();
    assert!(lines.iter().all(|l| l["level"].is_string() && l["timestamp"].is_string()), "{log}");
    let streaming = lines.iter().find(|l| l["message"] == "streaming").expect("a `streaming` line");
    assert_eq!(streaming["level"], "INFO");
    assert_eq!(streaming["topic"], topic.as_str());
    assert_eq!(streaming["landing_zone"], dirs.landing().to_str().unwrap());
}

#[test]
fn each_finished_file_gets_one_line_with_its_counts() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("finished-lines");
    broker.create_topic(&topic, 1);
    let args = HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap)
        .config("where", "StoreID = 'STR7188'")
        .config("key", "StoreID")
        .flags(&["--settle-ms", "200"]);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    for n in 1..=3 {
        crate::invoices::copy_in(n, &dirs.landing());
    }
    let finished = || host.log().lines().filter(|l| l.contains(" finished a file ")).map(str::to_owned).collect();
    let lines: Vec<String> = poll_until(WITHIN, "three finished lines", || {
        let lines: Vec<String> = finished();
        (lines.len() >= 3).then_some(lines)
    });
    assert!(host.stop().success());
    // invoices-N: its lines, and those of store STR7188 (published).
    let want = [(1, 400, 53), (2, 300, 11), (3, 350, 25)].map(|(n, records, published)| {
        let path = dirs.landing().join(format!("invoices-{n}.json"));
        let filtered = records - published;
        format!("file={} records={records} published={published} filtered={filtered} dead_letters=0", path.display())
    });
    let mut got: Vec<String> = lines
        .iter()
        .map(|l| l.split(" finished a file ").nth(1).unwrap().split(" seconds=").next().unwrap().to_owned())
        .collect();
    got.sort();
    assert_eq!(got, want, "{lines:?}");
    assert!(lines.iter().all(|l| l.contains(" INFO ") && l.contains(" seconds=")), "{lines:?}");
}
