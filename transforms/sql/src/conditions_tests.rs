//! `where` conditions against one record: truth tables, casts, NULLs.
use sluice_guest_sdk::testing::{Harness, Outcome};

use crate::SqlTransform;

const RECORD: &str = r#"{"StoreID": "STR7188", "Amount": 12.5, "Qty": 3, "Code": "005", "Flag": "yes",
    "Prime": true, "Off": false, "Nothing": null, "Invoice": 9007199254740993, "Huge": 12345678901234567890,
    "Name": "O'Brien", "Esc": "Li\u00e8ge", "Pct": "50%",
    "Addr": {"City": "Pune", "Pin": "411001", "Geo": {"Lat": 18.5}}, "Tags": ["a", "b"],
    "Store ID": "S 1", "a.b": 7}"#;

/// Whether `where=condition` keeps [`RECORD`].
fn keeps(condition: &str) -> bool {
    let harness = Harness::<SqlTransform>::new(&[("where", condition)]).unwrap();
    match harness.run(&RECORD.replace('\n', " ")) {
        Outcome::Emit(_) | Outcome::EmitMany(_) => true,
        Outcome::Drop => false,
        Outcome::Error(e) => panic!("{condition}: {e}"),
    }
}

/// The three-valued truth of `condition` for [`RECORD`].
fn truth(condition: &str) -> Option<bool> {
    let truth = if keeps(&format!("({condition}) IS TRUE")) {
        Some(true)
    } else if keeps(&format!("({condition}) IS FALSE")) {
        Some(false)
    } else {
        None
    };
    assert_eq!(keeps(condition), truth == Some(true), "only TRUE keeps: {condition}");
    truth
}

fn check(cases: &[(&str, Option<bool>)]) {
    for &(condition, expected) in cases {
        assert_eq!(truth(condition), expected, "{condition}");
    }
}

const T: Option<bool> = Some(true);
const F: Option<bool> = Some(false);
const N: Option<bool> = None;

#[test]
fn compares_numbers() {
    check(&[
        ("Amount = 12.5", T),
        ("Amount == 12.50", T),
        ("Amount != 12.5", F),
        ("Amount <> 13", T),
        ("Amount < 13", T),
        ("Amount <= 12.5", T),
        ("Amount > 12.5", F),
        ("Amount >= 12.5", T),
        ("Amount = 1.25e1", T),
        ("Qty = 3.0", T),
        ("Qty = 3L", T),
        ("Qty < 3.5", T),
        ("Qty > 2.9", T),
        ("Qty <=> 3", T),
        ("-Amount = -12.5", T),
        ("-Qty < 0", T),
        ("Qty = - -3", T),
    ]);
}

#[test]
fn compares_strings_by_bytes() {
    check(&[
        ("StoreID = 'STR7188'", T),
        ("StoreID = \"STR7188\"", T),
        ("StoreID != 'STR7188'", F),
        ("StoreID = 'str7188'", F),
        ("StoreID < 'STR8'", T),
        ("StoreID > 'STR7188 '", F),
        ("Esc = 'Liège'", T),
        ("Name = 'O''Brien'", T),
        (r"Name = 'O\'Brien'", T),
        ("Name = \"O'Brien\"", T),
    ]);
}

#[test]
fn follows_sql_truth_tables() {
    let value = |name: &str| match name {
        "Prime" => T,
        "Off" => F,
        _ => N,
    };
    let and = |a: Option<bool>, b: Option<bool>| match (a, b) {
        (F, _) | (_, F) => F,
        (T, T) => T,
        _ => N,
    };
    let or = |a: Option<bool>, b: Option<bool>| match (a, b) {
        (T, _) | (_, T) => T,
        (F, F) => F,
        _ => N,
    };
    let fields = ["Prime", "Off", "Nothing", "Missing"];
    for a in fields {
        assert_eq!(truth(&format!("NOT {a}")), value(a).map(|b| !b), "NOT {a}");
        for b in fields {
            assert_eq!(truth(&format!("{a} AND {b}")), and(value(a), value(b)), "{a} AND {b}");
            assert_eq!(truth(&format!("{a} OR {b}")), or(value(a), value(b)), "{a} OR {b}");
        }
    }
    check(&[("NULL AND FALSE", F), ("NULL OR TRUE", T), ("NULL = NULL", N), ("NOT NULL", N)]);
}

#[test]
fn null_and_missing_fields() {
    check(&[
        ("Missing = 1", N),
        ("Nothing = 1", N),
        ("Missing != 1", N),
        ("NOT Missing = 1", N),
        ("Missing IS NULL", T),
        ("Nothing IS NULL", T),
        ("Nothing IS NOT NULL", F),
        ("StoreID IS NULL", F),
        ("Addr IS NULL", F),
        ("Addr IS NOT NULL", T),
        ("Addr.Missing IS NULL", T),
        ("StoreID.Deeper IS NULL", T),
        ("Missing <=> NULL", T),
        ("Missing <=> 1", F),
        ("Qty IS DISTINCT FROM NULL", T),
        ("Nothing IS NOT DISTINCT FROM Missing", T),
        ("Prime IS TRUE", T),
        ("Off IS FALSE", T),
        ("Nothing IS TRUE", F),
        ("Nothing IS UNKNOWN", T),
        ("(Missing = 1) IS NOT FALSE", T),
    ]);
}

