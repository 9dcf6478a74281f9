// Element-wise glue of the backward pass: the ReLU gradient, a fused add + ReLU, a matrix
// transpose and axpy (dst += α·src). Each output element is written by exactly one thread.
//
// The entry points share one declaration per binding:
//   binding  relu_backward  add_relu  transpose  axpy
//   1        dy             a         src        src
//   2        y              b         dst (rw)   dst (rw)
//   3        dx (rw)        out (rw)  -          -

struct Params {
    // relu_backward, add_relu, axpy: elements; transpose: rows of src
    n: u32,
    // relu_backward: 1 = dx += …, 0 = dx = …; transpose: columns of src; axpy: α (f32 bits)
    arg: u32,
    // transpose, axpy: first element read from src
    src_offset: u32,
    // axpy: first element written in dst
    dst_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> buf1: array<f32>;
@group(0) @binding(2) var<storage, read_write> buf2: array<f32>;
@group(0) @binding(3) var<storage, read_write> buf3: array<f32>;

// dx = dy · [y > 0] (or +=), with y the ReLU's output. dy = buf1, y = buf2, dx = buf3.
@compute @workgroup_size(256, 1, 1)
fn relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = flat_id(gid, groups);
    if (idx >= p.n) {
        return;
    }
    var g = select(0.0, buf1[idx], buf2[idx] > 0.0);
    if (p.arg == 1u) {
        g += buf3[idx];
    }
    buf3[idx] = g;
}

// out = relu(a + b). a = buf1, b = buf2, out = buf3.
@compute @workgroup_size(256, 1, 1)
fn add_relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = flat_id(gid, groups);
    if (idx >= p.n) {
        return;
    }
    buf3[idx] = max(buf1[idx] + buf2[idx], 0.0);
}

const TILE: u32 = 16u;

// 16 × 16 tile, rows padded to 17 so the transposed read hits distinct banks
var<workgroup> tile: array<f32, 272>;

// dst[c, r] = src[src_offset + r·cols + c] for src [rows, cols]. One workgroup per 16 × 16 tile,
// tiles numbered row-major over the source and laid out on the 2-D grid like flat_id; reads and
// writes both walk consecutive addresses. src = buf1, dst = buf2.
@compute @workgroup_size(256, 1, 1)
fn transpose(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let rows = p.n;
    let cols = p.arg;
    let tile_cols = (cols + TILE - 1u) / TILE;
    let tiles = ((rows + TILE - 1u) / TILE) * tile_cols;
    let t = wg.x + wg.y * groups.x;
    if (t >= tiles) {
        return;
    }
    let r0 = (t / tile_cols) * TILE;
    let c0 = (t % tile_cols) * TILE;
    let ly = lid / TILE;
    let lx = lid % TILE;
    if (r0 + ly < rows && c0 + lx < cols) {
        tile[ly * (TILE + 1u) + lx] = buf1[p.src_offset + (r0 + ly) * cols + c0 + lx];
    }
    workgroupBarrier();
    // this thread writes dst row c0 + ly, column r0 + lx
    if (c0 + ly < cols && r0 + lx < rows) {
        buf2[(c0 + ly) * rows + r0 + lx] = tile[lx * (TILE + 1u) + ly];
    }
}

// dst[dst_offset + i] += α · src[src_offset + i]. src = buf1, dst = buf2.
@compute @workgroup_size(256, 1, 1)
fn axpy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = flat_id(gid, groups);
    if (idx >= p.n) {
        return;
    }
    let alpha = bitcast<f32>(p.arg);
    let d = p.dst_offset + idx;
    buf2[d] = fma(alpha, buf1[p.src_offset + idx], buf2[d]);
}
