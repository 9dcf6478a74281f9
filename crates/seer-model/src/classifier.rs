//! The window classifier: an LSTM over the scaled context whose last hidden state gives class
//! probabilities through a softmax (docs/models.md).

use seer_gpu::ops;
use seer_gpu::{GpuContext, Recorder};

use crate::checkpoint::Weights;
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::forecast::{Classification, Prediction};
use crate::layers::{Cell, LinearLayer, RecurrentStack};
use crate::prepare::Context;
use crate::quantile::project_rows;

pub(crate) struct ClassifierNet {
    rnn: RecurrentStack,
    proj: LinearLayer,
}

impl ClassifierNet {
    pub fn load(ctx: &GpuContext, c: &ModelConfig, w: &Weights) -> Result<Self, ModelError> {
        Ok(ClassifierNet {
            rnn: RecurrentStack::load(ctx, w, "rnn.", Cell::Lstm, c.num_layers, false)?,
            proj: LinearLayer::load(ctx, w, "proj")?,
        })
    }

    pub fn classify(
        &self,
        ctx: &GpuContext,
        c: &ModelConfig,
        contexts: &[Context],
    ) -> Result<Vec<Prediction>, ModelError> {
        let b = contexts.len();
        if b == 0 {
            return Ok(Vec::new());
        }
        let t = c.context_length;
        let k = c.classes.len();
        let x: Vec<f32> = contexts
            .iter()
            .flat_map(|x| x.scaled())
            .map(|v| v as f32)
            .collect();
        let x = ctx.upload(&x, &[b * t, 1])?;
        let mut rec = Recorder::new(ctx);
        let hs = self.rnn.forward(&mut rec, &x, b, t, None, None)?;
        let h = self.rnn.hidden;
        let logits = project_rows(&mut rec, &self.proj, &hs, b, t * h, (t - 1) * h)?;
        let probs = ctx.zeros(&[b, k])?;
        ops::softmax(&mut rec, b, k, &logits, &probs)?;
        rec.submit()?;
        let probs = ctx.read(&probs)?;
        Ok(contexts
            .iter()
            .enumerate()
            .map(|(i, x)| {
                Prediction::Classification(Classification {
                    id: x.id.clone(),
                    probabilities: c
                        .classes
                        .iter()
                        .cloned()
                        .zip(probs[i * k..(i + 1) * k].iter().map(|&p| p as f64))
                        .collect(),
                })
            })
            .collect())
    }
}
