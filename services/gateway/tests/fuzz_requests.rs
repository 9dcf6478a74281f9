//! Bounded fuzzing of the gateway's request validation through its public gRPC surface (a real
//! gateway on 127.0.0.1:0 over librdkafka's mock cluster and a stand-in engine): random
//! Forecast, GetLatest, BatchGetLatest, Watch and Ingest requests never crash the gateway, a
//! request with a malformed field is INVALID_ARGUMENT, and no refusal is INTERNAL or UNKNOWN.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::Config;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use seer_gateway::{Gateway, GatewayConfig, MAX_BATCH_IDS};
use seer_proto::v1::engine_server::{Engine, EngineServer};
use seer_proto::v1::forecasts_client::ForecastsClient;
use seer_proto::v1::{
    BatchGetLatestRequest, Forecast, ForecastBatchRequest, ForecastBatchResponse, ForecastRequest,
    GetLatestRequest, IngestRequest, ListModelsRequest, ListModelsResponse, ModelInfo, Observation,
    SeriesWindow, WatchRequest,
};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const HOUR: i64 = 3600;
const T0: i64 = 1_700_000_000;

fn config() -> Config {
    Config {
        // Bounded for CI; PROPTEST_CASES=10000 digs deeper locally.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        // Failures are added to the fixed cases below instead of regressions files in src.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Forecasts the last finite value for `horizon` steps and judges nothing: what reaches it is
/// what the gateway let through.
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
            ..Default::default()
        },
        ModelInfo {
            name: "tcn".into(),
            kind: "tcn".into(),
            version: "t1".into(),
            context_length: 8,
            horizon: 4,
            freq_seconds: HOUR,
            ..Default::default()
        },
    ]
}

#[tonic::async_trait]
impl Engine for FakeEngine {
    async fn forecast(
        &self,
        req: tonic::Request<ForecastBatchRequest>,
    ) -> Result<tonic::Response<ForecastBatchResponse>, Status> {
        let req = req.into_inner();
        let Some(info) = models().into_iter().find(|m| m.name == req.model) else {
            return Err(Status::not_found("unknown model"));
        };
        let forecasts = req
            .windows
            .into_iter()
            .map(|w| Forecast {
                series_id: w.series_id,
                model: info.name.clone(),
                model_version: info.version.clone(),
                mean: vec![
                    w.values
                        .iter()
                        .rev()
                        .copied()
                        .find(|v| v.is_finite())
                        .unwrap_or(0.0);
                    req.horizon as usize
                ],
                ..Default::default()
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
    ) -> Result<tonic::Response<ListModelsResponse>, Status> {
        Ok(tonic::Response::new(ListModelsResponse {
            models: models(),
        }))
    }
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    channel: Channel,
    // The gateway lives as long as the test binary.
    _shutdown: CancellationToken,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // Leaked: a MockCluster is not Send, so no static may hold it, and it must outlive
        // every case.
        let mock: &'static MockCluster<'static, DefaultProducerContext> =
            Box::leak(Box::new(MockCluster::new(1).unwrap()));
        mock.create_topic("obs", 1, 1).unwrap();
        mock.create_topic("fc", 1, 1).unwrap();
        mock.create_topic("models", 1, 1).unwrap();
        let bootstrap = mock.bootstrap_servers();
        let shutdown = CancellationToken::new();
        let channel = rt.block_on(async {
            let engine = start_engine().await;
            let config = GatewayConfig {
                kafka: seer_runtime::KafkaConfig::with_brokers(&bootstrap),
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
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let registry = prometheus::Registry::new();
            let gateway = Gateway::start(config, &registry, shutdown.clone()).unwrap();
            tokio::spawn(gateway.serve(listener, seer_runtime::Readiness::default()));
            let channel = Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect_lazy();
            wait_serving(channel.clone()).await;
            channel
        });
        Fixture {
            rt,
            channel,
            _shutdown: shutdown,
        }
    })
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

async fn wait_serving(channel: Channel) {
    let mut health = HealthClient::new(channel);
    let start = Instant::now();
    loop {
        let status = health
            .check(HealthCheckRequest {
                service: "seer.v1.Forecasts".into(),
            })
            .await
            .map(|r| r.into_inner().status);
        if status.is_ok_and(|s| s == ServingStatus::Serving as i32) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "not serving");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn client() -> ForecastsClient<Channel> {
    ForecastsClient::new(fixture().channel.clone())
}

/// A refusal is the caller's fault or the service's state, never an unexplained failure.
fn refused_sensibly(s: &Status) -> Result<(), TestCaseError> {
    prop_assert!(
        !matches!(
            s.code(),
            Code::Internal | Code::Unknown | Code::DataLoss | Code::Unimplemented
        ),
        "{:?}: {}",
        s.code(),
        s.message()
    );
    prop_assert!(
        !s.message().trim().is_empty(),
        "{:?} without a message",
        s.code()
    );
    Ok(())
}

fn series_id() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z]{1,4}",
        1 => Just(String::new()),
        1 => Just(" \t\n".to_string()),
        2 => "\\PC{0,16}",
    ]
}

