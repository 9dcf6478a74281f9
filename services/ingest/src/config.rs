use std::time::Duration;

use seer_core::stream::{BatchPolicy, FrequencyRule};

/// Everything `seer ingest` needs; defaults suit `seer up`.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub brokers: String,
    pub group_id: String,
    pub observations_topic: String,
    pub forecasts_topic: String,
    pub dlq_topic: String,
    /// Engine gRPC endpoint, e.g. `http://127.0.0.1:50051`.
    pub engine: String,
    /// Model name on the engine (empty: its default).
    pub model: String,
    /// Points kept per series (the model's context, or more).
    pub window: usize,
    pub default_freq: i64,
    pub freq_rules: Vec<FrequencyRule>,
    pub policy: BatchPolicy,
    /// Due series above which consumption pauses (backpressure instead of unbounded queues).
    pub max_due: usize,
    /// Engine batches in flight at once.
    pub max_in_flight: usize,
    /// Deadline of one Engine.Forecast call.
    pub engine_timeout: Duration,
    /// Payloads larger than this go to the dead-letter topic as `oversized`.
    pub max_message_bytes: usize,
    /// Event times further than this past the wall clock are `future_timestamp` dead letters.
    pub max_future: Duration,
    pub horizon: u32,
    pub quantiles: Vec<f64>,
    /// Messages per partition re-read on assignment to rebuild the windows of the series it
    /// carries (the state is rebuilt from the topic itself; 0 disables it and windows start
    /// empty, flagged partial until full).
    pub rebuild_messages: i64,
    /// Extra librdkafka settings for both clients (security, timeouts...).
    pub kafka: Vec<(String, String)>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            brokers: "127.0.0.1:9092".into(),
            group_id: "seer-ingest".into(),
            observations_topic: "seer.observations".into(),
            forecasts_topic: "seer.forecasts".into(),
            dlq_topic: "seer.dlq".into(),
            engine: "http://127.0.0.1:50051".into(),
            model: String::new(),
            window: 168,
            default_freq: 3600,
            freq_rules: Vec::new(),
            policy: BatchPolicy::default(),
            max_due: 100_000,
            max_in_flight: 4,
            engine_timeout: Duration::from_secs(5),
            max_message_bytes: 64 * 1024,
            max_future: Duration::from_secs(86_400),
            horizon: 0,
            quantiles: vec![0.1, 0.5, 0.9],
            rebuild_messages: 200_000,
            kafka: Vec::new(),
        }
    }
}
