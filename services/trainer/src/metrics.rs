use prometheus::{
    GaugeVec, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    exponential_buckets,
};

use crate::error::TrainerError;

/// The trainer's Prometheus metrics.
#[derive(Clone)]
pub struct TrainerMetrics {
    /// `seer_trainer_live_mase{model,version}`: MASE of the published forecasts over the
    /// rolling window of points whose actuals arrived.
    pub live_mase: GaugeVec,
    /// `seer_trainer_live_wql{model,version}`: mean weighted quantile loss (0.1, 0.5, 0.9).
    pub live_wql: GaugeVec,
    /// `seer_trainer_live_coverage_80{model,version}`: share of actuals in [q0.1, q0.9].
    pub live_coverage_80: GaugeVec,
    /// `seer_trainer_scored_points_total{model,version}`.
    pub scored_points_total: IntCounterVec,
    /// `seer_trainer_rounds_total{trigger,outcome}`: fine-tuning rounds by what started them
    /// (`drift`, `points`, `time`) and how they ended (`promoted`, `discarded_worse`,
    /// `discarded_undefined`, `failed`).
    pub rounds_total: IntCounterVec,
    /// `seer_trainer_round_seconds`: wall time of a round (fine-tuning and both holdout scores).
    pub round_seconds: Histogram,
    /// `seer_trainer_rollbacks_total{model}`: promotions undone because the new version did
    /// worse live than the one before it.
    pub rollbacks_total: IntCounterVec,
    /// `seer_trainer_skipped_steps_total`: AdamW steps skipped for a non-finite loss or gradient.
    pub skipped_steps_total: prometheus::IntCounter,
    /// `seer_trainer_observations_skipped_total{reason}`: actuals kept out of the windows
    /// (`non_finite`, `late`, `off_grid`, `out_of_range`).
    pub observations_skipped_total: IntCounterVec,
    /// `seer_trainer_replay_windows{part}`: windows in the replay buffer (`recent`, `reservoir`).
    pub replay_windows: IntGaugeVec,
    /// `seer_trainer_series`: series the trainer holds a window of.
    pub series: IntGauge,
    /// `seer_trainer_leader`: 1 on the trainer that trains and publishes.
    pub leader: IntGauge,
    /// `seer_trainer_active_info{model,version}` = 1 for the version the trainer tunes from.
    pub active_info: IntGaugeVec,
    /// `seer_trainer_compute_info{backend,adapter,threads}` = 1: what the rounds run on.
    pub compute_info: IntGaugeVec,
    /// `seer_trainer_baseline_series`: series the active version leaves to the seasonal naive
    /// (its `seasonal_naive_series`).
    pub baseline_series: IntGauge,
    /// `seer_trainer_relists_total`: versions published with more series left to the seasonal
    /// naive on live evidence (weights unchanged).
    pub relists_total: prometheus::IntCounter,
}

