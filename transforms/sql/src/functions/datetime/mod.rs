//! Date and time functions: `timestamp_millis`, `timestamp_seconds`,
//! `timestamp_micros`, `unix_millis`, `unix_seconds`, `from_unixtime`,
//! `unix_timestamp`, `to_timestamp`, `to_date`, `date_format`, the fields
//! (`year`, `quarter`, `month`, `day`/`dayofmonth`, `dayofweek`,
//! `dayofyear`, `hour`, `minute`, `second`), `date_add`, `date_sub`,
//! `datediff`, `date_trunc`.
//!
//! Every one works in the session time zone (`timezone`, default UTC):
//! a timestamp's fields are its wall-clock fields there, and a text
//! without a zone is read there. Arguments are cast as Spark's implicit
//! casts do: a string to a date (`year('2024-02-29')`) or a timestamp
//! (`hour('2024-02-29 10:00:00')`), a date to a timestamp at midnight.
//! Text that does not match its pattern is an ANSI error,
//! `[CANNOT_PARSE_TIMESTAMP]`, as in Spark 4.

mod pattern;

use chrono::{Datelike, NaiveDateTime, NaiveTime, Timelike};

use super::FunctionDef;
use super::util::{int_arg, long, long_arg, string, text};
use crate::cast::{cast, date_of, days_of};
use crate::ctx::Ctx;
use crate::error::EvalError;
use crate::value::{DataType, Value};
use pattern::Pattern;

/// Spark's default pattern for `from_unixtime` and `unix_timestamp`.
const DEFAULT_PATTERN: &str = "yyyy-MM-dd HH:mm:ss";

fn timestamp(_: &[DataType]) -> Result<DataType, String> {
    Ok(DataType::Timestamp)
}

fn date(_: &[DataType]) -> Result<DataType, String> {
    Ok(DataType::Date)
}

/// This group's functions.
pub const FUNCTIONS: &[FunctionDef] = &[
    FunctionDef::scalar(&["timestamp_millis"], 1, Some(1), timestamp, |a, c| from_epoch(&a[0], c, 1_000)),
    FunctionDef::scalar(&["timestamp_micros"], 1, Some(1), timestamp, |a, c| from_epoch(&a[0], c, 1)),
    FunctionDef::scalar(&["timestamp_seconds"], 1, Some(1), timestamp, timestamp_seconds),
    FunctionDef::scalar(&["unix_millis"], 1, Some(1), long, |a, c| {
        Ok(Value::Long(micros(&a[0], c)?.div_euclid(1_000)))
    }),
    FunctionDef::scalar(&["unix_seconds"], 1, Some(1), long, |a, c| {
        Ok(Value::Long(micros(&a[0], c)?.div_euclid(1_000_000)))
    }),
    FunctionDef::scalar(&["from_unixtime"], 1, Some(2), string, from_unixtime),
    FunctionDef::scalar(&["unix_timestamp", "to_unix_timestamp"], 1, Some(2), long, unix_timestamp),
    FunctionDef::scalar(&["to_timestamp"], 1, Some(2), timestamp, to_timestamp),
    FunctionDef::scalar(&["to_date"], 1, Some(2), date, to_date),
    FunctionDef::scalar(&["date_format"], 2, Some(2), string, date_format),
    FunctionDef::scalar(&["year"], 1, Some(1), super::util::int, |a, c| date_field(&a[0], c, |d| d.year())),
    FunctionDef::scalar(&["quarter"], 1, Some(1), super::util::int, |a, c| {
        date_field(&a[0], c, |d| d.month0() as i32 / 3 + 1)
    }),
    FunctionDef::scalar(&["month"], 1, Some(1), super::util::int, |a, c| date_field(&a[0], c, |d| d.month() as i32)),
    FunctionDef::scalar(&["day", "dayofmonth"], 1, Some(1), super::util::int, |a, c| {
        date_field(&a[0], c, |d| d.day() as i32)
    }),
    FunctionDef::scalar(&["dayofweek", "dow"], 1, Some(1), super::util::int, |a, c| {
        date_field(&a[0], c, |d| d.weekday().num_days_from_sunday() as i32 + 1)
    }),
    FunctionDef::scalar(&["dayofyear", "doy"], 1, Some(1), super::util::int, |a, c| {
        date_field(&a[0], c, |d| d.ordinal() as i32)
    }),
    FunctionDef::scalar(&["hour"], 1, Some(1), super::util::int, |a, c| time_field(&a[0], c, |t| t.hour())),
    FunctionDef::scalar(&["minute"], 1, Some(1), super::util::int, |a, c| time_field(&a[0], c, |t| t.minute())),
    FunctionDef::scalar(&["second"], 1, Some(1), super::util::int, |a, c| time_field(&a[0], c, |t| t.second())),
    FunctionDef::scalar(&["date_add", "dateadd"], 2, Some(2), date, |a, c| add_days(a, c, 1)),
    FunctionDef::scalar(&["date_sub"], 2, Some(2), date, |a, c| add_days(a, c, -1)),
    FunctionDef::scalar(&["datediff", "date_diff"], 2, Some(2), super::util::int, |a, c| {
        Ok(Value::Int(days(&a[0], c)? - days(&a[1], c)?))
    }),
    FunctionDef::scalar(&["date_trunc"], 2, Some(2), timestamp, date_trunc),
];

