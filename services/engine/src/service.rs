//! `seer.v1.Engine`: request validation, routing of each window (neural model, seasonal naive
//! fallback, or a per-series error), admission to the GPU, and the response.

use std::sync::Arc;
use std::time::{Duration, Instant};

use seer_core::naive::{season_for_freq, seasonal_naive_forecast};
use seer_core::time::Frequency;
use seer_gpu::GpuContext;
use seer_gpu::ops::Distribution;
use seer_model::covariates::required_len;
use seer_model::{CovariateKind, History, ModelConfig, ModelKind, PredictOptions, Prediction};
use seer_proto::convert::{frequency_from_fields, timestamp};
use seer_proto::v1::engine_server::Engine;
use seer_proto::v1::{
    CovariateValues, Forecast, ForecastBatchRequest, ForecastBatchResponse, ListModelsRequest,
    ListModelsResponse, QuantileValues, SamplePath, SeriesError, SeriesWindow,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Request, Response, Status};

use crate::config::EngineConfig;
use crate::error::code_label;
use crate::error::{EngineError, status_of};
use crate::metrics::EngineMetrics;
use crate::registry::{BUILTIN_VERSION, ModelRegistry};
use crate::registry::{Backend, DEFAULT_LEVELS, SEASONAL_NAIVE, ServedModel};

/// Most sample paths one request may ask for: the model's own limit, checked up front so the
/// error names the request field.
pub const MAX_SAMPLE_PATHS: usize = seer_model::MAX_PATHS;

/// Timestamps a forecast may touch: the range a `google.protobuf.Timestamp` can hold
/// (0001-01-01 to 9999-12-31), which also keeps all grid arithmetic far from i64 overflow.
const MIN_SECONDS: i128 = -62_135_596_800;
const MAX_SECONDS: i128 = 253_402_300_799;

/// The Engine service. Cheap to clone; clones share the models, the GPU and the admission
/// semaphore.
#[derive(Clone)]
pub struct EngineService {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: Arc<GpuContext>,
    registry: Arc<ModelRegistry>,
    metrics: EngineMetrics,
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    queue_timeout: Duration,
    min_observed_fraction: f64,
}

/// Whether a forecast is a caller's (metered, admitted within the queue timeout) or the
/// engine's own warm-up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Traffic {
    Request,
    WarmUp,
}

