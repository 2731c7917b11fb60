//! Operators on values with Spark's implicit casts and ANSI errors:
//! arithmetic (`+ - * / % div`) and comparison.
//!
//! Integers widen to the wider operand (`INT + BIGINT` is `BIGINT`) and
//! overflow is an error; `/` of integers is a `DOUBLE`; decimals follow
//! Spark's result precision and scale rules; a `DOUBLE` operand makes the
//! result a `DOUBLE`. Division by zero is an error for every type. A string
//! operand of arithmetic is read as a `DOUBLE`; a string compared with a
//! number, boolean, date or timestamp is cast to that type (an error if it
//! does not read as one), as ANSI mode does.

use std::cmp::Ordering;

use crate::cast::{self, cast, rescale};
use crate::error::EvalError;
use crate::value::{DataType, Decimal, Interval, Value};
use crate::zone::TimeZone;

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    /// `div`: integral division, a `BIGINT`.
    IntDiv,
}

/// The numeric class of an operand, after reading strings as doubles.
enum Num {
    Int(i64, u8),
    Dec(Decimal),
    Float(f64, bool),
}

fn classify(value: &Value) -> Option<Num> {
    Some(match value {
        Value::Byte(v) => Num::Int((*v).into(), 1),
        Value::Short(v) => Num::Int((*v).into(), 2),
        Value::Int(v) => Num::Int((*v).into(), 3),
        Value::Long(v) => Num::Int(*v, 4),
        Value::Decimal(d) => Num::Dec(*d),
        Value::Float(f) => Num::Float((*f).into(), true),
        Value::Double(d) => Num::Float(*d, false),
        Value::String(s) => Num::Float(cast::parse_double(s)?, false),
        _ => return None,
    })
}

/// `left op right`; NULL if either is NULL.
pub fn arith(op: ArithOp, left: &Value, right: &Value, zone: &TimeZone) -> Result<Value, EvalError> {
    if left.is_null() || right.is_null() {
        return Ok(Value::Null);
    }
    if let Some(v) = date_arith(op, left, right, zone)? {
        return Ok(v);
    }
    let operand = |v: &Value| {
        classify(v).ok_or_else(|| match v {
            Value::String(_) => invalid_double(v, zone),
            _ => EvalError::Type {
                what: format!("the operand of {}", symbol(op)),
                found: v.data_type().to_string(),
                expected: "a number".to_owned(),
            },
        })
    };
    match (operand(left)?, operand(right)?) {
        (Num::Int(a, ra), Num::Int(b, rb)) => int_arith(op, a, b, ra.max(rb)),
        (Num::Float(a, fa), Num::Float(b, fb)) => float_arith(op, a, b, fa && fb),
        (Num::Float(a, f), Num::Int(b, _)) => float_arith(op, a, b as f64, f),
        (Num::Int(a, _), Num::Float(b, f)) => float_arith(op, a as f64, b, f),
        (Num::Float(a, _), Num::Dec(d)) => float_arith(op, a, d.to_f64(), false),
        (Num::Dec(d), Num::Float(b, _)) => float_arith(op, d.to_f64(), b, false),
        (Num::Dec(a), Num::Dec(b)) => decimal_arith(op, a, b),
        (Num::Dec(a), Num::Int(b, r)) => decimal_arith(op, a, int_decimal(b, r)),
        (Num::Int(a, r), Num::Dec(b)) => decimal_arith(op, int_decimal(a, r), b),
    }
}

fn invalid_double(v: &Value, zone: &TimeZone) -> EvalError {
    match cast(v, &DataType::Double, zone) {
        Err(e) => e,
        Ok(_) => EvalError::function("not a number"),
    }
}

fn symbol(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "+",
        ArithOp::Sub => "-",
        ArithOp::Mul => "*",
        ArithOp::Div => "/",
        ArithOp::Rem => "%",
        ArithOp::IntDiv => "div",
    }
}

