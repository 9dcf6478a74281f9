//! f64 CPU references of every kernel: the yardstick the GPU is tested against, written for
//! clarity, not speed. They take the same layouts and flags as the `ops` wrappers.

mod conv_backward;
mod elementwise;
mod loss;
mod optim;
mod random;
mod recurrent_backward;

pub use conv_backward::{conv1d_backward_input, conv1d_backward_weight};
pub use elementwise::{add_relu, axpy, relu_backward, transpose};
pub use loss::{
    digamma, lgamma, likelihood_loss, likelihood_nll, mse_loss, quantile_loss,
    softmax_cross_entropy, sum_rows,
};
pub use optim::{adam_step, clip_and_adam, clip_scale, sum_squares_partial};
pub use random::{Philox, sample_row};
pub use recurrent_backward::{lstm_backward, lstm_forward_saved, rnn_backward, shift_states};

use crate::ops::{Activation, Conv1dSpec, Distribution, GemmSpec, RecurrentSpec};

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

pub fn gemm(spec: &GemmSpec, a: &[f64], b: &[f64], bias: Option<&[f64]>, c: &mut [f64]) {
    for m in 0..spec.m {
        for n in 0..spec.n {
            let mut acc = 0.0;
            for k in 0..spec.k {
                acc += a[spec.a_offset + m * spec.a_row_stride + k * spec.a_col_stride]
                    * b[spec.b_offset + k * spec.b_row_stride + n * spec.b_col_stride];
            }
            let idx = spec.c_offset + m * spec.c_row_stride + n * spec.c_col_stride.max(1);
            if spec.accumulate {
                acc += c[idx];
            }
            if let Some(bias) = bias {
                acc += bias[spec.bias_offset + n];
            }
            if spec.activation == Activation::Relu {
                acc = acc.max(0.0);
            }
            c[idx] = acc;
        }
    }
}

/// Returns (h_n, c_n) of the chunk's series; writes `out` as the kernel does.
pub fn lstm_sequence(
    spec: &RecurrentSpec,
    gates_x: &[f64],
    w_hh_t: &[f64],
    h0: &[f64],
    c0: &[f64],
    out: &mut [f64],
) -> (Vec<f64>, Vec<f64>) {
    let (bsz, steps, h) = (spec.batch, spec.steps, spec.hidden);
    let g = 4 * h;
    let first = spec.series_offset * h;
    let mut hs = h0[first..first + bsz * h].to_vec();
    let mut cs = c0[first..first + bsz * h].to_vec();
    for b in 0..bsz {
        let bg = spec.series_offset + b;
        for step in 0..steps {
            let t = if spec.reverse { steps - 1 - step } else { step };
            let prev = hs[b * h..(b + 1) * h].to_vec();
            for u in 0..h {
                let gx = (b * steps + t) * g;
                let mut z = [
                    gates_x[gx + u],
                    gates_x[gx + h + u],
                    gates_x[gx + 2 * h + u],
                    gates_x[gx + 3 * h + u],
                ];
                for (j, hj) in prev.iter().enumerate() {
                    for (gate, zg) in z.iter_mut().enumerate() {
                        *zg += w_hh_t[j * g + gate * h + u] * hj;
                    }
                }
                let c = sigmoid(z[1]) * cs[b * h + u] + sigmoid(z[0]) * z[2].tanh();
                cs[b * h + u] = c;
                let hv = sigmoid(z[3]) * c.tanh();
                hs[b * h + u] = hv;
                out[(bg * steps + t) * spec.out_stride + spec.out_offset + u] = hv;
            }
        }
    }
    (hs, cs)
}

pub fn rnn_sequence(
    spec: &RecurrentSpec,
    pre_x: &[f64],
    w_hh_t: &[f64],
    h0: &[f64],
    out: &mut [f64],
) -> Vec<f64> {
    let (bsz, steps, h) = (spec.batch, spec.steps, spec.hidden);
    let first = spec.series_offset * h;
    let mut hs = h0[first..first + bsz * h].to_vec();
    for b in 0..bsz {
        let bg = spec.series_offset + b;
        for step in 0..steps {
            let t = if spec.reverse { steps - 1 - step } else { step };
            let prev = hs[b * h..(b + 1) * h].to_vec();
            for u in 0..h {
                let mut z = pre_x[(b * steps + t) * h + u];
                for (j, hj) in prev.iter().enumerate() {
                    z += w_hh_t[j * h + u] * hj;
                }
                let hv = z.tanh();
                hs[b * h + u] = hv;
                out[(bg * steps + t) * spec.out_stride + spec.out_offset + u] = hv;
            }
        }
    }
    hs
}

