use crate::error::GpuError;
use crate::kernels::Kernel;
use crate::ops::{expect_len, u32_of};
use crate::recorder::Recorder;
use crate::recorder::linear_grid;
use crate::tensor::Tensor;

#[derive(Debug, Clone, Copy)]
pub struct Conv1dSpec {
    pub batch: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub steps: usize,
    pub kernel: usize,
    pub dilation: usize,
    pub relu: bool,
}

/// Dilated causal Conv1d on [B, C, T]; with `residual` the result becomes
/// relu(conv + residual), a TCN block's closing step.
pub fn conv1d_causal(
    rec: &mut Recorder<'_>,
    spec: &Conv1dSpec,
    x: &Tensor,
    w: &Tensor,
    bias: &Tensor,
    residual: Option<&Tensor>,
    y: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "conv1d_causal";
    if spec.kernel == 0 || spec.dilation == 0 {
        return Err(GpuError::shape(
            OP,
            "kernel size and dilation must be at least 1",
        ));
    }
    let outputs = spec.batch * spec.out_channels * spec.steps;
    expect_len(OP, "x", x, spec.batch * spec.in_channels * spec.steps)?;
    expect_len(
        OP,
        "weight",
        w,
        spec.out_channels * spec.in_channels * spec.kernel,
    )?;
    expect_len(OP, "bias", bias, spec.out_channels)?;
    expect_len(OP, "y", y, outputs)?;
    if let Some(r) = residual {
        expect_len(OP, "residual", r, outputs)?;
    }
    let params = [
        u32_of(OP, spec.batch)?,
        u32_of(OP, spec.in_channels)?,
        u32_of(OP, spec.out_channels)?,
        u32_of(OP, spec.steps)?,
        u32_of(OP, spec.kernel)?,
        u32_of(OP, spec.dilation)?,
        spec.relu as u32,
        residual.is_some() as u32,
    ];
    let placeholder = rec.ctx().placeholder().clone();
    rec.dispatch(
        Kernel::Conv1dCausal,
        &params,
        &[
            x.buffer(),
            w.buffer(),
            bias.buffer(),
            residual.map(|r| r.buffer()).unwrap_or(&placeholder),
            y.buffer(),
        ],
        linear_grid(outputs),
    )
}
