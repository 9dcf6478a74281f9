//! Deterministic synthetic data in long format, for demos and tests.
//!
//! Each series is a level with a linear trend, seasonal cycles that follow the UTC clock (a daily
//! cycle when the frequency is below a day, a weekly one below a week, a yearly one from daily
//! frequencies up), and noise: Gaussian for [`SyntheticKind::Real`], Poisson or negative binomial
//! counts around a seasonal mean for [`SyntheticKind::Counts`]. About half of the series change
//! regime (level, seasonal amplitude or both) at a random step in their last third, so that
//! forecasters and detectors have something to get wrong.
//!
//! Draws come from [`SplitMix64`], so that a seed gives the same data on every platform and every
//! version of the dependencies. Series `i` draws from its own stream, derived from the seed and
//! `i`, so the first k series of a spec do not depend on how many follow.

use crate::CoreError;
use crate::csv::Series;
use crate::rng::SplitMix64;
use crate::series::MAX_GRID_POINTS;
use crate::time::format_timestamp;

const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;
/// The mean Gregorian year, so that the yearly cycle does not drift over centuries.
const YEAR: f64 = 365.2425 * 86_400.0;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    /// Number of series.
    pub series: usize,
    /// Points per series.
    pub points: usize,
    /// Seconds between points.
    pub freq: i64,
    /// Timestamp (unix seconds) of every series' first point.
    pub start: i64,
    pub seed: u64,
    pub kind: SyntheticKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntheticKind {
    /// Real values: level, trend and seasonality plus Gaussian noise.
    Real,
    /// Non-negative integer counts; for a `negative_binomial` DeepAR.
    Counts,
}

/// A regime change from step `at` on: the level and the seasonal amplitude are multiplied by
/// the factors (one of them may be 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegimeShift {
    pub at: usize,
    pub level_factor: f64,
    pub amplitude_factor: f64,
}

/// Generates the series of `spec`, with ids `series_0`, `series_1`, …, every one on the grid
/// `start + k · freq`, k = 0 … points − 1, without missing values.
///
/// Errors: a frequency that is not positive, a last timestamp beyond the i64 range, and more than
/// [`MAX_GRID_POINTS`] points in all (the same limit a regular grid has).
pub fn generate(spec: &SyntheticSpec) -> Result<Vec<Series>, CoreError> {
    let timestamps = check(spec)?;
    Ok((0..spec.series)
        .map(|i| generate_series(spec, i, &timestamps, true))
        .collect())
}

/// The regime shift of each series of `spec` (`None` for a series without one), as
/// [`generate`] applies it: the ground truth for a change-point detector or a test.
pub fn regime_shifts(spec: &SyntheticSpec) -> Vec<Option<RegimeShift>> {
    (0..spec.series)
        .map(|i| Params::draw(spec, &mut series_rng(spec.seed, i)).shift)
        .collect()
}

/// The grid timestamps, once the spec is known to be valid.
fn check(spec: &SyntheticSpec) -> Result<Vec<i64>, CoreError> {
    if spec.freq <= 0 {
        return Err(CoreError::InvalidFrequency(spec.freq.into()));
    }
    let total = spec.series.checked_mul(spec.points);
    if total.is_none_or(|n| n > MAX_GRID_POINTS) {
        return Err(CoreError::InvalidSynthetic(format!(
            "{} series of {} points exceed the limit of {MAX_GRID_POINTS} points",
            spec.series, spec.points
        )));
    }
    let last = i64::try_from(spec.points.saturating_sub(1))
        .ok()
        .and_then(|k| k.checked_mul(spec.freq))
        .and_then(|span| spec.start.checked_add(span));
    if last.is_none() {
        return Err(CoreError::InvalidSynthetic(format!(
            "{} points every {} s from {} run past the largest timestamp",
            spec.points, spec.freq, spec.start
        )));
    }
    // The last timestamp fits, so every earlier one does.
    Ok((0..spec.points as i64)
        .map(|k| spec.start + k * spec.freq)
        .collect())
}

