//! `seer_model::backtest` through its public API on the GPU, with seeded random weights: what
//! each report counts, which levels a quantile forecaster is asked for, and every refusal.
//! (`seer eval`'s output is tested end to end in services/seer/tests/cli.rs.)

use seer_gpu::GpuContext;
use seer_model::Frequency;
use seer_model::backtest::{BacktestError, BacktestOptions, BacktestReport, backtest};
use seer_model::checkpoint::init_weights;
use seer_model::{History, Model, ModelConfig, ModelKind};

/// The backend this test runs on: each test runs on the native CPU backend and on the WGSL
/// kernels (`seer_gpu::on_backends!`).
fn ctx() -> &'static GpuContext {
    seer_gpu::testing::context()
}

fn config(kind: ModelKind) -> ModelConfig {
    ModelConfig {
        model: kind,
        freq: Frequency::Seconds(3600),
        context_length: 12,
        horizon: 4,
        time_features: vec![],
        input_size: None,
        hidden_size: 6,
        num_layers: 1,
        quantiles: vec![],
        channels: vec![],
        kernel_size: 0,
        dilations: vec![],
        lags: vec![],
        cardinality: 0,
        embedding_dim: 0,
        distribution: None,
        num_samples: 0,
        series_ids: None,
        classes: vec![],
        seasonal_naive_series: Vec::new(),
        covariates: Vec::new(),
    }
}

fn model(c: ModelConfig) -> Model {
    let w = init_weights(&c, 1).unwrap();
    Model::from_parts(ctx(), c, w).unwrap()
}

/// Hourly series `s{i}` of `n` points, every seventh missing.
fn series(count: usize, n: usize) -> Vec<History> {
    (0..count)
        .map(|s| {
            let values = (0..n)
                .map(|t| {
                    if (t + s) % 7 == 3 {
                        f64::NAN
                    } else {
                        10.0 + s as f64 + 3.0 * (t as f64 * std::f64::consts::TAU / 24.0).sin()
                    }
                })
                .collect();
            History::new(
                format!("s{s}"),
                (0..n as i64).map(|t| 1_700_000_000 + t * 3600).collect(),
                values,
            )
        })
        .collect()
}

seer_gpu::on_backends!(a_forecaster_is_scored_with_the_levels_it_was_trained_for);
fn a_forecaster_is_scored_with_the_levels_it_was_trained_for() {
    let mut c = config(ModelKind::Lstm);
    c.quantiles = vec![0.2, 0.5, 0.8];
    let m = model(c);
    let mut data = series(3, 60);
    // too short for any window
    data.push(History::new("short", vec![1_700_000_000], vec![1.0]));
    let opts = BacktestOptions {
        horizon: Some(4),
        windows: 3,
        examples: 2,
        ..Default::default()
    };
    let BacktestReport::Forecast(r) = backtest(ctx(), &m, &data, &opts).unwrap() else {
        panic!("a forecaster gives a forecast report");
    };
    assert_eq!((r.horizon, r.season), (4, 24));
    assert_eq!(
        r.levels,
        [0.25, 0.5, 0.75],
        "0.1 and 0.9 are outside 0.2..0.8"
    );
    assert_eq!(r.model.count, 9, "3 series × 3 origins");
    assert_eq!(r.seasonal_naive.count, 9);
    assert!(r.model.nd.unwrap().is_finite());
    assert_eq!(r.model.coverage_80, None, "no 0.1 and 0.9 levels");
    assert_eq!(r.examples.len(), 2);
    let (w, f) = &r.examples[0];
    assert_eq!(w.history.values.len(), 56, "the last origin");
    assert_eq!(w.actual.len(), 4);
    assert_eq!(w.timestamps, data[0].timestamps[56..]);
    assert_eq!(f.timestamps, w.timestamps);
}

seer_gpu::on_backends!(forecaster_refusals);
fn forecaster_refusals() {
    let m = model({
        let mut c = config(ModelKind::Rnn);
        c.quantiles = vec![0.1, 0.5, 0.9];
        c
    });
    let data = series(2, 30);
    let run = |horizon, windows| {
        let opts = BacktestOptions {
            horizon,
            windows,
            ..Default::default()
        };
        backtest(ctx(), &m, &data, &opts).unwrap_err()
    };
    assert!(matches!(
        run(None, 1),
        BacktestError::MissingHorizon {
            kind: ModelKind::Rnn
        }
    ));
    assert!(matches!(run(Some(0), 1), BacktestError::ZeroHorizon));
    assert!(matches!(run(Some(4), 0), BacktestError::NoWindowsRequested));
    let e = run(Some(30), 1);
    assert!(
        matches!(
            e,
            BacktestError::NoForecastWindows {
                windows: 1,
                horizon: 30
            }
        ),
        "{e}"
    );
}

