// The optimizer step over the flat parameter buffer (grads, Adam m and v are flat buffers of the
// same length): global gradient norm (sums of squares per workgroup, then one thread), the clip
// factor and skip flag, then AdamW. Every sum has a fixed order (strided per thread, then a fixed
// tree), so results are bit-identical run to run; there are no atomics.
//
// state[4]: [0] global gradient norm, [1] factor applied to the gradients, [2] 1.0 when the step
// is applied, 0.0 when it is skipped (norm or loss not finite), [3] reserved (0).
//
// The three entry points share one declaration per binding (the host always passes 8 words):
//   binding  sum_squares_partial  clip_scale      adam_step
//   1        grads (read)         partial (read)  params (rw)
//   2        partial (write)      loss [1]        grads
//   3        -                    state (write)   m (rw)
//   4        -                    -               v (rw)
//   5        -                    -               state (read)

const GROUP: u32 = 256u;

struct Params {
    // sum_squares_partial, adam_step: elements; clip_scale: number of partial sums
    n: u32,
    // sum_squares_partial: elements per workgroup; clip_scale: max_norm (f32 bits, 0 = no
    // clipping); adam_step: learning rate (f32 bits)
    arg: u32,
    // adam_step only, all f32 bits; the bias corrections 1 − β^t come from the host
    beta1: u32,
    beta2: u32,
    eps: u32,
    weight_decay: u32,
    bias_correction1: u32,
    bias_correction2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> buf1: array<f32>;
@group(0) @binding(2) var<storage, read_write> buf2: array<f32>;
@group(0) @binding(3) var<storage, read_write> buf3: array<f32>;
@group(0) @binding(4) var<storage, read_write> buf4: array<f32>;
@group(0) @binding(5) var<storage, read> buf5: array<f32>;

var<workgroup> tree: array<f32, 256>;

// One workgroup per chunk of `arg` elements: thread l sums the squares of elements l, l + 256, ...
// of its chunk in order, then a fixed binary tree. NaN and Inf propagate (squares are never
// negative, so no Inf − Inf). grads = buf1, partial = buf2.
@compute @workgroup_size(256, 1, 1)
fn sum_squares_partial(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let group = wg.x + wg.y * groups.x;
    let count = (p.n + p.arg - 1u) / p.arg;
    if (group >= count) {
        return;
    }
    let start = group * p.arg;
    let end = min(start + p.arg, p.n);
    var acc = 0.0;
    for (var i = start + lid; i < end; i += GROUP) {
        let g = buf1[i];
        acc = fma(g, g, acc);
    }
    tree[lid] = acc;
    workgroupBarrier();
    for (var half = GROUP / 2u; half > 0u; half = half / 2u) {
        if (lid < half) {
            tree[lid] = tree[lid] + tree[lid + half];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        buf2[group] = tree[0];
    }
}

// One thread: sums the partials in order. partial = buf1, loss = buf2[0], state = buf3.
// A skipped step writes factor 0, so a consumer that only multiplies cannot apply it by mistake.
@compute @workgroup_size(1, 1, 1)
fn clip_scale() {
    var total = 0.0;
    for (var i = 0u; i < p.n; i++) {
        total += buf1[i];
    }
    let norm = sqrt(total);
    let max_norm = bitcast<f32>(p.arg);
    let ok = is_finite(norm) && is_finite(buf2[0]);
    var scale = 1.0;
    if (!ok) {
        scale = 0.0;
    } else if (max_norm > 0.0) {
        scale = min(1.0, max_norm / (norm + 1e-6));
    }
    buf3[0] = norm;
    buf3[1] = scale;
    buf3[2] = select(0.0, 1.0, ok);
    buf3[3] = 0.0;
}

// AdamW as PyTorch computes it, with g = grads · state[1]:
//   p ← p − lr·wd·p;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
//   p ← p − (lr / bc1) · m / (√v / √bc2 + eps).
// Nothing is written when state[2] == 0 (the skipped step).
// params = buf1, grads = buf2, m = buf3, v = buf4, state = buf5.
@compute @workgroup_size(256, 1, 1)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = flat_id(gid, groups);
    if (idx >= p.n || buf5[2] == 0.0) {
        return;
    }
    let lr = bitcast<f32>(p.arg);
    let beta1 = bitcast<f32>(p.beta1);
    let beta2 = bitcast<f32>(p.beta2);
    let eps = bitcast<f32>(p.eps);
    let wd = bitcast<f32>(p.weight_decay);
    let bc1 = bitcast<f32>(p.bias_correction1);
    let bc2 = bitcast<f32>(p.bias_correction2);
    let g = buf2[idx] * buf5[1];
    var w = buf1[idx];
    w = w - lr * wd * w;
    let m = beta1 * buf3[idx] + (1.0 - beta1) * g;
    let v = beta2 * buf4[idx] + (1.0 - beta2) * g * g;
    let denom = sqrt(v) / sqrt(bc2) + eps;
    w = w - (lr / bc1) * (m / denom);
    buf3[idx] = m;
    buf4[idx] = v;
    buf1[idx] = w;
}
