//! A real broker for tests, and the client calls tests make against it.
//!
//! The broker is Apache Kafka (4.x, KRaft mode, broker and controller in
//! one JVM), resolved by `scripts/lib.sh`'s `ensure_kafka` into
//! `.tools/kafka/libs` and configured from `scripts/kafka/`.
//!
//! - [`Broker::start`] hands out ONE broker shared by every test of this
//!   test binary that only reads and writes (each test makes its own
//!   topics), or `$KAFKA_BOOTSTRAP_SERVERS` when that is set. The shared
//!   broker is started on first use from a thread that lives as long as the
//!   process (the kill-with-parent signal fires when the *thread* that
//!   spawned a child exits), and is killed when the test process exits.
//! - [`OwnBroker`] is a broker of one test's own, for tests that stop, kill,
//!   freeze or restart it: the same port and data directory across
//!   restarts, optionally with SASL listeners ([`Auth`]).
//!
//! Readers: [`read_topic`] (read_committed, like librdkafka's default
//! consumer) and [`read_topic_with`] (either [`Isolation`]) read from the
//! offsets for a timestamp to the end of each partition; [`watermarks`],
//! [`offsets_for_times`], [`read_as_group`] and [`committed_offsets`] check
//! what the broker itself reports.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::{Process, free_port, tool_path, workspace_root};

/// Environment variable naming an external broker to use instead of the
/// shared Apache Kafka one.
pub const BOOTSTRAP_ENV: &str = "KAFKA_BOOTSTRAP_SERVERS";

/// How long a broker may take from `java` to answering metadata (a cold
/// JVM on a busy two-core machine takes 10-20 s).
const READY_WITHIN: Duration = Duration::from_secs(120);

/// A handle on a running broker: its bootstrap address.
#[derive(Debug, Clone)]
pub struct Broker {
    /// `host:port` to bootstrap from.
    pub bootstrap: String,
}

impl Broker {
    /// The broker for a test that only reads and writes:
    /// `$KAFKA_BOOTSTRAP_SERVERS`, or the Apache Kafka broker this test
    /// process shares (started on first use). `_log_dir` is kept for the
    /// callers' sake; the shared broker logs under its own directory.
    pub fn start(_log_dir: &Path) -> Broker {
        match std::env::var(BOOTSTRAP_ENV) {
            Ok(bootstrap) => Broker { bootstrap },
            Err(_) => Broker { bootstrap: shared_bootstrap().to_owned() },
        }
    }

    /// A handle on a broker someone else runs.
    pub fn start_external(bootstrap: &str) -> Broker {
        Broker { bootstrap: bootstrap.to_owned() }
    }

    /// Creates `topic` with `partitions` partitions, retrying while the
    /// broker is still starting.
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        create_topic(&client_config(&self.bootstrap), topic, partitions);
    }
}

fn create_topic(config: &ClientConfig, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = config.create().expect("create the admin client");
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    crate::poll_until(Duration::from_secs(30), &format!("topic {topic} is created"), || {
        let results = futures_executor::block_on(admin.create_topics([&new], &opts)).ok()?;
        results.into_iter().all(|r| r.is_ok()).then_some(())
    });
}

/// The shared broker's bootstrap address, starting it on first call.
fn shared_bootstrap() -> &'static str {
    static SHARED: OnceLock<Option<String>> = OnceLock::new();
    let started = SHARED.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("shared-kafka".into())
            .spawn(move || {
                let dir = std::env::temp_dir().join(format!("sluice-test-kafka-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                let broker = OwnBroker::start(&dir);
                remove_at_exit(broker.process.as_ref().expect("just started").id(), dir);
                tx.send(broker.bootstrap()).expect("the starting test waits for the address");
                // Live as long as the process: the broker dies with this thread.
                let _broker = broker;
                loop {
                    std::thread::park();
                }
            })
            .expect("spawn the shared broker's thread");
        // An error here means the broker's thread panicked; that is
        // remembered, so every later test fails at once rather than retrying.
        rx.recv().ok()
    });
    started.as_deref().expect("the shared Apache Kafka broker failed to start (see the first test's panic)")
}

