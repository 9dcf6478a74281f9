//! The window classifier (docs/metrics.md, "classifier: window labels"): each window scored
//! against its series' label, the baseline the class frequencies of the evaluated windows.

use seer_gpu::GpuContext;

use crate::backtest::error::BacktestError;
use crate::backtest::options::BacktestOptions;
use crate::backtest::windows::{PREDICT_CHUNK, window_ranges};
use crate::forecast::Prediction;
use crate::model::Model;
use crate::options::PredictOptions;
use crate::prepare::History;

/// Probabilities are clamped to at least this before the log of the log loss.
const MIN_PROB: f64 = 1e-12;

#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationScore {
    pub accuracy: f64,
    pub log_loss: f64,
    /// Per class, in the model's class order; `None` for a class without windows.
    pub recall: Vec<Option<f64>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationBacktest {
    /// The points of each window: the model's context.
    pub context_length: usize,
    /// The model's classes; every per-class vector below is in this order.
    pub classes: Vec<String>,
    pub series_windows: usize,
    pub series_unlabelled: usize,
    /// Labelled series without a window that has an observed point.
    pub series_skipped: usize,
    /// Windows per true class.
    pub support: Vec<usize>,
    /// `confusion[label][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    pub model: ClassificationScore,
    /// Index in `classes` of the majority class of the evaluated windows (the first on ties).
    pub majority_class: usize,
    /// The baseline: the evaluated windows' class frequencies, for every window.
    pub majority: ClassificationScore,
}

/// Index of the largest value; the first on ties.
fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

pub(crate) fn backtest(
    ctx: &GpuContext,
    model: &Model,
    histories: &[History],
    opts: &BacktestOptions,
) -> Result<ClassificationBacktest, BacktestError> {
    let classes = &model.config.classes;
    let k = classes.len();
    let len = model.config.context_length;
    // every label is checked before any window is scored
    let mut labelled = Vec::new();
    for h in histories {
        let Some(label) = &h.label else { continue };
        let class =
            classes
                .iter()
                .position(|c| c == label)
                .ok_or_else(|| BacktestError::UnknownLabel {
                    id: h.id.clone(),
                    label: label.clone(),
                    classes: classes.clone(),
                })?;
        labelled.push((h, class));
    }
    let unlabelled = histories.len() - labelled.len();
    // each window is the history up to its end, so imputation sees what came before it
    let mut windows: Vec<(History, usize)> = Vec::new();
    let mut skipped = 0usize;
    for (h, class) in labelled {
        let before = windows.len();
        for (start, end) in window_ranges(h.values.len(), len, opts.windows) {
            if !h.values[start..end].iter().any(|v| v.is_finite()) {
                continue;
            }
            let input = History::new(
                h.id.clone(),
                h.timestamps[..end].to_vec(),
                h.values[..end].to_vec(),
            );
            windows.push((input, class));
        }
        skipped += usize::from(windows.len() == before);
    }
    if windows.is_empty() {
        return Err(BacktestError::NoClassificationWindows {
            context_length: len,
            unlabelled: unlabelled == histories.len(),
        });
    }
    let mut confusion = vec![vec![0usize; k]; k];
    let mut log_loss = 0.0;
    let predict = PredictOptions::default();
    for part in windows.chunks(PREDICT_CHUNK) {
        let inputs: Vec<History> = part.iter().map(|w| w.0.clone()).collect();
        let preds = model.predict(ctx, &inputs, &predict)?;
        for ((h, class), p) in part.iter().zip(preds) {
            let Prediction::Classification(c) = p else {
                return Err(BacktestError::InvalidPrediction(format!(
                    "the classifier returned no probabilities for series {:?}",
                    h.id
                )));
            };
            let probs: Vec<f64> = classes
                .iter()
                .map(|name| {
                    c.probabilities
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|x| x.1)
                        .unwrap_or(0.0)
                })
                .collect();
            if let Some(bad) = probs.iter().find(|p| !p.is_finite()) {
                return Err(BacktestError::InvalidPrediction(format!(
                    "series {:?}: the model gave a probability of {bad}",
                    h.id
                )));
            }
            log_loss -= probs[*class].max(MIN_PROB).ln();
            let predicted = argmax(&probs);
            confusion[*class][predicted] += 1;
        }
    }
    let n = windows.len() as f64;
    let support: Vec<usize> = confusion.iter().map(|row| row.iter().sum()).collect();
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    let majority = argmax(&support.iter().map(|&s| s as f64).collect::<Vec<_>>());
    let recall = |hits: &dyn Fn(usize) -> usize| -> Vec<Option<f64>> {
        (0..k)
            .map(|c| (support[c] > 0).then(|| hits(c) as f64 / support[c] as f64))
            .collect()
    };
    // the baseline predicts the class frequencies of the evaluated windows for every window
    let prior_loss: f64 = support
        .iter()
        .filter(|&&s| s > 0)
        .map(|&s| -(s as f64) * (s as f64 / n).max(MIN_PROB).ln())
        .sum::<f64>()
        / n;
    Ok(ClassificationBacktest {
        context_length: len,
        classes: classes.clone(),
        series_windows: windows.len(),
        series_unlabelled: unlabelled,
        series_skipped: skipped,
        model: ClassificationScore {
            accuracy: correct as f64 / n,
            log_loss: log_loss / n,
            recall: recall(&|c| confusion[c][c]),
        },
        majority_class: majority,
        majority: ClassificationScore {
            accuracy: support[majority] as f64 / n,
            log_loss: prior_loss,
            recall: recall(&|c| if c == majority { support[c] } else { 0 }),
        },
        support,
        confusion,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_of_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax(&[0.0]), 0);
    }
}
