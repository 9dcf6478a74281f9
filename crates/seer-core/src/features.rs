//! Calendar time features fed to the models next to the values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CoreError;
use crate::time::{Calendar, Frequency, calendar};

/// One calendar feature of a timestamp, as named in a checkpoint's `time_features`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFeature {
    MinuteOfHour,
    HourOfDay,
    DayOfWeek,
    DayOfMonth,
    DayOfYear,
    MonthOfYear,
}

impl TimeFeature {
    pub const ALL: [TimeFeature; 6] = [
        TimeFeature::MinuteOfHour,
        TimeFeature::HourOfDay,
        TimeFeature::DayOfWeek,
        TimeFeature::DayOfMonth,
        TimeFeature::DayOfYear,
        TimeFeature::MonthOfYear,
    ];

    /// The name used in configs and on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            TimeFeature::MinuteOfHour => "minute_of_hour",
            TimeFeature::HourOfDay => "hour_of_day",
            TimeFeature::DayOfWeek => "day_of_week",
            TimeFeature::DayOfMonth => "day_of_month",
            TimeFeature::DayOfYear => "day_of_year",
            TimeFeature::MonthOfYear => "month_of_year",
        }
    }

    /// `index / (n - 1) - 0.5` of the UTC calendar of `ts`, in [-0.5, 0.5].
    ///
    /// Computed in f64 and rounded once to f32, as a float64 reference (Python, numpy) does
    /// before handing the features to an f32 model.
    pub fn value(&self, ts: i64) -> f32 {
        self.of(&calendar(ts))
    }

    /// `value` of a timestamp whose calendar is already known: a point's features share one
    /// civil-date conversion.
    pub fn of(&self, c: &Calendar) -> f32 {
        let (index, n) = match self {
            TimeFeature::MinuteOfHour => (c.minute, 60),
            TimeFeature::HourOfDay => (c.hour, 24),
            TimeFeature::DayOfWeek => (c.weekday, 7),
            TimeFeature::DayOfMonth => (c.day - 1, 31),
            TimeFeature::DayOfYear => (c.ordinal - 1, 366),
            TimeFeature::MonthOfYear => (c.month - 1, 12),
        };
        (f64::from(index) / f64::from(n - 1) - 0.5) as f32
    }
}

impl fmt::Display for TimeFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TimeFeature {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TimeFeature::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| CoreError::UnknownTimeFeature(s.to_string()))
    }
}

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
/// The shortest month; a spacing of 28 days or more is treated as monthly or longer.
const MONTH: i64 = 28 * DAY;

