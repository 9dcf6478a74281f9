//! The GPU engine: the `seer.v1.Engine` gRPC service. It serves the checkpoints of a models
//! directory plus the built-in seasonal naive ([`ModelRegistry`]), forecasts batches of series
//! windows on the GPU ([`EngineService`]), and runs with grpc.health.v1 and server reflection
//! until a cancellation token fires ([`serve`]).

mod error;
mod metrics;
mod registry;
mod server;
mod service;

use std::path::PathBuf;
use std::time::Duration;

pub use error::{EngineError, status_of};
pub use metrics::EngineMetrics;
pub use registry::{
    BUILTIN_VERSION, Backend, DEFAULT_LEVELS, ModelRegistry, NAIVE_DEFAULT_HORIZON, SEASONAL_NAIVE,
    ServedModel, load_checkpoint, model_version,
};
pub use server::{MAX_MESSAGE_BYTES, serve, serve_service, serve_with_context};
pub use service::{EngineService, MAX_SAMPLE_PATHS, parse_grpc_timeout};

/// How an engine runs.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Directory whose subdirectories are checkpoints (`config.json` + `model.safetensors`),
    /// each served under its directory's name; `None` serves only `seasonal_naive`.
    pub models_dir: Option<PathBuf>,
    /// The model of requests that name none; `None`: the only forecasting checkpoint, or
    /// `seasonal_naive` when there is none.
    pub default_model: Option<String>,
    /// Batches on the GPU at once; a request that finds no slot waits up to `queue_timeout`.
    pub max_concurrent: usize,
    /// Longest wait for a GPU slot before RESOURCE_EXHAUSTED (shortened to 90% of the request's
    /// `grpc-timeout` when that is shorter).
    pub queue_timeout: Duration,
    /// A window whose last `context_length` points hold fewer than this fraction of observed
    /// values is forecast by `seasonal_naive` instead (cold start).
    pub min_observed_fraction: f64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            models_dir: None,
            default_model: None,
            max_concurrent: 2,
            queue_timeout: Duration::from_secs(1),
            min_observed_fraction: 0.5,
        }
    }
}

impl EngineConfig {
    pub fn validate(&self) -> Result<(), EngineError> {
        if self.max_concurrent == 0 {
            return Err(EngineError::Config(
                "max_concurrent must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_observed_fraction) {
            return Err(EngineError::Config(format!(
                "min_observed_fraction must be in [0, 1], got {}",
                self.min_observed_fraction
            )));
        }
        Ok(())
    }
}
