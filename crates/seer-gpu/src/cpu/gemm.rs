//! gemm.wgsl on the host: C = act(A·B (+ C) + bias) through the same strides, by matrixmultiply's
//! SIMD sgemm on strided views. Large products are split over the pool by rows of C, or, when C
//! has few rows but the inner dimension is long (the weight gradients, summed over B·T), by
//! slices of the inner dimension whose partial products are then added in a fixed order. Neither
//! depends on the thread count, so a result is the same bits on any machine of this backend.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, Axis, ShapeBuilder};
use rayon::prelude::*;

use super::{Bindings, Call, need};
use crate::error::GpuError;

const KERNEL: &str = "gemm";

/// Multiply-adds below which one thread does the product.
const SERIAL_FLOPS: usize = 1 << 16;

/// Depth of one slice of a split inner dimension (the weight gradients' B·T).
const INNER_SLICE: usize = 4096;

/// Fewer rows of C than this, and a long inner dimension, split the inner dimension instead.
const SPLIT_ROWS: usize = 256;

/// The strided matrix `rows × cols` of `data` from `offset` on.
pub(crate) fn view(
    data: &[f32],
    offset: usize,
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
) -> Result<ArrayView2<'_, f32>, GpuError> {
    let tail = data.get(offset..).unwrap_or(&[]);
    ArrayView2::from_shape((rows, cols).strides((row_stride, col_stride)), tail).map_err(|e| {
        GpuError::Pipeline {
            kernel: KERNEL,
            message: format!(
                "cpu gemm: a {rows}×{cols} view with strides ({row_stride}, {col_stride}) from {offset} of {}: {e}",
                data.len()
            ),
        }
    })
}

pub(crate) fn view_mut(
    data: &mut [f32],
    offset: usize,
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
) -> Result<ArrayViewMut2<'_, f32>, GpuError> {
    let len = data.len();
    let tail = data.get_mut(offset..).unwrap_or(&mut []);
    ArrayViewMut2::from_shape((rows, cols).strides((row_stride, col_stride)), tail).map_err(|e| {
        GpuError::Pipeline {
            kernel: KERNEL,
            message: format!(
                "cpu gemm: a writable {rows}×{cols} view with strides ({row_stride}, {col_stride}) from {offset} of {len}: {e}"
            ),
        }
    })
}

pub(crate) fn gemm(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    let (m, n, kk) = (k.u(0), k.u(1), k.u(2));
    let (a_rs, a_cs, b_rs, b_cs) = (k.u(3), k.u(4), k.u(5), k.u(6));
    let (c_rs, c_off) = (k.u(7), k.u(8));
    let relu = k.flag(9);
    let has_bias = k.flag(10);
    let accumulate = k.flag(11);
    let (a_off, b_off, bias_off) = (k.u(12), k.u(13), k.u(14));
    let c_cs = k.u(15).max(1);
    if m == 0 || n == 0 {
        return Ok(());
    }
    let (a, bm, bias) = (b.r(0)?, b.r(1)?, b.r(2)?);
    let c = b.w(3)?;
    let bias = if has_bias {
        need(KERNEL, "bias", bias, bias_off + n)?;
        Some(&bias[bias_off..bias_off + n])
    } else {
        None
    };
    let mut cv = view_mut(c, c_off, m, n, c_rs, c_cs)?;
    let beta = if accumulate { 1.0 } else { 0.0 };
    if kk > 0 {
        let av = view(a, a_off, m, kk, a_rs, a_cs)?;
        let bv = view(bm, b_off, kk, n, b_rs, b_cs)?;
        product(k, &av, &bv, beta, &mut cv);
    } else if !accumulate {
        cv.fill(0.0);
    }
    if bias.is_some() || relu {
        let epilogue = |row: &mut [f32]| {
            if let Some(bias) = bias {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
            if relu {
                row.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        };
        for mut row in cv.rows_mut() {
            // contiguous rows as slices, so the loops vectorise; strided ones element by element
            match row.as_slice_mut() {
                Some(row) => epilogue(row),
                None => {
                    let mut tmp = row.to_vec();
                    epilogue(&mut tmp);
                    row.iter_mut().zip(tmp).for_each(|(v, t)| *v = t);
                }
            }
        }
    }
    Ok(())
}

/// C ← A·B + β·C, spread over the pool when large enough.
pub(crate) fn product(
    k: &Call<'_>,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    let (m, kk) = a.dim();
    let n = b.dim().1;
    let threads = k.threads;
    let flops = m * n * kk;
    // A product with few rows and a long inner dimension (the weight gradients, summed over
    // B·T) is split into slices of a fixed depth whose partial products are added in order;
    // whether to split depends on the shape only, so the sum is the same on any core count.
    if m < SPLIT_ROWS && kk >= 2 * INNER_SLICE {
        let slice = |(a, b): (ArrayView2<'_, f32>, ArrayView2<'_, f32>)| {
            let mut p = ndarray::Array2::<f32>::zeros((m, n));
            general_mat_mul(1.0, &a, &b, 0.0, &mut p);
            p
        };
        let slices: Vec<_> = a
            .axis_chunks_iter(Axis(1), INNER_SLICE)
            .zip(b.axis_chunks_iter(Axis(0), INNER_SLICE))
            .collect();
        let partials: Vec<ndarray::Array2<f32>> = if k.parallel(flops, SERIAL_FLOPS) {
            k.pool
                .install(|| slices.into_par_iter().map(slice).collect())
        } else {
            slices.into_iter().map(slice).collect()
        };
        if beta == 0.0 {
            c.fill(0.0);
        }
        for p in &partials {
            c.zip_mut_with(p, |c, &p| *c += p);
        }
        return;
    }
    if !k.parallel(flops, SERIAL_FLOPS) {
        general_mat_mul(1.0, a, b, beta, c);
        return;
    }
    // rows of C: a row's sum does not depend on how many rows share a call
    let rows = m.div_ceil(threads * 2).max(1);
    k.pool.install(|| {
        c.axis_chunks_iter_mut(Axis(0), rows)
            .into_par_iter()
            .zip(a.axis_chunks_iter(Axis(0), rows))
            .for_each(|(mut c, a)| general_mat_mul(1.0, &a, b, beta, &mut c));
    });
}
