//! GPU vs f64 reference for the optimizer kernels (sum of squares, clip/skip decision, AdamW),
//! plus a hand-written f64 Adam on a small quadratic, exact clipping and the skipped step.
//! Tolerance: rel 1e-4, abs 1e-5 (scaled by the data's magnitude where stated).

mod common;

use common::*;
use seer_gpu::ops::{self, AdamConfig, MAX_PARTIALS, STATE_LEN, StepState};
use seer_gpu::{Tensor, reference};

const REL: f64 = 1e-4;
const ABS: f64 = 1e-5;

fn read32(t: &Tensor) -> Vec<f32> {
    ctx().read(t).expect("read")
}

seer_gpu::on_backends!(sum_squares_partial_matches_reference_on_ragged_chunks);
fn sum_squares_partial_matches_reference_on_ragged_chunks() {
    for (i, &(n, chunk, scale)) in [
        (1, 1, 1.0),
        (1, 256, 1.0),
        (255, 256, 1.0),
        (257, 256, 1.0),
        (1000, 300, 1.0),
        (5000, 7, 1.0),
        (70_001, 1024, 1.0),
        (3001, 513, 100.0),
    ]
    .iter()
    .enumerate()
    {
        let g = rounded(&data(n, 100 + i as u64, -scale, scale));
        let groups = n.div_ceil(chunk);
        let partial = zeros(&[groups]);
        let mut r = rec();
        ops::sum_squares_partial(&mut r, n, chunk, &up(&g, &[n]), &partial).unwrap();
        r.submit().unwrap();
        let want = reference::sum_squares_partial(&g, chunk);
        assert_close(
            &format!("partials n={n} chunk={chunk}"),
            &read(&partial),
            &want,
            REL,
            ABS * scale * scale,
        );
    }
}

seer_gpu::on_backends!(norm_chunk_bounds_the_partials);
fn norm_chunk_bounds_the_partials() {
    for n in [0, 1, 255, 256, 257, 262_144, 262_145, 10_000_019] {
        let chunk = ops::norm_chunk(n);
        assert_eq!(chunk % 256, 0, "n={n}");
        assert!(n.div_ceil(chunk) <= MAX_PARTIALS, "n={n}");
    }
}

struct Buffers {
    params: Tensor,
    grads: Tensor,
    m: Tensor,
    v: Tensor,
    loss: Tensor,
    state: Tensor,
}

fn upload_all(p: &[f64], g: &[f64], m: &[f64], v: &[f64], loss: f64) -> Buffers {
    let n = p.len();
    Buffers {
        params: up(p, &[n]),
        grads: up(g, &[n]),
        m: up(m, &[n]),
        v: up(v, &[n]),
        loss: up(&[loss], &[1]),
        state: zeros(&[STATE_LEN]),
    }
}

fn run_step(b: &Buffers, n: usize, cfg: &AdamConfig, step: u64) {
    let mut r = rec();
    ops::clip_and_adam(
        &mut r, n, &b.params, &b.grads, &b.m, &b.v, &b.loss, &b.state, cfg, step,
    )
    .unwrap();
    r.submit().unwrap();
}

fn check_against_reference(n: usize, scale: f64, cfg: AdamConfig, step: u64, seed: u64) {
    let p0 = rounded(&data(n, seed, -1.0, 1.0));
    let g = rounded(&data(n, seed + 1, -scale, scale));
    let (m0, v0) = if step > 1 {
        (
            rounded(&data(n, seed + 2, -0.1 * scale, 0.1 * scale)),
            rounded(&data(n, seed + 3, 0.0, 0.01 * scale * scale)),
        )
    } else {
        (vec![0.0; n], vec![0.0; n])
    };
    let loss = 3.5;
    let b = upload_all(&p0, &g, &m0, &v0, loss);
    run_step(&b, n, &cfg, step);

    let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
    let state = reference::clip_and_adam(&cfg, step, loss, &mut p, &g, &mut m, &mut v);
    let what = format!("n={n} scale={scale} step={step} max_norm={}", cfg.max_norm);
    let got_state = read(&b.state);
    assert_close(&format!("{what}: state"), &got_state, &state, REL, ABS);
    assert_close(&format!("{what}: params"), &read(&b.params), &p, REL, ABS);
    assert_close(&format!("{what}: m"), &read(&b.m), &m, REL, ABS * scale);
    assert_close(
        &format!("{what}: v"),
        &read(&b.v),
        &v,
        REL,
        ABS * scale * scale,
    );
}

