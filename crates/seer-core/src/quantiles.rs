//! Quantile levels and sample quantiles: `numpy.quantile`'s default ("linear") method for
//! forecasts, and the nearest-rank percentile for measurements such as latencies.

use crate::CoreError;

/// The `q`-quantile of ascending `sorted` values, interpolated linearly between order statistics
/// at `h = (n - 1) q` exactly as `numpy.quantile` does by default.
///
/// Like numpy, the interpolation is computed from the upper neighbour when the fraction is at
/// least 0.5, which keeps results bit-identical to numpy's. `q` is clamped to [0, 1] (numpy
/// raises instead, but a panic-free library has no better answer); an empty slice or a NaN `q`
/// gives NaN.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    if q.is_nan() {
        return f64::NAN;
    }
    let h = last as f64 * q.clamp(0.0, 1.0);
    let lower = h.floor();
    // h is in [0, last], so the floor is a valid index.
    let i = lower as usize;
    if i >= last {
        return sorted[last];
    }
    let (a, b) = (sorted[i], sorted[i + 1]);
    let t = h - lower;
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// The quantiles of `samples` at each of `levels`; sorts `samples` in place.
///
/// As with `numpy.quantile`, a NaN among the samples makes every quantile NaN; no samples gives
/// NaN too.
pub fn quantiles_of(samples: &mut [f64], levels: &[f64]) -> Vec<f64> {
    if samples.iter().any(|v| v.is_nan()) {
        return vec![f64::NAN; levels.len()];
    }
    samples.sort_unstable_by(f64::total_cmp);
    levels
        .iter()
        .map(|&q| quantile_sorted(samples, q))
        .collect()
}

/// The nearest-rank `q`-percentile of ascending `sorted` values: `sorted[⌈q·n⌉ − 1]`, the rank
/// clamped to 1..=n, so `q` at or below 0 (or NaN) gives the smallest value and `q` at or above
/// 1 the largest. Unlike [`quantile_sorted`] it never interpolates: a latency percentile is a
/// latency that was measured. `None` when `sorted` is empty.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    percentile_index(sorted.len(), q).map(|i| sorted[i])
}

/// The index [`percentile`] reads in a sorted sample of `len` values, for samples that are not
/// `f64` (integer microseconds, histogram counts); `None` when `len` is 0.
pub fn percentile_index(len: usize, q: f64) -> Option<usize> {
    if len == 0 {
        return None;
    }
    Some(((q * len as f64).ceil() as usize).clamp(1, len) - 1)
}

/// Parses comma-separated quantile levels such as `0.1,0.5,0.9`, keeping their order.
///
/// Each level must lie strictly inside (0, 1): the 0 and 1 quantiles of a distribution are
/// usually infinite. Whitespace around items is allowed.
pub fn parse_levels(s: &str) -> Result<Vec<f64>, CoreError> {
    if s.trim().is_empty() {
        return Err(CoreError::NoLevels);
    }
    s.split(',')
        .map(|item| {
            let item = item.trim();
            item.parse::<f64>()
                .ok()
                .filter(|q| *q > 0.0 && *q < 1.0)
                .ok_or_else(|| CoreError::InvalidLevel(item.to_string()))
        })
        .collect()
}

