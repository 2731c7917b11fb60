//! `--expect` and `--write-expect`: a file of expected outcomes, one JSON
//! line per record in the format `sluice test` prints ([`Entry`]), read
//! back and compared field by field, or written from a run.

use std::path::Path;

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::Entry;

/// Writes `entries` to `path` as the JSON lines [`read`] takes back.
pub fn write(path: &Path, entries: &[Entry]) -> anyhow::Result<()> {
    let mut text = Vec::new();
    for entry in entries {
        serde_json::to_writer(&mut text, entry).expect("entries serialize");
        text.push(b'\n');
    }
    std::fs::write(path, text).with_context(|| format!("cannot write --write-expect {}", path.display()))
}

/// The expected outcomes in `path`, each a JSON object.
pub fn read(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read --expect {}", path.display()))?;
    let mut expected = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let value: Value =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not a JSON line", path.display(), n + 1))?;
        if !value.is_object() {
            bail!("{}:{}: expected a JSON object such as {{\"line\":1,\"outcome\":\"drop\"}}", path.display(), n + 1);
        }
        expected.push(value);
    }
    Ok(expected)
}

/// The mismatches between `expected` and `actual`, taken in order, each as
/// a readable diff.
pub fn compare(expected: &[Value], actual: &[Entry]) -> Vec<String> {
    let mut mismatches = Vec::new();
    for (n, want) in expected.iter().enumerate() {
        let Some(got) = actual.get(n) else {
            let line = want.get("line").map_or_else(|| format!("entry {}", n + 1), |l| format!("line {l}"));
            mismatches.push(format!("{line}: expected {want}, but the input has only {} records\n", actual.len()));
            continue;
        };
        let got = serde_json::to_value(got).expect("entries serialize");
        if !matches(want, &got) {
            mismatches.push(diff(got["line"].as_u64().unwrap_or_default(), want, &project(&got, want)));
        }
    }
    for extra in actual.iter().skip(expected.len()) {
        let got = serde_json::to_string(extra).expect("entries serialize");
        mismatches.push(format!("line {}: not in the expect file: {got}\n", extra.line));
    }
    mismatches
}

/// Whether `got` has every field of `want` with the same value; objects
/// are compared field by field this way, arrays element by element.
fn matches(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(want), Value::Object(got)) => {
            want.iter().all(|(k, w)| got.get(k).is_some_and(|g| matches(w, g)))
        }
        (Value::Array(want), Value::Array(got)) => {
            want.len() == got.len() && want.iter().zip(got).all(|(w, g)| matches(w, g))
        }
        _ => want == got,
    }
}

/// `got` cut down to the fields `want` names, so a diff shows only what
/// was compared.
fn project(got: &Value, want: &Value) -> Value {
    match (got, want) {
        (Value::Object(got), Value::Object(want)) => {
            Value::Object(want.iter().filter_map(|(k, w)| got.get(k).map(|g| (k.clone(), project(g, w)))).collect())
        }
        (Value::Array(got), Value::Array(want)) => Value::Array(
            got.iter().enumerate().map(|(i, g)| want.get(i).map_or_else(|| g.clone(), |w| project(g, w))).collect(),
        ),
        _ => got.clone(),
    }
}

fn diff(line: u64, want: &Value, got: &Value) -> String {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("values serialize") + "\n";
    let (want, got) = (pretty(want), pretty(got));
    let mut out = format!("line {line}: the outcome differs (- expected, + actual)\n");
    for change in similar::TextDiff::from_lines(&want, &got).iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        out.push_str(&format!("{sign} {change}"));
    }
    out
}
