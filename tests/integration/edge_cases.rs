//! Edge cases of the landing zone: empty and blank files, a byte-order
//! mark, files truncated, deleted or renamed while being read, odd file
//! names, directories inside the landing zone, and a landing zone that is
//! missing or unreadable when the host starts. Each runs a real `sluice`
//! against a real broker and checks what a user would: the records read
//! back, the dead letters and the host's log.

use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sluice_tests::{Broker, Host, HostArgs, TestDirs, now_ms, read_topic, topic_name, transform, wait_for_count};

const WITHIN: Duration = Duration::from_secs(30);
/// A settle period far beyond the test: a file stays open in the host until
/// its writer closes it, so it is "being read" for the whole test.
const HELD_OPEN: &[&str] = &["--settle-ms", "600000"];
/// No settle period: the host finishes a file (and closes it) each time it
/// has read all of it, as it does with the default once a writer pauses
/// for more than `--settle-ms`. Every line the tests write is complete.
const FINISHED_AT_ONCE: &[&str] = &["--settle-ms", "0"];

/// One test's directories, broker and single-partition topic.
struct Case {
    dirs: TestDirs,
    broker: Broker,
    topic: String,
    start_ms: i64,
}

impl Case {
    fn new(name: &str) -> Case {
        let dirs = TestDirs::new();
        let broker = Broker::start(dirs.root());
        let topic = topic_name(name);
        broker.create_topic(&topic, 1);
        Case { dirs, broker, topic, start_ms: now_ms() }
    }

    fn args(&self, module: &Path, flags: &[&str]) -> HostArgs {
        HostArgs::new(&self.dirs, module, &self.topic, &self.broker.bootstrap).flags(flags)
    }

    /// A host that keeps every record (sql.wasm with no `where`), streaming.
    fn host(&self, flags: &[&str]) -> Host {
        let mut host = Host::start(&self.args(&transform("sql"), flags), self.dirs.root());
        host.wait_for_log("streaming", WITHIN);
        host
    }

    fn landing(&self, name: &str) -> PathBuf {
        self.dirs.landing().join(name)
    }

    /// Waits until the topic holds exactly `n` records; returns their values.
    fn wait_for(&self, n: usize) -> Vec<String> {
        values(&wait_for_count(&self.broker.bootstrap, &self.topic, self.start_ms, n, WITHIN))
    }

    /// Every value in the topic now.
    fn published(&self) -> Vec<String> {
        values(&read_topic(&self.broker.bootstrap, &self.topic, self.start_ms).expect("read the topic"))
    }

    /// The dead letters, or `None` if the file was never created.
    fn dead_letters(&self) -> Option<Vec<Value>> {
        let text = fs::read_to_string(self.dirs.checkpoint().join("dead-letters.jsonl")).ok()?;
        Some(text.lines().map(|l| serde_json::from_str(l).expect("a dead letter is JSON")).collect())
    }

    fn assert_no_dead_letters(&self) {
        assert_eq!(self.dead_letters(), None, "nothing should be dead-lettered");
    }

    /// The checkpoint's `(offset, line)` for the file now at `path`.
    fn checkpointed(&self, path: &Path) -> Option<(u64, u64)> {
        sluice_tests::checkpointed(&self.dirs.checkpoint(), path)
    }
}

fn values(records: &[sluice_tests::Record]) -> Vec<String> {
    records.iter().map(|r| r.value.clone().expect("a value")).collect()
}

/// Records numbered `range`, tagged `tag`, one compact JSON object a line:
/// sql.wasm publishes each exactly as written.
fn lines(tag: &str, range: std::ops::Range<u32>) -> String {
    range.map(|n| format!("{{\"case\":\"{tag}\",\"n\":{n}}}\n")).collect()
}

