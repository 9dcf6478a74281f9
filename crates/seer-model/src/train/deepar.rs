//! DeepAR training as in Salinas et al.: windows of context + prediction length sampled from
//! every series, mean scaling from the context, lagged targets, time features and a learned
//! series embedding as inputs, teacher forcing over the whole window, the likelihood's negative
//! log-likelihood as the loss. Validation: the held-out last `horizon` points of each series.

use std::sync::atomic::{AtomicU64, Ordering};

use seer_core::hash::series_index;
use seer_core::rng::SplitMix64;
use seer_core::series::impute_locf;
use seer_gpu::ops::{self, Distribution, Mat};
use seer_gpu::{GpuContext, Recorder};

use crate::config::ModelConfig;
use crate::covariates;
use crate::error::ModelError;
use crate::layers::Cell;
use crate::prepare::{History, time_features};
use crate::train::head::{Head, Target};
use crate::train::options::TrainOptions;
use crate::train::params::ParamStore;
use crate::train::stack::{Dropout, TrainStack};
use crate::train::task::{Batch, Holdout, Task, batched};

/// Spreads consecutive pass numbers over the seed's bits (2⁶⁴ / φ).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

struct Prepared {
    start: i64,
    raw: Vec<f64>,
    imputed: Vec<f64>,
    index: usize,
    covariates: Vec<Vec<f32>>,
}

pub(crate) struct DeepArTask {
    config: ModelConfig,
    holdout: Holdout,
    stack: TrainStack,
    proj: Head,
    embedding: Option<usize>,
    distribution: Distribution,
    series: Vec<Prepared>,
    window: usize,
    dropout: f32,
    seed: u64,
    /// Training passes so far: each draws its own dropout masks, the same ones on a rerun.
    passes: AtomicU64,
}

impl DeepArTask {
    pub fn new(
        _ctx: &GpuContext,
        config: &ModelConfig,
        store: &ParamStore,
        data: &[History],
        opts: &TrainOptions,
    ) -> Result<Self, ModelError> {
        let distribution = config.distribution()?;
        let mut series = Vec::new();
        for h in data {
            if distribution == Distribution::NegativeBinomial && h.values.iter().any(|v| *v < 0.0) {
                return Err(ModelError::series(
                    &h.id,
                    "has negative values; a negative_binomial model is trained on counts",
                ));
            }
            let Some(imputed) = impute_locf(&h.values) else {
                continue; // nothing observed: nothing to learn from, nothing to score
            };
            series.push(Prepared {
                start: h.timestamps.first().copied().unwrap_or(0),
                raw: h.values.clone(),
                imputed,
                index: series_index(&h.id, config.cardinality, config.series_ids.as_deref()),
                covariates: covariates::prepare(config, h, 0),
            });
        }
        if series.is_empty() {
            return Err(ModelError::Request(
                "no series has an observed value".into(),
            ));
        }
        let mut stack = TrainStack::new(store, "rnn.", Cell::Lstm, config.num_layers, false)?;
        stack.truncate = opts.truncate;
        Ok(DeepArTask {
            config: config.clone(),
            holdout: Holdout::new(config.horizon, opts),
            stack,
            proj: Head::new(store, "proj")?,
            embedding: if config.embedding_dim > 0 {
                Some(store.offset("embedding.weight")?)
            } else {
                None
            },
            distribution,
            series,
            window: config.context_length + config.horizon,
            dropout: opts.dropout,
            seed: opts.seed,
            passes: AtomicU64::new(0),
        })
    }

    fn width(&self) -> usize {
        self.config.derived_input_size()
    }

    /// Appends the window of `s` ending (exclusive) at `end` to the batch; false when its
    /// context holds no observation (no scale) or nothing in it would be scored.
    fn push_window(&self, b: &mut Batch, s: usize, end: usize, score_from: usize) -> bool {
        let c = &self.config;
        let p = &self.series[s];
        let (w, ctx_len) = (self.window, c.context_length);
        let t0 = end as i64 - w as i64;
        let context: Vec<f64> = (0..ctx_len)
            .map(|i| {
                let t = t0 + i as i64;
                if t >= 0 { p.raw[t as usize] } else { f64::NAN }
            })
            .collect();
        let Some(scale) = seer_core::scaling::mean_scale(&context) else {
            return false;
        };
        let mut scored = 0;
        let width = self.width();
        let lag_cols = c.lags.len() + c.known_inputs();
        for i in 0..w {
            let t = t0 + i as i64;
            for &l in &c.lags {
                let src = t - l as i64;
                b.x.push(if src >= 0 {
                    (p.imputed[src as usize] / scale) as f32
                } else {
                    0.0
                });
            }
            b.x.extend(time_features(
                &c.time_features,
                c.freq.step_saturating(p.start, t),
            ));
            covariates::inputs(c, &p.covariates, t, &mut b.x);
            b.x.extend(std::iter::repeat_n(0.0, width - lag_cols));
            let z = if t >= 0 { p.raw[t as usize] } else { f64::NAN };
            let observed = z.is_finite() && i >= score_from;
            scored += observed as usize;
            b.target.push(if z.is_finite() { z as f32 } else { 0.0 });
            b.mask.push(observed as u8 as f32);
            b.index.push(p.index);
        }
        if scored == 0 {
            b.x.truncate(b.x.len() - w * width);
            b.target.truncate(b.target.len() - w);
            b.mask.truncate(b.mask.len() - w);
            b.index.truncate(b.index.len() - w);
            return false;
        }
        b.scale.push(scale as f32);
        b.rows += w;
        b.series += 1;
        b.windows += 1;
        true
    }
}

