//! DeepAR: teacher-forced pass over the context, then ancestral sampling of paths on the GPU,
//! every step of every path recorded into one submit (docs/models.md).

use seer_core::hash::series_index;
use seer_core::series::impute_locf;
use seer_gpu::ops::{self, Distribution, SampleSpec};
use seer_gpu::{GpuContext, Recorder, Tensor};

use crate::checkpoint::Weights;
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::forecast::{Forecast, summarize_paths};
use crate::layers::{Cell, LinearLayer, RecurrentStack, StackState};
use crate::options::PredictOptions;
use crate::prepare::{Context, History, time_features};

pub(crate) struct DeepArNet {
    rnn: RecurrentStack,
    proj: LinearLayer,
    embedding: Vec<f32>,
    distribution: Distribution,
}

/// The scaled values lags read: the last `max_lag + context` grid points of the history,
/// missing ones carried forward, points before the history's start 0.
fn lag_history(c: &ModelConfig, history: &History, ctxt: &Context) -> Result<Vec<f64>, ModelError> {
    let m = c.max_lag() + c.context_length;
    let imputed = impute_locf(&history.values)
        .ok_or_else(|| ModelError::series(&history.id, "has no observed (finite) value"))?;
    let n = imputed.len();
    let mut out = vec![0.0; m.saturating_sub(n)];
    out.extend(
        imputed[n.saturating_sub(m)..]
            .iter()
            .map(|v| v / ctxt.scale),
    );
    Ok(out)
}

impl DeepArNet {
    pub fn load(ctx: &GpuContext, c: &ModelConfig, w: &Weights) -> Result<Self, ModelError> {
        let embedding = if c.embedding_dim > 0 {
            w.get("embedding.weight")?.to_vec()
        } else {
            Vec::new()
        };
        Ok(DeepArNet {
            rnn: RecurrentStack::load(ctx, w, "rnn.", Cell::Lstm, c.num_layers, false)?,
            proj: LinearLayer::load(ctx, w, "proj")?,
            embedding,
            distribution: c.distribution()?,
        })
    }

    fn embedding_of(&self, c: &ModelConfig, id: &str) -> &[f32] {
        let e = c.embedding_dim;
        let i = series_index(id, c.cardinality, c.series_ids.as_deref());
        &self.embedding[i * e..(i + 1) * e]
    }

    /// Runs the context pass: returns (raw head outputs [B·C, P], final states, lag histories).
    fn encode(
        &self,
        rec: &mut Recorder<'_>,
        c: &ModelConfig,
        histories: &[History],
        contexts: &[Context],
    ) -> Result<(Tensor, StackState, Vec<Vec<f64>>), ModelError> {
        let ctx = rec.ctx();
        let (b, t) = (contexts.len(), c.context_length);
        let width = c.derived_input_size();
        let max_lag = c.max_lag();
        let mut x = Vec::with_capacity(b * t * width);
        let mut lag_hists = Vec::with_capacity(b);
        for (h, ctxt) in histories.iter().zip(contexts) {
            let hist = lag_history(c, h, ctxt)?;
            let emb = self.embedding_of(c, &h.id);
            for i in 0..t {
                let pos = max_lag + i;
                x.extend(c.lags.iter().map(|&l| hist[pos - l] as f32));
                x.extend(time_features(&c.time_features, ctxt.timestamps[i]));
                ctxt.covariate_inputs(c, i as i64, &mut x);
                x.extend_from_slice(emb);
            }
            lag_hists.push(hist);
        }
        let x = ctx.upload(&x, &[b * t, width])?;
        let state = StackState::zeros(ctx, &self.rnn, b)?;
        let out = self.rnn.forward(rec, &x, b, t, None, Some(&state))?;
        let raw = self.proj.forward(rec, &out, b * t)?;
        Ok((raw, state, lag_hists))
    }

    pub fn context_params(
        &self,
        ctx: &GpuContext,
        c: &ModelConfig,
        histories: &[History],
        contexts: &[Context],
    ) -> Result<Vec<Vec<[f64; 3]>>, ModelError> {
        let (b, t) = (contexts.len(), c.context_length);
        if b == 0 {
            return Ok(Vec::new());
        }
        let mut rec = Recorder::new(ctx);
        let (raw, _, _) = self.encode(&mut rec, c, histories, contexts)?;
        let scale: Vec<f32> = contexts.iter().map(|x| x.scale as f32).collect();
        let scale = ctx.upload(&scale, &[b])?;
        let params = ctx.zeros(&[b * t, 3])?;
        let p = self.distribution.raw_params();
        ops::distribution_params(
            &mut rec,
            self.distribution,
            b * t,
            p,
            t,
            &raw,
            &scale,
            &params,
        )?;
        rec.submit()?;
        let v = ctx.read(&params)?;
        Ok(v.chunks(t * 3)
            .map(|s| {
                s.chunks(3)
                    .map(|p| [p[0] as f64, p[1] as f64, p[2] as f64])
                    .collect()
            })
            .collect())
    }

