//! The seasonal naive forecast: the baseline every model must beat, and the scale of MASE.
//!
//! The point forecast repeats the last observed season; the prediction intervals add the
//! empirical quantiles of the in-sample seasonal differences, widened per whole season ahead as
//! the seasonal naive's intervals are (Hyndman & Athanasopoulos, *Forecasting: Principles and
//! Practice*, 3rd ed., §5.5).

use crate::quantiles::quantile_sorted;
use crate::series::impute_locf;
use crate::time::Frequency;

/// The lag the forecast repeats: `season`, or 1 (naive) when the history is shorter than one
/// season; a season of 0 means no seasonality.
fn lag(len: usize, season: usize) -> usize {
    let m = season.max(1);
    if len < m { 1 } else { m }
}

/// The next `horizon` values of `history` by the seasonal naive method: step k (1-based) is the
/// value one or more whole seasons before it, i.e. the last season repeated.
///
/// A missing (non-finite) value in the last season reads as the last observed value before it
/// (LOCF, as the models impute; before the first observation, the first observed value). A
/// history shorter than `season` gives the naive forecast (the last value repeated). `None` when
/// nothing in the history is observed.
pub fn seasonal_naive(history: &[f64], season: usize, horizon: usize) -> Option<Vec<f64>> {
    let filled = impute_locf(history)?;
    let m = lag(filled.len(), season);
    let last_season = &filled[filled.len() - m..];
    Some((0..horizon).map(|k| last_season[k % m]).collect())
}

/// Quantile forecasts to go with [`seasonal_naive`]: one vector per step (`horizon` of them),
/// each holding the quantiles of `levels` in their order, i.e. `[step][level]`.
///
/// Step k (1-based) at level q is `ŷ_k + √(⌊(k − 1)/m⌋ + 1) · Q_e(q)`, where `Q_e` is the
/// empirical quantile (numpy's linear method) of the in-sample seasonal differences
/// `e_t = y_t − y_{t−m}` with both ends observed (imputed values would add false zeros), and
/// the square root is the growth of the seasonal naive's forecast standard deviation with the
/// number of whole seasons ahead (FPP3 table 5.2). Using the empirical quantiles rather than a
/// normal σ keeps skewed or heavy-tailed errors as they are, and a drift shows as their offset.
///
/// When no seasonal difference has both ends observed (a history of one season), the
/// differences at lag 1 stand in, widened as the naive method's (`√k`). `None` when nothing is
/// observed, no two consecutive points are observed either, or a level is NaN or outside [0, 1].
pub fn seasonal_naive_quantiles(
    history: &[f64],
    season: usize,
    horizon: usize,
    levels: &[f64],
) -> Option<Vec<Vec<f64>>> {
    let point = seasonal_naive(history, season, horizon)?;
    let (m, error_quantiles) = seasonal_difference_quantiles(history, season, levels)?;
    Some(
        point
            .iter()
            .enumerate()
            .map(|(k, y)| {
                let widening = season_widening(k, m);
                error_quantiles.iter().map(|e| y + widening * e).collect()
            })
            .collect(),
    )
}

/// What [`seasonal_naive_quantiles`] adds to the point forecast, for callers that lay the
/// quantiles out themselves: the lag m and `Q_e(q)` for each of `levels`. Step k (0-based) at
/// level i is then `ŷ_k + season_widening(k, m) · Q_e[i]`. `None` as for
/// [`seasonal_naive_quantiles`] (the point forecast aside).
pub fn seasonal_difference_quantiles(
    history: &[f64],
    season: usize,
    levels: &[f64],
) -> Option<(usize, Vec<f64>)> {
    if levels.iter().any(|q| !(0.0..=1.0).contains(q)) {
        return None;
    }
    let differences = |m: usize| -> Vec<f64> {
        history
            .iter()
            .zip(&history[m.min(history.len())..])
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            .map(|(a, b)| b - a)
            .collect()
    };
    let mut m = lag(history.len(), season);
    let mut errors = differences(m);
    if errors.is_empty() && m > 1 {
        // A history of one season has no seasonal difference: the naive method's one-step
        // differences (and its √k widening) still give honest intervals, where none at all
        // would leave a forecast without them.
        m = 1;
        errors = differences(1);
    }
    if errors.is_empty() {
        return None;
    }
    errors.sort_unstable_by(f64::total_cmp);
    Some((
        m,
        levels
            .iter()
            .map(|&q| quantile_sorted(&errors, q))
            .collect(),
    ))
}

