//! Training losses: GPU (f32) vs the f64 reference, the reference's gradients vs central
//! differences, and known closed forms.
//!
//! Tolerances:
//! - GPU vs reference, every kernel: rel 1e-4, abs 1e-5 (weight 1, so these are on the loss and
//!   gradient values themselves), on 1, 37 and 300 rows (not multiples of 256) with masked rows,
//!   non-finite targets and ±100 raw values. The likelihoods reach this although lgamma and
//!   digamma of large arguments nearly cancel, because the kernel never forms that difference
//!   (see shaders/loss.wgsl); the reference uses the textbook formulas.
//! - The f32 special functions: lgamma within abs 2e-6 + rel 1e-6 and digamma within abs 2e-6 +
//!   rel 1e-6 of f64 on 1e-6 ≤ x ≤ 1e6. Absolute near the roots (lgamma at 1 and 2, digamma at
//!   1.4616): f32 `log` itself is only accurate to ~2^-21 absolutely on [0.5, 2] on GPUs.
//! - Closed forms: abs 1e-5 (the Poisson and Gaussian limits differ from the NB and Student-t by
//!   O(α·z²) and O(y⁴/ν); α = 1e-8 and ν ≈ 1e7 keep that below 1e-5).
//! - Not covered by these tolerances: a negative-binomial mean μ ≈ z ≫ 1e4, where μ̃'s own f32
//!   rounding leaves μ − z good to only ~1e-7·μ (inherent to an f32 head, not to the kernel).
//! - Reference gradients vs central differences (f64, h = 1e-6): rel 1e-5, plus an absolute floor
//!   of 1e-9·(1 + Σ|terms|) for the rounding of the loss itself (f64 eps × magnitude / h).
//! - sum_rows: rel 1e-5 vs the f64 sum of positive values, bitwise equal on a rerun.

mod common;

use common::*;
use seer_gpu::GpuError;
use seer_gpu::ops::{self, Distribution};
use seer_gpu::reference;

const DISTRIBUTIONS: [Distribution; 3] = [
    Distribution::Gaussian,
    Distribution::StudentT,
    Distribution::NegativeBinomial,
];
const ROW_COUNTS: [usize; 3] = [1, 37, 300];
const STRIDE: usize = 4;
const ROWS_PER_SCALE: usize = 3;

struct LikelihoodCase {
    raw: Vec<f64>,
    scale: Vec<f64>,
    target: Vec<f64>,
    mask: Vec<f64>,
}

/// Random heads and targets, every 7th row masked, a NaN and an inf target, the first 8 rows
/// all ±100 combinations of (o0, o1, o2), and for counts rows with 0 and 5000.
fn likelihood_case(dist: Distribution, rows: usize, seed: u64) -> LikelihoodCase {
    let mut raw = rounded(&data(rows * STRIDE, seed, -3.0, 3.0));
    let scale = rounded(&data(rows.div_ceil(ROWS_PER_SCALE), seed + 1, 1.0, 50.0));
    let target: Vec<f64> = data(rows, seed + 2, -4.0, 4.0)
        .iter()
        .enumerate()
        .map(|(r, u)| {
            let s = scale[r / ROWS_PER_SCALE];
            match dist {
                Distribution::NegativeBinomial => (u.abs() * 8.0 * s.sqrt()).floor(),
                _ => u * s,
            }
        })
        .collect();
    let mut target = rounded(&target);
    let mut mask: Vec<f64> = (0..rows)
        .map(|r| if r % 7 == 6 { 0.0 } else { 1.0 })
        .collect();
    if rows >= 37 {
        for r in 0..8 {
            raw[r * STRIDE] = if r & 1 == 0 { 100.0 } else { -100.0 };
            raw[r * STRIDE + 1] = if r & 2 == 0 { 100.0 } else { -100.0 };
            raw[r * STRIDE + 2] = if r & 4 == 0 { 100.0 } else { -100.0 };
        }
        target[9] = f64::NAN;
        target[10] = f64::INFINITY;
        mask[11] = f64::NAN;
        if dist == Distribution::NegativeBinomial {
            for (r, z) in [(0, 0.0), (1, 5000.0), (2, 5000.0), (3, 0.0), (12, 0.0)] {
                target[r] = z;
            }
            for r in [14, 15, 16, 17] {
                target[r] = 5000.0;
            }
        }
    }
    LikelihoodCase {
        raw,
        scale,
        target,
        mask,
    }
}

fn gpu_likelihood(
    dist: Distribution,
    rows: usize,
    weight: f32,
    case: &LikelihoodCase,
) -> (Vec<f64>, Vec<f64>) {
    // garbage in the outputs first: every element must be written
    let loss = up(&vec![123.0; rows], &[rows]);
    let d_raw = up(&vec![123.0; rows * STRIDE], &[rows, STRIDE]);
    let mut r = rec();
    ops::likelihood_loss(
        &mut r,
        dist,
        rows,
        STRIDE,
        ROWS_PER_SCALE,
        weight,
        &up(&case.raw, &[rows, STRIDE]),
        &up(&case.scale, &[case.scale.len()]),
        &up(&case.target, &[rows]),
        &up(&case.mask, &[rows]),
        &loss,
        &d_raw,
    )
    .unwrap();
    r.submit().unwrap();
    (read(&loss), read(&d_raw))
}