/// Where one window goes.
enum Route {
    /// Index into the batch of histories the neural model predicts.
    Neural(usize),
    /// The history, and why the requested neural model does not answer it (the metric's reason
    /// label; `None` when the request asked for `seasonal_naive` itself).
    SeasonalNaive(History, Option<&'static str>),
    /// The series' entry in `errors`, and the metric's reason label.
    Error(SeriesError, &'static str),
}

struct WindowPlan {
    series_id: String,
    freq: Frequency,
    latest_observation: i64,
    observed: u32,
    partial: bool,
    route: Route,
}

/// A validated request.
struct Plan {
    /// False for the warm-up, which no metric counts.
    metered: bool,
    model: Arc<ServedModel>,
    horizon: usize,
    levels: Vec<f64>,
    opts: PredictOptions,
    neural: Vec<History>,
    windows: Vec<WindowPlan>,
}

impl EngineService {
    pub fn new(
        ctx: Arc<GpuContext>,
        registry: Arc<ModelRegistry>,
        config: &EngineConfig,
        metrics: EngineMetrics,
    ) -> Result<Self, EngineError> {
        config.validate()?;
        for m in registry.models() {
            metrics
                .model_info
                .with_label_values(&[m.name.as_str(), m.version.as_str()])
                .set(1);
        }
        Ok(EngineService {
            inner: Arc::new(Inner {
                ctx,
                registry,
                metrics,
                permits: Arc::new(Semaphore::new(config.max_concurrent)),
                max_concurrent: config.max_concurrent,
                queue_timeout: config.queue_timeout,
                min_observed_fraction: config.min_observed_fraction,
            }),
        })
    }

    pub fn registry(&self) -> &Arc<ModelRegistry> {
        &self.inner.registry
    }

    pub fn metrics(&self) -> &EngineMetrics {
        &self.inner.metrics
    }

    /// The admission semaphore (`max_concurrent` permits, one per batch on the GPU). Holding
    /// permits from outside makes requests queue as if the GPU were busy (tests do).
    pub fn permits(&self) -> Arc<Semaphore> {
        self.inner.permits.clone()
    }

    /// What ListModels answers.
    pub fn list_models(&self) -> ListModelsResponse {
        ListModelsResponse {
            models: self.inner.registry.infos(),
        }
    }

    /// Forecast without gRPC (in-process callers); `deadline` is the caller's remaining time,
    /// which bounds the wait for a GPU slot. Counts `seer_engine_requests_total`.
    pub async fn forecast_batch(
        &self,
        request: ForecastBatchRequest,
        deadline: Option<Duration>,
    ) -> Result<ForecastBatchResponse, EngineError> {
        let (label, result) = self.forecast_inner(request, deadline).await;
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(e) => status_of(e).code(),
        };
        if let Err(e) = &result {
            if code == tonic::Code::Internal {
                tracing::error!(model = %label, error = %e, "forecast failed");
            } else {
                tracing::debug!(model = %label, error = %e, "forecast refused");
            }
        }
        self.inner
            .metrics
            .requests_total
            .with_label_values(&[label.as_str(), code_label(code)])
            .inc();
        result
    }

    /// A forecast of `model` (perhaps a version not swapped in yet) that counts in no metric and
    /// waits for a GPU slot as long as it takes: the warm-up is not traffic.
    pub(crate) async fn forecast_version(
        &self,
        model: Arc<ServedModel>,
        request: ForecastBatchRequest,
    ) -> Result<ForecastBatchResponse, EngineError> {
        self.run(model, request, None, Traffic::WarmUp).await
    }

    pub(crate) fn context(&self) -> &Arc<GpuContext> {
        &self.inner.ctx
    }

    async fn forecast_inner(
        &self,
        request: ForecastBatchRequest,
        deadline: Option<Duration>,
    ) -> (String, Result<ForecastBatchResponse, EngineError>) {
        let model = match self.inner.registry.resolve(&request.model) {
            Ok(m) => m,
            Err(e) => return ("unknown".into(), Err(e)),
        };
        let label = model.name.clone();
        let model = if request.model_version.is_empty() || request.model_version == model.version {
            model
        } else {
            // a pinned version is served while this engine still holds it (active or previous)
            match self
                .inner
                .registry
                .pinned(&model.name, &request.model_version)
            {
                Some(m) => m,
                None => {
                    let err = EngineError::UnknownVersion {
                        model: model.name.clone(),
                        version: request.model_version.clone(),
                        serving: model.version.clone(),
                    };
                    return (label, Err(err));
                }
            }
        };
        (
            label,
            self.run(model, request, deadline, Traffic::Request).await,
        )
    }

    async fn run(
        &self,
        model: Arc<ServedModel>,
        request: ForecastBatchRequest,
        deadline: Option<Duration>,
        traffic: Traffic,
    ) -> Result<ForecastBatchResponse, EngineError> {
        let inner = &self.inner;
        let mut plan = plan(&inner.registry, model, request, inner.min_observed_fraction)?;
        plan.metered = traffic == Traffic::Request;
        if plan.metered {
            inner
                .metrics
                .batch_series
                .observe(plan.windows.len() as f64);
            for w in &plan.windows {
                match &w.route {
                    Route::SeasonalNaive(_, Some(reason)) => inner
                        .metrics
                        .fallback_total
                        .with_label_values(&[*reason])
                        .inc(),
                    Route::Error(_, label) => inner
                        .metrics
                        .series_errors_total
                        .with_label_values(&[*label])
                        .inc(),
                    _ => {}
                }
            }
        }
        let permit = match traffic {
            _ if plan.neural.is_empty() => None,
            Traffic::WarmUp => Some(
                inner
                    .permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| EngineError::Task(e.to_string()))?,
            ),
            Traffic::Request => Some(self.admit(deadline).await?),
        };
        let inner = self.inner.clone();
        // The permit moves into the task: a slot frees when the GPU work ends, even if the
        // caller has gone away.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            execute(&inner, plan)
        })
        .await
        .map_err(|e| EngineError::Task(e.to_string()))?
    }

    async fn admit(&self, deadline: Option<Duration>) -> Result<OwnedSemaphorePermit, EngineError> {
        let inner = &self.inner;
        let wait = match deadline {
            Some(d) => inner.queue_timeout.min(d.mul_f64(0.9)),
            None => inner.queue_timeout,
        };
        let started = Instant::now();
        let admitted = tokio::time::timeout(wait, inner.permits.clone().acquire_owned()).await;
        inner
            .metrics
            .queue_seconds
            .observe(started.elapsed().as_secs_f64());
        match admitted {
            Ok(Ok(permit)) => Ok(permit),
            // the semaphore is never closed; treat it as full if it were
            Ok(Err(_)) | Err(_) => Err(EngineError::Overloaded {
                max_concurrent: inner.max_concurrent,
                waited: wait,
            }),
        }
    }
}

