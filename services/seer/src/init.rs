use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use seer_core::frequency::FrequencyDefaults;
use seer_core::time::Frequency;
use seer_model::checkpoint::{init_weights, save};
use seer_model::{ModelConfig, ModelKind};

use crate::terminal::BadInput;

#[derive(Args)]
pub struct InitArgs {
    /// lstm | deepar | tcn | seq2seq | rnn | bilstm | classifier
    #[arg(long = "type")]
    pub kind: String,
    /// Spacing of the series: seconds, or 15min, 1h, 1d, 1w, or calendar 1mo, 1q, 1y
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
    /// Steps the model reads (default: by frequency, docs/models.md)
    #[arg(long)]
    pub context: Option<usize>,
    /// Steps it forecasts (default: by frequency)
    #[arg(long)]
    pub horizon: Option<usize>,
    #[arg(long, default_value_t = 40)]
    pub hidden: usize,
    #[arg(long, default_value_t = 2)]
    pub layers: usize,
    /// Quantile levels of quantile forecasters (lstm, rnn, seq2seq, tcn)
    #[arg(long, default_value = "0.1,0.5,0.9")]
    pub quantiles: String,
    /// DeepAR likelihood: gaussian | student_t | negative_binomial (student_t, GluonTS's
    /// default: its heavier tails keep the intervals honest on a series with outliers)
    #[arg(long, default_value = "student_t")]
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

/// "3600", "15min", "1h", "1d", "1w", or a calendar spacing "1mo", "1q", "1y".
pub fn parse_freq(s: &str) -> Result<Frequency, BadInput> {
    Frequency::parse(s).map_err(|e| BadInput(e.to_string()))
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

pub fn build_config(kind: &str, freq: Frequency, a: &SizeArgs) -> anyhow::Result<ModelConfig> {
    let kind = ModelKind::parse(kind).map_err(|e| BadInput(e.to_string()))?;
    let recurrent = kind != ModelKind::Tcn;
    let defaults = FrequencyDefaults::for_freq(freq);
    let time_features = match kind {
        ModelKind::Bilstm | ModelKind::Classifier => Vec::new(),
        _ => defaults.time_features.clone(),
    };
    let config = ModelConfig {
        model: kind,
        freq,
        context_length: a.context.unwrap_or(defaults.context_length),
        horizon: a.horizon.unwrap_or(defaults.horizon),
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
            (ModelKind::Deepar, None) => defaults.lags.clone(),
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
        seasonal_naive_series: Vec::new(),
        covariates: Vec::new(),
    };
    config.validate().map_err(|e| BadInput(e.to_string()))?;
    Ok(config)
}

/// What a config took from the frequency's defaults, for the line `seer train` and `seer model
/// init` print before they start: the user sees the lags and context chosen for them.
pub fn describe_choices(config: &ModelConfig, a: &SizeArgs) -> String {
    let d = FrequencyDefaults::for_freq(config.freq);
    let mark = |given: bool| if given { "" } else { " (default)" };
    let cycles: Vec<String> = d
        .cycles
        .iter()
        .map(|c| format!("{} = {} steps", c.name, c.steps))
        .collect();
    let mut out = format!(
        "frequency {}{}: context {}{}, horizon {}{}",
        config.freq,
        if cycles.is_empty() {
            String::new()
        } else {
            format!(" ({})", cycles.join(", "))
        },
        config.context_length,
        mark(a.context.is_some()),
        config.horizon,
        mark(a.horizon.is_some()),
    );
    if config.model == ModelKind::Deepar {
        let lags: Vec<String> = config.lags.iter().map(|l| l.to_string()).collect();
        out += &format!(", lags {}{}", lags.join(","), mark(a.lags.is_some()));
    }
    if !config.covariates.is_empty() {
        let covs: Vec<String> = config
            .covariates
            .iter()
            .map(|c| format!("{} ({})", c.name, c.label().replace('_', "-")))
            .collect();
        out += &format!(", covariates {}", covs.join(", "));
    }
    let features: Vec<&str> = config.time_features.iter().map(|f| f.as_str()).collect();
    out += &format!(
        ", time features {}, seasonal naive season {}",
        if features.is_empty() {
            "none".to_string()
        } else {
            features.join(",")
        },
        d.season
    );
    out
}

pub fn run(a: &InitArgs) -> anyhow::Result<()> {
    let mut config = build_config(&a.kind, parse_freq(&a.freq)?, &a.sizes)?;
    eprintln!("{}", describe_choices(&config, &a.sizes));
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
