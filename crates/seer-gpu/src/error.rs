use thiserror::Error;

#[derive(Debug, Error)]
pub enum GpuError {
    #[error("{0}")]
    NoAdapter(String),
    #[error("invalid SEER_ADAPTER value {0:?}: expected auto, gpu, cpu or software")]
    BadAdapterChoice(String),
    #[error("cannot open device on adapter {adapter}: {message}")]
    RequestDevice { adapter: String, message: String },
    #[error("shader {shader}: {message}")]
    Shader {
        shader: &'static str,
        message: String,
    },
    #[error("kernel {kernel}: {message}")]
    Pipeline {
        kernel: &'static str,
        message: String,
    },
    #[error("{op}: {message}")]
    Shape { op: &'static str, message: String },
    #[error("gpu execution failed: {0}")]
    Execution(String),
    #[error("reading back a buffer failed: {0}")]
    Readback(String),
}

impl GpuError {
    pub(crate) fn shape(op: &'static str, message: impl Into<String>) -> Self {
        GpuError::Shape {
            op,
            message: message.into(),
        }
    }
}