seer_gpu::on_backends!(likelihood_loss_matches_reference_with_masks_and_extremes);
fn likelihood_loss_matches_reference_with_masks_and_extremes() {
    for dist in DISTRIBUTIONS {
        for rows in ROW_COUNTS {
            let case = likelihood_case(dist, rows, 40 + rows as u64);
            let (loss, grad) = gpu_likelihood(dist, rows, 1.0, &case);
            let (want_loss, want_grad) = reference::likelihood_loss(
                dist,
                rows,
                STRIDE,
                ROWS_PER_SCALE,
                1.0,
                &case.raw,
                &case.scale,
                &case.target,
                &case.mask,
            );
            let what = format!("{} rows={rows}", dist.name());
            assert_close(&format!("{what} loss"), &loss, &want_loss, 1e-4, 1e-5);
            assert_close(&format!("{what} d_raw"), &grad, &want_grad, 1e-4, 1e-5);
            for r in 0..rows {
                let observed =
                    case.mask[r].is_finite() && case.mask[r] > 0.0 && case.target[r].is_finite();
                if !observed {
                    assert_eq!(loss[r], 0.0, "{what}: masked row {r} loss");
                    assert!(
                        grad[r * STRIDE..(r + 1) * STRIDE].iter().all(|&g| g == 0.0),
                        "{what}: masked row {r} gradient"
                    );
                }
                // the column past the parameters is written 0
                assert_eq!(grad[r * STRIDE + 3], 0.0, "{what}: row {r} column 3");
            }
        }
    }
}

seer_gpu::on_backends!(likelihood_weight_scales_and_sum_rows_gives_the_mean);
fn likelihood_weight_scales_and_sum_rows_gives_the_mean() {
    for dist in DISTRIBUTIONS {
        let rows = 300;
        let case = likelihood_case(dist, rows, 7);
        let observed = (0..rows)
            .filter(|&r| case.mask[r] > 0.0 && case.target[r].is_finite())
            .count();
        let weight = 1.0 / observed as f32;
        let loss = zeros(&[rows]);
        let d_raw = zeros(&[rows, STRIDE]);
        let total = zeros(&[1]);
        let mut r = rec();
        ops::likelihood_loss(
            &mut r,
            dist,
            rows,
            STRIDE,
            ROWS_PER_SCALE,
            weight,
            &up(&case.raw, &[rows, STRIDE]),
            &up(&case.scale, &[case.scale.len()]),
            &up(&case.target, &[rows]),
            &up(&case.mask, &[rows]),
            &loss,
            &d_raw,
        )
        .unwrap();
        ops::sum_rows(&mut r, rows, &loss, &total).unwrap();
        r.submit().unwrap();
        let (want_loss, want_grad) = reference::likelihood_loss(
            dist,
            rows,
            STRIDE,
            ROWS_PER_SCALE,
            weight as f64,
            &case.raw,
            &case.scale,
            &case.target,
            &case.mask,
        );
        let w = weight as f64;
        assert_close(dist.name(), &read(&loss), &want_loss, 1e-4, 1e-5 * w);
        assert_close(dist.name(), &read(&d_raw), &want_grad, 1e-4, 1e-5 * w);
        let mean = reference::sum_rows(&want_loss);
        let got = read(&total)[0];
        // the ±100 rows dominate; the sum of f32 rows carries their f32 rounding
        assert!(
            (got - mean).abs() <= 1e-4 * mean.abs() + 1e-5,
            "{}: mean {got} vs {mean}",
            dist.name()
        );
    }
}

seer_gpu::on_backends!(negative_counts_are_outside_the_negative_binomial_support);
fn negative_counts_are_outside_the_negative_binomial_support() {
    let raw = vec![0.5, -1.0];
    let (nll, _) = reference::likelihood_nll(Distribution::NegativeBinomial, &raw, 2.0, -1.0);
    assert!(nll.is_nan());
    let loss = zeros(&[1]);
    let d_raw = zeros(&[1, 2]);
    let mut r = rec();
    ops::likelihood_loss(
        &mut r,
        Distribution::NegativeBinomial,
        1,
        2,
        1,
        1.0,
        &up(&raw, &[1, 2]),
        &up(&[2.0], &[1]),
        &up(&[-1.0], &[1]),
        &up(&[1.0], &[1]),
        &loss,
        &d_raw,
    )
    .unwrap();
    r.submit().unwrap();
    assert!(read(&loss)[0].is_nan(), "a negative count must show as NaN");
}