fn level() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => proptest::sample::select(vec![0.1, 0.5, 0.9]),
        1 => Just(f64::NAN),
        1 => Just(-0.1),
        1 => Just(0.0),
        1 => Just(1.0),
        1 => Just(1.5),
        1 => Just(f64::INFINITY),
        1 => any::<f64>(),
    ]
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => -100.0f64..100.0,
        2 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(1e308),
        1 => any::<f64>(),
    ]
}

fn timestamp() -> impl Strategy<Value = Option<prost_types::Timestamp>> {
    prop_oneof![
        6 => Just(T0),
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => any::<i64>(),
    ]
    .prop_flat_map(|seconds| {
        prop_oneof![
            8 => Just(Some(prost_types::Timestamp { seconds, nanos: 0 })),
            1 => any::<i32>().prop_map(move |nanos| Some(prost_types::Timestamp { seconds, nanos })),
            1 => Just(None),
        ]
    })
}

fn history() -> impl Strategy<Value = Option<SeriesWindow>> {
    let window = (
        series_id(),
        timestamp(),
        prop_oneof![12 => Just(HOUR), 1 => Just(0i64), 1 => Just(-1i64), 1 => any::<i64>()],
        prop_oneof![
            // Mostly windows the gateway must pass on, so cases reach the engine call.
            6 => proptest::collection::vec(prop_oneof![9 => -100.0f64..100.0, 1 => Just(f64::NAN)], 1..24),
            2 => proptest::collection::vec(value(), 0..24),
            1 => (value(), 5_000usize..20_000).prop_map(|(v, n)| vec![v; n]),
        ],
        any::<bool>(),
    )
        .prop_map(
            |(series_id, start, freq_seconds, values, partial)| SeriesWindow {
                series_id,
                start,
                freq_seconds,
                freq_months: 0,
                covariates: Vec::new(),
                values,
                partial,
            },
        );
    prop_oneof![4 => window.prop_map(Some), 1 => Just(None)]
}

fn forecast_request() -> impl Strategy<Value = ForecastRequest> {
    (
        series_id(),
        history(),
        prop_oneof![
            8 => 1u32..6,
            1 => Just(0u32),
            1 => Just(10_000u32),
            1 => Just(10_001u32),
            1 => Just(u32::MAX),
            1 => any::<u32>(),
        ],
        prop_oneof![
            4 => Just(Vec::new()),
            3 => proptest::sample::subsequence(vec![0.1, 0.5, 0.9], 1..=3),
            1 => proptest::collection::vec(level(), 1..4),
            1 => level().prop_map(|q| vec![q, q]),
        ],
        prop_oneof![4 => Just(0u32), 1 => any::<u32>()],
        any::<bool>(),
        prop_oneof![
            3 => Just(String::new()),
            2 => Just("fake".to_string()),
            1 => Just("tcn".to_string()),
            1 => "\\PC{0,8}",
        ],
        any::<u64>(),
    )
        .prop_map(
            |(series_id, history, horizon, quantiles, num_samples, return_samples, model, seed)| {
                ForecastRequest {
                    series_id,
                    history,
                    horizon,
                    quantiles,
                    num_samples,
                    return_samples,
                    model,
                    seed,
                }
            },
        )
}

/// The field the gateway must refuse the request for before asking any engine, if any.
fn malformed_field(r: &ForecastRequest) -> Option<&'static str> {
    if r.horizon == 0 {
        return Some("horizon");
    }
    if r.quantiles.iter().any(|q| !(*q > 0.0 && *q < 1.0)) {
        return Some("quantiles");
    }
    match &r.history {
        Some(h) => {
            let id = if h.series_id.trim().is_empty() {
                &r.series_id
            } else {
                &h.series_id
            };
            if id.trim().is_empty() {
                Some("series_id")
            } else if h.values.is_empty() || h.values.iter().any(|v| v.is_infinite()) {
                Some("history.values")
            } else if h.freq_seconds <= 0 {
                Some("history.freq_seconds")
            } else if h.start.is_none() {
                Some("history.start")
            } else {
                None
            }
        }
        None if r.series_id.trim().is_empty() => Some("series_id"),
        None => None,
    }
}

fn check_forecast(req: ForecastRequest) -> Result<(), TestCaseError> {
    let malformed = malformed_field(&req);
    let what = format!("{req:?}");
    let result = fixture()
        .rt
        .block_on(async { client().forecast(req).await });
    match result {
        Ok(resp) => {
            prop_assert!(
                malformed.is_none(),
                "accepted a bad {:?}: {}",
                malformed,
                what
            );
            prop_assert!(resp.into_inner().forecast.is_some());
        }
        Err(s) => {
            refused_sensibly(&s)?;
            if let Some(field) = malformed {
                prop_assert_eq!(
                    s.code(),
                    Code::InvalidArgument,
                    "{}: {}",
                    field,
                    s.message()
                );
                prop_assert!(s.message().starts_with(field), "{}: {}", field, s.message());
            }
        }
    }
    Ok(())
}

