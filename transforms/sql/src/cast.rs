//! `CAST(x AS t)` with ANSI mode on, as Spark 4 does it: a value that does
//! not read as the target type, or does not fit it, is an error
//! (`try_cast` turns the error into NULL).

use std::rc::Rc;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use crate::error::EvalError;
use crate::value::render::to_text;
use crate::value::{DataType, Decimal, MAX_DECIMAL_PRECISION, Value};
use crate::zone::TimeZone;

/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `value` cast to `to`, timestamps read and written in `zone`.
pub fn cast(value: &Value, to: &DataType, zone: &TimeZone) -> Result<Value, EvalError> {
    if value.is_null() || matches!(to, DataType::Any | DataType::Null) || value.data_type() == *to {
        return Ok(value.clone());
    }
    let invalid = || invalid(value, to, zone);
    match to {
        DataType::String => Ok(Value::string(to_text(value, zone).unwrap_or_default())),
        DataType::Boolean => to_boolean(value).ok_or_else(invalid).map(Value::Boolean),
        DataType::Byte | DataType::Short | DataType::Int | DataType::Long => to_integral(value, to, zone),
        DataType::Float | DataType::Double => {
            let x = to_f64(value).ok_or_else(invalid)?;
            Ok(if *to == DataType::Float { Value::Float(x as f32) } else { Value::Double(x) })
        }
        DataType::Decimal(p, s) => to_decimal(value, *p, *s, zone).map(Value::Decimal),
        DataType::Date => match value {
            Value::String(s) => parse_date(s).map(Value::Date).ok_or_else(invalid),
            Value::Timestamp(t) => Ok(Value::Date(days_of(zone.utc_to_local(*t).date()))),
            _ => Err(invalid()),
        },
        DataType::Timestamp => match value {
            Value::String(s) => parse_timestamp(s, zone).map(Value::Timestamp).ok_or_else(invalid),
            Value::Date(d) => Ok(Value::Timestamp(zone.local_to_utc(date_of(*d).and_time(NaiveTime::MIN)))),
            v if v.data_type().is_numeric() => seconds_to_timestamp(v).ok_or_else(invalid),
            _ => Err(invalid()),
        },
        DataType::Binary => match value {
            Value::String(s) => Ok(Value::Binary(s.as_bytes().into())),
            _ => Err(invalid()),
        },
        DataType::Array(element) => match value {
            Value::Array(items) => {
                let items = items.iter().map(|v| cast(v, element, zone)).collect::<Result<Vec<_>, _>>()?;
                Ok(Value::Array(items.into()))
            }
            _ => Err(invalid()),
        },
        _ => Err(invalid()),
    }
}

/// The error for `value` that does not read as `to`.
fn invalid(value: &Value, to: &DataType, zone: &TimeZone) -> EvalError {
    let text = to_text(value, zone).unwrap_or_default();
    let quoted = if matches!(value, Value::String(_)) { format!("'{text}'") } else { text };
    EvalError::InvalidCast { value: quoted, from: value.data_type().to_string(), to: to.to_string() }
}

fn overflow(value: &Value, to: &DataType, zone: &TimeZone) -> EvalError {
    let text = to_text(value, zone).unwrap_or_default();
    EvalError::CastOverflow { value: text, from: value.data_type().to_string(), to: to.to_string() }
}

/// Spark's string and number to boolean.
pub fn to_boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Boolean(b) => Some(*b),
        Value::String(s) => {
            let s = s.trim();
            let any = |words: &[&str]| words.iter().any(|w| w.eq_ignore_ascii_case(s));
            if any(&["t", "true", "y", "yes", "1"]) {
                Some(true)
            } else if any(&["f", "false", "n", "no", "0"]) {
                Some(false)
            } else {
                None
            }
        }
        v => to_f64(v).map(|x| x != 0.0),
    }
}

/// Any number, a boolean (1 or 0) or a numeric string as a double.
pub fn to_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Byte(_) | Value::Short(_) | Value::Int(_) | Value::Long(_) => value.as_i64().map(|i| i as f64),
        Value::Float(f) => Some(f64::from(*f)),
        Value::Double(d) => Some(*d),
        Value::Decimal(d) => Some(d.to_f64()),
        Value::Boolean(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::String(s) => parse_double(s),
        _ => None,
    }
}

/// A string as Spark reads a double: trimmed, `NaN`, `Infinity`, an
/// optional `d`/`f` suffix.
pub fn parse_double(text: &str) -> Option<f64> {
    let t = text.trim();
    match t.to_ascii_lowercase().as_str() {
        "nan" => return Some(f64::NAN),
        "infinity" | "+infinity" | "inf" | "+inf" => return Some(f64::INFINITY),
        "-infinity" | "-inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    let t = t.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(t);
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return None;
    }
    t.parse().ok()
}

