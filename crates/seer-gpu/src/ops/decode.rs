use crate::error::GpuError;
use crate::kernels::Kernel;
use crate::ops::{expect_len, u32_of};
use crate::recorder::Recorder;
use crate::recorder::linear_grid;
use crate::tensor::Tensor;

/// Most quantile levels one forecaster may emit (a private array in decode.wgsl).
pub const MAX_LEVELS: usize = 32;

/// Sorts step `step`'s raw quantiles [rows, Q], writes them scaled into `forecasts`
/// [rows, horizon, Q], and builds the next input [rows, 1 + F] from the level `median_index`
/// and the static features of step + 1. `aux` = scale[rows] ++ static[rows, horizon, F].
pub fn quantile_feedback(
    rec: &mut Recorder<'_>,
    rows: usize,
    levels: usize,
    median_index: usize,
    step: usize,
    horizon: usize,
    static_width: usize,
    raw: &Tensor,
    aux: &Tensor,
    forecasts: &Tensor,
    next_input: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "quantile_feedback";
    if levels == 0 || levels > MAX_LEVELS || median_index >= levels || step >= horizon {
        return Err(GpuError::shape(
            OP,
            format!(
                "levels {levels} (max {MAX_LEVELS}), median {median_index}, step {step} of {horizon}"
            ),
        ));
    }
    expect_len(OP, "raw", raw, rows * levels)?;
    expect_len(OP, "aux", aux, rows + rows * horizon * static_width)?;
    expect_len(OP, "forecasts", forecasts, rows * horizon * levels)?;
    expect_len(OP, "next_input", next_input, rows * (1 + static_width))?;
    let words = [
        u32_of(OP, rows)?,
        u32_of(OP, levels)?,
        u32_of(OP, median_index)?,
        u32_of(OP, step)?,
        u32_of(OP, horizon)?,
        u32_of(OP, static_width)?,
        u32_of(OP, 1 + static_width)?,
        0,
        0,
        1,
        0,
        0,
    ];
    rec.dispatch(
        Kernel::QuantileFeedback,
        &words,
        &[
            raw.buffer(),
            aux.buffer(),
            forecasts.buffer(),
            next_input.buffer(),
        ],
        linear_grid(rows),
    )
}

/// DeepAR's step input [rows, lags + F]: lagged scaled values from each row's history
/// (position − lag, 0 before the start) and the static features of its series for `step`.
pub fn assemble_lags(
    rec: &mut Recorder<'_>,
    rows: usize,
    paths: usize,
    lags: &crate::tensor::Buffer,
    lag_count: usize,
    history: &Tensor,
    history_len: usize,
    position: usize,
    statics: &Tensor,
    step: usize,
    horizon: usize,
    static_width: usize,
    next_input: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "assemble_lags";
    if paths == 0 || !rows.is_multiple_of(paths) || position >= history_len || step >= horizon {
        return Err(GpuError::shape(
            OP,
            format!(
                "rows {rows}, paths {paths}, position {position} of {history_len}, step {step} of {horizon}"
            ),
        ));
    }
    expect_len(OP, "history", history, rows * history_len)?;
    expect_len(
        OP,
        "statics",
        statics,
        (rows / paths) * horizon * static_width,
    )?;
    expect_len(
        OP,
        "next_input",
        next_input,
        rows * (lag_count + static_width),
    )?;
    let words = [
        u32_of(OP, rows)?,
        u32_of(OP, lag_count)?,
        0,
        u32_of(OP, step)?,
        u32_of(OP, horizon)?,
        u32_of(OP, static_width)?,
        u32_of(OP, lag_count + static_width)?,
        u32_of(OP, history_len)?,
        u32_of(OP, position)?,
        u32_of(OP, paths)?,
        0,
        0,
    ];
    rec.dispatch(
        Kernel::AssembleLags,
        &words,
        &[
            history.buffer(),
            statics.buffer(),
            lags,
            next_input.buffer(),
        ],
        linear_grid(rows),
    )
}

/// dst[r · repeats + k, :] = src[r, :]: per-series rows (states, histories) become per-path rows.
pub fn repeat_rows(
    rec: &mut Recorder<'_>,
    rows: usize,
    width: usize,
    repeats: usize,
    src: &Tensor,
    dst: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "repeat_rows";
    expect_len(OP, "src", src, rows * width)?;
    expect_len(OP, "dst", dst, rows * repeats * width)?;
    let words = [
        u32_of(OP, rows)?,
        u32_of(OP, width)?,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        u32_of(OP, repeats)?,
        0,
        0,
    ];
    rec.dispatch(
        Kernel::RepeatRows,
        &words,
        &[src.buffer(), dst.buffer()],
        linear_grid(rows * repeats * width),
    )
}
