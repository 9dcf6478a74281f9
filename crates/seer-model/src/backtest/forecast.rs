//! Forecasters: rolling origins of `horizon` steps, scored with seer-core's metrics against the
//! seasonal naive forecast of the same history.

use seer_core::metrics::{Accuracy, AccuracySummary};
use seer_core::naive::{season_for_freq, seasonal_naive, seasonal_naive_quantiles};
use seer_gpu::GpuContext;

use crate::backtest::error::BacktestError;
use crate::backtest::options::BacktestOptions;
use crate::backtest::windows::window_range;
use crate::config::ModelKind;
use crate::forecast::{Forecast, Prediction};
use crate::model::Model;
use crate::options::PredictOptions;
use crate::prepare::History;

/// Levels every report needs: the median, ρ-risk at 0.5 and 0.9, the 80% interval.
pub const LEVELS: [f64; 5] = [0.1, 0.25, 0.5, 0.75, 0.9];

/// One held-out window: the history before its origin and the actuals after it.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastWindow {
    pub history: History,
    pub actual: Vec<f64>,
    pub timestamps: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct ForecastBacktest {
    pub horizon: usize,
    /// The season of MASE's scale and of the seasonal naive baseline, from the model's frequency.
    pub season: usize,
    /// The levels the model was asked for: [`LEVELS`] within the range it was trained for.
    pub levels: Vec<f64>,
    pub model: AccuracySummary,
    pub seasonal_naive: AccuracySummary,
    /// What the engine serves when the checkpoint leaves some series to the seasonal naive
    /// (`seasonal_naive_series`): the naive's scores on those, the model's on the rest. `None`
    /// when it leaves none (then it is `model`).
    pub served: Option<AccuracySummary>,
    /// Up to `BacktestOptions::examples` windows of the last origin, with the model's forecasts.
    pub examples: Vec<(ForecastWindow, Forecast)>,
    /// Each series' own scores over its windows, in the order the series came.
    pub series: Vec<SeriesComparison>,
}

impl ForecastBacktest {
    /// The series whose backtest the seasonal naive won, in the order they came: what a
    /// checkpoint's `seasonal_naive_series` lists.
    pub fn seasonal_naive_winners(&self) -> Vec<String> {
        self.series
            .iter()
            .filter(|s| s.seasonal_naive_wins())
            .map(|s| s.id.clone())
            .collect()
    }
}

/// One series' backtest: the model beside the seasonal naive on the same windows.
#[derive(Debug, Clone)]
pub struct SeriesComparison {
    pub id: String,
    pub model: AccuracySummary,
    pub seasonal_naive: AccuracySummary,
}

impl SeriesComparison {
    /// The model's and the seasonal naive's mean weighted quantile loss over the levels both
    /// gave.
    pub fn mean_quantile_losses(&self) -> Option<(f64, f64)> {
        self.model.mean_quantile_losses(&self.seasonal_naive)
    }

    /// Whether the seasonal naive forecast this series strictly better: by mean weighted
    /// quantile loss (a probabilistic score both sides are computed alike in), by MASE where
    /// that is undefined; the model keeps a series nothing can tell.
    pub fn seasonal_naive_wins(&self) -> bool {
        match self.mean_quantile_losses() {
            Some((model, naive)) => naive < model,
            None => matches!(
                (self.model.mase, self.seasonal_naive.mase),
                (Some(m), Some(n)) if n < m
            ),
        }
    }
}

/// The windows of one origin index (0 = the last window).
fn windows_at(histories: &[History], horizon: usize, back: usize) -> Vec<ForecastWindow> {
    histories
        .iter()
        .filter_map(|h| {
            let (origin, end) = window_range(h.values.len(), horizon, back)?;
            let hist = &h.values[..origin];
            if !hist.iter().any(|v| v.is_finite()) {
                return None;
            }
            Some(ForecastWindow {
                // known-future covariates over the window are the actuals (an ex-post forecast)
                history: h.prefix(origin, horizon),
                actual: h.values[origin..end].to_vec(),
                timestamps: h.timestamps[origin..end].to_vec(),
            })
        })
        .collect()
}

/// The levels to ask `model` for: a quantile forecaster cannot extrapolate past its own.
fn levels_for(model: &Model) -> Vec<f64> {
    if model.kind().emits_quantiles() {
        let q = &model.config.quantiles;
        let (lo, hi) = (q[0], q[q.len() - 1]);
        LEVELS
            .iter()
            .copied()
            .filter(|l| *l >= lo - 1e-12 && *l <= hi + 1e-12)
            .collect()
    } else {
        LEVELS.to_vec()
    }
}

