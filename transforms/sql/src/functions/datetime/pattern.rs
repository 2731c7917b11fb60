//! Spark's datetime patterns (`yyyy-MM-dd HH:mm:ss.SSS`, `EEE, d MMM
//! yyyy`, `XXX`), for `date_format`, `from_unixtime`, `to_timestamp`,
//! `to_date` and `unix_timestamp`.
//!
//! Letters as Spark's `DateTimeFormatter`-based patterns: `G` era, `y`
//! year (`yy` two digits), `M`/`L` month (`MMM` `Jan`, `MMMM` `January`),
//! `d` day, `D` day of year, `Q`/`q` quarter, `E` day of week (`EEEE`
//! `Monday`), `a` AM/PM, `H` `k` `K` `h` hours, `m` minutes, `s` seconds,
//! `S` fraction (up to 9 digits, parsed with 1 to that many), `X` `x` `Z`
//! `z` `V` zones; `'text'` is literal text and `''` a quote. A field of one
//! letter reads 1 or 2 digits, of two letters exactly 2. Parsing must use
//! all the text; fields not in the pattern default to 1970-01-01 00:00:00.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use crate::zone::TimeZone;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A letter repeated `count` times.
    Field(char, usize),
    /// Text to write or match as it is.
    Literal(String),
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    tokens: Vec<Token>,
}

impl Pattern {
    /// Reads `pattern`; an unknown letter or an unclosed quote is an error.
    pub fn parse(pattern: &str) -> Result<Pattern, String> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            text.push('\'');
                        }
                        Some('\'') => break,
                        Some(c) => text.push(c),
                        None => return Err(format!("unclosed quote in the datetime pattern '{pattern}'")),
                    }
                }
                if text.is_empty() {
                    text.push('\'');
                }
                tokens.push(Token::Literal(text));
            } else if c.is_ascii_alphabetic() {
                if !"GyMLdDQqEaHkKhmsSXxZzVu".contains(c) {
                    return Err(format!("unknown letter '{c}' in the datetime pattern '{pattern}'"));
                }
                let mut count = 1;
                while chars.peek() == Some(&c) {
                    chars.next();
                    count += 1;
                }
                tokens.push(Token::Field(c, count));
            } else {
                match tokens.last_mut() {
                    Some(Token::Literal(text)) => text.push(c),
                    _ => tokens.push(Token::Literal(c.to_string())),
                }
            }
        }
        Ok(Pattern { tokens })
    }

    /// The instant `micros` written in `zone`.
    pub fn format(&self, micros: i64, zone: &TimeZone) -> String {
        let local = zone.utc_to_local(micros);
        let offset = zone.offset_seconds(micros);
        let mut out = String::new();
        for token in &self.tokens {
            match token {
                Token::Literal(text) => out.push_str(text),
                Token::Field(letter, count) => write_field(&mut out, (*letter, *count), local, (micros, offset), zone),
            }
        }
        out
    }

    /// `text` read by the pattern as an instant, in `zone` unless the text
    /// names its own; `None` when it does not match.
    pub fn parse_instant(&self, text: &str, zone: &TimeZone) -> Option<i64> {
        let mut fields = Parsed::default();
        let mut rest = text;
        for (i, token) in self.tokens.iter().enumerate() {
            let next_is_digits =
                matches!(self.tokens.get(i + 1), Some(Token::Field(c, _)) if "yMdDHkKhmsS".contains(*c));
            rest = match token {
                Token::Literal(lit) => strip_prefix_fold(rest, lit)?,
                Token::Field(letter, count) => read_field(rest, *letter, *count, next_is_digits, &mut fields)?,
            };
        }
        if !rest.is_empty() {
            return None;
        }
        let local = fields.local()?;
        Some(match fields.offset {
            Some(seconds) => local.and_utc().timestamp_micros() - i64::from(seconds) * 1_000_000,
            None => fields.zone.unwrap_or(*zone).local_to_utc(local),
        })
    }
}

fn strip_prefix_fold<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

