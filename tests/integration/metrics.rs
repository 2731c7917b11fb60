//! `--metrics-addr`: `/metrics` scraped during and after the invoice suite
//! agrees with what the topic holds, `/health/ready` follows the broker
//! away and back, and the status page reads right in headless Chromium.

use std::io::Write as _;
use std::time::Duration;

use sluice_tests::{
    Broker, Host, HostArgs, OwnBroker, TestDirs, free_port, invoice_file, now_ms, poll_until, topic_name, transform,
    wait_for_count, workspace_root,
};

use crate::invoices::{assert_exactly, copy_in, store_lines};

const WITHIN: Duration = Duration::from_secs(60);
/// STR7188 records in invoices-1, -2 and -3 (published), and their lines.
const STORE_COUNTS: [u64; 3] = [53, 11, 25];
const FILE_LINES: [u64; 3] = [400, 300, 350];

/// What a scrape or a health check answered.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
}

pub(crate) fn get(url: &str) -> Answer {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(WITHIN)).build().into();
    let mut response = agent.get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_else(|e| panic!("GET {url}: body: {e}"));
    Answer { status, body }
}

/// The sum of every sample of `name` (its labelled series) in a scrape.
pub(crate) fn sample(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("a number in {l:?}")))
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// A host on `dirs` serving its metrics on a free port, with `flags`; its base URL.
fn start_host(dirs: &TestDirs, bootstrap: &str, topic: &str, flags: &[&str]) -> (Host, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let args = HostArgs::new(dirs, &transform("sql"), topic, bootstrap)
        .config("where", "StoreID = 'STR7188'")
        .config("key", "StoreID")
        .flags(&["--metrics-addr", &addr, "--settle-ms", "200"])
        .flags(flags);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("serving metrics", WITHIN);
    (host, format!("http://{addr}"))
}

/// A test's directories, the shared broker, its own topic, the time it
/// started and a host serving its metrics at `base`.
struct Run {
    dirs: TestDirs,
    broker: Broker,
    topic: String,
    start: i64,
    host: Host,
    base: String,
}

impl Run {
    fn start(name: &str, partitions: i32, flags: &[&str]) -> Run {
        let dirs = TestDirs::new();
        let broker = Broker::start(dirs.root());
        let topic = topic_name(name);
        broker.create_topic(&topic, partitions);
        let start = now_ms();
        let (host, base) = start_host(&dirs, &broker.bootstrap, &topic, flags);
        Run { dirs, broker, topic, start, host, base }
    }
}

/// Scrapes until `check` holds of the scrape; returns it.
fn scrape_until(base: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    poll_until(WITHIN, what, || {
        let answer = get(&format!("{base}/metrics"));
        assert_eq!(answer.status, 200);
        check(&answer.body).then_some(answer.body)
    })
}

#[test]
fn metrics_agree_with_the_topic_during_and_after_the_invoice_suite() {
    let Run { dirs, broker, topic, start, host, base } = Run::start("metrics", 3, &[]);
    poll_until(WITHIN, "ready", || (get(&format!("{base}/health/ready")).status == 200).then_some(()));

    let (mut published, mut lines, mut expected) = (0, 0, Vec::new());
    for (n, (count, in_file)) in (1..=3).zip(STORE_COUNTS.into_iter().zip(FILE_LINES)) {
        copy_in(n, &dirs.landing());
        (published, lines) = (published + count, lines + in_file);
        expected.extend(store_lines(n));
        let records = wait_for_count(&broker.bootstrap, &topic, start, published as usize, WITHIN);
        assert_exactly(&records, &expected);
        let text = scrape_until(&base, &format!("file {n} is finished"), |t| {
            sample(t, "sluice_files_finished_total") == Some(f64::from(n))
        });
        let held = records.len() as f64;
        assert_eq!(sample(&text, "sluice_records_published_total"), Some(held), "published vs the topic:\n{text}");
        assert_eq!(sample(&text, "sluice_records_read_total"), Some(lines as f64), "{text}");
        assert_eq!(sample(&text, "sluice_records_filtered_total"), Some((lines - published) as f64), "{text}");
        assert_eq!(sample(&text, "sluice_records_dead_lettered_total"), Some(0.0), "{text}");
    }

    let text = scrape_until(&base, "every file's latency is observed", |t| {
        sample(t, "sluice_file_ack_latency_seconds_count") == Some(3.0)
    });
    let bytes: u64 = (1..=3).map(|n| std::fs::metadata(invoice_file(n)).unwrap().len()).sum();
    assert_eq!(sample(&text, "sluice_bytes_read_total"), Some(bytes as f64), "{text}");
    assert_eq!(sample(&text, "sluice_files_found_total"), Some(3.0), "{text}");
    assert_eq!(sample(&text, "sluice_files_in_progress"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "sluice_backlog_bytes"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "sluice_records_in_flight"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "sluice_ready"), Some(1.0), "{text}");
    assert!(sample(&text, "sluice_transform_batch_seconds_count").is_some_and(|n| n >= 3.0), "{text}");
    let labels = format!("{{pipeline=\"default\",topic=\"{topic}\"}}");
    assert!(text.contains(&format!("sluice_records_published_total{labels} {published}")), "{text}");
    let reason = format!("{{pipeline=\"default\",topic=\"{topic}\",reason=\"transform_error\"}} 0");
    assert!(text.contains(&format!("sluice_records_dead_lettered_total{reason}")), "{text}");

    let status: serde_json::Value = serde_json::from_str(&get(&format!("{base}/status.json")).body).unwrap();
    let pipeline = &status["pipelines"][0];
    assert_eq!((pipeline["name"].as_str(), pipeline["topic"].as_str()), (Some("default"), Some(topic.as_str())));
    assert_eq!(pipeline["counts"]["published"], published);
    assert_eq!(pipeline["ready"], true);

    assert!(host.stop().success(), "sluice did not exit cleanly");
    let records = sluice_tests::read_topic(&broker.bootstrap, &topic, start).unwrap();
    assert_eq!(records.len() as u64, published);
}

