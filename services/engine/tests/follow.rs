//! Live versions: an engine following the models topic (librdkafka's mock cluster) starts on the
//! active version, swaps to a new one and back, serves a pinned previous version, and refuses a
//! corrupt version while it keeps serving.

mod common;

use std::time::{Duration, Instant};

use common::{Engine, TempDir, config, ctx, request, values, window};
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use seer_engine::EngineConfig;
use seer_model::ModelKind;
use seer_model::checkpoint::{checkpoint_bytes, content_version, init_weights, save};
use seer_proto::v1::ListModelsRequest;
use seer_runtime::model_store::{CheckpointFiles, DirStore, ModelStore, checksum};
use seer_runtime::models_topic::{ActiveRecord, ModelRecord, VersionRecord};
use seer_runtime::{KafkaConfig, ModelStoreConfig, Readiness};
use tokio_util::sync::CancellationToken;

fn files(seed: u64) -> CheckpointFiles {
    let c = config(ModelKind::Lstm);
    let (config, weights) = checkpoint_bytes(&c, &init_weights(&c, seed).unwrap()).unwrap();
    CheckpointFiles { config, weights }
}

fn version_record(store: &DirStore, f: &CheckpointFiles, parent: &str) -> ModelRecord {
    let version = content_version(&f.config, &f.weights);
    let location = store.put("lstm", &version, f).unwrap();
    ModelRecord::Version(VersionRecord {
        model: "lstm".into(),
        version,
        parent: parent.into(),
        location,
        checksum: checksum(f),
        metrics: None,
        created_at_ms: 0,
        reason: "test".into(),
    })
}

fn active(active: &str, previous: &str) -> ModelRecord {
    ModelRecord::Active(ActiveRecord {
        model: "lstm".into(),
        active: active.into(),
        previous: previous.into(),
        at_ms: 0,
        reason: "test".into(),
    })
}

async fn publish(p: &FutureProducer, r: &ModelRecord) {
    p.send(
        FutureRecord::to("models")
            .key(&r.key())
            .payload(&r.encode()),
        Duration::from_secs(5),
    )
    .await
    .map_err(|(e, _)| e)
    .unwrap();
}

fn counter(registry: &prometheus::Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .filter(|m| {
            labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            })
        })
        .map(|m| m.get_counter().value())
        .sum()
}

async fn served_version(engine: &Engine) -> String {
    let mut client = engine.client().await;
    client
        .list_models(ListModelsRequest {})
        .await
        .unwrap()
        .into_inner()
        .models
        .into_iter()
        .find(|m| m.name == "lstm")
        .unwrap()
        .version
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < Duration::from_secs(30), "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_the_models_topic_and_refuses_a_corrupt_version() {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("models", 1, 1).unwrap();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .create()
        .unwrap();
    let models = TempDir::new("models");
    let store_dir = TempDir::new("store");
    let store = DirStore::new(store_dir.path());
    let c = config(ModelKind::Lstm);
    save(
        &models.path().join("lstm"),
        &c,
        &init_weights(&c, 7).unwrap(),
    )
    .unwrap();
    let (f1, f2) = (files(7), files(8));
    let root = version_record(&store, &f1, "");
    let second = version_record(&store, &f2, "");
    let (ModelRecord::Version(v1), ModelRecord::Version(v2)) = (&root, &second) else {
        unreachable!()
    };
    let (v1, v2) = (v1.version.clone(), v2.version.clone());
    // what the topic says before the engine starts: v2 is active
    publish(&producer, &root).await;
    publish(&producer, &second).await;
    publish(&producer, &active(&v2, &v1)).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = prometheus::Registry::new();
    let ready = Readiness::default();
    let shutdown = CancellationToken::new();
    let engine_config = EngineConfig {
        models_dir: Some(models.path().to_path_buf()),
        follow_models: true,
        kafka: KafkaConfig::with_brokers(mock.bootstrap_servers()),
        models_topic: "models".into(),
        model_store: ModelStoreConfig {
            dir: store_dir.path().display().to_string(),
        },
        ..EngineConfig::default()
    };
    let task = tokio::spawn(seer_engine::serve_with_context(
        engine_config,
        ctx(),
        metrics.clone(),
        listener,
        ready.clone(),
        shutdown.clone(),
    ));
    let engine = Engine {
        addr,
        shutdown,
        task,
        metrics: metrics.clone(),
        ready,
        dir: None,
    };
    engine.wait_ready().await;
    // a new replica starts on the active version, not on its models directory's
    assert_eq!(served_version(&engine).await, v2);
    let mut client = engine.client().await;
    let f = client
        .forecast(request("lstm", vec![window("a", values(12, 0.0))]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(f.forecasts[0].model_version, v2);
    // the previous version stays loaded: a request pinned to it is served by it
    let mut pinned = request("lstm", vec![window("a", values(12, 0.0))]);
    pinned.model_version = v1.clone();
    let f = client.forecast(pinned).await.unwrap().into_inner();
    assert_eq!(f.forecasts[0].model_version, v1);
    let mut unknown = request("lstm", vec![window("a", values(12, 0.0))]);
    unknown.model_version = "000000000000".into();
    assert_eq!(
        client.forecast(unknown).await.unwrap_err().code(),
        tonic::Code::NotFound
    );

    // rollback: a swap, no load
    publish(&producer, &active(&v1, &v2)).await;
    wait_for("engine swaps back to v1", async || {
        served_version(&engine).await == v1
    })
    .await;
    assert_eq!(
        counter(
            &metrics,
            "seer_engine_model_swaps_total",
            &[("direction", "back")]
        ),
        1.0
    );

    // a version whose file is corrupt in the store: refused, counted, v1 keeps serving
    let f3 = files(9);
    let third = version_record(&store, &f3, &v1);
    let ModelRecord::Version(r3) = &third else {
        unreachable!()
    };
    let weights = store_dir
        .path()
        .join(&r3.location)
        .join("model.safetensors");
    let len = std::fs::metadata(&weights).unwrap().len();
    std::fs::write(&weights, vec![0u8; len as usize / 2]).unwrap();
    publish(&producer, &third).await;
    publish(&producer, &active(&r3.version, &v1)).await;
    // and a version the topic never recorded
    wait_for("the corrupt version is refused", async || {
        counter(
            &metrics,
            "seer_engine_model_load_failures_total",
            &[("reason", "checksum")],
        ) == 1.0
    })
    .await;
    assert_eq!(served_version(&engine).await, v1);
    publish(&producer, &active("0123456789ab", &v1)).await;
    wait_for("the unknown version is refused", async || {
        counter(
            &metrics,
            "seer_engine_model_load_failures_total",
            &[("reason", "unknown_version")],
        ) == 1.0
    })
    .await;
    let f = client
        .forecast(request("lstm", vec![window("a", values(12, 0.0))]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(f.forecasts[0].model_version, v1);

    // v2 again: still held as the previous version, so a swap, not a load; the only load was
    // the one at start
    publish(&producer, &active(&v2, &v1)).await;
    wait_for("engine swaps to v2", async || {
        served_version(&engine).await == v2
    })
    .await;
    let swaps = |direction| {
        counter(
            &metrics,
            "seer_engine_model_swaps_total",
            &[("direction", direction)],
        )
    };
    assert_eq!((swaps("forward"), swaps("back")), (1.0, 2.0));
    engine.stop().await;
}
