//! String functions: case (`lower`, `upper`, `initcap`), `length`,
//! trimming, `substring` and its relatives, `concat`, `concat_ws`,
//! `replace`, `translate`, regular expressions (`regexp_replace`,
//! `regexp_extract`, `regexp_like`), tests (`startswith`, `endswith`,
//! `contains`), positions (`instr`, `locate`), padding, `split`,
//! `reverse`, `repeat`, `format_string`, `base64`, `hex`.
//!
//! Arguments that are not strings are cast to one first, as Spark's
//! implicit casts do (`lower(42)` is `'42'`). Positions and lengths count
//! characters (Unicode code points), as Spark's do.

use std::rc::Rc;

use base64::Engine as _;

use super::FunctionDef;
use super::util::{bytes, int_arg, long_arg, string, string_arg, text};
use crate::ctx::Ctx;
use crate::error::EvalError;
use crate::value::{DataType, Value};

/// This group's functions.
pub const FUNCTIONS: &[FunctionDef] = &[
    FunctionDef::scalar(
        &["lower", "lcase"],
        1,
        Some(1),
        |a| one_string("lower", a),
        |a, c| map(a, c, str::to_lowercase),
    ),
    FunctionDef::scalar(
        &["upper", "ucase"],
        1,
        Some(1),
        |a| one_string("upper", a),
        |a, c| map(a, c, str::to_uppercase),
    ),
    FunctionDef::scalar(&["initcap"], 1, Some(1), |a| one_string("initcap", a), |a, c| map(a, c, initcap)),
    FunctionDef::scalar(&["length", "char_length", "character_length", "len"], 1, Some(1), super::util::int, length),
    FunctionDef::scalar(&["trim", "btrim"], 1, Some(2), string, |a, c| trim(a, c, true, true)),
    FunctionDef::scalar(&["ltrim"], 1, Some(2), string, |a, c| trim(a, c, true, false)),
    FunctionDef::scalar(&["rtrim"], 1, Some(2), string, |a, c| trim(a, c, false, true)),
    FunctionDef::scalar(&["substring", "substr"], 2, Some(3), string, substring),
    FunctionDef::scalar(&["left"], 2, Some(2), string, left),
    FunctionDef::scalar(&["right"], 2, Some(2), string, right),
    FunctionDef::scalar(&["concat"], 0, None, concat_type, concat),
    FunctionDef::scalar(&["concat_ws"], 1, None, string, concat_ws).null_tolerant(),
    FunctionDef::scalar(&["replace"], 2, Some(3), string, replace),
    FunctionDef::scalar(&["translate"], 3, Some(3), string, translate),
    FunctionDef::scalar(&["regexp_replace"], 3, Some(4), string, regexp_replace),
    FunctionDef::scalar(&["regexp_extract"], 2, Some(3), string, regexp_extract),
    FunctionDef::scalar(&["regexp_like", "regexp", "rlike"], 2, Some(2), super::util::boolean, regexp_like),
    FunctionDef::scalar(&["startswith"], 2, Some(2), super::util::boolean, |a, c| test(a, c, |s, p| s.starts_with(p))),
    FunctionDef::scalar(&["endswith"], 2, Some(2), super::util::boolean, |a, c| test(a, c, |s, p| s.ends_with(p))),
    FunctionDef::scalar(&["contains"], 2, Some(2), super::util::boolean, |a, c| test(a, c, |s, p| s.contains(p))),
    FunctionDef::scalar(&["instr"], 2, Some(2), super::util::int, instr),
    FunctionDef::scalar(&["locate", "position"], 2, Some(3), super::util::int, locate),
    FunctionDef::scalar(&["lpad"], 2, Some(3), string, |a, c| pad(a, c, true)),
    FunctionDef::scalar(&["rpad"], 2, Some(3), string, |a, c| pad(a, c, false)),
    FunctionDef::scalar(&["split"], 2, Some(3), |_| Ok(DataType::Array(Box::new(DataType::String))), split),
    FunctionDef::scalar(&["reverse"], 1, Some(1), super::util::first, reverse),
    FunctionDef::scalar(&["repeat"], 2, Some(2), string, repeat),
    FunctionDef::scalar(&["format_string", "printf"], 1, None, string, format_string).null_tolerant(),
    FunctionDef::scalar(&["base64"], 1, Some(1), string, |a, c| {
        Ok(Value::string(base64::engine::general_purpose::STANDARD.encode(bytes(&a[0], c))))
    }),
    FunctionDef::scalar(&["unbase64"], 1, Some(1), |_| Ok(DataType::Binary), unbase64),
    FunctionDef::scalar(&["hex"], 1, Some(1), string, hex),
];

