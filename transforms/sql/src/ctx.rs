//! The evaluation context: what an expression sees besides its arguments.
//!
//! A [`Ctx`] is built for each record from the transform's fixed settings
//! (the session time zone, whether names are case-sensitive, caches of
//! compiled regular expressions) and the record itself. Lambda parameters
//! (`x` in `exists(xs, x -> x > 1)`) live on its small stack of locals
//! while a lambda body runs.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use chrono::{NaiveDateTime, Offset, TimeZone as _};
use regex::Regex;
use sluice_guest_sdk::Record;

use crate::error::EvalError;
use crate::value::{Value, utc_datetime};

/// The session time zone (`timezone` config; Spark's
/// `spark.sql.session.timeZone`), default UTC.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeZone {
    /// A fixed offset from UTC in seconds (`UTC`, `+05:30`).
    Fixed(i32),
    /// A region of the IANA database (`Europe/Paris`).
    Named(chrono_tz::Tz),
}

impl TimeZone {
    /// UTC.
    pub fn utc() -> TimeZone {
        TimeZone::Fixed(0)
    }

    /// Reads a zone as Spark's session setting takes it: a region
    /// (`America/New_York`), `UTC`/`Z`/`GMT`, or an offset (`+05:30`,
    /// `-08:00`, `UTC+1`).
    pub fn parse(text: &str) -> Option<TimeZone> {
        let text = text.trim();
        if ["utc", "z", "gmt", "ut"].iter().any(|z| text.eq_ignore_ascii_case(z)) {
            return Some(TimeZone::utc());
        }
        let offset = ["UTC", "GMT", "UT"].iter().find_map(|p| text.strip_prefix(p)).unwrap_or(text);
        if let Some(seconds) = parse_offset(offset) {
            return Some(TimeZone::Fixed(seconds));
        }
        text.parse::<chrono_tz::Tz>().ok().map(TimeZone::Named)
    }

    /// The zone's offset from UTC, in seconds, at instant `micros`.
    pub fn offset_seconds(&self, micros: i64) -> i32 {
        match self {
            TimeZone::Fixed(seconds) => *seconds,
            TimeZone::Named(tz) => {
                utc_datetime(micros).map_or(0, |t| tz.offset_from_utc_datetime(&t).fix().local_minus_utc())
            }
        }
    }

    /// The wall-clock date-time in this zone at instant `micros`.
    pub fn utc_to_local(&self, micros: i64) -> NaiveDateTime {
        let local = micros.saturating_add(i64::from(self.offset_seconds(micros)) * 1_000_000);
        utc_datetime(local).unwrap_or_default()
    }

    /// The instant, in microseconds since the epoch, of wall-clock time
    /// `local` in this zone. A time skipped by a daylight-saving change
    /// moves forward as Java does; a repeated one takes the earlier instant.
    pub fn local_to_utc(&self, local: NaiveDateTime) -> i64 {
        let naive_micros = local.and_utc().timestamp_micros();
        match self {
            TimeZone::Fixed(seconds) => naive_micros - i64::from(*seconds) * 1_000_000,
            TimeZone::Named(tz) => match tz.from_local_datetime(&local) {
                chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.timestamp_micros(),
                chrono::LocalResult::None => {
                    let before = self.offset_seconds(naive_micros - 86_400_000_000);
                    naive_micros - i64::from(before) * 1_000_000
                }
            },
        }
    }
}

/// `+05:30`, `-08`, `+0530` as seconds east of UTC.
fn parse_offset(text: &str) -> Option<i32> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (hours, minutes) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() > 2 => rest.split_at(2),
        None => (rest, "0"),
    };
    let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    (hours <= 18 && minutes < 60).then_some(sign * (hours * 3600 + minutes * 60))
}

/// Settings fixed at init and caches that live as long as the transform.
#[derive(Debug)]
pub struct Session {
    /// The session time zone.
    pub timezone: TimeZone,
    /// `case_sensitive=true`: field names must match exactly.
    pub case_sensitive: bool,
    regexes: RefCell<HashMap<String, Rc<Regex>>>,
}

/// How many compiled patterns [`Ctx::regex`] keeps before it starts over.
const REGEX_CACHE_LIMIT: usize = 64;

impl Session {
    /// A session in `timezone`.
    pub fn new(timezone: TimeZone, case_sensitive: bool) -> Session {
        Session { timezone, case_sensitive, regexes: RefCell::default() }
    }
}

impl Default for Session {
    fn default() -> Self {
        Session::new(TimeZone::utc(), false)
    }
}

/// What an expression is evaluated against: the session and one record.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The session settings.
    pub session: &'a Session,
    /// The record, when there is one (constant folding has none).
    pub(crate) record: Option<&'a Record<'a>>,
    /// Values of the lambda parameters in scope, outermost first.
    pub(crate) locals: RefCell<Vec<Value>>,
}

impl<'a> Ctx<'a> {
    /// A context for `record`.
    pub fn new(session: &'a Session, record: &'a Record<'a>) -> Ctx<'a> {
        Ctx { session, record: Some(record), locals: RefCell::default() }
    }

    /// A context with no record, to evaluate constant expressions (and in tests).
    pub fn without_record(session: &'a Session) -> Ctx<'a> {
        Ctx { session, record: None, locals: RefCell::default() }
    }

    /// The session time zone.
    pub fn timezone(&self) -> &TimeZone {
        &self.session.timezone
    }

    /// `pattern` compiled as a regular expression, cached across records.
    /// A pattern Rust's `regex` cannot compile (look-around,
    /// back-references) is an error naming the pattern.
    pub fn regex(&self, pattern: &str) -> Result<Rc<Regex>, EvalError> {
        if let Some(regex) = self.session.regexes.borrow().get(pattern) {
            return Ok(Rc::clone(regex));
        }
        let regex = Rc::new(
            Regex::new(pattern)
                .map_err(|e| EvalError::InvalidRegex { pattern: pattern.to_owned(), reason: e.to_string() })?,
        );
        let mut cache = self.session.regexes.borrow_mut();
        if cache.len() >= REGEX_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(pattern.to_owned(), Rc::clone(&regex));
        Ok(regex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_zones_like_spark() {
        assert_eq!(TimeZone::parse("UTC"), Some(TimeZone::Fixed(0)));
        assert_eq!(TimeZone::parse("+05:30"), Some(TimeZone::Fixed(19_800)));
        assert_eq!(TimeZone::parse("UTC-08:00"), Some(TimeZone::Fixed(-28_800)));
        assert_eq!(TimeZone::parse("Asia/Kolkata"), Some(TimeZone::Named(chrono_tz::Tz::Asia__Kolkata)));
        assert_eq!(TimeZone::parse("Mars/Olympus"), None);
    }

    #[test]
    fn converts_between_instants_and_wall_clock() {
        let paris = TimeZone::parse("Europe/Paris").unwrap();
        // 2024-07-01 12:00:00 UTC is 14:00 in Paris (summer time).
        let noon = 1_719_835_200_000_000;
        let local = paris.utc_to_local(noon);
        assert_eq!(local.to_string(), "2024-07-01 14:00:00");
        assert_eq!(paris.local_to_utc(local), noon);
    }
}