/// A non-NULL argument as microseconds since the epoch (cast to a timestamp).
fn micros(value: &Value, ctx: &Ctx<'_>) -> Result<i64, EvalError> {
    match cast(value, &DataType::Timestamp, ctx.timezone())? {
        Value::Timestamp(t) => Ok(t),
        _ => Ok(0),
    }
}

/// A non-NULL argument as days since the epoch (cast to a date).
fn days(value: &Value, ctx: &Ctx<'_>) -> Result<i32, EvalError> {
    match cast(value, &DataType::Date, ctx.timezone())? {
        Value::Date(d) => Ok(d),
        _ => Ok(0),
    }
}

fn overflow() -> EvalError {
    EvalError::Overflow("timestamp".to_owned())
}

/// `timestamp_millis`/`timestamp_micros`: an integer count of `unit` microseconds.
fn from_epoch(value: &Value, ctx: &Ctx<'_>, unit: i64) -> Result<Value, EvalError> {
    long_arg(value, ctx)?.checked_mul(unit).map(Value::Timestamp).ok_or_else(overflow)
}

/// `timestamp_seconds`: integral or fractional seconds.
fn timestamp_seconds(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    match &args[0] {
        v if v.as_i64().is_some() => from_epoch(v, ctx, 1_000_000),
        v => {
            let x = super::util::f64_arg(v, ctx)? * 1e6;
            if !x.is_finite() || x.abs() >= 9.2e18 {
                return Err(overflow());
            }
            Ok(Value::Timestamp(x as i64))
        }
    }
}

/// The argument's pattern, or `default`.
fn pattern_arg(args: &[Value], at: usize, ctx: &Ctx<'_>, default: &str) -> Result<Pattern, EvalError> {
    let text = args.get(at).map_or_else(|| default.into(), |p| text(p, ctx));
    Pattern::parse(&text).map_err(|e| EvalError::function(format!("[INVALID_DATETIME_PATTERN] {e}")))
}

fn cannot_parse(text: &str, pattern: &str) -> EvalError {
    EvalError::function(format!("[CANNOT_PARSE_TIMESTAMP] text '{text}' does not match the pattern '{pattern}'"))
}

/// `text` read by the pattern at `args[at]` (by a cast to a timestamp when
/// there is none); a date or timestamp is taken as it is.
fn parsed(args: &[Value], at: usize, ctx: &Ctx<'_>, default: Option<&str>) -> Result<i64, EvalError> {
    let value = &args[0];
    if !matches!(value, Value::String(_)) || (args.len() <= at && default.is_none()) {
        return micros(value, ctx);
    }
    let source = text(value, ctx);
    let pattern = pattern_arg(args, at, ctx, default.unwrap_or(DEFAULT_PATTERN))?;
    let shown = args.get(at).map_or_else(|| default.unwrap_or_default().to_owned(), |p| text(p, ctx).to_string());
    pattern.parse_instant(&source, ctx.timezone()).ok_or_else(|| cannot_parse(&source, &shown))
}

