//! Training of the quantile forecasters (docs/models.md): `lstm` and `rnn` learn one-step-ahead
//! quantiles with teacher forcing over context + horizon steps (many-to-many), `seq2seq` runs
//! its encoder over the context and its decoder, teacher-forced, over the horizon, scoring the
//! decoder's steps only. Loss: pinball over the model's levels, in scaled space.

use seer_core::rng::SplitMix64;
use seer_core::series::impute_locf;
use seer_gpu::ops::{self, Mat};
use seer_gpu::{GpuContext, Recorder};

use crate::config::{ModelConfig, ModelKind};
use crate::covariates;
use crate::error::ModelError;
use crate::layers::Cell;
use crate::prepare::{History, time_features};
use crate::train::head::{Head, Target};
use crate::train::options::TrainOptions;
use crate::train::params::ParamStore;
use crate::train::stack::TrainStack;
use crate::train::task::{Batch, Holdout, Task, batched};

struct Prepared {
    start: i64,
    raw: Vec<f64>,
    imputed: Vec<f64>,
    covariates: Vec<Vec<f32>>,
}

pub(crate) struct QuantileTask {
    config: ModelConfig,
    holdout: Holdout,
    encoder: TrainStack,
    decoder: Option<TrainStack>,
    proj: Head,
    series: Vec<Prepared>,
}

impl QuantileTask {
    pub fn new(
        _ctx: &GpuContext,
        config: &ModelConfig,
        store: &ParamStore,
        data: &[History],
        opts: &TrainOptions,
    ) -> Result<Self, ModelError> {
        let cell = if config.model == ModelKind::Rnn {
            Cell::Elman
        } else {
            Cell::Lstm
        };
        let (mut encoder, mut decoder) = if config.model == ModelKind::Seq2seq {
            (
                TrainStack::new(store, "encoder.", cell, config.num_layers, false)?,
                Some(TrainStack::new(
                    store,
                    "decoder.",
                    cell,
                    config.num_layers,
                    false,
                )?),
            )
        } else {
            (
                TrainStack::new(store, "rnn.", cell, config.num_layers, false)?,
                None,
            )
        };
        encoder.truncate = opts.truncate;
        if let Some(d) = decoder.as_mut() {
            d.truncate = opts.truncate;
        }
        let series = data
            .iter()
            .filter_map(|h| {
                Some(Prepared {
                    start: h.timestamps.first().copied().unwrap_or(0),
                    raw: h.values.clone(),
                    imputed: impute_locf(&h.values)?,
                    covariates: covariates::prepare(config, h, 0),
                })
            })
            .collect::<Vec<_>>();
        if series.is_empty() {
            return Err(ModelError::Request(
                "no series has an observed value".into(),
            ));
        }
        Ok(QuantileTask {
            config: config.clone(),
            holdout: Holdout::new(config.horizon, opts),
            encoder,
            decoder,
            proj: Head::new(store, "proj")?,
            series,
        })
    }

    fn input_width(&self) -> usize {
        1 + self.config.known_inputs()
    }

    /// Steps the stack that is scored runs over: the whole window for lstm/rnn, the decoder's
    /// horizon for seq2seq.
    fn scored_steps(&self) -> usize {
        match self.decoder {
            Some(_) => self.config.horizon,
            None => self.config.context_length + self.config.horizon,
        }
    }

    /// Appends the window whose last target is point `end − 1`. `x` holds the encoder's inputs
    /// then (seq2seq) the decoder's; targets belong to the scored steps; `score_from` skips the
    /// first scored steps (validation scores the held-out horizon only).
    fn push_window(&self, b: &mut Batch, s: usize, end: usize, score_from: usize) -> bool {
        let c = &self.config;
        let p = &self.series[s];
        let (ctx_len, horizon) = (c.context_length, c.horizon);
        // inputs at t0 .. t0 + C + P − 1 predict t0 + 1 .. t0 + C + P
        let t0 = end as i64 - (ctx_len + horizon) as i64 - 1;
        let value = |t: i64| if t >= 0 { p.raw[t as usize] } else { f64::NAN };
        let context: Vec<f64> = (0..ctx_len as i64).map(|i| value(t0 + i)).collect();
        let Some(scale) = seer_core::scaling::mean_scale(&context) else {
            return false;
        };
        let input = |x: &mut Vec<f32>, t: i64| {
            let z = if t >= 0 {
                p.imputed[t as usize]
            } else {
                p.imputed[0]
            };
            x.push((z / scale) as f32);
            x.extend(time_features(
                &c.time_features,
                c.freq.step_saturating(p.start, t + 1),
            ));
            covariates::inputs(c, &p.covariates, t + 1, x);
        };
        let (rows_before, x_before) = (b.target.len(), b.x.len());
        let enc_steps = if self.decoder.is_some() {
            ctx_len
        } else {
            ctx_len + horizon
        };
        let mut x = Vec::new();
        for i in 0..enc_steps as i64 {
            input(&mut x, t0 + i);
        }
        let scored_t0 = if self.decoder.is_some() {
            let t_dec = t0 + ctx_len as i64 - 1;
            for k in 0..horizon as i64 {
                input(&mut x, t_dec + k);
            }
            t_dec
        } else {
            t0
        };
        let mut scored = 0;
        for i in 0..self.scored_steps() {
            let z = value(scored_t0 + i as i64 + 1);
            let observed = z.is_finite() && i >= score_from;
            scored += observed as usize;
            b.target.push(if z.is_finite() { z as f32 } else { 0.0 });
            b.mask.push(observed as u8 as f32);
        }
        if scored == 0 {
            b.target.truncate(rows_before);
            b.mask.truncate(rows_before);
            b.x.truncate(x_before);
            return false;
        }
        b.x.extend(x);
        b.scale.push(scale as f32);
        b.rows += self.scored_steps();
        b.series += 1;
        b.windows += 1;
        true
    }
}

