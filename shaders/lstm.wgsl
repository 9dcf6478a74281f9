// LSTM recurrence over a whole sequence in one dispatch. The input projection of every timestep
// (x_t · W_ihᵀ + b_ih + b_hh, gates i, f, g, o as PyTorch orders them) is computed beforehand by
// one GEMM; this kernel loops over time *inside* the shader for a tile of series, keeping h_{t-1}
// of the tile in workgroup memory and c in registers.
//
// A workgroup of 256 threads owns `tile` series; thread `tid` handles the (series, unit) pairs
// tid, tid + 256, … (at most 4), so tile · hidden ≤ 1024. W_hh arrives transposed ([H, 4H]) so
// that neighbouring threads (neighbouring units) read neighbouring addresses.

struct Params {
    batch: u32,
    steps: u32,
    hidden: u32,
    tile: u32,
    // 1: walk t from steps-1 down to 0 (the backward direction of a BiLSTM)
    reverse: u32,
    // output row layout: out[(b * steps + t) * out_stride + out_offset + u]
    out_stride: u32,
    out_offset: u32,
    // 1: keep the gate activations (i, f, g, o) and cell states for backpropagation
    save_gates: u32,
    // gates_x holds this dispatch's series only (a batch chunk); every other buffer is indexed
    // by series_offset + the series' index in the chunk
    series_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gates_x: array<f32>;   // [B, T, 4H]
@group(0) @binding(2) var<storage, read> w_hh_t: array<f32>;    // [H, 4H]
@group(0) @binding(3) var<storage, read> h0: array<f32>;        // [B, H]
@group(0) @binding(4) var<storage, read> c0: array<f32>;        // [B, H]
@group(0) @binding(5) var<storage, read_write> out: array<f32>; // [B, T, out_stride]
@group(0) @binding(6) var<storage, read_write> h_n: array<f32>; // [B, H]
@group(0) @binding(7) var<storage, read_write> c_n: array<f32>; // [B, H]
@group(0) @binding(8) var<storage, read_write> saved: array<f32>; // [B, T, 5H] when save_gates

var<workgroup> h_prev: array<f32, 1024>;

@compute @workgroup_size(256, 1, 1)
fn lstm_sequence(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let H = p.hidden;
    let G = 4u * H;
    let first_series = wg.x * p.tile;
    let pairs = p.tile * H;
    var cell: array<f32, 4>;
    var h_new: array<f32, 4>;
    for (var k = 0u; k < 4u; k++) {
        let pair = lid.x + k * 256u;
        cell[k] = 0.0;
        if (pair < pairs) {
            let b = first_series + pair / H;
            let u = pair % H;
            if (b < p.batch) {
                let bg = b + p.series_offset;
                h_prev[pair] = h0[bg * H + u];
                cell[k] = c0[bg * H + u];
            } else {
                h_prev[pair] = 0.0;
            }
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
            let gx = (b * p.steps + t) * G;
            var zi = gates_x[gx + u];
            var zf = gates_x[gx + H + u];
            var zg = gates_x[gx + 2u * H + u];
            var zo = gates_x[gx + 3u * H + u];
            let hs = s * H;
            for (var j = 0u; j < H; j++) {
                let hj = h_prev[hs + j];
                let w = j * G;
                zi = fma(w_hh_t[w + u], hj, zi);
                zf = fma(w_hh_t[w + H + u], hj, zf);
                zg = fma(w_hh_t[w + 2u * H + u], hj, zg);
                zo = fma(w_hh_t[w + 3u * H + u], hj, zo);
            }
            let ig = sigmoid(zi);
            let fg = sigmoid(zf);
            let gg = safe_tanh(zg);
            let og = sigmoid(zo);
            let c = fg * cell[k] + ig * gg;
            cell[k] = c;
            let h = og * safe_tanh(c);
            h_new[k] = h;
            let bg = b + p.series_offset;
            out[(bg * p.steps + t) * p.out_stride + p.out_offset + u] = h;
            if (p.save_gates == 1u) {
                let sv = (bg * p.steps + t) * 5u * H;
                saved[sv + u] = ig;
                saved[sv + H + u] = fg;
                saved[sv + 2u * H + u] = gg;
                saved[sv + 3u * H + u] = og;
                saved[sv + 4u * H + u] = c;
            }
        }
        // every thread has read h_{t-1} before anyone overwrites it
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
            let u = pair % H;
            if (b < p.batch) {
                let bg = b + p.series_offset;
                h_n[bg * H + u] = h_prev[pair];
                c_n[bg * H + u] = cell[k];
            }
        }
    }
}
