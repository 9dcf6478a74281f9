//! recurrent_backward.wgsl and rnn_backward.wgsl on the host: BPTT per block of series, walking
//! the steps in the opposite order of the forward pass; the recurrent gradient of a step is one
//! [block, G·H] × [G·H, H] product with W_hh. Weight gradients stay with the host's GEMMs over dz.

use super::math::safe_tanh;
use super::recurrent::{block_size, run_blocks, split};
use super::simd::accumulate_product;
use super::{Bindings, Call, for_rows, need};
use crate::error::GpuError;

#[derive(Clone, Copy)]
struct Back {
    batch: usize,
    steps: usize,
    hidden: usize,
    reverse: bool,
    out_stride: usize,
    out_offset: usize,
    dout_stride: usize,
    dout_offset: usize,
    w_offset: usize,
    truncate: usize,
}

impl Back {
    fn of(k: &Call<'_>) -> Back {
        Back {
            batch: k.u(0),
            steps: k.u(1),
            hidden: k.u(2),
            reverse: k.flag(4),
            out_stride: k.u(5),
            out_offset: k.u(6),
            dout_stride: k.u(7),
            dout_offset: k.u(8),
            w_offset: k.u(9),
            truncate: k.u(10),
        }
    }

    fn backward_t(&self, step: usize) -> usize {
        if self.reverse {
            step
        } else {
            self.steps - 1 - step
        }
    }

    /// The forward pass's step before `t`, if any.
    fn forward_prev(&self, t: usize) -> Option<usize> {
        if self.reverse {
            (t + 1 < self.steps).then_some(t + 1)
        } else {
            t.checked_sub(1)
        }
    }

    fn cut_after(&self, step: usize) -> bool {
        self.truncate > 0 && (step + 1).is_multiple_of(self.truncate)
    }
}

/// Bindings: saved, c0, weights, d_out, dh_n, dc_n (read); dz, dh0, dc0 (rw).
pub(crate) fn lstm_backward(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "lstm_backward";
    let q = Back::of(k);
    let (bt, t, h) = (q.batch, q.steps, q.hidden);
    let g = 4 * h;
    let (saved, c0, weights) = (b.r(0)?, b.r(1)?, b.r(2)?);
    let (d_out, dh_n, dc_n) = (b.r(3)?, b.r(4)?, b.r(5)?);
    let (dz, dh0, dc0) = (b.w(6)?, b.w(7)?, b.w(8)?);
    need(KERNEL, "saved", saved, bt * t * 5 * h)?;
    need(KERNEL, "weights", weights, q.w_offset + g * h)?;
    need(KERNEL, "d_out", d_out, bt * t * q.dout_stride)?;
    for (what, s) in [("c0", c0), ("dh_n", dh_n), ("dc_n", dc_n)] {
        need(KERNEL, what, s, bt * h)?;
    }
    need(KERNEL, "dh0", dh0, bt * h)?;
    need(KERNEL, "dc0", dc0, bt * h)?;
    need(KERNEL, "dz", dz, bt * t * g)?;
    if bt == 0 || h == 0 {
        return Ok(());
    }
    let size = block_size(k, bt, t * g * h);
    let pieces: Vec<_> = split(dz, 0, bt, t * g, size)
        .into_iter()
        .zip(split(dh0, 0, bt, h, size))
        .zip(split(dc0, 0, bt, h, size))
        .collect();
    let w_hh = &weights[q.w_offset..q.w_offset + g * h];
    run_blocks(k, pieces, |blk, ((dz, dh0), dc0)| {
        let first = blk * size;
        let n = dh0.len() / h;
        let mut dh_rec = dh_n[first * h..][..n * h].to_vec();
        let mut dc = dc_n[first * h..][..n * h].to_vec();
        let mut dz_tile = vec![0.0f32; n * g];
        for step in 0..t {
            let tt = q.backward_t(step);
            let tp = q.forward_prev(tt);
            for s in 0..n {
                let bg = first + s;
                let sv = &saved[(bg * t + tt) * 5 * h..][..5 * h];
                let d_row = &d_out[(bg * t + tt) * q.dout_stride + q.dout_offset..][..h];
                let zs = &mut dz_tile[s * g..(s + 1) * g];
                for u in 0..h {
                    let (ig, fg, gg, og, c) = (
                        sv[u],
                        sv[h + u],
                        sv[2 * h + u],
                        sv[3 * h + u],
                        sv[4 * h + u],
                    );
                    let c_prev = match tp {
                        Some(p) => saved[(bg * t + p) * 5 * h + 4 * h + u],
                        None => c0[bg * h + u],
                    };
                    let dh = d_row[u] + dh_rec[s * h + u];
                    let tc = safe_tanh(c);
                    let d_o = dh * tc;
                    let dct = dc[s * h + u] + dh * og * (1.0 - tc * tc);
                    zs[u] = dct * gg * ig * (1.0 - ig);
                    zs[h + u] = dct * c_prev * fg * (1.0 - fg);
                    zs[2 * h + u] = dct * ig * (1.0 - gg * gg);
                    zs[3 * h + u] = d_o * og * (1.0 - og);
                    dc[s * h + u] = dct * fg;
                }
                dz[(s * t + tt) * g..][..g].copy_from_slice(zs);
            }
            dh_rec.fill(0.0);
            if q.cut_after(step) {
                dc.fill(0.0);
            } else {
                accumulate_product(k.arch, &dz_tile, n, g, w_hh, h, &mut dh_rec);
            }
        }
        dh0.copy_from_slice(&dh_rec);
        dc0.copy_from_slice(&dc);
        Ok(())
    })
}

