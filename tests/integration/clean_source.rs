//! `--clean-source archive|delete`: a finished file leaves the landing zone
//! only once every record of it is on the topic and the checkpoint saying
//! so is on disk. Each test reads the topic back for exact counts and looks
//! at the landing zone and the archive on disk.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_tests::{
    Broker, Host, HostArgs, TestDirs, invoice_file, poll_until, read_topic, run_to_exit, topic_name, transform,
    wait_for_count,
};

const WITHIN: Duration = Duration::from_secs(30);
/// Records in invoices-1, -2 and -3 (the last ends without a newline).
const LINES: [usize; 3] = [400, 300, 350];

struct Case {
    dirs: TestDirs,
    broker: Broker,
    topic: String,
}

impl Case {
    fn new(name: &str) -> Case {
        let dirs = TestDirs::new();
        let broker = Broker::start(dirs.root());
        let topic = topic_name(name);
        broker.create_topic(&topic, 1);
        Case { dirs, broker, topic }
    }

    fn archive(&self) -> PathBuf {
        self.dirs.root().join("archive")
    }

    /// `sluice run` keeping every record, with `flags`.
    fn args(&self, flags: &[&str]) -> HostArgs {
        HostArgs::new(&self.dirs, &transform("sql"), &self.topic, &self.broker.bootstrap).flags(flags)
    }

    fn archiving(&self) -> HostArgs {
        let archive = self.archive();
        self.args(&["--clean-source", "archive", "--source-archive-dir", archive.to_str().unwrap()])
    }

    fn start(&self, args: &HostArgs) -> Host {
        let mut host = Host::start(args, self.dirs.root());
        host.wait_for_log("streaming", WITHIN);
        host
    }

    /// Writes invoices-`n` into the landing zone as `name`, in one go.
    fn land(&self, n: u32, name: &str) {
        fs::write(self.dirs.landing().join(name), fs::read(invoice_file(n)).unwrap()).unwrap();
    }

    fn wait_for(&self, count: usize) {
        wait_for_count(&self.broker.bootstrap, &self.topic, 0, count, WITHIN);
    }

    /// The topic's record count, read after the fact.
    fn count(&self) -> usize {
        read_topic(&self.broker.bootstrap, &self.topic, 0).unwrap().len()
    }

    fn landing_names(&self) -> Vec<String> {
        names(&self.dirs.landing())
    }

