//! What the trainer's integration tests share: the adapter and the tiny models they tune.

#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use seer_gpu::{AdapterChoice, GpuContext};
use seer_model::{ModelConfig, ModelKind};

pub const HOUR: i64 = 3600;

pub fn ctx() -> Arc<GpuContext> {
    static CTX: OnceLock<Arc<GpuContext>> = OnceLock::new();
    CTX.get_or_init(|| {
        Arc::new(GpuContext::new(AdapterChoice::from_env().unwrap()).expect("gpu adapter"))
    })
    .clone()
}

/// An untrained LSTM (random weights): any fine-tuning on real windows beats it.
pub fn lstm_config() -> ModelConfig {
    ModelConfig {
        hidden_size: 8,
        num_layers: 1,
        quantiles: vec![0.1, 0.5, 0.9],
        ..ModelConfig::bare(ModelKind::Lstm, HOUR.into(), 8, 4)
    }
}

/// An untrained model of `kind` served as "lstm" (the name the ingest and trainer use here).
pub fn config_of(kind: ModelKind) -> ModelConfig {
    let mut c = ModelConfig {
        model: kind,
        ..lstm_config()
    };
    match kind {
        ModelKind::Tcn => {
            c.hidden_size = 0;
            c.num_layers = 0;
            c.channels = vec![8, 8];
            c.kernel_size = 2;
            c.dilations = vec![1, 2];
        }
        ModelKind::Deepar => {
            c.quantiles = vec![];
            c.lags = vec![1, 2];
            c.cardinality = 1;
            c.distribution = Some("gaussian".into());
            c.num_samples = 50;
        }
        _ => {}
    }
    c
}