    pub fn forecast(
        &self,
        ctx: &GpuContext,
        c: &ModelConfig,
        histories: &[History],
        contexts: &[Context],
        horizon: usize,
        paths: usize,
        levels: &[f64],
        opts: &PredictOptions,
    ) -> Result<Vec<Forecast>, ModelError> {
        let b = contexts.len();
        if b == 0 {
            return Ok(Vec::new());
        }
        if self.distribution == Distribution::NegativeBinomial
            && let Some(h) = histories.iter().find(|h| h.values.iter().any(|v| *v < 0.0))
        {
            return Err(ModelError::series(
                &h.id,
                "has negative values; a negative_binomial model forecasts counts",
            ));
        }
        let n = b * paths;
        let hidden = self.rnn.hidden;
        let m = c.max_lag() + c.context_length;
        let hist_len = m + horizon;
        let f = c.known_inputs() + c.embedding_dim;
        let width = c.derived_input_size();
        let mut rec = Recorder::new(ctx);
        let (_, state, lag_hists) = self.encode(&mut rec, c, histories, contexts)?;
        // per-path copies of the states and of the lag history
        let mut cur = StackState::zeros(ctx, &self.rnn, n)?;
        let mut next = StackState::zeros(ctx, &self.rnn, n)?;
        for l in 0..self.rnn.num_layers() {
            ops::repeat_rows(&mut rec, b, hidden, paths, &state.h[l], &cur.h[l])?;
            ops::repeat_rows(&mut rec, b, hidden, paths, &state.c[l], &cur.c[l])?;
        }
        let mut hist = Vec::with_capacity(b * hist_len);
        let mut statics = Vec::with_capacity(b * horizon * f);
        for ((h, ctxt), lh) in histories.iter().zip(contexts).zip(&lag_hists) {
            hist.extend(lh.iter().map(|&v| v as f32));
            hist.extend(std::iter::repeat_n(0.0, horizon));
            let emb = self.embedding_of(c, &h.id);
            let future = c.freq.following(ctxt.last_timestamp(), horizon);
            for (k, ts) in future.into_iter().enumerate() {
                statics.extend(time_features(&c.time_features, ts));
                ctxt.covariate_inputs(c, (c.context_length + k) as i64, &mut statics);
                statics.extend_from_slice(emb);
            }
        }
        let hist_series = ctx.upload(&hist, &[b, hist_len])?;
        let history = ctx.zeros(&[n, hist_len])?;
        ops::repeat_rows(&mut rec, b, hist_len, paths, &hist_series, &history)?;
        let statics = ctx.upload(&statics, &[statics.len()])?;
        let lags: Vec<u32> = c.lags.iter().map(|&l| l as u32).collect();
        let lags = ctx.upload_u32(&lags)?;
        let scale: Vec<f32> = contexts.iter().map(|x| x.scale as f32).collect();
        let scale = ctx.upload(&scale, &[b])?;
        let samples = ctx.zeros(&[n, horizon])?;
        let x = ctx.zeros(&[n, width])?;
        for step in 0..horizon {
            ops::assemble_lags(
                &mut rec,
                n,
                paths,
                &lags,
                lags_len(c),
                &history,
                hist_len,
                m + step,
                &statics,
                step,
                horizon,
                f,
                &x,
            )?;
            let out = self
                .rnn
                .forward(&mut rec, &x, n, 1, Some(&cur), Some(&next))?;
            std::mem::swap(&mut cur, &mut next);
            let raw = self.proj.forward(&mut rec, &out, n)?;
            let spec = SampleSpec {
                distribution: self.distribution,
                rows: n,
                paths,
                raw_stride: self.distribution.raw_params(),
                seed: opts.seed,
                step,
                sample_stride: horizon,
                sample_offset: step,
                history_stride: hist_len,
                history_offset: m + step,
            };
            ops::sample_step(&mut rec, &spec, &raw, &scale, &samples, &history)?;
        }
        rec.submit()?;
        let values = ctx.read(&samples)?;
        let mut out = Vec::with_capacity(b);
        for (i, ctxt) in contexts.iter().enumerate() {
            let series_paths: Vec<Vec<f64>> = values
                [i * paths * horizon..(i + 1) * paths * horizon]
                .chunks(horizon)
                .map(|p| p.iter().map(|&v| v as f64).collect())
                .collect();
            let (mean, quantiles) = summarize_paths(&series_paths, horizon, levels);
            let last = ctxt.last_timestamp();
            out.push(Forecast {
                id: ctxt.id.clone(),
                last_observation: last,
                timestamps: c.freq.following(last, horizon),
                mean,
                quantiles,
                samples: opts.return_samples.then_some(series_paths),
            });
        }
        Ok(out)
    }
}

fn lags_len(c: &ModelConfig) -> usize {
    c.lags.len()
}