impl Task for DeepArTask {
    fn sample(&self, rng: &mut SplitMix64, size: usize) -> Option<Batch> {
        let horizon = self.config.horizon;
        // series long enough to keep their held-out part and train before it
        let usable: Vec<usize> = (0..self.series.len())
            .filter(|&s| {
                let len = self.series[s].raw.len();
                len > self.holdout.held(len) + horizon
            })
            .collect();
        if usable.is_empty() {
            return None;
        }
        let mut b = Batch::default();
        let mut attempts = 0;
        while b.windows < size && attempts < size * 20 {
            attempts += 1;
            let s = usable[rng.below(usable.len())];
            let len = self.series[s].raw.len();
            let train_len = len - self.holdout.held(len);
            // the window's prediction range lies inside the training part
            let end = horizon + 1 + rng.below(train_len - horizon);
            self.push_window(&mut b, s, end, 0);
        }
        (b.windows > 0).then_some(b)
    }

    fn validation(&self, size: usize) -> Vec<Batch> {
        let ends = self.holdout.ends(
            self.series.iter().map(|p| p.raw.len()),
            2 * self.config.horizon,
        );
        batched(size, ends.len(), |b, i| {
            let (s, end) = ends[i];
            self.push_window(b, s, end, self.config.context_length);
        })
    }

    fn record(
        &self,
        rec: &mut Recorder<'_>,
        store: &ParamStore,
        batch: &Batch,
        train: bool,
    ) -> Result<(), ModelError> {
        let ctx = rec.ctx();
        let c = &self.config;
        let (rows, width, hidden) = (batch.rows, self.width(), self.stack.hidden);
        let raw_params = self.distribution.raw_params();
        let x = ctx.upload(&batch.x, &[rows, width])?;
        let emb_col = c.lags.len() + c.known_inputs();
        let onehot = match self.embedding {
            Some(offset) => {
                let mut oh = vec![0.0f32; rows * c.cardinality];
                for (r, &i) in batch.index.iter().enumerate() {
                    oh[r * c.cardinality + i] = 1.0;
                }
                let oh = ctx.upload(&oh, &[rows, c.cardinality])?;
                // the embedding columns of every row: onehot · E
                ops::matmul(
                    rec,
                    Mat::rm(&oh, 0, rows, c.cardinality),
                    Mat::rm(&store.params, offset, c.cardinality, c.embedding_dim),
                    None,
                    &x,
                    emb_col,
                    width,
                    false,
                )?;
                Some((oh, offset))
            }
            None => None,
        };
        let dropout = (train && self.dropout > 0.0).then(|| Dropout {
            p: self.dropout,
            seed: self.seed
                ^ self
                    .passes
                    .fetch_add(1, Ordering::Relaxed)
                    .wrapping_mul(GOLDEN),
        });
        let tape = self.stack.forward_with_dropout(
            rec,
            store,
            &x,
            batch.series,
            self.window,
            None,
            dropout,
        )?;
        let top = tape.top();
        let raw = self
            .proj
            .forward(rec, store, Mat::rm(top, 0, rows, hidden))?;
        let observed = batch.mask.iter().filter(|m| **m > 0.0).count().max(1);
        let (loss_rows, d_raw) = (ctx.zeros(&[rows])?, ctx.zeros(&[rows, raw_params])?);
        ops::likelihood_loss(
            rec,
            self.distribution,
            rows,
            raw_params,
            self.window,
            1.0 / observed as f32,
            &raw,
            &ctx.upload(&batch.scale, &[batch.series])?,
            &ctx.upload(&batch.target, &[rows])?,
            &ctx.upload(&batch.mask, &[rows])?,
            &loss_rows,
            &d_raw,
        )?;
        ops::sum_rows(rec, rows, &loss_rows, &store.loss)?;
        if !train {
            return Ok(());
        }
        let d_top = ctx.zeros(&[rows, hidden])?;
        let target = Target {
            tensor: &d_top,
            offset: 0,
            row_stride: hidden,
            col_stride: 1,
        };
        self.proj.backward(
            rec,
            store,
            Mat::rm(top, 0, rows, hidden),
            &d_raw,
            Some(target),
        )?;
        let grads = self
            .stack
            .backward(rec, store, &tape, &d_top, None, onehot.is_some())?;
        if let (Some((oh, offset)), Some(dx)) = (onehot, grads.dx) {
            // dE = onehotᵀ · dx[:, embedding columns]
            let dx_emb = Mat {
                tensor: &dx,
                offset: emb_col,
                rows,
                cols: c.embedding_dim,
                row_stride: width,
                col_stride: 1,
            };
            ops::matmul(
                rec,
                Mat::rm(&oh, 0, rows, c.cardinality).t(),
                dx_emb,
                None,
                &store.grads,
                offset,
                c.embedding_dim,
                false,
            )?;
        }
        Ok(())
    }
}
