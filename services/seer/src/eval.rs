//! `seer eval`: `seer_model::backtest` on a long-format CSV, printed as a table or as JSON, with
//! a fan chart of a forecaster's last windows on request. Forecasters are scored against
//! seasonal naive; the gap filler and the classifier on windows of their own context
//! (docs/metrics.md, "Gap-filling and classification metrics").

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use seer_core::metrics::AccuracySummary;
use seer_gpu::GpuContext;
use seer_model::backtest::{
    self, BacktestError, BacktestOptions, BacktestReport, ClassificationBacktest,
    ClassificationScore, FillScore, ForecastBacktest, ForecastWindow, GapFillBacktest,
    SeriesComparison,
};
use seer_model::{Forecast, Model, ModelKind};
use serde_json::{Value, json};

use crate::predict::load_histories;
use crate::terminal::BadInput;

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
    /// Write into the checkpoint which series the seasonal naive forecast better in this
    /// backtest (its `seasonal_naive_series`): the engine then answers those with it
    #[arg(long)]
    pub select: bool,
}

/// Panels of the fan chart: the last window of the first few series.
const PANELS: usize = 4;

fn missing_horizon(kind: ModelKind) -> BadInput {
    BadInput(format!(
        "--horizon is required to backtest a {} model (the steps each window forecasts)",
        kind.name()
    ))
}

pub fn run(a: &EvalArgs) -> anyhow::Result<()> {
    if a.horizon == Some(0) || a.windows == 0 {
        return Err(BadInput("--horizon and --windows must be at least 1".into()).into());
    }
    let ctx = GpuContext::from_env()?;
    let model = Model::load(&ctx, &a.checkpoint)
        .with_context(|| format!("loading checkpoint {}", a.checkpoint.display()))?;
    let kind = model.kind();
    if !kind.forecasts() {
        if a.horizon.is_some() {
            eprintln!(
                "note: --horizon is not used by a {} model; its windows are its context_length ({} points)",
                kind.name(),
                model.config.context_length
            );
        }
        if a.plot.is_some() {
            eprintln!(
                "note: --plot draws forecasts; nothing is plotted for a {} model",
                kind.name()
            );
        }
        if a.select {
            return Err(BadInput(format!(
                "--select chooses between a forecaster and the seasonal naive; a {} model does not forecast",
                kind.name()
            ))
            .into());
        }
    } else if a.horizon.is_none() {
        // before the data is read: a missing flag is the first thing to fix
        return Err(missing_horizon(kind).into());
    }
    let histories = load_histories(&a.data, &model.config, None)?;
    let opts = BacktestOptions {
        horizon: a.horizon,
        windows: a.windows,
        samples: a.samples,
        seed: a.seed,
        examples: if a.plot.is_some() { PANELS } else { 0 },
    };
    let report =
        backtest::backtest(&ctx, &model, &histories, &opts).map_err(|e| cli_error(e, a))?;
    let out = match &report {
        BacktestReport::Forecast(r) => {
            if let Some(path) = &a.plot {
                write_plot(path, &r.examples)?;
            }
            if a.select {
                let mut config = model.config.clone();
                config.seasonal_naive_series = r.seasonal_naive_winners();
                seer_model::checkpoint::save(&a.checkpoint, &config, &model.weights)
                    .with_context(|| format!("writing {}", a.checkpoint.display()))?;
                eprintln!(
                    "{}: {} of {} series left to seasonal_naive",
                    a.checkpoint.display(),
                    config.seasonal_naive_series.len(),
                    r.series.len()
                );
            }
            let v = forecast_json(a, kind, r);
            if a.json {
                serde_json::to_string_pretty(&v)? + "\n"
            } else {
                forecast_text(a, r, &v) + &winners_line(kind, r) + "\n"
            }
        }
        BacktestReport::GapFill(r) => {
            let v = gap_fill_json(a, kind, r);
            if a.json {
                serde_json::to_string_pretty(&v)? + "\n"
            } else {
                gap_fill_text(&v, r.mask_rate)
            }
        }
        BacktestReport::Classification(r) => {
            let v = classification_json(a, kind, r);
            if a.json {
                serde_json::to_string_pretty(&v)? + "\n"
            } else {
                classification_text(&v)
            }
        }
    };
    crate::terminal::write_stdout(&out)
}