impl Task for QuantileTask {
    fn sample(&self, rng: &mut SplitMix64, size: usize) -> Option<Batch> {
        let horizon = self.config.horizon;
        let usable: Vec<usize> = (0..self.series.len())
            .filter(|&s| {
                let len = self.series[s].raw.len();
                len > self.holdout.held(len) + horizon + 1
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
            let end = horizon + 2 + rng.below(train_len - horizon - 1);
            self.push_window(&mut b, s, end, 0);
        }
        (b.windows > 0).then_some(b)
    }

    fn validation(&self, size: usize) -> Vec<Batch> {
        let horizon = self.config.horizon;
        let skip = self.scored_steps() - horizon;
        let ends = self
            .holdout
            .ends(self.series.iter().map(|p| p.raw.len()), 2 * horizon + 1);
        batched(size, ends.len(), |b, i| {
            let (s, end) = ends[i];
            self.push_window(b, s, end, skip);
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
        let (bsz, width, hidden, q) = (
            batch.series,
            self.input_width(),
            self.encoder.hidden,
            c.quantiles.len(),
        );
        let (ctx_len, horizon) = (c.context_length, c.horizon);
        let enc_steps = if self.decoder.is_some() {
            ctx_len
        } else {
            ctx_len + horizon
        };
        // x holds each window's encoder rows then its decoder rows; split it per stack
        let per_window = batch.x.len() / bsz.max(1);
        let enc_len = enc_steps * width;
        let mut x_enc = Vec::with_capacity(bsz * enc_len);
        let mut x_dec = Vec::new();
        for w in batch.x.chunks(per_window) {
            x_enc.extend_from_slice(&w[..enc_len]);
            x_dec.extend_from_slice(&w[enc_len..]);
        }
        let x_enc = ctx.upload(&x_enc, &[bsz * enc_steps, width])?;
        let enc_tape = self
            .encoder
            .forward(rec, store, &x_enc, bsz, enc_steps, None)?;
        let dec_tape = match &self.decoder {
            Some(dec) => {
                let x_dec = ctx.upload(&x_dec, &[bsz * horizon, width])?;
                Some(dec.forward(
                    rec,
                    store,
                    &x_dec,
                    bsz,
                    horizon,
                    Some((&enc_tape.h_n, &enc_tape.c_n)),
                )?)
            }
            None => None,
        };
        let top = dec_tape.as_ref().unwrap_or(&enc_tape).top();
        let rows = batch.rows;
        let raw = self
            .proj
            .forward(rec, store, Mat::rm(top, 0, rows, hidden))?;
        let observed = batch.mask.iter().filter(|m| **m > 0.0).count().max(1);
        let levels: Vec<f32> = c.quantiles.iter().map(|&l| l as f32).collect();
        let (loss_rows, d_raw) = (ctx.zeros(&[rows])?, ctx.zeros(&[rows, q])?);
        ops::quantile_loss(
            rec,
            rows,
            q,
            self.scored_steps(),
            1.0 / observed as f32,
            &raw,
            &ctx.upload(&levels, &[q])?,
            &ctx.upload(&batch.scale, &[bsz])?,
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
        match (&self.decoder, &dec_tape) {
            (Some(dec), Some(tape)) => {
                let g = dec.backward(rec, store, tape, &d_top, None, false)?;
                let d_enc_top = ctx.zeros(&[bsz * enc_steps, hidden])?;
                self.encoder.backward(
                    rec,
                    store,
                    &enc_tape,
                    &d_enc_top,
                    Some((&g.dh0, &g.dc0)),
                    false,
                )?;
            }
            _ => {
                self.encoder
                    .backward(rec, store, &enc_tape, &d_top, None, false)?;
            }
        }
        Ok(())
    }
}
