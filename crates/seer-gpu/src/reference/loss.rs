//! f64 references of the training losses (shaders/loss.wgsl). The likelihoods use the textbook
//! formulas with lgamma and digamma, not the kernel's rearranged forms, so a GPU-vs-reference
//! test compares two independent derivations. Each returns (loss_rows, gradient) laid out as the
//! kernel writes them, both already multiplied by `weight`.

use std::f64::consts::PI;

use super::{head_params, sigmoid};
use crate::ops::Distribution;

/// ln Γ(x) for x > 0: shifted up to x ≥ 15 by Γ(x + 1) = xΓ(x), then Stirling's series (f64
/// accurate to about 1e-15 absolute).
pub fn lgamma(x: f64) -> f64 {
    let mut x = x;
    let mut product = 1.0;
    while x < 15.0 {
        product *= x;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv
        * (1.0 / 12.0
            - inv2
                * (1.0 / 360.0
                    - inv2
                        * (1.0 / 1260.0
                            - inv2
                                * (1.0 / 1680.0
                                    - inv2 * (1.0 / 1188.0 - inv2 * (691.0 / 360360.0))))));
    (x - 0.5) * x.ln() - x + 0.5 * (2.0 * PI).ln() + series - product.ln()
}

/// ψ(x) = d ln Γ(x)/dx for x > 0: ψ(x) = ψ(x + 1) − 1/x up to x ≥ 15, then the asymptotic series.
pub fn digamma(x: f64) -> f64 {
    let mut x = x;
    let mut shift = 0.0;
    while x < 15.0 {
        shift += 1.0 / x;
        x += 1.0;
    }
    let inv2 = 1.0 / (x * x);
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 * (1.0 / 132.0)))));
    x.ln() - 0.5 / x - series - shift
}

/// Negative log-likelihood of the unscaled target `z` under one row's head and its gradient with
/// respect to the raw outputs (o0, o1, o2; o2 only for student_t).
pub fn likelihood_nll(dist: Distribution, raw: &[f64], scale: f64, z: f64) -> (f64, [f64; 3]) {
    let [p0, p1, p2] = head_params(dist, raw, scale);
    match dist {
        Distribution::Gaussian => {
            let (mu, sigma) = (p0, p1);
            let y = (z - mu) / sigma;
            let nll = sigma.ln() + 0.5 * (2.0 * PI).ln() + 0.5 * y * y;
            let d_mu = -y / sigma;
            let d_sigma = 1.0 / sigma - y * y / sigma;
            (nll, [d_mu * scale, d_sigma * scale * sigmoid(raw[1]), 0.0])
        }
        Distribution::StudentT => {
            let (mu, sigma, nu) = (p0, p1, p2);
            let y = (z - mu) / sigma;
            let nll = -(lgamma((nu + 1.0) / 2.0)
                - lgamma(nu / 2.0)
                - 0.5 * (nu * PI).ln()
                - sigma.ln()
                - (nu + 1.0) / 2.0 * (1.0 + y * y / nu).ln());
            // ∂NLL/∂y
            let d_y = (nu + 1.0) * y / (nu + y * y);
            let d_mu = -d_y / sigma;
            let d_sigma = 1.0 / sigma - d_y * y / sigma;
            let d_nu = 0.5
                * (digamma(nu / 2.0) - digamma((nu + 1.0) / 2.0)
                    + 1.0 / nu
                    + (1.0 + y * y / nu).ln()
                    - (nu + 1.0) * y * y / (nu * (nu + y * y)));
            (
                nll,
                [
                    d_mu * scale,
                    d_sigma * scale * sigmoid(raw[1]),
                    d_nu * sigmoid(raw[2]),
                ],
            )
        }
        Distribution::NegativeBinomial => {
            if z < 0.0 {
                return (f64::NAN, [f64::NAN, f64::NAN, 0.0]);
            }
            let (mu, alpha) = (p0, p1);
            let r = 1.0 / alpha;
            let ll = lgamma(z + r) - lgamma(r) - lgamma(z + 1.0)
                + r * (r / (r + mu)).ln()
                + z * (mu / (r + mu)).ln();
            let d_mu = r * (mu - z) / (mu * (r + mu));
            let d_r = -(digamma(z + r) - digamma(r) + (r / (r + mu)).ln() + (mu - z) / (r + mu));
            let d_alpha = -d_r / (alpha * alpha);
            (
                -ll,
                [
                    d_mu * scale * sigmoid(raw[0]),
                    d_alpha * sigmoid(raw[1]) / scale.sqrt(),
                    0.0,
                ],
            )
        }
    }
}

