use crate::error::GpuError;
use crate::kernels::Kernel;
use crate::ops::{expect_len, u32_of};
use crate::recorder::Recorder;
use crate::tensor::Tensor;

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
    /// C's column stride; 0 is read as 1 (contiguous rows), so older call sites need no change.
    pub c_col_stride: usize,
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
            c_col_stride: 1,
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
            spec.a_offset + last(spec.m, spec.k, spec.a_row_stride, spec.a_col_stride),
        )?;
        expect_len(
            OP,
            "B",
            b,
            spec.b_offset + last(spec.k, spec.n, spec.b_row_stride, spec.b_col_stride),
        )?;
    }
    let c_col_stride = spec.c_col_stride.max(1);
    expect_len(
        OP,
        "C",
        c,
        spec.c_offset + last(spec.m, spec.n, spec.c_row_stride, c_col_stride),
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
        u32_of(OP, c_col_stride)?,
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
        c_col_stride: 1,
    };
    gemm(rec, &spec, x, w, bias, y)
}

/// A strided matrix view into a buffer: element (r, c) is at `offset + r·row_stride + c·col_stride`.
#[derive(Debug, Clone, Copy)]
pub struct Mat<'a> {
    pub tensor: &'a Tensor,
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Mat<'a> {
    /// Row-major [rows, cols] starting at `offset`.
    pub fn rm(tensor: &'a Tensor, offset: usize, rows: usize, cols: usize) -> Self {
        Mat {
            tensor,
            offset,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The same storage read as the transpose.
    pub fn t(self) -> Self {
        Mat {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// C (row-major at `c_offset`, rows `c_row_stride` apart) (+)= A · B (+ bias[bias_offset..]).
pub fn matmul(
    rec: &mut Recorder<'_>,
    a: Mat<'_>,
    b: Mat<'_>,
    bias: Option<(&Tensor, usize)>,
    c: &Tensor,
    c_offset: usize,
    c_row_stride: usize,
    accumulate: bool,
) -> Result<(), GpuError> {
    if a.cols != b.rows {
        return Err(GpuError::shape(
            "matmul",
            format!(
                "inner dimensions differ: {}x{} · {}x{}",
                a.rows, a.cols, b.rows, b.cols
            ),
        ));
    }
    let spec = GemmSpec {
        m: a.rows,
        n: b.cols,
        k: a.cols,
        a_row_stride: a.row_stride,
        a_col_stride: a.col_stride,
        b_row_stride: b.row_stride,
        b_col_stride: b.col_stride,
        c_row_stride,
        c_offset,
        activation: Activation::Identity,
        accumulate,
        a_offset: a.offset,
        b_offset: b.offset,
        bias_offset: bias.map(|b| b.1).unwrap_or(0),
        c_col_stride: 1,
    };
    gemm(rec, &spec, a.tensor, b.tensor, bias.map(|b| b.0), c)
}

/// C[m, n] += bias[bias_offset + n] for every row (a GEMM with an empty inner dimension).
pub fn add_bias(
    rec: &mut Recorder<'_>,
    c: &Tensor,
    rows: usize,
    cols: usize,
    bias: &Tensor,
    bias_offset: usize,
) -> Result<(), GpuError> {
    let spec = GemmSpec {
        accumulate: true,
        bias_offset,
        ..GemmSpec::row_major(rows, cols, 0)
    };
    // A and B are never read with k = 0, but binding C's buffer read-only too would conflict
    let unused = rec.ctx().zeros(&[1])?;
    gemm(rec, &spec, &unused, &unused, Some(bias), c)
}
