//! Rolling-origin backtests of a loaded model (docs/metrics.md): the last windows of each series
//! are held out, predicted by the model from what came before them, and scored against a
//! baseline that needs no training — forecasters against the seasonal naive forecast, the BiLSTM
//! gap filler on points hidden from it against linear interpolation, the classifier on its
//! windows' labels against the majority class.
//!
//! No IO and no printing: [`backtest`] takes histories already on the model's grid and returns
//! a report for the caller to show, store or compare.

mod classification;
mod error;
mod forecast;
mod gapfill;
mod options;
mod windows;

use seer_gpu::GpuContext;

use crate::config::ModelKind;
use crate::model::Model;
use crate::prepare::History;

pub use classification::{ClassificationBacktest, ClassificationScore};
pub use error::BacktestError;
pub use forecast::{ForecastBacktest, ForecastWindow, LEVELS, SeriesComparison};
pub use gapfill::{FillScore, GapFillBacktest};
pub use options::BacktestOptions;

/// What [`backtest`] measured; the variant follows the model's kind.
#[derive(Debug, Clone)]
pub enum BacktestReport {
    // boxed: its per-series scores make it several times the size of the others
    Forecast(Box<ForecastBacktest>),
    GapFill(GapFillBacktest),
    Classification(ClassificationBacktest),
}

/// Backtests `model` on `histories` (series on the model's grid, as `Model::predict` takes
/// them): forecasters over `opts.windows` origins of `opts.horizon` steps, the gap filler and the
/// classifier over `opts.windows` windows of `context_length` points.
pub fn backtest(
    ctx: &GpuContext,
    model: &Model,
    histories: &[History],
    opts: &BacktestOptions,
) -> Result<BacktestReport, BacktestError> {
    if opts.windows == 0 {
        return Err(BacktestError::NoWindowsRequested);
    }
    match model.kind() {
        ModelKind::Bilstm => {
            gapfill::backtest(ctx, model, histories, opts).map(BacktestReport::GapFill)
        }
        ModelKind::Classifier => classification::backtest(ctx, model, histories, opts)
            .map(BacktestReport::Classification),
        ModelKind::Lstm
        | ModelKind::Rnn
        | ModelKind::Seq2seq
        | ModelKind::Tcn
        | ModelKind::Deepar => forecast::backtest(ctx, model, histories, opts)
            .map(|r| BacktestReport::Forecast(Box::new(r))),
    }
}
