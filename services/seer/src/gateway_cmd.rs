//! `seer gateway`: the public gRPC API alone (seer.v1.Forecasts and seer.v1.Models), as
//! Kubernetes runs it; `seer up` starts the same gateway in-process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use seer_gateway::{GatewayConfig, TlsConfig};
use seer_server::{Readiness, cancel_on_signals, spawn_admin};
use tokio_util::sync::CancellationToken;

use crate::init::parse_freq;

#[derive(Args)]
pub struct GatewayArgs {
    #[arg(long, default_value = "0.0.0.0:50052")]
    pub listen: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub brokers: String,
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub engine: String,
    #[arg(long, default_value = "seer.forecasts")]
    pub forecasts_topic: String,
    #[arg(long, default_value = "seer.observations")]
    pub observations_topic: String,
    /// Environment variable holding the bearer token of the admin RPCs (Models.Activate,
    /// Models.Rollback); unset or empty: admin RPCs are open
    #[arg(long, default_value = "SEER_GATEWAY_ADMIN_TOKEN")]
    pub admin_token_env: String,
    /// Requests in progress at once; more are refused with RESOURCE_EXHAUSTED
    #[arg(long, default_value_t = 256)]
    pub max_concurrent: usize,
    #[arg(long, default_value_t = 1024)]
    pub max_watchers: usize,
    /// Largest gRPC message each way, in bytes
    #[arg(long, default_value_t = 16 << 20)]
    pub max_message_bytes: usize,
    /// Points of history kept per series for Forecast by series id (0: none)
    #[arg(long, default_value_t = 168)]
    pub history_window: usize,
    /// Grid of the kept history: seconds, or 15min, 1h, 1d
    #[arg(long, default_value = "1h")]
    pub history_freq: String,
    /// Engine call deadline when the request has none, in milliseconds
    #[arg(long, default_value_t = 10_000)]
    pub engine_timeout_ms: u64,
    /// TLS certificate chain (PEM); with --tls-key turns TLS on
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA (PEM) whose client certificates are required (mutual TLS)
    #[arg(long, requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    #[arg(long, default_value = "0.0.0.0:9466")]
    pub metrics_listen: SocketAddr,
}

impl GatewayArgs {
    fn config(&self) -> anyhow::Result<GatewayConfig> {
        let admin_token = std::env::var(&self.admin_token_env)
            .ok()
            .filter(|t| !t.is_empty());
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.tls_client_ca.clone(),
            }),
            _ => None,
        };
        Ok(GatewayConfig {
            brokers: self.brokers.clone(),
            forecasts_topic: self.forecasts_topic.clone(),
            observations_topic: self.observations_topic.clone(),
            engine: self.engine.clone(),
            admin_token,
            max_concurrent: self.max_concurrent,
            max_watchers: self.max_watchers,
            max_message_bytes: self.max_message_bytes,
            history_window: self.history_window,
            history_freq: parse_freq(&self.history_freq)?,
            engine_timeout: Duration::from_millis(self.engine_timeout_ms),
            tls,
            ..Default::default()
        })
    }
}

pub fn run(a: &GatewayArgs) -> anyhow::Result<()> {
    let config = a.config()?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let shutdown = CancellationToken::new();
        cancel_on_signals(shutdown.clone());
        let registry = prometheus::Registry::new();
        let ready = Readiness::default();
        spawn_admin(
            a.metrics_listen,
            registry.clone(),
            ready.clone(),
            shutdown.clone(),
        )
        .await
        .context("metrics listener")?;
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("binding {}", a.listen))?;
        eprintln!(
            "seer gateway: listening on {}{}",
            listener.local_addr()?,
            if config.tls.is_some() { " (tls)" } else { "" }
        );
        seer_gateway::serve(config, listener, &registry, ready, shutdown).await?;
        Ok(())
    })
}
