//! `config.json` of a checkpoint: one flat schema, validated per model kind (docs/models.md).

use seer_core::features::TimeFeature;
use seer_core::time::Frequency;
use seer_gpu::ops::Distribution;
use serde::{Deserialize, Serialize};

use crate::covariates::{Covariate, CovariateKind};
use crate::error::ModelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Lstm,
    Rnn,
    Seq2seq,
    Tcn,
    Deepar,
    Bilstm,
    Classifier,
}

impl ModelKind {
    pub const ALL: [ModelKind; 7] = [
        ModelKind::Lstm,
        ModelKind::Rnn,
        ModelKind::Seq2seq,
        ModelKind::Tcn,
        ModelKind::Deepar,
        ModelKind::Bilstm,
        ModelKind::Classifier,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Lstm => "lstm",
            ModelKind::Rnn => "rnn",
            ModelKind::Seq2seq => "seq2seq",
            ModelKind::Tcn => "tcn",
            ModelKind::Deepar => "deepar",
            ModelKind::Bilstm => "bilstm",
            ModelKind::Classifier => "classifier",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ModelError> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
                ModelError::invalid(format!(
                    "unknown model type {s:?}: expected one of {}",
                    names.join(", ")
                ))
            })
    }

    /// Whether the model forecasts future steps (the gap filler and the classifier do not).
    pub fn forecasts(self) -> bool {
        !matches!(self, ModelKind::Bilstm | ModelKind::Classifier)
    }

    /// Forecasters that emit a fixed set of quantile levels (rather than samples).
    pub fn emits_quantiles(self) -> bool {
        matches!(
            self,
            ModelKind::Lstm | ModelKind::Rnn | ModelKind::Seq2seq | ModelKind::Tcn
        )
    }
}

/// Most stacked recurrent layers a config may ask for. Far above any useful depth; without a
/// bound, `num_layers: 1e18` in a hand-edited config.json made the loader list tensors until
/// memory ran out.
pub const MAX_LAYERS: usize = 256;

fn is_zero(v: &usize) -> bool {
    *v == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub model: ModelKind,
    /// Spacing between points: seconds (a number, as configs have always held it) or a
    /// calendar spacing (`"1mo"`, `"1q"`, `"1y"`).
    pub freq: Frequency,
    pub context_length: usize,
    pub horizon: usize,
    #[serde(default)]
    pub time_features: Vec<TimeFeature>,
    /// Derived from the rest; checked when present so a hand-edited config cannot disagree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_size: Option<usize>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hidden_size: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_layers: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quantiles: Vec<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<usize>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub kernel_size: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dilations: Vec<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lags: Vec<usize>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cardinality: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub embedding_dim: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_samples: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// Series this checkpoint leaves to the seasonal naive, because its backtest on them lost to
    /// it (`seer train` and `seer eval --select` write it; docs/models.md, "Never worse than
    /// the baseline"). The engine answers them with `seasonal_naive` and says so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seasonal_naive_series: Vec<String>,
    /// Dynamic covariates read beside the target at every step, in input order
    /// (docs/models.md, "Covariates"); forecasters only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub covariates: Vec<Covariate>,
}

impl ModelConfig {
    /// A config of `model` with every optional field empty (no time features, sizes 0, no
    /// covariates): the start a caller fills in, as tests and tools do, rather than spelling
    /// out every field.
    pub fn bare(model: ModelKind, freq: Frequency, context_length: usize, horizon: usize) -> Self {
        ModelConfig {
            model,
            freq,
            context_length,
            horizon,
            time_features: Vec::new(),
            input_size: None,
            hidden_size: 0,
            num_layers: 0,
            quantiles: Vec::new(),
            channels: Vec::new(),
            kernel_size: 0,
            dilations: Vec::new(),
            lags: Vec::new(),
            cardinality: 0,
            embedding_dim: 0,
            distribution: None,
            num_samples: 0,
            series_ids: None,
            classes: Vec::new(),
            seasonal_naive_series: Vec::new(),
            covariates: Vec::new(),
        }
    }

    /// Width of one step's input vector of the first layer.
    pub fn derived_input_size(&self) -> usize {
        let f = self.known_inputs();
        match self.model {
            ModelKind::Lstm | ModelKind::Rnn | ModelKind::Seq2seq | ModelKind::Tcn => 1 + f,
            // Saturating: embedding_dim comes from config.json unchecked, and a width this
            // large then fails as a tensor too large for any checkpoint.
            ModelKind::Deepar => (self.lags.len() + f).saturating_add(self.embedding_dim),
            ModelKind::Bilstm => 2,
            ModelKind::Classifier => 1,
        }
    }

    pub fn distribution(&self) -> Result<Distribution, ModelError> {
        let name = self.distribution.as_deref().unwrap_or("gaussian");
        Distribution::parse(name).ok_or_else(|| {
            ModelError::invalid(format!(
                "unknown distribution {name:?}: expected gaussian, student_t or negative_binomial"
            ))
        })
    }

    /// Inputs per step besides the target (and a DeepAR's lags and embedding): the time
    /// features, then the covariates.
    pub fn known_inputs(&self) -> usize {
        self.time_features.len() + self.covariates.len()
    }

    /// The covariates a history must carry columns for, in config order: all but the holiday
    /// lists, which the model computes from timestamps.
    pub fn supplied_covariates(&self) -> impl Iterator<Item = &Covariate> {
        self.covariates.iter().filter(|c| !c.is_holidays())
    }

