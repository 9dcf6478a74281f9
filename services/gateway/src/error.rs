/// What can stop the gateway from starting or serving. Request failures are `tonic::Status`es
/// built where the request is judged (each names its field or cause); this enum is for the
/// process.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("invalid gateway config: {0}")]
    Config(String),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("engine endpoint {endpoint}: {message}")]
    Engine { endpoint: String, message: String },
    #[error("tls: {path}: {message}")]
    Tls { path: String, message: String },
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("grpc reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error(transparent)]
    Core(#[from] seer_core::CoreError),
}
