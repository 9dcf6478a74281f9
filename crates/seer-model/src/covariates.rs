//! Dynamic covariates: extra per-step inputs beside the target (docs/models.md, "Covariates").
//!
//! A *known-future* covariate (a temperature forecast, a holiday flag, a planned price) is known
//! for the steps being forecast, so a forecast needs its values over the horizon. A
//! *past-observed* one (a measured temperature, a competitor's sales) is only known up to the
//! forecast's origin, so the models read it `horizon` steps late: the value a step reads is
//! always one a forecast made `horizon` steps earlier could have seen, in training and at
//! inference alike.

use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::error::ModelError;

/// When a covariate's values are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CovariateKind {
    /// Known for the forecast steps too; a forecast must supply them.
    #[default]
    KnownFuture,
    /// Known up to the forecast's origin only; read `horizon` steps late.
    PastObserved,
}

impl CovariateKind {
    pub fn name(self) -> &'static str {
        match self {
            CovariateKind::KnownFuture => "known_future",
            CovariateKind::PastObserved => "past_observed",
        }
    }
}

/// One covariate a model reads, named as the CSV column or `Observation.features` key that
/// carries it, and standardised with the training data's mean and deviation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Covariate {
    pub name: String,
    #[serde(default)]
    pub kind: CovariateKind,
    #[serde(default)]
    pub mean: f64,
    #[serde(default = "one")]
    pub std: f64,
}

fn one() -> f64 {
    1.0
}

