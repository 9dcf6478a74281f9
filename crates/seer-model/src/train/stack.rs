//! Training forward and BPTT backward of a recurrent stack (LSTM or Elman, uni- or
//! bidirectional, any depth) over parameters in a `ParamStore`.

use seer_core::rng::SplitMix64;
use seer_gpu::ops::{self, BackwardSpec, Mat, RecurrentSpec};
use seer_gpu::{Recorder, Tensor};

use crate::error::ModelError;
use crate::layers::Cell;
use crate::train::params::ParamStore;

struct Dir {
    w_ih: usize,
    w_hh: usize,
    b_ih: usize,
    b_hh: usize,
}

pub struct TrainStack {
    pub cell: Cell,
    pub hidden: usize,
    pub input: usize,
    pub bidirectional: bool,
    layers: Vec<Vec<Dir>>,
    /// Truncated BPTT length (0: full).
    pub truncate: usize,
}

/// Dropout between the layers of a stack, as `nn.LSTM(dropout=p)`: in training, each output of
/// a layer below the top reaches the next layer zeroed with probability `p`, else scaled by
/// `1 / (1 − p)`, so inference (no dropout) sees the same expected input.
#[derive(Debug, Clone, Copy)]
pub struct Dropout {
    pub p: f32,
    /// Seeds this forward pass's masks: the same seed draws the same masks.
    pub seed: u64,
}

/// What the backward pass needs from a forward pass.
pub struct StackTape {
    pub batch: usize,
    pub steps: usize,
    inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
    saved: Vec<Vec<Tensor>>,
    h0: Vec<Tensor>,
    c0: Vec<Tensor>,
    /// Per layer below the top: the kept (1) / dropped (0) mask applied to its output, when
    /// dropout ran, and the scale of the kept outputs.
    masks: Vec<Option<(Tensor, f32)>>,
    /// Final states per layer (unidirectional stacks).
    pub h_n: Vec<Tensor>,
    pub c_n: Vec<Tensor>,
}

impl StackTape {
    pub fn top(&self) -> &Tensor {
        self.outputs.last().expect("a stack has at least one layer")
    }
}

/// Gradients flowing out of a stack's backward pass.
pub struct StackGrads {
    /// dL/dx of the bottom layer's input [B·T, input], when asked for.
    pub dx: Option<Tensor>,
    /// dL/dh0 and dL/dc0 per layer (unidirectional stacks).
    pub dh0: Vec<Tensor>,
    pub dc0: Vec<Tensor>,
}

impl TrainStack {
    pub fn new(
        store: &ParamStore,
        prefix: &str,
        cell: Cell,
        num_layers: usize,
        bidirectional: bool,
    ) -> Result<Self, ModelError> {
        let hh = store.slot(&format!("{prefix}weight_hh_l0"))?;
        let ih = store.slot(&format!("{prefix}weight_ih_l0"))?;
        let hidden = hh.shape[1];
        let input = ih.shape[1];
        let dirs: &[&str] = if bidirectional {
            &["", "_reverse"]
        } else {
            &[""]
        };
        let mut layers = Vec::new();
        for l in 0..num_layers {
            let mut per = Vec::new();
            for sfx in dirs {
                per.push(Dir {
                    w_ih: store.offset(&format!("{prefix}weight_ih_l{l}{sfx}"))?,
                    w_hh: store.offset(&format!("{prefix}weight_hh_l{l}{sfx}"))?,
                    b_ih: store.offset(&format!("{prefix}bias_ih_l{l}{sfx}"))?,
                    b_hh: store.offset(&format!("{prefix}bias_hh_l{l}{sfx}"))?,
                });
            }
            layers.push(per);
        }
        Ok(TrainStack {
            cell,
            hidden,
            input,
            bidirectional,
            layers,
            truncate: 0,
        })
    }

    fn gates(&self) -> usize {
        self.cell.gates() * self.hidden
    }

    pub fn width(&self) -> usize {
        if self.bidirectional {
            2 * self.hidden
        } else {
            self.hidden
        }
    }

    fn layer_input(&self, l: usize) -> usize {
        if l == 0 { self.input } else { self.width() }
    }

    /// Forward over x [B·T, input]; `init` gives per-layer initial (h, c) (zeros otherwise).
    pub fn forward(
        &self,
        rec: &mut Recorder<'_>,
        store: &ParamStore,
        x: &Tensor,
        batch: usize,
        steps: usize,
        init: Option<(&[Tensor], &[Tensor])>,
    ) -> Result<StackTape, ModelError> {
        self.forward_with_dropout(rec, store, x, batch, steps, init, None)
    }

