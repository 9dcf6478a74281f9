//! seer-runtime: what every seer process shares, written once.
//!
//! - [`config`]: layered configuration (embedded defaults → file → `SEER_<SECTION>__<KEY>` →
//!   flags) with the source of every value;
//! - [`kafka`]: the one Kafka client factory ([`KafkaConfig::client_config`]) and topic names;
//! - [`grpc`]: the gRPC server builder (health, reflection, keepalive, TLS/mTLS), client
//!   channels and deadlines;
//! - [`admin`]: `/metrics`, `/healthz`, `/readyz`;
//! - [`shutdown`]: SIGTERM/Ctrl-C → one token, tracked tasks, a bounded drain;
//! - [`logging`]: text or JSON logs.

pub mod admin;
pub mod config;
pub mod grpc;
pub mod kafka;
pub mod logging;
pub mod shutdown;

pub use admin::{Readiness, check_metric_name, http_get, serve_admin, spawn_admin};
pub use config::{ConfigError, Layers, Source, env_name};
pub use grpc::{
    GrpcConfig, GrpcServer, Health, TlsFiles, channel, deadline_of, parse_grpc_timeout,
};
pub use kafka::{KafkaConfig, Topics};
pub use logging::{LogConfig, init_logging};
pub use shutdown::{Shutdown, ShutdownConfig, cancel_on_signals};

/// This crate's defaults: the `[log]`, `[kafka]`, `[topics]`, `[shutdown]` and `[grpc]`
/// sections every service reads.
pub const DEFAULTS: &str = include_str!("../defaults.toml");

/// Free-form tables of [`DEFAULTS`]: their keys are passed through, not checked.
pub const FREE_TABLES: &[&str] = &["kafka.properties"];

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("tls: {path}: {message}")]
    Tls { path: String, message: String },
    #[error("endpoint {endpoint}: {message}")]
    Endpoint { endpoint: String, message: String },
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("grpc reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

pub mod defaults {
    //! Typed defaults from embedded TOML, so a `Default` impl and the documented default are
    //! one value.

    use serde::de::DeserializeOwned;

    /// Section `name` of `doc`. `doc` is a compile-time constant checked by every crate's
    /// tests, so failing here is a build defect, not bad input.
    pub fn section_of<T: DeserializeOwned>(doc: &str, name: &str) -> T {
        let table: toml::Table = toml::from_str(doc).expect("embedded defaults parse");
        let value = table
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("embedded defaults have a [{name}] section"));
        value
            .try_into()
            .unwrap_or_else(|e| panic!("embedded [{name}] defaults: {e}"))
    }

    pub(crate) fn section<T: DeserializeOwned>(name: &str) -> T {
        section_of(super::DEFAULTS, name)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_defaults_are_a_valid_schema() {
        let layers = crate::Layers::new(crate::DEFAULTS, crate::FREE_TABLES).unwrap();
        assert!(
            layers
                .default_keys()
                .iter()
                .any(|(k, _)| k == "kafka.brokers")
        );
        let _ = crate::KafkaConfig::default();
        let _ = crate::Topics::default();
        let _ = crate::GrpcConfig::default();
        let _ = crate::ShutdownConfig::default();
        crate::LogConfig::default().validate().unwrap();
    }
}