impl TrainerMetrics {
    pub fn new(registry: &Registry) -> Result<Self, TrainerError> {
        let per_version =
            |name: &str, help: &str| GaugeVec::new(Opts::new(name, help), &["model", "version"]);
        let m = TrainerMetrics {
            live_mase: per_version(
                "seer_trainer_live_mase",
                "Live MASE of published forecasts per model version",
            )?,
            live_wql: per_version(
                "seer_trainer_live_wql",
                "Live mean weighted quantile loss per model version",
            )?,
            live_coverage_80: per_version(
                "seer_trainer_live_coverage_80",
                "Live share of actuals inside the 80% interval per model version",
            )?,
            scored_points_total: IntCounterVec::new(
                Opts::new(
                    "seer_trainer_scored_points_total",
                    "Forecast points scored against their actuals",
                ),
                &["model", "version"],
            )?,
            rounds_total: IntCounterVec::new(
                Opts::new("seer_trainer_rounds_total", "Fine-tuning rounds"),
                &["trigger", "outcome"],
            )?,
            round_seconds: Histogram::with_opts(
                HistogramOpts::new("seer_trainer_round_seconds", "Wall time of a round")
                    .buckets(exponential_buckets(0.05, 2.0, 14)?),
            )?,
            rollbacks_total: IntCounterVec::new(
                Opts::new(
                    "seer_trainer_rollbacks_total",
                    "Promotions rolled back after doing worse live",
                ),
                &["model"],
            )?,
            skipped_steps_total: prometheus::IntCounter::new(
                "seer_trainer_skipped_steps_total",
                "AdamW steps skipped for a non-finite loss or gradient",
            )?,
            observations_skipped_total: IntCounterVec::new(
                Opts::new(
                    "seer_trainer_observations_skipped_total",
                    "Actuals kept out of the trainer's windows",
                ),
                &["reason"],
            )?,
            replay_windows: IntGaugeVec::new(
                Opts::new(
                    "seer_trainer_replay_windows",
                    "Windows in the replay buffer",
                ),
                &["part"],
            )?,
            series: IntGauge::new("seer_trainer_series", "Series with a window in the trainer")?,
            leader: IntGauge::new(
                "seer_trainer_leader",
                "1 when this trainer trains and publishes",
            )?,
            active_info: IntGaugeVec::new(
                Opts::new(
                    "seer_trainer_active_info",
                    "The version the trainer fine-tunes from (value 1)",
                ),
                &["model", "version"],
            )?,
            compute_info: IntGaugeVec::new(
                Opts::new(
                    "seer_trainer_compute_info",
                    "The backend fine-tuning runs on (value 1): gpu, cpu or software",
                ),
                &["backend", "adapter", "threads"],
            )?,
            baseline_series: IntGauge::new(
                "seer_trainer_baseline_series",
                "Series the active version leaves to the seasonal naive",
            )?,
            relists_total: prometheus::IntCounter::new(
                "seer_trainer_relists_total",
                "Versions published to leave more series to the seasonal naive on live evidence",
            )?,
        };
        registry.register(Box::new(m.live_mase.clone()))?;
        registry.register(Box::new(m.live_wql.clone()))?;
        registry.register(Box::new(m.live_coverage_80.clone()))?;
        registry.register(Box::new(m.scored_points_total.clone()))?;
        registry.register(Box::new(m.rounds_total.clone()))?;
        registry.register(Box::new(m.round_seconds.clone()))?;
        registry.register(Box::new(m.rollbacks_total.clone()))?;
        registry.register(Box::new(m.skipped_steps_total.clone()))?;
        registry.register(Box::new(m.observations_skipped_total.clone()))?;
        registry.register(Box::new(m.replay_windows.clone()))?;
        registry.register(Box::new(m.series.clone()))?;
        registry.register(Box::new(m.leader.clone()))?;
        registry.register(Box::new(m.active_info.clone()))?;
        registry.register(Box::new(m.compute_info.clone()))?;
        registry.register(Box::new(m.baseline_series.clone()))?;
        registry.register(Box::new(m.relists_total.clone()))?;
        Ok(m)
    }

    /// Records what `ctx` runs on in `seer_trainer_compute_info`.
    pub fn set_compute(&self, summary: &seer_gpu::AdapterSummary) {
        self.compute_info
            .with_label_values(&summary.metric_labels())
            .set(1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_name_passes_prometheus_conventions() {
        let registry = prometheus::Registry::new();
        let m = super::TrainerMetrics::new(&registry).unwrap();
        m.live_mase.with_label_values(&["m", "v"]).set(1.0);
        m.live_wql.with_label_values(&["m", "v"]).set(1.0);
        m.live_coverage_80.with_label_values(&["m", "v"]).set(1.0);
        m.scored_points_total.with_label_values(&["m", "v"]).inc();
        m.rounds_total
            .with_label_values(&["time", "promoted"])
            .inc();
        m.rollbacks_total.with_label_values(&["m"]).inc();
        m.observations_skipped_total
            .with_label_values(&["late"])
            .inc();
        m.replay_windows.with_label_values(&["recent"]).set(1);
        m.active_info.with_label_values(&["m", "v"]).set(1);
        m.relists_total.inc();
        for family in registry.gather() {
            seer_runtime::check_metric_name(family.name(), family.get_field_type()).unwrap();
        }
    }
}
