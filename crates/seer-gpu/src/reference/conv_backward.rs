//! f64 references of the causal Conv1d gradients (conv_backward.wgsl), the adjoints of
//! `conv1d_causal` without ReLU or residual.

use crate::ops::Conv1dSpec;

/// dx [B, Cin, T] = (or += with `accumulate`) Σ_{o,k} w[o, i, k] · dy[b, o, t + (K−1−k)·d],
/// the weight read from `w[w_offset..]`.
pub fn conv1d_backward_input(
    spec: &Conv1dSpec,
    dy: &[f64],
    w: &[f64],
    w_offset: usize,
    dx: &mut [f64],
    accumulate: bool,
) {
    let (bsz, ci, co, t, k, d) = (
        spec.batch,
        spec.in_channels,
        spec.out_channels,
        spec.steps,
        spec.kernel,
        spec.dilation,
    );
    for b in 0..bsz {
        for i in 0..ci {
            for tt in 0..t {
                let mut acc = 0.0;
                for o in 0..co {
                    for kk in 0..k {
                        let src = tt + (k - 1 - kk) * d;
                        if src < t {
                            acc += w[w_offset + (o * ci + i) * k + kk] * dy[(b * co + o) * t + src];
                        }
                    }
                }
                let idx = (b * ci + i) * t + tt;
                dx[idx] = if accumulate { dx[idx] + acc } else { acc };
            }
        }
    }
}

/// Writes dw [Cout, Cin, K] at `grads[dw_offset..]` and db [Cout] at `grads[db_offset..]`.
pub fn conv1d_backward_weight(
    spec: &Conv1dSpec,
    dy: &[f64],
    x: &[f64],
    grads: &mut [f64],
    dw_offset: usize,
    db_offset: usize,
) {
    let (bsz, ci, co, t, k, d) = (
        spec.batch,
        spec.in_channels,
        spec.out_channels,
        spec.steps,
        spec.kernel,
        spec.dilation,
    );
    for o in 0..co {
        for i in 0..ci {
            for kk in 0..k {
                let back = (k - 1 - kk) * d;
                let mut acc = 0.0;
                for b in 0..bsz {
                    for tt in back..t {
                        acc += dy[(b * co + o) * t + tt] * x[(b * ci + i) * t + tt - back];
                    }
                }
                grads[dw_offset + (o * ci + i) * k + kk] = acc;
            }
        }
        let mut acc = 0.0;
        for b in 0..bsz {
            for tt in 0..t {
                acc += dy[(b * co + o) * t + tt];
            }
        }
        grads[db_offset + o] = acc;
    }
}
