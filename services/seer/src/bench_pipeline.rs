//! `seer bench pipeline`: end-to-end throughput and latency of ingest → engine → Kafka, in one
//! run on one broker:
//!
//! 1. raw: N observations are produced once; a plain consumer reads them all (no processing).
//! 2. pipeline, per model (seasonal naive; a small LSTM with random weights): a fresh ingest group
//!    reads the same N from the start until every observation is placed and every series'
//!    forecast of its last point is on the forecasts topic; events/s = N / that time.
//! 3. latency, per model: live production at a fixed rate after a warm-up that fills the windows;
//!    each event's latency runs from its producer send to the first forecast that covers it being
//!    read back from Kafka (exact), beside the ingest's own histogram (consume → delivered,
//!    bucket upper bounds only).
//!
//! The broker is librdkafka's in-process MockCluster unless --brokers names a real one (tansu,
//! Kafka); topics are created per run as `bench-PID.*`.
//!
//! Throughput clocks start at the first message read (the raw consumers) or placed in a window
//! (the ingest): group joins and the mock broker's ~0.5 s before a new consumer's first fetch
//! answers are not counted.
//!
//! The mock broker holds a fetch that finds no data for the whole `fetch.wait.max.ms` (librdkafka
//! `rdkafka_mock_handlers.c`) instead of answering when data arrives as Kafka does; with the
//! default 500 ms every caught-up consumer would add up to that much latency, so the ingest and
//! the forecast reader here fetch with `--fetch-wait-ms`. librdkafka's `fetch.queue.backoff.ms`
//! (1000 ms) stops a consumer whose prefetch queue is full for a whole second, which idles a
//! catching-up ingest; the ingest and the raw consumers get `--fetch-queue-backoff-ms`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use seer_core::quantiles::percentile;
use seer_core::synthetic::{SyntheticKind, SyntheticSpec, generate};
use seer_gpu::GpuContext;
use seer_ingest::{IngestConfig, IngestMetrics};
use seer_proto::convert::{seconds, timestamp};
use seer_proto::v1::engine_client::EngineClient;
use seer_proto::v1::{
    Forecast, ForecastBatchRequest, ListModelsRequest, Observation, SeriesWindow,
};
use seer_runtime::{KafkaConfig, Shutdown};
use serde_json::{Value, json};

use crate::init::{SizeArgs, build_config};

const FREQ: i64 = 3600;
/// 2025-01-01T00:00:00Z, the first point of every series.
const START: i64 = 1_735_689_600;
const PARTITIONS: i32 = 3;
const HORIZON: u32 = 24;
const LSTM_CONTEXT: usize = 48;
const LSTM_HIDDEN: usize = 32;
/// Rounds produced before the latency run's clock starts, so windows hold the LSTM's context.
const WARM_ROUNDS: usize = LSTM_CONTEXT;
/// p99 latency target at 10k events/s.
const TARGET_P99_MS: f64 = 50.0;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelChoice {
    Naive,
    Lstm,
    Both,
}

#[derive(Args)]
pub struct PipelineArgs {
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// Observations produced for the raw and pipeline throughput runs (rounded down to a
    /// multiple of --series)
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Series; each gets events / series hourly points
    #[arg(long, default_value_t = 1000)]
    pub series: usize,
    /// Events/s of the latency run (default: 10000 on a GPU, 2000 on the software adapter)
    #[arg(long)]
    pub rate: Option<u64>,
    /// Seconds of live production in each latency run
    #[arg(long, default_value_t = 10)]
    pub latency_secs: u64,
    /// Which engine model the pipeline runs: naive (seasonal naive, no GPU), lstm (1×32, random
    /// weights), or both
    #[arg(long, value_enum, default_value = "both")]
    pub model: ModelChoice,
    /// Ingest: most series in one Engine.Forecast batch
    #[arg(long, default_value_t = 1024)]
    pub max_batch: usize,
    /// Ingest: longest a due series waits for its batch to fill, in milliseconds
    #[arg(long, default_value_t = 20)]
    pub max_delay_ms: u64,
    /// Ingest: the cadence floor, ingest.max_points_per_forecast (0: none): no series goes more
    /// than this many points without a forecast, however far behind the ingest is
    #[arg(long, default_value_t = 0)]
    pub max_points_per_forecast: usize,
    /// Ingest: points kept per series window
    #[arg(long, default_value_t = 168)]
    pub window: usize,
    /// Ingest: Engine.Forecast batches in flight
    #[arg(long, default_value_t = 4)]
    pub max_in_flight: usize,
    /// Ingest: publish forecasts, dead letters and offsets in Kafka transactions
    /// (ingest.processing_guarantee = exactly_once; needs a broker with transactions, --brokers)
    #[arg(long)]
    pub exactly_once: bool,
    /// fetch.wait.max.ms of the ingest's and the raw consumers (the mock broker waits this long on an empty
    /// fetch even when data arrives meanwhile)
    #[arg(long, default_value_t = 5)]
    pub fetch_wait_ms: u64,
    /// fetch.queue.backoff.ms of the ingest's and the raw consumers: how long librdkafka stops fetching a
    /// partition whose local queue is over queued.min.messages (librdkafka's default, 1000,
    /// stalls a catching-up ingest for ~1 s at a time)
    #[arg(long, default_value_t = 10)]
    pub fetch_queue_backoff_ms: u64,
    /// Use this Kafka-protocol broker instead of the embedded one (topics are created, named
    /// bench-PID.*)
    #[arg(long)]
    pub brokers: Option<String>,
    /// Repetitions of the raw and pipeline throughput runs (fresh consumers each time); the
    /// median is reported
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Also write the JSON report to this file
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The synthetic series, series-major; round r of series s is point r.
struct Data {
    ids: Vec<String>,
    values: Vec<Vec<f64>>,
    index: HashMap<String, usize>,
}

impl Data {
    fn new(series: usize, points: usize) -> anyhow::Result<Self> {
        let all = generate(&SyntheticSpec {
            series,
            points,
            freq: FREQ,
            start: START,
            seed: 7,
            kind: SyntheticKind::Real,
        })?;
        let ids: Vec<String> = all.iter().map(|s| s.id.clone()).collect();
        let index = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        Ok(Data {
            ids,
            values: all.into_iter().map(|s| s.values).collect(),
            index,
        })
    }

