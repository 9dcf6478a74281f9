//! f64 references of the optimizer kernels (optim.wgsl).

use crate::ops::AdamConfig;

/// Σ grads² per chunk of `chunk` elements, as `sum_squares_partial` writes.
pub fn sum_squares_partial(grads: &[f64], chunk: usize) -> Vec<f64> {
    grads
        .chunks(chunk)
        .map(|c| c.iter().map(|g| g * g).sum())
        .collect()
}

/// The `state` words `clip_scale` writes: [norm, scale, applied, 0].
pub fn clip_scale(partials: &[f64], loss: f64, max_norm: f64) -> [f64; 4] {
    let norm = partials.iter().sum::<f64>().sqrt();
    let ok = norm.is_finite() && loss.is_finite();
    let scale = if !ok {
        0.0
    } else if max_norm > 0.0 {
        (max_norm / (norm + 1e-6)).min(1.0)
    } else {
        1.0
    };
    [norm, scale, if ok { 1.0 } else { 0.0 }, 0.0]
}

/// AdamW on every element with g = grads · state[1]; nothing changes when state[2] == 0.
/// `step` is the 1-based t of the bias corrections.
pub fn adam_step(
    config: &AdamConfig,
    step: u64,
    state: &[f64; 4],
    params: &mut [f64],
    grads: &[f64],
    m: &mut [f64],
    v: &mut [f64],
) {
    if state[2] == 0.0 {
        return;
    }
    let (lr, b1, b2) = (config.lr as f64, config.beta1 as f64, config.beta2 as f64);
    let (eps, wd) = (config.eps as f64, config.weight_decay as f64);
    let t = step as f64;
    let (bc1, bc2) = (1.0 - b1.powf(t), 1.0 - b2.powf(t));
    for i in 0..params.len() {
        let g = grads[i] * state[1];
        let mut p = params[i] - lr * wd * params[i];
        m[i] = b1 * m[i] + (1.0 - b1) * g;
        v[i] = b2 * v[i] + (1.0 - b2) * g * g;
        p -= (lr / bc1) * m[i] / (v[i].sqrt() / bc2.sqrt() + eps);
        params[i] = p;
    }
}

/// The whole step of `ops::clip_and_adam`; returns the state it writes.
pub fn clip_and_adam(
    config: &AdamConfig,
    step: u64,
    loss: f64,
    params: &mut [f64],
    grads: &[f64],
    m: &mut [f64],
    v: &mut [f64],
) -> [f64; 4] {
    let total: f64 = grads.iter().map(|g| g * g).sum();
    let state = clip_scale(&[total], loss, config.max_norm as f64);
    adam_step(config, step, &state, params, grads, m, v);
    state
}
