//! heads.wgsl on the host: the likelihood heads and the ancestral sampler. The sampler draws the
//! shader's Philox words in the shader's order and does its arithmetic in f32 the way the shader
//! writes it (operation order, literal rounding, comparison direction), so a seed gives the same
//! paths on either backend up to the rounding of transcendental functions. That is why the code
//! below reads like WGSL rather than idiomatic Rust: every `if` keeps the shader's sense, because
//! negating a comparison changes what a NaN does.

use super::math::softplus;
use super::{Bindings, Call, for_rows, need};
use crate::error::GpuError;

const SIGMA_FLOOR: f32 = 1e-6;
// the shader's TWO_PI literal rounded to f32, which is exactly f32's TAU
const TWO_PI: f32 = std::f32::consts::TAU;
// ½ ln 2π: the shader's 0.9189385332046727 rounds to this same f32
const HALF_LN_TWO_PI: f32 = 0.918_938_5;

/// Per-row work, in the units `for_rows` weighs against its serial threshold: a draw costs at
/// least one Philox block and a few transcendental calls (more for rejection samplers), so a few
/// hundred rows already repay waking the pool; the parameter map alone needs thousands.
const SAMPLE_COST: usize = 64;
const PARAMS_COST: usize = 4;

/// The uniform block, word by word as heads.wgsl declares it.
struct Params {
    rows: usize,
    raw_stride: usize,
    rows_per_scale: u32,
    distribution: u32,
    seed: [u32; 2],
    step: u32,
    paths: u32,
    sample_stride: usize,
    sample_offset: usize,
    history_stride: usize,
    history_offset: usize,
}

impl Params {
    fn read(k: &Call<'_>) -> Self {
        Params {
            rows: launched_rows(k, k.u(0)),
            raw_stride: k.u(1),
            rows_per_scale: k.word(2),
            distribution: k.word(3),
            seed: [k.word(4), k.word(5)],
            step: k.word(6),
            paths: k.word(7),
            sample_stride: k.u(8),
            sample_offset: k.u(9),
            history_stride: k.u(10),
            history_offset: k.u(11),
        }
    }

    /// Raw values a row's head reads: student_t's ν comes from a third column.
    fn raw_read(&self) -> usize {
        if self.distribution == 1 { 3 } else { 2 }
    }

    fn scale_index(&self, row: usize) -> usize {
        wgsl_div(row as u32, self.rows_per_scale) as usize
    }
}

/// Rows the shader's invocations reach: `flat_id` covers `256 · groups.x · groups.y` ids (a
/// `groups.z` above one repeats them, an empty grid runs none), so a grid too small for `rows`
/// leaves the rest unwritten on the GPU and must here too.
fn launched_rows(k: &Call<'_>, rows: usize) -> usize {
    let [x, y, z] = k.groups.map(|g| g as usize);
    if z == 0 {
        return 0;
    }
    rows.min(256usize.saturating_mul(x).saturating_mul(y))
}

/// WGSL defines u32 division by zero as the dividend and remainder by zero as 0, where Rust
/// would panic; the op wrappers refuse a zero divisor, a direct dispatch may not.
fn wgsl_div(a: u32, b: u32) -> u32 {
    a.checked_div(b).unwrap_or(a)
}

fn wgsl_rem(a: u32, b: u32) -> u32 {
    a.checked_rem(b).unwrap_or(0)
}

/// Elements a strided per-row write spans; saturating, so absurd words fail `need` instead of
/// wrapping into a small, wrong bound.
fn span(rows: usize, stride: usize, offset: usize, width: usize) -> usize {
    if rows == 0 {
        return 0;
    }
    (rows - 1)
        .saturating_mul(stride)
        .saturating_add(offset)
        .saturating_add(width)
}

/// (μ, σ or α, ν) of one row, unscaled. Bounds were checked by the caller.
fn head_params(p: &Params, raw: &[f32], scale: &[f32], row: usize) -> [f32; 3] {
    let s = scale[p.scale_index(row)];
    let base = row * p.raw_stride;
    let o0 = raw[base];
    let o1 = raw[base + 1];
    if p.distribution == 2 {
        let mu = (softplus(o0) + SIGMA_FLOOR) * s;
        let alpha = (softplus(o1) + SIGMA_FLOOR) / s.sqrt();
        return [mu, alpha, 0.0];
    }
    let mu = o0 * s;
    let sigma = (softplus(o1) + SIGMA_FLOOR) * s;
    let mut nu = 0.0;
    if p.distribution == 1 {
        nu = 2.0 + softplus(raw[base + 2]);
    }
    [mu, sigma, nu]
}

