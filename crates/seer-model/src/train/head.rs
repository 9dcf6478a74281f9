//! The `nn.Linear` head every trainable model ends in, over the flat parameter store: forward,
//! and backward into the store's gradients plus the input gradient.

use seer_gpu::ops::{self, Mat};
use seer_gpu::{Recorder, Tensor};

use crate::error::ModelError;
use crate::train::params::ParamStore;

pub(crate) struct Head {
    weight: usize,
    bias: usize,
    pub inputs: usize,
    pub outputs: usize,
}

/// Where the input gradient goes: element (r, c) at `offset + r·row_stride + c·col_stride`.
pub(crate) struct Target<'a> {
    pub tensor: &'a Tensor,
    pub offset: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl Head {
    /// The head whose tensors are `{prefix}.weight` [out, in] and `{prefix}.bias` [out].
    pub fn new(store: &ParamStore, prefix: &str) -> Result<Self, ModelError> {
        let w = store.slot(&format!("{prefix}.weight"))?;
        let (outputs, inputs) = (w.shape[0], w.shape[1]);
        Ok(Head {
            weight: w.offset,
            bias: store.offset(&format!("{prefix}.bias"))?,
            inputs,
            outputs,
        })
    }

    fn w<'a>(&self, store: &'a ParamStore) -> Mat<'a> {
        Mat::rm(&store.params, self.weight, self.outputs, self.inputs)
    }

    /// raw [rows, out] = x · Wᵀ + b for the rows of the view `x` [rows, in].
    pub fn forward(
        &self,
        rec: &mut Recorder<'_>,
        store: &ParamStore,
        x: Mat<'_>,
    ) -> Result<Tensor, ModelError> {
        let raw = rec.ctx().zeros(&[x.rows, self.outputs])?;
        ops::matmul(
            rec,
            x,
            self.w(store).t(),
            Some((&store.params, self.bias)),
            &raw,
            0,
            self.outputs,
            false,
        )?;
        Ok(raw)
    }

    /// dW = d_rawᵀ · x and db = d_rawᵀ · 1 into the store's gradients; d_raw · W into `dx`.
    pub fn backward(
        &self,
        rec: &mut Recorder<'_>,
        store: &ParamStore,
        x: Mat<'_>,
        d_raw: &Tensor,
        dx: Option<Target<'_>>,
    ) -> Result<(), ModelError> {
        let rows = x.rows;
        let ones = rec.ctx().upload(&vec![1.0; rows], &[rows, 1])?;
        let d_raw_t = Mat::rm(d_raw, 0, rows, self.outputs).t();
        ops::matmul(
            rec,
            d_raw_t,
            x,
            None,
            &store.grads,
            self.weight,
            self.inputs,
            false,
        )?;
        ops::matmul(
            rec,
            d_raw_t,
            Mat::rm(&ones, 0, rows, 1),
            None,
            &store.grads,
            self.bias,
            1,
            false,
        )?;
        if let Some(t) = dx {
            let spec = ops::GemmSpec {
                m: rows,
                n: self.inputs,
                k: self.outputs,
                a_row_stride: self.outputs,
                a_col_stride: 1,
                b_row_stride: self.inputs,
                b_col_stride: 1,
                c_row_stride: t.row_stride,
                c_offset: t.offset,
                activation: ops::Activation::Identity,
                accumulate: false,
                a_offset: 0,
                b_offset: self.weight,
                bias_offset: 0,
                c_col_stride: t.col_stride,
            };
            ops::gemm(rec, &spec, d_raw, &store.params, None, t.tensor)?;
        }
        Ok(())
    }
}