#[test]
fn ready_turns_false_while_the_broker_is_away_and_true_when_it_is_back() {
    let dirs = TestDirs::new();
    let mut broker = OwnBroker::start(&dirs.root().join("kafka"));
    broker.create_topic("ready", 1);
    let (host, base) = start_host(&dirs, &broker.bootstrap(), "ready", &[]);
    let ready = format!("{base}/health/ready");
    poll_until(WITHIN, "ready", || (get(&ready).status == 200).then_some(()));
    assert_eq!(get(&ready).body, "ready\n");

    broker.stop();
    let answer = poll_until(WITHIN, "not ready", || Some(get(&ready)).filter(|a| a.status == 503));
    assert!(answer.body.starts_with("pipeline default: Kafka is not reachable: "), "{}", answer.body);
    assert_eq!(get(&format!("{base}/health/live")).status, 200, "the process still works");

    broker.start_again();
    poll_until(WITHIN, "ready again", || (get(&ready).status == 200).then_some(()));
    copy_in(1, &dirs.landing());
    scrape_until(&base, "invoices-1 published", |t| sample(t, "sluice_records_published_total") == Some(53.0));
    assert!(host.stop().success());
}

/// The status page's test: two pipelines of a config file, one of which
/// fails at start (its topic does not exist) while the other goes on, with
/// a hostile `where` value and a hostile file name.
#[test]
fn the_status_page_shows_the_pipelines_in_headless_chromium() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("status-page");
    broker.create_topic(&topic, 1);
    let hostile = "<img src=x onerror=window.pwned=1>";
    let where_ = "StoreID = 'STR7188' OR StoreID = '<script>window.pwned=1</script>'".to_owned();
    let (landing, missing) = (dirs.landing(), topic_name("status-never-created"));
    let pipeline = |name: &str, topic: &str, landing: &std::path::Path| {
        format!(
            "[[pipeline]]\nname = \"{name}\"\nlanding_zone = \"{}\"\ntopic = \"{topic}\"\ncheckpoint_dir = \"{}\"\n",
            landing.display(),
            dirs.root().join(format!("ck-{name}")).display()
        )
    };
    let other = dirs.root().join("in-broken");
    std::fs::create_dir_all(&other).unwrap();
    let config = format!(
        "on_pipeline_failure = \"continue\"\n[defaults]\nbootstrap_servers = \"{}\"\ntransform = \"{}\"\n\
         settle_ms = 200\ntransform_config = {{ where = \"{where_}\", key = \"StoreID\" }}\n{}{}",
        broker.bootstrap,
        transform("sql").display(),
        pipeline("invoices", &topic, &landing),
        pipeline("broken", &missing, &other),
    );
    let path = dirs.root().join("sluice.toml");
    std::fs::write(&path, config).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let args = HostArgs::raw(&["run", "--config", path.to_str().unwrap(), "--metrics-addr", &addr]);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("pipeline{name=invoices}: streaming", WITHIN);
    host.wait_for_log("pipeline{name=broken}: pipeline failed and stopped; the others go on", WITHIN);
    let base = format!("http://{addr}");
    let start = now_ms();

    // One file appended to after it was read: found once, finished once.
    let file = landing.join("invoices.json");
    std::fs::copy(invoice_file(1), &file).unwrap();
    wait_for_count(&broker.bootstrap, &topic, start, 53, WITHIN);
    scrape_until(&base, "invoices-1 finished", |t| sample(t, "sluice_files_finished_total") == Some(1.0));
    let more = std::fs::read(invoice_file(2)).unwrap();
    std::fs::OpenOptions::new().append(true).open(&file).unwrap().write_all(&more).unwrap();
    wait_for_count(&broker.bootstrap, &topic, start, 64, WITHIN);
    std::fs::write(landing.join(format!("{hostile}.json")), "{\"StoreID\":\n").unwrap();
    scrape_until(&base, "64 published, a dead letter", |t| {
        sample(t, "sluice_records_published_total") == Some(64.0)
            && sample(t, "sluice_records_dead_lettered_total") == Some(1.0)
    });
    let status: serde_json::Value = serde_json::from_str(&get(&format!("{base}/status.json")).body).unwrap();
    let letter = &status["pipelines"][0]["dead_letters"][0];
    let dead_letter_at = format!("{}:{}", letter["file"].as_str().unwrap(), letter["line"]);
    assert!(dead_letter_at.ends_with(&format!("{hostile}.json:1")), "{dead_letter_at}");

    let expect = serde_json::json!({
        "pipeline": "invoices", "topic": topic, "published": "64", "servers": broker.bootstrap,
        "files": "2 / 2", "where": where_, "dead_letter_at": dead_letter_at,
        "failed": "broken", "failed_why": format!("topic `{missing}` does not exist"),
        "summary": "2 pipelines, 1 failed",
    });
    let script = workspace_root().join("tests/browser/status_page.mjs");
    let tools = workspace_root().join(".tools/playwright");
    let mut node = std::process::Command::new("node");
    node.arg(&script).args([format!("{base}/"), expect.to_string()]);
    if std::env::var_os("SLUICE_PLAYWRIGHT_DIR").is_none() {
        node.env("SLUICE_PLAYWRIGHT_DIR", &tools);
    }
    if std::env::var_os("SLUICE_CHROMIUM").is_none() {
        node.env("SLUICE_CHROMIUM", "/usr/bin/chromium");
    }
    let out = node.output().expect("run node (scripts/test installs Chromium and playwright-core)");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the status page check failed ({}):\n{stdout}\n{stderr}", out.status);
    assert_eq!(stdout.trim(), "ok");
    assert_eq!(host.stop().code(), Some(1), "one pipeline failed");
}

