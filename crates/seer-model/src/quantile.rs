//! `lstm`, `rnn` and `seq2seq`: quantile forecasters decoded autoregressively on the GPU, the
//! whole horizon recorded into one submit (docs/models.md).

use seer_core::quantiles::nearest_to_median;
use seer_gpu::ops::{self, Activation, GemmSpec};
use seer_gpu::{GpuContext, Recorder, Tensor};

use crate::checkpoint::Weights;
use crate::config::{ModelConfig, ModelKind};
use crate::error::ModelError;
use crate::layers::{Cell, LinearLayer, RecurrentStack, StackState};
use crate::prepare::{Context, time_features};

pub(crate) struct QuantileNet {
    encoder: RecurrentStack,
    decoder: Option<RecurrentStack>,
    proj: LinearLayer,
}

/// proj applied to rows of `x` that sit `row_stride` apart starting at `offset` (e.g. the last
/// timestep of every series in a [B, T, H] output).
pub(crate) fn project_rows(
    rec: &mut Recorder<'_>,
    proj: &LinearLayer,
    x: &Tensor,
    rows: usize,
    row_stride: usize,
    offset: usize,
) -> Result<Tensor, ModelError> {
    let y = rec.ctx().zeros(&[rows, proj.outputs])?;
    let spec = GemmSpec {
        m: rows,
        n: proj.outputs,
        k: proj.inputs,
        a_row_stride: row_stride,
        a_col_stride: 1,
        b_row_stride: 1,
        b_col_stride: proj.inputs,
        c_row_stride: proj.outputs,
        c_offset: 0,
        activation: Activation::Identity,
        accumulate: false,
        a_offset: offset,
        b_offset: 0,
        bias_offset: 0,
        c_col_stride: 1,
    };
    ops::gemm(rec, &spec, x, &proj.w, Some(&proj.b), &y)?;
    Ok(y)
}

impl QuantileNet {
    pub fn load(ctx: &GpuContext, c: &ModelConfig, w: &Weights) -> Result<Self, ModelError> {
        let cell = if c.model == ModelKind::Rnn {
            Cell::Elman
        } else {
            Cell::Lstm
        };
        let (encoder, decoder) = if c.model == ModelKind::Seq2seq {
            (
                RecurrentStack::load(ctx, w, "encoder.", cell, c.num_layers, false)?,
                Some(RecurrentStack::load(
                    ctx,
                    w,
                    "decoder.",
                    cell,
                    c.num_layers,
                    false,
                )?),
            )
        } else {
            (
                RecurrentStack::load(ctx, w, "rnn.", cell, c.num_layers, false)?,
                None,
            )
        };
        Ok(QuantileNet {
            encoder,
            decoder,
            proj: LinearLayer::load(ctx, w, "proj")?,
        })
    }

    /// Sorted, unscaled quantiles [series][step][level] at the model's own levels.
    pub fn forecast(
        &self,
        ctx: &GpuContext,
        c: &ModelConfig,
        contexts: &[Context],
        horizon: usize,
    ) -> Result<Vec<Vec<Vec<f64>>>, ModelError> {
        let b = contexts.len();
        if b == 0 {
            return Ok(Vec::new());
        }
        let (t, f, q) = (c.context_length, c.known_inputs(), c.quantiles.len());
        let width = 1 + f;
        let mut x = Vec::with_capacity(b * t * width);
        let mut aux = Vec::with_capacity(b + b * horizon * f);
        for ctxt in contexts {
            aux.push(ctxt.scale as f32);
        }
        for ctxt in contexts {
            for (i, z) in ctxt.scaled().into_iter().enumerate() {
                x.push(z as f32);
                x.extend(time_features(
                    &c.time_features,
                    c.freq.step_saturating(ctxt.timestamps[i], 1),
                ));
                ctxt.covariate_inputs(c, i as i64 + 1, &mut x);
            }
        }
        for ctxt in contexts {
            let last = ctxt.last_timestamp();
            for k in 0..horizon {
                aux.extend(time_features(
                    &c.time_features,
                    c.freq.step_saturating(last, k as i64 + 1),
                ));
                ctxt.covariate_inputs(c, (t + k) as i64, &mut aux);
            }
        }
        let x = ctx.upload(&x, &[b * t, width])?;
        let aux = ctx.upload(&aux, &[aux.len()])?;
        let forecasts = ctx.zeros(&[b, horizon, q])?;
        let median = nearest_to_median(&c.quantiles);
        let mut rec = Recorder::new(ctx);
        let mut state = StackState::zeros(ctx, &self.encoder, b)?;
        let mut spare = StackState::zeros(ctx, &self.encoder, b)?;
        let out = self
            .encoder
            .forward(&mut rec, &x, b, t, None, Some(&state))?;
        let next_input = ctx.zeros(&[b, width])?;
        let h = self.encoder.hidden;
        let feedback = |rec: &mut Recorder<'_>, raw: &Tensor, step: usize| {
            ops::quantile_feedback(
                rec,
                b,
                q,
                median,
                step,
                horizon,
                f,
                raw,
                &aux,
                &forecasts,
                &next_input,
            )
        };
        let (stack, first_step) = match &self.decoder {
            None => {
                // the encoder's last output already predicts the first step
                let raw = project_rows(&mut rec, &self.proj, &out, b, t * h, (t - 1) * h)?;
                feedback(&mut rec, &raw, 0)?;
                (&self.encoder, 1)
            }
            Some(decoder) => {
                // the decoder's first input is the last context step's: [z̃_T, tf(T+1)]
                let mut first_input = Vec::with_capacity(b * width);
                for ctxt in contexts {
                    first_input.push((ctxt.imputed[t - 1] / ctxt.scale) as f32);
                    first_input.extend(time_features(
                        &c.time_features,
                        c.freq.step_saturating(ctxt.last_timestamp(), 1),
                    ));
                    ctxt.covariate_inputs(c, t as i64, &mut first_input);
                }
                let first = ctx.upload(&first_input, &[b, width])?;
                rec.copy_elements(&first, 0, &next_input, 0, b * width)?;
                (decoder, 0)
            }
        };
        for step in first_step..horizon {
            let out = stack.forward(&mut rec, &next_input, b, 1, Some(&state), Some(&spare))?;
            std::mem::swap(&mut state, &mut spare);
            let raw = self.proj.forward(&mut rec, &out, b)?;
            feedback(&mut rec, &raw, step)?;
        }
        rec.submit()?;
        let values = ctx.read(&forecasts)?;
        Ok(values
            .chunks(horizon * q)
            .map(|series| {
                series
                    .chunks(q)
                    .map(|s| s.iter().map(|&v| v as f64).collect())
                    .collect()
            })
            .collect())
    }
}
