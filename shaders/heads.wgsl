// Likelihood heads and ancestral sampling for DeepAR-style models.
//
// `distribution_params` maps the raw projection o = proj(h) of each row to the unscaled parameters
// of its distribution (docs/models.md): gaussian (μ, σ), student_t (μ, σ, ν), negative_binomial
// (μ, α). `sample_step` does the same and then draws one value per row from a counter-based
// generator (Philox 4x32-10) keyed by the seed and counted by (series, path, step, draw), so the
// same seed yields the same paths on any adapter and in the f64 CPU reference.

struct Params {
    rows: u32,
    raw_stride: u32,
    // rows that share one scale: T for teacher-forced context rows, paths for forecast rows
    rows_per_scale: u32,
    // 0 gaussian, 1 student_t, 2 negative_binomial
    distribution: u32,
    seed_lo: u32,
    seed_hi: u32,
    step: u32,
    paths: u32,
    // where the draw goes: samples[row * sample_stride + sample_offset] (unscaled) and
    // history[row * history_stride + history_offset] (divided by the scale, the next inputs' lag)
    sample_stride: u32,
    sample_offset: u32,
    history_stride: u32,
    history_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> raw: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read_write> params_out: array<f32>; // [rows, 3]
@group(0) @binding(4) var<storage, read_write> samples: array<f32>;
@group(0) @binding(5) var<storage, read_write> history: array<f32>;

const SIGMA_FLOOR: f32 = 1e-6;
const TWO_PI: f32 = 6.283185307179586;

fn head_params(row: u32) -> vec3<f32> {
    let s = scale[row / p.rows_per_scale];
    let base = row * p.raw_stride;
    let o0 = raw[base];
    let o1 = raw[base + 1u];
    if (p.distribution == 2u) {
        let mu = (softplus(o0) + SIGMA_FLOOR) * s;
        let alpha = (softplus(o1) + SIGMA_FLOOR) / sqrt(s);
        return vec3<f32>(mu, alpha, 0.0);
    }
    let mu = o0 * s;
    let sigma = (softplus(o1) + SIGMA_FLOOR) * s;
    var nu = 0.0;
    if (p.distribution == 1u) {
        nu = 2.0 + softplus(raw[base + 2u]);
    }
    return vec3<f32>(mu, sigma, nu);
}

@compute @workgroup_size(256, 1, 1)
fn distribution_params(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = flat_id(gid, groups);
    if (row >= p.rows) {
        return;
    }
    let v = head_params(row);
    params_out[row * 3u] = v.x;
    params_out[row * 3u + 1u] = v.y;
    params_out[row * 3u + 2u] = v.z;
}

// ---- Philox 4x32-10 -------------------------------------------------------------------------

// high and low 32 bits of a 32×32-bit product, from 16-bit halves (WGSL has no 64-bit integers)
fn mul_hi_lo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    let lo = (ll & 0xffffu) | (mid << 16u);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, lo);
}

fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var r = 0u; r < 10u; r++) {
        let p0 = mul_hi_lo(0xD2511F53u, c.x);
        let p1 = mul_hi_lo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

// 24 random bits → (0, 1), exactly representable in f32, never 0 or 1
fn to_unit(x: u32) -> f32 {
    return (f32(x >> 8u) + 0.5) * (1.0 / 16777216.0);
}

struct Rng {
    counter: vec4<u32>,
    words: vec4<u32>,
    used: u32,
}

fn rng_next(rng: ptr<function, Rng>) -> f32 {
    if ((*rng).used == 4u) {
        (*rng).words = philox((*rng).counter, vec2<u32>(p.seed_lo, p.seed_hi));
        (*rng).counter.w = (*rng).counter.w + 1u;
        (*rng).used = 0u;
    }
    let w = (*rng).words[(*rng).used];
    (*rng).used = (*rng).used + 1u;
    return to_unit(w);
}

fn normal(rng: ptr<function, Rng>) -> f32 {
    let u1 = rng_next(rng);
    let u2 = rng_next(rng);
    return sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2);
}

