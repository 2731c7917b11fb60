//! Scale-out: several real `sluice` processes with one `--pipeline` sharing
//! one landing zone, dividing its files through Kafka's consumer-group
//! protocol, against the real Apache Kafka broker. Each host has its own
//! checkpoint directory and sees the landing zone through a path of its own
//! (a symbolic link, as NFS clients mount a share at different paths), so
//! only the path below the landing zone is shared.
//!
//! Every test counts each record id in the topic read `read_committed`: 0
//! missing and 0 duplicates, whatever the hosts did.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sluice_tests::{
    Broker, Host, HostArgs, Record, TestDirs, free_port, owned_partitions as owned, poll_until, read_topic,
    summary_count, takeovers, topic_name, transform,
};

use crate::invoices::{assert_exactly, copy_in, store_lines};
use crate::metrics::{get, sample};

const WITHIN: Duration = Duration::from_secs(180);
/// The group's session timeout: how long a dead host's files wait.
const SESSION_MS: u64 = 6_000;
/// Generated files, and the records of each.
const FILES: u64 = 200;
const PER_FILE: u64 = 250;
/// Files landed at a time.
const WAVE: u64 = 20;

/// One landing zone, its topics and the hosts sharing it.
struct Zone {
    dirs: TestDirs,
    broker: Broker,
    main: String,
    dead: String,
    offsets: String,
    /// Each host's own directories, by host id: its landing zone is a link
    /// to the shared one.
    homes: HashMap<String, TestDirs>,
    /// Each host's metrics address.
    metrics: HashMap<String, String>,
    landed: u64,
    /// The producers' `transaction.timeout.ms`.
    transaction_timeout_ms: u64,
    /// Hosts start without `--host-id` (the test's name for a host only
    /// names its directories), and run under the id kept there.
    kept_ids: bool,
}

impl Zone {
    fn new(test: &str) -> Zone {
        let dirs = TestDirs::new();
        let broker = Broker::start(dirs.root());
        let main = topic_name(test);
        broker.create_topic(&main, 3);
        let dead = format!("{main}-dl");
        broker.create_topic(&dead, 1);
        std::fs::create_dir(dirs.root().join("staging")).unwrap();
        let offsets = format!("{main}-offsets");
        let (homes, metrics) = (HashMap::new(), HashMap::new());
        Zone {
            dirs,
            broker,
            main,
            dead,
            offsets,
            homes,
            metrics,
            landed: 0,
            transaction_timeout_ms: 10_000,
            kept_ids: false,
        }
    }

    /// Starts host `id` (again, if it ran before: same directories).
    fn start(&mut self, id: &str) -> Host {
        let landing = self.dirs.landing();
        let home = self.homes.entry(id.to_owned()).or_insert_with(|| {
            let home = TestDirs::new();
            std::fs::remove_dir(home.landing()).unwrap();
            std::os::unix::fs::symlink(&landing, home.landing()).unwrap();
            home
        });
        let metrics = self.metrics.entry(id.to_owned()).or_insert_with(|| format!("127.0.0.1:{}", free_port()));
        let args = HostArgs::new(home, &transform("sql"), &self.main, &self.broker.bootstrap)
            .config("where", "StoreID = 'STR7188'")
            .config("key", "StoreID")
            .flags(&[
                "--delivery",
                "exactly-once",
                "--pipeline",
                &self.main,
                "--dead-letter-topic",
                &self.dead,
                "--offsets-topic",
                &self.offsets,
                "--session-timeout-ms",
                &SESSION_MS.to_string(),
                "--kafka",
                &format!("transaction.timeout.ms={}", self.transaction_timeout_ms),
                "--metrics-addr",
                metrics,
            ]);
        let args = if self.kept_ids { args } else { args.flags(&["--host-id", id]) };
        Host::start(&args, home.root())
    }

    /// Starts host `id` and waits until it is up, so that a SIGTERM is a
    /// stop: before its handler is in place the signal would kill it.
    fn start_up(&mut self, id: &str) -> Host {
        let mut host = self.start(id);
        host.wait_for_log("joined the pipeline's group", WITHIN);
        host
    }