/// One-row GPU NLL and gradient.
fn gpu_nll(dist: Distribution, raw: &[f64], scale: f64, z: f64) -> (f64, Vec<f64>) {
    let stride = raw.len();
    let loss = zeros(&[1]);
    let d_raw = zeros(&[1, stride]);
    let mut r = rec();
    ops::likelihood_loss(
        &mut r,
        dist,
        1,
        stride,
        1,
        1.0,
        &up(raw, &[1, stride]),
        &up(&[scale], &[1]),
        &up(&[z], &[1]),
        &up(&[1.0], &[1]),
        &loss,
        &d_raw,
    )
    .unwrap();
    r.submit().unwrap();
    (read(&loss)[0], read(&d_raw))
}

/// softplus⁻¹(y) = ln(eʸ − 1)
fn inv_softplus(y: f64) -> f64 {
    y.exp_m1().ln()
}

seer_gpu::on_backends!(gaussian_nll_at_the_mean_is_log_sigma_root_two_pi);
fn gaussian_nll_at_the_mean_is_log_sigma_root_two_pi() {
    for (o1, s) in [(0.3, 1.0), (-2.0, 7.5), (4.0, 0.25)] {
        let raw = [1.25, o1];
        let z = 1.25 * s;
        let sigma = (reference::softplus(o1) + 1e-6) * s;
        let want = (sigma * (2.0 * std::f64::consts::PI).sqrt()).ln();
        let (nll, _) = reference::likelihood_nll(Distribution::Gaussian, &raw, s, z);
        assert!((nll - want).abs() < 1e-12, "reference {nll} vs {want}");
        let (got, grad) = gpu_nll(Distribution::Gaussian, &raw, s, z);
        assert!((got - want).abs() < 1e-5, "gpu {got} vs {want}");
        assert!(
            grad[0].abs() < 1e-5,
            "∂/∂μ at the mean is 0, got {}",
            grad[0]
        );
    }
}

seer_gpu::on_backends!(a_target_at_a_large_mean_keeps_its_digits);
fn a_target_at_a_large_mean_keeps_its_digits() {
    // s·o0 = 3 · f32(1/3) = 1 + 3e-8 is not an f32, so z/s − o0 or an unfused s·o0 − z loses the
    // whole difference, which σ = 3e-6 magnifies to a gradient of ~1e4
    let o0 = (1.0f32 / 3.0) as f64;
    for dist in [Distribution::Gaussian, Distribution::StudentT] {
        let raw = [o0, -100.0, 0.0];
        let (nll, grad) = reference::likelihood_nll(dist, &raw, 3.0, 1.0);
        let (got, got_grad) = gpu_nll(dist, &raw, 3.0, 1.0);
        assert!(
            (got - nll).abs() < 1e-5 * (1.0 + nll.abs()),
            "{got} vs {nll}"
        );
        assert!(
            (got_grad[0] - grad[0]).abs() < 1e-4 * grad[0].abs(),
            "{}: ∂/∂o0 {} vs {}",
            dist.name(),
            got_grad[0],
            grad[0]
        );
    }
}

seer_gpu::on_backends!(student_t_with_three_degrees_at_the_mean_is_log_pi_root_three_over_two);
fn student_t_with_three_degrees_at_the_mean_is_log_pi_root_three_over_two() {
    // density at 0 of t₃ with σ = 1: Γ(2)/(Γ(3/2)√(3π)) = 2/(π√3)
    let raw = [0.0, inv_softplus(1.0 - 1e-6), inv_softplus(1.0)];
    let want = (std::f64::consts::PI * 3f64.sqrt() / 2.0).ln();
    let (nll, _) = reference::likelihood_nll(Distribution::StudentT, &raw, 1.0, 0.0);
    assert!((nll - want).abs() < 1e-9, "reference {nll} vs {want}");
    let (got, _) = gpu_nll(Distribution::StudentT, &rounded(&raw), 1.0, 0.0);
    assert!((got - want).abs() < 1e-5, "gpu {got} vs {want}");
}

seer_gpu::on_backends!(student_t_with_large_nu_approaches_the_gaussian);
fn student_t_with_large_nu_approaches_the_gaussian() {
    for (o0, o1, s, z) in [
        (0.5, 0.2, 3.0, 2.0),
        (-1.0, -1.5, 10.0, -4.0),
        (2.0, 1.0, 1.0, 5.0),
    ] {
        let gauss = reference::likelihood_nll(Distribution::Gaussian, &[o0, o1], s, z);
        // ν ≈ 1e7: the two differ by O(y⁴/ν)
        let raw = [o0, o1, 1e7];
        let t = reference::likelihood_nll(Distribution::StudentT, &raw, s, z);
        assert!(
            (t.0 - gauss.0).abs() < 1e-5,
            "reference {} vs {}",
            t.0,
            gauss.0
        );
        let (got, grad) = gpu_nll(Distribution::StudentT, &rounded(&raw), s, z);
        assert!((got - gauss.0).abs() < 1e-5, "gpu {got} vs {}", gauss.0);
        for (c, (g, want)) in grad.iter().zip(&gauss.1).take(2).enumerate() {
            assert!(
                (g - want).abs() < 1e-5 * (1.0 + want.abs()),
                "gpu ∂/∂o{c} {g} vs gaussian {want}"
            );
        }
        // ∂/∂ν → 0 as the Gaussian limit is flat in ν
        assert!(grad[2].abs() < 1e-5, "gpu ∂/∂o2 {}", grad[2]);
    }
}