fn pad(out: &mut String, value: i64, width: usize) {
    if value < 0 {
        out.push('-');
    }
    out.push_str(&format!("{:0width$}", value.unsigned_abs()));
}

/// Writes one field of the instant `at` (microseconds, offset in seconds),
/// whose wall-clock time in `zone` is `t`.
fn write_field(out: &mut String, (letter, count): (char, usize), t: NaiveDateTime, at: (i64, i32), zone: &TimeZone) {
    let (micros, offset) = at;
    let n = |out: &mut String, v: u32| pad(out, i64::from(v), count);
    match letter {
        'G' => out.push_str(if t.year() > 0 { "AD" } else { "BC" }),
        'y' | 'u' if count == 2 => pad(out, i64::from(t.year().rem_euclid(100)), 2),
        'y' | 'u' => pad(out, i64::from(t.year()), count),
        'M' | 'L' => match count {
            1 | 2 => n(out, t.month()),
            3 => out.push_str(&MONTHS[t.month0() as usize][..3]),
            4 => out.push_str(MONTHS[t.month0() as usize]),
            _ => out.push_str(&MONTHS[t.month0() as usize][..1]),
        },
        'd' => n(out, t.day()),
        'D' => n(out, t.ordinal()),
        'Q' | 'q' => match count {
            1 | 2 => n(out, t.month0() / 3 + 1),
            3 => out.push_str(&format!("Q{}", t.month0() / 3 + 1)),
            _ => out.push_str(["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"][(t.month0() / 3) as usize]),
        },
        'E' => {
            let day = DAYS[t.weekday().num_days_from_monday() as usize];
            out.push_str(match count {
                4 => day,
                5 => &day[..1],
                _ => &day[..3],
            });
        }
        'a' => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
        'H' => n(out, t.hour()),
        'k' => n(out, if t.hour() == 0 { 24 } else { t.hour() }),
        'K' => n(out, t.hour() % 12),
        'h' => n(out, if t.hour().is_multiple_of(12) { 12 } else { t.hour() % 12 }),
        'm' => n(out, t.minute()),
        's' => n(out, t.second()),
        'S' => {
            let nanos = format!("{:09}", t.nanosecond());
            out.push_str(&format!("{:0<count$}", &nanos[..count.min(9)]));
        }
        'X' | 'x' | 'Z' => out.push_str(&offset_text(letter, count, offset)),
        'z' => out.push_str(&zone_name(zone, micros, offset)),
        _ => out.push_str(&zone_id(zone)),
    }
}