fn one_string(function: &str, args: &[DataType]) -> Result<DataType, String> {
    string_arg(function, 1, &args[0]).map(|()| DataType::String)
}

fn map(args: &[Value], ctx: &Ctx<'_>, f: impl Fn(&str) -> String) -> Result<Value, EvalError> {
    Ok(Value::string(f(&text(&args[0], ctx))))
}

/// Spark's `initcap`: lower case, then the first letter of each
/// space-separated word in title case.
fn initcap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start = c == ' ';
    }
    out
}

fn length(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(Value::Int(match &args[0] {
        Value::Binary(b) => b.len() as i32,
        v => text(v, ctx).chars().count() as i32,
    }))
}

/// `trim(s)` removes spaces; `trim(s, chars)` any of `chars`.
fn trim(args: &[Value], ctx: &Ctx<'_>, start: bool, end: bool) -> Result<Value, EvalError> {
    let s = text(&args[0], ctx);
    let set: Vec<char> = match args.get(1) {
        Some(chars) => text(chars, ctx).chars().collect(),
        None => vec![' '],
    };
    let mut out: &str = &s;
    if start {
        out = out.trim_start_matches(set.as_slice());
    }
    if end {
        out = out.trim_end_matches(set.as_slice());
    }
    Ok(Value::string(out))
}

/// Spark's `UTF8String.substringSQL`: 1-based `pos` (negative from the
/// end, 0 as 1), `len` characters; what falls outside the string is cut.
pub fn substring_sql(s: &str, pos: i64, len: Option<i64>) -> String {
    let count = s.chars().count() as i64;
    let start = if pos > 0 {
        pos - 1
    } else if pos < 0 {
        count + pos
    } else {
        0
    };
    let end = len.map_or(i64::MAX, |l| start.saturating_add(l));
    let start = start.max(0);
    if start >= end {
        return String::new();
    }
    s.chars().skip(start as usize).take((end.min(count) - start).max(0) as usize).collect()
}

fn substring(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let len = args.get(2).map(|l| int_arg(l, ctx)).transpose()?.map(i64::from);
    let pos = i64::from(int_arg(&args[1], ctx)?);
    Ok(match &args[0] {
        Value::Binary(b) => {
            let hex: String = b.iter().map(|&x| x as char).collect();
            Value::Binary(substring_sql(&hex, pos, len).chars().map(|c| c as u8).collect::<Vec<_>>().into())
        }
        v => Value::string(substring_sql(&text(v, ctx), pos, len)),
    })
}

fn left(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let n = i64::from(int_arg(&args[1], ctx)?);
    Ok(Value::string(if n <= 0 { String::new() } else { substring_sql(&text(&args[0], ctx), 1, Some(n)) }))
}

fn right(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let n = i64::from(int_arg(&args[1], ctx)?);
    Ok(Value::string(if n <= 0 { String::new() } else { substring_sql(&text(&args[0], ctx), -n, None) }))
}

fn concat_type(args: &[DataType]) -> Result<DataType, String> {
    if !args.is_empty() && args.iter().all(|a| matches!(a, DataType::Array(_))) {
        return Ok(args[0].clone());
    }
    if args.iter().any(|a| matches!(a, DataType::Array(_))) {
        return Ok(DataType::Any);
    }
    Ok(DataType::String)
}

/// `concat(a, ...)`: strings (NULL if any is NULL), or arrays end to end.
fn concat(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    if !args.is_empty() && args.iter().all(|a| matches!(a, Value::Array(_))) {
        let items: Vec<Value> =
            args.iter().flat_map(|a| if let Value::Array(xs) = a { xs.to_vec() } else { Vec::new() }).collect();
        return Ok(Value::Array(items.into()));
    }
    let mut out = String::new();
    for arg in args {
        out.push_str(&text(arg, ctx));
    }
    Ok(Value::string(out))
}

/// `concat_ws(sep, ...)`: the non-NULL arguments (array elements one by
/// one) joined by `sep`; NULL only when `sep` is.
fn concat_ws(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    if args[0].is_null() {
        return Ok(Value::Null);
    }
    let sep = text(&args[0], ctx);
    let mut parts: Vec<Rc<str>> = Vec::new();
    for arg in &args[1..] {
        match arg {
            Value::Null => {}
            Value::Array(items) => parts.extend(items.iter().filter(|v| !v.is_null()).map(|v| text(v, ctx))),
            v => parts.push(text(v, ctx)),
        }
    }
    Ok(Value::string(parts.iter().map(|p| &**p).collect::<Vec<_>>().join(&sep)))
}

