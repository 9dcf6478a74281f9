use std::time::Duration;

use seer_model::ModelError;
use tonic::{Code, Status};

/// Everything the engine can fail at: starting (models, GPU, metrics, transport) and serving a
/// request. [`status_of`] is the one place these become gRPC status codes.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A request field is malformed; `field` names it as the request spells it
    /// (`windows[3].freq_seconds`).
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("unknown model {0:?}")]
    UnknownModel(String),
    /// A request pinned a version this engine does not serve.
    #[error("model {model:?} version {version:?} is not served here (serving {serving:?})")]
    UnknownVersion {
        model: String,
        version: String,
        serving: String,
    },
    #[error(
        "engine busy: {max_concurrent} batches already running and no slot freed within {waited:?}"
    )]
    Overloaded {
        max_concurrent: usize,
        waited: Duration,
    },
    /// `Model::predict` failed for a batch.
    #[error("model {model}: {source}")]
    Predict {
        model: String,
        #[source]
        source: Box<ModelError>,
    },
    /// A forecast task died (panicked or was cancelled).
    #[error("forecast task failed: {0}")]
    Task(String),
    #[error("loading model {name:?} from {path}: {source}")]
    Load {
        name: String,
        path: String,
        #[source]
        source: Box<ModelError>,
    },
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("engine config: {0}")]
    Config(String),
    #[error(transparent)]
    Gpu(#[from] seer_gpu::GpuError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error(transparent)]
    Runtime(#[from] seer_runtime::RuntimeError),
    /// The warm-up forecast failed: the engine would fail every request like it.
    #[error("warm-up forecast of model {model:?} failed: {message}")]
    WarmUp { model: String, message: String },
}

impl EngineError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        EngineError::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The gRPC status of an engine error: the only mapping from errors to status codes.
///
/// Bad requests (a malformed field, a request the model rejects) are INVALID_ARGUMENT, an unknown
/// model NOT_FOUND, a full queue RESOURCE_EXHAUSTED; model, GPU and task failures are INTERNAL
/// with the error's message.
pub fn status_of(err: &EngineError) -> Status {
    let code = match err {
        EngineError::InvalidArgument { .. } => Code::InvalidArgument,
        EngineError::UnknownModel(_) | EngineError::UnknownVersion { .. } => Code::NotFound,
        EngineError::Overloaded { .. } => Code::ResourceExhausted,
        EngineError::Predict { source, .. } => match **source {
            ModelError::Request(_) | ModelError::Series { .. } => Code::InvalidArgument,
            _ => Code::Internal,
        },
        EngineError::Task(_)
        | EngineError::Load { .. }
        | EngineError::Io { .. }
        | EngineError::Config(_)
        | EngineError::Gpu(_)
        | EngineError::Metrics(_)
        | EngineError::Transport(_)
        | EngineError::Runtime(_)
        | EngineError::WarmUp { .. } => Code::Internal,
    };
    Status::new(code, err.to_string())
}

/// The `status` label of `seer_engine_requests_total`: the gRPC code in snake case.
pub(crate) fn code_label(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let cases = [
            (
                EngineError::invalid("horizon", "too long"),
                Code::InvalidArgument,
            ),
            (EngineError::UnknownModel("x".into()), Code::NotFound),
            (
                EngineError::UnknownVersion {
                    model: "m".into(),
                    version: "v1".into(),
                    serving: "v2".into(),
                },
                Code::NotFound,
            ),
            (
                EngineError::Overloaded {
                    max_concurrent: 2,
                    waited: Duration::from_secs(1),
                },
                Code::ResourceExhausted,
            ),
            (
                EngineError::Predict {
                    model: "m".into(),
                    source: Box::new(ModelError::Request("bad".into())),
                },
                Code::InvalidArgument,
            ),
            (
                EngineError::Predict {
                    model: "m".into(),
                    source: Box::new(ModelError::Invalid("broken".into())),
                },
                Code::Internal,
            ),
            (EngineError::Task("panicked".into()), Code::Internal),
        ];
        for (err, code) in cases {
            let status = status_of(&err);
            assert_eq!(status.code(), code, "{err}");
            assert_eq!(status.message(), err.to_string());
        }
        assert_eq!(
            status_of(&EngineError::invalid("windows[2].series_id", "is empty")).message(),
            "windows[2].series_id: is empty"
        );
    }
}
