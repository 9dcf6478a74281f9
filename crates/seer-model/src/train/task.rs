//! What the epoch loop asks of each model type's training problem, and the host batches it
//! passes between them.

use seer_core::rng::SplitMix64;

use crate::error::ModelError;
use crate::train::options::TrainOptions;
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
/// The part of each series training keeps out: its last `windows` horizons, which validation
/// and the held-out forecast score read. A series shorter than `2 · windows` horizons keeps
/// fewer (at least one), so it still trains on at least half of itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Holdout {
    pub horizon: usize,
    pub windows: usize,
}

impl Holdout {
    pub fn new(horizon: usize, opts: &TrainOptions) -> Holdout {
        Holdout {
            horizon: horizon.max(1),
            windows: opts.validation_windows.max(1),
        }
    }

    fn windows_of(&self, len: usize) -> usize {
        (len / (2 * self.horizon)).clamp(1, self.windows)
    }

    /// Points at the end of a series of `len` points that training never reads a target from.
    pub fn held(&self, len: usize) -> usize {
        self.horizon * self.windows_of(len)
    }

    /// Every series' validation windows, as (series, end) with `end` one past the window's last
    /// target, newest first per series; only ends above `min_end`.
    pub fn ends(&self, lens: impl Iterator<Item = usize>, min_end: usize) -> Vec<(usize, usize)> {
        lens.enumerate()
            .flat_map(|(s, len)| {
                (0..self.windows_of(len))
                    .map(move |j| (s, len - j * self.horizon))
                    .filter(move |&(_, end)| end > min_end)
            })
            .collect()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_held_out_part_is_the_last_horizons_and_short_series_keep_fewer() {
        let opts = TrainOptions {
            validation_windows: 3,
            ..TrainOptions::default()
        };
        let h = Holdout::new(4, &opts);
        assert_eq!(h.held(100), 12);
        assert_eq!(
            h.held(16),
            8,
            "16 points keep 2 horizons, half of themselves"
        );
        assert_eq!(h.held(5), 4, "at least one");
        assert_eq!(
            h.ends([100, 10, 7].into_iter(), 8),
            [(0, 100), (0, 96), (0, 92), (1, 10)]
        );
        let one = Holdout::new(4, &TrainOptions::default());
        assert_eq!(
            (one.held(100), one.ends([100].into_iter(), 8)),
            (4, vec![(0, 100)])
        );
    }
}
