//! Values met while evaluating, and how they compare.
//!
//! A [`Val`] is a literal from the expression or a field read from the
//! record's raw JSON text, borrowed from either whenever possible so the
//! common `Field = 'literal'` test allocates nothing. Comparison follows
//! Spark SQL's implicit casts: a string met by a number is read as a number,
//! a string met by a boolean as a boolean (`'true'`, `'t'`, `'yes'`, `'1'`,
//! ...), a boolean met by a number as 1 or 0. When the cast fails, or either
//! side is NULL, an object or an array, the comparison is NULL.

use std::borrow::Cow;
use std::cmp::Ordering;

use sluice_guest_sdk::json;

/// A number: exact while it fits an `i64` integer, else a double.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// An integer that fits `i64`.
    Int(i64),
    /// Anything else: fractions, exponents, integers beyond `i64`.
    Float(f64),
}

/// One value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    /// SQL NULL: JSON `null`, a missing field, or an unknown result.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number, with its JSON text when it was read from the record.
    Num(Num, Option<&'a str>),
    /// A string, unescaped.
    Str(Cow<'a, str>),
    /// An object or an array (named for messages): behaves as NULL in
    /// comparisons, but `IS NULL` is false for it.
    Nested(&'static str),
}

impl<'a> Val<'a> {
    /// The value of one JSON value's raw (valid) text.
    pub fn from_json(raw: &'a [u8]) -> Val<'a> {
        match raw.first() {
            Some(b'"') => Val::Str(json::unescape(&raw[1..raw.len() - 1])),
            Some(b't') => Val::Bool(true),
            Some(b'f') => Val::Bool(false),
            Some(b'n') | None => Val::Null,
            Some(b'{') => Val::Nested("an object"),
            Some(b'[') => Val::Nested("an array"),
            Some(_) => {
                let text = std::str::from_utf8(raw).unwrap_or_default();
                parse_number(text).map_or(Val::Null, |n| Val::Num(n, Some(text)))
            }
        }
    }

    /// A three-valued truth as a value.
    pub fn from_truth(truth: Option<bool>) -> Val<'a> {
        truth.map_or(Val::Null, Val::Bool)
    }

    /// Whether this is SQL NULL (objects and arrays are not).
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    /// The value as text, as Spark's cast to string would give it; `None`
    /// for NULL, objects and arrays. Numbers read from the record keep
    /// their JSON text.
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Val::Str(s) => Some(Cow::Borrowed(s)),
            Val::Num(_, Some(text)) => Some(Cow::Borrowed(text)),
            Val::Num(n, None) => Some(Cow::Owned(n.to_string())),
            Val::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Val::Null | Val::Nested(_) => None,
        }
    }

    /// `-value`: numbers negated, strings cast to a number first, NULL for
    /// anything else.
    pub fn negate(&self) -> Val<'a> {
        let n = match self {
            Val::Num(n, _) => Some(*n),
            Val::Str(s) => parse_number(s.trim()),
            _ => None,
        };
        n.map_or(Val::Null, |n| Val::Num(n.negate(), None))
    }

    /// What kind of value this is, for error messages: `a string`, ...
    pub fn kind_name(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "a boolean",
            Val::Num(..) => "a number",
            Val::Str(_) => "a string",
            Val::Nested(kind) => kind,
        }
    }
}

impl Num {
    /// `-self`; `-i64::MIN` becomes a double.
    pub fn negate(self) -> Num {
        match self {
            Num::Int(i) => i.checked_neg().map_or(Num::Float(-(i as f64)), Num::Int),
            Num::Float(f) => Num::Float(-f),
        }
    }
}

impl std::fmt::Display for Num {
    /// Integers without a fraction, otherwise Rust's shortest round-trip text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Num::Int(i) => write!(f, "{i}"),
            Num::Float(x) => write!(f, "{x}"),
        }
    }
}

