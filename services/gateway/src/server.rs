//! Building the gateway (Kafka readers, producer, engine client) and serving it with
//! grpc.health.v1 and server reflection; the shared request plumbing (admission, deadlines,
//! engine status mapping) lives here too.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::FutureProducer;
use seer_proto::v1::engine_client::EngineClient;
use seer_proto::v1::forecasts_server::ForecastsServer;
use seer_proto::v1::models_server::ModelsServer;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Status};
use tonic_health::ServingStatus;

use crate::models::{EngineModels, ModelsService};
use crate::reader::{self, Sink};
use crate::{
    AdminToken, ForecastsService, GatewayConfig, GatewayError, GatewayMetrics, HistoryView,
    LatestView, ModelState,
};

/// Most ids one BatchGetLatest or Watch may name.
pub const MAX_BATCH_IDS: usize = 10_000;

/// What every handler shares.
pub(crate) struct Shared {
    pub(crate) config: GatewayConfig,
    pub(crate) metrics: GatewayMetrics,
    pub(crate) view: Arc<LatestView>,
    pub(crate) history: Option<Arc<HistoryView>>,
    pub(crate) producer: FutureProducer,
    pub(crate) engine: EngineClient<tonic::transport::Channel>,
    pub(crate) engine_models: EngineModels,
    pub(crate) models_state: ModelState,
    pub(crate) admin: AdminToken,
    permits: Arc<Semaphore>,
    pub(crate) watchers: Arc<Semaphore>,
    pub(crate) shutdown: CancellationToken,
}

impl Shared {
    /// One of the process-wide request slots, or RESOURCE_EXHAUSTED at once: shedding load
    /// keeps latency bounded for the requests admitted, where a queue would grow without bound.
    pub(crate) fn admit(&self) -> Result<OwnedSemaphorePermit, Status> {
        self.permits.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "gateway overloaded: {} requests in progress; retry with backoff",
                self.config.max_concurrent
            ))
        })
    }

    /// Deadline of an engine call: the request's remaining time, or the configured default.
    pub(crate) fn engine_timeout(&self, deadline: Option<Duration>) -> Duration {
        deadline.unwrap_or(self.config.engine_timeout)
    }
}

/// Parses a `grpc-timeout` header value (`<digits><H|M|S|m|u|n>`, at most 8 digits).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 || !value.is_ascii() {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The caller's deadline, from `grpc-timeout`.
pub(crate) fn deadline_of<T>(req: &Request<T>) -> Option<Duration> {
    req.metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
}

/// Runs `work` within the caller's deadline; past it, DEADLINE_EXCEEDED. The answer comes a
/// little before the deadline itself, because tonic's own timer (which fires at the deadline)
/// would answer CANCELLED instead of the code the gRPC spec gives.
pub(crate) async fn within<T>(
    deadline: Option<Duration>,
    work: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    let Some(d) = deadline else {
        return work.await;
    };
    let margin = (d / 10).min(Duration::from_millis(50));
    match tokio::time::timeout(d - margin, work).await {
        Ok(r) => r,
        Err(_) => Err(Status::deadline_exceeded(format!(
            "deadline of {d:?} expired"
        ))),
    }
}

/// An engine call's failure as the gateway's answer: a down or unreachable engine is
/// UNAVAILABLE; the engine's judgements of the request keep their code.
pub(crate) fn engine_status(s: Status, call: &str) -> Status {
    match s.code() {
        Code::InvalidArgument
        | Code::NotFound
        | Code::ResourceExhausted
        | Code::DeadlineExceeded
        | Code::FailedPrecondition => Status::new(s.code(), s.message().to_string()),
        Code::Unavailable | Code::Unknown | Code::Cancelled => {
            Status::unavailable(format!("engine unavailable ({call}): {}", s.message()))
        }
        code => Status::new(code, format!("engine {call}: {}", s.message())),
    }
}

/// A built gateway: its Kafka readers run until `shutdown`; [`Gateway::serve`] answers gRPC.
pub struct Gateway {
    shared: Arc<Shared>,
}

