//! optim.wgsl on the host: the gradient norm, the clip/skip decision and AdamW over the flat
//! parameter buffer. Sums run per chunk in a fixed order, so a step is the same run to run.

use rayon::prelude::*;

use super::math::is_finite;
use super::{Bindings, Call, need};
use crate::error::GpuError;

/// Bindings: grads (rw as declared, only read), partial (rw). One partial per chunk of `arg`
/// elements, as one workgroup of the shader writes it.
pub(crate) fn sum_squares_partial(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "sum_squares_partial";
    let (n, per_group) = (k.u(0), k.u(1));
    let grads: &[f32] = b.w(0)?;
    let partial = b.w(1)?;
    need(KERNEL, "grads", grads, n)?;
    if per_group == 0 {
        return Ok(());
    }
    let count = n.div_ceil(per_group).min(k.group_count());
    need(KERNEL, "partial", partial, count)?;
    let chunk = |g: usize| {
        let start = g * per_group;
        let end = (start + per_group).min(n);
        // f64 keeps the square sum of millions of parameters exact enough to compare norms
        grads[start..end]
            .iter()
            .map(|&x| (x as f64) * (x as f64))
            .sum::<f64>() as f32
    };
    if !k.parallel(n, super::SERIAL_WORK * 4) {
        for (g, p) in partial[..count].iter_mut().enumerate() {
            *p = chunk(g);
        }
    } else {
        k.pool.install(|| {
            partial[..count]
                .par_iter_mut()
                .enumerate()
                .for_each(|(g, p)| *p = chunk(g))
        });
    }
    Ok(())
}

/// Bindings: partial (rw), loss (rw), state (rw).
pub(crate) fn clip_scale(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "clip_scale";
    let (count, max_norm) = (k.u(0), k.f(1));
    let partial: &[f32] = b.w(0)?;
    let loss: &[f32] = b.w(1)?;
    let state = b.w(2)?;
    need(KERNEL, "partial", partial, count)?;
    need(KERNEL, "loss", loss, 1)?;
    need(KERNEL, "state", state, 4)?;
    let total: f32 = partial[..count].iter().sum();
    let norm = total.sqrt();
    let ok = is_finite(norm) && is_finite(loss[0]);
    let scale = if !ok {
        0.0
    } else if max_norm > 0.0 {
        (max_norm / (norm + 1e-6)).min(1.0)
    } else {
        1.0
    };
    state[..4].copy_from_slice(&[norm, scale, if ok { 1.0 } else { 0.0 }, 0.0]);
    Ok(())
}

/// Bindings: params, grads, m, v (rw), state (read).
pub(crate) fn adam_step(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "adam_step";
    let n = k.u(0);
    let (lr, beta1, beta2, eps, wd, bc1, bc2) =
        (k.f(1), k.f(2), k.f(3), k.f(4), k.f(5), k.f(6), k.f(7));
    let params = b.w(0)?;
    let grads: &[f32] = b.w(1)?;
    let m = b.w(2)?;
    let v = b.w(3)?;
    let state = b.r(4)?;
    need(KERNEL, "state", state, 3)?;
    for (what, s) in [
        ("params", &*params),
        ("grads", grads),
        ("m", &*m),
        ("v", &*v),
    ] {
        need(KERNEL, what, s, n)?;
    }
    if state[2] == 0.0 {
        return Ok(());
    }
    let factor = state[1];
    let sqrt_bc2 = bc2.sqrt();
    let step = |i: usize, w: &mut f32, m: &mut f32, v: &mut f32| {
        let g = grads[i] * factor;
        let mut x = *w;
        x -= lr * wd * x;
        let m1 = beta1 * *m + (1.0 - beta1) * g;
        let v1 = beta2 * *v + (1.0 - beta2) * g * g;
        let denom = v1.sqrt() / sqrt_bc2 + eps;
        x -= (lr / bc1) * (m1 / denom);
        *m = m1;
        *v = v1;
        *w = x;
    };
    const BLOCK: usize = 4096;
    let (params, m, v) = (&mut params[..n], &mut m[..n], &mut v[..n]);
    if !k.parallel(n, super::SERIAL_WORK) {
        for i in 0..n {
            step(i, &mut params[i], &mut m[i], &mut v[i]);
        }
        return Ok(());
    }
    k.pool.install(|| {
        params
            .par_chunks_mut(BLOCK)
            .zip(m.par_chunks_mut(BLOCK))
            .zip(v.par_chunks_mut(BLOCK))
            .enumerate()
            .for_each(|(c, ((w, m), v))| {
                for j in 0..w.len() {
                    step(c * BLOCK + j, &mut w[j], &mut m[j], &mut v[j]);
                }
            })
    });
    Ok(())
}
