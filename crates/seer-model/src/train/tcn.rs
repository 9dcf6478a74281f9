//! TCN training: windows of `context_length` inputs followed by `horizon` targets, mean scaling
//! from the context and LOCF-imputed inputs exactly as inference builds them (docs/models.md,
//! `tcn`), the pinball loss of the direct multi-horizon head. Forward keeps every block's
//! activations; backward runs through the head, each block's ReLUs, both convolutions and the
//! residual path (the 1×1 downsample, or the identity). Validation: the held-out last `horizon`
//! points of each series.

use seer_core::rng::SplitMix64;
use seer_core::scaling::mean_scale;
use seer_core::series::impute_locf;
use seer_gpu::ops::{self, Conv1dSpec, Mat};
use seer_gpu::{GpuContext, Recorder, Tensor};

use crate::config::ModelConfig;
use crate::covariates;
use crate::error::ModelError;
use crate::prepare::History;
use crate::tcn::push_covariate_rows;
use crate::train::head::{Head, Target};
use crate::train::options::TrainOptions;
use crate::train::params::{ParamStore, Slot};
use crate::train::task::{Batch, Holdout, Task, batched};

struct Prepared {
    start: i64,
    raw: Vec<f64>,
    imputed: Vec<f64>,
    covariates: Vec<Vec<f32>>,
}

/// A parameter tensor's place in the flat store.
#[derive(Clone, Copy)]
struct At {
    offset: usize,
    len: usize,
}

impl From<&Slot> for At {
    fn from(s: &Slot) -> Self {
        At {
            offset: s.offset,
            len: s.len,
        }
    }
}

struct BlockParams {
    conv1: (At, At),
    conv2: (At, At),
    downsample: Option<(At, At)>,
    in_channels: usize,
    out_channels: usize,
    dilation: usize,
}

/// What one block's backward needs from its forward.
struct BlockTape {
    input: Tensor,
    /// relu(conv1(input))
    y1: Tensor,
    /// relu(conv2(y1)), before the residual
    z2: Tensor,
    /// relu(z2 + residual), the block's output
    out: Tensor,
}

pub(crate) struct TcnTask {
    config: ModelConfig,
    holdout: Holdout,
    blocks: Vec<BlockParams>,
    head: Head,
    series: Vec<Prepared>,
}

impl TcnTask {
    pub fn new(
        _ctx: &GpuContext,
        config: &ModelConfig,
        store: &ParamStore,
        data: &[History],
        opts: &TrainOptions,
    ) -> Result<Self, ModelError> {
        let mut series = Vec::new();
        for h in data {
            let Some(imputed) = impute_locf(&h.values) else {
                continue; // nothing observed: nothing to learn from, nothing to score
            };
            series.push(Prepared {
                start: h.timestamps.first().copied().unwrap_or(0),
                raw: h.values.clone(),
                imputed,
                covariates: covariates::prepare(config, h, 0),
            });
        }
        if series.is_empty() {
            return Err(ModelError::Request(
                "no series has an observed value".into(),
            ));
        }
        let pair = |i: usize, name: &str| -> Result<(At, At), ModelError> {
            Ok((
                store.slot(&format!("blocks.{i}.{name}.weight"))?.into(),
                store.slot(&format!("blocks.{i}.{name}.bias"))?.into(),
            ))
        };
        let mut blocks = Vec::new();
        let mut c_in = config.derived_input_size();
        for (i, (&c_out, &dilation)) in config.channels.iter().zip(&config.dilations).enumerate() {
            blocks.push(BlockParams {
                conv1: pair(i, "conv1")?,
                conv2: pair(i, "conv2")?,
                downsample: if c_in != c_out {
                    Some(pair(i, "downsample")?)
                } else {
                    None
                },
                in_channels: c_in,
                out_channels: c_out,
                dilation,
            });
            c_in = c_out;
        }
        Ok(TcnTask {
            config: config.clone(),
            holdout: Holdout::new(config.horizon, opts),
            blocks,
            head: Head::new(store, "head")?,
            series,
        })
    }

    fn channels(&self) -> usize {
        self.config.derived_input_size()
    }

    fn out_channels(&self) -> usize {
        self.blocks.last().map(|b| b.out_channels).unwrap_or(0)
    }

