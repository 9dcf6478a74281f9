//! lstm.wgsl and rnn.wgsl on the host. The batch is cut into one block of series per thread;
//! each block walks all steps on its own (no barrier per step, unlike a GPU tile), and a step is
//! one [block, H] × [H, G·H] product of the previous states with W_hhᵀ plus the gate math, both
//! at the CPU's SIMD width (`simd`).

use rayon::prelude::*;

use super::simd::{accumulate_product, lstm_cell, tanh_in_place};
use super::{Bindings, Call, need};
use crate::error::GpuError;

#[derive(Clone, Copy)]
pub(crate) struct Seq {
    pub(crate) batch: usize,
    pub(crate) steps: usize,
    pub(crate) hidden: usize,
    pub(crate) reverse: bool,
    pub(crate) out_stride: usize,
    pub(crate) out_offset: usize,
}

impl Seq {
    pub(crate) fn of(k: &Call<'_>) -> Seq {
        Seq {
            batch: k.u(0),
            steps: k.u(1),
            hidden: k.u(2),
            reverse: k.flag(4),
            out_stride: k.u(5),
            out_offset: k.u(6),
        }
    }

    /// The time index of the `step`-th step the forward pass takes.
    pub(crate) fn forward_t(&self, step: usize) -> usize {
        if self.reverse {
            self.steps - 1 - step
        } else {
            step
        }
    }
}

/// Series per block: one block per thread, the whole batch on one thread when it is small.
pub(crate) fn block_size(k: &Call<'_>, batch: usize, work_per_series: usize) -> usize {
    if !k.parallel(batch * work_per_series, super::SERIAL_WORK * 4) {
        return batch.max(1);
    }
    batch.div_ceil(k.threads).max(1)
}

/// `buf[first·per ..]` cut into `blocks` consecutive pieces of `size·per` (the last shorter).
pub(crate) fn split(
    buf: &mut [f32],
    first: usize,
    batch: usize,
    per: usize,
    size: usize,
) -> Vec<&mut [f32]> {
    buf[first * per..(first + batch) * per]
        .chunks_mut((size * per).max(1))
        .collect()
}

/// Runs `f(block_index, pieces)` for every block, in parallel when there are several.
pub(crate) fn run_blocks<T: Send>(
    k: &Call<'_>,
    pieces: Vec<T>,
    f: impl Fn(usize, T) -> Result<(), GpuError> + Sync + Send,
) -> Result<(), GpuError> {
    if pieces.len() <= 1 {
        return pieces
            .into_iter()
            .enumerate()
            .try_for_each(|(i, p)| f(i, p));
    }
    k.pool.install(|| {
        pieces
            .into_par_iter()
            .enumerate()
            .try_for_each(|(i, p)| f(i, p))
    })
}