fn check_inputs(
    kernel: &'static str,
    p: &Params,
    raw: &[f32],
    scale: &[f32],
) -> Result<(), GpuError> {
    if p.rows == 0 {
        return Ok(());
    }
    need(
        kernel,
        "raw",
        raw,
        span(p.rows, p.raw_stride, 0, p.raw_read()),
    )?;
    need(kernel, "scale", scale, p.scale_index(p.rows - 1) + 1)
}

/// Bindings: raw (read), scale (read), params_out (rw, [rows, 3]).
pub(crate) fn distribution_params(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "distribution_params";
    let p = Params::read(k);
    let (raw, scale) = (b.r(0)?, b.r(1)?);
    let out = b.w(2)?;
    check_inputs(KERNEL, &p, raw, scale)?;
    let len = p.rows.saturating_mul(3);
    need(KERNEL, "params", out, len)?;
    for_rows(k, &mut out[..len], 3, PARAMS_COST, |row, o| {
        o.copy_from_slice(&head_params(&p, raw, scale, row));
    });
    Ok(())
}

/// Bindings: raw (read), scale (read), samples (rw), history (rw).
pub(crate) fn sample_step(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "sample_step";
    let p = Params::read(k);
    let (raw, scale) = (b.r(0)?, b.r(1)?);
    let samples = b.w(2)?;
    let history = b.w(3)?;
    check_inputs(KERNEL, &p, raw, scale)?;
    need(
        KERNEL,
        "samples",
        samples,
        span(p.rows, p.sample_stride, p.sample_offset, 1),
    )?;
    need(
        KERNEL,
        "history",
        history,
        span(p.rows, p.history_stride, p.history_offset, 1),
    )?;
    // Draws are made in parallel into a dense column, then scattered: the two outputs have their
    // own strides and offsets (an offset may exceed its stride), so they do not split into
    // disjoint per-row chunks the pool could own.
    let mut z = vec![0.0f32; p.rows];
    for_rows(k, &mut z, 1, SAMPLE_COST, |row, o| {
        let v = head_params(&p, raw, scale, row);
        let r = row as u32;
        let mut rng = Rng::new(
            [wgsl_div(r, p.paths), wgsl_rem(r, p.paths), p.step, 0],
            p.seed,
        );
        o[0] = draw(&mut rng, p.distribution, v);
    });
    for (row, &z) in z.iter().enumerate() {
        samples[row * p.sample_stride + p.sample_offset] = z;
        history[row * p.history_stride + p.history_offset] = z / scale[p.scale_index(row)];
    }
    Ok(())
}

// ---- Philox 4x32-10 --------------------------------------------------------------------------

/// The shader builds this product from 16-bit halves for want of 64-bit integers; the u64
/// product is the same exact value.
fn mul_hi_lo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

