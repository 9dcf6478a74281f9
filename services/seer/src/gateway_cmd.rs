//! `seer gateway`: the public gRPC API alone (seer.v1.Forecasts and seer.v1.Models), as
//! Kubernetes runs it; `seer up` starts the same gateway in-process.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use seer_runtime::{Readiness, Shutdown, init_logging, spawn_admin};

use crate::config::{ConfigArgs, Service, load};

#[derive(Args)]
pub struct GatewayArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// gateway.listen
    #[arg(long)]
    pub listen: Option<String>,
    /// kafka.brokers
    #[arg(long)]
    pub brokers: Option<String>,
    /// gateway.engine
    #[arg(long)]
    pub engine: Option<String>,
    /// topics.forecasts
    #[arg(long)]
    pub forecasts_topic: Option<String>,
    /// topics.observations
    #[arg(long)]
    pub observations_topic: Option<String>,
    /// gateway.max_concurrent: requests in progress at once; more are RESOURCE_EXHAUSTED
    #[arg(long)]
    pub max_concurrent: Option<String>,
    /// gateway.history_window: points kept per series for Forecast by id (0: none)
    #[arg(long)]
    pub history_window: Option<String>,
    /// gateway.history_freq: seconds, or 15min, 1h, 1d, or calendar 1mo, 1q, 1y
    #[arg(long)]
    pub history_freq: Option<String>,
    /// gateway.tls_cert: certificate chain (PEM); with --tls-key turns TLS on
    #[arg(long)]
    pub tls_cert: Option<String>,
    /// gateway.tls_key
    #[arg(long)]
    pub tls_key: Option<String>,
    /// gateway.tls_client_ca: CA whose client certificates are required (mutual TLS)
    #[arg(long)]
    pub tls_client_ca: Option<String>,
    /// gateway.metrics_listen
    #[arg(long)]
    pub metrics_listen: Option<String>,
}

pub fn run(a: &GatewayArgs) -> anyhow::Result<()> {
    let (_, config) = load(
        &a.config,
        &[
            ("listen", "gateway.listen", a.listen.as_deref()),
            ("brokers", "kafka.brokers", a.brokers.as_deref()),
            ("engine", "gateway.engine", a.engine.as_deref()),
            (
                "forecasts-topic",
                "topics.forecasts",
                a.forecasts_topic.as_deref(),
            ),
            (
                "observations-topic",
                "topics.observations",
                a.observations_topic.as_deref(),
            ),
            (
                "max-concurrent",
                "gateway.max_concurrent",
                a.max_concurrent.as_deref(),
            ),
            (
                "history-window",
                "gateway.history_window",
                a.history_window.as_deref(),
            ),
            (
                "history-freq",
                "gateway.history_freq",
                a.history_freq.as_deref(),
            ),
            ("tls-cert", "gateway.tls_cert", a.tls_cert.as_deref()),
            ("tls-key", "gateway.tls_key", a.tls_key.as_deref()),
            (
                "tls-client-ca",
                "gateway.tls_client_ca",
                a.tls_client_ca.as_deref(),
            ),
            (
                "metrics-listen",
                "gateway.metrics_listen",
                a.metrics_listen.as_deref(),
            ),
        ],
        Service::Gateway,
    )?;
    init_logging(&config.log);
    let gateway = config.gateway();
    let grace = config.shutdown.grace();
    tokio::runtime::Runtime::new()?.block_on(async {
        let shutdown = Shutdown::on_signals();
        let registry = prometheus::Registry::new();
        let ready = Readiness::default();
        spawn_admin(
            gateway.metrics_listen,
            registry.clone(),
            ready.clone(),
            shutdown.token().clone(),
        )
        .await
        .with_context(|| format!("metrics listener {}", gateway.metrics_listen))?;
        let listener = tokio::net::TcpListener::bind(gateway.listen)
            .await
            .with_context(|| format!("binding {}", gateway.listen))?;
        eprintln!(
            "seer gateway: listening on {}{}",
            listener.local_addr()?,
            if gateway.tls_cert.is_empty() {
                ""
            } else {
                " (tls)"
            }
        );
        let serving = seer_gateway::serve(
            gateway,
            listener,
            &registry,
            ready,
            shutdown.token().clone(),
        );
        if let Some(result) = shutdown
            .run_service(grace, Duration::from_secs(3), serving)
            .await
        {
            result?;
        }
        Ok(())
    })
}
