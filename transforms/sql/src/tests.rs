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
fn field_keys_print_as_spark_casts_them_to_a_string() {
    let record = r#"{"S": "ST\"R", "N": 1.50, "E": 1e3, "Big": 12345678901234567890, "B": true,
        "O": { "a" : [1, 2] }, "Nul": null, "Addr": {"City": "Li\u00e8ge"}, "Store ID": "S 1", "a.b": 7}"#;
    let record = record.replace('\n', " ");
    assert_eq!(key("S", &record).as_deref(), Some("ST\"R"));
    assert_eq!(key("N", &record).as_deref(), Some("1.5"));
    assert_eq!(key("E", &record).as_deref(), Some("1000.0"));
    assert_eq!(key("Big", &record).as_deref(), Some("12345678901234567890"));
    assert_eq!(key("B", &record).as_deref(), Some("true"));
    assert_eq!(key("O", &record).as_deref(), Some("{[1, 2]}"));
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
        "unknown config `wher`; this transform accepts: where, key, value, timestamp, topic, partition, schema, mode, timezone, case_sensitive, strict_fields, header.NAME"
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
        (
            ("schema", "a INT, b FOO"),
            "`schema`: [UNSUPPORTED_DATATYPE] unsupported data type `FOO` for `b` at position 9",
        ),
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