/// At process exit, kills the shared broker `pid` and removes its `dir`.
fn remove_at_exit(pid: u32, dir: PathBuf) {
    static AT_EXIT: OnceLock<(u32, PathBuf)> = OnceLock::new();
    extern "C" fn cleanup() {
        if let Some((pid, dir)) = AT_EXIT.get() {
            // SAFETY: signalling and reaping our own child process.
            unsafe {
                libc::kill(*pid as i32, libc::SIGKILL);
                libc::waitpid(*pid as i32, std::ptr::null_mut(), 0);
            }
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    AT_EXIT.set((pid, dir)).expect("one shared broker per process");
    // SAFETY: registers a plain extern "C" function with no arguments.
    unsafe { libc::atexit(cleanup) };
}

/// SASL on a broker's client listener.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// Users that log in with SASL PLAIN: (name, password).
    pub plain: Vec<(String, String)>,
    /// Users with SCRAM-SHA-256 and SCRAM-SHA-512 credentials, created by
    /// the storage tool when the broker's storage is formatted.
    pub scram: Vec<(String, String)>,
}

/// An Apache Kafka broker of one test's own, which the test may stop
/// (SIGTERM), kill (SIGKILL), freeze (SIGSTOP) and start again on the same
/// port and data directory, keeping its topics, records and users. It
/// ignores `KAFKA_BOOTSTRAP_SERVERS`. Killed on drop.
#[derive(Debug)]
pub struct OwnBroker {
    dir: PathBuf,
    port: u16,
    process: Option<Process>,
    starts: usize,
    auth: Option<Auth>,
}

impl OwnBroker {
    /// Formats storage in `dir` and starts a broker with a PLAINTEXT
    /// client listener; returns once it answers metadata.
    pub fn start(dir: &Path) -> OwnBroker {
        OwnBroker::start_inner(dir, None)
    }

    /// Like [`OwnBroker::start`], but the client listener is
    /// SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 and the
    /// users in `auth` (a PLAINTEXT listener stays for the broker itself).
    pub fn start_with_auth(dir: &Path, auth: Auth) -> OwnBroker {
        OwnBroker::start_inner(dir, Some(auth))
    }

    fn start_inner(dir: &Path, auth: Option<Auth>) -> OwnBroker {
        std::fs::create_dir_all(dir).expect("create the broker's directory");
        let mut broker = OwnBroker { dir: dir.to_owned(), port: free_port(), process: None, starts: 0, auth };
        let started = Instant::now();
        broker.write_properties();
        broker.format();
        broker.start_again();
        eprintln!("kafka: broker on {} ready after {:.1} s", broker.bootstrap(), started.elapsed().as_secs_f64());
        broker
    }

    /// `host:port` to bootstrap from; the same across restarts.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A [`Broker`] handle on it.
    pub fn handle(&self) -> Broker {
        Broker::start_external(&self.bootstrap())
    }

    /// The broker's data and logs (`server.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts the stopped broker again and waits until it answers metadata.
    pub fn start_again(&mut self) {
        assert!(self.process.is_none(), "the broker is running");
        self.starts += 1;
        let out = std::fs::File::create(self.dir.join(format!("stdout-{}.log", self.starts))).expect("broker log");
        let mut cmd = kafka_java(&self.dir);
        cmd.args(["kafka.Kafka", path_str(&self.dir.join("server.properties"))])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone log handle"))
            .stderr(out);
        self.process = Some(Process::spawn(cmd));
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let config = self.client_config();
        let consumer: BaseConsumer = config.create().expect("create the readiness probe");
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let answered = consumer.fetch_metadata(None, Duration::from_secs(2));
            if answered.is_ok_and(|m| !m.brokers().is_empty()) {
                return;
            }
            if let Some(status) = self.process.as_mut().and_then(Process::try_wait) {
                panic!("kafka exited ({status}) while starting:\n{}", self.log_tail());
            }
            assert!(Instant::now() < deadline, "kafka did not answer within {READY_WITHIN:?}:\n{}", self.log_tail());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Stops the broker with SIGTERM (a controlled shutdown) and waits
    /// until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.signal(libc::SIGTERM);
            process.wait();
        }
    }

    /// Kills the broker with SIGKILL, as a crash would, and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.signal(libc::SIGKILL);
            process.wait();
        }
    }

    /// Freezes the broker (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&self) {
        self.running().signal(libc::SIGSTOP);
    }

    /// Thaws a paused broker (SIGCONT).
    pub fn resume(&self) {
        self.running().signal(libc::SIGCONT);
    }

    fn running(&self) -> &Process {
        self.process.as_ref().expect("the broker is not running")
    }

    /// Creates topic `name` with `partitions` partitions (logging in as the
    /// first user when the broker requires SASL).
    pub fn create_topic(&self, name: &str, partitions: i32) {
        create_topic(&self.client_config(), name, partitions);
    }

    /// Client settings that reach this broker (logged in as the first
    /// PLAIN, else SCRAM-SHA-256, user when it requires SASL).
    pub fn client_config(&self) -> ClientConfig {
        let mut config = client_config(&self.bootstrap());
        if let Some(auth) = &self.auth {
            let (mechanism, (user, password)) = match (auth.plain.first(), auth.scram.first()) {
                (Some(user), _) => ("PLAIN", user),
                (None, Some(user)) => ("SCRAM-SHA-256", user),
                (None, None) => panic!("a broker with SASL needs a user"),
            };
            config
                .set("security.protocol", "SASL_PLAINTEXT")
                .set("sasl.mechanisms", mechanism)
                .set("sasl.username", user)
                .set("sasl.password", password);
        }
        config
    }

    fn write_properties(&self) {
        let base = std::fs::read_to_string(kafka_config_dir().join("server.properties")).expect("server.properties");
        let (port, internal, controller) = (self.port, free_port(), free_port());
        let listeners = match &self.auth {
            None => format!(
                "listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
                 advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
                 listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
            ),
            Some(auth) => sasl_listeners(auth, port, internal, controller),
        };
        let text = format!(
            "{base}\nnode.id=1\n{listeners}controller.quorum.bootstrap.servers=127.0.0.1:{controller}\nlog.dirs={}\n",
            self.dir.join("data").display()
        );
        std::fs::write(self.dir.join("server.properties"), text).expect("write server.properties");
    }

    /// `kafka-storage format --standalone`, with the SCRAM users.
    fn format(&self) {
        let mut cmd = kafka_java(&self.dir);
        cmd.args(["kafka.tools.StorageTool", "format", "--standalone", "--cluster-id", &cluster_id()])
            .args(["--config", path_str(&self.dir.join("server.properties"))]);
        for (user, password) in self.auth.iter().flat_map(|a| &a.scram) {
            for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
                cmd.args(["--add-scram", &format!("{mechanism}=[name={user},password={password}]")]);
            }
        }
        let out = cmd.stdin(Stdio::null()).output().expect("run the kafka storage tool (is java installed?)");
        assert!(
            out.status.success(),
            "kafka storage format failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A client listener with SASL, and a PLAINTEXT one the broker uses itself.
fn sasl_listeners(auth: &Auth, port: u16, internal: u16, controller: u16) -> String {
    let plain_users: String = auth.plain.iter().map(|(u, p)| format!(" user_{u}=\"{p}\"")).collect();
    format!(
        "listeners=SASL_PLAINTEXT://127.0.0.1:{port},PLAINTEXT://127.0.0.1:{internal},CONTROLLER://127.0.0.1:{controller}\n\
         advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port},PLAINTEXT://127.0.0.1:{internal}\n\
         listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n\
         listener.name.sasl_plaintext.plain.sasl.jaas.config=\
         org.apache.kafka.common.security.plain.PlainLoginModule required{plain_users};\n\
         listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=\
         org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
         listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=\
         org.apache.kafka.common.security.scram.ScramLoginModule required;\n"
    )
}

/// `java` with `scripts/kafka/jvm.options`, the Kafka classpath
/// (`$KAFKA_LIBS`, or `.tools/kafka/libs`) and the quiet log4j2 config
/// writing to `log_dir/server.log`.
fn kafka_java(log_dir: &Path) -> Command {
    let libs = tool_path("KAFKA_LIBS", ".tools/kafka/libs");
    assert!(libs.is_dir(), "{} is missing: run scripts/test, which installs Apache Kafka", libs.display());
    let options = std::fs::read_to_string(kafka_config_dir().join("jvm.options")).expect("jvm.options");
    let mut cmd = Command::new("java");
    // The C1 compiler only: a test broker starts in much less CPU, and
    // tests need no peak throughput (the bench's broker keeps C2).
    cmd.args(options.split_whitespace())
        .arg("-XX:TieredStopAtLevel=1")
        .arg("-cp")
        .arg(format!("{}/*", libs.display()))
        .arg(format!("-Dlog4j2.configurationFile={}", kafka_config_dir().join("log4j2.xml").display()))
        .arg(format!("-Dkafka.logs.dir={}", log_dir.display()));
    cmd
}

fn kafka_config_dir() -> PathBuf {
    workspace_root().join("scripts/kafka")
}

/// A KRaft cluster id: 16 bytes (from the clock and the process id),
/// base64url without padding, as `kafka-storage random-uuid` prints.
fn cluster_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
    let bits = (nanos ^ (u128::from(std::process::id()) << 96)) | (1 << 127);
    // Big-endian, six bits a character, the last one padded with zeros.
    (0..22).map(|i| ALPHABET[((bits << (i * 6)) >> 122) as usize] as char).collect()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("log_level", "3");
    config
}