#[tonic::async_trait]
impl Engine for EngineService {
    async fn forecast(
        &self,
        request: Request<ForecastBatchRequest>,
    ) -> Result<Response<ForecastBatchResponse>, Status> {
        let deadline = seer_runtime::deadline_of(&request);
        self.forecast_batch(request.into_inner(), deadline)
            .await
            .map(Response::new)
            .map_err(|e| status_of(&e))
    }

    async fn list_models(
        &self,
        _request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        Ok(Response::new(EngineService::list_models(self)))
    }
}

fn in_range(t: i128) -> bool {
    (MIN_SECONDS..=MAX_SECONDS).contains(&t)
}

/// Validates a request and decides each window's route; every malformed field is an
/// INVALID_ARGUMENT naming it.
fn plan(
    registry: &ModelRegistry,
    model: Arc<ServedModel>,
    req: ForecastBatchRequest,
    min_observed_fraction: f64,
) -> Result<Plan, EngineError> {
    if !model.forecasts() {
        return Err(EngineError::invalid(
            "model",
            format!(
                "{:?} is a {} model, which does not forecast",
                model.name,
                model.kind_name()
            ),
        ));
    }
    if req.windows.is_empty() {
        return Err(EngineError::invalid(
            "windows",
            "must hold at least one window",
        ));
    }
    let horizon = match req.horizon {
        0 => registry.default_horizon(&model),
        h => h as usize,
    };
    if horizon > model.max_horizon() {
        return Err(EngineError::invalid(
            "horizon",
            format!(
                "{horizon} exceeds the limit of {} for model {:?}{}",
                model.max_horizon(),
                model.name,
                if model.config().is_some_and(|c| c.model == ModelKind::Tcn) {
                    " (a TCN predicts its configured horizon directly)"
                } else {
                    ""
                }
            ),
        ));
    }
    if let Some(q) = req.quantiles.iter().find(|q| !(**q > 0.0 && **q < 1.0)) {
        return Err(EngineError::invalid(
            "quantiles",
            format!("level {q} is not strictly between 0 and 1"),
        ));
    }
    let config = model.config();
    let levels: Vec<f64> = match (req.quantiles.is_empty(), config) {
        (false, _) => req.quantiles.clone(),
        (true, Some(c)) if c.model.emits_quantiles() => c.quantiles.clone(),
        (true, _) => DEFAULT_LEVELS.to_vec(),
    };
    if let Some(c) = config.filter(|c| c.model.emits_quantiles()) {
        let (lo, hi) = (c.quantiles[0], c.quantiles[c.quantiles.len() - 1]);
        if let Some(q) = levels.iter().find(|&&q| q < lo - 1e-12 || q > hi + 1e-12) {
            return Err(EngineError::invalid(
                "quantiles",
                format!(
                    "level {q} is outside the levels model {:?} was trained for ({lo}..{hi})",
                    model.name
                ),
            ));
        }
    }
    let sampling = config.is_some_and(|c| c.model == ModelKind::Deepar);
    if sampling && req.num_samples as usize > MAX_SAMPLE_PATHS {
        return Err(EngineError::invalid(
            "num_samples",
            format!(
                "{} exceeds the limit of {MAX_SAMPLE_PATHS}",
                req.num_samples
            ),
        ));
    }
    let opts = PredictOptions {
        horizon: Some(horizon),
        quantiles: Some(levels.clone()),
        num_samples: (sampling && req.num_samples > 0).then_some(req.num_samples as usize),
        return_samples: sampling && req.return_samples,
        seed: req.seed,
    };
    let negative_binomial = config.is_some_and(|c| {
        c.model == ModelKind::Deepar
            && matches!(c.distribution(), Ok(Distribution::NegativeBinomial))
    });

    let mut neural = Vec::new();
    let mut windows = Vec::with_capacity(req.windows.len());
    for (i, w) in req.windows.into_iter().enumerate() {
        let SeriesWindow {
            series_id,
            start,
            freq_seconds,
            values,
            partial,
            freq_months,
            covariates,
        } = w;
        let field = |name: &str| format!("windows[{i}].{name}");
        if series_id.trim().is_empty() {
            return Err(EngineError::invalid(field("series_id"), "is empty"));
        }
        let freq = frequency_from_fields(freq_seconds, freq_months)
            .map_err(|(name, why)| EngineError::invalid(field(name), why))?;
        let Some(start) = start else {
            return Err(EngineError::invalid(field("start"), "is missing"));
        };
        let start = start.seconds;
        let n = values.len();
        let context = config.map_or(0, |c| c.context_length);
        // first context step (front padding included) through the last forecast step; the
        // lengths are bounded by the message size, far below i64
        let end = freq.step(start, n.saturating_sub(1) as i64);
        let first = end.and_then(|end| freq.step(end, 1 - context.max(1) as i64));
        let last = end.and_then(|end| freq.step(end, horizon as i64));
        let fits = |t: Option<i64>| t.is_some_and(|t| in_range(i128::from(t)));
        if !in_range(i128::from(start)) || !fits(first) || !fits(last) {
            return Err(EngineError::invalid(
                field("start"),
                format!(
                    "the window and its forecast steps leave the timestamps a protobuf Timestamp can hold (start {start}, freq {freq}, {n} points, horizon {horizon})"
                ),
            ));
        }
        let observed = values.iter().filter(|v| v.is_finite()).count() as u32;
        let latest = values
            .iter()
            .rposition(|v| v.is_finite())
            .map_or(0, |k| freq.step_saturating(start, k as i64));
        let error = |label: &'static str, reason: String| {
            Route::Error(
                SeriesError {
                    series_id: series_id.clone(),
                    reason,
                },
                label,
            )
        };
        // checked and copied once; a window's other errors come first
        let columns = config.map_or(Ok(Vec::new()), |c| {
            window_covariates(c, &covariates, values.len(), horizon)
        });
        let route = if observed == 0 {
            error(
                "no_observations",
                format!(
                    "no observed value among the window's {} points",
                    values.len()
                ),
            )
        } else if let Some(c) = config.filter(|c| c.freq != freq) {
            error(
                "freq_mismatch",
                format!(
                    "spacing {freq} does not match model {:?}, which forecasts a {} grid",
                    model.name, c.freq
                ),
            )
        } else if negative_binomial && values.iter().any(|v| *v < 0.0) {
            error(
                "negative_values",
                format!(
                    "negative values; model {:?} is a negative_binomial deepar, which forecasts counts",
                    model.name
                ),
            )
        } else if let Err(reason) = &columns {
            error("missing_covariate", reason.clone())
        } else {
            let timestamps: Vec<i64> = (0..values.len())
                .map(|k| freq.step_saturating(start, k as i64))
                .collect();
            let history = History::new(series_id.clone(), timestamps, values)
                .with_covariates(columns.unwrap_or_default());
            match config {
                Some(c) => {
                    let ctx_len = c.context_length.min(history.values.len());
                    let in_context = history.values[history.values.len() - ctx_len..]
                        .iter()
                        .filter(|v| v.is_finite())
                        .count();
                    let needed = min_observed_fraction * c.context_length as f64;
                    if in_context == 0 || (in_context as f64) < needed {
                        Route::SeasonalNaive(history, Some("short_window"))
                    } else if model.leaves_to_seasonal_naive(&history.id) {
                        Route::SeasonalNaive(history, Some("baseline_better"))
                    } else {
                        neural.push(history);
                        Route::Neural(neural.len() - 1)
                    }
                }
                None => Route::SeasonalNaive(history, None),
            }
        };
        // a window shorter than the history the model reads (e.g. an ingest `window` below a
        // DeepAR's context + longest lag) gives a forecast from less than the model was trained
        // on: say so, as for a window the ingest has not fully rebuilt
        let short =
            matches!(route, Route::Neural(_)) && config.is_some_and(|c| n < c.history_points());
        windows.push(WindowPlan {
            series_id,
            freq,
            latest_observation: latest,
            observed,
            partial: partial || short,
            route,
        });
    }
    Ok(Plan {
        metered: true,
        model,
        horizon,
        levels,
        opts,
        neural,
        windows,
    })
}