#[test]
fn in_lists_with_nulls() {
    check(&[
        ("Qty IN (1, 2, 3)", T),
        ("Qty IN (1, 2)", F),
        ("Qty NOT IN (1, 2)", T),
        ("Qty IN (3, NULL)", T),
        ("Qty IN (1, NULL)", N),
        ("Qty NOT IN (1, NULL)", N),
        ("Qty NOT IN (3, NULL)", F),
        ("Missing IN (1)", N),
        ("Missing NOT IN (1)", N),
        ("StoreID IN ('a', 'STR7188')", T),
        ("Qty IN ('3', 'x')", T),
    ]);
}

#[test]
fn like_patterns() {
    check(&[
        ("StoreID LIKE 'STR%'", T),
        ("StoreID LIKE 'STR____'", T),
        ("StoreID LIKE 'STR___'", F),
        ("StoreID NOT LIKE '%88'", F),
        ("StoreID LIKE 'str%'", F),
        (r"Pct LIKE '50\%'", T),
        (r"Pct LIKE '5_\%'", T),
        (r"StoreID LIKE 'STR\%'", F),
        ("Pct LIKE '50!%' ESCAPE '!'", T),
        ("Name LIKE 'O''%'", T),
        ("Amount LIKE '12.%'", T),
        ("Prime LIKE 't%'", T),
        ("Missing LIKE '%'", N),
        ("StoreID LIKE NULL", N),
    ]);
}

#[test]
fn nested_and_quoted_fields() {
    check(&[
        ("Addr.City = 'Pune'", T),
        ("Addr.Geo.Lat > 18", T),
        ("Addr.`Pin` = '411001'", T),
        ("`Store ID` = 'S 1'", T),
        ("`a.b` = 7", T),
        ("a.b = 7", N),
    ]);
}

#[test]
fn casts_like_spark() {
    check(&[
        ("Amount = '12.5'", T),
        ("Amount > '9'", T),
        ("'12.5' > '9'", F),
        ("Code = 5", T),
        ("Code = '5'", F),
        ("Flag = TRUE", T),
        ("Prime = 'true'", T),
    ]);
}

#[test]
fn big_integers_compare_exactly() {
    check(&[
        ("Invoice = 9007199254740993", T),
        ("Invoice = 9007199254740992", F),
        ("Invoice > 9007199254740992", T),
        ("Invoice = '9007199254740993'", T),
        ("Huge = 12345678901234567890", T),
        ("Huge > 9223372036854775807", T),
    ]);
}

#[test]
fn functions() {
    check(&[("lower(StoreID) = 'str7188'", T), ("UPPER(Name) = 'O''BRIEN'", T), ("lower(Qty) = '3'", T)]);
}

#[test]
fn precedence_in_practice() {
    check(&[
        ("Qty = 1 OR Qty = 3 AND StoreID = 'x'", F),
        ("(Qty = 1 OR Qty = 3) AND StoreID = 'STR7188'", T),
        ("NOT Qty = 1", T),
        ("NOT Qty = 3 OR TRUE", T),
        ("Qty BETWEEN 1 AND 3", T),
        ("Qty BETWEEN 4 AND 5", F),
        ("Qty NOT BETWEEN 4 AND 5", T),
        ("Missing BETWEEN 1 AND 2", N),
        ("Qty BETWEEN NULL AND 2", F),
        ("Qty BETWEEN NULL AND 5", N),
    ]);
}

#[test]
fn non_boolean_fields_fail_the_record() {
    let run = |condition: &str| Harness::<SqlTransform>::new(&[("where", condition)]).unwrap().run(RECORD);
    let error = |message: &str| Outcome::Error(message.to_owned());
    assert_eq!(run("Flag AND Qty = 3"), error("`where`: field Flag is a string, not a boolean"));
    assert_eq!(run("NOT Addr"), error("`where`: field Addr is an object, not a boolean"));
    assert_eq!(run("Qty = 3 AND NOT Tags"), error("`where`: field Tags is an array, not a boolean"));
    assert_eq!(run("Qty OR FALSE"), error("`where`: field Qty is a number, not a boolean"));
    assert_eq!(run("Off AND Flag"), Outcome::Drop, "AND stops at the first FALSE");
    assert!(matches!(run("Prime AND Qty = 3"), Outcome::Emit(_)));
    assert!(matches!(run("Nothing OR TRUE"), Outcome::Emit(_)));
}
