//! Values as text, the way Spark's `CAST(x AS STRING)` writes them.
//!
//! Doubles and floats follow Java's `Double.toString`, which Spark uses:
//! plain decimal with at least one fraction digit between 10^-3 and 10^7
//! (`11114.0`, `0.001`), otherwise scientific with a capital `E` and no `+`
//! (`1.0E20`, `1.0E-4`); the digits are the shortest that read back to the
//! same number. Timestamps are written in the session time zone.

use std::fmt::Write;

use chrono::NaiveDate;

use super::{Decimal, Interval, Value};
use crate::zone::TimeZone;

/// Spark's `CAST(value AS STRING)`, timestamps in `zone`; `None` for NULL.
pub fn to_text(value: &Value, zone: &TimeZone) -> Option<String> {
    if value.is_null() {
        return None;
    }
    let mut out = String::new();
    write_text(value, zone, &mut out);
    Some(out)
}

/// Appends `value` as Spark's cast to string writes it; NULL as `null`
/// (how it appears inside arrays and structs).
pub fn write_text(value: &Value, zone: &TimeZone, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Byte(v) => push_display(out, v),
        Value::Short(v) => push_display(out, v),
        Value::Int(v) => push_display(out, v),
        Value::Long(v) => push_display(out, v),
        Value::Float(v) => out.push_str(&format_float(*v)),
        Value::Double(v) => out.push_str(&format_double(*v)),
        Value::Decimal(d) => write_decimal(*d, out),
        Value::String(s) => out.push_str(s),
        Value::Binary(b) => out.push_str(&String::from_utf8_lossy(b)),
        Value::Date(days) => write_date(*days, out),
        Value::Timestamp(micros) => write_timestamp(zone.utc_to_local(*micros), out),
        Value::Array(items) => write_list(out, '[', ']', items.iter(), |v, out| write_text(v, zone, out)),
        Value::Struct(fields) => write_list(out, '{', '}', fields.iter(), |(_, v), out| write_text(v, zone, out)),
        Value::Map(entries) => write_list(out, '{', '}', entries.iter(), |(k, v), out| {
            write_text(k, zone, out);
            out.push_str(" -> ");
            write_text(v, zone, out);
        }),
        Value::Interval(i) => write_interval(*i, out),
    }
}

fn push_display(out: &mut String, value: impl std::fmt::Display) {
    let _ = write!(out, "{value}");
}

fn write_list<T>(
    out: &mut String,
    open: char,
    close: char,
    items: impl Iterator<Item = T>,
    mut each: impl FnMut(T, &mut String),
) {
    out.push(open);
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        each(item, out);
    }
    out.push(close);
}

/// A double as Java's `Double.toString` writes it.
pub fn format_double(value: f64) -> String {
    java_style(value.is_nan(), value.is_infinite(), value < 0.0, value.abs() >= 1e-3 && value.abs() < 1e7, || {
        (format!("{value}"), format!("{value:e}"))
    })
}

/// A float as Java's `Float.toString` writes it.
pub fn format_float(value: f32) -> String {
    java_style(value.is_nan(), value.is_infinite(), value < 0.0, value.abs() >= 1e-3 && value.abs() < 1e7, || {
        (format!("{value}"), format!("{value:e}"))
    })
}

/// Shared by [`format_double`] and [`format_float`]: `texts` gives Rust's
/// shortest plain and scientific forms.
fn java_style(nan: bool, infinite: bool, negative: bool, plain: bool, texts: impl Fn() -> (String, String)) -> String {
    if nan {
        return "NaN".to_owned();
    }
    if infinite {
        return if negative { "-Infinity" } else { "Infinity" }.to_owned();
    }
    let (plain_text, scientific) = texts();
    if plain_text == "0" || plain_text == "-0" {
        return format!("{plain_text}.0");
    }
    if plain {
        return if plain_text.contains('.') { plain_text } else { format!("{plain_text}.0") };
    }
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let mantissa = if mantissa.contains('.') { mantissa.to_owned() } else { format!("{mantissa}.0") };
    format!("{mantissa}E{exponent}")
}

