//! The `[trainer]` section of the configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use seer_runtime::config::fields;
use seer_runtime::{KafkaConfig, ModelStoreConfig, Topics};
use serde::Deserialize;

use crate::error::TrainerError;

/// This crate's defaults: the `[trainer]` section.
pub const DEFAULTS: &str = include_str!("../defaults.toml");

/// The `[trainer]` section, plus the shared sections the binary fills in.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerConfig {
    pub metrics_listen: SocketAddr,
    pub model: String,
    #[serde(deserialize_with = "fields::empty_as_none")]
    pub models_dir: Option<PathBuf>,
    pub group_id: String,
    pub score_window_points: usize,
    pub drift_window_points: usize,
    pub drift_ratio: f64,
    pub replay_recent: usize,
    pub replay_reservoir: usize,
    pub rebuild_points: i64,
    pub round_every_points: u64,
    pub round_every_seconds: u64,
    pub min_new_windows: usize,
    pub steps: usize,
    pub batch_size: usize,
    pub learning_rate: f32,
    pub weight_decay: f32,
    pub max_grad_norm: f32,
    pub new_fraction: f64,
    pub holdout_windows: usize,
    pub promote_margin: f64,
    pub rollback_points: usize,
    pub rollback_margin: f64,
    pub quality_interval_seconds: u64,
    pub select_baseline: bool,
    pub select_min_points: usize,
    pub select_half_life_points: usize,
    pub select_margin: f64,
    pub seed: u64,
    #[serde(skip)]
    pub kafka: KafkaConfig,
    #[serde(skip)]
    pub topics: Topics,
    #[serde(skip)]
    pub model_store: ModelStoreConfig,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        seer_runtime::defaults::section_of(DEFAULTS, "trainer")
    }
}

impl TrainerConfig {
    pub fn selection_rule(&self) -> crate::selection::SelectionRule {
        crate::selection::SelectionRule {
            min_points: self.select_min_points as f64,
            half_life_points: self.select_half_life_points as f64,
            margin: self.select_margin,
        }
    }

    pub fn round_interval(&self) -> Duration {
        Duration::from_secs(self.round_every_seconds.max(1))
    }

    pub fn validate(&self) -> Result<(), TrainerError> {
        let bad = |key: &str, why: &str| Err(TrainerError::Config(format!("trainer.{key} {why}")));
        if self.model_store.dir.is_empty() {
            return Err(TrainerError::Config(
                "the trainer needs model_store.dir: where it writes the versions it promotes"
                    .into(),
            ));
        }
        if self.score_window_points == 0 {
            return bad("score_window_points", "must be at least 1");
        }
        if self.drift_window_points == 0 || self.drift_window_points > self.score_window_points {
            return bad("drift_window_points", "must be in 1..=score_window_points");
        }
        if self.drift_ratio.is_nan() || self.drift_ratio <= 1.0 {
            return bad("drift_ratio", "must be above 1");
        }
        if self.replay_recent == 0 {
            return bad("replay_recent", "must be at least 1");
        }
        if self.steps == 0 || self.batch_size == 0 {
            return bad("steps and trainer.batch_size", "must be at least 1");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad("learning_rate", "must be a positive number");
        }
        if !(0.0..=1.0).contains(&self.new_fraction) {
            return bad("new_fraction", "must be in [0, 1]");
        }
        if self.holdout_windows == 0 {
            return bad("holdout_windows", "must be at least 1");
        }
        if !(0.0..1.0).contains(&self.promote_margin)
            || !(0.0..=10.0).contains(&self.rollback_margin)
        {
            return bad(
                "promote_margin and trainer.rollback_margin",
                "must be in [0, 1) and [0, 10]",
            );
        }
        if self.select_min_points == 0 || self.select_half_life_points == 0 {
            return bad(
                "select_min_points and trainer.select_half_life_points",
                "must be at least 1",
            );
        }
        if !(0.0..1.0).contains(&self.select_margin) {
            return bad("select_margin", "must be in [0, 1)");
        }
        if self.min_new_windows < 2 {
            return bad(
                "min_new_windows",
                "must be at least 2 (one to train on, one to hold out)",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_with_a_store() {
        let mut c = TrainerConfig::default();
        assert!(c.validate().is_err(), "no store");
        c.model_store.dir = "/tmp/store".into();
        c.validate().unwrap();
        c.drift_window_points = c.score_window_points + 1;
        assert!(c.validate().is_err());
    }
}