fn observed(mask: f64, target: f64) -> bool {
    mask.is_finite() && mask > 0.0 && target.is_finite()
}

/// As `ops::likelihood_loss`.
pub fn likelihood_loss(
    dist: Distribution,
    rows: usize,
    raw_stride: usize,
    rows_per_scale: usize,
    weight: f64,
    raw: &[f64],
    scale: &[f64],
    target: &[f64],
    mask: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let mut loss = vec![0.0; rows];
    let mut grad = vec![0.0; rows * raw_stride];
    let p = dist.raw_params();
    for r in 0..rows {
        if !observed(mask[r], target[r]) {
            continue;
        }
        let row = &raw[r * raw_stride..r * raw_stride + p];
        let (nll, g) = likelihood_nll(dist, row, scale[r / rows_per_scale], target[r]);
        loss[r] = weight * nll;
        for (c, gc) in g.iter().take(p).enumerate() {
            grad[r * raw_stride + c] = weight * gc;
        }
    }
    (loss, grad)
}

/// As `ops::quantile_loss`; the number of levels is `levels.len()`.
pub fn quantile_loss(
    rows: usize,
    levels: &[f64],
    rows_per_scale: usize,
    weight: f64,
    raw: &[f64],
    scale: &[f64],
    target: &[f64],
    mask: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let q = levels.len();
    let mut loss = vec![0.0; rows];
    let mut grad = vec![0.0; rows * q];
    for r in 0..rows {
        if !observed(mask[r], target[r]) {
            continue;
        }
        let zt = target[r] / scale[r / rows_per_scale];
        for (i, &level) in levels.iter().enumerate() {
            let u = zt - raw[r * q + i];
            loss[r] += weight * (level * u).max((level - 1.0) * u);
            grad[r * q + i] = weight
                * if u > 0.0 {
                    -level
                } else if u < 0.0 {
                    1.0 - level
                } else {
                    0.0
                };
        }
    }
    (loss, grad)
}

/// As `ops::mse_loss`.
pub fn mse_loss(
    rows: usize,
    rows_per_scale: usize,
    weight: f64,
    raw: &[f64],
    scale: &[f64],
    target: &[f64],
    mask: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let mut loss = vec![0.0; rows];
    let mut grad = vec![0.0; rows];
    for r in 0..rows {
        if !observed(mask[r], target[r]) {
            continue;
        }
        let diff = raw[r] - target[r] / scale[r / rows_per_scale];
        loss[r] = weight * diff * diff;
        grad[r] = weight * 2.0 * diff;
    }
    (loss, grad)
}

/// As `ops::softmax_cross_entropy`.
pub fn softmax_cross_entropy(
    rows: usize,
    classes: usize,
    weight: f64,
    logits: &[f64],
    labels: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let mut loss = vec![0.0; rows];
    let mut grad = vec![0.0; rows * classes];
    let probs = super::softmax(rows, classes, logits);
    for r in 0..rows {
        let label = labels[r];
        if !label.is_finite() || label < 0.0 {
            continue;
        }
        if label >= classes as f64 {
            loss[r] = f64::NAN;
            grad[r * classes..(r + 1) * classes].fill(f64::NAN);
            continue;
        }
        let class = label as usize;
        let row = &logits[r * classes..(r + 1) * classes];
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        loss[r] = weight * (lse - row[class]);
        for k in 0..classes {
            let onehot = if k == class { 1.0 } else { 0.0 };
            grad[r * classes + k] = weight * (probs[r * classes + k] - onehot);
        }
    }
    (loss, grad)
}

/// As `ops::sum_rows` (in f64, in index order).
pub fn sum_rows(values: &[f64]) -> f64 {
    values.iter().sum()
}
