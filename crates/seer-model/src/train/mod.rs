//! Training on the GPU: every model type's forward pass with saved activations, its loss, BPTT
//! and weight-gradient GEMMs, global-norm clipping and AdamW — one submit per step — plus the
//! epoch loop with a validation split and early stopping. Callable from a service (no printing:
//! progress goes through a callback).

mod classifier;
mod deepar;
mod gapfill;
mod head;
pub mod online;
mod options;
pub mod params;
mod quantile;
pub mod stack;
mod task;
mod tcn;

use seer_core::rng::SplitMix64;
use seer_gpu::GpuContext;
use seer_gpu::ops::{AdamConfig, StepState};

use crate::checkpoint::Weights;
use crate::config::{ModelConfig, ModelKind};
use crate::error::ModelError;
use crate::prepare::History;
use crate::train::params::ParamStore;
use crate::train::task::{Batch, Task};

pub use options::{EpochScore, TrainOptions};

/// What happened after each epoch, for progress display.
#[derive(Debug, Clone)]
pub struct EpochReport {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: Option<f64>,
    /// With [`EpochScore::Forecast`]: the mean weighted quantile loss of the held-out forecasts.
    pub forecast_score: Option<f64>,
    pub windows_per_second: f64,
    pub skipped_steps: usize,
    pub grad_norm: f64,
    pub best: bool,
}

#[derive(Debug, Clone)]
pub struct TrainReport {
    pub epochs: Vec<EpochReport>,
    pub best_epoch: usize,
    pub best_val_loss: Option<f64>,
    pub skipped_steps: usize,
    pub stopped_early: bool,
}

fn task_for(
    ctx: &GpuContext,
    config: &ModelConfig,
    store: &ParamStore,
    data: &[History],
    opts: &TrainOptions,
) -> Result<Box<dyn Task>, ModelError> {
    // a window's inputs are as wide as the config says only when every series carries the
    // covariates it names, over its own points at least
    for h in data {
        h.check_covariates(config, 0)?;
    }
    match config.model {
        ModelKind::Deepar => Ok(Box::new(deepar::DeepArTask::new(
            ctx, config, store, data, opts,
        )?)),
        ModelKind::Lstm | ModelKind::Rnn | ModelKind::Seq2seq => Ok(Box::new(
            quantile::QuantileTask::new(ctx, config, store, data, opts)?,
        )),
        ModelKind::Tcn => Ok(Box::new(tcn::TcnTask::new(ctx, config, store, data, opts)?)),
        ModelKind::Bilstm => Ok(Box::new(gapfill::GapFillTask::new(
            ctx, config, store, data, opts,
        )?)),
        ModelKind::Classifier => Ok(Box::new(classifier::ClassifierTask::new(
            ctx, config, store, data, opts,
        )?)),
    }
}

fn run_step(
    ctx: &GpuContext,
    task: &dyn Task,
    store: &ParamStore,
    batch: &Batch,
    adam: Option<(&AdamConfig, u64)>,
) -> Result<(f64, Option<StepState>), ModelError> {
    let mut rec = seer_gpu::Recorder::new(ctx);
    if adam.is_some() {
        rec.clear(&store.grads)?;
    }
    task.record(&mut rec, store, batch, adam.is_some())?;
    if let Some((config, step)) = adam {
        seer_gpu::ops::clip_and_adam(
            &mut rec,
            store.len,
            &store.params,
            &store.grads,
            &store.m,
            &store.v,
            &store.loss,
            &store.state,
            config,
            step,
        )?;
    }
    rec.submit()?;
    let loss = ctx.read(&store.loss)?[0] as f64;
    let state = match adam {
        Some(_) => StepState::from_words(&ctx.read(&store.state)?),
        None => None,
    };
    Ok((loss, state))
}