/// `DATE + n`, `DATE - n` (days), `DATE - DATE` (days as an `INT`),
/// `DATE ± INTERVAL`: a `DATE` for whole days and months, as Spark's
/// `DateAdd`/`DateAddYMInterval`, else a `TIMESTAMP` from the date's
/// midnight in the session zone.
fn date_arith(op: ArithOp, left: &Value, right: &Value, zone: &TimeZone) -> Result<Option<Value>, EvalError> {
    let days = |v: &Value| v.as_i64().and_then(|d| i32::try_from(d).ok());
    Ok(match (op, left, right) {
        (ArithOp::Add | ArithOp::Sub, Value::Date(d), Value::Interval(i))
        | (ArithOp::Add, Value::Interval(i), Value::Date(d)) => Some(date_plus_interval(op, *d, i, zone)?),
        (ArithOp::Add, Value::Date(d), n) | (ArithOp::Add, n, Value::Date(d)) if n.as_i64().is_some() => {
            Some(Value::Date(d.checked_add(days(n).unwrap_or(i32::MAX)).ok_or_else(|| overflow("date"))?))
        }
        (ArithOp::Sub, Value::Date(d), n) if n.as_i64().is_some() => {
            Some(Value::Date(d.checked_sub(days(n).unwrap_or(i32::MAX)).ok_or_else(|| overflow("date"))?))
        }
        (ArithOp::Sub, Value::Date(a), Value::Date(b)) => Some(Value::Int(a - b)),
        (ArithOp::Add | ArithOp::Sub, Value::Timestamp(t), Value::Interval(i)) => {
            let sign = if op == ArithOp::Sub { -1 } else { 1 };
            let micros = i64::from(i.days) * cast::MICROS_PER_DAY + i.micros;
            let moved = if i.months != 0 {
                let zone = TimeZone::utc();
                let local = zone.utc_to_local(*t);
                let shifted = if sign * i.months > 0 {
                    local.checked_add_months(chrono::Months::new((i.months.unsigned_abs()).min(1 << 20)))
                } else {
                    local.checked_sub_months(chrono::Months::new((i.months.unsigned_abs()).min(1 << 20)))
                };
                shifted.map_or(*t, |l| zone.local_to_utc(l))
            } else {
                *t
            };
            Some(Value::Timestamp(moved.checked_add(i64::from(sign) * micros).ok_or_else(|| overflow("timestamp"))?))
        }
        _ => None,
    })
}

fn date_plus_interval(op: ArithOp, date: i32, i: &Interval, zone: &TimeZone) -> Result<Value, EvalError> {
    if i.micros != 0 {
        let midnight = cast::cast(&Value::Date(date), &DataType::Timestamp, zone)?;
        let moved = date_arith(op, &midnight, &Value::Interval(*i), zone)?;
        return Ok(moved.expect("a timestamp and an interval"));
    }
    let (months, days) = if op == ArithOp::Sub { (-i.months, -i.days) } else { (i.months, i.days) };
    let day = cast::date_of(date);
    let shifted = match months {
        0 => Some(day),
        m if m > 0 => day.checked_add_months(chrono::Months::new(m.unsigned_abs())),
        m => day.checked_sub_months(chrono::Months::new(m.unsigned_abs())),
    };
    let shifted = cast::days_of(shifted.ok_or_else(|| overflow("date"))?);
    Ok(Value::Date(shifted.checked_add(days).ok_or_else(|| overflow("date"))?))
}

/// The ANSI error of dividing by a zero divisor, if `op` divides.
fn zero_divisor(op: ArithOp) -> Result<(), EvalError> {
    match op {
        ArithOp::Div | ArithOp::IntDiv => Err(EvalError::DivideByZero),
        ArithOp::Rem => Err(EvalError::RemainderByZero),
        _ => Ok(()),
    }
}

fn overflow(what: &str) -> EvalError {
    EvalError::Overflow(what.to_owned())
}

