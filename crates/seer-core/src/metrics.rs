//! Forecast accuracy, point and probabilistic, with the conventions of GluonTS's `Evaluator` and
//! the M4 competition. `docs/metrics.md` gives every formula with its references.
//!
//! **Missing actuals.** An actual that is NaN or ±Inf is a missing point: the step is left out of
//! every numerator *and* denominator, exactly as if the forecast had been one step shorter there,
//! so a gap in the test window neither rewards nor punishes a forecast. The in-sample history used
//! for MASE's scale treats missing points the same way (a difference with a missing end is left
//! out).
//!
//! **Non-finite forecasts.** A forecast value that is NaN or ±Inf where the actual is observed is
//! a broken forecast, not a missing one: the plain functions return `None` (or NaN for
//! [`pinball`]) and [`Accuracy::add`] refuses it, rather than scoring the forecast as if that
//! step had not been asked for. Where the actual is missing the forecast value is not read.

use crate::CoreError;

/// Quantile levels closer than this are the same level (0.1 computed as 1 − 0.9 is not 0.1).
const LEVEL_TOLERANCE: f64 = 1e-9;

/// The pinball (quantile) loss ρ_q(a − q̂) of the `level`-quantile forecast `q_pred`:
/// `level · (a − q̂)` when the actual is at or above the forecast, `(1 − level) · (q̂ − a)` below.
///
/// NaN when any input is NaN; the caller decides what a missing actual means.
pub fn pinball(actual: f64, q_pred: f64, level: f64) -> f64 {
    let u = actual - q_pred;
    if u >= 0.0 {
        level * u
    } else {
        (level - 1.0) * u
    }
}

/// The scale of MASE: the in-sample mean absolute error of the seasonal naive forecast,
/// `mean |y_t − y_{t−m}|` over the pairs whose two ends are both observed.
///
/// `m = season`, or 1 when the history has fewer than `season + 1` points (GluonTS's rule); a
/// season of 0 means no seasonality (m = 1). `None` when no pair is observed or the scale is 0
/// or not finite: a constant history cannot scale errors.
pub fn seasonal_error(insample: &[f64], season: usize) -> Option<f64> {
    let m = effective_lag(insample.len(), season);
    let (sum, count) = insample
        .iter()
        .zip(insample.iter().skip(m))
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .fold((0.0, 0usize), |(sum, count), (a, b)| {
            (sum + (b - a).abs(), count + 1)
        });
    if count == 0 {
        return None;
    }
    let scale = sum / count as f64;
    (scale > 0.0 && scale.is_finite()).then_some(scale)
}

/// The lag of the in-sample seasonal differences: `season` when the history holds at least one
/// full season plus a point, else 1.
fn effective_lag(len: usize, season: usize) -> usize {
    let m = season.max(1);
    if len > m { m } else { 1 }
}

/// Mean absolute scaled error (Hyndman & Koehler 2006): `mean |a − f|` over the observed actuals
/// divided by [`seasonal_error`]`(insample, season)`.
///
/// `None` when the lengths of `actual` and `forecast` differ, no actual is observed, a forecast
/// value at an observed step is not finite, or the scale is undefined (see [`seasonal_error`]).
pub fn mase(actual: &[f64], forecast: &[f64], insample: &[f64], season: usize) -> Option<f64> {
    let scale = seasonal_error(insample, season)?;
    let pairs = observed_pairs(actual, forecast)?;
    if pairs.is_empty() {
        return None;
    }
    let mae = pairs.iter().map(|(a, f)| (a - f).abs()).sum::<f64>() / pairs.len() as f64;
    Some(mae / scale)
}

/// Symmetric MAPE as in M4: `mean 2 |a − f| / (|a| + |f|)` over the observed actuals, a fraction
/// in [0, 2] (not multiplied by 100). A step with `a = f = 0` counts 0: a perfect forecast of
/// zero is not an error, though the formula reads 0/0 there.
///
/// `None` when the lengths differ, no actual is observed, or a forecast value at an observed
/// step is not finite.
pub fn smape(actual: &[f64], forecast: &[f64]) -> Option<f64> {
    let pairs = observed_pairs(actual, forecast)?;
    if pairs.is_empty() {
        return None;
    }
    let sum: f64 = pairs.iter().map(|&(a, f)| smape_term(a, f)).sum();
    Some(sum / pairs.len() as f64)
}

fn smape_term(a: f64, f: f64) -> f64 {
    let big = a.abs().max(f.abs());
    if big == 0.0 {
        return 0.0;
    }
    // The ratio is scale-free; dividing by the larger magnitude first keeps |a| + |f| and
    // |a − f| from overflowing for values near f64::MAX.
    let (a, f) = (a / big, f / big);
    2.0 * (a - f).abs() / (a.abs() + f.abs())
}

