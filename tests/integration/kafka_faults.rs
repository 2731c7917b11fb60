//! Kafka faults at start-up: a missing topic, an unreachable address and a
//! refused login each get an error that names the cause, and no secret ever
//! reaches a log line or an error. The logins run against Apache Kafka's
//! SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).

use std::time::Duration;

use sluice_tests::{Auth, Broker, Host, HostArgs, Isolation, OwnBroker, TestDirs, free_port, invoice_file, transform};

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

/// A broker whose client listener requires SASL and knows one user,
/// `alice`, by PLAIN and by SCRAM, with a password other than [`SECRET`].
fn secured_broker(dirs: &TestDirs) -> OwnBroker {
    let alice = ("alice".to_owned(), "alice-right-password".to_owned());
    let auth = Auth { plain: vec![alice.clone()], scram: vec![alice] };
    OwnBroker::start_with_auth(&dirs.root().join("kafka"), auth)
}

/// `sluice run` logging in as alice with `password` by `mechanism`, the
/// credentials in a `client.properties` file.
fn login_args(dirs: &TestDirs, broker: &OwnBroker, topic: &str, mechanism: &str, password: &str) -> HostArgs {
    let properties = dirs.root().join("client.properties");
    let text = format!(
        "bootstrap.servers={}\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanisms={mechanism}\n\
         sasl.username=alice\nsasl.password={password}\n",
        broker.bootstrap()
    );
    std::fs::write(&properties, text).unwrap();
    HostArgs::new(dirs, &transform("sql"), topic, &broker.bootstrap()).flags(&[
        "--kafka-properties",
        properties.to_str().unwrap(),
        "--kafka",
        "debug=security",
    ])
}

/// Runs the host logging in as alice with the wrong password, [`SECRET`];
/// returns its log after it exits 1.
fn refused_login(mechanism: &str) -> String {
    let dirs = TestDirs::new();
    let broker = secured_broker(&dirs);
    let mut host = Host::start(&login_args(&dirs, &broker, "t", mechanism, SECRET), dirs.root());
    assert_eq!(host.wait(WITHIN).code(), Some(1), "{}", host.log());
    host.log()
}

#[test]
fn a_refused_scram_login_stops_the_host_naming_the_cause_but_not_the_password() {
    let log = refused_login("SCRAM-SHA-256");
    let error = log.lines().find(|l| l.starts_with("error: ")).expect("an error line");
    assert!(error.starts_with("error: Kafka at 127.0.0.1:"), "{error}");
    assert!(error.contains("refused the credentials"), "{error}");
    assert!(error.contains("Authentication failed during authentication due to invalid credentials"), "{error}");
    assert!(!log.contains(SECRET), "the password leaked into the log:\n{log}");
    assert!(log.contains("(\"sasl.password\", \"[redacted]\")"), "{log}");
}

#[test]
fn a_refused_plain_login_stops_the_host_naming_the_cause_but_not_the_password() {
    let log = refused_login("PLAIN");
    let error = log.lines().find(|l| l.starts_with("error: ")).expect("an error line");
    assert!(error.starts_with("error: Kafka at 127.0.0.1:"), "{error}");
    assert!(error.contains("refused the credentials: "), "{error}");
    assert!(error.contains("Invalid username or password"), "{error}");
    assert!(!log.contains(SECRET), "the password leaked into the log:\n{log}");
}

#[test]
fn a_plain_login_with_the_right_password_streams() {
    let dirs = TestDirs::new();
    let broker = secured_broker(&dirs);
    broker.create_topic("plain-login", 1);
    let args = login_args(&dirs, &broker, "plain-login", "PLAIN", "alice-right-password")
        .config("where", "StoreID = 'STR7188'")
        .config("key", "StoreID");
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    std::fs::copy(invoice_file(1), dirs.landing().join("invoices-1.json")).unwrap();
    let records = sluice_tests::poll_until(WITHIN, "53 records in plain-login", || {
        let read =
            sluice_tests::kafka::read_topic_as(&broker.client_config(), "plain-login", 0, Isolation::ReadCommitted);
        read.ok().filter(|r| r.len() >= 53)
    });
    assert_eq!(records.len(), 53);
    assert!(records.iter().all(|r| r.key.as_deref() == Some("STR7188")));
    let log = host.log();
    assert!(host.stop().success(), "{log}");
    assert!(!log.contains("alice-right-password"), "the password leaked into the log:\n{log}");
}
