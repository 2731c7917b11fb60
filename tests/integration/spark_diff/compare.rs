//! Compares Spark's answer with sql.wasm's outcomes for one case: the
//! records kept, in order, with their exact key and value bytes.

use super::corpus::Case;
use super::sluice::{Record, Run};
use super::spark::Answer;

/// How the two sides differ, in words for the report.
#[derive(Debug)]
pub struct Difference {
    /// What Spark did.
    pub spark: String,
    /// What sql.wasm did.
    pub sluice: String,
    /// sql.wasm refused a configuration Spark accepted (usually a missing
    /// feature).
    pub refused: bool,
}

/// `Ok` when both sides agree on every record.
pub fn compare(case: &Case, answer: &Answer, run: &Run, lines: &[String]) -> Result<(), Difference> {
    match (answer, run) {
        (Answer::Rejected { .. }, Run::Refused(_)) => Ok(()),
        (Answer::Rejected { error }, Run::Records(records)) => {
            Err(differ(format!("rejects the query: {error}"), summary(records), false))
        }
        (Answer::Ok { rows, .. }, Run::Refused(e)) => {
            Err(differ(format!("runs it, keeps {} records", rows.len()), format!("refused at start-up: {e}"), true))
        }
        (Answer::Ok { rows, key_type, value_type }, Run::Records(records)) => same_messages(case, rows, records, lines)
            .map_err(|d| Difference { spark: format!("{} [key {key_type}, value {value_type}]", d.spark), ..d }),
        (Answer::Failed { error, records: Some(each) }, run) => same_records(case, error, each, run, lines),
        (Answer::Failed { .. }, Run::Refused(_)) => Ok(()),
        (Answer::Failed { error, records: None }, Run::Records(records)) => {
            if records.iter().any(|r| matches!(r, Record::Error(_))) {
                Ok(())
            } else {
                Err(differ(format!("fails the query: {error}"), summary(records), false))
            }
        }
    }
}

fn differ(spark: String, sluice: String, refused: bool) -> Difference {
    Difference { spark, sluice, refused }
}

/// Spark ran the query: sql.wasm must keep the same records with the same
/// keys and values, and fail none (DROPMALFORMED: failures are Spark's drops).
fn same_messages(
    case: &Case,
    rows: &[[Option<String>; 2]],
    records: &[Record],
    lines: &[String],
) -> Result<(), Difference> {
    let tolerate_errors = case.mode.as_deref().is_some_and(|m| m.eq_ignore_ascii_case("DROPMALFORMED"));
    let mut kept = Vec::new();
    for (i, record) in records.iter().enumerate() {
        match record {
            Record::Emit(key, value) => {
                if case.passes_record_through() && value.as_deref() != Some(lines[i].as_bytes()) {
                    let spark = "(no schema, no value) the record itself as the value".to_owned();
                    let sluice = format!("record {}: value {}", i + 1, show(value.as_deref()));
                    return Err(differ(spark, sluice, false));
                }
                kept.push((i, key, value));
            }
            Record::Error(e) if !tolerate_errors => {
                let spark = format!("runs it, keeps {} records", rows.len());
                return Err(differ(spark, format!("record {} fails: {e}", i + 1), false));
            }
            Record::Error(_) | Record::Drop => {}
        }
    }
    for (n, row) in rows.iter().enumerate() {
        let Some(&(i, key, value)) = kept.get(n) else {
            let spark = format!("keeps {} records; its message {}: {}", rows.len(), n + 1, show_row(row));
            return Err(differ(spark, format!("keeps {} records", kept.len()), false));
        };
        let key_same = hex(&row[0]) == *key;
        let value_same = case.passes_record_through() || hex(&row[1]) == *value;
        if !key_same || !value_same {
            let (theirs, ours, what) = match key_same {
                false => (hex(&row[0]), key.clone(), "key"),
                true => (hex(&row[1]), value.clone(), "value"),
            };
            let spark = format!("message {}: {}; {what} {}", n + 1, show_row(row), near_difference(&theirs, &ours));
            let sluice = format!(
                "message {} (record {}): key {}, value {}; {what} {}",
                n + 1,
                i + 1,
                show(key.as_deref()),
                show(value.as_deref()),
                near_difference(&ours, &theirs)
            );
            return Err(differ(spark, sluice, false));
        }
    }
    if kept.len() > rows.len() {
        let (i, key, value) = &kept[rows.len()];
        let sluice = format!(
            "keeps {} records; message {} (record {}): key {}, value {}",
            kept.len(),
            rows.len() + 1,
            i + 1,
            show(key.as_deref()),
            show(value.as_deref())
        );
        return Err(differ(format!("keeps {} records", rows.len()), sluice, false));
    }
    Ok(())
}