/// The (actual, forecast) pairs whose actual is observed. `None` when the lengths differ or a
/// forecast paired with an observed actual is not finite.
fn observed_pairs(actual: &[f64], forecast: &[f64]) -> Option<Vec<(f64, f64)>> {
    if actual.len() != forecast.len() {
        return None;
    }
    let mut pairs = Vec::with_capacity(actual.len());
    for (&a, &f) in actual.iter().zip(forecast) {
        if !a.is_finite() {
            continue;
        }
        if !f.is_finite() {
            return None;
        }
        pairs.push((a, f));
    }
    Some(pairs)
}

/// The CRPS of the empirical distribution of `samples` at `actual`, in its energy form
/// `E|X − a| − ½ E|X − X'|` (Gneiting & Raftery 2007, eq. 21), with X, X' drawn independently
/// from the samples (the plug-in estimate, as `properscoring.crps_ensemble` computes it).
///
/// Sorts `samples` in place, which turns the O(n²) double sum into the O(n) weighted sum
/// `Σ_i (2i − n − 1) x_(i)` over the order statistics (1-based i). NaN when there are no samples,
/// or any sample or the actual is NaN.
pub fn crps_samples(samples: &mut [f64], actual: f64) -> f64 {
    if samples.is_empty() || actual.is_nan() || samples.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    samples.sort_unstable_by(f64::total_cmp);
    crps_sorted(samples, actual)
}

/// [`crps_samples`] of samples already sorted ascending and free of NaN.
fn crps_sorted(sorted: &[f64], actual: f64) -> f64 {
    let n = sorted.len() as f64;
    // The weights 2i − n − 1 sum to zero, so any shift of the samples leaves the spread term
    // unchanged; centring on the median avoids cancelling large offsets against small spreads.
    let centre = sorted[sorted.len() / 2];
    let mut abs_dev = 0.0;
    let mut spread = 0.0;
    for (i, &x) in sorted.iter().enumerate() {
        abs_dev += (x - actual).abs();
        spread += (2.0 * i as f64 + 1.0 - n) * (x - centre);
    }
    abs_dev / n - spread / (n * n)
}

/// The CRPS approximated from quantile forecasts: `2 · mean over levels of ρ_q(a − q̂)`, the
/// discretisation of `CRPS = 2 ∫ ρ_q dq` over the given levels (GluonTS's `mean_wQuantileLoss`
/// is this, normalised). `quantiles` holds (level, forecast) pairs. NaN when there are none.
pub fn crps_quantiles(actual: f64, quantiles: &[(f64, f64)]) -> f64 {
    if quantiles.is_empty() {
        return f64::NAN;
    }
    let sum: f64 = quantiles
        .iter()
        .map(|&(level, q)| pinball(actual, q, level))
        .sum();
    2.0 * sum / quantiles.len() as f64
}

/// Accuracy over a whole dataset, accumulated one series at a time.
///
/// ND, NRMSE, CRPS and the quantile losses are ratios of sums over every observed point of every
/// series (so long and large series weigh more, as in GluonTS); MASE and sMAPE are per-series
/// values averaged over the series (as in M4).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accuracy {
    series: usize,
    observations: usize,
    mase_sum: f64,
    mase_series: usize,
    mase_undefined: usize,
    smape_sum: f64,
    smape_series: usize,
    abs_error: f64,
    squared_error: f64,
    abs_actual: f64,
    crps_sum: f64,
    crps_abs_actual: f64,
    levels: Vec<LevelLoss>,
    covered: usize,
    coverage_points: usize,
}

/// Pinball losses of one quantile level, summed over the series that forecast it.
#[derive(Debug, Clone, PartialEq)]
struct LevelLoss {
    level: f64,
    loss: f64,
    abs_actual: f64,
}

/// What [`Accuracy::summary`] reports. A metric is `None` when nothing defines it: no series
/// with a defined MASE, no observed actual, a zero denominator (all actuals 0), no probabilistic
/// forecast for CRPS, no 0.1 and 0.9 levels for the coverage.
#[derive(Debug, Clone, PartialEq)]
pub struct AccuracySummary {
    /// Mean of the per-series MASE over the series where it is defined.
    pub mase: Option<f64>,
    /// Mean of the per-series sMAPE (a fraction, not ×100) over the series with an observed
    /// actual.
    pub smape: Option<f64>,
    /// Normalised deviation `Σ|a − mean| / Σ|a|`.
    pub nd: Option<f64>,
    /// `sqrt(mean (a − mean)²) / mean |a|`.
    pub nrmse: Option<f64>,
    /// Weighted CRPS `Σ CRPS / Σ|a|` over the series that gave samples or quantiles; from samples
    /// where given, else the quantile approximation of [`crps_quantiles`].
    pub crps: Option<f64>,
    /// (level, weighted ρ-risk `2 Σ ρ_q(a − q̂) / Σ|a|`), ascending by level, over the series
    /// that forecast that level. A level whose actuals are all 0 is left out.
    pub quantile_loss: Vec<(f64, f64)>,
    /// Share of observed actuals inside [q0.1, q0.9] (bounds included), over the series that gave
    /// both levels.
    pub coverage_80: Option<f64>,
    /// Series added.
    pub count: usize,
    /// Observed actuals over all series.
    pub observations: usize,
    /// Series left out of the MASE mean because their MASE is undefined.
    pub mase_undefined: usize,
}