/// The library's error in the terms of the command line (its flags, the data file) and with the
/// cause `main` reads the exit code from: 2 for the user's input, 1 for a model gone wrong.
fn cli_error(e: BacktestError, a: &EvalArgs) -> anyhow::Error {
    let data = a.data.display();
    match e {
        BacktestError::NoWindowsRequested | BacktestError::ZeroHorizon => {
            BadInput("--horizon and --windows must be at least 1".into()).into()
        }
        BacktestError::MissingHorizon { kind } => missing_horizon(kind).into(),
        BacktestError::NoForecastWindows { windows, horizon } => BadInput(format!(
            "no series in {data} is longer than {windows} × {horizon} points"
        ))
        .into(),
        BacktestError::NoGapFillWindows { context_length } => BadInput(format!(
            "no series in {data} has a window of {context_length} points (the model's context) with two observed values"
        ))
        .into(),
        BacktestError::NoClassificationWindows {
            context_length,
            unlabelled,
        } => BadInput(format!(
            "no labelled series in {data} has a window of {context_length} points (the model's context) with an observed value{}",
            if unlabelled {
                " (no series has a `label` column value)"
            } else {
                ""
            }
        ))
        .into(),
        e @ BacktestError::UnknownLabel { .. } => BadInput(e.to_string()).into(),
        BacktestError::Scoring { id, source } => {
            anyhow::Error::new(source).context(format!("scoring series {id:?}"))
        }
        BacktestError::Baseline(source) => source.into(),
        BacktestError::InvalidPrediction(message) => anyhow::anyhow!(message),
        BacktestError::Model(e) => e.into(),
    }
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

fn series_json(kind: ModelKind, s: &SeriesComparison) -> Value {
    let wql = s.mean_quantile_losses();
    json!({
        "series_id": s.id,
        "windows": s.model.count,
        "mase": s.model.mase,
        "seasonal_naive_mase": s.seasonal_naive.mase,
        "mean_quantile_loss": wql.map(|w| w.0),
        "seasonal_naive_mean_quantile_loss": wql.map(|w| w.1),
        "winner": if s.seasonal_naive_wins() { "seasonal_naive" } else { kind.name() },
    })
}

fn forecast_json(a: &EvalArgs, kind: ModelKind, r: &ForecastBacktest) -> Value {
    // "served": what the engine answers when the checkpoint leaves series to the naive
    let results: Vec<Value> = [
        Some(summary_json(kind.name(), &r.model)),
        Some(summary_json("seasonal_naive", &r.seasonal_naive)),
        r.served.as_ref().map(|s| summary_json("served", s)),
    ]
    .into_iter()
    .flatten()
    .collect();
    json!({
        "checkpoint": a.checkpoint.display().to_string(),
        "horizon": r.horizon,
        "windows": a.windows,
        "season": r.season,
        "results": results,
        "series": r.series.iter().map(|s| series_json(kind, s)).collect::<Vec<_>>(),
    })
}

/// One line on who won how many series, and the ids the seasonal naive won (the first few).
pub fn winners_line(kind: ModelKind, r: &ForecastBacktest) -> String {
    const SHOWN: usize = 10;
    let naive = r.seasonal_naive_winners();
    let mut line = format!(
        "per series (mean weighted quantile loss): {} wins {} of {}, seasonal_naive {}",
        kind.name(),
        r.series.len() - naive.len(),
        r.series.len(),
        naive.len()
    );
    if !naive.is_empty() {
        let more = naive.len().saturating_sub(SHOWN);
        line += &format!(
            " ({}{})",
            naive[..naive.len().min(SHOWN)].join(", "),
            if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            }
        );
    }
    line
}