#[test]
fn dead_letters_are_counted_by_reason_and_listed_on_the_status_page() {
    let Run { dirs, host, base, .. } = Run::start("dead-letters", 1, &["--max-record-bytes", "200"]);
    let long = format!("{{\"StoreID\":\"STR7188\",\"pad\":\"{}\"}}", "x".repeat(300));
    let lines: [&[u8]; 4] =
        [b"{\"StoreID\":\"STR7188\"}", b"{\"StoreID\":\"\xff\"}", long.as_bytes(), b"{\"StoreID\":"];
    std::fs::write(dirs.landing().join("bad.json"), lines.join(&b'\n')).unwrap();

    let text = scrape_until(&base, "four lines are done", |t| {
        sample(t, "sluice_records_published_total") == Some(1.0)
            && sample(t, "sluice_records_dead_lettered_total") == Some(3.0)
    });
    for reason in ["invalid_utf8", "record_too_large", "transform_error"] {
        let series = format!("reason=\"{reason}\"}} 1");
        assert!(
            text.lines().any(|l| l.starts_with("sluice_records_dead_lettered_total") && l.ends_with(&series)),
            "{text}"
        );
    }
    let written = std::fs::read_to_string(dirs.checkpoint().join("dead-letters.jsonl")).unwrap();
    assert_eq!(written.lines().count(), 3, "{written}");

    let status: serde_json::Value = serde_json::from_str(&get(&format!("{base}/status.json")).body).unwrap();
    let mut listed: Vec<(String, u64)> = status["pipelines"][0]["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["reason"].as_str().unwrap().to_owned(), d["line"].as_u64().unwrap()))
        .collect();
    listed.sort();
    let want = [("invalid_utf8", 2), ("record_too_large", 3), ("transform_error", 4)];
    assert_eq!(listed, want.map(|(r, l)| (r.to_owned(), l)));
    assert!(host.stop().success());
}
