//! A series' spacing: a fixed number of seconds, or a number of calendar months.
//!
//! A month is not a fixed number of seconds, so monthly, quarterly and yearly series cannot live
//! on a grid of `start + k · seconds`. They are laid out by calendar period instead: a monthly
//! series holds one value per calendar month, a quarterly one per calendar quarter (January,
//! April, July, October), a yearly one per calendar year. Which day inside the period a point
//! carries is not checked; timestamps the grid makes up (forecast steps, the start of a window)
//! keep the day of month and time of day of the point they are counted from, and a month-end
//! point counts forward to month ends.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::{civil_from_days, days_from_civil, days_in_month};
use crate::CoreError;

const SECONDS_PER_DAY: i64 = 86_400;

/// The average Gregorian month (365.2425 days / 12), for what only needs a month's rough length:
/// the defaults by frequency, MASE's season.
pub const NOMINAL_MONTH_SECONDS: i64 = 2_629_746;

/// How far apart consecutive points of a series are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Frequency {
    /// A fixed spacing (minutes, hours, days, weeks); positive when valid.
    Seconds(i64),
    /// Calendar periods of this many months: 1 monthly, 3 quarterly, 12 yearly; positive when
    /// valid.
    Months(u32),
}

impl From<i64> for Frequency {
    fn from(seconds: i64) -> Self {
        Frequency::Seconds(seconds)
    }
}

impl Frequency {
    pub const MONTHLY: Frequency = Frequency::Months(1);
    pub const QUARTERLY: Frequency = Frequency::Months(3);
    pub const YEARLY: Frequency = Frequency::Months(12);

    /// Parses `3600`, `3600s`, `15min` (or `15m`), `1h`, `1d`, `1w`, and the calendar spacings
    /// `1mo` (or `month`), `1q` (or `quarter`), `1y` (or `year`), with any positive count.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let t = s.trim();
        let bad = || CoreError::UnparsableFrequency(s.to_string());
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: i64 = if num.is_empty() && !unit.is_empty() {
            1
        } else {
            num.parse().map_err(|_| bad())?
        };
        let seconds = |mult: i64| {
            n.checked_mul(mult)
                .filter(|f| *f > 0)
                .map(Frequency::Seconds)
                .ok_or_else(bad)
        };
        let months = |mult: i64| {
            n.checked_mul(mult)
                .filter(|m| *m > 0)
                .and_then(|m| u32::try_from(m).ok())
                .map(Frequency::Months)
                .ok_or_else(bad)
        };
        match unit {
            // a bare unit ("h") is not a count: only the calendar words stand alone
            "" | "s" if !num.is_empty() => seconds(1),
            "min" | "m" if !num.is_empty() => seconds(60),
            "h" if !num.is_empty() => seconds(3600),
            "d" if !num.is_empty() => seconds(SECONDS_PER_DAY),
            "w" if !num.is_empty() => seconds(7 * SECONDS_PER_DAY),
            "mo" if !num.is_empty() => months(1),
            "q" if !num.is_empty() => months(3),
            "y" if !num.is_empty() => months(12),
            "month" | "months" | "monthly" => months(1),
            "quarter" | "quarters" | "quarterly" => months(3),
            "year" | "years" | "yearly" => months(12),
            _ => Err(bad()),
        }
    }

    /// Whether the spacing is positive (a config or a request can carry one that is not).
    pub fn is_valid(self) -> bool {
        match self {
            Frequency::Seconds(s) => s > 0,
            Frequency::Months(m) => m > 0,
        }
    }

    /// The spacing in seconds, a calendar period taken at its average length. Only for what
    /// needs a rough size (defaults, seasons); grids use [`Frequency::steps_between`] and
    /// [`Frequency::step`].
    pub fn nominal_seconds(self) -> i64 {
        match self {
            Frequency::Seconds(s) => s,
            Frequency::Months(m) => i64::from(m).saturating_mul(NOMINAL_MONTH_SECONDS),
        }
    }

    /// The fixed spacing, `None` for a calendar one.
    pub fn seconds(self) -> Option<i64> {
        match self {
            Frequency::Seconds(s) => Some(s),
            Frequency::Months(_) => None,
        }
    }

    /// The calendar spacing in months, `None` for a fixed one.
    pub fn months(self) -> Option<u32> {
        match self {
            Frequency::Seconds(_) => None,
            Frequency::Months(m) => Some(m),
        }
    }

    /// Grid steps from `from` to `to` (negative when `to` is older): `None` when `to` is not on
    /// `from`'s grid (a fixed spacing that does not divide the distance) or the spacing is not
    /// positive. For a calendar spacing any two timestamps are on one grid: the steps are the
    /// calendar periods between them.
    ///
    /// i128: the distance between two i64 timestamps can exceed i64::MAX.
    pub fn steps_between(self, from: i64, to: i64) -> Option<i128> {
        match self {
            Frequency::Seconds(s) if s > 0 => {
                let distance = i128::from(to) - i128::from(from);
                let s = i128::from(s);
                (distance % s == 0).then_some(distance / s)
            }
            Frequency::Months(m) if m > 0 => {
                Some(i128::from(period_index(to, m)) - i128::from(period_index(from, m)))
            }
            _ => None,
        }
    }

    /// The timestamp `k` steps after `ts` (before it when `k` is negative), `None` beyond the
    /// i64 range or for a spacing that is not positive. A calendar step keeps `ts`'s place in
    /// its period: its month within a quarter or year, its time of day, its day of month (the
    /// last day where the month is shorter), and a month end stays a month end.
    pub fn step(self, ts: i64, k: i64) -> Option<i64> {
        match self {
            // i128: a whole-range grid's steps lie in i64 while k · s does not
            Frequency::Seconds(s) if s > 0 => {
                i64::try_from(i128::from(ts) + i128::from(k) * i128::from(s)).ok()
            }
            Frequency::Months(m) if m > 0 => {
                let days = ts.div_euclid(SECONDS_PER_DAY);
                let time_of_day = ts.rem_euclid(SECONDS_PER_DAY);
                let (year, month, day) = civil_from_days(days);
                let month_end = day == days_in_month(year, month);
                let index = i128::from(year) * 12 + i128::from(month - 1);
                let target = index + i128::from(k) * i128::from(m);
                let year = i64::try_from(target.div_euclid(12)).ok()?;
                // rem_euclid(12) is in 0..12
                let month = target.rem_euclid(12) as u32 + 1;
                let last = days_in_month(year, month);
                let day = if month_end { last } else { day.min(last) };
                // far years overflow days_from_civil's i64 arithmetic well before i64 seconds
                if year.unsigned_abs() > 1 << 40 {
                    return None;
                }
                let seconds = i128::from(days_from_civil(year, month, day))
                    * i128::from(SECONDS_PER_DAY)
                    + i128::from(time_of_day);
                i64::try_from(seconds).ok()
            }
            _ => None,
        }
    }

    /// As [`Frequency::step`], clamped to the i64 range: for timestamps that only label things
    /// (time features of padding far in the past).
    pub fn step_saturating(self, ts: i64, k: i64) -> i64 {
        self.step(ts, k)
            .unwrap_or(if k < 0 { i64::MIN } else { i64::MAX })
    }

    /// The `n` timestamps after `last`, one step apart.
    pub fn following(self, last: i64, n: usize) -> Vec<i64> {
        (1..=n as i64)
            .map(|k| self.step_saturating(last, k))
            .collect()
    }
}

