// Training losses and their gradients with respect to the raw network outputs, one row per
// thread, and a deterministic sum of the per-row losses.
//
// Every per-row kernel writes weight × loss to loss_rows and weight × ∂loss/∂raw to the gradient;
// a row without a target (mask ≤ 0, non-finite target, negative or non-finite label) writes 0 to
// both, so callers can sum loss_rows blindly.
//
// Numerics of likelihood_loss: lgamma and digamma of large arguments differ by far less than their
// size (Student-t with large ν, the negative binomial near its Poisson limit), and a GPU's log is
// only accurate to about 2^-21 absolutely on [0.5, 2]. So the NLLs are written with lgamma entering
// only through the small Stirling remainder λ(x) = lgamma(x) − [(x − ½) ln x − x + ½ ln 2π] and
// digamma only through φ(x) = ψ(x) − ln x, logarithms near 1 through series (log1p, log1pmx), and
// the negative binomial in Loader's saddle-point form (bd0 deviance terms). The f64 reference in
// reference/loss.rs uses the textbook formulas, so the test compares two independent derivations.
//
// Each kernel has its own uniform block and binding names; binding numbers repeat across entry
// points, which WGSL allows as no entry point uses two variables with the same binding.

const HALF_LN_TWO_PI: f32 = 0.9189385332046727;
// σ̃, α̃ and μ̃ floors of docs/models.md, as in heads.wgsl
const PARAM_FLOOR: f32 = 1e-6;

// ---- special functions ----------------------------------------------------------------------

// A quiet NaN made at run time (a constant NaN would be a shader-creation error); `zero` is any
// runtime value ANDed away.
fn quiet_nan(zero: u32) -> f32 {
    return bitcast<f32>(0x7fc00000u | (zero & 0u));
}

// Σ_{k≥1} w2^k / (2k + 1) = atanh(w)/w − 1, to f32 precision for w2 ≤ 1/4 (14 terms).
fn atanh_tail(w2: f32) -> f32 {
    var acc = 1.0 / 29.0;
    for (var k = 13u; k >= 1u; k--) {
        acc = acc * w2 + 1.0 / f32(2u * k + 1u);
    }
    return acc * w2;
}

// ln(1 + x) keeping the digits of small x: 2·atanh(x / (2 + x)) as a series on (−0.5, 1].
fn log1p_series(x: f32) -> f32 {
    if (x > -0.5 && x <= 1.0) {
        let w = x / (2.0 + x);
        return 2.0 * w * (1.0 + atanh_tail(w * w));
    }
    return log(1.0 + x);
}

// ln(1 + x) − x without cancellation; `one_plus_x` is 1 + x as the caller formed it exactly
// (used only away from 0, where x may be close to −1).
fn log1pmx(x: f32, one_plus_x: f32) -> f32 {
    if (x > -0.5 && x <= 1.0) {
        // 2w − x = −x·w with w = x / (2 + x)
        let w = x / (2.0 + x);
        return -x * w + 2.0 * w * atanh_tail(w * w);
    }
    return log(one_plus_x) - x;
}

// Stirling remainder λ(x) = lgamma(x) − [(x − ½) ln x − x + ½ ln 2π] for x > 0: the asymptotic
// series from 7 up, below it the exact step λ(x) − λ(x + 1) = (x + ½) ln(1 + 1/x) − 1, which for
// x ≥ ½ is Σ y^{2k}/(2k + 1) with y = 1/(2x + 1) and so never cancels.
fn stirling_rem(x0: f32) -> f32 {
    var x = x0;
    var acc = 0.0;
    for (var i = 0u; i < 8u && x < 7.0; i++) {
        if (x >= 0.5) {
            let y = 1.0 / (2.0 * x + 1.0);
            acc += atanh_tail(y * y);
        } else {
            acc += (x + 0.5) * log(1.0 + 1.0 / x) - 1.0;
        }
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0
        - inv2 * (1.0 / 1680.0 - inv2 / 1188.0))));
    return acc + series;
}

