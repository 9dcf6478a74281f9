//! seer-runtime: what every seer process shares, written once.
//!
//! - [`config`]: layered configuration (embedded defaults → file → `SEER_<SECTION>__<KEY>` →
//!   flags) with the source of every value;
//! - [`kafka`]: the one Kafka client factory ([`KafkaConfig::client_config`]) and topic names;
//! - [`kafka_health`]: whether the clients reach the cluster (readiness, one clear log line);
//! - [`grpc`]: the gRPC server builder (health, reflection, keepalive, TLS/mTLS), client
//!   channels and deadlines;
//! - [`admin`]: `/metrics`, `/healthz`, `/readyz`;
//! - [`shutdown`]: SIGTERM/Ctrl-C → one token, tracked tasks, a bounded drain;
//! - [`logging`]: text or JSON logs;
//! - [`models_topic`] and [`model_store`]: which model versions exist, which one each model
//!   serves, and where their files are.

pub mod admin;
pub mod config;
pub mod defaults;
mod error;
pub mod grpc;
pub mod kafka;
pub mod kafka_health;
pub mod logging;
pub mod model_store;
pub mod models_topic;
pub mod shutdown;

pub use admin::{Readiness, check_metric_name, http_get, serve_admin, spawn_admin};
pub use config::{ConfigError, Layers, Source, env_name};
pub use defaults::{DEFAULTS, FREE_TABLES};
pub use error::RuntimeError;
pub use grpc::{
    GrpcConfig, GrpcServer, Health, TlsFiles, channel, deadline_of, parse_grpc_timeout,
};
pub use kafka::{KafkaConfig, Topics};
pub use kafka_health::{HealthContext, KafkaHealth};
pub use logging::{LogConfig, init_logging};
pub use model_store::{DirStore, ModelStore, ModelStoreConfig};
pub use models_topic::{ModelsFeed, ModelsPublisher, ModelsView};
pub use shutdown::{Shutdown, ShutdownConfig, cancel_on_signals};

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
        let _ = crate::ModelStoreConfig::default();
        crate::LogConfig::default().validate().unwrap();
    }
}
