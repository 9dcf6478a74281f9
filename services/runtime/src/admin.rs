//! What every seer process serves besides its own API: Prometheus metrics on `/metrics`,
//! liveness on `/healthz` (the process answers; never Kafka or models, so a broker outage does
//! not restart every pod) and readiness on `/readyz` (the service says when it can take work).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use tokio_util::sync::CancellationToken;

/// Whether the process can take traffic: its own flag (e.g. consumer assigned) and every
/// condition it [`requires`](Readiness::require) (Kafka reachable, engine reachable), each owned
/// and set by whoever observes it.
#[derive(Clone, Default)]
pub struct Readiness(Arc<ReadinessState>);

#[derive(Default)]
struct ReadinessState {
    flag: AtomicBool,
    requires: Mutex<Vec<Readiness>>,
}

impl Readiness {
    /// A flag that starts as `ready` (conditions that hold until observed otherwise).
    pub fn starting(ready: bool) -> Readiness {
        let r = Readiness::default();
        r.set(ready);
        r
    }

    pub fn set(&self, ready: bool) {
        self.0.flag.store(ready, Ordering::Relaxed);
    }

    /// Ready only while `condition` is true as well.
    pub fn require(&self, condition: Readiness) {
        if let Ok(mut r) = self.0.requires.lock() {
            r.push(condition);
        }
    }

    pub fn get(&self) -> bool {
        self.0.flag.load(Ordering::Relaxed)
            && self
                .0
                .requires
                .lock()
                .map(|r| r.iter().all(Readiness::get))
                .unwrap_or(false)
    }
}

#[derive(Clone)]
struct AppState {
    registry: Registry,
    ready: Readiness,
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let mut body = Vec::new();
    let families = s.registry.gather();
    match TextEncoder::new().encode(&families, &mut body) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn readiness(State(s): State<AppState>) -> impl IntoResponse {
    if s.ready.get() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Serves the admin endpoints on `listener` until `shutdown` is cancelled.
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    registry: Registry,
    ready: Readiness,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readiness))
        .with_state(AppState { registry, ready });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// Binds `addr` and serves the admin endpoints in the background; returns the bound address.
pub async fn spawn_admin(
    addr: SocketAddr,
    registry: Registry,
    ready: Readiness,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = serve_admin(listener, registry, ready, shutdown).await {
            tracing::error!(error = %e, "admin server failed");
        }
    });
    Ok(local)
}

/// A minimal HTTP/1.1 GET for tests and probes: (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response: {response:.80}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Prometheus naming rules seer follows: `seer_<subsystem>_<name>_<unit>`, counters end in
/// `_total`, base units (seconds, bytes). Used by every component's metrics test.
pub fn check_metric_name(name: &str, kind: prometheus::proto::MetricType) -> Result<(), String> {
    use prometheus::proto::MetricType;
    if !name.starts_with("seer_") {
        return Err(format!("{name}: must start with seer_"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(format!(
            "{name}: only lowercase letters, digits and underscores"
        ));
    }
    let counter = kind == MetricType::COUNTER;
    if counter != name.ends_with("_total") {
        return Err(format!(
            "{name}: counters, and only counters, end in _total"
        ));
    }
    for bad in ["_ms", "_milliseconds", "_us", "_kb", "_mb", "_minutes"] {
        if name.contains(&format!("{bad}_")) || name.ends_with(bad) {
            return Err(format!("{name}: use base units (seconds, bytes)"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::proto::MetricType;

    #[test]
    fn metric_names_follow_the_conventions() {
        assert!(check_metric_name("seer_ingest_observations_total", MetricType::COUNTER).is_ok());
        assert!(check_metric_name("seer_ingest_latency_seconds", MetricType::HISTOGRAM).is_ok());
        assert!(check_metric_name("seer_ingest_observations", MetricType::COUNTER).is_err());
        assert!(check_metric_name("seer_ingest_lag_total", MetricType::GAUGE).is_err());
        assert!(check_metric_name("ingest_total", MetricType::COUNTER).is_err());
        assert!(check_metric_name("seer_latency_ms", MetricType::HISTOGRAM).is_err());
        assert!(check_metric_name("seer_Latency_seconds", MetricType::HISTOGRAM).is_err());
    }

    #[tokio::test]
    async fn admin_endpoints_serve_metrics_health_and_readiness() {
        let registry = Registry::new();
        let c = prometheus::IntCounter::new("seer_test_events_total", "events").unwrap();
        registry.register(Box::new(c.clone())).unwrap();
        c.inc_by(3);
        let ready = Readiness::default();
        let shutdown = CancellationToken::new();
        let addr = spawn_admin(
            "127.0.0.1:0".parse().unwrap(),
            registry,
            ready.clone(),
            shutdown.clone(),
        )
        .await
        .unwrap();
        let get = |path: &'static str| async move { http_get(addr, path).await.unwrap() };
        let (status, body) = get("/metrics").await;
        assert_eq!(status, 200);
        assert!(body.contains("seer_test_events_total 3"), "{body}");
        assert_eq!(get("/healthz").await.0, 200);
        assert_eq!(get("/readyz").await.0, 503);
        ready.set(true);
        assert_eq!(get("/readyz").await.0, 200);
        shutdown.cancel();
    }
}