fn replace(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let s = text(&args[0], ctx);
    let search = text(&args[1], ctx);
    let with = args.get(2).map_or_else(|| Rc::from(""), |w| text(w, ctx));
    Ok(Value::string(if search.is_empty() { s.to_string() } else { s.replace(&*search, &with) }))
}

/// Each character of `from` becomes the one at its place in `to`, or is
/// removed when `to` is shorter; the first occurrence in `from` counts.
fn translate(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let s = text(&args[0], ctx);
    let from: Vec<char> = text(&args[1], ctx).chars().collect();
    let to: Vec<char> = text(&args[2], ctx).chars().collect();
    let out: String = s
        .chars()
        .filter_map(|c| match from.iter().position(|&f| f == c) {
            Some(i) => to.get(i).copied(),
            None => Some(c),
        })
        .collect();
    Ok(Value::string(out))
}

/// A Java replacement string (`$1`, `\$`) as the `regex` crate writes it.
fn java_replacement(java: &str) -> String {
    let mut out = String::with_capacity(java.len());
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => {}
            },
            '$' => {
                let mut group = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    group.push(*d);
                    chars.next();
                }
                out.push_str(&format!("${{{group}}}"));
            }
            c => out.push(c),
        }
    }
    out
}

/// `regexp_replace(s, re, with[, pos])`: every match from the 1-based `pos` on.
fn regexp_replace(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let s = text(&args[0], ctx);
    let regex = ctx.regex(&text(&args[1], ctx))?;
    let with = java_replacement(&text(&args[2], ctx));
    let pos = args.get(3).map(|p| long_arg(p, ctx)).transpose()?.unwrap_or(1);
    if pos < 1 {
        return Err(EvalError::function(format!(
            "[INVALID_PARAMETER_VALUE.REGEX_POSITION] regexp_replace: the position must be positive, not {pos}"
        )));
    }
    let at = s.char_indices().nth((pos - 1) as usize).map_or(s.len(), |(i, _)| i);
    let (head, tail) = s.split_at(at);
    Ok(Value::string(format!("{head}{}", regex.replace_all(tail, with.as_str()))))
}

/// `regexp_extract(s, re[, group])`: the group of the first match, `''`
/// when nothing matches or the group took no part.
fn regexp_extract(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let s = text(&args[0], ctx);
    let regex = ctx.regex(&text(&args[1], ctx))?;
    let group = args.get(2).map(|g| long_arg(g, ctx)).transpose()?.unwrap_or(1);
    let groups = regex.captures_len() as i64 - 1;
    if group < 0 || group > groups {
        return Err(EvalError::function(format!(
            "[INVALID_PARAMETER_VALUE.REGEX_GROUP_INDEX] regexp_extract: the pattern has {groups} groups, not {group}"
        )));
    }
    let found = regex.captures(&s).and_then(|c| c.get(group as usize)).map_or("", |m| m.as_str());
    Ok(Value::string(found))
}

fn regexp_like(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let s = text(&args[0], ctx);
    Ok(Value::Boolean(ctx.regex(&text(&args[1], ctx))?.is_match(&s)))
}

fn test(args: &[Value], ctx: &Ctx<'_>, f: fn(&str, &str) -> bool) -> Result<Value, EvalError> {
    Ok(Value::Boolean(f(&text(&args[0], ctx), &text(&args[1], ctx))))
}

/// The 1-based character position of `needle` in `s` at or after
/// character `from` (0-based), 0 when absent.
fn position(s: &str, needle: &str, from: usize) -> i32 {
    let Some((start, _)) = s.char_indices().nth(from).or((from == s.chars().count()).then_some((s.len(), ' '))) else {
        return 0;
    };
    match s[start..].find(needle) {
        Some(at) => (from + s[start..start + at].chars().count() + 1) as i32,
        None => 0,
    }
}

fn instr(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(Value::Int(position(&text(&args[0], ctx), &text(&args[1], ctx), 0)))
}

/// `locate(needle, s[, pos])`: from the 1-based `pos`; 0 when `pos` < 1.
fn locate(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let pos = args.get(2).map(|p| int_arg(p, ctx)).transpose()?.unwrap_or(1);
    if pos < 1 {
        return Ok(Value::Int(0));
    }
    Ok(Value::Int(position(&text(&args[1], ctx), &text(&args[0], ctx), (pos - 1) as usize)))
}

