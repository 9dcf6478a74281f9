//! The workspace's one seedable generator: SplitMix64 (Steele, Lea & Flood 2014), tiny, fast,
//! and the same on every platform and every version of the dependencies.
//!
//! Synthetic data, initial weights, training windows and evaluation masks are all drawn from it,
//! and tests and fixtures compare their exact values: the arithmetic of every method here is
//! frozen. A caller that needs another derivation adds a method rather than changing one.

/// A SplitMix64 stream. [`SplitMix64::new`] takes the seed as the raw state; callers that want
/// unrelated streams for related seeds mix the seed themselves first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) from the top 53 bits of one word: every value is a multiple of 2⁻⁵³.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1]: safe to take the logarithm of.
    pub fn uniform_open(&mut self) -> f64 {
        1.0 - self.uniform()
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// An index in 0..n by the remainder of one word (0 when `n` is 0). The remainder's bias,
    /// below n / 2⁶⁴, is far under anything a sampled window or mask could show.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// Standard normal by Box–Muller (the cosine half; the sine half is dropped so that every
    /// call consumes exactly two words).
    pub fn normal(&mut self) -> f64 {
        let r = (-2.0 * self.uniform_open().ln()).sqrt();
        r * (std::f64::consts::TAU * self.uniform()).cos()
    }

    /// Gamma(shape, scale) by Marsaglia & Tsang (2000); 0 for a shape or scale that is not
    /// positive and finite.
    pub fn gamma(&mut self, shape: f64, scale: f64) -> f64 {
        if !(shape > 0.0 && shape.is_finite() && scale > 0.0 && scale.is_finite()) {
            return 0.0;
        }
        if shape < 1.0 {
            // Gamma(k) = Gamma(k + 1) · U^(1/k).
            let u = self.uniform_open();
            return self.gamma(shape + 1.0, scale) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            if self.uniform_open().ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v * scale;
            }
        }
    }

    /// Poisson(λ) by Knuth's product of uniforms, in chunks of λ ≤ 30 (a Poisson sum is Poisson
    /// of the summed rates), so that e^−λ never underflows. O(λ) draws, fine for the rates the
    /// synthetic data asks for; 0 for a rate that is not positive and finite.
    pub fn poisson(&mut self, lambda: f64) -> f64 {
        if !(lambda > 0.0 && lambda.is_finite()) {
            return 0.0;
        }
        const CHUNK: f64 = 30.0;
        let mut rest = lambda;
        let mut count = 0.0;
        while rest > 0.0 {
            let rate = rest.min(CHUNK);
            rest -= rate;
            let limit = (-rate).exp();
            let mut product = self.uniform_open();
            while product > limit {
                count += 1.0;
                product *= self.uniform_open();
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws<T>(seed: u64, mut f: impl FnMut(&mut SplitMix64) -> T) -> Vec<T> {
        let mut rng = SplitMix64::new(seed);
        (0..3).map(|_| f(&mut rng)).collect()
    }

    // The values below were captured from the four generators this one replaced (synthetic
    // data, weight init, training windows, eval masks); any change to them breaks fixtures.

    #[test]
    fn words_are_the_reference_splitmix64() {
        assert_eq!(
            draws(0, SplitMix64::next_u64),
            [0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f]
        );
        assert_eq!(
            draws(42, SplitMix64::next_u64),
            [0xbdd732262feb6e95, 0x28efe333b266f103, 0x47526757130f9f52]
        );
    }

    #[test]
    fn derived_draws_keep_their_values() {
        assert_eq!(
            draws(0, SplitMix64::uniform),
            [
                0.8833108082136426,
                0.43152799704850997,
                0.026433771592597743
            ]
        );
        assert_eq!(
            draws(7, SplitMix64::uniform),
            [0.3898297483912715, 0.01678829452815611, 0.9007606806068834]
        );
        assert_eq!(
            draws(7, SplitMix64::uniform_open),
            [0.6101702516087285, 0.9832117054718439, 0.09923931939311659]
        );
        assert_eq!(
            draws(7, |r| r.range(-2.0, 5.0)),
            [0.7288082387389005, -1.8824819383029072, 4.3053247642481836]
        );
        assert_eq!(
            draws(7, SplitMix64::normal),
            [0.9884743323187353, -1.8642558067312274, 0.00392020721518934]
        );
        assert_eq!(
            draws(7, |r| r.gamma(2.5, 3.0)),
            [11.914971021262271, 2.3638218113873797, 4.431739671676187]
        );
        assert_eq!(
            draws(7, |r| r.gamma(0.5, 2.0)),
            [0.994490497344468, 0.3205585843097086, 3.444629072411737]
        );
        assert_eq!(draws(7, |r| r.poisson(45.0)), [40.0, 47.0, 28.0]);
        assert_eq!(draws(7, |r| r.poisson(0.7)), [2.0, 0.0, 1.0]);
        let mut rng = SplitMix64::new(0x5EED);
        let below: Vec<usize> = [10, 1, 1000, 7, 0, 3]
            .into_iter()
            .map(|n| rng.below(n))
            .collect();
        assert_eq!(below, [2, 0, 891, 4, 0, 0]);
    }

    #[test]
    fn below_zero_draws_nothing() {
        let (mut a, mut b) = (SplitMix64::new(3), SplitMix64::new(3));
        assert_eq!(a.below(0), 0);
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn draws_have_the_right_moments() {
        let mut rng = SplitMix64::new(1);
        let n = 100_000;
        let mean = |f: &mut dyn FnMut() -> f64| (0..n).map(|_| f()).sum::<f64>() / n as f64;
        assert!((mean(&mut || rng.uniform()) - 0.5).abs() < 0.01);
        let mut rng = SplitMix64::new(2);
        assert!(mean(&mut || rng.normal()).abs() < 0.02);
        let mut rng = SplitMix64::new(3);
        assert!((mean(&mut || rng.normal().powi(2)) - 1.0).abs() < 0.02);
        let mut rng = SplitMix64::new(4);
        // Gamma(2.5, 3) has mean 7.5.
        assert!((mean(&mut || rng.gamma(2.5, 3.0)) - 7.5).abs() < 0.1);
        let mut rng = SplitMix64::new(5);
        assert!((mean(&mut || rng.gamma(0.5, 2.0)) - 1.0).abs() < 0.03);
        let mut rng = SplitMix64::new(6);
        // Two chunks: λ = 45 = 30 + 15.
        assert!((mean(&mut || rng.poisson(45.0)) - 45.0).abs() < 0.15);
        let mut rng = SplitMix64::new(7);
        assert!((mean(&mut || rng.poisson(0.7)) - 0.7).abs() < 0.02);
        assert_eq!(rng.poisson(0.0), 0.0);
        assert_eq!(rng.poisson(f64::NAN), 0.0);
        assert_eq!(rng.gamma(-1.0, 1.0), 0.0);
    }
}
