use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use seer_core::metrics::{Accuracy, AccuracySummary};
use seer_core::naive::{season_for_freq, seasonal_naive, seasonal_naive_quantiles};
use seer_gpu::GpuContext;
use seer_model::{Forecast, History, Model, ModelKind, PredictOptions, Prediction};
use serde_json::{Value, json};

use crate::BadInput;
use crate::predict::load_histories;

#[derive(Args)]
pub struct EvalArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long)]
    pub data: PathBuf,
    /// Steps each backtest window forecasts (forecasters only; bilstm and classifier windows
    /// are `context_length` points)
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Rolling origins: the last N non-overlapping windows of `horizon` points of each series
    /// (of `context_length` points for bilstm and classifier)
    #[arg(long, default_value_t = 1)]
    pub windows: usize,
    /// Sample paths for sampling models (CRPS is computed from them)
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
    /// Fan chart PNG of the last window of the first few series
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// Levels every report needs: the median, ρ-risk at 0.5 and 0.9, the 80% interval.
const LEVELS: [f64; 5] = [0.1, 0.25, 0.5, 0.75, 0.9];

struct Window {
    history: History,
    actual: Vec<f64>,
    timestamps: Vec<i64>,
}

/// The evaluation windows of one origin index (0 = the last window).
fn windows_at(histories: &[History], horizon: usize, back: usize) -> Vec<Window> {
    histories
        .iter()
        .filter_map(|h| {
            let n = h.values.len();
            let end = n.checked_sub(back * horizon)?;
            let origin = end.checked_sub(horizon)?;
            let hist = &h.values[..origin];
            if !hist.iter().any(|v| v.is_finite()) {
                return None;
            }
            Some(Window {
                history: History::new(h.id.clone(), h.timestamps[..origin].to_vec(), hist.to_vec()),
                actual: h.values[origin..end].to_vec(),
                timestamps: h.timestamps[origin..end].to_vec(),
            })
        })
        .collect()
}

fn summary_json(name: &str, s: &AccuracySummary) -> Value {
    let ql = |l: f64| {
        s.quantile_loss
            .iter()
            .find(|(q, _)| (q - l).abs() < 1e-9)
            .map(|x| x.1)
    };
    json!({
        "model": name,
        "mase": s.mase,
        "smape": s.smape,
        "nd": s.nd,
        "nrmse": s.nrmse,
        "crps": s.crps,
        "quantile_loss_0.5": ql(0.5),
        "quantile_loss_0.9": ql(0.9),
        "coverage_80": s.coverage_80,
        "series_windows": s.count,
        "observations": s.observations,
    })
}

