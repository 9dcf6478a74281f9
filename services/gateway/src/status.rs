//! Why a request failed, and the one mapping from that to the gRPC status a client sees.

use std::time::Duration;

use rdkafka::error::KafkaError;
use tonic::{Code, Status};

/// Everything a gateway handler can fail at. Handlers return it and the service trait turns it
/// into a [`Status`] through [`status_of`], the only place the gateway chooses a gRPC code.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// A request field is malformed; `field` names it as the request spells it
    /// (`series_ids[3]`, `history.values[0]`).
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("series {0:?} has no forecast")]
    NoForecast(String),
    /// An ad-hoc forecast without history, of a series this gateway has no observations of.
    #[error("series {0:?} has no observations here; send its history")]
    NoObservations(String),
    /// `field` is the request field that names the model (`model`, `name`).
    #[error("{field}: unknown model {name:?}")]
    UnknownModel { field: &'static str, name: String },
    #[error("{field}: the engine has no default model")]
    NoDefaultModel { field: &'static str },
    #[error(
        "version: model {model:?} has no version {version:?} on the engine (it serves {served:?})"
    )]
    UnknownVersion {
        model: String,
        version: String,
        served: String,
    },
    /// Until the forecasts topic's backlog is read, an absent series may only be not read yet.
    #[error("the gateway is still reading the forecasts topic; retry shortly")]
    Loading,
    /// Every request slot is taken; the request is shed at once rather than queued.
    #[error("gateway overloaded: {max_concurrent} requests in progress; retry with backoff")]
    Overloaded { max_concurrent: usize },
    #[error("gateway at its limit of {max_watchers} Watch streams")]
    TooManyWatchers { max_watchers: usize },
    #[error("deadline of {0:?} expired")]
    DeadlineExceeded(Duration),
    /// An admin RPC whose bearer token is missing or malformed: the caller did not say who it is.
    #[error("admin RPC: {0}")]
    Unauthenticated(&'static str),
    /// An admin RPC with a well-formed but wrong token: the caller said who it is, and may not.
    #[error("admin RPC: wrong bearer token")]
    WrongToken,
    #[error("history: is required; this gateway keeps no series history (history_window = 0)")]
    HistoryNotKept,
    /// The engine answered with a version other than the one activated here.
    #[error(
        "model {model:?}: the engine served version {served:?} but {active:?} is active here; activate the served version or roll back"
    )]
    VersionMismatch {
        model: String,
        served: String,
        active: String,
    },
    #[error("name: model {0:?} has no previous version to roll back to")]
    NoPreviousVersion(String),
    /// The producer refused an observation before queueing it.
    #[error("kafka: {0}")]
    Kafka(KafkaError),
    /// Kafka did not acknowledge an observation; `written` were acknowledged before it.
    #[error("kafka did not take an observation: {error} ({written} before it were written)")]
    NotDelivered { error: KafkaError, written: u64 },
    #[error("kafka producer went away")]
    ProducerGone,
    /// The engine is down or unreachable.
    #[error("engine unavailable ({call}): {message}")]
    EngineUnavailable { call: &'static str, message: String },
    /// The engine judged the request (a bad field, an unknown model, a full queue): its code and
    /// message go to the client unchanged.
    #[error("{message}")]
    EngineRejected { code: Code, message: String },
    /// The engine failed in a way that says nothing about the request (INTERNAL, ...).
    #[error("engine {call}: {message}")]
    EngineFailed {
        call: &'static str,
        code: Code,
        message: String,
    },
    /// The request stream itself failed (the client went away, a message did not decode), as
    /// tonic reported it.
    #[error("{}", .0.message())]
    Stream(Status),
    #[error("{0}")]
    Internal(String),
}

impl RequestError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        RequestError::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The failure of engine call `call` that answered `code`: UNAVAILABLE, and UNKNOWN and
    /// CANCELLED (what tonic answers when it cannot reach it), mean the engine is down; the
    /// codes of a judgement of the request are the engine's to give.
    pub(crate) fn engine(call: &'static str, code: Code, message: impl Into<String>) -> Self {
        let message = message.into();
        match code {
            Code::InvalidArgument
            | Code::NotFound
            | Code::ResourceExhausted
            | Code::DeadlineExceeded
            | Code::FailedPrecondition => RequestError::EngineRejected { code, message },
            Code::Unavailable | Code::Unknown | Code::Cancelled => {
                RequestError::EngineUnavailable { call, message }
            }
            code => RequestError::EngineFailed {
                call,
                code,
                message,
            },
        }
    }
}

