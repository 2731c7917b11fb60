//! Math functions: `abs`, `round` (half up), `bround` (half to even),
//! `floor`, `ceil`, `pow`, `sqrt`, `exp`, `ln`, `log10`, `mod`, `pmod`,
//! `sign`.
//!
//! Types as Spark's: `abs`, `round` and `mod` keep their argument's type
//! (a decimal's scale adjusted), `floor`/`ceil` of a double is a `BIGINT`,
//! the others are `DOUBLE`s. ANSI errors: `abs` of the smallest integer
//! overflows, `mod`/`pmod` by zero is `[REMAINDER_BY_ZERO]`, `floor` of a
//! double beyond `BIGINT` overflows. Doubles round on their shortest
//! decimal digits as Spark's `BigDecimal` rounding does (`round(2.675, 2)`
//! is `2.68`). `ln` and `log10` of zero or less are NULL.

use super::FunctionDef;
use super::format::{digits_to_f64, round_digits};
use super::util::{double, f64_arg, first, int_arg};
use crate::cast::rescale;
use crate::ctx::Ctx;
use crate::error::EvalError;
use crate::ops::{self, ArithOp};
use crate::value::{DataType, Decimal, Value};

/// This group's functions.
pub const FUNCTIONS: &[FunctionDef] = &[
    FunctionDef::scalar(&["abs"], 1, Some(1), first, abs),
    FunctionDef::scalar(&["round"], 1, Some(2), round_type, |a, c| round(a, c, false)),
    FunctionDef::scalar(&["bround"], 1, Some(2), round_type, |a, c| round(a, c, true)),
    FunctionDef::scalar(&["floor"], 1, Some(1), floor_type, |a, _| floor_ceil(&a[0], f64::floor, false)),
    FunctionDef::scalar(&["ceil", "ceiling"], 1, Some(1), floor_type, |a, _| floor_ceil(&a[0], f64::ceil, true)),
    FunctionDef::scalar(&["pow", "power"], 2, Some(2), double, |a, c| {
        Ok(Value::Double(f64_arg(&a[0], c)?.powf(f64_arg(&a[1], c)?)))
    }),
    FunctionDef::scalar(&["sqrt"], 1, Some(1), double, |a, c| Ok(Value::Double(f64_arg(&a[0], c)?.sqrt()))),
    FunctionDef::scalar(&["exp"], 1, Some(1), double, |a, c| Ok(Value::Double(f64_arg(&a[0], c)?.exp()))),
    FunctionDef::scalar(&["ln"], 1, Some(1), double, |a, c| log(a, c, f64::ln)),
    FunctionDef::scalar(&["log10"], 1, Some(1), double, |a, c| log(a, c, strict_log10)),
    FunctionDef::scalar(&["mod"], 2, Some(2), first, |a, c| ops::arith(ArithOp::Rem, &a[0], &a[1], c.timezone())),
    FunctionDef::scalar(&["pmod"], 2, Some(2), first, pmod),
    FunctionDef::scalar(&["sign", "signum"], 1, Some(1), double, |a, c| {
        Ok(Value::Double(f64_arg(&a[0], c)?.signum_or_zero()))
    }),
];

trait SignumOrZero {
    fn signum_or_zero(self) -> f64;
}

impl SignumOrZero for f64 {
    /// Java's `Math.signum`: 0.0 for zero, NaN for NaN.
    fn signum_or_zero(self) -> f64 {
        if self == 0.0 || self.is_nan() { self } else { self.signum() }
    }
}

fn overflow(what: &str) -> EvalError {
    EvalError::Overflow(what.to_owned())
}

fn abs(args: &[Value], _: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(match &args[0] {
        Value::Byte(v) => Value::Byte(v.checked_abs().ok_or_else(|| overflow("tinyint"))?),
        Value::Short(v) => Value::Short(v.checked_abs().ok_or_else(|| overflow("smallint"))?),
        Value::Int(v) => Value::Int(v.checked_abs().ok_or_else(|| overflow("integer"))?),
        Value::Long(v) => Value::Long(v.checked_abs().ok_or_else(|| overflow("long"))?),
        Value::Float(v) => Value::Float(v.abs()),
        Value::Double(v) => Value::Double(v.abs()),
        Value::Decimal(d) => Value::Decimal(Decimal { unscaled: d.unscaled.abs(), ..*d }),
        Value::String(s) => Value::Double(crate::cast::parse_double(s).unwrap_or(f64::NAN).abs()),
        other => return Err(not_numeric("abs", other)),
    })
}

fn not_numeric(function: &str, value: &Value) -> EvalError {
    EvalError::Type {
        what: format!("the argument of {function}"),
        found: value.data_type().to_string(),
        expected: "a number".to_owned(),
    }
}

