//! `seer ingest`: consumes observations from Kafka, keeps a window per series for the partitions
//! it owns, batches the series that are due, asks an engine for their forecasts over gRPC, and
//! publishes forecasts (and dead letters) back to Kafka, storing a partition's offset only when
//! every message up to it is finished (at-least-once: a crash re-forecasts, never skips).
//!
//! [`IngestState`] is the whole of that logic without Kafka (decode, place, due, batch, commit
//! position); [`run`] is the Kafka shell around it.

mod config;
mod metrics;
mod shell;
mod state;

pub use config::{DEFAULTS, IngestConfig};
pub use metrics::IngestMetrics;
pub use shell::run;
pub use state::{Batch, InFlight, Incoming, IngestState};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A configuration value the ingest cannot run with; `.0` is its key.
    #[error("{0}: {1}")]
    Config(&'static str, String),
    #[error("engine endpoint {endpoint}: {message}")]
    Engine { endpoint: String, message: String },
    #[error(transparent)]
    Core(#[from] seer_core::CoreError),
}
