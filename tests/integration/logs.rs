//! `--log-format json`: every line the host logs is one JSON object, with
//! the event's fields beside its message.

use std::time::Duration;

use serde_json::Value;
use sluice_tests::{Broker, Host, HostArgs, TestDirs, topic_name, transform};

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
