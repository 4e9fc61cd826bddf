//! Durations (`90d`, `12h`, `31536000`), times (RFC 3339 or `YYYY-MM-DD`), timestamps,
//! expiries, and the clock every part of keyctl reads the time from.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Invalid;

/// Latest instant keyctl stores: the end of year 9999, so every timestamp prints as RFC 3339.
pub const MAX_TIMESTAMP: i64 = 253_402_300_799;

const DURATION_FORMS: &str = "a positive whole number of seconds (31536000) or a number with a unit s, m, h, d, w or y (90d, 12h)";

/// Seconds since the Unix epoch, UTC, printed as RFC 3339 with seconds and `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time, to the second.
    pub fn now() -> Timestamp {
        Timestamp(Utc::now().timestamp())
    }

    /// This time plus `secs` seconds, if it stays within the range keyctl can store.
    pub fn plus(self, secs: i64) -> Option<Timestamp> {
        self.0
            .checked_add(secs)
            .filter(|t| *t <= MAX_TIMESTAMP)
            .map(Timestamp)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match DateTime::<Utc>::from_timestamp(self.0, 0) {
            // By hand: `list --json` prints three timestamps a key, and chrono's `format`
            // parses its pattern anew each time, most of the cost of a listing.
            Some(t) if (0..=9999).contains(&t.year()) => {
                let mut text = *b"0000-00-00T00:00:00Z";
                for (at, width, value) in [
                    (0, 4, t.year() as u32),
                    (5, 2, t.month()),
                    (8, 2, t.day()),
                    (11, 2, t.hour()),
                    (14, 2, t.minute()),
                    (17, 2, t.second()),
                ] {
                    let mut rest = value;
                    for digit in text[at..at + width].iter_mut().rev() {
                        *digit = b'0' + (rest % 10) as u8;
                        rest /= 10;
                    }
                }
                f.write_str(std::str::from_utf8(&text).map_err(|_| std::fmt::Error)?)
            }
            Some(t) => write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%SZ")),
            None => write!(f, "@{}", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_time(&text).map_err(serde::de::Error::custom)
    }
}

impl FromStr for Timestamp {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        parse_time(s).map_err(Invalid)
    }
}

/// A positive number of whole seconds, small enough that any time keyctl stores plus it
/// still fits (see [`MAX_TIMESTAMP`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(i64);

impl Duration {
    /// A duration of `secs` seconds, if it is positive and at most [`MAX_TIMESTAMP`].
    pub fn from_secs(secs: i64) -> Option<Duration> {
        (1..=MAX_TIMESTAMP)
            .contains(&secs)
            .then_some(Duration(secs))
    }

    /// The number of seconds.
    pub fn secs(self) -> i64 {
        self.0
    }
}

impl FromStr for Duration {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        parse_duration(s).map(Duration).map_err(Invalid)
    }
}

/// In the largest unit that divides it exactly, as it would be typed: `90d`, `36h`, `45s`.
impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let units = [
            (365 * 86_400, 'y'),
            (7 * 86_400, 'w'),
            (86_400, 'd'),
            (3_600, 'h'),
            (60, 'm'),
        ];
        match units.iter().find(|(secs, _)| self.0 % secs == 0) {
            Some((secs, unit)) => write!(f, "{}{unit}", self.0 / secs),
            None => write!(f, "{}s", self.0),
        }
    }
}

/// When a key stops working, as a command states it; resolved against the time of the
/// transaction that stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Never.
    Never,
    /// At the moment of the change.
    Now,
    /// This long after the change.
    In(Duration),
    /// At this time.
    At(Timestamp),
}

impl Expiry {
    /// The expiry time at `now`; `None` for never. A time past the year 9999 is refused.
    pub fn at(self, now: Timestamp) -> Result<Option<Timestamp>, Invalid> {
        match self {
            Expiry::Never => Ok(None),
            Expiry::Now => Ok(Some(now)),
            Expiry::At(t) => Ok(Some(t)),
            Expiry::In(d) => now.plus(d.secs()).map(Some).ok_or_else(|| {
                Invalid(format!(
                    "{} seconds from now would be after the year 9999",
                    d.secs()
                ))
            }),
        }
    }
}

/// Where keyctl reads the time: the system clock, or any function (tests move time
/// without sleeping). Cloning shares the function.
#[derive(Clone)]
pub struct Clock(Option<Arc<dyn Fn() -> Timestamp + Send + Sync>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that asks `now` for the time.
    pub fn new(now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Clock {
        Clock(Some(Arc::new(now)))
    }

    /// A clock that always says `t`.
    pub fn fixed(t: Timestamp) -> Clock {
        Clock::new(move || t)
    }

    /// The time now, to the second.
    pub fn now(&self) -> Timestamp {
        match &self.0 {
            None => Timestamp::now(),
            Some(f) => f(),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock(custom)"
        } else {
            "Clock(system)"
        })
    }
}

/// Parse a duration into whole seconds. Zero, negative, fractional, overflowing and
/// unparseable values are errors whose message names the value and the accepted forms.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let shown = crate::names::shown(text);
    let bad = |why: &str| format!("invalid duration {shown}{why}: expected {DURATION_FORMS}");
    if text.starts_with('-') {
        return Err(format!(
            "invalid duration {shown}: durations are positive, counted from now (to expire a key at once, use `now`)"
        ));
    }
    if parse_time(text).is_ok() {
        return Err(format!(
            "invalid duration {shown}: that is a time, not a duration; give it with --at (expire) or --expire-at (create)"
        ));
    }
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let multiplier: i64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'y' => 365 * 86_400,
        _ => return Err(bad(" (unknown unit)")),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(""));
    }
    let n: i64 = digits.parse().map_err(|_| bad(" (too large)"))?;
    if n == 0 {
        return Err(bad(" (must be greater than zero)"));
    }
    let secs = n
        .checked_mul(multiplier)
        .ok_or_else(|| bad(" (too large)"))?;
    if secs > MAX_TIMESTAMP {
        return Err(bad(" (too large)"));
    }
    Ok(secs)
}

