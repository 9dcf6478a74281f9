use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use seer_core::time::Frequency;
use seer_runtime::config::fields;
use seer_runtime::{GrpcConfig, KafkaConfig, TlsFiles, Topics};
use serde::Deserialize;

use crate::error::GatewayError;

/// This crate's defaults: the `[gateway]` section.
pub const DEFAULTS: &str = include_str!("../defaults.toml");

/// The `[gateway]` section, plus the shared sections the binary fills in (`kafka`, `topics`,
/// `grpc`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    pub metrics_listen: SocketAddr,
    /// Engine gRPC endpoint, e.g. `http://127.0.0.1:50051`.
    pub engine: String,
    /// Bearer token the admin RPCs (Models.Activate, Models.Rollback) require; `None` leaves
    /// them open (a deployment that sets none should not expose the port).
    #[serde(deserialize_with = "fields::empty_as_none")]
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
    /// Grid of the kept history (`"1h"`, or `"1mo"` for a calendar spacing, in files).
    pub history_freq: Frequency,
    /// Longest horizon a Forecast may ask of an autoregressive model or seasonal naive (a TCN's
    /// limit is its configured horizon); the engine's own limit is 10 000.
    pub max_horizon: u32,
    /// Deadline of an engine call when the request carries none.
    #[serde(rename = "engine_timeout_ms", deserialize_with = "fields::millis")]
    pub engine_timeout: Duration,
    /// TLS certificate chain and key (PEM paths; empty: plaintext).
    pub tls_cert: String,
    pub tls_key: String,
    /// CA whose client certificates are required (mutual TLS; empty: none required).
    pub tls_client_ca: String,
    #[serde(skip)]
    pub kafka: KafkaConfig,
    #[serde(skip)]
    pub topics: Topics,
    #[serde(skip)]
    pub grpc: GrpcConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        seer_runtime::defaults::section_of(DEFAULTS, "gateway")
    }
}

impl GatewayConfig {
    /// TLS for the gRPC port, or none.
    pub fn tls(&self) -> Result<Option<TlsFiles>, GatewayError> {
        TlsFiles::from_paths(&self.tls_cert, &self.tls_key, &self.tls_client_ca)
            .map_err(|m| GatewayError::Config(format!("gateway.tls_cert/tls_key: {m}")))
    }

    /// TLS from paths (tests, `seer up`).
    pub fn with_tls(mut self, cert: PathBuf, key: PathBuf, client_ca: Option<PathBuf>) -> Self {
        self.tls_cert = cert.display().to_string();
        self.tls_key = key.display().to_string();
        self.tls_client_ca = client_ca
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        self
    }

    /// Every check a start would fail on, naming the key.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let bad = |key, m: &str| Err((key, m.to_string()));
        self.kafka.validate()?;
        if self.max_concurrent == 0 {
            return bad("gateway.max_concurrent", "must be at least 1");
        }
        if self.max_watchers == 0 {
            return bad("gateway.max_watchers", "must be at least 1");
        }
        if self.watch_buffer == 0 {
            return bad("gateway.watch_buffer", "must be at least 1");
        }
        if self.max_message_bytes < 1024 {
            return bad("gateway.max_message_bytes", "must be at least 1024");
        }
        if self.history_window > 0 && !self.history_freq.is_valid() {
            return bad(
                "gateway.history_freq",
                "must be a positive number of seconds",
            );
        }
        if self.max_horizon == 0 {
            return bad("gateway.max_horizon", "must be at least 1");
        }
        if let Some(t) = &self.admin_token
            && !t.bytes().all(|b| b.is_ascii_graphic())
        {
            return bad(
                "gateway.admin_token",
                "must be printable ASCII without spaces",
            );
        }
        if let Err(m) = seer_runtime::grpc::check_endpoint(&self.engine) {
            return Err(("gateway.engine", m));
        }
        if let Err(m) = TlsFiles::from_paths(&self.tls_cert, &self.tls_key, &self.tls_client_ca) {
            return bad("gateway.tls_cert", m);
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), GatewayError> {
        self.check()
            .map_err(|(key, m)| GatewayError::Config(format!("{key}: {m}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = GatewayConfig::default();
        c.validate().unwrap();
        assert_eq!(c.history_freq, Frequency::Seconds(3600));
        assert_eq!(c.engine_timeout, Duration::from_secs(10));
        assert_eq!(c.admin_token, None);
        assert_eq!(c.tls().unwrap(), None);
    }

    #[test]
    fn bad_values_name_their_key() {
        type Case = (fn(&mut GatewayConfig), &'static str);
        let cases: [Case; 4] = [
            (|c| c.max_concurrent = 0, "gateway.max_concurrent"),
            (
                |c| c.admin_token = Some("a b".into()),
                "gateway.admin_token",
            ),
            (|c| c.tls_cert = "c.pem".into(), "gateway.tls_cert"),
            (|c| c.engine = "engine:50051".into(), "gateway.engine"),
        ];
        for (break_it, key) in cases {
            let mut c = GatewayConfig::default();
            break_it(&mut c);
            assert_eq!(c.check().unwrap_err().0, key);
        }
    }
}
