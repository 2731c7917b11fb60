//! Issue 19, the HTTP port, secrets and logs: what someone with network
//! access to `--metrics-addr`, a say in the Kafka properties or a file name
//! in the landing zone can no longer make the host do. Each test reproduces
//! a finding against the real binary and fails on the code before the fix.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use sluice_tests::{
    Broker, Host, HostArgs, TestDirs, free_port, invoice_file, now_ms, run_to_exit, topic_name, transform,
    wait_for_count,
};

use crate::invoices::copy_in;

const WITHIN: Duration = Duration::from_secs(60);
/// STR7188 records in invoices-1 (what `sql.wasm` publishes with `where`).
const STORE_RECORDS: usize = 53;
const SECRET: &str = "S3CRET-do-not-print";

/// A host of `sql.wasm` on `dirs` serving its metrics on a free port; its address.
fn start_host(dirs: &TestDirs, broker: &Broker, topic: &str, flags: &[&str]) -> (Host, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let args = HostArgs::new(dirs, &transform("sql"), topic, &broker.bootstrap)
        .config("where", "StoreID = 'STR7188'")
        .flags(&["--metrics-addr", &addr.to_string(), "--settle-ms", "200"])
        .flags(flags);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    (host, addr)
}

/// One HTTP/1.1 exchange, written by hand so the `Host` header is ours.
struct Exchange {
    status: u16,
    /// Header lines, lowercase.
    head: String,
    body: String,
}

fn request(addr: SocketAddr, path: &str, host: &str, extra: &str) -> Exchange {
    let mut stream = TcpStream::connect_timeout(&addr, WITHIN).expect("connect to --metrics-addr");
    stream.set_read_timeout(Some(WITHIN)).unwrap();
    let sent = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
    stream.write_all(sent.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head in {answer:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    Exchange { status, head: head.to_ascii_lowercase(), body: body.to_owned() }
}

#[test]
fn idle_and_half_sent_connections_do_not_starve_the_host() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("idle-connections");
    broker.create_topic(&topic, 1);
    let start = now_ms();
    let (host, addr) = start_host(&dirs, &broker, &topic, &[]);
    // The descriptors a modest service gets; 400 connections would take them all.
    let limited = Command::new("prlimit").args(["--pid", &host.pid().to_string(), "--nofile=256:256"]).status();
    assert!(limited.expect("prlimit runs").success(), "prlimit set the host's descriptor limit");

    let mut held = Vec::new();
    for n in 0..400 {
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else { continue };
        if n % 2 == 1 {
            let _ = stream.write_all(b"GET /status.json HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        }
        held.push(stream);
    }
    assert!(held.len() >= 200, "only {} of 400 connections were opened", held.len());

    copy_in(1, &dirs.landing());
    wait_for_count(&broker.bootstrap, &topic, start, STORE_RECORDS, WITHIN);
    let live = request(addr, "/health/live", "127.0.0.1", "");
    assert_eq!((live.status, live.body.as_str()), (200, "live\n"));
    drop(held);
    let log = host.log();
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(host.stop().success());
}

#[test]
fn the_status_data_needs_this_host_s_name_and_the_token() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("http-access");
    broker.create_topic(&topic, 1);
    let token_file = dirs.root().join("metrics-token");
    std::fs::write(&token_file, format!("{SECRET}\n")).unwrap();
    let (host, addr) = start_host(&dirs, &broker, &topic, &["--metrics-token-file", token_file.to_str().unwrap()]);
    let here = addr.to_string();
    let bearer = format!("Authorization: Bearer {SECRET}\r\n");

    assert_eq!(request(addr, "/status.json", "evil.example", &bearer).status, 421, "DNS rebinding is refused");
    assert_eq!(request(addr, "/", &format!("evil.example:{}", addr.port()), "").status, 421);
    assert_eq!(request(addr, "/status.json", &here, "").status, 401);
    assert_eq!(request(addr, "/status.json", &here, "Authorization: Bearer wrong\r\n").status, 401);
    let status = request(addr, "/status.json", &format!("localhost:{}", addr.port()), &bearer);
    assert_eq!(status.status, 200, "{}", status.body);
    let json: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(json["pipelines"][0]["topic"], topic.as_str());

    assert_eq!(request(addr, "/metrics", "prometheus.internal", "").status, 401);
    assert_eq!(request(addr, "/metrics", "prometheus.internal", &bearer).status, 200, "any Host may scrape");
    assert_eq!(request(addr, "/health/live", "probe.internal", "").status, 200, "liveness needs no token");

    let page = request(addr, "/", &here, "");
    assert_eq!(page.status, 200);
    for header in ["x-content-type-options: nosniff", "cache-control: no-store", "content-security-policy: "] {
        assert!(page.head.contains(header), "{header} in {}", page.head);
    }
    assert!(page.head.contains("script-src 'self'") && !page.head.contains("unsafe-inline"), "{}", page.head);
    assert!(!page.body.contains("<script>") && page.body.contains("<script src=\"status.js\">"), "{}", page.body);
    assert_eq!(request(addr, "/status.js", &here, "").status, 200);
    let log = host.log();
    assert!(host.stop().success());
    assert!(!log.contains(SECRET), "the token is never logged:\n{log}");
}

#[test]
fn unusual_and_misspelled_secret_keys_are_never_printed() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("secret-keys");
    broker.create_topic(&topic, 1);
    let oauth = format!("sasl.oauthbearer.config=principal=admin clientSecret={SECRET}");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let args = HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap)
        .flags(&["--kafka", &oauth, "--metrics-addr", &addr.to_string()])
        .log_level("trace");
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    let status = request(addr, "/status.json", "127.0.0.1", "");
    assert!(status.status == 200 && !status.body.contains(SECRET), "{}", status.body);
    let log = host.log();
    assert!(log.contains("connecting to Kafka") && log.contains("\"sasl.oauthbearer.config\", \"[redacted]\""));
    assert!(host.stop().success());
    assert!(!log.contains(SECRET), "{log}");

    let misspelled = format!("sasl.pasword={SECRET}");
    let args = HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap)
        .flags(&["--kafka", &misspelled])
        .log_level("trace");
    let mut host = Host::start(&args, dirs.root());
    assert!(!host.wait(WITHIN).success(), "librdkafka refuses the unknown property");
    let log = host.log();
    let refused = "error: kafka property `sasl.pasword`: No such configuration property: \"sasl.pasword\"; did you \
                   mean `sasl.password`?";
    assert!(log.lines().any(|l| l == refused), "the error names the key:\n{log}");
    assert!(!log.contains(SECRET), "{log}");
}