/// The index of the level closest to 0.5 (the first on a tie); 0 when `levels` is empty.
///
/// Its quantile serves as the point forecast. NaN levels are never chosen unless all are NaN.
pub fn nearest_to_median(levels: &[f64]) -> usize {
    let mut best: Option<(usize, f64)> = None;
    for (i, &q) in levels.iter().enumerate() {
        let d = (q - 0.5).abs();
        if d.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, bd)| d < bd) {
            best = Some((i, d));
        }
    }
    best.map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_sorted_interpolates_like_numpy() {
        let x = [1.0, 2.0, 3.0, 4.0];
        // h = 3 q
        assert_eq!(quantile_sorted(&x, 0.0), 1.0);
        assert_eq!(quantile_sorted(&x, 0.5), 2.5); // h = 1.5
        assert_eq!(quantile_sorted(&x, 0.25), 1.75); // h = 0.75
        assert_eq!(quantile_sorted(&x, 1.0), 4.0);
        assert_eq!(quantile_sorted(&[10.0, 20.0], 0.1), 11.0); // h = 0.1
        // numpy.quantile([0, 10], 0.9) = 9.0, computed from above: 10 - 10 * (1 - 0.9)
        assert_eq!(
            quantile_sorted(&[0.0, 10.0], 0.9),
            10.0 - 10.0 * (1.0 - 0.9)
        );
    }

    #[test]
    fn quantile_sorted_of_one_value_is_that_value() {
        for q in [0.0, 0.3, 1.0] {
            assert_eq!(quantile_sorted(&[7.5], q), 7.5);
        }
    }

    #[test]
    fn quantile_sorted_of_bad_input() {
        assert!(quantile_sorted(&[], 0.5).is_nan());
        assert!(quantile_sorted(&[1.0, 2.0], f64::NAN).is_nan());
        // Out-of-range levels clamp.
        assert_eq!(quantile_sorted(&[1.0, 2.0], -3.0), 1.0);
        assert_eq!(quantile_sorted(&[1.0, 2.0], 2.0), 2.0);
        assert_eq!(quantile_sorted(&[1.0, 2.0], f64::INFINITY), 2.0);
    }

    #[test]
    fn quantiles_of_sorts_and_evaluates_each_level() {
        let mut samples = [5.0, 1.0, 4.0, 2.0, 3.0];
        // h = 4 q: 0.1 -> 1.4, 0.5 -> 3, 0.9 -> 4.6 (from above: 5 - 1 * 0.4 = 4.6)
        let q = quantiles_of(&mut samples, &[0.1, 0.5, 0.9]);
        assert_eq!(samples, [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!((q[0] - 1.4).abs() < 1e-12);
        assert_eq!(q[1], 3.0);
        assert_eq!(q[2], 5.0 - 1.0 * (1.0 - (4.0 * 0.9 - 3.0)));
        assert!((q[2] - 4.6).abs() < 1e-12);
    }

    #[test]
    fn quantiles_of_with_nan_or_no_samples_is_nan() {
        let mut with_nan = [1.0, f64::NAN, 3.0];
        assert!(
            quantiles_of(&mut with_nan, &[0.1, 0.9])
                .iter()
                .all(|v| v.is_nan())
        );
        let q = quantiles_of(&mut [], &[0.5]);
        assert_eq!(q.len(), 1);
        assert!(q[0].is_nan());
        assert!(quantiles_of(&mut [1.0], &[]).is_empty());
    }

    #[test]
    fn percentile_is_the_nearest_rank() {
        let x: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&x, 0.5), Some(5.0)); // rank ⌈5⌉ = 5
        assert_eq!(percentile(&x, 0.9), Some(9.0));
        assert_eq!(percentile(&x, 0.91), Some(10.0)); // rank ⌈9.1⌉ = 10
        assert_eq!(percentile(&x, 0.99), Some(10.0));
        assert_eq!(percentile(&x, 0.05), Some(1.0));
        // the lower middle value of an even count, never their mean
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[7.5], 0.999), Some(7.5));
    }

    #[test]
    fn percentile_clamps_the_rank() {
        let x = [1.0, 2.0, 3.0];
        assert_eq!(percentile(&x, 0.0), Some(1.0));
        assert_eq!(percentile(&x, -1.0), Some(1.0));
        assert_eq!(percentile(&x, f64::NAN), Some(1.0));
        assert_eq!(percentile(&x, 1.0), Some(3.0));
        assert_eq!(percentile(&x, 5.0), Some(3.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile_index(0, 0.5), None);
        assert_eq!(percentile_index(1000, 0.999), Some(998));
        assert_eq!(percentile_index(1000, 0.5), Some(499));
    }

    #[test]
    fn parse_levels_reads_a_list() {
        assert_eq!(parse_levels("0.1,0.5,0.9"), Ok(vec![0.1, 0.5, 0.9]));
        assert_eq!(parse_levels(" 0.9 , 0.05"), Ok(vec![0.9, 0.05]));
        assert_eq!(parse_levels("0.5"), Ok(vec![0.5]));
    }

    #[test]
    fn parse_levels_rejects_bad_items_by_name() {
        let cases = [
            ("0.1,abc,0.9", "abc"),
            ("0.1,,0.9", ""),
            ("0.1,", ""),
            ("0,0.5", "0"),
            ("0.5,1", "1"),
            ("1.5", "1.5"),
            ("-0.1", "-0.1"),
            ("nan", "nan"),
            ("0.5;0.9", "0.5;0.9"),
        ];
        for (input, item) in cases {
            assert_eq!(
                parse_levels(input),
                Err(CoreError::InvalidLevel(item.to_string())),
                "{input:?}"
            );
        }
        let msg = CoreError::InvalidLevel("abc".into()).to_string();
        assert!(msg.contains("\"abc\""), "{msg}");
    }

    #[test]
    fn parse_levels_rejects_empty_input() {
        assert_eq!(parse_levels(""), Err(CoreError::NoLevels));
        assert_eq!(parse_levels("  "), Err(CoreError::NoLevels));
    }

    #[test]
    fn nearest_to_median_picks_closest_then_first() {
        assert_eq!(nearest_to_median(&[0.1, 0.5, 0.9]), 1);
        assert_eq!(nearest_to_median(&[0.9, 0.45, 0.1]), 1);
        assert_eq!(nearest_to_median(&[0.25, 0.75]), 0);
        assert_eq!(nearest_to_median(&[0.1]), 0);
    }

    #[test]
    fn nearest_to_median_of_degenerate_levels() {
        assert_eq!(nearest_to_median(&[]), 0);
        assert_eq!(nearest_to_median(&[f64::NAN, 0.2]), 1);
        assert_eq!(nearest_to_median(&[f64::NAN, f64::NAN]), 0);
    }
}
