// Elman RNN recurrence h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) over a whole sequence in
// one dispatch. As in lstm.wgsl: the input projection of all timesteps comes from one GEMM, time
// loops inside the shader, h_{t-1} of a tile of series sits in workgroup memory, W_hh arrives
// transposed ([H, H]) for coalesced reads, and tile · hidden ≤ 1024.

struct Params {
    batch: u32,
    steps: u32,
    hidden: u32,
    tile: u32,
    reverse: u32,
    out_stride: u32,
    out_offset: u32,
    // pre_x holds this dispatch's series only; other buffers are indexed by series_offset + b
    series_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pre_x: array<f32>;     // [B, T, H]
@group(0) @binding(2) var<storage, read> w_hh_t: array<f32>;    // [H, H]
@group(0) @binding(3) var<storage, read> h0: array<f32>;        // [B, H]
@group(0) @binding(4) var<storage, read_write> out: array<f32>; // [B, T, out_stride]
@group(0) @binding(5) var<storage, read_write> h_n: array<f32>; // [B, H]

var<workgroup> h_prev: array<f32, 1024>;

@compute @workgroup_size(256, 1, 1)
fn rnn_sequence(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let H = p.hidden;
    let first_series = wg.x * p.tile;
    let pairs = p.tile * H;
    var h_new: array<f32, 4>;
    for (var k = 0u; k < 4u; k++) {
        let pair = lid.x + k * 256u;
        if (pair < pairs) {
            let b = first_series + pair / H;
            var v = 0.0;
            if (b < p.batch) {
                v = h0[(b + p.series_offset) * H + pair % H];
            }
            h_prev[pair] = v;
        }
    }
    workgroupBarrier();
    for (var step = 0u; step < p.steps; step++) {
        var t = step;
        if (p.reverse == 1u) {
            t = p.steps - 1u - step;
        }
        for (var k = 0u; k < 4u; k++) {
            let pair = lid.x + k * 256u;
            if (pair >= pairs) {
                continue;
            }
            let s = pair / H;
            let u = pair % H;
            let b = first_series + s;
            if (b >= p.batch) {
                continue;
            }
            var z = pre_x[(b * p.steps + t) * H + u];
            let hs = s * H;
            for (var j = 0u; j < H; j++) {
                z = fma(w_hh_t[j * H + u], h_prev[hs + j], z);
            }
            let h = safe_tanh(z);
            h_new[k] = h;
            out[((b + p.series_offset) * p.steps + t) * p.out_stride + p.out_offset + u] = h;
        }
        workgroupBarrier();
        for (var k = 0u; k < 4u; k++) {
            let pair = lid.x + k * 256u;
            if (pair < pairs) {
                h_prev[pair] = h_new[k];
            }
        }
        workgroupBarrier();
    }
    for (var k = 0u; k < 4u; k++) {
        let pair = lid.x + k * 256u;
        if (pair < pairs) {
            let b = first_series + pair / H;
            if (b < p.batch) {
                h_n[(b + p.series_offset) * H + pair % H] = h_prev[pair];
            }
        }
    }
}