/// Trains `weights` on `data` (histories on the model's grid) and returns the weights of the
/// best validation epoch. `progress` is called after every epoch.
pub fn train(
    ctx: &GpuContext,
    config: &ModelConfig,
    weights: &Weights,
    data: &[History],
    opts: &TrainOptions,
    mut progress: impl FnMut(&EpochReport),
) -> Result<(Weights, TrainReport), ModelError> {
    config.validate()?;
    if data.is_empty() {
        return Err(ModelError::Request("no series to train on".into()));
    }
    if !(0.0..1.0).contains(&opts.dropout) {
        return Err(ModelError::Request(format!(
            "dropout must be in [0, 1), got {}",
            opts.dropout
        )));
    }
    let store = ParamStore::new(ctx, weights)?;
    let task = task_for(ctx, config, &store, data, opts)?;
    let adam = AdamConfig {
        lr: opts.learning_rate,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: opts.weight_decay,
        max_norm: opts.max_grad_norm,
    };
    let mut rng = SplitMix64::new(opts.seed ^ 0xD1B5_4A32_D192_ED03);
    let validation = task.validation(opts.batch_size);
    let mut report = TrainReport {
        epochs: Vec::new(),
        best_epoch: 0,
        best_val_loss: None,
        skipped_steps: 0,
        stopped_early: false,
    };
    let mut best_weights = weights.clone();
    let mut best_loss = f64::INFINITY;
    let mut since_best = 0;
    let mut step = 0u64;
    for epoch in 1..=opts.epochs {
        let start = std::time::Instant::now();
        let (mut loss_sum, mut loss_n, mut windows, mut skipped, mut norm) =
            (0.0, 0usize, 0usize, 0usize, 0.0);
        for _ in 0..opts.steps_per_epoch {
            let Some(batch) = task.sample(&mut rng, opts.batch_size) else {
                return Err(ModelError::Request("no training window could be sampled: a series needs more than twice the horizon of points (the last horizon is held out for validation)".into()));
            };
            step += 1;
            let (loss, state) = run_step(ctx, task.as_ref(), &store, &batch, Some((&adam, step)))?;
            windows += batch.windows;
            match state {
                Some(s) if s.applied => {
                    loss_sum += loss;
                    loss_n += 1;
                    norm = s.grad_norm as f64;
                }
                _ => {
                    // a NaN/Inf loss or gradient never reaches the weights: the step is skipped
                    skipped += 1;
                    step -= 1;
                }
            }
        }
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        let val_loss = if validation.is_empty() {
            None
        } else {
            let mut total = 0.0;
            for b in &validation {
                total += run_step(ctx, task.as_ref(), &store, b, None)?.0;
            }
            Some(total / validation.len() as f64)
        };
        let train_loss = if loss_n > 0 {
            loss_sum / loss_n as f64
        } else {
            f64::NAN
        };
        let forecast_score = match opts.epoch_score {
            EpochScore::Forecast => held_out_forecast_score(ctx, config, &store, data, opts)?,
            EpochScore::Loss => None,
        };
        let score = forecast_score.or(val_loss).unwrap_or(train_loss);
        let best = score.is_finite() && score < best_loss;
        if best {
            best_loss = score;
            best_weights = store.to_weights(ctx)?;
            report.best_epoch = epoch;
            report.best_val_loss = val_loss;
            since_best = 0;
        } else {
            since_best += 1;
        }
        report.skipped_steps += skipped;
        let e = EpochReport {
            epoch,
            train_loss,
            val_loss,
            forecast_score,
            windows_per_second: windows as f64 / secs,
            skipped_steps: skipped,
            grad_norm: norm,
            best,
        };
        progress(&e);
        report.epochs.push(e);
        if since_best >= opts.patience.max(1) {
            report.stopped_early = epoch < opts.epochs;
            break;
        }
    }
    if !best_loss.is_finite() {
        return Err(ModelError::Request(
            "training diverged: no epoch had a finite loss".into(),
        ));
    }
    Ok((best_weights, report))
}

/// The mean weighted quantile loss of the current weights' forecasts of every series' held-out
/// last horizon (the validation windows), or `None` for a model that does not forecast or data
/// too short to hold a horizon out.
fn held_out_forecast_score(
    ctx: &GpuContext,
    config: &ModelConfig,
    store: &ParamStore,
    data: &[History],
    opts: &TrainOptions,
) -> Result<Option<f64>, ModelError> {
    if !config.model.forecasts() {
        return Ok(None);
    }
    let model = crate::Model::from_parts(ctx, config.clone(), store.to_weights(ctx)?)?;
    let backtest_opts = crate::backtest::BacktestOptions {
        horizon: Some(config.horizon),
        windows: opts.validation_windows.max(1),
        samples: 100,
        seed: opts.seed,
        examples: 0,
    };
    match crate::backtest::backtest(ctx, &model, data, &backtest_opts) {
        Ok(crate::backtest::BacktestReport::Forecast(r)) => {
            Ok(r.model.mean_quantile_loss().filter(|s| s.is_finite()))
        }
        Ok(_) | Err(crate::backtest::BacktestError::NoForecastWindows { .. }) => Ok(None),
        Err(crate::backtest::BacktestError::Model(e)) => Err(e),
        Err(e) => Err(ModelError::Request(format!(
            "scoring the held-out forecasts: {e}"
        ))),
    }
}

/// For gradient checks: the loss and parameter gradient of one training batch (sampled with
/// `opts.seed`), without updating anything. The same seed gives the same batch.
pub fn loss_and_gradient(
    ctx: &GpuContext,
    config: &ModelConfig,
    weights: &Weights,
    data: &[History],
    opts: &TrainOptions,
) -> Result<(f64, Weights), ModelError> {
    let store = ParamStore::new(ctx, weights)?;
    let task = task_for(ctx, config, &store, data, opts)?;
    let batch = task
        .sample(&mut SplitMix64::new(opts.seed), opts.batch_size)
        .ok_or_else(|| ModelError::Request("no training window could be sampled".into()))?;
    let mut rec = seer_gpu::Recorder::new(ctx);
    rec.clear(&store.grads)?;
    task.record(&mut rec, &store, &batch, true)?;
    rec.submit()?;
    let loss = ctx.read(&store.loss)?[0] as f64;
    let flat = ctx.read(&store.grads)?;
    let mut grads = Weights::default();
    for s in &store.slots {
        grads.insert(
            s.name.clone(),
            s.shape.clone(),
            flat[s.offset..s.offset + s.len].to_vec(),
        );
    }
    Ok((loss, grads))
}