    /// Stops host `id` with SIGTERM; it must exit 0.
    fn stop(&self, id: &str, host: Host) {
        let status = host.stop();
        assert!(status.success(), "host {id} did not exit cleanly ({status}):\n{}", self.log(id));
    }

    /// Every log host `id` wrote, in order.
    fn log(&self, id: &str) -> String {
        let Some(home) = self.homes.get(id) else { return String::new() };
        let mut logs: Vec<PathBuf> = std::fs::read_dir(home.root()).unwrap().flatten().map(|e| e.path()).collect();
        logs.retain(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("sluice-")));
        logs.sort();
        logs.iter().map(|p| std::fs::read_to_string(p).unwrap_or_default()).collect::<Vec<_>>().join("\n")
    }

    /// Lands the next `count` generated files: written outside the landing
    /// zone and moved in, every third one copied in instead.
    fn land(&mut self, count: u64) {
        for f in self.landed..(self.landed + count).min(FILES) {
            let name = format!("gen-{f:03}.json");
            let staged = self.dirs.root().join("staging").join(&name);
            let mut out = std::io::BufWriter::new(std::fs::File::create(&staged).unwrap());
            for id in f * PER_FILE..(f + 1) * PER_FILE {
                writeln!(out, r#"{{"id":{id},"StoreID":"{}","Amount":{}}}"#, store_of(id), id % 997).unwrap();
            }
            drop(out);
            if f % 3 == 2 {
                std::fs::copy(&staged, self.dirs.landing().join(&name)).unwrap();
            } else {
                std::fs::rename(&staged, self.dirs.landing().join(&name)).unwrap();
            }
        }
        self.landed = (self.landed + count).min(FILES);
    }

    /// Committed records of the main topic.
    fn committed(&self) -> Vec<Record> {
        read_topic(&self.broker.bootstrap, &self.main, 0).unwrap_or_default()
    }

    /// Waits until the topic holds `at_least` generated records.
    fn wait_for(&self, at_least: usize) {
        poll_until(WITHIN, &format!("{at_least} generated records committed"), || {
            (generated(&self.committed()).len() >= at_least).then_some(())
        });
    }

    /// Lands what is left of the files, the invoices too, waits for all of
    /// it, and asserts every record exactly once.
    fn assert_exactly_once(&mut self, what: &str) {
        self.land(FILES);
        let mut invoices = Vec::new();
        for n in 1..=3 {
            if !self.dirs.landing().join(format!("invoices-{n}.json")).exists() {
                copy_in(n, &self.dirs.landing());
            }
            invoices.extend(store_lines(n));
        }
        let expected: Vec<u64> = (0..FILES * PER_FILE).filter(|id| store_of(*id) == "STR7188").collect();
        let records = poll_until(WITHIN, "every record committed", || {
            let records = self.committed();
            (records.len() >= expected.len() + invoices.len()).then_some(records)
        });
        let ids = generated(&records);
        let mut counts: HashMap<u64, usize> = HashMap::new();
        ids.iter().for_each(|id| *counts.entry(*id).or_default() += 1);
        let missing = expected.iter().filter(|id| !counts.contains_key(id)).count();
        let duplicates: usize = counts.values().map(|n| n - 1).sum();
        let stray = counts.keys().filter(|id| store_of(**id) != "STR7188").count();
        eprintln!(
            "{what}: {} generated records: {missing} missing, {duplicates} duplicates, {stray} not filtered",
            expected.len()
        );
        assert_eq!((missing, duplicates, stray), (0, 0, 0), "generated records exactly once");
        let invoice_records: Vec<Record> = records.into_iter().filter(|r| !is_generated(r)).collect();
        assert_exactly(&invoice_records, &invoices);
    }
}

/// Every tenth record is of another store, which the filter drops.
fn store_of(id: u64) -> &'static str {
    if id % 10 == 9 { "STR1534" } else { "STR7188" }
}