fn forecast_text(a: &EvalArgs, r: &ForecastBacktest, report: &Value) -> String {
    let mut s = format!(
        "{} windows × horizon {} over {} series-windows (season {})\n{:<16}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}\n",
        a.windows,
        r.horizon,
        r.model.count,
        r.season,
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
    for m in report["results"].as_array().into_iter().flatten() {
        s += &format!(
            "{:<16}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}\n",
            m["model"].as_str().unwrap_or(""),
            fmt_num(&m["mase"]),
            fmt_num(&m["smape"]),
            fmt_num(&m["nd"]),
            fmt_num(&m["nrmse"]),
            fmt_num(&m["crps"]),
            fmt_num(&m["quantile_loss_0.5"]),
            fmt_num(&m["quantile_loss_0.9"]),
            fmt_num(&m["coverage_80"])
        );
    }
    s
}

fn fill_json(name: &str, s: &FillScore) -> Value {
    json!({
        "model": name,
        "mae": s.mae,
        "rmse": s.rmse,
        "nd": s.nd,
        "hidden_points": s.hidden_points,
    })
}

fn gap_fill_json(a: &EvalArgs, kind: ModelKind, r: &GapFillBacktest) -> Value {
    json!({
        "checkpoint": a.checkpoint.display().to_string(),
        "task": "gap_filling",
        "context_length": r.context_length,
        "windows": a.windows,
        "mask_rate": r.mask_rate,
        "seed": a.seed,
        "series_windows": r.series_windows,
        "series_skipped": r.series_skipped,
        "hidden_points": r.hidden_points,
        "results": [fill_json(kind.name(), &r.model), fill_json("linear_interpolation", &r.linear_interpolation)],
    })
}

fn fmt_num(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{x:.4}"))
        .unwrap_or_else(|| "-".into())
}

fn gap_fill_text(r: &Value, mask_rate: f64) -> String {
    let mut s = format!(
        "gap filling: {} windows × {} points, {}% of observed points hidden (seed {}): {} series-windows, {} hidden points\n{:<22}{:>10}{:>10}{:>10}\n",
        r["windows"],
        r["context_length"],
        mask_rate * 100.0,
        r["seed"],
        r["series_windows"],
        r["hidden_points"],
        "model",
        "MAE",
        "RMSE",
        "ND"
    );
    for m in r["results"].as_array().into_iter().flatten() {
        s += &format!(
            "{:<22}{:>10}{:>10}{:>10}\n",
            m["model"].as_str().unwrap_or(""),
            fmt_num(&m["mae"]),
            fmt_num(&m["rmse"]),
            fmt_num(&m["nd"])
        );
    }
    s
}

fn classification_json(a: &EvalArgs, kind: ModelKind, r: &ClassificationBacktest) -> Value {
    let by_class = |values: Vec<Value>| -> serde_json::Map<String, Value> {
        r.classes.iter().cloned().zip(values).collect()
    };
    let recall = |s: &ClassificationScore| by_class(s.recall.iter().map(|x| json!(x)).collect());
    json!({
        "checkpoint": a.checkpoint.display().to_string(),
        "task": "classification",
        "context_length": r.context_length,
        "windows": a.windows,
        "classes": r.classes,
        "series_windows": r.series_windows,
        "series_unlabelled": r.series_unlabelled,
        "series_skipped": r.series_skipped,
        "support": by_class(r.support.iter().map(|s| json!(s)).collect()),
        "confusion": r.confusion,
        "baseline": "the class frequencies of the evaluated windows (majority class of the evaluated windows: no training set is read)",
        "results": [
            {
                "model": kind.name(),
                "accuracy": r.model.accuracy,
                "log_loss": r.model.log_loss,
                "recall": recall(&r.model),
            },
            {
                "model": "majority_class",
                "class": r.classes[r.majority_class],
                "accuracy": r.majority.accuracy,
                "log_loss": r.majority.log_loss,
                "recall": recall(&r.majority),
            },
        ],
    })
}

fn classification_text(r: &Value) -> String {
    let results = r["results"].as_array().cloned().unwrap_or_default();
    let mut s = format!(
        "classification: {} windows × {} points over {} series-windows ({} unlabelled series skipped)\nbaseline: always the majority class of the evaluated windows, {:?} (no training set is read); its log loss is that of predicting their class frequencies\n{:<22}{:>10}{:>10}\n",
        r["windows"],
        r["context_length"],
        r["series_windows"],
        r["series_unlabelled"],
        results
            .get(1)
            .and_then(|b| b["class"].as_str())
            .unwrap_or(""),
        "model",
        "accuracy",
        "log loss"
    );
    for m in &results {
        s += &format!(
            "{:<22}{:>10}{:>10}\n",
            m["model"].as_str().unwrap_or(""),
            fmt_num(&m["accuracy"]),
            fmt_num(&m["log_loss"])
        );
    }
    s += &format!("recall by class\n{:<22}{:>10}", "class", "windows");
    for m in &results {
        s += &format!("{:>16}", m["model"].as_str().unwrap_or(""));
    }
    s += "\n";
    for c in r["classes"].as_array().into_iter().flatten() {
        let name = c.as_str().unwrap_or("");
        s += &format!("{name:<22}{:>10}", r["support"][name].as_u64().unwrap_or(0));
        for m in &results {
            s += &format!("{:>16}", fmt_num(&m["recall"][name]));
        }
        s += "\n";
    }
    s
}

fn level_values(f: &Forecast, level: f64) -> Option<&[f64]> {
    f.quantiles
        .iter()
        .find(|(l, _)| (l - level).abs() < 1e-9)
        .map(|(_, v)| v.as_slice())
}

fn write_plot(
    path: &std::path::Path,
    windows: &[(ForecastWindow, Forecast)],
) -> anyhow::Result<()> {
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
