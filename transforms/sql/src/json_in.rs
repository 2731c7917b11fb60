//! Reading record JSON into [`Value`]s: untyped, as Spark's JSON reader
//! infers types (an integer is a `BIGINT` when it fits, any other number a
//! `DOUBLE`, objects are structs with members in their order), or typed by
//! a `schema` field's type, with a reason when the JSON does not fit it.

use std::fmt;
use std::rc::Rc;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use sluice_guest_sdk::json;

use crate::cast;
use crate::value::{DataType, Value};
use crate::zone::TimeZone;

/// The value of one JSON value's raw (valid) text, types inferred.
pub fn untyped(raw: &[u8]) -> Value {
    match raw.first() {
        Some(b'"') => Value::string(json::unescape(&raw[1..raw.len() - 1])),
        Some(b't') => Value::Boolean(true),
        Some(b'f') => Value::Boolean(false),
        Some(b'n') | None => Value::Null,
        Some(b'{' | b'[') => serde_json::from_slice::<Inferred>(raw).map_or(Value::Null, |v| v.0),
        Some(_) => number(std::str::from_utf8(raw).unwrap_or_default()),
    }
}

/// Any JSON text read as an untyped value; `None` when it is not valid JSON.
pub fn parse(text: &str) -> Option<Value> {
    serde_json::from_str::<Inferred>(text).ok().map(|v| v.0)
}

/// A JSON number's text as a `BIGINT` or a `DOUBLE`.
pub fn number(text: &str) -> Value {
    let integral = !text.contains(['.', 'e', 'E']);
    match text.parse::<i64>() {
        Ok(i) if integral => Value::Long(i),
        _ => text.parse::<f64>().map_or(Value::Null, Value::Double),
    }
}

/// The JSON text `raw` as a value of schema type `to`; `Err` says why it
/// does not fit (the record is malformed for that field).
pub fn typed(raw: &[u8], to: &DataType, zone: &TimeZone) -> Result<Value, String> {
    if raw.first() == Some(&b'n') {
        return Ok(Value::Null);
    }
    match to {
        // Spark's JSON reader keeps any token's text for a string field.
        DataType::String if raw.first() != Some(&b'"') => {
            let mut out = Vec::new();
            json::write_compact(raw, &mut out);
            Ok(Value::string(String::from_utf8_lossy(&out)))
        }
        _ => fit(untyped(raw), to, zone),
    }
}

/// A parsed JSON value as type `to`, the way Spark's JSON reader converts
/// tokens: numbers into any numeric type that holds them, strings into
/// dates and timestamps, nested values member by member.
pub fn fit(value: Value, to: &DataType, zone: &TimeZone) -> Result<Value, String> {
    let kind = value.data_type();
    let mismatch = || Err(format!("{} does not fit {to}", describe(&value)));
    match (&value, to) {
        (Value::Null, _) | (_, DataType::Any) => Ok(value),
        (Value::String(_), DataType::String) | (Value::Boolean(_), DataType::Boolean) => Ok(value),
        (Value::Long(_) | Value::Double(_), t) if t.is_numeric() => {
            let integral_target = matches!(t, DataType::Byte | DataType::Short | DataType::Int | DataType::Long);
            if integral_target && matches!(value, Value::Double(_)) {
                return mismatch();
            }
            cast::cast(&value, t, zone).map_err(|e| e.to_string())
        }
        (Value::String(s), DataType::Double | DataType::Float) if ["NaN", "Infinity", "-Infinity"].contains(&&**s) => {
            cast::cast(&value, to, zone).map_err(|e| e.to_string())
        }
        // Spark reads a decimal from a string too, commas (grouping) left out.
        (Value::String(s), DataType::Decimal(..)) => {
            let digits = Value::string(s.replace(',', ""));
            cast::cast(&digits, to, zone).map_err(|_| format!("{} is not a valid {to}", describe(&value)))
        }
        (Value::String(_), DataType::Date | DataType::Timestamp) => {
            cast::cast(&value, to, zone).map_err(|_| format!("{} is not a valid {to}", describe(&value)))
        }
        (Value::Long(_), DataType::Timestamp) => cast::cast(&value, to, zone).map_err(|e| e.to_string()),
        (Value::String(s), DataType::Binary) => Ok(Value::Binary(s.as_bytes().into())),
        (Value::Array(items), DataType::Array(element)) => {
            let items = items.iter().map(|v| fit(v.clone(), element, zone)).collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Array(items.into()))
        }
        (Value::Struct(members), DataType::Struct(fields)) => {
            let fitted = fields
                .iter()
                .map(|f| {
                    let found = members.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case(&f.name));
                    let v = found.map_or(Ok(Value::Null), |(_, v)| fit(v.clone(), &f.data_type, zone));
                    v.map(|v| (Rc::from(f.name.as_str()), v)).map_err(|e| format!("{}: {e}", f.name))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Struct(fitted.into()))
        }
        (Value::Struct(members), DataType::Map(key, val)) if matches!(**key, DataType::String) => {
            let entries = members
                .iter()
                .map(|(n, v)| fit(v.clone(), val, zone).map(|v| (Value::String(Rc::clone(n)), v)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Map(entries.into()))
        }
        _ if kind == *to => Ok(value),
        _ => mismatch(),
    }
}

/// A value for a message: `the string 'abc'`, `the number 12.5`.
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string '{s}'"),
        Value::Long(i) => format!("the number {i}"),
        Value::Double(d) => format!("the number {}", crate::value::render::format_double(*d)),
        Value::Boolean(b) => format!("the boolean {b}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Struct(_) => "an object".to_owned(),
        other => other.data_type().to_string(),
    }
}

/// A whole JSON value read by `serde_json`, members kept in order.
struct Inferred(Value);

impl<'de> Deserialize<'de> for Inferred {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(InferVisitor).map(Inferred)
    }
}

struct InferVisitor;

impl<'de> Visitor<'de> for InferVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Long(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Double(v as f64), Value::Long))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Double(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::string(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Inferred(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items.into()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members: Vec<(Rc<str>, Value)> = Vec::new();
        while let Some((k, Inferred(v))) = map.next_entry::<String, Inferred>()? {
            members.retain(|(n, _)| **n != *k);
            members.push((k.into(), v));
        }
        Ok(Value::Struct(members.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_like_spark() {
        assert_eq!(untyped(b"12"), Value::Long(12));
        assert_eq!(untyped(b"12.0"), Value::Double(12.0));
        assert_eq!(untyped(b"1e3"), Value::Double(1000.0));
        assert_eq!(untyped(br#""a\"b""#), Value::string("a\"b"));
        let nested = untyped(br#"{"b": [1, 2.5], "a": null}"#);
        let Value::Struct(members) = nested else { panic!() };
        assert_eq!(&*members[0].0, "b");
        assert_eq!(members[0].1, Value::Array(vec![Value::Long(1), Value::Double(2.5)].into()));
    }

    #[test]
    fn fits_schema_types() {
        let utc = TimeZone::utc();
        assert_eq!(typed(b"12", &DataType::Int, &utc), Ok(Value::Int(12)));
        assert_eq!(typed(b"12", &DataType::Double, &utc), Ok(Value::Double(12.0)));
        assert_eq!(typed(b"12.50", &DataType::String, &utc), Ok(Value::string("12.50")));
        assert!(typed(b"12.5", &DataType::Int, &utc).is_err());
        assert!(typed(br#""x""#, &DataType::Long, &utc).is_err());
        assert_eq!(typed(br#""2024-01-02""#, &DataType::Date, &utc), Ok(Value::Date(19_724)));
    }
}