fn philox(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for _ in 0..10 {
        let (hi0, lo0) = mul_hi_lo(0xD251_1F53, c[0]);
        let (hi1, lo1) = mul_hi_lo(0xCD9E_8D57, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
        k = [
            k[0].wrapping_add(0x9E37_79B9),
            k[1].wrapping_add(0xBB67_AE85),
        ];
    }
    c
}

/// 24 bits plus a half, in f32 as the shader adds it: from 2^23 up the half does not fit the
/// significand and rounds to even, so the top word gives exactly 1.0 (the shader's comment says
/// never 1; its arithmetic says otherwise, and matching the GPU matters more). Never 0, so `ln(u)`
/// stays finite.
fn to_unit(x: u32) -> f32 {
    ((x >> 8) as f32 + 0.5) * (1.0 / 16_777_216.0)
}

/// One row's stream: a Philox block per four draws, the counter's last word counting blocks.
struct Rng {
    counter: [u32; 4],
    key: [u32; 2],
    words: [u32; 4],
    used: usize,
}

impl Rng {
    fn new(counter: [u32; 4], key: [u32; 2]) -> Self {
        Rng {
            counter,
            key,
            words: [0; 4],
            used: 4,
        }
    }

    fn next(&mut self) -> f32 {
        if self.used == 4 {
            self.words = philox(self.counter, self.key);
            self.counter[3] = self.counter[3].wrapping_add(1);
            self.used = 0;
        }
        let w = self.words[self.used];
        self.used += 1;
        to_unit(w)
    }

    /// Box–Muller's cosine half only: the shader spends two draws per normal and keeps no spare,
    /// so neither may this, or the streams would drift apart after the first normal.
    fn normal(&mut self) -> f32 {
        let u1 = self.next();
        let u2 = self.next();
        (-2.0 * u1.ln()).sqrt() * (TWO_PI * u2).cos()
    }

    /// Marsaglia–Tsang with the shader's 64-attempt bound. A rejected attempt still spends its
    /// three draws (the uniform is drawn before `v0` is tested), as on the GPU.
    fn gamma(&mut self, shape: f32) -> f32 {
        let mut a = shape;
        let mut boost = 1.0f32;
        if a < 1.0 {
            boost = self.next().powf(1.0 / a);
            a += 1.0;
        }
        let d = a - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        for _ in 0..64 {
            let n = self.normal();
            let v0 = 1.0 + c * n;
            let u = self.next();
            if v0 <= 0.0 {
                continue;
            }
            let v = v0 * v0 * v0;
            if u.ln() < 0.5 * n * n + d - d * v + d * v.ln() {
                return d * v * boost;
            }
        }
        d * boost
    }

    /// Knuth below 12, PTRS up to 1e4, the normal approximation beyond, each bounded as the
    /// shader bounds it (256 factors, 64 attempts).
    fn poisson(&mut self, lambda: f32) -> f32 {
        if lambda <= 0.0 {
            return 0.0;
        }
        if lambda < 12.0 {
            let limit = (-lambda).exp();
            let mut prod = self.next();
            let mut k = 0.0f32;
            for _ in 0..256 {
                if prod <= limit {
                    break;
                }
                k += 1.0;
                prod *= self.next();
            }
            return k;
        }
        if lambda > 1e4 {
            return 0.0f32.max((lambda + lambda.sqrt() * self.normal() + 0.5).floor());
        }
        let slam = lambda.sqrt();
        let loglam = lambda.ln();
        let b = 0.931 + 2.53 * slam;
        let a = -0.059 + 0.02483 * b;
        let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
        let vr = 0.9277 - 3.6224 / (b - 2.0);
        for _ in 0..64 {
            let u = self.next() - 0.5;
            let v = self.next();
            let us = 0.5 - u.abs();
            let k = ((2.0 * a / us + b) * u + lambda + 0.43).floor();
            if us >= 0.07 && v <= vr {
                return k;
            }
            if k < 0.0 || (us < 0.013 && v > us) {
                continue;
            }
            if v.ln() + inv_alpha.ln() - (a / (us * us) + b).ln()
                <= -lambda + k * loglam - log_factorial(k)
            {
                return k;
            }
        }
        lambda.floor()
    }
}

/// The shader's Stirling series for lgamma(k + 1), shifted up to x ≥ 8. Only reached with
/// k ≥ 0 (PTRS rejects negative k first), so the shift loop runs at most eight times.
fn log_factorial(k: f32) -> f32 {
    let mut x = k + 1.0;
    let mut shift = 0.0f32;
    while x < 8.0 {
        shift += x.ln();
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 / 1260.0));
    (x - 0.5) * x.ln() - x + HALF_LN_TWO_PI + series - shift
}

