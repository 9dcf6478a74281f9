//! A loaded model: config, host weights, device layers, and `predict`.

use std::path::Path;

use seer_core::quantiles::nearest_to_median;
use seer_gpu::GpuContext;

use crate::checkpoint::{self, Weights};
use crate::classifier::ClassifierNet;
use crate::config::{ModelConfig, ModelKind};
use crate::deepar::DeepArNet;
use crate::error::ModelError;
use crate::forecast::{Forecast, Prediction, interpolate_levels};
use crate::gapfill::GapFillNet;
use crate::options::PredictOptions;
use crate::prepare::{self, Context, History};
use crate::quantile::QuantileNet;
use crate::tcn::TcnNet;

/// Longest horizon an autoregressive model may be asked for beyond its configured one.
pub const MAX_HORIZON: usize = 10_000;
/// Most sample paths per series one request may ask for.
pub const MAX_PATHS: usize = 100_000;
/// Series per GPU batch; bounds device memory (DeepAR multiplies it by its paths).
pub const MAX_BATCH_ROWS: usize = 1 << 18;

pub(crate) enum Net {
    Quantile(QuantileNet),
    Tcn(TcnNet),
    DeepAr(DeepArNet),
    GapFill(GapFillNet),
    Classifier(ClassifierNet),
}

pub struct Model {
    pub config: ModelConfig,
    pub weights: Weights,
    net: Net,
    /// `config.seasonal_naive_series`, for a lookup per window.
    seasonal_naive: std::collections::HashSet<String>,
}

impl Model {
    pub fn load(ctx: &GpuContext, dir: &Path) -> Result<Model, ModelError> {
        let (config, weights) = checkpoint::load(dir)?;
        Model::from_parts(ctx, config, weights)
    }

    pub fn from_parts(
        ctx: &GpuContext,
        config: ModelConfig,
        weights: Weights,
    ) -> Result<Model, ModelError> {
        config.validate()?;
        weights.check(&checkpoint::expected_tensors(&config)?)?;
        let net = match config.model {
            ModelKind::Lstm | ModelKind::Rnn | ModelKind::Seq2seq => {
                Net::Quantile(QuantileNet::load(ctx, &config, &weights)?)
            }
            ModelKind::Tcn => Net::Tcn(TcnNet::load(ctx, &config, &weights)?),
            ModelKind::Deepar => Net::DeepAr(DeepArNet::load(ctx, &config, &weights)?),
            ModelKind::Bilstm => Net::GapFill(GapFillNet::load(ctx, &config, &weights)?),
            ModelKind::Classifier => Net::Classifier(ClassifierNet::load(ctx, &config, &weights)?),
        };
        Ok(Model {
            seasonal_naive: config.seasonal_naive_series.iter().cloned().collect(),
            config,
            weights,
            net,
        })
    }

    /// Whether the checkpoint leaves series `id` to the seasonal naive (its backtest lost there).
    pub fn leaves_to_seasonal_naive(&self, id: &str) -> bool {
        self.seasonal_naive.contains(id)
    }

    pub fn kind(&self) -> ModelKind {
        self.config.model
    }

    fn horizon(&self, opts: &PredictOptions) -> Result<usize, ModelError> {
        let h = opts.horizon.unwrap_or(self.config.horizon);
        if h == 0 {
            return Err(ModelError::Request("horizon must be at least 1".into()));
        }
        let max = self.max_horizon();
        if h > max {
            return Err(ModelError::Request(format!(
                "horizon {h} exceeds this {} model's limit of {max}{}",
                self.kind().name(),
                if self.kind() == ModelKind::Tcn {
                    " (a TCN predicts its configured horizon directly)"
                } else if max < MAX_HORIZON {
                    " (it reads a past-observed covariate that many steps late)"
                } else {
                    ""
                }
            )));
        }
        Ok(h)
    }

    /// The longest horizon a forecast may ask of this model.
    pub fn max_horizon(&self) -> usize {
        self.config.horizon_limit().unwrap_or(MAX_HORIZON)
    }

    fn levels(&self, opts: &PredictOptions) -> Vec<f64> {
        match &opts.quantiles {
            Some(q) => q.clone(),
            None if self.kind().emits_quantiles() => self.config.quantiles.clone(),
            None => vec![0.1, 0.5, 0.9],
        }
    }