/// Per-series parameters, drawn before any value so that [`regime_shifts`] can read them cheaply.
struct Params {
    /// Mean level (Real) or mean count (Counts) at the start.
    level: f64,
    /// Relative change of the level over the whole series.
    trend: f64,
    /// (relative amplitude, phase) of the daily, weekly and yearly cycles; amplitude 0 where the
    /// frequency cannot show the cycle.
    daily: (f64, f64),
    weekly: (f64, f64),
    yearly: (f64, f64),
    /// Standard deviation of the Gaussian noise relative to the level (Real).
    noise: f64,
    /// Negative binomial dispersion α (variance μ + α μ²); `None` for Poisson (Counts).
    dispersion: Option<f64>,
    shift: Option<RegimeShift>,
}

impl Params {
    fn draw(spec: &SyntheticSpec, rng: &mut SplitMix64) -> Params {
        // Every draw happens whatever the kind and frequency, so that one parameter's value does
        // not depend on whether another was needed.
        let level = match spec.kind {
            // Log-uniform: 10 to 1000.
            SyntheticKind::Real => 10f64.powf(rng.range(1.0, 3.0)),
            // Log-uniform: 1 to 50, so that some series are sparse with many zeros.
            SyntheticKind::Counts => 50f64.powf(rng.uniform()),
        };
        let trend = rng.range(-0.3, 0.5);
        let phase = |rng: &mut SplitMix64| rng.range(0.0, std::f64::consts::TAU);
        let daily = (rng.range(0.1, 0.4), phase(rng));
        let weekly = (rng.range(0.05, 0.25), phase(rng));
        let yearly = (rng.range(0.1, 0.3), phase(rng));
        let noise = rng.range(0.02, 0.08);
        let poisson = rng.uniform() < 0.5;
        let alpha = rng.range(0.05, 0.5);
        let shift = draw_shift(spec.points, rng);

        let shows = |period: i64| spec.freq < period;
        let keep = |cycle: (f64, f64), on: bool| if on { cycle } else { (0.0, cycle.1) };
        Params {
            level,
            trend,
            daily: keep(daily, shows(DAY)),
            weekly: keep(weekly, shows(WEEK)),
            // Below a day the daily and weekly cycles carry the seasonality; a year of hourly
            // points would mostly be the slow cycle.
            yearly: keep(yearly, spec.freq >= DAY && (spec.freq as f64) < YEAR),
            noise,
            dispersion: (!poisson).then_some(alpha),
            shift,
        }
    }

    /// The seasonal part at `ts`, relative to the level: a sum of sines plus a second daily
    /// harmonic, which makes the daily profile asymmetric like a real load curve.
    fn seasonal(&self, ts: i64) -> f64 {
        let angle = |period: f64| std::f64::consts::TAU * (ts as f64).rem_euclid(period) / period;
        let (d, w, y) = (angle(DAY as f64), angle(WEEK as f64), angle(YEAR));
        self.daily.0 * ((d + self.daily.1).sin() + 0.5 * (2.0 * d + self.daily.1).sin())
            + self.weekly.0 * (w + self.weekly.1).sin()
            + self.yearly.0 * (y + self.yearly.1).sin()
    }
}

fn draw_shift(points: usize, rng: &mut SplitMix64) -> Option<RegimeShift> {
    let happens = rng.uniform() < 0.5;
    let where_ = rng.uniform();
    let what = rng.uniform();
    let up_level = rng.uniform() < 0.5;
    let level = if up_level {
        rng.range(1.3, 1.8)
    } else {
        rng.range(0.55, 0.8)
    };
    let up_amplitude = rng.uniform() < 0.5;
    let amplitude = if up_amplitude {
        rng.range(1.6, 2.5)
    } else {
        rng.range(0.3, 0.6)
    };
    // The last third: steps ceil(2n/3) … n − 1, empty for n < 2.
    let first = (2 * points).div_ceil(3);
    if !happens || first >= points {
        return None;
    }
    let at = first + ((where_ * (points - first) as f64) as usize).min(points - first - 1);
    let (level_factor, amplitude_factor) = match what {
        w if w < 1.0 / 3.0 => (level, 1.0),
        w if w < 2.0 / 3.0 => (1.0, amplitude),
        _ => (level, amplitude),
    };
    Some(RegimeShift {
        at,
        level_factor,
        amplitude_factor,
    })
}

