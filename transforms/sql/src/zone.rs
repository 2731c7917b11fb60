//! The session time zone: Spark's `spark.sql.session.timeZone`, as the
//! `timezone` config sets it, and the conversions between instants
//! (microseconds since the epoch, UTC) and wall-clock date-times in it.
//!
//! It depends on nothing else in the crate: values render timestamps in a
//! zone, and the evaluation context carries the session's.

use chrono::{DateTime, NaiveDateTime, Offset, TimeZone as _};

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

/// Microseconds since the epoch as a UTC date-time.
pub fn utc_datetime(micros: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc())
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
