/// What stops the trainer; input problems (a bad observation, a bad forecast) never do.
#[derive(Debug, thiserror::Error)]
pub enum TrainerError {
    #[error("config: {0}")]
    Config(String),
    #[error("model {model}: {message}")]
    Model { model: String, message: String },
    #[error(transparent)]
    Runtime(#[from] seer_runtime::RuntimeError),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("gpu: {0}")]
    Gpu(#[from] seer_gpu::GpuError),
    #[error("task: {0}")]
    Task(String),
}
