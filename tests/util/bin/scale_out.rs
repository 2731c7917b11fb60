//! The scale-out rows: one, two and three hosts of one exactly-once pipeline
//! sharing a landing zone, over the same input split into files, and how
//! long a killed host's files wait for another.
//!
//! Each host has its own checkpoint directory and sees the landing zone
//! through a symbolic link of its own, as machines mounting one share do.
//! The files are hard-linked next to the landing zone and all renamed in at
//! once; a row's time runs from there until the hosts' copies of their
//! committed progress (`checkpoint.json`) cover every byte. CPU seconds are
//! each host's user + system time over that span.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use sluice_tests::{Broker, Host, HostArgs, TestDirs, owned_partitions as owned, takeovers, topic_name};

use super::{CHECKPOINT_POLL, CpuClock, EOS, Input, PARTITIONS, RUN_TIMEOUT, count_topic, progress, stop_host, tail};

/// Files the input is split into: enough that twelve partitions' shares
/// differ little.
const FILES: usize = 120;
/// Host counts measured.
const HOSTS: [usize; 3] = [1, 2, 3];
/// How long a host may take to join the group and get its partitions.
const JOIN_TIMEOUT: Duration = Duration::from_secs(120);

/// One scale-out measurement.
#[derive(Debug)]
pub struct Row {
    hosts: usize,
    /// Records in the input, and in the topic afterwards.
    pub records: u64,
    pub in_topic: u64,
    elapsed: Duration,
    /// Each host's CPU seconds, and the broker's.
    host_cpu: Vec<f64>,
    broker_cpu: Option<f64>,
}

/// The input split into [`FILES`] files in a directory of their own.
struct Split {
    dir: tempfile::TempDir,
    bytes: u64,
}

impl Split {
    fn of(input: &Input) -> anyhow::Result<Split> {
        let dir = tempfile::Builder::new().prefix("sluice-bench-split-").tempdir()?;
        let per_file = input.records.div_ceil(FILES as u64);
        let mut outs = Vec::new();
        for n in 0..FILES {
            outs.push(BufWriter::new(fs::File::create(dir.path().join(format!("part-{n:03}.json")))?));
        }
        let (mut line_no, mut bytes) = (0, 0);
        super::for_each_line(fs::File::open(&input.path)?, |line| {
            let out = &mut outs[(line_no / per_file) as usize];
            line_no += 1;
            bytes += line.len() as u64 + 1;
            out.write_all(line)?;
            out.write_all(b"\n")?;
            Ok(())
        })?;
        for out in &mut outs {
            out.flush()?;
        }
        Ok(Split { bytes, dir })
    }

    /// Hard-links every file into `dir`; returns their paths there.
    fn stage(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        fs::create_dir_all(dir)?;
        let mut staged = Vec::new();
        for entry in fs::read_dir(self.dir.path())? {
            let from = entry?.path();
            let to = dir.join(from.file_name().expect("a file name"));
            if fs::hard_link(&from, &to).is_err() {
                fs::copy(&from, &to)?;
            }
            staged.push(to);
        }
        Ok(staged)
    }
}

/// The hosts of one pipeline on one landing zone.
struct Pipeline {
    zone: TestDirs,
    topic: String,
    bootstrap: String,
    homes: Vec<TestDirs>,
    hosts: Vec<Host>,
}

impl Pipeline {
    fn new(broker: &Broker, name: &str) -> Pipeline {
        let topic = topic_name(name);
        broker.create_topic(&topic, PARTITIONS);
        Pipeline {
            zone: TestDirs::new(),
            topic,
            bootstrap: broker.bootstrap.clone(),
            homes: Vec::new(),
            hosts: Vec::new(),
        }
    }

    /// Starts the next host, keeping every record (`key=StoreID`).
    fn start(&mut self) {
        let home = TestDirs::new();
        fs::remove_dir(home.landing()).expect("remove the host's own landing zone");
        std::os::unix::fs::symlink(self.zone.landing(), home.landing()).expect("link the shared landing zone");
        let id = format!("h{}", self.hosts.len() + 1);
        let args: HostArgs = super::host_args(&home, &self.topic, &self.bootstrap, "sql", &[("key", "StoreID"), EOS])
            .flags(&["--host-id", &id]);
        self.hosts.push(Host::start(&args, home.root()));
        self.homes.push(home);
    }

    /// Waits until every host owns partitions and together they own all.
    fn wait_settled(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + JOIN_TIMEOUT;
        loop {
            let owned: Vec<Vec<i32>> = self.hosts.iter().map(|h| owned(&h.log())).collect();
            if owned.iter().all(|o| !o.is_empty()) && owned.iter().map(Vec::len).sum::<usize>() == 12 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the hosts did not divide the partitions within {JOIN_TIMEOUT:?}: {owned:?}");
            }
            std::thread::sleep(CHECKPOINT_POLL);
        }
    }

    /// Bytes the hosts' copies of their committed progress cover.
    fn committed_bytes(&self) -> u64 {
        self.homes.iter().map(|home| checkpointed_bytes(&home.checkpoint())).sum()
    }
}