#[test]
fn names_resolve_case_insensitively_unless_told() {
    let t = transform(&[("where", "storeid = 'STR7188'")]);
    assert!(matches!(t.run(r#"{"StoreID": "STR7188"}"#), Outcome::Emit(_)));
    assert_eq!(
        t.run(r#"{"StoreID": "STR7188", "storeId": "x"}"#),
        Outcome::Error(
            "`where`: [AMBIGUOUS_REFERENCE] field `StoreID` is ambiguous: the record has both `StoreID` and `storeId`; \
             set case_sensitive=true or rename one"
                .to_owned()
        )
        .map_name("storeid")
    );
    let exact = transform(&[("where", "storeid = 'STR7188'"), ("case_sensitive", "true")]);
    assert_eq!(exact.run(r#"{"StoreID": "STR7188"}"#), Outcome::Drop);
}

trait MapName {
    fn map_name(self, name: &str) -> Self;
}

impl MapName for Outcome {
    /// The error as the transform words it for a name written `name`.
    fn map_name(self, name: &str) -> Self {
        match self {
            Outcome::Error(e) => Outcome::Error(e.replacen("field `StoreID`", &format!("field `{name}`"), 1)),
            other => other,
        }
    }
}

#[test]
fn ansi_errors_fail_the_record_with_the_reason() {
    let t = transform(&[("where", "Qty / Zero > 1")]);
    assert_eq!(
        t.run(r#"{"Qty": 1, "Zero": 0}"#),
        Outcome::Error("`where`: [DIVIDE_BY_ZERO] division by zero".to_owned())
    );
    let t = transform(&[("key", "Qty * 9223372036854775807")]);
    assert_eq!(t.run(r#"{"Qty": 2}"#), Outcome::Error("`key`: [ARITHMETIC_OVERFLOW] long overflow".to_owned()));
    let t = transform(&[("where", "Code = 5")]);
    assert_eq!(
        t.run(r#"{"Code": "five"}"#),
        Outcome::Error(
            "`where`: [CAST_INVALID_INPUT] the value 'five' of the type STRING cannot be cast to BIGINT because it is malformed"
                .to_owned()
        )
    );
    let t = transform(&[("key", "try_cast(Code AS INT)")]);
    assert_eq!(emitted(t.run(r#"{"Code": "five"}"#)).key, None);
}

#[test]
fn every_kafka_column_is_an_expression() {
    let t = transform(&[
        ("key", "StoreID || '-' || PosID"),
        ("value", "to_json(struct(InvoiceNumber, TotalAmount AS total))"),
        ("header.store", "lower(StoreID)"),
        ("header.amount", "TotalAmount * 2"),
        ("timestamp", "CreatedTime"),
        ("topic", "CASE WHEN TotalAmount > 100 THEN 'big' END"),
        ("partition", "Qty % 3"),
    ]);
    let record = r#"{"StoreID": "STR7188", "PosID": "POS1", "InvoiceNumber": "I1", "TotalAmount": 150.5, "CreatedTime": 1700000000000, "Qty": 4}"#;
    let m = emitted(t.run(record));
    assert_eq!(m.key_str(), Some("STR7188-POS1"));
    assert_eq!(m.value_str(), Some(r#"{"InvoiceNumber":"I1","total":150.5}"#));
    assert_eq!(
        m.headers,
        vec![("store".to_owned(), Some(b"str7188".to_vec())), ("amount".to_owned(), Some(b"301.0".to_vec()))]
    );
    assert_eq!(m.timestamp_ms, Some(1_700_000_000_000));
    assert_eq!(m.topic.as_deref(), Some("big"));
    assert_eq!(m.partition, Some(1));
    let small = emitted(t.run(&record.replace("150.5", "10.0")));
    assert_eq!(small.topic, None, "NULL goes to --topic");
    let named = transform(&[("value", "to_json(named_struct('id', InvoiceNumber, 'n', 1e20))")]);
    assert_eq!(emitted(named.run(record)).value_str(), Some(r#"{"id":"I1","n":1.0E20}"#));
}

#[test]
fn the_schema_types_fields_and_shapes_the_value() {
    let schema = "InvoiceNumber STRING, TotalAmount DOUBLE, Qty INT, CreatedTime TIMESTAMP, Missing STRING";
    let t = transform(&[("schema", schema), ("where", "qty > 1")]);
    let record = r#"{"Qty": 4, "Extra": true, "TotalAmount": 11114, "InvoiceNumber": "I1", "CreatedTime": "2024-01-31T10:00:00Z"}"#;
    assert_eq!(
        emitted(t.run(record)).value_str(),
        Some(r#"{"InvoiceNumber":"I1","TotalAmount":11114.0,"Qty":4,"CreatedTime":"2024-01-31T10:00:00.000Z"}"#)
    );
    assert_eq!(
        init_error(&[("schema", schema), ("where", "Extra")]).split(" at ").next(),
        Some(
            "`where`: [UNRESOLVED_COLUMN.WITH_SUGGESTION] field `Extra` is not in the schema; did you mean one of the following? [`Qty`, `Missing`, `TotalAmount`, `CreatedTime`, `InvoiceNumber`]"
        )
    );
    let bad = r#"{"Qty": "four", "InvoiceNumber": "I1"}"#;
    assert_eq!(emitted(transform(&[("schema", schema)]).run(bad)).value_str(), Some(r#"{"InvoiceNumber":"I1"}"#));
    let drop = transform(&[("schema", schema), ("mode", "DROPMALFORMED")]);
    assert_eq!(
        drop.run(bad),
        Outcome::Error("[MALFORMED_RECORD_IN_PARSING] field `Qty`: the string 'four' does not fit INT".to_owned())
    );
    let fail = transform(&[("schema", schema), ("mode", "failfast")]);
    assert_eq!(
        fail.run(bad),
        Outcome::Error(
            "[MALFORMED_RECORD_IN_PARSING] FAILFAST: field `Qty`: the string 'four' does not fit INT".to_owned()
        )
    );
}

#[test]
fn the_seed_job_with_its_schema() {
    let schema = "InvoiceNumber STRING, CreatedTime BIGINT, StoreID STRING, TotalAmount DOUBLE, NumberOfItems INT, \
                  DeliveryAddress STRUCT<City: STRING, PinCode: STRING>, \
                  InvoiceLineItems ARRAY<STRUCT<ItemCode: STRING, ItemPrice: DOUBLE, ItemQty: INT>>";
    let t = transform(&[("schema", schema), ("where", "StoreID = 'STR5485'"), ("key", "StoreID")]);
    let record = r#"{"InvoiceNumber":"25000040","CreatedTime":1590000022420,"StoreID":"STR5485","PosID":"POS929","TotalAmount":1891.8,"NumberOfItems":1,"TaxableAmount":1800.0,"DeliveryAddress":{"AddressLine":"898, Lake View Colony","City":"Kolkata","PinCode":"700093"},"InvoiceLineItems":[{"ItemCode":"158","ItemDescription":"Spice rack","ItemPrice":450,"ItemQty":4}]}"#;
    let m = emitted(t.run(record));
    assert_eq!(m.key_str(), Some("STR5485"));
    assert_eq!(
        m.value_str(),
        Some(
            r#"{"InvoiceNumber":"25000040","CreatedTime":1590000022420,"StoreID":"STR5485","TotalAmount":1891.8,"NumberOfItems":1,"DeliveryAddress":{"City":"Kolkata","PinCode":"700093"},"InvoiceLineItems":[{"ItemCode":"158","ItemPrice":450.0,"ItemQty":4}]}"#
        )
    );
    let key = |expr: &str| emitted(transform(&[("key", expr)]).run(record)).key_str().map(str::to_owned);
    assert_eq!(key("InvoiceLineItems.ItemCode").as_deref(), Some("[158]"), "projection through an array");
    assert_eq!(key("InvoiceLineItems[0].itemcode").as_deref(), Some("158"));
    assert_eq!(key("deliveryaddress.city").as_deref(), Some("Kolkata"));
    assert_eq!(key("TotalAmount * 0.1").as_deref(), Some("189.18"));
}

#[test]
fn a_null_value_is_a_null_message_value() {
    let t = transform(&[("key", "id"), ("value", "name")]);
    let m = emitted(t.run(r#"{"id": 3, "name": null}"#));
    assert_eq!((m.key_str(), m.value.as_deref()), (Some("3"), None), "Spark's sink writes a NULL value as a tombstone");
    assert_eq!(emitted(t.run(r#"{"id": 3, "name": "x"}"#)).value_str(), Some("x"));
}

#[test]
fn a_plain_field_key_prints_numbers_and_structs_as_spark_casts_them() {
    assert_eq!(key("amount", r#"{"amount": 2.5e-7}"#).as_deref(), Some("2.5E-7"));
    assert_eq!(key("amount", r#"{"amount": 1e20}"#).as_deref(), Some("1.0E20"));
    assert_eq!(key("amount", r#"{"amount": 12}"#).as_deref(), Some("12"));
    assert_eq!(key("a", r#"{"a": {"City": "Pune", "Zip": null}}"#).as_deref(), Some("{Pune, null}"));
    assert_eq!(key("s", r#"{"s": "t\u00e9"}"#).as_deref(), Some("té"));
}

#[test]
fn a_date_plus_an_interval() {
    let record = r#"{"day": "2024-01-31"}"#;
    assert_eq!(key("CAST(day AS DATE) + INTERVAL '3' DAY", record).as_deref(), Some("2024-02-03"));
    assert_eq!(key("CAST(day AS DATE) + INTERVAL 1 MONTH", record).as_deref(), Some("2024-02-29"));
    assert_eq!(key("CAST(day AS DATE) - INTERVAL '1' DAY", record).as_deref(), Some("2024-01-30"));
    assert_eq!(key("CAST(day AS DATE) + INTERVAL '90' MINUTE", record).as_deref(), Some("2024-01-31 01:30:00"));
}

#[test]
fn a_schema_decimal_reads_a_string() {
    let t = transform(&[("schema", "price DECIMAL(10,2)"), ("key", "price * 2")]);
    let m = emitted(t.run(r#"{"price": "1,234.5"}"#));
    assert_eq!((m.key_str(), m.value_str()), (Some("2469.00"), Some(r#"{"price":1234.50}"#)));
    let drop = transform(&[("schema", "price DECIMAL(10,2)"), ("mode", "DROPMALFORMED")]);
    assert!(matches!(drop.run(r#"{"price": "abc"}"#), Outcome::Error(e) if e.contains("`price`")));
}

#[test]
fn an_integer_literal_against_a_decimal_has_its_own_precision() {
    let t =
        transform(&[("schema", "price DECIMAL(10,2)"), ("key", "price / 3"), ("value", "CAST(price * 100 AS STRING)")]);
    let m = emitted(t.run(r#"{"price": 19.99}"#));
    assert_eq!((m.key_str(), m.value_str()), (Some("6.663333"), Some("1999.00")));
}
