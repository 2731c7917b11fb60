//! The progress bar a person at a terminal sees while a backlog is read
//! (many files, or a large one, waiting at start or arriving at once):
//! bytes and files done of those found, the rate and the time left.
//!
//! It is drawn only when stderr is a terminal, so never on a pipe, in a
//! log file or under a service manager (indicatif's stderr target checks
//! again). It reads the pipeline's [`PipelineMetrics`] a few times a second
//! and touches no stage. Log lines go through [`log_writer`], which prints
//! them above the bars ([`MultiProgress::suspend`]) so a line never tears
//! one; one [`MultiProgress`] serves every pipeline of the process.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::metrics::PipelineMetrics;

/// How often the bar reads the metrics: the source reports its backlog every
/// half second, so faster would show nothing new.
const TICK: Duration = Duration::from_millis(200);
/// Files waiting that make a backlog worth a bar.
const BACKLOG_FILES: u64 = 8;
/// Unread bytes that make a backlog worth a bar.
const BACKLOG_BYTES: u64 = 64 << 20;
/// The bar's layout; `{msg}` is "done/found".
const TEMPLATE: &str =
    "{prefix} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} files, ETA {eta}";

/// Every bar of the process, and what log lines are printed around.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

fn bars() -> &'static MultiProgress {
    BARS.get_or_init(MultiProgress::new)
}

/// The writer for `tracing`'s log lines: stderr, above any bar.
pub fn log_writer() -> LogLine {
    LogLine
}

/// One log line's way to stderr; see [`log_writer`].
#[derive(Debug)]
pub struct LogLine;

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match BARS.get() {
            Some(bars) => bars.suspend(|| io::stderr().write_all(buf)).map(|()| buf.len()),
            None => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// A pipeline's bar, shown while it has a backlog; dropping it removes it.
#[derive(Debug)]
pub struct Bar {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Bar {
    /// Follows `metrics` with a bar, if stderr is a terminal.
    pub fn start(metrics: Arc<PipelineMetrics>) -> Option<Bar> {
        if !io::stderr().is_terminal() {
            return None;
        }
        bars();
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let follow = move || {
            let mut shown = None;
            while stopped.recv_timeout(TICK) == Err(RecvTimeoutError::Timeout) {
                shown = step(shown, Reading::of(&metrics), &metrics.name);
            }
            if let Some(shown) = shown {
                shown.clear();
            }
        };
        let thread = thread::Builder::new().name("progress-bar".into()).spawn(follow).ok()?;
        Some(Bar { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the metrics say now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reading {
    bytes_read: u64,
    unread: u64,
    files_finished: u64,
    files_waiting: u64,
}

impl Reading {
    fn of(metrics: &PipelineMetrics) -> Reading {
        Reading {
            bytes_read: metrics.bytes_read.get(),
            unread: metrics.backlog_bytes.get().max(0) as u64,
            files_finished: metrics.files_finished.get(),
            files_waiting: metrics.files_in_progress.get().max(0) as u64,
        }
    }

    fn is_backlog(&self) -> bool {
        self.files_waiting >= BACKLOG_FILES || self.unread >= BACKLOG_BYTES
    }

    fn is_idle(&self) -> bool {
        self.files_waiting == 0 && self.unread == 0
    }
}

/// A bar on screen, counting from `base`, the reading it appeared at.
struct Shown {
    bar: ProgressBar,
    base: Reading,
}

impl Shown {
    fn new(base: Reading, name: &str) -> Shown {
        let style = ProgressStyle::with_template(TEMPLATE).expect("the template parses");
        let bar = bars().add(ProgressBar::new(base.unread).with_style(style).with_prefix(name.to_owned()));
        Shown { bar, base }
    }

    fn update(&self, now: Reading) {
        let bytes_done = now.bytes_read.saturating_sub(self.base.bytes_read);
        let files_done = now.files_finished.saturating_sub(self.base.files_finished);
        self.bar.set_length(bytes_done + now.unread);
        self.bar.set_position(bytes_done);
        self.bar.set_message(format!("{files_done}/{}", files_done + now.files_waiting));
    }

    fn clear(self) {
        self.bar.finish_and_clear();
        bars().remove(&self.bar);
    }
}

/// The bar after `now`: it appears with a backlog and goes once all is read.
fn step(shown: Option<Shown>, now: Reading, name: &str) -> Option<Shown> {
    let shown = match shown {
        None if now.is_backlog() => Shown::new(now, name),
        None => return None,
        Some(shown) if now.is_idle() => {
            shown.clear();
            return None;
        }
        Some(shown) => shown,
    };
    shown.update(now);
    Some(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(bytes_read: u64, unread: u64, files_finished: u64, files_waiting: u64) -> Reading {
        Reading { bytes_read, unread, files_finished, files_waiting }
    }

    #[test]
    fn a_bar_appears_with_a_backlog_counts_from_there_and_goes_when_idle() {
        assert!(step(None, reading(0, 100, 0, 2), "p").is_none(), "two small files are no backlog");
        let shown = step(None, reading(50, 1000, 3, 10), "p").expect("ten files are");
        let shown = step(Some(shown), reading(550, 500, 8, 5), "p").unwrap();
        assert_eq!((shown.bar.position(), shown.bar.length()), (500, Some(1000)));
        assert_eq!(shown.bar.message(), "5/10");
        assert!(step(Some(shown), reading(1050, 0, 13, 0), "p").is_none());
        assert!(step(None, reading(0, BACKLOG_BYTES, 0, 1), "p").is_some(), "so is one large file");
    }
}
