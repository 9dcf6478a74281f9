//! Causal Conv1d gradients and the element-wise backward helpers: GPU vs f64 reference, and
//! central finite differences (f64) of the reference gradients against `reference::conv1d_causal`.
//! Tolerance: rel 1e-4, abs 1e-5 scaled by the data's magnitude and √(terms summed) (f32
//! accumulation); finite differences: 1e-7 relative to the largest gradient (the loss is linear,
//! so only rounding separates them).

mod common;

use common::*;
use seer_gpu::ops::{self, Conv1dSpec};
use seer_gpu::reference;

const REL: f64 = 1e-4;
const ABS: f64 = 1e-5;
const SENTINEL: f64 = 7.0;

fn spec(batch: usize, cin: usize, cout: usize, steps: usize, k: usize, d: usize) -> Conv1dSpec {
    Conv1dSpec {
        batch,
        in_channels: cin,
        out_channels: cout,
        steps,
        kernel: k,
        dilation: d,
        relu: false,
    }
}

struct Layout {
    w_offset: usize,
    dw_offset: usize,
    db_offset: usize,
}

fn check_backward(s: Conv1dSpec, scale: f64, seed: u64, at: &Layout) {
    let (b, ci, co, t, k) = (s.batch, s.in_channels, s.out_channels, s.steps, s.kernel);
    let weights = co * ci * k;
    let x = rounded(&data(b * ci * t, seed, -scale, scale));
    let dy = rounded(&data(b * co * t, seed + 1, -scale, scale));
    let w = rounded(&data(at.w_offset + weights + 3, seed + 2, -0.5, 0.5));
    let dx0 = rounded(&data(b * ci * t, seed + 3, -1.0, 1.0));
    let grads_len = (at.dw_offset + weights).max(at.db_offset + co) + 5;
    let grads0 = vec![SENTINEL; grads_len];
    let what = format!("{s:?} scale={scale}");

    let (dy_t, w_t, x_t) = (up(&dy, &[dy.len()]), up(&w, &[w.len()]), up(&x, &[x.len()]));
    let dx_set = up(&dx0, &[dx0.len()]);
    let dx_acc = up(&dx0, &[dx0.len()]);
    let grads = up(&grads0, &[grads_len]);
    let mut r = rec();
    ops::conv1d_backward_input(&mut r, &s, &dy_t, &w_t, at.w_offset, &dx_set, false).unwrap();
    ops::conv1d_backward_input(&mut r, &s, &dy_t, &w_t, at.w_offset, &dx_acc, true).unwrap();
    ops::conv1d_backward_weight(&mut r, &s, &dy_t, &x_t, &grads, at.dw_offset, at.db_offset)
        .unwrap();
    r.submit().unwrap();

    let mut want_set = dx0.clone();
    reference::conv1d_backward_input(&s, &dy, &w, at.w_offset, &mut want_set, false);
    let mut want_acc = dx0.clone();
    reference::conv1d_backward_input(&s, &dy, &w, at.w_offset, &mut want_acc, true);
    let abs_dx = ABS * scale.max(1.0) * ((co * k) as f64).sqrt();
    assert_close(
        &format!("{what}: dx"),
        &read(&dx_set),
        &want_set,
        REL,
        abs_dx,
    );
    assert_close(
        &format!("{what}: dx +="),
        &read(&dx_acc),
        &want_acc,
        REL,
        abs_dx,
    );

    let mut want_grads = grads0.clone();
    reference::conv1d_backward_weight(&s, &dy, &x, &mut want_grads, at.dw_offset, at.db_offset);
    let abs_dw = ABS * scale.max(1.0).powi(2) * ((b * t) as f64).sqrt();
    let got = read(&grads);
    assert_close(&format!("{what}: grads"), &got, &want_grads, REL, abs_dw);
    // everything outside dw and db is untouched
    for (i, &g) in got.iter().enumerate() {
        let in_dw = (at.dw_offset..at.dw_offset + weights).contains(&i);
        let in_db = (at.db_offset..at.db_offset + co).contains(&i);
        if !in_dw && !in_db {
            assert_eq!(g, SENTINEL, "{what}: grads[{i}] written");
        }
    }
}

/// Weight gradient first, bias gradient right after it, as in a flat gradient buffer.
fn plain(s: &Conv1dSpec) -> Layout {
    Layout {
        w_offset: 0,
        dw_offset: 0,
        db_offset: s.out_channels * s.in_channels * s.kernel,
    }
}

