//! Kafka faults at start-up: a missing topic, an unreachable address and a
//! refused login each get an error that names the cause, and no secret ever
//! reaches a log line or an error.

use std::time::Duration;

use sluice_tests::{Broker, Host, HostArgs, TestDirs, free_port, transform};

const WITHIN: Duration = Duration::from_secs(30);
/// A password that must never be printed.
const SECRET: &str = "hunter2-do-not-log-me";

#[test]
fn a_missing_topic_stops_the_host_at_start_up() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let args = HostArgs::new(&dirs, &transform("sql"), "no-such-topic", &broker.bootstrap);
    let mut host = Host::start(&args, dirs.root());
    assert_eq!(host.wait(WITHIN).code(), Some(1));
    let expected = format!(
        "error: topic `no-such-topic` does not exist on {}; create it first (Sluice does not auto-create topics)",
        broker.bootstrap
    );
    assert!(host.log().contains(&expected), "{}", host.log());
}

#[test]
fn an_unreachable_broker_is_retried_with_its_cause_logged() {
    let dirs = TestDirs::new();
    let nobody = format!("127.0.0.1:{}", free_port());
    let args = HostArgs::new(&dirs, &transform("sql"), "t", &nobody);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("Kafka is not reachable yet", WITHIN);
    host.wait_for_log("Connection refused", WITHIN);
    // It keeps retrying rather than giving up: a second attempt is logged.
    sluice_tests::poll_until(WITHIN, "a second attempt", || {
        (host.log().matches("Kafka is not reachable yet").count() >= 2).then_some(())
    });
    let log = host.log();
    assert!(host.stop().success(), "a signal while waiting is a clean stop:\n{log}");
}

/// Runs the host against `broker` with the credentials in a
/// `client.properties` file; returns its log after it exits.
fn refused_login(mechanism: &str) -> String {
    let dirs = TestDirs::new();
    // A broker that requires SASL and knows no users: every login fails.
    let broker = Broker::start_local_with(dirs.root(), &["--authentication"]);
    let properties = dirs.root().join("client.properties");
    let text = format!(
        "bootstrap.servers={}\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanisms={mechanism}\n\
         sasl.username=alice\nsasl.password={SECRET}\n",
        broker.bootstrap
    );
    std::fs::write(&properties, text).unwrap();
    let args = HostArgs::new(&dirs, &transform("sql"), "t", &broker.bootstrap).flags(&[
        "--kafka-properties",
        properties.to_str().unwrap(),
        "--kafka",
        "debug=security",
    ]);
    let mut host = Host::start(&args, dirs.root());
    assert_eq!(host.wait(WITHIN).code(), Some(1), "{}", host.log());
    host.log()
}

#[test]
fn a_refused_scram_login_stops_the_host_naming_the_cause_but_not_the_password() {
    let log = refused_login("SCRAM-SHA-256");
    let error = log.lines().find(|l| l.starts_with("error: ")).expect("an error line");
    assert!(error.starts_with("error: Kafka at 127.0.0.1:"), "{error}");
    assert!(error.contains("refused the credentials"), "{error}");
    assert!(error.contains("SASL") || error.contains("uthentication"), "{error}");
    assert!(!log.contains(SECRET), "the password leaked into the log:\n{log}");
    assert!(log.contains("(\"sasl.password\", \"[redacted]\")"), "{log}");
}

#[test]
fn a_refused_plain_login_stops_the_host_naming_the_cause_but_not_the_password() {
    let log = refused_login("PLAIN");
    let error = log.lines().find(|l| l.starts_with("error: ")).expect("an error line");
    assert!(error.contains("refused the credentials: "), "{error}");
    assert!(error.contains("SASL PLAIN mechanism handshake failed"), "{error}");
    assert!(!log.contains(SECRET), "the password leaked into the log:\n{log}");
}
