use crate::error::GpuError;
use crate::kernels::Kernel;
use crate::ops::{expect_len, u32_of};
use crate::recorder::Recorder;
use crate::recorder::linear_grid;
use crate::tensor::Tensor;

/// Row-wise softmax of `logits` [rows, classes] into `probs`.
pub fn softmax(
    rec: &mut Recorder<'_>,
    rows: usize,
    classes: usize,
    logits: &Tensor,
    probs: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "softmax";
    if classes == 0 {
        return Err(GpuError::shape(OP, "needs at least one class"));
    }
    expect_len(OP, "logits", logits, rows * classes)?;
    expect_len(OP, "probs", probs, rows * classes)?;
    rec.dispatch(
        Kernel::Softmax,
        &[u32_of(OP, rows)?, u32_of(OP, classes)?],
        &[logits.buffer(), probs.buffer()],
        linear_grid(rows),
    )
}