/// Parse a point in time: RFC 3339 (offsets allowed, fractions of a second dropped) or
/// `YYYY-MM-DD` (midnight UTC).
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    let shown = crate::names::shown(text);
    let bad = || {
        format!(
            "invalid time {shown}: expected RFC 3339 (2030-01-01T00:00:00Z) or a date (2030-01-01)"
        )
    };
    let secs = if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        t.timestamp()
    } else if text.len() == 10 {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad())?;
        date.and_hms_opt(0, 0, 0)
            .ok_or_else(bad)?
            .and_utc()
            .timestamp()
    } else {
        return Err(bad());
    };
    if !(0..=MAX_TIMESTAMP).contains(&secs) {
        return Err(format!(
            "invalid time {shown}: must be between 1970 and 9999"
        ));
    }
    Ok(Timestamp(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("31536000"), Ok(31_536_000));
        assert_eq!(parse_duration("45s"), Ok(45));
        assert_eq!(parse_duration("5m"), Ok(300));
        assert_eq!(parse_duration("12h"), Ok(43_200));
        assert_eq!(parse_duration("90d"), Ok(7_776_000));
        assert_eq!(parse_duration("2w"), Ok(1_209_600));
        assert_eq!(parse_duration("1y"), Ok(31_536_000));
        assert_eq!(parse_duration("007"), Ok(7));
    }

    #[test]
    fn bad_durations_name_the_value_and_the_forms() {
        for bad in [
            "",
            "0",
            "0d",
            "-5",
            "-5d",
            "1.5h",
            "1.5",
            "5x",
            "d",
            "h5",
            " 5",
            "5 ",
            "1e3",
            "+5",
            "99999999999999999999",
            "9999999999999y",
            "300000y",
            "5dd",
            "٣",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            if bad.starts_with('-') {
                assert!(err.contains("positive") && err.contains("now"), "{err}");
            } else {
                assert!(err.contains("90d"), "{err}");
            }
        }
    }

    #[test]
    fn times_rfc3339_and_dates() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(Timestamp(0)));
        assert_eq!(
            parse_time("2030-01-01T00:00:00Z"),
            Ok(Timestamp(1_893_456_000))
        );
        assert_eq!(
            parse_time("2030-01-01T02:00:00+02:00"),
            Ok(Timestamp(1_893_456_000))
        );
        assert_eq!(
            parse_time("2030-01-01T00:00:00.999Z"),
            Ok(Timestamp(1_893_456_000))
        );
        assert_eq!(parse_time("2030-01-01"), Ok(Timestamp(1_893_456_000)));
        for bad in [
            "2030-02-30",
            "2030-13-01",
            "2030-1-1",
            "tomorrow",
            "",
            "2030-01-01T25:00:00Z",
            "1969-12-31",
            "10000-01-01",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_print_as_rfc3339_with_z() {
        assert_eq!(Timestamp(1_795_344_054).to_string(), "2026-11-22T10:40:54Z");
        assert_eq!(Timestamp(MAX_TIMESTAMP).to_string(), "9999-12-31T23:59:59Z");
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(951_782_400).to_string(), "2000-02-29T00:00:00Z");
        // Outside what keyctl writes (a store edited by hand): still readable.
        assert_eq!(
            Timestamp(-62_167_219_201).to_string(),
            "-0001-12-31T23:59:59Z"
        );
        assert_eq!(
            Timestamp(MAX_TIMESTAMP + 1).to_string(),
            "+10000-01-01T00:00:00Z"
        );
        assert_eq!(Timestamp(i64::MAX).to_string(), format!("@{}", i64::MAX));
        // The same text as chrono's own RFC 3339 pattern, across the whole range.
        for t in (-62_200_000_000..=MAX_TIMESTAMP + 100_000_000).step_by(7_777_777_777 / 1000) {
            let chrono = DateTime::<Utc>::from_timestamp(t, 0).unwrap();
            let expected = chrono.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            assert_eq!(Timestamp(t).to_string(), expected, "{t}");
        }
        assert_eq!(
            Timestamp(0).plus(MAX_TIMESTAMP),
            Some(Timestamp(MAX_TIMESTAMP))
        );
        assert_eq!(Timestamp(1).plus(MAX_TIMESTAMP), None);
        assert_eq!(Timestamp(1).plus(i64::MAX), None);
    }

    #[test]
    fn a_date_given_as_a_duration_suggests_the_time_options() {
        let err = parse_duration("2030-01-01").unwrap_err();
        assert!(err.contains("--at") && err.contains("--expire-at"), "{err}");
    }

    #[test]
    fn expiries_resolve_at_the_time_given() {
        let now = Timestamp(1_000);
        let d = |s| Duration::from_secs(s).unwrap();
        assert_eq!(Expiry::In(d(5)).at(now), Ok(Some(Timestamp(1_005))));
        assert_eq!(Expiry::Now.at(now), Ok(Some(now)));
        assert_eq!(Expiry::Never.at(now), Ok(None));
        assert!(Expiry::In(d(MAX_TIMESTAMP)).at(now).is_err());
        assert_eq!(Duration::from_secs(0), None);
        assert_eq!("90d".parse::<Duration>().map(Duration::secs), Ok(7_776_000));
        for text in ["90d", "1y", "2w", "36h", "5m", "45s", "61s"] {
            assert_eq!(text.parse::<Duration>().unwrap().to_string(), text);
        }
    }
}
