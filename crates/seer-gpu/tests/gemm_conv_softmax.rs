//! GPU vs f64 CPU reference for the GEMM, the causal convolution and softmax.
//! Tolerance: rel 1e-4, abs 1e-5 (f32 accumulation over at most a few hundred terms).

mod common;

use common::*;
use seer_gpu::ops::{self, Activation, Conv1dSpec, GemmSpec};
use seer_gpu::reference;

const REL: f64 = 1e-4;
const ABS: f64 = 1e-5;

fn check_linear(m: usize, n: usize, k: usize, act: Activation, scale: f64, seed: u64) {
    let x = rounded(&data(m * k, seed, -scale, scale));
    let w = rounded(&data(n * k, seed + 1, -1.0, 1.0));
    let b = rounded(&data(n, seed + 2, -scale, scale));
    let y = zeros(&[m, n]);
    let mut r = rec();
    ops::linear(
        &mut r,
        &up(&x, &[m, k]),
        m,
        &up(&w, &[n, k]),
        Some(&up(&b, &[n])),
        act,
        &y,
    )
    .unwrap();
    r.submit().unwrap();
    let spec = GemmSpec {
        m,
        n,
        k,
        a_row_stride: k,
        a_col_stride: 1,
        b_row_stride: 1,
        b_col_stride: k,
        c_row_stride: n,
        c_offset: 0,
        activation: act,
        accumulate: false,
        a_offset: 0,
        b_offset: 0,
        bias_offset: 0,
        c_col_stride: 1,
    };
    let mut want = vec![0.0; m * n];
    reference::gemm(&spec, &x, &w, Some(&b), &mut want);
    assert_close(
        &format!("linear {m}x{n}x{k}"),
        &read(&y),
        &want,
        REL,
        ABS * scale.max(1.0) * (k as f64).sqrt(),
    );
}

seer_gpu::on_backends!(linear_matches_reference_on_ragged_shapes);
fn linear_matches_reference_on_ragged_shapes() {
    // none a multiple of the 64×64×16 tile, plus batch 1 and exact tiles
    for (i, &(m, n, k)) in [
        (1, 1, 1),
        (1, 7, 3),
        (67, 33, 17),
        (64, 64, 16),
        (130, 5, 129),
        (3, 200, 40),
    ]
    .iter()
    .enumerate()
    {
        check_linear(m, n, k, Activation::Identity, 1.0, 10 + i as u64);
        check_linear(m, n, k, Activation::Relu, 1.0, 20 + i as u64);
    }
}

seer_gpu::on_backends!(linear_with_extreme_inputs_stays_finite);
fn linear_with_extreme_inputs_stays_finite() {
    check_linear(9, 11, 13, Activation::Relu, 100.0, 7);
}

seer_gpu::on_backends!(gemm_transposed_strides_offset_and_accumulate);
fn gemm_transposed_strides_offset_and_accumulate() {
    // C[2..] (row stride 9) += Aᵀ·B with A stored [k, m] after 3 other values, B after 4
    let (m, n, k) = (5, 7, 6);
    let a = rounded(&data(3 + k * m, 1, -1.0, 1.0));
    let b = rounded(&data(4 + k * n, 2, -1.0, 1.0));
    let c0 = rounded(&data(2 + m * 9, 3, -1.0, 1.0));
    let spec = GemmSpec {
        m,
        n,
        k,
        a_row_stride: 1,
        a_col_stride: m,
        b_row_stride: n,
        b_col_stride: 1,
        c_row_stride: 9,
        c_offset: 2,
        activation: Activation::Identity,
        accumulate: true,
        a_offset: 3,
        b_offset: 4,
        bias_offset: 0,
        c_col_stride: 1,
    };
    let c = up(&c0, &[c0.len()]);
    let mut r = rec();
    ops::gemm(
        &mut r,
        &spec,
        &up(&a, &[a.len()]),
        &up(&b, &[b.len()]),
        None,
        &c,
    )
    .unwrap();
    r.submit().unwrap();
    let mut want = c0.clone();
    reference::gemm(&spec, &a, &b, None, &mut want);
    assert_close("gemm strided", &read(&c), &want, REL, ABS);
}

