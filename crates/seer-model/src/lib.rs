//! seer's models on the GPU: checkpoints with PyTorch-compatible tensors, preprocessing, forward
//! inference for every model type (docs/models.md), training, and rolling-origin backtests
//! against simple baselines (docs/metrics.md).

pub mod backtest;
pub mod checkpoint;
mod classifier;
pub mod config;
pub mod covariates;
mod deepar;
mod error;
pub mod forecast;
mod gapfill;
pub mod layers;
mod model;
mod options;
pub mod prepare;
mod quantile;
mod tcn;
pub mod train;

pub use config::{ModelConfig, ModelKind};
pub use covariates::{Covariate, CovariateKind};
pub use error::ModelError;
pub use forecast::{Classification, Forecast, GapFill, Prediction};
pub use model::{MAX_HORIZON, MAX_PATHS, Model};
pub use options::PredictOptions;
pub use prepare::History;
/// ModelConfig::freq's type, so that callers need not name seer-core for it.
pub use seer_core::time::Frequency;