    fn payload(&self, round: usize, s: usize) -> Vec<u8> {
        Observation {
            series_id: self.ids[s].clone(),
            timestamp: Some(timestamp(START + round as i64 * FREQ)),
            value: self.values[s][round],
            features: HashMap::new(),
        }
        .encode_to_vec()
    }
}

/// Send times of the latency run's events, in ns since `t0` plus one (0: not sent yet);
/// event k is round `first_round + k / series` of series `k % series`.
struct LiveClock {
    t0: Instant,
    first_round: usize,
    sent: Vec<AtomicU64>,
}

type Sender = ThreadedProducer<DefaultProducerContext>;

fn producer(brokers: &str, linger_ms: u32) -> anyhow::Result<Arc<Sender>> {
    Ok(Arc::new(
        KafkaConfig::with_brokers(brokers)
            .client_config()
            .set("enable.idempotence", "true")
            .set("linger.ms", linger_ms.to_string())
            .set("queue.buffering.max.messages", "1000000")
            .create()?,
    ))
}

/// Produces rounds `from..to` (every series once per round) to `topic`, at `rate` events/s
/// when given (stamping `clock`), else as fast as the broker takes them, and flushes. Returns
/// the events sent and the seconds it took.
fn produce(
    producer: &Sender,
    topic: &str,
    data: &Data,
    from: usize,
    to: usize,
    rate: Option<u64>,
    clock: Option<&LiveClock>,
) -> anyhow::Result<(usize, f64)> {
    let per_tick = rate.map_or(usize::MAX, |r| (r / 1000).max(1) as usize);
    let start = Instant::now();
    let mut sent = 0usize;
    for round in from..to {
        for s in 0..data.ids.len() {
            let payload = data.payload(round, s);
            loop {
                match producer.send(
                    BaseRecord::to(topic)
                        .key(data.ids[s].as_str())
                        .payload(&payload),
                ) {
                    Ok(()) => break,
                    Err((e, _)) => {
                        tracing::debug!(error = %e, "producer queue full");
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
            if let Some(c) = clock {
                let k = (round - c.first_round) * data.ids.len() + s;
                c.sent[k].store(c.t0.elapsed().as_nanos() as u64 + 1, Ordering::Relaxed);
            }
            sent += 1;
            if let Some(r) = rate
                && sent.is_multiple_of(per_tick)
            {
                let due = Duration::from_secs_f64(sent as f64 / r as f64);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
    }
    producer
        .flush(Duration::from_secs(30))
        .context("flushing the producer")?;
    Ok((sent, start.elapsed().as_secs_f64()))
}

/// The raw consumers fetch with the ingest's settings (`Setup::fetch_settings`).
fn raw_config(brokers: &str, group: &str, fetch: &[(String, String)]) -> ClientConfig {
    let mut c = KafkaConfig::with_brokers(brokers).client_config();
    for (k, v) in fetch {
        c.set(k, v);
    }
    c.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    c
}

/// Every partition of `topic` from its first message, without a group join.
fn assign_all(consumer: &impl Consumer, topic: &str) -> anyhow::Result<()> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    Ok(())
}

/// Seconds from the first to the `n`th message read by a polling `BaseConsumer`.
/// Also returns the CPU cores the process kept busy meanwhile.
fn raw_base(
    brokers: &str,
    topic: &str,
    n: usize,
    fetch: &[(String, String)],
) -> anyhow::Result<(f64, f64)> {
    let consumer: BaseConsumer = raw_config(
        brokers,
        &format!("seer-bench-raw-base-{}", std::process::id()),
        fetch,
    )
    .create()?;
    assign_all(&consumer, topic)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut count, mut bytes, mut first, mut cpu) = (0usize, 0usize, None, 0.0);
    while count < n {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if first.is_none() {
                    first = Some(Instant::now());
                    cpu = process_cpu_seconds();
                }
                bytes += m.payload().map_or(0, <[u8]>::len);
                count += 1;
            }
            Some(Err(e)) => tracing::warn!(error = %e, "raw consumer"),
            None if Instant::now() > deadline => {
                anyhow::bail!("raw consumer read {count} of {n} events in 120 s")
            }
            None => {}
        }
    }
    tracing::debug!(bytes, "raw consumer done");
    let secs = first.map_or(f64::NAN, |t| t.elapsed().as_secs_f64());
    Ok((secs, (process_cpu_seconds() - cpu) / secs))
}

/// The same with the async `StreamConsumer::recv` the ingest uses.
async fn raw_stream(
    brokers: &str,
    topic: &str,
    n: usize,
    fetch: &[(String, String)],
) -> anyhow::Result<f64> {
    let consumer: StreamConsumer = raw_config(
        brokers,
        &format!("seer-bench-raw-stream-{}", std::process::id()),
        fetch,
    )
    .create()?;
    assign_all(&consumer, topic)?;
    let (mut count, mut first) = (0usize, None);
    while count < n {
        match tokio::time::timeout(Duration::from_secs(30), consumer.recv()).await {
            Ok(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                std::hint::black_box(m.payload());
                count += 1;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "raw stream consumer"),
            Err(_) => anyhow::bail!("raw stream consumer read {count} of {n} events"),
        }
    }
    Ok(first.map_or(f64::NAN, |t| t.elapsed().as_secs_f64()))
}

/// Reads the forecasts topic from `start` offsets until every series has a forecast whose
/// latest observation is round `last_round`.
struct View {
    brokers: String,
    topic: String,
    start: Vec<(i32, Offset)>,
    index: Arc<HashMap<String, usize>>,
    last_round: usize,
    clock: Option<Arc<LiveClock>>,
    stop: Arc<AtomicBool>,
}

struct ViewResult {
    done_at: Option<Instant>,
    forecasts: u64,
    forecast_bytes: u64,
    series_done: usize,
    /// Per event of the live rounds: send → first covering forecast read, in ms.
    latencies_ms: Vec<f64>,
}

fn run_view(v: View) -> anyhow::Result<ViewResult> {
    let consumer: BaseConsumer = KafkaConfig::with_brokers(&v.brokers)
        .client_config()
        .set(
            "group.id",
            format!("seer-bench-view-{}", std::process::id()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "2")
        .set("fetch.error.backoff.ms", "5")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for (p, o) in &v.start {
        tpl.add_partition_offset(&v.topic, *p, *o)?;
    }
    consumer.assign(&tpl)?;
    let series = v.index.len();
    let mut reached = vec![-1i64; series];
    let mut result = ViewResult {
        done_at: None,
        forecasts: 0,
        forecast_bytes: 0,
        series_done: 0,
        latencies_ms: Vec::new(),
    };
    while !v.stop.load(Ordering::Relaxed) {
        let Some(m) = consumer.poll(Duration::from_millis(20)) else {
            continue;
        };
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "forecast view");
                continue;
            }
        };
        let Some(f) = m.payload().and_then(|p| Forecast::decode(p).ok()) else {
            continue;
        };
        result.forecasts += 1;
        result.forecast_bytes += m.payload().map_or(0, |p| p.len() as u64);
        let (Some(&s), Some(latest)) = (v.index.get(&f.series_id), f.latest_observation) else {
            continue;
        };
        let round = (seconds(&latest) - START) / FREQ;
        if round <= reached[s] {
            continue;
        }
        if let Some(c) = &v.clock {
            let now = c.t0.elapsed().as_nanos() as u64 + 1;
            for r in (reached[s] + 1).max(c.first_round as i64)..=round {
                let k = (r as usize - c.first_round) * series + s;
                let sent = c.sent.get(k).map_or(0, |a| a.load(Ordering::Relaxed));
                if sent > 0 {
                    result
                        .latencies_ms
                        .push(now.saturating_sub(sent) as f64 / 1e6);
                }
            }
        }
        if reached[s] < v.last_round as i64 && round >= v.last_round as i64 {
            result.series_done += 1;
        }
        reached[s] = round;
        if result.series_done == series {
            result.done_at = Some(Instant::now());
            break;
        }
    }
    Ok(result)
}

