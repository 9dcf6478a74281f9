use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// The ingest's Prometheus metrics (names: `seer_ingest_<name>_<unit>`, `_total` on counters).
#[derive(Clone)]
pub struct IngestMetrics {
    pub observations: IntCounter,
    pub dead_letters: IntCounterVec,
    pub batch_series: Histogram,
    pub forecast_latency: Histogram,
    pub forecasts_published: IntCounter,
    pub engine_retries: IntCounter,
    pub engine_rejected: IntCounter,
    pub due_series: IntGauge,
    pub windows: IntGauge,
    pub consumer_lag: IntGaugeVec,
    pub rebalances: IntCounterVec,
}

impl IngestMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let m = IngestMetrics {
            observations: IntCounter::new(
                "seer_ingest_observations_total",
                "Observations consumed and placed in a window",
            )?,
            dead_letters: IntCounterVec::new(
                Opts::new(
                    "seer_ingest_dead_letters_total",
                    "Messages sent to the dead-letter topic, by reason",
                ),
                &["reason"],
            )?,
            batch_series: Histogram::with_opts(
                HistogramOpts::new(
                    "seer_ingest_batch_series",
                    "Series per Engine.Forecast batch",
                )
                .buckets(vec![1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0]),
            )?,
            forecast_latency: Histogram::with_opts(
                HistogramOpts::new(
                    "seer_ingest_forecast_latency_seconds",
                    "From consuming an observation to its forecast being delivered to Kafka",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ]),
            )?,
            forecasts_published: IntCounter::new(
                "seer_ingest_forecasts_published_total",
                "Forecasts delivered to the forecasts topic",
            )?,
            engine_retries: IntCounter::new(
                "seer_ingest_engine_retries_total",
                "Engine.Forecast calls retried after an unavailable engine",
            )?,
            engine_rejected: IntCounter::new(
                "seer_ingest_engine_rejected_series_total",
                "Series the engine could not forecast (reason logged)",
            )?,
            due_series: IntGauge::new(
                "seer_ingest_due_series",
                "Series waiting for a forecast batch",
            )?,
            windows: IntGauge::new("seer_ingest_windows", "Series windows held")?,
            consumer_lag: IntGaugeVec::new(
                Opts::new(
                    "seer_ingest_consumer_lag_messages",
                    "High watermark minus committed position, per partition",
                ),
                &["partition"],
            )?,
            rebalances: IntCounterVec::new(
                Opts::new(
                    "seer_ingest_rebalances_total",
                    "Partition assignments and revocations",
                ),
                &["kind"],
            )?,
        };
        registry.register(Box::new(m.observations.clone()))?;
        registry.register(Box::new(m.dead_letters.clone()))?;
        registry.register(Box::new(m.batch_series.clone()))?;
        registry.register(Box::new(m.forecast_latency.clone()))?;
        registry.register(Box::new(m.forecasts_published.clone()))?;
        registry.register(Box::new(m.engine_retries.clone()))?;
        registry.register(Box::new(m.engine_rejected.clone()))?;
        registry.register(Box::new(m.due_series.clone()))?;
        registry.register(Box::new(m.windows.clone()))?;
        registry.register(Box::new(m.consumer_lag.clone()))?;
        registry.register(Box::new(m.rebalances.clone()))?;
        Ok(m)
    }
}
