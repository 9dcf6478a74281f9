//! Per-series preprocessing: frequency, regular grid, imputation and the context window.

use crate::CoreError;
use crate::csv::Series;
use crate::time::{Frequency, format_timestamp};

/// The most points [`regularize`] will lay out for one series.
///
/// A single stray timestamp (a year typed wrongly, seconds read as milliseconds) would otherwise
/// ask for billions of grid points and abort the process on allocation.
pub const MAX_GRID_POINTS: usize = 10_000_000;

/// The spacing of `timestamps`: the median of the positive differences between consecutive
/// timestamps, which ignores duplicates and tolerates a few gaps.
///
/// A median of about a month, a quarter, half a year or a year (28–31, 89–92, 181–184 or 365–366
/// days) is a calendar spacing when no two points fall in one calendar period: month lengths
/// differ, so such a series is on no fixed grid. Series 30 days apart drift through the calendar
/// and eventually put two points in one month; they stay a fixed 30-day spacing.
///
/// Timestamps are expected in ascending order; differences that are not positive are skipped.
/// With an even number of differences this is the lower of the two middle ones, so the result is
/// always a spacing that occurs in the data (the mean of the two might lie on neither grid).
/// `None` when there are fewer than two distinct timestamps.
pub fn infer_frequency(timestamps: &[i64]) -> Option<Frequency> {
    let mut diffs: Vec<i64> = timestamps
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .filter(|&d| d > 0)
        .collect();
    if diffs.is_empty() {
        return None;
    }
    diffs.sort_unstable();
    let median = *diffs.get((diffs.len() - 1) / 2)?;
    const DAY: i64 = 86_400;
    let months = match median {
        d if (28 * DAY..=31 * DAY).contains(&d) => 1,
        d if (89 * DAY..=92 * DAY).contains(&d) => 3,
        d if (181 * DAY..=184 * DAY).contains(&d) => 6,
        d if (365 * DAY..=366 * DAY).contains(&d) => 12,
        _ => return Some(Frequency::Seconds(median)),
    };
    let calendar = Frequency::Months(months);
    let one_per_period = timestamps
        .windows(2)
        .filter(|w| w[1] > w[0])
        .all(|w| calendar.steps_between(w[0], w[1]).is_some_and(|k| k >= 1));
    Some(if one_per_period {
        calendar
    } else {
        Frequency::Seconds(median)
    })
}

/// Lays `series` on the regular grid of `freq` from its earliest point: `start + k · freq` for a
/// fixed spacing, one slot per calendar period for a calendar one, k = 0, 1, …, up to its last
/// point. Made-up timestamps of a calendar grid keep the earliest point's day of month.
///
/// Grid points with no data get a NaN value and NaN features: missing points, which the models
/// mask or impute. Two points at the same timestamp keep the later one in the input, as the CSV
/// reader does.
///
/// Errors: a spacing that is not positive; a point off the grid (naming the series and the
/// timestamp); for a calendar spacing, two different timestamps in one period (data finer than
/// the grid would otherwise be silently thinned); value or feature columns whose length differs
/// from the timestamps'; a grid of more than [`MAX_GRID_POINTS`] points.
pub fn regularize(series: &Series, freq: impl Into<Frequency>) -> Result<Series, CoreError> {
    let freq = freq.into();
    if !freq.is_valid() {
        return Err(CoreError::InvalidFrequency(freq));
    }
    check_lengths(series)?;
    let (Some(&start), Some(&end)) = (
        series.timestamps.iter().min(),
        series.timestamps.iter().max(),
    ) else {
        return Ok(series.clone());
    };

    let mut slots = Vec::with_capacity(series.timestamps.len());
    for &ts in &series.timestamps {
        let slot = freq
            .steps_between(start, ts)
            .ok_or_else(|| CoreError::OffGrid {
                id: series.id.clone(),
                timestamp: format_timestamp(ts),
                freq,
                start: format_timestamp(start),
            })?;
        slots.push(slot);
    }
    // valid spacing, and end is on the grid (checked above)
    let points = freq.steps_between(start, end).unwrap_or(0) + 1;
    let len = usize::try_from(points)
        .ok()
        .filter(|&n| n <= MAX_GRID_POINTS)
        .ok_or_else(|| CoreError::GridTooLarge {
            id: series.id.clone(),
            // points is positive: end >= start and the spacing is positive.
            points: points.unsigned_abs(),
            limit: MAX_GRID_POINTS,
        })?;

    let mut values = vec![f64::NAN; len];
    let mut features = vec![vec![f64::NAN; len]; series.features.len()];
    let mut placed: Vec<Option<i64>> = vec![None; if freq.months().is_some() { len } else { 0 }];
    for (i, &slot) in slots.iter().enumerate() {
        // slot is in 0..len: 0 <= offset <= end - start.
        let k = slot as usize;
        if let Some(seen) = placed.get_mut(k) {
            let ts = series.timestamps[i];
            match *seen {
                Some(first) if first != ts => {
                    return Err(CoreError::SamePeriod {
                        id: series.id.clone(),
                        first: format_timestamp(first.min(ts)),
                        second: format_timestamp(first.max(ts)),
                        freq,
                    });
                }
                _ => *seen = Some(ts),
            }
        }
        values[k] = series.values[i];
        for (out, column) in features.iter_mut().zip(&series.features) {
            out[k] = column[i];
        }
    }
    // every grid point lies between start and end, so within i64; len <= MAX_GRID_POINTS
    let timestamps = (0..len)
        .map(|k| freq.step_saturating(start, k as i64))
        .collect();
    Ok(Series {
        id: series.id.clone(),
        timestamps,
        values,
        features,
        label: series.label.clone(),
    })
}

