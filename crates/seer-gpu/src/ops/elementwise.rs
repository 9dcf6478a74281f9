//! Element-wise helpers of the backward pass. The output buffer of each must be distinct from
//! its inputs (one buffer cannot be bound read-only and writable in the same dispatch).

use crate::error::GpuError;
use crate::kernels::Kernel;
use crate::ops::{expect_len, u32_of};
use crate::recorder::Recorder;
use crate::recorder::{LINEAR_GROUP, linear_grid};
use crate::tensor::Tensor;

/// A typed error instead of a validation failure at submit when one buffer is passed twice
/// (it cannot be bound read-only and writable, or writable twice, in one dispatch).
pub(crate) fn expect_distinct(
    op: &'static str,
    tensors: &[(&str, &Tensor)],
) -> Result<(), GpuError> {
    for (i, (a, ta)) in tensors.iter().enumerate() {
        for (b, tb) in &tensors[i + 1..] {
            if ta.buffer().same_storage(tb.buffer()) {
                return Err(GpuError::shape(
                    op,
                    format!("{a} and {b} must be distinct buffers"),
                ));
            }
        }
    }
    Ok(())
}

/// dx = dy · [y > 0] over n elements, or dx += … with `accumulate`; `y` is the ReLU's output.
pub fn relu_backward(
    rec: &mut Recorder<'_>,
    n: usize,
    dy: &Tensor,
    y: &Tensor,
    dx: &Tensor,
    accumulate: bool,
) -> Result<(), GpuError> {
    const OP: &str = "relu_backward";
    expect_len(OP, "dy", dy, n)?;
    expect_len(OP, "y", y, n)?;
    expect_len(OP, "dx", dx, n)?;
    expect_distinct(OP, &[("dy", dy), ("dx", dx)])?;
    expect_distinct(OP, &[("y", y), ("dx", dx)])?;
    if n == 0 {
        return Ok(());
    }
    rec.dispatch(
        Kernel::ReluBackward,
        &[u32_of(OP, n)?, accumulate as u32, 0, 0],
        &[dy.buffer(), y.buffer(), dx.buffer()],
        linear_grid(n),
    )
}

/// out = relu(a + b) over n elements.
pub fn add_relu(
    rec: &mut Recorder<'_>,
    n: usize,
    a: &Tensor,
    b: &Tensor,
    out: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "add_relu";
    expect_len(OP, "a", a, n)?;
    expect_len(OP, "b", b, n)?;
    expect_len(OP, "out", out, n)?;
    expect_distinct(OP, &[("a", a), ("out", out)])?;
    expect_distinct(OP, &[("b", b), ("out", out)])?;
    if n == 0 {
        return Ok(());
    }
    rec.dispatch(
        Kernel::AddRelu,
        &[u32_of(OP, n)?, 0, 0, 0],
        &[a.buffer(), b.buffer(), out.buffer()],
        linear_grid(n),
    )
}

/// dst [cols, rows] = transpose of the [rows, cols] matrix stored in `src` from `src_offset`.
pub fn transpose(
    rec: &mut Recorder<'_>,
    rows: usize,
    cols: usize,
    src: &Tensor,
    src_offset: usize,
    dst: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "transpose";
    let n = rows * cols;
    expect_len(OP, "src", src, src_offset + n)?;
    expect_len(OP, "dst", dst, n)?;
    expect_distinct(OP, &[("src", src), ("dst", dst)])?;
    if n == 0 {
        return Ok(());
    }
    let tiles = rows.div_ceil(16) * cols.div_ceil(16);
    rec.dispatch(
        Kernel::Transpose,
        &[
            u32_of(OP, rows)?,
            u32_of(OP, cols)?,
            u32_of(OP, src_offset)?,
            0,
        ],
        &[src.buffer(), dst.buffer()],
        linear_grid(tiles * LINEAR_GROUP as usize),
    )
}

/// dst[dst_offset + i] += α · src[src_offset + i] for i < n.
pub fn axpy(
    rec: &mut Recorder<'_>,
    n: usize,
    alpha: f32,
    src: &Tensor,
    src_offset: usize,
    dst: &Tensor,
    dst_offset: usize,
) -> Result<(), GpuError> {
    const OP: &str = "axpy";
    expect_len(OP, "src", src, src_offset + n)?;
    expect_len(OP, "dst", dst, dst_offset + n)?;
    expect_distinct(OP, &[("src", src), ("dst", dst)])?;
    if n == 0 {
        return Ok(());
    }
    rec.dispatch(
        Kernel::Axpy,
        &[
            u32_of(OP, n)?,
            alpha.to_bits(),
            u32_of(OP, src_offset)?,
            u32_of(OP, dst_offset)?,
        ],
        &[src.buffer(), dst.buffer()],
        linear_grid(n),
    )
}

/// dst[..n] += src[..n] (`axpy` with α = 1 and no offsets).
pub fn accumulate(
    rec: &mut Recorder<'_>,
    n: usize,
    src: &Tensor,
    dst: &Tensor,
) -> Result<(), GpuError> {
    axpy(rec, n, 1.0, src, 0, dst, 0)
}
