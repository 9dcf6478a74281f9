//! The direct (non-autoregressive) models: the TCN forecaster, the BiLSTM gap filler and the
//! window classifier (docs/models.md).

use std::collections::BTreeMap;

use seer_core::scaling::mean_scale;

use seer_gpu::ops::{self, Activation, GemmSpec};
use seer_gpu::{GpuContext, Recorder};

use crate::ModelError;
use crate::checkpoint::Weights;
use crate::config::ModelConfig;
use crate::forecast::{Classification, GapFill, Prediction};
use crate::layers::{Cell, LinearLayer, RecurrentStack, TcnStack};
use crate::prepare::{Context, History};
use crate::quantile::project_rows;

pub(crate) struct TcnNet {
    stack: TcnStack,
    head: LinearLayer,
}

impl TcnNet {
    pub fn load(ctx: &GpuContext, c: &ModelConfig, w: &Weights) -> Result<Self, ModelError> {
        Ok(TcnNet {
            stack: TcnStack::load(
                ctx,
                w,
                "blocks.",
                c.derived_input_size(),
                &c.channels,
                &c.dilations,
                c.kernel_size,
            )?,
            head: LinearLayer::load(ctx, w, "head")?,
        })
    }

    /// Sorted, unscaled quantiles [series][step][level] for the first `horizon` steps.
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
        let (t, q) = (c.context_length, c.quantiles.len());
        let channels = c.derived_input_size();
        // channels-first [B, C, T]: the scaled values, then one row per time feature
        let mut x = Vec::with_capacity(b * channels * t);
        for ctxt in contexts {
            x.extend(ctxt.scaled().into_iter().map(|v| v as f32));
            for feature in &c.time_features {
                x.extend(ctxt.timestamps.iter().map(|&ts| feature.value(ts)));
            }
        }
        let x = ctx.upload(&x, &[b, channels, t])?;
        let mut rec = Recorder::new(ctx);
        let y = self.stack.forward(&mut rec, &x, b, t)?;
        let co = self.stack.output_channels();
        // the head reads the last time step of every channel: y[b, :, T-1]
        let raw = ctx.zeros(&[b, self.head.outputs])?;
        let spec = GemmSpec {
            m: b,
            n: self.head.outputs,
            k: co,
            a_row_stride: co * t,
            a_col_stride: t,
            b_row_stride: 1,
            b_col_stride: co,
            c_row_stride: self.head.outputs,
            c_offset: 0,
            activation: Activation::Identity,
            accumulate: false,
            a_offset: t - 1,
            b_offset: 0,
            bias_offset: 0,
            c_col_stride: 1,
        };
        ops::gemm(&mut rec, &spec, &y, &self.head.w, Some(&self.head.b), &raw)?;
        rec.submit()?;
        let raw = ctx.read(&raw)?;
        Ok(contexts
            .iter()
            .enumerate()
            .map(|(i, ctxt)| {
                let row = &raw[i * self.head.outputs..(i + 1) * self.head.outputs];
                (0..horizon)
                    .map(|h| {
                        let mut v: Vec<f64> =
                            row[h * q..(h + 1) * q].iter().map(|&z| z as f64).collect();
                        v.sort_by(|a, b| a.total_cmp(b));
                        v.into_iter().map(|z| z * ctxt.scale).collect()
                    })
                    .collect()
            })
            .collect())
    }
}

pub(crate) struct GapFillNet {
    rnn: RecurrentStack,
    proj: LinearLayer,
}

impl GapFillNet {
    pub fn load(ctx: &GpuContext, c: &ModelConfig, w: &Weights) -> Result<Self, ModelError> {
        Ok(GapFillNet {
            rnn: RecurrentStack::load(ctx, w, "rnn.", Cell::Lstm, c.num_layers, true)?,
            proj: LinearLayer::load(ctx, w, "proj")?,
        })
    }

