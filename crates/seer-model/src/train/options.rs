//! The knobs of a training run. Its own module because every task reads it and the epoch loop
//! in `train` drives the tasks.

/// What picks the best epoch and drives early stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochScore {
    /// The loss on the held-out windows (teacher-forced for the autoregressive models).
    Loss,
    /// Forecasters: the mean weighted quantile loss of forecasts of each series' held-out last
    /// horizon, made as at inference (DeepAR: sampled paths). It scores what users get, where the
    /// teacher-forced loss can keep improving while multi-step forecasts get worse.
    Forecast,
}

#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub epochs: usize,
    pub steps_per_epoch: usize,
    pub batch_size: usize,
    pub learning_rate: f32,
    pub weight_decay: f32,
    /// Global gradient-norm clip (0: none).
    pub max_grad_norm: f32,
    /// Epochs without a better validation loss before stopping.
    pub patience: usize,
    pub seed: u64,
    /// Truncated BPTT length (0: full BPTT over the window).
    pub truncate: usize,
    /// Dropout between recurrent layers in training (DeepAR; `nn.LSTM(dropout=p)`), 0: none.
    /// GluonTS's DeepAR trains with 0.1, and without it its forecasts vary far more between
    /// seeds (BENCHMARKS.md, "DeepAR beside GluonTS").
    pub dropout: f32,
    pub epoch_score: EpochScore,
    /// Horizons at the end of each series held out of training (validation, the held-out
    /// forecast score, `seer train`'s baseline selection); a series shorter than twice that
    /// keeps fewer. Several give an epoch and a per-series choice read on more than one day of
    /// a weekly cycle.
    pub validation_windows: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 20,
            steps_per_epoch: 50,
            batch_size: 64,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            max_grad_norm: 10.0,
            patience: 5,
            seed: 0,
            truncate: 0,
            dropout: 0.0,
            epoch_score: EpochScore::Loss,
            validation_windows: 1,
        }
    }
}
