//! The object-store rows: `sluice run` on a landing zone in S3, over the
//! same input as the local-file rows of the run, on servers the harness
//! starts (tests/util/objstore.rs): SeaweedFS (`weed mini`, on disk) for
//! throughput and the large prefix, moto (S3 and SQS) for latency.
//!
//! 1. Throughput, one object and [`SMALL_OBJECTS`] objects: the input is
//!    uploaded below a staging prefix (untimed) and copied server-side to a
//!    prefix of the row's own; the time runs from the start of a host on
//!    that prefix (`--list-ms` [`LIST_MS`]; its start-up, ~0.1 s, is timed,
//!    unlike the local-file rows') until `checkpoint.json` says every
//!    object is acknowledged to its end. Peak RSS and CPU as for files, and
//!    the server's CPU seconds beside. A third row copies the 1,000 objects
//!    in while the host runs, [`IN_FLIGHT`] at a time as parallel writers
//!    land them, so out of key order: the listing from the cursor, which
//!    lags 10 s behind the greatest key seen, finds them (keys more out of
//!    order wait for the full rescan); its time runs from the first copy.
//! 2. Latency, upload to all readable: a 500-record object put into a
//!    running host's prefix until a consumer has read its 500 messages,
//!    40 times after one warm-up, each upload at another moment of the
//!    listing interval; once found by the listing from the cursor
//!    (the default `--list-ms`), once by S3 event notifications from an SQS
//!    queue (`--notification-queue`, `--list-ms 0`).
//! 3. A prefix of [`PREFIX_OBJECTS`] objects (`$SLUICE_BENCH_OBJECTS`), one
//!    record each: how long one full listing takes (the harness's client,
//!    1,000 keys a page), then a host started on it until every object is
//!    checkpointed: its time, peak RSS and CPU, the checkpoint's size, and
//!    what one rewrite of a snapshot that size costs (serialize, write,
//!    fsync, rename; measured by the bench, not inside the host).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use object_store::path::Path as Key;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use sluice_tests::{Broker, Host, HostArgs, Kind, ObjectServer, TestDirs, topic_name, transform};

use super::{
    CHECKPOINT_POLL, CpuClock, Input, LATENCY_RECORDS, LATENCY_SAMPLES, PARTITIONS, RUN_TIMEOUT, Row, alive, consume,
    count_topic, cpu_seconds, latency_consumer, mb, peak_rss, percentile_ms, progress, stop_host, tail, wanted,
};

/// What `$SLUICE_BENCH_ONLY` names every object-store measurement by.
pub const OBJECTS: &str = "object store";
/// The bucket of every measurement.
const BUCKET: &str = "bench";
/// Objects the input is split into for the many-objects row.
const SMALL_OBJECTS: usize = 1_000;
/// Objects in the large prefix, unless `$SLUICE_BENCH_OBJECTS` says.
const PREFIX_OBJECTS: usize = 100_000;
/// How often the throughput hosts list from their cursor.
const LIST_MS: &str = "100";
/// Requests the bench keeps in flight when it uploads or copies.
const IN_FLIGHT: usize = 16;

const ONE_OBJECT: &str = "sluice sql.wasm, keep all, key=StoreID, object store (SeaweedFS S3), 1 object";
const MANY_OBJECTS: &str = "sluice sql.wasm, keep all, key=StoreID, object store (SeaweedFS S3), 1,000 objects";
const LANDING_OBJECTS: &str = "sluice sql.wasm, keep all, key=StoreID, object store (SeaweedFS S3), 1,000 objects \
                               landing while it runs, 16 at a time (out of key order)";
const BY_LISTING: &str = "object store (moto S3), found by listing (--list-ms 1000)";
const BY_NOTIFICATION: &str = "object store (moto S3 + SQS), found by notification (--list-ms 0)";
const PREFIX: &str = "object store (SeaweedFS S3), large prefix";

