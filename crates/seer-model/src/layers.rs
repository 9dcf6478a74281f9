//! Layers on the GPU, holding their weights as device tensors in the layouts the kernels want
//! (W_hh transposed, the two LSTM biases summed) while checkpoints keep PyTorch's layouts.

use seer_gpu::ops::{self, Activation, Conv1dSpec, GemmSpec, RecurrentSpec};
use seer_gpu::{GpuContext, Recorder, Tensor};

use crate::checkpoint::Weights;
use crate::error::ModelError;

fn shape_of(weights: &Weights, name: &str) -> Result<Vec<usize>, ModelError> {
    weights
        .shape(name)
        .map(|s| s.to_vec())
        .ok_or_else(|| ModelError::Tensor {
            name: name.to_string(),
            message: "missing".into(),
        })
}

fn upload(ctx: &GpuContext, weights: &Weights, name: &str) -> Result<Tensor, ModelError> {
    let shape = shape_of(weights, name)?;
    Ok(ctx.upload(weights.get(name)?, &shape)?)
}

/// `nn.Linear`: weight [out, in], bias [out].
pub struct LinearLayer {
    pub w: Tensor,
    pub b: Tensor,
    pub inputs: usize,
    pub outputs: usize,
}

impl LinearLayer {
    pub fn load(ctx: &GpuContext, weights: &Weights, prefix: &str) -> Result<Self, ModelError> {
        let w = upload(ctx, weights, &format!("{prefix}.weight"))?;
        let b = upload(ctx, weights, &format!("{prefix}.bias"))?;
        let (outputs, inputs) = (w.shape()[0], w.shape()[1]);
        Ok(LinearLayer {
            w,
            b,
            inputs,
            outputs,
        })
    }

    /// y [rows, out] = x [rows, in] · Wᵀ + b.
    pub fn forward(
        &self,
        rec: &mut Recorder<'_>,
        x: &Tensor,
        rows: usize,
    ) -> Result<Tensor, ModelError> {
        let y = rec.ctx().scratch(&[rows, self.outputs])?;
        ops::linear(
            rec,
            x,
            rows,
            &self.w,
            Some(&self.b),
            Activation::Identity,
            &y,
        )?;
        Ok(y)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Lstm,
    Elman,
}

impl Cell {
    pub fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Elman => 1,
        }
    }
}

struct Direction {
    w_ih: Tensor,
    bias: Tensor,
    w_hh_t: Tensor,
}

/// `nn.LSTM` / `nn.RNN(tanh)` with `batch_first=True`, any depth, optionally bidirectional.
pub struct RecurrentStack {
    pub cell: Cell,
    pub hidden: usize,
    pub bidirectional: bool,
    layers: Vec<Vec<Direction>>,
}

/// Per-layer final states of a unidirectional stack ([B, H] each; `c` empty for Elman).
pub struct StackState {
    pub h: Vec<Tensor>,
    pub c: Vec<Tensor>,
}

impl StackState {
    pub fn zeros(
        ctx: &GpuContext,
        stack: &RecurrentStack,
        batch: usize,
    ) -> Result<Self, ModelError> {
        let n = stack.layers.len();
        let h = (0..n)
            .map(|_| ctx.zeros(&[batch, stack.hidden]))
            .collect::<Result<Vec<_>, _>>()?;
        let c = if stack.cell == Cell::Lstm {
            (0..n)
                .map(|_| ctx.zeros(&[batch, stack.hidden]))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        Ok(StackState { h, c })
    }
}

fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = values[r * cols + c];
        }
    }
    t
}

