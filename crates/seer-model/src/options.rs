//! What a caller may ask of one `Model::predict` call. Its own module because both the model
//! and the nets that read it (DeepAR's sampling seed) depend on it.

/// Per-request choices; `None` means the model's own default.
#[derive(Debug, Clone, Default)]
pub struct PredictOptions {
    pub horizon: Option<usize>,
    pub quantiles: Option<Vec<f64>>,
    pub num_samples: Option<usize>,
    pub return_samples: bool,
    pub seed: u64,
}
