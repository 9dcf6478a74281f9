//! Training losses: per-row loss and gradient with respect to the raw outputs, and a
//! deterministic sum of the rows. Every loss writes `weight × loss` and `weight × gradient`
//! (weight is e.g. 1 / number of observed targets, so the sum is a mean); rows without a target
//! write 0 to both.

use crate::error::GpuError;
use crate::kernels::Kernel;
use crate::ops::{Distribution, expect_len, u32_of};
use crate::recorder::Recorder;
use crate::recorder::linear_grid;
use crate::tensor::Tensor;

fn check_weight(op: &'static str, weight: f32) -> Result<u32, GpuError> {
    if !weight.is_finite() {
        return Err(GpuError::shape(
            op,
            format!("weight {weight} is not finite"),
        ));
    }
    Ok(weight.to_bits())
}

fn check_rows_per_scale(op: &'static str, rows_per_scale: usize) -> Result<(), GpuError> {
    if rows_per_scale == 0 {
        return Err(GpuError::shape(op, "rows_per_scale must be at least 1"));
    }
    Ok(())
}

/// DeepAR negative log-likelihood of `target` under the head's distribution (docs/models.md
/// parameterisation), and its gradient with respect to `raw`.
///
/// raw [rows, raw_stride]; scale [rows / rows_per_scale] (row r uses `scale[r / rows_per_scale]`);
/// target [rows] unscaled; mask [rows] (a row is observed where mask > 0 and the target is
/// finite); loss_rows [rows] ← weight × NLL; d_raw [rows, raw_stride] ← weight × ∂NLL/∂raw,
/// columns past the distribution's parameters 0. A negative target under the negative binomial
/// is outside the support and writes NaN (callers refuse such series).
pub fn likelihood_loss(
    rec: &mut Recorder<'_>,
    dist: Distribution,
    rows: usize,
    raw_stride: usize,
    rows_per_scale: usize,
    weight: f32,
    raw: &Tensor,
    scale: &Tensor,
    target: &Tensor,
    mask: &Tensor,
    loss_rows: &Tensor,
    d_raw: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "likelihood_loss";
    if raw_stride < dist.raw_params() {
        return Err(GpuError::shape(
            OP,
            format!(
                "{} needs {} raw parameters per row, rows hold {raw_stride}",
                dist.name(),
                dist.raw_params()
            ),
        ));
    }
    check_rows_per_scale(OP, rows_per_scale)?;
    let weight = check_weight(OP, weight)?;
    expect_len(OP, "raw", raw, rows * raw_stride)?;
    expect_len(OP, "scale", scale, rows.div_ceil(rows_per_scale))?;
    expect_len(OP, "target", target, rows)?;
    expect_len(OP, "mask", mask, rows)?;
    expect_len(OP, "loss_rows", loss_rows, rows)?;
    expect_len(OP, "d_raw", d_raw, rows * raw_stride)?;
    let words = [
        u32_of(OP, rows)?,
        u32_of(OP, raw_stride)?,
        u32_of(OP, rows_per_scale)?,
        dist.code(),
        weight,
    ];
    rec.dispatch(
        Kernel::LikelihoodLoss,
        &words,
        &[
            raw.buffer(),
            scale.buffer(),
            target.buffer(),
            mask.buffer(),
            loss_rows.buffer(),
            d_raw.buffer(),
        ],
        linear_grid(rows),
    )
}

/// Pinball loss Σ_q ρ_q(z/s − q̂) of scaled quantile forecasts, ρ_q(u) = max(q·u, (q − 1)·u),
/// subgradient 0 at u = 0.
///
/// raw [rows, levels] scaled; level_values [levels]; scale [rows / rows_per_scale]; target [rows]
/// unscaled; mask [rows]; loss_rows [rows] ← weight × Σ_q ρ_q; d_raw [rows, levels].
pub fn quantile_loss(
    rec: &mut Recorder<'_>,
    rows: usize,
    levels: usize,
    rows_per_scale: usize,
    weight: f32,
    raw: &Tensor,
    level_values: &Tensor,
    scale: &Tensor,
    target: &Tensor,
    mask: &Tensor,
    loss_rows: &Tensor,
    d_raw: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "quantile_loss";
    if levels == 0 {
        return Err(GpuError::shape(OP, "needs at least one quantile level"));
    }
    check_rows_per_scale(OP, rows_per_scale)?;
    let weight = check_weight(OP, weight)?;
    expect_len(OP, "raw", raw, rows * levels)?;
    expect_len(OP, "levels", level_values, levels)?;
    expect_len(OP, "scale", scale, rows.div_ceil(rows_per_scale))?;
    expect_len(OP, "target", target, rows)?;
    expect_len(OP, "mask", mask, rows)?;
    expect_len(OP, "loss_rows", loss_rows, rows)?;
    expect_len(OP, "d_raw", d_raw, rows * levels)?;
    let words = [
        u32_of(OP, rows)?,
        u32_of(OP, levels)?,
        u32_of(OP, rows_per_scale)?,
        weight,
    ];
    rec.dispatch(
        Kernel::QuantileLoss,
        &words,
        &[
            raw.buffer(),
            level_values.buffer(),
            scale.buffer(),
            target.buffer(),
            mask.buffer(),
            loss_rows.buffer(),
            d_raw.buffer(),
        ],
        linear_grid(rows),
    )
}