impl Accuracy {
    pub fn new() -> Accuracy {
        Accuracy::default()
    }

    /// Adds one series' forecast of `actual`.
    ///
    /// `mean` is the point forecast (ND, NRMSE, MASE and sMAPE read it); `quantiles` holds
    /// (level, values per step); `samples`, when given and not empty, holds sample paths
    /// [path][step] and is what CRPS is computed from; `insample` is the history before the
    /// forecast, which scales MASE with lag `season`.
    ///
    /// Errors, which leave the accumulator unchanged: a forecast whose length differs from the
    /// actuals', a level outside (0, 1), and a non-finite forecast value at an observed step.
    pub fn add(
        &mut self,
        actual: &[f64],
        mean: &[f64],
        quantiles: &[(f64, Vec<f64>)],
        samples: Option<&[Vec<f64>]>,
        insample: &[f64],
        season: usize,
    ) -> Result<(), CoreError> {
        let samples = samples.filter(|paths| !paths.is_empty());
        check_forecast(actual, "mean", mean)?;
        for (level, values) in quantiles {
            if !(*level > 0.0 && *level < 1.0) {
                return Err(CoreError::InvalidLevel(level.to_string()));
            }
            check_forecast(actual, &format!("quantile {level}"), values)?;
        }
        for (p, path) in samples.unwrap_or_default().iter().enumerate() {
            check_forecast(actual, &format!("sample path {p}"), path)?;
        }

        self.series += 1;
        match mase(actual, mean, insample, season) {
            Some(v) => {
                self.mase_sum += v;
                self.mase_series += 1;
            }
            None => self.mase_undefined += 1,
        }
        if let Some(v) = smape(actual, mean) {
            self.smape_sum += v;
            self.smape_series += 1;
        }

        let observed: Vec<usize> = (0..actual.len())
            .filter(|&t| actual[t].is_finite())
            .collect();
        let abs_actual: f64 = observed.iter().map(|&t| actual[t].abs()).sum();
        self.observations += observed.len();
        self.abs_actual += abs_actual;
        for &t in &observed {
            let e = actual[t] - mean[t];
            self.abs_error += e.abs();
            self.squared_error += e * e;
        }

        if let Some(paths) = samples {
            let mut column = vec![0.0; paths.len()];
            for &t in &observed {
                for (x, path) in column.iter_mut().zip(paths) {
                    *x = path[t];
                }
                self.crps_sum += crps_samples(&mut column, actual[t]);
            }
            self.crps_abs_actual += abs_actual;
        } else if !quantiles.is_empty() {
            let mut at_t = Vec::with_capacity(quantiles.len());
            for &t in &observed {
                at_t.clear();
                at_t.extend(quantiles.iter().map(|(level, values)| (*level, values[t])));
                self.crps_sum += crps_quantiles(actual[t], &at_t);
            }
            self.crps_abs_actual += abs_actual;
        }

        for (level, values) in quantiles {
            let loss: f64 = observed
                .iter()
                .map(|&t| pinball(actual[t], values[t], *level))
                .sum();
            match self
                .levels
                .iter_mut()
                .find(|l| (l.level - level).abs() < LEVEL_TOLERANCE)
            {
                Some(l) => {
                    l.loss += loss;
                    l.abs_actual += abs_actual;
                }
                None => self.levels.push(LevelLoss {
                    level: *level,
                    loss,
                    abs_actual,
                }),
            }
        }

        let find = |target: f64| {
            quantiles
                .iter()
                .find(|(level, _)| (level - target).abs() < LEVEL_TOLERANCE)
                .map(|(_, values)| values)
        };
        if let (Some(lo), Some(hi)) = (find(0.1), find(0.9)) {
            self.coverage_points += observed.len();
            self.covered += observed
                .iter()
                .filter(|&&t| lo[t] <= actual[t] && actual[t] <= hi[t])
                .count();
        }
        Ok(())
    }