/// Runs a plan (blocking: the GPU waits happen here) and assembles the response in request
/// order.
fn execute(inner: &Inner, plan: Plan) -> Result<ForecastBatchResponse, EngineError> {
    let Plan {
        metered,
        model,
        horizon,
        levels,
        opts,
        neural,
        windows,
    } = plan;
    let mut predictions: Vec<Option<seer_model::Forecast>> = Vec::new();
    if !neural.is_empty() {
        let Backend::Neural(m) = &model.backend else {
            return Err(EngineError::Task(format!(
                "model {:?} has no network to run",
                model.name
            )));
        };
        let t0 = Instant::now();
        let preds =
            m.predict(&inner.ctx, &neural, &opts)
                .map_err(|source| EngineError::Predict {
                    model: model.name.clone(),
                    source: Box::new(source),
                })?;
        if metered {
            inner
                .metrics
                .kernel_seconds
                .with_label_values(&[model.name.as_str(), inner.ctx.summary.kind()])
                .observe(t0.elapsed().as_secs_f64());
        }
        if preds.len() != neural.len() {
            return Err(EngineError::Task(format!(
                "model {:?} returned {} predictions for {} windows",
                model.name,
                preds.len(),
                neural.len()
            )));
        }
        for p in preds {
            match p {
                Prediction::Forecast(f) => predictions.push(Some(f)),
                other => {
                    return Err(EngineError::Task(format!(
                        "model {:?} returned a non-forecast prediction for series {:?}",
                        model.name,
                        other.id()
                    )));
                }
            }
        }
    }
    let issued_at = seer_proto::convert::now_timestamp();
    let mut response = ForecastBatchResponse::default();
    for w in windows {
        let base = Forecast {
            series_id: w.series_id,
            issued_at: Some(issued_at),
            latest_observation: Some(timestamp(w.latest_observation)),
            partial_window: w.partial,
            observed_points: w.observed,
            ..Default::default()
        };
        let forecast = match w.route {
            Route::Error(e, _) => {
                response.errors.push(e);
                continue;
            }
            Route::Neural(k) => {
                let f = predictions[k]
                    .take()
                    .ok_or_else(|| EngineError::Task(format!("prediction {k} used twice")))?;
                Forecast {
                    model: model.name.clone(),
                    model_version: model.version.clone(),
                    timestamps: f.timestamps.into_iter().map(timestamp).collect(),
                    mean: f.mean,
                    quantiles: f
                        .quantiles
                        .into_iter()
                        .map(|(level, values)| QuantileValues { level, values })
                        .collect(),
                    samples: f
                        .samples
                        .unwrap_or_default()
                        .into_iter()
                        .map(|values| SamplePath { values })
                        .collect(),
                    ..base
                }
            }
            Route::SeasonalNaive(h, _) => {
                let Some((timestamps, mean, quantiles)) =
                    naive_forecast(&h, w.freq, horizon, &levels)
                else {
                    response.errors.push(SeriesError {
                        series_id: base.series_id,
                        reason: "no observed value in the window".into(),
                    });
                    continue;
                };
                Forecast {
                    model: SEASONAL_NAIVE.into(),
                    model_version: BUILTIN_VERSION.into(),
                    timestamps: timestamps.into_iter().map(timestamp).collect(),
                    mean,
                    quantiles,
                    ..base
                }
            }
        };
        response.forecasts.push(forecast);
    }
    Ok(response)
}

