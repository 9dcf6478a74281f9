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
    /// A transaction could not commit (exactly_once): the ingest stops, and a restart resumes
    /// from the last committed offsets.
    #[error("kafka transaction: {0}")]
    Transaction(String),
}