fn is_generated(record: &Record) -> bool {
    record.value.as_deref().is_some_and(|v| v.starts_with(r#"{"id":"#))
}

/// The ids of the generated records, duplicates included.
fn generated(records: &[Record]) -> Vec<u64> {
    records
        .iter()
        .filter(|r| is_generated(r))
        .map(|r| {
            let value: serde_json::Value = serde_json::from_str(r.value.as_deref().unwrap()).unwrap();
            value["id"].as_u64().expect("an id")
        })
        .collect()
}

/// What a host published by its own count, from its exit summary.
fn published(log: &str) -> u64 {
    summary_count(log, "published")
}

/// Waits until the hosts `others` between them have taken over every one
/// of `partitions` since they had taken over `since` times each; returns
/// when that was seen.
fn wait_taken_over(zone: &Zone, others: &[&str], since: &[usize], partitions: &[i32]) -> Instant {
    poll_until(WITHIN, &format!("the other hosts take over {partitions:?}"), || {
        let taken: Vec<i32> = others
            .iter()
            .zip(since)
            .flat_map(|(id, n)| takeovers(&zone.log(id)).into_iter().skip(*n).flatten())
            .collect();
        partitions.iter().all(|p| taken.contains(p)).then(Instant::now)
    })
}

/// Waits until host `id` has logged taking over partitions `times` times.
fn wait_for_takeovers(zone: &Zone, id: &str, times: usize) -> Instant {
    poll_until(WITHIN, &format!("host {id} takes over partitions"), || {
        (zone.log(id).matches("took over partitions").count() >= times).then(Instant::now)
    })
}

/// The id a host logged it runs under, kept in its checkpoint directory
/// (`new` on its first start).
fn kept_id(zone: &Zone, id: &str, new: bool) -> String {
    let file = zone.homes[id].checkpoint().join("host-id");
    let tail = format!(" ({}kept in {})", if new { "new, " } else { "" }, file.display());
    let log = zone.log(id);
    let line = log.lines().rfind(|l| l.contains(&tail));
    let line = line.unwrap_or_else(|| panic!("host {id} did not log its kept id ({tail}):\n{log}"));
    let at = line.find("host id ").expect("the id's line") + "host id ".len();
    let kept = line[at..].split(' ').next().unwrap().to_owned();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{kept}\n"), "the log names the kept id");
    kept
}

#[test]
fn two_hosts_without_host_id_on_one_machine_keep_ids_of_their_own_and_deliver_exactly_once() {
    let mut zone = Zone::new("scale-kept-ids");
    zone.kept_ids = true;
    let (a, b) = (zone.start_up("a"), zone.start_up("b"));
    let (id_a, id_b) = (kept_id(&zone, "a", true), kept_id(&zone, "b", true));
    assert_ne!(id_a, id_b, "one machine, two ids");
    wait_for_takeovers(&zone, "a", 1);
    wait_for_takeovers(&zone, "b", 1);
    zone.land(WAVE);
    zone.wait_for((WAVE * PER_FILE * 9 / 10) as usize);
    // Host a restarts under the id it kept; b is not fenced by it.
    zone.stop("a", a);
    let a = zone.start_up("a");
    assert_eq!(kept_id(&zone, "a", false), id_a, "a restart keeps the id");
    zone.assert_exactly_once("two hosts with kept ids");
    let fenced = "took over (its producer fenced this one";
    for id in ["a", "b"] {
        assert!(!zone.log(id).contains(fenced), "host {id} was fenced:\n{}", zone.log(id));
    }
    zone.stop("a", a);
    zone.stop("b", b);
}

#[test]
fn three_hosts_share_the_invoices_and_200_files_exactly_once() {
    let mut zone = Zone::new("scale-three");
    let mut hosts: Vec<(String, Host)> = ["a", "b", "c"].iter().map(|id| (id.to_string(), zone.start(id))).collect();
    for (id, _) in &hosts {
        wait_for_takeovers(&zone, id, 1);
    }
    // The files land over time: each wave once the last is committed.
    while zone.landed < FILES {
        zone.land(WAVE);
        let kept = zone.landed * PER_FILE * 9 / 10;
        zone.wait_for(kept as usize);
    }
    zone.assert_exactly_once("three hosts");
    // Between them the hosts own every partition once, each some, by their
    // metrics and status pages.
    let owned_by_metrics = poll_until(WITHIN, "the hosts' metrics to show all 12 partitions owned", || {
        let owned: Vec<f64> = ["a", "b", "c"]
            .iter()
            .map(|id| sample(&get(&format!("http://{}/metrics", zone.metrics[*id])).body, "sluice_owned_partitions"))
            .collect::<Option<_>>()?;
        (owned.iter().sum::<f64>() == 12.0).then_some(owned)
    });
    eprintln!("owned partitions by host (metrics): {owned_by_metrics:?}");
    assert!(owned_by_metrics.iter().all(|n| *n > 0.0), "{owned_by_metrics:?}");
    let mut all: Vec<i64> = Vec::new();
    for id in ["a", "b", "c"] {
        let status: serde_json::Value =
            serde_json::from_str(&get(&format!("http://{}/status.json", zone.metrics[id])).body).unwrap();
        let listed: Vec<i64> = status["pipelines"][0]["owned_partitions"]
            .as_array()
            .unwrap_or_else(|| panic!("host {id}'s status lists no partitions: {status}"))
            .iter()
            .map(|p| p.as_i64().unwrap())
            .collect();
        let logged: Vec<i64> = owned(&zone.log(id)).into_iter().map(i64::from).collect();
        assert_eq!(listed, logged, "host {id}: the status page and the log agree");
        all.extend(listed);
    }
    all.sort_unstable();
    assert_eq!(all, (0..12).collect::<Vec<i64>>(), "every partition owned by exactly one host");
    let mut shares = Vec::new();
    for (id, host) in hosts.drain(..) {
        zone.stop(&id, host);
        shares.push((id.clone(), published(&zone.log(&id))));
    }
    eprintln!("published by host: {shares:?}");
    assert!(shares.iter().all(|(_, n)| *n > 0), "every host did some of the work: {shares:?}");
    let total: u64 = shares.iter().map(|(_, n)| n).sum();
    assert_eq!(total as usize, zone.committed().len(), "the hosts' counts add up to the topic");
}

#[test]
fn a_host_killed_mid_stream_has_its_files_taken_over_exactly_once() {
    let mut zone = Zone::new("scale-kill");
    let mut hosts: HashMap<&str, Host> = ["a", "b", "c"].into_iter().map(|id| (id, zone.start(id))).collect();
    for id in ["a", "b", "c"] {
        wait_for_takeovers(&zone, id, 1);
    }
    zone.land(FILES / 2);
    zone.wait_for(1);
    let orphaned = owned(&zone.log("b"));
    assert!(!orphaned.is_empty(), "the host to kill owns partitions");
    let before = ["a", "c"].map(|id| takeovers(&zone.log(id)).len());
    hosts.remove("b").unwrap().kill();
    let killed = Instant::now();
    let taken = wait_taken_over(&zone, &["a", "c"], &before, &orphaned);
    let waited = (taken - killed).as_secs_f64();
    eprintln!("the killed host's partitions {orphaned:?} waited {waited:.1} s for the other hosts");
    assert!(waited * 1e3 >= SESSION_MS as f64 * 0.8, "taken over before the session timed out: {waited} s");
    zone.assert_exactly_once("a host killed");
    assert!(zone.log("b").contains("took over partitions"), "the killed host had partitions");
    for (id, host) in hosts {
        zone.stop(id, host);
    }
}

#[test]
fn a_fourth_host_joins_then_one_leaves_with_sigterm_exactly_once() {
    let mut zone = Zone::new("scale-join-leave");
    let mut hosts: HashMap<&str, Host> = ["a", "b", "c"].into_iter().map(|id| (id, zone.start(id))).collect();
    for id in ["a", "b", "c"] {
        wait_for_takeovers(&zone, id, 1);
    }
    zone.land(3 * WAVE);
    zone.wait_for(1);
    hosts.insert("d", zone.start("d"));
    wait_for_takeovers(&zone, "d", 1);
    assert!(
        zone.log("a").contains("gave up partitions")
            || zone.log("b").contains("gave up partitions")
            || zone.log("c").contains("gave up partitions"),
        "a host gave partitions to the new one"
    );
    zone.land(3 * WAVE);
    zone.wait_for((3 * WAVE * PER_FILE) as usize);
    let leaving = hosts.remove("a").unwrap();
    zone.stop("a", leaving);
    zone.land(2 * WAVE);
    zone.assert_exactly_once("a host joined, one left");
    for (id, host) in hosts {
        zone.stop(id, host);
    }
    assert!(published(&zone.log("d")) > 0, "the host that joined did some of the work");
}

#[test]
fn a_host_paused_past_its_session_is_fenced_and_nothing_is_doubled() {
    let mut zone = Zone::new("scale-zombie");
    // Long enough that the paused host's transaction is still open when it
    // wakes: the group, not the transaction timeout, must stop it.
    zone.transaction_timeout_ms = 60_000;
    let hosts: HashMap<&str, Host> = ["a", "b"].into_iter().map(|id| (id, zone.start(id))).collect();
    for id in ["a", "b"] {
        wait_for_takeovers(&zone, id, 1);
    }
    zone.land(FILES / 2);
    zone.wait_for(1);
    let stranded = owned(&zone.log("b"));
    let before = [takeovers(&zone.log("a")).len()];
    let pid = hosts["b"].pid() as i32;
    // SAFETY: signalling a child process of this test.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    wait_taken_over(&zone, &["a"], &before, &stranded);
    zone.land(FILES / 4);
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    poll_until(WITHIN, "the woken host to learn it lost its partitions", || {
        let log = zone.log("b");
        (log.contains("lost=true") || log.contains("group has moved on")).then_some(())
    });
    let woke: Vec<String> = zone
        .log("b")
        .lines()
        .skip_while(|l| !l.contains("lost=true") && !l.contains("moved on"))
        .take(3)
        .map(str::to_owned)
        .collect();
    eprintln!("the woken host:\n{}", woke.join("\n"));
    zone.assert_exactly_once("a host paused past its session");
    for (id, host) in hosts {
        zone.stop(id, host);
    }
    // The hosts' summaries count what they committed, not what the paused
    // host's aborted transaction held.
    assert!(zone.log("b").contains("aborting the transaction"), "the woken host aborted:\n{}", zone.log("b"));
    let shares = ["a", "b"].map(|id| published(&zone.log(id)));
    assert_eq!(shares.iter().sum::<u64>() as usize, zone.committed().len(), "published by host: {shares:?}");
}

/// Random SIGKILLs, SIGTERMs and restarts of three hosts while the files
/// land, for `rounds` rounds; each round waits for the stream to move on.
fn chaos(rounds: u64) {
    let mut zone = Zone::new("scale-chaos");
    let ids = ["a", "b", "c"];
    let mut hosts: HashMap<&str, Host> = ids.into_iter().map(|id| (id, zone.start_up(id))).collect();
    let mut random = sluice_tests::now_ms() as u64;
    let (mut kills, mut terms, mut restarts) = (0, 0, 0);
    for round in 0..rounds {
        zone.land(FILES.div_ceil(rounds));
        random = random.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let id = ids[(random >> 33) as usize % ids.len()];
        match hosts.remove(id) {
            // Keep one host running so that the stream moves on.
            Some(host) if !hosts.is_empty() => {
                if (random >> 40).is_multiple_of(4) {
                    terms += 1;
                    zone.stop(id, host);
                } else {
                    kills += 1;
                    host.kill();
                }
            }
            Some(host) => {
                hosts.insert(id, host);
            }
            None => {
                restarts += 1;
                hosts.insert(id, zone.start_up(id));
            }
        }
        let before = generated(&zone.committed()).len();
        let target = (before + 1).min((zone.landed * PER_FILE * 9 / 10) as usize);
        zone.wait_for(target);
        eprintln!("round {round}: {id}; {} hosts running, {before} records committed", hosts.len());
    }
    for id in ids {
        if !hosts.contains_key(id) {
            hosts.insert(id, zone.start_up(id));
        }
    }
    zone.assert_exactly_once(&format!("{kills} SIGKILLs, {terms} SIGTERMs, {restarts} restarts"));
    for (id, host) in hosts {
        zone.stop(id, host);
    }
}

#[test]
fn hosts_killed_and_restarted_at_random_deliver_exactly_once() {
    chaos(12);
}

#[test]
#[ignore = "slow tier: minutes of random kills and restarts"]
fn minutes_of_random_host_kills_deliver_exactly_once() {
    chaos(60);
}
