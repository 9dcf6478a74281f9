use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use seer_core::stream::{BatchPolicy, FrequencyRule};
use seer_core::time::Frequency;
use seer_runtime::{GrpcConfig, KafkaConfig, Topics};
use serde::Deserialize;

use crate::error::IngestError;

/// This crate's defaults: the `[ingest]` section.
pub const DEFAULTS: &str = include_str!("../defaults.toml");

/// The `[ingest]` section, plus the shared sections the binary fills in (`kafka`, `topics`,
/// `grpc`, the shutdown grace).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    pub metrics_listen: SocketAddr,
    pub group_id: String,
    pub group_instance_id: String,
    pub engine: String,
    pub model: String,
    pub model_version: String,
    pub window: usize,
    pub freq: String,
    pub horizon: u32,
    pub quantiles: Vec<f64>,
    pub max_batch: usize,
    pub max_delay_ms: u64,
    pub every_points: usize,
    pub max_points_per_forecast: usize,
    pub max_due: usize,
    pub max_in_flight: usize,
    pub engine_timeout_ms: u64,
    pub max_message_bytes: usize,
    pub max_future_seconds: u64,
    pub rebuild_messages: i64,
    pub max_pending_dead_letters: usize,
    pub processing_guarantee: String,
    pub transactional_id: String,
    pub transaction_interval_ms: u64,
    #[serde(default)]
    pub frequencies: BTreeMap<String, String>,
    /// `Observation.features` keys kept per series beside its values and sent with its window
    /// as covariates (what a model reading past-observed covariates needs).
    #[serde(default)]
    pub covariates: Vec<String>,
    #[serde(skip)]
    pub kafka: KafkaConfig,
    #[serde(skip)]
    pub topics: Topics,
    #[serde(skip)]
    pub grpc: GrpcConfig,
    /// Longest drain after shutdown before the final commit.
    #[serde(skip, default = "default_grace")]
    pub grace: Duration,
}

fn default_grace() -> Duration {
    seer_runtime::ShutdownConfig::default().grace()
}

impl Default for IngestConfig {
    fn default() -> Self {
        seer_runtime::defaults::section_of(DEFAULTS, "ingest")
    }
}

impl IngestConfig {
    pub fn policy(&self) -> BatchPolicy {
        BatchPolicy {
            max_batch: self.max_batch,
            max_delay: Duration::from_millis(self.max_delay_ms),
            every_points: self.every_points,
            max_points: self.max_points_per_forecast,
        }
    }

    pub fn exactly_once(&self) -> bool {
        self.processing_guarantee == "exactly_once"
    }

