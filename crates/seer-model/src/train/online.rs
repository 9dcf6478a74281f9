//! Online fine-tuning: a [`FineTuner`] keeps one model's parameters and AdamW moments on the
//! device between rounds, so each round continues the optimiser where the last one stopped
//! instead of re-initialising it; [`holdout_accuracy`] scores a set of weights on windows it has
//! not trained on, which is how the trainer gates a candidate against the active model.

use seer_core::metrics::{Accuracy, AccuracySummary};
use seer_core::rng::SplitMix64;
use seer_gpu::GpuContext;
use seer_gpu::ops::AdamConfig;

use crate::checkpoint::Weights;
use crate::config::{ModelConfig, ModelKind};
use crate::error::ModelError;
use crate::forecast::Prediction;
use crate::model::Model;
use crate::options::PredictOptions;
use crate::prepare::History;
use crate::train::options::TrainOptions;
use crate::train::params::ParamStore;
use crate::train::{run_step, task_for};

/// What one round of fine-tuning did.
#[derive(Debug, Clone)]
pub struct RoundReport {
    /// Mean loss over the applied steps (NaN when none was applied).
    pub mean_loss: f64,
    pub applied: usize,
    /// Steps whose loss or gradient was not finite: skipped, the weights untouched.
    pub skipped: usize,
    /// The parameters after the round.
    pub weights: Weights,
}

/// One model's parameters and optimiser state, kept on the device across rounds.
pub struct FineTuner {
    config: ModelConfig,
    store: ParamStore,
    adam: AdamConfig,
    /// AdamW's step count (bias correction), continued across rounds.
    step: u64,
    rng: SplitMix64,
}

impl FineTuner {
    /// Starts from `weights`, with AdamW at `opts.learning_rate`, `opts.weight_decay` and
    /// `opts.max_grad_norm`; `opts.seed` seeds the batch sampling.
    pub fn new(
        ctx: &GpuContext,
        config: &ModelConfig,
        weights: &Weights,
        opts: &TrainOptions,
    ) -> Result<Self, ModelError> {
        config.validate()?;
        if matches!(config.model, ModelKind::Classifier | ModelKind::Bilstm) {
            return Err(ModelError::Request(format!(
                "a {} model does not forecast; online fine-tuning scores forecasts",
                config.model.name()
            )));
        }
        Ok(FineTuner {
            config: config.clone(),
            store: ParamStore::new(ctx, weights)?,
            adam: AdamConfig {
                lr: opts.learning_rate,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: opts.weight_decay,
                max_norm: opts.max_grad_norm,
            },
            step: 0,
            rng: SplitMix64::new(opts.seed ^ 0x9E37_79B9_7F4A_7C15),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// AdamW steps taken over all rounds.
    pub fn steps_taken(&self) -> u64 {
        self.step
    }

    /// `steps` AdamW steps on batches of `batch_size` windows sampled from `data` (each history
    /// needs more than twice the horizon of points: the task's sampler keeps the last horizon
    /// out). Clipping and the non-finite skip are those of [`train`](crate::train::train).
    pub fn round(
        &mut self,
        ctx: &GpuContext,
        data: &[History],
        steps: usize,
        batch_size: usize,
    ) -> Result<RoundReport, ModelError> {
        if data.is_empty() {
            return Err(ModelError::Request("no windows to fine-tune on".into()));
        }
        let opts = TrainOptions {
            batch_size,
            ..TrainOptions::default()
        };
        let task = task_for(ctx, &self.config, &self.store, data, &opts)?;
        let (mut loss_sum, mut applied, mut skipped) = (0.0, 0usize, 0usize);
        for _ in 0..steps {
            let Some(batch) = task.sample(&mut self.rng, batch_size) else {
                return Err(ModelError::Request(
                    "no window could be sampled: each needs more than twice the horizon of points"
                        .into(),
                ));
            };
            let (loss, state) = run_step(
                ctx,
                task.as_ref(),
                &self.store,
                &batch,
                Some((&self.adam, self.step + 1)),
            )?;
            match state {
                Some(s) if s.applied => {
                    self.step += 1;
                    loss_sum += loss;
                    applied += 1;
                }
                _ => skipped += 1,
            }
        }
        Ok(RoundReport {
            mean_loss: if applied > 0 {
                loss_sum / applied as f64
            } else {
                f64::NAN
            },
            applied,
            skipped,
            weights: self.store.to_weights(ctx)?,
        })
    }

    /// Puts `weights` back (a discarded candidate, a rollback) and keeps the optimiser's moments.
    pub fn reset_to(&self, ctx: &GpuContext, weights: &Weights) -> Result<(), ModelError> {
        self.store.load(ctx, weights)
    }
}

/// Accuracy of `weights` on `windows`: each window's last `horizon` points are the actuals, the
/// points before them the history the forecast starts from (MASE scaled with `season`). Sample
/// paths are drawn with `seed`, so two models compared on the same windows see the same noise.
pub fn holdout_accuracy(
    ctx: &GpuContext,
    config: &ModelConfig,
    weights: &Weights,
    windows: &[History],
    horizon: usize,
    season: usize,
    seed: u64,
) -> Result<AccuracySummary, ModelError> {
    let model = Model::from_parts(ctx, config.clone(), weights.clone())?;
    let mut histories = Vec::with_capacity(windows.len());
    let mut actuals = Vec::with_capacity(windows.len());
    for w in windows {
        let n = w.values.len();
        if n <= horizon {
            return Err(ModelError::series(
                &w.id,
                format!("holds {n} points; a holdout window needs more than the horizon {horizon}"),
            ));
        }
        histories.push(History::new(
            w.id.clone(),
            w.timestamps[..n - horizon].to_vec(),
            w.values[..n - horizon].to_vec(),
        ));
        actuals.push(&w.values[n - horizon..]);
    }
    let opts = PredictOptions {
        horizon: Some(horizon),
        quantiles: Some(vec![0.1, 0.5, 0.9]),
        num_samples: None,
        return_samples: false,
        seed,
    };
    let mut acc = Accuracy::new();
    for ((p, h), actual) in model
        .predict(ctx, &histories, &opts)?
        .iter()
        .zip(&histories)
        .zip(actuals)
    {
        let Prediction::Forecast(f) = p else {
            return Err(ModelError::Request("the model does not forecast".into()));
        };
        // a non-finite forecast makes the whole candidate unusable: report it as such
        if let Err(e) = acc.add(actual, &f.mean, &f.quantiles, None, &h.values, season) {
            return Err(ModelError::Request(format!("forecast of {}: {e}", h.id)));
        }
    }
    Ok(acc.summary())
}
