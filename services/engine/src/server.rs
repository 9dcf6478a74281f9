//! The gRPC server: the Engine service on the runtime's server (health, reflection, keepalive).
//! Health and readiness turn SERVING only after every model is loaded and a warm-up forecast of
//! each ran on the adapter, so no request meets an engine still compiling its pipelines.

use std::sync::Arc;

use seer_core::time::Frequency;
use seer_gpu::GpuContext;
use seer_proto::convert::frequency_fields;
use seer_proto::v1::engine_server::EngineServer;
use seer_proto::v1::{CovariateValues, ForecastBatchRequest, SeriesWindow};
use seer_runtime::{GrpcServer, Readiness};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;

use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::metrics::EngineMetrics;
use crate::registry::{ModelRegistry, ServedModel};
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
    tracing::info!(
        adapter = %ctx.summary.name,
        backend = ctx.summary.kind(),
        threads = ctx.summary.threads,
        "compute backend"
    );
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
    metrics.set_compute(&ctx.summary);
    let service = EngineService::new(ctx, Arc::new(registry), &config, metrics)?;
    if config.follow_models {
        start_following(&service, &config, &shutdown).await?;
    }
    serve_service(service, &config, listener, ready, shutdown).await
}

/// How long a starting engine waits to read the models topic before serving what its models
/// directory holds (a broker that is down must not keep every engine from starting).
const CATCH_UP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads the models topic to its end and swaps to the versions it names (so a new replica
/// starts on the active version), then keeps following it.
async fn start_following(
    service: &EngineService,
    config: &EngineConfig,
    shutdown: &CancellationToken,
) -> Result<(), EngineError> {
    let store: Arc<dyn seer_runtime::ModelStore> =
        Arc::new(config.model_store.open().ok_or_else(|| {
            EngineError::Config("engine.follow_models needs model_store.dir".into())
        })?);
    let health = seer_runtime::KafkaHealth::new("engine models feed", &config.kafka);
    let feed = seer_runtime::ModelsFeed::start(
        &config.kafka,
        &health,
        &config.models_topic,
        "seer-engine",
        shutdown.clone(),
    )
    .map_err(|e| EngineError::Config(format!("following {}: {e}", config.models_topic)))?;
    if !feed.wait_caught_up(CATCH_UP_TIMEOUT).await {
        tracing::warn!(
            topic = %config.models_topic,
            "models topic not read within {CATCH_UP_TIMEOUT:?}; serving the models directory until it is"
        );
    }
    let mut refused = std::collections::HashSet::new();
    crate::follow::reconcile(service, &feed, &store, &mut refused).await;
    tokio::spawn(crate::follow::follow_models(
        service.clone(),
        feed,
        store,
        shutdown.clone(),
    ));
    Ok(())
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
    for model in service.registry().models() {
        warm_up_version(service, model).await?;
    }
    Ok(())
}

/// The warm-up of one version, also run on a version the models topic names before it is
/// swapped in.
pub(crate) async fn warm_up_version(
    service: &EngineService,
    model: Arc<ServedModel>,
) -> Result<(), EngineError> {
    if !model.forecasts() {
        return Ok(());
    }
    let name = model.name.clone();
    let (context, freq) = model.config().map_or((0, Frequency::Seconds(3600)), |c| {
        (c.context_length, c.freq)
    });
    let (freq_seconds, freq_months) = frequency_fields(freq);
    let points = context.max(48);
    let values: Vec<f64> = (0..points)
        .map(|k| 10.0 + (k as f64 * std::f64::consts::TAU / 24.0).sin())
        .collect();
    let horizon = service
        .registry()
        .default_horizon(&model)
        .min(model.max_horizon().max(1));
    // every supplied covariate at its training mean, past the window over the horizon
    let covariates = model.config().map_or_else(Vec::new, |c| {
        c.supplied_covariates()
            .map(|cov| CovariateValues {
                name: cov.name.clone(),
                values: vec![cov.mean; points + horizon],
            })
            .collect()
    });
    let request = ForecastBatchRequest {
        model: name.clone(),
        windows: vec![SeriesWindow {
            series_id: "seer-warm-up".into(),
            start: Some(seer_proto::convert::timestamp(1_700_000_000)),
            freq_seconds,
            values,
            partial: false,
            freq_months,
            covariates,
        }],
        horizon: horizon as u32,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let response = service
        .forecast_version(model, request)
        .await
        .map_err(|e| EngineError::WarmUp {
            model: name.clone(),
            message: e.to_string(),
        })?;
    if let Some(e) = response.errors.first() {
        return Err(EngineError::WarmUp {
            model: name,
            message: e.reason.clone(),
        });
    }
    tracing::info!(
        model = %name,
        seconds = started.elapsed().as_secs_f64(),
        "warm-up forecast"
    );
    Ok(())
}