seer_gpu::on_backends!(the_gap_filler_is_scored_on_hidden_points_chosen_by_the_seed);
fn the_gap_filler_is_scored_on_hidden_points_chosen_by_the_seed() {
    let m = model(config(ModelKind::Bilstm));
    let mut data = series(3, 40);
    // shorter than the context
    data.push(History::new("short", vec![1_700_000_000], vec![1.0]));
    let run = |seed| {
        let opts = BacktestOptions {
            windows: 2,
            seed,
            // a gap filler's windows are its context; the horizon is not read
            horizon: Some(0),
            ..Default::default()
        };
        match backtest(ctx(), &m, &data, &opts).unwrap() {
            BacktestReport::GapFill(r) => r,
            other => panic!("{other:?}"),
        }
    };
    let r = run(4);
    assert_eq!(r.context_length, 12);
    assert_eq!(r.mask_rate, 0.15);
    assert_eq!(r.series_windows, 6);
    assert_eq!(r.series_skipped, 1);
    assert!(r.hidden_points >= 6, "at least one per window");
    assert_eq!(r.model.hidden_points, r.hidden_points);
    assert_eq!(r.linear_interpolation.hidden_points, r.hidden_points);
    assert!(r.model.rmse >= r.model.mae && r.model.mae.is_finite());
    assert_eq!(run(4), r, "deterministic");
    assert_ne!(run(5).model, r.model);

    let e = backtest(ctx(), &m, &series(2, 8), &BacktestOptions::default()).unwrap_err();
    assert!(
        matches!(e, BacktestError::NoGapFillWindows { context_length: 12 }),
        "{e}"
    );
}

seer_gpu::on_backends!(the_classifier_is_scored_on_labelled_windows_against_the_majority_class);
fn the_classifier_is_scored_on_labelled_windows_against_the_majority_class() {
    let mut c = config(ModelKind::Classifier);
    c.classes = vec!["flat".into(), "wave".into()];
    let m = model(c);
    let labels = ["wave", "flat", "wave"];
    let mut data: Vec<History> = series(3, 30)
        .into_iter()
        .zip(labels)
        .map(|(h, l)| h.with_label(Some(l.into())))
        .collect();
    data.extend(series(1, 30)); // unlabelled
    let opts = BacktestOptions {
        windows: 2,
        ..Default::default()
    };
    let BacktestReport::Classification(r) = backtest(ctx(), &m, &data, &opts).unwrap() else {
        panic!("a classifier gives a classification report");
    };
    assert_eq!(r.series_windows, 6);
    assert_eq!(r.series_unlabelled, 1);
    assert_eq!(r.series_skipped, 0);
    assert_eq!(r.support, [2, 4]);
    assert_eq!(r.confusion.iter().flatten().sum::<usize>(), 6);
    assert_eq!(r.majority_class, 1);
    assert_eq!(r.majority.accuracy, 4.0 / 6.0);
    assert_eq!(r.majority.recall, [Some(0.0), Some(1.0)]);
    let entropy = -(1.0 / 3.0 * (1f64 / 3.0).ln() + 2.0 / 3.0 * (2f64 / 3.0).ln());
    assert!((r.majority.log_loss - entropy).abs() < 1e-12);
    assert!((0.0..=1.0).contains(&r.model.accuracy));
    assert!(r.model.log_loss.is_finite() && r.model.log_loss > 0.0);

    data[1].label = Some("trend".into());
    let e = backtest(ctx(), &m, &data, &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        "series \"s1\": label \"trend\" is not one of the model's classes (flat, wave)"
    );
    let e = backtest(ctx(), &m, &series(2, 30), &opts).unwrap_err();
    assert!(
        matches!(
            e,
            BacktestError::NoClassificationWindows {
                context_length: 12,
                unlabelled: true
            }
        ),
        "{e}"
    );
}
