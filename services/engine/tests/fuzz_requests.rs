//! Bounded fuzzing of the engine's request validation through its public entry point,
//! `EngineService::forecast_batch` (what the gRPC handler calls): random requests never panic,
//! and a refused request is INVALID_ARGUMENT (a malformed field) or NOT_FOUND (an unknown model
//! or version), never INTERNAL or UNKNOWN. Runs on the software adapter like the other engine
//! tests.

mod common;

use std::sync::{Arc, OnceLock};

use common::{T0, ctx, models_dir};
use proptest::prelude::*;
use proptest::test_runner::Config;
use seer_engine::{EngineConfig, EngineMetrics, EngineService, ModelRegistry, status_of};
use seer_proto::v1::{ForecastBatchRequest, SeriesWindow};
use tonic::Code;

fn config() -> Config {
    Config {
        // Bounded for CI (each case may run a model on the software adapter);
        // PROPTEST_CASES=10000 digs deeper locally.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(192),
        // Failures are added to the cases below instead of regressions files in the source tree.
        failure_persistence: None,
        ..Config::default()
    }
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    service: EngineService,
    // Holds the checkpoints the registry was loaded from.
    _dir: common::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = models_dir();
        let registry = ModelRegistry::load(&ctx(), Some(dir.path()), Some("lstm")).unwrap();
        let metrics = EngineMetrics::new(&prometheus::Registry::new()).unwrap();
        let service =
            EngineService::new(ctx(), Arc::new(registry), &EngineConfig::default(), metrics)
                .unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Fixture {
            rt,
            service,
            _dir: dir,
        }
    })
}

/// Sends `req` and checks the answer: per-window results for every window, or a refusal with
/// a client-side code and a message naming what was wrong.
fn check(req: ForecastBatchRequest) -> Result<(), TestCaseError> {
    let f = fixture();
    let windows = req.windows.len();
    match f.rt.block_on(f.service.forecast_batch(req, None)) {
        Ok(resp) => {
            prop_assert_eq!(resp.forecasts.len() + resp.errors.len(), windows);
            for fc in &resp.forecasts {
                prop_assert_eq!(fc.timestamps.len(), fc.mean.len());
            }
        }
        Err(e) => {
            let status = status_of(&e);
            prop_assert!(
                matches!(status.code(), Code::InvalidArgument | Code::NotFound),
                "{:?}: {}",
                status.code(),
                status.message()
            );
            prop_assert!(!status.message().trim().is_empty());
        }
    }
    Ok(())
}

fn model() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("lstm".to_string()),
        2 => Just("tcn".to_string()),
        2 => Just("deepar".to_string()),
        1 => Just("gapfill".to_string()),
        3 => Just("seasonal_naive".to_string()),
        1 => Just(String::new()),
        1 => "\\PC{0,8}",
    ]
}

/// Horizons of every kind; the longest valid ones only for the seasonal naive, which runs on the
/// CPU (a 10 000-step recurrent forecast on the software adapter would take the whole budget).
fn horizon(model: &str) -> BoxedStrategy<u32> {
    let common = prop_oneof![
        4 => 0u32..10,
        1 => Just(10_001u32),
        1 => Just(u32::MAX),
        1 => 10_001u32..,
    ];
    if model == "seasonal_naive" {
        prop_oneof![3 => common, 1 => Just(10_000u32), 1 => 0u32..=10_000].boxed()
    } else {
        common.boxed()
    }
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
        1 => Just(f64::MIN_POSITIVE),
        1 => Just(1.0 - f64::EPSILON),
        1 => any::<f64>(),
        2 => 0.0f64..1.0,
    ]
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => -100.0f64..100.0,
        2 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(1e308),
        1 => Just(-1e308),
        1 => Just(f64::MIN_POSITIVE),
        1 => Just(0.0),
        1 => any::<f64>(),
    ]
}

fn values() -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![
        8 => proptest::collection::vec(value(), 0..40),
        // A huge window: only its tail reaches a model, all of it the seasonal naive.
        1 => (value(), 10_000usize..30_000).prop_map(|(v, n)| vec![v; n]),
        1 => proptest::collection::vec(Just(f64::NAN), 1..20),
    ]
}

