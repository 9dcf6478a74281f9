//! conv.wgsl and conv_backward.wgsl on the host. A dilated causal convolution is, for each tap
//! k, one product of the tap's [Cout, Cin] weights with the input shifted right by (K−1−k)·d, so
//! each series runs K small products (`simd`'s register tiles, reading activations in place)
//! instead of a per-output loop; the weight gradient's products, over time, go to matrixmultiply.
//! Series are spread over the pool.

use ndarray::ArrayView2;
use rayon::prelude::*;

use super::gemm::{view, view_mut};
use super::simd::{Strided, accumulate_strided, relu_epilogue};
use super::{Bindings, Call, need, try_for_rows};
use crate::error::GpuError;

#[derive(Clone, Copy)]
struct Dims {
    batch: usize,
    cin: usize,
    cout: usize,
    steps: usize,
    kernel: usize,
    dilation: usize,
}

impl Dims {
    fn of(k: &Call<'_>) -> Dims {
        Dims {
            batch: k.u(0),
            cin: k.u(1),
            cout: k.u(2),
            steps: k.u(3),
            kernel: k.u(4),
            dilation: k.u(5),
        }
    }

    /// How far tap `k` reaches back in time.
    fn back(&self, k: usize) -> usize {
        (self.kernel - 1 - k) * self.dilation
    }

    /// Runs `f(tap, back, span)` for every tap that reaches inside the sequence: `back` steps
    /// behind, over the `span = T − back` steps that have an input that far back.
    fn for_taps(
        &self,
        mut f: impl FnMut(usize, usize, usize) -> Result<(), GpuError>,
    ) -> Result<(), GpuError> {
        for tap in 0..self.kernel {
            let back = self.back(tap);
            if back < self.steps {
                f(tap, back, self.steps - back)?;
            }
        }
        Ok(())
    }

    /// Tap k's weights as [Cout, Cin] out of [Cout, Cin, K] starting at `offset`.
    fn tap<'a>(
        &self,
        w: &'a [f32],
        offset: usize,
        k: usize,
    ) -> Result<ArrayView2<'a, f32>, GpuError> {
        view(
            w,
            offset + k,
            self.cout,
            self.cin,
            self.cin * self.kernel,
            self.kernel,
        )
    }
}

/// Bindings: x, w, bias, res (read), y (rw).
pub(crate) fn conv1d_causal(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "conv1d_causal";
    let d = Dims::of(k);
    let (relu, residual) = (k.flag(6), k.flag(7));
    let (x, w, bias, res) = (b.r(0)?, b.r(1)?, b.r(2)?, b.r(3)?);
    let y = b.w(4)?;
    let t = d.steps;
    need(KERNEL, "x", x, d.batch * d.cin * t)?;
    need(KERNEL, "w", w, d.cout * d.cin * d.kernel)?;
    need(KERNEL, "bias", bias, d.cout)?;
    need(KERNEL, "y", y, d.batch * d.cout * t)?;
    if residual {
        need(KERNEL, "res", res, d.batch * d.cout * t)?;
    }
    if d.kernel == 0 || t == 0 {
        return Ok(());
    }
    let block = d.cout * t;
    // each tap's [Cout, Cin] weights gathered once, rows contiguous
    let taps: Vec<Vec<f32>> = (0..d.kernel)
        .map(|tap| d.tap(w, 0, tap).map(|v| v.iter().copied().collect()))
        .collect::<Result<_, _>>()?;
    try_for_rows(
        k,
        &mut y[..d.batch * block],
        block,
        block * d.cin * d.kernel,
        |s, out| {
            for (o, row) in out.chunks_mut(t).enumerate() {
                row.fill(bias[o]);
            }
            let xs = &x[s * d.cin * t..(s + 1) * d.cin * t];
            d.for_taps(|tap, back, span| {
                let input = Strided { rows: t, data: xs };
                let weights = Strided {
                    rows: d.cin,
                    data: &taps[tap],
                };
                accumulate_strided(
                    k.arch,
                    weights,
                    d.cout,
                    d.cin,
                    input,
                    span,
                    &mut out[back..],
                    t,
                );
                Ok(())
            })?;
            let residual = residual.then(|| &res[s * block..(s + 1) * block]);
            relu_epilogue(k.arch, out, relu, residual);
            Ok(())
        },
    )
}

