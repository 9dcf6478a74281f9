//! All trainable tensors of a model in one flat device buffer (with its gradient and Adam
//! moments alongside), so clipping and the optimiser are one dispatch each. Layers address
//! their tensors by offset.

use seer_gpu::{GpuContext, Tensor};

use crate::checkpoint::Weights;
use crate::error::ModelError;

#[derive(Debug, Clone)]
pub struct Slot {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
    pub len: usize,
}

pub struct ParamStore {
    pub slots: Vec<Slot>,
    pub len: usize,
    pub params: Tensor,
    pub grads: Tensor,
    pub m: Tensor,
    pub v: Tensor,
    /// [global grad norm, clip factor, 1 = step applied / 0 = skipped, reserved]
    pub state: Tensor,
    /// The step's summed loss.
    pub loss: Tensor,
}

impl ParamStore {
    pub fn new(ctx: &GpuContext, weights: &Weights) -> Result<Self, ModelError> {
        let mut slots = Vec::new();
        let mut flat = Vec::new();
        for name in weights.names() {
            let shape = weights.shape(name).unwrap_or_default().to_vec();
            let values = weights.get(name)?;
            slots.push(Slot {
                name: name.to_string(),
                shape,
                offset: flat.len(),
                len: values.len(),
            });
            flat.extend_from_slice(values);
        }
        let len = flat.len();
        Ok(ParamStore {
            slots,
            len,
            params: ctx.upload(&flat, &[len])?,
            grads: ctx.zeros(&[len])?,
            m: ctx.zeros(&[len])?,
            v: ctx.zeros(&[len])?,
            state: ctx.zeros(&[4])?,
            loss: ctx.zeros(&[1])?,
        })
    }

    pub fn slot(&self, name: &str) -> Result<&Slot, ModelError> {
        self.slots
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| ModelError::Tensor {
                name: name.to_string(),
                message: "missing from the parameter store".into(),
            })
    }

    pub fn offset(&self, name: &str) -> Result<usize, ModelError> {
        Ok(self.slot(name)?.offset)
    }

    /// The current parameters as checkpoint weights.
    pub fn to_weights(&self, ctx: &GpuContext) -> Result<Weights, ModelError> {
        let flat = ctx.read(&self.params)?;
        let mut w = Weights::default();
        for s in &self.slots {
            w.insert(
                s.name.clone(),
                s.shape.clone(),
                flat[s.offset..s.offset + s.len].to_vec(),
            );
        }
        Ok(w)
    }

    /// Overwrites the parameters (restoring the best epoch after early stopping).
    pub fn load(&self, ctx: &GpuContext, weights: &Weights) -> Result<(), ModelError> {
        let mut flat = vec![0.0f32; self.len];
        for s in &self.slots {
            flat[s.offset..s.offset + s.len].copy_from_slice(weights.get(&s.name)?);
        }
        ctx.write(&self.params, 0, &flat)?;
        Ok(())
    }
}
