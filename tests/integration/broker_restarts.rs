//! The broker goes away and comes back: down at start-up, killed while files
//! flow, and down for longer than a delivery may take. Nothing read meanwhile
//! is lost, and the checkpoint never passes an unacknowledged record. Each
//! test has an Apache Kafka broker of its own ([`OwnBroker`]), which keeps
//! its data across a restart on the same port.

use std::collections::HashMap;
use std::time::Duration;

use sluice_tests::{Auth, Host, HostArgs, OwnBroker, Record, TestDirs, invoice_file, read_topic, transform};

const WITHIN: Duration = Duration::from_secs(60);
/// Records in invoices-1, -2 and -3.
const FILE_RECORDS: [usize; 3] = [400, 300, 350];

fn host_args(dirs: &TestDirs, broker: &OwnBroker, topic: &str) -> HostArgs {
    HostArgs::new(dirs, &transform("sql"), topic, &broker.bootstrap())
}

fn copy_in(dirs: &TestDirs, n: u32) {
    std::fs::copy(invoice_file(n), dirs.landing().join(format!("invoices-{n}.json"))).unwrap();
}

/// How many times each source line of files `1..=n` is in `records`;
/// panics if any is missing.
fn copies_of_each_line(records: &[Record], n: u32) -> HashMap<String, usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in records {
        *seen.entry(r.value.clone().unwrap()).or_default() += 1;
    }
    for file in 1..=n {
        for line in std::fs::read_to_string(invoice_file(file)).unwrap().lines() {
            assert!(seen.contains_key(line), "a record of invoices-{file} is missing");
        }
    }
    seen
}

/// Polls until the topic holds at least `expected` records.
fn wait_for_at_least(bootstrap: &str, topic: &str, expected: usize) -> Vec<Record> {
    sluice_tests::poll_until(WITHIN, &format!("{expected} records in {topic}"), || {
        read_topic(bootstrap, topic, 0).ok().filter(|r| r.len() >= expected)
    })
}

#[test]
fn a_broker_down_at_start_up_is_waited_for() {
    let dirs = TestDirs::new();
    let mut broker = OwnBroker::start(&dirs.root().join("kafka"));
    broker.create_topic("late", 1);
    broker.stop();

    // Longer than the broker may take to come back on a busy machine.
    let args = host_args(&dirs, &broker, "late").flags(&["--connect-timeout-ms", "180000"]);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("Kafka is unreachable; retrying", WITHIN);
    copy_in(&dirs, 1);
    broker.start_again();
    host.wait_for_log("streaming", WITHIN);
    let records = wait_for_at_least(&broker.bootstrap(), "late", FILE_RECORDS[0]);
    assert_eq!(records.len(), FILE_RECORDS[0]);
    copies_of_each_line(&records, 1);
    assert!(host.stop().success());
}

/// The broker goes down by `stop` after the first file is in; files 2 and
/// 3 land while it is down; it comes back and everything is delivered.
fn outage(topic: &str, stop: fn(&mut OwnBroker)) {
    let dirs = TestDirs::new();
    let mut broker = OwnBroker::start(&dirs.root().join("kafka"));
    broker.create_topic(topic, 1);
    let mut host = Host::start(&host_args(&dirs, &broker, topic), dirs.root());
    host.wait_for_log("streaming", WITHIN);
    copy_in(&dirs, 1);
    wait_for_at_least(&broker.bootstrap(), topic, FILE_RECORDS[0]);

    stop(&mut broker);
    copy_in(&dirs, 2);
    copy_in(&dirs, 3);
    host.wait_for_log("Kafka is unreachable; retrying", WITHIN);
    broker.start_again();
    host.wait_for_log("Kafka is reachable again", WITHIN);
    assert_all_delivered_then_checkpointed(&dirs, &broker.bootstrap(), topic, host);
}

#[test]
fn records_read_while_the_broker_is_down_are_delivered_when_it_returns() {
    outage("outage", OwnBroker::stop);
}

#[test]
fn records_read_after_the_broker_is_killed_are_delivered_when_it_returns() {
    outage("killed", OwnBroker::kill);
}

