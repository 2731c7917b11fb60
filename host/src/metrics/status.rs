//! The status page's data: `/status.json`, and the rate history its chart
//! draws, sampled from the counters every few seconds. Texts that come from
//! outside (dead-letter reasons, readiness problems) are cut at
//! [`MAX_TEXT_BYTES`], so a hostile record cannot make the page heavy.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Metrics, Phase, PipelineMetrics, Reason, lock, now_ms};

/// How often the counters are sampled for the chart.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Samples kept: ten minutes of them.
const SAMPLES: usize = 120;
/// Longest reason or problem shown; the full text is in the dead letter.
pub const MAX_TEXT_BYTES: usize = 512;

/// Counter readings of one pipeline at one moment.
#[derive(Debug, Clone, Copy)]
struct Reading {
    published: u64,
    read: u64,
    dead_lettered: u64,
}

impl Reading {
    fn of(p: &PipelineMetrics) -> Self {
        let dead_lettered = Reason::ALL.iter().map(|r| p.dead_letters(*r)).sum();
        Reading { published: p.published.get(), read: p.records_read.get(), dead_lettered }
    }
}

/// The last minutes of readings, per pipeline (in registration order).
#[derive(Debug, Default)]
pub(super) struct History {
    samples: Mutex<VecDeque<Vec<Reading>>>,
}

/// Samples every pipeline's counters every [`SAMPLE_EVERY`], forever.
pub(super) async fn sample(metrics: Arc<Metrics>, history: Arc<History>) {
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    loop {
        every.tick().await;
        let readings = metrics.pipelines().iter().map(|p| Reading::of(p)).collect();
        let mut samples = lock(&history.samples);
        if samples.len() == SAMPLES {
            samples.pop_front();
        }
        samples.push_back(readings);
    }
}

/// Per-second rates between consecutive samples of pipeline `index`, oldest
/// first, the last from the newest sample to now.
fn rates(history: &History, index: usize, now: Reading) -> Vec<Value> {
    let samples = lock(&history.samples);
    let series: Vec<Reading> = samples.iter().filter_map(|s| s.get(index).copied()).collect();
    let per_s = |a: u64, b: u64| b.saturating_sub(a) as f64 / SAMPLE_EVERY.as_secs_f64();
    series
        .windows(2)
        .map(|w| (w[0], w[1]))
        .chain(series.last().map(|last| (*last, now)))
        .map(|(a, b)| {
            json!({
                "published": per_s(a.published, b.published),
                "read": per_s(a.read, b.read),
                "dead_lettered": per_s(a.dead_lettered, b.dead_lettered),
            })
        })
        .collect()
}

/// Everything the status page shows.
pub(super) fn status(metrics: &Metrics, history: &History) -> Value {
    let pipelines: Vec<Value> =
        metrics.pipelines().iter().enumerate().map(|(i, p)| pipeline(p, rates(history, i, Reading::of(p)))).collect();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at_ms": metrics.started_at_ms,
        "generated_at_ms": now_ms(),
        "pipelines": pipelines,
        "sample_seconds": SAMPLE_EVERY.as_secs(),
        "samples_kept": SAMPLES,
    })
}

fn pipeline(p: &PipelineMetrics, rates: Vec<Value>) -> Value {
    let problems: Vec<String> = p.health.problems().iter().map(|t| capped(t)).collect();
    let dead: serde_json::Map<String, Value> =
        Reason::ALL.iter().map(|r| (r.as_str().to_owned(), p.dead_letters(*r).into())).collect();
    let phase = match &*lock(&p.phase) {
        Phase::Stopped(why) => Phase::Stopped(capped(why)),
        Phase::Failed(why) => Phase::Failed(capped(why)),
        Phase::Running => Phase::Running,
    };
    let acked = p.last_ack_ms.load(std::sync::atomic::Ordering::Relaxed) > 0;
    let last_published_at_ms = acked.then(|| now_ms().saturating_sub(p.since_last_ack().as_millis() as u64));
    json!({
        "name": p.name,
        "topic": p.topic,
        "landing_zone": p.landing_zone.display().to_string(),
        "about": &*lock(&p.about),
        "phase": phase,
        "uptime_seconds": p.started.elapsed().as_secs(),
        "last_published_at_ms": last_published_at_ms,
        "ready": problems.is_empty(),
        "problems": problems,
        "counts": {
            "files_found": p.files_found.get(),
            "files_finished": p.files_finished.get(),
            "records_read": p.records_read.get(),
            "bytes_read": p.bytes_read.get(),
            "published": p.published.get(),
            "filtered": p.filtered.get(),
            "dead_lettered": dead,
        },
        "files_in_progress": p.files_in_progress.get(),
        "backlog_bytes": p.backlog_bytes.get(),
        "records_in_flight": p.in_flight.get(),
        "seconds_since_last_ack": p.since_last_ack().as_secs_f64(),
        "rates": rates,
        "files": &*lock(&p.files),
        "owned_partitions": p.owned(),
        "dead_letters": dead_letters(p),
    })
}

/// The recent dead letters, their reasons cut to [`MAX_TEXT_BYTES`].
fn dead_letters(p: &PipelineMetrics) -> Vec<Value> {
    let recent = lock(&p.dead);
    recent
        .iter()
        .map(|d| json!({ "reason": d.reason, "detail": capped(&d.detail), "file": d.file, "line": d.line, "at_ms": d.at_ms }))
        .collect()
}

/// `text`, or its first [`MAX_TEXT_BYTES`] (at a character boundary) and `…`.
fn capped(text: &str) -> String {
    if text.len() <= MAX_TEXT_BYTES {
        return text.to_owned();
    }
    let end = (0..=MAX_TEXT_BYTES).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        assert_eq!(capped("short"), "short");
        let long = "é".repeat(MAX_TEXT_BYTES);
        let cut = capped(&long);
        assert!(cut.ends_with('…') && cut.len() <= MAX_TEXT_BYTES + '…'.len_utf8(), "{}", cut.len());
        assert!(long.starts_with(cut.trim_end_matches('…')));
    }
}