impl Covariate {
    /// A covariate standardised by the observed values of `columns` (every training series'
    /// column of it); a constant or unobserved one keeps deviation 1.
    pub fn fitted<'a>(
        name: &str,
        kind: CovariateKind,
        columns: impl IntoIterator<Item = &'a [f64]>,
    ) -> Covariate {
        let (mut n, mut sum, mut sum_sq) = (0usize, 0.0, 0.0);
        for v in columns.into_iter().flatten().filter(|v| v.is_finite()) {
            n += 1;
            sum += v;
            sum_sq += v * v;
        }
        let mean = if n > 0 { sum / n as f64 } else { 0.0 };
        let var = if n > 1 {
            ((sum_sq - n as f64 * mean * mean) / (n - 1) as f64).max(0.0)
        } else {
            0.0
        };
        let std = var.sqrt();
        Covariate {
            name: name.to_string(),
            kind,
            mean,
            std: if std.is_finite() && std > 1e-12 {
                std
            } else {
                1.0
            },
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ModelError> {
        if self.name.trim().is_empty() {
            return Err(ModelError::invalid("a covariate has an empty name"));
        }
        if !(self.mean.is_finite() && self.std.is_finite() && self.std > 0.0) {
            return Err(ModelError::invalid(format!(
                "covariate {:?}: mean must be finite and std positive, got {} and {}",
                self.name, self.mean, self.std
            )));
        }
        Ok(())
    }
}

/// Points of a covariate's column a history of `n` points must carry for a forecast of
/// `horizon` steps: its `n` values, and for a known-future one the `horizon` after them.
pub fn required_len(kind: CovariateKind, n: usize, horizon: usize) -> usize {
    match kind {
        CovariateKind::KnownFuture => n + horizon,
        CovariateKind::PastObserved => n,
    }
}

/// The columns a model reads, standardised and with missing values carried forward (leading
/// ones take the first observed value; an unobserved column reads 0, the mean).
pub(crate) fn prepare(c: &ModelConfig, columns: &[Vec<f64>]) -> Vec<Vec<f32>> {
    c.covariates
        .iter()
        .zip(columns)
        .map(|(cov, col)| {
            let first = col.iter().copied().find(|v| v.is_finite());
            let mut last = first.unwrap_or(cov.mean);
            col.iter()
                .map(|&v| {
                    if v.is_finite() {
                        last = v;
                    }
                    ((last - cov.mean) / cov.std) as f32
                })
                .collect()
        })
        .collect()
}

/// Appends the covariate inputs of grid position `t` of `columns` (prepared, position 0 = the
/// columns' first point): a known-future covariate's value at `t`, a past-observed one's at
/// `t − horizon`. Positions before the columns read 0 (the mean); positions past their end the
/// last value (only reached by a past-observed covariate at inference, where it is the value
/// at the origin).
pub(crate) fn inputs(c: &ModelConfig, columns: &[Vec<f32>], t: i64, out: &mut Vec<f32>) {
    for (cov, col) in c.covariates.iter().zip(columns) {
        let src = match cov.kind {
            CovariateKind::KnownFuture => t,
            CovariateKind::PastObserved => t - c.horizon as i64,
        };
        out.push(match (usize::try_from(src), col.last()) {
            (Ok(i), Some(&last)) => col.get(i).copied().unwrap_or(last),
            _ => 0.0,
        });
    }
}

/// Shifts prepared columns so that position 0 is grid position `offset` of the originals
/// (negative: before them, read as 0), keeping everything from there on.
pub(crate) fn shifted(columns: &[Vec<f32>], offset: i64) -> Vec<Vec<f32>> {
    columns
        .iter()
        .map(|col| {
            let pad = usize::try_from(-offset).unwrap_or(0);
            let skip = usize::try_from(offset).unwrap_or(0).min(col.len());
            let mut out = vec![0.0; pad];
            out.extend_from_slice(&col[skip..]);
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_standardises_over_every_column_and_skips_missing_values() {
        let a = [1.0, 3.0, f64::NAN];
        let b = [5.0, f64::INFINITY];
        let c = Covariate::fitted("t", CovariateKind::KnownFuture, [&a[..], &b[..]]);
        assert_eq!(c.mean, 3.0);
        assert!((c.std - 2.0).abs() < 1e-12);
        let flat = Covariate::fitted("f", CovariateKind::PastObserved, [&[2.0, 2.0][..]]);
        assert_eq!((flat.mean, flat.std), (2.0, 1.0));
        let none = Covariate::fitted("n", CovariateKind::KnownFuture, [&[f64::NAN][..]]);
        assert_eq!((none.mean, none.std), (0.0, 1.0));
    }

    #[test]
    fn known_future_reads_the_step_past_observed_reads_a_horizon_back() {
        let mut c = crate::config::tests::deepar(vec![1]);
        c.horizon = 2;
        c.covariates = vec![
            Covariate {
                name: "k".into(),
                kind: CovariateKind::KnownFuture,
                mean: 0.0,
                std: 1.0,
            },
            Covariate {
                name: "p".into(),
                kind: CovariateKind::PastObserved,
                mean: 10.0,
                std: 2.0,
            },
        ];
        let cols = prepare(&c, &[vec![1.0, f64::NAN, 3.0, 4.0], vec![10.0, 12.0, 14.0]]);
        assert_eq!(cols[0], [1.0, 1.0, 3.0, 4.0]);
        assert_eq!(cols[1], [0.0, 1.0, 2.0]);
        let at = |t| {
            let mut out = Vec::new();
            inputs(&c, &cols, t, &mut out);
            out
        };
        assert_eq!(at(3), [4.0, 1.0]);
        assert_eq!(at(0), [1.0, 0.0], "before the past column: the mean");
        // past the past-observed column's end: its last value (the origin's)
        assert_eq!(at(5), [4.0, 2.0]);
        assert_eq!(at(-1), [0.0, 0.0]);
        assert_eq!(shifted(&cols[..1], -2)[0], [0.0, 0.0, 1.0, 1.0, 3.0, 4.0]);
        assert_eq!(shifted(&cols[..1], 3)[0], [4.0]);
        assert_eq!(shifted(&cols[..1], 9)[0], Vec::<f32>::new());
    }

    #[test]
    fn config_serde_names_the_kind_and_defaults_to_known_future() {
        let c: Covariate = serde_json::from_str(r#"{"name": "temperature"}"#).unwrap();
        assert_eq!(c.kind, CovariateKind::KnownFuture);
        assert_eq!((c.mean, c.std), (0.0, 1.0));
        let c: Covariate =
            serde_json::from_str(r#"{"name": "x", "kind": "past_observed", "std": 3}"#).unwrap();
        assert_eq!(c.kind, CovariateKind::PastObserved);
        assert!(serde_json::from_str::<Covariate>(r#"{"name": "x", "kind": "future"}"#).is_err());
        assert!(
            Covariate {
                std: 0.0,
                ..c.clone()
            }
            .validate()
            .is_err()
        );
    }
}
