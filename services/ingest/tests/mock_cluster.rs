//! The ingest against librdkafka's in-process mock cluster (a real Kafka protocol over
//! localhost TCP) and a stand-in engine over real gRPC: every due series gets its forecast and
//! nothing is lost, poison goes to the dead-letter topic with its reason while the stream moves
//! on, and an engine that dies and comes back mid-stream loses nothing either.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use seer_ingest::{IngestConfig, IngestMetrics};
use seer_proto::convert::timestamp;
use seer_proto::v1::engine_server::{Engine, EngineServer};
use seer_proto::v1::{
    Forecast, ForecastBatchRequest, ForecastBatchResponse, ListModelsRequest, ListModelsResponse,
    Observation, QuantileValues,
};
use seer_runtime::{KafkaConfig, Shutdown, Topics};
use tokio_util::sync::CancellationToken;

/// Forecasts the last observed value for 2 steps, so content can be checked exactly.
#[derive(Clone, Default)]
struct FakeEngine {
    calls: Arc<AtomicUsize>,
    /// Time each call takes, as a loaded engine would.
    delay: Duration,
}

#[tonic::async_trait]
impl Engine for FakeEngine {
    async fn forecast(
        &self,
        req: tonic::Request<ForecastBatchRequest>,
    ) -> Result<tonic::Response<ForecastBatchResponse>, tonic::Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        let forecasts = req
            .into_inner()
            .windows
            .into_iter()
            .map(|w| {
                let start = w.start.map(|t| t.seconds).unwrap_or(0);
                let (idx, last) = w
                    .values
                    .iter()
                    .enumerate()
                    .rev()
                    .find(|(_, v)| v.is_finite())
                    .map(|(i, v)| (i, *v))
                    .unwrap_or((0, f64::NAN));
                let last_ts = start + idx as i64 * w.freq_seconds;
                Forecast {
                    series_id: w.series_id,
                    model: "fake".into(),
                    timestamps: (1..=2)
                        .map(|k| timestamp(last_ts + k * w.freq_seconds))
                        .collect(),
                    mean: vec![last; 2],
                    quantiles: vec![QuantileValues {
                        level: 0.5,
                        values: vec![last; 2],
                    }],
                    latest_observation: Some(timestamp(last_ts)),
                    partial_window: w.partial,
                    observed_points: w.values.iter().filter(|v| v.is_finite()).count() as u32,
                    ..Default::default()
                }
            })
            .collect();
        Ok(tonic::Response::new(ForecastBatchResponse {
            forecasts,
            errors: vec![],
        }))
    }

    async fn list_models(
        &self,
        _: tonic::Request<ListModelsRequest>,
    ) -> Result<tonic::Response<ListModelsResponse>, tonic::Status> {
        Ok(tonic::Response::new(ListModelsResponse::default()))
    }
}

async fn start_engine(engine: FakeEngine, addr: SocketAddr) -> (SocketAddr, CancellationToken) {
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            // the previous engine on this port is still closing
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let local = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(EngineServer::new(engine))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async move { s.cancelled().await },
            )
            .await
            .unwrap();
    });
    (local, stop)
}

struct Cluster {
    _mock: MockCluster<'static, DefaultProducerContext>,
    bootstrap: String,
}

fn cluster() -> Cluster {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("obs", 3, 1).unwrap();
    mock.create_topic("fc", 3, 1).unwrap();
    mock.create_topic("dlq", 1, 1).unwrap();
    Cluster {
        bootstrap: mock.bootstrap_servers(),
        _mock: mock,
    }
}

fn producer(bootstrap: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "0")
        .create()
        .unwrap()
}

fn send(p: &ThreadedProducer<DefaultProducerContext>, key: &str, payload: &[u8]) {
    p.send(BaseRecord::to("obs").key(key).payload(payload))
        .map_err(|(e, _)| e)
        .unwrap();
}

fn obs(series: &str, ts: i64, value: f64) -> Vec<u8> {
    Observation {
        series_id: series.into(),
        timestamp: Some(timestamp(ts)),
        value,
        features: HashMap::new(),
    }
    .encode_to_vec()
}

