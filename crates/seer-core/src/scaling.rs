//! Mean scaling of a context window.

/// The mean scale `s = 1 + mean(|z|)` over the finite values of `values`.
///
/// NaN and ±Inf are missing points and do not count. `None` when no value is finite (the caller
/// reports a context with no observed point). The leading 1 keeps `s` away from zero for an
/// all-zero context, so dividing by it is always safe.
pub fn mean_scale(values: &[f64]) -> Option<f64> {
    let observed = || values.iter().copied().filter(|v| v.is_finite());
    let count = observed().count();
    if count == 0 {
        return None;
    }
    let n = count as f64;
    let sum: f64 = observed().map(f64::abs).sum();
    // Summing first matches a reference `abs(z).mean()`; only when the sum itself overflows
    // (values near f64::MAX) is dividing first the better trade.
    let mean = if sum.is_finite() {
        sum / n
    } else {
        observed().map(|v| v.abs() / n).sum()
    };
    Some(1.0 + mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_scale_by_hand() {
        // mean(|1|, |-2|, |3|) = 2
        assert_eq!(mean_scale(&[1.0, -2.0, 3.0]), Some(3.0));
        assert_eq!(mean_scale(&[0.5]), Some(1.5));
    }

    #[test]
    fn mean_scale_of_zeros_is_one() {
        assert_eq!(mean_scale(&[0.0, 0.0, -0.0]), Some(1.0));
    }

    #[test]
    fn mean_scale_skips_missing_values() {
        // Only 2 and -4 are observed: 1 + 3 = 4.
        let values = [f64::NAN, 2.0, f64::INFINITY, -4.0, f64::NEG_INFINITY];
        assert_eq!(mean_scale(&values), Some(4.0));
    }

    #[test]
    fn mean_scale_without_observed_values_is_none() {
        assert_eq!(mean_scale(&[]), None);
        assert_eq!(mean_scale(&[f64::NAN, f64::INFINITY]), None);
    }

    #[test]
    fn mean_scale_does_not_overflow_on_huge_values() {
        let s = mean_scale(&[f64::MAX, f64::MAX]);
        assert_eq!(s, Some(1.0 + f64::MAX));
        assert!(s.is_some_and(f64::is_finite));
    }
}
