//! The online loop on librdkafka's mock cluster, on the adapter `SEER_ADAPTER` selects: the
//! trainer registers the root version, scores live forecasts, promotes a fine-tuned version
//! that every following engine swaps to, rolls back a version that does worse live, and only
//! one of two trainers leads.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{HOUR, config_of, ctx, lstm_config};
use prost::Message as _;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use seer_model::ModelKind;
use seer_model::checkpoint::{init_weights, save};
use seer_proto::convert::timestamp;
use seer_proto::v1::{Forecast, Observation, QuantileValues};
use seer_runtime::models_topic::{ActiveRecord, ModelRecord, ModelsView};
use seer_runtime::{KafkaConfig, ModelStoreConfig, Readiness, Shutdown, Topics};
use seer_trainer::{StatusHandle, TrainerConfig};
use tokio_util::sync::CancellationToken;

const T0: i64 = 1_700_006_400; // a midnight

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("seer-trainer-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn value(series: usize, k: i64) -> f64 {
    let level = 20.0 + 5.0 * series as f64;
    level + 4.0 * ((k as f64) * std::f64::consts::TAU / 24.0 + series as f64).sin()
}

fn topics() -> Topics {
    Topics {
        observations: "obs".into(),
        forecasts: "fc".into(),
        dead_letters: "dlq".into(),
        models: "models".into(),
    }
}

struct Cluster {
    mock: MockCluster<'static, DefaultProducerContext>,
}

impl Cluster {
    fn new() -> Cluster {
        let mock = MockCluster::new(1).unwrap();
        for (t, p) in [("obs", 2), ("fc", 2), ("dlq", 1), ("models", 1)] {
            mock.create_topic(t, p, 1).unwrap();
        }
        Cluster { mock }
    }

    fn bootstrap(&self) -> String {
        self.mock.bootstrap_servers()
    }

    fn producer(&self) -> ThreadedProducer<DefaultProducerContext> {
        ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("linger.ms", "5")
            .create()
            .unwrap()
    }

    fn models_view(&self) -> ModelsView {
        self.models_records().0
    }

    /// The topic folded, and every active record in the order written.
    fn models_records(&self) -> (ModelsView, Vec<ActiveRecord>) {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .set("group.id", "test-view")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .create()
            .unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition_offset("models", 0, rdkafka::Offset::Beginning)
            .unwrap();
        c.assign(&tpl).unwrap();
        let mut view = ModelsView::default();
        let mut history = Vec::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            match c.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    if let Some(r) = m.payload().and_then(|p| ModelRecord::decode(p).ok()) {
                        if let ModelRecord::Active(a) = &r {
                            history.push(a.clone());
                        }
                        view.apply(r);
                    }
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                _ => {}
            }
        }
        (view, history)
    }
}

/// The engines' checkpoint the trainer registers as the root version: `c`, untrained.
fn save_root(models: &Path, c: &seer_model::ModelConfig) {
    save(&models.join("lstm"), c, &init_weights(c, 3).unwrap()).unwrap();
}

fn trainer_config(cluster: &Cluster, models: &Path, store: &Path) -> TrainerConfig {
    TrainerConfig {
        model: "lstm".into(),
        models_dir: Some(models.to_path_buf()),
        kafka: KafkaConfig::with_brokers(cluster.bootstrap()),
        topics: topics(),
        model_store: ModelStoreConfig {
            dir: store.display().to_string(),
        },
        round_every_seconds: 2,
        round_every_points: 1_000_000,
        min_new_windows: 16,
        holdout_windows: 16,
        steps: 25,
        batch_size: 16,
        learning_rate: 0.01,
        rollback_points: 60,
        drift_window_points: 20,
        score_window_points: 400,
        quality_interval_seconds: 1,
        ..TrainerConfig::default()
    }
}

struct RunningTrainer {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), seer_trainer::TrainerError>>,
    status: StatusHandle,
    registry: prometheus::Registry,
}

fn start_trainer(config: TrainerConfig) -> RunningTrainer {
    let stop = CancellationToken::new();
    let status = StatusHandle::default();
    let registry = prometheus::Registry::new();
    let task = tokio::spawn({
        let (stop, status, registry) = (stop.clone(), status.clone(), registry.clone());
        async move {
            seer_trainer::run(config, ctx(), &registry, Readiness::default(), status, stop).await
        }
    });
    RunningTrainer {
        stop,
        task,
        status,
        registry,
    }
}