fn observation() -> impl Strategy<Value = Observation> {
    (
        series_id(),
        timestamp(),
        value(),
        proptest::collection::hash_map("\\PC{0,4}", value(), 0..3),
    )
        .prop_map(|(series_id, timestamp, value, features)| Observation {
            series_id,
            timestamp,
            value,
            features,
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_forecast_requests_are_answered_or_refused_for_a_reason(req in forecast_request()) {
        check_forecast(req)?;
    }

    #[test]
    fn random_lookups_are_answered_or_refused_for_a_reason(
        id in series_id(),
        ids in prop_oneof![
            8 => proptest::collection::vec(series_id(), 0..6),
            1 => Just(vec!["a".to_string(); MAX_BATCH_IDS + 1]),
        ],
    ) {
        let f = fixture();
        let blank = id.trim().is_empty();
        let r = f.rt.block_on(async { client().get_latest(GetLatestRequest { series_id: id }).await });
        match r {
            Ok(_) => prop_assert!(!blank),
            Err(s) => {
                refused_sensibly(&s)?;
                prop_assert_eq!(s.code(), if blank { Code::InvalidArgument } else { Code::NotFound });
            }
        }
        let bad = ids.is_empty() || ids.len() > MAX_BATCH_IDS || ids.iter().any(|i| i.trim().is_empty());
        let r = f.rt.block_on(async {
            client().batch_get_latest(BatchGetLatestRequest { series_ids: ids.clone() }).await
        });
        match r {
            Ok(resp) => {
                prop_assert!(!bad);
                prop_assert_eq!(resp.into_inner().not_found.len(), ids.len());
            }
            Err(s) => {
                refused_sensibly(&s)?;
                prop_assert!(bad);
                prop_assert_eq!(s.code(), Code::InvalidArgument);
            }
        }
        let watch = WatchRequest { series_ids: ids, prefix: "p".into(), send_current: true };
        let r = f.rt.block_on(async { client().watch(watch).await });
        match r {
            // Dropped at once: the gateway's watcher ends when the client goes away.
            Ok(stream) => drop(stream),
            Err(s) => {
                refused_sensibly(&s)?;
                prop_assert_eq!(s.code(), Code::InvalidArgument);
            }
        }
    }

    #[test]
    fn random_ingest_streams_are_taken_or_refused_for_a_reason(
        batches in proptest::collection::vec(proptest::collection::vec(observation(), 0..4), 0..3),
    ) {
        let bad = batches.iter().flatten().any(|o| {
            o.series_id.trim().is_empty()
                || o.timestamp.is_none()
                || !o.value.is_finite()
                || o.features.values().any(|v| !v.is_finite())
        });
        let requests: Vec<IngestRequest> = batches
            .into_iter()
            .map(|observations| IngestRequest { observations })
            .collect();
        let r = fixture()
            .rt
            .block_on(async { client().ingest(tokio_stream::iter(requests)).await });
        match r {
            Ok(_) => prop_assert!(!bad),
            Err(s) => {
                refused_sensibly(&s)?;
                prop_assert!(bad, "{:?}: {}", s.code(), s.message());
                prop_assert_eq!(s.code(), Code::InvalidArgument);
            }
        }
    }
}

/// Fixed cases at the edges, so they run on every build whatever the generator draws.
#[test]
fn edge_forecast_requests_are_answered_or_refused_for_a_reason() {
    let window = |seconds: i64, freq_seconds: i64, values: Vec<f64>| SeriesWindow {
        series_id: "a".into(),
        start: Some(prost_types::Timestamp { seconds, nanos: 0 }),
        freq_seconds,
        freq_months: 0,
        covariates: Vec::new(),
        values,
        partial: false,
    };
    let req = |horizon: u32, quantiles: Vec<f64>, history: Option<SeriesWindow>| ForecastRequest {
        series_id: "a".into(),
        history,
        horizon,
        quantiles,
        ..Default::default()
    };
    let ok = || Some(window(T0, HOUR, vec![1.0, 2.0]));
    let cases = [
        req(0, vec![], ok()),
        req(u32::MAX, vec![], ok()),
        req(10_000, vec![], ok()),
        req(10_001, vec![], ok()),
        req(1, vec![f64::NAN], ok()),
        req(1, vec![0.5, 0.5], ok()),
        req(1, vec![-0.0], ok()),
        req(1, vec![], Some(window(i64::MAX, HOUR, vec![1.0]))),
        req(1, vec![], Some(window(i64::MIN, i64::MAX, vec![1.0, 2.0]))),
        req(1, vec![], Some(window(T0, HOUR, vec![f64::NAN; 3]))),
        req(1, vec![], Some(window(T0, HOUR, vec![f64::NEG_INFINITY]))),
        req(1, vec![], Some(window(T0, 0, vec![1.0]))),
        req(1, vec![], None),
    ];
    for r in cases {
        let what = format!("{r:?}");
        check_forecast(r).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}
