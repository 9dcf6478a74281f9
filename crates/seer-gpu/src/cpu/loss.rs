//! loss.wgsl on the host: the per-row losses and gradients, the fixed-order sum, and the f32
//! special functions behind the likelihoods.
//!
//! The likelihood numerics are the shader's, operation for operation and in the same order, not
//! textbook lgamma/digamma: the shader's rearrangement (Stirling remainders, log1p series, Loader's
//! bd0) is what keeps f32 accurate where lgamma and digamma of large arguments nearly cancel, and
//! it is the f32 derivation the tests hold against the f64 reference. Rust never fuses a·b + c
//! without `mul_add`, so `minus_product`'s exact-split trick holds here as in the shader.
//!
//! Per-row sums (quantile levels, softmax classes) stay in f32 in the shader's order, and
//! `sum_rows` reproduces its 256 strided lanes and halving tree, so a CPU result differs from a
//! GPU one only by the rounding of `exp`/`ln`, and the loss sum is bitwise the GPU's for equal rows.

use rayon::prelude::*;

use super::{Bindings, Call, SERIAL_WORK, for_rows, need, short};
use crate::error::GpuError;

const HALF_LN_TWO_PI: f32 = 0.918_938_5;
// σ̃, α̃ and μ̃ floors of docs/models.md, as in heads.wgsl
const PARAM_FLOOR: f32 = 1e-6;
/// Threads in the shader's one `sum_rows` workgroup: the lane count fixes the summation order.
const SUM_THREADS: usize = 256;
/// Invocations per workgroup along x in every 1-D loss dispatch (`flat_id`'s 256).
const GROUP_WIDTH: usize = 256;

// ---- special functions (loss.wgsl's own helpers) ---------------------------------------------

/// The shader's NaN for out-of-support targets and labels ≥ K: the canonical quiet NaN.
const QUIET_NAN: f32 = f32::from_bits(0x7fc0_0000);

/// Σ_{k≥1} w2^k / (2k + 1) = atanh(w)/w − 1 (14 terms, f32 for w2 ≤ 1/4), Horner from k = 14 down.
fn atanh_tail(w2: f32) -> f32 {
    const INV_ODD: [f32; 13] = [
        1.0 / 27.0,
        1.0 / 25.0,
        1.0 / 23.0,
        1.0 / 21.0,
        1.0 / 19.0,
        1.0 / 17.0,
        1.0 / 15.0,
        1.0 / 13.0,
        1.0 / 11.0,
        1.0 / 9.0,
        1.0 / 7.0,
        1.0 / 5.0,
        1.0 / 3.0,
    ];
    let mut acc = 1.0f32 / 29.0;
    for c in INV_ODD {
        acc = acc * w2 + c;
    }
    acc * w2
}

/// ln(1 + x) as 2·atanh(x / (2 + x)) on (−0.5, 1], so small x keep their digits.
fn log1p_series(x: f32) -> f32 {
    if x > -0.5 && x <= 1.0 {
        let w = x / (2.0 + x);
        return 2.0 * w * (1.0 + atanh_tail(w * w));
    }
    (1.0 + x).ln()
}

/// ln(1 + x) − x without cancellation; `one_plus_x` is 1 + x as the caller formed it exactly.
fn log1pmx(x: f32, one_plus_x: f32) -> f32 {
    if x > -0.5 && x <= 1.0 {
        let w = x / (2.0 + x);
        return -x * w + 2.0 * w * atanh_tail(w * w);
    }
    one_plus_x.ln() - x
}

/// λ(x) = lgamma(x) − [(x − ½) ln x − x + ½ ln 2π]: lgamma enters the NLLs only through this
/// small remainder, so large arguments never cancel.
fn stirling_rem(x0: f32) -> f32 {
    let mut x = x0;
    let mut acc = 0.0f32;
    let mut i = 0;
    while i < 8 && x < 7.0 {
        if x >= 0.5 {
            let y = 1.0 / (2.0 * x + 1.0);
            acc += atanh_tail(y * y);
        } else {
            acc += (x + 0.5) * (1.0 + 1.0 / x).ln() - 1.0;
        }
        x += 1.0;
        i += 1;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv
        * (1.0 / 12.0
            - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 * (1.0 / 1680.0 - inv2 / 1188.0))));
    acc + series
}

