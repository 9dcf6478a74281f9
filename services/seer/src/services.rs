//! `seer engine`, `seer ingest` and `seer replay`: the pipeline's services one per process (as
//! Kubernetes runs them), and a CSV producer for users with real data.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use prost::Message as _;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use seer_core::csv::read_long_csv;
use seer_ingest::{IngestConfig, IngestMetrics};
use seer_proto::convert::timestamp;
use seer_proto::v1::Observation;
use seer_server::{Readiness, cancel_on_signals, spawn_admin};
use tokio_util::sync::CancellationToken;

use crate::init::parse_freq;

#[derive(Args)]
pub struct EngineArgs {
    #[arg(long, default_value = "0.0.0.0:50051")]
    pub listen: SocketAddr,
    /// Directory of checkpoint directories, each served under its name
    #[arg(long)]
    pub models: Option<PathBuf>,
    #[arg(long)]
    pub default_model: Option<String>,
    /// Batches on the GPU at once
    #[arg(long, default_value_t = 2)]
    pub max_concurrent: usize,
    #[arg(long, default_value = "0.0.0.0:9464")]
    pub metrics_listen: SocketAddr,
}

pub fn engine(a: &EngineArgs) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(async {
        let shutdown = CancellationToken::new();
        cancel_on_signals(shutdown.clone());
        let registry = prometheus::default_registry().clone();
        let ready = Readiness::default();
        spawn_admin(a.metrics_listen, registry, ready.clone(), shutdown.clone())
            .await
            .context("metrics listener")?;
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("binding {}", a.listen))?;
        eprintln!("seer engine: listening on {}", listener.local_addr()?);
        let config = seer_engine::EngineConfig {
            models_dir: a.models.clone(),
            default_model: a.default_model.clone(),
            max_concurrent: a.max_concurrent,
            ..Default::default()
        };
        ready.set(true);
        seer_engine::serve(config, listener, shutdown).await?;
        Ok(())
    })
}

#[derive(Args)]
pub struct IngestArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub brokers: String,
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub engine: String,
    #[arg(long, default_value = "seer-ingest")]
    pub group: String,
    #[arg(long, default_value = "seer.observations")]
    pub observations_topic: String,
    #[arg(long, default_value = "seer.forecasts")]
    pub forecasts_topic: String,
    #[arg(long, default_value = "seer.dlq")]
    pub dlq_topic: String,
    /// Model name on the engine (default: its default model)
    #[arg(long, default_value = "")]
    pub model: String,
    /// Points kept per series
    #[arg(long, default_value_t = 168)]
    pub window: usize,
    /// Series spacing: seconds, or 15min, 1h, 1d
    #[arg(long, default_value = "1h")]
    pub freq: String,
    #[arg(long, default_value_t = 0)]
    pub horizon: u32,
    #[arg(long, default_value_t = 1024)]
    pub max_batch: usize,
    /// Longest a due series waits for its batch, in milliseconds
    #[arg(long, default_value_t = 10)]
    pub max_delay_ms: u64,
    #[arg(long, default_value = "0.0.0.0:9465")]
    pub metrics_listen: SocketAddr,
    /// Extra librdkafka setting for the ingest's clients, e.g. security.protocol=SSL (repeatable)
    #[arg(long = "kafka", value_name = "KEY=VALUE")]
    pub kafka: Vec<String>,
}

fn kafka_settings(items: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(crate::BadInput(format!("--kafka {kv:?}: expected KEY=VALUE")).into()),
        })
        .collect()
}

pub fn ingest(a: &IngestArgs) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(async {
        let shutdown = CancellationToken::new();
        cancel_on_signals(shutdown.clone());
        let registry = prometheus::Registry::new();
        let metrics = IngestMetrics::new(&registry)?;
        let ready = Readiness::default();
        spawn_admin(a.metrics_listen, registry, ready.clone(), shutdown.clone())
            .await
            .context("metrics listener")?;
        let config = IngestConfig {
            brokers: a.brokers.clone(),
            group_id: a.group.clone(),
            observations_topic: a.observations_topic.clone(),
            forecasts_topic: a.forecasts_topic.clone(),
            dlq_topic: a.dlq_topic.clone(),
            engine: a.engine.clone(),
            model: a.model.clone(),
            window: a.window,
            default_freq: parse_freq(&a.freq)?,
            horizon: a.horizon,
            policy: seer_core::stream::BatchPolicy {
                max_batch: a.max_batch,
                max_delay: Duration::from_millis(a.max_delay_ms),
                every_points: 1,
            },
            kafka: kafka_settings(&a.kafka)?,
            ..Default::default()
        };
        seer_ingest::run(config, metrics, ready, shutdown).await?;
        Ok(())
    })
}

#[derive(Args)]
pub struct ReplayArgs {
    /// Long-format CSV (series_id,timestamp,value)
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub brokers: String,
    #[arg(long, default_value = "seer.observations")]
    pub topic: String,
    /// Observations per second (0: as fast as the broker takes them)
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
}

/// Produces a CSV's points onto the observations topic in time order (every series interleaved),
/// as protobuf `Observation`s keyed by series id; missing values are skipped.
pub fn replay(a: &ReplayArgs) -> anyhow::Result<()> {
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
    tokio::runtime::Runtime::new()?.block_on(async {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &a.brokers)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()?;
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
            let (topic, key) = (a.topic.clone(), id.to_string());
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