    /// [`TrainStack::forward`] with dropout between layers (training only).
    #[allow(clippy::too_many_arguments)]
    pub fn forward_with_dropout(
        &self,
        rec: &mut Recorder<'_>,
        store: &ParamStore,
        x: &Tensor,
        batch: usize,
        steps: usize,
        init: Option<(&[Tensor], &[Tensor])>,
        dropout: Option<Dropout>,
    ) -> Result<StackTape, ModelError> {
        let ctx = rec.ctx();
        let (h, g, width, rows) = (self.hidden, self.gates(), self.width(), batch * steps);
        let mut tape = StackTape {
            batch,
            steps,
            inputs: Vec::new(),
            outputs: Vec::new(),
            saved: Vec::new(),
            h0: Vec::new(),
            c0: Vec::new(),
            masks: Vec::new(),
            h_n: Vec::new(),
            c_n: Vec::new(),
        };
        let mut masks = SplitMix64::new(dropout.map_or(0, |d| d.seed) ^ 0xD409_0D7E_5EED_0001);
        let mut input = x.clone();
        for (l, dirs) in self.layers.iter().enumerate() {
            let in_l = self.layer_input(l);
            let out = ctx.zeros(&[rows, width])?;
            let (h0, c0) = match init {
                Some((hs, cs)) => (
                    hs[l].clone(),
                    cs.get(l).cloned().unwrap_or(ctx.zeros(&[batch, h])?),
                ),
                None => (ctx.zeros(&[batch, h])?, ctx.zeros(&[batch, h])?),
            };
            let mut saved_l = Vec::new();
            for (d, dir) in dirs.iter().enumerate() {
                let pre = ctx.zeros(&[rows, g])?;
                ops::matmul(
                    rec,
                    Mat::rm(&input, 0, rows, in_l),
                    Mat::rm(&store.params, dir.w_ih, g, in_l).t(),
                    Some((&store.params, dir.b_ih)),
                    &pre,
                    0,
                    g,
                    false,
                )?;
                ops::add_bias(rec, &pre, rows, g, &store.params, dir.b_hh)?;
                let w_hh_t = ctx.zeros(&[h, g])?;
                ops::transpose(rec, g, h, &store.params, dir.w_hh, &w_hh_t)?;
                let spec = RecurrentSpec {
                    batch,
                    steps,
                    hidden: h,
                    reverse: d == 1,
                    out_stride: width,
                    out_offset: d * h,
                    series_offset: 0,
                };
                let (h_n, c_n) = (ctx.zeros(&[batch, h])?, ctx.zeros(&[batch, h])?);
                match self.cell {
                    Cell::Lstm => {
                        let saved = ctx.zeros(&[rows, 5 * h])?;
                        ops::lstm_sequence(
                            rec,
                            &spec,
                            &pre,
                            &w_hh_t,
                            &h0,
                            &c0,
                            &out,
                            &h_n,
                            &c_n,
                            Some(&saved),
                        )?;
                        saved_l.push(saved);
                    }
                    Cell::Elman => ops::rnn_sequence(rec, &spec, &pre, &w_hh_t, &h0, &out, &h_n)?,
                }
                if !self.bidirectional {
                    tape.h_n.push(h_n);
                    tape.c_n.push(c_n);
                }
            }
            tape.inputs.push(input);
            tape.saved.push(saved_l);
            tape.h0.push(h0);
            tape.c0.push(c0);
            tape.outputs.push(out.clone());
            input = match dropout {
                Some(d) if d.p > 0.0 && l + 1 < self.layers.len() => {
                    let n = rows * width;
                    let keep: Vec<f32> = (0..n)
                        .map(|_| (masks.uniform() >= f64::from(d.p)) as u8 as f32)
                        .collect();
                    let mask = ctx.upload(&keep, &[rows, width])?;
                    let scale = 1.0 / (1.0 - d.p);
                    let dropped = scaled_by_mask(rec, n, &out, &mask, scale)?;
                    tape.masks.push(Some((mask, scale)));
                    dropped
                }
                _ => {
                    tape.masks.push(None);
                    out
                }
            };
        }
        Ok(tape)
    }

