//! What the epoch loop asks of each model type's training problem, and the host batches it
//! passes between them.

use seer_core::rng::SplitMix64;

use crate::error::ModelError;
use crate::train::params::ParamStore;

/// One model type's training problem: how to sample batches and record a step.
pub(crate) trait Task {
    /// Records forward (and, when `train`, backward into `store.grads`) for a batch and writes
    /// the batch's mean loss into `store.loss`.
    fn record(
        &self,
        rec: &mut seer_gpu::Recorder<'_>,
        store: &ParamStore,
        batch: &Batch,
        train: bool,
    ) -> Result<(), ModelError>;
    fn sample(&self, rng: &mut SplitMix64, size: usize) -> Option<Batch>;
    /// Validation batches (deterministic), empty when no series has a held-out part.
    fn validation(&self, size: usize) -> Vec<Batch>;
}

/// Host arrays of one batch; what each holds is the task's business.
#[derive(Debug, Clone, Default)]
pub(crate) struct Batch {
    pub rows: usize,
    pub series: usize,
    pub x: Vec<f32>,
    pub target: Vec<f32>,
    pub mask: Vec<f32>,
    pub scale: Vec<f32>,
    pub index: Vec<usize>,
    pub windows: usize,
}

/// Validation batches: `push` appends series `s`'s window (or skips it); a batch closes every
/// `size` windows.
pub(crate) fn batched(
    size: usize,
    series: usize,
    mut push: impl FnMut(&mut Batch, usize),
) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut b = Batch::default();
    for s in 0..series {
        push(&mut b, s);
        if b.windows == size {
            out.push(std::mem::take(&mut b));
        }
    }
    if b.windows > 0 {
        out.push(b);
    }
    out
}
