//! Landing zones in object storage, end to end: the real `sluice` binary
//! reading `s3://` and `az://` prefixes on real servers (moto, SeaweedFS,
//! Azurite; tests/util/objstore.rs) into a real broker. The invoice suite on
//! each store, an object overwritten under its key, `--clean-source`
//! `delete` and `archive`, throttling, a store restarted mid-stream,
//! notification-driven discovery and wrong credentials. The restart,
//! exactly-once and scale-out runs are in `object_zones_guarantees.rs`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sluice_tests::{
    Broker, Host, HostArgs, Kind, ObjectServer, Record, TestDirs, ThrottleProxy, free_port, invoice_file, now_ms,
    poll_until, read_topic, topic_name, transform, wait_for_count, watermarks,
};

use crate::invoices::{assert_exactly, store_lines};

/// How long one object may take to show up in the topic.
pub(crate) const WITHIN: Duration = Duration::from_secs(60);
/// The bucket (or container) of every test.
pub(crate) const BUCKET: &str = "landing";
/// The zone's prefix in it.
pub(crate) const PREFIX: &str = "in";

/// One test's store, broker, topic and directories.
pub(crate) struct Bench {
    pub dirs: TestDirs,
    pub server: ObjectServer,
    pub broker: Broker,
    pub topic: String,
    pub start: i64,
}

impl Bench {
    /// A `kind` server with the bucket made, and a fresh 3-partition topic.
    pub fn new(kind: Kind, test: &str) -> Bench {
        let dirs = TestDirs::new();
        let server = ObjectServer::start(kind, &dirs.root().join("store"));
        server.create_bucket(BUCKET);
        let broker = Broker::start(dirs.root());
        let topic = topic_name(test);
        broker.create_topic(&topic, 3);
        Bench { dirs, server, broker, topic, start: now_ms() }
    }

    /// `sluice run` on the zone with sql.wasm keeping STR7188, keyed by store.
    pub fn args(&self) -> HostArgs {
        self.server
            .host_args(&self.dirs, (BUCKET, PREFIX), &transform("sql"), &self.topic, &self.broker.bootstrap)
            .config("where", "StoreID = 'STR7188'")
            .config("key", "StoreID")
    }

    /// `sluice run` on the zone with fault_injector.wasm, whose `loop`
    /// records spin until a 50 ms time limit (and go to the dead letters):
    /// a slow, steady stream, so that a stop or a kill lands mid-way.
    pub fn slow_args(&self) -> HostArgs {
        let module = transform("fault_injector");
        let args = self.server.host_args(&self.dirs, (BUCKET, PREFIX), &module, &self.topic, &self.broker.bootstrap);
        args.flags(&["--transform-timeout-ms", "50"])
    }

    /// Starts the host with `args` and waits until it streams.
    pub fn start(&self, args: &HostArgs) -> Host {
        let mut host = Host::start(args, self.dirs.root());
        host.wait_for_log("streaming", WITHIN);
        host
    }

    /// Uploads invoice fixture `n` as `in/invoices-n.json`.
    pub fn put_invoices(&self, n: u32) {
        let bytes = std::fs::read(invoice_file(n)).expect("read fixture");
        self.server.put(BUCKET, &format!("{PREFIX}/invoices-{n}.json"), bytes);
    }

    /// Waits for `count` records in the topic and returns them.
    pub fn wait_for(&self, count: usize) -> Vec<Record> {
        wait_for_count(&self.broker.bootstrap, &self.topic, self.start, count, WITHIN)
    }

    /// Records written to the topic so far, committed or not: the sum of
    /// its high watermarks, cheaper to poll than reading the records.
    pub fn written(&self) -> i64 {
        let marks = watermarks(&self.broker.bootstrap, &self.topic).unwrap_or_default();
        marks.iter().map(|(_, high)| high).sum()
    }

    /// The topic's records so far.
    pub fn records(&self) -> Vec<Record> {
        read_topic(&self.broker.bootstrap, &self.topic, self.start).unwrap_or_default()
    }
}

