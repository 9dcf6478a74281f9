// Dilated causal Conv1d over [B, C, T] activations (PyTorch layout), the building block of a TCN
// residual block: y[b, o, t] = bias[o] + Σ_{i,k} w[o, i, k] · x[b, i, t − (K−1−k)·d], reading zeros
// before t = 0 (PyTorch's left padding of (K−1)·d). Optionally ReLU, then optionally the residual
// add and the block's closing ReLU, so a whole block is conv → conv+residual in two dispatches
// (plus the 1×1 projection when channel counts differ, which is this kernel with K = 1).

struct Params {
    batch: u32,
    in_channels: u32,
    out_channels: u32,
    steps: u32,
    kernel: u32,
    dilation: u32,
    relu: u32,
    // 1: out = relu(conv_out + residual)
    residual: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // [B, Cin, T]
@group(0) @binding(2) var<storage, read> w: array<f32>;        // [Cout, Cin, K]
@group(0) @binding(3) var<storage, read> bias: array<f32>;     // [Cout]
@group(0) @binding(4) var<storage, read> res: array<f32>;      // [B, Cout, T] when residual
@group(0) @binding(5) var<storage, read_write> y: array<f32>;  // [B, Cout, T]

@compute @workgroup_size(256, 1, 1)
fn conv1d_causal(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = flat_id(gid, groups);
    let total = p.batch * p.out_channels * p.steps;
    if (idx >= total) {
        return;
    }
    let t = idx % p.steps;
    let o = (idx / p.steps) % p.out_channels;
    let b = idx / (p.steps * p.out_channels);
    var acc = bias[o];
    for (var i = 0u; i < p.in_channels; i++) {
        let xrow = (b * p.in_channels + i) * p.steps;
        let wrow = (o * p.in_channels + i) * p.kernel;
        for (var k = 0u; k < p.kernel; k++) {
            let back = (p.kernel - 1u - k) * p.dilation;
            if (back <= t) {
                acc = fma(w[wrow + k], x[xrow + t - back], acc);
            }
        }
    }
    if (p.relu == 1u) {
        acc = max(acc, 0.0);
    }
    if (p.residual == 1u) {
        acc = max(acc + res[idx], 0.0);
    }
    y[idx] = acc;
}