/// Bucket upper bounds with cumulative counts, the count and the sum of a histogram.
#[derive(Clone, Default)]
struct HistSnapshot {
    buckets: Vec<(f64, u64)>,
    count: u64,
    sum: f64,
}

fn snapshot(h: &prometheus::Histogram) -> HistSnapshot {
    use prometheus::core::Collector;
    let Some(m) = h
        .collect()
        .first()
        .and_then(|mf| mf.get_metric().first().cloned())
    else {
        return HistSnapshot::default();
    };
    let h = m.get_histogram();
    HistSnapshot {
        buckets: h
            .get_bucket()
            .iter()
            .map(|b| (b.upper_bound(), b.cumulative_count()))
            .collect(),
        count: h.get_sample_count(),
        sum: h.get_sample_sum(),
    }
}

impl HistSnapshot {
    /// What was observed since `before`.
    fn since(&self, before: &HistSnapshot) -> HistSnapshot {
        HistSnapshot {
            buckets: self
                .buckets
                .iter()
                .zip(before.buckets.iter().chain(std::iter::repeat(&(0.0, 0))))
                .map(|((ub, c), (_, b))| (*ub, c.saturating_sub(*b)))
                .collect(),
            count: self.count.saturating_sub(before.count),
            sum: self.sum - before.sum,
        }
    }

    /// Upper bound (seconds) of the bucket holding quantile `q`; infinite past the last bucket.
    fn quantile_le(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let target = (q * self.count as f64).ceil().max(1.0) as u64;
        Some(
            self.buckets
                .iter()
                .find(|(_, c)| *c >= target)
                .map_or(f64::INFINITY, |(ub, _)| *ub),
        )
    }
}

/// Sum over label sets of a counter family, and (count, sum) of a histogram family.
fn family_totals(registry: &prometheus::Registry, name: &str) -> (f64, u64, f64) {
    let mut totals = (0.0, 0u64, 0.0);
    for mf in registry.gather() {
        if mf.name() != name {
            continue;
        }
        for m in mf.get_metric() {
            totals.0 += m.get_counter().value();
            totals.1 += m.get_histogram().get_sample_count();
            totals.2 += m.get_histogram().get_sample_sum();
        }
    }
    totals
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Model {
    Naive,
    Lstm,
}

impl Model {
    fn engine_name(self) -> &'static str {
        match self {
            Model::Naive => "seasonal_naive",
            Model::Lstm => "lstm",
        }
    }
}

