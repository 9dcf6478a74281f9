//! BPTT: the f64 reference backward is checked by central finite differences of the forward
//! reference (rel 1e-6 + abs 1e-8), then the GPU kernels against the reference (rel 1e-4, abs
//! 2e-5: f32 through up to 9 steps of recurrence).

mod common;

use common::*;
use seer_gpu::ops::{self, BackwardSpec, RecurrentSpec};
use seer_gpu::reference;

fn transpose(w: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

struct LstmCase {
    fwd: RecurrentSpec,
    bwd: BackwardSpec,
    gx: Vec<f64>,
    w_hh: Vec<f64>,
    h0: Vec<f64>,
    c0: Vec<f64>,
    d_out: Vec<f64>,
    dh_n: Vec<f64>,
    dc_n: Vec<f64>,
}

fn lstm_case(
    batch: usize,
    steps: usize,
    hidden: usize,
    reverse: bool,
    scale: f64,
    seed: u64,
) -> LstmCase {
    let g = 4 * hidden;
    // a BiLSTM-like layout: this direction's h in the second half of 2H-wide rows, and its
    // upstream gradient at an offset inside wider rows
    let fwd = RecurrentSpec {
        batch,
        steps,
        hidden,
        reverse,
        out_stride: 2 * hidden,
        out_offset: hidden,
        series_offset: 0,
    };
    let bwd = BackwardSpec {
        batch,
        steps,
        hidden,
        reverse,
        out_stride: 2 * hidden,
        out_offset: hidden,
        dout_stride: hidden + 3,
        dout_offset: 2,
        w_offset: 5,
        truncate: 0,
    };
    LstmCase {
        fwd,
        bwd,
        gx: rounded(&data(batch * steps * g, seed, -scale, scale)),
        w_hh: rounded(&data(g * hidden, seed + 1, -0.6, 0.6)),
        h0: rounded(&data(batch * hidden, seed + 2, -1.0, 1.0)),
        c0: rounded(&data(batch * hidden, seed + 3, -1.0, 1.0)),
        d_out: rounded(&data(batch * steps * (hidden + 3), seed + 4, -1.0, 1.0)),
        dh_n: rounded(&data(batch * hidden, seed + 5, -1.0, 1.0)),
        dc_n: rounded(&data(batch * hidden, seed + 6, -1.0, 1.0)),
    }
}

impl LstmCase {
    /// L = Σ d_out·h_t + Σ dh_n·h_n + Σ dc_n·c_n through the forward reference.
    fn loss(&self, gx: &[f64], w_hh: &[f64], h0: &[f64], c0: &[f64]) -> f64 {
        let h = self.fwd.hidden;
        let (out, hn, cn, _) =
            reference::lstm_forward_saved(&self.fwd, gx, &transpose(w_hh, 4 * h, h), h0, c0);
        let mut l = 0.0;
        for b in 0..self.fwd.batch {
            for t in 0..self.fwd.steps {
                for u in 0..h {
                    l += self.d_out[(b * self.fwd.steps + t) * self.bwd.dout_stride
                        + self.bwd.dout_offset
                        + u]
                        * out[(b * self.fwd.steps + t) * self.fwd.out_stride
                            + self.fwd.out_offset
                            + u];
                }
            }
        }
        l + hn.iter().zip(&self.dh_n).map(|(a, b)| a * b).sum::<f64>()
            + cn.iter().zip(&self.dc_n).map(|(a, b)| a * b).sum::<f64>()
    }

    fn backward(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let h = self.fwd.hidden;
        let (out, _, _, saved) = reference::lstm_forward_saved(
            &self.fwd,
            &self.gx,
            &transpose(&self.w_hh, 4 * h, h),
            &self.h0,
            &self.c0,
        );
        let (dz, dh0, dc0) = reference::lstm_backward(
            &self.bwd,
            &saved,
            &self.c0,
            &self.w_hh,
            &self.d_out,
            &self.dh_n,
            &self.dc_n,
        );
        // dW_hh = Σ_{b,t} dz ⊗ h_prev
        let hp = reference::shift_states(&self.bwd, &out, &self.h0);
        let g = 4 * h;
        let mut dw = vec![0.0; g * h];
        for bt in 0..self.fwd.batch * self.fwd.steps {
            for r in 0..g {
                for j in 0..h {
                    dw[r * h + j] += dz[bt * g + r] * hp[bt * h + j];
                }
            }
        }
        (dz, dh0, dc0, dw)
    }
}

fn fd(mut f: impl FnMut(&[f64]) -> f64, x: &[f64], i: usize) -> f64 {
    let eps = 1e-6;
    let mut xp = x.to_vec();
    xp[i] += eps;
    let up = f(&xp);
    xp[i] -= 2.0 * eps;
    (up - f(&xp)) / (2.0 * eps)
}

fn check_fd(what: &str, analytic: &[f64], numeric: impl Fn(usize) -> f64) {
    for (i, a) in analytic.iter().enumerate() {
        let n = numeric(i);
        assert!(
            (a - n).abs() <= 1e-6 * n.abs().max(a.abs()) + 1e-8,
            "{what}[{i}]: analytic {a}, finite difference {n}"
        );
    }
}

seer_gpu::on_backends!(lstm_reference_backward_matches_finite_differences);
fn lstm_reference_backward_matches_finite_differences() {
    for reverse in [false, true] {
        let c = lstm_case(2, 5, 3, reverse, 1.5, 1);
        let (dz, dh0, dc0, dw) = c.backward();
        check_fd("dz", &dz, |i| {
            fd(|x| c.loss(x, &c.w_hh, &c.h0, &c.c0), &c.gx, i)
        });
        check_fd("dh0", &dh0, |i| {
            fd(|x| c.loss(&c.gx, &c.w_hh, x, &c.c0), &c.h0, i)
        });
        check_fd("dc0", &dc0, |i| {
            fd(|x| c.loss(&c.gx, &c.w_hh, &c.h0, x), &c.c0, i)
        });
        check_fd("dW_hh", &dw, |i| {
            fd(|x| c.loss(&c.gx, x, &c.h0, &c.c0), &c.w_hh, i)
        });
    }
}

seer_gpu::on_backends!(truncated_bptt_longer_than_the_sequence_is_full_bptt);
fn truncated_bptt_longer_than_the_sequence_is_full_bptt() {
    let mut c = lstm_case(2, 4, 3, false, 1.0, 2);
    let full = c.backward();
    c.bwd.truncate = 4;
    let (dz, _, _, _) = c.backward();
    assert_eq!(full.0, dz);
    c.bwd.truncate = 1;
    let (_, dh0, dc0, _) = c.backward();
    assert!(
        dh0.iter().chain(&dc0).all(|v| *v == 0.0),
        "truncation every step cuts the path to the initial state"
    );
}

fn check_lstm_gpu(c: &LstmCase) {
    let (b, t, h) = (c.fwd.batch, c.fwd.steps, c.fwd.hidden);
    let (_, _, _, saved) =
        reference::lstm_forward_saved(&c.fwd, &c.gx, &transpose(&c.w_hh, 4 * h, h), &c.h0, &c.c0);
    let saved = rounded(&saved);
    let (dz, dh0, dc0) =
        reference::lstm_backward(&c.bwd, &saved, &c.c0, &c.w_hh, &c.d_out, &c.dh_n, &c.dc_n);
    let mut weights = vec![0.25; c.bwd.w_offset];
    weights.extend_from_slice(&c.w_hh);
    let (gdz, gdh0, gdc0) = (zeros(&[b * t * 4 * h]), zeros(&[b * h]), zeros(&[b * h]));
    let mut r = rec();
    ops::lstm_backward(
        &mut r,
        &c.bwd,
        &up(&saved, &[saved.len()]),
        &up(&c.c0, &[b * h]),
        &up(&weights, &[weights.len()]),
        &up(&c.d_out, &[c.d_out.len()]),
        &up(&c.dh_n, &[b * h]),
        &up(&c.dc_n, &[b * h]),
        &gdz,
        &gdh0,
        &gdc0,
    )
    .unwrap();
    r.submit().unwrap();
    let what = format!(
        "lstm_backward B{b} T{t} H{h} rev {} trunc {}",
        c.bwd.reverse, c.bwd.truncate
    );
    assert_close(&format!("{what} dz"), &read(&gdz), &dz, 1e-4, 2e-5);
    assert_close(&format!("{what} dh0"), &read(&gdh0), &dh0, 1e-4, 2e-5);
    assert_close(&format!("{what} dc0"), &read(&gdc0), &dc0, 1e-4, 2e-5);
}

seer_gpu::on_backends!(lstm_backward_gpu_matches_reference);
fn lstm_backward_gpu_matches_reference() {
    check_lstm_gpu(&lstm_case(1, 3, 2, false, 1.0, 3));
    // 300 series of hidden 5: a full tile of 204 and a partial one
    check_lstm_gpu(&lstm_case(300, 4, 5, false, 1.0, 4));
    check_lstm_gpu(&lstm_case(3, 9, 37, true, 1.0, 5));
    let mut c = lstm_case(4, 7, 6, false, 1.0, 6);
    c.bwd.truncate = 3;
    check_lstm_gpu(&c);
}

seer_gpu::on_backends!(lstm_backward_with_saturated_gates_stays_finite);
fn lstm_backward_with_saturated_gates_stays_finite() {
    check_lstm_gpu(&lstm_case(3, 5, 4, false, 100.0, 7));
}

seer_gpu::on_backends!(rnn_reference_and_gpu_backward);
fn rnn_reference_and_gpu_backward() {
    let (b, t, h) = (3, 6, 4);
    let spec_f = RecurrentSpec {
        batch: b,
        steps: t,
        hidden: h,
        reverse: true,
        out_stride: h,
        out_offset: 0,
        series_offset: 0,
    };
    let bwd = BackwardSpec {
        batch: b,
        steps: t,
        hidden: h,
        reverse: true,
        out_stride: h,
        out_offset: 0,
        dout_stride: h,
        dout_offset: 0,
        w_offset: 0,
        truncate: 0,
    };
    let px = rounded(&data(b * t * h, 1, -1.5, 1.5));
    let w = rounded(&data(h * h, 2, -0.7, 0.7));
    let h0 = rounded(&data(b * h, 3, -1.0, 1.0));
    let d_out = rounded(&data(b * t * h, 4, -1.0, 1.0));
    let dh_n = rounded(&data(b * h, 5, -1.0, 1.0));
    let loss = |px: &[f64], w: &[f64], h0: &[f64]| {
        let mut out = vec![0.0; b * t * h];
        let hn = reference::rnn_sequence(&spec_f, px, &transpose(w, h, h), h0, &mut out);
        out.iter().zip(&d_out).map(|(a, c)| a * c).sum::<f64>()
            + hn.iter().zip(&dh_n).map(|(a, c)| a * c).sum::<f64>()
    };
    let mut out = vec![0.0; b * t * h];
    reference::rnn_sequence(&spec_f, &px, &transpose(&w, h, h), &h0, &mut out);
    let (dz, dh0) = reference::rnn_backward(&bwd, &out, &w, &d_out, &dh_n);
    check_fd("rnn dz", &dz, |i| fd(|x| loss(x, &w, &h0), &px, i));
    check_fd("rnn dh0", &dh0, |i| fd(|x| loss(&px, &w, x), &h0, i));
    let hp = reference::shift_states(&bwd, &out, &h0);
    let mut dw = vec![0.0; h * h];
    for bt in 0..b * t {
        for r in 0..h {
            for j in 0..h {
                dw[r * h + j] += dz[bt * h + r] * hp[bt * h + j];
            }
        }
    }
    check_fd("rnn dW_hh", &dw, |i| fd(|x| loss(&px, x, &h0), &w, i));

    let out = rounded(&out);
    let (dz, dh0) = reference::rnn_backward(&bwd, &out, &w, &d_out, &dh_n);
    let (gdz, gdh0, ghp) = (zeros(&[b * t * h]), zeros(&[b * h]), zeros(&[b * t * h]));
    let out_t = up(&out, &[out.len()]);
    let mut r = rec();
    ops::rnn_backward(
        &mut r,
        &bwd,
        &out_t,
        &up(&w, &[w.len()]),
        &up(&d_out, &[d_out.len()]),
        &up(&dh_n, &[b * h]),
        &gdz,
        &gdh0,
    )
    .unwrap();
    ops::shift_states(&mut r, &bwd, &out_t, &up(&h0, &[b * h]), &ghp).unwrap();
    r.submit().unwrap();
    assert_close("rnn dz", &read(&gdz), &dz, 1e-4, 2e-5);
    assert_close("rnn dh0", &read(&gdh0), &dh0, 1e-4, 2e-5);
    assert_close(
        "shift_states",
        &read(&ghp),
        &reference::shift_states(&bwd, &out, &h0),
        0.0,
        1e-7,
    );
}
