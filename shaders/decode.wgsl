// Glue for autoregressive decoding on the GPU, so a whole forecast is recorded in one submit:
// quantile feedback (sort a step's quantiles, keep them, feed the median back as the next input),
// DeepAR's lag-input assembly from each path's history, and replication of per-series rows into
// per-path rows.

struct Params {
    rows: u32,
    // quantile_feedback: levels Q; assemble_lags: number of lags; repeat_rows: row width
    width: u32,
    // quantile_feedback: index of the level nearest 0.5 after sorting
    median_index: u32,
    // forecast step being written (quantile_feedback, assemble_lags)
    step: u32,
    horizon: u32,
    // static features per step (time features, embedding): F
    static_width: u32,
    // next-input row width (1 + F for quantile forecasters; lags + F for DeepAR)
    input_width: u32,
    // assemble_lags: history row length and the position of the value being predicted;
    // repeat_rows: copies of each input row
    history_len: u32,
    position: u32,
    repeats: u32,
    unused0: u32,
    unused1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> aux: array<f32>;
@group(0) @binding(3) var<storage, read> lags: array<u32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;
@group(0) @binding(5) var<storage, read_write> next_input: array<f32>;

// src = raw quantiles [rows, Q] (scaled space); aux = [scale[rows] ++ static[rows, horizon, F]];
// dst = forecasts [rows, horizon, Q] (unscaled); next_input = [rows, 1 + F]
@compute @workgroup_size(256, 1, 1)
fn quantile_feedback(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = flat_id(gid, groups);
    if (row >= p.rows) {
        return;
    }
    let q = p.width;
    var v: array<f32, 32>;
    for (var i = 0u; i < q; i++) {
        v[i] = src[row * q + i];
    }
    // insertion sort: Q is a handful of levels
    for (var i = 1u; i < q; i++) {
        let x = v[i];
        var j = i;
        while (j > 0u && v[j - 1u] > x) {
            v[j] = v[j - 1u];
            j = j - 1u;
        }
        v[j] = x;
    }
    let s = aux[row];
    for (var i = 0u; i < q; i++) {
        dst[(row * p.horizon + p.step) * q + i] = v[i] * s;
    }
    if (p.step + 1u < p.horizon) {
        let in_base = row * p.input_width;
        next_input[in_base] = v[p.median_index];
        let f_base = p.rows + (row * p.horizon + p.step + 1u) * p.static_width;
        for (var f = 0u; f < p.static_width; f++) {
            next_input[in_base + 1u + f] = aux[f_base + f];
        }
    }
}

// src = history [rows, history_len] (scaled, paths' samples written in as they are drawn);
// aux = static [series, horizon, F]; series = rows / repeats; next_input = [rows, lags + F]
@compute @workgroup_size(256, 1, 1)
fn assemble_lags(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = flat_id(gid, groups);
    if (row >= p.rows) {
        return;
    }
    let in_base = row * p.input_width;
    for (var i = 0u; i < p.width; i++) {
        let lag = lags[i];
        var v = 0.0;
        if (lag <= p.position) {
            v = src[row * p.history_len + p.position - lag];
        }
        next_input[in_base + i] = v;
    }
    let series = row / p.repeats;
    let f_base = (series * p.horizon + p.step) * p.static_width;
    for (var f = 0u; f < p.static_width; f++) {
        next_input[in_base + p.width + f] = aux[f_base + f];
    }
}

// dst[r * repeats + k, :] = src[r, :] for k < repeats (one thread per output element)
@compute @workgroup_size(256, 1, 1)
fn repeat_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = flat_id(gid, groups);
    let total = p.rows * p.repeats * p.width;
    if (idx >= total) {
        return;
    }
    let col = idx % p.width;
    let out_row = idx / p.width;
    dst[idx] = src[(out_row / p.repeats) * p.width + col];
}