fn seconds() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => Just(T0),
        1 => Just(0i64),
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        // The edges of what a protobuf Timestamp holds (0001-01-01 to 9999-12-31).
        1 => Just(-62_135_596_800i64),
        1 => Just(253_402_300_799i64),
        1 => Just(253_402_300_799i64 - 3600 * 5),
        1 => any::<i64>(),
    ]
}

fn freq() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => Just(3600i64),
        1 => Just(86_400i64),
        1 => Just(1i64),
        1 => Just(0i64),
        1 => Just(-3600i64),
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
        1 => any::<i64>(),
    ]
}

fn window() -> impl Strategy<Value = SeriesWindow> {
    (
        prop_oneof![
            6 => "[a-z]{1,4}",
            1 => Just(String::new()),
            1 => Just(" \t".to_string()),
            1 => "\\PC{0,12}",
        ],
        prop_oneof![
            8 => (seconds(), prop_oneof![4 => Just(0i32), 1 => any::<i32>()])
                .prop_map(|(seconds, nanos)| Some(prost_types::Timestamp { seconds, nanos })),
            1 => Just(None),
        ],
        freq(),
        values(),
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
        )
}

/// Anything, field by field: most of these fail validation early.
fn hostile_request() -> impl Strategy<Value = ForecastBatchRequest> {
    model().prop_flat_map(|model| {
        (
            horizon(&model),
            Just(model),
            prop_oneof![6 => Just(String::new()), 1 => "\\PC{0,8}"],
            quantiles(),
            num_samples(),
            proptest::collection::vec(window(), 0..4),
            any::<bool>(),
            any::<u64>(),
        )
            .prop_map(
                |(horizon, model, model_version, quantiles, num_samples, windows, ret, seed)| {
                    ForecastBatchRequest {
                        model,
                        model_version,
                        windows,
                        horizon,
                        quantiles,
                        num_samples,
                        return_samples: ret,
                        seed,
                    }
                },
            )
    })
}

fn quantiles() -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![
        3 => Just(Vec::new()),
        2 => proptest::collection::vec(level(), 1..5),
        // Duplicates.
        1 => level().prop_map(|q| vec![q, q]),
    ]
}

fn num_samples() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => Just(0u32),
        2 => 1u32..20,
        1 => Just(100_001u32),
        1 => Just(u32::MAX),
    ]
}

/// One field of an otherwise valid request made hostile.
#[derive(Debug, Clone)]
enum Defect {
    Horizon(u32),
    Quantiles(Vec<f64>),
    NumSamples(u32),
    Version(String),
    Window(usize, SeriesWindow),
    Values(usize, Vec<f64>),
    Start(usize, i64),
    Freq(usize, i64),
    ExtraWindow(SeriesWindow),
}

fn defect(model: &str) -> impl Strategy<Value = Defect> {
    prop_oneof![
        horizon(model).prop_map(Defect::Horizon),
        quantiles().prop_map(Defect::Quantiles),
        num_samples().prop_map(Defect::NumSamples),
        "\\PC{0,8}".prop_map(Defect::Version),
        (any::<usize>(), window()).prop_map(|(i, w)| Defect::Window(i, w)),
        (any::<usize>(), values()).prop_map(|(i, v)| Defect::Values(i, v)),
        (any::<usize>(), seconds()).prop_map(|(i, t)| Defect::Start(i, t)),
        (any::<usize>(), freq()).prop_map(|(i, f)| Defect::Freq(i, f)),
        window().prop_map(Defect::ExtraWindow),
    ]
}