fn to_integral(value: &Value, to: &DataType, zone: &TimeZone) -> Result<Value, EvalError> {
    let wide: i128 = match value {
        Value::Boolean(b) => i128::from(*b),
        Value::String(s) => s.trim().parse::<i128>().map_err(|_| invalid(value, to, zone))?,
        Value::Float(_) | Value::Double(_) => {
            let x = to_f64(value).unwrap_or(f64::NAN);
            if !x.is_finite() || x.trunc().abs() >= 1.8e19 {
                return Err(overflow(value, to, zone));
            }
            x.trunc() as i128
        }
        Value::Decimal(d) => d.unscaled / 10i128.pow(d.scale.into()),
        Value::Timestamp(t) => i128::from(t.div_euclid(1_000_000)),
        v => v.as_i64().map(i128::from).ok_or_else(|| invalid(value, to, zone))?,
    };
    let out = match to {
        DataType::Byte => i8::try_from(wide).ok().map(Value::Byte),
        DataType::Short => i16::try_from(wide).ok().map(Value::Short),
        DataType::Int => i32::try_from(wide).ok().map(Value::Int),
        _ => i64::try_from(wide).ok().map(Value::Long),
    };
    out.ok_or_else(|| overflow(value, to, zone))
}

/// `value` as `DECIMAL(precision, scale)`, rounded half up.
pub fn to_decimal(value: &Value, precision: u8, scale: u8, zone: &TimeZone) -> Result<Decimal, EvalError> {
    let to = DataType::Decimal(precision, scale);
    let unscaled = match value {
        Value::Decimal(d) => rescale(d.unscaled, d.scale, scale),
        Value::String(s) => parse_decimal_text(s.trim(), scale).ok_or_else(|| invalid(value, &to, zone))?,
        Value::Float(_) | Value::Double(_) => {
            let x = to_f64(value).unwrap_or(f64::NAN);
            if !x.is_finite() {
                return Err(invalid(value, &to, zone));
            }
            parse_decimal_text(&format!("{x:e}"), scale).ok_or_else(|| overflow(value, &to, zone))?
        }
        Value::Boolean(b) => rescale(i128::from(*b), 0, scale),
        v => rescale(v.as_i64().map(i128::from).ok_or_else(|| invalid(value, &to, zone))?, 0, scale),
    };
    let limit = 10i128.pow(u32::from(precision.min(MAX_DECIMAL_PRECISION)));
    if unscaled.abs() >= limit {
        return Err(EvalError::Overflow(format!(
            "the value {} cannot be represented as {to}: decimal",
            to_text(value, zone).unwrap_or_default()
        )));
    }
    Ok(Decimal { unscaled, precision, scale })
}

/// `unscaled` at scale `from` rescaled to scale `to`, rounding half up.
pub fn rescale(unscaled: i128, from: u8, to: u8) -> i128 {
    if to >= from {
        return unscaled.saturating_mul(10i128.pow(u32::from(to - from)));
    }
    let divisor = 10i128.pow(u32::from(from - to));
    let (q, r) = (unscaled / divisor, unscaled % divisor);
    if r.abs() * 2 >= divisor { q + unscaled.signum() } else { q }
}

/// A decimal or scientific number as an unscaled integer at `scale`.
fn parse_decimal_text(text: &str, scale: u8) -> Option<i128> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let negative = mantissa.starts_with('-');
    let mantissa = mantissa.trim_start_matches(['+', '-']);
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty() || !(whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())) {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    let digits: i128 = if digits.is_empty() { 0 } else { digits.get(..digits.len().min(38))?.parse().ok()? };
    let exp = i32::try_from(fraction.len()).ok()? - exponent;
    let unscaled = if exp >= 0 {
        rescale(digits, u8::try_from(exp).ok()?, scale)
    } else {
        rescale(digits.checked_mul(10i128.checked_pow(u32::try_from(-exp).ok()?)?)?, 0, scale)
    };
    Some(if negative { -unscaled } else { unscaled })
}

/// `1970-01-01` plus `days`.
pub fn date_of(days: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() + chrono::TimeDelta::days(days.into())
}

/// Days since 1970-01-01.
pub fn days_of(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((date - epoch).num_days()).unwrap_or(i32::MAX)
}

