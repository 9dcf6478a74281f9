//! `seer engine`, `seer ingest` and `seer replay`: the pipeline's services one per process (as
//! Kubernetes runs them), and a CSV producer for users with real data. Each loads its
//! configuration through [`crate::config`]; the flags here are shortcuts for common keys.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use prost::Message as _;
use rdkafka::producer::{FutureRecord, Producer};
use seer_core::csv::read_long_csv;
use seer_ingest::IngestMetrics;
use seer_proto::convert::timestamp;
use seer_proto::v1::Observation;
use seer_runtime::{KafkaHealth, Readiness, Shutdown, init_logging, spawn_admin};

use crate::config::{ConfigArgs, Service, TopicArgs, kafka_properties, load};

/// After the service itself drained (within the grace period), the little that is left (admin
/// server, lag reporter) winds down within this.
const WIND_DOWN: Duration = Duration::from_secs(3);

/// What a service command shares: a runtime, SIGTERM/Ctrl-C, the admin endpoints on
/// `metrics_listen` with the process registry and the service's readiness, and a bounded drain
/// once `service` (given the registry, the readiness and the shutdown token) returns or a
/// signal comes.
fn run_with_admin<F, Fut>(
    metrics_listen: std::net::SocketAddr,
    grace: Duration,
    service: F,
) -> anyhow::Result<()>
where
    F: FnOnce(prometheus::Registry, Readiness, tokio_util::sync::CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    tokio::runtime::Runtime::new()?.block_on(async {
        let shutdown = Shutdown::on_signals();
        let registry = prometheus::default_registry().clone();
        let ready = Readiness::default();
        spawn_admin(
            metrics_listen,
            registry.clone(),
            ready.clone(),
            shutdown.token().clone(),
        )
        .await
        .with_context(|| format!("metrics listener {metrics_listen}"))?;
        let work = service(registry, ready, shutdown.token().clone());
        if let Some(result) = shutdown.run_service(grace, WIND_DOWN, work).await {
            result?;
        }
        Ok(())
    })
}

#[derive(Args)]
pub struct EngineArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// engine.listen
    #[arg(long)]
    pub listen: Option<String>,
    /// engine.models_dir: directory of checkpoint directories, each served under its name
    #[arg(long)]
    pub models: Option<String>,
    /// engine.default_model
    #[arg(long)]
    pub default_model: Option<String>,
    /// engine.max_concurrent: batches on the GPU at once
    #[arg(long)]
    pub max_concurrent: Option<String>,
    /// engine.metrics_listen
    #[arg(long)]
    pub metrics_listen: Option<String>,
}

pub fn engine(a: &EngineArgs) -> anyhow::Result<()> {
    let (_, config) = load(
        &a.config,
        &[
            ("listen", "engine.listen", a.listen.as_deref()),
            ("models", "engine.models_dir", a.models.as_deref()),
            (
                "default-model",
                "engine.default_model",
                a.default_model.as_deref(),
            ),
            (
                "max-concurrent",
                "engine.max_concurrent",
                a.max_concurrent.as_deref(),
            ),
            (
                "metrics-listen",
                "engine.metrics_listen",
                a.metrics_listen.as_deref(),
            ),
        ],
        Service::Engine,
    )?;
    init_logging(&config.log);
    let engine = config.engine();
    run_with_admin(
        engine.metrics_listen,
        config.shutdown.grace(),
        |registry, ready, token| async move {
            let listener = tokio::net::TcpListener::bind(engine.listen)
                .await
                .with_context(|| format!("binding {}", engine.listen))?;
            eprintln!("seer engine: listening on {}", listener.local_addr()?);
            Ok(seer_engine::serve(engine, registry, listener, ready, token).await?)
        },
    )
}

#[derive(Args)]
pub struct TrainerArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// kafka.brokers
    #[arg(long)]
    pub brokers: Option<String>,
    /// trainer.model: the served model to fine-tune
    #[arg(long)]
    pub model: Option<String>,
    /// trainer.models_dir: where the model's first checkpoint is (the engines' models_dir)
    #[arg(long)]
    pub models: Option<String>,
    /// model_store.dir: where versions are written (a volume every engine mounts)
    #[arg(long)]
    pub store: Option<String>,
    /// trainer.metrics_listen
    #[arg(long)]
    pub metrics_listen: Option<String>,
}