    pub fn summary(&self) -> AccuracySummary {
        let ratio = |num: f64, den: f64| (den > 0.0).then(|| num / den);
        let mean = |sum: f64, n: usize| (n > 0).then(|| sum / n as f64);
        let nrmse = if self.observations > 0 {
            let n = self.observations as f64;
            ratio((self.squared_error / n).sqrt(), self.abs_actual / n)
        } else {
            None
        };
        let mut quantile_loss: Vec<(f64, f64)> = self
            .levels
            .iter()
            .filter_map(|l| ratio(2.0 * l.loss, l.abs_actual).map(|v| (l.level, v)))
            .collect();
        quantile_loss.sort_by(|a, b| a.0.total_cmp(&b.0));
        AccuracySummary {
            mase: mean(self.mase_sum, self.mase_series),
            smape: mean(self.smape_sum, self.smape_series),
            nd: ratio(self.abs_error, self.abs_actual),
            nrmse,
            crps: ratio(self.crps_sum, self.crps_abs_actual),
            quantile_loss,
            coverage_80: mean(self.covered as f64, self.coverage_points),
            count: self.series,
            observations: self.observations,
            mase_undefined: self.mase_undefined,
        }
    }
}

impl AccuracySummary {
    /// The mean of the weighted quantile losses over the levels reported (GluonTS's
    /// `mean_wQuantileLoss`); `None` when no level has one.
    pub fn mean_quantile_loss(&self) -> Option<f64> {
        let n = self.quantile_loss.len();
        (n > 0).then(|| self.quantile_loss.iter().map(|(_, l)| l).sum::<f64>() / n as f64)
    }

    /// The mean over the levels both summaries report of their weighted quantile losses (GluonTS's
    /// `mean_wQuantileLoss`), for self and for `other`: a like-for-like probabilistic score for two
    /// forecasters even when one gives samples and the other quantiles, whose CRPS estimators
    /// differ. `None` when they share no level.
    pub fn mean_quantile_losses(&self, other: &AccuracySummary) -> Option<(f64, f64)> {
        let mut shared = 0usize;
        let (mut mine, mut theirs) = (0.0, 0.0);
        for &(level, loss) in &self.quantile_loss {
            if let Some(&(_, o)) = other
                .quantile_loss
                .iter()
                .find(|(l, _)| (l - level).abs() < LEVEL_TOLERANCE)
            {
                shared += 1;
                mine += loss;
                theirs += o;
            }
        }
        (shared > 0).then(|| (mine / shared as f64, theirs / shared as f64))
    }
}