/// One record read back from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Partition it was in.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Key bytes as text, if any.
    pub key: Option<String>,
    /// Value bytes as text, if any.
    pub value: Option<String>,
    /// Header names and values as text.
    pub headers: Vec<(String, Option<String>)>,
    /// Timestamp in epoch ms.
    pub timestamp_ms: Option<i64>,
}

/// Which records of transactions a read sees (the consumer's
/// `isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Committed transactions and non-transactional records only, up to the
    /// last stable offset.
    ReadCommitted,
    /// Everything written, aborted transactions' records included, up to
    /// the high watermark.
    ReadUncommitted,
}

impl Isolation {
    fn as_config(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read_committed",
            Isolation::ReadUncommitted => "read_uncommitted",
        }
    }
}

/// Every record of `topic` with a timestamp at or after `from_ms`, read
/// with `read_committed` to the end of each partition. A partition with
/// nothing that recent contributes nothing (Spark's
/// `startingOffsetsByTimestampStrategy=latest`).
pub fn read_topic(bootstrap: &str, topic: &str, from_ms: i64) -> anyhow::Result<Vec<Record>> {
    read_topic_with(bootstrap, topic, from_ms, Isolation::ReadCommitted)
}

/// [`read_topic`] with the given isolation level: `ReadCommitted` reads to
/// each partition's last stable offset and skips aborted transactions,
/// `ReadUncommitted` reads to the high watermark and sees them.
pub fn read_topic_with(
    bootstrap: &str,
    topic: &str,
    from_ms: i64,
    isolation: Isolation,
) -> anyhow::Result<Vec<Record>> {
    read_topic_as(&client_config(bootstrap), topic, from_ms, isolation)
}