fn int_arith(op: ArithOp, a: i64, b: i64, rank: u8) -> Result<Value, EvalError> {
    let name = ["tinyint", "smallint", "integer", "long"][usize::from(rank.clamp(1, 4) - 1)];
    if b == 0 {
        zero_divisor(op)?;
    }
    let result = match op {
        ArithOp::Add => a.checked_add(b),
        ArithOp::Sub => a.checked_sub(b),
        ArithOp::Mul => a.checked_mul(b),
        ArithOp::Div => return Ok(Value::Double(a as f64 / b as f64)),
        ArithOp::Rem => a.checked_rem(b),
        ArithOp::IntDiv => return a.checked_div(b).map(Value::Long).ok_or_else(|| overflow("long")),
    };
    let result = result.ok_or_else(|| overflow(name))?;
    let fits = |lo: i64, hi: i64| (lo..=hi).contains(&result).then_some(result);
    match rank {
        1 => fits(i8::MIN.into(), i8::MAX.into()).map(|r| Value::Byte(r as i8)),
        2 => fits(i16::MIN.into(), i16::MAX.into()).map(|r| Value::Short(r as i16)),
        3 => fits(i32::MIN.into(), i32::MAX.into()).map(|r| Value::Int(r as i32)),
        _ => Some(Value::Long(result)),
    }
    .ok_or_else(|| overflow(name))
}

fn float_arith(op: ArithOp, a: f64, b: f64, single: bool) -> Result<Value, EvalError> {
    if b == 0.0 {
        zero_divisor(op)?;
    }
    let x = match op {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div => a / b,
        ArithOp::Rem => a % b,
        ArithOp::IntDiv => {
            let q = (a / b).trunc();
            if !q.is_finite() || q.abs() >= 9.2e18 {
                return Err(overflow("long"));
            }
            return Ok(Value::Long(q as i64));
        }
    };
    Ok(if single && op != ArithOp::Div { Value::Float(x as f32) } else { Value::Double(x) })
}

fn int_decimal(v: i64, rank: u8) -> Decimal {
    let precision = [3, 5, 10, 20][usize::from(rank.clamp(1, 4) - 1)];
    Decimal { unscaled: v.into(), precision, scale: 0 }
}

/// Spark's bound on a result's precision: the integral digits are kept and
/// the scale shrinks, to no less than 6.
fn adjust(precision: u32, scale: u32) -> (u8, u8) {
    if precision <= 38 {
        return (precision as u8, scale as u8);
    }
    let integral = precision - scale;
    let min_scale = scale.min(6);
    (38, (38u32.saturating_sub(integral)).max(min_scale) as u8)
}

fn decimal_arith(op: ArithOp, a: Decimal, b: Decimal) -> Result<Value, EvalError> {
    let (p1, s1, p2, s2) = (u32::from(a.precision), u32::from(a.scale), u32::from(b.precision), u32::from(b.scale));
    if b.unscaled == 0 {
        zero_divisor(op)?;
    }
    let (precision, scale) = match op {
        ArithOp::Add | ArithOp::Sub => {
            let s = s1.max(s2);
            adjust((p1 - s1).max(p2 - s2) + s + 1, s)
        }
        ArithOp::Mul => adjust(p1 + p2 + 1, s1 + s2),
        ArithOp::Div => {
            let s = 6u32.max(s1 + p2 + 1);
            adjust(p1 - s1 + s2 + s, s)
        }
        ArithOp::Rem => {
            let s = s1.max(s2);
            adjust((p1 - s1).min(p2 - s2) + s, s)
        }
        ArithOp::IntDiv => {
            let s = a.scale.max(b.scale);
            let q = rescale(a.unscaled, a.scale, s) / rescale(b.unscaled, b.scale, s);
            return i64::try_from(q).map(Value::Long).map_err(|_| overflow("long"));
        }
    };
    let common = a.scale.max(b.scale);
    let (x, y) = (rescale(a.unscaled, a.scale, common), rescale(b.unscaled, b.scale, common));
    let unscaled = match op {
        ArithOp::Add => x.checked_add(y).map(|r| rescale(r, common, scale)),
        ArithOp::Sub => x.checked_sub(y).map(|r| rescale(r, common, scale)),
        ArithOp::Mul => a.unscaled.checked_mul(b.unscaled).map(|r| rescale(r, a.scale + b.scale, scale)),
        ArithOp::Rem => x.checked_rem(y).map(|r| rescale(r, common, scale)),
        ArithOp::Div => divide(a, b, scale),
        ArithOp::IntDiv => None,
    };
    let unscaled = unscaled.ok_or_else(|| overflow("decimal"))?;
    if unscaled.unsigned_abs() >= 10u128.pow(u32::from(precision)) {
        return Err(EvalError::Overflow(format!("decimal {precision},{scale}")));
    }
    Ok(Value::Decimal(Decimal { unscaled, precision, scale }))
}

