//! common.wgsl's guarded helpers, so the CPU kernels saturate where the shaders do. exp, tanh and
//! sigmoid are branch-free polynomials (Cephes' single-precision expf and tanhf, within 2 ulp)
//! rather than libm calls: the recurrences apply them to every gate of every step, and a call
//! per element was most of an LSTM step; these inline and vectorise over a row of gates. No
//! `mul_add`: without the FMA target feature it is a libm call, which would undo the point.

pub(crate) const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 split so that n·LN2_HI is exact for the |n| ≤ 128 that reach it
pub(crate) const LN2_HI: f32 = 0.693_359_4;
pub(crate) const LN2_LO: f32 = -2.121_944_4e-4;
// adding then subtracting 1.5·2²³ rounds an f32 of magnitude < 2²² to the nearest integer
pub(crate) const ROUND: f32 = 12_582_912.0;
/// e^r − 1 − r ≈ r²·P(r) on |r| ≤ ln2/2, highest power first (Cephes expf).
pub(crate) const EXP_POLY: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];
/// tanh(x) ≈ x + x³·P(x²) on |x| < 0.625, highest power first (Cephes tanhf).
pub(crate) const TANH_POLY: [f32; 5] = [
    -5.704_988_7e-3,
    2.063_909e-2,
    -5.373_971_6e-2,
    1.333_144_2e-1,
    -3.333_328e-1,
];

/// e^x, saturating to 0 below −87.3 and to e^88.7 above: never inf, as the shaders' clamped
/// arguments never reach it.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.336_55, 88.376_26);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = EXP_POLY[1..].iter().fold(EXP_POLY[0], |p, &c| p * r + c);
    let e = p * (r * r) + r + 1.0;
    // 2^n from its exponent bits; n ∈ [−126, 128) after the clamp, and 2^128 never forms
    // because e^88.4 is computed as 2^127 · e^r
    let scale = f32::from_bits(((n as i32 + 127).clamp(1, 254) as u32) << 23);
    if x.is_nan() { x } else { e * scale }
}

/// tanh clamped as the shaders clamp it (some drivers return NaN for large inputs).
#[inline(always)]
pub(crate) fn safe_tanh(x: f32) -> f32 {
    let x = x.clamp(-15.0, 15.0);
    let a = x.abs();
    // small |x|: tanh's odd series keeps relative precision, where 1 − 2/(e^2x + 1) cancels
    let z = x * x;
    let p = TANH_POLY[1..].iter().fold(TANH_POLY[0], |p, &c| p * z + c);
    let small = (x * z) * p + x;
    let large = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    let large = if x < 0.0 { -large } else { large };
    if a < 0.625 { small } else { large }
}

/// The scalar form of `simd`'s sigmoid, its test oracle.
#[cfg(test)]
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x.clamp(-30.0, 30.0)))
}

/// max(x, 0) + ln(1 + e^−|x|): never exponentiates a large positive number.
pub(crate) fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

pub(crate) fn is_finite(x: f32) -> bool {
    x.is_finite()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f64) -> f64 {
        let b32 = b as f32;
        ((a - b32).abs() / (b32.abs() * f32::EPSILON).max(f32::MIN_POSITIVE)) as f64
    }

    #[test]
    fn exp_tanh_sigmoid_match_f64_within_a_few_ulps_and_saturate() {
        let mut worst = (0.0f64, 0.0f64, 0.0f64);
        for i in -200_000..=200_000 {
            let x = i as f32 * 4.4e-4;
            worst.0 = worst.0.max(ulps(exp(x), (x as f64).exp()));
            worst.1 = worst.1.max(ulps(safe_tanh(x), (x as f64).tanh()));
            let clamped = (x as f64).clamp(-30.0, 30.0);
            worst.2 = worst
                .2
                .max(ulps(sigmoid(x), 1.0 / (1.0 + (-clamped).exp())));
        }
        assert!(
            worst.0 <= 2.0 && worst.1 <= 4.0 && worst.2 <= 4.0,
            "{worst:?}"
        );
        for x in [1e-30f32, -1e-30, 1e-8, -3e-5] {
            assert!(ulps(safe_tanh(x), (x as f64).tanh()) <= 1.0, "tanh({x})");
        }
        assert_eq!(exp(-200.0), exp(-87.336_55));
        assert!(exp(200.0).is_finite() && exp(200.0) > 1e38);
        assert_eq!(safe_tanh(1e30), 1.0);
        assert_eq!(safe_tanh(-1e30), -1.0);
        assert_eq!(sigmoid(-1e30), 1.0 / (1.0 + exp(30.0)));
        assert_eq!(sigmoid(1e30), 1.0);
        assert!(exp(f32::NAN).is_nan() && safe_tanh(f32::NAN).is_nan());
        assert!(sigmoid(f32::NAN).is_nan());
    }
}
