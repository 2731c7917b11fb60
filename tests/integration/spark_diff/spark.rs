//! The Spark side: one pyspark process (`tests/spark/spark_eval.py`)
//! evaluates the whole corpus and writes one JSON line per case. It runs in
//! the background while the sluice side runs, so the suite takes about as
//! long as Spark alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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

/// Spark evaluating the corpus in the background, while sql.wasm runs it.
pub struct Running {
    spark: Process,
    out: PathBuf,
    log: PathBuf,
}

/// Starts Spark on the corpus; [`Running::answers`] collects its answers.
pub fn start(corpus: &Path, fixtures: &Path, work: &Path) -> Running {
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
    Running { spark: Process::spawn(cmd), out, log }
}

impl Running {
    /// Waits for Spark to finish; its answers by case id.
    pub fn answers(mut self) -> BTreeMap<String, Answer> {
        let status = poll_until(SPARK_DEADLINE, "pyspark has evaluated the corpus", || self.spark.try_wait());
        let log_text = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(status.success(), "pyspark failed ({status}):\n{}", tail(&log_text));
        let text = std::fs::read_to_string(&self.out).expect("read spark.jsonl");
        text.lines()
            .map(|l| serde_json::from_str::<Line>(l).unwrap_or_else(|e| panic!("bad spark.jsonl line {l}: {e}")))
            .map(|l| (l.id, l.answer))
            .collect()
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