    /// Appends the window of `s` whose targets end (exclusive) at `end` to the batch; false when
    /// its context holds no observation (no scale) or no target is observed.
    fn push_window(&self, b: &mut Batch, s: usize, end: usize) -> bool {
        let c = &self.config;
        let p = &self.series[s];
        let (t_len, horizon) = (c.context_length, c.horizon);
        let t0 = end as i64 - (t_len + horizon) as i64;
        let at = |t: i64| if t >= 0 { p.raw[t as usize] } else { f64::NAN };
        let context: Vec<f64> = (0..t_len as i64).map(|i| at(t0 + i)).collect();
        let Some(scale) = mean_scale(&context) else {
            return false;
        };
        let targets: Vec<f64> = (0..horizon as i64)
            .map(|h| at(t0 + (t_len + h as usize) as i64))
            .collect();
        if !targets.iter().any(|z| z.is_finite()) {
            return false;
        }
        // channels-first [C, T]: the imputed scaled values (front padding takes the first
        // observed value, as inference pads), then one row per time feature
        b.x.extend((0..t_len as i64).map(|i| {
            let t = t0 + i;
            let v = if t >= 0 {
                p.imputed[t as usize]
            } else {
                p.imputed[0]
            };
            (v / scale) as f32
        }));
        for feature in &c.time_features {
            b.x.extend(
                (0..t_len as i64).map(|i| feature.value(c.freq.step_saturating(p.start, t0 + i))),
            );
        }
        // a TCN reads its context only, so covariates ride `horizon` steps ahead: a known-future
        // one's row holds the steps it forecasts at the context's last positions
        push_covariate_rows(c, t_len, &mut b.x, |t, out| {
            covariates::inputs(c, &p.covariates, t0 + t + c.horizon as i64, out)
        });
        for z in targets {
            b.target.push(if z.is_finite() { z as f32 } else { 0.0 });
            b.mask.push(z.is_finite() as u8 as f32);
        }
        b.scale.push(scale as f32);
        b.rows += horizon;
        b.series += 1;
        b.windows += 1;
        true
    }

    /// A copy of a parameter tensor out of the flat store (the forward conv has no offsets).
    fn copy_param(
        rec: &mut Recorder<'_>,
        store: &ParamStore,
        at: At,
    ) -> Result<Tensor, ModelError> {
        let t = rec.ctx().zeros(&[at.len])?;
        rec.copy_elements(&store.params, at.offset, &t, 0, at.len)?;
        Ok(t)
    }

    fn spec(&self, b: &BlockParams, batch: usize) -> Conv1dSpec {
        Conv1dSpec {
            batch,
            in_channels: b.in_channels,
            out_channels: b.out_channels,
            steps: self.config.context_length,
            kernel: self.config.kernel_size,
            dilation: b.dilation,
            relu: true,
        }
    }

    fn forward(
        &self,
        rec: &mut Recorder<'_>,
        store: &ParamStore,
        x: &Tensor,
        batch: usize,
    ) -> Result<Vec<BlockTape>, ModelError> {
        let ctx = rec.ctx();
        let steps = self.config.context_length;
        let mut tapes: Vec<BlockTape> = Vec::with_capacity(self.blocks.len());
        let mut input = x.clone();
        for b in &self.blocks {
            let spec = self.spec(b, batch);
            let n = batch * b.out_channels * steps;
            let (w1, b1) = (
                Self::copy_param(rec, store, b.conv1.0)?,
                Self::copy_param(rec, store, b.conv1.1)?,
            );
            let y1 = ctx.zeros(&[batch, b.out_channels, steps])?;
            ops::conv1d_causal(rec, &spec, &input, &w1, &b1, None, &y1)?;
            let residual = match b.downsample {
                Some((w, bias)) => {
                    let (w, bias) = (
                        Self::copy_param(rec, store, w)?,
                        Self::copy_param(rec, store, bias)?,
                    );
                    let r = ctx.zeros(&[batch, b.out_channels, steps])?;
                    let spec1 = Conv1dSpec {
                        kernel: 1,
                        dilation: 1,
                        relu: false,
                        ..spec
                    };
                    ops::conv1d_causal(rec, &spec1, &input, &w, &bias, None, &r)?;
                    r
                }
                None => input.clone(),
            };
            let (w2, b2) = (
                Self::copy_param(rec, store, b.conv2.0)?,
                Self::copy_param(rec, store, b.conv2.1)?,
            );
            let spec2 = Conv1dSpec {
                in_channels: b.out_channels,
                ..spec
            };
            // the inference kernel fuses the residual; training keeps relu(conv2) apart so
            // backward can undo both ReLUs
            let z2 = ctx.zeros(&[batch, b.out_channels, steps])?;
            ops::conv1d_causal(rec, &spec2, &y1, &w2, &b2, None, &z2)?;
            let out = ctx.zeros(&[batch, b.out_channels, steps])?;
            ops::add_relu(rec, n, &z2, &residual, &out)?;
            tapes.push(BlockTape {
                input,
                y1,
                z2,
                out: out.clone(),
            });
            input = out;
        }
        Ok(tapes)
    }
}