/// Writes the LSTM checkpoint the engine serves: 1 layer × 32, context 48, horizon 24, random
/// weights (throughput does not depend on them).
/// The pipeline's LSTM (1×32, context 48, horizon 24, quantiles 0.1/0.5/0.9), random weights.
pub(crate) fn pipeline_lstm()
-> anyhow::Result<(seer_model::ModelConfig, seer_model::checkpoint::Weights)> {
    let sizes = SizeArgs {
        context: Some(LSTM_CONTEXT),
        horizon: Some(HORIZON as usize),
        hidden: LSTM_HIDDEN,
        layers: 1,
        quantiles: "0.1,0.5,0.9".into(),
        distribution: "gaussian".into(),
        lags: None,
        cardinality: 1,
        embedding_dim: 0,
        samples: 100,
        channels: String::new(),
        dilations: String::new(),
        kernel_size: 3,
        classes: String::new(),
    };
    let mut config = build_config("lstm", FREQ.into(), &sizes)?;
    config.input_size = Some(config.derived_input_size());
    let weights = seer_model::checkpoint::init_weights(&config, 7)?;
    Ok((config, weights))
}

fn write_lstm(dir: &Path) -> anyhow::Result<()> {
    let (config, weights) = pipeline_lstm()?;
    seer_model::checkpoint::save(&dir.join("lstm"), &config, &weights)?;
    Ok(())
}

/// Engine and ingest of one run, with their metrics.
struct Stack {
    shutdown: Shutdown,
    registry: prometheus::Registry,
    metrics: IngestMetrics,
    engine: tokio::task::JoinHandle<Result<(), seer_engine::EngineError>>,
    ingest: tokio::task::JoinHandle<Result<(), seer_ingest::IngestError>>,
}

struct Setup<'a> {
    ctx: Arc<GpuContext>,
    brokers: String,
    models_dir: Option<PathBuf>,
    args: &'a PipelineArgs,
    /// Prefix of this run's topics.
    ns: String,
}

impl Setup<'_> {
    fn topic(&self, name: &str) -> String {
        format!("{}.{name}", self.ns)
    }

    /// Consumer settings of the ingest and the raw consumers alike.
    fn fetch_settings(&self) -> Vec<(String, String)> {
        vec![
            (
                "fetch.wait.max.ms".into(),
                self.args.fetch_wait_ms.to_string(),
            ),
            ("fetch.error.backoff.ms".into(), "5".into()),
            (
                "fetch.queue.backoff.ms".into(),
                self.args.fetch_queue_backoff_ms.to_string(),
            ),
        ]
    }

    fn ingest_config(&self, model: Model, tag: &str, observations: &str) -> IngestConfig {
        let a = self.args;
        let mut kafka = seer_runtime::KafkaConfig::with_brokers(self.brokers.clone());
        kafka.properties.extend(self.fetch_settings());
        IngestConfig {
            kafka,
            topics: seer_runtime::Topics {
                observations: observations.into(),
                forecasts: self.topic(&format!("forecasts.{tag}")),
                dead_letters: self.topic("dlq"),
                ..Default::default()
            },
            group_id: format!("seer-bench-{tag}-{}", std::process::id()),
            model: model.engine_name().into(),
            window: a.window,
            max_batch: a.max_batch,
            max_delay_ms: a.max_delay_ms,
            max_points_per_forecast: a.max_points_per_forecast,
            max_in_flight: a.max_in_flight,
            processing_guarantee: if a.exactly_once {
                "exactly_once".into()
            } else {
                "at_least_once".into()
            },
            horizon: HORIZON,
            ..Default::default()
        }
    }

    /// Starts the engine, waits until it answers (and has run the model once, so pipeline
    /// compilation is not timed), then starts the ingest.
    async fn start(&self, model: Model, mut ingest: IngestConfig) -> anyhow::Result<Stack> {
        let shutdown = Shutdown::new();
        let registry = prometheus::Registry::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let engine = tokio::spawn(seer_engine::serve_with_context(
            seer_engine::EngineConfig {
                models_dir: match model {
                    Model::Naive => None,
                    Model::Lstm => self.models_dir.clone(),
                },
                ..Default::default()
            },
            self.ctx.clone(),
            registry.clone(),
            listener,
            seer_runtime::Readiness::default(),
            shutdown.token().clone(),
        ));
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut client = loop {
            if engine.is_finished() {
                engine.await?.context("engine")?;
                anyhow::bail!("the engine stopped before serving");
            }
            if let Ok(mut c) = EngineClient::connect(url.clone()).await
                && c.list_models(ListModelsRequest {}).await.is_ok()
            {
                break c;
            }
            anyhow::ensure!(Instant::now() < deadline, "engine not serving after 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let warm = ForecastBatchRequest {
            model: model.engine_name().into(),
            windows: vec![SeriesWindow {
                series_id: "warm-up".into(),
                start: Some(timestamp(START)),
                freq_seconds: FREQ,
                values: (0..LSTM_CONTEXT).map(|k| (k % 24) as f64).collect(),
                partial: false,
                freq_months: 0,
                covariates: Vec::new(),
            }],
            horizon: HORIZON,
            quantiles: vec![0.1, 0.5, 0.9],
            ..Default::default()
        };
        client
            .forecast(warm)
            .await
            .map_err(|s| anyhow::anyhow!("warm-up forecast: {}", s.message()))?;
        let metrics = IngestMetrics::new(&registry)?;
        ingest.engine = url;
        let ingest = tokio::spawn(seer_ingest::run(
            ingest,
            metrics.clone(),
            seer_runtime::Readiness::default(),
            shutdown.clone(),
        ));
        Ok(Stack {
            shutdown,
            registry,
            metrics,
            engine,
            ingest,
        })
    }
}

