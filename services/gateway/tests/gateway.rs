//! The gateway over real sockets: tonic clients against a gateway on 127.0.0.1:0 that reads
//! librdkafka's in-process mock cluster and forwards ad-hoc forecasts to a stand-in engine.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use seer_gateway::{Gateway, GatewayConfig};
use seer_proto::convert::timestamp;
use seer_proto::v1::engine_server::{Engine, EngineServer};
use seer_proto::v1::forecasts_client::ForecastsClient;
use seer_proto::v1::models_client::ModelsClient;
use seer_proto::v1::{
    ActivateModelRequest, BatchGetLatestRequest, Forecast, ForecastBatchRequest,
    ForecastBatchResponse, ForecastRequest, GetLatestRequest, GetModelRequest, GetModelResponse,
    IngestRequest, ListModelsRequest, ListModelsResponse, ListServedModelsRequest, ModelInfo,
    Observation, RollbackModelRequest, SeriesWindow, WatchRequest,
};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const HOUR: i64 = 3600;
const T0: i64 = 1_700_000_000;

/// Forecasts the last finite value of the window for `horizon` steps; the series `slow` takes
/// 5 s (a deadline test).
#[derive(Clone, Default)]
struct FakeEngine;

fn models() -> Vec<ModelInfo> {
    vec![
        ModelInfo {
            name: "fake".into(),
            kind: "lstm".into(),
            version: "v1".into(),
            context_length: 8,
            horizon: 4,
            freq_seconds: HOUR,
            is_default: true,
            // an engine from before ModelInfo.max_horizon: the gateway derives the limit
            ..Default::default()
        },
        ModelInfo {
            name: "tcn".into(),
            kind: "tcn".into(),
            version: "t1".into(),
            context_length: 8,
            horizon: 4,
            freq_seconds: HOUR,
            is_default: false,
            ..Default::default()
        },
    ]
}

#[tonic::async_trait]
impl Engine for FakeEngine {
    async fn forecast(
        &self,
        req: tonic::Request<ForecastBatchRequest>,
    ) -> Result<tonic::Response<ForecastBatchResponse>, tonic::Status> {
        let req = req.into_inner();
        let Some(info) = models().into_iter().find(|m| m.name == req.model) else {
            return Err(tonic::Status::not_found("unknown model"));
        };
        let mut forecasts = Vec::new();
        for w in req.windows {
            if w.series_id == "slow" {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            let last = w.values.iter().rev().find(|v| v.is_finite()).copied();
            let Some(last) = last else {
                return Ok(tonic::Response::new(ForecastBatchResponse {
                    forecasts: vec![],
                    errors: vec![seer_proto::v1::SeriesError {
                        series_id: w.series_id,
                        reason: "no observed value".into(),
                    }],
                }));
            };
            forecasts.push(Forecast {
                series_id: w.series_id,
                model: info.name.clone(),
                model_version: info.version.clone(),
                mean: vec![last; req.horizon as usize],
                ..Default::default()
            });
        }
        Ok(tonic::Response::new(ForecastBatchResponse {
            forecasts,
            errors: vec![],
        }))
    }

    async fn list_models(
        &self,
        _: tonic::Request<ListModelsRequest>,
    ) -> Result<tonic::Response<ListModelsResponse>, tonic::Status> {
        Ok(tonic::Response::new(ListModelsResponse {
            models: models(),
        }))
    }
}

async fn start_engine() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(EngineServer::new(FakeEngine))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    addr
}

struct Cluster {
    _mock: MockCluster<'static, DefaultProducerContext>,
    bootstrap: String,
    producer: FutureProducer,
}

fn cluster() -> Cluster {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("obs", 3, 1).unwrap();
    mock.create_topic("fc", 3, 1).unwrap();
    mock.create_topic("models", 1, 1).unwrap();
    let bootstrap = mock.bootstrap_servers();
    let producer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "0")
        .create()
        .unwrap();
    Cluster {
        _mock: mock,
        bootstrap,
        producer,
    }
}

