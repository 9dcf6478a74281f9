use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use seer_core::series::infer_frequency;
use seer_core::time::Frequency;
use seer_gpu::GpuContext;
use seer_model::checkpoint::{init_weights, save};
use seer_model::train::{EpochReport, EpochScore, TrainOptions, train};
use seer_model::{Covariate, CovariateKind, ModelConfig, ModelKind};

use seer_model::backtest::{self, BacktestError, BacktestOptions, BacktestReport};

use crate::eval::winners_line;
use crate::init::{SizeArgs, build_config, describe_choices, parse_freq};
use crate::predict::{histories_of, read_dataset};
use crate::terminal::BadInput;

#[derive(Args)]
pub struct TrainArgs {
    /// Long-format CSV (as for `seer predict`)
    #[arg(long)]
    pub data: PathBuf,
    /// lstm | deepar | tcn | seq2seq | rnn | bilstm | classifier
    #[arg(long)]
    pub model: String,
    /// TOML file with model fields (as in config.json); flags given explicitly are ignored then
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
    /// Series spacing (default: inferred from the data)
    #[arg(long)]
    pub freq: Option<String>,
    #[command(flatten)]
    pub sizes: SizeArgs,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Steps of each epoch (default: from the data, about one pass over its points in all)
    #[arg(long)]
    pub steps_per_epoch: Option<usize>,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Global gradient-norm clip (0: off)
    #[arg(long, default_value_t = 10.0)]
    pub clip: f32,
    #[arg(long, default_value_t = 5)]
    pub patience: usize,
    /// Truncated BPTT length (0: full BPTT)
    #[arg(long, default_value_t = 0)]
    pub truncate: usize,
    /// Dropout between DeepAR's LSTM layers in training, as GluonTS (0: none)
    #[arg(long, default_value_t = 0.1)]
    pub dropout: f32,
    /// What picks the best epoch: forecast (the held-out horizon forecast as at inference,
    /// scored by mean weighted quantile loss; forecasters only) | loss (the validation loss)
    #[arg(long, default_value = "forecast")]
    pub epoch_score: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Serve every series with the model, even those whose held-out last horizon the seasonal
    /// naive forecast better
    #[arg(long)]
    pub no_baseline_selection: bool,
    /// Feature columns to read as known-future covariates (values known for the forecast steps
    /// too, e.g. a temperature forecast or a holiday flag), comma-separated
    #[arg(long, default_value = "")]
    pub covariates: String,
    /// Feature columns to read as past-observed covariates (known up to the forecast's origin
    /// only; read a horizon late), comma-separated
    #[arg(long, default_value = "")]
    pub past_covariates: String,
    /// A file of holiday dates (YYYY-MM-DD, one per line; `#` comments, and anything after a
    /// comma, e.g. the holiday's name, are ignored): the model reads a `holiday` input, 1 on
    /// those days, computed from timestamps, so forecasts need no values for it
    #[arg(long)]
    pub holidays: Option<PathBuf>,
    /// Horizons at the end of each series held out of training, on which the best epoch and
    /// each series' baseline choice are read (a series shorter than twice that keeps fewer)
    #[arg(long, default_value_t = 1)]
    pub validation_windows: usize,
}

/// The dates of a holiday file; a line that is not a date is an error naming it.
fn read_holidays(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
    let mut dates = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let date = line.split('#').next().unwrap_or("");
        let date = date.split(',').next().unwrap_or("").trim();
        if date.is_empty() {
            continue;
        }
        seer_model::covariates::parse_holiday(date)
            .map_err(|why| BadInput(format!("{}:{}: {date:?} {why}", path.display(), i + 1)))?;
        dates.push(date.to_string());
    }
    if dates.is_empty() {
        return Err(BadInput(format!("{}: no dates", path.display())).into());
    }
    Ok(dates)
}

/// The config's covariates with the flags' added, then each standardised over the training
/// data (the data defines the scaling, whatever a `--config` file said).
fn fit_covariates(config: &mut ModelConfig, histories: &[seer_model::History]) {
    let mut supplied = 0;
    for cov in config.covariates.iter_mut() {
        *cov = if cov.is_holidays() {
            Covariate::holidays(&cov.name, std::mem::take(&mut cov.dates), histories)
        } else {
            let j = supplied;
            supplied += 1;
            let columns = histories.iter().map(|h| h.covariates[j].as_slice());
            Covariate::fitted(&cov.name, cov.kind, columns)
        };
    }
}

