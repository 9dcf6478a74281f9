//! The model being fine-tuned, on the GPU: the active version's weights, the one before it (for
//! rollback), and the [`FineTuner`] whose optimiser state carries over between rounds. Blocking:
//! the service runs rounds on a blocking thread.

use std::time::Instant;

use seer_core::metrics::AccuracySummary;
use seer_gpu::GpuContext;
use seer_model::backtest::{BacktestOptions, BacktestReport, backtest};
use seer_model::checkpoint::Weights;
use seer_model::train::TrainOptions;
use seer_model::train::online::{FineTuner, holdout_accuracy};
use seer_model::{History, Model, ModelConfig, ModelError};

use crate::gate::{Verdict, judge};

/// A version and its weights.
#[derive(Clone)]
pub struct Held {
    pub version: String,
    pub weights: Weights,
}

pub struct Learner {
    pub config: ModelConfig,
    pub active: Held,
    pub previous: Option<Held>,
    /// The previous version's `seasonal_naive_series` (the active's is in `config`).
    previous_naive_series: Vec<String>,
    tuner: FineTuner,
}

/// What one round needs.
pub struct RoundInput {
    pub train: Vec<History>,
    pub holdout: Vec<History>,
    pub steps: usize,
    pub batch_size: usize,
    pub margin: f64,
    pub season: usize,
    pub seed: u64,
    /// Each series the seasonal naive serves or should, with its latest fully observed window
    /// when there is one: a promoted candidate leaves to the naive those it does not forecast
    /// better there (and those without a window).
    pub listed: Vec<(String, Option<History>)>,
}

/// What one round did. On [`Verdict::Promote`] the tuner holds the candidate until
/// [`Learner::commit`] or [`Learner::discard`]; otherwise it is back on the active weights.
pub struct RoundOutcome {
    /// The version the candidate was fine-tuned from.
    pub parent: String,
    pub verdict: Verdict,
    pub candidate: Option<Weights>,
    pub candidate_score: Option<AccuracySummary>,
    pub active_score: Option<AccuracySummary>,
    /// For a promoted candidate: which of `RoundInput::listed` the seasonal naive still
    /// forecasts better (its `seasonal_naive_series`).
    pub naive_series: Vec<String>,
    pub mean_loss: f64,
    pub applied: usize,
    pub skipped: usize,
    pub seconds: f64,
}

impl Learner {
    pub fn new(
        ctx: &GpuContext,
        config: ModelConfig,
        active: Held,
        opts: &TrainOptions,
    ) -> Result<Learner, ModelError> {
        let tuner = FineTuner::new(ctx, &config, &active.weights, opts)?;
        Ok(Learner {
            config,
            active,
            previous: None,
            previous_naive_series: Vec::new(),
            tuner,
        })
    }

    /// Fine-tunes a candidate from the active weights and judges it on the holdout windows.
    pub fn round(
        &mut self,
        ctx: &GpuContext,
        input: &RoundInput,
    ) -> Result<RoundOutcome, ModelError> {
        let started = Instant::now();
        let result = self.round_inner(ctx, input, started);
        if !matches!(&result, Ok(o) if o.verdict == Verdict::Promote) {
            // a discarded or failed candidate leaves the active weights in place
            self.tuner.reset_to(ctx, &self.active.weights)?;
        }
        result
    }

