//! Names that resolve. With a schema, a name not in it is refused at init
//! ([`suggest`] orders the schema's names, closest first). Without one, a
//! name no record has reads NULL, as a typo would in silence: a
//! [`NameCheck`] watches the records for the top-level names the
//! expressions read, and after the first batch that held records it logs
//! one warning for those none of them had, with the names the records did
//! have, closest first. With `strict_fields=true` the check is made on the
//! first record and a name it lacks stops the stream (`sluice.fail`, with
//! those words): the host drops the batch and exits, so nothing is
//! published under a misspelt name and a restart with the name fixed reads
//! the file again. The records still each fail with the words, which the
//! host ignores once the module has stopped the stream.

use std::cell::RefCell;

use sluice_guest_sdk::{Error, Level, Record, Result, fail, log};

/// Distinct member names kept for suggestions; a record wider than this
/// still has every name checked, only the suggestions come from the first.
const SEEN_LIMIT: usize = 512;
/// Suggestions offered in a warning without a schema.
const SUGGESTIONS: usize = 3;
/// Below this similarity (0 to 1) the closest name is no likely typo, and
/// the warning adds that a string needs quotes.
const LIKELY_TYPO: f64 = 0.5;

/// A top-level field an expression reads: the config key and the name.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    /// The config key (`where`, `key`, `header.store`).
    pub key: String,
    /// The name as written.
    pub name: String,
}

/// The check of the wanted names against the records (see the module docs).
#[derive(Debug, Default)]
pub struct NameCheck {
    strict: bool,
    case_sensitive: bool,
    state: RefCell<State>,
}

#[derive(Debug, Default)]
struct State {
    missing: Vec<Wanted>,
    seen: Vec<String>,
    records: u64,
    done: bool,
    refusal: Option<String>,
}

impl NameCheck {
    /// A check of `wanted` (duplicates dropped); `strict` refuses records.
    pub fn new(mut wanted: Vec<Wanted>, strict: bool, case_sensitive: bool) -> Self {
        let mut unique = Vec::new();
        wanted.retain(|w| {
            !unique.contains(w) && {
                unique.push(w.clone());
                true
            }
        });
        // Nothing to look for: nothing to note either.
        let state = State { done: wanted.is_empty(), missing: wanted, ..State::default() };
        NameCheck { strict, case_sensitive, state: RefCell::new(state) }
    }

    /// Notes the names `record` has; with `strict_fields`, the error for a
    /// wanted name the first record lacked.
    pub fn observe(&self, record: &Record<'_>) -> Result<()> {
        let mut state = self.state.borrow_mut();
        if state.done {
            return state.refusal.as_ref().map_or(Ok(()), |r| Err(Error::new(r)));
        }
        state.records += 1;
        for (name, _) in record.members() {
            let name = String::from_utf8_lossy(name);
            if state.seen.len() < SEEN_LIMIT && !state.seen.iter().any(|s| *s == name) {
                state.seen.push(name.into_owned());
            }
        }
        let fold = !self.case_sensitive;
        state.missing.retain(|w| record.members().all(|(n, _)| !same(n, &w.name, fold)));
        if !self.strict {
            return Ok(());
        }
        state.done = true;
        state.refusal = state.report().map(|r| format!("{r} (strict_fields=true refuses it)"));
        if let Some(refusal) = &state.refusal {
            fail(refusal);
            return Err(Error::new(refusal));
        }
        Ok(())
    }

    /// After a batch: the one warning, once records have been seen.
    pub fn end_batch(&self) {
        let mut state = self.state.borrow_mut();
        if state.done || state.records == 0 {
            return;
        }
        state.done = true;
        if let Some(report) = state.report() {
            log(Level::Warn, &report);
        }
        state.seen = Vec::new();
    }
}

impl State {
    /// The warning for the missing names, if any.
    fn report(&self) -> Option<String> {
        if self.missing.is_empty() {
            return None;
        }
        let records = match self.records {
            1 => "the first record".to_owned(),
            n => format!("any of the first {n} records"),
        };
        let each: Vec<String> = self.missing.iter().map(|w| self.one(w)).collect();
        Some(format!("[UNRESOLVED_COLUMN.WITH_SUGGESTION] {} (not in {records}; it reads NULL)", each.join("; ")))
    }

    fn one(&self, wanted: &Wanted) -> String {
        let name = &wanted.name;
        let closest = suggest(name, self.seen.iter().map(String::as_str));
        let list = closest.iter().take(SUGGESTIONS).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        let mut text = format!("`{}`: a field with name `{name}` cannot be resolved", wanted.key);
        if !list.is_empty() {
            text += &format!("; did you mean one of the following? [{list}]");
        }
        let likely = closest.first().is_some_and(|c| similarity(c, name) >= LIKELY_TYPO);
        if !likely {
            text += &format!("; if `{name}` is meant as text, quote it: '{name}'");
        }
        text
    }
}