fn covariates_from_flags(config: &mut ModelConfig, a: &TrainArgs) -> anyhow::Result<()> {
    for (list, kind) in [
        (&a.covariates, CovariateKind::KnownFuture),
        (&a.past_covariates, CovariateKind::PastObserved),
    ] {
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if config.covariates.iter().any(|c| c.name == name) {
                return Err(BadInput(format!("covariate {name:?} is given twice")).into());
            }
            config.covariates.push(Covariate::fitted(name, kind, []));
        }
    }
    if let Some(path) = &a.holidays {
        if config.covariates.iter().any(|c| c.name == "holiday") {
            return Err(BadInput(
                "covariate \"holiday\" is given twice (--holidays names its input `holiday`)"
                    .into(),
            )
            .into());
        }
        config
            .covariates
            .push(Covariate::holidays("holiday", read_holidays(path)?, &[]));
    }
    Ok(())
}

/// Backtests the trained model on each series' held-out last horizon (the validation window)
/// beside the seasonal naive, and leaves the series it lost to the naive
/// (`seasonal_naive_series`), so a checkpoint never serves a series worse than the baseline did.
fn select_baseline(
    ctx: &GpuContext,
    config: &mut ModelConfig,
    weights: &seer_model::checkpoint::Weights,
    histories: &[seer_model::History],
    windows: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let model = seer_model::Model::from_parts(ctx, config.clone(), weights.clone())?;
    let opts = BacktestOptions {
        horizon: Some(config.horizon),
        windows,
        seed,
        ..BacktestOptions::default()
    };
    match backtest::backtest(ctx, &model, histories, &opts) {
        Ok(BacktestReport::Forecast(r)) => {
            config.seasonal_naive_series = r.seasonal_naive_winners();
            eprintln!(
                "held-out last {windows} × {} steps: {}",
                config.horizon,
                winners_line(config.model, &r)
            );
        }
        Ok(_) => {}
        // too short to hold a window out: nothing to choose on, every series keeps the model
        Err(BacktestError::NoForecastWindows { .. }) => {}
        Err(e) => return Err(anyhow::Error::new(e).context("backtesting the trained model")),
    }
    Ok(())
}

fn model_config(a: &TrainArgs, data_freq: Option<Frequency>) -> anyhow::Result<ModelConfig> {
    if let Some(path) = &a.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut table: toml::Table = text
            .parse()
            .map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
        table
            .entry("model")
            .or_insert_with(|| toml::Value::String(a.model.clone()));
        if let Some(f) = data_freq {
            table.entry("freq").or_insert(match f {
                Frequency::Seconds(s) => toml::Value::Integer(s),
                Frequency::Months(_) => toml::Value::String(f.to_string()),
            });
        }
        let config: ModelConfig = table
            .try_into()
            .map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
        config
            .validate()
            .map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
        return Ok(config);
    }
    let freq = match (&a.freq, data_freq) {
        (Some(f), _) => parse_freq(f)?,
        (None, Some(f)) => f,
        (None, None) => {
            return Err(
                BadInput("cannot infer the frequency from the data; pass --freq".into()).into(),
            );
        }
    };
    build_config(&a.model, freq, &a.sizes)
}

/// Steps per epoch that, over all epochs, draw about as many windows as the data has points
/// (every point ends some window about once), within [20, 200] steps an epoch: the schedule
/// GluonTS's defaults give a series of a year of half-hourly points (50 steps × 32 × 10 epochs).
fn default_steps_per_epoch(points: usize, epochs: usize, batch: usize) -> usize {
    const STEPS: std::ops::RangeInclusive<usize> = 20..=200;
    points
        .div_ceil(epochs.max(1) * batch.max(1))
        .clamp(*STEPS.start(), *STEPS.end())
}

fn bar(e: &EpochReport, epochs: usize) -> String {
    let done = (e.epoch * 20 / epochs.max(1)).min(20);
    let val = e
        .val_loss
        .map(|v| format!("{v:.4}"))
        .unwrap_or_else(|| "-".into());
    format!(
        "[{}{}] epoch {:>3}/{epochs}  train {:.4}  val {val}{}{}  {:.0} windows/s  |g| {:.3}{}",
        "#".repeat(done),
        ".".repeat(20 - done),
        e.epoch,
        e.train_loss,
        e.forecast_score
            .map(|s| format!("  forecast wQL {s:.4}"))
            .unwrap_or_default(),
        if e.best { " *" } else { "  " },
        e.windows_per_second,
        e.grad_norm,
        if e.skipped_steps > 0 {
            format!("  ({} skipped steps)", e.skipped_steps)
        } else {
            String::new()
        }
    )
}

