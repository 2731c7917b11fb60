//! `to_json`: values as JSON text, the way Spark's `to_json` writes them.
//!
//! Struct members that are NULL are left out (Spark's default
//! `ignoreNullFields`); NULL array elements stay `null`. Doubles are
//! written as Java writes them (`1.0E20`), decimals with their scale,
//! dates as `yyyy-MM-dd`, timestamps as `yyyy-MM-dd'T'HH:mm:ss.SSSXXX` in
//! the session time zone, binary as base64.

use std::fmt::Write;

use crate::value::Value;
use crate::value::render::{format_double, format_float, write_text};
use crate::zone::TimeZone;

/// Appends `value` as JSON, NULL struct members left out.
pub fn write(value: &Value, zone: &TimeZone, out: &mut String) {
    write_json(value, zone, true, out);
}

/// Appends `value` as JSON with its NULL struct members kept
/// (`get_json_object` copies JSON as it is).
pub fn write_keeping_nulls(value: &Value, zone: &TimeZone, out: &mut String) {
    write_json(value, zone, false, out);
}

fn write_json(value: &Value, zone: &TimeZone, skip_nulls: bool, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Float(f) if !f.is_finite() => write_string(&format_float(*f), out),
        Value::Double(d) if !d.is_finite() => write_string(&format_double(*d), out),
        Value::Boolean(_) | Value::Byte(_) | Value::Short(_) | Value::Int(_) | Value::Long(_) => {
            write_text(value, zone, out)
        }
        Value::Float(_) | Value::Double(_) | Value::Decimal(_) => write_text(value, zone, out),
        Value::String(s) => write_string(s, out),
        Value::Binary(b) => write_string(&base64(b), out),
        Value::Date(_) | Value::Interval(_) => {
            let mut text = String::new();
            write_text(value, zone, &mut text);
            write_string(&text, out);
        }
        Value::Timestamp(micros) => write_string(&timestamp(*micros, zone), out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, zone, skip_nulls, out);
            }
            out.push(']');
        }
        Value::Struct(fields) => {
            out.push('{');
            let mut first = true;
            for (name, v) in fields.iter().filter(|(_, v)| !skip_nulls || !v.is_null()) {
                if !first {
                    out.push(',');
                }
                first = false;
                write_string(name, out);
                out.push(':');
                write_json(v, zone, skip_nulls, out);
            }
            out.push('}');
        }
        Value::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let mut key = String::new();
                write_text(k, zone, &mut key);
                write_string(&key, out);
                out.push(':');
                write_json(v, zone, skip_nulls, out);
            }
            out.push('}');
        }
    }
}

/// `yyyy-MM-dd'T'HH:mm:ss.SSSXXX`: milliseconds always, `Z` for UTC.
fn timestamp(micros: i64, zone: &TimeZone) -> String {
    use chrono::{Datelike, Timelike};
    let local = zone.utc_to_local(micros);
    let offset = zone.offset_seconds(micros);
    let zone_text = if offset == 0 {
        "Z".to_owned()
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let o = offset.unsigned_abs();
        let seconds = if !o.is_multiple_of(60) { format!(":{:02}", o % 60) } else { String::new() };
        format!("{sign}{:02}:{:02}{seconds}", o / 3600, o / 60 % 60)
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{zone_text}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
        local.nanosecond() / 1_000_000
    );
    out
}

/// A JSON string literal, escaped as Jackson escapes it.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_like_spark() {
        let zone = TimeZone::utc();
        let fields: crate::value::Fields = vec![
            ("a".into(), Value::Long(1)),
            ("b".into(), Value::Null),
            ("c".into(), Value::Double(1e20)),
            ("d".into(), Value::Array(vec![Value::Null, Value::string("x\"y")].into())),
            ("e".into(), Value::Timestamp(1_704_103_200_000_000)),
            ("f".into(), Value::Double(11114.0)),
        ]
        .into();
        let mut out = String::new();
        write(&Value::Struct(fields), &zone, &mut out);
        assert_eq!(out, r#"{"a":1,"c":1.0E20,"d":[null,"x\"y"],"e":"2024-01-01T10:00:00.000Z","f":11114.0}"#);
        assert_eq!(base64(b"hello"), "aGVsbG8=");
    }
}