/// A decimal with exactly `scale` fraction digits (`1.50`, `-0.05`).
fn write_decimal(d: Decimal, out: &mut String) {
    let digits = d.unscaled.unsigned_abs().to_string();
    if d.unscaled < 0 {
        out.push('-');
    }
    let scale = usize::from(d.scale);
    if scale == 0 {
        out.push_str(&digits);
        return;
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    let _ = write!(out, "{whole}.{fraction}");
}

/// `yyyy-MM-dd`.
pub fn write_date(days: i32, out: &mut String) {
    match NaiveDate::from_ymd_opt(1970, 1, 1).and_then(|e| e.checked_add_signed(chrono::TimeDelta::days(days.into()))) {
        Some(date) => push_year_date(date, out),
        None => push_display(out, days),
    }
}

fn push_year_date(date: NaiveDate, out: &mut String) {
    use chrono::Datelike;
    let _ = write!(out, "{:04}-{:02}-{:02}", date.year(), date.month(), date.day());
}

/// `yyyy-MM-dd HH:mm:ss[.f]`, the fraction without trailing zeros.
pub fn write_timestamp(local: chrono::NaiveDateTime, out: &mut String) {
    use chrono::Timelike;
    push_year_date(local.date(), out);
    let _ = write!(out, " {:02}:{:02}:{:02}", local.hour(), local.minute(), local.second());
    let micros = local.nanosecond() / 1000;
    if micros > 0 {
        let fraction = format!("{micros:06}");
        let _ = write!(out, ".{}", fraction.trim_end_matches('0'));
    }
}

/// Spark's `INTERVAL '...' ...` form for the common shapes.
fn write_interval(i: Interval, out: &mut String) {
    if i.days == 0 && i.micros == 0 {
        let sign = if i.months < 0 { "-" } else { "" };
        let m = i.months.unsigned_abs();
        let _ = write!(out, "INTERVAL '{sign}{}-{}' YEAR TO MONTH", m / 12, m % 12);
        return;
    }
    let total = i64::from(i.days) * 86_400_000_000 + i.micros;
    let sign = if total < 0 { "-" } else { "" };
    let t = total.unsigned_abs();
    let (days, rest) = (t / 86_400_000_000, t % 86_400_000_000);
    let (h, m, s, us) = (rest / 3_600_000_000, rest / 60_000_000 % 60, rest / 1_000_000 % 60, rest % 1_000_000);
    let fraction = if us > 0 { format!(".{us:06}") } else { String::new() };
    let _ = write!(out, "INTERVAL '{sign}{days} {h:02}:{m:02}:{s:02}{fraction}' DAY TO SECOND");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_as_java_writes_them() {
        let cases = [
            (1e20, "1.0E20"),
            (11114.0, "11114.0"),
            (0.1, "0.1"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1.5e-7, "1.5E-7"),
            (1e7, "1.0E7"),
            (9999999.0, "9999999.0"),
            (123456789.123, "1.23456789123E8"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (value, text) in cases {
            assert_eq!(format_double(value), text, "{value}");
        }
        assert_eq!(format_float(1.1), "1.1");
        assert_eq!(format_float(3e10), "3.0E10");
    }

    #[test]
    fn decimals_keep_their_scale() {
        let text = |unscaled, scale| {
            let mut out = String::new();
            write_decimal(Decimal { unscaled, precision: 10, scale }, &mut out);
            out
        };
        assert_eq!(text(150, 2), "1.50");
        assert_eq!(text(-5, 2), "-0.05");
        assert_eq!(text(42, 0), "42");
    }

    #[test]
    fn nested_values_and_times() {
        let zone = TimeZone::utc();
        let text = |v: &Value| to_text(v, &zone).unwrap();
        let array = Value::Array(vec![Value::Long(1), Value::Null, Value::string("a")].into());
        assert_eq!(text(&array), "[1, null, a]");
        let fields: super::super::Fields = vec![("a".into(), Value::Int(1)), ("b".into(), Value::Boolean(true))].into();
        assert_eq!(text(&Value::Struct(fields)), "{1, true}");
        assert_eq!(text(&Value::Date(19_723)), "2024-01-01");
        assert_eq!(text(&Value::Timestamp(1_704_067_200_500_000)), "2024-01-01 00:00:00.5");
        assert_eq!(text(&Value::Timestamp(0)), "1970-01-01 00:00:00");
    }
}