/// φ(x) = ψ(x) − ln x, digamma's counterpart of `stirling_rem`.
fn digamma_minus_log(x0: f32) -> f32 {
    let mut x = x0;
    let mut acc = 0.0f32;
    let mut i = 0;
    while i < 8 && x < 7.0 {
        let u = 1.0 / x;
        acc += log1pmx(u, 1.0 + u);
        x += 1.0;
        i += 1;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv2
        * (1.0 / 12.0
            - inv2 * (1.0 / 120.0 - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 / 132.0))));
    acc - 0.5 * inv - series
}

fn lgamma(x: f32) -> f32 {
    stirling_rem(x) + (x - 0.5) * x.ln() - x + HALF_LN_TWO_PI
}

fn digamma(x: f32) -> f32 {
    digamma_minus_log(x) + x.ln()
}

/// softplus to relative precision for very negative x (common.wgsl's form rounds 1 + eˣ), where
/// σ̃, α̃, μ̃ are small and the NLL's gradients large.
fn softplus_precise(x: f32) -> f32 {
    x.max(0.0) + log1p_series((-x.abs()).exp())
}

/// sigmoid without common.wgsl's ±30 clamp, which would leave a spurious 1e-13 gradient at −100.
fn softplus_grad(x: f32) -> f32 {
    let e = (-x.abs()).exp();
    if x >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    }
}

/// Loader's deviance term x ln(x/m) + m − x, given d = x − m formed without cancellation.
fn bd0(x: f32, m: f32, d: f32) -> f32 {
    if x == 0.0 {
        return m;
    }
    let v = d / (x + m);
    if v.abs() < 0.5 {
        return d * v + 2.0 * x * v * atanh_tail(v * v);
    }
    x * (x / m).ln() - d
}

/// z − a·b with the product exact: 12-bit halves by bit masking, whose products f32 holds exactly
/// (the shader avoids fma because not every adapter fuses it; plain Rust arithmetic never fuses).
fn minus_product(z: f32, a: f32, b: f32) -> f32 {
    let a_hi = f32::from_bits(a.to_bits() & 0xffff_f000);
    let b_hi = f32::from_bits(b.to_bits() & 0xffff_f000);
    let a_lo = a - a_hi;
    let b_lo = b - b_hi;
    (((z - a_hi * b_hi) - a_hi * b_lo) - a_lo * b_hi) - a_lo * b_lo
}

/// (z − s·o0)/(s·σ̃) without rounding z/s first, which would cost a target near a large mean its
/// digits.
fn standardized(z: f32, s: f32, o0: f32, sig: f32) -> f32 {
    minus_product(z, s, o0) / (s * sig)
}

// ---- the three likelihoods: (NLL, ∂/∂o0, ∂/∂o1, ∂/∂o2) of one row -----------------------------

fn gaussian_nll(o0: f32, o1: f32, z: f32, s: f32) -> [f32; 4] {
    let sig = softplus_precise(o1) + PARAM_FLOOR;
    let e = standardized(z, s, o0, sig);
    let nll = HALF_LN_TWO_PI + s.ln() + sig.ln() + 0.5 * e * e;
    // σ(o1) before dividing by σ̃: it is 0 where e²/σ̃ could overflow
    [nll, -e / sig, (1.0 - e * e) * softplus_grad(o1) / sig, 0.0]
}

fn student_t_nll(o0: f32, o1: f32, o2: f32, z: f32, s: f32) -> [f32; 4] {
    let sig = softplus_precise(o1) + PARAM_FLOOR;
    let nu = 2.0 + softplus_precise(o2);
    let a = 0.5 * nu;
    let u = 1.0 / nu;
    let e = standardized(z, s, o0, sig);
    let q = e * e / nu;
    // lgamma(a + ½) − lgamma(a) through λ and log1pmx, never as a difference of two lgammas
    let lm = log1pmx(u, 1.0 + u);
    let nll = -a * lm - stirling_rem(a + 0.5)
        + stirling_rem(a)
        + HALF_LN_TWO_PI
        + s.ln()
        + sig.ln()
        + (a + 0.5) * log1p_series(q);
    let k = (nu + 1.0) * e / (nu + e * e);
    // ψ(a) − ψ(a + ½) + 1/ν = φ(a) − φ(a + ½) − log1pmx(1/ν), likewise without cancellation
    let d_nu = 0.5
        * (digamma_minus_log(a) - digamma_minus_log(a + 0.5) - lm + log1p_series(q) - k * e / nu);
    [
        nll,
        -k / sig,
        (1.0 - k * e) / sig * softplus_grad(o1),
        d_nu * softplus_grad(o2),
    ]
}