seer_gpu::on_backends!(clip_and_adam_matches_reference);
fn clip_and_adam_matches_reference() {
    let base = AdamConfig {
        lr: 1e-2,
        weight_decay: 0.01,
        ..AdamConfig::default()
    };
    // none a multiple of 256; 300_001 needs several hundred partial sums
    for (i, &n) in [1usize, 1000, 300_001].iter().enumerate() {
        let seed = 10 * i as u64;
        check_against_reference(n, 1.0, base, 1, seed);
        check_against_reference(
            n,
            1.0,
            AdamConfig {
                max_norm: 0.5,
                ..base
            },
            7,
            seed + 5,
        );
    }
    // ±100 gradients, clipped and not
    check_against_reference(
        777,
        100.0,
        AdamConfig {
            max_norm: 1.0,
            ..base
        },
        3,
        40,
    );
    check_against_reference(777, 100.0, base, 1000, 50);
}

seer_gpu::on_backends!(the_step_is_deterministic);
fn the_step_is_deterministic() {
    let n = 70_001;
    let p0 = rounded(&data(n, 1, -1.0, 1.0));
    let g = rounded(&data(n, 2, -1.0, 1.0));
    let zero = vec![0.0; n];
    let cfg = AdamConfig {
        max_norm: 1.0,
        ..AdamConfig::default()
    };
    let runs: Vec<(Vec<f32>, Vec<f32>)> = (0..2)
        .map(|_| {
            let b = upload_all(&p0, &g, &zero, &zero, 1.0);
            run_step(&b, n, &cfg, 1);
            (read32(&b.params), read32(&b.state))
        })
        .collect();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&runs[0].0), bits(&runs[1].0));
    assert_eq!(bits(&runs[0].1), bits(&runs[1].1));
}

/// f(p) = ½ Σ a_i (p_i − c_i)², minimised with the GPU step and with a hand-written f64 AdamW
/// (clipping included), each from its own trajectory.
fn quadratic(cfg: AdamConfig) {
    let a = [1.0, 2.0, 0.5, 3.0, 10.0];
    let c = [0.5, -1.0, 2.0, 0.0, 0.25];
    let p0 = [1.5, 1.0, -2.0, 0.75, -0.5];
    let n = a.len();
    let grad = |p: &[f64]| -> (Vec<f64>, f64) {
        let g: Vec<f64> = (0..n).map(|i| a[i] * (p[i] - c[i])).collect();
        let f = (0..n).map(|i| 0.5 * a[i] * (p[i] - c[i]).powi(2)).sum();
        (g, f)
    };
    let (lr, b1, b2) = (cfg.lr as f64, cfg.beta1 as f64, cfg.beta2 as f64);
    let (eps, wd, max_norm) = (cfg.eps as f64, cfg.weight_decay as f64, cfg.max_norm as f64);

    let params = up(&p0, &[n]);
    let (m_t, v_t, state) = (zeros(&[n]), zeros(&[n]), zeros(&[STATE_LEN]));
    let mut p = p0.to_vec();
    let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
    for step in 1..=8u64 {
        // GPU: gradient of its own f32 parameters
        let gp = read(&params);
        let (g, f) = grad(&gp);
        let mut r = rec();
        ops::clip_and_adam(
            &mut r,
            n,
            &params,
            &up(&g, &[n]),
            &m_t,
            &v_t,
            &up(&[f], &[1]),
            &state,
            &cfg,
            step,
        )
        .unwrap();
        r.submit().unwrap();

        // hand-written AdamW
        let (g, _) = grad(&p);
        let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
        let s = if max_norm > 0.0 {
            (max_norm / (norm + 1e-6)).min(1.0)
        } else {
            1.0
        };
        let t = step as i32;
        for i in 0..n {
            let gi = g[i] * s;
            p[i] *= 1.0 - lr * wd;
            m[i] = b1 * m[i] + (1.0 - b1) * gi;
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
            let m_hat = m[i] / (1.0 - b1.powi(t));
            let v_hat = v[i] / (1.0 - b2.powi(t));
            p[i] -= lr * m_hat / (v_hat.sqrt() + eps);
        }
        let st = StepState::from_words(&read32(&state)).unwrap();
        assert!(st.applied, "step {step}");
        assert!(
            (st.grad_norm as f64 - norm).abs() <= 1e-4 * norm + 1e-5,
            "step {step}: norm {} vs {norm}",
            st.grad_norm
        );
        assert_close(
            &format!("{cfg:?} step {step}"),
            &read(&params),
            &p,
            REL,
            ABS,
        );
    }
    // it went downhill
    assert!(grad(&p).1 < grad(&p0).1);
}

