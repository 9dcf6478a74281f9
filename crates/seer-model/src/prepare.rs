//! From a series on the model's time grid to the numbers a model reads (docs/models.md,
//! "Common preprocessing").

use seer_core::features::TimeFeature;
use seer_core::scaling::mean_scale;
use seer_core::series::impute_locf;

use crate::config::ModelConfig;
use crate::covariates::{self, CovariateKind};
use crate::error::ModelError;

/// One series on a regular grid of the model's frequency; NaN marks a missing point.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub id: String,
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
    /// The series' class, for classifier training (`None`: unlabelled).
    pub label: Option<String>,
    /// One column per supplied covariate of the model (`ModelConfig::supplied_covariates`: a
    /// holiday list is computed, never carried), in its config's order, on the same grid from the
    /// first timestamp; a known-future column runs on past the last value over the horizon
    /// (`covariates::required_len`). Empty for a model without covariates.
    pub covariates: Vec<Vec<f64>>,
}

impl History {
    pub fn new(id: impl Into<String>, timestamps: Vec<i64>, values: Vec<f64>) -> Self {
        History {
            id: id.into(),
            timestamps,
            values,
            label: None,
            covariates: Vec::new(),
        }
    }

    pub fn with_label(self, label: Option<String>) -> Self {
        History { label, ..self }
    }

    pub fn with_covariates(self, covariates: Vec<Vec<f64>>) -> Self {
        History { covariates, ..self }
    }

    /// The first `origin` points, as a forecast from there sees them: covariate columns keep
    /// `future` points past the origin (known-future values of the steps it forecasts).
    pub fn prefix(&self, origin: usize, future: usize) -> History {
        let origin = origin.min(self.values.len());
        History {
            id: self.id.clone(),
            timestamps: self.timestamps[..origin].to_vec(),
            values: self.values[..origin].to_vec(),
            label: self.label.clone(),
            covariates: self
                .covariates
                .iter()
                .map(|c| c[..(origin + future).min(c.len())].to_vec())
                .collect(),
        }
    }

    /// Checks the covariate columns a forecast of `horizon` steps needs: one per covariate of
    /// `c`, each as long as `covariates::required_len` says. The error names the covariate.
    pub fn check_covariates(&self, c: &ModelConfig, horizon: usize) -> Result<(), ModelError> {
        let supplied: Vec<_> = c.supplied_covariates().collect();
        if supplied.is_empty() && self.covariates.is_empty() {
            return Ok(());
        }
        if self.covariates.len() != supplied.len() {
            let names: Vec<&str> = supplied.iter().map(|c| c.name.as_str()).collect();
            return Err(ModelError::series(
                &self.id,
                format!(
                    "has {} covariate columns; the model reads {} ({})",
                    self.covariates.len(),
                    names.len(),
                    names.join(", ")
                ),
            ));
        }
        let n = self.values.len();
        for (cov, col) in supplied.iter().zip(&self.covariates) {
            let need = covariates::required_len(cov.kind, n, horizon);
            if col.len() < need {
                return Err(ModelError::series(
                    &self.id,
                    match cov.kind {
                        CovariateKind::KnownFuture => format!(
                            "known-future covariate {:?} has {} values past the history's {n}; a forecast of {horizon} steps needs {horizon}",
                            cov.name,
                            col.len().saturating_sub(n),
                        ),
                        CovariateKind::PastObserved => format!(
                            "past-observed covariate {:?} has {} values for the history's {n}",
                            cov.name,
                            col.len()
                        ),
                    },
                ));
            }
        }
        Ok(())
    }

    pub fn last_timestamp(&self) -> Result<i64, ModelError> {
        self.timestamps
            .last()
            .copied()
            .ok_or_else(|| ModelError::series(&self.id, "has no points"))
    }
}

/// The last `context_length` steps of a history, ready for a model.
#[derive(Debug, Clone)]
pub struct Context {
    pub id: String,
    /// Grid timestamps of the context steps, front padding included.
    pub timestamps: Vec<i64>,
    /// Values as observed; NaN where missing or padded.
    pub raw: Vec<f64>,
    /// Missing values carried forward (padding and leading gaps take the first observed value).
    pub imputed: Vec<f64>,
    /// `1 + mean(|z|)` over the observed context points.
    pub scale: f64,
    /// The covariates prepared for the model (standardised, imputed), position 0 = the first
    /// context step (front padding reads 0), running on past the context as far as the
    /// history's columns do.
    pub covariates: Vec<Vec<f32>>,
}

impl Context {
    /// Appends the covariate inputs of context position `t` (`context_length + k` for
    /// forecast step k).
    pub(crate) fn covariate_inputs(&self, c: &ModelConfig, t: i64, out: &mut Vec<f32>) {
        covariates::inputs(c, &self.covariates, t, out);
    }
}

impl Context {
    pub fn last_timestamp(&self) -> i64 {
        *self.timestamps.last().unwrap_or(&0)
    }

    pub fn scaled(&self) -> Vec<f64> {
        self.imputed.iter().map(|v| v / self.scale).collect()
    }
}

/// `future`: the forecast steps after the history its holiday covariates are computed over.
pub fn context(history: &History, c: &ModelConfig, future: usize) -> Result<Context, ModelError> {
    let (context_length, freq) = (c.context_length, c.freq);
    let n = history.values.len();
    let last = history.last_timestamp()?;
    let imputed_all = impute_locf(&history.values)
        .ok_or_else(|| ModelError::series(&history.id, "has no observed (finite) value"))?;
    let pad = context_length.saturating_sub(n);
    let start = n.saturating_sub(context_length);
    let mut raw = vec![f64::NAN; pad];
    raw.extend_from_slice(&history.values[start..]);
    let mut imputed = vec![imputed_all[0]; pad];
    imputed.extend_from_slice(&imputed_all[start..]);
    let scale = mean_scale(&raw).ok_or_else(|| {
        ModelError::series(
            &history.id,
            format!(
                "has no observed value in its last {context_length} points (the model's context)"
            ),
        )
    })?;
    let timestamps = (0..context_length)
        .map(|i| freq.step_saturating(last, -((context_length - 1 - i) as i64)))
        .collect();
    let covariates = covariates::shifted(
        &covariates::prepare(c, history, future),
        n as i64 - context_length as i64,
    );
    Ok(Context {
        id: history.id.clone(),
        timestamps,
        raw,
        imputed,
        scale,
        covariates,
    })
}

pub fn time_features(features: &[TimeFeature], ts: i64) -> impl Iterator<Item = f32> + '_ {
    let calendar = seer_core::time::calendar(ts);
    features.iter().map(move |f| f.of(&calendar))
}