/// The window's covariate columns in the model's order, or why the series cannot be forecast
/// with it. Covariates the model does not read are ignored, so one ingest can feed models that
/// read different ones.
fn window_covariates(
    config: &ModelConfig,
    given: &[CovariateValues],
    n: usize,
    horizon: usize,
) -> Result<Vec<Vec<f64>>, String> {
    let mut columns = Vec::with_capacity(config.covariates.len());
    for cov in config.supplied_covariates() {
        let mut named = given.iter().filter(|g| g.name == cov.name);
        let kind = cov.kind.name().replace('_', "-");
        let Some(col) = named.next() else {
            return Err(format!(
                "the model reads {kind} covariate {:?}, which the window does not carry",
                cov.name
            ));
        };
        if named.next().is_some() {
            return Err(format!("covariate {:?} is given twice", cov.name));
        }
        let need = required_len(cov.kind, n, horizon);
        if col.values.len() < need {
            return Err(format!(
                "{kind} covariate {:?} has {} values; {need} are needed ({n} window points{})",
                cov.name,
                col.values.len(),
                if cov.kind == CovariateKind::KnownFuture {
                    format!(" and the {horizon} forecast steps")
                } else {
                    String::new()
                }
            ));
        }
        if let Some(k) = col.values.iter().position(|v| v.is_infinite()) {
            return Err(format!(
                "covariate {:?} is infinite at point {k} (NaN marks a missing point)",
                cov.name
            ));
        }
        columns.push(col.values.clone());
    }
    Ok(columns)
}

