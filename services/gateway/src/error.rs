/// What can stop the gateway from starting or serving; a request's failures are
/// [`RequestError`](crate::status::RequestError)s.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("invalid gateway config: {0}")]
    Config(String),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("engine endpoint {endpoint}: {message}")]
    Engine { endpoint: String, message: String },
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error(transparent)]
    Runtime(#[from] seer_runtime::RuntimeError),
    #[error(transparent)]
    Core(#[from] seer_core::CoreError),
}