/// `X` (`Z` for zero), `x` and `Z` offsets in their widths.
fn offset_text(letter: char, count: usize, offset: i32) -> String {
    if letter == 'X' && offset == 0 {
        return "Z".to_owned();
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let (h, m, s) = (offset.unsigned_abs() / 3600, offset.unsigned_abs() / 60 % 60, offset.unsigned_abs() % 60);
    match (letter, count) {
        ('Z', 4) => {
            if offset == 0 {
                "GMT".to_owned()
            } else {
                format!("GMT{sign}{h:02}:{m:02}")
            }
        }
        ('Z', 5) => {
            if offset == 0 {
                "Z".to_owned()
            } else {
                format!("{sign}{h:02}:{m:02}")
            }
        }
        ('Z', _) => format!("{sign}{h:02}{m:02}"),
        (_, 1) if m == 0 => format!("{sign}{h:02}"),
        (_, 1 | 2) => format!("{sign}{h:02}{m:02}"),
        (_, 3) if s == 0 => format!("{sign}{h:02}:{m:02}"),
        (_, 3) => format!("{sign}{h:02}:{m:02}:{s:02}"),
        _ => format!("{sign}{h:02}{m:02}{s:02}"),
    }
}

fn zone_name(zone: &TimeZone, micros: i64, offset: i32) -> String {
    match zone {
        TimeZone::Fixed(0) => "UTC".to_owned(),
        TimeZone::Fixed(_) => offset_text('X', 3, offset),
        TimeZone::Named(tz) => {
            use chrono::TimeZone as _;
            use chrono_tz::OffsetName as _;
            let at = crate::zone::utc_datetime(micros).unwrap_or_default();
            tz.offset_from_utc_datetime(&at).abbreviation().unwrap_or("").to_owned()
        }
    }
}

fn zone_id(zone: &TimeZone) -> String {
    match zone {
        TimeZone::Fixed(0) => "UTC".to_owned(),
        TimeZone::Fixed(seconds) => offset_text('X', 3, *seconds),
        TimeZone::Named(tz) => tz.name().to_owned(),
    }
}

/// The fields read so far.
#[derive(Debug, Default)]
struct Parsed {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    day_of_year: Option<u32>,
    hour: Option<u32>,
    hour12: Option<u32>,
    pm: Option<bool>,
    minute: Option<u32>,
    second: Option<u32>,
    nanos: Option<u32>,
    offset: Option<i32>,
    zone: Option<TimeZone>,
}

impl Parsed {
    fn local(&self) -> Option<NaiveDateTime> {
        let year = self.year.unwrap_or(1970);
        let date = match self.day_of_year {
            Some(d) if self.month.is_none() => NaiveDate::from_yo_opt(year, d)?,
            _ => NaiveDate::from_ymd_opt(year, self.month.unwrap_or(1), self.day.unwrap_or(1))?,
        };
        let hour = match (self.hour, self.hour12, self.pm) {
            (Some(h), _, _) => h,
            (None, Some(h), pm) => h % 12 + if pm == Some(true) { 12 } else { 0 },
            (None, None, _) => 0,
        };
        let time = NaiveTime::from_hms_nano_opt(
            hour,
            self.minute.unwrap_or(0),
            self.second.unwrap_or(0),
            self.nanos.unwrap_or(0),
        )?;
        Some(NaiveDateTime::new(date, time))
    }
}

/// Up to `max` leading ASCII digits (at least `min`) as a number, and the rest.
fn digits(text: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let n = text.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if n < min {
        return None;
    }
    Some((text[..n].parse().ok()?, &text[n..]))
}

fn read_field<'t>(text: &'t str, letter: char, count: usize, next_is_digits: bool, f: &mut Parsed) -> Option<&'t str> {
    let width = |count: usize| if count == 1 { (1, 2) } else { (count, count) };
    let number = |text: &'t str| digits(text, width(count).0, width(count).1);
    Some(match letter {
        'y' | 'u' => {
            let (negative, body) = match text.strip_prefix('-') {
                Some(rest) if count != 2 => (true, rest),
                _ => (false, text),
            };
            let (min, max) = match count {
                2 => (2, 2),
                4 => (4, if next_is_digits { 4 } else { 9 }),
                c => (c, if next_is_digits { c } else { 9 }),
            };
            let (y, rest) = digits(body, min, max)?;
            let y = y as i32;
            f.year = Some(if count == 2 {
                2000 + y
            } else if negative {
                -y
            } else {
                y
            });
            rest
        }
        'M' | 'L' if count >= 3 => {
            let (month, rest) = names(text, &MONTHS, count == 3)?;
            f.month = Some(month as u32 + 1);
            rest
        }
        'E' => names(text, &DAYS, count != 4)?.1,
        'a' => {
            let pm = strip_prefix_fold(text, "PM").is_some();
            f.pm = Some(pm);
            strip_prefix_fold(text, if pm { "PM" } else { "AM" })?
        }
        'S' => {
            let (_, rest) = digits(text, 1, count)?;
            let n = text.len() - rest.len();
            f.nanos = Some(format!("{:0<9}", &text[..n]).parse().ok()?);
            rest
        }
        'X' | 'x' | 'Z' | 'z' | 'V' => {
            let (zone, rest) = read_zone(text)?;
            match zone {
                TimeZone::Fixed(seconds) => f.offset = Some(seconds),
                named => f.zone = Some(named),
            }
            rest
        }
        'G' => strip_prefix_fold(text, "AD").or_else(|| strip_prefix_fold(text, "BC"))?,
        _ => {
            let (v, rest) = number(text)?;
            match letter {
                'M' | 'L' => f.month = Some(v),
                'd' => f.day = Some(v),
                'D' => f.day_of_year = Some(v),
                'H' => f.hour = Some(v),
                'k' => f.hour = Some(v % 24),
                'K' | 'h' => f.hour12 = Some(v),
                'm' => f.minute = Some(v),
                's' => f.second = Some(v),
                _ => {}
            }
            rest
        }
    })
}