    /// The transactional.id: configured, or derived from the group and this member's identity.
    pub fn transactional_id(&self) -> String {
        if !self.transactional_id.is_empty() {
            return self.transactional_id.clone();
        }
        // stable across restarts of the same pod, so the new producer fences the old one and
        // aborts its open transaction at once (a new id would leave it pending until it times out,
        // holding back read_committed readers and the offset fetch of the next owner)
        let member = if self.group_instance_id.is_empty() {
            std::env::var("HOSTNAME")
                .ok()
                .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| format!("pid{}", std::process::id()))
        } else {
            self.group_instance_id.clone()
        };
        format!("{}-{member}", self.group_id)
    }

    /// The engine endpoints `engine` lists (comma-separated).
    pub fn engines(&self) -> Vec<&str> {
        self.engine
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect()
    }

    pub fn engine_timeout(&self) -> Duration {
        Duration::from_millis(self.engine_timeout_ms)
    }

    pub fn default_freq(&self) -> Result<Frequency, IngestError> {
        Frequency::parse(&self.freq).map_err(|e| IngestError::Config("ingest.freq", e.to_string()))
    }

    pub fn freq_rules(&self) -> Result<Vec<FrequencyRule>, IngestError> {
        self.frequencies
            .iter()
            .map(|(prefix, f)| {
                Ok(FrequencyRule {
                    prefix: prefix.clone(),
                    freq: Frequency::parse(f).map_err(|e| {
                        IngestError::Config("ingest.frequencies", format!("{prefix:?}: {e}"))
                    })?,
                })
            })
            .collect()
    }

    /// Every check a start would fail on, naming the key.
    pub fn validate(&self) -> Result<(), IngestError> {
        let bad = |key, msg: &str| Err(IngestError::Config(key, msg.to_string()));
        if let Err((key, msg)) = self.kafka.validate() {
            return Err(IngestError::Config(key, msg));
        }
        if self.group_id.is_empty() {
            return bad("ingest.group_id", "must not be empty");
        }
        if self.max_batch == 0 {
            return bad("ingest.max_batch", "must be at least 1");
        }
        if self.every_points == 0 {
            return bad("ingest.every_points", "must be at least 1");
        }
        if self.max_points_per_forecast != 0 && self.max_points_per_forecast < self.every_points {
            return bad(
                "ingest.max_points_per_forecast",
                "must be 0 (no floor) or at least ingest.every_points",
            );
        }
        if self.max_in_flight == 0 {
            return bad("ingest.max_in_flight", "must be at least 1");
        }
        if self.max_due == 0 {
            return bad("ingest.max_due", "must be at least 1");
        }
        if self.window == 0 || self.window > seer_core::stream::MAX_WINDOW_CAPACITY {
            return bad(
                "ingest.window",
                &format!(
                    "must be between 1 and {}",
                    seer_core::stream::MAX_WINDOW_CAPACITY
                ),
            );
        }
        if self.engine_timeout_ms == 0 {
            return bad("ingest.engine_timeout_ms", "must be at least 1");
        }
        if self.max_pending_dead_letters == 0 {
            return bad("ingest.max_pending_dead_letters", "must be at least 1");
        }
        if !matches!(
            self.processing_guarantee.as_str(),
            "at_least_once" | "exactly_once"
        ) {
            return bad(
                "ingest.processing_guarantee",
                "must be at_least_once or exactly_once",
            );
        }
        if self.exactly_once() && self.every_points != 1 {
            return bad(
                "ingest.every_points",
                "must be 1 with exactly_once (an epoch ends with every consumed point forecast)",
            );
        }
        if self.exactly_once() && self.transaction_interval_ms == 0 {
            return bad("ingest.transaction_interval_ms", "must be at least 1");
        }
        if self.rebuild_messages < 0 {
            return bad("ingest.rebuild_messages", "must not be negative");
        }
        if let Some(q) = self.quantiles.iter().find(|q| !(**q > 0.0 && **q < 1.0)) {
            return bad(
                "ingest.quantiles",
                &format!("each level must lie strictly between 0 and 1, got {q}"),
            );
        }
        if self.engines().is_empty() {
            return bad("ingest.engine", "must name at least one engine endpoint");
        }
        for endpoint in self.engines() {
            if let Err(m) = seer_runtime::grpc::check_endpoint(endpoint) {
                return Err(IngestError::Config("ingest.engine", m));
            }
        }
        self.default_freq()?;
        self.freq_rules()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_documented_file() {
        let c = IngestConfig::default();
        c.validate().unwrap();
        assert_eq!(c.window, 168);
        assert_eq!(c.policy(), BatchPolicy::default());
        assert_eq!(c.default_freq().unwrap(), Frequency::Seconds(3600));
    }

    #[test]
    fn bad_values_name_their_key() {
        type Case = (fn(&mut IngestConfig), &'static str);
        let cases: [Case; 9] = [
            (|c| c.max_batch = 0, "ingest.max_batch"),
            (|c| c.max_in_flight = 0, "ingest.max_in_flight"),
            (|c| c.freq = "1M".into(), "ingest.freq"),
            (|c| c.quantiles = vec![0.5, 1.0], "ingest.quantiles"),
            (
                |c| {
                    c.frequencies.insert("a.".into(), "0".into());
                },
                "ingest.frequencies",
            ),
            (|c| c.kafka.brokers = String::new(), "kafka.brokers"),
            (
                |c| c.processing_guarantee = "exactly_twice".into(),
                "ingest.processing_guarantee",
            ),
            (
                |c| {
                    c.processing_guarantee = "exactly_once".into();
                    c.every_points = 2;
                },
                "ingest.every_points",
            ),
            (
                |c| {
                    c.every_points = 4;
                    c.max_points_per_forecast = 3;
                },
                "ingest.max_points_per_forecast",
            ),
        ];
        for (break_it, key) in cases {
            let mut c = IngestConfig::default();
            break_it(&mut c);
            match c.validate() {
                Err(IngestError::Config(k, _)) => assert_eq!(k, key),
                other => panic!("{key}: {other:?}"),
            }
        }
    }
}