    /// The longest horizon a forecast may ask, when the model limits it: a TCN predicts its
    /// configured horizon directly, and a past-observed covariate read `horizon` steps late
    /// runs out of known values beyond it.
    pub fn horizon_limit(&self) -> Option<usize> {
        let past = self
            .covariates
            .iter()
            .any(|c| c.kind == CovariateKind::PastObserved);
        (self.model == ModelKind::Tcn || past).then_some(self.horizon)
    }

    pub fn max_lag(&self) -> usize {
        self.lags.iter().copied().max().unwrap_or(0)
    }

    /// Points of history the model reads: its context, and for DeepAR as far back again as its
    /// longest lag reaches (a lag before the history reads 0, docs/models.md).
    pub fn history_points(&self) -> usize {
        self.context_length.saturating_add(self.max_lag())
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::invalid(m));
        if !self.freq.is_valid() {
            return bad(format!(
                "freq must be a positive spacing, got {}",
                self.freq
            ));
        }
        if self.context_length == 0 {
            return bad("context_length must be at least 1".into());
        }
        if !self.covariates.is_empty() && !self.model.forecasts() {
            return bad(format!(
                "{}: covariates are read by forecasters only",
                self.model.name()
            ));
        }
        let mut names = std::collections::HashSet::new();
        for cov in &self.covariates {
            cov.validate()?;
            if !names.insert(cov.name.as_str()) {
                return bad(format!("covariate {:?} is listed twice", cov.name));
            }
        }
        if self.horizon == 0 {
            return bad("horizon must be at least 1".into());
        }
        if let Some(n) = self.input_size
            && n != self.derived_input_size()
        {
            return bad(format!(
                "input_size {n} disagrees with the other fields, which imply {}",
                self.derived_input_size()
            ));
        }
        let kind = self.model;
        if kind != ModelKind::Tcn {
            if self.hidden_size == 0 || self.hidden_size > seer_gpu::ops::PAIRS_PER_GROUP {
                return bad(format!(
                    "{}: hidden_size must be in 1..={}, got {}",
                    kind.name(),
                    seer_gpu::ops::PAIRS_PER_GROUP,
                    self.hidden_size
                ));
            }
            if self.num_layers == 0 || self.num_layers > MAX_LAYERS {
                return bad(format!(
                    "{}: num_layers must be in 1..={MAX_LAYERS}, got {}",
                    kind.name(),
                    self.num_layers
                ));
            }
        }
        if kind.emits_quantiles() {
            if self.quantiles.is_empty() || self.quantiles.len() > seer_gpu::ops::MAX_LEVELS {
                return bad(format!(
                    "{}: quantiles must list 1 to {} levels",
                    kind.name(),
                    seer_gpu::ops::MAX_LEVELS
                ));
            }
            if let Some(q) = self.quantiles.iter().find(|q| !(**q > 0.0 && **q < 1.0)) {
                return bad(format!(
                    "quantile level {q} is not strictly between 0 and 1"
                ));
            }
            if self.quantiles.windows(2).any(|w| w[0] >= w[1]) {
                return bad("quantiles must be strictly increasing".into());
            }
        }
        match kind {
            ModelKind::Tcn => {
                if self.channels.is_empty() || self.channels.contains(&0) {
                    return bad("tcn: channels must list at least one positive width".into());
                }
                if self.dilations.len() != self.channels.len() || self.dilations.contains(&0) {
                    return bad("tcn: dilations must give one positive dilation per block".into());
                }
                if self.kernel_size == 0 {
                    return bad("tcn: kernel_size must be at least 1".into());
                }
            }
            ModelKind::Deepar => {
                if self.lags.is_empty() || self.lags.contains(&0) {
                    return bad("deepar: lags must list at least one lag ≥ 1".into());
                }
                let mut seen = std::collections::HashSet::new();
                if let Some(l) = self.lags.iter().find(|l| !seen.insert(**l)) {
                    // a repeated lag is a second input column with the same value: it costs
                    // weights and reads as if the config named another lag
                    return bad(format!("deepar: lag {l} is listed twice"));
                }
                if self.cardinality == 0 {
                    return bad("deepar: cardinality must be at least 1".into());
                }
                self.distribution()?;
            }
            ModelKind::Classifier if self.classes.len() < 2 => {
                return bad("classifier: classes must list at least two names".into());
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn deepar(lags: Vec<usize>) -> ModelConfig {
        ModelConfig {
            model: ModelKind::Deepar,
            freq: Frequency::Seconds(1800),
            context_length: 96,
            horizon: 48,
            time_features: Vec::new(),
            input_size: None,
            hidden_size: 8,
            num_layers: 1,
            quantiles: Vec::new(),
            channels: Vec::new(),
            kernel_size: 0,
            dilations: Vec::new(),
            lags,
            cardinality: 1,
            embedding_dim: 0,
            distribution: None,
            num_samples: 100,
            series_ids: None,
            classes: Vec::new(),
            seasonal_naive_series: Vec::new(),
            covariates: Vec::new(),
        }
    }

    #[test]
    fn a_repeated_lag_is_an_error_that_names_it() {
        // the old 30-minute default, [1, 2, 3, 4, 2], read the hourly lag twice
        let e = deepar(vec![1, 2, 3, 4, 2]).validate().unwrap_err();
        assert!(e.to_string().contains("lag 2 is listed twice"), "{e}");
        deepar(vec![4, 1, 48]).validate().unwrap();
    }

    #[test]
    fn lags_must_be_positive_and_present() {
        assert!(deepar(vec![]).validate().is_err());
        assert!(deepar(vec![0, 1]).validate().is_err());
    }
}
