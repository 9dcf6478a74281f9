// Tiled GEMM: C = act(A · B + bias), with A, B read through arbitrary strides so the same kernel
// serves X·Wᵀ (PyTorch Linear layout), the input projection of all timesteps of an RNN, and the
// transposed products a backward pass needs.
//
// Each workgroup computes a 64×64 tile of C; each of its 16×16 threads a 4×4 block. A and B tiles of
// depth 16 are staged in workgroup memory so every global element is read once per tile.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_row_stride: u32,
    a_col_stride: u32,
    b_row_stride: u32,
    b_col_stride: u32,
    c_row_stride: u32,
    c_offset: u32,
    // 0 identity, 1 relu
    activation: u32,
    has_bias: u32,
    // 1: C += A·B (bias and activation still apply to the sum); used by gradient accumulation
    accumulate: u32,
    a_offset: u32,
    b_offset: u32,
    bias_offset: u32,
    // C's column stride (1 but for scattering into e.g. one time step of [B, C, T] activations)
    c_col_stride: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const TILE: u32 = 64u;
const DEPTH: u32 = 16u;
const PER_THREAD: u32 = 4u;

var<workgroup> a_tile: array<f32, 1024>; // TILE rows × DEPTH
var<workgroup> b_tile: array<f32, 1024>; // DEPTH × TILE cols

@compute @workgroup_size(16, 16, 1)
fn gemm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let local = lid.y * 16u + lid.x;
    var acc: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = 0.0;
    }
    let depth_tiles = (p.k + DEPTH - 1u) / DEPTH;
    for (var kt = 0u; kt < depth_tiles; kt++) {
        let k0 = kt * DEPTH;
        // 256 threads load 1024 elements of each tile: 4 apiece
        for (var l = 0u; l < 4u; l++) {
            let e = local + l * 256u;
            // a_tile[r * DEPTH + kk]
            let ar = e / DEPTH;
            let ak = e % DEPTH;
            let grow = row0 + ar;
            let gk = k0 + ak;
            var av = 0.0;
            if (grow < p.m && gk < p.k) {
                av = a[p.a_offset + grow * p.a_row_stride + gk * p.a_col_stride];
            }
            a_tile[e] = av;
            // b_tile[kk * TILE + col]
            let bk = e / TILE;
            let bc = e % TILE;
            let gbk = k0 + bk;
            let gcol = col0 + bc;
            var bv = 0.0;
            if (gbk < p.k && gcol < p.n) {
                bv = b[p.b_offset + gbk * p.b_row_stride + gcol * p.b_col_stride];
            }
            b_tile[e] = bv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < DEPTH; kk++) {
            var av4: array<f32, 4>;
            var bv4: array<f32, 4>;
            for (var i = 0u; i < PER_THREAD; i++) {
                av4[i] = a_tile[(lid.y * PER_THREAD + i) * DEPTH + kk];
                bv4[i] = b_tile[kk * TILE + lid.x * PER_THREAD + i];
            }
            for (var i = 0u; i < PER_THREAD; i++) {
                for (var j = 0u; j < PER_THREAD; j++) {
                    acc[i * 4u + j] = fma(av4[i], bv4[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < PER_THREAD; i++) {
        let row = row0 + lid.y * PER_THREAD + i;
        if (row >= p.m) {
            continue;
        }
        for (var j = 0u; j < PER_THREAD; j++) {
            let col = col0 + lid.x * PER_THREAD + j;
            if (col >= p.n) {
                continue;
            }
            let idx = p.c_offset + row * p.c_row_stride + col * p.c_col_stride;
            var v = acc[i * 4u + j];
            if (p.accumulate == 1u) {
                v += c[idx];
            }
            if (p.has_bias == 1u) {
                v += bias[p.bias_offset + col];
            }
            if (p.activation == 1u) {
                v = max(v, 0.0);
            }
            c[idx] = v;
        }
    }
}