#[test]
fn a_delivery_that_times_out_is_sent_again_not_dropped() {
    let dirs = TestDirs::new();
    let broker = OwnBroker::start(&dirs.root().join("kafka"));
    broker.create_topic("frozen", 1);
    let flags = ["--kafka", "message.timeout.ms=1500"];
    let mut host = Host::start(&host_args(&dirs, &broker, "frozen").flags(&flags), dirs.root());
    host.wait_for_log("streaming", WITHIN);
    copy_in(&dirs, 1);
    wait_for_at_least(&broker.bootstrap(), "frozen", FILE_RECORDS[0]);

    // A frozen broker answers nothing: deliveries time out after 1.5 s.
    broker.pause();
    copy_in(&dirs, 2);
    copy_in(&dirs, 3);
    host.wait_for_log("deliveries failed; sending the messages again", WITHIN);
    broker.resume();
    assert_all_delivered_then_checkpointed(&dirs, &broker.bootstrap(), "frozen", host);
}

/// Every line of the three files reaches `topic` at least once (duplicates
/// are counted and printed), the host stops cleanly, and its checkpoint
/// covers every file.
fn assert_all_delivered_then_checkpointed(dirs: &TestDirs, bootstrap: &str, topic: &str, host: Host) {
    let total: usize = FILE_RECORDS.iter().sum();
    let records = wait_for_at_least(bootstrap, topic, total);
    let seen = copies_of_each_line(&records, 3);
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    eprintln!("{topic}: {} records for {total} lines, {duplicates} duplicates", records.len());
    let log = host.log();
    assert!(host.stop().success(), "{log}");
    let checkpoint = std::fs::read_to_string(dirs.checkpoint().join("checkpoint.json")).unwrap();
    for n in 1..=3 {
        let size = std::fs::metadata(invoice_file(n)).unwrap().len();
        assert!(checkpoint.contains(&format!("\"offset\": {size}")), "invoices-{n} is not fully checkpointed");
    }
}

#[test]
fn a_scram_user_logs_in_across_a_broker_restart_and_a_wrong_password_is_refused() {
    let dirs = TestDirs::new();
    let auth = Auth { plain: vec![], scram: vec![("alice".into(), "right-password-1".into())] };
    let mut broker = OwnBroker::start_with_auth(&dirs.root().join("kafka"), auth);
    broker.create_topic("secured", 1);
    // The users are in the cluster metadata, which survives the restart.
    broker.stop();
    broker.start_again();

    let login = |password: &str| {
        ["--kafka", "security.protocol=SASL_PLAINTEXT", "--kafka", "sasl.mechanisms=SCRAM-SHA-512"]
            .into_iter()
            .map(str::to_owned)
            .chain(["--kafka".to_owned(), "sasl.username=alice".to_owned()])
            .chain(["--kafka".to_owned(), format!("sasl.password={password}")])
            .collect::<Vec<_>>()
    };
    let wrong = login("wrong-password-2");
    let wrong: Vec<&str> = wrong.iter().map(String::as_str).collect();
    let mut refused = Host::start(&host_args(&dirs, &broker, "secured").flags(&wrong), dirs.root());
    assert_eq!(refused.wait(WITHIN).code(), Some(1), "{}", refused.log());
    let log = refused.log();
    assert!(log.contains("refused the credentials"), "{log}");
    assert!(!log.contains("wrong-password-2"), "the password leaked:\n{log}");

    let right = login("right-password-1");
    let right: Vec<&str> = right.iter().map(String::as_str).collect();
    let dirs2 = TestDirs::new();
    let mut host = Host::start(&host_args(&dirs2, &broker, "secured").flags(&right), dirs2.root());
    host.wait_for_log("streaming", WITHIN);
    copy_in(&dirs2, 2);
    let records = sluice_tests::poll_until(WITHIN, "300 records in secured", || {
        read_with(&broker, "secured").filter(|r| r.len() >= FILE_RECORDS[1])
    });
    let mut values: Vec<String> = records.iter().map(|r| r.value.clone().unwrap()).collect();
    let mut lines: Vec<String> = std::fs::read_to_string(invoice_file(2)).unwrap().lines().map(str::to_owned).collect();
    values.sort();
    lines.sort();
    assert_eq!(values, lines, "the topic holds exactly invoices-2's lines");
    let log = host.log();
    assert!(host.stop().success(), "{log}");
    assert!(!log.contains("right-password-1"), "the password leaked:\n{log}");
}

/// Every record of `topic` on a broker that requires a login.
fn read_with(broker: &OwnBroker, topic: &str) -> Option<Vec<Record>> {
    sluice_tests::kafka::read_topic_as(&broker.client_config(), topic, 0, sluice_tests::Isolation::ReadCommitted).ok()
}