/// Lands the invoices one object at a time: 53, then 64, then 89 records
/// of STR7188, each exactly its source records.
fn invoice_suite(bench: &Bench, host: Host) {
    let mut expected = Vec::new();
    for n in 1..=3 {
        bench.put_invoices(n);
        expected.extend(store_lines(n));
        let records = bench.wait_for(expected.len());
        assert_exactly(&records, &expected);
    }
    assert_eq!(expected.len(), 89);
    assert!(host.stop().success(), "sluice did not exit cleanly");
    assert_exactly(&bench.records(), &expected);
}

#[test]
fn invoices_from_s3_on_moto_land_53_64_89() {
    let bench = Bench::new(Kind::Moto, "obj-invoices-moto");
    let host = bench.start(&bench.args());
    invoice_suite(&bench, host);
}

#[test]
fn invoices_from_s3_on_seaweedfs_land_53_64_89() {
    let bench = Bench::new(Kind::Seaweed, "obj-invoices-weed");
    let host = bench.start(&bench.args());
    invoice_suite(&bench, host);
}

#[test]
fn invoices_from_azure_blob_on_azurite_land_53_64_89() {
    let bench = Bench::new(Kind::Azurite, "obj-invoices-azurite");
    let host = bench.start(&bench.args());
    invoice_suite(&bench, host);
}

/// `count` records `{"id":N,"StoreID":"STR7188"}` from `first`, one a line.
pub(crate) fn records_text(first: u64, count: u64) -> Vec<u8> {
    padded_records(first, count, 1)
}

/// Like [`records_text`], each record padded with `pad` bytes.
pub(crate) fn padded_records(first: u64, count: u64, pad: usize) -> Vec<u8> {
    let pad = "p".repeat(pad);
    let lines = (first..first + count).map(|id| format!("{{\"id\":{id},\"StoreID\":\"STR7188\",\"pad\":\"{pad}\"}}\n"));
    lines.collect::<String>().into_bytes()
}

/// Records `first..first + count` padded with `pad` bytes, every
/// `SPIN_EVERY`-th one asking fault_injector to spin; returns the text and
/// the ids that reach the topic (all but the spinners).
pub(crate) fn slow_records(first: u64, count: u64, pad: usize) -> (Vec<u8>, Vec<u64>) {
    let pad = "p".repeat(pad);
    let (mut text, mut ids) = (String::new(), Vec::new());
    for id in first..first + count {
        if id % SPIN_EVERY == SPIN_EVERY - 1 {
            text.push_str(&format!("{{\"id\":{id},\"fault\":\"loop\"}}\n"));
        } else {
            text.push_str(&format!("{{\"id\":{id},\"pad\":\"{pad}\"}}\n"));
            ids.push(id);
        }
    }
    (text.into_bytes(), ids)
}

/// One record in this many spins for 50 ms in [`slow_records`].
pub(crate) const SPIN_EVERY: u64 = 1_000;

/// How many times each `id` is in `records`.
pub(crate) fn id_counts(records: &[Record]) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    for record in records {
        let value: serde_json::Value = serde_json::from_str(record.value.as_deref().unwrap_or("null")).unwrap();
        if let Some(id) = value["id"].as_u64() {
            *counts.entry(id).or_default() += 1;
        }
    }
    counts
}

/// Asserts `records` hold each id of `ids` exactly once and nothing else;
/// prints the counts as `what`.
pub(crate) fn assert_ids_once(records: &[Record], ids: impl IntoIterator<Item = u64>, what: &str) {
    let counts = id_counts(records);
    let ids: std::collections::HashSet<u64> = ids.into_iter().collect();
    let missing = ids.iter().filter(|id| !counts.contains_key(id)).count();
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    let stray = counts.keys().filter(|id| !ids.contains(id)).count();
    eprintln!("{what}: {} records: {missing} missing, {duplicates} duplicates, {stray} stray", ids.len());
    assert_eq!((missing, duplicates, stray), (0, 0, 0), "{what}: every record exactly once");
}