fn config(bootstrap: &str, engine: SocketAddr) -> IngestConfig {
    IngestConfig {
        kafka: KafkaConfig::with_brokers(bootstrap),
        topics: Topics {
            observations: "obs".into(),
            forecasts: "fc".into(),
            dead_letters: "dlq".into(),
            ..Default::default()
        },
        group_id: "seer-test".into(),
        engine: format!("http://{engine}"),
        window: 24,
        engine_timeout_ms: 2000,
        max_batch: 64,
        max_delay_ms: 10,
        ..Default::default()
    }
}

fn collector(bootstrap: &str, topic: &str) -> BaseConsumer {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{topic}"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    c
}

/// Polls forecasts until every series' newest forecast covers its last timestamp.
fn await_forecasts(
    c: &BaseConsumer,
    want: &HashMap<String, (i64, f64)>,
    limit: Duration,
) -> (HashMap<String, Forecast>, usize) {
    let start = Instant::now();
    let mut latest: HashMap<String, Forecast> = HashMap::new();
    let mut count = 0;
    while start.elapsed() < limit {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            let f = Forecast::decode(m.payload().unwrap()).unwrap();
            assert_eq!(
                m.key(),
                Some(f.series_id.as_bytes()),
                "forecasts are keyed by series id"
            );
            count += 1;
            let newer = latest.get(&f.series_id).is_none_or(|old| {
                old.latest_observation.unwrap().seconds <= f.latest_observation.unwrap().seconds
            });
            if newer {
                latest.insert(f.series_id.clone(), f);
            }
        }
        let done = want.iter().all(|(id, (ts, _))| {
            latest
                .get(id)
                .is_some_and(|f| f.latest_observation.unwrap().seconds == *ts)
        });
        if done {
            break;
        }
    }
    (latest, count)
}

fn check(latest: &HashMap<String, Forecast>, want: &HashMap<String, (i64, f64)>) {
    for (id, (ts, value)) in want {
        let f = latest
            .get(id)
            .unwrap_or_else(|| panic!("no forecast for {id}"));
        assert_eq!(
            f.latest_observation.unwrap().seconds,
            *ts,
            "{id}: forecast from its newest point"
        );
        assert_eq!(f.mean, vec![*value; 2], "{id}: forecast content");
    }
}

