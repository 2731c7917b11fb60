//! `format_string`'s Java `Formatter` syntax, and rounding of doubles as
//! Java does it: on the shortest decimal digits that read back to the
//! double (`Double.toString`'s), not on its exact binary value, so
//! `%.2f` of `0.125` is `0.13` and `round(2.675, 2)` is `2.68`.

use super::util::text;
use crate::ctx::Ctx;
use crate::error::EvalError;
use crate::value::Value;

/// `x`'s shortest decimal digits and the position of the point: `x` is
/// `0.d1d2... * 10^point`. Zero is no digits.
pub fn decimal_digits(x: f64) -> (Vec<u8>, i32) {
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: Vec<u8> = {
        let end = digits.iter().rposition(|&d| d != 0).map_or(0, |i| i + 1);
        digits[..end].to_vec()
    };
    (digits, exponent + 1)
}

/// `x`'s decimal digits rounded to `scale` fraction digits (negative:
/// to tens, hundreds...), half up or, with `half_even`, half to even;
/// the result as `(digits, point)` like [`decimal_digits`].
pub fn round_digits(x: f64, scale: i32, half_even: bool) -> (Vec<u8>, i32) {
    let (digits, point) = decimal_digits(x);
    let keep = point + scale;
    if keep < 0 || digits.is_empty() {
        return (Vec::new(), point);
    }
    let keep = keep as usize;
    if keep >= digits.len() {
        return (digits, point);
    }
    let mut kept = digits[..keep].to_vec();
    let rest = &digits[keep..];
    let up = match rest[0].cmp(&5) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal if rest.len() > 1 => true,
        std::cmp::Ordering::Equal => !half_even || kept.last().is_some_and(|d| d % 2 == 1),
    };
    let mut point = point;
    if up {
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, 1);
                point += 1;
                break;
            }
            i -= 1;
            if kept[i] == 9 {
                kept[i] = 0;
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    (kept, point)
}

/// Digits and point as a double again.
pub fn digits_to_f64(digits: &[u8], point: i32, negative: bool) -> f64 {
    if digits.is_empty() {
        return if negative { -0.0 } else { 0.0 };
    }
    let text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
    let x: f64 = format!("0.{text}e{point}").parse().unwrap_or(0.0);
    if negative { -x } else { x }
}

/// `x` with exactly `precision` fraction digits, rounded half up.
pub fn fixed(x: f64, precision: usize) -> String {
    if !x.is_finite() {
        return crate::value::render::format_double(x);
    }
    let (digits, point) = round_digits(x, precision as i32, false);
    let digit =
        |i: i32| if i >= 0 && (i as usize) < digits.len() { char::from(b'0' + digits[i as usize]) } else { '0' };
    let mut out = String::new();
    if x.is_sign_negative() && !digits.is_empty() {
        out.push('-');
    }
    if point <= 0 {
        out.push('0');
    } else {
        out.extend((0..point).map(digit));
    }
    if precision > 0 {
        out.push('.');
        out.extend((point..point + precision as i32).map(digit));
    }
    out
}

/// One `%...` directive.
#[derive(Debug, Default)]
struct Spec {
    index: Option<usize>,
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    group: bool,
    width: usize,
    precision: Option<usize>,
    conversion: char,
}

/// Java's `String.format(pattern, args)` for the common directives:
/// `%s %S %d %f %e %x %X %o %c %b %% %n`, flags `- 0 + , space`, width,
/// precision and `n$` argument indexes.
pub fn java_format(pattern: &str, args: &[Value], ctx: &Ctx<'_>) -> Result<String, EvalError> {
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec = parse_spec(&mut chars).ok_or_else(|| bad_format(pattern))?;
        match spec.conversion {
            '%' => out.push('%'),
            'n' => out.push('\n'),
            _ => {
                let at = spec.index.map_or_else(
                    || {
                        next += 1;
                        next - 1
                    },
                    |i| i - 1,
                );
                let arg = args.get(at).ok_or_else(|| {
                    EvalError::function(format!("format_string: `{pattern}` needs more than {} arguments", args.len()))
                })?;
                let body = directive(&spec, arg, ctx).ok_or_else(|| {
                    EvalError::function(format!(
                        "format_string: %{} cannot format {}",
                        spec.conversion,
                        arg.data_type()
                    ))
                })?;
                out.push_str(&padded(&spec, body));
            }
        }
    }
    Ok(out)
}

fn bad_format(pattern: &str) -> EvalError {
    EvalError::function(format!("format_string: bad format `{pattern}`"))
}