/// A rounded decimal's type: Spark's `RoundBase.dataType`.
fn decimal_round_type(p: u8, s: u8, scale: i32) -> (u8, u8) {
    let integral = i32::from(p) - i32::from(s) + 1;
    if scale < 0 {
        (integral.max(-scale + 1).min(38) as u8, 0)
    } else {
        let new_scale = i32::from(s).min(scale);
        ((integral + new_scale).min(38) as u8, new_scale as u8)
    }
}

fn round_type(args: &[DataType]) -> Result<DataType, String> {
    Ok(match &args[0] {
        DataType::Decimal(p, s) => match args.get(1) {
            None => {
                let (p, s) = decimal_round_type(*p, *s, 0);
                DataType::Decimal(p, s)
            }
            Some(_) => DataType::Any,
        },
        t => t.clone(),
    })
}

/// `round`/`bround(x, scale)`: integers to tens and up for a negative
/// scale, decimals to Spark's result type, doubles on their decimal digits.
fn round(args: &[Value], ctx: &Ctx<'_>, half_even: bool) -> Result<Value, EvalError> {
    let scale = args.get(1).map(|s| int_arg(s, ctx)).transpose()?.unwrap_or(0);
    Ok(match &args[0] {
        Value::Double(x) => Value::Double(round_double(*x, scale, half_even)),
        Value::Float(x) => Value::Float(round_double(f64::from(*x), scale, half_even) as f32),
        Value::Decimal(d) => {
            let (p, s) = decimal_round_type(d.precision, d.scale, scale);
            let unscaled = round_unscaled(d.unscaled, i32::from(d.scale), scale.max(-38), half_even);
            let unscaled = rescale(unscaled, scale.clamp(0, 38) as u8, s);
            Value::Decimal(Decimal { unscaled, precision: p, scale: s })
        }
        v if v.as_i64().is_some() => {
            let i = v.as_i64().unwrap_or_default();
            let r = if scale >= 0 { i128::from(i) } else { round_unscaled(i.into(), 0, scale, half_even) };
            let r = i64::try_from(r).map_err(|_| overflow("long"))?;
            match v {
                Value::Byte(_) => Value::Byte(r as i8),
                Value::Short(_) => Value::Short(r as i16),
                Value::Int(_) => Value::Int(i32::try_from(r).map_err(|_| overflow("integer"))?),
                _ => Value::Long(r),
            }
        }
        Value::String(s) => {
            Value::Double(round_double(crate::cast::parse_double(s).unwrap_or(f64::NAN), scale, half_even))
        }
        other => return Err(not_numeric("round", other)),
    })
}

fn round_double(x: f64, scale: i32, half_even: bool) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let (digits, point) = round_digits(x, scale, half_even);
    let rounded = digits_to_f64(&digits, point, x < 0.0);
    // Spark rounds through a `BigDecimal`, which has no negative zero.
    if rounded == 0.0 { 0.0 } else { rounded }
}

/// `unscaled * 10^-from` rounded to `to` fraction digits, as an unscaled
/// integer at scale `max(to, 0)` (for a negative `to`, a multiple of 10^-to at scale 0).
fn round_unscaled(unscaled: i128, from: i32, to: i32, half_even: bool) -> i128 {
    if to >= from {
        return unscaled * 10i128.pow((to - from) as u32);
    }
    let divisor = 10i128.pow((from - to).min(38) as u32);
    let (q, r) = (unscaled / divisor, unscaled % divisor);
    let twice = r.abs() * 2;
    let up = twice > divisor || (twice == divisor && (!half_even || q % 2 != 0));
    let q = if up { q + unscaled.signum() } else { q };
    if to < 0 { q * 10i128.pow((-to) as u32) } else { q }
}

fn floor_type(args: &[DataType]) -> Result<DataType, String> {
    Ok(match &args[0] {
        DataType::Decimal(p, s) => DataType::Decimal((p - s + 1).min(38), 0),
        DataType::Any => DataType::Any,
        _ => DataType::Long,
    })
}

fn floor_ceil(value: &Value, f: fn(f64) -> f64, up: bool) -> Result<Value, EvalError> {
    Ok(match value {
        Value::Decimal(d) => {
            let divisor = 10i128.pow(u32::from(d.scale));
            let q = d.unscaled.div_euclid(divisor);
            let q = if up && d.unscaled.rem_euclid(divisor) != 0 { q + 1 } else { q };
            Value::Decimal(Decimal { unscaled: q, precision: (d.precision - d.scale + 1).min(38), scale: 0 })
        }
        v if v.as_i64().is_some() => Value::Long(v.as_i64().unwrap_or_default()),
        v => {
            let x = crate::cast::to_f64(v).ok_or_else(|| not_numeric(if up { "ceil" } else { "floor" }, v))?;
            let r = f(x);
            if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&r) {
                return Err(overflow("long"));
            }
            Value::Long(r as i64)
        }
    })
}