impl Task for TcnTask {
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
            // the targets lie inside the training part, with at least one context point
            let end = horizon + 1 + rng.below(train_len - horizon);
            self.push_window(&mut b, s, end);
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
            self.push_window(b, s, end);
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
        let (bsz, steps, horizon) = (batch.series, c.context_length, c.horizon);
        let q = c.quantiles.len();
        let outputs = horizon * q;
        let co = self.out_channels();
        let x = ctx.upload(&batch.x, &[bsz, self.channels(), steps])?;
        let tapes = self.forward(rec, store, &x, bsz)?;
        let top = &tapes.last().expect("a tcn has at least one block").out;
        // head: raw [B, H·Q] = top[b, :, T−1] · Wᵀ + bias
        let last_step = Mat {
            tensor: top,
            offset: steps - 1,
            rows: bsz,
            cols: co,
            row_stride: co * steps,
            col_stride: steps,
        };
        let raw = self.head.forward(rec, store, last_step)?;
        let rows = bsz * horizon;
        let observed = batch.mask.iter().filter(|m| **m > 0.0).count().max(1);
        let levels: Vec<f32> = c.quantiles.iter().map(|&l| l as f32).collect();
        let (loss_rows, d_raw) = (ctx.zeros(&[rows])?, ctx.zeros(&[bsz, outputs])?);
        ops::quantile_loss(
            rec,
            rows,
            q,
            horizon,
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
        // the head's input gradient goes into time step T−1 of the top block's output gradient
        let mut d_out = ctx.zeros(&[bsz, co, steps])?;
        let target = Target {
            tensor: &d_out,
            offset: steps - 1,
            row_stride: co * steps,
            col_stride: steps,
        };
        self.head
            .backward(rec, store, last_step, &d_raw, Some(target))?;
        for (i, (b, tape)) in self.blocks.iter().zip(&tapes).enumerate().rev() {
            let spec = self.spec(b, bsz);
            let n = bsz * b.out_channels * steps;
            let n_in = bsz * b.in_channels * steps;
            let need_dx = i > 0;
            // through the closing ReLU: gradient of z2 + residual
            let d_sum = ctx.zeros(&[bsz, b.out_channels, steps])?;
            ops::relu_backward(rec, n, &d_out, &tape.out, &d_sum, false)?;
            // conv2's ReLU, weights and input
            let d_z2 = ctx.zeros(&[bsz, b.out_channels, steps])?;
            ops::relu_backward(rec, n, &d_sum, &tape.z2, &d_z2, false)?;
            let spec2 = Conv1dSpec {
                in_channels: b.out_channels,
                ..spec
            };
            ops::conv1d_backward_weight(
                rec,
                &spec2,
                &d_z2,
                &tape.y1,
                &store.grads,
                b.conv2.0.offset,
                b.conv2.1.offset,
            )?;
            let d_y1 = ctx.zeros(&[bsz, b.out_channels, steps])?;
            ops::conv1d_backward_input(
                rec,
                &spec2,
                &d_z2,
                &store.params,
                b.conv2.0.offset,
                &d_y1,
                false,
            )?;
            // conv1's ReLU, weights and input
            let d_a1 = ctx.zeros(&[bsz, b.out_channels, steps])?;
            ops::relu_backward(rec, n, &d_y1, &tape.y1, &d_a1, false)?;
            ops::conv1d_backward_weight(
                rec,
                &spec,
                &d_a1,
                &tape.input,
                &store.grads,
                b.conv1.0.offset,
                b.conv1.1.offset,
            )?;
            let d_in = if need_dx {
                let d_in = ctx.zeros(&[bsz, b.in_channels, steps])?;
                ops::conv1d_backward_input(
                    rec,
                    &spec,
                    &d_a1,
                    &store.params,
                    b.conv1.0.offset,
                    &d_in,
                    false,
                )?;
                Some(d_in)
            } else {
                None
            };
            // the residual path
            match b.downsample {
                Some((w, bias)) => {
                    let spec1 = Conv1dSpec {
                        kernel: 1,
                        dilation: 1,
                        relu: false,
                        ..spec
                    };
                    ops::conv1d_backward_weight(
                        rec,
                        &spec1,
                        &d_sum,
                        &tape.input,
                        &store.grads,
                        w.offset,
                        bias.offset,
                    )?;
                    if let Some(d_in) = &d_in {
                        ops::conv1d_backward_input(
                            rec,
                            &spec1,
                            &d_sum,
                            &store.params,
                            w.offset,
                            d_in,
                            true,
                        )?;
                    }
                }
                None => {
                    if let Some(d_in) = &d_in {
                        ops::accumulate(rec, n_in, &d_sum, d_in)?;
                    }
                }
            }
            if let Some(d_in) = d_in {
                d_out = d_in;
            }
        }
        Ok(())
    }
}