impl RecurrentStack {
    pub fn load(
        ctx: &GpuContext,
        weights: &Weights,
        prefix: &str,
        cell: Cell,
        num_layers: usize,
        bidirectional: bool,
    ) -> Result<Self, ModelError> {
        let hh0 = shape_of(weights, &format!("{prefix}weight_hh_l0"))?;
        let hidden = hh0[1];
        let g = cell.gates() * hidden;
        let dirs: &[&str] = if bidirectional {
            &["", "_reverse"]
        } else {
            &[""]
        };
        let mut layers = Vec::new();
        for l in 0..num_layers {
            let mut per_dir = Vec::new();
            for sfx in dirs {
                let w_ih = upload(ctx, weights, &format!("{prefix}weight_ih_l{l}{sfx}"))?;
                let b_ih = weights.get(&format!("{prefix}bias_ih_l{l}{sfx}"))?;
                let b_hh = weights.get(&format!("{prefix}bias_hh_l{l}{sfx}"))?;
                let bias: Vec<f32> = b_ih.iter().zip(b_hh).map(|(a, b)| a + b).collect();
                let w_hh = weights.get(&format!("{prefix}weight_hh_l{l}{sfx}"))?;
                per_dir.push(Direction {
                    w_ih,
                    bias: ctx.upload(&bias, &[g])?,
                    w_hh_t: ctx.upload(&transpose(w_hh, g, hidden), &[hidden, g])?,
                });
            }
            layers.push(per_dir);
        }
        Ok(RecurrentStack {
            cell,
            hidden,
            bidirectional,
            layers,
        })
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    pub fn output_width(&self) -> usize {
        if self.bidirectional {
            2 * self.hidden
        } else {
            self.hidden
        }
    }

    /// Runs the stack over `x` [B·T, in] (batch-first) and returns the top layer's outputs
    /// [B·T, D·H]. `init` are the initial states (zeros when absent); `last` receives each
    /// layer's final states (unidirectional stacks only).
    pub fn forward(
        &self,
        rec: &mut Recorder<'_>,
        x: &Tensor,
        batch: usize,
        steps: usize,
        init: Option<&StackState>,
        last: Option<&StackState>,
    ) -> Result<Tensor, ModelError> {
        self.forward_chunked(rec, x, batch, steps, init, last, None)
    }

    /// `forward` with at most `max_chunk` series per projection (the binding limit decides
    /// when `None`); results do not depend on the chunking.
    pub fn forward_chunked(
        &self,
        rec: &mut Recorder<'_>,
        x: &Tensor,
        batch: usize,
        steps: usize,
        init: Option<&StackState>,
        last: Option<&StackState>,
        max_chunk: Option<usize>,
    ) -> Result<Tensor, ModelError> {
        let ctx = rec.ctx();
        if (init.is_some() || last.is_some()) && self.bidirectional {
            return Err(ModelError::invalid(
                "a bidirectional stack carries no state between calls",
            ));
        }
        let rows = batch * steps;
        let width = self.output_width();
        let g = self.cell.gates() * self.hidden;
        // the zero initial states stand in only when `init` is absent (one row otherwise: each
        // decoding step of a forecast would zero a batch's worth for nothing)
        let zero_rows = if init.is_some() { 1 } else { batch };
        let zero_h = ctx.zeros(&[zero_rows, self.hidden])?;
        // The input projection of a large batch can exceed one storage binding (B=16384, T=168,
        // H=64 is 2.8 GB): project and recur in chunks of series that fit, reusing one buffer.
        let limit = ctx
            .limits
            .max_storage_buffer_binding_size
            .min(ctx.limits.max_buffer_size) as usize;
        let per_series = (steps * g * 4).max(1);
        let tile = (seer_gpu::ops::PAIRS_PER_GROUP / self.hidden).max(1);
        let max_groups = ctx.limits.max_compute_workgroups_per_dimension as usize;
        let chunk = (limit / per_series)
            .min(tile * max_groups)
            .min(max_chunk.unwrap_or(usize::MAX))
            .clamp(1, batch.max(1));
        if limit / per_series == 0 {
            return Err(ModelError::invalid(format!(
                "one series of {steps} steps needs {per_series} bytes of gate pre-activations, over the adapter's {limit}-byte binding limit"
            )));
        }
        let pre = ctx.scratch(&[chunk * steps, g])?;
        let mut input = x.clone();
        for (l, dirs) in self.layers.iter().enumerate() {
            let in_width = input.len() / rows.max(1);
            let out = ctx.scratch(&[rows, width])?;
            for (d, dir) in dirs.iter().enumerate() {
                let h0 = init.map(|s| &s.h[l]).unwrap_or(&zero_h);
                // final states go to `last` when the caller keeps them, else to scratch
                let state_out =
                    |pick: fn(&StackState) -> &Vec<Tensor>| -> Result<Tensor, ModelError> {
                        match last {
                            Some(s) => Ok(pick(s)[l].clone()),
                            None => Ok(ctx.scratch(&[batch, self.hidden])?),
                        }
                    };
                let h_n = &state_out(|s| &s.h)?;
                let c0 = init.map(|s| s.c.get(l)).unwrap_or(Some(&zero_h));
                let c_n = match self.cell {
                    Cell::Lstm => Some(state_out(|s| &s.c)?),
                    Cell::Elman => None,
                };
                let mut first = 0;
                while first < batch {
                    let n = chunk.min(batch - first);
                    let spec = GemmSpec {
                        m: n * steps,
                        n: g,
                        k: in_width,
                        a_row_stride: in_width,
                        a_col_stride: 1,
                        b_row_stride: 1,
                        b_col_stride: in_width,
                        c_row_stride: g,
                        c_offset: 0,
                        activation: Activation::Identity,
                        accumulate: false,
                        a_offset: first * steps * in_width,
                        b_offset: 0,
                        bias_offset: 0,
                        c_col_stride: 1,
                    };
                    ops::gemm(rec, &spec, &input, &dir.w_ih, Some(&dir.bias), &pre)?;
                    let spec = RecurrentSpec {
                        batch: n,
                        steps,
                        hidden: self.hidden,
                        reverse: d == 1,
                        out_stride: width,
                        out_offset: d * self.hidden,
                        series_offset: first,
                    };
                    match (&c_n, c0) {
                        (Some(c_n), Some(c0)) => {
                            ops::lstm_sequence(
                                rec,
                                &spec,
                                &pre,
                                &dir.w_hh_t,
                                h0,
                                c0,
                                &out,
                                h_n,
                                c_n,
                                None,
                            )?;
                        }
                        _ => ops::rnn_sequence(rec, &spec, &pre, &dir.w_hh_t, h0, &out, h_n)?,
                    }
                    first += n;
                }
            }
            input = out;
        }
        Ok(input)
    }
}

struct Block {
    conv1: (Tensor, Tensor),
    conv2: (Tensor, Tensor),
    downsample: Option<(Tensor, Tensor)>,
    in_channels: usize,
    out_channels: usize,
    dilation: usize,
}

/// The TCN's residual blocks (docs/models.md): conv → ReLU → conv → ReLU, + residual, ReLU.
pub struct TcnStack {
    blocks: Vec<Block>,
    kernel: usize,
}

impl TcnStack {
    pub fn load(
        ctx: &GpuContext,
        weights: &Weights,
        prefix: &str,
        input_channels: usize,
        channels: &[usize],
        dilations: &[usize],
        kernel: usize,
    ) -> Result<Self, ModelError> {
        let mut blocks = Vec::new();
        let mut c_in = input_channels;
        for (i, (&c_out, &dilation)) in channels.iter().zip(dilations).enumerate() {
            let pair = |name: &str| -> Result<(Tensor, Tensor), ModelError> {
                Ok((
                    upload(ctx, weights, &format!("{prefix}{i}.{name}.weight"))?,
                    upload(ctx, weights, &format!("{prefix}{i}.{name}.bias"))?,
                ))
            };
            blocks.push(Block {
                conv1: pair("conv1")?,
                conv2: pair("conv2")?,
                downsample: if c_in != c_out {
                    Some(pair("downsample")?)
                } else {
                    None
                },
                in_channels: c_in,
                out_channels: c_out,
                dilation,
            });
            c_in = c_out;
        }
        Ok(TcnStack { blocks, kernel })
    }

