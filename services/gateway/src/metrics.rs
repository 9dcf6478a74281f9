use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tonic::Code;

use crate::error::GatewayError;

/// The gateway's Prometheus metrics.
#[derive(Clone)]
pub struct GatewayMetrics {
    /// `seer_gateway_requests_total{method,code}`: finished RPCs by method and gRPC code in
    /// snake case (`resource_exhausted` counts load shedding).
    pub requests_total: IntCounterVec,
    /// `seer_gateway_view_series`: series in the latest-forecast view.
    pub view_series: IntGauge,
    /// `seer_gateway_forecasts_read_total`: forecasts read from the forecasts topic.
    pub forecasts_read_total: IntCounter,
    /// `seer_gateway_watchers`: Watch streams open.
    pub watchers: IntGauge,
    /// `seer_gateway_ingested_observations_total`: observations Kafka acknowledged for Ingest.
    pub ingested_total: IntCounter,
}

impl GatewayMetrics {
    pub fn new(registry: &Registry) -> Result<Self, GatewayError> {
        let requests_total = IntCounterVec::new(
            Opts::new(
                "seer_gateway_requests_total",
                "Gateway RPCs by method and gRPC status",
            ),
            &["method", "code"],
        )?;
        let view_series = IntGauge::new(
            "seer_gateway_view_series",
            "Series in the latest-forecast view",
        )?;
        let forecasts_read_total = IntCounter::new(
            "seer_gateway_forecasts_read_total",
            "Forecasts read from the forecasts topic",
        )?;
        let watchers = IntGauge::new("seer_gateway_watchers", "Watch streams open")?;
        let ingested_total = IntCounter::new(
            "seer_gateway_ingested_observations_total",
            "Observations written to Kafka through Ingest",
        )?;
        registry.register(Box::new(requests_total.clone()))?;
        registry.register(Box::new(view_series.clone()))?;
        registry.register(Box::new(forecasts_read_total.clone()))?;
        registry.register(Box::new(watchers.clone()))?;
        registry.register(Box::new(ingested_total.clone()))?;
        Ok(GatewayMetrics {
            requests_total,
            view_series,
            forecasts_read_total,
            watchers,
            ingested_total,
        })
    }

    pub(crate) fn observe<T>(&self, method: &str, result: &Result<T, tonic::Status>) {
        let code = match result {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        };
        self.requests_total
            .with_label_values(&[method, code_label(code)])
            .inc();
    }
}

/// The gRPC code in snake case.
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