seer_gpu::on_backends!(negative_binomial_with_small_alpha_approaches_poisson);
fn negative_binomial_with_small_alpha_approaches_poisson() {
    // o1 = −100: α̃ = 1e-6, and s = 1e4 makes α = 1e-8, so the NB differs from Poisson(μ) by
    // about α/2·((z − μ)² − z)
    let s = 1e4;
    for (mu, z) in [
        (2.5, 0.0),
        (2.5, 3.0),
        (0.3, 1.0),
        (12.0, 17.0),
        (40.0, 31.0),
    ] {
        let raw = [inv_softplus(mu / s - 1e-6), -100.0];
        let mu_exact = reference::head_params(Distribution::NegativeBinomial, &raw, s)[0];
        let poisson = mu_exact - z * mu_exact.ln() + reference::lgamma(z + 1.0);
        let (nll, _) = reference::likelihood_nll(Distribution::NegativeBinomial, &raw, s, z);
        assert!(
            (nll - poisson).abs() < 1e-5,
            "reference μ={mu} z={z}: {nll} vs {poisson}"
        );
        let (got, grad) = gpu_nll(Distribution::NegativeBinomial, &rounded(&raw), s, z);
        let mu32 = reference::head_params(Distribution::NegativeBinomial, &rounded(&raw), s)[0];
        let poisson32 = mu32 - z * mu32.ln() + reference::lgamma(z + 1.0);
        assert!(
            (got - poisson32).abs() < 1e-5 * (1.0 + poisson32.abs()),
            "gpu μ={mu} z={z}: {got} vs {poisson32}"
        );
        // Poisson: ∂NLL/∂μ = 1 − z/μ, and ∂μ/∂o0 = s·σ(o0)
        let want_d0 = (1.0 - z / mu32) * s * reference::sigmoid(rounded(&raw)[0]);
        assert!(
            (grad[0] - want_d0).abs() < 1e-5 * (1.0 + want_d0.abs()),
            "gpu μ={mu} z={z}: ∂/∂o0 {} vs {want_d0}",
            grad[0]
        );
    }
}

