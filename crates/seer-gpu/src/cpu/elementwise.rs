//! elementwise.wgsl and softmax.wgsl on the host.

use super::{Bindings, Call, for_rows, need};
use crate::error::GpuError;

/// Elements per row handed to `for_rows` by the flat kernels: big enough that a row is worth a
/// task boundary, small enough to balance.
const FLAT_ROW: usize = 4096;

/// Runs `f(first_index, chunk)` over the first `n` elements of `out` in blocks.
fn flat(k: &Call<'_>, out: &mut [f32], n: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    let whole = n / FLAT_ROW * FLAT_ROW;
    let (head, tail) = out[..n].split_at_mut(whole);
    for_rows(k, head, FLAT_ROW, FLAT_ROW, |r, c| f(r * FLAT_ROW, c));
    if !tail.is_empty() {
        f(whole, tail);
    }
}

pub(crate) fn relu_backward(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    let (n, add) = (k.u(0), k.u(1) == 1);
    let (dy, y) = (b.r(0)?, b.w(1)?);
    let dx = b.w(2)?;
    need("relu_backward", "dy", dy, n)?;
    need("relu_backward", "y", y, n)?;
    need("relu_backward", "dx", dx, n)?;
    let y: &[f32] = y;
    flat(k, dx, n, |i0, out| {
        for (j, o) in out.iter_mut().enumerate() {
            let i = i0 + j;
            let g = if y[i] > 0.0 { dy[i] } else { 0.0 };
            *o = if add { g + *o } else { g };
        }
    });
    Ok(())
}

pub(crate) fn add_relu(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    let n = k.u(0);
    let (a, bb) = (b.r(0)?, b.w(1)?);
    let out = b.w(2)?;
    need("add_relu", "a", a, n)?;
    need("add_relu", "b", bb, n)?;
    need("add_relu", "out", out, n)?;
    let bb: &[f32] = bb;
    flat(k, out, n, |i0, o| {
        for (j, o) in o.iter_mut().enumerate() {
            *o = (a[i0 + j] + bb[i0 + j]).max(0.0);
        }
    });
    Ok(())
}

pub(crate) fn transpose(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    let (rows, cols, off) = (k.u(0), k.u(1), k.u(2));
    let (src, dst) = (b.r(0)?, b.w(1)?);
    need("transpose", "src", src, off + rows * cols)?;
    need("transpose", "dst", dst, rows * cols)?;
    let src = &src[off..off + rows * cols];
    // one destination row (a source column) per task row
    for_rows(k, &mut dst[..rows * cols], rows, rows, |c, out| {
        for (r, o) in out.iter_mut().enumerate() {
            *o = src[r * cols + c];
        }
    });
    Ok(())
}

pub(crate) fn axpy(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    let (n, alpha, src_off, dst_off) = (k.u(0), k.f(1), k.u(2), k.u(3));
    let (src, dst) = (b.r(0)?, b.w(1)?);
    need("axpy", "src", src, src_off + n)?;
    need("axpy", "dst", dst, dst_off + n)?;
    let src = &src[src_off..src_off + n];
    flat(k, &mut dst[dst_off..], n, |i0, out| {
        for (j, o) in out.iter_mut().enumerate() {
            *o += alpha * src[i0 + j];
        }
    });
    Ok(())
}

pub(crate) fn softmax(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    let (rows, classes) = (k.u(0), k.u(1));
    let (logits, probs) = (b.r(0)?, b.w(1)?);
    need("softmax", "logits", logits, rows * classes)?;
    need("softmax", "probs", probs, rows * classes)?;
    if classes == 0 {
        return Ok(());
    }
    for_rows(
        k,
        &mut probs[..rows * classes],
        classes,
        classes * 8,
        |r, out| {
            let row = &logits[r * classes..(r + 1) * classes];
            let m = row.iter().copied().fold(row[0], f32::max);
            let mut total = 0.0;
            for (o, &x) in out.iter_mut().zip(row) {
                *o = (x - m).exp();
                total += *o;
            }
            for o in out.iter_mut() {
                *o /= total;
            }
        },
    );
    Ok(())
}
