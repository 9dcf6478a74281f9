//! `seer ingest`: consumes observations from Kafka, keeps a window per series for the partitions
//! it owns, batches the series that are due, asks an engine for their forecasts over gRPC, and
//! publishes forecasts (and dead letters) back to Kafka, storing a partition's offset only when
//! every message up to it is finished (at-least-once: a crash re-forecasts, never skips).

mod config;
mod metrics;
mod pipeline;

pub use config::IngestConfig;
pub use metrics::IngestMetrics;
pub use pipeline::run;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("invalid ingest config: {0}")]
    Config(String),
    #[error("engine endpoint {endpoint}: {message}")]
    Engine { endpoint: String, message: String },
    #[error(transparent)]
    Core(#[from] seer_core::CoreError),
}
