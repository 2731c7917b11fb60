//! Sluice's throughput, memory and latency, measured in one run against one
//! broker, printed as markdown tables on stdout (progress goes to stderr).
//!
//! ```text
//! scripts/bench [--records N | --bytes N]     # builds everything, makes the input, runs this
//! sluice-bench INPUT.json                     # INPUT from `gen-invoices bench`
//! ```
//!
//! It uses `$KAFKA_BOOTSTRAP_SERVERS` (scripts/bench starts Apache Kafka
//! and names it there, with its pid in `$SLUICE_BENCH_BROKER_PID` and its
//! name in `$SLUICE_BENCH_BROKER`), else starts Apache Kafka itself, and
//! measures:
//!
//! 1. `sluice run` with `sql.wasm` keeping every record (`key=StoreID`): from the moment the
//!    input is renamed into the landing zone until `checkpoint.json` says
//!    the whole file is acknowledged by Kafka. Then the host's peak RSS
//!    (`VmHWM`) and CPU time, a clean SIGTERM exit, and a count of the topic.
//! 2. The same with `where StoreID = 'STR7188'` and `key=StoreID`; records/s
//!    and MB/s count what was read, the topic must hold the STR7188 lines.
//!    Both 1 and 2 run again with `sql.wasm` as of commit 49c12a6, before
//!    the Spark SQL engine: the same run measures both, so their ratio holds
//!    on a shared machine whose speed varies from day to day.
//!    Then the same with the `invoice_by_store` example in each language
//!    (Rust, C, Zig, AssemblyScript, Go), so an author sees the cost.
//! 3. The ceiling: an in-process rdkafka producer with sluice's settings
//!    sending every line as is, from the first send to a flush with every
//!    delivery acknowledged.
//! 4. Latency: a 500-record file renamed into a running host's landing zone
//!    until a consumer has read all 500 messages, 40 times (after one
//!    warm-up file); p50, p90, p99 and max (nearest rank: with 40 samples
//!    p99 is the max).
//! 5. Object storage (`objects`): the keep-all row over the input as one
//!    S3 object and as 1,000 (SeaweedFS), with the server's CPU; the
//!    upload-to-readable latency with listing and with SQS notifications
//!    (moto); and a prefix of 100,000 objects (`$SLUICE_BENCH_OBJECTS`):
//!    one listing's time, the host's time, memory and CPU over it, and the
//!    size and rewrite cost of its checkpoint.
//! 6. Scale-out (`scale_out`): one, two and three exactly-once hosts of one
//!    pipeline over the input split into 120 files, records/s and CPU
//!    seconds per host; then how long a SIGKILLed host's files wait.
//!
//! MB are 10^6 bytes. "sender CPU s" is the user + system time the sluice
//! host (or, for the ceiling, this process) used while timed, "broker CPU s"
//! the broker's (when its pid is known); stderr also lists the host's busiest threads. The input is
//! hard-linked next to each landing zone, so the rename is instant and every
//! run reads the same (page-cached) file.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use sluice_tests::{Broker, Host, HostArgs, TestDirs, read_topic, topic_name, transform};

mod objects;
mod scale_out;

/// What `$SLUICE_BENCH_ONLY` names the scale-out rows by.
const SCALE_OUT: &str = "scale-out";

/// The ceiling's row name.
const PLAIN_PRODUCER: &str = "plain rdkafka producer, no transform (ceiling)";
/// Partitions of every topic the bench creates.
const PARTITIONS: i32 = 1;
/// How often `checkpoint.json` is read while a run is timed.
const CHECKPOINT_POLL: Duration = Duration::from_millis(5);
/// Longest a throughput run may take before the bench gives up.
const RUN_TIMEOUT: Duration = Duration::from_secs(900);
/// Latency samples, each one file of [`LATENCY_RECORDS`] records.
const LATENCY_SAMPLES: usize = 40;
/// A pseudo-config that runs sluice with `--delivery exactly-once`.
const EOS: (&str, &str) = ("--delivery", "exactly-once");
/// A pseudo-config that runs sluice with `--metrics-addr` on a free port.
const METRICS: (&str, &str) = ("--metrics-addr", "");