/// Squared error (raw − z/s)² of a scaled point forecast.
///
/// raw [rows]; scale [rows / rows_per_scale]; target [rows] unscaled; mask [rows];
/// loss_rows [rows] ← weight × (raw − z/s)²; d_raw [rows] ← weight × 2 (raw − z/s).
pub fn mse_loss(
    rec: &mut Recorder<'_>,
    rows: usize,
    rows_per_scale: usize,
    weight: f32,
    raw: &Tensor,
    scale: &Tensor,
    target: &Tensor,
    mask: &Tensor,
    loss_rows: &Tensor,
    d_raw: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "mse_loss";
    check_rows_per_scale(OP, rows_per_scale)?;
    let weight = check_weight(OP, weight)?;
    expect_len(OP, "raw", raw, rows)?;
    expect_len(OP, "scale", scale, rows.div_ceil(rows_per_scale))?;
    expect_len(OP, "target", target, rows)?;
    expect_len(OP, "mask", mask, rows)?;
    expect_len(OP, "loss_rows", loss_rows, rows)?;
    expect_len(OP, "d_raw", d_raw, rows)?;
    let words = [u32_of(OP, rows)?, u32_of(OP, rows_per_scale)?, weight];
    rec.dispatch(
        Kernel::MseLoss,
        &words,
        &[
            raw.buffer(),
            scale.buffer(),
            target.buffer(),
            mask.buffer(),
            loss_rows.buffer(),
            d_raw.buffer(),
        ],
        linear_grid(rows),
    )
}

/// Softmax cross-entropy over `classes`, max-subtracted.
///
/// logits [rows, classes]; labels [rows] (the class index as f32, truncated; negative or
/// non-finite = no label: 0 loss and gradient; an index ≥ classes writes NaN);
/// loss_rows [rows] ← weight × −ln softmax[label]; d_logits [rows, classes] ←
/// weight × (softmax − onehot).
pub fn softmax_cross_entropy(
    rec: &mut Recorder<'_>,
    rows: usize,
    classes: usize,
    weight: f32,
    logits: &Tensor,
    labels: &Tensor,
    loss_rows: &Tensor,
    d_logits: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "softmax_cross_entropy";
    if classes == 0 {
        return Err(GpuError::shape(OP, "needs at least one class"));
    }
    let weight = check_weight(OP, weight)?;
    expect_len(OP, "logits", logits, rows * classes)?;
    expect_len(OP, "labels", labels, rows)?;
    expect_len(OP, "loss_rows", loss_rows, rows)?;
    expect_len(OP, "d_logits", d_logits, rows * classes)?;
    let words = [u32_of(OP, rows)?, u32_of(OP, classes)?, weight];
    rec.dispatch(
        Kernel::SoftmaxCrossEntropy,
        &words,
        &[
            logits.buffer(),
            labels.buffer(),
            loss_rows.buffer(),
            d_logits.buffer(),
        ],
        linear_grid(rows),
    )
}

/// out[0] ← Σ values[0..n], by one workgroup in a fixed order (bitwise reproducible on an
/// adapter); NaN and ±inf propagate, so a diverged loss is visible in the sum.
pub fn sum_rows(
    rec: &mut Recorder<'_>,
    n: usize,
    values: &Tensor,
    out: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "sum_rows";
    expect_len(OP, "values", values, n)?;
    expect_len(OP, "out", out, 1)?;
    rec.dispatch(
        Kernel::SumRows,
        &[u32_of(OP, n)?],
        &[values.buffer(), out.buffer()],
        [1, 1, 1],
    )
}

/// out [n, 2] ← (lgamma(x), digamma(x)) as the loss kernels compute them in f32; for testing
/// their accuracy (x > 0).
pub fn special_functions(
    rec: &mut Recorder<'_>,
    n: usize,
    x: &Tensor,
    out: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "special_functions";
    expect_len(OP, "x", x, n)?;
    expect_len(OP, "out", out, 2 * n)?;
    rec.dispatch(
        Kernel::SpecialFunctions,
        &[u32_of(OP, n)?],
        &[x.buffer(), out.buffer()],
        linear_grid(n),
    )
}
