//! f64 BPTT for the LSTM and Elman recurrences, the yardstick for recurrent_backward.wgsl, itself
//! checked by finite differences of `lstm_sequence` / `rnn_sequence`.

use super::sigmoid;
use crate::ops::{BackwardSpec, RecurrentSpec};

/// The forward pass with everything backpropagation needs: (out, h_n, c_n, saved [B, T, 5H]).
pub fn lstm_forward_saved(
    spec: &RecurrentSpec,
    gates_x: &[f64],
    w_hh_t: &[f64],
    h0: &[f64],
    c0: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let (bsz, steps, h) = (spec.batch, spec.steps, spec.hidden);
    let g = 4 * h;
    let mut out = vec![0.0; bsz * steps * spec.out_stride];
    let mut saved = vec![0.0; bsz * steps * 5 * h];
    let mut hs = h0[..bsz * h].to_vec();
    let mut cs = c0[..bsz * h].to_vec();
    for b in 0..bsz {
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
                let (i, f, gg, o) = (sigmoid(z[0]), sigmoid(z[1]), z[2].tanh(), sigmoid(z[3]));
                let c = f * cs[b * h + u] + i * gg;
                cs[b * h + u] = c;
                let hv = o * c.tanh();
                hs[b * h + u] = hv;
                out[(b * steps + t) * spec.out_stride + spec.out_offset + u] = hv;
                let sv = (b * steps + t) * 5 * h;
                for (k, v) in [i, f, gg, o, c].into_iter().enumerate() {
                    saved[sv + k * h + u] = v;
                }
            }
        }
    }
    (out, hs, cs, saved)
}

/// Returns (dz [B, T, 4H], dh0, dc0) as `lstm_backward` computes them; `w_hh` in PyTorch layout.
pub fn lstm_backward(
    spec: &BackwardSpec,
    saved: &[f64],
    c0: &[f64],
    w_hh: &[f64],
    d_out: &[f64],
    dh_n: &[f64],
    dc_n: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (bsz, steps, h) = (spec.batch, spec.steps, spec.hidden);
    let g = 4 * h;
    let mut dz = vec![0.0; bsz * steps * g];
    let mut dh0 = vec![0.0; bsz * h];
    let mut dc0 = vec![0.0; bsz * h];
    for b in 0..bsz {
        let mut dh_rec = dh_n[b * h..(b + 1) * h].to_vec();
        let mut dc = dc_n[b * h..(b + 1) * h].to_vec();
        for step in 0..steps {
            let t = if spec.reverse { step } else { steps - 1 - step };
            let tp = if spec.reverse {
                (t + 1 < steps).then_some(t + 1)
            } else {
                t.checked_sub(1)
            };
            let mut dz_t = vec![0.0; g];
            for u in 0..h {
                let sv = (b * steps + t) * 5 * h;
                let (i, f, gg, o, c) = (
                    saved[sv + u],
                    saved[sv + h + u],
                    saved[sv + 2 * h + u],
                    saved[sv + 3 * h + u],
                    saved[sv + 4 * h + u],
                );
                let c_prev = match tp {
                    Some(tp) => saved[(b * steps + tp) * 5 * h + 4 * h + u],
                    None => c0[b * h + u],
                };
                let dh =
                    d_out[(b * steps + t) * spec.dout_stride + spec.dout_offset + u] + dh_rec[u];
                let tc = c.tanh();
                let dct = dc[u] + dh * o * (1.0 - tc * tc);
                dz_t[u] = dct * gg * i * (1.0 - i);
                dz_t[h + u] = dct * c_prev * f * (1.0 - f);
                dz_t[2 * h + u] = dct * i * (1.0 - gg * gg);
                dz_t[3 * h + u] = dh * tc * o * (1.0 - o);
                dc[u] = dct * f;
            }
            dz[(b * steps + t) * g..(b * steps + t + 1) * g].copy_from_slice(&dz_t);
            let cut = spec.truncate > 0 && (step + 1) % spec.truncate == 0;
            for j in 0..h {
                dh_rec[j] = if cut {
                    0.0
                } else {
                    (0..g).map(|r| w_hh[r * h + j] * dz_t[r]).sum()
                };
            }
            if cut {
                dc.iter_mut().for_each(|x| *x = 0.0);
            }
        }
        dh0[b * h..(b + 1) * h].copy_from_slice(&dh_rec);
        dc0[b * h..(b + 1) * h].copy_from_slice(&dc);
    }
    (dz, dh0, dc0)
}

/// Returns (dz [B, T, H], dh0) as `rnn_backward` computes them from the forward outputs.
pub fn rnn_backward(
    spec: &BackwardSpec,
    out: &[f64],
    w_hh: &[f64],
    d_out: &[f64],
    dh_n: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let (bsz, steps, h) = (spec.batch, spec.steps, spec.hidden);
    let mut dz = vec![0.0; bsz * steps * h];
    let mut dh0 = vec![0.0; bsz * h];
    for b in 0..bsz {
        let mut dh_rec = dh_n[b * h..(b + 1) * h].to_vec();
        for step in 0..steps {
            let t = if spec.reverse { step } else { steps - 1 - step };
            let mut dz_t = vec![0.0; h];
            for u in 0..h {
                let hv = out[(b * steps + t) * spec.out_stride + spec.out_offset + u];
                let dh =
                    d_out[(b * steps + t) * spec.dout_stride + spec.dout_offset + u] + dh_rec[u];
                dz_t[u] = dh * (1.0 - hv * hv);
            }
            dz[(b * steps + t) * h..(b * steps + t + 1) * h].copy_from_slice(&dz_t);
            let cut = spec.truncate > 0 && (step + 1) % spec.truncate == 0;
            for j in 0..h {
                dh_rec[j] = if cut {
                    0.0
                } else {
                    (0..h).map(|u| w_hh[u * h + j] * dz_t[u]).sum()
                };
            }
        }
        dh0[b * h..(b + 1) * h].copy_from_slice(&dh_rec);
    }
    (dz, dh0)
}

/// h_prev [B, T, H] as `shift_states` writes it.
pub fn shift_states(spec: &BackwardSpec, out: &[f64], h0: &[f64]) -> Vec<f64> {
    let (bsz, steps, h) = (spec.batch, spec.steps, spec.hidden);
    let mut hp = vec![0.0; bsz * steps * h];
    for b in 0..bsz {
        for t in 0..steps {
            let prev = if spec.reverse {
                (t + 1 < steps).then_some(t + 1)
            } else {
                t.checked_sub(1)
            };
            for u in 0..h {
                hp[(b * steps + t) * h + u] = match prev {
                    Some(tp) => out[(b * steps + tp) * spec.out_stride + spec.out_offset + u],
                    None => h0[b * h + u],
                };
            }
        }
    }
    hp
}
