//! From a series on the model's time grid to the numbers a model reads (docs/models.md,
//! "Common preprocessing").

use seer_core::features::TimeFeature;
use seer_core::scaling::mean_scale;
use seer_core::series::impute_locf;
use seer_core::time::Frequency;

use crate::error::ModelError;

/// One series on a regular grid of the model's frequency; NaN marks a missing point.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub id: String,
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
    /// The series' class, for classifier training (`None`: unlabelled).
    pub label: Option<String>,
}

impl History {
    pub fn new(id: impl Into<String>, timestamps: Vec<i64>, values: Vec<f64>) -> Self {
        History {
            id: id.into(),
            timestamps,
            values,
            label: None,
        }
    }

    pub fn with_label(self, label: Option<String>) -> Self {
        History { label, ..self }
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
}

impl Context {
    pub fn last_timestamp(&self) -> i64 {
        *self.timestamps.last().unwrap_or(&0)
    }

    pub fn scaled(&self) -> Vec<f64> {
        self.imputed.iter().map(|v| v / self.scale).collect()
    }
}

pub fn context(
    history: &History,
    context_length: usize,
    freq: Frequency,
) -> Result<Context, ModelError> {
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
    Ok(Context {
        id: history.id.clone(),
        timestamps,
        raw,
        imputed,
        scale,
    })
}

pub fn time_features(features: &[TimeFeature], ts: i64) -> impl Iterator<Item = f32> + '_ {
    features.iter().map(move |f| f.value(ts))
}
