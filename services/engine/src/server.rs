//! The gRPC server: the Engine service, grpc.health.v1 and server reflection on one listener.

use std::sync::Arc;

use seer_gpu::GpuContext;
use seer_proto::v1::engine_server::EngineServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::{EngineConfig, EngineError, EngineMetrics, EngineService, ModelRegistry};

/// Largest request or response message, each way (a batch of long windows, or sample paths).
/// Clients must raise their own limits to match.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

fn task_error(e: tokio::task::JoinError) -> EngineError {
    EngineError::Task(e.to_string())
}

/// Opens the GPU `SEER_ADAPTER` selects, loads the models, registers the metrics into the
/// process-wide `prometheus::default_registry()`, and serves until `shutdown` is cancelled.
pub async fn serve(
    config: EngineConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    let ctx = tokio::task::spawn_blocking(GpuContext::from_env)
        .await
        .map_err(task_error)??;
    serve_with_context(
        config,
        Arc::new(ctx),
        prometheus::default_registry().clone(),
        listener,
        shutdown,
    )
    .await
}

/// [`serve`] on a GPU context the caller shares (`seer up`, tests), with the metrics registered
/// into `metrics`.
pub async fn serve_with_context(
    config: EngineConfig,
    ctx: Arc<GpuContext>,
    metrics: prometheus::Registry,
    listener: TcpListener,
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
    serve_service(service, listener, shutdown).await
}

/// Serves an already built service until `shutdown` is cancelled: health turns NOT_SERVING, the
/// listener closes, and requests in flight finish before this returns.
pub async fn serve_service(
    service: EngineService,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<EngineServer<EngineService>>().await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(seer_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(seer_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let engine = EngineServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let addr = listener.local_addr().ok();
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tracing::info!(?addr, "engine listening");
    Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(engine)
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.cancelled().await;
            health
                .set_not_serving::<EngineServer<EngineService>>()
                .await;
            health
                .set_service_status("", ServingStatus::NotServing)
                .await;
            tracing::info!(?addr, "engine shutting down");
        })
        .await?;
    Ok(())
}
