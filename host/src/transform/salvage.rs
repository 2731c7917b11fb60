//! What becomes of a batch the module failed as a whole (a trap, a panic,
//! the time limit, the memory cap, a malformed result): the instance is
//! replaced and the batch run again around the record that failed, so only
//! that record fails, and a record that loops costs one time limit, not two.
//!
//! A module that exports `sluice_current_record` (the Rust SDK's do) says
//! which record it was working on when the call failed: that record is
//! dead-lettered with the failure's reason without being run again, the
//! records before it run again as one batch, and so do those after it. A
//! module that does not (or names no record of the batch) is run again
//! record by record, as before; a failed batch of one record is that
//! record's failure either way.
//!
//! Failures in a row are counted as the pump counts them (an error outcome
//! is a failure, any other outcome ends the run), starting from the run
//! the batch continues ([`Tolerance::before`]); once they reach
//! [`Tolerance::max`] the rest of the batch is not run at all. So a module
//! that loops on every record stalls the stream for at most
//! `--max-consecutive-errors` × `--transform-timeout-ms` before the pump
//! stops it, and for a module without `sluice_current_record` at most twice
//! that (each batch the run spans costs one more call).

use std::collections::BTreeMap;
use std::ops::Range;

use sluice_guest_sdk::abi::{self, Outcome};

use super::{CallFailure, TransformError, Transformer};
use crate::record::Batch;
use crate::shutdown::Shutdown;

/// How many failures in a row the transform may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tolerance {
    /// Failures in a row after which the rest is not run
    /// (`--max-consecutive-errors`).
    pub max: u64,
    /// Failures in a row just before this batch.
    pub before: u64,
}

impl Tolerance {
    /// `max` failures in a row, none before.
    pub fn new(max: u64) -> Self {
        Tolerance { max, before: 0 }
    }
}

/// Where the salvage of one batch stands.
#[derive(Debug)]
struct Salvage {
    /// Records that failed, by index, with the reason: dead-lettered when
    /// reached, never run again.
    blamed: BTreeMap<usize, String>,
    /// The module cannot say which record failed: run one record at a time.
    one_by_one: bool,
    /// Failures in a row so far.
    failures: u64,
}

impl Salvage {
    /// The records `range` failed as a batch with `failure`; `at`, if the
    /// module named it, is the index in `range` of the record that failed.
    fn failed(&mut self, range: Range<usize>, at: Option<usize>, failure: CallFailure) {
        let reason = format!("transform {}", failure.0);
        match at.or((range.len() == 1).then_some(0)) {
            Some(i) => {
                self.blamed.insert(range.start + i, reason);
            }
            None => self.one_by_one = true,
        }
    }

    /// The records to run next, from `start`: up to the next blamed record.
    fn range_from(&self, start: usize, len: usize) -> Range<usize> {
        let end = match self.one_by_one {
            true => start + 1,
            false => self.blamed.range(start..).next().map_or(len, |(&i, _)| i),
        };
        start..end
    }

    /// Counts the failures in `outcomes`, `count` checked outcomes.
    fn succeeded(&mut self, outcomes: &[u8], count: usize) {
        let outcomes = abi::decode_outcomes(outcomes, count).expect("outcomes were checked when copied out");
        for outcome in outcomes {
            self.failures = if matches!(outcome, Outcome::Error(_)) { self.failures + 1 } else { 0 };
        }
    }
}

impl Transformer {
    /// Appends one outcome per record of `batch` to `self.out`, after the
    /// whole batch failed with `failure` (`at`: the record the module named).
    pub(super) fn salvage(
        &mut self,
        batch: &Batch,
        (at, failure): (Option<usize>, CallFailure),
        tolerance: Tolerance,
        shutdown: &Shutdown,
    ) -> Result<(), TransformError> {
        let records: Vec<&[u8]> = abi::records(&batch.records, batch.len()).collect();
        let mut salvage = Salvage { blamed: BTreeMap::new(), one_by_one: false, failures: tolerance.before };
        salvage.failed(0..records.len(), at, failure);
        let (mut start, mut input) = (0, Vec::new());
        while start < records.len() {
            if shutdown.is_triggered() {
                return Err(TransformError::Stopped);
            }
            if let Some(reason) = salvage.blamed.remove(&start) {
                abi::encode_error(&mut self.out, &reason);
                (salvage.failures, start) = (salvage.failures + 1, start + 1);
                continue;
            }
            if salvage.failures >= tolerance.max {
                let reason = format!("transform not run: it failed the {} records before this one", salvage.failures);
                for i in start..records.len() {
                    abi::encode_error(&mut self.out, salvage.blamed.get(&i).unwrap_or(&reason));
                }
                break;
            }
            let range = salvage.range_from(start, records.len());
            input.clear();
            records[range.clone()].iter().for_each(|record| abi::put_bytes(&mut input, record));
            let mark = self.out.len();
            let result = self.instance.process_into(&input, range.len(), &mut self.out);
            self.instance.check_stopped()?;
            match result {
                Ok(()) => {
                    salvage.succeeded(&self.out[mark..], range.len());
                    start = range.end;
                }
                Err(failure) => {
                    self.out.truncate(mark);
                    let at = self.instance.failed_record(range.len());
                    self.instance = self.runtime.instance()?;
                    salvage.failed(range, at, failure);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn salvage() -> Salvage {
        Salvage { blamed: BTreeMap::new(), one_by_one: false, failures: 0 }
    }

    fn timeout() -> CallFailure {
        CallFailure("exceeded the time limit of 5 ms".into())
    }

    #[test]
    fn the_named_record_is_blamed_once_and_the_others_run_around_it() {
        let mut s = salvage();
        s.failed(0..10, Some(4), timeout());
        assert_eq!(s.blamed.get(&4).map(String::as_str), Some("transform exceeded the time limit of 5 ms"));
        assert_eq!((s.range_from(0, 10), s.range_from(5, 10)), (0..4, 5..10));
        s.failed(0..4, Some(2), timeout());
        assert_eq!((s.range_from(0, 10), s.range_from(3, 10)), (0..2, 3..4), "up to the next blamed record");
        assert!(!s.one_by_one);
    }

    #[test]
    fn an_unnamed_failure_runs_record_by_record_but_one_record_is_its_own_failure() {
        let mut s = salvage();
        s.failed(3..4, None, timeout());
        assert!(s.blamed.contains_key(&3) && !s.one_by_one, "a batch of one is not run again");
        s.failed(0..10, None, timeout());
        assert!(s.one_by_one, "the module did not name the record");
        assert_eq!(s.range_from(5, 10), 5..6);
    }

    #[test]
    fn failures_in_a_row_are_counted_as_the_pump_counts_them() {
        let mut out = Vec::new();
        abi::encode_error(&mut out, "x");
        abi::encode_drop(&mut out);
        abi::encode_error(&mut out, "y");
        abi::encode_error(&mut out, "z");
        let mut s = Salvage { failures: 3, ..salvage() };
        s.succeeded(&out, 4);
        assert_eq!(s.failures, 2, "the drop ended the run; the last two errors began another");
        s.succeeded(&out[..6], 1);
        assert_eq!(s.failures, 3);
    }
}