/// A month or day name (or its three-letter form), any case.
fn names<'t>(text: &'t str, all: &[&str], short: bool) -> Option<(usize, &'t str)> {
    all.iter().enumerate().find_map(|(i, name)| {
        let name = if short { &name[..3] } else { name };
        strip_prefix_fold(text, name).map(|rest| (i, rest))
    })
}

/// `Z`, `+05:30`, `-0800`, `+05`, `UTC`, `GMT+1`, or a region.
fn read_zone(text: &str) -> Option<(TimeZone, &str)> {
    if let Some(rest) = text.strip_prefix('Z') {
        return Some((TimeZone::utc(), rest));
    }
    if text.starts_with(['+', '-']) {
        let end = 1 + text[1..].find(|c: char| !(c.is_ascii_digit() || c == ':')).unwrap_or(text.len() - 1);
        return TimeZone::parse(&text[..end]).map(|z| (z, &text[end..]));
    }
    let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || "/_+-:".contains(c))).unwrap_or(text.len());
    TimeZone::parse(&text[..end]).map(|z| (z, &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEAP_NIGHT: i64 = 1_709_251_199_123_000; // 2024-02-29 23:59:59.123 UTC

    fn format(pattern: &str, micros: i64, zone: &str) -> String {
        Pattern::parse(pattern).unwrap().format(micros, &TimeZone::parse(zone).unwrap())
    }

    #[test]
    fn formats_spark_patterns() {
        assert_eq!(format("yyyy-MM-dd HH:mm:ss.SSS", LEAP_NIGHT, "UTC"), "2024-02-29 23:59:59.123");
        assert_eq!(format("EEE, d MMM yyyy", LEAP_NIGHT, "UTC"), "Thu, 29 Feb 2024");
        assert_eq!(format("EEEE MMMM yy D Q", LEAP_NIGHT, "UTC"), "Thursday February 24 60 1");
        assert_eq!(format("hh:mm a XXX", LEAP_NIGHT, "+05:30"), "05:29 AM +05:30");
        assert_eq!(format("dd/MM/yyyy HH:mm 'o''clock' X", LEAP_NIGHT, "UTC"), "29/02/2024 23:59 o'clock Z");
        assert_eq!(format("yyyy-MM-dd z", LEAP_NIGHT, "Europe/Paris"), "2024-03-01 CET");
    }

    #[test]
    fn parses_spark_patterns() {
        let utc = TimeZone::utc();
        let parse = |pattern: &str, text: &str| Pattern::parse(pattern).unwrap().parse_instant(text, &utc);
        assert_eq!(parse("yyyy-MM-dd HH:mm:ss.SSS", "2024-02-29 23:59:59.123"), Some(LEAP_NIGHT));
        assert_eq!(parse("yyyy-MM-dd", "2024-02-29"), Some(1_709_164_800_000_000));
        assert_eq!(parse("yyyy-MM-dd", "2024-2-29"), None);
        assert_eq!(parse("yyyy-M-d", "2024-2-29"), Some(1_709_164_800_000_000));
        assert_eq!(parse("dd/MM/yyyy", "29/02/2024 x"), None);
        assert_eq!(parse("yyyyMMdd", "20240229"), Some(1_709_164_800_000_000));
        assert_eq!(parse("d MMM yyyy", "29 feb 2024"), Some(1_709_164_800_000_000));
        assert_eq!(parse("yyyy-MM-dd'T'HH:mm:ssXXX", "2024-03-01T05:29:59+05:30"), Some(1_709_251_199_000_000));
        assert_eq!(parse("yyyy-MM-dd", "2023-02-29"), None);
    }
}