/// Everything the object-store part measured.
#[derive(Debug, Default)]
pub struct Measured {
    /// Throughput rows, for the table of the local-file rows.
    pub rows: Vec<Row>,
    /// Each row's server CPU seconds, and how long the copies into its
    /// prefix took.
    store_cpu: Vec<(&'static str, f64, Duration)>,
    /// Latency samples by mode, or why there are none.
    latencies: Vec<(&'static str, Result<Vec<Duration>, String>)>,
    /// The large prefix, or why it was not measured.
    prefix: Option<Result<Prefix, String>>,
}

/// The large-prefix measurement.
#[derive(Debug)]
struct Prefix {
    objects: usize,
    upload: Duration,
    listing: Duration,
    host: Duration,
    peak_rss: Option<u64>,
    host_cpu: f64,
    checkpoint_bytes: u64,
    save: Duration,
}

/// Runs the object-store measurements `$SLUICE_BENCH_ONLY` wants.
pub fn measure(broker: &Broker, input: &Input) -> anyhow::Result<Measured> {
    let mut measured = Measured::default();
    let dir = tempfile::Builder::new().prefix("sluice-bench-objects-").tempdir()?;
    if [ONE_OBJECT, MANY_OBJECTS, LANDING_OBJECTS, PREFIX].into_iter().any(wanted) {
        let server = ObjectServer::start(Kind::Seaweed, &dir.path().join("seaweed"));
        server.create_bucket(BUCKET);
        if [ONE_OBJECT, MANY_OBJECTS, LANDING_OBJECTS].into_iter().any(wanted) {
            throughput(broker, input, &server, &mut measured)?;
        }
        if wanted(PREFIX) {
            // A host that does not get through the prefix in time is a
            // finding of its own, not the end of the bench.
            let measured_prefix = prefix(broker, input, &server).map_err(|e| {
                progress(&format!("{PREFIX}: not measured: {e:#}"));
                e.root_cause().to_string().lines().next().unwrap_or_default().to_owned()
            });
            measured.prefix = Some(measured_prefix);
        }
    }
    if wanted(BY_LISTING) || wanted(BY_NOTIFICATION) {
        let server = ObjectServer::start(Kind::Moto, &dir.path().join("moto"));
        server.create_bucket(BUCKET);
        for (mode, wanted_mode) in [(BY_LISTING, wanted(BY_LISTING)), (BY_NOTIFICATION, wanted(BY_NOTIFICATION))] {
            if wanted_mode {
                measured.latencies.push((mode, latency_or_why(broker, input, &server, mode)));
            }
        }
    }
    Ok(measured)
}

/// The current-thread runtime the bench's own requests run on.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// Stages the input below `stage/one/` and `stage/many/`, then times a
/// host over each.
fn throughput(broker: &Broker, input: &Input, server: &ObjectServer, measured: &mut Measured) -> anyhow::Result<()> {
    let (rt, store) = (runtime()?, server.store(BUCKET));
    let text = fs::read(&input.path)?;
    let started = Instant::now();
    let many: Vec<(String, Vec<u8>)> = split(&text, SMALL_OBJECTS)
        .into_iter()
        .enumerate()
        .map(|(n, part)| (format!("stage/many/part-{n:04}.json"), part.to_vec()))
        .collect();
    rt.block_on(put_all(&store, many))?;
    rt.block_on(put_all(&store, vec![("stage/one/bench.json".to_owned(), text)]))?;
    progress(&format!("{OBJECTS}: staged the input in {:.1} s (untimed)", started.elapsed().as_secs_f64()));
    for (name, stage, landing) in
        [(ONE_OBJECT, "stage/one", false), (MANY_OBJECTS, "stage/many", false), (LANDING_OBJECTS, "stage/many", true)]
    {
        if wanted(name) {
            let (row, store_cpu, copies) = object_run(broker, input, server, name, stage, landing)?;
            measured.rows.push(row);
            measured.store_cpu.push((name, store_cpu, copies));
        }
    }
    Ok(())
}

/// `text` cut at line ends into `parts` pieces of about the same size.
fn split(text: &[u8], parts: usize) -> Vec<&[u8]> {
    let mut pieces = Vec::with_capacity(parts);
    let mut rest = text;
    for n in (1..=parts).rev() {
        let want = rest.len().div_ceil(n);
        let end = rest[want.min(rest.len())..].iter().position(|&b| b == b'\n').map_or(rest.len(), |i| want + i + 1);
        let (piece, after) = rest.split_at(end.min(rest.len()));
        pieces.push(piece);
        rest = after;
    }
    pieces
}

/// Puts every `(key, bytes)`, [`IN_FLIGHT`] at a time.
async fn put_all(store: &std::sync::Arc<dyn ObjectStore>, objects: Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
    stream::iter(objects)
        .map(|(key, bytes)| async move {
            store.put(&Key::from(key.as_str()), PutPayload::from(bytes)).await.with_context(|| format!("put {key}"))
        })
        .buffer_unordered(IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// Copies every object below `from` to the same name below `to`.
async fn copy_all(
    store: &std::sync::Arc<dyn ObjectStore>,
    objects: &[ObjectMeta],
    from: &str,
    to: &str,
) -> anyhow::Result<()> {
    stream::iter(objects)
        .map(|meta| async move {
            let name = meta.location.as_ref().strip_prefix(from).unwrap_or(meta.location.as_ref());
            let target = Key::from(format!("{to}{name}"));
            store.copy(&meta.location, &target).await.with_context(|| format!("copy {} to {target}", meta.location))
        })
        .buffer_unordered(IN_FLIGHT)
        .try_for_each(|()| async { Ok(()) })
        .await
}

/// The objects below `prefix`.
fn list(
    rt: &tokio::runtime::Runtime,
    store: &std::sync::Arc<dyn ObjectStore>,
    prefix: &str,
) -> anyhow::Result<Vec<ObjectMeta>> {
    Ok(rt.block_on(store.list(Some(&Key::from(prefix))).try_collect())?)
}

/// `sluice run` on `prefix` of `server`'s bucket, with `flags` besides.
fn object_args(
    dirs: &TestDirs,
    server: &ObjectServer,
    prefix: &str,
    topic: &str,
    bootstrap: &str,
    flags: &[&str],
) -> HostArgs {
    let (url, module, checkpoint) = (server.url(BUCKET, prefix), transform("sql"), dirs.checkpoint());
    let mut args = HostArgs::raw(&["run", "--landing-zone", &url, "--transform"])
        .flags(&[module.to_str().expect("UTF-8 paths"), "--topic", topic, "--bootstrap-servers", bootstrap])
        .flags(&["--checkpoint-dir", checkpoint.to_str().expect("UTF-8 paths")])
        .config("key", "StoreID")
        .flags(flags);
    for (key, value) in server.storage_options() {
        args = args.flags(&["--storage-option", &format!("{key}={value}")]);
    }
    args
}

/// Times one host over the objects below `stage`, copied in before it
/// starts or, with `landing`, while it runs; see the module docs. Returns
/// the row, the server's CPU seconds and how long the copies took.
fn object_run(
    broker: &Broker,
    input: &Input,
    server: &ObjectServer,
    name: &'static str,
    stage: &str,
    landing: bool,
) -> anyhow::Result<(Row, f64, Duration)> {
    progress(&format!("{name}: starting"));
    let (rt, store) = (runtime()?, server.store(BUCKET));
    let staged = list(&rt, &store, stage)?;
    let (dirs, topic) = (TestDirs::new(), topic_name("bench-objects"));
    broker.create_topic(&topic, PARTITIONS);
    let prefix = format!("in-{topic}");
    let copy = || -> anyhow::Result<Duration> {
        let started = Instant::now();
        rt.block_on(copy_all(&store, &staged, stage, &prefix))?;
        progress(&format!("{name}: copied {} object(s) in {:.2} s", staged.len(), started.elapsed().as_secs_f64()));
        Ok(started.elapsed())
    };
    let copies = if landing { Duration::ZERO } else { copy()? };
    let args = object_args(&dirs, server, &prefix, &topic, &broker.bootstrap, &["--list-ms", LIST_MS]);
    let (store_cpu, mut t0) = (server_cpu(server), Instant::now());
    let mut host = Host::start(&args, dirs.root());
    let cpu = CpuClock::start(host.pid());
    let copies = if landing {
        host.wait_for_log("streaming", Duration::from_secs(60));
        t0 = Instant::now();
        copy()?
    } else {
        copies
    };
    let zone = server.url(BUCKET, &prefix);
    let want = staged.iter().map(|m| (format!("{zone}{}", &m.location.as_ref()[stage.len() + 1..]), m.size));
    wait_objects_done(&host, &dirs, want.collect(), CHECKPOINT_POLL)?;
    let elapsed = t0.elapsed();
    let ((sender_cpu, broker_cpu), store_cpu) = (cpu.stop(), server_cpu(server) - store_cpu);
    let peak_rss = peak_rss(host.pid());
    stop_host(host)?;
    let in_topic = count_topic(&broker.bootstrap, &topic)?;
    let (records, bytes, published) = (input.records, input.bytes, input.records);
    let seconds = elapsed.as_secs_f64();
    progress(&format!("{name}: {seconds:.2} s, {in_topic} of {published} messages, server CPU {store_cpu:.1} s"));
    let row = Row { name, records, bytes, elapsed, published, in_topic, peak_rss, sender_cpu, broker_cpu };
    Ok((row, store_cpu, copies))
}

/// The object-store server's CPU seconds so far.
fn server_cpu(server: &ObjectServer) -> f64 {
    cpu_seconds(&format!("/proc/{}/stat", server.pid())).unwrap_or(0.0)
}

/// Polls the checkpoint every `every` until each object of `want` (name,
/// size) stands at its size.
fn wait_objects_done(host: &Host, dirs: &TestDirs, want: HashMap<String, u64>, every: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        let files = sluice_tests::checkpoint_files(&dirs.checkpoint()).unwrap_or_default();
        let done = files
            .iter()
            .filter(|f| {
                f["path"].as_str().and_then(|p| want.get(p)).is_some_and(|&size| f["offset"].as_u64() == Some(size))
            })
            .count();
        if done >= want.len() {
            return Ok(());
        }
        if !alive(host.pid()) || Instant::now() > deadline {
            bail!(
                "sluice checkpointed {done} of {} objects within {RUN_TIMEOUT:?}\nits log:\n{}",
                want.len(),
                tail(&host.log())
            );
        }
        std::thread::sleep(every);
    }
}

/// [`latency`], or the first line of why it could not be measured (the
/// host refusing a mode is a row of its own, not the end of the bench).
fn latency_or_why(
    broker: &Broker,
    input: &Input,
    server: &ObjectServer,
    mode: &'static str,
) -> Result<Vec<Duration>, String> {
    let measured = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| latency(broker, input, server, mode)));
    let (why, short) = match measured {
        Ok(Ok(samples)) => return Ok(samples),
        Ok(Err(e)) => (format!("{e:#}"), e.root_cause().to_string()),
        Err(panic) => {
            let text = panic.downcast_ref::<String>().cloned().unwrap_or_else(|| "a panic".to_owned());
            (text.clone(), text)
        }
    };
    progress(&format!("{mode}: not measured: {why}"));
    Err(short.lines().next().unwrap_or_default().to_owned())
}

/// Upload-to-readable samples in `mode`; see the module docs.
fn latency(broker: &Broker, input: &Input, server: &ObjectServer, mode: &str) -> anyhow::Result<Vec<Duration>> {
    progress(&format!("{mode}: {LATENCY_SAMPLES} objects of {LATENCY_RECORDS} records"));
    let (dirs, topic) = (TestDirs::new(), topic_name("bench-objects-latency"));
    broker.create_topic(&topic, PARTITIONS);
    let prefix = format!("latency-{topic}");
    let queue_url;
    let flags: Vec<&str> = if mode == BY_NOTIFICATION {
        queue_url = server.notify_to_queue(BUCKET, &format!("q-{}", std::process::id()));
        vec!["--notification-queue", &queue_url, "--list-ms", "0"]
    } else {
        vec!["--list-ms", "1000"]
    };
    let mut host = Host::start(&object_args(&dirs, server, &prefix, &topic, &broker.bootstrap, &flags), dirs.root());
    host.wait_for_log("streaming", Duration::from_secs(60));
    let consumer = latency_consumer(&broker.bootstrap, &topic)?;
    let mut samples = Vec::with_capacity(LATENCY_SAMPLES);
    for n in 0..=LATENCY_SAMPLES {
        // Uploads come at any moment of the host's listing interval, not
        // just after the listing that found the last one: spread them.
        std::thread::sleep(Duration::from_millis((n as u64 * 379) % 1000));
        let t0 = Instant::now();
        // Keys in upload order, as the listing from the cursor needs them.
        server.put(BUCKET, &format!("{prefix}/latency-{n:04}.json"), input.sample.clone());
        consume(&consumer, LATENCY_RECORDS)
            .with_context(|| format!("latency object {n}; sluice log:\n{}", tail(&host.log())))?;
        if n > 0 {
            samples.push(t0.elapsed());
        }
    }
    stop_host(host)?;
    Ok(samples)
}

/// The number of objects in the large prefix.
fn prefix_objects() -> anyhow::Result<usize> {
    match std::env::var("SLUICE_BENCH_OBJECTS") {
        Ok(n) => n.parse().with_context(|| format!("SLUICE_BENCH_OBJECTS={n} is not a count")),
        Err(_) => Ok(PREFIX_OBJECTS),
    }
}

/// The large prefix; see the module docs.
fn prefix(broker: &Broker, input: &Input, server: &ObjectServer) -> anyhow::Result<Prefix> {
    let objects = prefix_objects()?;
    let (rt, store) = (runtime()?, server.store(BUCKET));
    let lines: Vec<&[u8]> = input.sample.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    progress(&format!("{PREFIX}: uploading {objects} objects of one record (untimed)"));
    let started = Instant::now();
    let puts = (0..objects).map(|n| (format!("many/obj-{n:07}.json"), [lines[n % lines.len()], b"\n"].concat()));
    rt.block_on(put_all(&store, puts.collect()))?;
    let upload = started.elapsed();
    let started = Instant::now();
    let listed = list(&rt, &store, "many")?;
    let listing = started.elapsed();
    ensure!(listed.len() == objects, "listed {} of the {objects} objects uploaded", listed.len());
    progress(&format!(
        "{PREFIX}: uploaded in {:.1} s, one full listing {:.2} s",
        upload.as_secs_f64(),
        listing.as_secs_f64()
    ));
    let (dirs, topic) = (TestDirs::new(), topic_name("bench-objects-prefix"));
    broker.create_topic(&topic, PARTITIONS);
    let zone = server.url(BUCKET, "many");
    let want = listed.iter().map(|m| (format!("{zone}{}", &m.location.as_ref()["many/".len()..]), m.size));
    let t0 = Instant::now();
    let host = Host::start(&object_args(&dirs, server, "many", &topic, &broker.bootstrap, &[]), dirs.root());
    let cpu = CpuClock::start(host.pid());
    wait_objects_done(&host, &dirs, want.collect(), Duration::from_millis(500))?;
    let (host_elapsed, (host_cpu, _)) = (t0.elapsed(), cpu.stop());
    let peak_rss = peak_rss(host.pid());
    stop_host(host)?;
    let in_topic = count_topic(&broker.bootstrap, &topic)?;
    ensure!(in_topic == objects as u64, "{in_topic} of {objects} messages in the topic after the large prefix");
    let (checkpoint_bytes, save) = snapshot_cost(&dirs)?;
    Ok(Prefix { objects, upload, listing, host: host_elapsed, peak_rss, host_cpu, checkpoint_bytes, save })
}

/// The size of the host's `checkpoint.json` and the time to serialize,
/// write, fsync and rename a copy of it.
fn snapshot_cost(dirs: &TestDirs) -> anyhow::Result<(u64, Duration)> {
    let path = dirs.checkpoint().join("checkpoint.json");
    let snapshot: serde_json::Value = serde_json::from_slice(&fs::read(&path)?)?;
    let (copy, renamed) = (dirs.root().join("snapshot.tmp"), dirs.root().join("snapshot.json"));
    let started = Instant::now();
    let bytes = serde_json::to_vec(&snapshot)?;
    let mut file = fs::File::create(&copy)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    fs::rename(&copy, &renamed)?;
    Ok((fs::metadata(&path)?.len(), started.elapsed()))
}

/// The server CPU, latency and large-prefix tables, as markdown.
pub fn report(measured: &Measured) -> String {
    let mut out = String::new();
    if !measured.store_cpu.is_empty() {
        out.push_str("\n| object-store row | server CPU s | server-side copies into the prefix, s |\n|---|--:|--:|\n");
        for (name, cpu, copies) in &measured.store_cpu {
            let _ = writeln!(out, "| {name} | {cpu:.1} | {:.2} |", copies.as_secs_f64());
        }
    }
    if !measured.latencies.is_empty() {
        let _ = writeln!(
            out,
            "\n| latency, {LATENCY_RECORDS}-record object uploaded → all readable | p50 ms | p90 ms | p99 ms | max ms |"
        );
        out.push_str("|---|--:|--:|--:|--:|\n");
        for (mode, samples) in &measured.latencies {
            let _ = match samples {
                Ok(s) => {
                    let [p50, p90, p99, max] = [0.50, 0.90, 0.99, 1.0].map(|p| percentile_ms(s, p));
                    writeln!(out, "| {mode} ({} objects) | {p50:.1} | {p90:.1} | {p99:.1} | {max:.1} |", s.len())
                }
                Err(why) => writeln!(out, "| {mode}: not measured ({}) | - | - | - | - |", why.replace('|', "/")),
            };
        }
    }
    match &measured.prefix {
        Some(Ok(p)) => out.push_str(&prefix_report(p)),
        Some(Err(why)) => _ = writeln!(out, "\n{PREFIX}: not measured ({why})"),
        None => {}
    }
    out
}

fn prefix_report(p: &Prefix) -> String {
    let rss = p.peak_rss.map_or("-".to_owned(), |b| format!("{:.1}", mb(b)));
    let mut out = format!("\n| {PREFIX} | value |\n|---|--:|\n");
    let _ = writeln!(out, "| objects (one record each) | {} |", p.objects);
    let _ = writeln!(out, "| upload by the bench, {IN_FLIGHT} at a time, s | {:.1} |", p.upload.as_secs_f64());
    let _ = writeln!(out, "| one full listing (1,000 keys a request), s | {:.2} |", p.listing.as_secs_f64());
    let _ = writeln!(out, "| sluice from start until every object is checkpointed, s | {:.1} |", p.host.as_secs_f64());
    let _ = writeln!(out, "| objects/s | {:.0} |", p.objects as f64 / p.host.as_secs_f64());
    let _ = writeln!(out, "| sluice peak RSS MB | {rss} |");
    let _ = writeln!(out, "| sluice CPU s | {:.1} |", p.host_cpu);
    let _ = writeln!(out, "| checkpoint.json MB | {:.2} |", mb(p.checkpoint_bytes));
    let _ = writeln!(
        out,
        "| one snapshot rewrite (serialize, write, fsync, rename), ms | {:.1} |",
        p.save.as_secs_f64() * 1e3
    );
    out
}