/// The calendar period of `ts` in periods of `months` months counted from year 0: calendar
/// quarters and years for 3 and 12.
fn period_index(ts: i64, months: u32) -> i64 {
    let (year, month, _) = civil_from_days(ts.div_euclid(SECONDS_PER_DAY));
    // |year| < 3e11 for any i64 timestamp, so the product fits
    (year * 12 + i64::from(month - 1)).div_euclid(i64::from(months))
}

impl fmt::Display for Frequency {
    /// The form [`Frequency::parse`] reads back: `3600s`'s shortest unit (`1h`), `1mo`, `1q`,
    /// `1y`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Frequency::Seconds(s) => {
                for (unit, len) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("min", 60)] {
                    if s > 0 && s % len == 0 {
                        return write!(f, "{}{unit}", s / len);
                    }
                }
                write!(f, "{s}s")
            }
            Frequency::Months(m) if m > 0 && m % 12 == 0 => write!(f, "{}y", m / 12),
            Frequency::Months(m) if m > 0 && m % 3 == 0 => write!(f, "{}q", m / 3),
            Frequency::Months(m) => write!(f, "{m}mo"),
        }
    }
}

/// A fixed spacing is written as its number of seconds, as configs have always held it, so a
/// config without a calendar spacing reads the same in older releases; a calendar one as its
/// text (`"1mo"`).
impl Serialize for Frequency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Frequency::Seconds(seconds) => s.serialize_i64(seconds),
            Frequency::Months(_) => s.serialize_str(&self.to_string()),
        }
    }
}