pub fn run(a: &TrainArgs) -> anyhow::Result<()> {
    let dataset = read_dataset(&a.data)?;
    // the finest spacing among the series: coarser ones then have gaps rather than points off
    // the grid
    let data_freq = dataset
        .series
        .iter()
        .filter_map(|s| infer_frequency(&s.timestamps))
        .min_by_key(|f| f.nominal_seconds());
    let mut config = model_config(a, data_freq)?;
    covariates_from_flags(&mut config, a)?;
    config.validate().map_err(|e| BadInput(e.to_string()))?;
    let histories = histories_of(&dataset, &a.data, &config, None)?;
    fit_covariates(&mut config, &histories);
    config.input_size = Some(config.derived_input_size());
    if config.model == ModelKind::Deepar && config.series_ids.is_none() {
        // train ids get their own embedding rows; ids never seen fall back to hashing
        let ids: Vec<String> = dataset
            .series
            .iter()
            .map(|s| s.id.clone())
            .take(config.cardinality)
            .collect();
        config.series_ids = Some(ids);
    }
    if a.config.is_none() {
        eprintln!("{}", describe_choices(&config, &a.sizes));
    }
    let ctx = GpuContext::from_env()?;
    let weights = init_weights(&config, a.seed)?;
    let points: usize = histories.iter().map(|h| h.values.len()).sum();
    let steps_per_epoch = a
        .steps_per_epoch
        .unwrap_or_else(|| default_steps_per_epoch(points, a.epochs, a.batch_size));
    let validation_windows = a.validation_windows;
    if validation_windows == 0 {
        return Err(BadInput("--validation-windows must be at least 1".into()).into());
    }
    eprintln!(
        "schedule: {} epochs × {steps_per_epoch} steps × {} windows{}; the last {validation_windows} × {} steps of each series held out",
        a.epochs,
        a.batch_size,
        if a.steps_per_epoch.is_none() {
            format!(" (steps from the data's {points} points)")
        } else {
            String::new()
        },
        config.horizon
    );
    let opts = TrainOptions {
        epochs: a.epochs,
        steps_per_epoch,
        batch_size: a.batch_size,
        learning_rate: a.lr,
        weight_decay: a.weight_decay,
        max_grad_norm: a.clip,
        patience: a.patience,
        seed: a.seed,
        truncate: a.truncate,
        dropout: a.dropout,
        validation_windows,
        epoch_score: match a.epoch_score.as_str() {
            "forecast" => EpochScore::Forecast,
            "loss" => EpochScore::Loss,
            other => {
                return Err(BadInput(format!(
                    "--epoch-score: expected forecast or loss, got {other:?}"
                ))
                .into());
            }
        },
    };
    eprintln!(
        "training {} on {} series ({}; adapter {})",
        config.model.name(),
        histories.len(),
        a.data.display(),
        ctx.summary.name
    );
    let tty = std::io::stderr().is_terminal();
    let (weights, report) = train(&ctx, &config, &weights, &histories, &opts, |e| {
        if tty {
            eprint!("\r{}", bar(e, opts.epochs));
            if e.epoch == opts.epochs {
                eprintln!();
            }
        } else {
            eprintln!("{}", bar(e, opts.epochs));
        }
    })?;
    if tty {
        eprintln!();
    }
    if config.model.forecasts() && !a.no_baseline_selection {
        select_baseline(
            &ctx,
            &mut config,
            &weights,
            &histories,
            validation_windows,
            a.seed,
        )?;
    }
    save(&a.out, &config, &weights)
        .with_context(|| format!("writing checkpoint to {}", a.out.display()))?;
    println!(
        "best epoch {} (validation loss {}), {} steps skipped for non-finite loss or gradients{}; checkpoint written to {}",
        report.best_epoch,
        report
            .best_val_loss
            .map(|v| format!("{v:.4}"))
            .unwrap_or_else(|| "n/a".into()),
        report.skipped_steps,
        if report.stopped_early {
            ", stopped early"
        } else {
            ""
        },
        a.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::default_steps_per_epoch;

    #[test]
    fn the_default_schedule_draws_about_one_window_per_point() {
        // a year of half-hourly points: GluonTS's 50 steps of 32 over 10 epochs
        assert_eq!(default_steps_per_epoch(15_360, 10, 32), 48);
        // tiny data still trains a while; huge data is capped per epoch
        assert_eq!(default_steps_per_epoch(100, 10, 32), 20);
        assert_eq!(default_steps_per_epoch(10_000_000, 10, 32), 200);
        assert_eq!(default_steps_per_epoch(0, 0, 0), 20);
    }
}
