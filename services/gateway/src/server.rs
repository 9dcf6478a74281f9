//! Building the gateway (Kafka readers, producer, engine client) and serving it with
//! grpc.health.v1 and server reflection.

use std::sync::Arc;
use std::time::Duration;

use seer_proto::v1::engine_client::EngineClient;
use seer_proto::v1::forecasts_server::ForecastsServer;
use seer_proto::v1::models_server::ModelsServer;
use seer_runtime::GrpcServer;
use seer_runtime::KafkaHealth;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;

use crate::auth::AdminToken;
use crate::catalog::EngineModels;
use crate::catalog::ModelState;
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::forecasts::ForecastsService;
use crate::metrics::GatewayMetrics;
use crate::models::ModelsService;
use crate::reader::{self, Sink};
use crate::request::Shared;
use crate::view::{HistoryView, LatestView};

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
        // idempotent: an acknowledged observation is in the topic once
        let kafka = KafkaHealth::new("gateway", &config.kafka);
        let producer = kafka.producer(&config.kafka, config.kafka.producer_config(2))?;
        let channel = seer_runtime::channel(&config.engine, &config.grpc, Duration::from_secs(1))
            .map_err(|e| GatewayError::Engine {
            endpoint: config.engine.clone(),
            message: e.to_string(),
        })?;
        let engine = EngineClient::new(channel)
            .max_decoding_message_size(config.max_message_bytes)
            .max_encoding_message_size(config.max_message_bytes);
        let forecasts = reader::consumer(&config, &kafka)?;
        tokio::spawn(reader::run(
            forecasts,
            config.topics.forecasts.clone(),
            Sink::Forecasts {
                view: view.clone(),
                metrics: metrics.clone(),
            },
            shutdown.clone(),
        ));
        if let Some(h) = &history {
            let observations = reader::consumer(&config, &kafka)?;
            tokio::spawn(reader::run(
                observations,
                config.topics.observations.clone(),
                Sink::Observations(h.clone()),
                shutdown.clone(),
            ));
        }
        let models_state = ModelState::start(
            &config.kafka,
            &kafka,
            &config.topics.models,
            shutdown.clone(),
        )?;
        Ok(Gateway {
            shared: Arc::new(Shared {
                admin: AdminToken::new(config.admin_token.clone()),
                permits: Arc::new(Semaphore::new(config.max_concurrent)),
                watchers: Arc::new(Semaphore::new(config.max_watchers)),
                engine_models: EngineModels::new(engine.clone()),
                engine,
                producer,
                kafka,
                models_state,
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
        ready: seer_runtime::Readiness,
    ) -> Result<(), GatewayError> {
        let shared = self.shared.clone();
        let config = &shared.config;
        // the view keeps answering from memory during a Kafka outage, but the pod is not ready
        ready.require(shared.kafka.ready());
        let names = [
            <ForecastsServer<ForecastsService> as NamedService>::NAME,
            <ModelsServer<ModelsService> as NamedService>::NAME,
        ];
        let tls = config.tls()?;
        let server = GrpcServer::new(&config.grpc, tls.as_ref(), &names).await?;
        let health = server.health();
        {
            let (view, shutdown, ready) =
                (shared.view.clone(), shared.shutdown.clone(), ready.clone());
            tokio::spawn(async move {
                while !view.is_loaded() {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                    }
                }
                health.set(true).await;
                ready.set(true);
            });
        }
        let forecasts = ForecastsServer::new(self.forecasts_service())
            .max_decoding_message_size(config.max_message_bytes)
            .max_encoding_message_size(config.max_message_bytes);
        let models = ModelsServer::new(self.models_service())
            .max_decoding_message_size(config.max_message_bytes)
            .max_encoding_message_size(config.max_message_bytes);
        let server = server.with_routes(|r| r.add_service(forecasts).add_service(models));
        let shutdown = shared.shutdown.clone();
        {
            let (shutdown, ready) = (shutdown.clone(), ready.clone());
            tokio::spawn(async move {
                shutdown.cancelled().await;
                ready.set(false);
            });
        }
        server.serve(listener, shutdown).await?;
        Ok(())
    }
}

/// Starts a gateway and serves it on `listener` until `shutdown` is cancelled.
pub async fn serve(
    config: GatewayConfig,
    listener: TcpListener,
    registry: &prometheus::Registry,
    ready: seer_runtime::Readiness,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    Gateway::start(config, registry, shutdown)?
        .serve(listener, ready)
        .await
}