seer_gpu::on_backends!(negative_binomial_of_zero_is_r_log_one_plus_alpha_mu);
fn negative_binomial_of_zero_is_r_log_one_plus_alpha_mu() {
    for (o0, o1, s) in [
        (0.5, 0.0, 1.0),
        (3.0, -4.0, 20.0),
        (-2.0, 5.0, 4.0),
        (100.0, -100.0, 9.0),
    ] {
        let raw = [o0, o1];
        let [mu, alpha, _] = reference::head_params(Distribution::NegativeBinomial, &raw, s);
        let want = (alpha * mu).ln_1p() / alpha;
        let (nll, _) = reference::likelihood_nll(Distribution::NegativeBinomial, &raw, s, 0.0);
        assert!(
            (nll - want).abs() <= 1e-9 * (1.0 + want.abs()),
            "reference {nll} vs {want}"
        );
        let (got, _) = gpu_nll(Distribution::NegativeBinomial, &raw, s, 0.0);
        assert!(
            (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
            "gpu {got} vs {want}"
        );
    }
}

/// Central differences of `f` at `x` vs `grad` (h = 1e-6).
fn check_fd(what: &str, x: &[f64], grad: &[f64], magnitude: f64, f: impl Fn(&[f64]) -> f64) {
    const H: f64 = 1e-6;
    for c in 0..x.len() {
        let mut xp = x.to_vec();
        let mut xm = x.to_vec();
        xp[c] += H;
        xm[c] -= H;
        let fd = (f(&xp) - f(&xm)) / (2.0 * H);
        let allowed = 1e-5 * grad[c].abs() + 1e-9 * (1.0 + magnitude);
        assert!(
            (fd - grad[c]).abs() <= allowed,
            "{what} ∂/∂x{c}: analytic {} vs central difference {fd} (allowed {allowed:.2e})",
            grad[c]
        );
    }
}

seer_gpu::on_backends!(likelihood_reference_gradients_match_central_differences);
fn likelihood_reference_gradients_match_central_differences() {
    let points: [([f64; 3], f64, f64); 6] = [
        ([0.3, -0.4, 0.8], 2.0, 1.1),
        ([-1.2, 1.5, -2.0], 0.5, -3.0),
        ([2.5, 0.0, 3.0], 40.0, 90.0),
        ([0.0, -3.0, 0.0], 1.0, 0.2),
        ([1.0, 2.5, -4.0], 9.0, 0.0),
        ([-0.7, -1.0, 5.0], 3.0, 17.0),
    ];
    for dist in DISTRIBUTIONS {
        let p = dist.raw_params();
        for (raw, s, z) in points {
            let z = if dist == Distribution::NegativeBinomial {
                z.abs().round()
            } else {
                z
            };
            let raw = &raw[..p];
            let (nll, grad) = reference::likelihood_nll(dist, raw, s, z);
            // the lgamma terms inside the NB loss are up to lgamma(z + r) in size
            let magnitude = nll.abs() + reference::lgamma(z + 1.0 + 1e3);
            check_fd(
                &format!("{} at {raw:?} s={s} z={z}", dist.name()),
                raw,
                &grad[..p],
                magnitude,
                |x| reference::likelihood_nll(dist, x, s, z).0,
            );
        }
    }
    // counts far from the mean and a nearly-Poisson head
    for (raw, s, z) in [
        ([0.2, -1.0], 4.0, 5000.0),
        ([4.0, -6.0], 25.0, 0.0),
        ([1.0, 3.0], 1.0, 250.0),
    ] {
        let dist = Distribution::NegativeBinomial;
        let (nll, grad) = reference::likelihood_nll(dist, &raw, s, z);
        let magnitude = nll.abs() + reference::lgamma(z + 1.0) + 1e3;
        check_fd(
            &format!("negative_binomial at {raw:?} s={s} z={z}"),
            &raw,
            &grad[..2],
            magnitude,
            |x| reference::likelihood_nll(dist, x, s, z).0,
        );
    }
}

seer_gpu::on_backends!(reference_special_functions_hit_known_values);
fn reference_special_functions_hit_known_values() {
    use std::f64::consts::{LN_2, PI};
    const EULER: f64 = 0.577_215_664_901_532_9;
    let cases = [
        (0.5, 0.5 * PI.ln(), -EULER - 2.0 * LN_2),
        (1.0, 0.0, -EULER),
        (2.0, 0.0, 1.0 - EULER),
        (10.0, 362_880f64.ln(), 2.251_752_589_066_721),
        (100.0, 359.134_205_369_575_4, 4.600_161_852_738_087),
    ];
    for (x, lg, dg) in cases {
        let got = reference::lgamma(x);
        assert!(
            (got - lg).abs() < 1e-12 * (1.0 + lg.abs()),
            "lgamma({x}) {got}"
        );
        let got = reference::digamma(x);
        assert!(
            (got - dg).abs() < 1e-12 * (1.0 + dg.abs()),
            "digamma({x}) {got}"
        );
    }
    // lgamma(x) = −ln x − γx + O(x²) and ψ(x) = −1/x − γ + O(x) near 0
    let x = 1e-6;
    assert!((reference::lgamma(x) - (-x.ln() - EULER * x)).abs() < 1e-11);
    assert!((reference::digamma(x) - (-1.0 / x - EULER)).abs() < 1e-5);
    // the recurrence holds across the shift boundary
    for x in [0.3, 7.7, 14.5, 15.0, 1234.5] {
        let step = reference::lgamma(x + 1.0) - reference::lgamma(x) - f64::ln(x);
        assert!(step.abs() < 1e-12 * (1.0 + reference::lgamma(x).abs()));
        let step = reference::digamma(x + 1.0) - reference::digamma(x) - 1.0 / x;
        assert!(step.abs() < 1e-12);
    }
}

seer_gpu::on_backends!(gpu_lgamma_and_digamma_match_f64);
fn gpu_lgamma_and_digamma_match_f64() {
    let mut x: Vec<f64> = (0..=240)
        .map(|i| 10f64.powf(-6.0 + i as f64 * 0.05))
        .collect();
    x.extend([
        0.5,
        1.0,
        1.5,
        1.461_632_144_968_362,
        2.0,
        2.5,
        3.0,
        6.99,
        7.0,
        7.01,
    ]);
    let x = rounded(&x);
    let n = x.len();
    let out = zeros(&[n, 2]);
    let mut r = rec();
    ops::special_functions(&mut r, n, &up(&x, &[n]), &out).unwrap();
    r.submit().unwrap();
    let got = read(&out);
    let lg: Vec<f64> = got.iter().step_by(2).cloned().collect();
    let dg: Vec<f64> = got.iter().skip(1).step_by(2).cloned().collect();
    let want_lg: Vec<f64> = x.iter().map(|&v| reference::lgamma(v)).collect();
    let want_dg: Vec<f64> = x.iter().map(|&v| reference::digamma(v)).collect();
    assert_close("lgamma", &lg, &want_lg, 1e-6, 2e-6);
    assert_close("digamma", &dg, &want_dg, 1e-6, 2e-6);
}

const LEVELS: [f64; 5] = [0.1, 0.25, 0.5, 0.75, 0.9];

struct RowsCase {
    raw: Vec<f64>,
    scale: Vec<f64>,
    target: Vec<f64>,
    mask: Vec<f64>,
}

fn rows_case(rows: usize, width: usize, seed: u64) -> RowsCase {
    let mut raw = rounded(&data(rows * width, seed, -3.0, 3.0));
    let scale = rounded(&data(rows.div_ceil(ROWS_PER_SCALE), seed + 1, 0.5, 30.0));
    let mut target: Vec<f64> = data(rows, seed + 2, -3.0, 3.0)
        .iter()
        .enumerate()
        .map(|(r, u)| u * scale[r / ROWS_PER_SCALE])
        .collect();
    target = rounded(&target);
    let mut mask: Vec<f64> = (0..rows)
        .map(|r| if r % 5 == 4 { 0.0 } else { 1.0 })
        .collect();
    if rows >= 37 {
        raw[0] = 100.0;
        raw[1] = -100.0;
        raw[width] = -100.0;
        target[7] = f64::NAN;
        target[8] = f64::NEG_INFINITY;
        mask[12] = f64::NAN;
    }
    RowsCase {
        raw,
        scale,
        target,
        mask,
    }
}

seer_gpu::on_backends!(quantile_loss_matches_reference);
fn quantile_loss_matches_reference() {
    let q = LEVELS.len();
    for rows in ROW_COUNTS {
        let c = rows_case(rows, q, 90 + rows as u64);
        let loss = zeros(&[rows]);
        let d_raw = zeros(&[rows, q]);
        let mut r = rec();
        ops::quantile_loss(
            &mut r,
            rows,
            q,
            ROWS_PER_SCALE,
            1.0,
            &up(&c.raw, &[rows, q]),
            &up(&LEVELS, &[q]),
            &up(&c.scale, &[c.scale.len()]),
            &up(&c.target, &[rows]),
            &up(&c.mask, &[rows]),
            &loss,
            &d_raw,
        )
        .unwrap();
        r.submit().unwrap();
        let levels = rounded(&LEVELS);
        let (want_loss, want_grad) = reference::quantile_loss(
            rows,
            &levels,
            ROWS_PER_SCALE,
            1.0,
            &c.raw,
            &c.scale,
            &c.target,
            &c.mask,
        );
        assert_close(
            &format!("quantile rows={rows} loss"),
            &read(&loss),
            &want_loss,
            1e-4,
            1e-5,
        );
        assert_close(
            &format!("quantile rows={rows} d_raw"),
            &read(&d_raw),
            &want_grad,
            1e-4,
            1e-5,
        );
    }
}

seer_gpu::on_backends!(pinball_has_zero_subgradient_at_the_kink_and_half_abs_at_the_median);
fn pinball_has_zero_subgradient_at_the_kink_and_half_abs_at_the_median() {
    // scale 1, so the kernel's u = z − q̂ is exact
    let raw = [1.5, 1.5, -2.0, 4.0];
    let levels = [0.5, 0.9, 0.5, 0.1];
    let rows = 4;
    let target = [1.5, 1.5, 1.0, 1.0];
    let loss = zeros(&[rows]);
    let d_raw = zeros(&[rows, 1]);
    // one level per row: run each row as its own Q = 1 problem
    for row in 0..rows {
        let mut r = rec();
        ops::quantile_loss(
            &mut r,
            1,
            1,
            1,
            1.0,
            &up(&raw[row..row + 1], &[1, 1]),
            &up(&levels[row..row + 1], &[1]),
            &up(&[1.0], &[1]),
            &up(&target[row..row + 1], &[1]),
            &up(&[1.0], &[1]),
            &loss,
            &d_raw,
        )
        .unwrap();
        r.submit().unwrap();
        let (l, g) = (read(&loss)[0], read(&d_raw)[0]);
        let u = target[row] - raw[row];
        let want_l = (levels[row] * u).max((levels[row] - 1.0) * u);
        assert!((l - want_l).abs() < 1e-6, "row {row}: loss {l} vs {want_l}");
        if levels[row] == 0.5 {
            assert!((l - 0.5 * u.abs()).abs() < 1e-6);
        }
        if u == 0.0 {
            assert_eq!(g, 0.0, "row {row}: subgradient at u = 0");
        }
        let (rl, rg) = reference::quantile_loss(
            1,
            &levels[row..row + 1],
            1,
            1.0,
            &raw[row..row + 1],
            &[1.0],
            &target[row..row + 1],
            &[1.0],
        );
        assert!((rl[0] - l).abs() < 1e-6 && (rg[0] - g).abs() < 1e-6);
    }
}

seer_gpu::on_backends!(mse_loss_matches_reference);
fn mse_loss_matches_reference() {
    for rows in ROW_COUNTS {
        let c = rows_case(rows, 1, 120 + rows as u64);
        let loss = zeros(&[rows]);
        let d_raw = zeros(&[rows]);
        let mut r = rec();
        ops::mse_loss(
            &mut r,
            rows,
            ROWS_PER_SCALE,
            1.0,
            &up(&c.raw, &[rows]),
            &up(&c.scale, &[c.scale.len()]),
            &up(&c.target, &[rows]),
            &up(&c.mask, &[rows]),
            &loss,
            &d_raw,
        )
        .unwrap();
        r.submit().unwrap();
        let (want_loss, want_grad) = reference::mse_loss(
            rows,
            ROWS_PER_SCALE,
            1.0,
            &c.raw,
            &c.scale,
            &c.target,
            &c.mask,
        );
        assert_close(
            &format!("mse rows={rows} loss"),
            &read(&loss),
            &want_loss,
            1e-4,
            1e-5,
        );
        assert_close(
            &format!("mse rows={rows} d_raw"),
            &read(&d_raw),
            &want_grad,
            1e-4,
            1e-5,
        );
    }
}

fn gpu_cross_entropy(
    rows: usize,
    classes: usize,
    weight: f32,
    logits: &[f64],
    labels: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let loss = zeros(&[rows]);
    let d_logits = zeros(&[rows, classes]);
    let mut r = rec();
    ops::softmax_cross_entropy(
        &mut r,
        rows,
        classes,
        weight,
        &up(logits, &[rows, classes]),
        &up(labels, &[rows]),
        &loss,
        &d_logits,
    )
    .unwrap();
    r.submit().unwrap();
    (read(&loss), read(&d_logits))
}

seer_gpu::on_backends!(softmax_cross_entropy_matches_reference_and_is_stable_at_100);
fn softmax_cross_entropy_matches_reference_and_is_stable_at_100() {
    let k = 7;
    for rows in ROW_COUNTS {
        let mut logits = rounded(&data(rows * k, 150 + rows as u64, -5.0, 5.0));
        let mut labels: Vec<f64> = data(rows, 151, 0.0, k as f64)
            .iter()
            .map(|v| v.floor())
            .collect();
        if rows >= 37 {
            // one-hot-like ±100 rows, right and wrong
            for c in 0..k {
                logits[c] = if c == 2 { 100.0 } else { -100.0 };
                logits[k + c] = if c == 2 { 100.0 } else { -100.0 };
                logits[2 * k + c] = if c % 2 == 0 { 100.0 } else { -100.0 };
            }
            labels[0] = 2.0;
            labels[1] = 5.0;
            labels[3] = -1.0;
            labels[4] = f64::NAN;
            labels[5] = f64::INFINITY;
        }
        let (loss, grad) = gpu_cross_entropy(rows, k, 1.0, &logits, &labels);
        let (want_loss, want_grad) =
            reference::softmax_cross_entropy(rows, k, 1.0, &logits, &labels);
        assert_close(
            &format!("cross entropy rows={rows} loss"),
            &loss,
            &want_loss,
            1e-4,
            1e-5,
        );
        assert_close(
            &format!("cross entropy rows={rows} d_logits"),
            &grad,
            &want_grad,
            1e-4,
            1e-5,
        );
        if rows >= 37 {
            assert!((loss[1] - 200.0).abs() < 1e-3, "wrong at ±100: {}", loss[1]);
            for r in [3, 4, 5] {
                assert_eq!(loss[r], 0.0);
                assert!(grad[r * k..(r + 1) * k].iter().all(|&g| g == 0.0));
            }
        }
    }
}

seer_gpu::on_backends!(cross_entropy_of_equal_logits_is_log_k_and_bad_labels_are_nan);
fn cross_entropy_of_equal_logits_is_log_k_and_bad_labels_are_nan() {
    let k = 5;
    let logits = vec![0.75; 2 * k];
    let (loss, grad) = gpu_cross_entropy(2, k, 0.5, &logits, &[3.0, 5.0]);
    assert!(
        (loss[0] - 0.5 * (k as f64).ln()).abs() < 1e-6,
        "{}",
        loss[0]
    );
    for (c, g) in grad[..k].iter().enumerate() {
        let want = 0.5 * (1.0 / k as f64 - if c == 3 { 1.0 } else { 0.0 });
        assert!((g - want).abs() < 1e-6);
    }
    // a label ≥ K is a caller's bug and must show
    assert!(loss[1].is_nan(), "label 5 of 5 classes: {}", loss[1]);
    let (want, _) = reference::softmax_cross_entropy(2, k, 0.5, &logits, &[3.0, 5.0]);
    assert!(want[1].is_nan());
}

seer_gpu::on_backends!(other_reference_gradients_match_central_differences);
fn other_reference_gradients_match_central_differences() {
    let z = 2.3;
    let s = 1.7;
    let raw = [0.4, 1.9, 1.2, -3.0, 5.0];
    let (_, grad) = reference::quantile_loss(1, &LEVELS, 1, 1.0, &raw, &[s], &[z], &[1.0]);
    check_fd("quantile", &raw, &grad, 10.0, |x| {
        reference::quantile_loss(1, &LEVELS, 1, 1.0, x, &[s], &[z], &[1.0]).0[0]
    });
    let (_, grad) = reference::mse_loss(1, 1, 1.0, &raw[..1], &[s], &[z], &[1.0]);
    check_fd("mse", &raw[..1], &grad, 10.0, |x| {
        reference::mse_loss(1, 1, 1.0, x, &[s], &[z], &[1.0]).0[0]
    });
    let logits = [0.3, -1.2, 2.5, 0.0, 7.0];
    let (_, grad) = reference::softmax_cross_entropy(1, 5, 1.0, &logits, &[2.0]);
    check_fd("cross entropy", &logits, &grad, 10.0, |x| {
        reference::softmax_cross_entropy(1, 5, 1.0, x, &[2.0]).0[0]
    });
}

fn gpu_sum(values: &[f64]) -> f64 {
    let n = values.len();
    let t = up(values, &[n]);
    let out = zeros(&[1]);
    let mut r = rec();
    ops::sum_rows(&mut r, n, &t, &out).unwrap();
    r.submit().unwrap();
    read(&out)[0]
}

seer_gpu::on_backends!(sum_rows_is_accurate_deterministic_and_propagates_nan);
fn sum_rows_is_accurate_deterministic_and_propagates_nan() {
    for n in [1, 37, 255, 256, 257, 300, 100_000] {
        let v = rounded(&data(n, n as u64, 0.0, 2.0));
        let got = gpu_sum(&v);
        let want = reference::sum_rows(&v);
        assert!((got - want).abs() <= 1e-5 * want, "n={n}: {got} vs {want}");
        assert_eq!(got.to_bits(), gpu_sum(&v).to_bits(), "n={n}: rerun differs");
    }
    assert_eq!(gpu_sum(&[]), 0.0);
    let mut v = rounded(&data(300, 3, -1.0, 1.0));
    v[211] = f64::NAN;
    assert!(gpu_sum(&v).is_nan(), "NaN must reach the sum");
    v[211] = f64::INFINITY;
    assert_eq!(gpu_sum(&v), f64::INFINITY);
}

seer_gpu::on_backends!(wrong_shapes_and_weights_are_typed_errors);
fn wrong_shapes_and_weights_are_typed_errors() {
    let t4 = zeros(&[4]);
    let t8 = zeros(&[8]);
    let mut r = rec();
    let shape = |e: GpuError| matches!(e, GpuError::Shape { .. });
    // student_t needs three raw parameters
    let e = ops::likelihood_loss(
        &mut r,
        Distribution::StudentT,
        4,
        2,
        1,
        1.0,
        &t8,
        &t4,
        &t4,
        &t4,
        &t4,
        &t8,
    )
    .unwrap_err();
    assert!(shape(e));
    let e = ops::likelihood_loss(
        &mut r,
        Distribution::Gaussian,
        4,
        2,
        1,
        f32::NAN,
        &t8,
        &t4,
        &t4,
        &t4,
        &t4,
        &t8,
    )
    .unwrap_err();
    assert!(e.to_string().contains("weight"), "{e}");
    let e = ops::likelihood_loss(
        &mut r,
        Distribution::Gaussian,
        4,
        2,
        0,
        1.0,
        &t8,
        &t4,
        &t4,
        &t4,
        &t4,
        &t8,
    )
    .unwrap_err();
    assert!(shape(e));
    // d_raw too short
    let e = ops::likelihood_loss(
        &mut r,
        Distribution::Gaussian,
        4,
        2,
        1,
        1.0,
        &t8,
        &t4,
        &t4,
        &t4,
        &t4,
        &t4,
    )
    .unwrap_err();
    assert!(e.to_string().contains("d_raw"), "{e}");
    let e =
        ops::quantile_loss(&mut r, 4, 0, 1, 1.0, &t8, &t4, &t4, &t4, &t4, &t4, &t8).unwrap_err();
    assert!(shape(e));
    let e = ops::mse_loss(&mut r, 8, 1, 1.0, &t8, &t4, &t8, &t8, &t8, &t8).unwrap_err();
    assert!(e.to_string().contains("scale"), "{e}");
    let e = ops::softmax_cross_entropy(&mut r, 4, 3, 1.0, &t8, &t4, &t4, &t8).unwrap_err();
    assert!(e.to_string().contains("logits"), "{e}");
    let e = ops::sum_rows(&mut r, 5, &t4, &t4).unwrap_err();
    assert!(e.to_string().contains("values"), "{e}");
    assert_eq!(r.dispatches(), 0);
}