fn from_unixtime(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let seconds = long_arg(&args[0], ctx)?;
    let at = seconds.checked_mul(1_000_000).ok_or_else(overflow)?;
    Ok(Value::string(pattern_arg(args, 1, ctx, DEFAULT_PATTERN)?.format(at, ctx.timezone())))
}

fn unix_timestamp(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(Value::Long(parsed(args, 1, ctx, Some(DEFAULT_PATTERN))?.div_euclid(1_000_000)))
}

fn to_timestamp(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(Value::Timestamp(parsed(args, 1, ctx, None)?))
}

fn to_date(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    if args.len() == 1 {
        return Ok(Value::Date(days(&args[0], ctx)?));
    }
    let at = parsed(args, 1, ctx, None)?;
    Ok(Value::Date(days_of(ctx.timezone().utc_to_local(at).date())))
}

fn date_format(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let at = micros(&args[0], ctx)?;
    Ok(Value::string(pattern_arg(args, 1, ctx, DEFAULT_PATTERN)?.format(at, ctx.timezone())))
}

fn date_field(value: &Value, ctx: &Ctx<'_>, f: fn(chrono::NaiveDate) -> i32) -> Result<Value, EvalError> {
    Ok(Value::Int(f(date_of(days(value, ctx)?))))
}

fn time_field(value: &Value, ctx: &Ctx<'_>, f: fn(NaiveDateTime) -> u32) -> Result<Value, EvalError> {
    Ok(Value::Int(f(ctx.timezone().utc_to_local(micros(value, ctx)?)) as i32))
}

fn add_days(args: &[Value], ctx: &Ctx<'_>, sign: i32) -> Result<Value, EvalError> {
    let n = int_arg(&args[1], ctx)?;
    days(&args[0], ctx)?
        .checked_add(n.checked_mul(sign).ok_or_else(overflow)?)
        .map(Value::Date)
        .ok_or_else(|| EvalError::Overflow("date".to_owned()))
}

/// `date_trunc(unit, ts)`: the timestamp cut down to the unit, in the
/// session time zone; NULL for an unknown unit.
fn date_trunc(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let unit = text(&args[0], ctx).to_ascii_uppercase();
    let at = micros(&args[1], ctx)?;
    let zone = ctx.timezone();
    let local = zone.utc_to_local(at);
    let date = local.date();
    let midnight = |d: chrono::NaiveDate| Some(d.and_time(NaiveTime::MIN));
    let truncated = match unit.as_str() {
        "MICROSECOND" => return Ok(Value::Timestamp(at)),
        "MILLISECOND" => return Ok(Value::Timestamp(at - at.rem_euclid(1_000))),
        "SECOND" => local.with_nanosecond(0),
        "MINUTE" => local.with_nanosecond(0).and_then(|t| t.with_second(0)),
        "HOUR" => local.with_nanosecond(0).and_then(|t| t.with_second(0)).and_then(|t| t.with_minute(0)),
        "DAY" | "DD" => midnight(date),
        "WEEK" => midnight(date - chrono::TimeDelta::days(date.weekday().num_days_from_monday().into())),
        "MONTH" | "MM" | "MON" => midnight(date.with_day(1).unwrap_or(date)),
        "QUARTER" => {
            midnight(chrono::NaiveDate::from_ymd_opt(date.year(), date.month0() / 3 * 3 + 1, 1).unwrap_or(date))
        }
        "YEAR" | "YYYY" | "YY" => midnight(chrono::NaiveDate::from_ymd_opt(date.year(), 1, 1).unwrap_or(date)),
        _ => return Ok(Value::Null),
    };
    Ok(truncated.map_or(Value::Null, |t| Value::Timestamp(zone.local_to_utc(t))))
}

#[cfg(test)]
mod tests {
    use crate::ctx::Session;
    use crate::functions::testing::{eval, eval_in, text};
    use crate::value::Value;
    use crate::value::render::to_text;
    use crate::zone::TimeZone;

