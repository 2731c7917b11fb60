//! End-to-end tests of [`SqlTransform`] through the SDK's ABI harness:
//! configuration, keys, init errors and whole batches. The `where`
//! language itself is tested next to the parser and the evaluator.

use sluice_guest_sdk::testing::{Harness, Message, Outcome};

use crate::SqlTransform;

fn transform(config: &[(&str, &str)]) -> Harness<SqlTransform> {
    Harness::new(config).unwrap()
}

fn init_error(config: &[(&str, &str)]) -> String {
    Harness::<SqlTransform>::new(config).unwrap_err().to_string()
}

fn emitted(outcome: Outcome) -> Message {
    match outcome {
        Outcome::Emit(message) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// The key `key=expression` gives for `record`, as text.
fn key(expression: &str, record: &str) -> Option<String> {
    let message = emitted(transform(&[("key", expression)]).run(record));
    message.key.map(|k| String::from_utf8(k).unwrap())
}

#[test]
fn filters_and_keys_by_store() {
    let t = transform(&[("where", "StoreID = 'STR7188'"), ("key", "StoreID")]);
    let message = emitted(t.run(r#"{ "StoreID" : "STR7188", "TotalAmount": 12.5 }"#));
    assert_eq!(message.key_str(), Some("STR7188"));
    assert_eq!(message.value_str(), Some(r#"{"StoreID":"STR7188","TotalAmount":12.5}"#));
    assert_eq!(message.headers, vec![]);
    assert_eq!(message.timestamp_ms, None);
    assert_eq!(t.run(r#"{"StoreID": "STR1534"}"#), Outcome::Drop);
    assert_eq!(t.run(r#"{"TotalAmount": 1}"#), Outcome::Drop);
}

#[test]
fn without_config_keeps_everything_without_keys() {
    let t = transform(&[]);
    let message = emitted(t.run(r#"{"a": [1, 2]}"#));
    assert_eq!(message.key, None);
    assert_eq!(message.value_str(), Some(r#"{"a":[1,2]}"#));
}

#[test]
fn field_keys_use_the_record_text() {
    let record = r#"{"S": "ST\"R", "N": 1.50, "E": 1e3, "Big": 12345678901234567890, "B": true,
        "O": { "a" : [1, 2] }, "Nul": null, "Addr": {"City": "Li\u00e8ge"}, "Store ID": "S 1", "a.b": 7}"#;
    let record = record.replace('\n', " ");
    assert_eq!(key("S", &record).as_deref(), Some("ST\"R"));
    assert_eq!(key("N", &record).as_deref(), Some("1.50"));
    assert_eq!(key("E", &record).as_deref(), Some("1e3"));
    assert_eq!(key("Big", &record).as_deref(), Some("12345678901234567890"));
    assert_eq!(key("B", &record).as_deref(), Some("true"));
    assert_eq!(key("O", &record).as_deref(), Some(r#"{"a":[1,2]}"#));
    assert_eq!(key("Addr.City", &record).as_deref(), Some("Liège"));
    assert_eq!(key("(Addr.City)", &record).as_deref(), Some("Liège"));
    assert_eq!(key("`Store ID`", &record).as_deref(), Some("S 1"));
    assert_eq!(key("`a.b`", &record).as_deref(), Some("7"));
    assert_eq!(key("Nul", &record), None);
    assert_eq!(key("Missing", &record), None);
    assert_eq!(key("Addr.Missing", &record), None);
}

#[test]
fn expression_keys_use_canonical_text() {
    let record = r#"{"StoreID": "STR7188", "Amount": 12.5, "Qty": 3, "Whole": 2.0}"#;
    assert_eq!(key("lower(StoreID)", record).as_deref(), Some("str7188"));
    assert_eq!(key("-Amount", record).as_deref(), Some("-12.5"));
    assert_eq!(key("-Whole", record).as_deref(), Some("-2.0"), "a double prints as Spark prints it");
    assert_eq!(key("-Qty", record).as_deref(), Some("-3"));
    assert_eq!(key("Amount > 10", record).as_deref(), Some("true"));
    assert_eq!(key("Qty IN (1, 2)", record).as_deref(), Some("false"));
    assert_eq!(key("'fixed'", record).as_deref(), Some("fixed"));
    assert_eq!(key("1.0", record).as_deref(), Some("1.0"), "a DECIMAL(2,1) literal");
    assert_eq!(key("Qty * 0.1", record).as_deref(), Some("0.3"));
    assert_eq!(key("Amount * 1e19", record).as_deref(), Some("1.25E20"));
    assert_eq!(key("Qty / 2", record).as_deref(), Some("1.5"));
    assert_eq!(key("Qty div 2", record).as_deref(), Some("1"));
    assert_eq!(key("StoreID || '-' || Qty", record).as_deref(), Some("STR7188-3"));
    assert_eq!(key("CAST(Amount AS INT)", record).as_deref(), Some("12"));
    assert_eq!(key("Amount::string", record).as_deref(), Some("12.5"));
    assert_eq!(key("CASE WHEN Qty > 2 THEN 'big' ELSE 'small' END", record).as_deref(), Some("big"));
    assert_eq!(key("CASE Qty WHEN 3 THEN 'three' END", record).as_deref(), Some("three"));
    assert_eq!(key("coalesce(Missing, StoreID)", record).as_deref(), Some("STR7188"));
    assert_eq!(key("DATE'2024-01-31' + 1", record).as_deref(), Some("2024-02-01"));
    assert_eq!(key("Missing = 1", record), None);
    assert_eq!(key("NULL", record), None);
    assert_eq!(key("upper(Missing)", record), None);
}

#[test]
fn refuses_unknown_and_empty_config() {
    assert_eq!(
        init_error(&[("wher", "a = 1")]),
        "unknown config `wher`; this transform accepts: where, key, value, timestamp, topic, partition, schema, mode, timezone, case_sensitive, header.NAME"
    );
    assert_eq!(init_error(&[("mode", "FAILFAST")]), "`mode` needs a `schema`: without one every JSON value fits");
    assert_eq!(init_error(&[("where", " ")]), "`where` is empty; leave it out to keep every record");
    assert_eq!(init_error(&[("key", "")]), "`key` is empty; leave it out for the default");
}

#[test]
fn init_errors_name_the_key_and_point_at_the_problem() {
    let cases = [
        (
            ("where", "StoreID = "),
            "`where`: expected an expression, found the end of the expression at column 11: StoreID =",
        ),
        (("where", "StoreID = 'STR7188"), "`where`: unterminated string literal at column 11: StoreID = 'STR7188"),
        (("where", "'STR7188'"), "`where` must be a condition, but `'STR7188'` is STRING"),
        (
            ("where", "StoreID == 'a' AND AND x"),
            "`where`: expected the end of the expression, found x at column 24: StoreID == 'a' AND AND x",
        ),
        (("where", "foo(x) = 'A'"), "`where`: unknown function `foo` at column 1: foo(x) = 'A'"),
        (("key", "Store ID"), "`key`: expected the end of the expression, found ID at column 7: Store ID"),
        (("key", "a."), "`key`: expected identifier, found the end of the expression at column 3: a."),
        (("schema", "a INT, b FOO"), "`schema`: unknown type `FOO`"),
        (
            ("timezone", "Mars/Olympus"),
            "`timezone`: unknown time zone `Mars/Olympus`; give a region (Europe/Paris), UTC or an offset (+05:30)",
        ),
    ];
    let wrong: Vec<_> = cases
        .iter()
        .map(|((name, value), message)| {
            let got = Harness::<SqlTransform>::new(&[(name, value)]).err().map(|e| e.to_string()).unwrap_or_default();
            (name, value, got, message)
        })
        .filter(|(_, _, got, want)| got != *want)
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn each_record_of_a_batch_gets_its_own_outcome() {
    let t = transform(&[("where", "Prime AND Qty > 1"), ("key", "Qty")]);
    let outcomes = t.run_batch(&[
        r#"{"Prime": true, "Qty": 2}"#,
        r#"{"Prime": false, "Qty": 2}"#,
        r#"{"Prime": "yes", "Qty": 2}"#,
        r#"{"Prime": true, "Qty": "#,
        r#"{"Prime": null, "Qty": 5}"#,
        r#"{"Prime": true, "Qty": 7}"#,
    ]);
    let keys: Vec<_> = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Emit(m) => m.key_str().unwrap_or("<none>").to_owned(),
            Outcome::Drop => "drop".to_owned(),
            Outcome::EmitMany(_) => "several".to_owned(),
            Outcome::Error(e) => e.clone(),
        })
        .collect();
    assert_eq!(
        keys,
        [
            "2",
            "drop",
            "`where`: field Prime is a string, not a boolean",
            "malformed JSON at byte 23: unexpected end of line, expected a value",
            "drop",
            "7",
        ]
    );
}
