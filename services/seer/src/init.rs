use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use seer_core::features::default_time_features;
use seer_model::checkpoint::{init_weights, save};
use seer_model::{ModelConfig, ModelKind};

use crate::terminal::BadInput;

#[derive(Args)]
pub struct InitArgs {
    /// lstm | deepar | tcn | seq2seq | rnn | bilstm | classifier
    #[arg(long = "type")]
    pub kind: String,
    /// Spacing of the series: seconds, or 15min, 1h, 1d, 1w
    #[arg(long, default_value = "1h")]
    pub freq: String,
    #[command(flatten)]
    pub sizes: SizeArgs,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub out: PathBuf,
}

/// Model sizes and options shared by `seer model init` and `seer train`.
#[derive(Args, Clone)]
pub struct SizeArgs {
    #[arg(long, default_value_t = 72)]
    pub context: usize,
    #[arg(long, default_value_t = 24)]
    pub horizon: usize,
    #[arg(long, default_value_t = 40)]
    pub hidden: usize,
    #[arg(long, default_value_t = 2)]
    pub layers: usize,
    /// Quantile levels of quantile forecasters (lstm, rnn, seq2seq, tcn)
    #[arg(long, default_value = "0.1,0.5,0.9")]
    pub quantiles: String,
    /// DeepAR likelihood: gaussian | student_t | negative_binomial
    #[arg(long, default_value = "gaussian")]
    pub distribution: String,
    /// DeepAR lags (default: by frequency)
    #[arg(long)]
    pub lags: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub cardinality: usize,
    #[arg(long, default_value_t = 4)]
    pub embedding_dim: usize,
    #[arg(long, default_value_t = 100)]
    pub samples: usize,
    /// TCN block widths
    #[arg(long, default_value = "32,32,32,32")]
    pub channels: String,
    #[arg(long, default_value = "1,2,4,8")]
    pub dilations: String,
    #[arg(long, default_value_t = 3)]
    pub kernel_size: usize,
    /// Classifier class names
    #[arg(long, default_value = "flat,trend,seasonal")]
    pub classes: String,
}

/// "3600", "15min", "1h", "1d", "1w" → seconds.
pub fn parse_freq(s: &str) -> Result<i64, BadInput> {
    seer_core::time::parse_frequency(s).map_err(|e| BadInput(e.to_string()))
}

fn list<T: std::str::FromStr>(what: &str, s: &str) -> Result<Vec<T>, BadInput> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.trim()
                .parse::<T>()
                .map_err(|_| BadInput(format!("--{what}: cannot parse {p:?}")))
        })
        .collect()
}

/// Lags that cover the last few steps and one and two seasonal periods of the frequency.
fn default_lags(freq: i64) -> Vec<usize> {
    match freq {
        f if f < 3600 => vec![1, 2, 3, 4, (3600 / f) as usize],
        f if f < 86_400 => vec![1, 2, 3, 24, 48, 168],
        f if f < 604_800 => vec![1, 2, 3, 7, 14, 28],
        _ => vec![1, 2, 3, 4, 52],
    }
}

pub fn build_config(kind: &str, freq: i64, a: &SizeArgs) -> anyhow::Result<ModelConfig> {
    let kind = ModelKind::parse(kind).map_err(|e| BadInput(e.to_string()))?;
    let recurrent = kind != ModelKind::Tcn;
    let time_features = match kind {
        ModelKind::Bilstm | ModelKind::Classifier => Vec::new(),
        _ => default_time_features(freq),
    };
    let config = ModelConfig {
        model: kind,
        freq,
        context_length: a.context,
        horizon: a.horizon,
        time_features,
        input_size: None,
        hidden_size: if recurrent { a.hidden } else { 0 },
        num_layers: if recurrent { a.layers } else { 0 },
        quantiles: if kind.emits_quantiles() {
            list("quantiles", &a.quantiles)?
        } else {
            Vec::new()
        },
        channels: if kind == ModelKind::Tcn {
            list("channels", &a.channels)?
        } else {
            Vec::new()
        },
        kernel_size: if kind == ModelKind::Tcn {
            a.kernel_size
        } else {
            0
        },
        dilations: if kind == ModelKind::Tcn {
            list("dilations", &a.dilations)?
        } else {
            Vec::new()
        },
        lags: match (kind, &a.lags) {
            (ModelKind::Deepar, Some(l)) => list("lags", l)?,
            (ModelKind::Deepar, None) => default_lags(freq),
            _ => Vec::new(),
        },
        cardinality: if kind == ModelKind::Deepar {
            a.cardinality
        } else {
            0
        },
        embedding_dim: if kind == ModelKind::Deepar {
            a.embedding_dim
        } else {
            0
        },
        distribution: (kind == ModelKind::Deepar).then(|| a.distribution.clone()),
        num_samples: if kind == ModelKind::Deepar {
            a.samples
        } else {
            0
        },
        series_ids: None,
        classes: if kind == ModelKind::Classifier {
            list("classes", &a.classes)?
        } else {
            Vec::new()
        },
    };
    config.validate().map_err(|e| BadInput(e.to_string()))?;
    Ok(config)
}

pub fn run(a: &InitArgs) -> anyhow::Result<()> {
    let mut config = build_config(&a.kind, parse_freq(&a.freq)?, &a.sizes)?;
    config.input_size = Some(config.derived_input_size());
    let weights = init_weights(&config, a.seed)?;
    save(&a.out, &config, &weights)
        .with_context(|| format!("writing checkpoint to {}", a.out.display()))?;
    let params: usize = weights
        .names()
        .filter_map(|n| weights.shape(n))
        .map(|s| s.iter().product::<usize>())
        .sum();
    println!(
        "wrote {} checkpoint ({} parameters, seed {}) to {}",
        config.model.name(),
        params,
        a.seed,
        a.out.display()
    );
    Ok(())
}