/// One draw; any code other than 0 and 1 samples the negative binomial, as the shader's
/// fall-through does.
fn draw(rng: &mut Rng, distribution: u32, v: [f32; 3]) -> f32 {
    if distribution == 0 {
        return v[0] + v[1] * rng.normal();
    }
    if distribution == 1 {
        let n = rng.normal();
        let g = 2.0 * rng.gamma(0.5 * v[2]);
        return v[0] + v[1] * n / (g.max(1e-30) / v[2]).sqrt();
    }
    let shape = 1.0 / v[1];
    let lambda = rng.gamma(shape) * v[1] * v[0];
    rng.poisson(lambda)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shader's 16-bit-halves product, to check the u64 shortcut against.
    fn mul_hi_lo_halves(a: u32, b: u32) -> (u32, u32) {
        let (a_lo, a_hi, b_lo, b_hi) = (a & 0xffff, a >> 16, b & 0xffff, b >> 16);
        let (ll, lh, hl, hh) = (a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi);
        let mid = (ll >> 16) + (lh & 0xffff) + (hl & 0xffff);
        let lo = (ll & 0xffff) | (mid << 16);
        let hi = hh + (lh >> 16) + (hl >> 16) + (mid >> 16);
        (hi, lo)
    }

    #[test]
    fn wide_product_matches_the_shaders_halves() {
        let mut x = 0x1234_5678u32;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            for m in [0xD251_1F53, 0xCD9E_8D57, u32::MAX, 0, 1] {
                assert_eq!(mul_hi_lo(m, x), mul_hi_lo_halves(m, x));
            }
        }
        assert_eq!(
            mul_hi_lo(u32::MAX, u32::MAX),
            mul_hi_lo_halves(u32::MAX, u32::MAX)
        );
    }

    #[test]
    fn philox_known_answer() {
        // Random123's kat_vectors, philox4x32_10 with counter and key all ones-bits
        assert_eq!(
            philox([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
    }

    #[test]
    fn stream_matches_the_reference_word_for_word() {
        let mut ours = Rng::new([3, 7, 5, 0], [42, 1]);
        let mut reference = crate::reference::Philox::new(42 | (1 << 32), 3, 7, 5);
        for _ in 0..37 {
            // the same word, rounded once to f32 as the shader's `+ 0.5` rounds it
            assert_eq!(ours.next(), reference.next_unit() as f32);
        }
    }

    #[test]
    fn unit_values_round_as_the_shaders_do() {
        assert_eq!(to_unit(0), 0.5 / 16_777_216.0);
        assert_eq!(to_unit(u32::MAX), 1.0);
    }

    /// Through the op wrapper with enough rows to take the pool: every row equals a serial
    /// recomputation bit for bit, and nearly all equal the f64 reference to rounding.
    #[test]
    fn pooled_draws_match_serial_draws_and_the_reference() {
        use crate::ops::{self, Distribution, SampleSpec};
        use crate::{GpuContext, Recorder};
        let ctx = GpuContext::cpu();
        let (series, paths) = (8usize, 1000usize);
        let rows = series * paths;
        let cases: [(Distribution, &[f32]); 5] = [
            (Distribution::Gaussian, &[0.7, 0.3]),
            (Distribution::StudentT, &[0.2, -0.5, 0.1]),
            (Distribution::NegativeBinomial, &[0.5, -1.0]),
            (Distribution::NegativeBinomial, &[40.0, -3.0]),
            (Distribution::NegativeBinomial, &[3000.0, 2.0]),
        ];
        for (dist, raw_row) in cases {
            let stride = raw_row.len();
            let raw: Vec<f32> = (0..rows).flat_map(|_| raw_row.iter().copied()).collect();
            let scale: Vec<f32> = (0..series).map(|i| 1.0 + 0.5 * i as f32).collect();
            let spec = SampleSpec {
                distribution: dist,
                rows,
                paths,
                raw_stride: stride,
                seed: 0x0123_4567_89ab_cdef,
                step: 3,
                sample_stride: 1,
                sample_offset: 0,
                history_stride: 2,
                history_offset: 1,
            };
            let raw_t = ctx.upload(&raw, &[raw.len()]).unwrap();
            let scale_t = ctx.upload(&scale, &[series]).unwrap();
            let samples = ctx.zeros(&[rows]).unwrap();
            let history = ctx.zeros(&[rows, 2]).unwrap();
            let mut rec = Recorder::new(&ctx);
            ops::sample_step(&mut rec, &spec, &raw_t, &scale_t, &samples, &history).unwrap();
            rec.submit().unwrap();
            let got = ctx.read(&samples).unwrap();
            let hist = ctx.read(&history).unwrap();
            let p = Params {
                rows,
                raw_stride: stride,
                rows_per_scale: paths as u32,
                distribution: dist.code(),
                seed: [spec.seed as u32, (spec.seed >> 32) as u32],
                step: 3,
                paths: paths as u32,
                sample_stride: 1,
                sample_offset: 0,
                history_stride: 2,
                history_offset: 1,
            };
            let mut agree = 0;
            for row in 0..rows {
                let (s, path) = ((row / paths) as u32, (row % paths) as u32);
                let v = head_params(&p, &raw, &scale, row);
                let mut rng = Rng::new([s, path, 3, 0], p.seed);
                let serial = draw(&mut rng, dist.code(), v);
                assert_eq!(
                    got[row].to_bits(),
                    serial.to_bits(),
                    "{} row {row}",
                    dist.name()
                );
                assert_eq!(hist[row * 2 + 1], serial / scale[row / paths]);
                let raw64: Vec<f64> = raw_row.iter().map(|&x| f64::from(x)).collect();
                let pr = crate::reference::head_params(dist, &raw64, f64::from(scale[row / paths]));
                let mut r64 = crate::reference::Philox::new(spec.seed, s, path, 3);
                let want = crate::reference::sample_row(dist, pr, &mut r64);
                if (f64::from(serial) - want).abs() <= 1e-3 * (1.0 + want.abs()) {
                    agree += 1;
                }
            }
            let share = agree as f64 / rows as f64;
            println!(
                "{} {raw_row:?}: {share:.5} of draws match the f64 reference",
                dist.name()
            );
            assert!(
                share >= 0.99,
                "{} {raw_row:?}: agreement {share}",
                dist.name()
            );
        }
    }

    #[test]
    fn division_by_zero_follows_wgsl() {
        assert_eq!(wgsl_div(7, 0), 7);
        assert_eq!(wgsl_rem(7, 0), 0);
        assert_eq!(wgsl_div(7, 2), 3);
        assert_eq!(wgsl_rem(7, 2), 1);
    }

    #[test]
    fn log_factorial_is_exact_enough_for_small_counts() {
        let mut lf = 0.0f64;
        for k in 0..40 {
            if k > 0 {
                lf += f64::from(k).ln();
            }
            let got = f64::from(log_factorial(k as f32));
            assert!(
                (got - lf).abs() <= 1e-5 * (1.0 + lf),
                "k {k}: {got} vs {lf}"
            );
        }
    }
}
