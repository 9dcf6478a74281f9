//! The GPU engine: the `seer.v1.Engine` gRPC service. It serves the checkpoints of a models
//! directory plus the built-in seasonal naive ([`ModelRegistry`]), forecasts batches of series
//! windows on the GPU ([`EngineService`]), and runs with grpc.health.v1 and server reflection
//! until a cancellation token fires ([`serve`]).

mod config;
mod error;
mod follow;
mod metrics;
mod registry;
mod server;
mod service;

pub use config::{DEFAULTS, EngineConfig};
pub use error::{EngineError, status_of};
pub use follow::{follow_models, reconcile};
pub use metrics::EngineMetrics;
pub use registry::{
    BUILTIN_VERSION, Backend, DEFAULT_LEVELS, ModelRegistry, NAIVE_DEFAULT_HORIZON, SEASONAL_NAIVE,
    ServedModel, load_checkpoint, served_from_bytes,
};
pub use server::{MAX_MESSAGE_BYTES, serve, serve_service, serve_with_context, warm_up};
pub use service::{EngineService, MAX_SAMPLE_PATHS};
