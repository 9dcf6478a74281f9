/// Why the ingest cannot start or go on.
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