pub fn run(a: &EvalArgs) -> anyhow::Result<()> {
    if a.horizon == Some(0) || a.windows == 0 {
        return Err(BadInput("--horizon and --windows must be at least 1".into()).into());
    }
    let ctx = GpuContext::from_env()?;
    let model = Model::load(&ctx, &a.checkpoint)
        .with_context(|| format!("loading checkpoint {}", a.checkpoint.display()))?;
    if matches!(model.kind(), ModelKind::Bilstm | ModelKind::Classifier) {
        return crate::eval_other::run(a, &ctx, &model);
    }
    let horizon = a.horizon.ok_or_else(|| {
        BadInput(format!(
            "--horizon is required to backtest a {} model (the steps each window forecasts)",
            model.kind().name()
        ))
    })?;
    let freq = model.config.freq;
    let season = season_for_freq(freq);
    let histories = load_histories(&a.data, freq)?;
    let sampling = model.kind() == ModelKind::Deepar;
    let levels: Vec<f64> = if model.kind().emits_quantiles() {
        let (lo, hi) = (
            model.config.quantiles[0],
            model.config.quantiles[model.config.quantiles.len() - 1],
        );
        LEVELS
            .iter()
            .copied()
            .filter(|l| *l >= lo - 1e-12 && *l <= hi + 1e-12)
            .collect()
    } else {
        LEVELS.to_vec()
    };
    let opts = PredictOptions {
        horizon: Some(horizon),
        quantiles: Some(levels.clone()),
        num_samples: sampling.then_some(a.samples),
        return_samples: sampling,
        seed: a.seed,
    };
    let (mut acc_model, mut acc_naive) = (Accuracy::new(), Accuracy::new());
    let mut last_window: Vec<(Window, Forecast)> = Vec::new();
    for back in (0..a.windows).rev() {
        let windows = windows_at(&histories, horizon, back);
        if windows.is_empty() {
            continue;
        }
        let inputs: Vec<History> = windows.iter().map(|w| w.history.clone()).collect();
        let preds = model.predict(&ctx, &inputs, &opts)?;
        for (w, p) in windows.into_iter().zip(preds) {
            let Prediction::Forecast(f) = p else { continue };
            acc_model
                .add(
                    &w.actual,
                    &f.mean,
                    &f.quantiles,
                    f.samples.as_deref(),
                    &w.history.values,
                    season,
                )
                .with_context(|| format!("scoring series {:?}", w.history.id))?;
            if let (Some(point), Some(qs)) = (
                seasonal_naive(&w.history.values, season, horizon),
                seasonal_naive_quantiles(&w.history.values, season, horizon, &LEVELS),
            ) {
                let quantiles: Vec<(f64, Vec<f64>)> = LEVELS
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| (l, qs.iter().map(|step| step[i]).collect()))
                    .collect();
                acc_naive.add(
                    &w.actual,
                    &point,
                    &quantiles,
                    None,
                    &w.history.values,
                    season,
                )?;
            }
            if back == 0 {
                last_window.push((w, f));
            }
        }
    }
    let (sm, sn) = (acc_model.summary(), acc_naive.summary());
    if sm.count == 0 {
        return Err(BadInput(format!(
            "no series in {} is longer than {} × {} points",
            a.data.display(),
            a.windows,
            horizon
        ))
        .into());
    }
    if let Some(path) = &a.plot {
        write_plot(path, &last_window)?;
    }
    let report = json!({
        "checkpoint": a.checkpoint.display().to_string(),
        "horizon": horizon,
        "windows": a.windows,
        "season": season,
        "results": [summary_json(model.kind().name(), &sm), summary_json("seasonal_naive", &sn)],
    });
    let out = if a.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        let mut s = format!(
            "{} windows × horizon {} over {} series-windows (season {season})\n{:<16}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}\n",
            a.windows,
            horizon,
            sm.count,
            "model",
            "MASE",
            "sMAPE",
            "ND",
            "NRMSE",
            "CRPS",
            "QL50",
            "QL90",
            "cov80"
        );
        for r in report["results"].as_array().into_iter().flatten() {
            let f = |k: &str| {
                r[k].as_f64()
                    .map(|v| format!("{v:.4}"))
                    .unwrap_or_else(|| "-".into())
            };
            s += &format!(
                "{:<16}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}\n",
                r["model"].as_str().unwrap_or(""),
                f("mase"),
                f("smape"),
                f("nd"),
                f("nrmse"),
                f("crps"),
                f("quantile_loss_0.5"),
                f("quantile_loss_0.9"),
                f("coverage_80")
            );
        }
        s
    };
    crate::write_stdout(&out)
}

fn level_values(f: &Forecast, level: f64) -> Option<&[f64]> {
    f.quantiles
        .iter()
        .find(|(l, _)| (l - level).abs() < 1e-9)
        .map(|(_, v)| v.as_slice())
}

fn write_plot(path: &std::path::Path, windows: &[(Window, Forecast)]) -> anyhow::Result<()> {
    const PANELS: usize = 4;
    const SHOWN_HISTORY: usize = 200;
    let panels: Vec<seer_plot::FanSeries<'_>> = windows
        .iter()
        .take(PANELS)
        .map(|(w, f)| {
            let start = w.history.values.len().saturating_sub(SHOWN_HISTORY);
            let band = |lo: f64, hi: f64| level_values(f, lo).zip(level_values(f, hi));
            seer_plot::FanSeries {
                title: &w.history.id,
                history: (&w.history.timestamps[start..], &w.history.values[start..]),
                actuals: Some((&w.timestamps, &w.actual)),
                forecast_times: &f.timestamps,
                median: level_values(f, 0.5).unwrap_or(&f.mean),
                band_50: band(0.25, 0.75),
                band_80: band(0.1, 0.9),
            }
        })
        .collect();
    let png = seer_plot::fan_chart_png(&panels, 900, 300)?;
    std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