    pub fn output_channels(&self) -> usize {
        self.blocks.last().map(|b| b.out_channels).unwrap_or(0)
    }

    /// x [B, C_in, T] → [B, C_out, T].
    pub fn forward(
        &self,
        rec: &mut Recorder<'_>,
        x: &Tensor,
        batch: usize,
        steps: usize,
    ) -> Result<Tensor, ModelError> {
        let ctx = rec.ctx();
        let mut input = x.clone();
        for b in &self.blocks {
            let spec = Conv1dSpec {
                batch,
                in_channels: b.in_channels,
                out_channels: b.out_channels,
                steps,
                kernel: self.kernel,
                dilation: b.dilation,
                relu: true,
            };
            let y1 = ctx.scratch(&[batch, b.out_channels, steps])?;
            ops::conv1d_causal(rec, &spec, &input, &b.conv1.0, &b.conv1.1, None, &y1)?;
            let residual = match &b.downsample {
                Some((w, bias)) => {
                    let r = ctx.scratch(&[batch, b.out_channels, steps])?;
                    let spec1 = Conv1dSpec {
                        kernel: 1,
                        dilation: 1,
                        relu: false,
                        ..spec
                    };
                    ops::conv1d_causal(rec, &spec1, &input, w, bias, None, &r)?;
                    r
                }
                None => input.clone(),
            };
            let y2 = ctx.scratch(&[batch, b.out_channels, steps])?;
            let spec2 = Conv1dSpec {
                in_channels: b.out_channels,
                ..spec
            };
            ops::conv1d_causal(
                rec,
                &spec2,
                &y1,
                &b.conv2.0,
                &b.conv2.1,
                Some(&residual),
                &y2,
            )?;
            input = y2;
        }
        Ok(input)
    }
}