/// Bindings: gates_x, w_hh_t, h0, c0 (read); out, h_n, c_n, saved (rw).
pub(crate) fn lstm_sequence(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "lstm_sequence";
    let q = Seq::of(k);
    let save = k.flag(7);
    let series_offset = k.u(8);
    let (bt, t, h) = (q.batch, q.steps, q.hidden);
    let g = 4 * h;
    let (gates_x, w_hh_t, h0, c0) = (b.r(0)?, b.r(1)?, b.r(2)?, b.r(3)?);
    let (out, h_n, c_n, saved) = (b.w(4)?, b.w(5)?, b.w(6)?, b.w(7)?);
    let all = series_offset + bt;
    need(KERNEL, "gates_x", gates_x, bt * t * g)?;
    need(KERNEL, "w_hh_t", w_hh_t, h * g)?;
    for (what, s) in [("h0", h0), ("c0", c0), ("h_n", &*h_n), ("c_n", &*c_n)] {
        need(KERNEL, what, s, all * h)?;
    }
    need(KERNEL, "out", out, all * t * q.out_stride)?;
    if save {
        need(KERNEL, "saved", saved, all * t * 5 * h)?;
    }
    if bt == 0 || h == 0 {
        return Ok(());
    }
    let size = block_size(k, bt, t * g * h);
    let outs = split(out, series_offset, bt, t * q.out_stride, size);
    let hns = split(h_n, series_offset, bt, h, size);
    let cns = split(c_n, series_offset, bt, h, size);
    let saves: Vec<Option<&mut [f32]>> = if save {
        split(saved, series_offset, bt, t * 5 * h, size)
            .into_iter()
            .map(Some)
            .collect()
    } else {
        (0..outs.len()).map(|_| None).collect()
    };
    let pieces: Vec<_> = outs.into_iter().zip(hns).zip(cns).zip(saves).collect();
    run_blocks(k, pieces, |blk, (((out, h_n), c_n), mut saved)| {
        let first = blk * size;
        let n = h_n.len() / h;
        let mut hs = h0[(series_offset + first) * h..][..n * h].to_vec();
        let mut cs = c0[(series_offset + first) * h..][..n * h].to_vec();
        let mut z = vec![0.0f32; n * g];
        for step in 0..t {
            let tt = q.forward_t(step);
            for s in 0..n {
                z[s * g..(s + 1) * g].copy_from_slice(&gates_x[((first + s) * t + tt) * g..][..g]);
            }
            accumulate_product(k.arch, &hs, n, h, w_hh_t, g, &mut z);
            lstm_cell(k.arch, &mut z, &mut cs, &mut hs, h);
            for s in 0..n {
                let row = (s * t + tt) * q.out_stride + q.out_offset;
                out[row..row + h].copy_from_slice(&hs[s * h..(s + 1) * h]);
                if let Some(sv) = saved.as_deref_mut() {
                    let at = (s * t + tt) * 5 * h;
                    sv[at..at + 4 * h].copy_from_slice(&z[s * g..(s + 1) * g]);
                    sv[at + 4 * h..at + 5 * h].copy_from_slice(&cs[s * h..(s + 1) * h]);
                }
            }
        }
        h_n.copy_from_slice(&hs);
        c_n.copy_from_slice(&cs);
        Ok(())
    })
}

/// Bindings: pre_x, w_hh_t, h0 (read); out, h_n (rw).
pub(crate) fn rnn_sequence(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "rnn_sequence";
    let q = Seq::of(k);
    let series_offset = k.u(7);
    let (bt, t, h) = (q.batch, q.steps, q.hidden);
    let (pre_x, w_hh_t, h0) = (b.r(0)?, b.r(1)?, b.r(2)?);
    let (out, h_n) = (b.w(3)?, b.w(4)?);
    let all = series_offset + bt;
    need(KERNEL, "pre_x", pre_x, bt * t * h)?;
    need(KERNEL, "w_hh_t", w_hh_t, h * h)?;
    need(KERNEL, "h0", h0, all * h)?;
    need(KERNEL, "h_n", h_n, all * h)?;
    need(KERNEL, "out", out, all * t * q.out_stride)?;
    if bt == 0 || h == 0 {
        return Ok(());
    }
    let size = block_size(k, bt, t * h * h);
    let outs = split(out, series_offset, bt, t * q.out_stride, size);
    let hns = split(h_n, series_offset, bt, h, size);
    let pieces: Vec<_> = outs.into_iter().zip(hns).collect();
    run_blocks(k, pieces, |blk, (out, h_n)| {
        let first = blk * size;
        let n = h_n.len() / h;
        let mut hs = h0[(series_offset + first) * h..][..n * h].to_vec();
        let mut z = vec![0.0f32; n * h];
        for step in 0..t {
            let tt = q.forward_t(step);
            for s in 0..n {
                z[s * h..(s + 1) * h].copy_from_slice(&pre_x[((first + s) * t + tt) * h..][..h]);
            }
            accumulate_product(k.arch, &hs, n, h, w_hh_t, h, &mut z);
            tanh_in_place(k.arch, &mut z);
            hs.copy_from_slice(&z);
            for s in 0..n {
                let row = (s * t + tt) * q.out_stride + q.out_offset;
                out[row..row + h].copy_from_slice(&hs[s * h..(s + 1) * h]);
            }
        }
        h_n.copy_from_slice(&hs);
        Ok(())
    })
}