fn negative_binomial_nll(o0: f32, o1: f32, z: f32, s: f32) -> [f32; 4] {
    if z < 0.0 {
        // outside the support: loud, not silently masked
        return [QUIET_NAN, QUIET_NAN, QUIET_NAN, 0.0];
    }
    let mt = softplus_precise(o0) + PARAM_FLOOR;
    let at = softplus_precise(o1) + PARAM_FLOOR;
    let rs = s.sqrt();
    let mu = s * mt;
    let r = rs / at;
    let rm = r + mu;
    let mu_minus_z = -minus_product(z, s, mt);
    let t = -mu_minus_z / rm;
    // 1 + t without cancellation
    let ratio = (z + r) / rm;
    // Loader's saddle-point form: the pmf as a binomial in z + r trials with p = r/(r + μ)
    let d = r * t;
    let mut rest = 0.0f32;
    if z > 0.0 {
        rest = -0.5 * log1p_series(z / r) - 0.5 * z.ln() - HALF_LN_TWO_PI + stirling_rem(z + r)
            - stirling_rem(r)
            - stirling_rem(z);
    }
    let nll = bd0(r, r * ratio, -d) + bd0(z, mu * ratio, d) - rest;
    let g_r = digamma_minus_log(z + r) - digamma_minus_log(r) + log1pmx(t, ratio);
    let d_o0 = softplus_grad(o0) * mu_minus_z / (mt * (1.0 + at * mt * rs));
    let d_o1 = g_r * (r / at) * softplus_grad(o1);
    [nll, d_o0, d_o1, 0.0]
}

// ---- shared row plumbing ------------------------------------------------------------------------

/// Rows the launch reaches: `flat_id` covers 256 · groups.x · groups.y ids (z repeats them), so a
/// short direct dispatch leaves the rest untouched, as on the GPU.
fn reached(k: &Call<'_>, rows: usize) -> usize {
    let covered = GROUP_WIDTH
        .saturating_mul(k.groups[0] as usize)
        .saturating_mul(k.groups[1] as usize);
    rows.min(covered)
}

/// `row / rows_per_scale` as WGSL divides: an unsigned division by 0 yields the dividend.
fn scale_index(row: usize, rows_per_scale: usize) -> usize {
    row.checked_div(rows_per_scale).unwrap_or(row)
}

/// Scale entries `rows` rows read.
fn scale_len(rows: usize, rows_per_scale: usize) -> usize {
    if rows == 0 {
        0
    } else {
        scale_index(rows - 1, rows_per_scale) + 1
    }
}

fn extent(kernel: &'static str, rows: usize, stride: usize) -> Result<usize, GpuError> {
    rows.checked_mul(stride)
        .ok_or_else(|| short(kernel, "a row-major buffer", usize::MAX, usize::MAX))
}

fn observed(mask: f32, value: f32) -> bool {
    mask.is_finite() && mask > 0.0 && value.is_finite()
}

/// Runs `f(row, loss, grad_row)` over `rows` rows of `loss` (one value each) and `grad` (`stride`
/// each), on the pool when `rows × cost` is worth waking it. `for_rows` takes one output; every
/// loss writes two.
fn per_row(
    k: &Call<'_>,
    rows: usize,
    stride: usize,
    cost: usize,
    loss: &mut [f32],
    grad: &mut [f32],
    f: impl Fn(usize, &mut f32, &mut [f32]) + Sync + Send,
) {
    let (loss, grad) = (&mut loss[..rows], &mut grad[..rows * stride]);
    let run = |first: usize, loss: &mut [f32], grad: &mut [f32]| {
        if stride == 0 {
            for (i, l) in loss.iter_mut().enumerate() {
                f(first + i, l, &mut []);
            }
        } else {
            for (i, (l, g)) in loss.iter_mut().zip(grad.chunks_mut(stride)).enumerate() {
                f(first + i, l, g);
            }
        }
    };
    let threads = k.threads;
    if stride == 0 || !k.parallel(rows.saturating_mul(cost.max(1)), SERIAL_WORK) {
        run(0, loss, grad);
        return;
    }
    // a few tasks per thread balance rows of uneven cost (masked rows are free)
    let per_task = rows.div_ceil(threads * 4).max(1);
    k.pool.install(|| {
        loss.par_chunks_mut(per_task)
            .zip(grad.par_chunks_mut(per_task * stride))
            .enumerate()
            .for_each(|(t, (l, g))| run(t * per_task, l, g));
    });
}

// ---- kernels ----------------------------------------------------------------------------------