// φ(x) = ψ(x) − ln x for x > 0: the asymptotic series from 7 up, below it
// φ(x) = φ(x + 1) + ln(1 + 1/x) − 1/x.
fn digamma_minus_log(x0: f32) -> f32 {
    var x = x0;
    var acc = 0.0;
    for (var i = 0u; i < 8u && x < 7.0; i++) {
        let u = 1.0 / x;
        acc += log1pmx(u, 1.0 + u);
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv2 * (1.0 / 12.0 - inv2 * (1.0 / 120.0 - inv2 * (1.0 / 252.0
        - inv2 * (1.0 / 240.0 - inv2 / 132.0))));
    return acc - 0.5 * inv - series;
}

fn lgamma(x: f32) -> f32 {
    return stirling_rem(x) + (x - 0.5) * log(x) - x + HALF_LN_TWO_PI;
}

fn digamma(x: f32) -> f32 {
    return digamma_minus_log(x) + log(x);
}

// softplus to f32 relative precision everywhere: common.wgsl's log(1 + exp(−|x|)) rounds 1 + eˣ
// and so loses relative digits of softplus(x) for −15 < x < −3 (up to ~20% near −15, more where
// log is only absolutely accurate near 1), where σ̃, α̃ and μ̃ are small and the NLL's gradients
// large.
fn softplus_precise(x: f32) -> f32 {
    return max(x, 0.0) + log1p_series(exp(-abs(x)));
}

// d softplus/dx = sigmoid(x), unclamped (common.wgsl's sigmoid clamps at ±30, which would leave a
// 1e-13 gradient at −100 where the true one is 4e-44).
fn softplus_grad(x: f32) -> f32 {
    let e = exp(-abs(x));
    if (x >= 0.0) {
        return 1.0 / (1.0 + e);
    }
    return e / (1.0 + e);
}

// Loader's deviance term x ln(x/m) + m − x ≥ 0 for x ≥ 0, m > 0, given d = x − m formed without
// cancellation: with v = d/(x + m), x ln(x/m) = 2x·atanh(v), and 2xv − d = d·v.
fn bd0(x: f32, m: f32, d: f32) -> f32 {
    if (x == 0.0) {
        return m;
    }
    let v = d / (x + m);
    if (abs(v) < 0.5) {
        return d * v + 2.0 * x * v * atanh_tail(v * v);
    }
    return x * log(x / m) - d;
}

// ---- likelihood_loss ------------------------------------------------------------------------

struct LikelihoodParams {
    rows: u32,
    raw_stride: u32,
    // rows that share one scale
    rows_per_scale: u32,
    // 0 gaussian, 1 student_t, 2 negative_binomial
    distribution: u32,
    // f32 bits
    weight: u32,
}

@group(0) @binding(0) var<uniform> lp: LikelihoodParams;
@group(0) @binding(1) var<storage, read> lk_raw: array<f32>;
@group(0) @binding(2) var<storage, read> lk_scale: array<f32>;
@group(0) @binding(3) var<storage, read> lk_target: array<f32>;
@group(0) @binding(4) var<storage, read> lk_mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> lk_loss: array<f32>;
@group(0) @binding(6) var<storage, read_write> lk_d_raw: array<f32>;

fn observed(mask: f32, value: f32) -> bool {
    return is_finite(mask) && mask > 0.0 && is_finite(value);
}

// z − a·b with the product kept exact: a and b split into 12-bit halves by masking bits (no
// arithmetic a compiler could fuse), whose four products are exact in f32; z − a_hi·b_hi is exact
// when z is close to a·b. (WGSL's fma is not fused on every adapter, llvmpipe's for one.)
fn minus_product(z: f32, a: f32, b: f32) -> f32 {
    let a_hi = bitcast<f32>(bitcast<u32>(a) & 0xfffff000u);
    let b_hi = bitcast<f32>(bitcast<u32>(b) & 0xfffff000u);
    let a_lo = a - a_hi;
    let b_lo = b - b_hi;
    return (((z - a_hi * b_hi) - a_hi * b_lo) - a_lo * b_hi) - a_lo * b_lo;
}

// (z − μ)/σ with μ = s·o0 and σ = s·σ̃, keeping the digits of a target close to the mean: z/s − o0
// would round z/s first and be off by 1 in e when σ̃ ~ 1e-7·|o0|.
fn standardized(z: f32, s: f32, o0: f32, sig: f32) -> f32 {
    return minus_product(z, s, o0) / (s * sig);
}

// (NLL, ∂/∂o0, ∂/∂o1, ∂/∂o2) of one row with unscaled target z and scale s.
fn gaussian_nll(o0: f32, o1: f32, z: f32, s: f32) -> vec4<f32> {
    let sig = softplus_precise(o1) + PARAM_FLOOR;
    let e = standardized(z, s, o0, sig);
    let nll = HALF_LN_TWO_PI + log(s) + log(sig) + 0.5 * e * e;
    // σ(o1) first: it is 0 where e²/σ̃ could overflow
    return vec4<f32>(nll, -e / sig, (1.0 - e * e) * softplus_grad(o1) / sig, 0.0);
}

fn student_t_nll(o0: f32, o1: f32, o2: f32, z: f32, s: f32) -> vec4<f32> {
    let sig = softplus_precise(o1) + PARAM_FLOOR;
    let nu = 2.0 + softplus_precise(o2);
    let a = 0.5 * nu;
    let u = 1.0 / nu;
    let e = standardized(z, s, o0, sig);
    let q = e * e / nu;
    // lgamma(a + ½) − lgamma(a) = a·log1pmx(1/(2a)) + ½ ln a + λ(a + ½) − λ(a), and
    // ½ ln(νπ) − ½ ln a = ½ ln 2π
    let lm = log1pmx(u, 1.0 + u);
    let nll = -a * lm - stirling_rem(a + 0.5) + stirling_rem(a) + HALF_LN_TWO_PI + log(s)
        + log(sig) + (a + 0.5) * log1p_series(q);
    // ∂NLL/∂e
    let k = (nu + 1.0) * e / (nu + e * e);
    // ψ(a) − ψ(a + ½) + 1/ν = φ(a) − φ(a + ½) − log1pmx(1/ν)
    let d_nu = 0.5 * (digamma_minus_log(a) - digamma_minus_log(a + 0.5) - lm + log1p_series(q)
        - k * e / nu);
    return vec4<f32>(
        nll,
        -k / sig,
        (1.0 - k * e) / sig * softplus_grad(o1),
        d_nu * softplus_grad(o2),
    );
}

fn negative_binomial_nll(o0: f32, o1: f32, z: f32, s: f32) -> vec4<f32> {
    if (z < 0.0) {
        // outside the support: loud, not silently masked
        let bad = quiet_nan(lp.rows);
        return vec4<f32>(bad, bad, bad, 0.0);
    }
    let mt = softplus_precise(o0) + PARAM_FLOOR;
    let at = softplus_precise(o1) + PARAM_FLOOR;
    let rs = sqrt(s);
    let mu = s * mt;
    // r = 1/α
    let r = rs / at;
    let rm = r + mu;
    // as in `standardized` (μ̃'s own f32 rounding remains: |μ − z| is good to about 1e-7·μ)
    let mu_minus_z = -minus_product(z, s, mt);
    let t = -mu_minus_z / rm;
    // 1 + t, formed without cancellation
    let ratio = (z + r) / rm;
    // the pmf as a binomial in n = z + r trials with p = r/(r + μ): np = r·ratio, nq = μ·ratio,
    // z − nq = r·t and r − np = −r·t
    let d = r * t;
    // rest = lgamma(z + r) − lgamma(r) − lgamma(z + 1) − (z + r) ln(z + r) + r ln r + z ln z
    var rest = 0.0;
    if (z > 0.0) {
        rest = -0.5 * log1p_series(z / r) - 0.5 * log(z) - HALF_LN_TWO_PI + stirling_rem(z + r)
            - stirling_rem(r) - stirling_rem(z);
    }
    let nll = bd0(r, r * ratio, -d) + bd0(z, mu * ratio, d) - rest;
    // ∂ℓ/∂r = ψ(z + r) − ψ(r) + ln(r/(r + μ)) + (μ − z)/(r + μ) = φ(z + r) − φ(r) + log1pmx(t)
    let g_r = digamma_minus_log(z + r) - digamma_minus_log(r) + log1pmx(t, ratio);
    // ∂NLL/∂μ = (μ − z)/(μ(1 + αμ)), ∂μ/∂o0 = s·σ(o0); ∂r/∂α̃ = −r/α̃
    let d_o0 = softplus_grad(o0) * mu_minus_z / (mt * (1.0 + at * mt * rs));
    let d_o1 = g_r * (r / at) * softplus_grad(o1);
    return vec4<f32>(nll, d_o0, d_o1, 0.0);
}

@compute @workgroup_size(256, 1, 1)
fn likelihood_loss(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = flat_id(gid, groups);
    if (row >= lp.rows) {
        return;
    }
    let base = row * lp.raw_stride;
    let z = lk_target[row];
    var v = vec4<f32>(0.0);
    if (observed(lk_mask[row], z)) {
        let s = lk_scale[row / lp.rows_per_scale];
        let o0 = lk_raw[base];
        let o1 = lk_raw[base + 1u];
        if (lp.distribution == 0u) {
            v = gaussian_nll(o0, o1, z, s);
        } else if (lp.distribution == 1u) {
            v = student_t_nll(o0, o1, lk_raw[base + 2u], z, s);
        } else {
            v = negative_binomial_nll(o0, o1, z, s);
        }
        v = v * bitcast<f32>(lp.weight);
    }
    lk_loss[row] = v.x;
    lk_d_raw[base] = v.y;
    lk_d_raw[base + 1u] = v.z;
    for (var c = 2u; c < lp.raw_stride; c++) {
        lk_d_raw[base + c] = select(0.0, v.w, c == 2u);
    }
}

// ---- quantile_loss --------------------------------------------------------------------------

struct QuantileParams {
    rows: u32,
    levels: u32,
    rows_per_scale: u32,
    // f32 bits
    weight: u32,
}

@group(0) @binding(0) var<uniform> qp: QuantileParams;
@group(0) @binding(1) var<storage, read> qt_raw: array<f32>;
@group(0) @binding(2) var<storage, read> qt_levels: array<f32>;
@group(0) @binding(3) var<storage, read> qt_scale: array<f32>;
@group(0) @binding(4) var<storage, read> qt_target: array<f32>;
@group(0) @binding(5) var<storage, read> qt_mask: array<f32>;
@group(0) @binding(6) var<storage, read_write> qt_loss: array<f32>;
@group(0) @binding(7) var<storage, read_write> qt_d_raw: array<f32>;

// Pinball loss Σ_q max(q·u, (q − 1)·u), u = z/s − q̂, in scaled space; subgradient 0 at u = 0.
@compute @workgroup_size(256, 1, 1)
fn quantile_loss(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = flat_id(gid, groups);
    if (row >= qp.rows) {
        return;
    }
    let base = row * qp.levels;
    let z = qt_target[row];
    let w = bitcast<f32>(qp.weight);
    if (!observed(qt_mask[row], z)) {
        qt_loss[row] = 0.0;
        for (var i = 0u; i < qp.levels; i++) {
            qt_d_raw[base + i] = 0.0;
        }
        return;
    }
    let zt = z / qt_scale[row / qp.rows_per_scale];
    var total = 0.0;
    for (var i = 0u; i < qp.levels; i++) {
        let q = qt_levels[i];
        let u = zt - qt_raw[base + i];
        total += max(q * u, (q - 1.0) * u);
        var g = 0.0;
        if (u > 0.0) {
            g = -q;
        } else if (u < 0.0) {
            g = 1.0 - q;
        }
        qt_d_raw[base + i] = w * g;
    }
    qt_loss[row] = w * total;
}

// ---- mse_loss -------------------------------------------------------------------------------

struct MseParams {
    rows: u32,
    rows_per_scale: u32,
    // f32 bits
    weight: u32,
}

@group(0) @binding(0) var<uniform> mp: MseParams;
@group(0) @binding(1) var<storage, read> ms_raw: array<f32>;
@group(0) @binding(2) var<storage, read> ms_scale: array<f32>;
@group(0) @binding(3) var<storage, read> ms_target: array<f32>;
@group(0) @binding(4) var<storage, read> ms_mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> ms_loss: array<f32>;
@group(0) @binding(6) var<storage, read_write> ms_d_raw: array<f32>;

// (raw − z/s)² in scaled space.
@compute @workgroup_size(256, 1, 1)
fn mse_loss(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = flat_id(gid, groups);
    if (row >= mp.rows) {
        return;
    }
    let z = ms_target[row];
    var loss = 0.0;
    var grad = 0.0;
    if (observed(ms_mask[row], z)) {
        let diff = ms_raw[row] - z / ms_scale[row / mp.rows_per_scale];
        let w = bitcast<f32>(mp.weight);
        loss = w * diff * diff;
        grad = w * 2.0 * diff;
    }
    ms_loss[row] = loss;
    ms_d_raw[row] = grad;
}

// ---- softmax_cross_entropy ------------------------------------------------------------------

struct CrossEntropyParams {
    rows: u32,
    classes: u32,
    // f32 bits
    weight: u32,
}

@group(0) @binding(0) var<uniform> cp: CrossEntropyParams;
@group(0) @binding(1) var<storage, read> ce_logits: array<f32>;
@group(0) @binding(2) var<storage, read> ce_labels: array<f32>;
@group(0) @binding(3) var<storage, read_write> ce_loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> ce_d_logits: array<f32>;

// −ln softmax(logits)[label], gradient softmax − onehot. A label is the class index as f32
// (truncated); negative or non-finite means no label; an index ≥ K writes NaN (a caller's bug).
@compute @workgroup_size(256, 1, 1)
fn softmax_cross_entropy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = flat_id(gid, groups);
    if (row >= cp.rows) {
        return;
    }
    let base = row * cp.classes;
    let label = ce_labels[row];
    if (!is_finite(label) || label < 0.0 || label >= f32(cp.classes)) {
        var fill = 0.0;
        if (is_finite(label) && label >= 0.0) {
            fill = quiet_nan(cp.rows);
        }
        ce_loss[row] = fill;
        for (var k = 0u; k < cp.classes; k++) {
            ce_d_logits[base + k] = fill;
        }
        return;
    }
    let cls = u32(label);
    let w = bitcast<f32>(cp.weight);
    var m = ce_logits[base];
    for (var k = 1u; k < cp.classes; k++) {
        m = max(m, ce_logits[base + k]);
    }
    var total = 0.0;
    for (var k = 0u; k < cp.classes; k++) {
        total += exp(ce_logits[base + k] - m);
    }
    ce_loss[row] = w * (log(total) - (ce_logits[base + cls] - m));
    for (var k = 0u; k < cp.classes; k++) {
        let prob = exp(ce_logits[base + k] - m) / total;
        ce_d_logits[base + k] = w * (prob - select(0.0, 1.0, k == cls));
    }
}