/// `a / b` at `scale`, rounded half up.
fn divide(a: Decimal, b: Decimal, scale: u8) -> Option<i128> {
    // a.u / 10^sa / (b.u / 10^sb) * 10^scale = a.u * 10^(scale + sb - sa) / b.u, computed one digit extra.
    let shift = i32::from(scale) + i32::from(b.scale) - i32::from(a.scale) + 1;
    let numerator = if shift >= 0 {
        a.unscaled.checked_mul(10i128.checked_pow(shift as u32)?)?
    } else {
        a.unscaled / 10i128.checked_pow((-shift) as u32)?
    };
    let q = numerator / b.unscaled;
    Some(rescale(q, 1, 0))
}

/// The ordering of two values after Spark's implicit casts; `None` when
/// either is NULL (or inside nested values, a NULL meets a value).
pub fn compare(left: &Value, right: &Value, zone: &TimeZone) -> Result<Option<Ordering>, EvalError> {
    use Value as V;
    if left.is_null() || right.is_null() {
        return Ok(None);
    }
    Ok(Some(match (left, right) {
        (V::String(a), V::String(b)) => a.as_bytes().cmp(b.as_bytes()),
        (V::Boolean(a), V::Boolean(b)) => a.cmp(b),
        (V::Binary(a), V::Binary(b)) => a.cmp(b),
        (V::Date(a), V::Date(b)) => a.cmp(b),
        (V::Timestamp(a), V::Timestamp(b)) => a.cmp(b),
        (V::Date(_), V::Timestamp(_)) => return compare(&cast(left, &DataType::Timestamp, zone)?, right, zone),
        (V::Timestamp(_), V::Date(_)) => return compare(left, &cast(right, &DataType::Timestamp, zone)?, zone),
        (V::String(_), other) | (other, V::String(_)) if !matches!(other, V::Array(_) | V::Struct(_) | V::Map(_)) => {
            let target = string_target(other);
            let (l, r) = if matches!(left, V::String(_)) {
                (cast(left, &target, zone)?, right.clone())
            } else {
                (left.clone(), cast(right, &target, zone)?)
            };
            return compare(&l, &r, zone);
        }
        (V::Array(a), V::Array(b)) => return compare_seq(a.iter(), b.iter(), zone),
        (V::Struct(a), V::Struct(b)) => return compare_seq(a.iter().map(|f| &f.1), b.iter().map(|f| &f.1), zone),
        (a, b) => match (classify(a), classify(b)) {
            (Some(x), Some(y)) => compare_numbers(x, y),
            _ => {
                return Err(EvalError::Type {
                    what: "a comparison".to_owned(),
                    found: format!("{} against {}", a.data_type(), b.data_type()),
                    expected: "two comparable values".to_owned(),
                });
            }
        },
    }))
}

/// What a string is cast to when it meets `other`: its type, except that a
/// whole-number type reads the string as `BIGINT`.
fn string_target(other: &Value) -> DataType {
    match other.data_type() {
        DataType::Byte | DataType::Short | DataType::Int => DataType::Long,
        DataType::Float => DataType::Double,
        t => t,
    }
}

fn compare_seq<'v>(
    a: impl Iterator<Item = &'v Value>,
    b: impl Iterator<Item = &'v Value> + Clone,
    zone: &TimeZone,
) -> Result<Option<Ordering>, EvalError> {
    let mut b = b;
    for x in a {
        let Some(y) = b.next() else { return Ok(Some(Ordering::Greater)) };
        match (x.is_null(), y.is_null()) {
            (true, true) => continue,
            (true, false) => return Ok(Some(Ordering::Less)),
            (false, true) => return Ok(Some(Ordering::Greater)),
            _ => {}
        }
        match compare(x, y, zone)? {
            Some(Ordering::Equal) => {}
            other => return Ok(other),
        }
    }
    Ok(Some(if b.next().is_some() { Ordering::Less } else { Ordering::Equal }))
}