    /// BPTT from d_top [B·T, width] (and gradients into the final states, if any), writing
    /// parameter gradients into `store.grads`.
    pub fn backward(
        &self,
        rec: &mut Recorder<'_>,
        store: &ParamStore,
        tape: &StackTape,
        d_top: &Tensor,
        d_final: Option<(&[Tensor], &[Tensor])>,
        want_dx: bool,
    ) -> Result<StackGrads, ModelError> {
        let ctx = rec.ctx();
        let (batch, steps) = (tape.batch, tape.steps);
        let (h, g, width, rows) = (self.hidden, self.gates(), self.width(), batch * steps);
        let ones = ctx.upload(&vec![1.0; rows], &[rows, 1])?;
        let zero_state = ctx.zeros(&[batch, h])?;
        let mut d_out = d_top.clone();
        let mut grads = StackGrads {
            dx: None,
            dh0: vec![zero_state.clone(); self.layers.len()],
            dc0: vec![zero_state.clone(); self.layers.len()],
        };
        for (l, dirs) in self.layers.iter().enumerate().rev() {
            let in_l = self.layer_input(l);
            let input = &tape.inputs[l];
            let need_dx = l > 0 || want_dx;
            let dx = if need_dx {
                Some(ctx.zeros(&[rows, in_l])?)
            } else {
                None
            };
            for (d, dir) in dirs.iter().enumerate() {
                let spec = BackwardSpec {
                    batch,
                    steps,
                    hidden: h,
                    reverse: d == 1,
                    out_stride: width,
                    out_offset: d * h,
                    dout_stride: width,
                    dout_offset: d * h,
                    w_offset: dir.w_hh,
                    truncate: self.truncate,
                };
                let dz = ctx.zeros(&[rows, g])?;
                let (dh0, dc0) = (ctx.zeros(&[batch, h])?, ctx.zeros(&[batch, h])?);
                let (dh_n, dc_n) = match d_final {
                    Some((hs, cs)) if !self.bidirectional => (
                        hs[l].clone(),
                        cs.get(l).cloned().unwrap_or(zero_state.clone()),
                    ),
                    _ => (zero_state.clone(), zero_state.clone()),
                };
                match self.cell {
                    Cell::Lstm => ops::lstm_backward(
                        rec,
                        &spec,
                        &tape.saved[l][d],
                        &tape.c0[l],
                        &store.params,
                        &d_out,
                        &dh_n,
                        &dc_n,
                        &dz,
                        &dh0,
                        &dc0,
                    )?,
                    Cell::Elman => ops::rnn_backward(
                        rec,
                        &spec,
                        &tape.outputs[l],
                        &store.params,
                        &d_out,
                        &dh_n,
                        &dz,
                        &dh0,
                    )?,
                }
                let h_prev = ctx.zeros(&[rows, h])?;
                ops::shift_states(rec, &spec, &tape.outputs[l], &tape.h0[l], &h_prev)?;
                let dz_t = Mat::rm(&dz, 0, rows, g).t();
                // dW_ih = dzᵀ·x, dW_hh = dzᵀ·h_prev, db_ih = db_hh = dzᵀ·1
                ops::matmul(
                    rec,
                    dz_t,
                    Mat::rm(input, 0, rows, in_l),
                    None,
                    &store.grads,
                    dir.w_ih,
                    in_l,
                    false,
                )?;
                ops::matmul(
                    rec,
                    dz_t,
                    Mat::rm(&h_prev, 0, rows, h),
                    None,
                    &store.grads,
                    dir.w_hh,
                    h,
                    false,
                )?;
                ops::matmul(
                    rec,
                    dz_t,
                    Mat::rm(&ones, 0, rows, 1),
                    None,
                    &store.grads,
                    dir.b_ih,
                    1,
                    false,
                )?;
                ops::matmul(
                    rec,
                    dz_t,
                    Mat::rm(&ones, 0, rows, 1),
                    None,
                    &store.grads,
                    dir.b_hh,
                    1,
                    false,
                )?;
                if let Some(dx) = &dx {
                    ops::matmul(
                        rec,
                        Mat::rm(&dz, 0, rows, g),
                        Mat::rm(&store.params, dir.w_ih, g, in_l),
                        None,
                        dx,
                        0,
                        in_l,
                        d == 1,
                    )?;
                }
                if !self.bidirectional {
                    grads.dh0[l] = dh0;
                    grads.dc0[l] = dc0;
                }
            }
            match dx {
                Some(dx) if l > 0 => {
                    d_out = match &tape.masks[l - 1] {
                        Some((mask, scale)) => {
                            scaled_by_mask(rec, rows * width, &dx, mask, *scale)?
                        }
                        None => dx,
                    }
                }
                other => grads.dx = other,
            }
        }
        Ok(grads)
    }
}

/// `x ⊙ keep · scale` over n elements, `keep` holding 1 (kept) or 0 (dropped): dropout's forward,
/// and its backward on the gradient. A masked copy (the ReLU backward's `dy · [y > 0]`, with the
/// mask as `y`) and a scaled add, both kernels the GPU and CPU backends already test.
fn scaled_by_mask(
    rec: &mut Recorder<'_>,
    n: usize,
    x: &Tensor,
    keep: &Tensor,
    scale: f32,
) -> Result<Tensor, ModelError> {
    let ctx = rec.ctx();
    let kept = ctx.zeros(&[n])?;
    ops::relu_backward(rec, n, x, keep, &kept, false)?;
    let out = ctx.zeros(&[n])?;
    ops::axpy(rec, n, scale, &kept, 0, &out, 0)?;
    Ok(out)
}