/// Records per latency file.
const LATENCY_RECORDS: usize = 500;
/// Longest one latency sample may take.
const LATENCY_TIMEOUT: Duration = Duration::from_secs(30);
/// How the bench input marks the filtered store (fields are compact JSON).
const TARGET_STORE: &str = r#""StoreID":"STR7188""#;
/// The producer settings `sluice run` uses by default (host/src/config.rs).
const PRODUCER_SETTINGS: [(&str, &str); 7] = [
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("linger.ms", "5"),
    ("compression.type", "lz4"),
    ("partitioner", "murmur2_random"),
    ("queue.buffering.max.kbytes", "131072"),
    ("message.timeout.ms", "0"),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input] = args.as_slice() else {
        eprintln!("usage: sluice-bench INPUT.json   (make INPUT with `gen-invoices bench`; see scripts/bench)");
        return ExitCode::from(2);
    };
    match bench(Path::new(input)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("sluice-bench: a topic did not hold what was sent; see the check column");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("sluice-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The STR7188 example in each language: row name, module.
const PORTS: [(&str, &str); 7] = [
    ("sluice invoice_by_store, Rust", "invoice_by_store"),
    ("sluice invoice_by_store, C", "invoice_by_store_c"),
    ("sluice invoice_by_store, Zig", "invoice_by_store_zig"),
    ("sluice invoice_by_store, AssemblyScript", "invoice_by_store_as"),
    ("sluice invoice_by_store, Go", "invoice_by_store_go"),
    ("sluice invoice_by_store, Python", "invoice_by_store_py"),
    ("sluice invoice_by_store, JavaScript", "invoice_by_store_js"),
];

/// The commit of the `sql.wasm` before the Spark SQL engine that
/// `scripts/bench` builds (its `BEFORE_SQL`); see the module docs.
macro_rules! before_sql {
    () => {
        "49c12a6"
    };
}
const BEFORE_SQL: &str = concat!("sql_", before_sql!());
const BEFORE_KEEP_ALL: &str =
    concat!("sluice sql.wasm as of ", before_sql!(), " (before the SQL engine), keep all, key=StoreID");
const BEFORE_FILTER: &str =
    concat!("sluice sql.wasm as of ", before_sql!(), " (before the SQL engine), STR7188, key=StoreID");

/// One `sluice run` measurement: row name, module, config, messages expected.
type Run<'a> = (&'static str, &'a str, &'a [(&'a str, &'a str)], u64);

/// Runs every measurement and prints the tables; false if a check failed.
fn bench(path: &Path) -> anyhow::Result<bool> {
    let input = Input::scan(path)?;
    progress(&format!("input: {} records, {:.1} MB, {} from STR7188", input.records, mb(input.bytes), input.target));
    let broker_dir = tempfile::Builder::new().prefix("sluice-bench-").tempdir().context("create a temp dir")?;
    let broker = Broker::start(broker_dir.path());
    let keep_all = [("key", "StoreID")];
    let filter = [("where", "StoreID = 'STR7188'"), ("key", "StoreID")];
    let metrics = [&keep_all[..], &[METRICS]].concat();
    let eos_keep_all = [&keep_all[..], &[EOS]].concat();
    let eos_filter = [&filter[..], &[EOS]].concat();
    let runs: [Run<'_>; 7] = [
        ("sluice sql.wasm, keep all, key=StoreID", "sql", &keep_all, input.records),
        (BEFORE_KEEP_ALL, BEFORE_SQL, &keep_all, input.records),
        ("sluice sql.wasm, keep all, key=StoreID, --metrics-addr", "sql", &metrics, input.records),
        ("sluice sql.wasm, where StoreID = 'STR7188', key=StoreID", "sql", &filter, input.target),
        (BEFORE_FILTER, BEFORE_SQL, &filter, input.target),
        ("sluice sql.wasm, keep all, key=StoreID, exactly once", "sql", &eos_keep_all, input.records),
        ("sluice sql.wasm, STR7188, exactly once", "sql", &eos_filter, input.target),
    ];
    let port_config = [("store_id", "STR7188")];
    let ports = PORTS.map(|(name, module)| (name, module, &port_config[..], input.target));
    let mut rows = Vec::new();
    // An untimed first run: the broker's JVM compiles its hot paths and
    // sluice compiles sql.wasm into its cache, so that the first measured
    // row is not charged for either (it used to show twice the broker CPU).
    let (name, module, config, published) = runs[0];
    progress("warming up the broker and the module cache (not measured)");
    sluice_run(&broker, &input, name, module, config, published)?;
    for (name, module, config, published) in runs.into_iter().chain(ports).filter(|(name, ..)| wanted(name)) {
        rows.push(sluice_run(&broker, &input, name, module, config, published)?);
    }
    if wanted(PLAIN_PRODUCER) {
        rows.push(plain_producer(&broker, &input)?);
    }
    // The object-store rows join the table of the local-file rows.
    let mut objects = objects::measure(&broker, &input)?;
    rows.append(&mut objects.rows);
    let mut latencies = [Vec::new(), Vec::new()];
    if wanted("latency") {
        latencies = [latency(&broker, &input, &[])?, latency(&broker, &input, &[EOS])?];
    }
    let mut scale = Vec::new();
    let mut takeover = None;
    if wanted(SCALE_OUT) {
        scale = scale_out::rows(&broker, &input)?;
        takeover = Some(scale_out::takeover(&broker)?);
    }
    print!("{}", report(&input, &rows, &latencies));
    print!("{}", objects::report(&objects));
    print!("{}", scale_out::report(&scale, takeover));
    Ok(rows.iter().all(|r| r.in_topic == r.published) && scale.iter().all(|r| r.in_topic == r.records))
}

/// Whether the measurement `name` runs: `$SLUICE_BENCH_ONLY` lists parts of
/// the names to run, separated by `|` (`Go|latency`); unset runs them all.
fn wanted(name: &str) -> bool {
    std::env::var("SLUICE_BENCH_ONLY").map_or(true, |only| only.split('|').any(|part| name.contains(part.trim())))
}

fn progress(message: &str) {
    eprintln!("--> {message}");
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// The bench input and what is in it.
#[derive(Debug)]
struct Input {
    path: PathBuf,
    bytes: u64,
    records: u64,
    /// Records from STR7188.
    target: u64,
    /// The first [`LATENCY_RECORDS`] lines, newline-terminated.
    sample: Vec<u8>,
}

impl Input {
    fn scan(path: &Path) -> anyhow::Result<Input> {
        let file = fs::File::open(path).with_context(|| format!("cannot open the input {}", path.display()))?;
        let bytes = file.metadata()?.len();
        let mut input = Input { path: path.to_owned(), bytes, records: 0, target: 0, sample: Vec::new() };
        for_each_line(file, |line| {
            input.records += 1;
            input.target += u64::from(std::str::from_utf8(line).is_ok_and(|l| l.contains(TARGET_STORE)));
            if input.records <= LATENCY_RECORDS as u64 {
                input.sample.extend_from_slice(line);
                input.sample.push(b'\n');
            }
            Ok(())
        })
        .with_context(|| format!("cannot read the input {}", path.display()))?;
        ensure!(input.records >= LATENCY_RECORDS as u64, "the input needs at least {LATENCY_RECORDS} records");
        Ok(input)
    }
}

/// Calls `each` with every non-empty line of `file`, without its newline.
fn for_each_line(file: fs::File, mut each: impl FnMut(&[u8]) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let mut reader = BufReader::with_capacity(8 << 20, file);
    let mut line = Vec::with_capacity(64 << 10);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if !text.is_empty() {
            each(text)?;
        }
    }
}

/// One throughput measurement.
#[derive(Debug)]
struct Row {
    name: &'static str,
    /// Records read from the input.
    records: u64,
    bytes: u64,
    elapsed: Duration,
    /// Messages that should be in the topic, and those that are.
    published: u64,
    in_topic: u64,
    /// Peak RSS of the sluice host.
    peak_rss: Option<u64>,
    /// CPU seconds of the sender (sluice, or this process) and the broker.
    sender_cpu: f64,
    broker_cpu: Option<f64>,
}

/// Times one `sluice run` over the whole input; see the module docs.
fn sluice_run(
    broker: &Broker,
    input: &Input,
    name: &'static str,
    module: &str,
    config: &[(&str, &str)],
    published: u64,
) -> anyhow::Result<Row> {
    progress(&format!("{name}: starting sluice"));
    let dirs = TestDirs::new();
    let topic = topic_name("bench");
    broker.create_topic(&topic, PARTITIONS);
    let (staged, size) = stage(input, dirs.root())?;
    let host = start_host(&dirs, &topic, &broker.bootstrap, module, config);
    let cpu = CpuClock::start(host.pid());
    let t0 = Instant::now();
    fs::rename(&staged, dirs.landing().join("bench.json")).context("rename the input into the landing zone")?;
    wait_checkpointed(&host, &dirs.checkpoint(), &dirs.landing().join("bench.json"), size)?;
    let elapsed = t0.elapsed();
    let (sender_cpu, broker_cpu) = cpu.stop();
    let peak_rss = peak_rss(host.pid());
    log_threads(host.pid());
    stop_host(host)?;
    let in_topic = count_topic(&broker.bootstrap, &topic)?;
    let row = Row {
        name,
        records: input.records,
        bytes: input.bytes,
        elapsed,
        published,
        in_topic,
        peak_rss,
        sender_cpu,
        broker_cpu,
    };
    progress(&format!("{name}: {:.2} s, {in_topic} of {published} messages in the topic", elapsed.as_secs_f64()));
    Ok(row)
}

/// Hard-links the input into `dir` (copies it, untimed, across filesystems);
/// returns the staged path and its size.
fn stage(input: &Input, dir: &Path) -> anyhow::Result<(PathBuf, u64)> {
    let staged = dir.join("bench.json");
    if fs::hard_link(&input.path, &staged).is_err() {
        progress("the input is on another filesystem than the temp dir; copying it (untimed)");
        fs::copy(&input.path, &staged).context("copy the input next to the landing zone")?;
    }
    Ok((staged.clone(), fs::metadata(&staged)?.len()))
}

fn start_host(dirs: &TestDirs, topic: &str, bootstrap: &str, module: &str, config: &[(&str, &str)]) -> Host {
    let mut host = Host::start(&host_args(dirs, topic, bootstrap, module, config), dirs.root());
    // In exactly-once mode a host reads once the group gave it partitions.
    let ready = if config.contains(&EOS) { "took over partitions" } else { "streaming" };
    host.wait_for_log(ready, Duration::from_secs(60));
    host
}

fn host_args(dirs: &TestDirs, topic: &str, bootstrap: &str, module: &str, config: &[(&str, &str)]) -> HostArgs {
    let mut args = HostArgs::new(dirs, &transform(module), topic, bootstrap);
    for (k, v) in config {
        args = match (*k, *v) {
            EOS => exactly_once(args, topic, bootstrap),
            METRICS => args.flags(&["--metrics-addr", &format!("127.0.0.1:{}", sluice_tests::free_port())]),
            _ => args.config(k, v),
        };
    }
    args
}

fn stop_host(host: Host) -> anyhow::Result<()> {
    let log = host.log();
    let status = host.stop();
    ensure!(status.success(), "sluice exited with {status} after SIGTERM; its log:\n{}", tail(&log));
    Ok(())
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// `--delivery exactly-once` flags for `topic`, with a dead-letter topic
/// (created by the pipeline's first host).
fn exactly_once(args: HostArgs, topic: &str, bootstrap: &str) -> HostArgs {
    let dl = format!("{topic}-dl");
    let broker = Broker::start_external(bootstrap);
    if sluice_tests::watermarks(bootstrap, &dl).map_or(true, |w| w.is_empty()) {
        broker.create_topic(&dl, 1);
    }
    args.flags(&["--delivery", "exactly-once", "--pipeline", topic, "--dead-letter-topic", &dl])
}

/// Polls `checkpoint.json` until `file` is done to its end, `size`.
fn wait_checkpointed(host: &Host, checkpoint_dir: &Path, file: &Path, size: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + RUN_TIMEOUT;
    while sluice_tests::checkpointed(checkpoint_dir, file).map(|(offset, _)| offset) != Some(size) {
        if !alive(host.pid()) || Instant::now() > deadline {
            bail!("sluice did not checkpoint the whole input within {RUN_TIMEOUT:?}; its log:\n{}", tail(&host.log()));
        }
        std::thread::sleep(CHECKPOINT_POLL);
    }
    Ok(())
}

/// Whether `pid` is running (an exited, unreaped child is a zombie).
fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

/// Peak resident set size in bytes (`VmHWM`).
fn peak_rss(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

/// Counts the topic from its start to partition EOF.
fn count_topic(bootstrap: &str, topic: &str) -> anyhow::Result<u64> {
    Ok(read_topic(bootstrap, topic, 0).with_context(|| format!("read back topic {topic}"))?.len() as u64)
}

/// CPU time of the sender and the broker over one measurement.
#[derive(Debug)]
struct CpuClock {
    sender: u32,
    broker: Option<u32>,
    at_start: (f64, Option<f64>),
}

impl CpuClock {
    fn start(sender: u32) -> CpuClock {
        let broker = broker_pid();
        CpuClock { sender, broker, at_start: Self::now(sender, broker) }
    }

    fn now(sender: u32, broker: Option<u32>) -> (f64, Option<f64>) {
        let seconds = |pid: u32| cpu_seconds(&format!("/proc/{pid}/stat"));
        (seconds(sender).unwrap_or(0.0), broker.and_then(seconds))
    }

    /// CPU seconds used since `start`, by the sender and by the broker.
    fn stop(&self) -> (f64, Option<f64>) {
        let (sender, broker) = Self::now(self.sender, self.broker);
        (sender - self.at_start.0, broker.zip(self.at_start.1).map(|(end, start)| end - start))
    }
}

/// User plus system CPU seconds from a `/proc/.../stat` file.
fn cpu_seconds(stat_path: &str) -> Option<f64> {
    let stat = fs::read_to_string(stat_path).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command name: state is field 3 of proc(5), utime 14, stime 15.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks as f64 / per_second as f64)
}

/// The broker's process, as `scripts/bench` names it.
fn broker_pid() -> Option<u32> {
    std::env::var("SLUICE_BENCH_BROKER_PID").ok()?.parse().ok()
}

/// Logs the busiest threads of `pid` (CPU since it started), to show where
/// the CPU went; the main thread runs the transform and hands to librdkafka.
fn log_threads(pid: u32) {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { return };
    let mut threads: Vec<(f64, String)> = tasks.flatten().filter_map(|t| thread_cpu(pid, &t.path())).collect();
    threads.sort_by(|a, b| b.0.total_cmp(&a.0));
    let busiest: Vec<String> = threads.iter().take(6).map(|(s, name)| format!("{name} {s:.2}s")).collect();
    progress(&format!("CPU by thread of {pid}: {}", busiest.join(", ")));
}

fn thread_cpu(pid: u32, task: &Path) -> Option<(f64, String)> {
    let name = match task.file_name()?.to_str()? {
        tid if tid == pid.to_string() => "main".to_owned(),
        _ => fs::read_to_string(task.join("comm")).ok()?.trim().to_owned(),
    };
    Some((cpu_seconds(task.join("stat").to_str()?)?, name))
}

/// Counts deliveries; remembers the first failure.
#[derive(Debug, Default)]
struct Deliveries {
    acked: AtomicU64,
    failure: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// Times a plain producer sending every input line; see the module docs.
fn plain_producer(broker: &Broker, input: &Input) -> anyhow::Result<Row> {
    let name = PLAIN_PRODUCER;
    progress(&format!("{name}: sending"));
    let topic = topic_name("bench-plain");
    broker.create_topic(&topic, PARTITIONS);
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &broker.bootstrap).set("log_level", "3");
    PRODUCER_SETTINGS.iter().for_each(|(k, v)| _ = config.set(*k, *v));
    let producer: ThreadedProducer<Deliveries> = config.create_with_context(Deliveries::default())?;
    // Connect first: a running sluice host is connected before it is timed.
    producer.client().fetch_metadata(Some(&topic), Duration::from_secs(10)).context("connect the producer")?;
    let cpu = CpuClock::start(std::process::id());
    let t0 = Instant::now();
    let sent = send_lines(&producer, &topic, &input.path)?;
    producer.flush(RUN_TIMEOUT).context("flush the producer")?;
    let elapsed = t0.elapsed();
    let (sender_cpu, broker_cpu) = cpu.stop();
    log_threads(std::process::id());
    check_deliveries(producer.context(), sent)?;
    let in_topic = count_topic(&broker.bootstrap, &topic)?;
    progress(&format!("{name}: {:.2} s, {in_topic} of {sent} messages in the topic", elapsed.as_secs_f64()));
    let (records, bytes) = (input.records, input.bytes);
    Ok(Row { name, records, bytes, elapsed, published: sent, in_topic, peak_rss: None, sender_cpu, broker_cpu })
}

/// Sends every line of `path` as a message value; a full queue means waiting.
fn send_lines(producer: &ThreadedProducer<Deliveries>, topic: &str, path: &Path) -> anyhow::Result<u64> {
    let mut sent = 0;
    for_each_line(fs::File::open(path)?, |line| {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(line);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => bail!("the producer refused message {sent}: {e}"),
            }
        }
        sent += 1;
        Ok(())
    })?;
    Ok(sent)
}