/// The gRPC status of a request failure: the only mapping from failures to status codes.
///
/// A wrong request is INVALID_ARGUMENT; what it names and is not there NOT_FOUND; a gateway
/// still loading, a down engine or Kafka UNAVAILABLE; shed load RESOURCE_EXHAUSTED; a request
/// that cannot be served in the current state (no history kept, another version active, nothing
/// to roll back to) FAILED_PRECONDITION. The message is the error's.
pub fn status_of(err: &RequestError) -> Status {
    let code = match err {
        RequestError::InvalidArgument { .. } => Code::InvalidArgument,
        RequestError::NoForecast(_)
        | RequestError::NoObservations(_)
        | RequestError::UnknownModel { .. }
        | RequestError::NoDefaultModel { .. }
        | RequestError::UnknownVersion { .. } => Code::NotFound,
        RequestError::Loading
        | RequestError::Kafka(_)
        | RequestError::NotDelivered { .. }
        | RequestError::ProducerGone
        | RequestError::EngineUnavailable { .. } => Code::Unavailable,
        RequestError::Overloaded { .. } | RequestError::TooManyWatchers { .. } => {
            Code::ResourceExhausted
        }
        RequestError::DeadlineExceeded(_) => Code::DeadlineExceeded,
        RequestError::Unauthenticated(_) => Code::Unauthenticated,
        RequestError::WrongToken => Code::PermissionDenied,
        RequestError::HistoryNotKept
        | RequestError::VersionMismatch { .. }
        | RequestError::NoPreviousVersion(_) => Code::FailedPrecondition,
        RequestError::EngineRejected { code, .. } | RequestError::EngineFailed { code, .. } => {
            *code
        }
        RequestError::Stream(s) => return s.clone(),
        RequestError::Internal(_) => Code::Internal,
    };
    Status::new(code, err.to_string())
}

impl From<RequestError> for Status {
    fn from(err: RequestError) -> Status {
        status_of(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let kafka = || KafkaError::Canceled;
        let cases = [
            (
                RequestError::invalid("series_ids[3]", "is empty"),
                Code::InvalidArgument,
                "series_ids[3]: is empty",
            ),
            (
                RequestError::NoForecast("a".into()),
                Code::NotFound,
                "series \"a\" has no forecast",
            ),
            (
                RequestError::NoObservations("a".into()),
                Code::NotFound,
                "series \"a\" has no observations here; send its history",
            ),
            (
                RequestError::UnknownModel {
                    field: "model",
                    name: "x".into(),
                },
                Code::NotFound,
                "model: unknown model \"x\"",
            ),
            (
                RequestError::NoDefaultModel { field: "model" },
                Code::NotFound,
                "model: the engine has no default model",
            ),
            (
                RequestError::UnknownVersion {
                    model: "m".into(),
                    version: "v2".into(),
                    served: "v1".into(),
                },
                Code::NotFound,
                "version: model \"m\" has no version \"v2\" on the engine (it serves \"v1\")",
            ),
            (
                RequestError::Loading,
                Code::Unavailable,
                "the gateway is still reading the forecasts topic; retry shortly",
            ),
            (
                RequestError::Overloaded { max_concurrent: 4 },
                Code::ResourceExhausted,
                "gateway overloaded: 4 requests in progress; retry with backoff",
            ),
            (
                RequestError::TooManyWatchers { max_watchers: 2 },
                Code::ResourceExhausted,
                "gateway at its limit of 2 Watch streams",
            ),
            (
                RequestError::DeadlineExceeded(Duration::from_millis(100)),
                Code::DeadlineExceeded,
                "deadline of 100ms expired",
            ),
            (
                RequestError::Unauthenticated("empty bearer token"),
                Code::Unauthenticated,
                "admin RPC: empty bearer token",
            ),
            (
                RequestError::WrongToken,
                Code::PermissionDenied,
                "admin RPC: wrong bearer token",
            ),
            (
                RequestError::HistoryNotKept,
                Code::FailedPrecondition,
                "history: is required; this gateway keeps no series history (history_window = 0)",
            ),
            (
                RequestError::VersionMismatch {
                    model: "m".into(),
                    served: "v2".into(),
                    active: "v1".into(),
                },
                Code::FailedPrecondition,
                "model \"m\": the engine served version \"v2\" but \"v1\" is active here; activate the served version or roll back",
            ),
            (
                RequestError::NoPreviousVersion("m".into()),
                Code::FailedPrecondition,
                "name: model \"m\" has no previous version to roll back to",
            ),
            (
                RequestError::Kafka(kafka()),
                Code::Unavailable,
                "kafka: KafkaError (Client dropped)",
            ),
            (
                RequestError::NotDelivered {
                    error: kafka(),
                    written: 3,
                },
                Code::Unavailable,
                "kafka did not take an observation: KafkaError (Client dropped) (3 before it were written)",
            ),
            (
                RequestError::ProducerGone,
                Code::Unavailable,
                "kafka producer went away",
            ),
            (
                RequestError::engine("Forecast", Code::Unavailable, "connection refused"),
                Code::Unavailable,
                "engine unavailable (Forecast): connection refused",
            ),
            (
                RequestError::engine("ListModels", Code::Unknown, "transport error"),
                Code::Unavailable,
                "engine unavailable (ListModels): transport error",
            ),
            (
                RequestError::engine("Forecast", Code::InvalidArgument, "horizon: too long"),
                Code::InvalidArgument,
                "horizon: too long",
            ),
            (
                RequestError::engine("Forecast", Code::ResourceExhausted, "engine busy"),
                Code::ResourceExhausted,
                "engine busy",
            ),
            (
                RequestError::engine("Forecast", Code::Internal, "gpu"),
                Code::Internal,
                "engine Forecast: gpu",
            ),
            (
                RequestError::Stream(Status::cancelled("client went away")),
                Code::Cancelled,
                "client went away",
            ),
            (
                RequestError::Internal("engine answered without a forecast".into()),
                Code::Internal,
                "engine answered without a forecast",
            ),
        ];
        for (err, code, message) in cases {
            let status = status_of(&err);
            assert_eq!(status.code(), code, "{err}");
            assert_eq!(status.message(), message);
            assert_eq!(status.message(), err.to_string());
        }
    }
}
