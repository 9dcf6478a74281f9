//! The Engine over gRPC: a real tonic client against an engine on 127.0.0.1:0, on the adapter
//! `SEER_ADAPTER` selects (software in CI).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{
    HOUR, T0, TempDir, config, ctx, request, start, start_in, start_service, values, window,
};
use seer_core::naive::{seasonal_naive, seasonal_naive_quantiles};
use seer_engine::{EngineConfig, SEASONAL_NAIVE};
use seer_model::{History, Model, PredictOptions, Prediction};
use seer_proto::convert::seconds;
use seer_proto::v1::{ForecastBatchRequest, ListModelsRequest, ModelInfo};
use tonic::Code;

/// The engine's ListModels answer, by model name.
async fn infos(
    client: &mut seer_proto::v1::engine_client::EngineClient<tonic::transport::Channel>,
) -> HashMap<String, ModelInfo> {
    let list = client
        .list_models(ListModelsRequest {})
        .await
        .unwrap()
        .into_inner()
        .models;
    list.into_iter().map(|m| (m.name.clone(), m)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecasts_a_batch_with_each_checkpoint() {
    let engine = start(EngineConfig::default()).await;
    let mut client = engine.client().await;

    let models = infos(&mut client).await;
    let mut names: Vec<&String> = models.keys().collect();
    names.sort();
    assert_eq!(
        names,
        ["deepar", "gapfill", "lstm", "seasonal_naive", "tcn"]
    );
    let lstm = &models["lstm"];
    assert!(lstm.is_default);
    assert_eq!(
        (
            lstm.kind.as_str(),
            lstm.context_length,
            lstm.horizon,
            lstm.freq_seconds
        ),
        ("lstm", 8, 4, HOUR)
    );
    assert_eq!(lstm.version.len(), 12);
    assert!(lstm.version.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(lstm.version, models["deepar"].version);
    assert_eq!(models["gapfill"].kind, "bilstm");
    // the window each model needs: the context, plus DeepAR's longest lag (2)
    assert_eq!(lstm.history_points, 8);
    assert_eq!(models["deepar"].history_points, 10);
    let naive = &models[SEASONAL_NAIVE];
    assert_eq!(
        (naive.version.as_str(), naive.is_default),
        ("builtin", false)
    );
    assert_eq!(models.values().filter(|m| m.is_default).count(), 1);

    // Three windows; the second has missing points at its end, the third is marked partial.
    let mut w2 = values(20, 5.0);
    w2[18] = f64::NAN;
    w2[19] = f64::NAN;
    let mut w3 = window("c", values(12, 9.0));
    w3.partial = true;
    let windows = vec![window("a", values(20, 0.0)), window("b", w2.clone()), w3];
    // empty model name: the default (lstm)
    let resp = client
        .forecast(request("", windows.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(resp.errors.is_empty(), "{:?}", resp.errors);
    assert_eq!(resp.forecasts.len(), 3);
    let ids: Vec<&str> = resp
        .forecasts
        .iter()
        .map(|f| f.series_id.as_str())
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (f, w) in resp.forecasts.iter().zip(&windows) {
        assert_eq!(f.model, "lstm");
        assert_eq!(f.model_version, lstm.version);
        let issued = seconds(f.issued_at.as_ref().unwrap());
        assert!((issued - now).abs() < 60, "{issued} vs {now}");
        let last = T0 + (w.values.len() as i64 - 1) * HOUR;
        let ts: Vec<i64> = f.timestamps.iter().map(seconds).collect();
        assert_eq!(ts, (1..=4).map(|k| last + k * HOUR).collect::<Vec<_>>());
        assert_eq!(f.mean.len(), 4);
        let levels: Vec<f64> = f.quantiles.iter().map(|q| q.level).collect();
        assert_eq!(levels, [0.1, 0.5, 0.9]);
        assert!(f.quantiles.iter().all(|q| q.values.len() == 4));
        assert!(f.samples.is_empty());
        assert_eq!(f.partial_window, w.partial);
        assert_eq!(
            f.observed_points as usize,
            w.values.iter().filter(|v| v.is_finite()).count()
        );
    }
    // latest observation: the newest finite value, not the window's end
    assert_eq!(
        seconds(resp.forecasts[1].latest_observation.as_ref().unwrap()),
        T0 + 17 * HOUR
    );
    assert_eq!(
        seconds(resp.forecasts[0].latest_observation.as_ref().unwrap()),
        T0 + 19 * HOUR
    );

    // The same numbers as Model::predict on the same histories.
    let dir = engine.dir.as_ref().unwrap().path().join("lstm");
    let model = Model::load(&ctx(), &dir).unwrap();
    let histories: Vec<History> = windows
        .iter()
        .map(|w| {
            History::new(
                w.series_id.clone(),
                (0..w.values.len() as i64).map(|k| T0 + k * HOUR).collect(),
                w.values.clone(),
            )
        })
        .collect();
    let direct = model
        .predict(&ctx(), &histories, &PredictOptions::default())
        .unwrap();
    for (p, f) in direct.iter().zip(&resp.forecasts) {
        let Prediction::Forecast(d) = p else {
            panic!("{p:?}")
        };
        assert_eq!(d.mean, f.mean);
        assert_eq!(d.quantiles[2].1, f.quantiles[2].values);
    }

    // DeepAR with sample paths and its own levels
    let resp = client
        .forecast(ForecastBatchRequest {
            model: "deepar".into(),
            windows: windows.clone(),
            horizon: 6,
            quantiles: vec![0.25, 0.75],
            num_samples: 16,
            return_samples: true,
            seed: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.forecasts.len(), 3);
    for f in &resp.forecasts {
        assert_eq!(f.model, "deepar");
        assert_eq!(f.model_version, models["deepar"].version);
        assert_eq!(f.timestamps.len(), 6);
        assert_eq!(f.samples.len(), 16);
        assert!(f.samples.iter().all(|p| p.values.len() == 6));
        let levels: Vec<f64> = f.quantiles.iter().map(|q| q.level).collect();
        assert_eq!(levels, [0.25, 0.75]);
        assert!(f.mean.iter().all(|v| v.is_finite()));
    }
    // samples only when asked for; the model's default paths
    let resp = client
        .forecast(request("deepar", windows.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(resp.forecasts.iter().all(|f| f.samples.is_empty()));
    assert!(resp.forecasts.iter().all(|f| f.quantiles.len() == 3));

    // TCN at its configured horizon
    let resp = client
        .forecast(request("tcn", windows.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.forecasts.len(), 3);
    assert!(resp.forecasts.iter().all(|f| f.mean.len() == 4));

    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_windows_fall_back_to_seasonal_naive() {
    let engine = start(EngineConfig::default()).await;
    let mut client = engine.client().await;
    // lstm reads 8 points: fewer than 4 observed in them is a cold start
    let long = values(20, 0.0);
    let short = vec![4.0, 5.0, 7.0];
    let mut sparse = values(20, 3.0);
    for v in &mut sparse[13..19] {
        *v = f64::NAN; // 2 of the last 8 observed
    }
    let windows = vec![
        window("long", long),
        window("short", short.clone()),
        window("empty", vec![f64::NAN; 5]),
        window("none", vec![]),
        window("sparse", sparse.clone()),
    ];
    let resp = client
        .forecast(request("lstm", windows))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = resp
        .forecasts
        .iter()
        .map(|f| f.series_id.as_str())
        .collect();
    assert_eq!(ids, ["long", "short", "sparse"]);
    let models: Vec<&str> = resp.forecasts.iter().map(|f| f.model.as_str()).collect();
    assert_eq!(models, ["lstm", SEASONAL_NAIVE, SEASONAL_NAIVE]);
    let errs: Vec<&str> = resp.errors.iter().map(|e| e.series_id.as_str()).collect();
    assert_eq!(errs, ["empty", "none"]);
    assert!(
        resp.errors.iter().all(|e| e.reason.contains("no observed")),
        "{:?}",
        resp.errors
    );

    let f = &resp.forecasts[1];
    assert_eq!(f.model_version, "builtin");
    assert_eq!(f.observed_points, 3);
    // hourly: season 24, longer than the window, so the naive (lag 1) method
    assert_eq!(f.mean, seasonal_naive(&short, 24, 4).unwrap());
    let q = seasonal_naive_quantiles(&short, 24, 4, &[0.1, 0.5, 0.9]).unwrap();
    for (i, level) in f.quantiles.iter().enumerate() {
        let expected: Vec<f64> = q.iter().map(|step| step[i]).collect();
        assert_eq!(level.values, expected);
    }
    let ts: Vec<i64> = f.timestamps.iter().map(seconds).collect();
    assert_eq!(ts, (3..7).map(|k| T0 + k * HOUR).collect::<Vec<_>>());
    let sparse_f = &resp.forecasts[2];
    assert_eq!(sparse_f.mean, seasonal_naive(&sparse, 24, 4).unwrap());

    // seasonal_naive by name: every window, horizon from the default model
    let resp = client
        .forecast(request(SEASONAL_NAIVE, vec![window("x", values(50, 0.0))]))
        .await
        .unwrap()
        .into_inner();
    let f = &resp.forecasts[0];
    assert_eq!((f.model.as_str(), f.mean.len()), (SEASONAL_NAIVE, 4));
    // 50 points ≥ a day: the value one day earlier
    let v = values(50, 0.0);
    assert_eq!(f.mean, v[26..30].to_vec());

    // the fallback counter
    assert_eq!(fallbacks(&engine), [("short_window".to_string(), 2.0)]);
    engine.stop().await;
}

/// `seer_engine_fallback_total` by reason.
fn fallbacks(engine: &common::Engine) -> Vec<(String, f64)> {
    engine
        .metrics
        .gather()
        .into_iter()
        .find(|m| m.name() == "seer_engine_fallback_total")
        .unwrap()
        .get_metric()
        .iter()
        .map(|m| {
            (
                m.get_label()[0].value().to_string(),
                m.get_counter().value(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_shorter_than_deepars_context_and_lags_is_marked_partial() {
    let engine = start(EngineConfig::default()).await;
    let mut client = engine.client().await;
    // deepar reads context 8 + its longest lag 2 = 10 points
    let windows = vec![
        window("full", values(10, 0.0)),
        window("short", values(9, 0.0)),
    ];
    let resp = client
        .forecast(request("deepar", windows))
        .await
        .unwrap()
        .into_inner();
    let partial: Vec<(&str, &str, bool)> = resp
        .forecasts
        .iter()
        .map(|f| (f.series_id.as_str(), f.model.as_str(), f.partial_window))
        .collect();
    assert_eq!(
        partial,
        [("full", "deepar", false), ("short", "deepar", true)]
    );
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_the_checkpoint_leaves_to_seasonal_naive_are_answered_by_it() {
    let dir = TempDir::new("selected");
    let mut c = config(seer_model::ModelKind::Lstm);
    c.seasonal_naive_series = vec!["left".into()];
    let weights = seer_model::checkpoint::init_weights(&c, 7).unwrap();
    seer_model::checkpoint::save(&dir.path().join("lstm"), &c, &weights).unwrap();
    let engine = start_in(EngineConfig::default(), dir).await;
    let mut client = engine.client().await;
    let windows = vec![
        window("kept", values(20, 0.0)),
        window("left", values(20, 1.0)),
    ];
    let resp = client
        .forecast(request("lstm", windows))
        .await
        .unwrap()
        .into_inner();
    let models: Vec<(&str, &str)> = resp
        .forecasts
        .iter()
        .map(|f| (f.series_id.as_str(), f.model.as_str()))
        .collect();
    assert_eq!(models, [("kept", "lstm"), ("left", SEASONAL_NAIVE)]);
    let left = &resp.forecasts[1];
    assert_eq!(left.model_version, "builtin");
    assert_eq!(left.mean, seasonal_naive(&values(20, 1.0), 24, 4).unwrap());
    assert_eq!(fallbacks(&engine), [("baseline_better".to_string(), 1.0)]);
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_windows_are_forecast_in_calendar_steps() {
    let dir = TempDir::new("monthly");
    let mut c = config(seer_model::ModelKind::Deepar);
    c.freq = seer_model::Frequency::MONTHLY;
    c.time_features = vec![seer_core::features::TimeFeature::MonthOfYear];
    let weights = seer_model::checkpoint::init_weights(&c, 7).unwrap();
    seer_model::checkpoint::save(&dir.path().join("monthly"), &c, &weights).unwrap();
    let engine = start_in(
        EngineConfig {
            default_model: Some("monthly".into()),
            ..EngineConfig::default()
        },
        dir,
    )
    .await;
    let mut client = engine.client().await;
    let listed = infos(&mut client).await;
    let monthly = &listed["monthly"];
    assert_eq!((monthly.freq_seconds, monthly.freq_months), (0, 1));

    // two years of month ends from 2020-01-31: the leap February is the 29th
    let jan_end = 1_580_428_800;
    let month_ends = |id: &str| seer_proto::v1::SeriesWindow {
        start: Some(seer_proto::convert::timestamp(jan_end)),
        freq_seconds: 0,
        freq_months: 1,
        ..window(id, values(24, 0.0))
    };
    // 2022-01-31, 2022-02-28, 2022-03-31, 2022-04-30
    let expected = [1_643_587_200, 1_646_006_400, 1_648_684_800, 1_651_276_800];
    for model in ["monthly", SEASONAL_NAIVE] {
        let resp = client
            .forecast(request(model, vec![month_ends("m")]))
            .await
            .unwrap()
            .into_inner();
        assert!(resp.errors.is_empty(), "{model}: {:?}", resp.errors);
        let f = &resp.forecasts[0];
        assert_eq!(f.model, model);
        let steps: Vec<i64> = f.timestamps.iter().map(seconds).collect();
        assert_eq!(steps, expected, "{model}");
        assert!(
            f.quantiles
                .iter()
                .all(|q| q.values.iter().all(|v| v.is_finite())),
            "{model}: {:?}",
            f.quantiles
        );
    }
    // the seasonal naive's season is a year of months
    let resp = client
        .forecast(request(SEASONAL_NAIVE, vec![month_ends("m")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        resp.forecasts[0].mean,
        seasonal_naive(&values(24, 0.0), 12, 4).unwrap()
    );

    // an hourly window to a monthly model is that series' error
    let resp = client
        .forecast(request("monthly", vec![window("hourly", values(24, 0.0))]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.errors.len(), 1);
    assert!(
        resp.errors[0].reason.contains("spacing 1h") && resp.errors[0].reason.contains("1mo"),
        "{:?}",
        resp.errors
    );
    // both spacings set is a bad request naming the field
    let mut both = month_ends("m");
    both.freq_seconds = HOUR;
    let status = client
        .forecast(request("monthly", vec![both]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("windows[0].freq_months: "),
        "{status:?}"
    );
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn covariates_travel_with_the_window_and_a_missing_one_is_that_series_error() {
    let dir = TempDir::new("covariates");
    let mut c = config(seer_model::ModelKind::Lstm);
    c.covariates = vec![seer_model::Covariate {
        name: "temperature".into(),
        kind: seer_model::CovariateKind::KnownFuture,
        mean: 20.0,
        std: 5.0,
        dates: vec![],
    }];
    // a holiday list is computed by the model: no window carries it
    c.covariates.push(seer_model::Covariate {
        name: "holiday".into(),
        dates: vec!["2024-01-01".into(), "2024-12-25".into()],
        ..seer_model::Covariate::fitted("holiday", seer_model::CovariateKind::KnownFuture, [])
    });
    c.input_size = Some(c.derived_input_size());
    let weights = seer_model::checkpoint::init_weights(&c, 7).unwrap();
    seer_model::checkpoint::save(&dir.path().join("warm"), &c, &weights).unwrap();
    // the engine warms the model up with covariates at their mean, so it starts at all
    let engine = start_in(
        EngineConfig {
            default_model: Some("warm".into()),
            ..EngineConfig::default()
        },
        dir,
    )
    .await;
    let mut client = engine.client().await;
    let listed = infos(&mut client).await;
    let covs: Vec<(&str, &str)> = listed["warm"]
        .covariates
        .iter()
        .map(|c| (c.name.as_str(), c.kind.as_str()))
        .collect();
    assert_eq!(
        covs,
        [("temperature", "known_future"), ("holiday", "holidays")]
    );

    let with = |temps: Vec<f64>| seer_proto::v1::SeriesWindow {
        covariates: vec![seer_proto::v1::CovariateValues {
            name: "temperature".into(),
            values: temps,
        }],
        ..window("a", values(20, 0.0))
    };
    // 20 window points and the 4 forecast steps
    let forecast = |w: seer_proto::v1::SeriesWindow| {
        let mut client = client.clone();
        async move {
            client
                .forecast(request("warm", vec![w]))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let warm = forecast(with(vec![25.0; 24])).await;
    let cold = forecast(with(
        (0..24).map(|k| if k < 20 { 25.0 } else { 5.0 }).collect(),
    ))
    .await;
    assert!(warm.errors.is_empty() && cold.errors.is_empty(), "{warm:?}");
    assert_ne!(
        warm.forecasts[0].mean, cold.forecasts[0].mean,
        "the forecast steps' temperatures are read"
    );
    let short = forecast(with(vec![25.0; 22])).await;
    assert!(
        short.errors[0]
            .reason
            .contains("known-future covariate \"temperature\" has 22 values; 24 are needed"),
        "{:?}",
        short.errors
    );
    let none = forecast(window("a", values(20, 0.0))).await;
    assert!(
        none.errors[0].reason.contains(
            "reads known-future covariate \"temperature\", which the window does not carry"
        ),
        "{:?}",
        none.errors
    );
    // other covariates in the window are ignored
    let mut extra = with(vec![25.0; 24]);
    extra.covariates.push(seer_proto::v1::CovariateValues {
        name: "humidity".into(),
        values: vec![1.0],
    });
    assert_eq!(
        forecast(extra).await.forecasts[0].mean,
        warm.forecasts[0].mean
    );
    let errors = engine
        .metrics
        .gather()
        .into_iter()
        .find(|m| m.name() == "seer_engine_series_errors_total")
        .unwrap();
    let missing: f64 = errors
        .get_metric()
        .iter()
        .filter(|m| m.get_label()[0].value() == "missing_covariate")
        .map(|m| m.get_counter().value())
        .sum();
    assert_eq!(missing, 2.0);
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_name_their_field() {
    let engine = start(EngineConfig::default()).await;
    let mut client = engine.client().await;
    let ok = || request("lstm", vec![window("a", values(20, 0.0))]);
    let mut cases: Vec<(&str, ForecastBatchRequest, &str)> = Vec::new();
    cases.push(("no windows", request("lstm", vec![]), "windows"));
    let mut r = ok();
    r.windows.push(window(" ", values(20, 0.0)));
    cases.push(("empty series id", r, "windows[1].series_id"));
    let mut r = ok();
    r.windows[0].freq_seconds = 0;
    cases.push(("zero freq", r, "windows[0].freq_seconds"));
    let mut r = ok();
    r.windows[0].freq_seconds = -3600;
    cases.push(("negative freq", r, "windows[0].freq_seconds"));
    let mut r = ok();
    r.windows[0].start = None;
    cases.push(("no start", r, "windows[0].start"));
    let mut r = ok();
    r.windows[0].start = Some(seer_proto::convert::timestamp(i64::MAX - 10));
    cases.push(("overflowing start", r, "windows[0].start"));
    let mut r = ok();
    r.quantiles = vec![0.5, 1.0];
    cases.push(("quantile 1", r, "quantiles"));
    let mut r = ok();
    r.quantiles = vec![0.0];
    cases.push(("quantile 0", r, "quantiles"));
    let mut r = ok();
    r.quantiles = vec![f64::NAN];
    cases.push(("quantile NaN", r, "quantiles"));
    let mut r = ok();
    r.quantiles = vec![0.05];
    cases.push(("level the lstm was not trained for", r, "quantiles"));
    let mut r = ok();
    r.horizon = 10_001;
    cases.push(("horizon beyond MAX_HORIZON", r, "horizon"));
    let mut r = ok();
    r.model = "tcn".into();
    r.horizon = 5;
    cases.push(("horizon beyond the tcn's", r, "horizon"));
    let mut r = ok();
    r.model = "deepar".into();
    r.num_samples = 100_001;
    cases.push(("too many paths", r, "num_samples"));
    let mut r = ok();
    r.model = "gapfill".into();
    cases.push(("a model that does not forecast", r, "model"));
    for (what, req, field) in cases {
        let status = client.forecast(req).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
        assert!(
            status.message().starts_with(&format!("{field}: ")),
            "{what}: {:?}",
            status.message()
        );
    }

    let status = client.forecast(request("nope", vec![])).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("\"nope\""), "{status:?}");

    // a window on another grid than the model's is a per-series error, not a failed RPC
    let mut r = ok();
    let mut daily = window("daily", values(20, 0.0));
    daily.freq_seconds = 86_400;
    r.windows.push(daily);
    let resp = client.forecast(r).await.unwrap().into_inner();
    assert_eq!(resp.forecasts.len(), 1);
    assert_eq!(resp.errors.len(), 1);
    assert_eq!(resp.errors[0].series_id, "daily");
    assert!(
        resp.errors[0].reason.contains("spacing 1d"),
        "{:?}",
        resp.errors
    );

    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection() {
    use tonic::codegen::tokio_stream;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let engine = start(EngineConfig::default()).await;
    let channel = engine.channel().await;
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "seer.v1.Engine"] {
        let resp = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(resp.status(), ServingStatus::Serving, "{service:?}");
    }
    let status = health
        .check(HealthCheckRequest {
            service: "seer.v1.Nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let mut reflection = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("{resp:?}")
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"seer.v1.Engine"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");

    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_engine_answers_resource_exhausted() {
    let config = EngineConfig {
        max_concurrent: 1,
        queue_timeout: Duration::from_millis(100),
        ..Default::default()
    };
    let (engine, service) = start_service(&config).await;
    let mut client = engine.client().await;
    let req = || request("lstm", vec![window("a", values(20, 0.0))]);

    // the one slot taken (as by a long batch)
    let held = service.permits().acquire_owned().await.unwrap();
    let t = Instant::now();
    let status = client.forecast(req()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(t.elapsed() >= Duration::from_millis(100));
    // the seasonal naive does not need the GPU
    let resp = client
        .forecast(request(SEASONAL_NAIVE, vec![window("a", values(20, 0.0))]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.forecasts.len(), 1);
    // a slot frees while the request waits: it goes through
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        drop(held);
    });
    client.forecast(req()).await.unwrap();
    release.await.unwrap();
    assert_eq!(service.permits().available_permits(), 1);
    engine.stop().await;

    // the client's deadline shortens the wait below queue_timeout
    let config = EngineConfig {
        max_concurrent: 1,
        queue_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let (engine, service) = start_service(&config).await;
    let mut client = engine.client().await;
    let _held = service.permits().acquire_owned().await.unwrap();
    let mut r = tonic::Request::new(req());
    r.set_timeout(Duration::from_millis(300));
    let t = Instant::now();
    let status = client.forecast(r).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    drop(_held);
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_slow_batches_overflow_one_slot() {
    // One slot, no patience: of several DeepAR batches sent at once (each many sample paths),
    // one runs and the others find the slot taken.
    let config = EngineConfig {
        max_concurrent: 1,
        queue_timeout: Duration::from_millis(1),
        ..Default::default()
    };
    let (engine, _service) = start_service(&config).await;
    let client = engine.client().await;
    let windows: Vec<_> = (0..4)
        .map(|i| window(&format!("s{i}"), values(20, i as f64)))
        .collect();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(4));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut client = client.clone();
        let barrier = barrier.clone();
        let req = ForecastBatchRequest {
            model: "deepar".into(),
            windows: windows.clone(),
            horizon: 24,
            num_samples: 2000,
            ..Default::default()
        };
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            client.forecast(req).await
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(match t.await.unwrap() {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        });
    }
    assert!(codes.contains(&Code::Ok), "{codes:?}");
    assert!(codes.contains(&Code::ResourceExhausted), "{codes:?}");
    assert!(
        codes
            .iter()
            .all(|c| matches!(c, Code::Ok | Code::ResourceExhausted)),
        "{codes:?}"
    );
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_registered_with_conforming_names() {
    let engine = start(EngineConfig::default()).await;
    let mut client = engine.client().await;
    client
        .forecast(request(
            "lstm",
            vec![
                window("a", values(20, 0.0)),
                window("b", vec![1.0]),
                window("c", vec![]),
            ],
        ))
        .await
        .unwrap();
    client.forecast(request("lstm", vec![])).await.unwrap_err();
    client.forecast(request("nope", vec![])).await.unwrap_err();

    let families = engine.metrics.gather();
    let by_name: HashMap<&str, &prometheus::proto::MetricFamily> =
        families.iter().map(|f| (f.name(), f)).collect();
    for name in [
        "seer_engine_requests_total",
        "seer_engine_batch_series",
        "seer_engine_kernel_seconds",
        "seer_engine_fallback_total",
        "seer_engine_series_errors_total",
        "seer_engine_model_info",
    ] {
        assert!(
            by_name.contains_key(name),
            "{name} missing: {:?}",
            by_name.keys()
        );
    }
    use prometheus::proto::MetricType;
    for f in &families {
        let name = f.name();
        assert!(name.starts_with("seer_engine_"), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}"
        );
        assert!(!f.help().is_empty(), "{name}");
        match f.get_field_type() {
            MetricType::COUNTER => assert!(name.ends_with("_total"), "{name}"),
            _ => assert!(!name.ends_with("_total"), "{name}"),
        }
    }
    let labels = |f: &prometheus::proto::MetricFamily| -> Vec<Vec<(String, String)>> {
        f.get_metric()
            .iter()
            .map(|m| {
                m.get_label()
                    .iter()
                    .map(|l| (l.name().to_string(), l.value().to_string()))
                    .collect()
            })
            .collect()
    };
    let requests = labels(by_name["seer_engine_requests_total"]);
    for (model, status) in [
        ("lstm", "ok"),
        ("lstm", "invalid_argument"),
        ("unknown", "not_found"),
    ] {
        assert!(
            requests.contains(&vec![
                ("model".into(), model.into()),
                ("status".into(), status.into())
            ]),
            "{requests:?}"
        );
    }
    let info = labels(by_name["seer_engine_model_info"]);
    assert_eq!(info.len(), 5, "{info:?}");
    assert!(info.contains(&vec![
        ("model".into(), SEASONAL_NAIVE.into()),
        ("version".into(), "builtin".into())
    ]));
    assert_eq!(
        by_name["seer_engine_batch_series"].get_metric()[0]
            .get_histogram()
            .get_sample_count(),
        1
    );
    let kernel = by_name["seer_engine_kernel_seconds"].get_metric();
    assert_eq!(kernel.len(), 1);
    assert_eq!(kernel[0].get_histogram().get_sample_count(), 1);
    let errors = labels(by_name["seer_engine_series_errors_total"]);
    assert_eq!(
        errors,
        vec![vec![("reason".to_string(), "no_observations".to_string())]]
    );
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuts_down_on_cancel() {
    let engine = start(EngineConfig::default()).await;
    let mut client = engine.client().await;
    client.list_models(ListModelsRequest {}).await.unwrap();
    let addr = engine.addr;
    engine.stop().await;
    // nothing listens any more
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    // a bad config fails serve instead of serving
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = seer_engine::serve_with_context(
        EngineConfig {
            default_model: Some("missing".into()),
            ..Default::default()
        },
        ctx(),
        prometheus::Registry::new(),
        listener,
        Default::default(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_only_after_every_model_loaded_and_warmed_up() {
    let engine = start(EngineConfig::default()).await;
    let t = Instant::now();
    while !engine.ready.get() {
        assert!(
            !engine.task.is_finished(),
            "engine stopped before it was ready"
        );
        assert!(t.elapsed() < Duration::from_secs(120), "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ready means answering: the first request finds every model loaded and warm, and the
    // warm-up forecasts did not count as traffic
    let mut client = engine.client().await;
    let resp = client
        .forecast(request("lstm", vec![window("a", values(48, 0.0))]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.forecasts.len(), 1);
    let families = engine.metrics.gather();
    let requests: f64 = families
        .iter()
        .filter(|f| f.name() == "seer_engine_requests_total")
        .flat_map(|f| f.get_metric().iter().map(|m| m.get_counter().value()))
        .sum();
    assert_eq!(requests, 1.0);
    let ready = engine.ready.clone();
    engine.stop().await;
    assert!(!ready.get(), "still ready after shutdown");

    // a checkpoint that does not load: the engine never reports ready
    let dir = common::TempDir::new("broken");
    std::fs::create_dir(dir.path().join("broken")).unwrap();
    std::fs::write(dir.path().join("broken/config.json"), "{").unwrap();
    let ready = seer_runtime::Readiness::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = seer_engine::serve_with_context(
        EngineConfig {
            models_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        },
        ctx(),
        prometheus::Registry::new(),
        listener,
        ready.clone(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("broken"), "{err}");
    assert!(!ready.get());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_version_is_served_or_not_found() {
    let engine = start(EngineConfig::default()).await;
    let mut client = engine.client().await;
    let models = infos(&mut client).await;
    let lstm = &models["lstm"];
    assert!(lstm.max_horizon >= lstm.horizon && lstm.max_horizon > 0);
    let mut pinned = request("lstm", vec![window("a", values(48, 0.0))]);
    pinned.model_version = lstm.version.clone();
    let resp = client.forecast(pinned.clone()).await.unwrap().into_inner();
    assert_eq!(resp.forecasts[0].model_version, lstm.version);
    pinned.model_version = "not-a-version".into();
    let status = client.forecast(pinned).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().contains("not-a-version"), "{status:?}");
    engine.stop().await;
}