    /// Fills the missing points of each series' last `context_length` points. Windows of equal
    /// length share a batch; a bidirectional pass must not see padding.
    pub fn fill(
        &self,
        ctx: &GpuContext,
        c: &ModelConfig,
        histories: &[History],
    ) -> Result<Vec<Prediction>, ModelError> {
        let mut by_len: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut scales = Vec::with_capacity(histories.len());
        for (i, h) in histories.iter().enumerate() {
            let n = h.values.len().min(c.context_length);
            if n == 0 {
                return Err(ModelError::series(&h.id, "has no points"));
            }
            let window = &h.values[h.values.len() - n..];
            let scale = mean_scale(window).ok_or_else(|| {
                ModelError::series(
                    &h.id,
                    format!(
                        "has no observed value in its last {} points",
                        c.context_length
                    ),
                )
            })?;
            scales.push(scale);
            by_len.entry(n).or_default().push(i);
        }
        let mut out: Vec<Option<Prediction>> = vec![None; histories.len()];
        for (t, members) in by_len {
            let b = members.len();
            let mut x = Vec::with_capacity(b * t * 2);
            for &i in &members {
                let h = &histories[i];
                for &v in &h.values[h.values.len() - t..] {
                    let observed = v.is_finite();
                    x.push(if observed {
                        (v / scales[i]) as f32
                    } else {
                        0.0
                    });
                    x.push(observed as u8 as f32);
                }
            }
            let x = ctx.upload(&x, &[b * t, 2])?;
            let mut rec = Recorder::new(ctx);
            let hs = self.rnn.forward(&mut rec, &x, b, t, None, None)?;
            let fills = self.proj.forward(&mut rec, &hs, b * t)?;
            rec.submit()?;
            let fills = ctx.read(&fills)?;
            for (j, &i) in members.iter().enumerate() {
                let h = &histories[i];
                let start = h.values.len() - t;
                let mut values = Vec::with_capacity(t);
                let mut filled = Vec::with_capacity(t);
                for k in 0..t {
                    let v = h.values[start + k];
                    if v.is_finite() {
                        values.push(v);
                        filled.push(false);
                    } else {
                        values.push(fills[j * t + k] as f64 * scales[i]);
                        filled.push(true);
                    }
                }
                out[i] = Some(Prediction::GapFill(GapFill {
                    id: h.id.clone(),
                    timestamps: h.timestamps[start..].to_vec(),
                    values,
                    filled,
                }));
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

pub(crate) struct ClassifierNet {
    rnn: RecurrentStack,
    proj: LinearLayer,
}

impl ClassifierNet {
    pub fn load(ctx: &GpuContext, c: &ModelConfig, w: &Weights) -> Result<Self, ModelError> {
        Ok(ClassifierNet {
            rnn: RecurrentStack::load(ctx, w, "rnn.", Cell::Lstm, c.num_layers, false)?,
            proj: LinearLayer::load(ctx, w, "proj")?,
        })
    }

    pub fn classify(
        &self,
        ctx: &GpuContext,
        c: &ModelConfig,
        contexts: &[Context],
    ) -> Result<Vec<Prediction>, ModelError> {
        let b = contexts.len();
        if b == 0 {
            return Ok(Vec::new());
        }
        let t = c.context_length;
        let k = c.classes.len();
        let x: Vec<f32> = contexts
            .iter()
            .flat_map(|x| x.scaled())
            .map(|v| v as f32)
            .collect();
        let x = ctx.upload(&x, &[b * t, 1])?;
        let mut rec = Recorder::new(ctx);
        let hs = self.rnn.forward(&mut rec, &x, b, t, None, None)?;
        let h = self.rnn.hidden;
        let logits = project_rows(&mut rec, &self.proj, &hs, b, t * h, (t - 1) * h)?;
        let probs = ctx.zeros(&[b, k])?;
        ops::softmax(&mut rec, b, k, &logits, &probs)?;
        rec.submit()?;
        let probs = ctx.read(&probs)?;
        Ok(contexts
            .iter()
            .enumerate()
            .map(|(i, x)| {
                Prediction::Classification(Classification {
                    id: x.id.clone(),
                    probabilities: c
                        .classes
                        .iter()
                        .cloned()
                        .zip(probs[i * k..(i + 1) * k].iter().map(|&p| p as f64))
                        .collect(),
                })
            })
            .collect())
    }
}
