//! `seer up`: the whole pipeline in one process on an embedded Kafka-protocol broker (or an
//! external one with --brokers): demo producer → ingest → engine (GPU) → forecasts, with a live
//! summary and /metrics. `seer engine` and `seer ingest` run the services alone (Kubernetes).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use seer_core::stream::DeadLetterReason;
use seer_core::synthetic::{SyntheticKind, SyntheticSpec, generate};
use seer_gpu::GpuContext;
use seer_ingest::{IngestConfig, IngestMetrics};
use seer_model::History;
use seer_model::checkpoint::{init_weights, save};
use seer_model::train::{TrainOptions, train};
use seer_proto::convert::timestamp;
use seer_proto::v1::{Forecast, Observation};
use seer_runtime::{KafkaConfig, Readiness, Shutdown, spawn_admin};
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigArgs, SeerConfig, Service, TopicArgs, load};
use crate::init::{SizeArgs, build_config};

#[derive(Args)]
pub struct UpArgs {
    /// Use this Kafka instead of the embedded broker
    #[arg(long)]
    pub brokers: Option<String>,
    /// Demo series produced
    #[arg(long, default_value_t = 200)]
    pub series: usize,
    /// Demo observations per second
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Stop after this many seconds (default: run until Ctrl-C)
    #[arg(long)]
    pub duration: Option<u64>,
    /// Serve the checkpoints in this directory instead of training the demo model
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Serve only the seasonal-naive baseline (no demo training, no online fine-tuning)
    #[arg(long)]
    pub no_train: bool,
    /// The demo series change regime (level and season) after this many seconds, so the
    /// trainer has something to catch up with; 0 never
    #[arg(long, default_value_t = 150)]
    pub shift_after: u64,
    /// Run no trainer: the served versions stay as they are
    #[arg(long)]
    pub no_trainer: bool,
    /// Prometheus metrics, /healthz and /readyz
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub metrics_listen: SocketAddr,
    /// The public gRPC gateway (seer.v1.Forecasts, seer.v1.Models); port 0 picks a free one
    #[arg(long, default_value = "127.0.0.1:50052")]
    pub gateway_listen: SocketAddr,
    #[command(flatten)]
    pub topics: TopicArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
}

const FREQ: i64 = 3600;

fn demo_series(count: usize, points: usize) -> anyhow::Result<Vec<seer_core::csv::Series>> {
    let start = 1_735_689_600; // 2025-01-01T00:00:00Z
    Ok(generate(&SyntheticSpec {
        series: count,
        points,
        freq: FREQ,
        start,
        seed: 7,
        kind: SyntheticKind::Real,
    })?)
}