fn expected(texts: &[&str]) -> Vec<String> {
    texts.iter().flat_map(|t| t.lines()).map(str::to_owned).collect()
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn an_empty_file_publishes_nothing_and_does_not_hold_up_the_next() {
    let case = Case::new("empty");
    let host = case.host(&[]);
    File::create(case.landing("empty.json")).unwrap();
    let next = lines("after-empty", 0..3);
    fs::write(case.landing("next.json"), &next).unwrap();

    assert_eq!(case.wait_for(3), expected(&[&next]));
    assert!(host.stop().success());
    assert_eq!(case.published(), expected(&[&next]));
    case.assert_no_dead_letters();
}

#[test]
fn a_file_of_blank_lines_publishes_nothing() {
    let case = Case::new("blank");
    let host = case.host(&[]);
    let blank = "\n\n  \n\r\n";
    fs::write(case.landing("blank.json"), blank).unwrap();
    // A later file, taken after the blank one, shows when it has been read.
    let next = lines("after-blank", 0..2);
    fs::write(case.landing("next.json"), &next).unwrap();

    assert_eq!(case.wait_for(2), expected(&[&next]));
    assert!(host.stop().success());
    assert_eq!(case.published(), expected(&[&next]));
    case.assert_no_dead_letters();
    // Consumed to its end (four lines), not skipped or stuck.
    assert_eq!(case.checkpointed(&case.landing("blank.json")), Some((blank.len() as u64, 4)));
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_record() {
    let case = Case::new("bom");
    let host = case.host(&[]);
    let text = lines("bom", 0..3);
    fs::write(case.landing("bom.json"), format!("\u{feff}{text}")).unwrap();

    assert_eq!(case.wait_for(3), expected(&[&text]));
    assert_eq!(case.published()[0], r#"{"case":"bom","n":0}"#);
    assert!(host.stop().success());
    case.assert_no_dead_letters();
}

/// Writes lines, truncates the file and writes fewer, different ones, with
/// the writer open throughout; the host must take the new lines from the
/// start of the file, and no old line twice.
fn truncated_while_written(name: &str, flags: &[&str]) {
    let case = Case::new(name);
    let mut host = case.host(flags);
    let (old, new) = (lines("before-truncation", 0..5), lines("after", 0..2));
    let mut file = File::create(case.landing("trunc.json")).unwrap();
    file.write_all(old.as_bytes()).unwrap();
    assert_eq!(case.wait_for(5), expected(&[&old]));

    file.set_len(0).unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    file.write_all(new.as_bytes()).unwrap();
    drop(file);

    assert_eq!(case.wait_for(7), expected(&[&old, &new]));
    host.wait_for_log("truncated", WITHIN);
    assert!(host.stop().success());
    let published = case.published();
    assert_eq!(published.iter().filter(|v| v.contains("before-truncation")).count(), 5);
    assert_eq!(published, expected(&[&old, &new]));
    case.assert_no_dead_letters();
}

#[test]
fn a_file_truncated_while_being_read_is_read_again_from_the_start() {
    truncated_while_written("truncated", HELD_OPEN);
}

#[test]
fn a_file_truncated_after_it_was_finished_is_read_again_from_the_start() {
    truncated_while_written("truncated-finished", FINISHED_AT_ONCE);
}

#[test]
fn a_file_deleted_while_being_read_is_read_to_the_end_through_its_handle() {
    let case = Case::new("deleted");
    let host = case.host(HELD_OPEN);
    let (before, last) = (lines("deleted", 0..3), lines("deleted", 3..4));
    let path = case.landing("doomed.json");
    let mut file = File::create(&path).unwrap();
    file.write_all(before.as_bytes()).unwrap();
    assert_eq!(case.wait_for(3), expected(&[&before]));

    fs::remove_file(&path).unwrap();
    file.write_all(last.as_bytes()).unwrap();
    drop(file);
    assert_eq!(case.wait_for(4), expected(&[&before, &last]));

    let next = lines("after-deleted", 0..2);
    fs::write(case.landing("next.json"), &next).unwrap();
    assert_eq!(case.wait_for(6), expected(&[&before, &last, &next]));
    assert!(host.stop().success());
    assert_eq!(case.published(), expected(&[&before, &last, &next]));
    case.assert_no_dead_letters();
}

/// Writes lines, renames the file to another wanted name with the writer
/// open, writes more and closes: each line is published once.
fn renamed_while_written(name: &str, flags: &[&str]) {
    let case = Case::new(name);
    let host = case.host(flags);
    let (before, after) = (lines("renamed", 0..3), lines("renamed", 3..6));
    let mut file = File::create(case.landing("first-name.json")).unwrap();
    file.write_all(before.as_bytes()).unwrap();
    assert_eq!(case.wait_for(3), expected(&[&before]));

    fs::rename(case.landing("first-name.json"), case.landing("second-name.json")).unwrap();
    file.write_all(after.as_bytes()).unwrap();
    drop(file);
    assert_eq!(case.wait_for(6), expected(&[&before, &after]));

    // A later file shows the source has moved on; the renamed file has not
    // been read again under its new name meanwhile.
    let next = lines("after-rename", 0..1);
    fs::write(case.landing("next.json"), &next).unwrap();
    assert_eq!(case.wait_for(7), expected(&[&before, &after, &next]));
    assert!(host.stop().success());
    assert_eq!(case.published(), expected(&[&before, &after, &next]));
    case.assert_no_dead_letters();
}

#[test]
fn a_file_renamed_while_being_read_is_published_once() {
    renamed_while_written("renamed", HELD_OPEN);
}

#[test]
fn a_file_renamed_and_grown_after_it_was_finished_is_published_once() {
    renamed_while_written("renamed-finished", FINISHED_AT_ONCE);
}

#[test]
fn file_names_with_a_space_or_a_newline_are_read_and_named_intact() {
    let case = Case::new("names");
    let host = case.host(&[]);
    let files = [("a b.json", "space"), ("line\nbreak.json", "newline")];
    let mut good = Vec::new();
    for (i, (name, tag)) in files.iter().enumerate() {
        // The second line of each is not JSON, so its dead letter names the file.
        let (first, last) = (lines(tag, 0..1), lines(tag, 1..2));
        fs::write(case.landing(name), format!("{first}not json\n{last}")).unwrap();
        good.extend(expected(&[&first, &last]));
        assert_eq!(case.wait_for(2 * (i + 1)), good);
    }
    // Dead letters are logged before their batch is published.
    let log = host.log();
    assert!(host.stop().success());
    assert_eq!(case.published(), good);

    let letters = case.dead_letters().expect("the dead-letter file");
    assert_eq!(letters.len(), 2, "{letters:?}");
    for (letter, (name, tag)) in letters.iter().zip(files) {
        let path = case.landing(name).to_str().unwrap().to_owned();
        assert_eq!(letter["file"], path, "{letter}");
        assert_eq!((&letter["line"], &letter["offset"]), (&2.into(), &lines(tag, 0..1).len().into()), "{letter}");
        assert_eq!(letter["record"], "not json");
        assert!(letter["reason"].as_str().unwrap().starts_with("malformed JSON at byte 0"), "{letter}");
        // The log quotes the name, with the newline escaped, on one line.
        assert!(log.contains(&format!("file={path:?} line=2")), "{path:?} not in the log:\n{log}");
    }
}

#[test]
fn directories_in_the_landing_zone_are_ignored() {
    let case = Case::new("subdir");
    // Named like data files, and holding one: neither is read. One is there
    // for the start-up scan, one is created and one moved in while running.
    let make = |dir: &Path| {
        fs::create_dir(dir).unwrap();
        fs::write(dir.join("inner.json"), lines("nested", 0..3)).unwrap();
    };
    make(&case.landing("at-start.json"));
    let host = case.host(&[]);
    make(&case.landing("created.json"));
    make(&case.dirs.root().join("staged.json"));
    fs::rename(case.dirs.root().join("staged.json"), case.landing("moved-in.json")).unwrap();
    let next = lines("beside-the-directories", 0..2);
    fs::write(case.landing("next.json"), &next).unwrap();

    assert_eq!(case.wait_for(2), expected(&[&next]));
    assert!(host_log_is_quiet(&host), "{}", host.log());
    assert!(host.stop().success());
    assert_eq!(case.published(), expected(&[&next]));
    case.assert_no_dead_letters();
}

/// Whether the host logged no warning and no error.
fn host_log_is_quiet(host: &Host) -> bool {
    !host.log().lines().any(|l| l.contains(" WARN ") || l.contains("ERROR "))
}

/// The `error: ` line of a host that exits 1 at start-up.
fn start_up_error(mut host: Host) -> String {
    assert_eq!(host.wait(WITHIN).code(), Some(1), "{}", host.log());
    let log = host.log();
    log.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("no error line:\n{log}")).to_owned()
}

#[test]
fn a_landing_zone_that_does_not_exist_stops_the_host_at_start_up() {
    let case = Case::new("missing");
    fs::remove_dir(case.dirs.landing()).unwrap();
    let error = start_up_error(Host::start(&case.args(&transform("sql"), &[]), case.dirs.root()));
    let zone = case.dirs.landing();
    let want = format!(
        "error: landing zone {} does not exist; create it, or correct --landing-zone (`landing_zone` in a config file)",
        zone.display()
    );
    assert_eq!(error, want);
}

#[test]
fn a_landing_zone_that_is_a_file_stops_the_host_at_start_up() {
    let case = Case::new("a-file");
    let zone = case.dirs.landing();
    fs::remove_dir(&zone).unwrap();
    fs::write(&zone, "{}\n").unwrap();
    let error = start_up_error(Host::start(&case.args(&transform("sql"), &[]), case.dirs.root()));
    let want = format!(
        "error: landing zone {} is not a directory; --landing-zone (`landing_zone` in a config file) names the \
         directory files land in",
        zone.display()
    );
    assert_eq!(error, want);
}

#[test]
fn an_unreadable_landing_zone_is_reported_then_read_once_permitted() {
    let case = Case::new("unreadable");
    let root = case.dirs.root();
    // Root reads any directory whatever its mode, so the host runs as
    // `nobody`, which must be able to reach the test's files.
    // SAFETY: geteuid has no preconditions and cannot fail.
    let as_root = unsafe { libc::geteuid() } == 0;
    chmod(root, 0o777);
    let module = root.join("sql.wasm");
    fs::copy(transform("sql"), &module).unwrap();
    chmod(&module, 0o644);
    chmod(&case.dirs.landing(), 0o000);

    let args = case.args(&module, &[]);
    let args = if as_root { args.as_user(NOBODY) } else { args };
    let mut host = Host::start(&args, root);
    host.wait_for_log("cannot read the landing zone", WITHIN);
    assert!(host.log().contains("Permission denied"), "{}", host.log());

    chmod(&case.dirs.landing(), 0o755);
    let text = lines("now-readable", 0..3);
    let staged = root.join("staged.json");
    fs::write(&staged, &text).unwrap();
    chmod(&staged, 0o644);
    fs::rename(&staged, case.landing("first.json")).unwrap();
    assert_eq!(case.wait_for(3), expected(&[&text]));
    let log = host.log();
    assert!(host.stop().success(), "{log}");
    case.assert_no_dead_letters();
}

/// The `nobody` user and group.
const NOBODY: u32 = 65534;