// Marsaglia–Tsang for shape ≥ 1; shape < 1 boosts by one and scales by u^(1/shape).
// Bounded attempts keep a shader from spinning; acceptance is above 95% per attempt.
fn gamma(rng: ptr<function, Rng>, shape: f32) -> f32 {
    var a = shape;
    var boost = 1.0;
    if (a < 1.0) {
        boost = pow(rng_next(rng), 1.0 / a);
        a = a + 1.0;
    }
    let d = a - 1.0 / 3.0;
    let c = 1.0 / sqrt(9.0 * d);
    for (var attempt = 0u; attempt < 64u; attempt++) {
        let n = normal(rng);
        let v0 = 1.0 + c * n;
        let u = rng_next(rng);
        if (v0 <= 0.0) {
            continue;
        }
        let v = v0 * v0 * v0;
        if (log(u) < 0.5 * n * n + d - d * v + d * log(v)) {
            return d * v * boost;
        }
    }
    return d * boost;
}

fn log_factorial(k: f32) -> f32 {
    // Stirling series for lgamma(k + 1), shifted up to x ≥ 8 where it is accurate to f32
    var x = k + 1.0;
    var shift = 0.0;
    while (x < 8.0) {
        shift = shift + log(x);
        x = x + 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 / 1260.0));
    return (x - 0.5) * log(x) - x + 0.9189385332046727 + series - shift;
}

// Knuth's product method for small means, Hörmann's PTRS above, and the normal approximation
// past 1e4 where f32 cannot resolve PTRS's acceptance test.
fn poisson(rng: ptr<function, Rng>, lambda: f32) -> f32 {
    if (lambda <= 0.0) {
        return 0.0;
    }
    if (lambda < 12.0) {
        let limit = exp(-lambda);
        var prod = rng_next(rng);
        var k = 0.0;
        for (var i = 0u; i < 256u; i++) {
            if (prod <= limit) {
                break;
            }
            k = k + 1.0;
            prod = prod * rng_next(rng);
        }
        return k;
    }
    if (lambda > 1e4) {
        return max(0.0, floor(lambda + sqrt(lambda) * normal(rng) + 0.5));
    }
    let slam = sqrt(lambda);
    let loglam = log(lambda);
    let b = 0.931 + 2.53 * slam;
    let a = -0.059 + 0.02483 * b;
    let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    let vr = 0.9277 - 3.6224 / (b - 2.0);
    for (var attempt = 0u; attempt < 64u; attempt++) {
        let u = rng_next(rng) - 0.5;
        let v = rng_next(rng);
        let us = 0.5 - abs(u);
        let k = floor((2.0 * a / us + b) * u + lambda + 0.43);
        if (us >= 0.07 && v <= vr) {
            return k;
        }
        if (k < 0.0 || (us < 0.013 && v > us)) {
            continue;
        }
        if (log(v) + log(inv_alpha) - log(a / (us * us) + b) <= -lambda + k * loglam - log_factorial(k)) {
            return k;
        }
    }
    return floor(lambda);
}

fn draw(rng: ptr<function, Rng>, v: vec3<f32>) -> f32 {
    if (p.distribution == 0u) {
        return v.x + v.y * normal(rng);
    }
    if (p.distribution == 1u) {
        let n = normal(rng);
        let g = 2.0 * gamma(rng, 0.5 * v.z);
        return v.x + v.y * n / sqrt(max(g, 1e-30) / v.z);
    }
    let shape = 1.0 / v.y;
    let lambda = gamma(rng, shape) * v.y * v.x;
    return poisson(rng, lambda);
}

@compute @workgroup_size(256, 1, 1)
fn sample_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = flat_id(gid, groups);
    if (row >= p.rows) {
        return;
    }
    let v = head_params(row);
    var rng: Rng;
    rng.counter = vec4<u32>(row / p.paths, row % p.paths, p.step, 0u);
    rng.used = 4u;
    let z = draw(&rng, v);
    samples[row * p.sample_stride + p.sample_offset] = z;
    history[row * p.history_stride + p.history_offset] = z / scale[row / p.rows_per_scale];
}
