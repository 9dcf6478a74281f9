use crate::kernels::Kernel;
use crate::ops::{expect_len, u32_of};
use crate::{GpuError, Recorder, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Relu,
}

/// C[m, n] (at `c_offset`, rows `c_row_stride` apart) = act(Σ_k A[m, k] B[k, n] + bias[n]),
/// with A and B addressed through explicit strides (a transposed operand is just swapped strides).
#[derive(Debug, Clone, Copy)]
pub struct GemmSpec {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a_row_stride: usize,
    pub a_col_stride: usize,
    pub b_row_stride: usize,
    pub b_col_stride: usize,
    pub c_row_stride: usize,
    pub c_offset: usize,
    pub activation: Activation,
    pub accumulate: bool,
    pub a_offset: usize,
    pub b_offset: usize,
    /// Where the bias vector starts in its buffer (parameters may live in one flat buffer).
    pub bias_offset: usize,
}

impl GemmSpec {
    /// Contiguous row-major A [m, k] times B [k, n] into contiguous C [m, n].
    pub fn row_major(m: usize, n: usize, k: usize) -> Self {
        GemmSpec {
            m,
            n,
            k,
            a_row_stride: k,
            a_col_stride: 1,
            b_row_stride: n,
            b_col_stride: 1,
            c_row_stride: n,
            c_offset: 0,
            activation: Activation::Identity,
            accumulate: false,
            a_offset: 0,
            b_offset: 0,
            bias_offset: 0,
        }
    }
}

const TILE: usize = 64;

pub fn gemm(
    rec: &mut Recorder<'_>,
    spec: &GemmSpec,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    c: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "gemm";
    if spec.m == 0 || spec.n == 0 {
        return Ok(());
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| {
        (rows.saturating_sub(1)) * rs + cols.saturating_sub(1) * cs + 1
    };
    if spec.k > 0 {
        expect_len(
            OP,
            "A",
            a,
            last(spec.m, spec.k, spec.a_row_stride, spec.a_col_stride),
        )?;
        expect_len(
            OP,
            "B",
            b,
            last(spec.k, spec.n, spec.b_row_stride, spec.b_col_stride),
        )?;
    }
    expect_len(
        OP,
        "C",
        c,
        spec.c_offset + last(spec.m, spec.n, spec.c_row_stride, 1),
    )?;
    if let Some(bias) = bias {
        expect_len(OP, "bias", bias, spec.bias_offset + spec.n)?;
    }
    let params = [
        u32_of(OP, spec.m)?,
        u32_of(OP, spec.n)?,
        u32_of(OP, spec.k)?,
        u32_of(OP, spec.a_row_stride)?,
        u32_of(OP, spec.a_col_stride)?,
        u32_of(OP, spec.b_row_stride)?,
        u32_of(OP, spec.b_col_stride)?,
        u32_of(OP, spec.c_row_stride)?,
        u32_of(OP, spec.c_offset)?,
        (spec.activation == Activation::Relu) as u32,
        bias.is_some() as u32,
        spec.accumulate as u32,
        u32_of(OP, spec.a_offset)?,
        u32_of(OP, spec.b_offset)?,
        u32_of(OP, spec.bias_offset)?,
    ];
    let placeholder = rec.ctx().placeholder().clone();
    let bias_buf = bias.map(|t| t.buffer()).unwrap_or(&placeholder);
    let groups = [
        u32_of(OP, spec.n.div_ceil(TILE))?,
        u32_of(OP, spec.m.div_ceil(TILE))?,
        1,
    ];
    rec.dispatch(
        Kernel::Gemm,
        &params,
        &[a.buffer(), b.buffer(), bias_buf, c.buffer()],
        groups,
    )
}

/// PyTorch's `nn.Linear`: y[m, :] = act(x[m, :] · Wᵀ + b) with `w` as [out, in].
pub fn linear(
    rec: &mut Recorder<'_>,
    x: &Tensor,
    rows: usize,
    w: &Tensor,
    bias: Option<&Tensor>,
    activation: Activation,
    y: &Tensor,
) -> Result<(), GpuError> {
    let [out, inp] = w.shape() else {
        return Err(GpuError::shape(
            "linear",
            format!("weight must be 2-D, got {:?}", w.shape()),
        ));
    };
    let spec = GemmSpec {
        m: rows,
        n: *out,
        k: *inp,
        a_row_stride: *inp,
        a_col_stride: 1,
        b_row_stride: 1,
        b_col_stride: *inp,
        c_row_stride: *out,
        c_offset: 0,
        activation,
        accumulate: false,
        a_offset: 0,
        b_offset: 0,
        bias_offset: 0,
    };
    gemm(rec, &spec, x, w, bias, y)
}