#[test]
fn an_object_overwritten_under_its_key_is_read_again_and_the_same_etag_never_twice() {
    let bench = Bench::new(Kind::Moto, "obj-overwrite");
    // The listing goes on from the greatest key seen: an overwritten key
    // is found by the full rescan.
    let args = bench.args().flags(&["--rescan-ms", "1000"]);
    let mut host = bench.start(&args);
    bench.server.put(BUCKET, "in/a.json", records_text(0, 10));
    bench.wait_for(10);
    bench.server.put(BUCKET, "in/a.json", records_text(10, 15));
    bench.wait_for(25);
    // The same content again has the same ETag: not new work.
    bench.server.put(BUCKET, "in/a.json", records_text(10, 15));
    bench.server.put(BUCKET, "in/marker.json", records_text(25, 1));
    bench.wait_for(26);
    assert!(host.stop().success(), "sluice did not exit cleanly");
    // Nor after a restart.
    host = bench.start(&args);
    bench.server.put(BUCKET, "in/marker-2.json", records_text(26, 1));
    bench.wait_for(27);
    assert!(host.stop().success(), "sluice did not exit cleanly");
    assert_ids_once(&bench.records(), 0..27, "overwritten object");
}

/// Lands the three invoice objects and waits for all 89 records.
fn land_invoices(bench: &Bench) -> Vec<String> {
    let expected: Vec<String> = (1..=3).flat_map(store_lines).collect();
    (1..=3).for_each(|n| bench.put_invoices(n));
    expected
}

/// Polls until `in/` is empty; the topic then holds every record already.
fn assert_gone_only_after_published(bench: &Bench, expected: &[String]) {
    poll_until(WITHIN, "the landed objects are cleaned", || bench.server.list(BUCKET, PREFIX).is_empty().then_some(()));
    let records = bench.records();
    assert_exactly(&records, expected);
}

#[test]
fn clean_source_delete_removes_objects_only_after_their_records_are_in_the_topic() {
    let bench = Bench::new(Kind::Moto, "obj-clean-delete");
    let host = bench.start(&bench.args().flags(&["--clean-source", "delete"]));
    let expected = land_invoices(&bench);
    assert_gone_only_after_published(&bench, &expected);
    assert!(host.stop().success(), "sluice did not exit cleanly");
    assert!(bench.server.list(BUCKET, "").is_empty(), "nothing is left in the bucket");
}

#[test]
fn clean_source_archive_copies_objects_below_the_archive_then_deletes_them() {
    let bench = Bench::new(Kind::Seaweed, "obj-clean-archive");
    let archive = format!("s3://{BUCKET}/archive/");
    let host = bench.start(&bench.args().flags(&["--clean-source", "archive", "--source-archive-dir", &archive]));
    let expected = land_invoices(&bench);
    assert_gone_only_after_published(&bench, &expected);
    let archived = ["archive/invoices-1.json", "archive/invoices-2.json", "archive/invoices-3.json"];
    bench.server.wait_for_keys(BUCKET, "archive", &archived, WITHIN);
    for (n, key) in (1..=3).zip(archived) {
        let original = std::fs::read(invoice_file(n)).unwrap();
        assert_eq!(bench.server.get(BUCKET, key), Some(original), "{key} is the object, byte for byte");
    }
    assert!(host.stop().success(), "sluice did not exit cleanly");
}