/// Bindings: out, weights, d_out, dh_n (read); dz, dh0 (rw).
pub(crate) fn rnn_backward(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "rnn_backward";
    let q = Back::of(k);
    let (bt, t, h) = (q.batch, q.steps, q.hidden);
    let (out, weights, d_out, dh_n) = (b.r(0)?, b.r(1)?, b.r(2)?, b.r(3)?);
    let (dz, dh0) = (b.w(4)?, b.w(5)?);
    need(KERNEL, "out", out, bt * t * q.out_stride)?;
    need(KERNEL, "weights", weights, q.w_offset + h * h)?;
    need(KERNEL, "d_out", d_out, bt * t * q.dout_stride)?;
    need(KERNEL, "dh_n", dh_n, bt * h)?;
    need(KERNEL, "dh0", dh0, bt * h)?;
    need(KERNEL, "dz", dz, bt * t * h)?;
    if bt == 0 || h == 0 {
        return Ok(());
    }
    let size = block_size(k, bt, t * h * h);
    let pieces: Vec<_> = split(dz, 0, bt, t * h, size)
        .into_iter()
        .zip(split(dh0, 0, bt, h, size))
        .collect();
    let w_hh = &weights[q.w_offset..q.w_offset + h * h];
    run_blocks(k, pieces, |blk, (dz, dh0)| {
        let first = blk * size;
        let n = dh0.len() / h;
        let mut dh_rec = dh_n[first * h..][..n * h].to_vec();
        let mut dz_tile = vec![0.0f32; n * h];
        for step in 0..t {
            let tt = q.backward_t(step);
            for s in 0..n {
                let bg = first + s;
                let hs = &out[(bg * t + tt) * q.out_stride + q.out_offset..][..h];
                let d_row = &d_out[(bg * t + tt) * q.dout_stride + q.dout_offset..][..h];
                for u in 0..h {
                    let dh = d_row[u] + dh_rec[s * h + u];
                    dz_tile[s * h + u] = dh * (1.0 - hs[u] * hs[u]);
                }
                dz[(s * t + tt) * h..][..h].copy_from_slice(&dz_tile[s * h..(s + 1) * h]);
            }
            dh_rec.fill(0.0);
            if !q.cut_after(step) {
                accumulate_product(k.arch, &dz_tile, n, h, w_hh, h, &mut dh_rec);
            }
        }
        dh0.copy_from_slice(&dh_rec);
        Ok(())
    })
}

/// Bindings: out, h0 (read); h_prev (rw).
pub(crate) fn shift_states(k: &Call<'_>, b: &mut Bindings<'_>) -> Result<(), GpuError> {
    const KERNEL: &str = "shift_states";
    let q = Back::of(k);
    let (bt, t, h) = (q.batch, q.steps, q.hidden);
    let (out, h0) = (b.r(0)?, b.r(1)?);
    let h_prev = b.w(2)?;
    need(KERNEL, "out", out, bt * t * q.out_stride)?;
    need(KERNEL, "h0", h0, bt * h)?;
    need(KERNEL, "h_prev", h_prev, bt * t * h)?;
    if h == 0 || t == 0 {
        return Ok(());
    }
    // one task row per (series, step)
    for_rows(k, &mut h_prev[..bt * t * h], h, h, |row, dst| {
        let (s, tt) = (row / t, row % t);
        let prev = if q.reverse {
            (tt + 1 < t).then_some(tt + 1)
        } else {
            tt.checked_sub(1)
        };
        match prev {
            Some(p) => dst.copy_from_slice(&out[(s * t + p) * q.out_stride + q.out_offset..][..h]),
            None => dst.copy_from_slice(&h0[s * h..(s + 1) * h]),
        }
    });
    Ok(())
}