impl Stack {
    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.ingest.await?.context("ingest")?;
        self.engine.await?.context("engine")?;
        Ok(())
    }

    fn engine_and_ingest_figures(&self) -> Value {
        let (requests, _, _) = family_totals(&self.registry, "seer_engine_requests_total");
        let (_, predicts, kernel_s) = family_totals(&self.registry, "seer_engine_kernel_seconds");
        let (fallback, _, _) = family_totals(&self.registry, "seer_engine_fallback_total");
        let (dead, _, _) = family_totals(&self.registry, "seer_ingest_dead_letters_total");
        let m = &self.metrics;
        let batches = snapshot(&m.batch_series);
        json!({
            "forecasts": m.forecasts_published.get(),
            "batches": batches.count,
            "mean_batch_series": if batches.count > 0 { batches.sum / batches.count as f64 } else { 0.0 },
            "engine_requests": requests,
            "engine_neural_predicts": predicts,
            "engine_neural_seconds": kernel_s,
            "engine_fallback_windows": fallback,
            "engine_retries": m.engine_retries.get(),
            "engine_rejected_series": m.engine_rejected.get(),
            "dead_letters": dead,
        })
    }
}

fn all_partitions(from: Offset) -> Vec<(i32, Offset)> {
    (0..PARTITIONS).map(|p| (p, from)).collect()
}

fn ms(seconds: Option<f64>) -> Value {
    seconds.map_or(Value::Null, |s| json!(s * 1e3))
}