pub(crate) fn likelihood_loss(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "likelihood_loss";
    let (stride, rps, dist) = (k.u(1), k.u(2), k.word(3));
    let weight = k.f(4);
    let rows = reached(k, k.u(0));
    // the shader reads and writes columns 0..params of every row, whatever the stride
    let params = if dist == 1 { 3 } else { 2 };
    if rows > 0 && stride < params {
        return Err(GpuError::Pipeline {
            kernel: KERNEL,
            message: format!(
                "cpu kernel: raw_stride {stride} holds fewer than {params} parameters"
            ),
        });
    }
    let (raw, scale, target, mask) = (b.r(0)?, b.r(1)?, b.r(2)?, b.r(3)?);
    let (loss, d_raw) = (b.w(4)?, b.w(5)?);
    let n = extent(KERNEL, rows, stride)?;
    need(KERNEL, "raw", raw, n)?;
    need(KERNEL, "scale", scale, scale_len(rows, rps))?;
    need(KERNEL, "target", target, rows)?;
    need(KERNEL, "mask", mask, rows)?;
    need(KERNEL, "loss_rows", loss, rows)?;
    need(KERNEL, "d_raw", d_raw, n)?;
    let cost = if dist == 0 { 48 } else { 320 };
    per_row(k, rows, stride, cost, loss, d_raw, |row, l, d| {
        let z = target[row];
        let mut v = [0.0f32; 4];
        if observed(mask[row], z) {
            let s = scale[scale_index(row, rps)];
            let o = &raw[row * stride..row * stride + stride];
            v = match dist {
                0 => gaussian_nll(o[0], o[1], z, s),
                1 => student_t_nll(o[0], o[1], o[2], z, s),
                // any other code takes the shader's final `else`
                _ => negative_binomial_nll(o[0], o[1], z, s),
            };
            v = v.map(|x| x * weight);
        }
        *l = v[0];
        d[0] = v[1];
        d[1] = v[2];
        for (c, g) in d.iter_mut().enumerate().skip(2) {
            *g = if c == 2 { v[3] } else { 0.0 };
        }
    });
    Ok(())
}

pub(crate) fn quantile_loss(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "quantile_loss";
    let (levels, rps) = (k.u(1), k.u(2));
    let weight = k.f(3);
    let rows = reached(k, k.u(0));
    let (raw, level_values, scale, target, mask) = (b.r(0)?, b.r(1)?, b.r(2)?, b.r(3)?, b.r(4)?);
    let (loss, d_raw) = (b.w(5)?, b.w(6)?);
    let n = extent(KERNEL, rows, levels)?;
    need(KERNEL, "raw", raw, n)?;
    if rows > 0 {
        need(KERNEL, "levels", level_values, levels)?;
    }
    need(KERNEL, "scale", scale, scale_len(rows, rps))?;
    need(KERNEL, "target", target, rows)?;
    need(KERNEL, "mask", mask, rows)?;
    need(KERNEL, "loss_rows", loss, rows)?;
    need(KERNEL, "d_raw", d_raw, n)?;
    per_row(k, rows, levels, levels * 4, loss, d_raw, |row, l, d| {
        let z = target[row];
        if !observed(mask[row], z) {
            *l = 0.0;
            d.fill(0.0);
            return;
        }
        let zt = z / scale[scale_index(row, rps)];
        let raw = &raw[row * levels..row * levels + levels];
        let mut total = 0.0f32;
        for ((g, &q), &r) in d.iter_mut().zip(level_values).zip(raw) {
            let u = zt - r;
            total += (q * u).max((q - 1.0) * u);
            // subgradient 0 at the kink u = 0 (and for NaN u, as the shader's comparisons fall through)
            let sub = if u > 0.0 {
                -q
            } else if u < 0.0 {
                1.0 - q
            } else {
                0.0
            };
            *g = weight * sub;
        }
        *l = weight * total;
    });
    Ok(())
}

pub(crate) fn mse_loss(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "mse_loss";
    let rps = k.u(1);
    let weight = k.f(2);
    let rows = reached(k, k.u(0));
    let (raw, scale, target, mask) = (b.r(0)?, b.r(1)?, b.r(2)?, b.r(3)?);
    let (loss, d_raw) = (b.w(4)?, b.w(5)?);
    need(KERNEL, "raw", raw, rows)?;
    need(KERNEL, "scale", scale, scale_len(rows, rps))?;
    need(KERNEL, "target", target, rows)?;
    need(KERNEL, "mask", mask, rows)?;
    need(KERNEL, "loss_rows", loss, rows)?;
    need(KERNEL, "d_raw", d_raw, rows)?;
    per_row(k, rows, 1, 4, loss, d_raw, |row, l, d| {
        let z = target[row];
        let (mut loss, mut grad) = (0.0f32, 0.0f32);
        if observed(mask[row], z) {
            let diff = raw[row] - z / scale[scale_index(row, rps)];
            loss = weight * diff * diff;
            grad = weight * 2.0 * diff;
        }
        *l = loss;
        d[0] = grad;
    });
    Ok(())
}