    /// Files in the checkpoint.
    fn checkpointed(&self) -> Option<usize> {
        Some(sluice_tests::checkpoint_files(&self.dirs.checkpoint())?.len())
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn wait_until(what: &str, check: impl Fn() -> bool) {
    poll_until(WITHIN, what, || check().then_some(()));
}

#[test]
fn archive_moves_each_finished_file_into_the_archive_and_forgets_it() {
    let case = Case::new("clean-archive");
    let host = case.start(&case.archiving());
    for n in 1..=3 {
        case.land(n, &format!("invoices-{n}.json"));
    }
    case.wait_for(LINES.iter().sum());
    let archive = case.archive();
    wait_until("every file is archived", || names(&archive).len() == 3);
    assert_eq!(case.landing_names(), Vec::<String>::new());
    for n in 1..=3 {
        let archived = fs::read(archive.join(format!("invoices-{n}.json"))).unwrap();
        assert_eq!(archived, fs::read(invoice_file(n)).unwrap(), "invoices-{n} is archived whole");
    }
    wait_until("the checkpoint forgets the archived files", || case.checkpointed() == Some(0));
    assert!(host.stop().success());
    assert_eq!(case.count(), LINES.iter().sum::<usize>());
}

#[test]
fn delete_removes_each_finished_file_and_a_new_one_of_the_same_name_is_read() {
    let case = Case::new("clean-delete");
    let mut host = case.start(&case.args(&["--clean-source", "delete"]));
    case.land(1, "a.json");
    case.land(2, "b.json");
    case.wait_for(LINES[0] + LINES[1]);
    wait_until("both files are deleted", || case.landing_names().is_empty());
    host.wait_for_log("deleted the finished file", WITHIN);
    // The same name and the same bytes again (perhaps the same inode): a
    // new file, read from its start.
    case.land(1, "a.json");
    case.wait_for(2 * LINES[0] + LINES[1]);
    wait_until("the second a.json is deleted", || case.landing_names().is_empty());
    wait_until("the checkpoint forgets the deleted files", || case.checkpointed() == Some(0));
    assert!(host.stop().success());
    assert_eq!(case.count(), 2 * LINES[0] + LINES[1]);
    assert!(!case.archive().exists());
}

#[test]
fn off_leaves_files_in_place() {
    let case = Case::new("clean-off");
    let host = case.start(&case.args(&[]));
    case.land(1, "a.json");
    case.land(2, "b.json");
    case.wait_for(LINES[0] + LINES[1]);
    wait_until("the checkpoint covers both files", || case.checkpointed() == Some(2));
    assert!(host.stop().success());
    assert_eq!(case.landing_names(), ["a.json", "b.json"]);
    assert_eq!(case.count(), LINES[0] + LINES[1]);
}

#[test]
fn a_file_still_being_written_is_not_cleaned() {
    let case = Case::new("clean-open");
    // Only a writer's close completes a file within the test.
    let mut host = case.start(&case.archiving().flags(&["--settle-ms", "600000"]));
    let text = fs::read_to_string(invoice_file(2)).unwrap();
    let (head, tail) = text.split_at(text.len() / 2);
    let mut open = fs::File::create(case.dirs.landing().join("open.json")).unwrap();
    open.write_all(head.as_bytes()).unwrap();
    open.flush().unwrap();
    case.land(1, "done.json");
    case.wait_for(LINES[0] + head.matches('\n').count());
    wait_until("the closed file is archived", || names(&case.archive()) == ["done.json"]);
    host.wait_for_log("archived the finished file", WITHIN);
    assert_eq!(case.landing_names(), ["open.json"], "the open file stays");

    open.write_all(tail.as_bytes()).unwrap();
    drop(open);
    case.wait_for(LINES[0] + LINES[1]);
    wait_until("the file is archived once closed", || names(&case.archive()) == ["done.json", "open.json"]);
    assert_eq!(fs::read_to_string(case.archive().join("open.json")).unwrap(), text);
    assert!(host.stop().success());
    assert_eq!(case.count(), LINES[0] + LINES[1]);
}

#[test]
fn a_crash_between_delivery_and_archiving_neither_loses_nor_repeats_the_file() {
    let case = Case::new("clean-crash");
    // A plain file where the archive should be: every move fails (even as
    // root) after the records are on the topic and the checkpoint is saved.
    fs::write(case.archive(), "in the way\n").unwrap();
    let mut host = case.start(&case.archiving());
    case.land(3, "c.json");
    case.wait_for(LINES[2]);
    host.wait_for_log("cannot clean the finished file", WITHIN);
    assert!(host.log().contains(&format!("file={}", case.dirs.landing().join("c.json").display())), "{}", host.log());
    assert_eq!(case.landing_names(), ["c.json"], "a failed move leaves the file in place");
    host.kill();

    fs::remove_file(case.archive()).unwrap();
    let host = case.start(&case.archiving());
    wait_until("the file is archived after the restart", || names(&case.archive()) == ["c.json"]);
    assert_eq!(case.landing_names(), Vec::<String>::new());
    assert_eq!(fs::read(case.archive().join("c.json")).unwrap(), fs::read(invoice_file(3)).unwrap());
    assert!(host.stop().success());
    assert_eq!(case.count(), LINES[2], "nothing was sent twice");
}

#[test]
fn a_failed_move_is_retried_without_stopping_the_stream() {
    let case = Case::new("clean-retry");
    fs::write(case.archive(), "in the way\n").unwrap();
    let mut host = case.start(&case.archiving());
    case.land(1, "a.json");
    host.wait_for_log("cannot clean the finished file", WITHIN);
    case.land(2, "b.json");
    case.wait_for(LINES[0] + LINES[1]);
    fs::remove_file(case.archive()).unwrap();
    wait_until("both files are archived once the way is clear", || names(&case.archive()) == ["a.json", "b.json"]);
    assert!(host.stop().success());
    assert_eq!(case.count(), LINES[0] + LINES[1]);
}

#[test]
fn a_name_clash_in_the_archive_does_not_overwrite() {
    let case = Case::new("clean-clash");
    fs::create_dir(case.archive()).unwrap();
    fs::write(case.archive().join("a.json"), "archived before\n").unwrap();
    let mut host = case.start(&case.archiving());
    case.land(1, "a.json");
    wait_until("a.json is archived as a.json.1", || names(&case.archive()) == ["a.json", "a.json.1"]);
    assert_eq!(fs::read_to_string(case.archive().join("a.json")).unwrap(), "archived before\n");
    assert_eq!(fs::read(case.archive().join("a.json.1")).unwrap(), fs::read(invoice_file(1)).unwrap());
    host.wait_for_log("the archive holds a file of that name; archived under another", WITHIN);
    // The same name once more: read, and archived under the next free name.
    case.land(1, "a.json");
    wait_until("the second a.json is archived", || names(&case.archive()).len() == 3);
    assert_eq!(names(&case.archive()), ["a.json", "a.json.1", "a.json.2"]);
    assert!(host.stop().success());
    assert_eq!(case.count(), 2 * LINES[0]);
}

#[test]
fn config_errors_name_the_flags_and_both_paths() {
    let dirs = TestDirs::new();
    let base = HostArgs::new(&dirs, &transform("sql"), "t", "127.0.0.1:1");
    let run = |flags: &[&str]| {
        let args = base.clone().flags(flags);
        let argv: Vec<&str> = args.argv().iter().map(String::as_str).collect();
        run_to_exit(&argv, WITHIN)
    };
    let (status, stderr) = run(&["--clean-source", "archive"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains(
            "error: --clean-source archive needs --source-archive-dir DIR, the directory finished files are moved to"
        ),
        "{stderr}"
    );

    let inside = dirs.landing().join("done");
    let (status, stderr) = run(&["--clean-source", "archive", "--source-archive-dir", inside.to_str().unwrap()]);
    assert_eq!(status.code(), Some(1));
    let expected = format!(
        "error: --source-archive-dir {} lies inside --landing-zone {}: archived files would be read again; choose a \
         directory outside the landing zone",
        inside.display(),
        dirs.landing().display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!dirs.checkpoint().exists(), "nothing started");
}

#[test]
fn compressed_and_nested_files_are_archived_with_their_sub_path() {
    let case = Case::new("clean-compressed");
    let args = case.archiving().flags(&["--recursive", "--settle-ms", "200"]);
    let host = case.start(&args);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&fs::read(invoice_file(1)).unwrap()).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&fs::read(invoice_file(2)).unwrap()[..], 3).unwrap();
    let partition = case.dirs.landing().join("date=2026-12-01");
    fs::create_dir(&partition).unwrap();
    fs::write(partition.join("invoices-1.json.gz"), &gz).unwrap();
    fs::write(case.dirs.landing().join("invoices-2.json.zst"), &zst).unwrap();
    case.wait_for(LINES[0] + LINES[1]);
    let archive = case.archive();
    let archived = archive.join("date=2026-12-01/invoices-1.json.gz");
    wait_until("both files are archived", || archived.exists() && archive.join("invoices-2.json.zst").exists());
    assert_eq!(fs::read(&archived).unwrap(), gz, "the .gz is archived as it was, below its partition");
    assert_eq!(fs::read(archive.join("invoices-2.json.zst")).unwrap(), zst);
    assert_eq!(names(&partition), Vec::<String>::new());
    assert!(host.stop().success());
    assert_eq!(case.count(), LINES[0] + LINES[1], "nothing is sent twice");
}