/// `ln`/`log10`: NULL for zero or less, as Spark.
fn log(args: &[Value], ctx: &Ctx<'_>, f: fn(f64) -> f64) -> Result<Value, EvalError> {
    let x = f64_arg(&args[0], ctx)?;
    Ok(if x <= 0.0 { Value::Null } else { Value::Double(f(x)) })
}

/// `log10` as Java's `StrictMath.log10` (fdlibm's `e_log10.c`), which
/// Spark calls: `log10(2^k * m) = k*log10(2) + log10(e)*ln(m)`, split so the
/// last digit is Java's (`log10(40)` is `1.6020599913279625`, where the
/// wasm `libm`'s gives `...623`).
fn strict_log10(x: f64) -> f64 {
    // fdlibm's constants, by their bits: log10(e), and log10(2) split in
    // a high part with a zero low word and the rest.
    const IVLN10: f64 = f64::from_bits(0x3FDB_CB7B_1526_E50E);
    const LOG10_2HI: f64 = f64::from_bits(0x3FD3_4413_509F_6000);
    const LOG10_2LO: f64 = f64::from_bits(0x3D59_FEF3_11F1_2B36);
    if !x.is_normal() || x < 0.0 {
        return x.log10();
    }
    let bits = x.to_bits();
    let k = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let i = i32::from(k < 0);
    let mantissa = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | (((0x3ff - i) as u64) << 52));
    let y = f64::from(k + i);
    let z = y * LOG10_2LO + IVLN10 * mantissa.ln();
    z + y * LOG10_2HI
}

/// `pmod(a, b)`: the remainder made positive.
fn pmod(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let zone = ctx.timezone();
    let r = ops::arith(ArithOp::Rem, &args[0], &args[1], zone)?;
    let negative = ops::compare(&r, &Value::Int(0), zone)? == Some(std::cmp::Ordering::Less);
    if !negative {
        return Ok(r);
    }
    let sum = ops::arith(ArithOp::Add, &r, &args[1], zone)?;
    ops::arith(ArithOp::Rem, &sum, &args[1], zone)
}

#[cfg(test)]
mod tests {
    use crate::error::EvalError;
    use crate::functions::testing::{eval, text};

    #[test]
    fn abs_and_sign() {
        assert_eq!(text("concat(abs(-12.5D), ' ', sign(-3.0D), ' ', sign(0), ' ', abs(-2))"), "12.5 -1.0 0.0 2");
        assert!(matches!(eval("abs(-2147483647 - 1)"), Err(EvalError::Overflow(_))));
    }

    #[test]
    fn rounds_half_up_and_half_even() {
        assert_eq!(
            text("concat(round(2.5), ' ', round(-2.5), ' ', round(12.25D, 1), ' ', round(2.675D, 2))"),
            "3 -3 12.3 2.68"
        );
        assert_eq!(
            text("concat(bround(2.5), ' ', bround(3.5), ' ', bround(12.5D, -1), ' ', bround(12.25D, 1))"),
            "2 4 10.0 12.2"
        );
        assert_eq!(text("round(1234, -2)"), "1200");
        assert_eq!(text("round(1.2345, 2)"), "1.23");
        assert_eq!(text("round(1e20D, 2)"), "1.0E20");
        assert_eq!(text("concat(bround(-3.0D, -1), ' ', round(-0.4D))"), "0.0 0.0", "no negative zero");
    }

    #[test]
    fn floors_and_ceilings() {
        assert_eq!(
            text("concat(floor(-3.5D), ' ', ceil(-3.5D), ' ', floor(2.5), ' ', ceil(2.1), ' ', ceil(7))"),
            "-4 -3 2 3 7"
        );
        assert!(matches!(eval("floor(1e20D)"), Err(EvalError::Overflow(_))));
    }

    #[test]
    fn powers_and_logs() {
        assert_eq!(
            text("concat(pow(2, 10), ' ', sqrt(16), ' ', exp(0), ' ', ln(1), ' ', log10(1000))"),
            "1024.0 4.0 1.0 0.0 3.0"
        );
        assert_eq!(
            text("concat(log10(40), ' ', log10(0.5), ' ', log10(7.7D))"),
            "1.6020599913279625 -0.3010299956639812 0.8864907251724818"
        );
        assert_eq!(text("ln(0)"), "NULL");
        assert_eq!(text("ln(-1)"), "NULL");
    }

    #[test]
    fn remainders() {
        assert_eq!(
            text("concat(mod(-7, 3), ' ', pmod(-7, 3), ' ', pmod(7, 3), ' ', -7 % 3, ' ', pmod(-7.5D, 2))"),
            "-1 2 1 -1 0.5"
        );
        assert_eq!(eval("7 % 0"), Err(EvalError::RemainderByZero));
        assert_eq!(eval("mod(7, 0)"), Err(EvalError::RemainderByZero));
        assert_eq!(eval("pmod(7, 0)"), Err(EvalError::RemainderByZero));
        assert_eq!(eval("7 / 0"), Err(EvalError::DivideByZero));
    }
}