/// The calendar features that vary at the given spacing between points.
///
/// Sub-hourly: minute, hour, weekday; hourly: hour, weekday; daily: weekday, day of month, day of
/// year; weekly: day of year, month; monthly and quarterly: month; yearly: none (every point
/// has the same month). A non-positive frequency has no calendar granularity and gets no
/// features.
pub fn default_time_features(freq: impl Into<Frequency>) -> Vec<TimeFeature> {
    use TimeFeature::*;
    let freq_seconds = match freq.into() {
        Frequency::Seconds(s) => s,
        Frequency::Months(m) if m > 0 && m < 12 => return vec![MonthOfYear],
        Frequency::Months(_) => return vec![],
    };
    match freq_seconds {
        f if f <= 0 => vec![],
        f if f < HOUR => vec![MinuteOfHour, HourOfDay, DayOfWeek],
        f if f < DAY => vec![HourOfDay, DayOfWeek],
        f if f < WEEK => vec![DayOfWeek, DayOfMonth, DayOfYear],
        f if f < MONTH => vec![DayOfYear, MonthOfYear],
        _ => vec![MonthOfYear],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TimeFeature::*;

    /// 2024-01-01T00:00:00Z, a Monday.
    const NEW_YEAR_2024: i64 = 1_704_067_200;

    #[test]
    fn names_round_trip_through_from_str_and_display() {
        for f in TimeFeature::ALL {
            assert_eq!(f.as_str().parse::<TimeFeature>(), Ok(f));
            assert_eq!(f.to_string(), f.as_str());
        }
        assert_eq!("day_of_week".parse(), Ok(DayOfWeek));
    }

    #[test]
    fn from_str_rejects_unknown_names() {
        for bad in [
            "",
            "DayOfWeek",
            "Day_Of_Week",
            "week_of_year",
            " hour_of_day",
        ] {
            let err = bad.parse::<TimeFeature>().expect_err(bad);
            assert_eq!(err, CoreError::UnknownTimeFeature(bad.to_string()));
            assert!(err.to_string().contains(&format!("{bad:?}")));
        }
    }

    #[test]
    fn serde_uses_snake_case_names() {
        let json = serde_json::to_string(&vec![MinuteOfHour, MonthOfYear]).ok();
        assert_eq!(
            json.as_deref(),
            Some(r#"["minute_of_hour","month_of_year"]"#)
        );
        let back: Result<Vec<TimeFeature>, _> = serde_json::from_str(r#"["day_of_year"]"#);
        assert_eq!(back.ok(), Some(vec![DayOfYear]));
        assert!(serde_json::from_str::<TimeFeature>(r#""dayofyear""#).is_err());
    }

    #[test]
    fn values_at_new_year_midnight_are_the_lower_bound_except_weekday() {
        assert_eq!(MinuteOfHour.value(NEW_YEAR_2024), -0.5);
        assert_eq!(HourOfDay.value(NEW_YEAR_2024), -0.5);
        assert_eq!(DayOfWeek.value(NEW_YEAR_2024), -0.5); // Monday
        assert_eq!(DayOfMonth.value(NEW_YEAR_2024), -0.5);
        assert_eq!(DayOfYear.value(NEW_YEAR_2024), -0.5);
        assert_eq!(MonthOfYear.value(NEW_YEAR_2024), -0.5);
    }

    #[test]
    fn values_by_hand() {
        // 2024-12-31T23:59:00Z: a Tuesday, day 366 of a leap year.
        let ts = NEW_YEAR_2024 + 366 * DAY - 60;
        assert_eq!(MinuteOfHour.value(ts), 0.5); // 59 / 59 - 0.5
        assert_eq!(HourOfDay.value(ts), 0.5); // 23 / 23 - 0.5
        assert_eq!(DayOfWeek.value(ts), (1.0 / 6.0 - 0.5) as f32);
        assert_eq!(DayOfMonth.value(ts), 0.5); // 30 / 30 - 0.5
        assert_eq!(DayOfYear.value(ts), 0.5); // 365 / 365 - 0.5
        assert_eq!(MonthOfYear.value(ts), 0.5); // 11 / 11 - 0.5

        // 1970-01-01T12:30:00Z: a Thursday (3).
        let ts = 12 * HOUR + 30 * 60;
        assert_eq!(MinuteOfHour.value(ts), (30.0 / 59.0 - 0.5) as f32);
        assert_eq!(HourOfDay.value(ts), (12.0 / 23.0 - 0.5) as f32);
        assert_eq!(DayOfWeek.value(ts), 0.0); // 3 / 6 - 0.5
    }

    #[test]
    fn values_for_negative_and_extreme_timestamps_stay_in_range() {
        for ts in [-1, i64::MIN, i64::MAX, -62_167_219_200] {
            for f in TimeFeature::ALL {
                let v = f.value(ts);
                assert!((-0.5..=0.5).contains(&v), "{f} at {ts}: {v}");
            }
        }
        // 1969-12-31T23:59:59Z is a Wednesday (2).
        assert_eq!(DayOfWeek.value(-1), (2.0 / 6.0 - 0.5) as f32);
    }

    #[test]
    fn default_features_by_frequency() {
        assert_eq!(
            default_time_features(60),
            [MinuteOfHour, HourOfDay, DayOfWeek]
        );
        assert_eq!(
            default_time_features(1),
            [MinuteOfHour, HourOfDay, DayOfWeek]
        );
        assert_eq!(default_time_features(HOUR), [HourOfDay, DayOfWeek]);
        assert_eq!(default_time_features(6 * HOUR), [HourOfDay, DayOfWeek]);
        assert_eq!(
            default_time_features(DAY),
            [DayOfWeek, DayOfMonth, DayOfYear]
        );
        assert_eq!(default_time_features(WEEK), [DayOfYear, MonthOfYear]);
        assert_eq!(default_time_features(14 * DAY), [DayOfYear, MonthOfYear]);
        assert_eq!(default_time_features(28 * DAY), [MonthOfYear]);
        assert_eq!(default_time_features(31 * DAY), [MonthOfYear]);
        assert_eq!(default_time_features(365 * DAY), [MonthOfYear]);
        assert_eq!(default_time_features(i64::MAX), [MonthOfYear]);
    }

    #[test]
    fn default_features_for_non_positive_frequency_are_empty() {
        assert!(default_time_features(0).is_empty());
        assert!(default_time_features(-3600).is_empty());
        assert!(default_time_features(i64::MIN).is_empty());
    }
}