/// A request every check passes, then up to two defects: most cases get past validation
/// into routing, the seasonal naive and the models.
fn near_valid_request() -> impl Strategy<Value = ForecastBatchRequest> {
    let valid_window = (
        "[a-z]{1,4}",
        proptest::collection::vec(
            prop_oneof![9 => -100.0f64..100.0, 1 => Just(f64::NAN)],
            1..40,
        ),
    )
        .prop_map(|(id, values)| SeriesWindow {
            series_id: id,
            ..window_at(T0, 3600, values)
        });
    proptest::sample::select(vec!["lstm", "tcn", "deepar", "seasonal_naive", ""]).prop_flat_map(
        move |model| {
            (
                Just(model.to_string()),
                // The TCN checkpoint predicts 4 steps; 0 is each model's default.
                0u32..=4,
                proptest::sample::subsequence(vec![0.1, 0.5, 0.9], 0..=3),
                0u32..8,
                proptest::collection::vec(valid_window.clone(), 1..4),
                proptest::collection::vec(defect(model), 0..3),
                any::<u64>(),
            )
                .prop_map(
                    |(model, horizon, quantiles, num_samples, windows, defects, seed)| {
                        let mut r = ForecastBatchRequest {
                            model,
                            windows,
                            horizon,
                            quantiles,
                            num_samples,
                            seed,
                            ..Default::default()
                        };
                        for d in defects {
                            let n = r.windows.len();
                            match d {
                                Defect::Horizon(h) => r.horizon = h,
                                Defect::Quantiles(q) => r.quantiles = q,
                                Defect::NumSamples(k) => r.num_samples = k,
                                Defect::Version(v) => r.model_version = v,
                                Defect::Window(i, w) => r.windows[i % n] = w,
                                Defect::Values(i, v) => r.windows[i % n].values = v,
                                Defect::Start(i, t) => {
                                    r.windows[i % n].start = Some(prost_types::Timestamp {
                                        seconds: t,
                                        nanos: 0,
                                    })
                                }
                                Defect::Freq(i, f) => r.windows[i % n].freq_seconds = f,
                                Defect::ExtraWindow(w) => r.windows.push(w),
                            }
                        }
                        r
                    },
                )
        },
    )
}

fn request() -> impl Strategy<Value = ForecastBatchRequest> {
    prop_oneof![1 => hostile_request(), 2 => near_valid_request()]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_requests_are_answered_or_refused_as_the_callers_fault(req in request()) {
        check(req)?;
    }
}

fn window_at(seconds: i64, freq_seconds: i64, values: Vec<f64>) -> SeriesWindow {
    SeriesWindow {
        series_id: "a".into(),
        start: Some(prost_types::Timestamp { seconds, nanos: 0 }),
        freq_seconds,
        freq_months: 0,
        covariates: Vec::new(),
        values,
        partial: false,
    }
}

/// Fixed cases at the edges, kept so they run on every build whatever the generator draws.
#[test]
fn edge_requests_are_answered_or_refused_as_the_callers_fault() {
    let base = |model: &str, windows: Vec<SeriesWindow>| ForecastBatchRequest {
        model: model.into(),
        windows,
        ..Default::default()
    };
    let ok = || window_at(T0, 3600, (0..20).map(f64::from).collect());
    let mut cases = vec![
        base("lstm", vec![]),
        base("lstm", vec![window_at(i64::MAX, 3600, vec![1.0])]),
        base("lstm", vec![window_at(i64::MIN, 3600, vec![1.0])]),
        base("lstm", vec![window_at(T0, i64::MAX, vec![1.0, 2.0])]),
        base("lstm", vec![window_at(253_402_300_799, 3600, vec![1.0])]),
        base("seasonal_naive", vec![window_at(T0, 1, vec![f64::NAN; 5])]),
        base(
            "seasonal_naive",
            vec![window_at(T0, 86_400, vec![1e308, -1e308, 1e308])],
        ),
        base("lstm", vec![window_at(T0, 3600, vec![1e308; 16])]),
        base("deepar", vec![window_at(T0, 3600, vec![-1e308; 16])]),
        base(
            "tcn",
            vec![window_at(T0, 3600, vec![f64::MIN_POSITIVE; 16])],
        ),
        base("gapfill", vec![ok()]),
    ];
    for (horizon, quantiles) in [
        (u32::MAX, vec![]),
        (10_001, vec![]),
        (1, vec![f64::NAN]),
        (1, vec![0.5, 0.5]),
        (1, vec![-0.0]),
        (1, vec![1.0]),
    ] {
        let mut r = base("lstm", vec![ok()]);
        r.horizon = horizon;
        r.quantiles = quantiles;
        cases.push(r);
    }
    let mut r = base("deepar", vec![ok()]);
    r.num_samples = u32::MAX;
    cases.push(r);
    for req in cases {
        let what = format!("{req:?}");
        check(req).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}
