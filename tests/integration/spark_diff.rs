//! The differential suite against real Spark: every case of
//! `tests/spark/corpus.toml` runs through pyspark (local[1], ANSI mode, the
//! job Sluice replaces) and through the real `sql.wasm` in the host's
//! wasmtime, on the same fixture records, and the kept records, keys and
//! values must be identical, byte for byte. Spark's answers are produced
//! here, never committed. A case with `exception` (a documented difference)
//! or `pending` (a feature sql.wasm lacks) must differ; one that no longer
//! does fails the suite until its note is removed. The report of every
//! difference is written to `target/spark-diff/MISMATCHES.md`.
//!
//! Alone: `cargo test --release -p sluice-tests --test integration spark_diff`.

mod compare;
mod corpus;
mod sluice;
mod spark;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sluice_tests::{TestDirs, transform, workspace_root};

use compare::Difference;
use corpus::{Case, Corpus};

/// The fewest cases the corpus may have (issue 6).
const MIN_CASES: usize = 150;

/// One case's result against its expectation.
enum Verdict {
    /// Same answer, as expected.
    Pass,
    /// Differs, as its note says.
    Expected(Difference),
    /// Differs with no note: a failure.
    Unexpected(Difference),
    /// Has a note but no longer differs: a failure.
    Stale,
}

#[test]
fn sql_wasm_agrees_with_spark() {
    let corpus_path = workspace_root().join("tests/spark/corpus.toml");
    let corpus = Corpus::load(&corpus_path);
    let dirs = TestDirs::new();
    let fixtures = write_fixtures(dirs.root());
    let spark = spark::start(&corpus_path, &fixtures, dirs.root());
    let module = transform("sql");
    let module_cache = dirs.root().join("module-cache");
    let runs: Vec<_> = corpus
        .case
        .iter()
        .map(|case| sluice::run(&module, &module_cache, case.config(&corpus), &fixture_lines(&fixtures, &case.fixture)))
        .collect();
    let answers = spark.answers();
    let mut verdicts = Vec::new();
    for (case, run) in corpus.case.iter().zip(&runs) {
        let lines = fixture_lines(&fixtures, &case.fixture);
        let answer = answers.get(&case.id).unwrap_or_else(|| panic!("spark gave no answer for {}", case.id));
        let verdict = match (compare::compare(case, answer, run, &lines), case.expected_difference()) {
            (Ok(()), None) => Verdict::Pass,
            (Ok(()), Some(_)) => Verdict::Stale,
            (Err(d), Some(_)) => Verdict::Expected(d),
            (Err(d), None) => Verdict::Unexpected(d),
        };
        verdicts.push((case, verdict));
    }
    let report = report(&corpus, &verdicts);
    let out = workspace_root().join("target/spark-diff");
    std::fs::create_dir_all(&out).expect("create target/spark-diff");
    std::fs::write(out.join("MISMATCHES.md"), &report).expect("write the report");
    let failing = verdicts.iter().filter(|(_, v)| matches!(v, Verdict::Unexpected(_) | Verdict::Stale)).count();
    assert!(corpus.case.len() >= MIN_CASES, "the corpus has {} cases, fewer than {MIN_CASES}", corpus.case.len());
    assert_eq!(
        failing, 0,
        "{failing} cases disagree with their expectation; see target/spark-diff/MISMATCHES.md\n{report}"
    );
}

/// Writes each fixture as one file in a fresh directory: `invoices.json` is
/// the three invoice files in order (Spark reads one file in order; a
/// directory's files it reads largest first).
fn write_fixtures(root: &Path) -> PathBuf {
    let dir = root.join("fixtures");
    std::fs::create_dir_all(&dir).expect("create the fixtures dir");
    let mut invoices = String::new();
    for n in 1..=3 {
        invoices.push_str(&std::fs::read_to_string(sluice_tests::invoice_file(n)).expect("read invoices"));
        if !invoices.ends_with('\n') {
            invoices.push('\n');
        }
    }
    std::fs::write(dir.join("invoices.json"), invoices).expect("write invoices.json");
    let ours = workspace_root().join("tests/spark/fixtures");
    for entry in std::fs::read_dir(&ours).expect("read tests/spark/fixtures").flatten() {
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy a fixture");
    }
    dir
}

/// The records of a fixture: its non-blank lines.
fn fixture_lines(fixtures: &Path, name: &str) -> Vec<String> {
    let path = fixtures.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read fixture {}: {e}", path.display()));
    text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

/// Picks the cases one section of the report lists.
type Selects = fn(&Case, &Verdict) -> bool;

/// The markdown report: counts, then every difference by kind.
fn report(corpus: &Corpus, verdicts: &[(&Case, Verdict)]) -> String {
    let count = |f: fn(&Verdict) -> bool| verdicts.iter().filter(|(_, v)| f(v)).count();
    let passes = count(|v| matches!(v, Verdict::Pass));
    let pending = verdicts.iter().filter(|(c, v)| matches!(v, Verdict::Expected(_)) && c.pending.is_some()).count();
    let exceptions = count(|v| matches!(v, Verdict::Expected(_))) - pending;
    let unexpected = count(|v| matches!(v, Verdict::Unexpected(_)));
    let stale = count(|v| matches!(v, Verdict::Stale));
    let mut out = String::from("# sql.wasm against Spark: differences\n\n");
    out.push_str("Written by `tests/integration/spark_diff.rs` (`cargo test --release -p sluice-tests --test integration spark_diff`).\n\n");
    let _ = writeln!(
        out,
        "{} cases: {passes} same, {exceptions} documented exceptions, {pending} pending features, {unexpected} unexpected differences, {stale} notes that no longer hold.\n",
        verdicts.len()
    );
    let sections: [(&str, Selects); 4] = [
        ("Unexpected differences (failing)", |_, v| matches!(v, Verdict::Unexpected(_))),
        ("Notes that no longer hold (failing: remove the note)", |_, v| matches!(v, Verdict::Stale)),
        ("Pending: sql.wasm lacks the feature", |c, v| matches!(v, Verdict::Expected(_)) && c.pending.is_some()),
        ("Documented exceptions", |c, v| matches!(v, Verdict::Expected(_)) && c.exception.is_some()),
    ];
    for (title, selected) in sections {
        let _ = writeln!(out, "## {title}\n");
        for (case, verdict) in verdicts.iter().filter(|(c, v)| selected(c, v)) {
            entry(&mut out, corpus, case, verdict);
        }
    }
    out
}

fn entry(out: &mut String, corpus: &Corpus, case: &Case, verdict: &Verdict) {
    let _ = writeln!(out, "### `{}` ({})\n", case.id, case.fixture);
    for (key, value) in case.config(corpus) {
        let _ = writeln!(out, "- `{key}`: `{value}`");
    }
    if let Some(note) = case.expected_difference() {
        let _ = writeln!(out, "- note: {note}");
    }
    if let Verdict::Expected(d) | Verdict::Unexpected(d) = verdict {
        let refused = if d.refused { " (refused a configuration Spark runs)" } else { "" };
        let _ = writeln!(out, "- Spark: {}\n- sql.wasm{refused}: {}", d.spark, d.sluice);
    }
    out.push('\n');
}