seer_gpu::on_backends!(adam_follows_hand_written_adam_on_a_quadratic);
fn adam_follows_hand_written_adam_on_a_quadratic() {
    quadratic(AdamConfig {
        lr: 0.05,
        ..AdamConfig::default()
    });
    quadratic(AdamConfig {
        lr: 0.1,
        beta1: 0.8,
        beta2: 0.95,
        eps: 1e-6,
        weight_decay: 0.1,
        max_norm: 0.0,
    });
    quadratic(AdamConfig {
        lr: 0.05,
        weight_decay: 0.01,
        max_norm: 1.0,
        ..AdamConfig::default()
    });
}

seer_gpu::on_backends!(clipping_scales_a_gradient_of_known_norm_exactly);
fn clipping_scales_a_gradient_of_known_norm_exactly() {
    // ‖(3, −4, 12, 0, …)‖ = 13, exact in f32
    let n = 1000;
    let mut g = vec![0.0; n];
    g[0] = 3.0;
    g[517] = -4.0;
    g[999] = 12.0;
    let zero = vec![0.0; n];
    for (max_norm, want_scale) in [
        (6.5f32, 6.5 / (13.0 + 1e-6)),
        (1.0, 1.0 / (13.0 + 1e-6)),
        (13.5, 1.0),
        (0.0, 1.0),
    ] {
        let cfg = AdamConfig {
            max_norm,
            ..AdamConfig::default()
        };
        let b = upload_all(&zero, &g, &zero, &zero, 0.25);
        run_step(&b, n, &cfg, 1);
        let st = StepState::from_words(&read32(&b.state)).unwrap();
        assert_eq!(st.grad_norm, 13.0, "max_norm {max_norm}");
        assert!(st.applied);
        let scale = st.scale as f64;
        assert!(
            (scale - want_scale).abs() <= 1e-6 * want_scale,
            "max_norm {max_norm}: scale {scale} vs {want_scale}"
        );
        if max_norm >= 13.0 || max_norm == 0.0 {
            assert_eq!(st.scale, 1.0);
        }
        // m after the first step is (1 − β1)·scale·g: the clipped gradient itself
        let m = read(&b.m);
        for (i, &gi) in g.iter().enumerate() {
            let want = 0.1 * want_scale * gi;
            assert!(
                (m[i] - want).abs() <= 1e-6 * want.abs(),
                "m[{i}] = {} vs {want}",
                m[i]
            );
        }
        // the clipped gradient has norm max_norm (up to the 1e-6 guard)
        let clipped: f64 = m.iter().map(|x| (x / 0.1).powi(2)).sum::<f64>().sqrt();
        let want_norm = if max_norm > 0.0 {
            (max_norm as f64).min(13.0)
        } else {
            13.0
        };
        assert!((clipped - want_norm).abs() <= 1e-5 * want_norm, "{clipped}");
    }
}

seer_gpu::on_backends!(clipping_keeps_the_guard_of_tiny_norms);
fn clipping_keeps_the_guard_of_tiny_norms() {
    // norm 1e-6 with max_norm 1e-6: min(1, 1e-6 / (1e-6 + 1e-6)) = ½, as clip_grad_norm_
    let g = [0.0, 1e-6, 0.0];
    let zero = [0.0; 3];
    let cfg = AdamConfig {
        max_norm: 1e-6,
        ..AdamConfig::default()
    };
    let b = upload_all(&zero, &g, &zero, &zero, 0.0);
    run_step(&b, 3, &cfg, 1);
    let st = StepState::from_words(&read32(&b.state)).unwrap();
    assert!((st.scale - 0.5).abs() < 1e-6, "{st:?}");
}