// ---- sum_rows -------------------------------------------------------------------------------

struct SumParams {
    n: u32,
}

@group(0) @binding(0) var<uniform> sp: SumParams;
@group(0) @binding(1) var<storage, read> sm_values: array<f32>;
@group(0) @binding(2) var<storage, read_write> sm_out: array<f32>;

const SUM_THREADS: u32 = 256u;
var<workgroup> partial: array<f32, SUM_THREADS>;

// One workgroup: thread i adds values i, i + 256, … in order, then a fixed halving tree, so the
// result does not depend on scheduling; NaN and ±inf propagate.
@compute @workgroup_size(256, 1, 1)
fn sum_rows(@builtin(local_invocation_index) lid: u32) {
    var acc = 0.0;
    for (var i = lid; i < sp.n; i += SUM_THREADS) {
        acc += sm_values[i];
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var stride = SUM_THREADS / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            partial[lid] = partial[lid] + partial[lid + stride];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        sm_out[0] = partial[0];
    }
}

// ---- special_functions ----------------------------------------------------------------------

struct SpecialParams {
    n: u32,
}

@group(0) @binding(0) var<uniform> fp: SpecialParams;
@group(0) @binding(1) var<storage, read> sf_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> sf_out: array<f32>;

// out[i] = (lgamma(x_i), digamma(x_i)): the f32 special functions above, exposed for testing.
@compute @workgroup_size(256, 1, 1)
fn special_functions(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = flat_id(gid, groups);
    if (i >= fp.n) {
        return;
    }
    let x = sf_x[i];
    sf_out[2u * i] = lgamma(x);
    sf_out[2u * i + 1u] = digamma(x);
}
