/// What can stop a service's shared machinery (TLS files, endpoints, the gRPC server).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("tls: {path}: {message}")]
    Tls { path: String, message: String },
    #[error("endpoint {endpoint}: {message}")]
    Endpoint { endpoint: String, message: String },
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("kafka unreachable: {0}")]
    Unreachable(String),
    #[error("topic {topic}: {message}")]
    Topic { topic: String, message: String },
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("grpc reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}
