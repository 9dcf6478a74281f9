//! What a model returns for one series.

use seer_core::quantiles::quantiles_of;

use crate::error::ModelError;

#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub id: String,
    /// Timestamp of the last point of the history the forecast starts from.
    pub last_observation: i64,
    pub timestamps: Vec<i64>,
    /// The mean path (sample mean for DeepAR; the level nearest 0.5 for quantile forecasters).
    pub mean: Vec<f64>,
    /// (level, values per step), in the order requested.
    pub quantiles: Vec<(f64, Vec<f64>)>,
    /// Sample paths [path][step], when the model samples and they were asked for.
    pub samples: Option<Vec<Vec<f64>>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GapFill {
    pub id: String,
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
    /// True where the value was missing and is now the model's fill.
    pub filled: Vec<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub id: String,
    pub probabilities: Vec<(String, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    Forecast(Forecast),
    GapFill(GapFill),
    Classification(Classification),
}

impl Prediction {
    pub fn id(&self) -> &str {
        match self {
            Prediction::Forecast(f) => &f.id,
            Prediction::GapFill(g) => &g.id,
            Prediction::Classification(c) => &c.id,
        }
    }
}

/// Requested quantiles from a model's own sorted levels: linear in the level between the two
/// nearest levels; a request outside the model's range is an error rather than an extrapolation.
pub fn interpolate_levels(
    model_levels: &[f64],
    values: &[f64],
    requested: &[f64],
) -> Result<Vec<f64>, ModelError> {
    let (lo, hi) = (model_levels[0], model_levels[model_levels.len() - 1]);
    requested
        .iter()
        .map(|&q| {
            if q < lo - 1e-12 || q > hi + 1e-12 {
                return Err(ModelError::Request(format!(
                    "quantile {q} is outside the levels this model was trained for ({lo}..{hi})"
                )));
            }
            let i = model_levels.partition_point(|&l| l < q - 1e-12);
            if i < model_levels.len() && (model_levels[i] - q).abs() <= 1e-12 {
                return Ok(values[i]);
            }
            let (l0, l1) = (model_levels[i - 1], model_levels[i]);
            let w = (q - l0) / (l1 - l0);
            Ok(values[i - 1] * (1.0 - w) + values[i] * w)
        })
        .collect()
}

/// Mean and requested quantiles per step from sample paths [path][step].
pub fn summarize_paths(
    paths: &[Vec<f64>],
    horizon: usize,
    levels: &[f64],
) -> (Vec<f64>, Vec<(f64, Vec<f64>)>) {
    let mut mean = vec![0.0; horizon];
    let mut per_level: Vec<Vec<f64>> = vec![Vec::with_capacity(horizon); levels.len()];
    let mut column = Vec::with_capacity(paths.len());
    for step in 0..horizon {
        column.clear();
        column.extend(paths.iter().map(|p| p[step]));
        mean[step] = column.iter().sum::<f64>() / column.len().max(1) as f64;
        for (i, q) in quantiles_of(&mut column, levels).into_iter().enumerate() {
            per_level[i].push(q);
        }
    }
    (mean, levels.iter().cloned().zip(per_level).collect())
}