#[test]
fn a_file_name_cannot_forge_a_log_line() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("forged-log");
    broker.create_topic(&topic, 1);
    let forged = "2026-12-07T10:00:00.000000Z ERROR forged log line";
    let name = format!("evil\n{forged}\u{1b}[2K.json");
    std::fs::copy(invoice_file(1), dirs.landing().join(&name)).unwrap();
    let (mut host, _) = start_host(&dirs, &broker, &topic, &["--clean-source", "delete"]);
    host.wait_for_log("deleted the finished file", WITHIN);
    let log = host.log();
    assert!(host.stop().success());
    assert!(!log.lines().any(|l| l.starts_with(forged)), "a forged line:\n{log}");
    assert!(!log.contains('\u{1b}'), "{log}");
    assert!(log.contains(&format!("evil\\n{forged}\\u{{1b}}[2K.json")), "the name, escaped:\n{log}");
}

#[test]
fn a_config_table_of_200_000_keys_is_checked() {
    let dirs = TestDirs::new();
    let path = dirs.root().join("many.toml");
    let keys: String = (0..200_000).map(|i| format!("\"k{i}\" = \"v\"\n")).collect();
    let text = format!(
        "[[pipeline]]\nname = \"many\"\nlanding_zone = \"{}\"\ntransform = \"{}\"\ntopic = \"t\"\n\
         checkpoint_dir = \"{}\"\nbootstrap_servers = \"127.0.0.1:9\"\n[pipeline.kafka]\n{keys}",
        dirs.landing().display(),
        transform("sql").display(),
        dirs.checkpoint().display()
    );
    std::fs::write(&path, text).unwrap();
    // Before the line index this took 36 s; the bound is generous, not a
    // benchmark. The whole table is read; librdkafka then refuses its first key.
    let (status, stderr) = run_to_exit(&["check", "--config", path.to_str().unwrap()], Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{stderr}");
    let refused = "pipeline `many`: kafka property `k0`: No such configuration property: \"k0\"";
    assert!(stderr.lines().any(|l| l.starts_with("error: ") && l.ends_with(refused)), "{stderr}");
}
