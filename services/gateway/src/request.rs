//! What every handler shares, and the plumbing of a request: admission, the caller's deadline,
//! and running within it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::FutureProducer;
use seer_proto::v1::engine_client::EngineClient;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::auth::AdminToken;
use crate::catalog::{EngineModels, ModelState};
use crate::config::GatewayConfig;
use crate::metrics::GatewayMetrics;
use crate::status::RequestError;
use crate::view::{HistoryView, LatestView};

/// What every handler shares.
pub(crate) struct Shared {
    pub(crate) config: GatewayConfig,
    pub(crate) metrics: GatewayMetrics,
    pub(crate) view: Arc<LatestView>,
    pub(crate) history: Option<Arc<HistoryView>>,
    pub(crate) producer: FutureProducer<seer_runtime::HealthContext>,
    /// Whether the gateway's Kafka clients reach the cluster (part of readiness).
    pub(crate) kafka: seer_runtime::KafkaHealth,
    pub(crate) engine: EngineClient<tonic::transport::Channel>,
    pub(crate) engine_models: EngineModels,
    pub(crate) models_state: ModelState,
    pub(crate) admin: AdminToken,
    /// The request slots [`Shared::admit`] hands out (`config.max_concurrent` of them).
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) watchers: Arc<Semaphore>,
    pub(crate) shutdown: CancellationToken,
}

impl Shared {
    /// One of the process-wide request slots, or overloaded at once: shedding load keeps
    /// latency bounded for the requests admitted, where a queue would grow without bound.
    pub(crate) fn admit(&self) -> Result<OwnedSemaphorePermit, RequestError> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| RequestError::Overloaded {
                max_concurrent: self.config.max_concurrent,
            })
    }

    /// Deadline of an engine call: the request's remaining time, or the configured default.
    pub(crate) fn engine_timeout(&self, deadline: Option<Duration>) -> Duration {
        deadline.unwrap_or(self.config.engine_timeout)
    }
}

pub use seer_runtime::{deadline_of, parse_grpc_timeout};

/// Runs `work` within the caller's deadline; past it, deadline exceeded. The answer comes a
/// little before the deadline itself, because tonic's own timer (which fires at the deadline)
/// would answer CANCELLED instead of the code the gRPC spec gives.
pub(crate) async fn within<T>(
    deadline: Option<Duration>,
    work: impl Future<Output = Result<T, RequestError>>,
) -> Result<T, RequestError> {
    let Some(d) = deadline else {
        return work.await;
    };
    let margin = (d / 10).min(Duration::from_millis(50));
    match tokio::time::timeout(d - margin, work).await {
        Ok(r) => r,
        Err(_) => Err(RequestError::DeadlineExceeded(d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn within_answers_deadline_exceeded_before_the_deadline() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, RequestError>(())
        };
        let t0 = std::time::Instant::now();
        let err = within(Some(Duration::from_millis(100)), slow)
            .await
            .unwrap_err();
        assert!(
            matches!(err, RequestError::DeadlineExceeded(d) if d == Duration::from_millis(100)),
            "{err}"
        );
        assert!(t0.elapsed() < Duration::from_millis(100));
        assert!(
            within(None, async { Ok::<_, RequestError>(1) })
                .await
                .is_ok()
        );
    }
}
