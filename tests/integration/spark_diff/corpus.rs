//! The corpus file (`tests/spark/corpus.toml`): named schemas and the cases,
//! each a `sql.wasm` configuration that Spark runs as the equivalent job.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

/// The corpus as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corpus {
    /// Spark DDL schemas by name, for a case's `schema`.
    #[serde(default)]
    pub schemas: BTreeMap<String, String>,
    /// The cases, in the order they run.
    pub case: Vec<Case>,
}

/// One expression set over one fixture.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique name, as the report shows it.
    pub id: String,
    /// Fixture name: `tests/spark/fixtures/<name>.json`, or `invoices` (the
    /// three `testdata/invoices` files in order).
    #[serde(default = "default_fixture")]
    pub fixture: String,
    /// Name of a schema in `[schemas]`; without it Spark infers one and
    /// sql.wasm reads the JSON as it is.
    pub schema: Option<String>,
    /// The `where` condition.
    #[serde(rename = "where")]
    pub condition: Option<String>,
    /// The `key` expression.
    pub key: Option<String>,
    /// The `value` expression.
    pub value: Option<String>,
    /// `timezone`: Spark's `spark.sql.session.timeZone`.
    pub timezone: Option<String>,
    /// `case_sensitive`: Spark's `spark.sql.caseSensitive`.
    pub case_sensitive: Option<bool>,
    /// `mode`: the JSON reader's PERMISSIVE, DROPMALFORMED or FAILFAST.
    pub mode: Option<String>,
    /// A documented difference from Spark: why sql.wasm's answer differs.
    /// The case must differ; when it stops differing the suite fails, so
    /// the list stays honest.
    pub exception: Option<String>,
    /// Like `exception`, for a feature sql.wasm does not have yet.
    pub pending: Option<String>,
}

fn default_fixture() -> String {
    "invoices".into()
}

impl Corpus {
    /// Reads and checks the corpus: unique ids, known schemas, one kind of
    /// expectation per case.
    pub fn load(path: &Path) -> Corpus {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let corpus: Corpus = toml::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
        let mut ids = BTreeSet::new();
        for case in &corpus.case {
            assert!(ids.insert(case.id.as_str()), "corpus: case id {} is used twice", case.id);
            if let Some(schema) = &case.schema {
                assert!(corpus.schemas.contains_key(schema), "corpus: case {} names unknown schema {schema}", case.id);
            }
            assert!(
                case.exception.is_none() || case.pending.is_none(),
                "corpus: case {} has both `exception` and `pending`",
                case.id
            );
        }
        corpus
    }
}

impl Case {
    /// The `--transform-config` pairs that configure sql.wasm for this case.
    pub fn config(&self, corpus: &Corpus) -> Vec<(String, String)> {
        let schema = self.schema.as_ref().map(|name| corpus.schemas[name].clone());
        let pairs = [
            ("where", self.condition.clone()),
            ("key", self.key.clone()),
            ("value", self.value.clone()),
            ("schema", schema),
            ("mode", self.mode.clone()),
            ("timezone", self.timezone.clone()),
            ("case_sensitive", self.case_sensitive.map(|b| b.to_string())),
        ];
        pairs.into_iter().filter_map(|(k, v)| Some((k.to_owned(), v?))).collect()
    }

    /// Whether sql.wasm passes the record through as its value: no `value`
    /// expression and no schema (Spark would re-render it in its inferred
    /// schema's order, which sql.wasm by design does not).
    pub fn passes_record_through(&self) -> bool {
        self.value.is_none() && self.schema.is_none()
    }

    /// The documented reason this case differs, if it is expected to.
    pub fn expected_difference(&self) -> Option<&str> {
        self.exception.as_deref().or(self.pending.as_deref())
    }
}