type NaiveForecast = (Vec<i64>, Vec<f64>, Vec<QuantileValues>);

/// The seasonal naive forecast of a window, season from its frequency. Quantiles are empty when
/// the window cannot give them (no two consecutive observed points: see
/// `seasonal_difference_quantiles`).
fn naive_forecast(
    h: &History,
    freq: Frequency,
    horizon: usize,
    levels: &[f64],
) -> Option<NaiveForecast> {
    let last = *h.timestamps.last()?;
    let (mean, per_level) =
        seasonal_naive_forecast(&h.values, season_for_freq(freq), horizon, levels)?;
    let timestamps = freq.following(last, horizon);
    let quantiles = levels
        .iter()
        .zip(per_level)
        .map(|(&level, values)| QuantileValues { level, values })
        .collect();
    Some((timestamps, mean, quantiles))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_forecast_steps_and_levels() {
        // hourly: season 24 > 6 points, so lag 1 (naive); differences 1 each
        let h = History::new(
            "s",
            (0..6).map(|k| 1000 + k * 3600).collect(),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        );
        let (ts, mean, q) = naive_forecast(&h, Frequency::Seconds(3600), 3, &[0.1, 0.9]).unwrap();
        assert_eq!(ts, vec![1000 + 6 * 3600, 1000 + 7 * 3600, 1000 + 8 * 3600]);
        assert_eq!(mean, vec![6.0, 6.0, 6.0]);
        assert_eq!(q.len(), 2);
        assert_eq!(q[0].level, 0.1);
        assert_eq!(q[0].values.len(), 3);
        assert!((q[0].values[0] - 7.0).abs() < 1e-12);
        // one observed point: a point forecast, no intervals
        let h = History::new("s", vec![0, 3600], vec![f64::NAN, 2.0]);
        let (_, mean, q) = naive_forecast(&h, Frequency::Seconds(3600), 2, &[0.5]).unwrap();
        assert_eq!(mean, vec![2.0, 2.0]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_window_of_one_season_still_gets_finite_intervals() {
        // a year of monthly points (season 12) has no seasonal difference: the one-step
        // differences give the intervals, as they did [NaN, NaN] in `seer up` before
        let month = Frequency::MONTHLY;
        let values: Vec<f64> = (0..12).map(|k| 100.0 + (k % 4) as f64).collect();
        let jan = 1_704_067_200; // 2024-01-01
        let h = History::new("m", month.following(jan, 12), values.clone());
        let (ts, mean, q) = naive_forecast(&h, month, 3, &[0.1, 0.9]).unwrap();
        // 2025-02-01, 2025-03-01, 2025-04-01: calendar months, not 30-day steps
        assert_eq!(ts, [1_738_368_000, 1_740_787_200, 1_743_465_600]);
        assert_eq!(mean, values[..3].to_vec());
        assert_eq!(q.len(), 2);
        for level in &q {
            assert!(
                level.values.iter().all(|v| v.is_finite()),
                "{:?}",
                level.values
            );
        }
        assert!(q[0].values[0] < mean[0] && mean[0] < q[1].values[0]);
    }
}