/// Trains the demo LSTM on synthetic history shaped like what the producer will send.
fn train_demo_model(ctx: &GpuContext, dir: &std::path::Path) -> anyhow::Result<()> {
    let sizes = SizeArgs {
        context: Some(48),
        horizon: Some(24),
        hidden: 16,
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
    let data: Vec<History> = demo_series(24, 24 * 21)?
        .into_iter()
        .map(|s| History::new(s.id, s.timestamps, s.values))
        .collect();
    let opts = TrainOptions {
        epochs: 4,
        steps_per_epoch: 15,
        batch_size: 16,
        learning_rate: 3e-3,
        ..Default::default()
    };
    let (weights, report) = train(
        ctx,
        &config,
        &init_weights(&config, 7)?,
        &data,
        &opts,
        |e| {
            eprintln!(
                "  demo model epoch {}/{}: train {:.4} val {}",
                e.epoch,
                opts.epochs,
                e.train_loss,
                e.val_loss.map(|v| format!("{v:.4}")).unwrap_or_default()
            );
        },
    )?;
    save(&dir.join("lstm"), &config, &weights)?;
    eprintln!("  demo model ready (best epoch {})", report.best_epoch);
    Ok(())
}

/// Produces the demo series in hourly rounds (one point per series per round) at `rate`/s.
fn run_producer(
    kafka: KafkaConfig,
    topic: String,
    series: usize,
    rate: u64,
    shift_after: Option<Duration>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let producer: ThreadedProducer<DefaultProducerContext> = kafka.producer_config(5).create()?;
    let data = demo_series(series, 24 * 120)?;
    let per_tick = (rate / 50).max(1) as usize;
    let mut sent = 0usize;
    let start = Instant::now();
    let mut shifted = false;
    'outer: for round in 0..data[0].values.len() {
        if !shifted && shift_after.is_some_and(|d| start.elapsed() >= d) {
            shifted = true;
            eprintln!("seer up: the demo series change regime now (level ×1.6, a 12-hour cycle)");
        }
        for s in &data {
            if stop.is_cancelled() {
                break 'outer;
            }
            let value = if shifted {
                regime_shift(s.values[round], round)
            } else {
                s.values[round]
            };
            let payload = Observation {
                series_id: s.id.clone(),
                timestamp: Some(timestamp(s.timestamps[round])),
                value,
                features: HashMap::new(),
            }
            .encode_to_vec();
            loop {
                match producer.send(BaseRecord::to(&topic).key(&s.id).payload(&payload)) {
                    Ok(()) => break,
                    Err((e, _)) => {
                        tracing::debug!(error = %e, "producer queue full");
                        std::thread::sleep(Duration::from_millis(5));
                        if stop.is_cancelled() {
                            break 'outer;
                        }
                    }
                }
            }
            sent += 1;
            if sent.is_multiple_of(per_tick) {
                let due = Duration::from_secs_f64(sent as f64 / rate as f64);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
    }
    let _ = producer.flush(Duration::from_secs(5));
    Ok(())
}

/// The demo's second regime: a higher level and a 12-hour cycle on top of the daily one.
fn regime_shift(value: f64, round: usize) -> f64 {
    let cycle = (round as f64 * std::f64::consts::TAU / 12.0).sin();
    value * 1.6 + 0.35 * value.abs() * cycle
}

fn quantile_of(h: &prometheus::Histogram, q: f64) -> Option<f64> {
    use prometheus::core::Collector;
    let mf = h.collect();
    let m = mf.first()?.get_metric().first()?.get_histogram().clone();
    let total = m.get_sample_count();
    if total == 0 {
        return None;
    }
    let target = (q * total as f64).ceil() as u64;
    m.get_bucket()
        .iter()
        .find(|b| b.cumulative_count() >= target)
        .map(|b| b.upper_bound())
}

pub fn run(a: &UpArgs) -> anyhow::Result<()> {
    let [observations, forecasts, dead_letters] = a.topics.flags();
    let (_, config) = load(
        &a.config,
        &[
            ("brokers", "kafka.brokers", a.brokers.as_deref()),
            observations,
            forecasts,
            dead_letters,
        ],
        Service::All,
    )?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(up(a, config))
}

async fn up(a: &UpArgs, config: SeerConfig) -> anyhow::Result<()> {
    let tasks = Shutdown::on_signals();
    let shutdown = tasks.token().clone();
    if let Some(secs) = a.duration {
        let s = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            s.cancel();
        });
    }
    let names = config.topics.clone();
    let topics = [
        (names.observations.as_str(), 3),
        (names.forecasts.as_str(), 3),
        (names.dead_letters.as_str(), 1),
        // one partition: the trainers' leadership is its assignment
        (names.models.as_str(), 1),
    ];
    // the embedded broker lives as long as this function
    let mut _mock = None;
    let brokers = match &a.brokers {
        Some(b) => {
            config
                .kafka
                .ensure_topics(&topics)
                .await
                .with_context(|| format!("preparing topics on {b}"))?;
            b.clone()
        }
        None => {
            let mock = rdkafka::mocking::MockCluster::new(1)
                .context("starting the embedded Kafka-protocol broker")?;
            for (t, p) in topics {
                mock.create_topic(t, p, 1)?;
            }
            let b = mock.bootstrap_servers();
            _mock = Some(mock);
            b
        }
    };
    eprintln!(
        "seer up: kafka at {brokers}{}",
        if a.brokers.is_none() {
            " (embedded; join with: kcat -b BROKER -t seer.forecasts -C)"
        } else {
            ""
        }
    );
    let ctx = Arc::new(tokio::task::spawn_blocking(GpuContext::from_env).await??);
    eprintln!(
        "seer up: gpu adapter {} ({})",
        ctx.summary.name, ctx.summary.backend
    );
    let models_dir = match (&a.models, a.no_train) {
        (Some(d), _) => Some(d.clone()),
        (None, true) => None,
        (None, false) => {
            let dir = std::env::temp_dir().join(format!("seer-up-models-{}", std::process::id()));
            eprintln!("seer up: training the demo model (--no-train serves seasonal naive only)");
            let (c, d) = (ctx.clone(), dir.clone());
            tokio::task::spawn_blocking(move || train_demo_model(&c, &d)).await??;
            Some(dir)
        }
    };
    let registry = prometheus::Registry::new();
    let ready = Readiness::default();
    let metrics_addr = match spawn_admin(
        a.metrics_listen,
        registry.clone(),
        ready.clone(),
        shutdown.clone(),
    )
    .await
    {
        Ok(addr) => addr,
        Err(_) => {
            spawn_admin(
                "127.0.0.1:0".parse()?,
                registry.clone(),
                ready.clone(),
                shutdown.clone(),
            )
            .await?
        }
    };
    let kafka = KafkaConfig {
        brokers: brokers.clone(),
        ..config.kafka.clone()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let engine_addr = listener.local_addr()?;
    // online fine-tuning: versions go to a store of this run's own, engines follow the topic
    let fine_tune = models_dir.is_some() && !a.no_trainer;
    let store_dir = std::env::temp_dir().join(format!("seer-up-store-{}", std::process::id()));
    let model_store = seer_runtime::ModelStoreConfig {
        dir: store_dir.display().to_string(),
    };
    let engine_config = seer_engine::EngineConfig {
        models_dir: models_dir.clone(),
        follow_models: fine_tune,
        kafka: kafka.clone(),
        model_store: model_store.clone(),
        ..config.engine()
    };
    // readiness of `seer up` is the ingest's; the engine's health is on its gRPC port
    let engine = tokio::spawn(seer_engine::serve_with_context(
        engine_config,
        ctx.clone(),
        registry.clone(),
        listener,
        Readiness::default(),
        shutdown.clone(),
    ));
    eprintln!("seer up: engine at http://{engine_addr}, metrics at http://{metrics_addr}/metrics");
    let ingest_metrics = IngestMetrics::new(&registry)?;
    let ingest_config = IngestConfig {
        kafka: kafka.clone(),
        engine: format!("http://{engine_addr}"),
        horizon: 24,
        ..config.ingest()
    };
    let ingest = tokio::spawn(seer_ingest::run(
        ingest_config,
        ingest_metrics.clone(),
        ready.clone(),
        tasks.clone(),
    ));
    // the gateway: its own view of the forecasts topic, Forecast → this engine, Ingest → Kafka
    let gateway_listener = match tokio::net::TcpListener::bind(a.gateway_listen).await {
        Ok(l) => l,
        Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await?,
    };
    let gateway_addr = gateway_listener.local_addr()?;
    let gateway = seer_gateway::Gateway::start(
        seer_gateway::GatewayConfig {
            kafka: kafka.clone(),
            engine: format!("http://{engine_addr}"),
            history_freq: FREQ.into(),
            ..config.gateway()
        },
        &registry,
        shutdown.clone(),
    )?;
    // readiness of `seer up` is the ingest's; the gateway's health is on its own gRPC port
    let gateway = tokio::spawn(gateway.serve(gateway_listener, Readiness::default()));
    eprintln!(
        "seer up: gateway at {gateway_addr} (grpcurl -plaintext {gateway_addr} list seer.v1.Forecasts)"
    );
    let trainer_status = seer_trainer::StatusHandle::default();
    let trainer = if fine_tune {
        let trainer_config = seer_trainer::TrainerConfig {
            kafka: kafka.clone(),
            model_store,
            models_dir: models_dir.clone(),
            // the demo's pace: a round every 20 s at most, so the loop is visible in minutes
            round_every_seconds: config.trainer.round_every_seconds.min(20),
            ..config.trainer()
        };
        let (c, reg, st, stop) = (
            ctx.clone(),
            registry.clone(),
            trainer_status.clone(),
            shutdown.clone(),
        );
        eprintln!(
            "seer up: trainer fine-tunes online (versions in {}; --no-trainer turns it off)",
            store_dir.display()
        );
        Some(tokio::spawn(async move {
            // a trainer that cannot run (several checkpoints and no trainer.model, say) leaves
            // the pipeline serving what it has
            if let Err(e) =
                seer_trainer::run(trainer_config, c, &reg, Readiness::default(), st, stop).await
            {
                eprintln!("seer up: the trainer stopped: {e}");
            }
        }))
    } else {
        None
    };
    let producer = {
        let (b, t, s, r, stop) = (
            kafka.clone(),
            names.observations.clone(),
            a.series,
            a.rate,
            shutdown.clone(),
        );
        let shift = (a.shift_after > 0).then(|| Duration::from_secs(a.shift_after));
        tokio::task::spawn_blocking(move || run_producer(b, t, s, r, shift, stop))
    };
    let view: BaseConsumer = kafka
        .client_config()
        .set("group.id", "seer-up-view")
        .set("auto.offset.reset", "latest")
        .create()?;
    view.subscribe(&[&names.forecasts])?;
    let mut latest: HashMap<String, Forecast> = HashMap::new();
    let mut forecasts = 0u64;
    let (mut last_obs, mut last_fc, mut last_print) = (0u64, 0u64, Instant::now());
    while !shutdown.is_cancelled() {
        // drain what arrived, then yield to the runtime briefly
        while let Some(Ok(m)) = view.poll(Duration::ZERO) {
            if let Some(f) = m.payload().and_then(|p| Forecast::decode(p).ok()) {
                forecasts += 1;
                latest.insert(f.series_id.clone(), f);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if last_print.elapsed() >= Duration::from_secs(2) {
            let secs = last_print.elapsed().as_secs_f64();
            let obs = ingest_metrics.observations.get();
            let ms = |q| {
                quantile_of(&ingest_metrics.forecast_latency, q)
                    .map(|s| format!("{:.0} ms", s * 1e3))
                    .unwrap_or_else(|| "-".into())
            };
            let dlq: u64 = DeadLetterReason::ALL
                .iter()
                .map(|r| {
                    ingest_metrics
                        .dead_letters
                        .with_label_values(&[r.as_str()])
                        .get()
                })
                .sum();
            println!(
                "events {:>8.0}/s  forecasts {:>8.0}/s  latency p50 ≤ {} p99 ≤ {}  windows {}  dead letters {}",
                (obs - last_obs) as f64 / secs,
                (forecasts - last_fc) as f64 / secs,
                ms(0.5),
                ms(0.99),
                ingest_metrics.windows.get(),
                dlq
            );
            let mut ids: Vec<&String> = latest.keys().collect();
            ids.sort();
            for id in ids.into_iter().take(3) {
                let f = &latest[id];
                let q = |l: f64| {
                    f.quantiles
                        .iter()
                        .find(|q| (q.level - l).abs() < 1e-9)
                        .and_then(|q| q.values.first().copied())
                };
                // a forecast without quantiles (a window of one point) shows "-", never NaN
                let shown =
                    |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
                println!(
                    "  {id:<12} {:<15} {:<12} next {:>8}  80% [{:>8}, {:>8}]{}",
                    f.model,
                    f.model_version,
                    shown(f.mean.first().copied()),
                    shown(q(0.1)),
                    shown(q(0.9)),
                    if f.partial_window {
                        "  (partial window)"
                    } else {
                        ""
                    }
                );
            }
            if trainer.is_some()
                && let Ok(t) = trainer_status.lock()
                && !t.model.is_empty()
            {
                let live: Vec<String> = t
                    .live
                    .iter()
                    .take(3)
                    .map(|(v, mase, points)| match mase {
                        Some(m) => format!("{v} {m:.3} ({points} pts)"),
                        None => format!("{v} - ({points} pts)"),
                    })
                    .collect();
                println!(
                    "  trainer {}: serving {}  rounds {} promoted {} rolled back {}  live MASE {}",
                    t.model,
                    t.active,
                    t.rounds,
                    t.promotions,
                    t.rollbacks,
                    if live.is_empty() {
                        "-".into()
                    } else {
                        live.join(", ")
                    }
                );
                if !t.last_round.is_empty() {
                    println!("    last round: {}", t.last_round);
                }
            }
            (last_obs, last_fc, last_print) = (obs, forecasts, Instant::now());
        }
    }
    let _ = producer.await;
    let ingested = ingest.await;
    // whatever ended the ingest, the tracked tasks stop with it (a runtime cannot exit while a
    // blocking task waits for a shutdown that never comes)
    tasks.cancel();
    tasks.drain(Duration::from_secs(3)).await;
    ingested?.context("ingest")?;
    engine.await?.context("engine")?;
    gateway.await?.context("gateway")?;
    if let Some(t) = trainer {
        t.await?;
    }
    let _ = std::fs::remove_dir_all(&store_dir);
    println!("seer up: stopped after {forecasts} forecasts");
    Ok(())
}