#[test]
fn throttled_requests_are_retried_and_every_record_lands_exactly() {
    let bench = Bench::new(Kind::Moto, "obj-throttled");
    let proxy = ThrottleProxy::start(bench.server.port(), 3);
    let metrics = format!("127.0.0.1:{}", free_port());
    let endpoint = format!("endpoint={}", proxy.endpoint());
    let args = bench.args().flags(&["--storage-option", &endpoint, "--metrics-addr", &metrics]);
    let host = bench.start(&args);
    let expected = land_invoices(&bench);
    assert_exactly(&bench.wait_for(expected.len()), &expected);
    for n in 0..4 {
        bench.server.put(BUCKET, &format!("in/gen-{n}.json"), records_text(n * 5_000, 5_000));
    }
    let records = bench.wait_for(expected.len() + 20_000);
    let scrape = crate::metrics::get(&format!("http://{metrics}/metrics")).body;
    assert!(host.stop().success(), "sluice did not exit cleanly");
    eprintln!("throttling proxy: {} requests, {} answered 503 SlowDown", proxy.requests(), proxy.throttled());
    assert!(proxy.throttled() > 0, "the proxy throttled some requests");
    let counted: f64 = scrape
        .lines()
        .filter(|l| l.starts_with("sluice_object_store_requests_total{") && l.contains("outcome=\"throttled\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(counted as u64, proxy.throttled(), "/metrics counts every 503 the host got:\n{scrape}");
    let generated: Vec<Record> =
        records.into_iter().filter(|r| r.value.as_deref().is_some_and(|v| v.contains("\"id\""))).collect();
    assert_ids_once(&generated, 0..20_000, "throttled");
}

#[test]
fn a_seaweedfs_restart_mid_stream_loses_and_doubles_nothing() {
    let mut bench = Bench::new(Kind::Seaweed, "obj-store-restart");
    let host = bench.start(&bench.slow_args());
    let mut ids: Vec<u64> = Vec::new();
    for n in 0..3 {
        let (text, published) = slow_records(n * 20_000, 20_000, 20);
        bench.server.put(BUCKET, &format!("in/gen-{n}.json"), text);
        ids.extend(published);
    }
    poll_until(WITHIN, "the first records land", || (bench.written() > 0).then_some(()));
    bench.server.stop();
    let at_stop = bench.records().len();
    eprintln!("SeaweedFS stopped with {at_stop} of {} records in the topic", ids.len());
    assert!(at_stop < ids.len(), "the objects were read before the store stopped");
    bench.server.start_again();
    for n in 3..6 {
        let (text, published) = slow_records(n * 20_000, 20_000, 20);
        bench.server.put(BUCKET, &format!("in/gen-{n}.json"), text);
        ids.extend(published);
    }
    let records = bench.wait_for(ids.len());
    assert!(host.stop().success(), "sluice did not exit cleanly");
    assert_ids_once(&records, ids, "store restarted");
}

#[test]
fn notifications_find_new_objects_with_the_listing_off_and_the_rescan_slow() {
    let bench = Bench::new(Kind::Moto, "obj-notified");
    let queue = bench.server.notify_to_queue(BUCKET, "landing-events");
    let args = bench.args().flags(&["--list-ms", "0", "--rescan-ms", "600000", "--notification-queue", &queue]);
    let host = bench.start(&args);
    let mut latencies = Vec::new();
    for n in 0..5u64 {
        let put = Instant::now();
        bench.server.put(BUCKET, &format!("in/gen-{n}.json"), records_text(n * 10, 10));
        bench.wait_for(((n + 1) * 10) as usize);
        latencies.push(put.elapsed());
    }
    latencies.sort();
    eprintln!("upload to visible with notifications: p50 {:?}, max {:?}", latencies[2], latencies[4]);
    assert!(host.stop().success(), "sluice did not exit cleanly");
    assert_ids_once(&bench.records(), 0..50, "notified");
}

/// Runs the host with `args` and asserts it exits non-zero at start-up
/// naming the bucket, with `secret` nowhere in what it printed.
fn assert_refused(bench: &Bench, args: &HostArgs, secret: &str) {
    let mut host = Host::start(args, bench.dirs.root());
    let status = host.wait(WITHIN);
    let log = host.log();
    assert!(!status.success(), "sluice started with wrong credentials:\n{log}");
    assert!(log.contains(&bench.server.url(BUCKET, PREFIX).trim_end_matches('/').to_string()), "{log}");
    assert!(!log.contains(secret), "the secret is in the output:\n{log}");
    assert!(!log.contains("streaming"), "{log}");
}

#[test]
fn wrong_s3_credentials_stop_the_start_naming_the_bucket_and_never_the_secret() {
    let bench = Bench::new(Kind::Seaweed, "obj-wrong-s3");
    let secret = "not-the-secret-9d2e41";
    let args = bench.args().flags(&["--storage-option", &format!("secret_access_key={secret}")]);
    assert_refused(&bench, &args, secret);
}

#[test]
fn wrong_azure_credentials_stop_the_start_naming_the_container_and_never_the_key() {
    let bench = Bench::new(Kind::Azurite, "obj-wrong-azure");
    let key = "bm90LXRoZS1rZXktYXQtYWxsLTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Ng==";
    let args = bench.args().flags(&["--storage-option", &format!("access_key={key}")]);
    assert_refused(&bench, &args, key);
}
