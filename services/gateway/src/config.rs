use std::path::PathBuf;
use std::time::Duration;

use crate::GatewayError;

/// Certificates for TLS, by file path (PEM). With `client_ca` set, clients must present a
/// certificate it signed (mutual TLS).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// Everything `seer gateway` needs; defaults suit `seer up`.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub brokers: String,
    pub forecasts_topic: String,
    pub observations_topic: String,
    /// Engine gRPC endpoint, e.g. `http://127.0.0.1:50051`.
    pub engine: String,
    /// Bearer token the admin RPCs (Models.Activate, Models.Rollback) require; `None` leaves
    /// them open (a deployment that sets none should not expose the port).
    pub admin_token: Option<String>,
    /// Unary calls and Ingest streams in progress at once; one more is refused with
    /// RESOURCE_EXHAUSTED at once rather than queued.
    pub max_concurrent: usize,
    /// Watch streams open at once (they live long, so they have their own limit).
    pub max_watchers: usize,
    /// Largest message decoded or encoded, each way.
    pub max_message_bytes: usize,
    /// Forecasts the Watch broadcast holds for its slowest reader before that reader skips.
    pub watch_buffer: usize,
    /// Points of recent history kept per series from the observations topic, so `Forecast` can
    /// name a known series instead of sending its history; 0 keeps none (and reads no
    /// observations).
    pub history_window: usize,
    /// Grid of the kept history, in seconds.
    pub history_freq: i64,
    /// Longest horizon a Forecast may ask of an autoregressive model or seasonal naive (a TCN's
    /// limit is its configured horizon); the engine's own limit is 10 000.
    pub max_horizon: u32,
    /// Deadline of an engine call when the request carries none.
    pub engine_timeout: Duration,
    pub tls: Option<TlsConfig>,
    /// Extra librdkafka settings for the consumers and the producer (security, timeouts...).
    pub kafka: Vec<(String, String)>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            brokers: "127.0.0.1:9092".into(),
            forecasts_topic: "seer.forecasts".into(),
            observations_topic: "seer.observations".into(),
            engine: "http://127.0.0.1:50051".into(),
            admin_token: None,
            max_concurrent: 256,
            max_watchers: 1024,
            max_message_bytes: 16 << 20,
            watch_buffer: 4096,
            history_window: 168,
            history_freq: 3600,
            max_horizon: 10_000,
            engine_timeout: Duration::from_secs(10),
            tls: None,
            kafka: Vec::new(),
        }
    }
}

impl GatewayConfig {
    pub fn validate(&self) -> Result<(), GatewayError> {
        let bad = |m: &str| Err(GatewayError::Config(m.into()));
        if self.max_concurrent == 0 {
            return bad("max_concurrent must be at least 1");
        }
        if self.max_watchers == 0 {
            return bad("max_watchers must be at least 1");
        }
        if self.watch_buffer == 0 {
            return bad("watch_buffer must be at least 1");
        }
        if self.max_message_bytes < 1024 {
            return bad("max_message_bytes must be at least 1024");
        }
        if self.history_window > 0 && self.history_freq <= 0 {
            return bad("history_freq must be a positive number of seconds");
        }
        if self.max_horizon == 0 {
            return bad("max_horizon must be at least 1");
        }
        if let Some(t) = &self.admin_token
            && (t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            return bad("admin_token must be non-empty printable ASCII without spaces");
        }
        Ok(())
    }
}

/// The server's rustls settings from the PEM files.
pub(crate) fn server_tls(
    tls: &TlsConfig,
) -> Result<tonic::transport::ServerTlsConfig, GatewayError> {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| GatewayError::Tls {
            path: p.display().to_string(),
            message: e.to_string(),
        })
    };
    let mut c =
        ServerTlsConfig::new().identity(Identity::from_pem(read(&tls.cert)?, read(&tls.key)?));
    if let Some(ca) = &tls.client_ca {
        c = c.client_ca_root(Certificate::from_pem(read(ca)?));
    }
    Ok(c)
}
