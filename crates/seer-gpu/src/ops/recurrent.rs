use crate::error::GpuError;
use crate::kernels::Kernel;
use crate::ops::{expect_len, u32_of};
use crate::recorder::Recorder;
use crate::tensor::Tensor;

/// (series, unit) pairs one workgroup of the recurrent kernels holds: 256 threads × 4.
pub const PAIRS_PER_GROUP: usize = 1024;

/// One direction of one recurrent layer over a whole sequence.
#[derive(Debug, Clone, Copy)]
pub struct RecurrentSpec {
    pub batch: usize,
    pub steps: usize,
    pub hidden: usize,
    pub reverse: bool,
    /// Output rows are `out_stride` wide and this direction writes columns
    /// `out_offset .. out_offset + hidden` (a BiLSTM's two directions share one output).
    pub out_stride: usize,
    pub out_offset: usize,
    /// The input projection covers series `series_offset .. series_offset + batch` only, while
    /// states and outputs are indexed across the whole batch: lets a large batch run in chunks
    /// whose projection fits one storage binding.
    pub series_offset: usize,
}

impl RecurrentSpec {
    fn check(&self, op: &'static str) -> Result<(usize, [u32; 3]), GpuError> {
        if self.hidden == 0 || self.hidden > PAIRS_PER_GROUP {
            return Err(GpuError::shape(
                op,
                format!(
                    "hidden size {} must be in 1..={PAIRS_PER_GROUP}",
                    self.hidden
                ),
            ));
        }
        if self.out_offset + self.hidden > self.out_stride {
            return Err(GpuError::shape(
                op,
                format!(
                    "output columns {}..{} do not fit rows of {}",
                    self.out_offset,
                    self.out_offset + self.hidden,
                    self.out_stride
                ),
            ));
        }
        let tile = (PAIRS_PER_GROUP / self.hidden).max(1);
        let groups = u32_of(op, self.batch.div_ceil(tile))?;
        Ok((tile, [groups, 1, 1]))
    }

    fn words(
        &self,
        op: &'static str,
        tile: usize,
        flag: Option<u32>,
    ) -> Result<Vec<u32>, GpuError> {
        let mut w = vec![
            u32_of(op, self.batch)?,
            u32_of(op, self.steps)?,
            u32_of(op, self.hidden)?,
            u32_of(op, tile)?,
            self.reverse as u32,
            u32_of(op, self.out_stride)?,
            u32_of(op, self.out_offset)?,
        ];
        // the LSTM has a save_gates flag before the offset; the Elman kernel does not
        w.extend(flag);
        w.push(u32_of(op, self.series_offset)?);
        Ok(w)
    }
}

/// The LSTM recurrence. `gates_x` [B, T, 4H] is x_t·W_ihᵀ + b_ih + b_hh for every step;
/// `w_hh_t` is W_hh transposed, [H, 4H]. With `saved` [B, T, 5H] the gate activations
/// (i, f, g, o) and cell states are kept for backpropagation.
pub fn lstm_sequence(
    rec: &mut Recorder<'_>,
    spec: &RecurrentSpec,
    gates_x: &Tensor,
    w_hh_t: &Tensor,
    h0: &Tensor,
    c0: &Tensor,
    out: &Tensor,
    h_n: &Tensor,
    c_n: &Tensor,
    saved: Option<&Tensor>,
) -> Result<(), GpuError> {
    const OP: &str = "lstm_sequence";
    let (tile, groups) = spec.check(OP)?;
    let (b, t, h) = (spec.batch, spec.steps, spec.hidden);
    expect_len(OP, "gates_x", gates_x, b * t * 4 * h)?;
    expect_len(OP, "w_hh_t", w_hh_t, 4 * h * h)?;
    let all = spec.series_offset + b;
    for (name, s) in [("h0", h0), ("c0", c0), ("h_n", h_n), ("c_n", c_n)] {
        expect_len(OP, name, s, all * h)?;
    }
    expect_len(OP, "out", out, all * t * spec.out_stride)?;
    if let Some(saved) = saved {
        expect_len(OP, "saved", saved, all * t * 5 * h)?;
    }
    let placeholder = rec.ctx().placeholder().clone();
    let params = spec.words(OP, tile, Some(saved.is_some() as u32))?;
    rec.dispatch(
        Kernel::LstmSequence,
        &params,
        &[
            gates_x.buffer(),
            w_hh_t.buffer(),
            h0.buffer(),
            c0.buffer(),
            out.buffer(),
            h_n.buffer(),
            c_n.buffer(),
            saved.map(|s| s.buffer()).unwrap_or(&placeholder),
        ],
        groups,
    )
}

/// The Elman recurrence h_t = tanh(pre_x_t + W_hh h_{t-1}); `pre_x` [B, T, H] holds
/// x_t·W_ihᵀ + b_ih + b_hh and `w_hh_t` is W_hh transposed.
pub fn rnn_sequence(
    rec: &mut Recorder<'_>,
    spec: &RecurrentSpec,
    pre_x: &Tensor,
    w_hh_t: &Tensor,
    h0: &Tensor,
    out: &Tensor,
    h_n: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "rnn_sequence";
    let (tile, groups) = spec.check(OP)?;
    let (b, t, h) = (spec.batch, spec.steps, spec.hidden);
    expect_len(OP, "pre_x", pre_x, b * t * h)?;
    expect_len(OP, "w_hh_t", w_hh_t, h * h)?;
    let all = spec.series_offset + b;
    expect_len(OP, "h0", h0, all * h)?;
    expect_len(OP, "h_n", h_n, all * h)?;
    expect_len(OP, "out", out, all * t * spec.out_stride)?;
    let params = spec.words(OP, tile, None)?;
    rec.dispatch(
        Kernel::RnnSequence,
        &params,
        &[
            pre_x.buffer(),
            w_hh_t.buffer(),
            h0.buffer(),
            out.buffer(),
            h_n.buffer(),
        ],
        groups,
    )
}
