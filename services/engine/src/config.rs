//! The `[engine]` section of the configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use seer_runtime::config::fields;

use crate::error::EngineError;

/// This crate's defaults: the `[engine]` section.
pub const DEFAULTS: &str = include_str!("../defaults.toml");

/// How an engine runs: the `[engine]` section.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub listen: SocketAddr,
    pub metrics_listen: SocketAddr,
    /// Directory whose subdirectories are checkpoints (`config.json` + `model.safetensors`),
    /// each served under its directory's name; `None` serves only `seasonal_naive`.
    #[serde(deserialize_with = "fields::empty_as_none")]
    pub models_dir: Option<PathBuf>,
    /// The model of requests that name none; `None`: the only forecasting checkpoint, or
    /// `seasonal_naive` when there is none.
    #[serde(deserialize_with = "fields::empty_as_none")]
    pub default_model: Option<String>,
    /// Batches on the GPU at once; a request that finds no slot waits up to `queue_timeout`.
    pub max_concurrent: usize,
    /// Longest wait for a GPU slot before RESOURCE_EXHAUSTED (shortened to 90% of the request's
    /// `grpc-timeout` when that is shorter).
    #[serde(rename = "queue_timeout_ms", deserialize_with = "fields::millis")]
    pub queue_timeout: Duration,
    /// A window whose last `context_length` points hold fewer than this fraction of observed
    /// values is forecast by `seasonal_naive` instead (cold start).
    pub min_observed_fraction: f64,
    /// Largest request or response message, each way.
    pub max_message_bytes: usize,
    /// Follow the models topic and swap versions live (see `follow`).
    pub follow_models: bool,
    /// The shared `[grpc]` section (keepalive), filled in by the binary.
    #[serde(skip)]
    pub grpc: seer_runtime::GrpcConfig,
    /// The shared `[kafka]` section, `topics.models` and `[model_store]`, filled in by the
    /// binary; read only when `follow_models` is on.
    #[serde(skip)]
    pub kafka: seer_runtime::KafkaConfig,
    #[serde(skip)]
    pub models_topic: String,
    #[serde(skip)]
    pub model_store: seer_runtime::ModelStoreConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        seer_runtime::defaults::section_of(DEFAULTS, "engine")
    }
}

impl EngineConfig {
    pub fn validate(&self) -> Result<(), EngineError> {
        if self.max_concurrent == 0 {
            return Err(EngineError::Config(
                "engine.max_concurrent must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_observed_fraction) {
            return Err(EngineError::Config(format!(
                "engine.min_observed_fraction must be in [0, 1], got {}",
                self.min_observed_fraction
            )));
        }
        if self.follow_models && self.model_store.dir.is_empty() {
            return Err(EngineError::Config(
                "engine.follow_models needs model_store.dir: the directory model versions are read from".into(),
            ));
        }
        if self.max_message_bytes < 1024 {
            return Err(EngineError::Config(
                "engine.max_message_bytes must be at least 1024".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn defaults_are_valid() {
        let c = super::EngineConfig::default();
        c.validate().unwrap();
        assert_eq!(c.max_message_bytes, crate::server::MAX_MESSAGE_BYTES);
        assert_eq!(c.queue_timeout, std::time::Duration::from_secs(1));
        assert_eq!(c.models_dir, None);
    }
}
