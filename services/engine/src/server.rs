//! The gRPC server: the Engine service on the runtime's server (health, reflection, keepalive).
//! Health and readiness turn SERVING only after every model is loaded and a warm-up forecast of
//! each ran on the adapter, so no request meets an engine still compiling its pipelines.

use std::sync::Arc;

use seer_gpu::GpuContext;
use seer_proto::v1::engine_server::EngineServer;
use seer_proto::v1::{ForecastBatchRequest, SeriesWindow};
use seer_runtime::{GrpcServer, Readiness};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;

use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::metrics::EngineMetrics;
use crate::registry::ModelRegistry;
use crate::service::EngineService;

/// Largest request or response message each way by default (a batch of long windows, or sample
/// paths). Clients must raise their own limits to match.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

fn task_error(e: tokio::task::JoinError) -> EngineError {
    EngineError::Task(e.to_string())
}

/// Opens the GPU `SEER_ADAPTER` selects, loads the models, registers the metrics into
/// `metrics`, and serves until `shutdown` is cancelled.
pub async fn serve(
    config: EngineConfig,
    metrics: prometheus::Registry,
    listener: TcpListener,
    ready: Readiness,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    let ctx = tokio::task::spawn_blocking(GpuContext::from_env)
        .await
        .map_err(task_error)??;
    tracing::info!(adapter = %ctx.summary.name, backend = %ctx.summary.backend, "gpu adapter");
    serve_with_context(config, Arc::new(ctx), metrics, listener, ready, shutdown).await
}

/// [`serve`] on a GPU context the caller shares (`seer up`, tests).
pub async fn serve_with_context(
    config: EngineConfig,
    ctx: Arc<GpuContext>,
    metrics: prometheus::Registry,
    listener: TcpListener,
    ready: Readiness,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    config.validate()?;
    let registry = {
        let ctx = ctx.clone();
        let dir = config.models_dir.clone();
        let default = config.default_model.clone();
        tokio::task::spawn_blocking(move || {
            ModelRegistry::load(&ctx, dir.as_deref(), default.as_deref())
        })
        .await
        .map_err(task_error)??
    };
    for m in registry.models() {
        tracing::info!(model = %m.name, kind = m.kind_name(), version = %m.version, "serving model");
    }
    let metrics = EngineMetrics::new(&metrics)?;
    let service = EngineService::new(ctx, Arc::new(registry), &config, metrics)?;
    serve_service(service, &config, listener, ready, shutdown).await
}

/// Serves an already built service until `shutdown` is cancelled: after [`warm_up`], health
/// turns SERVING and `ready` true; on shutdown both turn back, the listener closes, and requests
/// in flight finish before this returns.
pub async fn serve_service(
    service: EngineService,
    config: &EngineConfig,
    listener: TcpListener,
    ready: Readiness,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    let names = [<EngineServer<EngineService> as NamedService>::NAME];
    let server = GrpcServer::new(&config.grpc, None, &names).await?;
    let health = server.health();
    let engine = EngineServer::new(service.clone())
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    let server = server.with_routes(|r| r.add_service(engine));
    warm_up(&service).await?;
    health.set(true).await;
    ready.set(true);
    let stop = shutdown.clone();
    let unready = ready.clone();
    tokio::spawn(async move {
        stop.cancelled().await;
        unready.set(false);
    });
    server.serve(listener, shutdown).await?;
    Ok(())
}

/// Forecasts one synthetic window with every forecasting model, so pipelines are compiled and
/// buffers allocated before the first real request (and a model that cannot forecast on this
/// adapter fails the start, not the traffic).
pub async fn warm_up(service: &EngineService) -> Result<(), EngineError> {
    let infos = service.list_models().models;
    for info in infos {
        let Some(model) = service.registry().models().find(|m| m.name == info.name) else {
            continue;
        };
        if !model.forecasts() {
            continue;
        }
        let freq = if info.freq_seconds > 0 {
            info.freq_seconds
        } else {
            3600
        };
        let points = (info.context_length as usize).max(48);
        let values: Vec<f64> = (0..points)
            .map(|k| 10.0 + (k as f64 * std::f64::consts::TAU / 24.0).sin())
            .collect();
        let request = ForecastBatchRequest {
            model: info.name.clone(),
            windows: vec![SeriesWindow {
                series_id: "seer-warm-up".into(),
                start: Some(seer_proto::convert::timestamp(1_700_000_000)),
                freq_seconds: freq,
                values,
                partial: false,
            }],
            horizon: info.horizon.min(info.max_horizon.max(1)),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let response =
            service
                .forecast_unmetered(request)
                .await
                .map_err(|e| EngineError::WarmUp {
                    model: info.name.clone(),
                    message: e.to_string(),
                })?;
        if let Some(e) = response.errors.first() {
            return Err(EngineError::WarmUp {
                model: info.name.clone(),
                message: e.reason.clone(),
            });
        }
        tracing::info!(
            model = %info.name,
            seconds = started.elapsed().as_secs_f64(),
            "warm-up forecast"
        );
    }
    Ok(())
}