/// Spark's string to date: `yyyy`, `yyyy-[m]m`, `yyyy-[m]m-[d]d`, with
/// anything after a `T` or space ignored.
pub fn parse_date(text: &str) -> Option<i32> {
    let t = text.trim();
    let t = t.split(['T', ' ']).next()?;
    let mut parts = t.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next().map_or(Some(1), |m| m.parse().ok())?;
    let day: u32 = parts.next().map_or(Some(1), |d| d.parse().ok())?;
    NaiveDate::from_ymd_opt(year, month, day).map(days_of)
}

/// Spark's string to timestamp: a date, then optionally `T` or a space and
/// `HH:mm[:ss[.fraction]]`, then optionally a zone (`Z`, `+05:30`, `UTC`,
/// a region). Without a zone the time is read in `zone`.
pub fn parse_timestamp(text: &str, zone: &TimeZone) -> Option<i64> {
    let t = text.trim();
    let split = t.find(['T', ' ']);
    let (date_part, rest) = match split {
        Some(at) => (&t[..at], t[at + 1..].trim_start()),
        None => (t, ""),
    };
    let date = date_of(parse_date(date_part)?);
    if rest.is_empty() {
        return Some(zone.local_to_utc(date.and_time(NaiveTime::MIN)));
    }
    let zone_at = rest.find(|c: char| c == 'Z' || c == '+' || c == '-' || c.is_ascii_alphabetic() || c == ' ');
    let (clock, zone_text) = zone_at.map_or((rest, ""), |at| (&rest[..at], rest[at..].trim()));
    let time = parse_clock(clock)?;
    let local = NaiveDateTime::new(date, time);
    let zone = if zone_text.is_empty() { *zone } else { TimeZone::parse(zone_text)? };
    Some(zone.local_to_utc(local))
}

fn parse_clock(text: &str) -> Option<NaiveTime> {
    let (hms, fraction) = text.split_once('.').unwrap_or((text, ""));
    let mut parts = hms.split(':');
    let h: u32 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let s: u32 = parts.next().map_or(Some(0), |s| s.parse().ok())?;
    if parts.next().is_some() || fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let micros: u32 =
        if fraction.is_empty() { 0 } else { format!("{:0<6}", &fraction[..fraction.len().min(6)]).parse().ok()? };
    NaiveTime::from_hms_micro_opt(h, m, s, micros)
}

/// Seconds since the epoch (any number) as a timestamp.
fn seconds_to_timestamp(value: &Value) -> Option<Value> {
    match value {
        Value::Float(_) | Value::Double(_) | Value::Decimal(_) => {
            let s = to_f64(value)?;
            s.is_finite().then_some(Value::Timestamp((s * 1e6) as i64))
        }
        v => v.as_i64()?.checked_mul(1_000_000).map(Value::Timestamp),
    }
}

/// `Rc<str>` of a string value, cast from anything else.
pub fn text_of(value: &Value, zone: &TimeZone) -> Option<Rc<str>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Rc::clone(s)),
        v => to_text(v, zone).map(Rc::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(value: Value, to: DataType) -> Result<Value, EvalError> {
        cast(&value, &to, &TimeZone::utc())
    }

    #[test]
    fn ansi_casts() {
        assert_eq!(c(Value::string(" 42 "), DataType::Int), Ok(Value::Int(42)));
        assert!(matches!(c(Value::string("4x"), DataType::Int), Err(EvalError::InvalidCast { .. })));
        assert!(matches!(c(Value::Long(1 << 40), DataType::Int), Err(EvalError::CastOverflow { .. })));
        assert_eq!(c(Value::Double(2.9), DataType::Int), Ok(Value::Int(2)));
        assert_eq!(c(Value::string("yes"), DataType::Boolean), Ok(Value::Boolean(true)));
        assert_eq!(c(Value::Double(1e20), DataType::String), Ok(Value::string("1.0E20")));
        assert_eq!(
            c(Value::string("12.345"), DataType::Decimal(5, 2)),
            Ok(Value::Decimal(Decimal { unscaled: 1235, precision: 5, scale: 2 }))
        );
        assert_eq!(
            c(Value::string("2024-01-01 10:00:00"), DataType::Timestamp),
            Ok(Value::Timestamp(1_704_103_200_000_000))
        );
        assert_eq!(
            c(Value::string("2024-01-01T10:00:00Z"), DataType::Timestamp),
            Ok(Value::Timestamp(1_704_103_200_000_000))
        );
        assert_eq!(
            c(Value::string("2024-01-01T15:30:00+05:30"), DataType::Timestamp),
            Ok(Value::Timestamp(1_704_103_200_000_000))
        );
        assert_eq!(c(Value::Timestamp(1_704_103_200_000_000), DataType::Date), Ok(Value::Date(19_723)));
    }
}