/// Series `i`; `apply_shift: false` gives the same series without its regime shift (the noise
/// draws before the shift are identical), for testing the shift.
fn generate_series(
    spec: &SyntheticSpec,
    i: usize,
    timestamps: &[i64],
    apply_shift: bool,
) -> Series {
    let mut rng = series_rng(spec.seed, i);
    let p = Params::draw(spec, &mut rng);
    let n = spec.points.max(1) as f64;
    let values = timestamps
        .iter()
        .enumerate()
        .map(|(t, &ts)| {
            let (level_factor, amplitude_factor) = match p.shift {
                Some(s) if apply_shift && t >= s.at => (s.level_factor, s.amplitude_factor),
                _ => (1.0, 1.0),
            };
            // trend > −0.3, so the level stays above 0.7 of its start.
            let level = p.level * (1.0 + p.trend * t as f64 / n) * level_factor;
            let seasonal = amplitude_factor * p.seasonal(ts);
            match spec.kind {
                SyntheticKind::Real => level * (1.0 + seasonal + p.noise * rng.normal()),
                SyntheticKind::Counts => {
                    // Multiplicative, so the mean stays positive however large the amplitude.
                    let mean = level * seasonal.exp();
                    let rate = match p.dispersion {
                        // Gamma–Poisson mixture: mean μ, variance μ + α μ².
                        Some(alpha) => rng.gamma(1.0 / alpha, alpha * mean),
                        None => mean,
                    };
                    rng.poisson(rate)
                }
            }
        })
        .collect();
    Series {
        id: format!("series_{i}"),
        timestamps: timestamps.to_vec(),
        values,
        features: vec![],
        label: None,
    }
}

/// Long-format CSV with the header `series_id,timestamp,value`, RFC 3339 timestamps, one row per
/// point in series order, readable by [`crate::csv::read_long_csv`].
///
/// A missing (non-finite) value is an empty field. Integral values are written without a
/// fraction (counts read naturally); others in the shortest form that parses back to the same
/// f64. Ids that need it are quoted as RFC 4180 says. Feature columns and labels are not written.
pub fn to_csv(series: &[Series]) -> String {
    let mut out = String::from("series_id,timestamp,value\n");
    for s in series {
        let id = quote(&s.id);
        for (&ts, &v) in s.timestamps.iter().zip(&s.values) {
            out.push_str(&id);
            out.push(',');
            out.push_str(&format_timestamp(ts));
            out.push(',');
            if v.is_finite() {
                if v.fract() == 0.0 && v.abs() < 1e15 {
                    out.push_str(&format!("{v:.0}"));
                } else {
                    // Debug is the shortest round-trip form and, unlike Display, switches to an
                    // exponent for extreme magnitudes instead of writing hundreds of zeros.
                    out.push_str(&format!("{v:?}"));
                }
            }
            out.push('\n');
        }
    }
    out
}

fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// A stream per series: the seed and the index pass through the output mix, so neighbouring
/// seeds or indices do not give overlapping streams.
fn series_rng(seed: u64, index: usize) -> SplitMix64 {
    let mut mixer = SplitMix64::new(seed ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    SplitMix64::new(mixer.next_u64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv::read_long_csv;

    const NEW_YEAR_2024: i64 = 1_704_067_200;

    fn spec(kind: SyntheticKind) -> SyntheticSpec {
        SyntheticSpec {
            series: 6,
            points: 24 * 28,
            freq: 3600,
            start: NEW_YEAR_2024,
            seed: 42,
            kind,
        }
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        for kind in [SyntheticKind::Real, SyntheticKind::Counts] {
            let a = generate(&spec(kind)).unwrap();
            assert_eq!(a, generate(&spec(kind)).unwrap());
            let other = generate(&SyntheticSpec {
                seed: 43,
                ..spec(kind)
            })
            .unwrap();
            assert_ne!(a[0].values, other[0].values);
        }
    }

    #[test]
    fn series_do_not_depend_on_how_many_follow() {
        let five = generate(&SyntheticSpec {
            series: 5,
            ..spec(SyntheticKind::Counts)
        })
        .unwrap();
        let three = generate(&SyntheticSpec {
            series: 3,
            ..spec(SyntheticKind::Counts)
        })
        .unwrap();
        assert_eq!(three[..], five[..3]);
    }

    #[test]
    fn layout_of_generated_series() {
        let s = spec(SyntheticKind::Real);
        let data = generate(&s).unwrap();
        assert_eq!(data.len(), 6);
        for (i, series) in data.iter().enumerate() {
            assert_eq!(series.id, format!("series_{i}"));
            assert_eq!(series.timestamps.len(), s.points);
            assert_eq!(series.timestamps[0], NEW_YEAR_2024);
            assert!(series.timestamps.windows(2).all(|w| w[1] - w[0] == 3600));
            assert!(series.values.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn counts_are_non_negative_integers_with_some_zeros() {
        let data = generate(&SyntheticSpec {
            series: 20,
            ..spec(SyntheticKind::Counts)
        })
        .unwrap();
        let all: Vec<f64> = data.iter().flat_map(|s| s.values.clone()).collect();
        assert!(
            all.iter()
                .all(|&v| v >= 0.0 && v.fract() == 0.0 && v.is_finite())
        );
        assert!(all.contains(&0.0));
        assert!(all.iter().any(|&v| v > 10.0));
    }

    /// Correlation of x_t and x_{t−lag}.
    fn autocorrelation(x: &[f64], lag: usize) -> f64 {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
        let cov: f64 = x
            .iter()
            .zip(&x[lag..])
            .map(|(a, b)| (a - mean) * (b - mean))
            .sum();
        cov / var
    }

    #[test]
    fn hourly_series_have_a_daily_cycle() {
        for kind in [SyntheticKind::Real, SyntheticKind::Counts] {
            let s = SyntheticSpec {
                series: 40,
                ..spec(kind)
            };
            let mut checked = 0;
            for (i, series) in generate(&s).unwrap().iter().enumerate() {
                let p = Params::draw(&s, &mut series_rng(s.seed, i));
                // Counts of a mean near 1, or overdispersed ones, hide a ±10 % cycle in noise.
                if kind == SyntheticKind::Counts && (p.level < 10.0 || p.dispersion.is_some()) {
                    continue;
                }
                // Before any shift, a day apart is more alike than half a day apart.
                let end = p.shift.map_or(s.points, |sh| sh.at);
                let x = &series.values[..end];
                assert!(
                    autocorrelation(x, 24) > autocorrelation(x, 12),
                    "{kind:?} {}",
                    series.id
                );
                checked += 1;
            }
            assert!(checked > 0, "{kind:?}");
        }
    }

    #[test]
    fn some_series_shift_regime_in_their_last_third() {
        for kind in [SyntheticKind::Real, SyntheticKind::Counts] {
            let s = SyntheticSpec {
                series: 20,
                ..spec(kind)
            };
            let shifts = regime_shifts(&s);
            let shifted = shifts.iter().flatten().count();
            assert!(shifted > 0 && shifted < 20, "{shifted} of 20 shift");
            let timestamps = check(&s).unwrap();
            let data = generate(&s).unwrap();
            for (i, shift) in shifts.iter().enumerate() {
                let unshifted = generate_series(&s, i, &timestamps, false);
                let Some(shift) = shift else {
                    assert_eq!(unshifted, data[i]);
                    continue;
                };
                assert!(shift.at >= (2 * s.points).div_ceil(3) && shift.at < s.points);
                assert!(shift.level_factor != 1.0 || shift.amplitude_factor != 1.0);
                // Identical up to the shift, different after it.
                let (before, after) = data[i].values.split_at(shift.at);
                assert_eq!(before, &unshifted.values[..shift.at]);
                assert_ne!(after, &unshifted.values[shift.at..]);
            }
        }
    }

    #[test]
    fn level_shift_moves_the_mean() {
        let s = SyntheticSpec {
            series: 40,
            ..spec(SyntheticKind::Real)
        };
        let timestamps = check(&s).unwrap();
        let data = generate(&s).unwrap();
        let mut checked = 0;
        for (i, shift) in regime_shifts(&s).into_iter().enumerate() {
            let Some(shift) = shift.filter(|sh| sh.amplitude_factor == 1.0) else {
                continue;
            };
            let unshifted = generate_series(&s, i, &timestamps, false);
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            let ratio = mean(&data[i].values[shift.at..]) / mean(&unshifted.values[shift.at..]);
            assert!(
                (ratio - shift.level_factor).abs() < 0.05,
                "{ratio} vs {shift:?}"
            );
            checked += 1;
        }
        assert!(checked > 0);
    }

    #[test]
    fn daily_data_gets_weekly_and_yearly_cycles_only() {
        let s = SyntheticSpec {
            series: 1,
            points: 3 * 365,
            freq: DAY,
            start: NEW_YEAR_2024,
            seed: 5,
            kind: SyntheticKind::Real,
        };
        let p = Params::draw(&s, &mut series_rng(s.seed, 0));
        assert_eq!(p.daily.0, 0.0);
        assert!(p.weekly.0 > 0.0 && p.yearly.0 > 0.0);
        let monthly = SyntheticSpec {
            freq: 30 * DAY,
            ..s.clone()
        };
        let p = Params::draw(&monthly, &mut series_rng(s.seed, 0));
        assert_eq!((p.daily.0, p.weekly.0), (0.0, 0.0));
        assert!(p.yearly.0 > 0.0);
    }

    #[test]
    fn csv_round_trips_through_the_reader() {
        for kind in [SyntheticKind::Real, SyntheticKind::Counts] {
            let data = generate(&spec(kind)).unwrap();
            let text = to_csv(&data);
            assert!(text.starts_with("series_id,timestamp,value\nseries_0,2024-01-01T00:00:00Z,"));
            let read = read_long_csv(text.as_bytes()).unwrap();
            assert_eq!(read.series, data);
        }
    }

    #[test]
    fn to_csv_writes_missing_values_extremes_and_quoted_ids() {
        let series = Series {
            id: "a,\"b\"".into(),
            timestamps: vec![0, 60, 120, 180],
            values: vec![3.0, f64::NAN, 1e-300, -2.5],
            features: vec![],
            label: None,
        };
        let text = to_csv(std::slice::from_ref(&series));
        assert_eq!(
            text,
            "series_id,timestamp,value\n\
             \"a,\"\"b\"\"\",1970-01-01T00:00:00Z,3\n\
             \"a,\"\"b\"\"\",1970-01-01T00:01:00Z,\n\
             \"a,\"\"b\"\"\",1970-01-01T00:02:00Z,1e-300\n\
             \"a,\"\"b\"\"\",1970-01-01T00:03:00Z,-2.5\n"
        );
        let read = read_long_csv(text.as_bytes()).unwrap();
        assert_eq!(read.series[0].id, series.id);
        assert!(read.series[0].values[1].is_nan());
        assert_eq!(read.series[0].values[2], 1e-300);
        assert_eq!(to_csv(&[]), "series_id,timestamp,value\n");
    }

    #[test]
    fn invalid_specs_are_errors() {
        let base = spec(SyntheticKind::Real);
        assert_eq!(
            generate(&SyntheticSpec {
                freq: 0,
                ..base.clone()
            }),
            Err(CoreError::InvalidFrequency(0.into()))
        );
        let too_many = SyntheticSpec {
            series: 1000,
            points: 100_000,
            ..base.clone()
        };
        assert!(matches!(
            generate(&too_many),
            Err(CoreError::InvalidSynthetic(_))
        ));
        let overflow = SyntheticSpec {
            series: 1,
            points: 10,
            freq: i64::MAX / 4,
            ..base.clone()
        };
        assert!(matches!(
            generate(&overflow),
            Err(CoreError::InvalidSynthetic(_))
        ));
        let huge = SyntheticSpec {
            series: usize::MAX,
            points: 2,
            ..base.clone()
        };
        assert!(matches!(
            generate(&huge),
            Err(CoreError::InvalidSynthetic(_))
        ));
    }

    #[test]
    fn degenerate_sizes_give_empty_output() {
        let none = generate(&SyntheticSpec {
            series: 0,
            ..spec(SyntheticKind::Real)
        })
        .unwrap();
        assert!(none.is_empty());
        let empty = generate(&SyntheticSpec {
            points: 0,
            ..spec(SyntheticKind::Counts)
        })
        .unwrap();
        assert!(empty.iter().all(|s| s.values.is_empty()));
        let one = generate(&SyntheticSpec {
            points: 1,
            ..spec(SyntheticKind::Real)
        })
        .unwrap();
        assert!(one.iter().all(|s| s.values.len() == 1));
        // Negative timestamps are fine: the cycles use the Euclidean remainder.
        let early = generate(&SyntheticSpec {
            start: -10 * DAY,
            ..spec(SyntheticKind::Real)
        })
        .unwrap();
        assert!(early[0].values.iter().all(|v| v.is_finite()));
    }
}