fn parse_spec(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<Spec> {
    let mut spec = Spec::default();
    let mut number = String::new();
    while let Some(&c) = chars.peek() {
        match c {
            '-' if number.is_empty() => spec.left = true,
            '0' if number.is_empty() => spec.zero = true,
            '+' => spec.plus = true,
            ' ' => spec.space = true,
            ',' => spec.group = true,
            '0'..='9' => number.push(c),
            '$' => {
                spec.index = Some(number.parse().ok()?);
                number.clear();
            }
            _ => break,
        }
        chars.next();
    }
    spec.width = if number.is_empty() { 0 } else { number.parse().ok()? };
    if chars.peek() == Some(&'.') {
        chars.next();
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        spec.precision = Some(digits.parse().ok()?);
    }
    spec.conversion = chars.next()?;
    Some(spec)
}

/// The directive's text before padding; `None` when the argument does not fit.
fn directive(spec: &Spec, arg: &Value, ctx: &Ctx<'_>) -> Option<String> {
    let number = |s: String, negative: bool| {
        let s = if spec.group { group(&s) } else { s };
        if negative {
            format!("-{s}")
        } else if spec.plus {
            format!("+{s}")
        } else if spec.space {
            format!(" {s}")
        } else {
            s
        }
    };
    Some(match spec.conversion {
        's' | 'S' => {
            let s = if arg.is_null() { "null".to_owned() } else { text(arg, ctx).to_string() };
            let s = match spec.precision {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            };
            if spec.conversion == 'S' { s.to_uppercase() } else { s }
        }
        'b' | 'B' => match arg {
            Value::Null => "false".to_owned(),
            Value::Boolean(b) => b.to_string(),
            _ => "true".to_owned(),
        },
        _ if arg.is_null() => "null".to_owned(),
        'd' => {
            let i = arg.as_i64()?;
            number(i.unsigned_abs().to_string(), i < 0)
        }
        'x' | 'X' | 'o' => {
            let i = arg.as_i64()?;
            match spec.conversion {
                'x' => format!("{i:x}"),
                'X' => format!("{i:X}"),
                _ => format!("{i:o}"),
            }
        }
        'f' => {
            let x = float(arg)?;
            let s = fixed(x.abs(), spec.precision.unwrap_or(6));
            number(s, x.is_sign_negative() && x != 0.0)
        }
        'e' | 'E' => {
            let x = float(arg)?;
            let s = format!("{:.*e}", spec.precision.unwrap_or(6), x.abs());
            let (m, e) = s.split_once('e')?;
            let e: i32 = e.parse().ok()?;
            let s = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
            number(if spec.conversion == 'E' { s.to_uppercase() } else { s }, x < 0.0)
        }
        'c' => char::from_u32(u32::try_from(arg.as_i64()?).ok()?)?.to_string(),
        _ => return None,
    })
}

fn float(arg: &Value) -> Option<f64> {
    match arg {
        Value::Float(_) | Value::Double(_) | Value::Decimal(_) => crate::cast::to_f64(arg),
        _ => None,
    }
}

/// `1234567.5` as `1,234,567.5`.
fn group(s: &str) -> String {
    let (whole, fraction) = s.split_once('.').map_or((s, None), |(w, f)| (w, Some(f)));
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = fraction {
        out.push('.');
        out.push_str(f);
    }
    out
}

fn padded(spec: &Spec, body: String) -> String {
    let len = body.chars().count();
    if len >= spec.width {
        return body;
    }
    let fill = spec.width - len;
    if spec.left {
        return format!("{body}{}", " ".repeat(fill));
    }
    if spec.zero && "dfeExXo".contains(spec.conversion) {
        let sign = body.starts_with(['-', '+', ' ']);
        let (head, tail) = body.split_at(usize::from(sign));
        return format!("{head}{}{tail}", "0".repeat(fill));
    }
    format!("{}{body}", " ".repeat(fill))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::testing::text;

    #[test]
    fn rounds_like_java() {
        assert_eq!(fixed(0.125, 2), "0.13");
        assert_eq!(fixed(1891.8, 2), "1891.80");
        assert_eq!(fixed(-2.5, 0), "-3");
        assert_eq!(fixed(0.004, 2), "0.00");
        assert_eq!(fixed(99.999, 2), "100.00");
        assert_eq!(digits_to_f64(&round_digits(2.675, 2, false).0, round_digits(2.675, 2, false).1, false), 2.68);
    }

    #[test]
    fn formats_like_java() {
        assert_eq!(text("format_string('%s|%5s|%-5s|', 'a', 'b', 'c')"), "a|    b|c    |");
        assert_eq!(text("format_string('%05d %+d %,d', 42, 7, 1234567)"), "00042 +7 1,234,567");
        assert_eq!(text("format_string('%.3f %e %x %%', 2.5D, 12345.678D, 255)"), "2.500 1.234568e+04 ff %");
        assert_eq!(text("format_string('%2$s-%1$s', 'a', 'b')"), "b-a");
        assert_eq!(text("format_string('%s', NULL)"), "null");
    }
}