fn check_deliveries(deliveries: &Deliveries, sent: u64) -> anyhow::Result<()> {
    if let Some(failure) = deliveries.failure.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        bail!("a delivery failed: {failure}");
    }
    let acked = deliveries.acked.load(Ordering::Relaxed);
    ensure!(acked == sent, "{acked} of {sent} messages acknowledged after the flush");
    Ok(())
}

/// Landing-to-readable latency samples; see the module docs.
fn latency(broker: &Broker, input: &Input, config: &[(&str, &str)]) -> anyhow::Result<Vec<Duration>> {
    progress(&format!("latency: {LATENCY_SAMPLES} files of {LATENCY_RECORDS} records"));
    let dirs = TestDirs::new();
    let topic = topic_name("bench-latency");
    broker.create_topic(&topic, PARTITIONS);
    let host = start_host(&dirs, &topic, &broker.bootstrap, "sql", config);
    let consumer = latency_consumer(&broker.bootstrap, &topic)?;
    let mut samples = Vec::with_capacity(LATENCY_SAMPLES);
    for n in 0..=LATENCY_SAMPLES {
        let staged = dirs.root().join(format!("latency-{n}.json"));
        fs::write(&staged, &input.sample)?;
        let t0 = Instant::now();
        fs::rename(&staged, dirs.landing().join(format!("latency-{n}.json")))?;
        consume(&consumer, LATENCY_RECORDS)
            .with_context(|| format!("latency file {n}; sluice log:\n{}", host.log()))?;
        // The first file warms up the wasm instance and the consumer's fetch session.
        if n > 0 {
            samples.push(t0.elapsed());
        }
    }
    stop_host(host)?;
    Ok(samples)
}

