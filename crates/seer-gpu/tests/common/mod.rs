//! Shared by the GPU-vs-CPU tests: one device per test binary, seeded data, tolerance checks.

#![allow(dead_code)]

use seer_gpu::{GpuContext, Recorder, Tensor};

/// The backend this test runs on (every kernel test runs on both: `seer_gpu::on_backends!`).
pub fn ctx() -> &'static GpuContext {
    seer_gpu::testing::context()
}

/// Deterministic values in [lo, hi) from a 64-bit LCG.
pub fn data(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

pub fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// The f32 values the GPU sees, back in f64, so the reference starts from identical inputs.
pub fn rounded(v: &[f64]) -> Vec<f64> {
    v.iter().map(|&x| x as f32 as f64).collect()
}

pub fn up(v: &[f64], shape: &[usize]) -> Tensor {
    ctx().upload(&f32s(v), shape).expect("upload")
}

pub fn zeros(shape: &[usize]) -> Tensor {
    ctx().zeros(shape).expect("zeros")
}

pub fn read(t: &Tensor) -> Vec<f64> {
    ctx()
        .read(t)
        .expect("read")
        .iter()
        .map(|&x| x as f64)
        .collect()
}

pub fn rec() -> Recorder<'static> {
    Recorder::new(ctx())
}

/// Every element within `abs + rel·|expected|`, and no NaN anywhere.
pub fn assert_close(what: &str, got: &[f64], want: &[f64], rel: f64, abs: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0.0, 0usize);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.is_finite(),
            "{what}[{i}] = {g} is not finite (expected {w})"
        );
        let err = (g - w).abs();
        let allowed = abs + rel * w.abs();
        if err > allowed {
            panic!("{what}[{i}]: got {g}, expected {w} (|err| {err:.3e} > {allowed:.3e})");
        }
        if err > worst.0 {
            worst = (err, i);
        }
    }
}