pub fn conv1d_causal(
    spec: &Conv1dSpec,
    x: &[f64],
    w: &[f64],
    bias: &[f64],
    residual: Option<&[f64]>,
) -> Vec<f64> {
    let (bsz, ci, co, t, k, d) = (
        spec.batch,
        spec.in_channels,
        spec.out_channels,
        spec.steps,
        spec.kernel,
        spec.dilation,
    );
    let mut y = vec![0.0; bsz * co * t];
    for b in 0..bsz {
        for o in 0..co {
            for tt in 0..t {
                let mut acc = bias[o];
                for i in 0..ci {
                    for kk in 0..k {
                        let back = (k - 1 - kk) * d;
                        if back <= tt {
                            acc += w[(o * ci + i) * k + kk] * x[(b * ci + i) * t + tt - back];
                        }
                    }
                }
                if spec.relu {
                    acc = acc.max(0.0);
                }
                let idx = (b * co + o) * t + tt;
                if let Some(r) = residual {
                    acc = (acc + r[idx]).max(0.0);
                }
                y[idx] = acc;
            }
        }
    }
    y
}

pub fn softmax(rows: usize, classes: usize, logits: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; rows * classes];
    for r in 0..rows {
        let row = &logits[r * classes..(r + 1) * classes];
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = row.iter().map(|v| (v - m).exp()).sum();
        for k in 0..classes {
            out[r * classes + k] = (row[k] - m).exp() / total;
        }
    }
    out
}

const SIGMA_FLOOR: f64 = 1e-6;

/// Unscaled (μ, σ or α, ν) of one row of raw head outputs.
pub fn head_params(dist: Distribution, raw: &[f64], scale: f64) -> [f64; 3] {
    match dist {
        Distribution::NegativeBinomial => [
            (softplus(raw[0]) + SIGMA_FLOOR) * scale,
            (softplus(raw[1]) + SIGMA_FLOOR) / scale.sqrt(),
            0.0,
        ],
        Distribution::Gaussian => [
            raw[0] * scale,
            (softplus(raw[1]) + SIGMA_FLOOR) * scale,
            0.0,
        ],
        Distribution::StudentT => [
            raw[0] * scale,
            (softplus(raw[1]) + SIGMA_FLOOR) * scale,
            2.0 + softplus(raw[2]),
        ],
    }
}

pub fn distribution_params(
    dist: Distribution,
    rows: usize,
    raw_stride: usize,
    rows_per_scale: usize,
    raw: &[f64],
    scale: &[f64],
) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows * 3);
    for r in 0..rows {
        let p = head_params(
            dist,
            &raw[r * raw_stride..r * raw_stride + dist.raw_params()],
            scale[r / rows_per_scale],
        );
        out.extend_from_slice(&p);
    }
    out
}

/// Sorted, scaled quantiles of one step and the next input row, as `quantile_feedback` writes.
pub fn quantile_feedback_row(raw: &[f64], scale: f64, median_index: usize) -> (Vec<f64>, f64) {
    let mut v = raw.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let median = v[median_index];
    (v.iter().map(|x| x * scale).collect(), median)
}

/// One row of DeepAR's step input: lags read from `history` at `position − lag` (0 before 0).
pub fn assemble_lags_row(
    history: &[f64],
    position: usize,
    lags: &[u32],
    statics: &[f64],
) -> Vec<f64> {
    let mut row: Vec<f64> = lags
        .iter()
        .map(|&l| {
            let l = l as usize;
            if l <= position {
                history[position - l]
            } else {
                0.0
            }
        })
        .collect();
    row.extend_from_slice(statics);
    row
}

pub fn repeat_rows(rows: usize, width: usize, repeats: usize, src: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows * repeats * width);
    for r in 0..rows {
        for _ in 0..repeats {
            out.extend_from_slice(&src[r * width..(r + 1) * width]);
        }
    }
    out
}

/// Philox 4x32-10 of the all-ones counter and key: Random123's known-answer vector.
pub fn random_kat() -> [u32; 4] {
    random::philox4x32([u32::MAX; 4], [u32::MAX; 2])
}