/// Bindings: dy, w (read), dx (rw). dx[b, i, t] = Σ_{o,k} w[o, i, k] · dy[b, o, t + back_k].
pub(crate) fn conv1d_backward_input(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "conv1d_backward_input";
    let d = Dims::of(k);
    let (accumulate, w_offset) = (k.flag(6), k.u(7));
    let (dy, w) = (b.r(0)?, b.r(1)?);
    let dx = b.w(2)?;
    let t = d.steps;
    need(KERNEL, "dy", dy, d.batch * d.cout * t)?;
    need(KERNEL, "w", w, w_offset + d.cout * d.cin * d.kernel)?;
    need(KERNEL, "dx", dx, d.batch * d.cin * t)?;
    if d.kernel == 0 || t == 0 {
        return Ok(());
    }
    let block = d.cin * t;
    // each tap's weights transposed, [Cin, Cout], rows contiguous
    let taps_t: Vec<Vec<f32>> = (0..d.kernel)
        .map(|tap| {
            d.tap(w, w_offset, tap)
                .map(|v| v.t().iter().copied().collect())
        })
        .collect::<Result<_, _>>()?;
    try_for_rows(
        k,
        &mut dx[..d.batch * block],
        block,
        block * d.cout * d.kernel,
        |s, out| {
            if !accumulate {
                out.fill(0.0);
            }
            let dys = &dy[s * d.cout * t..(s + 1) * d.cout * t];
            d.for_taps(|tap, back, span| {
                let grads = Strided {
                    rows: t,
                    data: &dys[back..],
                };
                let weights = Strided {
                    rows: d.cout,
                    data: &taps_t[tap],
                };
                accumulate_strided(k.arch, weights, d.cin, d.cout, grads, span, out, t);
                Ok(())
            })
        },
    )
}

/// Bindings: dy, x (read), grads (rw). Overwrites dw [Cout, Cin, K] at word 6 and db [Cout] at
/// word 7: each series' contribution is a product per tap, summed over series in a fixed order
/// of fixed-size groups so the result does not depend on the thread count.
pub(crate) fn conv1d_backward_weight(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "conv1d_backward_weight";
    let d = Dims::of(k);
    let (dw_offset, db_offset) = (k.u(6), k.u(7));
    let (dy, x) = (b.r(0)?, b.r(1)?);
    let grads = b.w(2)?;
    let t = d.steps;
    let weights = d.cout * d.cin * d.kernel;
    need(KERNEL, "dy", dy, d.batch * d.cout * t)?;
    need(KERNEL, "x", x, d.batch * d.cin * t)?;
    need(KERNEL, "grads", grads, dw_offset + weights)?;
    need(KERNEL, "grads", grads, db_offset + d.cout)?;
    // [dw ++ db] of a group of series
    let group_grads = |series: std::ops::Range<usize>| -> Result<Vec<f32>, GpuError> {
        let mut acc = vec![0.0f32; weights + d.cout];
        let (dw, db) = acc.split_at_mut(weights);
        for s in series {
            let dys = &dy[s * d.cout * t..(s + 1) * d.cout * t];
            let xs = &x[s * d.cin * t..(s + 1) * d.cin * t];
            d.for_taps(|tap, back, span| {
                let dyv = view(dys, back, d.cout, span, t, 1)?;
                let xt = view(xs, 0, d.cin, span, t, 1)?.reversed_axes();
                let mut dwv = view_mut(dw, tap, d.cout, d.cin, d.cin * d.kernel, d.kernel)?;
                ndarray::linalg::general_mat_mul(1.0, &dyv, &xt, 1.0, &mut dwv);
                Ok(())
            })?;
            for (o, row) in dys.chunks(t).enumerate() {
                db[o] += row.iter().sum::<f32>();
            }
        }
        Ok(acc)
    };
    const SERIES_PER_GROUP: usize = 16;
    let groups: Vec<std::ops::Range<usize>> = (0..d.batch.div_ceil(SERIES_PER_GROUP))
        .map(|g| g * SERIES_PER_GROUP..((g + 1) * SERIES_PER_GROUP).min(d.batch))
        .collect();
    let parts: Vec<Vec<f32>> = if !k.parallel(d.batch * weights * t, super::SERIAL_WORK * 4) {
        groups
            .into_iter()
            .map(group_grads)
            .collect::<Result<_, _>>()?
    } else {
        k.pool.install(|| {
            groups
                .into_par_iter()
                .map(group_grads)
                .collect::<Result<_, _>>()
        })?
    };
    let mut total = vec![0.0f32; weights + d.cout];
    for p in &parts {
        for (a, v) in total.iter_mut().zip(p) {
            *a += v;
        }
    }
    grads[dw_offset..dw_offset + weights].copy_from_slice(&total[..weights]);
    grads[db_offset..db_offset + d.cout].copy_from_slice(&total[weights..]);
    Ok(())
}
