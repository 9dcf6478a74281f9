//! decode.wgsl on the host: the per-step glue of autoregressive decoding. Each is a few values
//! per row, so rows run serially unless there are thousands.

use super::{Bindings, Call, for_rows, need};
use crate::error::GpuError;

struct Decode {
    rows: usize,
    width: usize,
    median_index: usize,
    step: usize,
    horizon: usize,
    static_width: usize,
    input_width: usize,
    history_len: usize,
    position: usize,
    repeats: usize,
}

fn params(k: &Call<'_>) -> Decode {
    Decode {
        rows: k.u(0),
        width: k.u(1),
        median_index: k.u(2),
        step: k.u(3),
        horizon: k.u(4),
        static_width: k.u(5),
        input_width: k.u(6),
        history_len: k.u(7),
        position: k.u(8),
        repeats: k.u(9),
    }
}

/// Bindings: src (read), aux (read), dst (rw), next_input (rw).
pub(crate) fn quantile_feedback(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "quantile_feedback";
    let p = params(k);
    let q = p.width;
    let (src, aux) = (b.r(0)?, b.r(1)?);
    let dst = b.w(2)?;
    let next = b.w(3)?;
    need(KERNEL, "src", src, p.rows * q)?;
    need(KERNEL, "aux", aux, p.rows)?;
    need(KERNEL, "dst", dst, p.rows * p.horizon * q)?;
    if q == 0 || p.step >= p.horizon {
        return Ok(());
    }
    let feeds = p.step + 1 < p.horizon;
    if feeds {
        need(KERNEL, "next_input", next, p.rows * p.input_width)?;
        need(
            KERNEL,
            "aux",
            aux,
            p.rows + p.rows * p.horizon * p.static_width,
        )?;
    }
    let mut sorted = vec![0.0f32; q];
    for row in 0..p.rows {
        sorted.copy_from_slice(&src[row * q..(row + 1) * q]);
        // the shader's insertion sort: stable, and NaN-tolerant in the same way
        for i in 1..q {
            let x = sorted[i];
            let mut j = i;
            while j > 0 && sorted[j - 1] > x {
                sorted[j] = sorted[j - 1];
                j -= 1;
            }
            sorted[j] = x;
        }
        let s = aux[row];
        let out = &mut dst[(row * p.horizon + p.step) * q..][..q];
        for (o, v) in out.iter_mut().zip(&sorted) {
            *o = v * s;
        }
        if feeds {
            let base = row * p.input_width;
            next[base] = sorted.get(p.median_index).copied().unwrap_or(0.0);
            let f = p.rows + (row * p.horizon + p.step + 1) * p.static_width;
            next[base + 1..base + 1 + p.static_width].copy_from_slice(&aux[f..f + p.static_width]);
        }
    }
    Ok(())
}

/// Bindings: src = history (read), aux = static (read), lags (read, u32), next_input (rw).
pub(crate) fn assemble_lags(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "assemble_lags";
    let p = params(k);
    let (src, aux, lags) = (b.r(0)?, b.r(1)?, b.r(2)?);
    let next = b.w(3)?;
    need(KERNEL, "lags", lags, p.width)?;
    need(KERNEL, "next_input", next, p.rows * p.input_width)?;
    need(KERNEL, "history", src, p.rows * p.history_len)?;
    let repeats = p.repeats.max(1);
    need(
        KERNEL,
        "static",
        aux,
        (p.rows.div_ceil(repeats) * p.horizon) * p.static_width,
    )?;
    let lags: Vec<usize> = lags[..p.width]
        .iter()
        .map(|l| l.to_bits() as usize)
        .collect();
    if p.input_width < p.width + p.static_width {
        return Err(super::short(
            KERNEL,
            "next_input row",
            p.input_width,
            p.width + p.static_width,
        ));
    }
    for_rows(
        k,
        &mut next[..p.rows * p.input_width],
        p.input_width,
        p.input_width,
        |row, out| {
            let history = &src[row * p.history_len..(row + 1) * p.history_len];
            for (o, &lag) in out.iter_mut().zip(&lags) {
                *o = if lag <= p.position {
                    history.get(p.position - lag).copied().unwrap_or(0.0)
                } else {
                    0.0
                };
            }
            let f = (row / repeats * p.horizon + p.step) * p.static_width;
            if let Some(statics) = aux.get(f..f + p.static_width) {
                out[p.width..p.width + p.static_width].copy_from_slice(statics);
            }
        },
    );
    Ok(())
}

/// Bindings: src (read), dst (rw).
pub(crate) fn repeat_rows(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "repeat_rows";
    let p = params(k);
    let (src, dst) = (b.r(0)?, b.w(1)?);
    let repeats = p.repeats;
    need(KERNEL, "src", src, p.rows * p.width)?;
    need(KERNEL, "dst", dst, p.rows * repeats * p.width)?;
    if p.width == 0 || repeats == 0 {
        return Ok(());
    }
    for_rows(
        k,
        &mut dst[..p.rows * repeats * p.width],
        p.width,
        p.width,
        |out_row, out| {
            let r = out_row / repeats;
            out.copy_from_slice(&src[r * p.width..(r + 1) * p.width]);
        },
    );
    Ok(())
}
