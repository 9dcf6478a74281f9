//! The optimizer step on the flat parameter buffer: global gradient norm, clipping and the skip
//! decision on the GPU (`state`), then AdamW. Nothing is read back; the caller reads `state`
//! whenever it wants to log the norm or count skipped steps.

use crate::error::GpuError;
use crate::kernels::Kernel;
use crate::ops::elementwise::expect_distinct;
use crate::ops::{expect_len, u32_of};
use crate::recorder::Recorder;
use crate::recorder::{LINEAR_GROUP, linear_grid};
use crate::tensor::Tensor;

/// Words of the `state` buffer that `clip_scale` writes and `adam_step` reads.
pub const STATE_LEN: usize = 4;

/// Upper bound on the partial sums `clip_and_adam` reduces in its single-thread pass.
pub const MAX_PARTIALS: usize = 1024;

/// AdamW hyper-parameters (PyTorch's `torch.optim.AdamW` semantics, decoupled weight decay).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// Global gradient-norm clip (`clip_grad_norm_`); 0 disables clipping.
    pub max_norm: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            max_norm: 0.0,
        }
    }
}

impl AdamConfig {
    fn validate(&self, op: &'static str) -> Result<(), GpuError> {
        let ok = self.lr.is_finite()
            && self.lr >= 0.0
            && (0.0..1.0).contains(&self.beta1)
            && (0.0..1.0).contains(&self.beta2)
            && self.eps.is_finite()
            && self.eps > 0.0
            && self.weight_decay.is_finite()
            && self.weight_decay >= 0.0
            && self.max_norm.is_finite()
            && self.max_norm >= 0.0;
        if ok {
            Ok(())
        } else {
            Err(GpuError::shape(
                op,
                format!(
                    "invalid Adam config {self:?}: need lr, eps, weight_decay, max_norm finite \
                     and ≥ 0 (eps > 0) and betas in [0, 1)"
                ),
            ))
        }
    }

    /// (1 − β1^t, 1 − β2^t) for the 1-based step t, as f32.
    pub fn bias_corrections(&self, step: u64) -> (f32, f32) {
        let t = step as f64;
        (
            (1.0 - (self.beta1 as f64).powf(t)) as f32,
            (1.0 - (self.beta2 as f64).powf(t)) as f32,
        )
    }
}

/// The `state` buffer decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepState {
    /// Global L2 norm of the unclipped gradients (NaN or Inf when they were not finite).
    pub grad_norm: f32,
    /// Factor the gradients were multiplied by (0 for a skipped step).
    pub scale: f32,
    /// False when the norm or the loss was not finite and params, m and v were left untouched.
    pub applied: bool,
}

impl StepState {
    pub fn from_words(state: &[f32]) -> Option<StepState> {
        (state.len() >= STATE_LEN).then(|| StepState {
            grad_norm: state[0],
            scale: state[1],
            applied: state[2] != 0.0,
        })
    }
}

/// Elements per `sum_squares_partial` workgroup that `clip_and_adam` uses for `n` gradients: a
/// multiple of 256, so that at most `MAX_PARTIALS` partial sums remain. Depends on `n` only, so
/// the reduction order (and the result, bit for bit) is the same on every device.
pub fn norm_chunk(n: usize) -> usize {
    let g = LINEAR_GROUP as usize;
    n.div_ceil(MAX_PARTIALS).div_ceil(g).max(1) * g
}

fn pad8(words: &[u32]) -> [u32; 8] {
    let mut out = [0; 8];
    out[..words.len()].copy_from_slice(words);
    out
}

/// partial[g] = Σ grads[g·chunk .. min((g+1)·chunk, n)]², one workgroup per chunk, fixed order.
/// `partial` needs ⌈n / chunk⌉ elements.
pub fn sum_squares_partial(
    rec: &mut Recorder<'_>,
    n: usize,
    chunk: usize,
    grads: &Tensor,
    partial: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "sum_squares_partial";
    if chunk == 0 {
        return Err(GpuError::shape(OP, "chunk must be at least 1"));
    }
    let groups = n.div_ceil(chunk);
    expect_len(OP, "grads", grads, n)?;
    expect_len(OP, "partial", partial, groups)?;
    expect_distinct(OP, &[("grads", grads), ("partial", partial)])?;
    if groups == 0 {
        return Ok(());
    }
    let params = pad8(&[u32_of(OP, n)?, u32_of(OP, chunk)?]);
    rec.dispatch(
        Kernel::SumSquaresPartial,
        &params,
        &[grads.buffer(), partial.buffer()],
        linear_grid(groups * LINEAR_GROUP as usize),
    )
}

