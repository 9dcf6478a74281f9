//! Shared test setup: tiny checkpoints in a temporary directory, an engine on 127.0.0.1:0, and a
//! real tonic client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use seer_engine::{EngineConfig, EngineError, EngineMetrics, EngineService, ModelRegistry};
use seer_gpu::{AdapterChoice, GpuContext};
use seer_model::checkpoint::{init_weights, save};
use seer_model::{ModelConfig, ModelKind};
use seer_proto::v1::engine_client::EngineClient;
use seer_proto::v1::{ForecastBatchRequest, SeriesWindow};
use seer_runtime::Readiness;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub const T0: i64 = 1_700_000_000;
pub const HOUR: i64 = 3600;

pub fn ctx() -> Arc<GpuContext> {
    static CTX: OnceLock<Arc<GpuContext>> = OnceLock::new();
    CTX.get_or_init(|| {
        Arc::new(GpuContext::new(AdapterChoice::from_env().unwrap()).expect("gpu adapter"))
    })
    .clone()
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "seer-engine-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn config(kind: ModelKind) -> ModelConfig {
    let mut c = ModelConfig {
        hidden_size: 4,
        num_layers: 1,
        ..ModelConfig::bare(kind, HOUR.into(), 8, 4)
    };
    match kind {
        ModelKind::Lstm => c.quantiles = vec![0.1, 0.5, 0.9],
        ModelKind::Tcn => {
            c.quantiles = vec![0.1, 0.5, 0.9];
            c.hidden_size = 0;
            c.num_layers = 0;
            c.channels = vec![4];
            c.kernel_size = 2;
            c.dilations = vec![1];
        }
        ModelKind::Deepar => {
            c.lags = vec![1, 2];
            c.cardinality = 1;
            c.distribution = Some("gaussian".into());
            c.num_samples = 20;
        }
        _ => {}
    }
    c
}

/// Writes checkpoints `lstm`, `deepar`, `tcn` and `gapfill` (a BiLSTM) under a new directory.
pub fn models_dir() -> TempDir {
    let dir = TempDir::new("models");
    for (name, kind) in [
        ("lstm", ModelKind::Lstm),
        ("deepar", ModelKind::Deepar),
        ("tcn", ModelKind::Tcn),
        ("gapfill", ModelKind::Bilstm),
    ] {
        let c = config(kind);
        save(&dir.path().join(name), &c, &init_weights(&c, 7).unwrap()).unwrap();
    }
    // not a checkpoint: skipped
    std::fs::create_dir_all(dir.path().join("notes")).unwrap();
    dir
}

pub struct Engine {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<Result<(), EngineError>>,
    pub metrics: prometheus::Registry,
    pub ready: Readiness,
    pub dir: Option<TempDir>,
}

impl Engine {
    /// Until models are loaded and warmed up (or the engine failed to start).
    pub async fn wait_ready(&self) {
        let t = std::time::Instant::now();
        while !self.ready.get() && !self.task.is_finished() {
            assert!(t.elapsed() < Duration::from_secs(120), "engine never ready");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn client(&self) -> EngineClient<Channel> {
        EngineClient::connect(format!("http://{}", self.addr))
            .await
            .expect("connect")
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect")
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("engine stops within 10 s")
            .expect("engine task")
            .expect("engine serve");
    }
}

/// The engine over the test checkpoints (default `lstm`).
pub async fn start(config: EngineConfig) -> Engine {
    start_in(config, models_dir()).await
}

/// An engine serving the checkpoints under `dir`.
pub async fn start_in(mut config: EngineConfig, dir: TempDir) -> Engine {
    config.models_dir = Some(dir.path().to_path_buf());
    config.default_model.get_or_insert_with(|| "lstm".into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let metrics = prometheus::Registry::new();
    let ready = Readiness::default();
    let task = tokio::spawn(seer_engine::serve_with_context(
        config,
        ctx(),
        metrics.clone(),
        listener,
        ready.clone(),
        shutdown.clone(),
    ));
    let engine = Engine {
        addr,
        shutdown,
        task,
        metrics,
        ready,
        dir: Some(dir),
    };
    engine.wait_ready().await;
    engine
}

/// An engine over a service the test built (so it can hold the service's permits).
pub async fn start_service(config: &EngineConfig) -> (Engine, EngineService) {
    let dir = models_dir();
    let registry = ModelRegistry::load(&ctx(), Some(dir.path()), Some("lstm")).unwrap();
    let metrics = prometheus::Registry::new();
    let service = EngineService::new(
        ctx(),
        Arc::new(registry),
        config,
        EngineMetrics::new(&metrics).unwrap(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let ready = Readiness::default();
    let task = tokio::spawn({
        let (service, config, ready, shutdown) = (
            service.clone(),
            config.clone(),
            ready.clone(),
            shutdown.clone(),
        );
        async move { seer_engine::serve_service(service, &config, listener, ready, shutdown).await }
    });
    let engine = Engine {
        addr,
        shutdown,
        task,
        metrics,
        ready,
        dir: Some(dir),
    };
    engine.wait_ready().await;
    (engine, service)
}

/// A smooth daily-cycle hourly series of `n` points ending one step before `T0 + n·HOUR`.
pub fn values(n: usize, phase: f64) -> Vec<f64> {
    (0..n)
        .map(|k| 10.0 + 3.0 * ((k as f64 + phase) * std::f64::consts::TAU / 24.0).sin())
        .collect()
}

pub fn window(id: &str, values: Vec<f64>) -> SeriesWindow {
    SeriesWindow {
        series_id: id.into(),
        start: Some(seer_proto::convert::timestamp(T0)),
        freq_seconds: HOUR,
        freq_months: 0,
        covariates: Vec::new(),
        values,
        partial: false,
    }
}

pub fn request(model: &str, windows: Vec<SeriesWindow>) -> ForecastBatchRequest {
    ForecastBatchRequest {
        model: model.into(),
        windows,
        ..Default::default()
    }
}