/// A number is seconds; text is anything [`Frequency::parse`] reads.
impl<'de> Deserialize<'de> for Frequency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FrequencyVisitor;
        impl Visitor<'_> for FrequencyVisitor {
            type Value = Frequency;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of seconds or a spacing such as \"1h\" or \"1mo\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Frequency, E> {
                Ok(Frequency::Seconds(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Frequency, E> {
                i64::try_from(v)
                    .map(Frequency::Seconds)
                    .map_err(|_| E::custom(format!("frequency {v} s is out of range")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Frequency, E> {
                Frequency::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(FrequencyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_timestamp;

    fn ts(s: &str) -> i64 {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn parses_fixed_and_calendar_spacings() {
        let f = |s: &str| Frequency::parse(s).unwrap();
        assert_eq!(f("3600"), Frequency::Seconds(3600));
        assert_eq!(f("15min"), Frequency::Seconds(900));
        assert_eq!(f("15m"), Frequency::Seconds(900));
        assert_eq!(f(" 1h "), Frequency::Seconds(3600));
        assert_eq!(f("2w"), Frequency::Seconds(1_209_600));
        assert_eq!(f("1mo"), Frequency::MONTHLY);
        assert_eq!(f("month"), Frequency::MONTHLY);
        assert_eq!(f("6mo"), Frequency::Months(6));
        assert_eq!(f("1q"), Frequency::QUARTERLY);
        assert_eq!(f("quarterly"), Frequency::QUARTERLY);
        assert_eq!(f("1y"), Frequency::YEARLY);
        assert_eq!(f("year"), Frequency::YEARLY);
        for bad in [
            "",
            "h",
            "mo",
            "0",
            "0h",
            "0mo",
            "-1h",
            "1.5h",
            "1M",
            "2 years",
            "99999999999999999999",
            "9999999999y",
        ] {
            assert!(Frequency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_reads_back() {
        for f in [
            Frequency::Seconds(1),
            Frequency::Seconds(90),
            Frequency::Seconds(1800),
            Frequency::Seconds(86_400),
            Frequency::Seconds(604_800),
            Frequency::MONTHLY,
            Frequency::Months(2),
            Frequency::QUARTERLY,
            Frequency::YEARLY,
            Frequency::Months(24),
        ] {
            assert_eq!(Frequency::parse(&f.to_string()).unwrap(), f, "{f}");
        }
        assert_eq!(Frequency::Seconds(1800).to_string(), "30min");
        assert_eq!(Frequency::QUARTERLY.to_string(), "1q");
    }

    #[test]
    fn serde_keeps_seconds_numeric() {
        assert_eq!(
            serde_json::to_string(&Frequency::Seconds(3600)).unwrap(),
            "3600"
        );
        assert_eq!(
            serde_json::to_string(&Frequency::MONTHLY).unwrap(),
            "\"1mo\""
        );
        let back = |s: &str| serde_json::from_str::<Frequency>(s);
        assert_eq!(back("3600").unwrap(), Frequency::Seconds(3600));
        assert_eq!(back("\"1h\"").unwrap(), Frequency::Seconds(3600));
        assert_eq!(back("\"1q\"").unwrap(), Frequency::QUARTERLY);
        assert!(back("\"fortnightly\"").is_err());
        assert!(back("1.5").is_err());
        assert!(back("18446744073709551615").is_err());
    }

    #[test]
    fn fixed_steps_are_the_old_arithmetic() {
        let f = Frequency::Seconds(60);
        assert_eq!(f.steps_between(0, 180), Some(3));
        assert_eq!(f.steps_between(180, 0), Some(-3));
        assert_eq!(f.steps_between(0, 90), None);
        assert_eq!(f.step(0, 3), Some(180));
        assert_eq!(f.step(0, -3), Some(-180));
        assert_eq!(f.step(i64::MAX - 10, 1), None);
        assert_eq!(
            Frequency::Seconds(i64::MAX).steps_between(i64::MIN, i64::MAX),
            None
        );
        assert_eq!(Frequency::Seconds(0).step(0, 1), None);
        assert_eq!(Frequency::Seconds(-5).steps_between(0, 5), None);
    }

    #[test]
    fn months_follow_the_calendar() {
        let m = Frequency::MONTHLY;
        let jan = ts("2024-01-01T00:00:00Z");
        assert_eq!(m.step(jan, 1), Some(ts("2024-02-01T00:00:00Z")));
        assert_eq!(m.step(jan, 2), Some(ts("2024-03-01T00:00:00Z")));
        assert_eq!(m.step(jan, 12), Some(ts("2025-01-01T00:00:00Z")));
        assert_eq!(m.step(jan, -1), Some(ts("2023-12-01T00:00:00Z")));
        // the 15th at noon stays the 15th at noon
        let mid = ts("2023-11-15T12:30:00Z");
        assert_eq!(m.step(mid, 3), Some(ts("2024-02-15T12:30:00Z")));
        // month ends stay month ends, through a leap February
        let end = ts("2024-01-31T00:00:00Z");
        assert_eq!(m.step(end, 1), Some(ts("2024-02-29T00:00:00Z")));
        assert_eq!(m.step(end, 2), Some(ts("2024-03-31T00:00:00Z")));
        assert_eq!(m.step(end, 3), Some(ts("2024-04-30T00:00:00Z")));
        let feb = ts("2023-02-28T00:00:00Z");
        assert_eq!(m.step(feb, 1), Some(ts("2023-03-31T00:00:00Z")));
        // the 30th of a month clamps to the end of a shorter one
        let d30 = ts("2023-01-30T00:00:00Z");
        assert_eq!(m.step(d30, 1), Some(ts("2023-02-28T00:00:00Z")));
        assert_eq!(m.step(d30, 2), Some(ts("2023-03-30T00:00:00Z")));
    }

    #[test]
    fn calendar_steps_count_periods_whatever_the_day() {
        let m = Frequency::MONTHLY;
        assert_eq!(
            m.steps_between(ts("2024-01-31T23:00:00Z"), ts("2024-02-01T00:00:00Z")),
            Some(1)
        );
        assert_eq!(
            m.steps_between(ts("2024-03-01T00:00:00Z"), ts("2024-03-31T23:59:59Z")),
            Some(0)
        );
        assert_eq!(
            m.steps_between(ts("2024-03-01T00:00:00Z"), ts("2023-03-15T00:00:00Z")),
            Some(-12)
        );
        // calendar quarters: March and April are in different quarters, April and June not
        let q = Frequency::QUARTERLY;
        assert_eq!(
            q.steps_between(ts("2024-03-31T00:00:00Z"), ts("2024-04-01T00:00:00Z")),
            Some(1)
        );
        assert_eq!(
            q.steps_between(ts("2024-04-01T00:00:00Z"), ts("2024-06-30T00:00:00Z")),
            Some(0)
        );
        // a quarter-end point steps to quarter ends
        assert_eq!(
            q.step(ts("2023-12-31T00:00:00Z"), 1),
            Some(ts("2024-03-31T00:00:00Z"))
        );
        assert_eq!(
            q.step(ts("2023-12-31T00:00:00Z"), 2),
            Some(ts("2024-06-30T00:00:00Z"))
        );
        let y = Frequency::YEARLY;
        assert_eq!(
            y.steps_between(ts("1999-12-31T00:00:00Z"), ts("2000-01-01T00:00:00Z")),
            Some(1)
        );
        assert_eq!(
            y.step(ts("2024-02-29T00:00:00Z"), 1),
            Some(ts("2025-02-28T00:00:00Z"))
        );
        // before the epoch too
        assert_eq!(
            m.step(ts("1969-12-01T00:00:00Z"), 1),
            Some(ts("1970-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn a_calendar_step_is_the_inverse_of_counting() {
        for f in [Frequency::MONTHLY, Frequency::QUARTERLY, Frequency::YEARLY] {
            for start in [
                ts("2020-01-01T00:00:00Z"),
                ts("2021-06-30T06:00:00Z"),
                ts("1900-02-28T00:00:00Z"),
            ] {
                for k in -30..30 {
                    let t = f.step(start, k).unwrap();
                    assert_eq!(f.steps_between(start, t), Some(i128::from(k)), "{f} {k}");
                }
            }
        }
    }

    #[test]
    fn extreme_timestamps_do_not_panic() {
        for f in [
            Frequency::MONTHLY,
            Frequency::Months(u32::MAX),
            Frequency::Seconds(1),
        ] {
            for t in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
                for k in [i64::MIN, -1, 0, 1, i64::MAX] {
                    let _ = f.step(t, k);
                    let _ = f.step_saturating(t, k);
                }
                let _ = f.steps_between(i64::MIN, t);
                let _ = f.steps_between(t, i64::MAX);
            }
        }
        assert_eq!(Frequency::MONTHLY.step(i64::MAX, 1), None);
        assert_eq!(Frequency::Months(0).step(0, 1), None);
        assert_eq!(Frequency::Months(0).steps_between(0, 1), None);
    }

    #[test]
    fn nominal_lengths() {
        assert_eq!(Frequency::Seconds(60).nominal_seconds(), 60);
        assert_eq!(Frequency::YEARLY.nominal_seconds(), 31_556_952);
        assert_eq!(
            Frequency::Months(u32::MAX).nominal_seconds(),
            i64::from(u32::MAX) * NOMINAL_MONTH_SECONDS
        );
    }
}