    /// Contexts of all histories, in order, for forecasts of `horizon` steps.
    pub fn contexts(
        &self,
        histories: &[History],
        horizon: usize,
    ) -> Result<Vec<Context>, ModelError> {
        histories
            .iter()
            .map(|h| prepare::context(h, &self.config, horizon))
            .collect()
    }

    pub fn predict(
        &self,
        ctx: &GpuContext,
        histories: &[History],
        opts: &PredictOptions,
    ) -> Result<Vec<Prediction>, ModelError> {
        if let Some(bad) = opts
            .quantiles
            .iter()
            .flatten()
            .find(|q| !(**q > 0.0 && **q < 1.0))
        {
            return Err(ModelError::Request(format!(
                "quantile {bad} is not strictly between 0 and 1"
            )));
        }
        match &self.net {
            Net::GapFill(net) => return net.fill(ctx, &self.config, histories),
            Net::Classifier(net) => {
                let contexts = self.contexts(histories, 0)?;
                return net.classify(ctx, &self.config, &contexts);
            }
            _ => {}
        }
        if opts.num_samples.is_some() && self.kind() != ModelKind::Deepar {
            return Err(ModelError::Request(format!(
                "a {} model emits quantiles, not sample paths; --samples needs a deepar model",
                self.kind().name()
            )));
        }
        let horizon = self.horizon(opts)?;
        let levels = self.levels(opts);
        for h in histories {
            h.check_covariates(&self.config, horizon)?;
        }
        let contexts = self.contexts(histories, horizon)?;
        let mut out = Vec::with_capacity(contexts.len());
        match &self.net {
            Net::DeepAr(net) => {
                let paths = opts.num_samples.unwrap_or(self.config.num_samples.max(1));
                if paths == 0 || paths > MAX_PATHS {
                    return Err(ModelError::Request(format!(
                        "the number of sample paths must be in 1..={MAX_PATHS}, got {paths}"
                    )));
                }
                let chunk = (MAX_BATCH_ROWS / paths).max(1);
                for (i, part) in contexts.chunks(chunk).enumerate() {
                    let start = i * chunk;
                    let series = &histories[start..start + part.len()];
                    let fcs = net.forecast(
                        ctx,
                        &self.config,
                        series,
                        part,
                        horizon,
                        paths,
                        &levels,
                        opts,
                    )?;
                    out.extend(fcs.into_iter().map(Prediction::Forecast));
                }
            }
            Net::Quantile(_) | Net::Tcn(_) => {
                let model_levels = &self.config.quantiles;
                let median = nearest_to_median(model_levels);
                for part in contexts.chunks(MAX_BATCH_ROWS) {
                    let steps = match &self.net {
                        Net::Quantile(net) => net.forecast(ctx, &self.config, part, horizon)?,
                        Net::Tcn(net) => net.forecast(ctx, &self.config, part, horizon)?,
                        _ => unreachable!("matched above"),
                    };
                    for (c, per_step) in part.iter().zip(steps) {
                        let mut quantiles: Vec<(f64, Vec<f64>)> = levels
                            .iter()
                            .map(|&l| (l, Vec::with_capacity(horizon)))
                            .collect();
                        for values in &per_step {
                            for (q, v) in quantiles.iter_mut().zip(interpolate_levels(
                                model_levels,
                                values,
                                &levels,
                            )?) {
                                q.1.push(v);
                            }
                        }
                        let last = c.last_timestamp();
                        out.push(Prediction::Forecast(Forecast {
                            id: c.id.clone(),
                            last_observation: last,
                            timestamps: self.config.freq.following(last, horizon),
                            mean: per_step.iter().map(|v| v[median]).collect(),
                            quantiles,
                            samples: None,
                        }));
                    }
                }
            }
            Net::GapFill(_) | Net::Classifier(_) => unreachable!("returned above"),
        }
        Ok(out)
    }

    /// DeepAR only: the unscaled distribution parameters at every context step under teacher
    /// forcing ([series][step] of (μ, σ or α, ν)), the quantities training fits.
    pub fn context_params(
        &self,
        ctx: &GpuContext,
        histories: &[History],
    ) -> Result<Vec<Vec<[f64; 3]>>, ModelError> {
        match &self.net {
            Net::DeepAr(net) => {
                let contexts = self.contexts(histories, 0)?;
                net.context_params(ctx, &self.config, histories, &contexts)
            }
            _ => Err(ModelError::Request(format!(
                "a {} model has no likelihood head",
                self.kind().name()
            ))),
        }
    }
}