impl Gateway {
    /// Validates the config, registers the metrics into `registry`, and starts reading the
    /// forecasts topic (and the observations topic when history is kept).
    pub fn start(
        config: GatewayConfig,
        registry: &prometheus::Registry,
        shutdown: CancellationToken,
    ) -> Result<Gateway, GatewayError> {
        config.validate()?;
        let metrics = GatewayMetrics::new(registry)?;
        let view = Arc::new(LatestView::new(config.watch_buffer));
        let history = if config.history_window > 0 {
            Some(Arc::new(HistoryView::new(
                config.history_freq,
                config.history_window,
            )?))
        } else {
            None
        };
        let producer: FutureProducer = reader::kafka_config(&config)
            // retries never duplicate or reorder, so an acknowledged observation is there once
            .set("enable.idempotence", "true")
            .set("linger.ms", "2")
            .set("message.timeout.ms", "30000")
            .create()?;
        let channel = tonic::transport::Channel::from_shared(config.engine.clone())
            .map_err(|e| GatewayError::Engine {
                endpoint: config.engine.clone(),
                message: e.to_string(),
            })?
            .connect_timeout(Duration::from_secs(1))
            .connect_lazy();
        let engine = EngineClient::new(channel)
            .max_decoding_message_size(config.max_message_bytes)
            .max_encoding_message_size(config.max_message_bytes);
        let forecasts = reader::consumer(&config)?;
        tokio::spawn(reader::run(
            forecasts,
            config.forecasts_topic.clone(),
            Sink::Forecasts {
                view: view.clone(),
                metrics: metrics.clone(),
            },
            shutdown.clone(),
        ));
        if let Some(h) = &history {
            let observations = reader::consumer(&config)?;
            tokio::spawn(reader::run(
                observations,
                config.observations_topic.clone(),
                Sink::Observations(h.clone()),
                shutdown.clone(),
            ));
        }
        Ok(Gateway {
            shared: Arc::new(Shared {
                admin: AdminToken::new(config.admin_token.clone()),
                permits: Arc::new(Semaphore::new(config.max_concurrent)),
                watchers: Arc::new(Semaphore::new(config.max_watchers)),
                engine_models: EngineModels::new(engine.clone()),
                engine,
                producer,
                models_state: ModelState::default(),
                view,
                history,
                metrics,
                config,
                shutdown,
            }),
        })
    }

    pub fn view(&self) -> &Arc<LatestView> {
        &self.shared.view
    }

    pub fn forecasts_service(&self) -> ForecastsService {
        ForecastsService {
            shared: self.shared.clone(),
        }
    }

    pub fn models_service(&self) -> ModelsService {
        ModelsService {
            shared: self.shared.clone(),
        }
    }

    /// Serves until the gateway's `shutdown` is cancelled: health turns NOT_SERVING, the
    /// listener closes, and calls in flight finish (Watch streams end) before this returns.
    /// Health reports SERVING once the forecasts topic's backlog is read.
    pub async fn serve(
        self,
        listener: TcpListener,
        ready: seer_server::Readiness,
    ) -> Result<(), GatewayError> {
        let shared = self.shared.clone();
        let config = &shared.config;
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_not_serving::<ForecastsServer<ForecastsService>>()
            .await;
        health
            .set_not_serving::<ModelsServer<ModelsService>>()
            .await;
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        {
            let (health, view, shutdown, ready) = (
                health.clone(),
                shared.view.clone(),
                shared.shutdown.clone(),
                ready.clone(),
            );
            tokio::spawn(async move {
                while !view.is_loaded() {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                    }
                }
                health
                    .set_serving::<ForecastsServer<ForecastsService>>()
                    .await;
                health.set_serving::<ModelsServer<ModelsService>>().await;
                health.set_service_status("", ServingStatus::Serving).await;
                ready.set(true);
            });
        }
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(seer_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(seer_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        let forecasts = ForecastsServer::new(self.forecasts_service())
            .max_decoding_message_size(config.max_message_bytes)
            .max_encoding_message_size(config.max_message_bytes);
        let models = ModelsServer::new(self.models_service())
            .max_decoding_message_size(config.max_message_bytes)
            .max_encoding_message_size(config.max_message_bytes);
        let addr: Option<SocketAddr> = listener.local_addr().ok();
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        tracing::info!(?addr, "gateway listening");
        let mut builder = Server::builder();
        if let Some(tls) = &config.tls {
            builder = builder.tls_config(crate::config::server_tls(tls)?)?;
        }
        let shutdown = shared.shutdown.clone();
        builder
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(forecasts)
            .add_service(models)
            .serve_with_incoming_shutdown(incoming, async move {
                shutdown.cancelled().await;
                ready.set(false);
                health
                    .set_not_serving::<ForecastsServer<ForecastsService>>()
                    .await;
                health
                    .set_not_serving::<ModelsServer<ModelsService>>()
                    .await;
                health
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
                tracing::info!(?addr, "gateway shutting down");
            })
            .await?;
        Ok(())
    }
}

/// Starts a gateway and serves it on `listener` until `shutdown` is cancelled.
pub async fn serve(
    config: GatewayConfig,
    listener: TcpListener,
    registry: &prometheus::Registry,
    ready: seer_server::Readiness,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    Gateway::start(config, registry, shutdown)?
        .serve(listener, ready)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_values() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        for bad in ["", "m", "100", "123456789S", "1x", "-1S", "+1S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn within_answers_deadline_exceeded_before_the_deadline() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, Status>(())
        };
        let t0 = std::time::Instant::now();
        let err = within(Some(Duration::from_millis(100)), slow)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::DeadlineExceeded);
        assert!(t0.elapsed() < Duration::from_millis(100));
        assert!(within(None, async { Ok::<_, Status>(1) }).await.is_ok());
    }

    #[test]
    fn engine_codes() {
        let s = engine_status(Status::unavailable("connection refused"), "Forecast");
        assert_eq!(s.code(), Code::Unavailable);
        assert!(s.message().contains("engine unavailable"));
        let s = engine_status(Status::invalid_argument("horizon: too long"), "Forecast");
        assert_eq!(
            (s.code(), s.message()),
            (Code::InvalidArgument, "horizon: too long")
        );
        assert_eq!(
            engine_status(Status::internal("gpu"), "Forecast").code(),
            Code::Internal
        );
    }
}
