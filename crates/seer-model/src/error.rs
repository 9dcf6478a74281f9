use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("{path}: invalid config: {message}")]
    Config { path: String, message: String },
    #[error("invalid model config: {0}")]
    Invalid(String),
    #[error("checkpoint tensor {name}: {message}")]
    Tensor { name: String, message: String },
    #[error("series {id:?}: {message}")]
    Series { id: String, message: String },
    #[error("{0}")]
    Request(String),
    #[error(transparent)]
    Gpu(#[from] seer_gpu::GpuError),
    #[error(transparent)]
    Core(#[from] seer_core::CoreError),
}

impl ModelError {
    pub(crate) fn series(id: &str, message: impl Into<String>) -> Self {
        ModelError::Series {
            id: id.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ModelError::Invalid(message.into())
    }
}