fn check_plain(s: Conv1dSpec, scale: f64, seed: u64) {
    check_backward(s, scale, seed, &plain(&s));
}

seer_gpu::on_backends!(conv_backward_matches_reference_on_ragged_shapes);
fn conv_backward_matches_reference_on_ragged_shapes() {
    // B·T and every channel count off any multiple of 256
    check_plain(spec(3, 5, 7, 19, 3, 1), 1.0, 1);
    check_backward(
        spec(3, 5, 7, 19, 3, 4),
        1.0,
        2,
        &Layout {
            w_offset: 11,
            dw_offset: 13,
            db_offset: 2,
        },
    );
    // batch 1, K = 1 (the 1×1 projection)
    check_backward(
        spec(1, 6, 4, 23, 1, 1),
        1.0,
        3,
        &Layout {
            w_offset: 3,
            dw_offset: 4,
            db_offset: 40,
        },
    );
    // dilation reaching past the whole sequence: only the last tap sees data
    check_plain(spec(2, 3, 4, 9, 3, 25), 1.0, 4);
    // the first tap's look-back (K−1)·d = T − 1: a single (b, t) pair per batch contributes
    check_plain(spec(2, 3, 4, 9, 3, 4), 1.0, 9);
    // more than 256 (b, t) pairs per reduction, ragged
    check_plain(spec(2, 3, 4, 300, 2, 2), 1.0, 5);
    check_backward(
        spec(1, 2, 3, 257, 5, 3),
        1.0,
        6,
        &Layout {
            w_offset: 1,
            dw_offset: 7,
            db_offset: 0,
        },
    );
    check_plain(spec(4, 8, 9, 517, 3, 8), 1.0, 7);
}

seer_gpu::on_backends!(conv_backward_with_extreme_inputs);
fn conv_backward_with_extreme_inputs() {
    check_plain(spec(3, 4, 5, 41, 3, 2), 100.0, 8);
}

seer_gpu::on_backends!(conv_backward_weight_is_deterministic);
fn conv_backward_weight_is_deterministic() {
    let s = spec(4, 3, 5, 777, 3, 2);
    let x = rounded(&data(4 * 3 * 777, 1, -1.0, 1.0));
    let dy = rounded(&data(4 * 5 * 777, 2, -1.0, 1.0));
    let n = 5 * 3 * 3 + 5;
    let runs: Vec<Vec<u32>> = (0..2)
        .map(|_| {
            let grads = zeros(&[n]);
            let mut r = rec();
            ops::conv1d_backward_weight(
                &mut r,
                &s,
                &up(&dy, &[dy.len()]),
                &up(&x, &[x.len()]),
                &grads,
                0,
                45,
            )
            .unwrap();
            r.submit().unwrap();
            ctx()
                .read(&grads)
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        })
        .collect();
    assert_eq!(runs[0], runs[1]);
}

/// L = Σ r ⊙ conv(x, w, b): its gradients are the backward references fed dy = r.
fn finite_differences(s: Conv1dSpec, seed: u64) {
    let (b, ci, co, t, k) = (s.batch, s.in_channels, s.out_channels, s.steps, s.kernel);
    let x = data(b * ci * t, seed, -1.0, 1.0);
    let w = data(co * ci * k, seed + 1, -1.0, 1.0);
    let bias = data(co, seed + 2, -1.0, 1.0);
    let r = data(b * co * t, seed + 3, -1.0, 1.0);
    let loss = |x: &[f64], w: &[f64], bias: &[f64]| -> f64 {
        reference::conv1d_causal(&s, x, w, bias, None)
            .iter()
            .zip(&r)
            .map(|(y, r)| y * r)
            .sum()
    };
    let mut dx = vec![0.0; x.len()];
    reference::conv1d_backward_input(&s, &r, &w, 0, &mut dx, false);
    let mut grads = vec![0.0; w.len() + co];
    reference::conv1d_backward_weight(&s, &r, &x, &mut grads, 0, w.len());
    let (dw, db) = grads.split_at(w.len());

    let h = 1e-3;
    let central = |f: &dyn Fn(f64) -> f64| (f(h) - f(-h)) / (2.0 * h);
    let numeric_dx: Vec<f64> = (0..x.len())
        .map(|i| {
            central(&|e| {
                let mut xe = x.clone();
                xe[i] += e;
                loss(&xe, &w, &bias)
            })
        })
        .collect();
    let numeric_dw: Vec<f64> = (0..w.len())
        .map(|i| {
            central(&|e| {
                let mut we = w.clone();
                we[i] += e;
                loss(&x, &we, &bias)
            })
        })
        .collect();
    let numeric_db: Vec<f64> = (0..co)
        .map(|i| {
            central(&|e| {
                let mut be = bias.clone();
                be[i] += e;
                loss(&x, &w, &be)
            })
        })
        .collect();
    for (what, analytic, numeric) in [
        ("dx", &dx[..], &numeric_dx[..]),
        ("dw", dw, &numeric_dw[..]),
        ("db", db, &numeric_db[..]),
    ] {
        let top = analytic.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
            assert!(
                (a - n).abs() <= 1e-7 * top,
                "{s:?} {what}[{i}]: analytic {a}, numeric {n}"
            );
        }
    }
    // the check is not vacuous
    assert!(dx.iter().any(|v| v.abs() > 1e-3));
    assert!(dw.iter().any(|v| v.abs() > 1e-3));
}

