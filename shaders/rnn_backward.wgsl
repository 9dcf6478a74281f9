// Backpropagation through time for the Elman recurrence h_t = tanh(z_t) (rnn.wgsl), time loop
// inside the shader as in recurrent_backward.wgsl: dz_t = (dL/dh_t + dh_rec) ⊙ (1 − h_t²),
// dh_{t-1}[j] = Σ_u W_hh[u, j] dz_t[u], W_hh read in PyTorch's layout [H, H] at `w_offset`.
// Also `shift_states`: the per-step previous states h_{t-1} (h0 at the first step) that the
// host multiplies with dz into dW_hh, for the LSTM and the Elman cell alike.

struct Params {
    batch: u32,
    steps: u32,
    hidden: u32,
    tile: u32,
    reverse: u32,
    out_stride: u32,
    out_offset: u32,
    dout_stride: u32,
    dout_offset: u32,
    w_offset: u32,
    truncate: u32,
    unused: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> out: array<f32>;        // forward h [B, T, out_stride]
@group(0) @binding(2) var<storage, read> weights: array<f32>;    // flat parameters
@group(0) @binding(3) var<storage, read> d_out: array<f32>;      // [B, T, dout_stride]
@group(0) @binding(4) var<storage, read> dh_n: array<f32>;       // [B, H]
@group(0) @binding(5) var<storage, read_write> dz: array<f32>;   // [B, T, H]
@group(0) @binding(6) var<storage, read_write> dh0: array<f32>;  // [B, H]

var<workgroup> dh_rec: array<f32, 1024>;
var<workgroup> dz_tile: array<f32, 1024>;

fn backward_t(step: u32) -> u32 {
    if (p.reverse == 1u) {
        return step;
    }
    return p.steps - 1u - step;
}

@compute @workgroup_size(256, 1, 1)
fn rnn_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let H = p.hidden;
    let first_series = wg.x * p.tile;
    let pairs = p.tile * H;
    for (var k = 0u; k < 4u; k++) {
        let pair = lid.x + k * 256u;
        if (pair < pairs) {
            let b = first_series + pair / H;
            var v = 0.0;
            if (b < p.batch) {
                v = dh_n[b * H + pair % H];
            }
            dh_rec[pair] = v;
        }
    }
    workgroupBarrier();
    for (var step = 0u; step < p.steps; step++) {
        let t = backward_t(step);
        for (var k = 0u; k < 4u; k++) {
            let pair = lid.x + k * 256u;
            if (pair >= pairs) {
                continue;
            }
            let b = first_series + pair / H;
            let u = pair % H;
            if (b >= p.batch) {
                dz_tile[pair] = 0.0;
                continue;
            }
            let h = out[(b * p.steps + t) * p.out_stride + p.out_offset + u];
            let dh = d_out[(b * p.steps + t) * p.dout_stride + p.dout_offset + u] + dh_rec[pair];
            let z = dh * (1.0 - h * h);
            dz[(b * p.steps + t) * H + u] = z;
            dz_tile[pair] = z;
        }
        workgroupBarrier();
        let cut = p.truncate > 0u && (step + 1u) % p.truncate == 0u;
        for (var k = 0u; k < 4u; k++) {
            let pair = lid.x + k * 256u;
            if (pair >= pairs) {
                continue;
            }
            let s = pair / H;
            let j = pair % H;
            var acc = 0.0;
            if (!cut) {
                for (var u = 0u; u < H; u++) {
                    acc = fma(weights[p.w_offset + u * H + j], dz_tile[s * H + u], acc);
                }
            }
            dh_rec[pair] = acc;
        }
        workgroupBarrier();
    }
    for (var k = 0u; k < 4u; k++) {
        let pair = lid.x + k * 256u;
        if (pair < pairs) {
            let b = first_series + pair / H;
            if (b < p.batch) {
                dh0[b * H + pair % H] = dh_rec[pair];
            }
        }
    }
}

// hp[b, t, :] = h of the forward pass's previous step (h0 at its first step)
@group(0) @binding(7) var<storage, read> h0: array<f32>;            // [B, H]
@group(0) @binding(8) var<storage, read_write> h_prev: array<f32>;  // [B, T, H]

@compute @workgroup_size(256, 1, 1)
fn shift_states(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = flat_id(gid, groups);
    let H = p.hidden;
    if (idx >= p.batch * p.steps * H) {
        return;
    }
    let u = idx % H;
    let t = (idx / H) % p.steps;
    let b = idx / (H * p.steps);
    var v = 0.0;
    if (p.reverse == 1u) {
        if (t + 1u < p.steps) {
            v = out[(b * p.steps + t + 1u) * p.out_stride + p.out_offset + u];
        } else {
            v = h0[b * H + u];
        }
    } else {
        if (t > 0u) {
            v = out[(b * p.steps + t - 1u) * p.out_stride + p.out_offset + u];
        } else {
            v = h0[b * H + u];
        }
    }
    h_prev[idx] = v;
}
