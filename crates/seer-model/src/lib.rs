//! seer's models on the GPU: checkpoints with PyTorch-compatible tensors, preprocessing, and
//! forward inference for every model type (docs/models.md).

pub mod checkpoint;
pub mod config;
mod deepar;
mod error;
pub mod forecast;
pub mod layers;
mod model;
mod other;
pub mod prepare;
mod quantile;
pub mod train;

pub use config::{ModelConfig, ModelKind};
pub use error::ModelError;
pub use forecast::{Classification, Forecast, GapFill, Prediction};
pub use model::{MAX_HORIZON, MAX_PATHS, Model, PredictOptions};
pub use prepare::History;
