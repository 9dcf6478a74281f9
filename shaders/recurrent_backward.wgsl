// Backpropagation through time for the LSTM and Elman recurrences (lstm.wgsl, rnn.wgsl), with the
// time loop inside the shader as in the forward pass: a workgroup owns a tile of series, walks
// the steps in the opposite order of the forward pass, keeps dh of the tile in workgroup memory
// and dc in registers, and writes the gate pre-activation gradients dz of every step. Weight
// gradients are then large GEMMs over dz (deterministic, no atomics), done by the host.
//
// W_hh is read in PyTorch's layout [G·H, H] from the flat parameter buffer at `w_offset`:
// dh_{t-1}[j] = Σ_r W_hh[r, j] dz_t[r], so neighbouring threads (neighbouring j) read
// neighbouring addresses.

struct Params {
    batch: u32,
    steps: u32,
    hidden: u32,
    tile: u32,
    reverse: u32,
    // forward output (h) row layout, for shift_states and the Elman backward
    out_stride: u32,
    out_offset: u32,
    // upstream gradient dL/dh_t layout: d_out[(b * steps + t) * dout_stride + dout_offset + u]
    dout_stride: u32,
    dout_offset: u32,
    w_offset: u32,
    // truncated BPTT: the recurrent gradient is cut every `truncate` steps (0: full BPTT)
    truncate: u32,
    unused: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

// ---- LSTM -------------------------------------------------------------------------------

@group(0) @binding(1) var<storage, read> saved: array<f32>;      // [B, T, 5H]: i, f, g, o, c
@group(0) @binding(2) var<storage, read> c0: array<f32>;         // [B, H]
@group(0) @binding(3) var<storage, read> weights: array<f32>;    // flat parameters
@group(0) @binding(4) var<storage, read> d_out: array<f32>;      // [B, T, dout_stride]
@group(0) @binding(5) var<storage, read> dh_n: array<f32>;       // [B, H]
@group(0) @binding(6) var<storage, read> dc_n: array<f32>;       // [B, H]
@group(0) @binding(7) var<storage, read_write> dz: array<f32>;   // [B, T, G·H]
@group(0) @binding(8) var<storage, read_write> dh0: array<f32>;  // [B, H]
@group(0) @binding(9) var<storage, read_write> dc0: array<f32>;  // [B, H]

var<workgroup> dh_rec: array<f32, 1024>;
var<workgroup> dz_tile: array<f32, 4096>;

// the forward pass's previous step of t, if any
fn forward_prev(t: u32) -> i32 {
    if (p.reverse == 1u) {
        if (t + 1u < p.steps) {
            return i32(t + 1u);
        }
        return -1;
    }
    return i32(t) - 1;
}

// t of the step-th step processed by the backward pass (the forward order reversed)
fn backward_t(step: u32) -> u32 {
    if (p.reverse == 1u) {
        return step;
    }
    return p.steps - 1u - step;
}

@compute @workgroup_size(256, 1, 1)
fn lstm_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let H = p.hidden;
    let G = 4u * H;
    let first_series = wg.x * p.tile;
    let pairs = p.tile * H;
    var dc: array<f32, 4>;
    for (var k = 0u; k < 4u; k++) {
        let pair = lid.x + k * 256u;
        dc[k] = 0.0;
        if (pair < pairs) {
            let b = first_series + pair / H;
            var v = 0.0;
            if (b < p.batch) {
                v = dh_n[b * H + pair % H];
                dc[k] = dc_n[b * H + pair % H];
            }
            dh_rec[pair] = v;
        }
    }
    workgroupBarrier();
    for (var step = 0u; step < p.steps; step++) {
        let t = backward_t(step);
        let tp = forward_prev(t);
        for (var k = 0u; k < 4u; k++) {
            let pair = lid.x + k * 256u;
            if (pair >= pairs) {
                continue;
            }
            let s = pair / H;
            let u = pair % H;
            let b = first_series + s;
            if (b >= p.batch) {
                for (var gate = 0u; gate < 4u; gate++) {
                    dz_tile[s * G + gate * H + u] = 0.0;
                }
                continue;
            }
            let sv = (b * p.steps + t) * 5u * H;
            let ig = saved[sv + u];
            let fg = saved[sv + H + u];
            let gg = saved[sv + 2u * H + u];
            let og = saved[sv + 3u * H + u];
            let c = saved[sv + 4u * H + u];
            var c_prev = c0[b * H + u];
            if (tp >= 0) {
                c_prev = saved[(b * p.steps + u32(tp)) * 5u * H + 4u * H + u];
            }
            let dh = d_out[(b * p.steps + t) * p.dout_stride + p.dout_offset + u] + dh_rec[pair];
            let tc = safe_tanh(c);
            let d_o = dh * tc;
            let dct = dc[k] + dh * og * (1.0 - tc * tc);
            let zi = dct * gg * ig * (1.0 - ig);
            let zf = dct * c_prev * fg * (1.0 - fg);
            let zg = dct * ig * (1.0 - gg * gg);
            let zo = d_o * og * (1.0 - og);
            let base = (b * p.steps + t) * G;
            dz[base + u] = zi;
            dz[base + H + u] = zf;
            dz[base + 2u * H + u] = zg;
            dz[base + 3u * H + u] = zo;
            dz_tile[s * G + u] = zi;
            dz_tile[s * G + H + u] = zf;
            dz_tile[s * G + 2u * H + u] = zg;
            dz_tile[s * G + 3u * H + u] = zo;
            dc[k] = dct * fg;
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
                for (var r = 0u; r < G; r++) {
                    acc = fma(weights[p.w_offset + r * H + j], dz_tile[s * G + r], acc);
                }
            } else {
                dc[k] = 0.0;
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
                dc0[b * H + pair % H] = dc[k];
            }
        }
    }
}