/// Phase 2/3: a fresh group reads the `n` pre-produced events until every series' last point
/// is forecast.
async fn throughput(
    setup: &Setup<'_>,
    model: Model,
    data: &Data,
    rounds: usize,
    rep: usize,
) -> anyhow::Result<Value> {
    let n = rounds * data.ids.len();
    let tag = format!("{}-tput{rep}", model.engine_name());
    let config = setup.ingest_config(model, &tag, &setup.topic("observations"));
    let stack = setup.start(model, config.clone()).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let view = tokio::task::spawn_blocking({
        let v = View {
            brokers: setup.brokers.clone(),
            topic: config.topics.forecasts.clone(),
            start: all_partitions(Offset::Beginning),
            index: Arc::new(data.index.clone()),
            last_round: rounds - 1,
            clock: None,
            stop: stop.clone(),
        };
        move || run_view(v)
    });
    let limit = Duration::from_secs(600);
    let begin = Instant::now();
    let (mut first, mut consumed) = (None, None);
    let mut cpu_at_first = 0.0;
    loop {
        let obs = stack.metrics.observations.get() as usize;
        let now = Instant::now();
        if obs > 0 && first.is_none() {
            first = Some(now);
            cpu_at_first = process_cpu_seconds();
        }
        if obs >= n {
            consumed.get_or_insert(now);
        }
        if view.is_finished() {
            break;
        }
        if begin.elapsed() > limit {
            stop.store(true, Ordering::Relaxed);
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let cpu = process_cpu_seconds() - cpu_at_first;
    let view = view.await??;
    let figures = stack.engine_and_ingest_figures();
    let latency = snapshot(&stack.metrics.forecast_latency);
    let placed = stack.metrics.observations.get();
    stack.stop().await?;
    let (Some(first), Some(done)) = (first, view.done_at) else {
        anyhow::bail!(
            "{}: after {:.0} s, {placed} of {n} events placed and {} of {} series forecast at their last point",
            model.engine_name(),
            limit.as_secs_f64(),
            view.series_done,
            data.ids.len()
        );
    };
    let total = done.duration_since(first).as_secs_f64();
    let eps = n as f64 / total;
    Ok(json!({
        "model": model.engine_name(),
        "weights": match model {
            Model::Naive => "none (seasonal naive, CPU)",
            Model::Lstm => "random (init_weights seed 7); LSTM 1x32, context 48, horizon 24, quantiles 0.1/0.5/0.9",
        },
        "events": n,
        "events_per_second": eps,
        "consume_seconds": consumed.map(|c| c.duration_since(first).as_secs_f64()),
        "total_seconds": total,
        "cpu_cores_busy": cpu / total,
        "forecasts_read": view.forecasts,
        "forecast_payload_bytes_mean": view.forecast_bytes as f64 / view.forecasts.max(1) as f64,
        "ingest": figures,
        "latency_histogram": {
            "what": "ingest seer_ingest_forecast_latency_seconds: first consume of a series' pending points → its forecast delivered; bucket upper bounds",
            "forecasts": latency.count,
            "p50_le_ms": ms(latency.quantile_le(0.5)),
            "p99_le_ms": ms(latency.quantile_le(0.99)),
            "mean_ms": if latency.count > 0 { json!(latency.sum / latency.count as f64 * 1e3) } else { Value::Null },
        },
    }))
}

/// Phase 4: warm-up rounds at full speed, then live production at `rate` on a fresh topic.
async fn latency(
    setup: &Setup<'_>,
    model: Model,
    data: &Arc<Data>,
    rate: u64,
    live_rounds: usize,
) -> anyhow::Result<Value> {
    let tag = format!("{}-live", model.engine_name());
    let observations = setup.topic(&format!("observations.{tag}"));
    let config = setup.ingest_config(model, &tag, &observations);
    let stack = setup.start(model, config.clone()).await?;
    let wait_assigned = Instant::now();
    while stack
        .metrics
        .rebalances
        .with_label_values(&["assigned"])
        .get()
        < PARTITIONS as u64
    {
        anyhow::ensure!(
            wait_assigned.elapsed() < Duration::from_secs(30),
            "the ingest got no partitions in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let series = data.ids.len();
    let brokers = setup.brokers.clone();
    // warm-up: fill the windows, wait until every series is forecast at the last warm round
    // one producer for the warm-up and the live part, so its connection set-up is not timed
    let sender = producer(&brokers, 1)?;
    let (d, s, t) = (data.clone(), sender.clone(), observations.clone());
    tokio::task::spawn_blocking(move || produce(&s, &t, &d, 0, WARM_ROUNDS, None, None)).await??;
    let warm = run_view_async(View {
        brokers: brokers.clone(),
        topic: config.topics.forecasts.clone(),
        start: all_partitions(Offset::Beginning),
        index: Arc::new(data.index.clone()),
        last_round: WARM_ROUNDS - 1,
        clock: None,
        stop: Arc::new(AtomicBool::new(false)),
    })
    .await?;
    anyhow::ensure!(
        warm.done_at.is_some(),
        "warm-up: {} of {series} series forecast",
        warm.series_done
    );
    let before = snapshot(&stack.metrics.forecast_latency);
    // the live view starts where the forecasts topic ends now
    let start = {
        let c: BaseConsumer = KafkaConfig::with_brokers(&brokers)
            .client_config()
            .create()?;
        let mut v = Vec::new();
        for p in 0..PARTITIONS {
            let (_, high) =
                c.fetch_watermarks(&config.topics.forecasts, p, Duration::from_secs(5))?;
            v.push((p, Offset::Offset(high)));
        }
        v
    };
    let clock = Arc::new(LiveClock {
        t0: Instant::now(),
        first_round: WARM_ROUNDS,
        sent: (0..live_rounds * series)
            .map(|_| AtomicU64::new(0))
            .collect(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let view = tokio::task::spawn_blocking({
        let v = View {
            brokers: brokers.clone(),
            topic: config.topics.forecasts.clone(),
            start,
            index: Arc::new(data.index.clone()),
            last_round: WARM_ROUNDS + live_rounds - 1,
            clock: Some(clock.clone()),
            stop: stop.clone(),
        };
        move || run_view(v)
    });
    let obs_before = stack.metrics.observations.get();
    let (d, c) = (data.clone(), clock.clone());
    let (sent, produce_s) = tokio::task::spawn_blocking(move || {
        produce(
            &sender,
            &observations,
            &d,
            WARM_ROUNDS,
            WARM_ROUNDS + live_rounds,
            Some(rate),
            Some(&c),
        )
    })
    .await??;
    let limit = Instant::now() + Duration::from_secs(60);
    while !view.is_finished() && Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut view = view.await??;
    let hist = snapshot(&stack.metrics.forecast_latency).since(&before);
    let placed = stack.metrics.observations.get() - obs_before;
    let figures = stack.engine_and_ingest_figures();
    stack.stop().await?;
    anyhow::ensure!(
        view.done_at.is_some(),
        "latency run: {} of {series} series forecast at their last point 60 s after production ended",
        view.series_done
    );
    view.latencies_ms.sort_by(f64::total_cmp);
    let l = &view.latencies_ms;
    let p99 = percentile(l, 0.99);
    Ok(json!({
        "model": model.engine_name(),
        "rate_target": rate,
        "rate_achieved": sent as f64 / produce_s,
        "events": sent,
        "events_placed": placed,
        "events_timed": l.len(),
        "warm_up_rounds": WARM_ROUNDS,
        "exact": {
            "what": "producer send → first forecast covering the event read back from the forecasts topic",
            "p50_ms": percentile(l, 0.5),
            "p90_ms": percentile(l, 0.9),
            "p99_ms": p99,
            "max_ms": l.last(),
        },
        "latency_histogram": {
            "what": "ingest seer_ingest_forecast_latency_seconds over the live part: first consume of a series' pending points → its forecast delivered; bucket upper bounds",
            "forecasts": hist.count,
            "p50_le_ms": ms(hist.quantile_le(0.5)),
            "p99_le_ms": ms(hist.quantile_le(0.99)),
            "mean_ms": if hist.count > 0 { json!(hist.sum / hist.count as f64 * 1e3) } else { Value::Null },
        },
        "target_p99_ms": TARGET_P99_MS,
        "target_met": p99.is_some_and(|p| p <= TARGET_P99_MS),
        "ingest": figures,
    }))
}

async fn run_view_async(v: View) -> anyhow::Result<ViewResult> {
    let stop = v.stop.clone();
    let handle = tokio::task::spawn_blocking(move || run_view(v));
    let limit = Instant::now() + Duration::from_secs(120);
    while !handle.is_finished() && Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    handle.await?
}

pub fn run(a: &PipelineArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.series > 0, "--series must be at least 1");
    anyhow::ensure!(a.reps > 0, "--reps must be at least 1");
    let rounds = a.events / a.series;
    anyhow::ensure!(
        rounds >= 2,
        "--events must be at least twice --series (each series needs 2 points)"
    );
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(bench(a, rounds))
}

/// CPU time of every thread of this process so far, in seconds (Linux schedstat; 0 elsewhere).
fn process_cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum::<u64>() as f64
        / 1e9
}

/// /proc/loadavg: other work on the machine skews every figure here.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
}

async fn bench(a: &PipelineArgs, rounds: usize) -> anyhow::Result<()> {
    let load_before = loadavg();
    let ctx = Arc::new(tokio::task::spawn_blocking(GpuContext::from_env).await??);
    let software = ctx.summary.is_software;
    let rate = a.rate.unwrap_or(if software { 2000 } else { 10_000 });
    let rate_note = match (a.rate, software) {
        (None, true) => " (scaled down from 10000 on the software adapter; --rate to change)",
        _ => "",
    };
    let models: Vec<Model> = match a.model {
        ModelChoice::Naive => vec![Model::Naive],
        ModelChoice::Lstm => vec![Model::Lstm],
        ModelChoice::Both => vec![Model::Naive, Model::Lstm],
    };
    let series = a.series;
    let n = rounds * series;
    let live_rounds = ((rate * a.latency_secs) as usize).div_ceil(series).max(1);
    let data = Arc::new(Data::new(series, rounds.max(WARM_ROUNDS + live_rounds))?);
    // topic names unique to this run, so an external broker can be reused
    let ns = format!("bench-{}", std::process::id());
    let mut topics = vec![
        (format!("{ns}.observations"), PARTITIONS),
        (format!("{ns}.dlq"), 1),
    ];
    for m in &models {
        let name = m.engine_name();
        for rep in 0..a.reps {
            topics.push((format!("{ns}.forecasts.{name}-tput{rep}"), PARTITIONS));
        }
        topics.push((format!("{ns}.forecasts.{name}-live"), PARTITIONS));
        topics.push((format!("{ns}.observations.{name}-live"), PARTITIONS));
    }
    let mut mock = None;
    let brokers = match &a.brokers {
        Some(b) => {
            let named: Vec<(&str, i32)> = topics.iter().map(|(t, p)| (t.as_str(), *p)).collect();
            KafkaConfig::with_brokers(b)
                .ensure_topics(&named)
                .await
                .with_context(|| format!("creating the benchmark's topics on {b}"))?;
            b.clone()
        }
        None => {
            let m = rdkafka::mocking::MockCluster::new(1)
                .context("starting the embedded Kafka-protocol broker")?;
            for (t, p) in &topics {
                m.create_topic(t, *p, 1)?;
            }
            let b = m.bootstrap_servers();
            mock = Some(m);
            b
        }
    };
    let broker = match &a.brokers {
        Some(b) => format!("external Kafka-protocol broker at {b}"),
        None => "embedded librdkafka MockCluster, 1 broker, in process".to_owned(),
    };
    eprintln!(
        "seer bench pipeline: adapter {} ({}), {broker}",
        ctx.summary.name, ctx.summary.backend
    );
    let models_dir = std::env::temp_dir().join(format!("seer-bench-models-{}", std::process::id()));
    if models.contains(&Model::Lstm) {
        write_lstm(&models_dir)?;
    }
    let setup = Setup {
        ctx: ctx.clone(),
        brokers: brokers.clone(),
        models_dir: Some(models_dir.clone()),
        args: a,
        ns,
    };
    let result = phases(&setup, &models, &data, rounds, rate, live_rounds).await;
    let _ = std::fs::remove_dir_all(&models_dir);
    drop(mock);
    let (produce_eps, raw, pipelines, latencies) = result?;
    let report = json!({
        "adapter": ctx.summary.name,
        "backend": ctx.summary.backend,
        "software": software,
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "loadavg_before": load_before.trim(),
        "loadavg_after": loadavg().trim(),
        "broker": broker,
        "events": n,
        "series": series,
        "points_per_series": rounds,
        "partitions": PARTITIONS,
        "ingest_config": {
            "max_batch": a.max_batch,
            "max_delay_ms": a.max_delay_ms,
            "every_points": 1,
            "max_points_per_forecast": a.max_points_per_forecast,
            "window": a.window,
            "max_in_flight": a.max_in_flight,
            "fetch_wait_max_ms": a.fetch_wait_ms,
            "fetch_queue_backoff_ms": a.fetch_queue_backoff_ms,
            "horizon": HORIZON,
            "quantiles": [0.1, 0.5, 0.9],
        },
        "produce_events_per_second": produce_eps,
        "raw_consume": raw,
        "reps": a.reps,
        "pipelines": pipelines,
        "latency_rate_note": rate_note.trim(),
        "latency": latencies,
    });
    if let Some(path) = &a.out {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report, rate_note);
    }
    Ok(())
}

type Phases = (f64, Value, Vec<Value>, Vec<Value>);

async fn phases(
    setup: &Setup<'_>,
    models: &[Model],
    data: &Arc<Data>,
    rounds: usize,
    rate: u64,
    live_rounds: usize,
) -> anyhow::Result<Phases> {
    let n = rounds * data.ids.len();
    let brokers = setup.brokers.clone();
    eprintln!("  producing {n} observations");
    let observations = setup.topic("observations");
    let (d, s, t) = (data.clone(), producer(&brokers, 10)?, observations.clone());
    let (_, produce_s) =
        tokio::task::spawn_blocking(move || produce(&s, &t, &d, 0, rounds, None, None)).await??;
    // the mock broker keeps about 5 MiB per partition and drops the oldest beyond that
    let (b, t) = (brokers.clone(), observations.clone());
    let low = tokio::task::spawn_blocking(move || -> anyhow::Result<i64> {
        let c: BaseConsumer = KafkaConfig::with_brokers(&b).client_config().create()?;
        let mut low = 0;
        for p in 0..PARTITIONS {
            low += c.fetch_watermarks(&t, p, Duration::from_secs(5))?.0;
        }
        Ok(low)
    })
    .await??;
    anyhow::ensure!(
        low == 0,
        "the embedded broker dropped {low} of the {n} events (it keeps about 5 MiB per partition); use fewer --events"
    );
    let reps = setup.args.reps;
    eprintln!("  raw consume ×{reps}");
    let fetch = setup.fetch_settings();
    let (mut base, mut stream) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let (b, t, f) = (brokers.clone(), observations.clone(), fetch.clone());
        let (secs, cpu) = tokio::task::spawn_blocking(move || raw_base(&b, &t, n, &f)).await??;
        base.push((n as f64 / secs, cpu));
        stream.push(n as f64 / raw_stream(&brokers, &observations, n, &fetch).await?);
    }
    base.sort_by(|a, b| a.0.total_cmp(&b.0));
    stream.sort_by(f64::total_cmp);
    let raw_eps = base[reps / 2].0;
    let raw = json!({
        "base_consumer_events_per_second": raw_eps,
        "base_consumer_reps": base.iter().map(|b| b.0).collect::<Vec<f64>>(),
        "base_consumer_cpu_cores_busy": base[reps / 2].1,
        "stream_consumer_events_per_second": stream[reps / 2],
        "stream_consumer_reps": stream,
    });
    let mut pipelines = Vec::new();
    for &m in models {
        eprintln!("  pipeline throughput: {} ×{reps}", m.engine_name());
        let mut runs = Vec::new();
        for rep in 0..reps {
            runs.push(throughput(setup, m, data, rounds, rep).await?);
        }
        runs.sort_by(|a, b| {
            let eps = |v: &Value| v["events_per_second"].as_f64().unwrap_or(0.0);
            eps(a).total_cmp(&eps(b))
        });
        let all: Vec<Value> = runs
            .iter()
            .map(|r| r["events_per_second"].clone())
            .collect();
        let mut median = runs.swap_remove(reps / 2);
        let eps = median["events_per_second"].as_f64().unwrap_or(f64::NAN);
        median["ratio_to_raw"] = json!(eps / raw_eps);
        median["reps_events_per_second"] = json!(all);
        pipelines.push(median);
    }
    let mut latencies = Vec::new();
    for &m in models {
        eprintln!(
            "  latency: {} at {rate} events/s for {} events",
            m.engine_name(),
            live_rounds * data.ids.len()
        );
        latencies.push(latency(setup, m, data, rate, live_rounds).await?);
    }
    Ok((n as f64 / produce_s, raw, pipelines, latencies))
}

fn print_table(r: &Value, rate_note: &str) {
    let f = |v: &Value, d: usize| {
        v.as_f64()
            .map(|x| format!("{x:.d$}"))
            .unwrap_or_else(|| "-".into())
    };
    let c = &r["ingest_config"];
    println!(
        "adapter: {} ({}){}; broker: {}; {} cpus",
        r["adapter"].as_str().unwrap_or(""),
        r["backend"].as_str().unwrap_or(""),
        if r["software"].as_bool() == Some(true) {
            " — software"
        } else {
            ""
        },
        r["broker"].as_str().unwrap_or(""),
        r["cpus"]
    );
    println!(
        "load average before: {}, after: {}",
        r["loadavg_before"].as_str().unwrap_or("-"),
        r["loadavg_after"].as_str().unwrap_or("-")
    );
    println!(
        "events {} = {} series × {} hourly points, {} partitions, median of {} reps; ingest max_batch {}, max_delay {} ms, max_points_per_forecast {}, window {}, in flight {}, fetch.wait.max.ms {}, fetch.queue.backoff.ms {}, horizon {}",
        r["events"],
        r["series"],
        r["points_per_series"],
        r["partitions"],
        r["reps"],
        c["max_batch"],
        c["max_delay_ms"],
        c["max_points_per_forecast"],
        c["window"],
        c["max_in_flight"],
        c["fetch_wait_max_ms"],
        c["fetch_queue_backoff_ms"],
        c["horizon"]
    );
    println!();
    println!(
        "{:<40} {:>12}",
        "produce (ThreadedProducer, linger 10 ms)",
        f(&r["produce_events_per_second"], 0)
    );
    println!(
        "{:<40} {:>12}   (cpu cores busy {})",
        "raw consume (BaseConsumer::poll)",
        f(&r["raw_consume"]["base_consumer_events_per_second"], 0),
        f(&r["raw_consume"]["base_consumer_cpu_cores_busy"], 2)
    );
    println!(
        "{:<40} {:>12}",
        "raw consume (StreamConsumer::recv)",
        f(&r["raw_consume"]["stream_consumer_events_per_second"], 0)
    );
    println!();
    println!(
        "{:<15} {:>10} {:>7} {:>5} {:>9} {:>8} {:>9} {:>8} {:>8} {:>9} {:>8} {:>8}",
        "pipeline",
        "events/s",
        "×raw",
        "cpus",
        "consume s",
        "total s",
        "forecasts",
        "batches",
        "series/b",
        "neural s",
        "p50 ≤ ms",
        "p99 ≤ ms"
    );
    for p in r["pipelines"].as_array().into_iter().flatten() {
        let i = &p["ingest"];
        println!(
            "{:<15} {:>10} {:>7} {:>5} {:>9} {:>8} {:>9} {:>8} {:>8} {:>9} {:>8} {:>8}",
            p["model"].as_str().unwrap_or(""),
            f(&p["events_per_second"], 0),
            f(&p["ratio_to_raw"], 2),
            f(&p["cpu_cores_busy"], 2),
            f(&p["consume_seconds"], 2),
            f(&p["total_seconds"], 2),
            i["forecasts"],
            i["batches"],
            f(&i["mean_batch_series"], 0),
            f(&i["engine_neural_seconds"], 2),
            f(&p["latency_histogram"]["p50_le_ms"], 1),
            f(&p["latency_histogram"]["p99_le_ms"], 1),
        );
    }
    println!(
        "  (×raw: pipeline events/s over BaseConsumer's; target ≥ 0.5 with seasonal naive. cpus: CPU cores this process kept busy. neural s: engine time in Model::predict. p50/p99: bucket upper bounds of the ingest's latency histogram, consume → delivered)"
    );
    println!();
    for l in r["latency"].as_array().into_iter().flatten() {
        let e = &l["exact"];
        let h = &l["latency_histogram"];
        println!(
            "latency {:<15} {} events at {} events/s{} (achieved {}): send → forecast read p50 {} ms, p90 {} ms, p99 {} ms, max {} ms; ingest histogram p50 ≤ {} ms, p99 ≤ {} ms; p99 ≤ {} ms: {}",
            l["model"].as_str().unwrap_or(""),
            l["events"],
            l["rate_target"],
            rate_note,
            f(&l["rate_achieved"], 0),
            f(&e["p50_ms"], 1),
            f(&e["p90_ms"], 1),
            f(&e["p99_ms"], 1),
            f(&e["max_ms"], 1),
            f(&h["p50_le_ms"], 1),
            f(&h["p99_le_ms"], 1),
            TARGET_P99_MS,
            if l["target_met"].as_bool() == Some(true) {
                "met"
            } else {
                "missed"
            }
        );
    }
}
