// Prepended to every other shader file by the kernel registry (WGSL has no #include), so these
// numerically guarded helpers exist once.

// tanh returns NaN for large inputs on some drivers; tanh(15) is 1 in f32 already.
fn safe_tanh(x: f32) -> f32 {
    return tanh(clamp(x, -15.0, 15.0));
}

// exp overflows f32 past ~88.7; sigmoid(±30) is already 0/1 in f32.
fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-clamp(x, -30.0, 30.0)));
}

// ln(1 + e) for e in [0, 1] without forming 1 + e (which drops e's low digits): with
// w = e / (2 + e) ≤ 1/3, ln(1 + e) = 2 atanh(w) = 2w Σ w^{2k} / (2k + 1), 9 terms reach f32.
fn log1p_unit(e: f32) -> f32 {
    let w = e / (2.0 + e);
    let w2 = w * w;
    var term = 1.0;
    var sum = 0.0;
    for (var k = 0u; k < 9u; k++) {
        sum += term / f32(2u * k + 1u);
        term *= w2;
    }
    return 2.0 * w * sum;
}

// Stable softplus: never exponentiates a large positive number, and keeps relative precision for
// negative inputs, where log(1 + tiny) would lose the tiny's digits.
fn softplus(x: f32) -> f32 {
    return max(x, 0.0) + log1p_unit(exp(-abs(x)));
}

// NaN compares unequal to itself only when the compiler does not assume finite math, so check the
// bit pattern: exponent all ones, mantissa non-zero.
fn is_nan(x: f32) -> bool {
    let bits = bitcast<u32>(x);
    return (bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0u;
}

fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// Flattened id for 1-D work laid out on a 2-D grid of 256-wide workgroups, which keeps every
// dispatch under the 65535 workgroups-per-dimension limit.
fn flat_id(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 256u;
}