pub fn trainer(a: &TrainerArgs) -> anyhow::Result<()> {
    let (_, config) = load(
        &a.config,
        &[
            ("brokers", "kafka.brokers", a.brokers.as_deref()),
            ("model", "trainer.model", a.model.as_deref()),
            ("models", "trainer.models_dir", a.models.as_deref()),
            ("store", "model_store.dir", a.store.as_deref()),
            (
                "metrics-listen",
                "trainer.metrics_listen",
                a.metrics_listen.as_deref(),
            ),
        ],
        Service::Trainer,
    )?;
    init_logging(&config.log);
    let trainer = config.trainer();
    run_with_admin(
        trainer.metrics_listen,
        config.shutdown.grace(),
        |registry, ready, token| async move {
            let ctx = std::sync::Arc::new(
                tokio::task::spawn_blocking(seer_gpu::GpuContext::from_env).await??,
            );
            eprintln!(
                "seer trainer: gpu adapter {} ({}), metrics at http://{}/metrics",
                ctx.summary.name, ctx.summary.backend, trainer.metrics_listen
            );
            let status = seer_trainer::StatusHandle::default();
            Ok(seer_trainer::run(trainer, ctx, &registry, ready, status, token).await?)
        },
    )
}

#[derive(Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// kafka.brokers
    #[arg(long)]
    pub brokers: Option<String>,
    /// ingest.engine: the engines' gRPC endpoint
    #[arg(long)]
    pub engine: Option<String>,
    /// ingest.group_id
    #[arg(long)]
    pub group: Option<String>,
    #[command(flatten)]
    pub topics: TopicArgs,
    /// ingest.model (default: the engine's default model)
    #[arg(long)]
    pub model: Option<String>,
    /// ingest.window: points kept per series
    #[arg(long)]
    pub window: Option<String>,
    /// ingest.freq: series spacing, seconds or 15min, 1h, 1d, or calendar 1mo, 1q, 1y
    #[arg(long)]
    pub freq: Option<String>,
    /// ingest.horizon
    #[arg(long)]
    pub horizon: Option<String>,
    /// ingest.max_batch
    #[arg(long)]
    pub max_batch: Option<String>,
    /// ingest.max_delay_ms: longest a due series waits for its batch
    #[arg(long)]
    pub max_delay_ms: Option<String>,
    /// ingest.metrics_listen
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// kafka.properties: extra librdkafka setting, e.g. fetch.min.bytes=1 (repeatable)
    #[arg(long = "kafka", value_name = "KEY=VALUE")]
    pub kafka: Vec<String>,
}

pub fn ingest(a: &IngestArgs) -> anyhow::Result<()> {
    let flags = [
        ("brokers", "kafka.brokers", a.brokers.as_deref()),
        ("engine", "ingest.engine", a.engine.as_deref()),
        ("group", "ingest.group_id", a.group.as_deref()),
        ("model", "ingest.model", a.model.as_deref()),
        ("window", "ingest.window", a.window.as_deref()),
        ("freq", "ingest.freq", a.freq.as_deref()),
        ("horizon", "ingest.horizon", a.horizon.as_deref()),
        ("max-batch", "ingest.max_batch", a.max_batch.as_deref()),
        (
            "max-delay-ms",
            "ingest.max_delay_ms",
            a.max_delay_ms.as_deref(),
        ),
        (
            "metrics-listen",
            "ingest.metrics_listen",
            a.metrics_listen.as_deref(),
        ),
    ];
    let flags = [flags.as_slice(), a.topics.flags().as_slice()].concat();
    let mut layers = crate::config::layers(&a.config, &flags).context("configuration")?;
    kafka_properties(&mut layers, &a.kafka).context("configuration")?;
    let config = crate::config::build(&layers, Service::Ingest).context("configuration")?;
    init_logging(&config.log);
    let ingest = config.ingest();
    tokio::runtime::Runtime::new()?.block_on(async {
        let shutdown = Shutdown::on_signals();
        let registry = prometheus::Registry::new();
        let metrics = IngestMetrics::new(&registry)?;
        let ready = Readiness::default();
        spawn_admin(
            ingest.metrics_listen,
            registry,
            ready.clone(),
            shutdown.token().clone(),
        )
        .await
        .with_context(|| format!("metrics listener {}", ingest.metrics_listen))?;
        // the ingest drains within the grace period itself; this bound is for a broker that
        // does not answer the final commit
        let grace = ingest.grace + WIND_DOWN;
        let running = seer_ingest::run(ingest, metrics, ready, shutdown.clone());
        if let Some(result) = shutdown.run_service(grace, WIND_DOWN, running).await {
            result?;
        }
        Ok(())
    })
}