impl Cluster {
    /// Publishes a forecast as the ingest would (keyed by series id) and waits for Kafka.
    async fn publish(&self, id: &str, latest: i64, mean: f64) {
        let f = Forecast {
            series_id: id.into(),
            model: "fake".into(),
            mean: vec![mean; 2],
            latest_observation: Some(timestamp(latest)),
            ..Default::default()
        };
        self.producer
            .send(
                FutureRecord::to("fc").key(id).payload(&f.encode_to_vec()),
                Duration::from_secs(5),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
}

struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), seer_gateway::GatewayError>>,
    registry: prometheus::Registry,
}

impl Running {
    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    async fn forecasts(&self) -> ForecastsClient<Channel> {
        ForecastsClient::new(self.channel().await)
    }

    async fn models(&self) -> ModelsClient<Channel> {
        ModelsClient::new(self.channel().await)
    }

    /// Waits for grpc.health.v1 to say SERVING (the forecasts backlog is read).
    async fn serving(&self) {
        let mut health = HealthClient::new(self.channel().await);
        let start = Instant::now();
        loop {
            let status = health
                .check(HealthCheckRequest {
                    service: "seer.v1.Forecasts".into(),
                })
                .await
                .unwrap()
                .into_inner()
                .status;
            if status == ServingStatus::Serving as i32 {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "not serving");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("gateway stops")
            .unwrap()
            .unwrap();
    }
}

fn config(bootstrap: &str, engine: SocketAddr) -> GatewayConfig {
    GatewayConfig {
        kafka: seer_runtime::KafkaConfig::with_brokers(bootstrap),
        topics: seer_runtime::Topics {
            observations: "obs".into(),
            forecasts: "fc".into(),
            dead_letters: "dlq".into(),
            models: "models".into(),
        },
        engine: format!("http://{engine}"),
        history_window: 8,
        history_freq: HOUR.into(),
        ..Default::default()
    }
}

async fn start(config: GatewayConfig) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let registry = prometheus::Registry::new();
    let gateway = Gateway::start(config, &registry, shutdown.clone()).unwrap();
    let task = tokio::spawn(gateway.serve(listener, seer_runtime::Readiness::default()));
    Running {
        addr,
        shutdown,
        task,
        registry,
    }
}

