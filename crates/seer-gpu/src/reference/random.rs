//! Philox 4x32-10 and the samplers of heads.wgsl, in f64, drawing the same 32-bit words in the
//! same order, so a seed reproduces the GPU's paths up to floating-point rounding.

use crate::ops::Distribution;

#[derive(Debug, Clone, Copy)]
pub struct Philox {
    key: [u32; 2],
    counter: [u32; 4],
    words: [u32; 4],
    used: usize,
}

fn mul_hi_lo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

pub fn philox4x32(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
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

impl Philox {
    /// The stream of (series, path, step) under `seed`, as `sample_step` counts it.
    pub fn new(seed: u64, series: u32, path: u32, step: u32) -> Self {
        Philox {
            key: [seed as u32, (seed >> 32) as u32],
            counter: [series, path, step, 0],
            words: [0; 4],
            used: 4,
        }
    }

    pub fn next_unit(&mut self) -> f64 {
        if self.used == 4 {
            self.words = philox4x32(self.counter, self.key);
            self.counter[3] = self.counter[3].wrapping_add(1);
            self.used = 0;
        }
        let w = self.words[self.used];
        self.used += 1;
        ((w >> 8) as f64 + 0.5) / 16_777_216.0
    }

    pub fn normal(&mut self) -> f64 {
        let u1 = self.next_unit();
        let u2 = self.next_unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    pub fn gamma(&mut self, shape: f64) -> f64 {
        let mut a = shape;
        let mut boost = 1.0;
        if a < 1.0 {
            boost = self.next_unit().powf(1.0 / a);
            a += 1.0;
        }
        let d = a - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        for _ in 0..64 {
            let n = self.normal();
            let v0 = 1.0 + c * n;
            let u = self.next_unit();
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

    pub fn poisson(&mut self, lambda: f64) -> f64 {
        if lambda <= 0.0 {
            return 0.0;
        }
        if lambda < 12.0 {
            let limit = (-lambda).exp();
            let mut prod = self.next_unit();
            let mut k = 0.0;
            for _ in 0..256 {
                if prod <= limit {
                    break;
                }
                k += 1.0;
                prod *= self.next_unit();
            }
            return k;
        }
        if lambda > 1e4 {
            return (lambda + lambda.sqrt() * self.normal() + 0.5)
                .floor()
                .max(0.0);
        }
        let slam = lambda.sqrt();
        let loglam = lambda.ln();
        let b = 0.931 + 2.53 * slam;
        let a = -0.059 + 0.02483 * b;
        let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
        let vr = 0.9277 - 3.6224 / (b - 2.0);
        for _ in 0..64 {
            let u = self.next_unit() - 0.5;
            let v = self.next_unit();
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

pub fn log_factorial(k: f64) -> f64 {
    let mut x = k + 1.0;
    let mut shift = 0.0;
    while x < 8.0 {
        shift += x.ln();
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 / 1260.0));
    (x - 0.5) * x.ln() - x + 0.918_938_533_204_672_7 + series - shift
}

/// One draw from the distribution with unscaled parameters `p` (μ, σ or α, ν).
pub fn sample_row(dist: Distribution, p: [f64; 3], rng: &mut Philox) -> f64 {
    match dist {
        Distribution::Gaussian => p[0] + p[1] * rng.normal(),
        Distribution::StudentT => {
            let n = rng.normal();
            let g = 2.0 * rng.gamma(0.5 * p[2]);
            p[0] + p[1] * n / (g.max(1e-30) / p[2]).sqrt()
        }
        Distribution::NegativeBinomial => {
            let alpha = p[1];
            let lambda = rng.gamma(1.0 / alpha) * alpha * p[0];
            rng.poisson(lambda)
        }
    }
}