/// `lpad`/`rpad(s, len[, pad])`: cut to `len` characters, or filled with
/// `pad` (a space by default) on the left or right.
fn pad(args: &[Value], ctx: &Ctx<'_>, on_left: bool) -> Result<Value, EvalError> {
    let s = text(&args[0], ctx);
    let len = int_arg(&args[1], ctx)?.max(0) as usize;
    let filler: Vec<char> = args.get(2).map_or_else(|| vec![' '], |p| text(p, ctx).chars().collect());
    let count = s.chars().count();
    if count >= len || filler.is_empty() {
        return Ok(Value::string(s.chars().take(len).collect::<String>()));
    }
    let fill: String = filler.iter().cycle().take(len - count).collect();
    Ok(Value::string(if on_left { format!("{fill}{s}") } else { format!("{s}{fill}") }))
}

/// `split(s, re[, limit])` as Java's `String.split` with a negative or
/// positive limit: trailing empty strings are kept.
fn split(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let s = text(&args[0], ctx);
    let pattern = text(&args[1], ctx);
    let limit = args.get(2).map(|l| int_arg(l, ctx)).transpose()?.unwrap_or(-1);
    let parts: Vec<String> = if pattern.is_empty() {
        let chars: Vec<char> = s.chars().collect();
        let n = if limit <= 0 || limit as usize > chars.len() { chars.len() } else { limit as usize };
        if chars.is_empty() {
            vec![String::new()]
        } else {
            let mut parts: Vec<String> = chars[..n - 1].iter().map(|c| c.to_string()).collect();
            parts.push(chars[n - 1..].iter().collect());
            parts
        }
    } else {
        let regex = ctx.regex(&pattern)?;
        let mut parts = Vec::new();
        let mut last = 0;
        for m in regex.find_iter(&s) {
            if limit > 0 && parts.len() + 1 >= limit as usize {
                break;
            }
            if m.end() == 0 {
                continue;
            }
            parts.push(s[last..m.start()].to_owned());
            last = m.end();
        }
        parts.push(s[last..].to_owned());
        parts
    };
    Ok(Value::Array(parts.into_iter().map(Value::string).collect::<Vec<_>>().into()))
}

fn reverse(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(match &args[0] {
        Value::Array(items) => Value::Array(items.iter().rev().cloned().collect::<Vec<_>>().into()),
        v => Value::string(text(v, ctx).chars().rev().collect::<String>()),
    })
}

fn repeat(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let n = int_arg(&args[1], ctx)?.max(0) as usize;
    Ok(Value::string(text(&args[0], ctx).repeat(n)))
}

fn format_string(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    if args[0].is_null() {
        return Ok(Value::Null);
    }
    super::format::java_format(&text(&args[0], ctx), &args[1..], ctx).map(Value::string)
}

fn unbase64(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let s = text(&args[0], ctx);
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean.as_bytes())
        .map(|b| Value::Binary(b.into()))
        .map_err(|_| EvalError::function(format!("[CONVERSION_INVALID_INPUT] '{s}' is not a valid base64 string")))
}

/// `hex`: a number's digits in base 16, a string's or binary's bytes, upper case.
fn hex(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(Value::string(match &args[0] {
        v if v.as_i64().is_some() => format!("{:X}", v.as_i64().unwrap_or_default()),
        v => bytes(v, ctx).iter().map(|b| format!("{b:02X}")).collect::<String>(),
    }))
}

#[cfg(test)]
mod tests {
    use crate::functions::testing::{eval, text};
    use crate::value::Value;

    #[test]
    fn case_and_length() {
        assert_eq!(text("lower('AbC')"), "abc");
        assert_eq!(text("upper(42)"), "42");
        assert_eq!(text("initcap('hello wORLD  x-y')"), "Hello World  X-y");
        assert_eq!(text("length('Zoë 😀')"), "5");
        assert_eq!(text("upper(NULL)"), "NULL");
    }