seer_gpu::on_backends!(gemm_rejects_too_small_buffers);
fn gemm_rejects_too_small_buffers() {
    let mut r = rec();
    let err = ops::linear(
        &mut r,
        &up(&[1.0; 4], &[2, 2]),
        3,
        &up(&[1.0; 4], &[2, 2]),
        None,
        Activation::Identity,
        &zeros(&[3, 2]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("A holds 4 values"), "{err}");
}

fn check_conv(spec: Conv1dSpec, with_residual: bool, scale: f64, seed: u64) {
    let x = rounded(&data(
        spec.batch * spec.in_channels * spec.steps,
        seed,
        -scale,
        scale,
    ));
    let w = rounded(&data(
        spec.out_channels * spec.in_channels * spec.kernel,
        seed + 1,
        -0.5,
        0.5,
    ));
    let b = rounded(&data(spec.out_channels, seed + 2, -0.5, 0.5));
    let n_out = spec.batch * spec.out_channels * spec.steps;
    let res = rounded(&data(n_out, seed + 3, -1.0, 1.0));
    let y = zeros(&[n_out]);
    let res_t = up(&res, &[n_out]);
    let mut r = rec();
    ops::conv1d_causal(
        &mut r,
        &spec,
        &up(&x, &[x.len()]),
        &up(&w, &[w.len()]),
        &up(&b, &[b.len()]),
        with_residual.then_some(&res_t),
        &y,
    )
    .unwrap();
    r.submit().unwrap();
    let want = reference::conv1d_causal(&spec, &x, &w, &b, with_residual.then_some(&res[..]));
    assert_close("conv1d", &read(&y), &want, REL, ABS * scale.max(1.0));
}

seer_gpu::on_backends!(conv1d_causal_matches_reference);
fn conv1d_causal_matches_reference() {
    let base = Conv1dSpec {
        batch: 3,
        in_channels: 5,
        out_channels: 7,
        steps: 19,
        kernel: 3,
        dilation: 1,
        relu: false,
    };
    check_conv(base, false, 1.0, 1);
    check_conv(
        Conv1dSpec {
            dilation: 4,
            relu: true,
            ..base
        },
        true,
        1.0,
        2,
    );
    check_conv(
        Conv1dSpec {
            batch: 1,
            kernel: 1,
            dilation: 1,
            ..base
        },
        false,
        1.0,
        3,
    );
    // dilation reaching past the whole sequence reads only padding
    check_conv(
        Conv1dSpec {
            dilation: 25,
            ..base
        },
        true,
        1.0,
        4,
    );
    check_conv(Conv1dSpec { relu: true, ..base }, true, 100.0, 5);
}

seer_gpu::on_backends!(softmax_matches_reference_with_extreme_logits);
fn softmax_matches_reference_with_extreme_logits() {
    let (rows, classes) = (37, 5);
    let mut logits = rounded(&data(rows * classes, 9, -5.0, 5.0));
    logits[0] = 100.0;
    logits[1] = -100.0;
    logits[6] = 100.0;
    logits[7] = 100.0;
    let probs = zeros(&[rows, classes]);
    let mut r = rec();
    ops::softmax(
        &mut r,
        rows,
        classes,
        &up(&logits, &[rows, classes]),
        &probs,
    )
    .unwrap();
    r.submit().unwrap();
    let got = read(&probs);
    assert_close(
        "softmax",
        &got,
        &reference::softmax(rows, classes, &logits),
        REL,
        1e-6,
    );
    for row in got.chunks(classes) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5);
    }
}

seer_gpu::on_backends!(matmul_views_and_bias_broadcast);
fn matmul_views_and_bias_broadcast() {
    // C = Aᵀ·B with A [k=4, m=3] and B [k=4, n=2] at an offset, then C += bias
    let a = rounded(&data(12, 1, -1.0, 1.0));
    let b = rounded(&data(3 + 8, 2, -1.0, 1.0));
    let bias = rounded(&data(2 + 2, 3, -1.0, 1.0));
    let (at, bt, biast) = (up(&a, &[12]), up(&b, &[11]), up(&bias, &[4]));
    let c = zeros(&[3, 2]);
    let mut r = rec();
    ops::matmul(
        &mut r,
        ops::Mat::rm(&at, 0, 4, 3).t(),
        ops::Mat::rm(&bt, 3, 4, 2),
        None,
        &c,
        0,
        2,
        false,
    )
    .unwrap();
    ops::add_bias(&mut r, &c, 3, 2, &biast, 2).unwrap();
    r.submit().unwrap();
    let mut want = vec![0.0; 6];
    for m in 0..3 {
        for n in 0..2 {
            want[m * 2 + n] =
                (0..4).map(|k| a[k * 3 + m] * b[3 + k * 2 + n]).sum::<f64>() + bias[2 + n];
        }
    }
    assert_close("matmul", &read(&c), &want, REL, ABS);
}

seer_gpu::on_backends!(gemm_scatters_into_strided_columns);
fn gemm_scatters_into_strided_columns() {
    // write a [3, 4] product into column t = 2 of [3 rows × 4 channels × 5 steps]
    let (m, n, k, steps) = (3, 4, 6, 5);
    let a = rounded(&data(m * k, 7, -1.0, 1.0));
    let b = rounded(&data(k * n, 8, -1.0, 1.0));
    let spec = GemmSpec {
        c_row_stride: n * steps,
        c_col_stride: steps,
        c_offset: 2,
        ..GemmSpec::row_major(m, n, k)
    };
    let c = zeros(&[m * n * steps]);
    let mut r = rec();
    ops::gemm(&mut r, &spec, &up(&a, &[m, k]), &up(&b, &[k, n]), None, &c).unwrap();
    r.submit().unwrap();
    let mut want = vec![0.0; m * n * steps];
    reference::gemm(&spec, &a, &b, None, &mut want);
    let got = read(&c);
    assert_close("strided C", &got, &want, REL, ABS);
    assert_eq!(
        got.iter().filter(|v| **v != 0.0).count(),
        m * n,
        "only column t = 2 is written"
    );
}
