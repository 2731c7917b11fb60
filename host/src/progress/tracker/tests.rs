//! The tracker's unit tests.

use super::*;
use crate::progress::window::MAX_IN_FLIGHT;

fn batch(ino: u64, end_offset: u64) -> Batch {
    let mut b = Batch::new(FileId { dev: 1, ino }, "f".into());
    b.end_offset = end_offset;
    b.end_line = end_offset / 10;
    b
}

fn tracker() -> Tracker {
    Tracker::new(Checkpoint::default(), Arc::default())
}

fn offset(t: &Tracker, ino: u64) -> Option<u64> {
    t.snapshot().1.files.get(&FileId { dev: 1, ino }).map(|p| p.offset)
}

#[test]
fn progress_only_moves_over_acknowledged_prefixes() {
    let t = tracker();
    let a = t.begin(&batch(1, 100), 2, Tally::default());
    let b = t.begin(&batch(1, 200), 1, Tally::default());
    let c = t.begin(&batch(2, 50), 0, Tally::default());
    assert_eq!((a, b, c), (0, 1, 2));
    t.acked(b);
    t.acked(a);
    assert_eq!(offset(&t, 1), None, "batch 0 still has a message out");
    assert_eq!(t.in_flight(), 1);
    t.acked(a);
    assert_eq!(offset(&t, 1), Some(200));
    assert_eq!(offset(&t, 2), Some(50));
    assert_eq!(t.in_flight(), 0);
}

#[test]
fn a_record_of_several_messages_is_done_only_when_each_is() {
    let t = tracker();
    // Two records: the first became three messages, the second one
    // message and a dead letter for its unroutable other message.
    let a = t.begin(&batch(1, 100), 3 + 2, Tally::default());
    for _ in 0..4 {
        t.acked(a);
    }
    assert_eq!((offset(&t, 1), t.in_flight()), (None, 1), "one message is still out");
    t.acked(a);
    assert_eq!((offset(&t, 1), t.in_flight()), (Some(100), 0));
}

#[test]
fn empty_batches_complete_at_once_but_in_order() {
    let t = tracker();
    let a = t.begin(&batch(1, 10), 1, Tally::default());
    t.begin(&batch(2, 99), 0, Tally::default());
    assert_eq!(offset(&t, 2), None);
    t.acked(a);
    assert_eq!(offset(&t, 2), Some(99));
}

#[test]
fn abandoned_batches_stop_progress_but_are_not_awaited() {
    let t = tracker();
    let a = t.begin(&batch(1, 10), 3, Tally::default());
    let b = t.begin(&batch(1, 20), 1, Tally::default());
    t.acked(a);
    t.abandon(a, 2, None);
    t.acked(b);
    assert_eq!(t.in_flight(), 0);
    assert_eq!(offset(&t, 1), None);
}

#[test]
fn a_batch_cut_short_keeps_the_progress_of_what_was_sent() {
    let t = tracker();
    let a = t.begin(&batch(1, 100), 3, Tally::default());
    t.acked(a);
    t.abandon(a, 2, Some(RecordMeta { line: 5, offset: 40 }));
    let progress = t.snapshot().1.files[&FileId { dev: 1, ino: 1 }].clone();
    assert_eq!((progress.offset, progress.line), (40, 4));
}

#[test]
fn a_rewind_goes_back_to_the_commit_and_ignores_late_reports() {
    let t = tracker();
    let a = t.begin(&batch(1, 100), 1, Tally::default());
    t.acked(a);
    let committed = t.snapshot().1;
    let mut second = batch(1, 200);
    second.meta.push(RecordMeta { line: 11, offset: 100 });
    let b = t.begin(&second, 2, Tally::default());
    t.acked(b);
    assert_eq!(t.origin(b, 0), Some(("f".to_owned(), RecordMeta { line: 11, offset: 100 })));
    t.rewind(committed);
    assert_eq!((offset(&t, 1), t.in_flight(), t.is_open(b), t.origin(b, 0)), (Some(100), 0, false, None));
    t.acked(b);
    t.abandon(b, 1, None);
    let c = t.begin(&batch(1, 300), 1, Tally::default());
    assert_eq!(c, b + 1);
    t.acked(c);
    assert_eq!(offset(&t, 1), Some(300));
}

#[test]
fn applied_and_dropped_batches_leave_the_window() {
    let window = Arc::new(Window::default());
    let t = Tracker::new(Checkpoint::default(), window.clone());
    for i in 0..MAX_IN_FLIGHT as u64 {
        assert!(window.enter(|| false));
        t.begin(&batch(1, i), 1, Tally::default());
    }
    assert!(!window.enter(|| true), "the window is full");
    let (seen, _) = t.snapshot();
    t.acked(0);
    assert!(window.enter(|| true), "the applied batch left");
    assert!(t.wait_progress(seen, Duration::from_secs(5)).is_some());
    t.begin(&batch(1, 999), 1, Tally::default());
    t.rewind(Checkpoint::default());
    assert!(window.enter(|| true), "the rewind emptied it");
}

#[test]
fn a_finished_file_is_timed_once_all_of_it_is_acknowledged() {
    let histogram = Histogram::new([1.0]);
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("ack", "", histogram.clone());
    let count = || {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text.lines().find_map(|l| l.strip_prefix("ack_count ")).unwrap().to_owned()
    };
    let t = tracker().timing_files(histogram);
    let a = t.begin(&batch(1, 20), 1, Tally::default());
    t.finished(FileId { dev: 1, ino: 1 }, 20, Instant::now());
    assert_eq!(count(), "0", "its last batch is out");
    t.acked(a);
    assert_eq!(count(), "1");
}

#[test]
fn a_file_leaves_the_checkpoint_once_all_of_it_read_is_acknowledged() {
    let t = tracker();
    let a = t.begin(&batch(1, 20), 1, Tally::default());
    assert!(!t.forget(FileId { dev: 1, ino: 1 }, 20), "a batch is out");
    t.acked(a);
    let (before, _) = t.snapshot();
    assert!(!t.forget(FileId { dev: 1, ino: 1 }, 30), "read further than acknowledged");
    assert!(t.forget(FileId { dev: 1, ino: 1 }, 20));
    let (after, checkpoint) = t.snapshot();
    assert!(checkpoint.files.is_empty());
    assert_ne!(before, after, "the removal is saved");
}