fn code<T: std::fmt::Debug>(r: Result<T, tonic::Status>) -> (Code, String) {
    let s = r.expect_err("an error status");
    (s.code(), s.message().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_batch_watch_and_a_restart_rebuilds_the_view() {
    let c = cluster();
    let engine = start_engine().await;
    c.publish("a", T0, 1.0).await;
    c.publish("a", T0 + HOUR, 2.0).await;
    c.publish("b", T0, 3.0).await;
    let gw = start(config(&c.bootstrap, engine)).await;
    gw.serving().await;
    let mut client = gw.forecasts().await;

    let latest = |id: &str| GetLatestRequest {
        series_id: id.into(),
    };
    let f = client.get_latest(latest("a")).await.unwrap().into_inner();
    assert_eq!(f.forecast.unwrap().mean, [2.0, 2.0]);
    let (code_, msg) = code(client.get_latest(latest("")).await);
    assert_eq!(code_, Code::InvalidArgument);
    assert!(msg.contains("series_id"), "{msg}");
    assert_eq!(
        code(client.get_latest(latest("nope")).await).0,
        Code::NotFound
    );

    let batch = client
        .batch_get_latest(BatchGetLatestRequest {
            series_ids: vec!["b".into(), "nope".into(), "a".into()],
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = batch
        .forecasts
        .iter()
        .map(|f| f.series_id.as_str())
        .collect();
    assert_eq!(ids, ["b", "a"]);
    assert_eq!(batch.not_found, ["nope"]);
    let (code_, msg) = code(
        client
            .batch_get_latest(BatchGetLatestRequest {
                series_ids: vec!["a".into(), " ".into()],
            })
            .await,
    );
    assert_eq!(code_, Code::InvalidArgument);
    assert!(msg.contains("series_ids[1]"), "{msg}");
    assert_eq!(
        code(
            client
                .batch_get_latest(BatchGetLatestRequest::default())
                .await
        )
        .0,
        Code::InvalidArgument
    );

    // Watch: series b or the prefix "x-"; forecasts published after subscribing arrive
    let mut stream = client
        .watch(WatchRequest {
            series_ids: vec!["b".into()],
            prefix: "x-".into(),
            send_current: false,
        })
        .await
        .unwrap()
        .into_inner();
    let (code_, msg) = code(
        client
            .watch(WatchRequest {
                series_ids: vec![String::new()],
                ..Default::default()
            })
            .await,
    );
    assert_eq!(code_, Code::InvalidArgument);
    assert!(msg.contains("series_ids[0]"), "{msg}");
    c.publish("a", T0 + 2 * HOUR, 9.0).await;
    c.publish("x-1", T0, 4.0).await;
    c.publish("b", T0 + HOUR, 5.0).await;
    let mut got = Vec::new();
    while got.len() < 2 {
        let msg = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("watched forecasts arrive")
            .unwrap()
            .unwrap();
        let f = msg.forecast.unwrap();
        got.push((f.series_id, f.mean[0]));
    }
    got.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(got, [("b".to_string(), 5.0), ("x-1".to_string(), 4.0)]);
    // the watcher and the view agree
    let f = client.get_latest(latest("a")).await.unwrap().into_inner();
    assert_eq!(f.forecast.unwrap().mean[0], 9.0);

    // metrics follow the naming rules
    for mf in gw.registry.gather() {
        seer_runtime::check_metric_name(mf.name(), mf.get_field_type()).unwrap();
    }
    gw.stop().await;
    // the stream ends with the gateway
    let end = tokio::time::timeout(Duration::from_secs(5), stream.message()).await;
    assert!(!matches!(end, Ok(Ok(Some(_)))), "{end:?}");

    // a new gateway rebuilds the view from the topic
    let gw = start(config(&c.bootstrap, engine)).await;
    gw.serving().await;
    let mut client = gw.forecasts().await;
    for (id, mean) in [("a", 9.0), ("b", 5.0), ("x-1", 4.0)] {
        let f = client.get_latest(latest(id)).await.unwrap().into_inner();
        assert_eq!(f.forecast.unwrap().mean[0], mean, "{id}");
    }
    // reflection lists the services without proto files
    let mut refl = tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
        gw.channel().await,
    );
    let req = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut resp = refl
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let listed = format!("{:?}", resp.message().await.unwrap().unwrap());
    for s in [
        "seer.v1.Forecasts",
        "seer.v1.Models",
        "grpc.health.v1.Health",
    ] {
        assert!(listed.contains(s), "{s} in {listed}");
    }
    gw.stop().await;
}

fn history(values: Vec<f64>) -> Option<SeriesWindow> {
    Some(SeriesWindow {
        series_id: String::new(),
        start: Some(timestamp(T0)),
        freq_seconds: HOUR,
        freq_months: 0,
        covariates: Vec::new(),
        values,
        partial: false,
    })
}

fn obs(id: &str, ts: i64, value: f64) -> Observation {
    Observation {
        series_id: id.into(),
        timestamp: Some(timestamp(ts)),
        value,
        features: HashMap::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecast_ingest_and_bad_requests() {
    let c = cluster();
    let engine = start_engine().await;
    let gw = start(config(&c.bootstrap, engine)).await;
    gw.serving().await;
    let mut client = gw.forecasts().await;

    let base = ForecastRequest {
        series_id: "s".into(),
        history: history(vec![1.0, f64::NAN, 3.0]),
        horizon: 3,
        quantiles: vec![0.1, 0.9],
        ..Default::default()
    };
    let f = client
        .forecast(base.clone())
        .await
        .unwrap()
        .into_inner()
        .forecast
        .unwrap();
    assert_eq!((f.series_id.as_str(), f.model.as_str()), ("s", "fake"));
    assert_eq!(f.mean, [3.0; 3]);

    let bad: Vec<(ForecastRequest, Code, &str)> = vec![
        (
            ForecastRequest {
                horizon: 0,
                ..base.clone()
            },
            Code::InvalidArgument,
            "horizon",
        ),
        (
            ForecastRequest {
                quantiles: vec![0.5, 1.0],
                ..base.clone()
            },
            Code::InvalidArgument,
            "quantiles[1]",
        ),
        (
            ForecastRequest {
                quantiles: vec![0.0],
                ..base.clone()
            },
            Code::InvalidArgument,
            "quantiles[0]",
        ),
        (
            ForecastRequest {
                series_id: String::new(),
                ..base.clone()
            },
            Code::InvalidArgument,
            "series_id",
        ),
        (
            ForecastRequest {
                history: history(vec![1.0, f64::INFINITY]),
                ..base.clone()
            },
            Code::InvalidArgument,
            "history.values[1]",
        ),
        (
            ForecastRequest {
                model: "tcn".into(),
                horizon: 5,
                ..base.clone()
            },
            Code::InvalidArgument,
            "horizon",
        ),
        (
            ForecastRequest {
                model: "nope".into(),
                ..base.clone()
            },
            Code::NotFound,
            "model",
        ),
        (
            ForecastRequest {
                series_id: "never-seen".into(),
                history: None,
                ..base.clone()
            },
            Code::NotFound,
            "never-seen",
        ),
    ];
    for (req, want, field) in bad {
        let (got, msg) = code(client.forecast(req).await);
        assert_eq!(got, want, "{msg}");
        assert!(msg.contains(field), "{field} in {msg}");
    }

    // a deadline that expires while the engine works
    let mut req = Request::new(ForecastRequest {
        series_id: "slow".into(),
        ..base.clone()
    });
    req.set_timeout(Duration::from_millis(300));
    let t0 = Instant::now();
    assert_eq!(code(client.forecast(req).await).0, Code::DeadlineExceeded);
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());

    // Ingest: acknowledged once Kafka has every observation
    let batch = |id: &str, from: i64, n: i64| IngestRequest {
        observations: (0..n)
            .map(|k| obs(id, T0 + (from + k) * HOUR, (from + k) as f64))
            .collect(),
    };
    let resp = client
        .ingest(tokio_stream::iter(vec![batch("k", 0, 3), batch("k", 3, 2)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.accepted, 5);
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &c.bootstrap)
        .set("group.id", "test-reader")
        .create()
        .unwrap();
    // manual assignment: a group join would cost seconds
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset("obs", p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    reader.assign(&tpl).unwrap();
    let mut read = Vec::new();
    let start = Instant::now();
    while read.len() < 5 && start.elapsed() < Duration::from_secs(10) {
        if let Some(Ok(m)) = reader.poll(Duration::from_millis(100)) {
            assert_eq!(m.key(), Some(&b"k"[..]));
            read.push(Observation::decode(m.payload().unwrap()).unwrap().value);
        }
    }
    read.sort_by(f64::total_cmp);
    assert_eq!(read, [0.0, 1.0, 2.0, 3.0, 4.0]);

    // the gateway keeps the series' history, so a known series needs no history in the request
    let start = Instant::now();
    let f = loop {
        let r = client
            .forecast(ForecastRequest {
                series_id: "k".into(),
                history: None,
                ..base.clone()
            })
            .await;
        match r {
            Ok(r) => break r.into_inner().forecast.unwrap(),
            Err(s) if s.code() == Code::NotFound && start.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(s) => panic!("{s:?}"),
        }
    };
    assert_eq!(f.mean, [4.0; 3]);

    // bad observations name the field; what came before is written
    let mut nan = batch("k", 10, 3);
    nan.observations[1].value = f64::NAN;
    let (got, msg) = code(client.ingest(tokio_stream::iter(vec![nan])).await);
    assert_eq!(got, Code::InvalidArgument);
    assert!(
        msg.contains("observations[1].value") && msg.contains("the 1 observations"),
        "{msg}"
    );
    let mut empty = batch("k", 20, 1);
    empty.observations[0].series_id = String::new();
    let (got, msg) = code(client.ingest(tokio_stream::iter(vec![empty])).await);
    assert_eq!(got, Code::InvalidArgument);
    assert!(msg.contains("observations[0].series_id"), "{msg}");
    let mut no_ts = batch("k", 20, 1);
    no_ts.observations[0].timestamp = None;
    assert_eq!(
        code(client.ingest(tokio_stream::iter(vec![no_ts])).await).0,
        Code::InvalidArgument
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_admin_and_token_checks() {
    let c = cluster();
    let engine = start_engine().await;
    let gw = start(GatewayConfig {
        admin_token: Some("s3cret".into()),
        ..config(&c.bootstrap, engine)
    })
    .await;
    let mut models = gw.models().await;
    let list = models
        .list(ListServedModelsRequest {})
        .await
        .unwrap()
        .into_inner()
        .models;
    let names: Vec<&str> = list
        .iter()
        .map(|m| m.info.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(names, ["fake", "tcn"]);
    assert_eq!(list[1].max_horizon, 4);
    assert_eq!(list[0].max_horizon, 10_000);
    let get = |name: &str| GetModelRequest { name: name.into() };
    let m = models.get(get("tcn")).await.unwrap().into_inner();
    assert_eq!(m.model.unwrap().info.unwrap().version, "t1");
    assert_eq!(code(models.get(get("nope")).await).0, Code::NotFound);
    assert_eq!(code(models.get(get("")).await).0, Code::InvalidArgument);

    let activate = |name: &str, version: &str, auth: Option<&str>| {
        let mut r = Request::new(ActivateModelRequest {
            name: name.into(),
            version: version.into(),
        });
        if let Some(a) = auth {
            r.metadata_mut().insert("authorization", a.parse().unwrap());
        }
        r
    };
    let ok = Some("Bearer s3cret");
    assert_eq!(
        code(models.activate(activate("fake", "v1", None)).await).0,
        Code::Unauthenticated
    );
    assert_eq!(
        code(
            models
                .activate(activate("fake", "v1", Some("s3cret")))
                .await
        )
        .0,
        Code::Unauthenticated
    );
    assert_eq!(
        code(
            models
                .activate(activate("fake", "v1", Some("Bearer wrong")))
                .await
        )
        .0,
        Code::PermissionDenied
    );
    assert_eq!(
        code(models.activate(activate("nope", "", ok)).await).0,
        Code::NotFound
    );
    assert_eq!(
        code(models.activate(activate("fake", "v9", ok)).await).0,
        Code::NotFound
    );
    let m = models
        .activate(activate("fake", "v1", ok))
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(
        (m.active_version.as_str(), m.previous_version.as_str()),
        ("v1", "")
    );
    assert!(m.activated_at.is_some());

    let rollback = |auth: Option<&str>| {
        let mut r = Request::new(RollbackModelRequest {
            name: "fake".into(),
        });
        if let Some(a) = auth {
            r.metadata_mut().insert("authorization", a.parse().unwrap());
        }
        r
    };
    assert_eq!(
        code(models.rollback(rollback(None)).await).0,
        Code::Unauthenticated
    );
    assert_eq!(
        code(models.rollback(rollback(ok)).await).0,
        Code::FailedPrecondition
    );

    // a second replica reads the same models topic: what one activates, the other shows
    let gw2 = start(GatewayConfig {
        admin_token: Some("s3cret".into()),
        ..config(&c.bootstrap, engine)
    })
    .await;
    let mut models2 = gw2.models().await;
    let active_on = |m: &GetModelResponse| {
        let m = m.model.as_ref().unwrap();
        (m.active_version.clone(), m.previous_version.clone())
    };
    let start = Instant::now();
    while active_on(&models2.get(get("fake")).await.unwrap().into_inner()).0 != "v1" {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "replica 2 never saw v1"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // a version the trainer registered, with its live quality
    use seer_runtime::models_topic::{ModelRecord, QualityRecord, VersionRecord};
    for r in [
        ModelRecord::Version(VersionRecord {
            model: "fake".into(),
            version: "v2".into(),
            parent: "v1".into(),
            location: "fake/v2".into(),
            checksum: "00".into(),
            metrics: None,
            created_at_ms: 1,
            reason: "promoted".into(),
        }),
        ModelRecord::Quality(QualityRecord {
            model: "fake".into(),
            version: "v2".into(),
            mase: Some(0.75),
            wql: Some(0.1),
            coverage_80: None,
            scored_points: 42,
            at_ms: 2,
        }),
    ] {
        c.producer
            .send(
                FutureRecord::to("models")
                    .key(&r.key())
                    .payload(&r.encode()),
                Duration::from_secs(5),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    let start = Instant::now();
    let m = loop {
        match models2.activate(activate("fake", "v2", ok)).await {
            Ok(m) => break m.into_inner().model.unwrap(),
            Err(s) if s.code() == Code::NotFound => {
                assert!(start.elapsed() < Duration::from_secs(10), "v2 never known");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(s) => panic!("{s}"),
        }
    };
    assert_eq!(
        (m.active_version.as_str(), m.previous_version.as_str()),
        ("v2", "v1")
    );
    assert!(
        m.activated_reason.contains("Activate"),
        "{}",
        m.activated_reason
    );
    let start = Instant::now();
    let seen = loop {
        let m = models.get(get("fake")).await.unwrap().into_inner();
        if active_on(&m).0 == "v2" {
            break m.model.unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "replica 1 never saw v2"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(seen.previous_version, "v1");
    assert_eq!(seen.quality.len(), 1);
    assert_eq!(seen.quality[0].mase, Some(0.75));
    assert_eq!(seen.quality[0].coverage_80, None);
    assert_eq!(seen.quality[0].scored_points, 42);
    // rolled back on replica 1, replica 2 agrees
    let m = models
        .rollback(rollback(ok))
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(
        (m.active_version.as_str(), m.previous_version.as_str()),
        ("v1", "v2")
    );
    let start = Instant::now();
    while active_on(&models2.get(get("fake")).await.unwrap().into_inner())
        != ("v1".to_string(), "v2".to_string())
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "replica 2 never rolled back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw2.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_down_and_load_shedding() {
    let c = cluster();
    // nothing listens here
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let gw = start(GatewayConfig {
        max_concurrent: 1,
        ..config(&c.bootstrap, dead)
    })
    .await;
    gw.serving().await;
    let mut client = gw.forecasts().await;
    let (got, msg) = code(
        client
            .forecast(ForecastRequest {
                series_id: "s".into(),
                history: history(vec![1.0]),
                horizon: 1,
                ..Default::default()
            })
            .await,
    );
    assert_eq!(got, Code::Unavailable, "{msg}");
    assert_eq!(
        code(gw.models().await.list(ListServedModelsRequest {}).await).0,
        Code::Unavailable
    );

    // an open Ingest stream holds the only slot: the next call is shed, not queued
    let (tx, rx) = tokio::sync::mpsc::channel::<IngestRequest>(1);
    let mut ingest_client = client.clone();
    let ingest = tokio::spawn(async move {
        ingest_client
            .ingest(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    let start = Instant::now();
    loop {
        let r = client
            .get_latest(GetLatestRequest {
                series_id: "a".into(),
            })
            .await;
        match r {
            Err(s) if s.code() == Code::ResourceExhausted => break,
            // the Ingest call has not reached the gateway yet
            _ if start.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(10)).await
            }
            other => panic!("{other:?}"),
        }
    }
    tx.send(IngestRequest {
        observations: vec![obs("q", T0, 1.0)],
    })
    .await
    .unwrap();
    drop(tx);
    assert_eq!(ingest.await.unwrap().unwrap().into_inner().accepted, 1);
    assert_eq!(
        code(
            client
                .get_latest(GetLatestRequest {
                    series_id: "a".into()
                })
                .await
        )
        .0,
        Code::NotFound
    );
    let shed = gw
        .registry
        .gather()
        .into_iter()
        .find(|m| m.name() == "seer_gateway_requests_total")
        .unwrap();
    assert!(format!("{shed:?}").contains("resource_exhausted"));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls() {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let c = cluster();
    let engine = start_engine().await;
    let gw = start(config(&c.bootstrap, engine).with_tls(
        dir.join("server.pem"),
        dir.join("server.key"),
        Some(dir.join("ca.pem")),
    ))
    .await;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.pem")))
        .domain_name("localhost");
    let endpoint = |tls: ClientTlsConfig| {
        Channel::from_shared(format!("https://{}", gw.addr))
            .unwrap()
            .tls_config(tls)
            .unwrap()
    };
    // with the client certificate the CA signed: served
    let channel = endpoint(
        tls.clone()
            .identity(Identity::from_pem(read("client.pem"), read("client.key"))),
    )
    .connect()
    .await
    .unwrap();
    let m = ModelsClient::new(channel)
        .list(ListServedModelsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.models.len(), 2);
    // without one: refused
    let refused = match endpoint(tls).connect().await {
        Err(_) => true,
        Ok(ch) => ModelsClient::new(ch)
            .list(ListServedModelsRequest {})
            .await
            .is_err(),
    };
    assert!(refused);
    gw.stop().await;
}
