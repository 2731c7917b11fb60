//! The Kafka store's tests: staging, partitions, and finding files again.

use std::fs::{self, File};

use crate::zone::ZoneFile as _;

use super::*;

fn store(dir: &Path) -> KafkaStore {
    let kafka = KafkaConfig { topic: "t".into(), properties: vec![], connect_timeout: Duration::from_secs(60) };
    let zone = Arc::new(crate::zone::local::LocalDir::new(dir.to_owned(), false, false));
    KafkaStore::new(&kafka, "offsets", "p1", dir, Arc::new(crate::zone::Locator(zone)))
}

fn progress(path: &str, offset: u64, head: Option<Head>) -> FileProgress {
    FileProgress { path: path.into(), offset, line: offset / 10, head }
}

#[test]
fn stages_only_what_changed_and_aborts_forget_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = store(dir.path());
    let head = Some(Head { len: 8, fnv: 7 });
    let mut cp = Checkpoint::default();
    cp.files.insert(FileId { dev: 1, ino: 2 }, progress("/in/a.json", 10, head));
    s.stage(&cp);
    let records = s.take_records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].1, br#"{"pipeline":"p1","file":"a.json","head":{"len":8,"fnv":7}}"#);
    let value = String::from_utf8(records[0].2.clone().unwrap()).unwrap();
    assert_eq!(value, r#"{"path":"/in/a.json","offset":10,"line":1,"head":{"len":8,"fnv":7},"dev":1,"ino":2}"#);
    s.aborted();
    s.stage(&cp);
    assert_eq!(s.take_records().len(), 1, "the aborted record is written again");
    s.committed();
    s.stage(&cp);
    assert!(s.take_records().is_empty(), "nothing changed since the commit");
    s.committed();

    let grown = Some(Head { len: 9, fnv: 8 });
    cp.files.insert(FileId { dev: 1, ino: 2 }, progress("/in/a.json", 20, grown));
    s.stage(&cp);
    let records = s.take_records();
    assert_eq!(records.len(), 2, "the old key gets a tombstone");
    assert!(records[0].2.is_none() && records[1].2.is_some());
    s.committed();
    s.stage(&Checkpoint::default());
    assert!(matches!(&s.take_records()[..], [(_, _, None)]), "a forgotten file gets a tombstone");
}

#[test]
fn files_belong_to_partitions_by_their_path_below_the_landing_zone() {
    let mut s = store(Path::new("/mnt/a/in"));
    s.partitions = 12;
    // Another host mounts the share elsewhere: the same file, the same partition.
    let mut other = store(Path::new("/nfs/in"));
    other.partitions = 12;
    let all = 0..12;
    for name in ["a.json", "date=1/part-0.json", "date=2/part-0.json"] {
        let p = partition_of(name, 12);
        assert!(all.contains(&p));
        assert!(s.share([p]).owns(&Path::new("/mnt/a/in").join(name)), "{name}");
        assert!(other.share([p]).owns(&Path::new("/nfs/in").join(name)), "{name}");
        assert!(!s.share(all.clone().filter(|q| *q != p)).owns(&Path::new("/mnt/a/in").join(name)), "{name}");
    }
    assert_eq!(partition_of("a.json", 12), (fnv1a_of("a.json") % 12) as i32, "a stable hash, not a seeded one");
    assert_eq!(partition_of("a.json", 1), 0);

    let head = Some(Head { len: 8, fnv: 7 });
    let mut cp = Checkpoint::default();
    let files = ["a.json", "date=1/part-0.json", "date=2/part-0.json", "b.json", "c.json"];
    for (ino, name) in files.iter().enumerate() {
        cp.files.insert(FileId { dev: 1, ino: ino as u64 }, progress(&format!("/mnt/a/in/{name}"), 10, head));
    }
    s.stage(&cp);
    let records = s.take_records();
    let keys: Vec<String> = records.iter().map(|r| String::from_utf8(r.1.clone()).unwrap()).collect();
    assert!(
        keys.iter().any(|k| k.contains(r#""file":"date=1/part-0.json""#)),
        "nested files keep their path: {keys:?}"
    );
    for (partition, key, _) in &records {
        let key: Key = serde_json::from_slice(key).unwrap();
        assert_eq!(*partition, partition_of(&key.file, 12), "{key:?}");
    }
    s.committed();
    let gone = partition_of("a.json", 12);
    let left = files.iter().filter(|f| partition_of(f, 12) == gone).count();
    assert_eq!(s.release(&[gone]), left);
    assert_eq!(s.committed_checkpoint().files.len(), files.len() - left);
    cp.files.retain(|_, p| partition_of(p.path.trim_start_matches("/mnt/a/in/"), 12) != gone);
    s.stage(&cp);
    assert!(s.take_records().is_empty(), "released files get no tombstones: they are another host's now");
}

fn fnv1a_of(text: &str) -> u64 {
    crate::record::file::fnv1a(text.as_bytes())
}

#[test]
fn committed_progress_finds_its_file_by_name_or_by_inode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.json");
    fs::write(&path, "{\"a\":1}\n{\"a\":2}\n").unwrap();
    let head = crate::zone::local::LocalFile::new(File::open(&path).unwrap()).unwrap().head().unwrap();
    let id = FileId::of(&fs::metadata(&path).unwrap());
    let s = store(dir.path());
    let key = |file: &str, head| Key { pipeline: "p1".into(), file: file.into(), head };
    let value = |offset, ino| Value { progress: progress("a.json", offset, Some(head)), dev: id.dev, ino };
    let found = s.resolve(vec![(key("a.json", Some(head)), value(8, 0))]);
    assert_eq!(found[&id].1.offset, 8, "by name");
    let found = s.resolve(vec![(key("old.json", Some(head)), value(16, id.ino))]);
    assert_eq!(found[&id].1.offset, 16, "by inode, renamed");
    let other = Head { len: head.len, fnv: head.fnv ^ 1 };
    assert!(s.resolve(vec![(key("a.json", Some(other)), value(8, id.ino))]).is_empty(), "another file's head");
}

/// A zone whose identities are contents (an object store's key and ETag):
/// one object, `a.json`, with the identity `now`.
#[derive(Debug)]
struct Objects {
    now: FileId,
}

impl Locate for Objects {
    fn identify(&self, path: &Path, _head: Option<Head>) -> Option<FileId> {
        path.ends_with("a.json").then_some(self.now)
    }

    fn files(&self) -> HashMap<FileId, PathBuf> {
        HashMap::from([(self.now, PathBuf::from("s3://b/in/a.json"))])
    }

    fn identity_is_content(&self) -> bool {
        true
    }
}

#[test]
fn committed_progress_of_an_object_applies_only_to_the_content_it_was_committed_with() {
    let kafka = KafkaConfig { topic: "t".into(), properties: vec![], connect_timeout: Duration::from_secs(60) };
    let now = FileId { dev: 7, ino: 42 };
    let s = KafkaStore::new(&kafka, "offsets", "p1", Path::new("s3://b/in"), Arc::new(Objects { now }));
    let key = Key { pipeline: "p1".into(), file: "a.json".into(), head: None };
    let value = |dev| Value { progress: progress("s3://b/in/a.json", 8, None), dev, ino: 42 };
    assert_eq!(s.resolve(vec![(key.clone(), value(7))])[&now].1.offset, 8, "the same key and ETag");
    assert!(s.resolve(vec![(key, value(6))]).is_empty(), "overwritten since: new work");
}