fn compare_numbers(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Int(x, _), Num::Int(y, _)) => x.cmp(&y),
        (Num::Dec(x), Num::Dec(y)) => {
            let s = x.scale.max(y.scale);
            rescale(x.unscaled, x.scale, s).cmp(&rescale(y.unscaled, y.scale, s))
        }
        (Num::Dec(x), Num::Int(y, r)) => compare_numbers(Num::Dec(x), Num::Dec(int_decimal(y, r))),
        (Num::Int(x, r), Num::Dec(y)) => compare_numbers(Num::Dec(int_decimal(x, r)), Num::Dec(y)),
        (x, y) => compare_doubles(as_f64(&x), as_f64(&y)),
    }
}

fn as_f64(n: &Num) -> f64 {
    match n {
        Num::Int(i, _) => *i as f64,
        Num::Dec(d) => d.to_f64(),
        Num::Float(f, _) => *f,
    }
}

/// NaN equals NaN and sorts above everything; -0.0 equals 0.0 (Spark).
pub fn compare_doubles(x: f64, y: f64) -> Ordering {
    x.partial_cmp(&y).unwrap_or_else(|| x.is_nan().cmp(&y.is_nan()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(op: ArithOp, l: Value, r: Value) -> Result<Value, EvalError> {
        arith(op, &l, &r, &TimeZone::utc())
    }

    fn dec(unscaled: i128, precision: u8, scale: u8) -> Value {
        Value::Decimal(Decimal { unscaled, precision, scale })
    }

    #[test]
    fn integer_arithmetic_is_exact_and_checked() {
        assert_eq!(a(ArithOp::Add, Value::Long(2), Value::Int(3)), Ok(Value::Long(5)));
        assert_eq!(a(ArithOp::Div, Value::Long(1), Value::Long(2)), Ok(Value::Double(0.5)));
        assert_eq!(a(ArithOp::IntDiv, Value::Long(7), Value::Long(2)), Ok(Value::Long(3)));
        assert_eq!(a(ArithOp::Rem, Value::Long(-7), Value::Long(2)), Ok(Value::Long(-1)));
        assert_eq!(a(ArithOp::Div, Value::Long(1), Value::Long(0)), Err(EvalError::DivideByZero));
        assert_eq!(a(ArithOp::Mul, Value::Long(i64::MAX), Value::Long(2)), Err(EvalError::Overflow("long".into())));
        assert_eq!(a(ArithOp::Add, Value::Int(i32::MAX), Value::Int(1)), Err(EvalError::Overflow("integer".into())));
    }

    #[test]
    fn decimal_arithmetic_follows_spark_scales() {
        assert_eq!(a(ArithOp::Mul, Value::Long(3), dec(1, 1, 1)), Ok(dec(3, 22, 1)));
        assert_eq!(a(ArithOp::Add, dec(150, 3, 2), dec(5, 2, 1)), Ok(dec(200, 4, 2)));
        assert_eq!(a(ArithOp::Div, dec(10, 2, 0), dec(3, 1, 0)), Ok(dec(3_333_333, 8, 6)));
        assert_eq!(a(ArithOp::Mul, Value::Double(12.5), dec(1, 1, 1)), Ok(Value::Double(1.25)));
    }

    #[test]
    fn compares_across_types() {
        let c = |l: Value, r: Value| compare(&l, &r, &TimeZone::utc());
        assert_eq!(c(Value::Long(2), Value::Double(2.0)), Ok(Some(Ordering::Equal)));
        assert_eq!(c(Value::string("10"), Value::Long(9)), Ok(Some(Ordering::Greater)));
        assert!(c(Value::string("ten"), Value::Long(9)).is_err());
        assert_eq!(c(Value::string("10"), Value::string("9")), Ok(Some(Ordering::Less)));
        assert_eq!(c(Value::Double(f64::NAN), Value::Double(f64::NAN)), Ok(Some(Ordering::Equal)));
        assert_eq!(c(Value::Null, Value::Long(1)), Ok(None));
        assert_eq!(c(dec(125, 3, 1), Value::Double(12.5)), Ok(Some(Ordering::Equal)));
    }
}