seer_gpu::on_backends!(conv_backward_reference_matches_finite_differences);
fn conv_backward_reference_matches_finite_differences() {
    finite_differences(spec(2, 3, 2, 9, 3, 1), 1);
    finite_differences(spec(2, 3, 2, 11, 3, 2), 2);
    finite_differences(spec(1, 2, 3, 13, 2, 5), 3);
    // K = 1
    finite_differences(spec(2, 4, 3, 7, 1, 1), 4);
    // look-back past the start for every tap but the last
    finite_differences(spec(1, 2, 2, 6, 3, 4), 5);
}

seer_gpu::on_backends!(conv_backward_rejects_bad_arguments);
fn conv_backward_rejects_bad_arguments() {
    let s = spec(1, 2, 3, 4, 3, 1);
    let (dy, x) = (zeros(&[12]), zeros(&[8]));
    let grads = zeros(&[18 + 3]);
    let mut r = rec();
    let err = ops::conv1d_backward_weight(&mut r, &s, &dy, &x, &grads, 0, 17).unwrap_err();
    assert!(err.to_string().contains("overlaps"), "{err}");
    let err = ops::conv1d_backward_weight(&mut r, &s, &dy, &x, &grads, 2, 0).unwrap_err();
    assert!(err.to_string().contains("overlaps"), "{err}");
    let err = ops::conv1d_backward_weight(&mut r, &s, &dy, &x, &grads, 0, 19).unwrap_err();
    assert!(err.to_string().contains("holds 21 values"), "{err}");
    let err = ops::conv1d_backward_input(&mut r, &s, &dy, &grads, 4, &x, false).unwrap_err();
    assert!(err.to_string().contains("weight holds 21"), "{err}");
    let err = ops::conv1d_backward_input(&mut r, &s, &dy, &grads, 0, &dy, false).unwrap_err();
    assert!(err.to_string().contains("distinct"), "{err}");
    let err = ops::conv1d_backward_input(
        &mut r,
        &Conv1dSpec { kernel: 0, ..s },
        &dy,
        &grads,
        0,
        &x,
        false,
    )
    .unwrap_err();
    assert!(err.to_string().contains("at least 1"), "{err}");
    assert_eq!(r.dispatches(), 0);
}

// ---- element-wise helpers ------------------------------------------------------------------

seer_gpu::on_backends!(relu_backward_matches_reference);
fn relu_backward_matches_reference() {
    for (n, accumulate) in [(1, false), (1000, false), (1000, true), (70_001, true)] {
        let dy = rounded(&data(n, 1, -100.0, 100.0));
        let mut y = rounded(&data(n, 2, -1.0, 1.0));
        // exact zeros (a ReLU's clamped outputs) pass no gradient
        for v in y.iter_mut().step_by(7) {
            *v = 0.0;
        }
        let dx0 = rounded(&data(n, 3, -1.0, 1.0));
        let dx = up(&dx0, &[n]);
        let mut r = rec();
        ops::relu_backward(&mut r, n, &up(&dy, &[n]), &up(&y, &[n]), &dx, accumulate).unwrap();
        r.submit().unwrap();
        let mut want = dx0.clone();
        reference::relu_backward(&dy, &y, &mut want, accumulate);
        assert_close(
            &format!("relu_backward n={n} acc={accumulate}"),
            &read(&dx),
            &want,
            REL,
            ABS,
        );
    }
}

