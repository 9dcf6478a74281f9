use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    exponential_buckets,
};

use crate::error::EngineError;

/// The engine's Prometheus metrics, registered into the process registry by [`EngineMetrics::new`].
#[derive(Clone)]
pub struct EngineMetrics {
    /// `seer_engine_requests_total{model,status}`: Forecast calls by resolved model (`unknown`
    /// when the name did not resolve) and gRPC code in snake case (`ok`, `invalid_argument`, …).
    pub requests_total: IntCounterVec,
    /// `seer_engine_batch_series`: windows per valid Forecast request.
    pub batch_series: Histogram,
    /// `seer_engine_kernel_seconds{model,backend}`: wall time of one `Model::predict` (kernel
    /// work and host preparation) for a request's neural windows; `backend` is `gpu`, `cpu` (the
    /// native CPU backend) or `software` (a software Vulkan adapter).
    pub kernel_seconds: HistogramVec,
    /// `seer_engine_compute_info{backend,adapter,threads}` = 1: what the kernels run on.
    pub compute_info: IntGaugeVec,
    /// `seer_engine_fallback_total{reason}`: windows forecast by `seasonal_naive` instead of the
    /// requested neural model (`short_window`: fewer observed points than the model needs;
    /// `baseline_better`: a series the checkpoint leaves to the seasonal naive, whose backtest
    /// beat the model on it).
    pub fallback_total: IntCounterVec,
    /// `seer_engine_series_errors_total{reason}`: windows answered in `errors` rather than
    /// forecast (`no_observations`, `freq_mismatch`, `negative_values`, `missing_covariate`).
    pub series_errors_total: IntCounterVec,
    /// `seer_engine_model_info{model,version}` = 1 for every served model.
    pub model_info: IntGaugeVec,
    /// `seer_engine_queue_seconds`: how long a request waited for a GPU slot (admitted or
    /// refused); what the engine's autoscaling and its queue alert watch.
    pub queue_seconds: Histogram,
    /// `seer_engine_model_swaps_total{model,direction}`: live version changes read from the
    /// models topic (`forward`: a new version loaded; `back`: the previous one restored).
    pub model_swaps_total: IntCounterVec,
    /// `seer_engine_model_load_failures_total{model,reason}`: versions named active on the
    /// models topic that this engine refused (`checksum`, `io`, `location`, `unknown_version`,
    /// `version_mismatch`, `load`, `warm_up`); it keeps serving what it had.
    pub model_load_failures_total: IntCounterVec,
}

impl EngineMetrics {
    /// Records what `ctx` runs on in `seer_engine_compute_info`.
    pub fn set_compute(&self, summary: &seer_gpu::AdapterSummary) {
        self.compute_info
            .with_label_values(&summary.metric_labels())
            .set(1);
    }

    pub fn new(registry: &Registry) -> Result<Self, EngineError> {
        let requests_total = IntCounterVec::new(
            Opts::new(
                "seer_engine_requests_total",
                "Forecast requests by model and gRPC status",
            ),
            &["model", "status"],
        )?;
        let batch_series = Histogram::with_opts(
            HistogramOpts::new(
                "seer_engine_batch_series",
                "Series windows per Forecast request",
            )
            .buckets(exponential_buckets(1.0, 2.0, 17)?),
        )?;
        let kernel_seconds = HistogramVec::new(
            HistogramOpts::new(
                "seer_engine_kernel_seconds",
                "Wall time of one model predict call for a request's batch",
            )
            .buckets(exponential_buckets(0.0005, 2.0, 18)?),
            &["model", "backend"],
        )?;
        let compute_info = IntGaugeVec::new(
            Opts::new(
                "seer_engine_compute_info",
                "The backend the kernels run on (value 1): gpu, cpu or software",
            ),
            &["backend", "adapter", "threads"],
        )?;
        let fallback_total = IntCounterVec::new(
            Opts::new(
                "seer_engine_fallback_total",
                "Windows forecast by seasonal_naive instead of the requested model",
            ),
            &["reason"],
        )?;
        let series_errors_total = IntCounterVec::new(
            Opts::new(
                "seer_engine_series_errors_total",
                "Windows answered with an error instead of a forecast",
            ),
            &["reason"],
        )?;
        let model_info = IntGaugeVec::new(
            Opts::new(
                "seer_engine_model_info",
                "Served models (value 1) and their versions",
            ),
            &["model", "version"],
        )?;
        let queue_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "seer_engine_queue_seconds",
                "Wait of a Forecast request for a GPU slot",
            )
            .buckets(exponential_buckets(0.0001, 2.0, 18)?),
        )?;
        registry.register(Box::new(requests_total.clone()))?;
        registry.register(Box::new(queue_seconds.clone()))?;
        registry.register(Box::new(batch_series.clone()))?;
        registry.register(Box::new(kernel_seconds.clone()))?;
        registry.register(Box::new(compute_info.clone()))?;
        registry.register(Box::new(fallback_total.clone()))?;
        registry.register(Box::new(series_errors_total.clone()))?;
        let model_swaps_total = IntCounterVec::new(
            Opts::new(
                "seer_engine_model_swaps_total",
                "Live model version changes read from the models topic",
            ),
            &["model", "direction"],
        )?;
        let model_load_failures_total = IntCounterVec::new(
            Opts::new(
                "seer_engine_model_load_failures_total",
                "Model versions named active that this engine refused to serve",
            ),
            &["model", "reason"],
        )?;
        registry.register(Box::new(model_info.clone()))?;
        registry.register(Box::new(model_swaps_total.clone()))?;
        registry.register(Box::new(model_load_failures_total.clone()))?;
        Ok(EngineMetrics {
            model_swaps_total,
            model_load_failures_total,
            requests_total,
            batch_series,
            kernel_seconds,
            compute_info,
            fallback_total,
            series_errors_total,
            model_info,
            queue_seconds,
        })
    }
}