    #[test]
    fn epochs() {
        assert_eq!(text("timestamp_millis(1590000000123)"), "2020-05-20 18:40:00.123");
        assert_eq!(text("timestamp_seconds(1590000000)"), "2020-05-20 18:40:00");
        assert_eq!(text("timestamp_seconds(1.5D)"), "1970-01-01 00:00:01.5");
        assert_eq!(text("unix_millis(TIMESTAMP'1970-01-01 00:00:01')"), "1000");
        assert_eq!(text("from_unixtime(1590000000)"), "2020-05-20 18:40:00");
        assert_eq!(text("from_unixtime(1590000000, 'dd/MM/yyyy HH:mm')"), "20/05/2020 18:40");
        assert_eq!(text("unix_timestamp('2024-02-29', 'yyyy-MM-dd')"), "1709164800");
        assert_eq!(text("unix_timestamp('2024-02-29 00:00:01')"), "1709164801");
        assert!(eval("unix_timestamp('2024-2-29', 'yyyy-MM-dd')").is_err());
    }

    #[test]
    fn parses_and_formats() {
        assert_eq!(text("to_timestamp('2024-02-29T23:59:59.123Z')"), "2024-02-29 23:59:59.123");
        assert_eq!(text("to_timestamp('29/02/2024', 'dd/MM/yyyy')"), "2024-02-29 00:00:00");
        assert_eq!(text("to_date('2024-02-29 10:00')"), "2024-02-29");
        assert_eq!(text("to_date('02-29-2024', 'MM-dd-yyyy')"), "2024-02-29");
        assert_eq!(
            text("date_format(TIMESTAMP'2024-02-29 23:59:59.123', 'yyyy-MM-dd HH:mm:ss.SSS')"),
            "2024-02-29 23:59:59.123"
        );
        assert_eq!(text("date_format(DATE'2024-02-29', 'EEE, d MMM yyyy')"), "Thu, 29 Feb 2024");
        assert!(eval("to_timestamp('nope', 'yyyy')").is_err());
    }

    #[test]
    fn fields_and_arithmetic() {
        assert_eq!(
            text("concat(year('2024-02-29'), month('2024-02-29'), day('2024-02-29'), dayofweek('2024-02-29'))"),
            "20242295"
        );
        assert_eq!(
            text("concat(hour('2024-02-29 23:59:58'), minute('2024-02-29 23:59:58'), second('2024-02-29 23:59:58'))"),
            "235958"
        );
        assert_eq!(text("extract(YEAR FROM DATE'2024-02-29')"), "2024");
        assert_eq!(text("date_add('2024-02-28', 1)"), "2024-02-29");
        assert_eq!(text("date_sub(DATE'2024-03-01', 60)"), "2024-01-01");
        assert_eq!(text("datediff('2024-03-01', '2024-02-01')"), "29");
        assert_eq!(text("date_trunc('MONTH', TIMESTAMP'2024-02-29 23:59:59')"), "2024-02-01 00:00:00");
        assert_eq!(text("date_trunc('hour', TIMESTAMP'2024-02-29 23:59:59')"), "2024-02-29 23:00:00");
        assert_eq!(text("date_trunc('WEEK', TIMESTAMP'2024-02-29 23:59:59')"), "2024-02-26 00:00:00");
        assert_eq!(text("date_trunc('nope', TIMESTAMP'2024-02-29 23:59:59')"), "NULL");
    }

    #[test]
    fn honours_the_session_time_zone() {
        let kolkata = Session::new(TimeZone::parse("Asia/Kolkata").unwrap(), false);
        let at = |src: &str| to_text(&eval_in(src, &kolkata).unwrap(), &kolkata.timezone).unwrap();
        assert_eq!(at("from_unixtime(0)"), "1970-01-01 05:30:00");
        assert_eq!(at("hour(timestamp_millis(0))"), "5");
        assert_eq!(eval_in("unix_timestamp('1970-01-01 05:30:00')", &kolkata), Ok(Value::Long(0)));
        assert_eq!(at("date_format(timestamp_millis(0), 'HH:mm XXX')"), "05:30 +05:30");
    }
}