/// [`read_topic_with`] with client settings of the caller's, such as
/// [`OwnBroker::client_config`] for a broker that requires a login.
pub fn read_topic_as(
    config: &ClientConfig,
    topic: &str,
    from_ms: i64,
    isolation: Isolation,
) -> anyhow::Result<Vec<Record>> {
    let consumer = reader(config, isolation)?;
    let mut assignment = TopicPartitionList::new();
    for (partition, start) in offsets_for_times_with(&consumer, topic, from_ms)? {
        if let Some(start) = start {
            assignment.add_partition_offset(topic, partition, Offset::Offset(start))?;
        }
    }
    if assignment.count() == 0 {
        return Ok(Vec::new());
    }
    consumer.assign(&assignment)?;
    consume_to_eof(&consumer, assignment.count())
}

fn reader(config: &ClientConfig, isolation: Isolation) -> anyhow::Result<BaseConsumer> {
    config
        .clone()
        .set("group.id", format!("sluice-test-reader-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", isolation.as_config())
        .create()
        .context("create the consumer")
}

/// Each partition's (low, high) watermark, in partition order.
pub fn watermarks(bootstrap: &str, topic: &str) -> anyhow::Result<Vec<(i64, i64)>> {
    let consumer = reader(&client_config(bootstrap), Isolation::ReadUncommitted)?;
    (0..partition_count(&consumer, topic)?)
        .map(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).context("fetch watermarks"))
        .collect()
}

/// For each partition in order, the earliest offset whose timestamp is at
/// or after `at_ms` (ListOffsets by timestamp), `None` if there is none.
pub fn offsets_for_times(bootstrap: &str, topic: &str, at_ms: i64) -> anyhow::Result<Vec<(i32, Option<i64>)>> {
    let consumer = reader(&client_config(bootstrap), Isolation::ReadUncommitted)?;
    offsets_for_times_with(&consumer, topic, at_ms)
}

