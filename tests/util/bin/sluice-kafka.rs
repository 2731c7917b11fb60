//! Small Kafka client for the demo and bench scripts.
//!
//! ```text
//! sluice-kafka create-topic BOOTSTRAP TOPIC [PARTITIONS]
//! sluice-kafka wait-count BOOTSTRAP TOPIC FROM_MS EXPECTED TIMEOUT_S
//! sluice-kafka wait-ready BOOTSTRAP TIMEOUT_S
//! ```
//! `wait-ready` polls until the broker answers a metadata request naming
//! at least one broker (a listening port is not enough: a starting Kafka
//! accepts connections before it serves), and exits 1 at the timeout.
//! `wait-count` reads the topic from the offsets for `FROM_MS` to partition
//! EOF until it holds exactly `EXPECTED` records, then prints the count and
//! the distinct keys; it exits 1 at the timeout or if there are more.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sluice_tests::{Broker, read_topic};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["create-topic", bootstrap, topic, rest @ ..] => {
            let partitions = rest.first().map_or(Ok(1), |p| p.parse()).expect("PARTITIONS is a number");
            let broker = Broker::start_external(bootstrap);
            broker.create_topic(topic, partitions);
            println!("created topic {topic} with {partitions} partition(s)");
            ExitCode::SUCCESS
        }
        ["wait-count", bootstrap, topic, from_ms, expected, timeout_s] => {
            let (from_ms, expected, timeout_s) = (
                from_ms.parse().expect("FROM_MS"),
                expected.parse().expect("EXPECTED"),
                timeout_s.parse().expect("TIMEOUT_S"),
            );
            wait_count(bootstrap, topic, from_ms, expected, Duration::from_secs(timeout_s))
        }
        ["wait-ready", bootstrap, timeout_s] => {
            wait_ready(bootstrap, Duration::from_secs(timeout_s.parse().expect("TIMEOUT_S")))
        }
        _ => {
            eprintln!("usage: sluice-kafka create-topic BOOTSTRAP TOPIC [PARTITIONS]");
            eprintln!("       sluice-kafka wait-count BOOTSTRAP TOPIC FROM_MS EXPECTED TIMEOUT_S");
            eprintln!("       sluice-kafka wait-ready BOOTSTRAP TIMEOUT_S");
            ExitCode::from(2)
        }
    }
}

fn wait_count(bootstrap: &str, topic: &str, from_ms: i64, expected: usize, within: Duration) -> ExitCode {
    let deadline = Instant::now() + within;
    loop {
        let records = read_topic(bootstrap, topic, from_ms).unwrap_or_default();
        if records.len() >= expected || Instant::now() > deadline {
            let mut keys: Vec<_> = records.iter().filter_map(|r| r.key.clone()).collect();
            keys.sort();
            keys.dedup();
            println!("{topic}: {} records (expected {expected}), keys {keys:?}", records.len());
            return if records.len() == expected { ExitCode::SUCCESS } else { ExitCode::FAILURE };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_ready(bootstrap: &str, within: Duration) -> ExitCode {
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "0")
        .create()
        .expect("create the metadata probe");
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if probe.fetch_metadata(None, Duration::from_secs(2)).is_ok_and(|m| !m.brokers().is_empty()) {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("sluice-kafka: {bootstrap} did not answer metadata within {within:?}");
    ExitCode::FAILURE
}