pub(crate) fn softmax_cross_entropy(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "softmax_cross_entropy";
    let classes = k.u(1);
    let weight = k.f(2);
    let rows = reached(k, k.u(0));
    let (logits, labels) = (b.r(0)?, b.r(1)?);
    let (loss, d_logits) = (b.w(2)?, b.w(3)?);
    let n = extent(KERNEL, rows, classes)?;
    need(KERNEL, "logits", logits, n)?;
    need(KERNEL, "labels", labels, rows)?;
    need(KERNEL, "loss_rows", loss, rows)?;
    need(KERNEL, "d_logits", d_logits, n)?;
    let k_f32 = classes as f32;
    per_row(
        k,
        rows,
        classes,
        classes * 8,
        loss,
        d_logits,
        |row, l, d| {
            let label = labels[row];
            if !label.is_finite() || label < 0.0 || label >= k_f32 {
                // no label is a silent 0; an index past the classes is a caller's bug, so NaN
                let fill = if label.is_finite() && label >= 0.0 {
                    QUIET_NAN
                } else {
                    0.0
                };
                *l = fill;
                d.fill(fill);
                return;
            }
            // label < f32(K) and truncation keep cls < K even where f32(K) rounds up
            let cls = label as usize;
            let x = &logits[row * classes..row * classes + classes];
            let m = x[1..].iter().fold(x[0], |m, &v| m.max(v));
            // exp(x − m) is kept in the gradient row: the shader computes it twice, with equal results
            let mut total = 0.0f32;
            for (g, &v) in d.iter_mut().zip(x) {
                *g = (v - m).exp();
                total += *g;
            }
            let picked = x.get(cls).copied().unwrap_or(QUIET_NAN);
            *l = weight * (total.ln() - (picked - m));
            for (c, g) in d.iter_mut().enumerate() {
                let onehot = if c == cls { 1.0 } else { 0.0 };
                *g = weight * (*g / total - onehot);
            }
        },
    );
    Ok(())
}

/// The shader's order exactly (lane i adds values i, i + 256, … in f32, then a halving tree), so
/// the total is the GPU's bit for bit and the same run to run; f64 would be closer to the true sum
/// but would make the CPU and GPU backends disagree in the last bits of every reported loss.
pub(crate) fn sum_rows(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "sum_rows";
    let n = k.u(0);
    let values = b.r(0)?;
    let out = b.w(1)?;
    if k.group_count() == 0 {
        return Ok(());
    }
    need(KERNEL, "values", values, n)?;
    need(KERNEL, "out", out, 1)?;
    let values = &values[..n];
    let mut partial = [0.0f32; SUM_THREADS];
    // lanes `first..first + acc.len()` of every 256-block: each lane's order is the shader's
    let lanes = |first: usize, acc: &mut [f32]| {
        for block in values.chunks(SUM_THREADS) {
            let tail = block.get(first..).unwrap_or(&[]);
            for (a, &v) in acc.iter_mut().zip(tail) {
                *a += v;
            }
        }
    };
    let threads = k.threads;
    if !k.parallel(n, 4 * SERIAL_WORK) {
        lanes(0, &mut partial);
    } else {
        // whole cache lines of lanes per task; more tasks than this only add reads of `values`
        let width = (SUM_THREADS / threads.min(8)).next_power_of_two().max(16);
        k.pool.install(|| {
            partial
                .par_chunks_mut(width)
                .enumerate()
                .for_each(|(t, acc)| lanes(t * width, acc));
        });
    }
    let mut stride = SUM_THREADS / 2;
    while stride > 0 {
        let (low, high) = partial.split_at_mut(stride);
        for (a, &h) in low.iter_mut().zip(&high[..stride]) {
            *a += h;
        }
        stride /= 2;
    }
    out[0] = partial[0];
    Ok(())
}

pub(crate) fn special_functions(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "special_functions";
    let n = reached(k, k.u(0));
    let x = b.r(0)?;
    let out = b.w(1)?;
    need(KERNEL, "x", x, n)?;
    need(KERNEL, "out", out, extent(KERNEL, n, 2)?)?;
    for_rows(k, &mut out[..2 * n], 2, 64, |i, pair| {
        pair[0] = lgamma(x[i]);
        pair[1] = digamma(x[i]);
    });
    Ok(())
}
