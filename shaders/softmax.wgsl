// Row-wise softmax over K classes, max-subtracted so that logits of ±100 neither overflow nor
// underflow to 0/0.

struct Params {
    rows: u32,
    classes: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn softmax(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = flat_id(gid, groups);
    if (row >= p.rows) {
        return;
    }
    let base = row * p.classes;
    var m = logits[base];
    for (var k = 1u; k < p.classes; k++) {
        m = max(m, logits[base + k]);
    }
    var total = 0.0;
    for (var k = 0u; k < p.classes; k++) {
        let e = exp(logits[base + k] - m);
        probs[base + k] = e;
        total += e;
    }
    for (var k = 0u; k < p.classes; k++) {
        probs[base + k] = probs[base + k] / total;
    }
}
