//! A landing zone written by someone hostile (issue 19, findings 1, 2 and
//! 4): symbolic links to files and directories outside it, a link back
//! into the archive, a link to a pseudo-file. None of them hands Sluice a
//! byte from outside the zone, or makes it delete, loop or hang; each is
//! one warning naming the entry, counted in `/metrics`.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sluice_tests::{Broker, Host, HostArgs, TestDirs, free_port, poll_until, read_topic, topic_name, transform};

use crate::metrics::{get, sample};

const WITHIN: Duration = Duration::from_secs(30);
/// Rescans so fast that several pass while a test waits.
const RESCAN: [&str; 2] = ["--rescan-ms", "100"];
/// In every file outside the landing zone: must be seen nowhere.
const MARKER: &str = "OUTSIDE-THE-ZONE-7f3a";
const WARNING: &str = "skipped a landing-zone entry";

struct Case {
    dirs: TestDirs,
    broker: Broker,
    topic: String,
    metrics: String,
}

impl Case {
    fn new(name: &str) -> Case {
        let dirs = TestDirs::new();
        let broker = Broker::start(dirs.root());
        let topic = topic_name(name);
        broker.create_topic(&topic, 1);
        fs::create_dir(dirs.root().join("outside")).unwrap();
        Case { dirs, broker, topic, metrics: format!("127.0.0.1:{}", free_port()) }
    }

    fn landing(&self) -> PathBuf {
        self.dirs.landing()
    }

    fn outside(&self) -> PathBuf {
        self.dirs.root().join("outside")
    }

    /// A host keeping every record, logging each rescan, with `flags`.
    fn start(&self, flags: &[&str]) -> Host {
        let args = HostArgs::new(&self.dirs, &transform("sql"), &self.topic, &self.broker.bootstrap)
            .flags(&RESCAN)
            .flags(&["--metrics-addr", &self.metrics, "--settle-ms", "100"])
            .flags(flags)
            .log_level("debug");
        let mut host = Host::start(&args, self.dirs.root());
        host.wait_for_log("streaming", WITHIN);
        host
    }

    /// The topic's values, read after the fact.
    fn values(&self) -> Vec<String> {
        let records = read_topic(&self.broker.bootstrap, &self.topic, 0).unwrap();
        records.into_iter().filter_map(|r| r.value).collect()
    }

    fn wait_for(&self, count: usize) {
        poll_until(WITHIN, &format!("{count} records on the topic"), || (self.values().len() >= count).then_some(()));
    }

    /// Waits until the host has rescanned `n` more times.
    fn rescans(&self, host: &Host, n: usize) {
        let count = |log: &str| log.matches("rescanned the landing zone").count();
        let from = count(&host.log());
        poll_until(WITHIN, &format!("{n} rescans"), || (count(&host.log()) >= from + n).then_some(()));
    }

    /// `sluice_files_skipped_total` with `reason`.
    fn skipped(&self, reason: &str) -> f64 {
        let text = get(&format!("http://{}/metrics", self.metrics)).body;
        let line = text.lines().find(|l| l.starts_with("sluice_files_skipped_total") && l.contains(reason));
        line.and_then(|l| sample(l, "sluice_files_skipped_total")).unwrap_or(0.0)
    }

    fn dead_letters(&self) -> String {
        fs::read_to_string(self.dirs.checkpoint().join("dead-letters.jsonl")).unwrap_or_default()
    }

    /// Nothing of the files outside the zone reached the topic, the dead
    /// letters or the log.
    fn assert_nothing_from_outside(&self, log: &str) {
        assert!(self.values().iter().all(|v| !v.contains(MARKER)), "a file outside the zone was published");
        assert!(!self.dead_letters().contains(MARKER), "a file outside the zone was dead-lettered");
        assert!(!log.contains(MARKER), "a file outside the zone was logged:\n{log}");
    }
}