/// One thread: norm = √Σ partial, then state = [norm, scale, applied, 0] with
/// scale = min(1, max_norm / (norm + 1e-6)) (1 when `max_norm` is 0) and applied = 1 when both
/// the norm and loss[0] are finite (otherwise applied = 0 and scale = 0).
pub fn clip_scale(
    rec: &mut Recorder<'_>,
    partials: usize,
    max_norm: f32,
    partial: &Tensor,
    loss: &Tensor,
    state: &Tensor,
) -> Result<(), GpuError> {
    const OP: &str = "clip_scale";
    if !(max_norm.is_finite() && max_norm >= 0.0) {
        return Err(GpuError::shape(
            OP,
            format!("max_norm {max_norm} must be finite and ≥ 0"),
        ));
    }
    expect_len(OP, "partial", partial, partials)?;
    expect_len(OP, "loss", loss, 1)?;
    expect_len(OP, "state", state, STATE_LEN)?;
    expect_distinct(
        OP,
        &[("partial", partial), ("loss", loss), ("state", state)],
    )?;
    let params = pad8(&[u32_of(OP, partials)?, max_norm.to_bits()]);
    rec.dispatch(
        Kernel::ClipScale,
        &params,
        &[partial.buffer(), loss.buffer(), state.buffer()],
        [1, 1, 1],
    )
}

/// AdamW on n elements with g = grads · state[1]; does nothing where state[2] == 0.
/// `step` is the 1-based step count t of the bias corrections.
pub fn adam_step(
    rec: &mut Recorder<'_>,
    n: usize,
    params: &Tensor,
    grads: &Tensor,
    m: &Tensor,
    v: &Tensor,
    state: &Tensor,
    config: &AdamConfig,
    step: u64,
) -> Result<(), GpuError> {
    const OP: &str = "adam_step";
    config.validate(OP)?;
    if step == 0 {
        return Err(GpuError::shape(OP, "step counts from 1"));
    }
    expect_len(OP, "params", params, n)?;
    expect_len(OP, "grads", grads, n)?;
    expect_len(OP, "m", m, n)?;
    expect_len(OP, "v", v, n)?;
    expect_len(OP, "state", state, STATE_LEN)?;
    expect_distinct(
        OP,
        &[
            ("params", params),
            ("grads", grads),
            ("m", m),
            ("v", v),
            ("state", state),
        ],
    )?;
    let (bc1, bc2) = config.bias_corrections(step);
    let words = [
        u32_of(OP, n)?,
        config.lr.to_bits(),
        config.beta1.to_bits(),
        config.beta2.to_bits(),
        config.eps.to_bits(),
        config.weight_decay.to_bits(),
        bc1.to_bits(),
        bc2.to_bits(),
    ];
    if n == 0 {
        return Ok(());
    }
    rec.dispatch(
        Kernel::AdamStep,
        &words,
        &[
            params.buffer(),
            grads.buffer(),
            m.buffer(),
            v.buffer(),
            state.buffer(),
        ],
        linear_grid(n),
    )
}

/// The whole optimizer step in three dispatches: partial sums of squares (into a scratch buffer
/// of at most `MAX_PARTIALS` values allocated here), `clip_scale` into `state`, `adam_step`.
/// `loss` holds the step's total loss in element 0; a non-finite loss or gradient norm skips the
/// step (state[2] = 0). All buffers must be distinct.
pub fn clip_and_adam(
    rec: &mut Recorder<'_>,
    n: usize,
    params: &Tensor,
    grads: &Tensor,
    m: &Tensor,
    v: &Tensor,
    loss: &Tensor,
    state: &Tensor,
    config: &AdamConfig,
    step: u64,
) -> Result<(), GpuError> {
    const OP: &str = "clip_and_adam";
    config.validate(OP)?;
    if step == 0 {
        return Err(GpuError::shape(OP, "step counts from 1"));
    }
    expect_len(OP, "params", params, n)?;
    expect_len(OP, "grads", grads, n)?;
    expect_len(OP, "m", m, n)?;
    expect_len(OP, "v", v, n)?;
    expect_len(OP, "loss", loss, 1)?;
    expect_len(OP, "state", state, STATE_LEN)?;
    expect_distinct(
        OP,
        &[
            ("params", params),
            ("grads", grads),
            ("m", m),
            ("v", v),
            ("loss", loss),
            ("state", state),
        ],
    )?;
    let chunk = norm_chunk(n);
    let partials = n.div_ceil(chunk);
    let partial = rec.ctx().zeros(&[partials.max(1)])?;
    sum_squares_partial(rec, n, chunk, grads, &partial)?;
    clip_scale(rec, partials, config.max_norm, &partial, loss, state)?;
    adam_step(rec, n, params, grads, m, v, state, config, step)
}
