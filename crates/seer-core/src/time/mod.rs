//! UTC timestamps: parsing, formatting and the proleptic Gregorian calendar.
//!
//! Timestamps are `i64` unix seconds throughout seer. The calendar arithmetic is Howard Hinnant's
//! days-from-civil / civil-from-days, which is exact for every `i64` timestamp (no chrono, so the
//! crate stays dependency-light and the arithmetic is the one the docs describe).

mod grid;
mod parse;

pub use grid::{Frequency, NOMINAL_MONTH_SECONDS};
pub use parse::parse_timestamp;

pub const SECONDS_PER_DAY: i64 = 86_400;

/// The UTC calendar fields of a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    pub year: i64,
    /// 1 = January … 12 = December.
    pub month: u32,
    /// 1 … 31.
    pub day: u32,
    /// Day of the year, 1 … 366.
    pub ordinal: u32,
    /// Monday = 0 … Sunday = 6.
    pub weekday: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// The UTC calendar of `ts` (unix seconds), proleptic Gregorian, negative timestamps included.
pub fn calendar(ts: i64) -> Calendar {
    let days = ts.div_euclid(SECONDS_PER_DAY);
    let secs = ts.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let ordinal = days - days_from_civil(year, 1, 1) + 1;
    // 1970-01-01 was a Thursday, which is 3 when Monday is 0.
    let weekday = (days + 3).rem_euclid(7);
    Calendar {
        year,
        month,
        day,
        // Both fit: ordinal is in 1..=366, weekday in 0..=6, secs in 0..86400.
        ordinal: ordinal as u32,
        weekday: weekday as u32,
        hour: (secs / 3600) as u32,
        minute: (secs % 3600 / 60) as u32,
        second: (secs % 60) as u32,
    }
}

/// Formats `ts` as RFC 3339 in UTC, e.g. `2024-01-01T00:00:00Z`.
///
/// Years outside 0000–9999 have no RFC 3339 form; they are written with as many digits as they
/// need (and a leading `-` before year 0) so that the output still reads unambiguously.
pub fn format_timestamp(ts: i64) -> String {
    let c = calendar(ts);
    let year = if c.year < 0 {
        format!("-{:04}", -c.year)
    } else {
        format!("{:04}", c.year)
    };
    format!(
        "{year}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date. `month` must be in 1..=12.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let month = i64::from(month);
    let day = i64::from(day);
    // Counting years from March puts the leap day at the end of the year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date (year, month, day) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // month is in 1..=12 and day in 1..=31 by construction.
    (year, month as u32, day as u32)
}

pub(crate) fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Number of days in `month` (1..=12) of `year`; 0 for a month outside 1..=12.
pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(
        year: i64,
        month: u32,
        day: u32,
        ordinal: u32,
        weekday: u32,
        hms: (u32, u32, u32),
    ) -> Calendar {
        Calendar {
            year,
            month,
            day,
            ordinal,
            weekday,
            hour: hms.0,
            minute: hms.1,
            second: hms.2,
        }
    }

    #[test]
    fn calendar_of_epoch_is_thursday_first_of_january() {
        assert_eq!(calendar(0), cal(1970, 1, 1, 1, 3, (0, 0, 0)));
    }

    #[test]
    fn calendar_of_2024_new_year_is_monday() {
        // 2024-01-01T00:00:00Z = 1704067200
        assert_eq!(calendar(1_704_067_200), cal(2024, 1, 1, 1, 0, (0, 0, 0)));
    }

    #[test]
    fn calendar_of_leap_day_and_year_end() {
        // 2024-02-29T13:45:30Z = 1704067200 + 59 days + 13:45:30; a Thursday.
        let ts = 1_704_067_200 + 59 * 86_400 + 13 * 3600 + 45 * 60 + 30;
        assert_eq!(calendar(ts), cal(2024, 2, 29, 60, 3, (13, 45, 30)));
        // 2024-12-31T23:59:59Z is the 366th day, a Tuesday.
        let ts = 1_704_067_200 + 366 * 86_400 - 1;
        assert_eq!(calendar(ts), cal(2024, 12, 31, 366, 1, (23, 59, 59)));
    }

    #[test]
    fn calendar_of_negative_timestamp() {
        // One second before the epoch: 1969-12-31T23:59:59Z, a Wednesday, day 365.
        assert_eq!(calendar(-1), cal(1969, 12, 31, 365, 2, (23, 59, 59)));
        // 1900-03-01 (1900 is not a leap year): -2203891200, a Thursday, day 60.
        assert_eq!(calendar(-2_203_891_200), cal(1900, 3, 1, 60, 3, (0, 0, 0)));
    }

    #[test]
    fn calendar_of_extreme_timestamps_does_not_panic() {
        let lo = calendar(i64::MIN);
        let hi = calendar(i64::MAX);
        assert!(lo.year < -290_000_000_000);
        assert!(hi.year > 290_000_000_000);
        assert!((1..=12).contains(&hi.month) && (1..=366).contains(&hi.ordinal));
    }

    #[test]
    fn civil_round_trip_over_four_centuries() {
        // 1600-01-01 to 2400-01-01 covers every leap-year rule.
        let start = days_from_civil(1600, 1, 1);
        let end = days_from_civil(2400, 1, 1);
        for days in start..end {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!(d >= 1 && d <= days_in_month(y, m));
        }
    }

    #[test]
    fn days_from_civil_of_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(0, 1, 1), -719_528);
    }

    #[test]
    fn days_in_month_follows_leap_rules() {
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2023, 4), 30);
        assert_eq!(days_in_month(2023, 13), 0);
        assert_eq!(days_in_month(2023, 0), 0);
    }

    #[test]
    fn format_timestamp_writes_rfc3339_utc() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_timestamp(1_704_112_496), "2024-01-01T12:34:56Z");
    }

    #[test]
    fn format_timestamp_of_years_outside_rfc3339() {
        // 0000-01-01 is -62167219200; the day before is in year -1.
        assert_eq!(format_timestamp(-62_167_219_200), "0000-01-01T00:00:00Z");
        assert_eq!(format_timestamp(-62_167_219_201), "-0001-12-31T23:59:59Z");
        assert!(format_timestamp(i64::MAX).ends_with('Z'));
        assert!(format_timestamp(i64::MIN).starts_with('-'));
    }
}
