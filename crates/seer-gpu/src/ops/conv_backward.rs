//! Gradients of `conv1d_causal`. Both take the forward's `Conv1dSpec`; its `relu` flag is ignored
//! (undo a ReLU or residual ReLU first with `relu_backward` on the forward's output).

use crate::error::GpuError;
use crate::kernels::Kernel;
use crate::ops::elementwise::expect_distinct;
use crate::ops::{Conv1dSpec, expect_len, u32_of};
use crate::recorder::Recorder;
use crate::recorder::{LINEAR_GROUP, linear_grid};
use crate::tensor::Tensor;

fn check_spec(op: &'static str, spec: &Conv1dSpec) -> Result<[u32; 6], GpuError> {
    if spec.kernel == 0 || spec.dilation == 0 {
        return Err(GpuError::shape(
            op,
            "kernel size and dilation must be at least 1",
        ));
    }
    // the largest look-back (K−1)·d must fit the kernel's u32 arithmetic
    u32_of(op, (spec.kernel - 1).saturating_mul(spec.dilation))?;
    Ok([
        u32_of(op, spec.batch)?,
        u32_of(op, spec.in_channels)?,
        u32_of(op, spec.out_channels)?,
        u32_of(op, spec.steps)?,
        u32_of(op, spec.kernel)?,
        u32_of(op, spec.dilation)?,
    ])
}

/// dx [B, Cin, T] = (or += with `accumulate`) the input gradient for upstream gradient
/// dy [B, Cout, T], with the weight [Cout, Cin, K] read from `w` starting at `w_offset`.
pub fn conv1d_backward_input(
    rec: &mut Recorder<'_>,
    spec: &Conv1dSpec,
    dy: &Tensor,
    w: &Tensor,
    w_offset: usize,
    dx: &Tensor,
    accumulate: bool,
) -> Result<(), GpuError> {
    const OP: &str = "conv1d_backward_input";
    let dims = check_spec(OP, spec)?;
    let inputs = spec.batch * spec.in_channels * spec.steps;
    expect_len(OP, "dy", dy, spec.batch * spec.out_channels * spec.steps)?;
    expect_len(
        OP,
        "weight",
        w,
        w_offset + spec.out_channels * spec.in_channels * spec.kernel,
    )?;
    expect_len(OP, "dx", dx, inputs)?;
    expect_distinct(OP, &[("dy", dy), ("dx", dx)])?;
    expect_distinct(OP, &[("weight", w), ("dx", dx)])?;
    if inputs == 0 {
        return Ok(());
    }
    let mut params = [0u32; 8];
    params[..6].copy_from_slice(&dims);
    params[6] = accumulate as u32;
    params[7] = u32_of(OP, w_offset)?;
    rec.dispatch(
        Kernel::Conv1dBackwardInput,
        &params,
        &[dy.buffer(), w.buffer(), dx.buffer()],
        linear_grid(inputs),
    )
}

/// Weight and bias gradients from dy [B, Cout, T] and the forward input x [B, Cin, T]: writes
/// (overwrites) dw [Cout, Cin, K] at `grads[dw_offset..]` and db [Cout] at `grads[db_offset..]`.
/// One workgroup per gradient element, reduced over (b, t) in a fixed order.
pub fn conv1d_backward_weight(
    rec: &mut Recorder<'_>,
    spec: &Conv1dSpec,
    dy: &Tensor,
    x: &Tensor,
    grads: &Tensor,
    dw_offset: usize,
    db_offset: usize,
) -> Result<(), GpuError> {
    const OP: &str = "conv1d_backward_weight";
    let dims = check_spec(OP, spec)?;
    let weights = spec.out_channels * spec.in_channels * spec.kernel;
    expect_len(OP, "dy", dy, spec.batch * spec.out_channels * spec.steps)?;
    expect_len(OP, "x", x, spec.batch * spec.in_channels * spec.steps)?;
    expect_len(OP, "grads (weight)", grads, dw_offset + weights)?;
    expect_len(OP, "grads (bias)", grads, db_offset + spec.out_channels)?;
    expect_distinct(OP, &[("dy", dy), ("grads", grads)])?;
    expect_distinct(OP, &[("x", x), ("grads", grads)])?;
    let (dw_end, db_end) = (dw_offset + weights, db_offset + spec.out_channels);
    if dw_offset < db_end && db_offset < dw_end {
        return Err(GpuError::shape(
            OP,
            format!(
                "weight gradient [{dw_offset}, {dw_end}) overlaps bias gradient [{db_offset}, {db_end})"
            ),
        ));
    }
    let outputs = weights + spec.out_channels;
    if outputs == 0 {
        return Ok(());
    }
    let mut params = [0u32; 8];
    params[..6].copy_from_slice(&dims);
    params[6] = u32_of(OP, dw_offset)?;
    params[7] = u32_of(OP, db_offset)?;
    rec.dispatch(
        Kernel::Conv1dBackwardWeight,
        &params,
        &[dy.buffer(), x.buffer(), grads.buffer()],
        linear_grid(outputs * LINEAR_GROUP as usize),
    )
}
