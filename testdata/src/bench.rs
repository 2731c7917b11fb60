//! The large bench input: invoices streamed to a writer until a limit.
//!
//! Records come from the same [`Generator`] as the fixtures, with their own
//! seed, and about one in 20 is from the target store. Each record is
//! rendered into one reused line buffer and handed straight to the writer, so
//! memory stays flat whatever the size; the caller supplies a buffered writer.

use std::io::{self, Write};

use crate::catalog::TARGET_STORE;
use crate::invoice::Generator;
use crate::json;

/// Seed of the bench input.
const BENCH_SEED: u64 = 0xBE4C_4001;

/// When to stop writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// After exactly this many records.
    Records(u64),
    /// After the first record that brings the output to at least this size.
    Bytes(u64),
}

/// What was written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Records (lines) written.
    pub records: u64,
    /// Bytes written, newlines included.
    pub bytes: u64,
    /// Records from the target store.
    pub target_records: u64,
}

impl Limit {
    fn reached(self, summary: &Summary) -> bool {
        match self {
            Limit::Records(n) => summary.records >= n,
            Limit::Bytes(n) => summary.bytes >= n,
        }
    }
}

/// Writes newline-terminated invoice lines to `out` until `limit`.
pub fn write(out: &mut impl Write, limit: Limit) -> io::Result<Summary> {
    let mut generator = Generator::new(BENCH_SEED);
    let mut line = Vec::with_capacity(4096);
    let mut summary = Summary::default();
    while !limit.reached(&summary) {
        let store = generator.bench_store();
        json::render(&generator.invoice(store), &mut line)?;
        line.push(b'\n');
        out.write_all(&line)?;
        summary.records += 1;
        summary.bytes += line.len() as u64;
        summary.target_records += u64::from(store == TARGET_STORE);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_limit_writes_exactly_that_many_lines() {
        let mut out = Vec::new();
        let summary = write(&mut out, Limit::Records(250)).unwrap();
        assert_eq!(summary.records, 250);
        assert_eq!(summary.bytes, out.len() as u64);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 250);
        assert!(out.ends_with(b"\n"));
    }

    #[test]
    fn bytes_limit_stops_at_the_first_record_reaching_it() {
        let mut out = Vec::new();
        let summary = write(&mut out, Limit::Bytes(100_000)).unwrap();
        assert!(summary.bytes >= 100_000);
        let text = std::str::from_utf8(&out).unwrap();
        let last_line = text.trim_end_matches('\n').rsplit('\n').next().unwrap();
        assert!(summary.bytes - (last_line.len() as u64 + 1) < 100_000);
    }

    #[test]
    fn target_count_matches_the_lines() {
        let mut out = Vec::new();
        let summary = write(&mut out, Limit::Records(5_000)).unwrap();
        let text = std::str::from_utf8(&out).unwrap();
        let target = text.lines().filter(|l| l.contains(r#""StoreID":"STR7188""#)).count();
        assert_eq!(summary.target_records, target as u64);
        assert!((150..=350).contains(&target), "{target} of 5000");
    }
}