/// Writes `lines` JSON records to `path`.
fn land(path: &Path, lines: usize, tag: &str) {
    let text: String = (0..lines).map(|i| format!("{{\"tag\":\"{tag}\",\"i\":{i}}}\n")).collect();
    fs::write(path, text).unwrap();
}

/// The warnings naming `entry`.
fn warnings(log: &str, entry: &Path) -> usize {
    let entry = entry.display().to_string();
    log.lines().filter(|l| l.contains(WARNING) && l.contains(&entry)).count()
}

#[test]
fn links_to_files_outside_the_zone_are_skipped_with_one_warning_each() {
    let case = Case::new("hostile-file-link");
    let (landing, outside) = (case.landing(), case.outside());
    fs::write(outside.join("secret.json"), format!("{{\"secret\":\"{MARKER}\"}}\n")).unwrap();
    // A root-only file of the /etc/shadow kind: not JSON, so following the
    // link would dead-letter its lines whole.
    fs::write(outside.join("shadow"), format!("root:{MARKER}:19000:0:99999:7:::\n")).unwrap();
    fs::set_permissions(outside.join("shadow"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    symlink(outside.join("secret.json"), landing.join("secret.json")).unwrap();
    symlink(outside.join("shadow"), landing.join("shadow.json")).unwrap();
    land(&landing.join("real.json"), 5, "real");

    let host = case.start(&[]);
    case.wait_for(5);
    case.rescans(&host, 5);
    let skipped = case.skipped("reason=\"symlink\"");
    let log = host.log();
    assert!(host.stop().success());
    assert_eq!(case.values().len(), 5, "only the real file is read");
    case.assert_nothing_from_outside(&log);
    for link in ["secret.json", "shadow.json"] {
        assert_eq!(warnings(&log, &landing.join(link)), 1, "one warning for {link}:\n{log}");
    }
    assert_eq!(skipped, 2.0, "both links are counted as skipped");
}

#[test]
fn a_recursive_walk_does_not_enter_a_linked_directory() {
    let case = Case::new("hostile-dir-link");
    let (landing, outside) = (case.landing(), case.outside());
    fs::create_dir_all(outside.join("deep")).unwrap();
    for n in 1..=3 {
        fs::write(outside.join(format!("deep/p{n}.json")), format!("{{\"secret\":\"{MARKER}\"}}\n")).unwrap();
    }
    symlink(&outside, landing.join("sub")).unwrap();
    fs::create_dir(landing.join("date=1")).unwrap();
    land(&landing.join("date=1/part-0.json"), 4, "real");

    let host = case.start(&["--recursive"]);
    case.wait_for(4);
    case.rescans(&host, 5);
    let log = host.log();
    assert!(host.stop().success());
    assert_eq!(case.values().len(), 4, "only the zone's own file is read");
    case.assert_nothing_from_outside(&log);
    assert_eq!(warnings(&log, &landing.join("sub")), 1, "{log}");
}

#[test]
fn a_recursive_delete_never_deletes_through_a_link() {
    let case = Case::new("hostile-delete-link");
    let (landing, precious) = (case.landing(), case.outside().join("precious"));
    fs::create_dir(&precious).unwrap();
    for n in 1..=3 {
        fs::write(precious.join(format!("p{n}.json")), format!("{{\"keep\":{n}}}\n")).unwrap();
    }
    symlink(&precious, landing.join("sub")).unwrap();
    fs::create_dir(landing.join("date=1")).unwrap();
    land(&landing.join("date=1/a.json"), 3, "real");
    land(&landing.join("b.json"), 2, "real");

    let host = case.start(&["--recursive", "--clean-source", "delete"]);
    case.wait_for(5);
    let gone = |p: &str| !landing.join(p).exists();
    poll_until(WITHIN, "the zone's own files are deleted", || (gone("date=1/a.json") && gone("b.json")).then_some(()));
    case.rescans(&host, 5);
    assert!(host.stop().success());
    for n in 1..=3 {
        let kept = fs::read_to_string(precious.join(format!("p{n}.json"))).unwrap();
        assert_eq!(kept, format!("{{\"keep\":{n}}}\n"), "p{n}.json outside the zone is untouched");
    }
    assert!(fs::symlink_metadata(landing.join("sub")).unwrap().is_symlink(), "the link itself stays");
    assert_eq!(case.values().len(), 5);
}

#[test]
fn a_link_from_the_zone_to_the_archive_does_not_republish_archived_files() {
    let case = Case::new("hostile-archive-loop");
    let (landing, archive) = (case.landing(), case.outside().join("archive"));
    fs::create_dir(&archive).unwrap();
    symlink(&archive, landing.join("loop")).unwrap();
    land(&landing.join("a.json"), 3, "once");

    let archive_flag = archive.to_str().unwrap();
    let host = case.start(&["--recursive", "--clean-source", "archive", "--source-archive-dir", archive_flag]);
    case.wait_for(3);
    poll_until(WITHIN, "a.json is archived", || archive.join("a.json").exists().then_some(()));
    case.rescans(&host, 10);
    let log = host.log();
    assert!(host.stop().success());
    assert_eq!(case.values().len(), 3, "each record once:\n{log}");
    assert_eq!(fs::read_dir(&archive).unwrap().count(), 1, "one file in the archive, archived once");
}

/// `sluice run` on a landing zone holding a link to `/proc/self/environ`,
/// with `flags`: skipped with one warning, no loop, a prompt SIGTERM.
fn pseudo_file_case(name: &str, flags: &[&str], reason: &str) {
    let case = Case::new(name);
    let landing = case.landing();
    symlink("/proc/self/environ", landing.join("environ.json")).unwrap();
    land(&landing.join("real.json"), 2, "real");

    let host = case.start(flags);
    case.wait_for(2);
    case.rescans(&host, 10);
    assert_eq!(case.skipped(&format!("reason=\"{reason}\"")), 1.0);
    let log = host.log();
    assert_eq!(warnings(&log, &landing.join("environ.json")), 1, "{log}");
    assert!(!log.contains("file was truncated"), "the pseudo-file was read:\n{log}");
    let stopping = Instant::now();
    assert!(host.stop().success());
    assert!(stopping.elapsed() < Duration::from_secs(2), "SIGTERM took {:?}", stopping.elapsed());
    assert_eq!(case.values().len(), 2);
    assert!(case.dead_letters().is_empty());
}

#[test]
fn a_link_to_a_pseudo_file_is_skipped_and_sigterm_stops_at_once() {
    pseudo_file_case("hostile-proc", &[], "symlink");
}

#[test]
fn a_followed_link_to_a_pseudo_file_is_outside_the_zone() {
    pseudo_file_case("hostile-proc-follow", &["--follow-symlinks"], "outside_landing_zone");
}

#[test]
fn follow_symlinks_reads_a_link_inside_the_zone_and_refuses_one_outside() {
    let case = Case::new("hostile-follow");
    let (landing, outside) = (case.landing(), case.outside());
    // A hidden directory is not listed: its file is read only through the link.
    fs::create_dir(landing.join(".store")).unwrap();
    land(&landing.join(".store/b.json"), 3, "inside");
    symlink(landing.join(".store/b.json"), landing.join("b.json")).unwrap();
    fs::write(outside.join("o.json"), format!("{{\"secret\":\"{MARKER}\"}}\n")).unwrap();
    symlink(outside.join("o.json"), landing.join("o.json")).unwrap();

    let host = case.start(&["--follow-symlinks"]);
    case.wait_for(3);
    case.rescans(&host, 5);
    assert_eq!(case.skipped("reason=\"outside_landing_zone\""), 1.0);
    let log = host.log();
    assert!(host.stop().success());
    let values = case.values();
    assert_eq!(values.len(), 3, "the file inside the zone is read once through its link");
    assert!(values.iter().all(|v| v.contains("inside")));
    case.assert_nothing_from_outside(&log);
    assert_eq!(warnings(&log, &landing.join("o.json")), 1, "{log}");
}
