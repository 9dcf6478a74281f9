//! Host-side wrappers that validate shapes and record one kernel dispatch each.

mod conv;
mod conv_backward;
mod decode;
mod elementwise;
mod gemm;
mod heads;
mod loss;
mod optim;
mod recurrent;
mod recurrent_backward;
mod softmax;

pub use conv::{Conv1dSpec, conv1d_causal};
pub use conv_backward::{conv1d_backward_input, conv1d_backward_weight};
pub use decode::{MAX_LEVELS, assemble_lags, quantile_feedback, repeat_rows};
pub use elementwise::{accumulate, add_relu, axpy, relu_backward, transpose};
pub use gemm::{Activation, GemmSpec, Mat, add_bias, gemm, linear, matmul};
pub use heads::{Distribution, SampleSpec, distribution_params, sample_step};
pub use loss::{
    likelihood_loss, mse_loss, quantile_loss, softmax_cross_entropy, special_functions, sum_rows,
};
pub use optim::{
    AdamConfig, MAX_PARTIALS, STATE_LEN, StepState, adam_step, clip_and_adam, clip_scale,
    norm_chunk, sum_squares_partial,
};
pub use recurrent::{PAIRS_PER_GROUP, RecurrentSpec, lstm_sequence, rnn_sequence};
pub use recurrent_backward::{BackwardSpec, lstm_backward, rnn_backward, shift_states};
pub use softmax::softmax;

use crate::error::GpuError;
use crate::tensor::Tensor;

pub(crate) fn expect_len(
    op: &'static str,
    what: &str,
    t: &Tensor,
    n: usize,
) -> Result<(), GpuError> {
    if t.len() < n {
        return Err(GpuError::shape(
            op,
            format!(
                "{what} holds {} values, needs {n} (shape {:?})",
                t.len(),
                t.shape()
            ),
        ));
    }
    Ok(())
}

pub(crate) fn u32_of(op: &'static str, v: usize) -> Result<u32, GpuError> {
    u32::try_from(v).map_err(|_| GpuError::shape(op, format!("size {v} exceeds u32")))
}