/// Reads a JSON or SQL number: an `i64` when the text is an integer that
/// fits, otherwise a double. `None` if it is not a number.
pub fn parse_number(text: &str) -> Option<Num> {
    let integer = text.bytes().enumerate().all(|(i, b)| b.is_ascii_digit() || (i == 0 && matches!(b, b'-' | b'+')));
    if integer && let Ok(i) = text.parse() {
        return Some(Num::Int(i));
    }
    text.parse().ok().map(Num::Float)
}

/// Spark's string-to-boolean cast.
fn parse_bool(text: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["t", "true", "y", "yes"];
    const FALSE: [&str; 4] = ["f", "false", "n", "no"];
    let text = text.trim();
    match text {
        "1" => Some(true),
        "0" => Some(false),
        _ if TRUE.iter().any(|t| t.eq_ignore_ascii_case(text)) => Some(true),
        _ if FALSE.iter().any(|f| f.eq_ignore_ascii_case(text)) => Some(false),
        _ => None,
    }
}

/// Orders two values after Spark's implicit casts; `None` is SQL NULL.
pub fn compare(left: &Val<'_>, right: &Val<'_>) -> Option<Ordering> {
    use Val::{Bool, Num as N, Str};
    match (left, right) {
        (Str(a), Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (N(a, _), N(b, _)) => Some(compare_numbers(*a, *b)),
        (N(a, _), Str(s)) => Some(compare_numbers(*a, parse_number(s.trim())?)),
        (Str(s), N(b, _)) => Some(compare_numbers(parse_number(s.trim())?, *b)),
        (Bool(a), Bool(b)) => Some(a.cmp(b)),
        (Bool(a), Str(s)) => Some(a.cmp(&parse_bool(s)?)),
        (Str(s), Bool(b)) => Some(parse_bool(s)?.cmp(b)),
        (Bool(a), N(b, _)) => Some(compare_numbers(Num::Int((*a).into()), *b)),
        (N(a, _), Bool(b)) => Some(compare_numbers(*a, Num::Int((*b).into()))),
        _ => None,
    }
}

/// Exact for two integers; a double against an integer is compared without
/// rounding the integer. NaN equals NaN and sorts above everything, as in Spark.
fn compare_numbers(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Float(x), Num::Float(y)) => compare_floats(x, y),
        (Num::Int(x), Num::Float(y)) => compare_int_float(x, y),
        (Num::Float(x), Num::Int(y)) => compare_int_float(y, x).reverse(),
    }
}

fn compare_floats(x: f64, y: f64) -> Ordering {
    x.partial_cmp(&y).unwrap_or_else(|| x.is_nan().cmp(&y.is_nan()))
}

