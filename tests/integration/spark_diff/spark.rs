//! The Spark side: one pyspark process (`tests/spark/spark_eval.py`)
//! evaluates the whole corpus and writes one JSON line per case.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Deserialize;
use sluice_tests::{Process, poll_until, tool_path, workspace_root};

/// How long one pyspark run of the whole corpus may take.
const SPARK_DEADLINE: Duration = Duration::from_secs(300);

/// Spark's answer for one case.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Answer {
    /// The query ran: the kept records' key and value, hex-encoded, in order.
    Ok {
        /// `[key, value]`, `None` for null.
        rows: Vec<[Option<String>; 2]>,
        /// Spark's type of the key expression.
        key_type: String,
        /// Spark's type of the value expression.
        value_type: String,
    },
    /// The query does not analyze (an `AnalysisException`).
    Rejected {
        /// Spark's message, first line.
        error: String,
    },
    /// The query failed while running (ANSI errors, FAILFAST).
    Failed {
        /// Spark's message, first line.
        error: String,
        /// Each record's outcome when run alone, for small fixtures.
        records: Option<Vec<Vec<Option<String>>>>,
    },
}

#[derive(Debug, Deserialize)]
struct Line {
    id: String,
    #[serde(flatten)]
    answer: Answer,
}

/// The pyspark interpreter `scripts/lib.sh`'s `ensure_pyspark` installs.
fn python() -> std::path::PathBuf {
    let python = tool_path("SLUICE_PYSPARK_PYTHON", ".tools/pyspark/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/test, which installs pyspark", python.display());
    python
}

/// Runs the corpus through Spark; answers by case id.
pub fn evaluate(corpus: &Path, fixtures: &Path, work: &Path) -> BTreeMap<String, Answer> {
    let out = work.join("spark.jsonl");
    let log = work.join("spark.log");
    let log_file = std::fs::File::create(&log).expect("create spark.log");
    let mut cmd = Command::new(python());
    cmd.arg(workspace_root().join("tests/spark/spark_eval.py"))
        .args([corpus, fixtures, &out])
        .env("PYSPARK_PYTHON", python())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("share spark.log"))
        .stderr(log_file);
    let mut spark = Process::spawn(cmd);
    let status = poll_until(SPARK_DEADLINE, "pyspark has evaluated the corpus", || spark.try_wait());
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "pyspark failed ({status}):\n{}", tail(&log_text));
    let text = std::fs::read_to_string(&out).expect("read spark.jsonl");
    text.lines()
        .map(|l| serde_json::from_str::<Line>(l).unwrap_or_else(|e| panic!("bad spark.jsonl line {l}: {e}")))
        .map(|l| (l.id, l.answer))
        .collect()
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