seer_gpu::on_backends!(non_finite_gradient_or_loss_skips_the_step);
fn non_finite_gradient_or_loss_skips_the_step() {
    let n = 1000;
    let p0 = rounded(&data(n, 7, -1.0, 1.0));
    let m0 = rounded(&data(n, 8, -0.1, 0.1));
    let v0 = rounded(&data(n, 9, 0.0, 0.01));
    let good = rounded(&data(n, 10, -1.0, 1.0));
    let cfg = AdamConfig {
        lr: 0.01,
        weight_decay: 0.1,
        max_norm: 1.0,
        ..AdamConfig::default()
    };
    let with = |i: usize, x: f64| {
        let mut g = good.clone();
        g[i] = x;
        g
    };
    let cases: Vec<(&str, Vec<f64>, f64)> = vec![
        ("NaN gradient", with(700, f64::NAN), 1.0),
        ("Inf gradient", with(3, f64::INFINITY), 1.0),
        ("-Inf gradient", with(999, f64::NEG_INFINITY), 1.0),
        // finite, but its square overflows f32: the norm is Inf
        ("huge gradient", with(0, 1e30), 1.0),
        ("NaN loss", good.clone(), f64::NAN),
        ("Inf loss", good.clone(), f64::INFINITY),
    ];
    for (what, g, loss) in cases {
        let b = upload_all(&p0, &g, &m0, &v0, loss);
        let before = (read32(&b.params), read32(&b.m), read32(&b.v));
        run_step(&b, n, &cfg, 5);
        let st = StepState::from_words(&read32(&b.state)).unwrap();
        assert!(!st.applied, "{what}: {st:?}");
        assert_eq!(st.scale, 0.0, "{what}");
        if loss.is_finite() {
            assert!(!st.grad_norm.is_finite(), "{what}: {st:?}");
        } else {
            assert!(st.grad_norm.is_finite(), "{what}: {st:?}");
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&read32(&b.params)), bits(&before.0), "{what}: params");
        assert_eq!(bits(&read32(&b.m)), bits(&before.1), "{what}: m");
        assert_eq!(bits(&read32(&b.v)), bits(&before.2), "{what}: v");
    }
    // the same buffers take the next good step
    let b = upload_all(&p0, &with(700, f64::NAN), &m0, &v0, 1.0);
    run_step(&b, n, &cfg, 5);
    ctx().write(&b.grads, 0, &f32s(&good)).unwrap();
    run_step(&b, n, &cfg, 6);
    let st = StepState::from_words(&read32(&b.state)).unwrap();
    assert!(st.applied);
    let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
    reference::clip_and_adam(&cfg, 6, 1.0, &mut p, &good, &mut m, &mut v);
    assert_close("after a skip", &read(&b.params), &p, REL, ABS);
}

seer_gpu::on_backends!(bad_arguments_are_typed_errors);
fn bad_arguments_are_typed_errors() {
    let t = |n: usize| zeros(&[n]);
    let (p, g, m, v, loss, state) = (t(10), t(10), t(10), t(10), t(1), t(STATE_LEN));
    let cfg = AdamConfig::default();
    let mut r = rec();
    let err = ops::clip_and_adam(&mut r, 10, &p, &g, &m, &v, &loss, &state, &cfg, 0).unwrap_err();
    assert!(err.to_string().contains("step counts from 1"), "{err}");
    let err = ops::clip_and_adam(&mut r, 11, &p, &g, &m, &v, &loss, &state, &cfg, 1).unwrap_err();
    assert!(err.to_string().contains("params holds 10 values"), "{err}");
    let err = ops::clip_and_adam(&mut r, 10, &p, &g, &m, &m, &loss, &state, &cfg, 1).unwrap_err();
    assert!(err.to_string().contains("distinct"), "{err}");
    let bad = AdamConfig { beta2: 1.0, ..cfg };
    let err = ops::clip_and_adam(&mut r, 10, &p, &g, &m, &v, &loss, &state, &bad, 1).unwrap_err();
    assert!(err.to_string().contains("invalid Adam config"), "{err}");
    let err = ops::clip_and_adam(&mut r, 10, &p, &g, &m, &v, &loss, &t(3), &cfg, 1).unwrap_err();
    assert!(err.to_string().contains("state holds 3"), "{err}");
    assert_eq!(r.dispatches(), 0);
}