seer_gpu::on_backends!(add_relu_matches_reference);
fn add_relu_matches_reference() {
    for n in [1, 777] {
        let a = rounded(&data(n, 4, -100.0, 100.0));
        let b = rounded(&data(n, 5, -100.0, 100.0));
        let out = zeros(&[n]);
        let mut r = rec();
        ops::add_relu(&mut r, n, &up(&a, &[n]), &up(&b, &[n]), &out).unwrap();
        r.submit().unwrap();
        assert_close(
            &format!("add_relu n={n}"),
            &read(&out),
            &reference::add_relu(&a, &b),
            REL,
            ABS,
        );
    }
}

seer_gpu::on_backends!(transpose_matches_reference);
fn transpose_matches_reference() {
    for (i, &(rows, cols, offset)) in [
        (1, 1, 0),
        (1, 300, 2),
        (300, 1, 0),
        (17, 33, 5),
        (16, 16, 0),
        (64, 48, 1),
        (129, 257, 3),
    ]
    .iter()
    .enumerate()
    {
        let src = rounded(&data(offset + rows * cols, 20 + i as u64, -100.0, 100.0));
        let dst = zeros(&[rows * cols]);
        let mut r = rec();
        ops::transpose(&mut r, rows, cols, &up(&src, &[src.len()]), offset, &dst).unwrap();
        r.submit().unwrap();
        // a pure copy: exact
        assert_close(
            &format!("transpose {rows}x{cols}+{offset}"),
            &read(&dst),
            &reference::transpose(rows, cols, &src, offset),
            0.0,
            0.0,
        );
    }
}

seer_gpu::on_backends!(axpy_matches_reference_and_leaves_the_rest);
fn axpy_matches_reference_and_leaves_the_rest() {
    for &(n, alpha, so, dof) in &[(1, 2.0, 0, 0), (1001, -0.5, 3, 7), (70_001, 1.0, 0, 1)] {
        let src = rounded(&data(so + n + 2, 30, -100.0, 100.0));
        let dst0 = rounded(&data(dof + n + 4, 31, -100.0, 100.0));
        let dst = up(&dst0, &[dst0.len()]);
        let mut r = rec();
        ops::axpy(
            &mut r,
            n,
            alpha as f32,
            &up(&src, &[src.len()]),
            so,
            &dst,
            dof,
        )
        .unwrap();
        r.submit().unwrap();
        let mut want = dst0.clone();
        reference::axpy(n, alpha, &src, so, &mut want, dof);
        let got = read(&dst);
        assert_close(&format!("axpy n={n}"), &got, &want, REL, ABS * 100.0);
        for i in (0..dof).chain(dof + n..dst0.len()) {
            assert_eq!(got[i], dst0[i], "axpy n={n}: dst[{i}] written");
        }
    }
    // accumulate = axpy with α = 1
    let a = rounded(&data(300, 40, -1.0, 1.0));
    let b = rounded(&data(300, 41, -1.0, 1.0));
    let dst = up(&b, &[300]);
    let mut r = rec();
    ops::accumulate(&mut r, 300, &up(&a, &[300]), &dst).unwrap();
    r.submit().unwrap();
    let want: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    assert_close("accumulate", &read(&dst), &want, REL, ABS);
}

seer_gpu::on_backends!(elementwise_rejects_bad_arguments);
fn elementwise_rejects_bad_arguments() {
    let t = zeros(&[10]);
    let mut r = rec();
    let err = ops::axpy(&mut r, 10, 1.0, &t, 0, &t, 0).unwrap_err();
    assert!(err.to_string().contains("distinct"), "{err}");
    let err = ops::transpose(&mut r, 3, 4, &t, 0, &zeros(&[12])).unwrap_err();
    assert!(err.to_string().contains("src holds 10"), "{err}");
    let err = ops::relu_backward(&mut r, 11, &t, &t, &zeros(&[11]), false).unwrap_err();
    assert!(err.to_string().contains("dy holds 10"), "{err}");
    assert_eq!(r.dispatches(), 0);
}