fn offsets_for_times_with(consumer: &BaseConsumer, topic: &str, at_ms: i64) -> anyhow::Result<Vec<(i32, Option<i64>)>> {
    let mut wanted = TopicPartitionList::new();
    for p in 0..partition_count(consumer, topic)? {
        wanted.add_partition_offset(topic, p, Offset::Offset(at_ms))?;
    }
    let found = consumer.offsets_for_times(wanted, Duration::from_secs(10)).context("offsets for times")?;
    Ok(by_partition(&found))
}

/// Reads `topic` from the start as a member of consumer group `group`
/// (subscribe, so the broker's group coordinator assigns the partitions),
/// to the end of every partition, then commits the offsets synchronously.
pub fn read_as_group(bootstrap: &str, topic: &str, group: &str) -> anyhow::Result<Vec<Record>> {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .create()
        .context("create the group consumer")?;
    let partitions = partition_count(&consumer, topic)? as usize;
    consumer.subscribe(&[topic]).context("subscribe")?;
    let records = consume_to_eof(&consumer, partitions)?;
    consumer.commit_consumer_state(CommitMode::Sync).context("commit the group's offsets")?;
    Ok(records)
}

/// The offsets `group` has committed for each partition of `topic`, in
/// partition order (`None` where it has committed none).
pub fn committed_offsets(bootstrap: &str, topic: &str, group: &str) -> anyhow::Result<Vec<(i32, Option<i64>)>> {
    let consumer: BaseConsumer = client_config(bootstrap).set("group.id", group).create()?;
    let mut wanted = TopicPartitionList::new();
    for p in 0..partition_count(&consumer, topic)? {
        wanted.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(wanted, Duration::from_secs(10)).context("fetch committed offsets")?;
    Ok(by_partition(&committed))
}

/// Each partition's offset in `list`, in partition order (`None` where it
/// holds no concrete offset).
fn by_partition(list: &TopicPartitionList) -> Vec<(i32, Option<i64>)> {
    let mut offsets: Vec<(i32, Option<i64>)> = list
        .elements()
        .iter()
        .map(|e| (e.partition(), if let Offset::Offset(o) = e.offset() { Some(o) } else { None }))
        .collect();
    offsets.sort();
    offsets
}

fn partition_count(consumer: &BaseConsumer, topic: &str) -> anyhow::Result<i32> {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let topic_meta = metadata.topics().iter().find(|t| t.name() == topic).context("topic not in metadata")?;
    match topic_meta.partitions().len() {
        0 => bail!("topic {topic} has no partitions"),
        n => Ok(n as i32),
    }
}

fn consume_to_eof(consumer: &BaseConsumer, partitions: usize) -> anyhow::Result<Vec<Record>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut at_eof = std::collections::HashSet::new();
    let mut records = Vec::new();
    while at_eof.len() < partitions {
        if Instant::now() > deadline {
            bail!("no partition EOF after 60 s; read {} records", records.len());
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(m)) => {
                at_eof.remove(&m.partition());
                records.push(to_record(&m));
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_eof.insert(p);
            }
            Some(Err(e)) => bail!("consume failed: {e}"),
        }
    }
    Ok(records)
}

fn to_record(m: &rdkafka::message::BorrowedMessage<'_>) -> Record {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let headers =
        m.headers().map(|hs| hs.iter().map(|h| (h.key.to_owned(), h.value.map(text))).collect()).unwrap_or_default();
    Record {
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(text),
        value: m.payload().map(text),
        headers,
        timestamp_ms: m.timestamp().to_millis(),
    }
}

/// Polls the topic until it holds exactly `expected` records from `from_ms`,
/// or panics at the deadline with what it saw.
pub fn wait_for_count(bootstrap: &str, topic: &str, from_ms: i64, expected: usize, within: Duration) -> Vec<Record> {
    let deadline = Instant::now() + within;
    loop {
        let records = read_topic(bootstrap, topic, from_ms).unwrap_or_default();
        if records.len() == expected {
            return records;
        }
        assert!(
            records.len() < expected,
            "topic {topic} has {} records, more than the {expected} expected",
            records.len()
        );
        if Instant::now() > deadline {
            panic!("topic {topic} has {} records after {within:?}, expected {expected}", records.len());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
