//! Dynamic covariates: extra per-step inputs beside the target (docs/models.md, "Covariates").
//!
//! A *known-future* covariate (a temperature forecast, a holiday flag, a planned price) is known
//! for the steps being forecast, so a forecast needs its values over the horizon. A
//! *past-observed* one (a measured temperature, a competitor's sales) is only known up to the
//! forecast's origin, so the models read it `horizon` steps late: the value a step reads is
//! always one a forecast made `horizon` steps earlier could have seen, in training and at
//! inference alike.
//!
//! A *holiday* covariate is a known-future one whose values the model computes itself from a
//! list of dates in its config: 1 on a listed day, 0 otherwise. Nothing supplies its values, so
//! it works wherever timestamps do: the CSV path, the engine's windows and the streaming path.

use seer_core::time::{SECONDS_PER_DAY, parse_timestamp};
use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::prepare::History;

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
    /// Days (`YYYY-MM-DD`, the UTC calendar of the step's timestamp, as the time features read
    /// it) on which a holiday covariate is 1; empty for a covariate whose values are supplied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dates: Vec<String>,
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
            dates: Vec::new(),
        }
    }

    /// A holiday covariate over `dates`, standardised over the 0/1 values it takes on the
    /// training histories' timestamps.
    pub fn holidays(name: &str, dates: Vec<String>, histories: &[History]) -> Covariate {
        let mut c = Covariate {
            dates,
            ..Covariate::fitted(name, CovariateKind::KnownFuture, [])
        };
        let days = c.holiday_days();
        let columns: Vec<Vec<f64>> = histories
            .iter()
            .map(|h| holiday_column(&days, h.timestamps.iter().copied()))
            .collect();
        let fitted = Covariate::fitted(name, c.kind, columns.iter().map(Vec::as_slice));
        (c.mean, c.std) = (fitted.mean, fitted.std);
        c
    }

    /// How a listing names it: `holidays` for a holiday list, else its kind.
    pub fn label(&self) -> &'static str {
        if self.is_holidays() {
            "holidays"
        } else {
            self.kind.name()
        }
    }

    /// Whether the model computes this covariate from its `dates` rather than being given it.
    pub fn is_holidays(&self) -> bool {
        !self.dates.is_empty()
    }

    /// The listed days as days since 1970-01-01, sorted; dates that do not parse are skipped
    /// (`validate` refuses them in a config).
    fn holiday_days(&self) -> Vec<i64> {
        let mut days: Vec<i64> = self
            .dates
            .iter()
            .filter_map(|d| parse_holiday(d).ok())
            .collect();
        days.sort_unstable();
        days.dedup();
        days
    }

    pub(crate) fn validate(&self) -> Result<(), ModelError> {
        if self.name.trim().is_empty() {
            return Err(ModelError::invalid("a covariate has an empty name"));
        }
        if self.is_holidays() && self.kind != CovariateKind::KnownFuture {
            return Err(ModelError::invalid(format!(
                "covariate {:?}: a holiday list is known for the future; its kind must be known_future",
                self.name
            )));
        }
        for (i, d) in self.dates.iter().enumerate() {
            parse_holiday(d).map_err(|why| {
                ModelError::invalid(format!("covariate {:?}: dates[{i}] {d:?} {why}", self.name))
            })?;
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

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn parse_holiday(date: &str) -> Result<i64, String> {
    let t = date.trim();
    let shape = t.len() == 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-';
    match parse_timestamp(t) {
        Ok(ts) if shape => Ok(ts.div_euclid(SECONDS_PER_DAY)),
        _ => Err("is not a date (YYYY-MM-DD)".into()),
    }
}

/// 1 at the timestamps whose UTC day is in `days` (sorted), else 0.
fn holiday_column(days: &[i64], timestamps: impl Iterator<Item = i64>) -> Vec<f64> {
    timestamps
        .map(|ts| {
            let listed = days.binary_search(&ts.div_euclid(SECONDS_PER_DAY)).is_ok();
            if listed { 1.0 } else { 0.0 }
        })
        .collect()
}

/// Points of a covariate's column a history of `n` points must carry for a forecast of
/// `horizon` steps: its `n` values, and for a known-future one the `horizon` after them.
pub fn required_len(kind: CovariateKind, n: usize, horizon: usize) -> usize {
    match kind {
        CovariateKind::KnownFuture => n + horizon,
        CovariateKind::PastObserved => n,
    }
}

/// The columns a model reads, in config order, standardised and with missing values carried
/// forward (leading ones take the first observed value; an unobserved column reads 0, the
/// mean). Supplied columns come from `history`; holiday columns are computed over its
/// timestamps and the `future` grid steps after them.
pub(crate) fn prepare(c: &ModelConfig, history: &History, future: usize) -> Vec<Vec<f32>> {
    let standardised = |cov: &Covariate, col: &[f64]| -> Vec<f32> {
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
    };
    let mut supplied = history.covariates.iter();
    let mut out = Vec::with_capacity(c.covariates.len());
    for cov in &c.covariates {
        if cov.is_holidays() {
            let ahead = history
                .timestamps
                .last()
                .map_or_else(Vec::new, |&last| c.freq.following(last, future));
            let col = holiday_column(
                &cov.holiday_days(),
                history.timestamps.iter().copied().chain(ahead),
            );
            out.push(standardised(cov, &col));
        } else {
            // `check_covariates` has made sure every supplied column is there
            let Some(col) = supplied.next() else { break };
            out.push(standardised(cov, col));
        }
    }
    out
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
                dates: vec![],
            },
            Covariate {
                name: "p".into(),
                kind: CovariateKind::PastObserved,
                mean: 10.0,
                std: 2.0,
                dates: vec![],
            },
        ];
        let history = History::new("s", vec![0, 3600, 7200], vec![0.0; 3])
            .with_covariates(vec![vec![1.0, f64::NAN, 3.0, 4.0], vec![10.0, 12.0, 14.0]]);
        let cols = prepare(&c, &history, 0);
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