fn check_lengths(series: &Series) -> Result<(), CoreError> {
    let n = series.timestamps.len();
    let mismatch = |what: String, len: usize| CoreError::InconsistentSeries {
        id: series.id.clone(),
        detail: format!("{n} timestamps but {len} {what}"),
    };
    if series.values.len() != n {
        return Err(mismatch("values".into(), series.values.len()));
    }
    for (j, column) in series.features.iter().enumerate() {
        if column.len() != n {
            return Err(mismatch(
                format!("values in feature column {j}"),
                column.len(),
            ));
        }
    }
    Ok(())
}

/// Last-observation-carried-forward imputation, as the recurrent models read their input.
///
/// A missing (NaN or ±Inf) value takes the last observed value before it; missing values before
/// the first observation take the first observed value. `None` when nothing is observed.
pub fn impute_locf(values: &[f64]) -> Option<Vec<f64>> {
    let mut last = values.iter().copied().find(|v| v.is_finite())?;
    Some(
        values
            .iter()
            .map(|&v| {
                if v.is_finite() {
                    last = v;
                }
                last
            })
            .collect(),
    )
}

/// The last `context_length` values, padded at the front with NaN (missing) when there are fewer.
pub fn context_window(values: &[f64], context_length: usize) -> Vec<f64> {
    let keep = values.len().min(context_length);
    let mut window = vec![f64::NAN; context_length - keep];
    window.extend_from_slice(&values[values.len() - keep..]);
    window
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW_YEAR_2024: i64 = 1_704_067_200;

    fn series(timestamps: &[i64], values: &[f64]) -> Series {
        Series {
            id: "s1".into(),
            timestamps: timestamps.to_vec(),
            values: values.to_vec(),
            features: vec![],
            label: None,
        }
    }

    /// NaN-aware equality for the expected outputs below.
    fn same(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
    }

    #[test]
    fn infer_frequency_is_median_difference() {
        assert_eq!(
            infer_frequency(&[0, 60, 120, 180]),
            Some(Frequency::Seconds(60))
        );
        // Differences 60, 60, 120 (a gap): median 60.
        assert_eq!(
            infer_frequency(&[0, 60, 120, 240]),
            Some(Frequency::Seconds(60))
        );
        // Duplicates are skipped: differences 3600, 3600.
        assert_eq!(
            infer_frequency(&[0, 0, 3600, 7200, 7200]),
            Some(Frequency::Seconds(3600))
        );
    }

    #[test]
    fn infer_frequency_takes_lower_middle_of_even_count() {
        // Differences 60 and 120: the lower middle, not 90.
        assert_eq!(infer_frequency(&[0, 60, 180]), Some(Frequency::Seconds(60)));
        assert_eq!(
            infer_frequency(&[0, 120, 180]),
            Some(Frequency::Seconds(60))
        );
    }

    #[test]
    fn infer_frequency_needs_two_distinct_timestamps() {
        assert_eq!(infer_frequency(&[]), None);
        assert_eq!(infer_frequency(&[5]), None);
        assert_eq!(infer_frequency(&[5, 5, 5]), None);
        // Descending only: no positive difference.
        assert_eq!(infer_frequency(&[10, 5]), None);
    }

    #[test]
    fn infer_frequency_of_extreme_timestamps_saturates() {
        assert_eq!(
            infer_frequency(&[i64::MIN, i64::MAX]),
            Some(Frequency::Seconds(i64::MAX))
        );
    }

    fn days(dates: &[&str]) -> Vec<i64> {
        dates
            .iter()
            .map(|d| crate::time::parse_timestamp(d).unwrap())
            .collect()
    }

    #[test]
    fn infer_frequency_reads_calendar_spacings() {
        let monthly = days(&[
            "2023-11-30",
            "2023-12-31",
            "2024-01-31",
            "2024-02-29",
            "2024-03-31",
        ]);
        assert_eq!(infer_frequency(&monthly), Some(Frequency::MONTHLY));
        let quarterly = days(&[
            "2023-01-01",
            "2023-04-01",
            "2023-07-01",
            "2023-10-01",
            "2024-01-01",
        ]);
        assert_eq!(infer_frequency(&quarterly), Some(Frequency::QUARTERLY));
        let yearly = days(&["2020-06-30", "2021-06-30", "2022-06-30", "2024-06-30"]);
        assert_eq!(infer_frequency(&yearly), Some(Frequency::YEARLY));
        // 30 days apart: 2024-01-01 and 2024-01-31 share a month, so a fixed spacing
        let fixed: Vec<i64> = (0..13)
            .map(|k| days(&["2024-01-01"])[0] + k * 30 * 86_400)
            .collect();
        assert_eq!(
            infer_frequency(&fixed),
            Some(Frequency::Seconds(30 * 86_400))
        );
    }

    #[test]
    fn regularize_lays_monthly_series_on_calendar_months() {
        // month ends with March missing; February is a leap one
        let mut s = series(
            &days(&["2024-01-31", "2024-02-29", "2024-04-30"]),
            &[1.0, 2.0, 4.0],
        );
        s.features = vec![vec![10.0, 20.0, 40.0]];
        let r = regularize(&s, Frequency::MONTHLY).expect("one point per month");
        assert_eq!(
            r.timestamps,
            days(&["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"])
        );
        assert!(same(&r.values, &[1.0, 2.0, f64::NAN, 4.0]));
        assert!(same(&r.features[0], &[10.0, 20.0, f64::NAN, 40.0]));
        // the same timestamp twice: the later in the input wins
        let s = series(
            &days(&["2024-01-01", "2024-02-01", "2024-02-01"]),
            &[1.0, 2.0, 3.0],
        );
        let r = regularize(&s, Frequency::MONTHLY).unwrap();
        assert_eq!(r.timestamps, days(&["2024-01-01", "2024-02-01"]));
        assert!(same(&r.values, &[1.0, 3.0]));
        // two days of one month: data finer than the grid, refused rather than thinned
        let s = series(
            &days(&["2024-01-01", "2024-02-15", "2024-02-01"]),
            &[1.0, 2.0, 3.0],
        );
        assert_eq!(
            regularize(&s, Frequency::MONTHLY).unwrap_err().to_string(),
            "series \"s1\": timestamps 2024-02-01T00:00:00Z and 2024-02-15T00:00:00Z fall in the \
             same 1mo period; a series on a calendar grid has one point per period (is it finer \
             than 1mo?)"
        );
        // quarters from a quarter end
        let s = series(&days(&["2023-03-31", "2023-12-31"]), &[1.0, 4.0]);
        let r = regularize(&s, Frequency::QUARTERLY).unwrap();
        assert_eq!(
            r.timestamps,
            days(&["2023-03-31", "2023-06-30", "2023-09-30", "2023-12-31"])
        );
    }

    #[test]
    fn regularize_inserts_missing_points_in_gaps() {
        let mut s = series(&[0, 60, 240], &[1.0, 2.0, 3.0]);
        s.features = vec![vec![10.0, 20.0, 30.0]];
        s.label = Some("up".into());
        let r = regularize(&s, 60).expect("on grid");
        assert_eq!(r.timestamps, [0, 60, 120, 180, 240]);
        assert!(same(&r.values, &[1.0, 2.0, f64::NAN, f64::NAN, 3.0]));
        assert!(same(
            &r.features[0],
            &[10.0, 20.0, f64::NAN, f64::NAN, 30.0]
        ));
        assert_eq!(r.id, "s1");
        assert_eq!(r.label.as_deref(), Some("up"));
    }

    #[test]
    fn regularize_keeps_regular_series_and_handles_negative_times() {
        let s = series(&[-7200, -3600, 0], &[1.0, 2.0, 3.0]);
        assert_eq!(regularize(&s, 3600), Ok(s.clone()));
        let empty = series(&[], &[]);
        assert_eq!(regularize(&empty, 60), Ok(empty.clone()));
    }

    #[test]
    fn regularize_starts_at_earliest_and_keeps_last_duplicate() {
        let s = series(&[120, 0, 120], &[3.0, 1.0, 4.0]);
        let r = regularize(&s, 60).expect("on grid");
        assert_eq!(r.timestamps, [0, 60, 120]);
        assert!(same(&r.values, &[1.0, f64::NAN, 4.0]));
    }

    #[test]
    fn regularize_rejects_off_grid_points() {
        let s = series(
            &[NEW_YEAR_2024, NEW_YEAR_2024 + 3600, NEW_YEAR_2024 + 5400],
            &[1.0; 3],
        );
        let err = regularize(&s, 3600).expect_err("off grid");
        assert_eq!(
            err.to_string(),
            "series \"s1\": timestamp 2024-01-01T01:30:00Z is not on the 1h grid \
             starting at 2024-01-01T00:00:00Z"
        );
    }

    #[test]
    fn regularize_rejects_non_positive_frequency() {
        let s = series(&[0, 60], &[1.0, 2.0]);
        assert_eq!(
            regularize(&s, 0),
            Err(CoreError::InvalidFrequency(0.into()))
        );
        assert_eq!(
            regularize(&s, -60),
            Err(CoreError::InvalidFrequency((-60).into()))
        );
        assert_eq!(
            regularize(&s, Frequency::Months(0)),
            Err(CoreError::InvalidFrequency(Frequency::Months(0)))
        );
    }

    #[test]
    fn regularize_rejects_inconsistent_lengths() {
        let s = series(&[0, 60], &[1.0]);
        assert!(matches!(
            regularize(&s, 60),
            Err(CoreError::InconsistentSeries { .. })
        ));
        let mut s = series(&[0, 60], &[1.0, 2.0]);
        s.features = vec![vec![1.0, 2.0], vec![1.0]];
        let err = regularize(&s, 60).expect_err("short feature column");
        assert_eq!(
            err.to_string(),
            "series \"s1\": 2 timestamps but 1 values in feature column 1"
        );
    }

    #[test]
    fn regularize_refuses_huge_grids() {
        let s = series(&[0, 1_000_000_000], &[1.0, 2.0]);
        assert!(matches!(
            regularize(&s, 1),
            Err(CoreError::GridTooLarge {
                points: 1_000_000_001,
                ..
            })
        ));
        let s = series(&[i64::MIN, i64::MAX], &[1.0, 2.0]);
        assert!(matches!(
            regularize(&s, 1),
            Err(CoreError::GridTooLarge { .. })
        ));
    }

    #[test]
    fn regularize_spans_the_whole_i64_range_without_overflow() {
        // (2^64 - 2) / (2^63 - 1) = 2: three grid points, the middle one at -1.
        let s = series(&[i64::MIN, i64::MAX - 1], &[1.0, 2.0]);
        let r = regularize(&s, i64::MAX).expect("on grid");
        assert_eq!(r.timestamps, [i64::MIN, -1, i64::MAX - 1]);
        assert!(same(&r.values, &[1.0, f64::NAN, 2.0]));
    }

    #[test]
    fn impute_locf_carries_forward_and_backfills_the_start() {
        let nan = f64::NAN;
        let out = impute_locf(&[nan, 2.0, nan, f64::INFINITY, 5.0, nan]);
        assert_eq!(out, Some(vec![2.0, 2.0, 2.0, 2.0, 5.0, 5.0]));
        assert_eq!(impute_locf(&[1.0, 2.0]), Some(vec![1.0, 2.0]));
    }

    #[test]
    fn impute_locf_without_observations_is_none() {
        assert_eq!(impute_locf(&[]), None);
        assert_eq!(impute_locf(&[f64::NAN, f64::NEG_INFINITY]), None);
    }

    #[test]
    fn context_window_keeps_the_tail() {
        assert_eq!(context_window(&[1.0, 2.0, 3.0, 4.0], 2), [3.0, 4.0]);
        assert_eq!(context_window(&[1.0, 2.0], 2), [1.0, 2.0]);
        assert!(context_window(&[1.0, 2.0], 0).is_empty());
    }

    #[test]
    fn context_window_pads_short_histories_with_nan() {
        let w = context_window(&[1.0, 2.0], 4);
        assert!(same(&w, &[f64::NAN, f64::NAN, 1.0, 2.0]));
        assert!(same(&context_window(&[], 2), &[f64::NAN, f64::NAN]));
    }
}