async fn committed_everything(bootstrap: &str, group: &str, limit: Duration) -> bool {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < limit {
        let mut tpl = rdkafka::TopicPartitionList::new();
        for p in 0..3 {
            tpl.add_partition("obs", p);
        }
        if let Ok(committed) = c.committed_offsets(tpl, Duration::from_secs(2)) {
            let all = committed.elements().iter().all(|e| {
                let (_, high) = c
                    .fetch_watermarks("obs", e.partition(), Duration::from_secs(2))
                    .unwrap();
                high == 0 || e.offset() == rdkafka::Offset::Offset(high)
            });
            if all {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

const T0: i64 = 1_700_000_400 - 1_700_000_400 % 3600;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_series_is_forecast_and_poison_goes_to_the_dead_letter_topic() {
    let cluster = cluster();
    let engine = FakeEngine::default();
    let (addr, _stop) = start_engine(engine.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let registry = prometheus::Registry::new();
    let metrics = IngestMetrics::new(&registry).unwrap();
    let shutdown = Shutdown::new();
    let ingest = tokio::spawn(seer_ingest::run(
        config(&cluster.bootstrap, addr),
        metrics.clone(),
        Default::default(),
        shutdown.clone(),
    ));

    let p = producer(&cluster.bootstrap);
    let mut want = HashMap::new();
    for step in 0..30 {
        for s in 0..10 {
            let id = format!("series-{s}");
            let (ts, v) = (T0 + step * 3600, (s * 100 + step) as f64);
            if s == 3 && step % 2 == 0 {
                // the JSON form, as a kcat user types it
                let json = format!(r#"{{"series_id": "{id}", "timestamp": {ts}, "value": {v}}}"#);
                send(&p, &id, json.as_bytes());
            } else {
                send(&p, &id, &obs(&id, ts, v));
            }
            want.insert(id, (ts, v));
        }
    }
    // poison, interleaved with the stream
    send(&p, "bad", b"\x08\x96\x01garbage\xff\xff");
    send(&p, "series-1", br#"{"series_id": "series-1", "value": 1}"#);
    send(&p, "series-2", &obs("series-2", T0, f64::NAN));
    send(
        &p,
        "series-4",
        &obs("series-4", T0 + 10 * 365 * 86_400, 1.0),
    );
    send(&p, "series-5", &obs("series-5", T0 + 1800, 1.0));
    send(&p, "series-6", &obs("series-6", T0 - 3600 * 100, 1.0));
    send(&p, "series-7", &vec![b'x'; 70 * 1024]);
    send(&p, "series-8", &obs("series-9", T0 + 3600 * 30, 1.0));
    // the stream goes on after the poison
    for s in 0..10 {
        let id = format!("series-{s}");
        let (ts, v) = (T0 + 30 * 3600, (s * 100 + 30) as f64);
        send(&p, &id, &obs(&id, ts, v));
        want.insert(id, (ts, v));
    }
    p.flush(Duration::from_secs(5)).unwrap();

    let fc = collector(&cluster.bootstrap, "fc");
    let (latest, count) = await_forecasts(&fc, &want, Duration::from_secs(30));
    check(&latest, &want);
    // a fresh group reads every partition from its start: nothing was missed, nothing is partial
    assert!(
        latest.values().all(|f| !f.partial_window),
        "fresh windows are not flagged partial"
    );
    assert!(
        (10..=310).contains(&count),
        "one forecast per due series per batch, got {count}"
    );

    let dlq = collector(&cluster.bootstrap, "dlq");
    let mut reasons = Vec::new();
    let start = Instant::now();
    while reasons.len() < 8 && start.elapsed() < Duration::from_secs(20) {
        if let Some(Ok(m)) = dlq.poll(Duration::from_millis(100)) {
            let headers = m.headers().unwrap();
            let reason = headers
                .iter()
                .find(|h| h.key == "seer-reason")
                .and_then(|h| h.value)
                .unwrap();
            reasons.push(String::from_utf8(reason.to_vec()).unwrap());
            assert!(m.payload().is_some(), "the original bytes are kept");
        }
    }
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "future_timestamp",
            "key_mismatch",
            "late",
            "missing_field",
            "non_finite_value",
            "off_grid",
            "oversized",
            "undecodable"
        ]
    );
    assert!(
        committed_everything(&cluster.bootstrap, "seer-test", Duration::from_secs(20)).await,
        "every offset committed once finished"
    );
    assert_eq!(metrics.observations.get(), 310);
    // every metric the ingest registers is emitted and named by the conventions
    let families = registry.gather();
    let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
    for want in [
        "seer_ingest_observations_total",
        "seer_ingest_dead_letters_total",
        "seer_ingest_batch_series",
        "seer_ingest_forecast_latency_seconds",
        "seer_ingest_forecasts_published_total",
        "seer_ingest_consumer_lag_messages",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for f in &families {
        seer_runtime::check_metric_name(f.name(), f.get_field_type()).unwrap();
    }
    shutdown.cancel();
    ingest.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_restart_mid_stream_loses_nothing() {
    let cluster = cluster();
    let engine = FakeEngine::default();
    let (addr, stop) = start_engine(engine.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let registry = prometheus::Registry::new();
    let metrics = IngestMetrics::new(&registry).unwrap();
    let shutdown = Shutdown::new();
    let ingest = tokio::spawn(seer_ingest::run(
        config(&cluster.bootstrap, addr),
        metrics.clone(),
        Default::default(),
        shutdown.clone(),
    ));
    let p = producer(&cluster.bootstrap);
    let fc = collector(&cluster.bootstrap, "fc");
    let mut want = HashMap::new();
    for step in 0..5 {
        for s in 0..6 {
            let id = format!("s{s}");
            send(&p, &id, &obs(&id, T0 + step * 3600, step as f64));
            want.insert(id, (T0 + step * 3600, step as f64));
        }
    }
    p.flush(Duration::from_secs(5)).unwrap();
    let (latest, _) = await_forecasts(&fc, &want, Duration::from_secs(20));
    check(&latest, &want);

    // the engine dies; points keep coming
    stop.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for step in 5..10 {
        for s in 0..6 {
            let id = format!("s{s}");
            send(&p, &id, &obs(&id, T0 + step * 3600, step as f64));
            want.insert(id, (T0 + step * 3600, step as f64));
        }
    }
    p.flush(Duration::from_secs(5)).unwrap();
    // wait (bounded) until the ingest has tried the dead engine: a loaded machine is slow
    let start = Instant::now();
    while metrics.engine_retries.get() == 0 && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        metrics.engine_retries.get() > 0,
        "calls to the dead engine are retried"
    );
    // it comes back on the same address
    let (_addr, _stop2) = start_engine(engine.clone(), addr).await;
    let (latest, _) = await_forecasts(&fc, &want, Duration::from_secs(30));
    check(&latest, &want);
    assert!(committed_everything(&cluster.bootstrap, "seer-test", Duration::from_secs(20)).await);
    shutdown.cancel();
    ingest.await.unwrap().unwrap();
}

/// Forecasts read since `from`, every one of them (not only the newest per series).
fn read_all(
    c: &BaseConsumer,
    until: impl Fn(&[Forecast]) -> bool,
    limit: Duration,
) -> Vec<Forecast> {
    let start = Instant::now();
    let mut all = Vec::new();
    while start.elapsed() < limit && !until(&all) {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            all.push(Forecast::decode(m.payload().unwrap()).unwrap());
        }
    }
    all
}

async fn rebalance_case(rebuild_messages: i64) -> Vec<Forecast> {
    let cluster = cluster();
    let engine = FakeEngine::default();
    let (addr, _stop) = start_engine(engine, "127.0.0.1:0".parse().unwrap()).await;
    let shutdown = Shutdown::new();
    let mut cfg = IngestConfig {
        rebuild_messages,
        ..config(&cluster.bootstrap, addr)
    };
    cfg.kafka
        .properties
        .insert("session.timeout.ms".into(), "6000".into());
    cfg.kafka
        .properties
        .insert("heartbeat.interval.ms".into(), "500".into());
    let metrics_a = IngestMetrics::new(&prometheus::Registry::new()).unwrap();
    let a = tokio::spawn(seer_ingest::run(
        cfg.clone(),
        metrics_a.clone(),
        Default::default(),
        shutdown.clone(),
    ));
    let p = producer(&cluster.bootstrap);
    let fc = collector(&cluster.bootstrap, "fc");
    let mut want = HashMap::new();
    // 30 points per series: more than the window of 24, so the first owner's windows are full
    for step in 0..30 {
        for s in 0..12 {
            let id = format!("r{s}");
            send(&p, &id, &obs(&id, T0 + step * 3600, step as f64));
            want.insert(id, (T0 + step * 3600, step as f64));
        }
    }
    p.flush(Duration::from_secs(5)).unwrap();
    let (latest, _) = await_forecasts(&fc, &want, Duration::from_secs(30));
    check(&latest, &want);
    assert!(committed_everything(&cluster.bootstrap, "seer-test", Duration::from_secs(20)).await);

    // a second member joins: the group rebalances and partitions change hands
    let metrics_b = IngestMetrics::new(&prometheus::Registry::new()).unwrap();
    let b = tokio::spawn(seer_ingest::run(
        cfg,
        metrics_b.clone(),
        Default::default(),
        shutdown.clone(),
    ));
    let start = Instant::now();
    while metrics_b.rebalances.with_label_values(&["assigned"]).get() == 0
        && start.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    eprintln!(
        "rebalance took {:?}; a assigned {} revoked {}; b assigned {}",
        start.elapsed(),
        metrics_a.rebalances.with_label_values(&["assigned"]).get(),
        metrics_a.rebalances.with_label_values(&["revoked"]).get(),
        metrics_b.rebalances.with_label_values(&["assigned"]).get()
    );
    assert!(
        metrics_b.rebalances.with_label_values(&["assigned"]).get() > 0,
        "the second member got partitions (a: assigned {} revoked {}, b: revoked {})",
        metrics_a.rebalances.with_label_values(&["assigned"]).get(),
        metrics_a.rebalances.with_label_values(&["revoked"]).get(),
        metrics_b.rebalances.with_label_values(&["revoked"]).get()
    );
    for step in 30..33 {
        for s in 0..12 {
            let id = format!("r{s}");
            send(&p, &id, &obs(&id, T0 + step * 3600, step as f64));
            want.insert(id, (T0 + step * 3600, step as f64));
        }
    }
    p.flush(Duration::from_secs(5)).unwrap();
    let after = read_all(
        &fc,
        |seen| {
            want.iter().all(|(id, (ts, _))| {
                seen.iter()
                    .any(|f| f.series_id == *id && f.latest_observation.unwrap().seconds == *ts)
            })
        },
        Duration::from_secs(30),
    );
    shutdown.cancel();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    after
        .into_iter()
        .filter(|f| f.latest_observation.unwrap().seconds >= T0 + 30 * 3600)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_rebalance_windows_are_rebuilt_from_the_topic() {
    let after = rebalance_case(200_000).await;
    assert!(!after.is_empty());
    for f in &after {
        assert!(
            !f.partial_window && f.observed_points == 24,
            "{}: rebuilt window, got {} points partial={}",
            f.series_id,
            f.observed_points,
            f.partial_window
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_rebuild_a_half_built_window_says_so() {
    let after = rebalance_case(0).await;
    assert!(
        after.iter().any(|f| f.partial_window),
        "some partition changed owner and restarted its windows"
    );
    for f in &after {
        assert!(
            f.partial_window || f.observed_points == 24,
            "{}: {} points and not flagged partial",
            f.series_id,
            f.observed_points
        );
    }
}

/// The largest number of points any series went without a forecast while the ingest caught up
/// on a backlog through a slow engine, one batch at a time; and the forecasts per engine call.
async fn widest_forecast_gap(max_points_per_forecast: usize) -> (i64, f64) {
    const SERIES: usize = 8;
    const POINTS: i64 = 30;
    let cluster = cluster();
    let p = producer(&cluster.bootstrap);
    // the backlog is there before the ingest starts
    for step in 0..POINTS {
        for s in 0..SERIES {
            let id = format!("s{s}");
            send(&p, &id, &obs(&id, T0 + step * 3600, step as f64));
        }
    }
    p.flush(Duration::from_secs(5)).unwrap();
    let engine = FakeEngine {
        delay: Duration::from_millis(40),
        ..Default::default()
    };
    let calls = engine.calls.clone();
    let (addr, _stop) = start_engine(engine, "127.0.0.1:0".parse().unwrap()).await;
    let shutdown = Shutdown::new();
    let cfg = IngestConfig {
        max_in_flight: 1,
        max_points_per_forecast,
        ..config(&cluster.bootstrap, addr)
    };
    let ingest = tokio::spawn(seer_ingest::run(
        cfg,
        IngestMetrics::new(&prometheus::Registry::new()).unwrap(),
        Default::default(),
        shutdown.clone(),
    ));
    let last = T0 + (POINTS - 1) * 3600;
    let fc = collector(&cluster.bootstrap, "fc");
    let forecasts = read_all(
        &fc,
        |all| {
            let done: std::collections::HashSet<&str> = all
                .iter()
                .filter(|f| f.latest_observation.unwrap().seconds == last)
                .map(|f| f.series_id.as_str())
                .collect();
            done.len() == SERIES
        },
        Duration::from_secs(60),
    );
    shutdown.cancel();
    ingest.await.unwrap().unwrap();
    let mut ends: HashMap<String, Vec<i64>> = HashMap::new();
    for f in &forecasts {
        ends.entry(f.series_id.clone())
            .or_default()
            .push((f.latest_observation.unwrap().seconds - T0) / 3600);
    }
    assert_eq!(ends.len(), SERIES, "every series is forecast");
    let mut widest = 0;
    for (id, mut steps) in ends {
        steps.sort_unstable();
        assert_eq!(
            steps.last(),
            Some(&(POINTS - 1)),
            "{id}: its last point is forecast"
        );
        // the first forecast reads points 0..=steps[0]: steps[0] + 1 of them
        widest = widest.max(steps[0] + 1);
        for pair in steps.windows(2) {
            widest = widest.max(pair[1] - pair[0]);
        }
    }
    (
        widest,
        forecasts.len() as f64 / calls.load(Ordering::SeqCst) as f64,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cadence_floor_forecasts_every_series_every_n_points_of_a_backlog() {
    // without a floor, catching up folds many points of a series into one forecast
    let (unfloored, _) = widest_forecast_gap(0).await;
    assert!(
        unfloored > 5,
        "without a floor a backlog is read in wide strides (widest {unfloored})"
    );
    let (floored, _) = widest_forecast_gap(5).await;
    assert!(
        floored <= 5,
        "no series goes more than 5 points without a forecast (widest {floored})"
    );
    // a floor of one point: every point is forecast, and the series read before a point had
    // to wait share its batch (not one engine call per point)
    let (every, per_call) = widest_forecast_gap(1).await;
    assert_eq!(every, 1, "every point is forecast");
    assert!(
        per_call >= 2.0,
        "batches hold several series ({per_call:.2} forecasts per call)"
    );
}