/// Spark failed the query, and ran each record alone: sql.wasm must fail
/// the same records and agree on the others. Refusing at start-up is the
/// same answer when Spark fails every record.
fn same_records(
    case: &Case,
    error: &str,
    each: &[Vec<Option<String>>],
    run: &Run,
    lines: &[String],
) -> Result<(), Difference> {
    let spark: Vec<Record> = each.iter().map(|r| spark_record(r)).collect();
    let records = match run {
        Run::Refused(_) if spark.iter().all(|r| matches!(r, Record::Error(_))) => return Ok(()),
        Run::Refused(e) => {
            let spark = format!("fails the query ({error}); alone, {}", summary(&spark));
            return Err(differ(spark, format!("refused at start-up: {e}"), true));
        }
        Run::Records(records) => records,
    };
    for (i, (s, w)) in spark.iter().zip(records).enumerate() {
        let same = match (s, w) {
            (Record::Error(_), Record::Error(_)) | (Record::Drop, Record::Drop) => true,
            (Record::Emit(k1, _), Record::Emit(k2, v2)) if case.passes_record_through() => {
                k1 == k2 && v2.as_deref() == Some(lines[i].as_bytes())
            }
            (s, w) => s == w,
        };
        if !same {
            let spark = format!("fails the query ({error}); record {} alone: {}", i + 1, show_record(s));
            return Err(differ(spark, format!("record {}: {}", i + 1, show_record(w)), false));
        }
    }
    Ok(())
}

fn spark_record(r: &[Option<String>]) -> Record {
    match r.first().and_then(|s| s.as_deref()) {
        Some("emit") => Record::Emit(hex(&r[1]), hex(&r[2])),
        Some("drop") => Record::Drop,
        _ => Record::Error(r.get(1).cloned().flatten().unwrap_or_default()),
    }
}

fn hex(text: &Option<String>) -> Option<Vec<u8>> {
    text.as_ref().map(|t| ::hex::decode(t).expect("spark_eval.py writes hex"))
}

/// How many records were kept, dropped and failed, with the first failure.
fn summary(records: &[Record]) -> String {
    let kept = records.iter().filter(|r| matches!(r, Record::Emit(..))).count();
    let dropped = records.iter().filter(|r| matches!(r, Record::Drop)).count();
    let mut text = format!("keeps {kept}, drops {dropped}");
    if let Some((i, Record::Error(e))) = records.iter().enumerate().find(|(_, r)| matches!(r, Record::Error(_))) {
        let failed = records.len() - kept - dropped;
        text.push_str(&format!(", fails {failed} (record {}: {e})", i + 1));
    }
    text
}

fn show_record(record: &Record) -> String {
    match record {
        Record::Emit(key, value) => format!("key {}, value {}", show(key.as_deref()), show(value.as_deref())),
        Record::Drop => "dropped".into(),
        Record::Error(e) => format!("fails: {e}"),
    }
}

fn show_row(row: &[Option<String>; 2]) -> String {
    format!("key {}, value {}", show(hex(&row[0]).as_deref()), show(hex(&row[1]).as_deref()))
}

/// Where `bytes` first differs from `other`: the byte offset and the text
/// from a little before it, so a long value's difference shows.
fn near_difference(bytes: &Option<Vec<u8>>, other: &Option<Vec<u8>>) -> String {
    const BEFORE: usize = 20;
    let (Some(a), Some(b)) = (bytes, other) else { return format!("is {}", show(bytes.as_deref())) };
    let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    format!("from byte {at}: {}", show(Some(&a[at.saturating_sub(BEFORE)..])))
}

/// Bytes as a quoted, escaped, shortened string; `NULL` for none.
pub fn show(bytes: Option<&[u8]>) -> String {
    const MAX: usize = 300;
    let Some(bytes) = bytes else { return "NULL".into() };
    let text = String::from_utf8_lossy(bytes);
    let quoted = format!("{text:?}");
    match quoted.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &quoted[..at]),
        None => quoted,
    }
}
