//! How files arrive: written slowly in chunks that split lines, moved in
//! atomically, or staged under a temporary name. Each is delivered whole
//! and exactly once.

use std::io::Write;
use std::time::Duration;

use sluice_tests::{
    Broker, Host, HostArgs, Record, TestDirs, invoice_file, now_ms, topic_name, transform, wait_for_count,
};

const VISIBLE_WITHIN: Duration = Duration::from_secs(30);

/// Every value read back, sorted, against every line of `text`, sorted.
fn assert_lines_exactly_once(records: &[Record], text: &str) {
    let mut values: Vec<&str> = records.iter().map(|r| r.value.as_deref().expect("a value")).collect();
    let mut lines: Vec<&str> = text.lines().collect();
    values.sort();
    lines.sort();
    assert_eq!(values.len(), lines.len());
    assert!(values == lines, "values differ from the source lines");
}

/// A host that keeps every record (sql.wasm with no `where`).
fn start_keep_all(dirs: &TestDirs, broker: &Broker, topic: &str, flags: &[&str]) -> Host {
    let args = HostArgs::new(dirs, &transform("sql"), topic, &broker.bootstrap).flags(flags);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", VISIBLE_WITHIN);
    host
}

#[test]
fn slow_writer_splitting_lines_is_read_as_it_grows() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("slow");
    broker.create_topic(&topic, 1);
    let start = now_ms();
    // A settle period far beyond the test: only the writer's close may
    // complete the unterminated last line, never a pause between chunks.
    let host = start_keep_all(&dirs, &broker, &topic, &["--settle-ms", "600000"]);

    let text = std::fs::read_to_string(invoice_file(3)).unwrap();
    assert!(!text.ends_with('\n'), "fixture 3 must end without a newline");
    let mut file = std::fs::File::create(dirs.landing().join("slow.json")).unwrap();
    let mut written = 0;
    for chunk in text.as_bytes().chunks(40_009) {
        file.write_all(chunk).unwrap();
        file.flush().unwrap();
        written += chunk.len();
        // Every complete line so far is published while the file is still
        // open; the partial line after it is not.
        let complete = text[..written].matches('\n').count();
        wait_for_count(&broker.bootstrap, &topic, start, complete, VISIBLE_WITHIN);
    }
    drop(file);
    let records = wait_for_count(&broker.bootstrap, &topic, start, text.lines().count(), VISIBLE_WITHIN);
    assert_lines_exactly_once(&records, &text);
    assert!(host.stop().success());
}

#[test]
fn moved_in_and_renamed_from_temporary_files_arrive_once() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("moved");
    broker.create_topic(&topic, 2);
    let start = now_ms();
    let host = start_keep_all(&dirs, &broker, &topic, &[]);

    // Written elsewhere on the same filesystem, then moved in atomically.
    let staged = dirs.root().join("staged.json");
    std::fs::copy(invoice_file(1), &staged).unwrap();
    std::fs::rename(&staged, dirs.landing().join("moved.json")).unwrap();
    // Written inside the landing zone under names the source ignores, then
    // renamed: only the final name counts.
    for ignored in ["part.json.tmp", ".part.json", "part.json._COPYING_"] {
        std::fs::copy(invoice_file(2), dirs.landing().join(ignored)).unwrap();
    }
    std::fs::rename(dirs.landing().join("part.json.tmp"), dirs.landing().join("part.json")).unwrap();

    let text = std::fs::read_to_string(invoice_file(1)).unwrap() + &std::fs::read_to_string(invoice_file(2)).unwrap();
    let records = wait_for_count(&broker.bootstrap, &topic, start, text.lines().count(), VISIBLE_WITHIN);
    assert_lines_exactly_once(&records, &text);
    assert!(host.stop().success());
    let records = sluice_tests::read_topic(&broker.bootstrap, &topic, start).unwrap();
    assert_lines_exactly_once(&records, &text);
}

#[test]
fn a_file_rewritten_while_the_host_was_down_is_read_from_its_start() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("rewritten");
    broker.create_topic(&topic, 1);
    let start = now_ms();
    let host = start_keep_all(&dirs, &broker, &topic, &[]);
    let path = dirs.landing().join("reused.json");
    let old = "{\"v\":\"old-1\"}\n{\"v\":\"old-2\"}\n";
    std::fs::write(&path, old).unwrap();
    wait_for_count(&broker.bootstrap, &topic, start, 2, VISIBLE_WITHIN);
    assert!(host.stop().success());

    // Same inode, other content, longer than the checkpointed offset: what
    // a new file reusing a deleted file's inode looks like. Resuming at the
    // old offset would skip the new file's first lines.
    let new: String = (1..=4).map(|i| format!("{{\"v\":\"new-{i}\"}}\n")).collect();
    std::fs::OpenOptions::new().write(true).truncate(true).open(&path).unwrap().write_all(new.as_bytes()).unwrap();
    let host = start_keep_all(&dirs, &broker, &topic, &[]);
    let records = wait_for_count(&broker.bootstrap, &topic, start, 6, VISIBLE_WITHIN);
    assert_lines_exactly_once(&records, &(old.to_owned() + &new));
    assert!(host.stop().success());
}

#[test]
fn a_symlinked_file_is_published_once_across_rescans() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("symlink");
    broker.create_topic(&topic, 1);
    let start = now_ms();
    let args = HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap)
        .flags(&["--rescan-ms", "50", "--follow-symlinks"])
        .log_level("sluice=debug");
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", VISIBLE_WITHIN);
    // A link is followed only to a file inside the landing zone (one outside
    // is refused: hostile_landing.rs); a hidden directory is not listed.
    std::fs::create_dir(dirs.landing().join(".store")).unwrap();
    let target = dirs.landing().join(".store/elsewhere.json");
    std::fs::copy(invoice_file(2), &target).unwrap();
    std::os::unix::fs::symlink(&target, dirs.landing().join("linked.json")).unwrap();
    let text = std::fs::read_to_string(&target).unwrap();
    wait_for_count(&broker.bootstrap, &topic, start, 300, VISIBLE_WITHIN);
    // Rescans every 50 ms must not take the finished file for a new one.
    let seen = host.log().matches("rescanned the landing zone").count();
    sluice_tests::poll_until(VISIBLE_WITHIN, "ten more rescans", || {
        (host.log().matches("rescanned the landing zone").count() >= seen + 10).then_some(())
    });
    let records = sluice_tests::read_topic(&broker.bootstrap, &topic, start).unwrap();
    assert_lines_exactly_once(&records, &text);
    assert!(host.stop().success());
}