#[derive(Args)]
pub struct ReplayArgs {
    /// Long-format CSV (series_id,timestamp,value)
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// kafka.brokers
    #[arg(long)]
    pub brokers: Option<String>,
    /// topics.observations
    #[arg(long)]
    pub topic: Option<String>,
    /// Observations per second (0: as fast as the broker takes them)
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
}

/// Produces a CSV's points onto the observations topic in time order (every series interleaved),
/// as protobuf `Observation`s keyed by series id; missing values are skipped.
pub fn replay(a: &ReplayArgs) -> anyhow::Result<()> {
    let (_, config) = load(
        &a.config,
        &[
            ("brokers", "kafka.brokers", a.brokers.as_deref()),
            ("topic", "topics.observations", a.topic.as_deref()),
        ],
        Service::Ingest,
    )?;
    init_logging(&config.log);
    let file =
        std::fs::File::open(&a.data).with_context(|| format!("opening {}", a.data.display()))?;
    let dataset = read_long_csv(std::io::BufReader::new(file))
        .with_context(|| format!("reading {}", a.data.display()))?;
    let mut points: Vec<(i64, &str, f64)> = dataset
        .series
        .iter()
        .flat_map(|s| {
            s.timestamps
                .iter()
                .zip(&s.values)
                .filter(|(_, v)| v.is_finite())
                .map(move |(t, v)| (*t, s.id.as_str(), *v))
        })
        .collect();
    points.sort_by_key(|p| p.0);
    let topic = config.topics.observations.clone();
    tokio::runtime::Runtime::new()?.block_on(async {
        let health = KafkaHealth::new("replay", &config.kafka);
        let mut producer_config = config.kafka.producer_config(5);
        // a replay waits out a broker restart or failover instead of failing half-way
        producer_config.set("message.timeout.ms", "300000");
        let producer = health.producer(&config.kafka, producer_config)?;
        // fail with the cause (credentials, TLS, no topic) instead of retrying in silence
        let (p, t, h) = (producer.clone(), topic.clone(), health.clone());
        tokio::task::spawn_blocking(move || h.check_topic(p.client(), &t, Duration::from_secs(15)))
            .await??;
        let start = Instant::now();
        let mut pending = Vec::new();
        for (i, (ts, id, value)) in points.iter().enumerate() {
            let payload = Observation {
                series_id: id.to_string(),
                timestamp: Some(timestamp(*ts)),
                value: *value,
                features: Default::default(),
            }
            .encode_to_vec();
            let producer = producer.clone();
            let (topic, key) = (topic.clone(), id.to_string());
            pending.push(tokio::spawn(async move {
                producer
                    .send(
                        FutureRecord::to(&topic).key(&key).payload(&payload),
                        Duration::from_secs(30),
                    )
                    .await
                    .map(|_| ())
                    .map_err(|(e, _)| e)
            }));
            if pending.len() >= 10_000 {
                for p in pending.drain(..) {
                    p.await??;
                }
            }
            if a.rate > 0 {
                let due = Duration::from_secs_f64((i + 1) as f64 / a.rate as f64);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
        }
        for p in pending {
            p.await??;
        }
        eprintln!(
            "replayed {} observations from {} series in {:.1}s",
            points.len(),
            dataset.series.len(),
            start.elapsed().as_secs_f64()
        );
        Ok(())
    })
}