    #[test]
    fn trims_and_substrings() {
        assert_eq!(text("concat('[', trim('  a b  '), ']')"), "[a b]");
        assert_eq!(text("concat('[', ltrim('  a '), '|', rtrim(' a  '), ']')"), "[a | a]");
        assert_eq!(text("trim(BOTH 'x' FROM 'xxaxx')"), "a");
        assert_eq!(text("trim(LEADING 'x' FROM 'xxaxx')"), "axx");
        assert_eq!(text("substring('STR7188', 4, 2)"), "71");
        assert_eq!(text("substring('STR7188', 4)"), "7188");
        assert_eq!(text("substr('abcdef', -4, 3)"), "cde");
        assert_eq!(text("substr('abc', -5, 3)"), "a");
        assert_eq!(text("substr('abc', 0, 2)"), "ab");
        assert_eq!(text("substring('Alice' FROM 2 FOR 3)"), "lic");
        assert_eq!(text("concat(left('STR7188', 3), right('STR7188', 2), left('a', -1))"), "STR88");
    }

    #[test]
    fn concatenates() {
        assert_eq!(text("concat('a', 1, 2.50)"), "a12.50");
        assert_eq!(text("concat('a', NULL)"), "NULL");
        assert_eq!(text("concat_ws('/', 'a', NULL, 'b')"), "a/b");
        assert_eq!(text("concat_ws('-', array('x', 'y'), 'z')"), "x-y-z");
        assert_eq!(text("concat(array(1), array(2, 3))"), "[1, 2, 3]");
    }

    #[test]
    fn replaces_and_translates() {
        assert_eq!(text("replace('HOME-DELIVERY', '-', '_')"), "HOME_DELIVERY");
        assert_eq!(text("replace('abcabc', 'b')"), "acac");
        assert_eq!(text("translate('Alice', 'lic', 'LI')"), "ALIe");
        assert_eq!(text("regexp_replace('OAS1012', '[0-9]', '#')"), "OAS####");
        assert_eq!(text("regexp_replace('a-b', '(\\\\w)-(\\\\w)', '$2-$1')"), "b-a");
        assert_eq!(text("regexp_extract('POS922', 'POS([0-9])([0-9]+)', 2)"), "22");
        assert_eq!(text("regexp_extract('x', 'POS([0-9])', 1)"), "");
        assert!(eval("regexp_extract('x', 'a(b)', 2)").is_err());
        assert_eq!(eval("regexp_like('50%', '[0-9]+%')"), Ok(Value::Boolean(true)));
    }

    #[test]
    fn searches() {
        assert_eq!(eval("startswith('STR7188', 'STR7')"), Ok(Value::Boolean(true)));
        assert_eq!(eval("endswith('POS9', '8')"), Ok(Value::Boolean(false)));
        assert_eq!(eval("contains('naïve café', 'café')"), Ok(Value::Boolean(true)));
        assert_eq!(text("instr('naïve e', 'e')"), "5");
        assert_eq!(text("locate('e', 'eeee', 3)"), "3");
        assert_eq!(text("locate('e', 'abc')"), "0");
        assert_eq!(text("locate('', 'abc')"), "1");
        assert_eq!(text("locate('a', 'abc', 0)"), "0");
        assert_eq!(text("position('b' IN 'abc')"), "2");
    }

    #[test]
    fn pads_splits_and_repeats() {
        assert_eq!(text("lpad('Bob', 8, '*')"), "*****Bob");
        assert_eq!(text("rpad('STR', 6, '-=')"), "STR-=-");
        assert_eq!(text("lpad('plain', 3, '.')"), "pla");
        assert_eq!(text("lpad('a', 3)"), "  a");
        assert_eq!(text("split('a, b, c', ', ')"), "[a, b, c]");
        assert_eq!(text("split('a,b,', ',')"), "[a, b, ]");
        assert_eq!(text("split('a,b,c', ',', 2)"), "[a, b,c]");
        assert_eq!(text("split('abc', '')"), "[a, b, c]");
        assert_eq!(text("reverse('Zoë')"), "ëoZ");
        assert_eq!(text("reverse(array(1, 2))"), "[2, 1]");
        assert_eq!(text("repeat('ab', 3)"), "ababab");
        assert_eq!(text("repeat('ab', -1)"), "");
    }

    #[test]
    fn encodes() {
        assert_eq!(text("base64('hello')"), "aGVsbG8=");
        assert_eq!(text("CAST(unbase64('aGVsbG8=') AS STRING)"), "hello");
        assert_eq!(text("hex(X'4142FF')"), "4142FF");
        assert_eq!(text("hex(255)"), "FF");
        assert_eq!(text("hex('AB')"), "4142");
        assert_eq!(text("format_string('%s:%05d:%.2f', 'POS', 6, 1891.8D)"), "POS:00006:1891.80");
    }
}