/// `candidates` ordered closest to `name` first: a match but for case,
/// then by edit distance ignoring case (ties keep their order).
pub fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let lower = name.to_lowercase();
    let mut ranked: Vec<(bool, usize, &str)> = candidates
        .map(|c| {
            let c_lower = c.to_lowercase();
            (c_lower != lower, strsim::levenshtein(&lower, &c_lower), c)
        })
        .collect();
    ranked.sort_by_key(|&(differs, distance, _)| (differs, distance));
    ranked.into_iter().map(|(_, _, c)| c).collect()
}

/// How alike two names are, ignoring case: 1 the same, 0 nothing shared.
fn similarity(a: &str, b: &str) -> f64 {
    strsim::normalized_levenshtein(&a.to_lowercase(), &b.to_lowercase())
}

/// Whether a member's raw name is `name` (ignoring ASCII case with `fold`).
fn same(member: &[u8], name: &str, fold: bool) -> bool {
    match fold {
        true => member.eq_ignore_ascii_case(name.as_bytes()),
        false => member == name.as_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqlTransform;
    use sluice_guest_sdk::testing::{Harness, Outcome};

    const STORE: &str = r#"{"StoreID": "STR7188", "PosID": "POS1", "CashierID": "C1"}"#;

    fn warnings(config: &[(&str, &str)], batches: &[&[&str]]) -> Vec<(Level, String)> {
        let t = Harness::<SqlTransform>::new(config).unwrap();
        t.take_logs();
        for batch in batches {
            t.run_batch(batch);
        }
        t.take_logs()
    }

    #[test]
    fn a_name_no_record_has_warns_once_after_the_first_batch() {
        let logs = warnings(&[("key", "StoreId2")], &[&[STORE, STORE], &[STORE]]);
        let want = "[UNRESOLVED_COLUMN.WITH_SUGGESTION] `key`: a field with name `StoreId2` cannot be resolved; \
                    did you mean one of the following? [`StoreID`, `PosID`, `CashierID`] \
                    (not in any of the first 2 records; it reads NULL)";
        assert_eq!(logs, [(Level::Warn, want.to_owned())]);
        assert_eq!(warnings(&[("key", "storeid"), ("where", "PosID = 'POS1'")], &[&[STORE]]), []);
        assert_eq!(warnings(&[("key", "StoreId2")], &[&[]]), [], "no record, no verdict yet");
        let later = warnings(&[("key", "Late")], &[&[STORE, r#"{"Late": 1}"#]]);
        assert_eq!(later, [], "a name any record of the batch has resolves");
    }

    #[test]
    fn an_unquoted_string_is_told_to_take_quotes() {
        let logs = warnings(&[("where", "StoreID = STR7188")], &[&[STORE]]);
        let want = "[UNRESOLVED_COLUMN.WITH_SUGGESTION] `where`: a field with name `STR7188` cannot be resolved; \
                    did you mean one of the following? [`StoreID`, `PosID`, `CashierID`]; \
                    if `STR7188` is meant as text, quote it: 'STR7188' (not in the first record; it reads NULL)";
        assert_eq!(logs, [(Level::Warn, want.to_owned())]);
    }

    #[test]
    fn strict_fields_stops_the_stream_at_the_first_record() {
        let t = Harness::<SqlTransform>::new(&[("key", "StoreId2"), ("strict_fields", "true")]).unwrap();
        let outcomes = t.run_batch(&[STORE, r#"{"StoreId2": "late"}"#]);
        let want = "[UNRESOLVED_COLUMN.WITH_SUGGESTION] `key`: a field with name `StoreId2` cannot be resolved; \
                    did you mean one of the following? [`StoreID`, `PosID`, `CashierID`] \
                    (not in the first record; it reads NULL) (strict_fields=true refuses it)";
        assert_eq!(outcomes, [Outcome::Error(want.to_owned()), Outcome::Error(want.to_owned())]);
        assert_eq!(t.take_failure().as_deref(), Some(want), "the stream is stopped with the words");
        assert!(t.take_logs().is_empty(), "said once, by the host");
        assert_eq!(t.run(STORE), Outcome::Error(want.to_owned()));
        assert_eq!(t.take_failure(), None, "stopped once");
        let ok = Harness::<SqlTransform>::new(&[("key", "StoreID"), ("strict_fields", "true")]).unwrap();
        assert!(matches!(ok.run(STORE), Outcome::Emit(_)));
        assert_eq!(ok.take_failure(), None);
    }

    #[test]
    fn the_closest_name_comes_first() {
        let names = ["PosID", "StoreID", "CashierID", "storeid2"];
        assert_eq!(suggest("StoreId2", names.into_iter()), ["storeid2", "StoreID", "PosID", "CashierID"]);
        assert_eq!(suggest("StoreId2", names[..3].iter().copied()), ["StoreID", "PosID", "CashierID"]);
    }
}