pub(crate) fn backtest(
    ctx: &GpuContext,
    model: &Model,
    histories: &[History],
    opts: &BacktestOptions,
) -> Result<ForecastBacktest, BacktestError> {
    let horizon = opts
        .horizon
        .ok_or(BacktestError::MissingHorizon { kind: model.kind() })?;
    if horizon == 0 {
        return Err(BacktestError::ZeroHorizon);
    }
    let season = season_for_freq(model.config.freq);
    let sampling = model.kind() == ModelKind::Deepar;
    let levels = levels_for(model);
    let predict = PredictOptions {
        horizon: Some(horizon),
        quantiles: Some(levels.clone()),
        num_samples: sampling.then_some(opts.samples),
        return_samples: sampling,
        seed: opts.seed,
    };
    let (mut acc_model, mut acc_naive) = (Accuracy::new(), Accuracy::new());
    // what the engine serves: the seasonal naive on the series the checkpoint leaves to it
    let serving = !model.config.seasonal_naive_series.is_empty();
    let mut acc_served = Accuracy::new();
    // per series, in the order the series came: (id, model, seasonal naive)
    let mut per_series: Vec<(String, Accuracy, Accuracy)> = histories
        .iter()
        .map(|h| (h.id.clone(), Accuracy::new(), Accuracy::new()))
        .collect();
    let position: std::collections::HashMap<&str, usize> = histories
        .iter()
        .enumerate()
        .map(|(i, h)| (h.id.as_str(), i))
        .collect();
    let mut examples = Vec::new();
    // oldest origin first
    for back in (0..opts.windows).rev() {
        let windows = windows_at(histories, horizon, back);
        if windows.is_empty() {
            continue;
        }
        let inputs: Vec<History> = windows.iter().map(|w| w.history.clone()).collect();
        let preds = model.predict(ctx, &inputs, &predict)?;
        for (w, p) in windows.into_iter().zip(preds) {
            let Prediction::Forecast(f) = p else { continue };
            let own = &mut per_series[position[w.history.id.as_str()]];
            let naive = match (
                seasonal_naive(&w.history.values, season, horizon),
                seasonal_naive_quantiles(&w.history.values, season, horizon, &LEVELS),
            ) {
                (Some(point), Some(qs)) => {
                    let quantiles: Vec<(f64, Vec<f64>)> = LEVELS
                        .iter()
                        .enumerate()
                        .map(|(i, &l)| (l, qs.iter().map(|step| step[i]).collect()))
                        .collect();
                    Some((point, quantiles))
                }
                _ => None,
            };
            // `served` only when the checkpoint leaves some series to the naive: otherwise it
            // is `model`, and each add costs a CRPS over every sample path
            let naive_serves =
                serving && naive.is_some() && model.leaves_to_seasonal_naive(&w.history.id);
            let mut accs = vec![&mut acc_model, &mut own.1];
            if serving && !naive_serves {
                accs.push(&mut acc_served);
            }
            for acc in accs {
                acc.add(
                    &w.actual,
                    &f.mean,
                    &f.quantiles,
                    f.samples.as_deref(),
                    &w.history.values,
                    season,
                )
                .map_err(|source| BacktestError::Scoring {
                    id: w.history.id.clone(),
                    source,
                })?;
            }
            if let Some((point, quantiles)) = &naive {
                let mut accs = vec![&mut acc_naive, &mut own.2];
                if naive_serves {
                    accs.push(&mut acc_served);
                }
                for acc in accs {
                    acc.add(&w.actual, point, quantiles, None, &w.history.values, season)
                        .map_err(BacktestError::Baseline)?;
                }
            }
            if back == 0 && examples.len() < opts.examples {
                examples.push((w, f));
            }
        }
    }
    let (model_summary, naive_summary) = (acc_model.summary(), acc_naive.summary());
    if model_summary.count == 0 {
        return Err(BacktestError::NoForecastWindows {
            windows: opts.windows,
            horizon,
        });
    }
    Ok(ForecastBacktest {
        horizon,
        season,
        levels,
        model: model_summary,
        seasonal_naive: naive_summary,
        served: serving.then(|| acc_served.summary()),
        examples,
        series: per_series
            .into_iter()
            .map(|(id, model, naive)| SeriesComparison {
                id,
                model: model.summary(),
                seasonal_naive: naive.summary(),
            })
            .filter(|s| s.model.count > 0)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(id: &str, values: Vec<f64>) -> History {
        let n = values.len() as i64;
        History::new(
            id,
            (0..n).map(|t| 1_700_000_000 + t * 3600).collect(),
            values,
        )
    }

    #[test]
    fn windows_hold_out_the_horizon_before_each_origin() {
        let h = [
            series("a", (0..10).map(f64::from).collect()),
            series("short", vec![1.0, 2.0]),
            // nothing observed before the last origin
            series(
                "late",
                [f64::NAN; 6].into_iter().chain([1.0, 2.0]).collect(),
            ),
        ];
        let last = windows_at(&h, 3, 0);
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].history.values, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(last[0].actual, [7.0, 8.0, 9.0]);
        assert_eq!(last[0].timestamps, h[0].timestamps[7..]);
        let before = windows_at(&h, 3, 1);
        assert_eq!(before[0].history.values.len(), 4);
        assert_eq!(before[0].actual, [4.0, 5.0, 6.0]);
        assert!(windows_at(&h, 3, 3).is_empty());
    }
}