fn compare_int_float(i: i64, f: f64) -> Ordering {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || f >= TWO_POW_63 {
        return Ordering::Less;
    }
    if f < -TWO_POW_63 {
        return Ordering::Greater;
    }
    // `f` now truncates into i64 exactly; its fraction breaks a tie.
    i.cmp(&(f.trunc() as i64)).then_with(|| 0.0.partial_cmp(&f.fract()).unwrap_or(Ordering::Equal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    fn s(text: &str) -> Val<'_> {
        Val::Str(Cow::Borrowed(text))
    }

    fn int(i: i64) -> Val<'static> {
        Val::Num(Num::Int(i), None)
    }

    fn float(f: f64) -> Val<'static> {
        Val::Num(Num::Float(f), None)
    }

    #[test]
    fn reads_json_values() {
        assert_eq!(Val::from_json(br#""a\"b""#), s("a\"b"));
        assert!(matches!(Val::from_json(br#""plain""#), Val::Str(Cow::Borrowed("plain"))));
        assert_eq!(Val::from_json(b"-12"), Val::Num(Num::Int(-12), Some("-12")));
        assert_eq!(Val::from_json(b"1.5e2"), Val::Num(Num::Float(150.0), Some("1.5e2")));
        assert_eq!(Val::from_json(b"true"), Val::Bool(true));
        assert_eq!(Val::from_json(b"null"), Val::Null);
        assert_eq!(Val::from_json(b"[1]"), Val::Nested("an array"));
        assert_eq!(Val::from_json(br#"{"a":1}"#), Val::Nested("an object"));
    }

    #[test]
    fn keeps_big_integers_exact() {
        assert_eq!(parse_number("9007199254740993"), Some(Num::Int(9_007_199_254_740_993)));
        assert_eq!(compare(&int(9_007_199_254_740_993), &int(9_007_199_254_740_992)), Some(Greater));
        assert_eq!(parse_number("99999999999999999999"), Some(Num::Float(1e20)));
        assert_eq!(compare(&int(i64::MAX), &float(9_223_372_036_854_775_808.0)), Some(Less));
        assert_eq!(compare(&int(i64::MIN), &float(-9_223_372_036_854_775_808.0)), Some(Equal));
    }

    #[test]
    fn compares_integers_with_doubles_exactly() {
        assert_eq!(compare(&int(2), &float(2.0)), Some(Equal));
        assert_eq!(compare(&int(2), &float(2.5)), Some(Less));
        assert_eq!(compare(&int(-2), &float(-2.5)), Some(Greater));
        assert_eq!(compare(&float(2.5), &int(2)), Some(Greater));
        assert_eq!(compare(&float(f64::NAN), &float(f64::NAN)), Some(Equal));
        assert_eq!(compare(&float(f64::NAN), &int(1)), Some(Greater));
        assert_eq!(compare(&float(-0.0), &float(0.0)), Some(Equal));
    }

    #[test]
    fn casts_strings_like_spark() {
        assert_eq!(compare(&int(10), &s("10")), Some(Equal));
        assert_eq!(compare(&s(" 9.5 "), &int(10)), Some(Less));
        assert_eq!(compare(&int(10), &s("ten")), None);
        assert_eq!(compare(&s("10"), &s("9")), Some(Less), "strings compare as text");
        assert_eq!(compare(&Val::Bool(true), &s("yes")), Some(Equal));
        assert_eq!(compare(&s("F"), &Val::Bool(false)), Some(Equal));
        assert_eq!(compare(&Val::Bool(true), &s("maybe")), None);
        assert_eq!(compare(&Val::Bool(true), &int(1)), Some(Equal));
        assert_eq!(compare(&float(0.0), &Val::Bool(false)), Some(Equal));
    }

    #[test]
    fn null_and_nested_compare_as_null() {
        assert_eq!(compare(&Val::Null, &Val::Null), None);
        assert_eq!(compare(&int(1), &Val::Null), None);
        assert_eq!(compare(&Val::Nested("an object"), &Val::Nested("an object")), None);
        assert_eq!(compare(&s("x"), &Val::Nested("an array")), None);
    }

    #[test]
    fn orders_strings_by_bytes() {
        assert_eq!(compare(&s("B"), &s("a")), Some(Less));
        assert_eq!(compare(&s("é"), &s("z")), Some(Greater));
        assert_eq!(compare(&s("ab"), &s("abc")), Some(Less));
    }

    #[test]
    fn negates_and_prints_numbers() {
        assert_eq!(int(5).negate(), int(-5));
        assert_eq!(int(i64::MIN).negate(), float(9_223_372_036_854_775_808.0));
        assert_eq!(s("2.5").negate(), float(-2.5));
        assert_eq!(s("x").negate(), Val::Null);
        assert_eq!(Val::Bool(true).negate(), Val::Null);
        assert_eq!(float(3.0).text().as_deref(), Some("3"));
        assert_eq!(float(0.1).text().as_deref(), Some("0.1"));
        assert_eq!(Val::Num(Num::Float(3.0), Some("3.0")).text().as_deref(), Some("3.0"));
        assert_eq!(Val::Nested("an array").text(), None);
    }
}