/// The seasonal naive forecast as the engine serves it: the point forecast, and per level of
/// `levels` its `horizon` quantiles (`[level][step]`, the layout of a published forecast;
/// empty when no interval can be computed, the point forecast is then all there is). `None`
/// when nothing is observed.
pub fn seasonal_naive_forecast(
    history: &[f64],
    season: usize,
    horizon: usize,
    levels: &[f64],
) -> Option<(Vec<f64>, Vec<Vec<f64>>)> {
    let mean = seasonal_naive(history, season, horizon)?;
    let per_level = match seasonal_difference_quantiles(history, season, levels) {
        Some((m, errors)) => errors
            .iter()
            .map(|e| {
                mean.iter()
                    .enumerate()
                    .map(|(k, y)| y + season_widening(k, m) * e)
                    .collect()
            })
            .collect(),
        None => Vec::new(),
    };
    Some((mean, per_level))
}

/// √(⌊(k₁ − 1)/m⌋ + 1) for 0-based step k = k₁ − 1: how the seasonal naive's spread grows with
/// the whole seasons ahead.
pub fn season_widening(k: usize, m: usize) -> f64 {
    ((k / m.max(1) + 1) as f64).sqrt()
}

/// The seasonal period conventionally used for data at `freq_seconds`: the number of steps in
/// the cycle that dominates such data.
///
/// Hourly → 24 (a day); below an hour → the steps in a day when they divide it (15 min → 96);
/// multi-hour steps that divide a day → the steps in a day (6 h → 4); daily → 7 (a week);
/// weekly → 52 (a year); 28 to 31 days (a calendar month on a fixed grid) → 12; 89 to 92 days (a
/// quarter) → 4; anything else, yearly included → 1 (no seasonality). Calendar spacings: the
/// periods in a year when they divide it (monthly 12, quarterly 4, half-yearly 2), else 1.
pub fn season_for_freq(freq: impl Into<Frequency>) -> usize {
    const DAY: i64 = 86_400;
    let freq_seconds = match freq.into() {
        Frequency::Seconds(s) => s,
        Frequency::Months(m) if m > 0 && m < 12 && 12 % m == 0 => return (12 / m) as usize,
        Frequency::Months(_) => return 1,
    };
    match freq_seconds {
        f if f <= 0 => 1,
        f if f <= DAY / 2 && DAY % f == 0 => (DAY / f) as usize,
        DAY => 7,
        f if f == 7 * DAY => 52,
        f if (28 * DAY..=31 * DAY).contains(&f) => 12,
        f if (89 * DAY..=92 * DAY).contains(&f) => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv::{Series, read_long_csv};
    use crate::metrics::Accuracy;
    use crate::series::{infer_frequency, regularize};

    const NAN: f64 = f64::NAN;

    #[test]
    fn repeats_the_last_season() {
        let h = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(
            seasonal_naive(&h, 3, 5),
            Some(vec![4.0, 5.0, 6.0, 4.0, 5.0])
        );
        assert_eq!(seasonal_naive(&h, 1, 2), Some(vec![6.0, 6.0]));
        // A season of exactly the history's length repeats all of it.
        assert_eq!(
            seasonal_naive(&h, 6, 7),
            Some(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.0])
        );
        assert_eq!(seasonal_naive(&h, 3, 0), Some(vec![]));
    }

    #[test]
    fn missing_values_in_the_last_season_are_carried_forward() {
        // LOCF: [1, 2, 3, 4, 4, 6]; the last season is [4, 4, 6].
        let h = [1.0, 2.0, 3.0, 4.0, NAN, 6.0];
        assert_eq!(seasonal_naive(&h, 3, 4), Some(vec![4.0, 4.0, 6.0, 4.0]));
        // Missing at the start of the history read the first observed value: [5, 5, 7].
        assert_eq!(
            seasonal_naive(&[NAN, 5.0, 7.0], 3, 3),
            Some(vec![5.0, 5.0, 7.0])
        );
    }

    #[test]
    fn short_or_unobserved_history() {
        // 2 points < season 3: naive-1.
        assert_eq!(seasonal_naive(&[1.0, 2.0], 3, 3), Some(vec![2.0, 2.0, 2.0]));
        // Season 0 is no seasonality.
        assert_eq!(seasonal_naive(&[1.0, 2.0], 0, 2), Some(vec![2.0, 2.0]));
        assert_eq!(seasonal_naive(&[], 3, 3), None);
        assert_eq!(seasonal_naive(&[NAN, f64::INFINITY], 1, 3), None);
    }

    #[track_caller]
    fn assert_rows(got: Option<Vec<Vec<f64>>>, expected: &[&[f64]]) {
        let got = got.expect("quantiles");
        assert_eq!(got.len(), expected.len());
        for (row, want) in got.iter().zip(expected) {
            assert_eq!(row.len(), want.len());
            for (a, b) in row.iter().zip(*want) {
                assert!((a - b).abs() < 1e-12, "{row:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn quantiles_by_hand() {
        // m = 2; differences y_t − y_{t−2}: 1 − 0, 3 − 0, 2 − 1, 2 − 3 = 1, 3, 1, −1;
        // sorted [−1, 1, 1, 3]. numpy quantiles (h = 3q): 0.1 → −1 + 2·0.3 = −0.4, 0.5 → 1,
        // 0.9 → 1 + 2·0.7 = 2.4. The point forecast repeats [2, 2]; steps 1–2 are in the first
        // season ahead (×1), step 3 in the second (×√2).
        let h = [0.0, 0.0, 1.0, 3.0, 2.0, 2.0];
        let r2 = std::f64::consts::SQRT_2;
        assert_rows(
            seasonal_naive_quantiles(&h, 2, 3, &[0.1, 0.5, 0.9]),
            &[
                &[1.6, 3.0, 4.4],
                &[1.6, 3.0, 4.4],
                &[2.0 - 0.4 * r2, 2.0 + r2, 2.0 + 2.4 * r2],
            ],
        );
    }

    #[test]
    fn quantiles_of_an_exact_pattern_with_drift() {
        // Every season is the previous one plus 1: all differences are 1, so every quantile is
        // the point forecast plus 1 · √(whole seasons ahead).
        let h = [1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 3.0, 4.0, 5.0];
        let r2 = std::f64::consts::SQRT_2;
        assert_rows(
            seasonal_naive_quantiles(&h, 3, 4, &[0.05, 0.95]),
            &[&[4.0, 4.0], &[5.0, 5.0], &[6.0, 6.0], &[3.0 + r2, 3.0 + r2]],
        );
    }

    #[test]
    fn quantiles_skip_differences_with_a_missing_end() {
        // Lag 1 pairs: (1, NaN), (NaN, 4) out; 6 − 4 = 2 and 5 − 6 = −1 remain: [−1, 2].
        // q 0.5 → 0.5. The point forecast is the last value, 5.
        let h = [1.0, NAN, 4.0, 6.0, 5.0];
        assert_rows(
            seasonal_naive_quantiles(&h, 1, 2, &[0.5]),
            &[&[5.5], &[5.0 + 0.5 * 2f64.sqrt()]],
        );
    }

    #[test]
    fn quantiles_undefined_cases() {
        let h = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(seasonal_naive_quantiles(&h, 1, 2, &[1.5]), None);
        assert_eq!(seasonal_naive_quantiles(&h, 1, 2, &[NAN]), None);
        // One season only: no difference at lag 4, so the one-step differences (all 1) and
        // the naive's √k widening: the last season repeated, plus 1, plus √2
        assert_rows(
            seasonal_naive_quantiles(&h, 4, 2, &[0.5]),
            &[&[2.0], &[2.0 + 2f64.sqrt()]],
        );
        assert_eq!(seasonal_naive_quantiles(&[NAN, NAN], 1, 2, &[0.5]), None);
        assert_eq!(
            seasonal_naive_quantiles(&[1.0, NAN, 3.0], 1, 2, &[0.5]),
            None
        );
        assert_eq!(
            seasonal_naive_quantiles(&h, 1, 2, &[]),
            Some(vec![vec![], vec![]])
        );
        // Levels 0 and 1 are the extremes of the differences (all 1 here).
        assert_rows(
            seasonal_naive_quantiles(&h, 1, 1, &[0.0, 1.0]),
            &[&[5.0, 5.0]],
        );
    }

    #[test]
    fn season_for_common_frequencies() {
        let day = 86_400;
        assert_eq!(season_for_freq(3600), 24);
        assert_eq!(season_for_freq(900), 96);
        assert_eq!(season_for_freq(60), 1440);
        assert_eq!(season_for_freq(1), 86_400);
        assert_eq!(season_for_freq(6 * 3600), 4);
        assert_eq!(season_for_freq(12 * 3600), 2);
        assert_eq!(season_for_freq(day), 7);
        assert_eq!(season_for_freq(7 * day), 52);
        assert_eq!(season_for_freq(30 * day), 12);
        assert_eq!(season_for_freq(28 * day), 12);
        assert_eq!(season_for_freq(31 * day), 12);
        assert_eq!(season_for_freq(91 * day), 4);
        assert_eq!(season_for_freq(365 * day), 1);
        // Steps that do not divide a day, and nonsense.
        assert_eq!(season_for_freq(7 * 60), 1);
        assert_eq!(season_for_freq(5 * 3600), 1);
        assert_eq!(season_for_freq(2 * day), 1);
        assert_eq!(season_for_freq(0), 1);
        assert_eq!(season_for_freq(-3600), 1);
        assert_eq!(season_for_freq(i64::MAX), 1);
        assert_eq!(season_for_freq(Frequency::MONTHLY), 12);
        assert_eq!(season_for_freq(Frequency::QUARTERLY), 4);
        assert_eq!(season_for_freq(Frequency::Months(6)), 2);
        assert_eq!(season_for_freq(Frequency::Months(5)), 1);
        assert_eq!(season_for_freq(Frequency::YEARLY), 1);
        assert_eq!(season_for_freq(Frequency::Months(0)), 1);
    }

    fn real_dataset(name: &str) -> Vec<Series> {
        let path = format!("{}/../../tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect(&path);
        read_long_csv(text.as_bytes()).expect(&path).series
    }

    /// Scores the seasonal naive forecast of the last `horizon` points of each series.
    fn evaluate_naive(series: &[Series], season: usize, horizon: usize) -> Accuracy {
        let mut acc = Accuracy::new();
        for s in series {
            let (history, actual) = s.values.split_at(s.values.len() - horizon);
            let levels = [0.1, 0.5, 0.9];
            let mean = seasonal_naive(history, season, horizon).unwrap();
            let q = seasonal_naive_quantiles(history, season, horizon, &levels).unwrap();
            // [step][level] to (level, values per step).
            let quantiles: Vec<(f64, Vec<f64>)> = levels
                .iter()
                .enumerate()
                .map(|(i, &l)| (l, q.iter().map(|step| step[i]).collect()))
                .collect();
            acc.add(actual, &mean, &quantiles, None, history, season)
                .unwrap();
        }
        acc
    }

    #[test]
    fn seattle_weather_is_four_regular_daily_series() {
        let series = real_dataset("seattle_weather.csv");
        let ids: Vec<&str> = series.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "seattle_precipitation",
                "seattle_temp_max",
                "seattle_temp_min",
                "seattle_wind"
            ]
        );
        let mut regular = Vec::new();
        for s in &series {
            assert_eq!(
                infer_frequency(&s.timestamps),
                Some(Frequency::Seconds(86_400)),
                "{}",
                s.id
            );
            let grid = regularize(s, 86_400).unwrap();
            // 2012-01-01 … 2015-12-31, no gap, no missing value.
            assert_eq!(grid.values.len(), 1461, "{}", s.id);
            assert_eq!(grid.timestamps[0], 1_325_376_000);
            assert!(grid.values.iter().all(|v| v.is_finite()), "{}", s.id);
            regular.push(grid);
        }
        assert_eq!(season_for_freq(86_400), 7);
        let s = evaluate_naive(&regular, 7, 28).summary();
        assert_eq!((s.count, s.observations, s.mase_undefined), (4, 4 * 28, 0));
        // Weather has no weekly cycle, so last week's values are a poor forecast; the values
        // only guard against a broken pipeline.
        let (mase, nd, crps) = (s.mase.unwrap(), s.nd.unwrap(), s.crps.unwrap());
        assert!(mase > 0.3 && mase < 3.0, "{s:?}");
        assert!(nd > 0.05 && nd < 1.5, "{s:?}");
        assert!(crps > 0.0 && crps < nd, "{s:?}");
    }

    #[test]
    fn co2_is_one_regular_weekly_series_with_gaps() {
        let series = real_dataset("co2_weekly.csv");
        assert_eq!(series.len(), 1);
        let s = &series[0];
        assert_eq!(s.id, "mauna_loa_co2");
        assert_eq!(
            infer_frequency(&s.timestamps),
            Some(Frequency::Seconds(7 * 86_400))
        );
        let grid = regularize(s, 7 * 86_400).unwrap();
        // 1958-03-29 … 2001-12-29 every Saturday; 59 weeks have no measurement.
        assert_eq!(grid.values.len(), 2284);
        assert_eq!(grid.values.iter().filter(|v| v.is_nan()).count(), 59);
        assert_eq!(season_for_freq(7 * 86_400), 52);
        // The last year, forecast from the year before: a strong seasonal series whose trend
        // (≈1.5 ppm a year) is the naive's only error, about as large as its in-sample one.
        let acc = evaluate_naive(std::slice::from_ref(&grid), 52, 52);
        let s = acc.summary();
        let mase = s.mase.unwrap();
        assert!(mase > 0.3 && mase < 3.0, "{s:?}");
        assert!(s.nd.unwrap() < 0.02, "{s:?}");
    }

    #[test]
    fn elnino_is_one_calendar_monthly_series() {
        let series = real_dataset("elnino_monthly.csv");
        assert_eq!(series.len(), 1);
        let s = &series[0];
        // month starts are 28 to 31 days apart: on no fixed grid, on the calendar's
        assert_eq!(infer_frequency(&s.timestamps), Some(Frequency::MONTHLY));
        assert!(regularize(s, 31 * 86_400).is_err());
        let grid = regularize(s, Frequency::MONTHLY).unwrap();
        // 1950-01 … 2010-12, every month observed
        assert_eq!(grid.values.len(), 61 * 12);
        assert_eq!(grid.timestamps, s.timestamps);
        assert!(grid.values.iter().all(|v| v.is_finite()));
        assert_eq!(season_for_freq(Frequency::MONTHLY), 12);
        // sea-surface temperature has a strong yearly cycle: last year's month is a fair
        // forecast of the last two years
        let s = evaluate_naive(std::slice::from_ref(&grid), 12, 24).summary();
        let mase = s.mase.unwrap();
        assert!(mase > 0.2 && mase < 3.0, "{s:?}");
        assert!(s.nd.unwrap() < 0.2, "{s:?}");
    }

    #[test]
    fn us_macro_is_six_quarterly_series_on_quarter_ends() {
        let series = real_dataset("us_macro_quarterly.csv");
        assert_eq!(series.len(), 6);
        for s in &series {
            assert_eq!(
                infer_frequency(&s.timestamps),
                Some(Frequency::QUARTERLY),
                "{}",
                s.id
            );
            let grid = regularize(s, Frequency::QUARTERLY).unwrap();
            // 1959Q1 … 2009Q3, quarter ends (31 March, 30 June, 30 September, 31 December)
            assert_eq!(grid.values.len(), 203, "{}", s.id);
            assert_eq!(grid.timestamps, s.timestamps, "{}", s.id);
        }
        assert_eq!(season_for_freq(Frequency::QUARTERLY), 4);
    }
}