    fn round_inner(
        &mut self,
        ctx: &GpuContext,
        input: &RoundInput,
        started: Instant,
    ) -> Result<RoundOutcome, ModelError> {
        let horizon = self.config.horizon;
        let report = self
            .tuner
            .round(ctx, &input.train, input.steps, input.batch_size)?;
        let mut outcome = RoundOutcome {
            parent: self.active.version.clone(),
            verdict: Verdict::Undefined("no step had a finite loss and gradient".into()),
            candidate: None,
            candidate_score: None,
            active_score: None,
            naive_series: Vec::new(),
            mean_loss: report.mean_loss,
            applied: report.applied,
            skipped: report.skipped,
            seconds: 0.0,
        };
        if report.applied > 0 {
            let score = |w: &Weights| {
                holdout_accuracy(
                    ctx,
                    &self.config,
                    w,
                    &input.holdout,
                    horizon,
                    input.season,
                    input.seed,
                )
            };
            // a candidate whose forecasts are not finite fails to score: it is undefined
            let candidate = score(&report.weights).ok();
            let active = score(&self.active.weights)?;
            outcome.verdict = match &candidate {
                Some(c) => judge(c, &active, input.margin),
                None => Verdict::Undefined("the candidate's forecasts are not finite".into()),
            };
            outcome.candidate_score = candidate;
            outcome.active_score = Some(active);
            if outcome.verdict == Verdict::Promote {
                outcome.naive_series = naive_winners(
                    ctx,
                    &self.config,
                    &report.weights,
                    &input.listed,
                    input.seed,
                );
            }
            outcome.candidate = Some(report.weights);
        }
        outcome.seconds = started.elapsed().as_secs_f64();
        Ok(outcome)
    }

    /// The promoted candidate becomes the active version, leaving `naive_series` to the
    /// seasonal naive.
    pub fn commit(&mut self, version: String, weights: Weights, naive_series: Vec<String>) {
        let old = std::mem::replace(&mut self.active, Held { version, weights });
        self.previous = Some(old);
        self.previous_naive_series =
            std::mem::replace(&mut self.config.seasonal_naive_series, naive_series);
    }

    /// The previous version's `seasonal_naive_series`.
    pub fn previous_naive_series(&self) -> &[String] {
        &self.previous_naive_series
    }

    /// A promotion that could not be recorded: back to the active weights.
    pub fn discard(&mut self, ctx: &GpuContext) -> Result<(), ModelError> {
        self.tuner.reset_to(ctx, &self.active.weights)
    }

    /// Another version became active (a rollback, an operator's Activate): continue from it,
    /// with the optimiser's state kept and its `seasonal_naive_series`.
    pub fn adopt(
        &mut self,
        ctx: &GpuContext,
        held: Held,
        naive_series: Vec<String>,
    ) -> Result<(), ModelError> {
        self.tuner.reset_to(ctx, &held.weights)?;
        let old = std::mem::replace(&mut self.active, held);
        self.previous = Some(old);
        self.previous_naive_series =
            std::mem::replace(&mut self.config.seasonal_naive_series, naive_series);
        Ok(())
    }
}

/// The series of `windows` whose last horizon the seasonal naive forecasts better than the
/// model with `weights` (`seer train`'s rule, on the stream's latest window); a series that
/// cannot be backtested stays with the naive.
fn naive_winners(
    ctx: &GpuContext,
    config: &ModelConfig,
    weights: &Weights,
    listed: &[(String, Option<History>)],
    seed: u64,
) -> Vec<String> {
    let mut kept: Vec<String> = listed
        .iter()
        .filter(|(_, w)| w.is_none())
        .map(|(id, _)| id.clone())
        .collect();
    let windows: Vec<History> = listed.iter().filter_map(|(_, w)| w.clone()).collect();
    kept.extend(backtest_winners(ctx, config, weights, &windows, seed));
    kept.sort_unstable();
    kept
}

fn backtest_winners(
    ctx: &GpuContext,
    config: &ModelConfig,
    weights: &Weights,
    windows: &[History],
    seed: u64,
) -> Vec<String> {
    let everyone = || windows.iter().map(|h| h.id.clone()).collect();
    if windows.is_empty() {
        return Vec::new();
    }
    let mut bare = config.clone();
    bare.seasonal_naive_series.clear();
    let Ok(model) = Model::from_parts(ctx, bare, weights.clone()) else {
        return everyone();
    };
    let opts = BacktestOptions {
        horizon: Some(config.horizon),
        windows: 1,
        seed,
        ..BacktestOptions::default()
    };
    match backtest(ctx, &model, windows, &opts) {
        Ok(BacktestReport::Forecast(r)) => r.seasonal_naive_winners(),
        _ => everyone(),
    }
}
