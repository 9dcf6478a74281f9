//! The TCN forecaster: a causal dilated convolution stack whose last time step feeds one linear
//! head that emits every step's quantiles at once (direct, not autoregressive; docs/models.md).

use seer_gpu::ops::{self, Activation, GemmSpec};
use seer_gpu::{GpuContext, Recorder};

use crate::checkpoint::Weights;
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::layers::{LinearLayer, TcnStack};
use crate::prepare::Context;

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
            push_covariate_rows(c, t, &mut x, |i, out| {
                ctxt.covariate_inputs(c, i + c.horizon as i64, out)
            });
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

/// Appends one channels-first row per covariate over `t_len` positions, from `inputs(position,
/// out)`, which appends every covariate's value at that position.
pub(crate) fn push_covariate_rows(
    c: &ModelConfig,
    t_len: usize,
    x: &mut Vec<f32>,
    inputs: impl Fn(i64, &mut Vec<f32>),
) {
    let n = c.covariates.len();
    if n == 0 {
        return;
    }
    let mut steps = Vec::with_capacity(t_len * n);
    for i in 0..t_len as i64 {
        inputs(i, &mut steps);
    }
    for j in 0..n {
        x.extend(steps.iter().skip(j).step_by(n));
    }
}