/// A consumer reading the fresh (empty) `topic` from its start, fetching eagerly.
fn latency_consumer(bootstrap: &str, topic: &str) -> anyhow::Result<BaseConsumer> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "3")
        .set("group.id", format!("sluice-bench-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "5")
        .set("fetch.min.bytes", "1")
        .set("isolation.level", "read_committed")
        .create()
        .context("create the latency consumer")?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment.add_partition_offset(topic, partition, Offset::Offset(0))?;
    }
    consumer.assign(&assignment)?;
    Ok(consumer)
}

/// Polls until `n` more messages have arrived.
fn consume(consumer: &BaseConsumer, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + LATENCY_TIMEOUT;
    let mut seen = 0;
    while seen < n {
        ensure!(Instant::now() < deadline, "only {seen} of {n} messages arrived within {LATENCY_TIMEOUT:?}");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => seen += 1,
            Some(Err(e)) => bail!("consume failed: {e}"),
            None => {}
        }
    }
    Ok(())
}

/// The machine facts and both tables, as markdown.
fn report(input: &Input, rows: &[Row], latencies: &[Vec<Duration>; 2]) -> String {
    let mut out = String::new();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let broker = match std::env::var("SLUICE_BENCH_BROKER") {
        Ok(name) => name,
        Err(_) if std::env::var_os(sluice_tests::kafka::BOOTSTRAP_ENV).is_some() => "external".to_owned(),
        Err(_) => "Apache Kafka (started by sluice-bench)".to_owned(),
    };
    let _ = writeln!(out, "machine: {cpus} CPUs ({}), load average at the end {}", cpu_model(), load_average());
    let _ = writeln!(
        out,
        "input: {} records, {:.1} MB, {} from STR7188; broker: {broker}, {PARTITIONS} partition(s)\n",
        input.records,
        mb(input.bytes),
        input.target
    );
    out.push_str("| measurement | records | MB | seconds | records/s | MB/s | peak RSS MB | sender CPU s | broker CPU s | messages in topic |\n");
    out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|\n");
    rows.iter().for_each(|row| out.push_str(&table_row(row)));
    let _ = writeln!(
        out,
        "\n| latency, {LATENCY_RECORDS}-record file landed → all readable | p50 ms | p90 ms | p99 ms | max ms |"
    );
    out.push_str("|---|--:|--:|--:|--:|\n");
    for (latencies, mode) in latencies.iter().zip(["", ", exactly once, read_committed"]).filter(|(l, _)| !l.is_empty())
    {
        let [p50, p90, p99, max] = [0.50, 0.90, 0.99, 1.0].map(|p| percentile_ms(latencies, p));
        let n = latencies.len();
        let _ = writeln!(
            out,
            "| sluice sql.wasm, keep all{mode} ({n} files) | {p50:.1} | {p90:.1} | {p99:.1} | {max:.1} |"
        );
    }
    out
}

fn table_row(row: &Row) -> String {
    let seconds = row.elapsed.as_secs_f64();
    let rss = row.peak_rss.map_or("-".to_owned(), |b| format!("{:.1}", mb(b)));
    let broker = row.broker_cpu.map_or("-".to_owned(), |s| format!("{s:.1}"));
    let check = if row.in_topic == row.published {
        format!("{} (ok)", row.in_topic)
    } else {
        format!("**{} of {} expected: MISMATCH**", row.in_topic, row.published)
    };
    format!(
        "| {} | {} | {:.1} | {seconds:.2} | {:.0} | {:.1} | {rss} | {:.1} | {broker} | {check} |\n",
        row.name,
        row.records,
        mb(row.bytes),
        row.records as f64 / seconds,
        mb(row.bytes) / seconds,
        row.sender_cpu
    )
}

/// The nearest-rank percentile `p` (0..=1) in milliseconds.
fn percentile_ms(samples: &[Duration], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
}

fn cpu_model() -> String {
    let info = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info.lines().find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim()));
    model.unwrap_or("unknown CPU").to_owned()
}

fn load_average() -> String {
    let loadavg = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    loadavg.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}
