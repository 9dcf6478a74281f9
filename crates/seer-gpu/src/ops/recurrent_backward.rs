use crate::error::GpuError;
use crate::kernels::Kernel;
use crate::ops::{PAIRS_PER_GROUP, expect_len, u32_of};
use crate::recorder::Recorder;
use crate::recorder::linear_grid;
use crate::tensor::Tensor;

/// One direction of one recurrent layer, backwards through the whole sequence.
#[derive(Debug, Clone, Copy)]
pub struct BackwardSpec {
    pub batch: usize,
    pub steps: usize,
    pub hidden: usize,
    pub reverse: bool,
    /// Where this direction's h sits in the forward output rows.
    pub out_stride: usize,
    pub out_offset: usize,
    /// Where dL/dh_t sits in the upstream gradient rows.
    pub dout_stride: usize,
    pub dout_offset: usize,
    /// W_hh ([G·H, H], PyTorch layout) starts here in the flat parameter buffer.
    pub w_offset: usize,
    /// Truncated BPTT: cut the recurrent gradient every `truncate` steps (0: full BPTT).
    pub truncate: usize,
}

impl BackwardSpec {
    fn words(&self, op: &'static str) -> Result<([u32; 12], [u32; 3]), GpuError> {
        if self.hidden == 0 || self.hidden > PAIRS_PER_GROUP {
            return Err(GpuError::shape(
                op,
                format!(
                    "hidden size {} must be in 1..={PAIRS_PER_GROUP}",
                    self.hidden
                ),
            ));
        }
        let tile = (PAIRS_PER_GROUP / self.hidden).max(1);
        Ok((
            [
                u32_of(op, self.batch)?,
                u32_of(op, self.steps)?,
                u32_of(op, self.hidden)?,
                u32_of(op, tile)?,
                self.reverse as u32,
                u32_of(op, self.out_stride)?,
                u32_of(op, self.out_offset)?,
                u32_of(op, self.dout_stride)?,
                u32_of(op, self.dout_offset)?,
                u32_of(op, self.w_offset)?,
                u32_of(op, self.truncate)?,
                0,
            ],
            [u32_of(op, self.batch.div_ceil(tile))?, 1, 1],
        ))
    }
}

/// LSTM BPTT: from the saved gates [B, T, 5H] of the forward pass, the upstream gradients and
/// the gradients into the final states, writes the gate pre-activation gradients dz [B, T, 4H]
/// and the gradients into the initial states.
pub fn lstm_backward(
    rec: &mut Recorder<'_>,
    spec: &BackwardSpec,
    saved: &Tensor,
    c0: &Tensor,
    weights: &Tensor,
    d_out: &Tensor,
    dh_n: &Tensor,
    dc_n: &Tensor,
    dz: &Tensor,
    dh0: &Tensor,
    dc0: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "lstm_backward";
    let (words, groups) = spec.words(OP)?;
    let (b, t, h) = (spec.batch, spec.steps, spec.hidden);
    if spec.hidden * 4 * (PAIRS_PER_GROUP / spec.hidden).max(1) > 4 * PAIRS_PER_GROUP {
        return Err(GpuError::shape(
            OP,
            "tile of gate gradients exceeds workgroup memory",
        ));
    }
    expect_len(OP, "saved", saved, b * t * 5 * h)?;
    expect_len(OP, "weights", weights, spec.w_offset + 4 * h * h)?;
    expect_len(OP, "d_out", d_out, b * t * spec.dout_stride)?;
    for (name, x) in [
        ("c0", c0),
        ("dh_n", dh_n),
        ("dc_n", dc_n),
        ("dh0", dh0),
        ("dc0", dc0),
    ] {
        expect_len(OP, name, x, b * h)?;
    }
    expect_len(OP, "dz", dz, b * t * 4 * h)?;
    rec.dispatch(
        Kernel::LstmBackward,
        &words,
        &[
            saved.buffer(),
            c0.buffer(),
            weights.buffer(),
            d_out.buffer(),
            dh_n.buffer(),
            dc_n.buffer(),
            dz.buffer(),
            dh0.buffer(),
            dc0.buffer(),
        ],
        groups,
    )
}

/// Elman BPTT from the forward outputs h: writes dz [B, T, H] (gradient of tanh's input) and dh0.
pub fn rnn_backward(
    rec: &mut Recorder<'_>,
    spec: &BackwardSpec,
    out: &Tensor,
    weights: &Tensor,
    d_out: &Tensor,
    dh_n: &Tensor,
    dz: &Tensor,
    dh0: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "rnn_backward";
    let (words, groups) = spec.words(OP)?;
    let (b, t, h) = (spec.batch, spec.steps, spec.hidden);
    expect_len(OP, "out", out, b * t * spec.out_stride)?;
    expect_len(OP, "weights", weights, spec.w_offset + h * h)?;
    expect_len(OP, "d_out", d_out, b * t * spec.dout_stride)?;
    expect_len(OP, "dh_n", dh_n, b * h)?;
    expect_len(OP, "dh0", dh0, b * h)?;
    expect_len(OP, "dz", dz, b * t * h)?;
    rec.dispatch(
        Kernel::RnnBackward,
        &words,
        &[
            out.buffer(),
            weights.buffer(),
            d_out.buffer(),
            dh_n.buffer(),
            dz.buffer(),
            dh0.buffer(),
        ],
        groups,
    )
}

/// h_prev [B, T, H]: each step's previous state in the forward order (h0 first), the right-hand
/// operand of dW_hh = dzᵀ · h_prev.
pub fn shift_states(
    rec: &mut Recorder<'_>,
    spec: &BackwardSpec,
    out: &Tensor,
    h0: &Tensor,
    h_prev: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "shift_states";
    let (words, _) = spec.words(OP)?;
    let (b, t, h) = (spec.batch, spec.steps, spec.hidden);
    expect_len(OP, "out", out, b * t * spec.out_stride)?;
    expect_len(OP, "h0", h0, b * h)?;
    expect_len(OP, "h_prev", h_prev, b * t * h)?;
    rec.dispatch(
        Kernel::ShiftStates,
        &words,
        &[out.buffer(), h0.buffer(), h_prev.buffer()],
        linear_grid(b * t * h),
    )
}
