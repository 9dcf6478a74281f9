// Gradients of the dilated causal Conv1d of conv.wgsl,
//   y[b, o, t] = bias[o] + Σ_{i,k} w[o, i, k] · x[b, i, t − (K−1−k)·d]   (zeros before t = 0),
// on [B, C, T] activations and [Cout, Cin, K] weights read from / written to flat parameter and
// gradient buffers at offsets. Any ReLU or residual of the forward is undone by the caller first
// (relu_backward in elementwise.wgsl). No atomics: every output has one writer, and the weight
// and bias reductions run in a fixed order (strided per thread, then a fixed tree).
//
//   binding  conv1d_backward_input  conv1d_backward_weight
//   1        dy [B, Cout, T]        dy [B, Cout, T]
//   2        w (flat parameters)    x [B, Cin, T]
//   3        dx [B, Cin, T] (rw)    grads (flat, rw)

struct Params {
    batch: u32,
    in_channels: u32,
    out_channels: u32,
    steps: u32,
    kernel: u32,
    dilation: u32,
    // conv1d_backward_input: 1 = dx += …, 0 = dx = …; conv1d_backward_weight: dw offset in grads
    word6: u32,
    // conv1d_backward_input: weight offset in w; conv1d_backward_weight: bias-grad offset in grads
    word7: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

// dx[b, i, t] = Σ_{o,k} w[o, i, k] · dy[b, o, t + (K−1−k)·d], only where that index is < T.
// One thread per dx element, summing o then k in order.
@compute @workgroup_size(256, 1, 1)
fn conv1d_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = flat_id(gid, groups);
    let total = p.batch * p.in_channels * p.steps;
    if (idx >= total) {
        return;
    }
    let t = idx % p.steps;
    let i = (idx / p.steps) % p.in_channels;
    let b = idx / (p.steps * p.in_channels);
    // steps after t inside the sequence
    let room = p.steps - 1u - t;
    var acc = 0.0;
    for (var o = 0u; o < p.out_channels; o++) {
        let dyrow = (b * p.out_channels + o) * p.steps + t;
        let wrow = p.word7 + (o * p.in_channels + i) * p.kernel;
        for (var k = 0u; k < p.kernel; k++) {
            let ahead = (p.kernel - 1u - k) * p.dilation;
            if (ahead <= room) {
                acc = fma(src[wrow + k], dy[dyrow + ahead], acc);
            }
        }
    }
    if (p.word6 == 1u) {
        acc += dst[idx];
    }
    dst[idx] = acc;
}

const GROUP: u32 = 256u;

var<workgroup> tree: array<f32, 256>;

// One workgroup per weight element (o, i, k), numbered as the [Cout, Cin, K] layout, then one per
// bias element o:
//   dw[o, i, k] = Σ_{b,t} dy[b, o, t] · x[b, i, t − (K−1−k)·d],   db[o] = Σ_{b,t} dy[b, o, t].
// Only the (b, t) pairs with t ≥ (K−1−k)·d contribute; thread l takes pairs l, l + 256, ... of them
// in (b, t) order, then the tree. Overwrites grads[dw_offset + e] and grads[db_offset + o].
@compute @workgroup_size(256, 1, 1)
fn conv1d_backward_weight(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let e = wg.x + wg.y * groups.x;
    let weights = p.out_channels * p.in_channels * p.kernel;
    if (e >= weights + p.out_channels) {
        return;
    }
    var acc = 0.0;
    if (e < weights) {
        let k = e % p.kernel;
        let i = (e / p.kernel) % p.in_channels;
        let o = e / (p.kernel * p.in_channels);
        let back = (p.kernel - 1u - k) * p.dilation;
        if (back < p.steps) {
            let span = p.steps - back;
            let pairs = p.batch * span;
            for (var j = lid; j < pairs; j += GROUP) {
                let b = j / span;
                let t = back + j % span;
                acc = fma(
                    dy[(b * p.out_channels + o) * p.steps + t],
                    src[(b * p.in_channels + i) * p.steps + t - back],
                    acc,
                );
            }
        }
    } else {
        let o = e - weights;
        let pairs = p.batch * p.steps;
        for (var j = lid; j < pairs; j += GROUP) {
            let b = j / p.steps;
            let t = j % p.steps;
            acc += dy[(b * p.out_channels + o) * p.steps + t];
        }
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
        if (e < weights) {
            dst[p.word6 + e] = tree[0];
        } else {
            dst[p.word7 + e - weights] = tree[0];
        }
    }
}
