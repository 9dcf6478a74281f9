use seer_core::CoreError;
use thiserror::Error;

use crate::config::ModelKind;
use crate::error::ModelError;

#[derive(Debug, Error)]
pub enum BacktestError {
    #[error("a backtest needs at least one window")]
    NoWindowsRequested,
    #[error("the horizon must be at least 1")]
    ZeroHorizon,
    #[error(
        "a horizon is required to backtest a {} model (the steps each window forecasts)",
        kind.name()
    )]
    MissingHorizon { kind: ModelKind },
    #[error("no series is longer than {windows} × {horizon} points")]
    NoForecastWindows { windows: usize, horizon: usize },
    #[error(
        "no series has a window of {context_length} points (the model's context) with two observed values"
    )]
    NoGapFillWindows { context_length: usize },
    /// `unlabelled`: no series has a label at all.
    #[error(
        "no labelled series has a window of {context_length} points (the model's context) with an observed value{}",
        if *unlabelled { " (no series has a label)" } else { "" }
    )]
    NoClassificationWindows {
        context_length: usize,
        unlabelled: bool,
    },
    #[error("series {id:?}: label {label:?} is not one of the model's classes ({})", classes.join(", "))]
    UnknownLabel {
        id: String,
        label: String,
        classes: Vec<String>,
    },
    /// The model's forecast could not be scored (a wrong length, a non-finite value).
    #[error("scoring series {id:?}")]
    Scoring {
        id: String,
        #[source]
        source: CoreError,
    },
    /// The seasonal naive forecast could not be scored.
    #[error("scoring the seasonal naive baseline")]
    Baseline(#[source] CoreError),
    /// The model returned something a backtest cannot score: a missing or non-finite output.
    #[error("{0}")]
    InvalidPrediction(String),
    #[error(transparent)]
    Model(#[from] ModelError),
}
