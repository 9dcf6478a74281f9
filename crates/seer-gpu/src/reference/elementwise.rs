//! f64 references of the element-wise kernels (elementwise.wgsl).

/// dx = dy · [y > 0], or dx += … with `accumulate`.
pub fn relu_backward(dy: &[f64], y: &[f64], dx: &mut [f64], accumulate: bool) {
    for i in 0..dx.len() {
        let g = if y[i] > 0.0 { dy[i] } else { 0.0 };
        dx[i] = if accumulate { dx[i] + g } else { g };
    }
}

pub fn add_relu(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| (x + y).max(0.0)).collect()
}

/// [cols, rows] transpose of the [rows, cols] matrix at `src[src_offset..]`.
pub fn transpose(rows: usize, cols: usize, src: &[f64], src_offset: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = src[src_offset + r * cols + c];
        }
    }
    out
}

/// dst[dst_offset + i] += α · src[src_offset + i] for i < n.
pub fn axpy(
    n: usize,
    alpha: f64,
    src: &[f64],
    src_offset: usize,
    dst: &mut [f64],
    dst_offset: usize,
) {
    for i in 0..n {
        dst[dst_offset + i] += alpha * src[src_offset + i];
    }
}