/// Runs the rows: each host count over the same split input.
pub fn rows(broker: &Broker, input: &Input) -> anyhow::Result<Vec<Row>> {
    progress(&format!("scale-out: splitting the input into {FILES} files"));
    let split = Split::of(input)?;
    let mut rows = Vec::new();
    for hosts in HOSTS {
        progress(&format!("scale-out: {hosts} host(s)"));
        let mut pipeline = Pipeline::new(broker, "bench-scale");
        let staged = split.stage(&pipeline.zone.root().join("staged"))?;
        for _ in 0..hosts {
            pipeline.start();
        }
        pipeline.wait_settled()?;
        let clocks: Vec<CpuClock> = pipeline.hosts.iter().map(|h| CpuClock::start(h.pid())).collect();
        let t0 = Instant::now();
        for file in &staged {
            fs::rename(file, pipeline.zone.landing().join(file.file_name().expect("a name")))?;
        }
        let deadline = t0 + RUN_TIMEOUT;
        while pipeline.committed_bytes() < split.bytes {
            if Instant::now() > deadline || pipeline.hosts.iter().any(|h| !super::alive(h.pid())) {
                let logs: Vec<String> = pipeline.hosts.iter().map(|h| tail(&h.log())).collect();
                bail!("{hosts} hosts did not commit the whole input; their logs:\n{}", logs.join("\n---\n"));
            }
            std::thread::sleep(CHECKPOINT_POLL);
        }
        let elapsed = t0.elapsed();
        let cpu: Vec<(f64, Option<f64>)> = clocks.iter().map(CpuClock::stop).collect();
        for host in pipeline.hosts.drain(..) {
            stop_host(host)?;
        }
        let in_topic = count_topic(&pipeline.bootstrap, &pipeline.topic)?;
        progress(&format!("scale-out: {hosts} host(s): {:.2} s, {in_topic} in the topic", elapsed.as_secs_f64()));
        rows.push(Row {
            hosts,
            records: input.records,
            in_topic,
            elapsed,
            host_cpu: cpu.iter().map(|c| c.0).collect(),
            broker_cpu: cpu[0].1,
        });
    }
    Ok(rows)
}

/// How long a SIGKILLed host's partitions wait for the other host to take
/// them over, at the default session timeout.
pub fn takeover(broker: &Broker) -> anyhow::Result<Duration> {
    progress("scale-out: killing one of two hosts");
    let mut pipeline = Pipeline::new(broker, "bench-takeover");
    pipeline.start();
    pipeline.start();
    pipeline.wait_settled()?;
    let orphaned = owned(&pipeline.hosts[1].log());
    let before = takeovers(&pipeline.hosts[0].log()).len();
    pipeline.hosts.pop().expect("two hosts").kill();
    let killed = Instant::now();
    let survivor = &pipeline.hosts[0];
    while !orphaned.iter().all(|p| takeovers(&survivor.log()).iter().skip(before).flatten().any(|q| q == p)) {
        ensure!(
            killed.elapsed() < JOIN_TIMEOUT,
            "the survivor did not take over {orphaned:?}:\n{}",
            tail(&survivor.log())
        );
        std::thread::sleep(CHECKPOINT_POLL);
    }
    let waited = killed.elapsed();
    stop_host(pipeline.hosts.pop().expect("the survivor"))?;
    Ok(waited)
}

/// The tables, or nothing if no scale-out row ran.
pub fn report(rows: &[Row], takeover: Option<Duration>) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\n| scale-out: sql.wasm, keep all, key=StoreID, exactly once, {FILES} files | hosts | seconds | records/s | \
         x one host | CPU s per host | CPU s, all hosts | broker CPU s | messages in topic |"
    );
    out.push_str("|---|--:|--:|--:|--:|---|--:|--:|---|\n");
    let one = rows.first().map_or(1.0, |r| r.records as f64 / r.elapsed.as_secs_f64());
    for row in rows {
        let rate = row.records as f64 / row.elapsed.as_secs_f64();
        let per_host: Vec<String> = row.host_cpu.iter().map(|c| format!("{c:.1}")).collect();
        let broker = row.broker_cpu.map_or("-".to_owned(), |s| format!("{s:.1}"));
        let check = if row.in_topic == row.records {
            format!("{} (ok)", row.in_topic)
        } else {
            format!("**{} of {}: MISMATCH**", row.in_topic, row.records)
        };
        let _ = writeln!(
            out,
            "| | {} | {:.2} | {rate:.0} | {:.2} | {} | {:.1} | {broker} | {check} |",
            row.hosts,
            row.elapsed.as_secs_f64(),
            rate / one,
            per_host.join(" / "),
            row.host_cpu.iter().sum::<f64>()
        );
    }
    if let Some(waited) = takeover {
        let _ = writeln!(
            out,
            "\nA SIGKILLed host's files waited {:.1} s for the other host (at the default --session-timeout-ms).",
            waited.as_secs_f64()
        );
    }
    out
}

/// Bytes covered by a host's checkpoint (0 before it has one).
fn checkpointed_bytes(checkpoint_dir: &Path) -> u64 {
    let files = sluice_tests::checkpoint_files(checkpoint_dir).unwrap_or_default();
    files.iter().filter_map(|f| f["offset"].as_u64()).sum()
}
