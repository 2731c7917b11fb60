//! Kafka faults at start-up: a missing topic, an unreachable address, a
//! listener that speaks another protocol and a refused login each get an
//! error that names the cause, an unreachable broker is one log line (not
//! one per attempt), and no secret ever reaches a log line or an error. The
//! logins run against Apache Kafka's SASL_PLAINTEXT listener (PLAIN,
//! SCRAM-SHA-256, SCRAM-SHA-512).

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
fn an_unreachable_broker_is_retried_with_its_cause_logged_once() {
    let dirs = TestDirs::new();
    let nobody = format!("127.0.0.1:{}", free_port());
    let args = HostArgs::new(&dirs, &transform("sql"), "t", &nobody);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("Kafka is unreachable; retrying", WITHIN);
    host.wait_for_log("Connection refused", WITHIN);
    let log = host.log();
    assert!(host.stop().success(), "a signal while waiting is a clean stop:\n{log}");
    assert_eq!(log.matches("Kafka is unreachable").count(), 1, "{log}");
}

/// The log's lines without their timestamps.
fn untimed(log: &str) -> Vec<&str> {
    log.lines().map(|l| l.split_once(' ').filter(|(t, _)| t.ends_with('Z')).map_or(l, |(_, rest)| rest)).collect()
}

/// The `error: ` line of a host that must exit 1 within `WITHIN`; its log
/// holds no line twice.
fn start_up_error(args: &HostArgs, dirs: &TestDirs) -> (String, String) {
    let mut host = Host::start(args, dirs.root());
    assert_eq!(host.wait(WITHIN).code(), Some(1), "{}", host.log());
    let log = host.log();
    let lines = untimed(&log);
    let unique: std::collections::BTreeSet<&&str> = lines.iter().collect();
    assert_eq!(unique.len(), lines.len(), "a line is repeated:\n{log}");
    let error = log.lines().find(|l| l.starts_with("error: ")).expect("an error line").to_owned();
    (error, log)
}

#[test]
fn an_unreachable_broker_at_start_up_stops_the_host_after_the_connect_timeout() {
    let dirs = TestDirs::new();
    let nobody = format!("127.0.0.1:{}", free_port());
    let args = HostArgs::new(&dirs, &transform("sql"), "t", &nobody).flags(&["--connect-timeout-ms", "3000"]);
    let started = std::time::Instant::now();
    let (error, log) = start_up_error(&args, &dirs);
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?} for a 3 s timeout", started.elapsed());
    let expected = format!("error: cannot reach Kafka at {nobody} within 3000 ms (--connect-timeout-ms): ");
    assert!(error.starts_with(&expected), "{error}");
    assert!(error.contains("Connection refused"), "{error}");
    assert!(error.ends_with("; nothing listens there: check --bootstrap-servers"), "{error}");
    assert_eq!(log.matches("Kafka is unreachable; retrying").count(), 1, "{log}");
    assert!(log.lines().count() <= 9, "more than a handful of lines:\n{log}");
}

/// `sluice run` against the shared broker's PLAINTEXT listener with
/// `security.protocol` set to `protocol`, logging in with [`SECRET`].
fn wrong_protocol_args(dirs: &TestDirs, broker: &Broker, protocol: &str) -> HostArgs {
    let password = format!("sasl.password={SECRET}");
    let protocol = format!("security.protocol={protocol}");
    let flags = ["--connect-timeout-ms", "3000", "--kafka", &protocol, "--kafka", "sasl.mechanisms=PLAIN"];
    HostArgs::new(dirs, &transform("sql"), "t", &broker.bootstrap).flags(&flags).flags(&[
        "--kafka",
        "sasl.username=alice",
        "--kafka",
        &password,
    ])
}

#[test]
fn ssl_against_a_plaintext_listener_stops_the_host_saying_so() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let (error, log) = start_up_error(&wrong_protocol_args(&dirs, &broker, "SASL_SSL"), &dirs);
    let expected = format!("error: cannot reach Kafka at {} within 3000 ms (--connect-timeout-ms): ", broker.bootstrap);
    assert!(error.starts_with(&expected), "{error}");
    assert!(error.contains("SSL handshake failed"), "{error}");
    assert!(error.contains("connecting to a PLAINTEXT broker listener?"), "{error}");
    assert!(
        error.ends_with(
            "; the listener does not speak SSL: use its SSL listener, or security.protocol=PLAINTEXT/SASL_PLAINTEXT"
        ),
        "{error}"
    );
    assert_eq!(log.matches("Kafka is unreachable; retrying").count(), 1, "{log}");
    assert!(!log.contains(SECRET), "the password leaked into the log:\n{log}");
}

#[test]
fn sasl_against_a_plaintext_listener_says_the_listener_has_no_sasl() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let (error, log) = start_up_error(&wrong_protocol_args(&dirs, &broker, "SASL_PLAINTEXT"), &dirs);
    let expected = format!(
        "error: the Kafka listener at {} does not speak SASL (is it a PLAINTEXT listener? \
         security.protocol=SASL_PLAINTEXT or SASL_SSL needs one that does): ",
        broker.bootstrap
    );
    assert!(error.starts_with(&expected), "{error}");
    assert!(error.contains("Request not valid in current SASL state"), "{error}");
    assert!(!error.contains("refused the credentials"), "{error}");
    assert!(!log.contains(SECRET), "the password leaked into the log:\n{log}");
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