/// A forecast must have one value per actual, finite wherever the actual is observed.
fn check_forecast(actual: &[f64], what: &str, forecast: &[f64]) -> Result<(), CoreError> {
    if forecast.len() != actual.len() {
        return Err(CoreError::LengthMismatch {
            what: what.to_string(),
            expected: actual.len(),
            found: forecast.len(),
        });
    }
    match actual
        .iter()
        .zip(forecast)
        .position(|(a, f)| a.is_finite() && !f.is_finite())
    {
        Some(step) => Err(CoreError::NonFiniteForecast {
            what: what.to_string(),
            step,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    const NAN: f64 = f64::NAN;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[track_caller]
    fn assert_close(a: Option<f64>, b: f64) {
        let a = a.unwrap_or(NAN);
        assert!(close(a, b, 1e-12), "{a} != {b}");
    }

    #[test]
    fn mean_quantile_losses_pair_only_the_shared_levels() {
        let summary = |levels: &[(f64, f64)]| AccuracySummary {
            mase: None,
            smape: None,
            nd: None,
            nrmse: None,
            crps: None,
            quantile_loss: levels.to_vec(),
            coverage_80: None,
            count: 1,
            observations: 1,
            mase_undefined: 0,
        };
        let a = summary(&[(0.1, 0.2), (0.5, 0.4), (0.9, 0.6)]);
        // 0.5 computed as 1 − 0.5 and 0.9 as 1 − 0.1 still pair; 0.25 has no partner
        let b = summary(&[(1.0 - 0.9, 0.1), (0.25, 9.0), (1.0 - 0.1, 0.3)]);
        let (x, y) = a.mean_quantile_losses(&b).unwrap();
        assert!(close(x, 0.4, 1e-12) && close(y, 0.2, 1e-12), "{x} {y}");
        assert_eq!(a.mean_quantile_losses(&summary(&[(0.3, 1.0)])), None);
    }

    #[test]
    fn pinball_by_hand() {
        // u = a − q̂ = 2 ≥ 0: 0.9 · 2
        assert!(close(pinball(10.0, 8.0, 0.9), 1.8, 1e-12));
        // u = −2 < 0: (0.9 − 1) · (−2) = 0.2
        assert!(close(pinball(10.0, 12.0, 0.9), 0.2, 1e-12));
        // The median loss is half the absolute error either way.
        assert_eq!(pinball(3.0, 5.0, 0.5), 1.0);
        assert_eq!(pinball(5.0, 3.0, 0.5), 1.0);
        assert_eq!(pinball(4.0, 4.0, 0.1), 0.0);
        assert!(pinball(NAN, 1.0, 0.5).is_nan());
        assert!(pinball(1.0, NAN, 0.5).is_nan());
    }

    #[test]
    fn seasonal_error_by_hand() {
        // Lag 2 differences of 1..6: 3−1, 4−2, 5−3, 6−4 = 2 each.
        assert_eq!(
            seasonal_error(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2),
            Some(2.0)
        );
        // Lag 1 of [1, 4, 2]: |3|, |−2| → 2.5.
        assert_eq!(seasonal_error(&[1.0, 4.0, 2.0], 1), Some(2.5));
        // Season 0 is no seasonality: lag 1.
        assert_eq!(seasonal_error(&[1.0, 4.0, 2.0], 0), Some(2.5));
    }

    #[test]
    fn seasonal_error_falls_back_to_lag_one_on_short_history() {
        // 2 points < season 4 + 1: lag 1, |3 − 1| = 2.
        assert_eq!(seasonal_error(&[1.0, 3.0], 4), Some(2.0));
        // Exactly season + 1 points keeps the season: |9 − 1| = 8 at lag 4.
        assert_eq!(seasonal_error(&[1.0, 2.0, 2.0, 2.0, 9.0], 4), Some(8.0));
    }

    #[test]
    fn seasonal_error_skips_pairs_with_a_missing_end() {
        // Lag 1 pairs: (1, NaN) and (NaN, 4) out; (4, 6) → 2; (6, Inf) out.
        let x = [1.0, NAN, 4.0, 6.0, f64::INFINITY];
        assert_eq!(seasonal_error(&x, 1), Some(2.0));
    }

    #[test]
    fn seasonal_error_undefined_cases() {
        assert_eq!(seasonal_error(&[], 1), None);
        assert_eq!(seasonal_error(&[3.0], 1), None);
        assert_eq!(seasonal_error(&[5.0, 5.0, 5.0], 1), None);
        assert_eq!(seasonal_error(&[1.0, NAN, 1.0, NAN], 1), None);
        assert_eq!(seasonal_error(&[f64::MAX, -f64::MAX], 1), None);
    }

    #[test]
    fn mase_by_hand() {
        // Scale 2 (above); |7 − 6| = 1, |8 − 10| = 2 → MAE 1.5 → 0.75.
        let insample = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_close(mase(&[7.0, 8.0], &[6.0, 10.0], &insample, 2), 0.75);
        // A missing actual drops its step, whatever the forecast there.
        assert_close(
            mase(&[7.0, NAN, 8.0], &[6.0, 100.0, 10.0], &insample, 2),
            0.75,
        );
        assert_close(
            mase(&[7.0, NAN, 8.0], &[6.0, NAN, 10.0], &insample, 2),
            0.75,
        );
    }

    #[test]
    fn mase_undefined_cases() {
        let insample = [1.0, 2.0, 3.0];
        assert_eq!(mase(&[1.0], &[1.0], &[2.0, 2.0, 2.0], 1), None);
        assert_eq!(mase(&[1.0, 2.0], &[1.0], &insample, 1), None);
        assert_eq!(mase(&[NAN, NAN], &[1.0, 2.0], &insample, 1), None);
        assert_eq!(mase(&[], &[], &insample, 1), None);
        assert_eq!(mase(&[1.0], &[NAN], &insample, 1), None);
        assert_eq!(mase(&[1.0], &[f64::INFINITY], &insample, 1), None);
    }

    #[test]
    fn smape_by_hand() {
        // 2·|1 − 3|/(1 + 3) = 1; a = f = 0 counts 0; 2 = 2 → 0. Mean 1/3.
        assert_close(smape(&[1.0, 0.0, 2.0], &[3.0, 0.0, 2.0]), 1.0 / 3.0);
        // Opposite signs give the maximum 2; a forecast of 0 for a non-zero actual gives 2.
        assert_close(smape(&[1.0, 5.0], &[-1.0, 0.0]), 2.0);
        // Missing actuals drop out: only 2·|4 − 2|/6 = 2/3 counts.
        assert_close(smape(&[NAN, 4.0], &[9.0, 2.0]), 2.0 / 3.0);
        // Near f64::MAX the terms do not overflow: 2·(M − M/2)/(M + M/2) = 2/3.
        let m = f64::MAX;
        assert_close(smape(&[m], &[m / 2.0]), 2.0 / 3.0);
    }

    #[test]
    fn smape_undefined_cases() {
        assert_eq!(smape(&[], &[]), None);
        assert_eq!(smape(&[NAN], &[1.0]), None);
        assert_eq!(smape(&[1.0], &[1.0, 2.0]), None);
        assert_eq!(smape(&[1.0], &[NAN]), None);
    }

    #[test]
    fn crps_samples_by_hand() {
        // Samples 1, 2, 3 at a = 2: E|X − a| = (1 + 0 + 1)/3 = 2/3; the pairwise |xi − xj| over
        // all 9 ordered pairs sum to 2·(1 + 2 + 1) = 8, so ½E|X − X'| = 4/9; 6/9 − 4/9 = 2/9.
        let mut s = [3.0, 1.0, 2.0];
        assert!(close(crps_samples(&mut s, 2.0), 2.0 / 9.0, 1e-12));
        assert_eq!(s, [1.0, 2.0, 3.0]);
        // One sample: the CRPS is the absolute error.
        assert_eq!(crps_samples(&mut [4.0], 1.5), 2.5);
        // All samples equal the actual: 0.
        assert_eq!(crps_samples(&mut [7.0, 7.0, 7.0], 7.0), 0.0);
    }

    #[test]
    fn crps_samples_of_bad_input_is_nan() {
        assert!(crps_samples(&mut [], 1.0).is_nan());
        assert!(crps_samples(&mut [1.0, NAN], 1.0).is_nan());
        assert!(crps_samples(&mut [1.0, 2.0], NAN).is_nan());
    }

    fn crps_brute_force(samples: &[f64], actual: f64) -> f64 {
        let n = samples.len() as f64;
        let abs_dev: f64 = samples.iter().map(|x| (x - actual).abs()).sum::<f64>() / n;
        let pairs: f64 = samples
            .iter()
            .flat_map(|x| samples.iter().map(move |y| (x - y).abs()))
            .sum();
        abs_dev - 0.5 * pairs / (n * n)
    }

    #[test]
    fn crps_samples_matches_brute_force() {
        let mut rng = SplitMix64::new(7);
        for n in [1usize, 2, 3, 10, 57, 200] {
            for _ in 0..5 {
                // Offset by 1e6 to exercise the centring: the spread is ~10, the level huge.
                let samples: Vec<f64> = (0..n).map(|_| 1e6 + 10.0 * rng.normal()).collect();
                let actual = 1e6 + 15.0 * rng.normal();
                let expected = crps_brute_force(&samples, actual);
                let got = crps_samples(&mut samples.clone(), actual);
                assert!(
                    close(got, expected, 1e-8 * expected.abs().max(1.0)),
                    "n = {n}: {got} vs {expected}"
                );
            }
        }
    }

    /// erf by Abramowitz & Stegun 7.1.26, absolute error below 1.5e-7.
    fn erf(x: f64) -> f64 {
        let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
        let poly = t
            * (0.254_829_592
                + t * (-0.284_496_736
                    + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
        let y = 1.0 - poly * (-x * x).exp();
        if x < 0.0 { -y } else { y }
    }

    /// Closed-form CRPS of N(μ, σ²) at y (Gneiting & Raftery 2007, eq. 5):
    /// σ [z (2Φ(z) − 1) + 2φ(z) − 1/√π], z = (y − μ)/σ.
    fn crps_gaussian(mu: f64, sigma: f64, y: f64) -> f64 {
        let z = (y - mu) / sigma;
        let cdf = 0.5 * (1.0 + erf(z / std::f64::consts::SQRT_2));
        let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        sigma * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - 1.0 / std::f64::consts::PI.sqrt())
    }

    #[test]
    fn crps_samples_approaches_gaussian_closed_form() {
        let (mu, sigma) = (2.0, 3.0);
        let mut rng = SplitMix64::new(2024);
        let samples: Vec<f64> = (0..200_000).map(|_| mu + sigma * rng.normal()).collect();
        for y in [2.0, 4.5, -7.0] {
            let expected = crps_gaussian(mu, sigma, y);
            let got = crps_samples(&mut samples.clone(), y);
            // The plug-in estimate's error is O(σ/√n) ≈ 0.007 here; 0.01 σ leaves room.
            assert!(
                close(got, expected, 0.01 * sigma),
                "y = {y}: {got} vs {expected}"
            );
        }
        // At the mean the closed form is σ (√2 − 1)/√π ≈ 0.7010 for σ = 3.
        assert!(close(
            crps_gaussian(mu, sigma, mu),
            sigma * (std::f64::consts::SQRT_2 - 1.0) / std::f64::consts::PI.sqrt(),
            1e-6
        ));
    }

    #[test]
    fn crps_quantiles_by_hand() {
        // a = 4; ρ_0.1(4 − 2) = 0.2, ρ_0.5(4 − 3) = 0.5, ρ_0.9(4 − 5) = 0.1 → 2 · 0.8/3.
        let q = [(0.1, 2.0), (0.5, 3.0), (0.9, 5.0)];
        assert!(close(crps_quantiles(4.0, &q), 1.6 / 3.0, 1e-12));
        assert!(crps_quantiles(4.0, &[]).is_nan());
    }

    /// Two series, worked by hand in the comments of `two_series_summary_by_hand`.
    fn two_series() -> Accuracy {
        let mut acc = Accuracy::new();
        acc.add(
            &[1.0, 2.0, NAN],
            &[2.0, 2.0, 5.0],
            &[
                (0.1, vec![0.0, 1.0, 9.0]),
                (0.5, vec![2.0, 2.0, 9.0]),
                (0.9, vec![3.0, 4.0, 9.0]),
            ],
            None,
            &[1.0, 2.0, 3.0, 4.0],
            1,
        )
        .unwrap();
        acc.add(
            &[4.0, 0.0],
            &[3.0, 1.0],
            &[
                (0.1, vec![2.0, 0.5]),
                (0.5, vec![3.0, 1.0]),
                (0.9, vec![5.0, 2.0]),
            ],
            None,
            &[0.0, 2.0, 0.0, 2.0],
            2,
        )
        .unwrap();
        acc
    }

    #[test]
    fn two_series_summary_by_hand() {
        let s = two_series().summary();
        // A: scale = mean |1|,|1|,|1| = 1; MAE (|1 − 2| + |2 − 2|)/2 = 0.5 → MASE 0.5.
        // B: lag-2 differences 0 − 0, 2 − 2 → scale 0 → undefined, skipped and counted.
        assert_close(s.mase, 0.5);
        assert_eq!(s.mase_undefined, 1);
        // A: (2·1/3 + 0)/2 = 1/3. B: (2·1/7 + 2·1/1)/2 = 8/7. Mean (1/3 + 8/7)/2 = 31/42.
        assert_close(s.smape, 31.0 / 42.0);
        // Σ|a − mean| = 1 + 0 + 1 + 1 = 3; Σ|a| = 1 + 2 + 4 + 0 = 7.
        assert_close(s.nd, 3.0 / 7.0);
        // sqrt((1 + 0 + 1 + 1)/4) / (7/4).
        assert_close(s.nrmse, 0.75f64.sqrt() / 1.75);
        // ρ per level over the 4 observed points (A's third step is missing):
        //   0.1: u = 1, 1, 2, −0.5 → 0.1 + 0.1 + 0.2 + 0.45 = 0.85 → 2 · 0.85/7 = 1.7/7
        //   0.5: u = −1, 0, 1, −1 → 0.5 + 0 + 0.5 + 0.5 = 1.5  → 3/7
        //   0.9: u = −2, −2, −1, −2 → 0.2 + 0.2 + 0.1 + 0.2 = 0.7 → 1.4/7
        let expected = [(0.1, 1.7 / 7.0), (0.5, 3.0 / 7.0), (0.9, 1.4 / 7.0)];
        assert_eq!(s.quantile_loss.len(), 3);
        for ((level, loss), (el, eloss)) in s.quantile_loss.iter().zip(expected) {
            assert_eq!(*level, el);
            assert!(close(*loss, eloss, 1e-12), "{level}: {loss} vs {eloss}");
        }
        // CRPS ≈ Σ_t 2/3 Σ_q ρ = 2/3 · (0.85 + 1.5 + 0.7) = 6.1/3; / 7 = 6.1/21, which is also
        // the mean of the three weighted losses.
        assert_close(s.crps, 6.1 / 21.0);
        // Inside [q0.1, q0.9]: 1 ∈ [0, 3], 2 ∈ [1, 4], 4 ∈ [2, 5]; 0 ∉ [0.5, 2] → 3/4.
        assert_close(s.coverage_80, 0.75);
        assert_eq!((s.count, s.observations), (2, 4));
    }

    #[test]
    fn crps_from_samples_by_hand() {
        let mut acc = Accuracy::new();
        // Step 1: samples 0, 2 at a = 1: E|X − 1| = 1, ½E|X − X'| = ½ · (0 + 2 + 2 + 0)/4 = 0.5
        // → 0.5. Step 2: every sample is 3 = a → 0. Σ|a| = 4 → 0.5/4.
        let paths = [vec![0.0, 3.0], vec![2.0, 3.0]];
        // The quantiles are ignored for CRPS when samples are given.
        let quantiles = [(0.5, vec![100.0, 100.0])];
        acc.add(
            &[1.0, 3.0],
            &[1.0, 3.0],
            &quantiles,
            Some(&paths),
            &[1.0, 2.0],
            1,
        )
        .unwrap();
        let s = acc.summary();
        assert_close(s.crps, 0.125);
        assert_close(s.nd, 0.0);
        // No 0.1 / 0.9 levels: no coverage.
        assert_eq!(s.coverage_80, None);
    }

    #[test]
    fn empty_samples_fall_back_to_quantiles() {
        let mut acc = Accuracy::new();
        // ρ_0.5(4 − 3) = 0.5 → CRPS ≈ 2 · 0.5 = 1; / |4|.
        acc.add(
            &[4.0],
            &[3.0],
            &[(0.5, vec![3.0])],
            Some(&[]),
            &[1.0, 2.0],
            1,
        )
        .unwrap();
        assert_close(acc.summary().crps, 0.25);
    }

    #[test]
    fn summary_of_nothing_is_all_none() {
        let s = Accuracy::new().summary();
        assert_eq!(
            s,
            AccuracySummary {
                mase: None,
                smape: None,
                nd: None,
                nrmse: None,
                crps: None,
                quantile_loss: vec![],
                coverage_80: None,
                count: 0,
                observations: 0,
                mase_undefined: 0,
            }
        );
    }

    #[test]
    fn series_without_observed_actuals_counts_but_scores_nothing() {
        let mut acc = Accuracy::new();
        acc.add(
            &[NAN, NAN],
            &[NAN, 1.0],
            &[(0.5, vec![1.0, NAN])],
            None,
            &[1.0, 2.0],
            1,
        )
        .unwrap();
        let s = acc.summary();
        assert_eq!((s.count, s.observations, s.mase_undefined), (1, 0, 1));
        assert_eq!(
            (s.mase, s.smape, s.nd, s.nrmse, s.crps),
            (None, None, None, None, None)
        );
        assert!(s.quantile_loss.is_empty());
    }

    #[test]
    fn all_zero_actuals_leave_ratios_undefined() {
        let mut acc = Accuracy::new();
        acc.add(
            &[0.0, 0.0],
            &[1.0, 0.0],
            &[(0.5, vec![1.0, 0.0])],
            None,
            &[1.0, 2.0],
            1,
        )
        .unwrap();
        let s = acc.summary();
        assert_eq!((s.nd, s.nrmse, s.crps), (None, None, None));
        assert!(s.quantile_loss.is_empty());
        // sMAPE is still defined: (2 + 0)/2.
        assert_close(s.smape, 1.0);
    }

    #[test]
    fn add_rejects_bad_forecasts_and_stays_unchanged() {
        let mut acc = two_series();
        let before = acc.clone();
        let actual = [1.0, NAN];
        let err = acc.add(&actual, &[1.0], &[], None, &[], 1).unwrap_err();
        assert_eq!(
            err,
            CoreError::LengthMismatch {
                what: "mean".into(),
                expected: 2,
                found: 1
            }
        );
        let err = acc
            .add(&actual, &[1.0, 1.0], &[(0.5, vec![1.0])], None, &[], 1)
            .unwrap_err();
        assert!(err.to_string().contains("quantile 0.5"), "{err}");
        let err = acc
            .add(&actual, &[1.0, 1.0], &[(1.0, vec![1.0, 1.0])], None, &[], 1)
            .unwrap_err();
        assert_eq!(err, CoreError::InvalidLevel("1".into()));
        let err = acc
            .add(
                &actual,
                &[1.0, 1.0],
                &[(f64::NAN, vec![1.0, 1.0])],
                None,
                &[],
                1,
            )
            .unwrap_err();
        assert_eq!(err, CoreError::InvalidLevel("NaN".into()));
        let err = acc
            .add(&actual, &[NAN, 1.0], &[], None, &[], 1)
            .unwrap_err();
        assert_eq!(
            err,
            CoreError::NonFiniteForecast {
                what: "mean".into(),
                step: 0
            }
        );
        let paths = [vec![1.0, 1.0], vec![1.0]];
        let err = acc
            .add(&actual, &[1.0, 1.0], &[], Some(&paths), &[], 1)
            .unwrap_err();
        assert!(err.to_string().contains("sample path 1"), "{err}");
        assert_eq!(acc, before);
        // A non-finite forecast where the actual is missing is fine.
        acc.add(&actual, &[1.0, NAN], &[(0.5, vec![1.0, NAN])], None, &[], 1)
            .unwrap();
    }

    #[test]
    fn levels_match_across_series_despite_rounding() {
        let mut acc = Accuracy::new();
        let level = 1.0 - 0.9; // 0.09999999999999998
        acc.add(&[2.0], &[2.0], &[(0.1, vec![1.0])], None, &[1.0, 2.0], 1)
            .unwrap();
        acc.add(&[2.0], &[2.0], &[(level, vec![1.0])], None, &[1.0, 2.0], 1)
            .unwrap();
        let s = acc.summary();
        // One level: 2 · (0.1 + 0.1)/4.
        assert_eq!(s.quantile_loss.len(), 1);
        assert!(close(s.quantile_loss[0].1, 0.1, 1e-12));
    }
}
