use crate::error::GpuError;
use crate::kernels::Kernel;
use crate::ops::{expect_len, u32_of};
use crate::recorder::Recorder;
use crate::recorder::linear_grid;
use crate::tensor::Tensor;

/// The likelihood a DeepAR-style head parameterises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Distribution {
    Gaussian,
    StudentT,
    NegativeBinomial,
}

impl Distribution {
    /// Raw outputs the projection must produce.
    pub fn raw_params(self) -> usize {
        match self {
            Distribution::StudentT => 3,
            _ => 2,
        }
    }

    pub(crate) fn code(self) -> u32 {
        match self {
            Distribution::Gaussian => 0,
            Distribution::StudentT => 1,
            Distribution::NegativeBinomial => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Distribution::Gaussian => "gaussian",
            Distribution::StudentT => "student_t",
            Distribution::NegativeBinomial => "negative_binomial",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "gaussian" | "normal" => Some(Distribution::Gaussian),
            "student_t" | "studentt" => Some(Distribution::StudentT),
            "negative_binomial" | "negbin" => Some(Distribution::NegativeBinomial),
            _ => None,
        }
    }
}

fn check_raw(op: &'static str, dist: Distribution, raw_stride: usize) -> Result<(), GpuError> {
    if raw_stride < dist.raw_params() {
        return Err(GpuError::shape(
            op,
            format!(
                "{} needs {} raw parameters per row, rows hold {raw_stride}",
                dist.name(),
                dist.raw_params()
            ),
        ));
    }
    Ok(())
}

/// Unscaled distribution parameters [rows, 3] (μ, σ or α, ν) from raw head outputs; row r uses
/// `scale[r / rows_per_scale]`.
pub fn distribution_params(
    rec: &mut Recorder<'_>,
    dist: Distribution,
    rows: usize,
    raw_stride: usize,
    rows_per_scale: usize,
    raw: &Tensor,
    scale: &Tensor,
    params: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "distribution_params";
    check_raw(OP, dist, raw_stride)?;
    if rows_per_scale == 0 {
        return Err(GpuError::shape(OP, "rows_per_scale must be at least 1"));
    }
    expect_len(OP, "raw", raw, rows * raw_stride)?;
    expect_len(OP, "scale", scale, rows.div_ceil(rows_per_scale))?;
    expect_len(OP, "params", params, rows * 3)?;
    let words = [
        u32_of(OP, rows)?,
        u32_of(OP, raw_stride)?,
        u32_of(OP, rows_per_scale)?,
        dist.code(),
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
    ];
    rec.dispatch(
        Kernel::DistributionParams,
        &words,
        &[raw.buffer(), scale.buffer(), params.buffer()],
        linear_grid(rows),
    )
}

/// One ancestral-sampling step: rows are (series, path) pairs, `rows = series × paths`.
#[derive(Debug, Clone, Copy)]
pub struct SampleSpec {
    pub distribution: Distribution,
    pub rows: usize,
    pub paths: usize,
    pub raw_stride: usize,
    pub seed: u64,
    pub step: usize,
    pub sample_stride: usize,
    pub sample_offset: usize,
    pub history_stride: usize,
    pub history_offset: usize,
}

/// Draws one value per row: samples[row, offset] (unscaled) and history[row, offset] (scaled).
pub fn sample_step(
    rec: &mut Recorder<'_>,
    spec: &SampleSpec,
    raw: &Tensor,
    scale: &Tensor,
    samples: &Tensor,
    history: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "sample_step";
    check_raw(OP, spec.distribution, spec.raw_stride)?;
    if spec.paths == 0 || !spec.rows.is_multiple_of(spec.paths) {
        return Err(GpuError::shape(
            OP,
            format!(
                "{} rows are not a whole number of {} paths",
                spec.rows, spec.paths
            ),
        ));
    }
    expect_len(OP, "raw", raw, spec.rows * spec.raw_stride)?;
    expect_len(OP, "scale", scale, spec.rows / spec.paths)?;
    expect_len(
        OP,
        "samples",
        samples,
        (spec.rows - 1) * spec.sample_stride + spec.sample_offset + 1,
    )?;
    expect_len(
        OP,
        "history",
        history,
        (spec.rows - 1) * spec.history_stride + spec.history_offset + 1,
    )?;
    let words = [
        u32_of(OP, spec.rows)?,
        u32_of(OP, spec.raw_stride)?,
        u32_of(OP, spec.paths)?,
        spec.distribution.code(),
        spec.seed as u32,
        (spec.seed >> 32) as u32,
        u32_of(OP, spec.step)?,
        u32_of(OP, spec.paths)?,
        u32_of(OP, spec.sample_stride)?,
        u32_of(OP, spec.sample_offset)?,
        u32_of(OP, spec.history_stride)?,
        u32_of(OP, spec.history_offset)?,
    ];
    rec.dispatch(
        Kernel::SampleStep,
        &words,
        &[
            raw.buffer(),
            scale.buffer(),
            samples.buffer(),
            history.buffer(),
        ],
        linear_grid(spec.rows),
    )
}
