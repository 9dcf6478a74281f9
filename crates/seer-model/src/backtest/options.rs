//! What a backtest is asked to do.

/// The defaults are `seer eval`'s.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestOptions {
    /// Steps each window forecasts: required for forecasters; the gap filler and the classifier
    /// ignore it (their windows are `context_length` points).
    pub horizon: Option<usize>,
    /// Rolling origins: the last `windows` non-overlapping windows of each series.
    pub windows: usize,
    /// Sample paths per window for sampling models (their CRPS is computed from them).
    pub samples: usize,
    /// Seeds DeepAR's sample paths and the points hidden from the gap filler.
    pub seed: u64,
    /// Windows of the last origin to keep with their forecasts, the first in series order
    /// (forecasters only; for a fan chart).
    pub examples: usize,
}

impl Default for BacktestOptions {
    fn default() -> Self {
        BacktestOptions {
            horizon: None,
            windows: 1,
            samples: 200,
            seed: 0,
            examples: 0,
        }
    }
}