impl RunningTrainer {
    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("trainer stops")
            .unwrap()
            .unwrap();
    }

    fn gauge(&self, name: &str) -> f64 {
        self.registry
            .gather()
            .iter()
            .filter(|f| f.name() == name)
            .flat_map(|f| f.get_metric().iter())
            .map(|m| m.get_gauge().value())
            .sum()
    }
}

/// Produces every series' points in hourly rounds until `stop`, `pace` apart.
fn produce(
    cluster: &Cluster,
    series: usize,
    pace: Duration,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let producer = cluster.producer();
    std::thread::spawn(move || {
        let mut k = 0i64;
        while !stop.load(Ordering::Relaxed) {
            for s in 0..series {
                let id = format!("s{s}");
                let o = Observation {
                    series_id: id.clone(),
                    timestamp: Some(timestamp(T0 + k * HOUR)),
                    value: value(s, k),
                    features: HashMap::new(),
                };
                let payload = o.encode_to_vec();
                while producer
                    .send(BaseRecord::to("obs").key(&id).payload(&payload))
                    .is_err()
                {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            k += 1;
            std::thread::sleep(pace);
        }
        let _ = producer.flush(Duration::from_secs(5));
    })
}

async fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(start.elapsed() < limit, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_promoted_version_is_what_every_engine_serves_next() {
    // one after the other: each is a whole pipeline on the software adapter
    for kind in [ModelKind::Lstm, ModelKind::Deepar, ModelKind::Tcn] {
        promoted_version_is_served(kind).await;
    }
}

async fn promoted_version_is_served(kind: ModelKind) {
    let cluster = Cluster::new();
    let tag = kind.name();
    let models = TempDir::new(&format!("models-a-{tag}"));
    let store = TempDir::new(&format!("store-a-{tag}"));
    let c = config_of(kind);
    save_root(models.path(), &c);

    // the engine follows the models topic
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let engine_addr = listener.local_addr().unwrap();
    let engine_stop = CancellationToken::new();
    let engine = tokio::spawn(seer_engine::serve_with_context(
        seer_engine::EngineConfig {
            models_dir: Some(models.path().to_path_buf()),
            follow_models: true,
            kafka: KafkaConfig::with_brokers(cluster.bootstrap()),
            models_topic: "models".into(),
            model_store: ModelStoreConfig {
                dir: store.path().display().to_string(),
            },
            ..seer_engine::EngineConfig::default()
        },
        ctx(),
        prometheus::Registry::new(),
        listener,
        Readiness::default(),
        engine_stop.clone(),
    ));
    let trainer = start_trainer(trainer_config(&cluster, models.path(), store.path()));
    let ingest_tasks = Shutdown::new();
    let ingest = tokio::spawn(seer_ingest::run(
        seer_ingest::IngestConfig {
            kafka: KafkaConfig::with_brokers(cluster.bootstrap()),
            topics: topics(),
            engine: format!("http://{engine_addr}"),
            window: 32,
            horizon: 4,
            group_id: "seer-test-ingest".into(),
            ..seer_ingest::IngestConfig::default()
        },
        seer_ingest::IngestMetrics::new(&prometheus::Registry::new()).unwrap(),
        Readiness::default(),
        ingest_tasks.clone(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = produce(&cluster, 12, Duration::from_millis(15), stop.clone());

    // the root version is registered, then a fine-tuned one promoted over it
    let (root, promoted) = wait_for("a promotion", Duration::from_secs(240), || {
        let view = cluster.models_view();
        let entry = view.get("lstm")?;
        let active = entry.active.as_ref()?;
        let v = entry.versions.get(&active.active)?;
        (!v.parent.is_empty()).then(|| (v.parent.clone(), v.clone()))
    })
    .await;
    let gate = promoted.metrics.clone().expect("gate metrics recorded");
    assert!(
        gate.mase < gate.parent_mase && gate.wql < gate.parent_wql,
        "{gate:?}"
    );
    assert!(promoted.reason.contains("holdout"), "{}", promoted.reason);
    assert_ne!(root, promoted.version);

    // the forecasts topic: the root version's forecasts, then the promoted version's
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", "test-fc")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    reader.subscribe(&["fc"]).unwrap();
    let mut seen: HashMap<String, usize> = HashMap::new();
    wait_for(
        "forecasts of the promoted version",
        Duration::from_secs(60),
        || {
            // bounded: the ingest keeps publishing while this reads
            for _ in 0..5000 {
                let Some(Ok(m)) = reader.poll(Duration::from_millis(50)) else {
                    break;
                };
                if let Some(f) = m.payload().and_then(|p| Forecast::decode(p).ok()) {
                    *seen.entry(f.model_version).or_default() += 1;
                }
            }
            seen.contains_key(&promoted.version).then_some(())
        },
    )
    .await;
    assert!(seen.contains_key(&root), "{seen:?}");
    // live quality reaches the topic for the gateway's Models.Get
    wait_for(
        "live quality of the root version",
        Duration::from_secs(30),
        || {
            let view = cluster.models_view();
            eprintln!(
                "quality on the topic: {:?}; trainer: {:?}",
                view.get("lstm").map(|e| e.quality.clone()),
                trainer.status.lock().unwrap()
            );
            let q = view.get("lstm")?.quality.get(&root)?.clone();
            (q.scored_points > 0 && q.mase.is_some()).then_some(())
        },
    )
    .await;
    assert_eq!(trainer.gauge("seer_trainer_leader"), 1.0);
    assert!(trainer.status.lock().unwrap().promotions >= 1);

    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    ingest_tasks.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), ingest).await;
    trainer.stop().await;
    engine_stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), engine).await;
}

/// A forecast as an ingest would publish it: `mean` over the steps after `origin`, with the
/// 0.1 and 0.9 quantiles `band` below and above it.
fn forecast_of(id: &str, version: &str, origin: i64, mean: Vec<f64>, band: f64) -> Forecast {
    let steps = (1..=mean.len() as i64).map(|h| origin + h);
    Forecast {
        series_id: id.into(),
        model: "lstm".into(),
        model_version: version.into(),
        latest_observation: Some(timestamp(T0 + origin * HOUR)),
        timestamps: steps.map(|j| timestamp(T0 + j * HOUR)).collect(),
        quantiles: [(0.1, -band), (0.5, 0.0), (0.9, band)]
            .iter()
            .map(|&(level, d)| QuantileValues {
                level,
                values: mean.iter().map(|m| m + d).collect(),
            })
            .collect(),
        mean,
        ..Default::default()
    }
}

/// Forecasts made by the test: `good` ones follow the series, the others are far off.
fn scripted_forecasts(
    producer: &ThreadedProducer<DefaultProducerContext>,
    version: &str,
    k: i64,
    series: usize,
    good: bool,
) {
    for s in 0..series {
        let id = format!("s{s}");
        let off = if good { 0.0 } else { 15.0 };
        let mean = (1..=4).map(|h| value(s, k + h) + off).collect();
        let payload = forecast_of(&id, version, k, mean, 1.0).encode_to_vec();
        while producer
            .send(BaseRecord::to("fc").key(&id).payload(&payload))
            .is_err()
        {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_version_worse_live_is_rolled_back_and_only_one_trainer_leads() {
    let cluster = Cluster::new();
    let models = TempDir::new("models-b");
    let store = TempDir::new("store-b");
    let c = lstm_config();
    save_root(models.path(), &c);
    // the first round waits for enough windows that the root's forecasts are scored by then:
    // a rollback compares with the live score of the version it returns to
    let config = TrainerConfig {
        min_new_windows: 96,
        ..trainer_config(&cluster, models.path(), store.path())
    };
    let first = start_trainer(config.clone());
    let second = start_trainer(config);
    let leaders = wait_for("one leader", Duration::from_secs(60), || {
        let l = (
            first.gauge("seer_trainer_leader"),
            second.gauge("seer_trainer_leader"),
        );
        (l.0 + l.1 == 1.0).then_some(l)
    })
    .await;
    let (leader, standby) = if leaders.0 == 1.0 {
        (first, second)
    } else {
        (second, first)
    };
    let root = wait_for("the root version", Duration::from_secs(30), || {
        cluster
            .models_view()
            .active("lstm")
            .map(|a| a.active.clone())
    })
    .await;

    // the stream: actuals, and forecasts of whichever version is active; the root's are good,
    // any later version's are far off
    let producer = cluster.producer();
    let obs = cluster.producer();
    let mut k = 0i64;
    let start = Instant::now();
    let (rollback, view) = loop {
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "no rollback; the leader says {:?}",
            leader.status.lock().unwrap()
        );
        let (view, history) = cluster.models_records();
        if let Some(r) = history
            .iter()
            .find(|a| a.reason.contains("automatic rollback"))
        {
            break (r.clone(), view);
        }
        let active = view.active("lstm").cloned().unwrap();
        for _ in 0..4 {
            for s in 0..12 {
                let id = format!("s{s}");
                let o = Observation {
                    series_id: id.clone(),
                    timestamp: Some(timestamp(T0 + k * HOUR)),
                    value: value(s, k),
                    features: HashMap::new(),
                };
                let _ = obs.send(BaseRecord::to("obs").key(&id).payload(&o.encode_to_vec()));
            }
            scripted_forecasts(&producer, &active.active, k, 12, active.active == root);
            k += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // back to the version the rolled-back one was fine-tuned from
    let undone = view.version("lstm", &rollback.previous).unwrap();
    assert_eq!(undone.parent, rollback.active);
    assert_eq!(rollback.active, root);
    let rollbacks: f64 = leader
        .registry
        .gather()
        .iter()
        .filter(|f| f.name() == "seer_trainer_rollbacks_total")
        .flat_map(|f| f.get_metric().iter())
        .map(|m| m.get_counter().value())
        .sum();
    assert_eq!(rollbacks, 1.0);
    assert_eq!(
        standby.status.lock().unwrap().promotions,
        0,
        "the standby never trains"
    );

    // the leader goes away: the standby takes over
    leader.stop().await;
    wait_for("the standby leads", Duration::from_secs(60), || {
        (standby.gauge("seer_trainer_leader") == 1.0).then_some(())
    })
    .await;
    standby.stop().await;
}

/// `value` with a deterministic ±3 wobble, so the seasonal naive is a fair baseline, not a
/// perfect one.
fn noisy(series: usize, k: i64) -> f64 {
    let x = ((k as f64) * 12.9898 + series as f64 * 78.233).sin() * 43_758.545_3;
    value(series, k) + 6.0 * (x - x.floor() - 0.5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_series_the_seasonal_naive_beats_live_is_left_to_it() {
    let cluster = Cluster::new();
    let models = TempDir::new("models-s");
    let store = TempDir::new("store-s");
    let c = lstm_config();
    save_root(models.path(), &c);
    let trainer = start_trainer(TrainerConfig {
        select_min_points: 24,
        ..trainer_config(&cluster, models.path(), store.path())
    });
    wait_for("the root version", Duration::from_secs(30), || {
        cluster.models_view().active("lstm").map(|_| ())
    })
    .await;
    // forecasts of the active version, from two hours back (their origins are in the
    // trainer's windows): exact on every series but s3, which is 15 off
    let obs = cluster.producer();
    let fc = cluster.producer();
    let listed = |store: &Path| -> Option<Vec<String>> {
        let view = cluster.models_view();
        let active = view.active("lstm")?;
        let record = view.version("lstm", &active.active)?;
        let config = seer_model::checkpoint::read_config(&store.join(&record.location)).ok()?;
        let ids = config.seasonal_naive_series;
        (!ids.is_empty()).then_some(ids)
    };
    let mut k = 0i64;
    let start = Instant::now();
    let ids = loop {
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "no version left s3 to the seasonal naive; the trainer says {:?}",
            trainer.status.lock().unwrap()
        );
        if let Some(ids) = listed(store.path()) {
            break ids;
        }
        let version = cluster.models_view().active("lstm").unwrap().active.clone();
        for _ in 0..8 {
            for s in 0..6 {
                let id = format!("s{s}");
                let o = Observation {
                    series_id: id.clone(),
                    timestamp: Some(timestamp(T0 + k * HOUR)),
                    value: noisy(s, k),
                    features: HashMap::new(),
                };
                let _ = obs.send(BaseRecord::to("obs").key(&id).payload(&o.encode_to_vec()));
                let origin = k - 2;
                let off = if s == 3 { 15.0 } else { 0.0 };
                let mean = (1..=4).map(|h| noisy(s, origin + h) + off).collect();
                let f = forecast_of(&id, &version, origin, mean, 0.5);
                let _ = fc.send(BaseRecord::to("fc").key(&id).payload(&f.encode_to_vec()));
            }
            k += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ids, ["s3"], "only the series the model does worse on");
    wait_for("the gauge", Duration::from_secs(30), || {
        (trainer.gauge("seer_trainer_baseline_series") == 1.0).then_some(())
    })
    .await;
    trainer.stop().await;
}
