//! The BiLSTM gap filler (docs/metrics.md, "bilstm: imputation of hidden points"): scored on
//! observed points hidden from it, against linear interpolation of what it sees.

use seer_core::hash::fnv1a64;
use seer_core::rng::SplitMix64;
use seer_gpu::GpuContext;

use crate::backtest::error::BacktestError;
use crate::backtest::options::BacktestOptions;
use crate::backtest::windows::{PREDICT_CHUNK, window_ranges};
use crate::forecast::Prediction;
use crate::gapfill::{MASK_RATE, hide_mask};
use crate::model::Model;
use crate::options::PredictOptions;
use crate::prepare::History;

/// Errors of fills at the hidden points, over every window.
#[derive(Debug, Clone, PartialEq)]
pub struct FillScore {
    pub hidden_points: usize,
    pub mae: f64,
    pub rmse: f64,
    /// `Σ|fill − truth| / Σ|truth|`; `None` when every hidden truth is 0.
    pub nd: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GapFillBacktest {
    /// The points of each window: the model's context.
    pub context_length: usize,
    /// Share of a window's observed points hidden from the model.
    pub mask_rate: f64,
    pub series_windows: usize,
    /// Series without a window of two observed points.
    pub series_skipped: usize,
    pub hidden_points: usize,
    pub model: FillScore,
    pub linear_interpolation: FillScore,
}

/// The hidden points depend only on the seed, the series id and the window, not on the order of
/// the series.
fn mask_rng(seed: u64, id: &str, back: usize) -> SplitMix64 {
    SplitMix64::new(
        seed.wrapping_mul(0xD1B5_4A32_D192_ED03)
            ^ fnv1a64(id.as_bytes())
            ^ (back as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

/// Linear interpolation at `i` between the nearest finite neighbours of `seen`; the nearest
/// value at the edges. `None` when nothing in `seen` is finite.
fn interpolate(seen: &[f64], i: usize) -> Option<f64> {
    let prev = (0..i).rev().find(|&j| seen[j].is_finite());
    let next = (i + 1..seen.len()).find(|&k| seen[k].is_finite());
    match (prev, next) {
        (Some(j), Some(k)) => {
            let w = (i - j) as f64 / (k - j) as f64;
            Some(seen[j] + (seen[k] - seen[j]) * w)
        }
        (Some(j), None) => Some(seen[j]),
        (None, Some(k)) => Some(seen[k]),
        (None, None) => None,
    }
}

/// Error sums of fills at hidden points.
#[derive(Default)]
struct FillErrors {
    n: usize,
    abs: f64,
    sq: f64,
    truth: f64,
}

impl FillErrors {
    fn add(&mut self, truth: f64, fill: f64) {
        let e = fill - truth;
        self.n += 1;
        self.abs += e.abs();
        self.sq += e * e;
        self.truth += truth.abs();
    }

    fn score(&self) -> FillScore {
        let n = self.n as f64;
        FillScore {
            hidden_points: self.n,
            mae: self.abs / n,
            rmse: (self.sq / n).sqrt(),
            nd: (self.truth > 0.0).then(|| self.abs / self.truth),
        }
    }
}

struct FillWindow {
    id: String,
    values: Vec<f64>,
    hidden: Vec<bool>,
    /// The window as the model sees it: hidden points missing.
    input: History,
    /// The interpolation baseline at each hidden point, in order.
    baseline: Vec<f64>,
}

pub(crate) fn backtest(
    ctx: &GpuContext,
    model: &Model,
    histories: &[History],
    opts: &BacktestOptions,
) -> Result<GapFillBacktest, BacktestError> {
    let len = model.config.context_length;
    let mut windows = Vec::new();
    let mut skipped = 0usize;
    for h in histories {
        let before = windows.len();
        for (back, (start, end)) in window_ranges(h.values.len(), len, opts.windows).enumerate() {
            let values = &h.values[start..end];
            let mut rng = mask_rng(opts.seed, &h.id, back);
            let Some(hidden) = hide_mask(values, &mut rng) else {
                continue;
            };
            let seen: Vec<f64> = values
                .iter()
                .zip(&hidden)
                .map(|(&v, &hide)| if hide { f64::NAN } else { v })
                .collect();
            // hide_mask leaves an observed point visible, so every hidden point has a baseline
            let Some(baseline) = (0..values.len())
                .filter(|&i| hidden[i])
                .map(|i| interpolate(&seen, i))
                .collect::<Option<Vec<f64>>>()
            else {
                continue;
            };
            windows.push(FillWindow {
                id: h.id.clone(),
                values: values.to_vec(),
                hidden,
                input: History::new(h.id.clone(), h.timestamps[start..end].to_vec(), seen),
                baseline,
            });
        }
        skipped += usize::from(windows.len() == before);
    }
    if windows.is_empty() {
        return Err(BacktestError::NoGapFillWindows {
            context_length: len,
        });
    }
    let (mut err_model, mut err_interp) = (FillErrors::default(), FillErrors::default());
    let predict = PredictOptions::default();
    for part in windows.chunks(PREDICT_CHUNK) {
        let inputs: Vec<History> = part.iter().map(|w| w.input.clone()).collect();
        let preds = model.predict(ctx, &inputs, &predict)?;
        for (w, p) in part.iter().zip(preds) {
            let Prediction::GapFill(g) = p else {
                return Err(BacktestError::InvalidPrediction(format!(
                    "the bilstm model returned no gap fill for series {:?}",
                    w.id
                )));
            };
            let hidden = (0..w.values.len()).filter(|&i| w.hidden[i]);
            for (i, &base) in hidden.zip(&w.baseline) {
                let fill = g.values[i];
                if !fill.is_finite() {
                    return Err(BacktestError::InvalidPrediction(format!(
                        "series {:?}: the model filled a hidden point with {fill}",
                        w.id
                    )));
                }
                err_model.add(w.values[i], fill);
                err_interp.add(w.values[i], base);
            }
        }
    }
    Ok(GapFillBacktest {
        context_length: len,
        mask_rate: MASK_RATE,
        series_windows: windows.len(),
        series_skipped: skipped,
        hidden_points: err_model.n,
        model: err_model.score(),
        linear_interpolation: err_interp.score(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hidden_at(values: &[f64], seed: u64, id: &str, back: usize) -> Vec<usize> {
        let hidden = hide_mask(values, &mut mask_rng(seed, id, back)).unwrap();
        (0..hidden.len()).filter(|&i| hidden[i]).collect()
    }

    #[test]
    fn the_mask_hides_some_observed_points_never_all() {
        let mut values: Vec<f64> = (0..20).map(f64::from).collect();
        values[3] = f64::NAN;
        let hidden = hide_mask(&values, &mut mask_rng(1, "a", 0)).unwrap();
        assert_eq!(hidden.iter().filter(|h| **h).count(), 3); // round(19 · 0.15)
        assert!(!hidden[3], "a missing point is not hidden");
        let again = hide_mask(&values, &mut mask_rng(1, "a", 0)).unwrap();
        assert_eq!(hidden, again, "deterministic");
        let two = [1.0, f64::NAN, 2.0];
        let h = hide_mask(&two, &mut mask_rng(0, "b", 0)).unwrap();
        assert_eq!(h.iter().filter(|h| **h).count(), 1);
        assert!(hide_mask(&[1.0, f64::NAN], &mut mask_rng(0, "c", 0)).is_none());
    }

    #[test]
    fn masks_keep_their_points() {
        // captured from `seer eval` before the backtest moved into this crate
        let mut values: Vec<f64> = (0..20).map(f64::from).collect();
        values[3] = f64::NAN;
        assert_eq!(hidden_at(&values, 1, "a", 0), [4, 7, 10]);
        let v: Vec<f64> = (0..40).map(f64::from).collect();
        assert_eq!(hidden_at(&v, 4, "series_0", 1), [1, 14, 20, 28, 33, 39]);
        assert_eq!(hidden_at(&v, 5, "series_0", 1), [2, 8, 11, 25, 28, 37]);
        assert_eq!(hidden_at(&[1.0, f64::NAN, 2.0], 0, "b", 0), [2]);
    }

    #[test]
    fn interpolation_is_linear_inside_and_carries_at_the_edges() {
        let seen = [f64::NAN, 2.0, f64::NAN, f64::NAN, 8.0, f64::NAN];
        assert_eq!(interpolate(&seen, 0), Some(2.0));
        assert_eq!(interpolate(&seen, 2), Some(4.0));
        assert_eq!(interpolate(&seen, 3), Some(6.0));
        assert_eq!(interpolate(&seen, 5), Some(8.0));
        assert_eq!(interpolate(&[f64::NAN; 3], 1), None);
    }

    #[test]
    fn fill_scores_by_hand() {
        let mut e = FillErrors::default();
        e.add(2.0, 3.0);
        e.add(-2.0, -5.0);
        let s = e.score();
        assert_eq!(s.hidden_points, 2);
        assert_eq!(s.mae, 2.0);
        assert_eq!(s.rmse, 5f64.sqrt());
        assert_eq!(s.nd, Some(1.0));
        let mut zero = FillErrors::default();
        zero.add(0.0, 1.0);
        assert_eq!(zero.score().nd, None);
    }
}
